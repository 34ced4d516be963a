/* The HTTP client's task side (tide/http.h): check the request, set up a curl easy handle in
 * the calling task (so the driver only adds and removes it), run it on the runtime's multi
 * handle (io/http_loop.c), then turn curl's outcome into a status, headers and a body.
 *
 * curl's write and header callbacks run on the driver thread while the task is parked: they
 * append to the response the task handed in, which nothing else touches meanwhile.
 *
 * A streamed body (req->on_body) must reach user code on the task instead, while the transfer
 * goes on: a helper task (the pump) runs the transfer on the driver and waits for its end,
 * the requesting task loops taking filled buffers and calling on_body. Two buffers of
 * TIDE_HTTP_CHUNK: the driver fills one while the task works on the other; when the one being
 * filled cannot take curl's next piece, the write callback pauses the transfer, and the task,
 * once it has taken that buffer, asks the driver to resume it. So memory is bounded and a slow
 * consumer stops reading the socket, which slows the server down. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"
#include "platform.h"
#include "sys_internal.h"
#include "tide/http.h"

/* A streamed body on its way from the driver to the task. */
typedef struct stream {
    tide__spin_t lock;     /* guards the fields below it, between the driver and the task */
    char *fill;            /* the buffer the driver fills (TIDE_HTTP_CHUNK bytes) */
    size_t len;            /* bytes in it */
    int status;            /* the response status when they came */
    bool paused;           /* the driver paused the transfer: resume it after taking fill */
    bool done;             /* the transfer ended (the pump's run returned) */
    bool waiting;          /* the task is parked on waker */
    tide_waker_t waker;    /* the requesting task */
    char *spare;           /* task only: the buffer on_body works on */
    size_t total;          /* driver only: body bytes so far (for max_body) */
} stream_t;

/* A transfer's context for curl's callbacks. */
typedef struct fetch {
    tide__http_xfer_t x;       /* first: the driver operation */
    tide_http_response_t *res; /* where the response goes */
    size_t max_body;           /* 0: no limit */
    int cb_err;                /* why a callback stopped the transfer (-EFBIG, -ENOMEM) */
    stream_t stream;           /* with req->on_body */
} fetch_t;

/* ---- callbacks (driver thread) --------------------------------------------------------- */

/* Make room for n more bytes plus a NUL in a growing buffer. */
static int reserve(char **buf, size_t *cap, size_t len, size_t n) {
    if (len + n + 1 <= *cap) return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < len + n + 1) {
        if (c > SIZE_MAX / 2) return -ENOMEM;
        c *= 2;
    }
    char *nb = tide__alloc_fault() ? NULL : realloc(*buf, c);
    if (!nb) return -ENOMEM;
    *buf = nb;
    *cap = c;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg) {
    fetch_t *f = arg;
    tide_http_response_t *res = f->res;
    size_t len = size * n;
    if (f->max_body && res->body_len + len > f->max_body) {
        f->cb_err = -EFBIG;
        return 0; /* curl stops the transfer: CURLE_WRITE_ERROR */
    }
    if (reserve(&res->body, &res->body_cap_, res->body_len, len) < 0) {
        f->cb_err = -ENOMEM;
        return 0;
    }
    memcpy(res->body + res->body_len, data, len);
    res->body_len += len;
    res->body[res->body_len] = '\0';
    return len;
}

/* The streaming write callback: into the fill buffer, or pause until the task takes it. */
static size_t on_body_stream(char *data, size_t size, size_t n, void *arg) {
    fetch_t *f = arg;
    stream_t *s = &f->stream;
    size_t len = size * n;
    if (f->max_body && s->total + len > f->max_body) {
        f->cb_err = -EFBIG;
        return 0;
    }
    if (len > TIDE_HTTP_CHUNK) { /* curl passes at most CURL_MAX_WRITE_SIZE (16 KB) */
        f->cb_err = -EIO;
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(f->x.easy, CURLINFO_RESPONSE_CODE, &status);
    tide__spin_lock(&s->lock);
    if (s->len + len > TIDE_HTTP_CHUNK) {
        s->paused = true; /* the task has not taken the buffer yet: it will resume us */
        tide__spin_unlock(&s->lock);
        return CURL_WRITEFUNC_PAUSE;
    }
    memcpy(s->fill + s->len, data, len);
    s->len += len;
    s->status = (int)status;
    if (s->waiting) {
        s->waiting = false;
        tide_wake(s->waker);
    }
    tide__spin_unlock(&s->lock);
    s->total += len;
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg) {
    fetch_t *f = arg;
    tide_http_response_t *res = f->res;
    size_t len = size * n;
    /* A status line starts a new response (after a redirect or a 100 Continue): only the
     * final response's headers are kept. */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) res->raw_len_ = 0;
    if (reserve(&res->raw_headers_, &res->raw_cap_, res->raw_len_, len) < 0) {
        f->cb_err = -ENOMEM;
        return 0;
    }
    memcpy(res->raw_headers_ + res->raw_len_, data, len);
    res->raw_len_ += len;
    res->raw_headers_[res->raw_len_] = '\0';
    return len;
}

