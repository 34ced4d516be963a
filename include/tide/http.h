/* tide — an HTTP client, the aiohttp fetch of the asyncio tutorials: libcurl's multi interface
 * driven by the runtime's I/O driver, so thousands of requests run concurrently on one loop
 * while each task just calls tide_http_fetch and gets its response.
 *
 *   tide_http_response_t res;
 *   int r = tide_http_get("http://example.com/", &res);
 *   if (r == 0) printf("%d, %zu bytes\n", res.status, res.body_len);
 *   tide_http_response_free(&res);
 *
 * Connections are kept alive and reused between requests of one runtime, at most
 * TIDE_HTTP_MAX_HOST_CONNS to one host at a time: further requests to it wait for a free
 * connection (as aiohttp's connector does). http:// and https:// only. A non-2xx status is
 * not an error: it is in res.status.
 *
 * Errors of tide_http_fetch (and of the shortcuts built on it):
 *   -EINVAL        NULL req, url or res; a malformed URL; a header name or value that is
 *                  empty where a name is needed or holds ':' (name), CR or LF;
 *   -EPROTONOSUPPORT  a scheme other than http and https;
 *   -EPERM         called outside a task;
 *   -ENOMEM;
 *   -ENOENT        no such host (the name could not be resolved), as tide_resolve says it;
 *   -ECONNREFUSED  nothing listens there; other connect errors as their errno (-ENETUNREACH,
 *                  -EHOSTUNREACH...);
 *   -ECONNRESET    the connection was reset or closed before the whole response arrived
 *                  (server closed mid-response, or sent nothing);
 *   -ETIMEDOUT     req->timeout_ns passed, or the caller's deadline scope ended;
 *   -ECANCELED     the calling task was cancelled;
 *   -EFBIG         the body exceeds req->max_body;
 *   -ELOOP         more redirects than req->max_redirects;
 *   -EPROTO        the server's reply is not valid HTTP, or a TLS handshake failed;
 *   -EACCES        the server's TLS certificate could not be verified (untrusted, expired,
 *                  another name), or ca_file / ca_pem could not be used;
 *   -ENOENT        also: ca_file does not exist or cannot be read;
 *   an on_body error: what the callback returned, the transfer stopped;
 *   -EIO           any other transfer failure.
 *
 * https:// verifies the server's certificate and name against the system's CAs by default;
 * req->ca_file or req->ca_pem trust other CAs instead (a private CA, a test's), and
 * req->insecure turns verification off (tests only). A kept-alive connection is reused only by
 * requests with the same TLS settings.
 *
 * Streaming bodies: with req->on_body set, the body is not buffered: the callback receives it
 * chunk by chunk (at most TIDE_HTTP_CHUNK bytes each), called in the requesting task (never on
 * the I/O driver thread, so it may block, take locks, write files with tide_fs_write...).
 * Memory stays bounded whatever the body's size: while the callback holds on to a chunk, the
 * driver fills one more buffer and then pauses the transfer (CURLPAUSE), so a slow consumer
 * slows the server down through TCP's flow control instead of piling up the body.
 * A request that ends early (deadline, cancel) is removed from the loop at once: no handle,
 * descriptor or memory is left behind, and the connection it used is not reused. */
#ifndef TIDE_HTTP_H
#define TIDE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "tide/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Connections to one host (scheme, name, port) open at once, per runtime. */
#define TIDE_HTTP_MAX_HOST_CONNS 128

/* The largest chunk an on_body callback receives at once (and the size of each of the two
 * buffers a streaming request holds). */
#define TIDE_HTTP_CHUNK ((size_t)128 * 1024)

typedef struct tide_http_header {
    const char *name;  /* "Content-Type" (no ':', CR or LF) */
    const char *value; /* "text/plain" (no CR or LF; may be empty) */
} tide_http_header_t;

typedef struct tide_http_request {
    const char *method;                /* "GET", "POST", "PUT", "HEAD", ...; NULL: GET, or
                                          POST when body is set */
    const char *url;                   /* "http://host:port/path?query" */
    const tide_http_header_t *headers; /* extra request headers, in order (may replace
                                          curl's own: Host, Accept, User-Agent...) */
    size_t nheaders;                   /* how many */
    const void *body;                  /* request body (not copied; valid during the call) */
    size_t body_len;                   /* its length */
    int64_t timeout_ns;                /* the whole request, connect to last byte; 0: no
                                          limit of its own (the deadline scope still applies) */
    int64_t connect_timeout_ns;        /* connecting only; 0: curl's default (300 s) */
    unsigned max_redirects;            /* follow up to this many redirects; 0: do not follow */
    size_t max_body;                   /* refuse bodies larger than this (-EFBIG); 0: no limit */
    const char *ca_file;               /* https: trust the CAs of this PEM bundle instead of
                                          the system's */
    const char *ca_pem;                /* https: or these, in memory (PEM text; copied) */
    int insecure;                      /* https: do not verify the server's certificate nor
                                          its name (for tests; never in production) */
    int (*on_body)(void *arg, int status, const void *chunk, size_t len);
                                       /* stream the body here instead of into res->body (see
                                          above); status is the response's. Return 0 to go
                                          on, or a negative errno to stop the transfer:
                                          tide_http_fetch then returns it */
    void *on_body_arg;                 /* its first argument */
} tide_http_request_t;

typedef struct tide_http_response {
    int status;                  /* HTTP status code (200, 404...) */
    tide_http_header_t *headers; /* headers of the final response, in order, as received */
    size_t nheaders;             /* how many */
    char *body;                  /* the body, NUL-terminated for convenience (never NULL
                                    after success; empty when it went to on_body) */
    size_t body_len;             /* its length */
    char *raw_headers_;          /* private: storage behind headers[] */
    size_t raw_len_;             /* private: bytes of raw_headers_ in use */
    size_t raw_cap_;             /* private: its capacity */
    size_t body_cap_;            /* private: capacity of body */
} tide_http_response_t;

/* Perform req and fill *res (which need not be initialised, and is zeroed on failure). On
 * success free it with tide_http_response_free. Task-only. Errors: see above. */
int tide_http_fetch(const tide_http_request_t *req, tide_http_response_t *res);

/* Shortcuts: GET url; POST body (with Content-Type content_type, which may be NULL). */
int tide_http_get(const char *url, tide_http_response_t *res);
int tide_http_post(const char *url, const char *content_type, const void *body, size_t len,
                   tide_http_response_t *res);

/* The value of the first response header called name (case-insensitive), or NULL. */
const char *tide_http_header(const tide_http_response_t *res, const char *name);

/* Release what a successful fetch put in res and zero it. NULL and zeroed responses are fine. */
void tide_http_response_free(tide_http_response_t *res);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_HTTP_H */
