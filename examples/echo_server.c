/* echo_server: TCP echo on tide, one task per connection.
 *
 *   echo_server PORT [WORKERS]
 *
 * Listens on 127.0.0.1:PORT and sends back whatever each client sends, until it closes.
 * SIGINT or SIGTERM stops it cleanly (see tcp_server.h). */
#include "tcp_server.h"
#include "tide.h"

static int echo(void *arg) {
    tide_tcp_t *c = arg;
    char buf[16384];
    ssize_t n;
    while ((n = tide_tcp_read(c, buf, sizeof buf)) > 0)
        if (tide_tcp_write_all(c, buf, (size_t)n, NULL) < 0) break;
    tide_tcp_close(c);
    return 0;
}

int main(int argc, char **argv) {
    return tcp_server_run("echo_server", argc, argv, echo);
}
