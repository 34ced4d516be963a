/* http_hello: the "Hello, World!" HTTP/1.1 server of BENCH.md, on tide.
 *
 *   http_hello PORT [WORKERS]
 *
 * Listens on 127.0.0.1:PORT, one task per connection, keep-alive and pipelining: requests are
 * parsed out of the read buffer, and the answers to all the requests one read brought in go
 * out in one write. Ctrl-C (SIGINT) or SIGTERM stops it cleanly: a thread waiting for the
 * signal cancels the accepting task, and freeing the runtime cancels the connections. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static int serve(void *arg) {
    unsigned port = *(unsigned *)arg;
    tide_tcp_t *l;
    tide_tcp_listen_opts_t lo = {.backlog = 4096};
    int r = tide_tcp_listen(&l, "127.0.0.1", (uint16_t)port, &lo);
    if (r < 0) {
        fprintf(stderr, "http_hello: listen on 127.0.0.1:%u: %s\n", port, tide_strerror(r));
        return r;
    }
    printf("listening on 127.0.0.1:%u\n", port);
    fflush(stdout);
    tide_spawn_opts_t so = {.name = "http conn", .detached = 1};
    for (;;) {
        tide_tcp_t *c;
        r = tide_tcp_accept(l, &c, NULL);
        if (r == -ECANCELED) break;
        if (r < 0) {
            fprintf(stderr, "http_hello: accept: %s\n", tide_strerror(r));
            tide_sleep(TIDE_MSEC(10));
            continue;
        }
        tide_tcp_nodelay(c, 1);
        if (tide_spawn_opts(NULL, serve_conn, c, &so) < 0) tide_tcp_close(c);
    }
    tide_tcp_close(l);
    return 0;
}

static void *wait_signal(void *arg) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig;
    if (sigwait(&set, &sig) == 0) tide_cancel(*(tide_task_t *)arg);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT [WORKERS]\n", argv[0]);
        return 2;
    }
    unsigned port = (unsigned)strtoul(argv[1], NULL, 10);
    tide_config_t cfg;
    tide_config_init(&cfg);
    if (argc == 3) cfg.workers = (unsigned)strtoul(argv[2], NULL, 10);
    for (size_t i = 0; i < BATCH; i++) memcpy(batch + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);

    /* A shell starts background jobs with SIGINT ignored, and an ignored signal is dropped
     * before sigwait could see it: take the default disposition back, then block. Every
     * thread (the runtime's too) inherits the mask, so only wait_signal sees them. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    tide_runtime_t *rt;
    int r = tide_runtime_new(&rt, &cfg);
    if (r < 0) {
        fprintf(stderr, "http_hello: %s\n", tide_strerror(r));
        return 1;
    }
    tide_task_t server;
    tide_spawn_opts_t so = {.name = "accept"};
    r = tide_runtime_spawn(rt, &server, serve, &port, &so);
    if (r == 0) {
        pthread_t sig_thread;
        pthread_create(&sig_thread, NULL, wait_signal, &server);
        tide_join(server, &r);
        pthread_cancel(sig_thread);
        pthread_join(sig_thread, NULL);
    }
    tide_runtime_free(rt);
    return r == 0 ? 0 : 1;
}
