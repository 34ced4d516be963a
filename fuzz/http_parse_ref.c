/* The reference for the fuzz harness: examples/http_parse.c as it was before its scanning was
 * made faster (a byte at a time, every byte checked against its class, header names compared
 * with strncasecmp), kept unchanged so the harness can check that the fast parser gives the
 * same answer, and fills in the same request, on every input. Not linked into any server. */
#include "http_parse_ref.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

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

/* What the fields said so far. */
typedef struct fields {
    bool has_length;    /* a Content-Length was seen */
    bool has_te;        /* a Transfer-Encoding was seen */
    bool close;         /* Connection: close */
    int hosts;          /* Host fields */
    size_t length;      /* the Content-Length */
} fields_t;

static bool name_is(const char *name, size_t len, const char *want) {
    return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

/* Content-Length = 1*DIGIT, once (RFC 9112 section 6.3: a list or a repeat is refused
 * here rather than reconciled: that disagreement is how requests are smuggled). */
static int content_length(fields_t *f, const char *v, size_t len, const http_limits_t *lim) {
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
        if (name_is(v + start, k - start, "close")) f->close = true;
    }
}

static int field(fields_t *f, const char *name, size_t nlen, const char *v, size_t vlen,
                 const http_limits_t *lim) {
    switch (name[0] | 0x20) {
    case 'c':
        if (name_is(name, nlen, "content-length")) return content_length(f, v, vlen, lim);
        if (name_is(name, nlen, "connection")) connection(f, v, vlen);
        break;
    case 'h':
        if (name_is(name, nlen, "host")) f->hosts++;
        break;
    case 't':
        if (name_is(name, nlen, "transfer-encoding")) f->has_te = true;
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

long http_parse_request_ref(const char *p, size_t n, const http_limits_t *lim, http_req_t *req) {
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
    for (;; i++) {
        AT(414);
        if (!(cls[u[i]] & C_TCHAR)) break;
    }
    req->method_len = i - req->method_off;
    if (req->method_len == 0 || u[i] != ' ') return -400;
    i++;
    req->target_off = i;
    for (;; i++) {
        AT(414);
        if (!(cls[u[i]] & C_TARGET)) break;
    }
    req->target_len = i - req->target_off;
    if (req->target_len == 0 || u[i] != ' ') return -400;
    i++;
    static const char version[] = "HTTP/?.?\r\n";
    int major = 0;
    for (size_t k = 0; k < sizeof version - 1; k++, i++) {
        AT(414);
        if (version[k] != '?') {
            if (u[i] != (unsigned char)version[k]) return -400;
        } else if (u[i] < '0' || u[i] > '9') {
            return -400;
        } else if (k == 5) {
            major = u[i] - '0';
        } else {
            req->minor = u[i] - '0';
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
        for (;; i++) {
            AT(431);
            if (!(cls[u[i]] & C_TCHAR)) break;
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
        for (;; i++) {
            AT(431);
            if (!(cls[u[i]] & C_VALUE)) break;
        }
        size_t end = i;
        if (u[i] != '\r') return -400; /* a control character, a bare LF */
        i++;
        AT(431);
        if (u[i] != '\n') return -400;
        i++;
        while (end > value && (u[end - 1] == ' ' || u[end - 1] == '\t')) end--;
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
