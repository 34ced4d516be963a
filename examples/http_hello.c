/* http_hello: the "Hello, World!" HTTP/1.1 server of BENCH.md, on tide.
 *
 *   http_hello PORT [WORKERS]
 *
 * Listens on 127.0.0.1:PORT, one task per connection, keep-alive and pipelining: requests are
 * parsed out of the read buffer, and the answers to all the requests one read brought in go
 * out in one write. Ctrl-C (SIGINT) or SIGTERM stops it cleanly (see tcp_server.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_hello.h"
#include "tcp_server.h"
#include "tide.h"

static int serve_conn(void *arg) {
    tide_tcp_t *c = arg;
    char buf[BUF_SIZE];
    size_t have = 0;
    for (;;) {
        ssize_t n = tide_tcp_read(c, buf + have, sizeof buf - have);
        if (n <= 0) break; /* end of stream, reset, or cancelled at shutdown */
        have += (size_t)n;
        size_t pos;
        int last;
        size_t answers = parse_requests(buf, have, &pos, &last);
        while (answers > 0) {
            size_t k = answers < BATCH ? answers : BATCH;
            if (tide_tcp_write_all(c, batch, k * RESPONSE_LEN, NULL) < 0) goto out;
            answers -= k;
        }
        if (last) break;
        memmove(buf, buf + pos, have - pos);
        have -= pos;
    }
out:
    tide_tcp_close(c);
    return 0;
}

int main(int argc, char **argv) {
    batch_fill();
    return tcp_server_run("http_hello", argc, argv, serve_conn);
}
