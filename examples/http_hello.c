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

#include "tcp_server.h"
#include "tide.h"

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 13\r\n\r\nHello, World!";
#define RESPONSE_LEN (sizeof RESPONSE - 1)
#define BATCH 64              /* answers per write, at most */
#define BUF_SIZE 16384        /* a connection's read buffer: the largest request we take */

static char batch[BATCH * RESPONSE_LEN]; /* BATCH copies of the answer, back to back */

/* The length of the request at p[0..n) (head and body), 0 if it is not complete yet, -1 if it
 * is malformed or too large. *close is set if the client asked to close after it. */
static long parse_request(const char *p, size_t n, int *close) {
    const char *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end) return n >= BUF_SIZE ? -1 : 0;
    const char *head_end = end + 2; /* just past the last header line's CRLF */
    size_t body = 0;
    const char *line = memchr(p, '\n', (size_t)(head_end - p)); /* skip the request line */
    while (line && ++line < head_end) {
        size_t rest = (size_t)(head_end - line);
        if ((line[0] | 0x20) == 'c') {
            if (rest > 15 && strncasecmp(line, "content-length:", 15) == 0) {
                char *stop;
                unsigned long v = strtoul(line + 15, &stop, 10);
                if (v >= BUF_SIZE) return -1;
                body = v;
            } else if (rest > 11 && strncasecmp(line, "connection:", 11) == 0) {
                const char *v = line + 11;
                while (*v == ' ') v++;
                if (strncasecmp(v, "close", 5) == 0) *close = 1;
            }
        }
        line = memchr(line, '\n', (size_t)(head_end - line));
    }
    size_t total = (size_t)(end + 4 - p) + body;
    return total <= n ? (long)total : 0;
}

static int serve_conn(void *arg) {
    tide_tcp_t *c = arg;
    char buf[BUF_SIZE];
    size_t have = 0;
    for (;;) {
        ssize_t n = tide_tcp_read(c, buf + have, sizeof buf - have);
        if (n <= 0) break; /* end of stream, reset, or cancelled at shutdown */
        have += (size_t)n;
        size_t pos = 0, answers = 0;
        int close = 0;
        long len = 0;
        while (!close && (len = parse_request(buf + pos, have - pos, &close)) > 0) {
            pos += (size_t)len;
            answers++;
        }
        while (answers > 0) {
            size_t k = answers < BATCH ? answers : BATCH;
            if (tide_tcp_write_all(c, batch, k * RESPONSE_LEN, NULL) < 0) goto out;
            answers -= k;
        }
        if (close || len < 0) break;
        memmove(buf, buf + pos, have - pos);
        have -= pos;
    }
out:
    tide_tcp_close(c);
    return 0;
}

int main(int argc, char **argv) {
    for (size_t i = 0; i < BATCH; i++) memcpy(batch + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);
    return tcp_server_run("http_hello", argc, argv, serve_conn);
}
