/* The strict request parser of http_parse.h. One pass over the head; each byte is checked
 * against a character class the moment it is reached, and the size limit is a position (the
 * head may not reach byte max_head), so the answer never depends on where the input was cut.
 * Grammar from RFC 9112 sections 2-3 and 5-6, RFC 9110 section 5.6.
 *
 * Where it is cheap to, it judges several bytes at once (eight bytes of a request-target or
 * field value in a word, the ten bytes of the version in one comparison), but only bytes that
 * are all there, before `stop`: a run that reaches the end of the input goes a byte at a time,
 * so the first byte refused, and the answer, are the byte-at-a-time parser's
 * (fuzz/http_parse_ref.c, which the fuzz harness checks this one against). */
#include "http_parse.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum {
    C_TCHAR = 1,  /* token characters (method, field name) */
    C_TARGET = 2, /* request-target: visible ASCII */
    C_VALUE = 4,  /* field value: SP, HTAB, visible ASCII, obs-text */
};

#define TCHAR (C_TCHAR | C_TARGET | C_VALUE)
#define VIS (C_TARGET | C_VALUE)

static const unsigned char cls[256] = {
    ['\t'] = C_VALUE, [' '] = C_VALUE,
    ['!'] = TCHAR, ['"'] = VIS, ['#'] = TCHAR, ['$'] = TCHAR, ['%'] = TCHAR, ['&'] = TCHAR,
    ['\''] = TCHAR, ['('] = VIS, [')'] = VIS, ['*'] = TCHAR, ['+'] = TCHAR, [','] = VIS,
    ['-'] = TCHAR, ['.'] = TCHAR, ['/'] = VIS, ['0' ... '9'] = TCHAR, [':'] = VIS,
    [';'] = VIS, ['<'] = VIS, ['='] = VIS, ['>'] = VIS, ['?'] = VIS, ['@'] = VIS,
    ['A' ... 'Z'] = TCHAR, ['['] = VIS, ['\\'] = VIS, [']'] = VIS, ['^'] = TCHAR,
    ['_'] = TCHAR, ['`'] = TCHAR, ['a' ... 'z'] = TCHAR, ['{'] = VIS, ['|'] = TCHAR,
    ['}'] = VIS, ['~'] = TCHAR, [0x80 ... 0xff] = C_VALUE,
};

#define ONES 0x0101010101010101u  /* a byte of 1 in every byte of a word */
#define HIGHS 0x8080808080808080u /* the top bit of every byte */

/* What the fields said so far. */
typedef struct fields {
    bool has_length;    /* a Content-Length was seen */
    bool has_te;        /* a Transfer-Encoding was seen */
    bool close;         /* Connection: close */
    int hosts;          /* Host fields */
    size_t length;      /* the Content-Length */
} fields_t;

/* Whether name (len bytes of a field name or value) is `want` (lower-case letters and '-'),
 * ignoring case: OR-ing in 0x20 lowers a letter and leaves '-' alone, and turns no other byte
 * into either but CR into '-' (never in a name or value). Eight bytes per comparison; with
 * len a constant the loop unrolls into a few. */
static inline bool name_is(const char *name, const char *want, size_t len) {
    for (size_t k = 0; k < len; k += 8) {
        size_t m = len - k < 8 ? len - k : 8;
        uint64_t a = 0, b = 0;
        memcpy(&a, name + k, m);
        memcpy(&b, want + k, m);
        if ((a | ONES * 0x20) != (b | ONES * 0x20)) return false; /* past m: 0x20 both */
    }
    return true;
}

/* Eight bytes at a time: a word with a flag (0x80) in each byte that is below lo (lo <= 0x80),
 * or equal to 0x7f. Only the lowest flag is exact (the borrow of a subtraction runs upwards
 * from a flagged byte), and only the lowest is used. Little-endian only: the lowest byte in
 * memory must be the lowest in the word. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WORDWISE 1
static inline uint64_t flag_below_or_del(uint64_t x, unsigned lo) {
    uint64_t y = x ^ (ONES * 0x7f);
    return ((x - ONES * lo) & ~x & HIGHS) | ((y - ONES) & ~y & HIGHS);
}
#else
#define WORDWISE 0
#endif

/* Sixteen bytes at a time where SSE2 is (every x86-64), before the words: a mask of the
 * bytes at or below le or at or above ge (unsigned); bit k is byte k. */
