/* What http_hello and its threaded baseline (http_hello_threads) share, so the two are
 * measured doing exactly the same work: BENCH.md's answer, the batch of answers written per
 * read, and the request parser (keep-alive and pipelining: requests are parsed out of the
 * read buffer one after another). */
#ifndef TIDE_EXAMPLES_HTTP_HELLO_H
#define TIDE_EXAMPLES_HTTP_HELLO_H

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 13\r\n\r\nHello, World!";
#define RESPONSE_LEN (sizeof RESPONSE - 1)
#define BATCH 64              /* answers per write, at most */
#define BUF_SIZE 16384        /* a connection's read buffer: the largest request we take */

static char batch[BATCH * RESPONSE_LEN]; /* BATCH copies of the answer, back to back */

static void batch_fill(void) {
    for (size_t i = 0; i < BATCH; i++) memcpy(batch + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);
}

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

/* The complete requests at the front of buf[0..have): how many, *used the bytes they take,
 * *last set if the connection ends after they are answered (the client asked to close, or a
 * request is malformed or too large). */
static size_t parse_requests(const char *buf, size_t have, size_t *used, int *last) {
    size_t pos = 0, count = 0;
    int close = 0;
    long len = 0;
    while (!close && (len = parse_request(buf + pos, have - pos, &close)) > 0) {
        pos += (size_t)len;
        count++;
    }
    *used = pos;
    *last = close || len < 0;
    return count;
}

#endif
