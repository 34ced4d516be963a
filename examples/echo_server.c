/* echo_server: TCP echo on tide's server loop, one task per connection.
 *
 *   echo_server PORT [WORKERS]
 *
 * Listens on 127.0.0.1:PORT and sends back whatever each client sends, until it closes. A
 * client silent for SERVE_IDLE_MS is disconnected; SIGINT or SIGTERM drains (see
 * tcp_server.h for the settings). */
#include "tcp_server.h"
#include "tide.h"

static int echo(tide_conn_t *c, void *arg) {
    char buf[16384];
    ssize_t n;
    /* Every message is a "request": wait for it under the idle timeout. */
    for (tide_conn_idle(c); (n = tide_conn_read(c, buf, sizeof buf)) > 0; tide_conn_idle(c))
        if (tide_conn_write(c, buf, (size_t)n) < 0) break;
    return 0;
}

int main(int argc, char **argv) {
    return tcp_server_run("echo_server", argc, argv, echo, NULL);
}
