/* What http_hello and its threaded baseline (http_hello_threads) share, so the two are
 * measured doing exactly the same work: BENCH.md's answer, the batch of answers written per
 * read, the error answers, and the request loop over the strict parser (http_parse.h):
 * keep-alive and pipelining, requests parsed out of the read buffer one after another.
 *
 * HTTP_MAX_HEADER (environment) sets the largest request head in bytes (default 8192, as
 * nginx's large header buffer; at most BUF_SIZE / 2): a longer one is answered 431. */
#ifndef TIDE_EXAMPLES_HTTP_HELLO_H
#define TIDE_EXAMPLES_HTTP_HELLO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "http_parse.h"

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 13\r\n\r\nHello, World!";
#define RESPONSE_LEN (sizeof RESPONSE - 1)
/* The last answer before a drain closes the connection says so. */
static const char RESPONSE_CLOSE[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                     "Content-Length: 13\r\nConnection: close\r\n\r\n"
                                     "Hello, World!";
#define BATCH 64              /* answers per write, at most */
#define BUF_SIZE 16384        /* a connection's read buffer: the largest request we take */
#define MAX_HEAD_DEFAULT 8192

static char batch[BATCH * RESPONSE_LEN]; /* BATCH copies of the answer, back to back */
/* Head and body limits: a request that passes them fits the read buffer whole. */
static http_limits_t limits = {MAX_HEAD_DEFAULT, BUF_SIZE - MAX_HEAD_DEFAULT};

static void batch_fill(void) {
    for (size_t i = 0; i < BATCH; i++) memcpy(batch + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);
    const char *v = getenv("HTTP_MAX_HEADER");
    if (v && *v) {
        size_t h = (size_t)strtoul(v, NULL, 10);
        if (h < 64) h = 64;
        if (h > BUF_SIZE / 2) h = BUF_SIZE / 2;
        limits.max_head = h;
        limits.max_body = BUF_SIZE - h;
    }
}

/* The complete requests at the front of buf[0..have): how many, *used the bytes they take,
 * and *end: 0 to go on reading, 1 to close after answering them (the client asked to, or
 * spoke HTTP/1.0), or an HTTP status (400, 431...) to answer after them before closing. */
static size_t parse_requests(const char *buf, size_t have, size_t *used, int *end) {
    size_t pos = 0, count = 0;
    *end = 0;
    while (pos < have) { /* nothing left (the common case): nothing to parse */
        http_req_t r;
        long len = http_parse_request(buf + pos, have - pos, &limits, &r);
        if (len <= 0) {
            if (len < 0) *end = (int)-len;
            else if (have == BUF_SIZE && pos == 0) *end = 431; /* cannot happen: limits fit */
            break;
        }
        pos += (size_t)len;
        count++;
        if (r.close) {
            *end = 1;
            break;
        }
    }
    *used = pos;
    return count;
}

/* An error answer for status into out (at least 256 bytes); returns its length. */
static size_t error_response(char *out, size_t size, int status) {
    const char *reason = http_reason(status);
    int body = snprintf(NULL, 0, "%d %s\n", status, reason);
    int n = snprintf(out, size,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n%d %s\n",
                     status, reason, body, status, reason);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* A blocking "write it all" of a connection (plain socket, TLS stream...): a negative
 * return is a failure. */
typedef ssize_t (*write_all_fn)(void *conn, const void *buf, size_t len);

/* The plain servers' answer to a read: parse_requests over buf[0..have) (*used and *end as
 * there), then their answers in writes of up to BATCH, then the error answer if *end is a
 * status. 0, or -1 if a write of the answers failed (the connection is done). http_hello
 * itself does more here (the drain's Connection: close, a lingering close after an error). */
static inline int answer_requests(const char *buf, size_t have, size_t *used, int *end,
                                  write_all_fn write_all, void *conn) {
    size_t answers = parse_requests(buf, have, used, end);
    while (answers > 0) {
        size_t k = answers < BATCH ? answers : BATCH;
        if (write_all(conn, batch, k * RESPONSE_LEN) < 0) return -1;
        answers -= k;
    }
    if (*end > 1) {
        char err[256];
        write_all(conn, err, error_response(err, sizeof err, *end));
    }
    return 0;
}

#endif