#if defined(__SSE2__)
#include <emmintrin.h>
static inline unsigned flag16(const unsigned char *p, unsigned char le, unsigned char ge) {
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8((char)le)), x);
    __m128i high = _mm_cmpeq_epi8(_mm_max_epu8(x, _mm_set1_epi8((char)ge)), x);
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(low, high));
}
#endif

/* The first byte at or after i that is not visible ASCII (C_TARGET), or stop. */
static inline size_t target_end(const unsigned char *u, size_t i, size_t stop) {
#if defined(__SSE2__)
    while (stop - i >= 16) {
        unsigned bad = flag16(u + i, 0x20, 0x7f);
        if (bad) return i + (size_t)__builtin_ctz(bad);
        i += 16;
    }
#endif
#if WORDWISE
    while (stop - i >= 8) {
        uint64_t x;
        memcpy(&x, u + i, 8);
        uint64_t bad = flag_below_or_del(x, 0x21) | (x & HIGHS);
        if (bad) return i + ((size_t)__builtin_ctzll(bad) >> 3);
        i += 8;
    }
#endif
    while (i < stop && (cls[u[i]] & C_TARGET)) i++;
    return i;
}

/* The first byte at or after i that may not be in a field value (C_VALUE: HTAB, SP, visible
 * ASCII, obs-text), or stop. HTAB is the one byte below 0x20 taken: stepped over. */
static inline size_t value_end(const unsigned char *u, size_t i, size_t stop) {
#if defined(__SSE2__)
    while (stop - i >= 16) {
        /* Below 0x20, or 0x7f itself (obs-text, 0x80 and up, is taken). */
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(u + i));
        __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);
        __m128i del = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f));
        unsigned bad = (unsigned)_mm_movemask_epi8(_mm_or_si128(low, del));
        if (!bad) {
            i += 16;
            continue;
        }
        i += (size_t)__builtin_ctz(bad);
        if (u[i] != '\t') return i;
        i++;
    }
#endif
#if WORDWISE
    while (stop - i >= 8) {
        uint64_t x;
        memcpy(&x, u + i, 8);
        uint64_t bad = flag_below_or_del(x, 0x20);
        if (!bad) {
            i += 8;
            continue;
        }
        i += (size_t)__builtin_ctzll(bad) >> 3;
        if (u[i] != '\t') return i;
        i++;
    }
#endif
    while (i < stop && (cls[u[i]] & C_VALUE)) i++;
    return i;
}

/* Content-Length = 1*DIGIT, once (RFC 9112 section 6.3: a list or a repeat is refused
 * here rather than reconciled: that disagreement is how requests are smuggled). */
static int content_length(fields_t *f, const char *v, size_t len, const http_limits_t *lim) {
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--; /* trailing OWS */
    if (f->has_length || len == 0) return -400;
    f->has_length = true;
    size_t x = 0;
    bool big = false;
    for (size_t k = 0; k < len; k++) {
        if (v[k] < '0' || v[k] > '9') return -400;
        if (!big) {
            x = x * 10 + (size_t)(v[k] - '0');
            big = x > lim->max_body;
        }
    }
    if (big) return -413;
    f->length = x;
    return 0;
}

/* Connection: a comma-separated list of tokens; "close" ends the connection. */
static void connection(fields_t *f, const char *v, size_t len) {
    size_t k = 0;
    while (k < len) {
        while (k < len && (v[k] == ' ' || v[k] == '\t' || v[k] == ',')) k++;
        size_t start = k;
        while (k < len && v[k] != ',' && v[k] != ' ' && v[k] != '\t') k++;
        if (k - start == 5 && name_is(v + start, "close", 5)) f->close = true;
    }
}

/* A field the parser acts on (the others are only checked). v[0..vlen): the value, with its
 * trailing whitespace (OWS) still on: the few that care trim it. */
static int field(fields_t *f, const char *name, size_t nlen, const char *v, size_t vlen,
                 const http_limits_t *lim) {
    switch (nlen) {
    case 4:
        if (name_is(name, "host", 4)) f->hosts++;
        break;
    case 10:
        if (name_is(name, "connection", 10)) connection(f, v, vlen);
        break;
    case 14:
        if (name_is(name, "content-length", 14)) return content_length(f, v, vlen, lim);
        break;
    case 17:
        if (name_is(name, "transfer-encoding", 17)) f->has_te = true;
        break;
    }
    return 0;
}

