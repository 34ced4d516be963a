/* A strict HTTP/1.1 request-head parser (RFC 9112), for the example servers, their tests and
 * the fuzzer (fuzz/). It frames requests (head and Content-Length body) out of a buffer that
 * grows as bytes arrive, so it must give the same answer however the bytes were split:
 *
 *   - every byte is judged as soon as it is seen, never by what follows it, so a prefix of a
 *     request parses to "incomplete" or to the same error as the whole;
 *   - it never reads at or past p[n].
 *
 * Refused (the request is answered with the status and the connection closed): a malformed
 * request line or field (400), whitespace before a field's colon, a field folded over lines
 * (obs-fold), a bare CR or LF, control characters, an empty, signed, non-decimal, listed or
 * repeated Content-Length, Transfer-Encoding together with Content-Length or in HTTP/1.0
 * (all 400: the request-smuggling shapes); a missing or repeated Host in HTTP/1.1 (400); a
 * request line longer than max_head (414), a head longer than max_head (431), a body longer
 * than max_body (413), any Transfer-Encoding otherwise (501: these servers take no chunked
 * bodies), an HTTP major version other than 1 (505). Empty lines before a request line are
 * skipped (RFC 9112 section 2.2). */
#ifndef TIDE_EXAMPLES_HTTP_PARSE_H
#define TIDE_EXAMPLES_HTTP_PARSE_H

#include <stddef.h>

typedef struct http_limits {
    size_t max_head; /* bytes of request line and fields, final CRLF included */
    size_t max_body; /* largest Content-Length taken */
} http_limits_t;

typedef struct http_req {
    size_t head_len;     /* bytes up to and including the empty line ending the head */
    size_t body_len;     /* Content-Length (0 without one) */
    size_t method_off;   /* the method: p[method_off .. method_off + method_len) */
    size_t method_len;
    size_t target_off;   /* the request-target, likewise */
    size_t target_len;
    int minor;           /* HTTP/1.minor */
    int close;           /* the connection ends after this request: "Connection: close", or
                            HTTP/1.0 (these servers do not offer 1.0 keep-alive) */
} http_req_t;

/* Parse the request at p[0..n). Returns its total length (head + body, > 0) with *req filled,
 * 0 if it is not complete yet (nothing wrong so far), or minus an HTTP status (-400, -413,
 * -414, -431, -501, -505) if it must be refused. lim and req must not be NULL. */
long http_parse_request(const char *p, size_t n, const http_limits_t *lim, http_req_t *req);

/* The reason phrase of the statuses above ("Bad Request"...), "Error" for others. */
const char *http_reason(int status);

#endif