/* ---- request --------------------------------------------------------------------------- */

static bool valid_token(const char *s) {
    if (!*s) return false;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 127 || strchr("()<>@,;:\\\"/[]?={}", *s)) return false;
    return true;
}

static bool valid_value(const char *s) {
    return !strpbrk(s, "\r\n");
}

/* curl's header list: "Name: value", or "Name;" for an empty value ("Name:" would remove
 * the header). */
static int build_headers(const tide_http_request_t *req, struct curl_slist **out) {
    struct curl_slist *list = NULL;
    bool expect = false;
    for (size_t i = 0; i < req->nheaders; i++) {
        const tide_http_header_t *h = &req->headers[i];
        if (!h->name || !h->value || !valid_token(h->name) || !valid_value(h->value)) goto inval;
        if (strcasecmp(h->name, "Expect") == 0) expect = true;
        size_t len = strlen(h->name) + strlen(h->value) + 3;
        char *line = tide__alloc_fault() ? NULL : malloc(len);
        if (!line) goto nomem;
        if (*h->value) snprintf(line, len, "%s: %s", h->name, h->value);
        else snprintf(line, len, "%s;", h->name);
        struct curl_slist *l = curl_slist_append(list, line);
        free(line);
        if (!l) goto nomem;
        list = l;
    }
    /* curl would send "Expect: 100-continue" with larger bodies and wait for the server's
     * go-ahead (a round trip, or a whole second with servers that do not answer it). */
    if (!expect) {
        struct curl_slist *l = curl_slist_append(list, "Expect:");
        if (!l) goto nomem;
        list = l;
    }
    *out = list;
    return 0;
inval:
    curl_slist_free_all(list);
    return -EINVAL;
nomem:
    curl_slist_free_all(list);
    return -ENOMEM;
}

/* Parse and check the URL: -EINVAL if malformed, -EPROTONOSUPPORT unless http(s). */
static int parse_url(const char *url, CURLU **out) {
    CURLU *u = curl_url();
    if (!u) return -ENOMEM;
    int r = -EINVAL;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc == CURLUE_OUT_OF_MEMORY) r = -ENOMEM;
    if (uc != CURLUE_OK) goto fail;
    char *scheme = NULL, *host = NULL;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) goto fail;
    bool http = strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0;
    curl_free(scheme);
    if (!http) {
        r = -EPROTONOSUPPORT;
        goto fail;
    }
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) goto fail;
    curl_free(host);
    *out = u;
    return 0;
fail:
    curl_url_cleanup(u);
    return r;
}

static long ms_of(int64_t ns) {
    int64_t ms = ns / 1000000 + (ns % 1000000 != 0); /* rounded up; ns + 999999 overflows */
    return ms > 0x7fffffff ? 0x7fffffff : (long)ms;
}

static int setup(fetch_t *f, const tide_http_request_t *req, CURLU *url,
                 struct curl_slist *headers) {
    CURL *e = f->x.easy;
    const char *method = req->method ? req->method : req->body ? "POST" : "GET";
    if (!valid_token(method)) return -EINVAL;
    bool ok = true;
#define SET(opt, val) ok = ok && curl_easy_setopt(e, opt, val) == CURLE_OK
    SET(CURLOPT_CURLU, url);
    SET(CURLOPT_NOSIGNAL, 1L); /* curl must not use signals: we are multi-threaded */
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_WRITEFUNCTION, req->on_body ? on_body_stream : on_body);
    SET(CURLOPT_WRITEDATA, f);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, f);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_ACCEPT_ENCODING, ""); /* every encoding curl can decode, like aiohttp */
    if (strcmp(method, "GET") == 0 && !req->body) {
        SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") != 0) SET(CURLOPT_CUSTOMREQUEST, method);
        if (req->body || strcmp(method, "POST") == 0) {
            /* Not copied: req->body stays valid for the whole call. */
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
        }
    }
    if (req->timeout_ns > 0) SET(CURLOPT_TIMEOUT_MS, ms_of(req->timeout_ns));
    if (req->connect_timeout_ns > 0) SET(CURLOPT_CONNECTTIMEOUT_MS, ms_of(req->connect_timeout_ns));
    if (req->max_redirects) {
        SET(CURLOPT_FOLLOWLOCATION, 1L);
        SET(CURLOPT_MAXREDIRS, (long)req->max_redirects);
    }
    if (req->max_body) SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_body);
    if (req->ca_file) SET(CURLOPT_CAINFO, req->ca_file);
    if (req->ca_pem) {
        struct curl_blob b = {.data = (void *)req->ca_pem, .len = strlen(req->ca_pem),
                              .flags = CURL_BLOB_COPY};
        SET(CURLOPT_CAINFO_BLOB, &b);
    }
    if (req->ca_file || req->ca_pem) SET(CURLOPT_CAPATH, NULL); /* only these CAs */
    if (req->insecure) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