/* At head byte i: refuse once the head reaches max_head, wait while the byte is not there
 * (one comparison per byte on the way: stop is the nearer of the two). */
#define AT(status)                                                  \
    do {                                                            \
        if (i >= stop) return i >= lim->max_head ? -(status) : 0;   \
    } while (0)

long http_parse_request(const char *p, size_t n, const http_limits_t *lim, http_req_t *req) {
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0, stop = n < lim->max_head ? n : lim->max_head;
    memset(req, 0, sizeof *req);

    /* Empty lines before the request line. */
    for (;;) {
        AT(414);
        if (u[i] != '\r') break;
        i++;
        AT(414);
        if (u[i] != '\n') return -400;
        i++;
    }

    /* request-line = method SP request-target SP HTTP-version CRLF */
    req->method_off = i;
    if (stop - i >= 4 && memcmp(u + i, "GET ", 4) == 0) {
        i += 3; /* most requests: tchars up to the space, where the loop would stop */
    } else {
        for (;; i++) {
            AT(414);
            if (!(cls[u[i]] & C_TCHAR)) break;
        }
    }
    req->method_len = i - req->method_off;
    if (req->method_len == 0 || u[i] != ' ') return -400;
    i++;
    req->target_off = i;
    i = target_end(u, i, stop);
    AT(414);
    req->target_len = i - req->target_off;
    if (req->target_len == 0 || u[i] != ' ') return -400;
    i++;
    static const char version[] = "HTTP/?.?\r\n";
    int major = 0;
    if (stop - i >= sizeof version - 1) {
        /* All ten bytes are there: one comparison (every mismatch is a 400 either way). */
        if (memcmp(u + i, "HTTP/", 5) != 0 || u[i + 5] < '0' || u[i + 5] > '9' ||
            u[i + 6] != '.' || u[i + 7] < '0' || u[i + 7] > '9' || u[i + 8] != '\r' ||
            u[i + 9] != '\n')
            return -400;
        major = u[i + 5] - '0';
        req->minor = u[i + 7] - '0';
        i += sizeof version - 1;
    } else {
        /* Cut short by the end of the input or max_head: a byte at a time to the first byte
         * refused or to the cut, where AT returns (incomplete, or 414). */
        for (size_t k = 0;; k++, i++) {
            AT(414);
            if (version[k] != '?' ? u[i] != (unsigned char)version[k] : u[i] < '0' || u[i] > '9')
                return -400;
        }
    }
    if (major != 1) return -505;

    /* field-line = field-name ":" OWS field-value OWS CRLF, until an empty line. */
    fields_t f = {0};
    for (;;) {
        AT(431);
        if (u[i] == '\r') {
            i++;
            AT(431);
            if (u[i] != '\n') return -400;
            i++;
            break;
        }
        size_t name = i;
        if (stop - i > 4 && u[i + 4] == ':' && name_is(p + i, "host", 4)) {
            i += 4; /* every HTTP/1.1 request's: letters up to the colon, as the loop finds */
        } else {
            for (;; i++) {
                AT(431);
                if (!(cls[u[i]] & C_TCHAR)) break;
            }
        }
        /* No name (a folded line starting with whitespace, a bare LF) or whitespace before
         * the colon: refused. */
        if (i == name || u[i] != ':') return -400;
        size_t nlen = i - name;
        i++;
        for (;; i++) {
            AT(431);
            if (u[i] != ' ' && u[i] != '\t') break;
        }
        size_t value = i;
        i = value_end(u, i, stop);
        AT(431);
        size_t end = i;
        if (u[i] != '\r') return -400; /* a control character, a bare LF */
        i++;
        AT(431);
        if (u[i] != '\n') return -400;
        i++;
        int r = field(&f, p + name, nlen, p + value, end - value, lim);
        if (r < 0) return r;
    }

    if (f.has_te) return f.has_length || req->minor == 0 ? -400 : -501;
    if (req->minor == 0 ? f.hosts > 1 : f.hosts != 1) return -400;
    req->head_len = i;
    req->body_len = f.length;
    req->close = f.close || req->minor == 0;
    if (f.length > n - i) return 0;
    return (long)(i + f.length);
}

const char *http_reason(int status) {
    switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}
