/* http_hello: the "Hello, World!" HTTP/1.1 server of BENCH.md, on tide's server loop.
 *
 *   http_hello PORT [WORKERS]
 *
 * Listens on 127.0.0.1:PORT, one task per connection, keep-alive and pipelining: requests are
 * parsed out of the read buffer (strictly, see http_parse.h), and the answers to all the
 * requests one read brought in go out in one write. As a server facing the internet must:
 *   - a malformed request is answered 400 (a head over HTTP_MAX_HEADER bytes 431, and so on)
 *     and the connection closed after a lingering close (the client reads the answer, not a
 *     reset);
 *   - a keep-alive connection idle for SERVE_IDLE_MS is closed, and a request whose head is
 *     not in within SERVE_HEADER_MS of its first byte (a slowloris trickling header lines) is
 *     answered 408 and closed;
 *   - SIGINT or SIGTERM drains: no new connections, idle ones closed, requests in hand
 *     answered (with "Connection: close").
 * Settings: see tcp_server.h and http_hello.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_hello.h"
#include "tcp_server.h"
#include "tide.h"

#define LINGER TIDE_SEC(2) /* how long an error answer's lingering close may take */

/* Answer status and close: after a lingering close (so the client reads the answer rather
 * than a reset) for a refused request, at once for a timed-out one (a slowloris gets no more
 * of our time). */
static int refuse(tide_conn_t *c, int status) {
    char out[256];
    size_t n = error_response(out, sizeof out, status);
    if (tide_conn_write(c, out, n) == (ssize_t)n && status != 408) tide_conn_linger(c, LINGER);
    return 0;
}

/* A connection's read buffer starts small, on its task's stack, and moves to the heap (at
 * BUF_SIZE, the largest request taken) only when a request's head outgrows it. The buffer is
 * where the idle connection's task waits: with 16 KiB on the stack, its parked frames lay 17
 * KiB below the stack's top, and an idle keep-alive connection held two stack pages; with
 * this one they share the top page (scripts/idle_conns.py: 8.9 KB per idle connection
 * before, 4.9 KB after). */
#define BUF_FIRST 2048

static int serve_requests(tide_conn_t *c, char *buf, char **heap) {
    size_t have = 0, cap = BUF_FIRST;
    for (;;) {
        if (have == cap && cap < BUF_SIZE) { /* full, no complete request at its front */
            char *big = malloc(BUF_SIZE);
            if (!big) return refuse(c, 503);
            memcpy(big, buf, have);
            buf = *heap = big;
            cap = BUF_SIZE;
        }
        ssize_t n = tide_conn_read(c, buf + have, cap - have);
        if (n <= 0) {
            /* A request begun and not finished in time: say so. An idle connection, an end
             * of stream, a reset or a cancel at shutdown just end. */
            if (n == -ETIMEDOUT && have > 0) return refuse(c, 408);
            return 0;
        }
        have += (size_t)n;
        size_t pos;
        int end;
        size_t answers = parse_requests(buf, have, &pos, &end);
        int last = end != 0 || (answers > 0 && tide_conn_draining(c));
        if (last && end <= 1 && answers > 0) answers--; /* the last says Connection: close */
        while (answers > 0) {
            size_t k = answers < BATCH ? answers : BATCH;
            if (tide_conn_write(c, batch, k * RESPONSE_LEN) < 0) return 0;
            answers -= k;
        }
        if (end > 1) return refuse(c, end);
        if (last) {
            tide_conn_write(c, RESPONSE_CLOSE, sizeof RESPONSE_CLOSE - 1);
            return 0;
        }
        if (pos == have) { /* all answered (the common case): nothing to move */
            have = 0;
            tide_conn_idle(c);
            continue;
        }
        memmove(buf, buf + pos, have - pos);
        have -= pos;
        if (pos > 0) tide_conn_request(c); /* the next request has begun */
    }
}

static int serve_conn(tide_conn_t *c, void *arg) {
    char first[BUF_FIRST];
    char *heap = NULL; /* the grown buffer, kept for the connection's life once made */
    int r = serve_requests(c, first, &heap);
    free(heap);
    return r;
}

int main(int argc, char **argv) {
    batch_fill();
    return tcp_server_run("http_hello", argc, argv, serve_conn, NULL);
}