#undef SET
    return ok ? 0 : -ENOMEM;
}

/* ---- streaming ------------------------------------------------------------------------- */

static int pump(void *arg) {
    fetch_t *f = arg;
    stream_t *s = &f->stream;
    int r = tide__http_run(&f->x);
    tide__spin_lock(&s->lock);
    s->done = true;
    if (s->waiting) {
        s->waiting = false;
        tide_wake(s->waker);
    }
    tide__spin_unlock(&s->lock);
    return r;
}

/* Run the transfer, handing the body to req->on_body as it comes: the transfer's result (as
 * tide__http_run's), or the error of the callback or of the caller's wait. */
static int run_streaming(fetch_t *f, const tide_http_request_t *req) {
    stream_t *s = &f->stream;
    tide_task_t p;
    tide_spawn_opts_t so = {.name = "http body pump"};
    int r = tide_spawn_opts(&p, pump, f, &so);
    if (r < 0) return r;
    int err = 0;
    for (;;) {
        tide__spin_lock(&s->lock);
        if (s->len) {
            char *mine = s->fill;
            size_t n = s->len;
            int status = s->status;
            bool resume = s->paused;
            s->fill = s->spare;
            s->spare = mine;
            s->len = 0;
            s->paused = false;
            tide__spin_unlock(&s->lock);
            /* Resume first: the driver fills the other buffer while on_body runs. */
            if (resume && (err = tide__http_unpause(&f->x)) < 0) break;
            err = req->on_body(req->on_body_arg, status, mine, n);
            if (err != 0) {
                if (err > 0) err = -EINVAL; /* not an errno: the contract is 0 or negative */
                break;
            }
            continue;
        }
        if (s->done) {
            tide__spin_unlock(&s->lock);
            break;
        }
        s->waker = tide_park_prepare();
        s->waiting = true;
        tide__spin_unlock(&s->lock);
        int pr = tide_park_on("http body");
        if (pr < 0) {
            tide__spin_lock(&s->lock);
            s->waiting = false;
            tide__spin_unlock(&s->lock);
            err = pr;
            break;
        }
    }
    if (err) tide_cancel(p); /* the pump withdraws the transfer from the driver */
    tide_shield_t shield;
    tide_shield_begin(&shield); /* f must outlive the pump's use of it */
    int status = 0;
    tide_join(p, &status);
    tide_shield_end(&shield);
    return err ? err : status;
}

/* ---- outcome --------------------------------------------------------------------------- */

static int os_errno(CURL *e, int fallback) {
    long err = 0;
    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &err);
    return err > 0 ? -(int)err : fallback;
}

static int outcome(fetch_t *f) {
    CURL *e = f->x.easy;
    switch (f->x.code) {
    case CURLE_OK: return 0;
    case CURLE_UNSUPPORTED_PROTOCOL: {
        /* The URL's scheme was checked up front: this is a redirect to another scheme (a
         * response came), or a reply without an HTTP status line (HTTP/0.9 or garbage). */
        long status = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        return status ? -EPROTONOSUPPORT : -EPROTO;
    }
    case CURLE_URL_MALFORMAT: return -EINVAL;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return -ENOENT; /* as tide_resolve reports it */
    case CURLE_COULDNT_CONNECT: return os_errno(e, -ECONNREFUSED);
    case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING: return -ECONNRESET;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR: return os_errno(e, -ECONNRESET);
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK: return f->cb_err ? f->cb_err : -EIO;
    case CURLE_FILESIZE_EXCEEDED: return -EFBIG;
    case CURLE_TOO_MANY_REDIRECTS: return -ELOOP;
    case CURLE_OUT_OF_MEMORY: return -ENOMEM;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_SSL_CONNECT_ERROR: return -EPROTO;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE: return -EACCES;
    default: return -EIO;
    }
}

static char *trim(char *s, char *end) {
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) end--;
    *end = '\0';
    return s;
}

