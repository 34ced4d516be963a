/* libFuzzer harness for the example servers' HTTP request parser (examples/http_parse.c).
 *
 * Not only "does not crash": on every input it checks what the servers rely on.
 *   1. Bounds: every call gets a heap copy of exactly the bytes it may read, so ASan reports
 *      a read at or past the end; the total returned never exceeds the length given, and the
 *      parts of the request it reports (head, body, method, target) lie inside it and within
 *      the limits.
 *   2. Only the documented answers: a length, 0, or -400/-413/-414/-431/-501/-505.
 *   3. Prefixes: a prefix parses to "incomplete" or to the whole input's answer (a request
 *      that is complete in the prefix parses to the same length).
 *   4. Streams: the input fed as a server receives it — in pieces, cut at points drawn from the
 *      input itself, requests framed one after another as they complete, the buffer kept from
 *      the first unconsumed byte — frames the same requests and ends in the same error as the
 *      input fed whole (pipelining and splitting change nothing).
 *   5. The reference: every call's answer, and the request it frames, are those of the
 *      byte-at-a-time parser the faster one was made from (http_parse_ref.c): scanning a word
 *      at a time changes no answer.
 * Each input runs under two limit sets: the servers' (8 KiB head) and a tiny one, so the
 * 414/431/413 edges are reached by short inputs.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined by scripts/fuzz.sh; fuzz/replay.c
 * turns the same harness into a program that runs the seed corpus (a ctest in every build). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "http_parse_ref.h"

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "fuzz_http_parse: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                           \
        }                                                                      \
    } while (0)

#define MAX_FRAMES 256 /* requests recorded per stream (the rest only counted) */

/* What a stream of bytes framed into. */
typedef struct frames {
    size_t n;                 /* requests framed */
    size_t len[MAX_FRAMES];   /* their lengths (the first MAX_FRAMES) */
    long end;                 /* 0 (the rest is incomplete) or the error that ended it */
    size_t rest;              /* bytes left unconsumed at the end */
} frames_t;

/* The scratch buffer: exactly as long as the input. A view of k bytes is copied to its end,
 * so the first byte past the view is the first byte past the allocation (ASan's redzone). */
static char *scratch;
static size_t scratch_len;

/* Parse p[0..n) from such a copy, checking the answer's invariants. */
static long parse_exact(const uint8_t *p, size_t n, const http_limits_t *lim) {
    CHECK(n <= scratch_len);
    char *copy = scratch + (scratch_len - n);
    memmove(copy, p, n);
    http_req_t r, ref;
    long got = http_parse_request(copy, n, lim, &r);
    CHECK(http_parse_request_ref(copy, n, lim, &ref) == got);
    if (got > 0) CHECK(memcmp(&r, &ref, sizeof r) == 0);
    if (got > 0) {
        CHECK((size_t)got <= n);
        CHECK(r.head_len + r.body_len == (size_t)got);
        CHECK(r.head_len <= lim->max_head);
        CHECK(r.body_len <= lim->max_body);
        CHECK(r.method_len > 0 && r.method_off + r.method_len < r.head_len);
        CHECK(r.target_len > 0 && r.target_off + r.target_len < r.head_len);
        CHECK(r.method_off + r.method_len < r.target_off);
        CHECK(r.minor >= 0 && r.minor <= 9);
        CHECK(r.close == 0 || r.close == 1);
        CHECK(memcmp(copy + r.head_len - 4, "\r\n\r\n", 4) == 0);
    } else if (got < 0) {
        CHECK(got == -400 || got == -413 || got == -414 || got == -431 || got == -501 ||
              got == -505);
    }
    return got;
}

/* Feed d[0..n) in pieces ending at cuts[0..ncuts) (ascending, then n), framing requests as
 * a server does. */
static void stream(const uint8_t *d, size_t n, const size_t *cuts, size_t ncuts,
                   const http_limits_t *lim, frames_t *out) {
    memset(out, 0, sizeof *out);
    size_t start = 0; /* first unconsumed byte */
    for (size_t c = 0; c <= ncuts; c++) {
        size_t have = c < ncuts ? cuts[c] : n; /* bytes received so far */
        for (;;) {
            long got = parse_exact(d + start, have - start, lim);
            if (got < 0) {
                out->end = got;
                out->rest = n - start;
                return;
            }
            if (got == 0) break;
            if (out->n < MAX_FRAMES) out->len[out->n] = (size_t)got;
            out->n++;
            start += (size_t)got;
        }
    }
    out->rest = n - start;
}

static void check_input(const uint8_t *d, size_t n, const http_limits_t *lim) {
    long whole = parse_exact(d, n, lim);

    /* Prefixes: every one for short inputs, a spread of them otherwise. */
    size_t step = n <= 128 ? 1 : n / 32;
    for (size_t k = 0; k < n; k += step) {
        long got = parse_exact(d, k, lim);
        if (whole > 0 && (size_t)whole <= k) CHECK(got == whole);
        else CHECK(got == 0 || (whole < 0 && got == whole));
    }

    /* Streams: whole, byte by byte (short inputs), and cut where the input says. */
    static frames_t a, b;
    stream(d, n, NULL, 0, lim, &a);
    size_t cuts[64], ncuts = 0;
    if (n <= 256) {
        for (size_t k = 1; k < n && ncuts < 64; k++) cuts[ncuts++] = k;
        if (n <= 65) {
            stream(d, n, cuts, ncuts, lim, &b);
            CHECK(a.n == b.n && a.end == b.end && a.rest == b.rest);
            CHECK(memcmp(a.len, b.len, (a.n < MAX_FRAMES ? a.n : MAX_FRAMES) * sizeof a.len[0]) == 0);
        }
    }
    ncuts = 0;
    uint32_t h = 2166136261u; /* FNV-1a of the input picks the cut points */
    for (size_t k = 0; k < n; k++) h = (h ^ d[k]) * 16777619u;
    size_t at = 0;
    while (ncuts < 8 && n > 1) {
        h = h * 1103515245u + 12345u;
        at += 1 + (h >> 8) % (n / 4 + 1);
        if (at >= n) break;
        cuts[ncuts++] = at;
    }
    stream(d, n, cuts, ncuts, lim, &b);
    CHECK(a.n == b.n && a.end == b.end && a.rest == b.rest);
    CHECK(memcmp(a.len, b.len, (a.n < MAX_FRAMES ? a.n : MAX_FRAMES) * sizeof a.len[0]) == 0);

    /* The first frame of the stream is what the whole input parses to. */
    if (whole > 0) CHECK(a.n >= 1 && a.len[0] == (size_t)whole);
    else if (whole < 0) CHECK(a.n == 0 && a.end == whole);
    else CHECK(a.n == 0 && a.end == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const http_limits_t servers = {8192, 16384 - 8192}, tiny = {64, 16};
    /* The input itself must stay intact for the checks: views are copied to the scratch. */
    scratch_len = size;
    scratch = malloc(size ? size : 1);
    CHECK(scratch);
    if (!size) scratch_len = 0;
    check_input(data, size, &servers);
    check_input(data, size, &tiny);
    free(scratch);
    return 0;
}
