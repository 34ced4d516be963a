/* The example servers' strict HTTP/1.1 request parser (examples/http_parse.c): requests it
 * frames, the request-smuggling and malformed shapes it refuses with the right status, and
 * that every prefix of an input parses to "incomplete" or to the whole input's answer (the
 * server sees requests arrive in pieces). The fuzzer (fuzz/) checks the same on random
 * inputs. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "http_parse.h"

static const http_limits_t LIM = {.max_head = 8192, .max_body = 8192};

typedef struct pcase {
    const char *in; /* the bytes */
    size_t len;     /* how many (some cases hold a NUL) */
    long want;      /* total length (> 0), or -status */
    int close;      /* for accepted requests */
} pcase_t;

#define OK(s, c) {s, sizeof s - 1, (long)(sizeof s - 1), c}
#define BAD(s, st) {s, sizeof s - 1, -(st), 0}

static const pcase_t cases[] = {
    OK("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    OK("GET /x?y=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: wrk\r\n\r\n", 0),
    OK("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", 0),
    OK("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length:  0 \r\n\r\n", 0),
    OK("POST /p HTTP/1.1\r\nhost: a\r\ncontent-length:\t3\t\r\n\r\nabc", 0),
    OK("GET / HTTP/1.0\r\n\r\n", 1),
    OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n", 1),
    OK("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", 0),
    OK("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    OK("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Utf8: caf\xc3\xa9\r\n\r\n", 0),
    OK("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    OK("GET / HTTP/1.9\r\nHost: a\r\n\r\n", 0),

    /* Issue 11's shapes: an empty Content-Length followed by a line that strtoul read as the
     * length; two Content-Lengths (the last won: request smuggling). */
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n12: x\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nhello", 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
    BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\nhello", 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551617\r\n\r\n", 413),
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 8193\r\n\r\n", 413),
    /* Folding, whitespace before the colon, bare CR and LF, control characters. */
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\nHost: a\n\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: a\x00\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n\r\n", 400),                          /* no Host */
    BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),     /* two */
    /* The request line. */
    BAD("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    BAD("GET /\r\n\r\n", 400),
    BAD("get / http/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    BAD("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    BAD("GET / HTTP/11.1\r\nHost: a\r\n\r\n", 400),
    BAD("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),    /* a TLS ClientHello */
    BAD("\r\r\n", 400),
};

static void check_prefixes(const char *in, size_t len, long want) {
    http_req_t r;
    for (size_t k = 0; k < len; k++) {
        long got = http_parse_request(in, k, &LIM, &r);
        if (want > 0) {
            cr_assert(got == 0 || (size_t)want <= k, "prefix %zu of %s: %ld", k, in, got);
        } else {
            cr_assert(got == 0 || got == want, "prefix %zu of %s: %ld, whole %ld", k, in, got,
                      want);
        }
    }
}

Test(http_parse, cases) {
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const pcase_t *pc = &cases[c];
        size_t len = pc->len;
        http_req_t r;
        long got = http_parse_request(pc->in, len, &LIM, &r);
        cr_assert_eq(got, pc->want, "case %zu (%s): got %ld, want %ld", c, pc->in, got, pc->want);
        if (got > 0) {
            cr_assert_eq(r.close, pc->close, "case %zu close", c);
            cr_assert_eq(r.head_len + r.body_len, (size_t)got);
        }
        check_prefixes(pc->in, len, pc->want);
    }
}

Test(http_parse, fields_of_a_request) {
    const char *in = "\r\nPOST /up?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET";
    http_req_t r;
    long got = http_parse_request(in, strlen(in), &LIM, &r);
    cr_assert_eq(got, (long)strlen(in) - 3);
    cr_assert_eq(r.body_len, 3);
    cr_assert_eq(r.minor, 1);
    cr_assert_eq(r.method_len, 4);
    cr_assert_eq(memcmp(in + r.method_off, "POST", 4), 0);
    cr_assert_eq(r.target_len, 7);
    cr_assert_eq(memcmp(in + r.target_off, "/up?x=1", 7), 0);
    /* The next request starts right after: its prefix "GET" is incomplete. */
    cr_assert_eq(http_parse_request(in + got, 3, &LIM, &r), 0);
}

Test(http_parse, size_limits) {
    static char big[20000];
    http_limits_t lim = {.max_head = 1024, .max_body = 100};
    /* A header that never ends: incomplete below the limit, 431 from it on. */
    int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(big + n, 'a', sizeof big - (size_t)n);
    http_req_t r;
    cr_assert_eq(http_parse_request(big, 1023, &lim, &r), 0);
    cr_assert_eq(http_parse_request(big, 1024, &lim, &r), -431);
    cr_assert_eq(http_parse_request(big, sizeof big, &lim, &r), -431);
    /* A request line longer than the limit: 414. */
    memcpy(big, "GET /", 5);
    memset(big + 5, 'a', sizeof big - 5);
    cr_assert_eq(http_parse_request(big, 1023, &lim, &r), 0);
    cr_assert_eq(http_parse_request(big, sizeof big, &lim, &r), -414);
    /* A head of exactly max_head bytes is taken. */
    n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(big + n, 'b', 1024 - 4 - (size_t)n);
    memcpy(big + 1024 - 4, "\r\n\r\n", 4);
    cr_assert_eq(http_parse_request(big, 1024, &lim, &r), 1024);
    /* Body limit: 100 taken, 101 refused. */
    const char *ok = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n";
    cr_assert_eq(http_parse_request(ok, strlen(ok), &lim, &r), 0); /* waits for the body */
    const char *no = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n";
    cr_assert_eq(http_parse_request(no, strlen(no), &lim, &r), -413);
}

Test(http_parse, reasons) {
    cr_assert_str_eq(http_reason(400), "Bad Request");
    cr_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
    cr_assert_str_eq(http_reason(599), "Error");
}