/* Split the final response's raw header block into name/value pairs, in place. */
static int parse_headers(tide_http_response_t *res) {
    size_t n = 0;
    for (size_t i = 0; i < res->raw_len_; i++) n += res->raw_headers_[i] == '\n';
    if (n == 0) return 0;
    res->headers = tide__alloc_fault() ? NULL : calloc(n, sizeof *res->headers);
    if (!res->headers) return -ENOMEM;
    char *p = res->raw_headers_, *end = p + res->raw_len_;
    bool status_line = true;
    while (p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        char *next = eol < end ? eol + 1 : end;
        char *colon = memchr(p, ':', (size_t)(eol - p));
        /* Skipped: the status line, the blank line, folded continuations. */
        if (!status_line && colon && *p != ' ' && *p != '\t') {
            tide_http_header_t *h = &res->headers[res->nheaders++];
            h->name = trim(p, colon);
            h->value = trim(colon + 1, eol);
        }
        status_line = false;
        p = next;
    }
    return 0;
}

/* ---- API ------------------------------------------------------------------------------- */

void tide_http_response_free(tide_http_response_t *res) {
    if (!res) return;
    free(res->headers);
    free(res->raw_headers_);
    free(res->body);
    memset(res, 0, sizeof *res);
}

int tide_http_fetch(const tide_http_request_t *req, tide_http_response_t *res) {
    if (res) memset(res, 0, sizeof *res);
    if (!req || !req->url || !res || (!req->body && req->body_len)) return -EINVAL;
    if (req->nheaders && !req->headers) return -EINVAL;
    if (req->ca_file && access(req->ca_file, R_OK) < 0) return errno == ENOMEM ? -ENOMEM : -ENOENT;
    int r;
    tide__io_t *io = tide__sys_io(&r);
    if (!io) return r;
    if ((r = tide__sys_gate()) < 0) return r;
    tide__http_global_init();
    tide__http_t *http = tide__http_get(tide_runtime_current(), io);
    if (!http) return -ENOMEM;

    CURLU *url;
    r = parse_url(req->url, &url);
    if (r < 0) return r;
    struct curl_slist *headers = NULL;
    r = build_headers(req, &headers);
    if (r < 0) goto out_url;
    fetch_t f = {.x = {.http = http}, .res = res, .max_body = req->max_body};
    f.x.easy = curl_easy_init();
    if (!f.x.easy) {
        r = -ENOMEM;
        goto out_headers;
    }
    r = setup(&f, req, url, headers);
    if (r < 0) goto out_easy;
    if (req->on_body) {
        f.stream.fill = tide__alloc(TIDE_HTTP_CHUNK);
        f.stream.spare = tide__alloc(TIDE_HTTP_CHUNK);
        if (!f.stream.fill || !f.stream.spare) {
            r = -ENOMEM;
            goto out_stream;
        }
    }

    r = req->on_body ? run_streaming(&f, req) : tide__http_run(&f.x);
    if (r == 0) r = outcome(&f);
    if (r < 0) goto out_stream;
    long status = 0;
    curl_easy_getinfo(f.x.easy, CURLINFO_RESPONSE_CODE, &status);
    res->status = (int)status;
    if (!res->body && reserve(&res->body, &res->body_cap_, 0, 0) < 0) r = -ENOMEM;
    else res->body[res->body_len] = '\0';
    if (r == 0) r = parse_headers(res);
out_stream:
    if (f.stream.fill) tide__free(f.stream.fill, TIDE_HTTP_CHUNK);
    if (f.stream.spare) tide__free(f.stream.spare, TIDE_HTTP_CHUNK);
out_easy:
    curl_easy_cleanup(f.x.easy);
out_headers:
    curl_slist_free_all(headers);
out_url:
    curl_url_cleanup(url);
    if (r < 0) tide_http_response_free(res);
    else tide_budget_tick();
    return r;
}

int tide_http_get(const char *url, tide_http_response_t *res) {
    tide_http_request_t req = {.method = "GET", .url = url};
    return tide_http_fetch(&req, res);
}

int tide_http_post(const char *url, const char *content_type, const void *body, size_t len,
                   tide_http_response_t *res) {
    tide_http_header_t h = {"Content-Type", content_type};
    tide_http_request_t req = {.method = "POST", .url = url, .headers = content_type ? &h : NULL,
                               .nheaders = content_type ? 1 : 0, .body = body, .body_len = len};
    return tide_http_fetch(&req, res);
}

const char *tide_http_header(const tide_http_response_t *res, const char *name) {
    if (!res || !name) return NULL;
    for (size_t i = 0; i < res->nheaders; i++)
        if (strcasecmp(res->headers[i].name, name) == 0) return res->headers[i].value;
    return NULL;
}
