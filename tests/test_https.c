/* The HTTP client over TLS and with streamed bodies, against a small HTTP/1.1 server run in
 * the same runtime on tide's TCP and TLS streams (certificates made at test time, tls_pki.h):
 * https with the test's CA (file or memory) and refused without it, a 50 MB body streamed to
 * a slow callback with the server held back (memory bounded), and a streamed transfer stopped
 * by its callback, a deadline and a cancel without leaking. */
#include "testutil.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide/tls.h"
#include "tls_pki.h"

static tt_pki_t pki;

/* ---- body bytes: slices of a table whose length is prime ------------------------------- */

#define TABLE_SIZE 1000003
static uint8_t table[TABLE_SIZE];

static void table_fill(void) {
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < TABLE_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        table[i] = (uint8_t)x;
    }
}

/* Whether p[0..n) is the body from position at on. */
static bool body_ok(const uint8_t *p, size_t n, uint64_t at) {
    while (n) {
        size_t off = at % TABLE_SIZE, k = TABLE_SIZE - off < n ? TABLE_SIZE - off : n;
        if (memcmp(p, table + off, k) != 0) return false;
        p += k;
        n -= k;
        at += k;
    }
    return true;
}

/* ---- the server: one task per connection, Connection: close ------------------------------ */

typedef struct server {
    tide_tcp_t *listener;
    uint16_t port;
    tide_tls_ctx_t *ctx;      /* NULL: plain HTTP */
    tide_task_t acceptor;
    _Atomic uint64_t sent;    /* body bytes of /big handed (or about to be) to the connection */
    _Atomic int requests;
    _Atomic int live;         /* connection tasks not finished yet */
} server_t;

static server_t srv;

typedef struct conn {
    tide_tcp_t *tcp;
    tide_tls_t *tls;
} conn_t;

static ssize_t c_read(conn_t *c, void *b, size_t n) {
    return c->tls ? tide_tls_read(c->tls, b, n) : tide_tcp_read(c->tcp, b, n);
}
static ssize_t c_write(conn_t *c, const void *b, size_t n) {
    return c->tls ? tide_tls_write_all(c->tls, b, n, NULL) : tide_tcp_write_all(c->tcp, b, n, NULL);
}

static int serve_conn(void *arg) {
    conn_t c = {.tcp = arg};
    if (srv.ctx && tide_tls_accept(&c.tls, c.tcp, srv.ctx) < 0) {
        tide_tcp_close(c.tcp); /* a client that refused our certificate, say */
        atomic_fetch_sub(&srv.live, 1);
        return 0;
    }
    char req[8192];
    size_t have = 0;
    while (!memmem(req, have, "\r\n\r\n", 4)) {
        ssize_t n = c_read(&c, req + have, sizeof req - 1 - have);
        if (n <= 0) goto out;
        have += (size_t)n;
    }
    req[have] = '\0';
    atomic_fetch_add(&srv.requests, 1);
    char path[256] = "";
    sscanf(req, "%*s %255s", path);
    char head[256];
    if (strncmp(path, "/big/", 5) == 0) {
        uint64_t len = strtoull(path + 5, NULL, 10), at = 0;
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\nConnection: close\r\n\r\n",
                          (unsigned long long)len);
        if (c_write(&c, head, (size_t)hl) < 0) goto out;
        while (at < len) {
            size_t off = at % TABLE_SIZE, k = TABLE_SIZE - off;
            if (k > 65536) k = 65536;
            if (k > len - at) k = (size_t)(len - at);
            atomic_fetch_add(&srv.sent, k); /* counted first: never below what arrived */
            if (c_write(&c, table + off, k) < 0) goto out; /* the client went away */
            at += k;
        }
    } else {
        bool hello = strcmp(path, "/hello") == 0;
        const char *body = hello ? "hello over tls" : "not found";
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                          hello ? "200 OK" : "404 Not Found", strlen(body), body);
        if (c_write(&c, head, (size_t)hl) < 0) goto out;
    }
    if (c.tls) tide_tls_shutdown(c.tls);
out:
    if (c.tls) tide_tls_close(c.tls);
    else tide_tcp_close(c.tcp);
    atomic_fetch_sub(&srv.live, 1);
    return 0;
}

static int accept_loop(void *arg) {
    tide_spawn_opts_t so = {.name = "test conn", .detached = 1};
    for (;;) {
        tide_tcp_t *c;
        int r = tide_tcp_accept(srv.listener, &c, NULL);
        if (r == -ECANCELED) return 0;
        cr_assert_eq(r, 0, "accept: %s", tide_strerror(r));
        atomic_fetch_add(&srv.live, 1);
        cr_assert_eq(tide_spawn_opts(NULL, serve_conn, c, &so), 0);
    }
}

static void server_start(bool tls) {
    atomic_store(&srv.sent, 0);
    atomic_store(&srv.requests, 0);
    srv.ctx = NULL;
    if (tls) {
        tide_tls_ctx_opts_t o = {.role = TIDE_TLS_SERVER, .cert_pem = pki.cert_pem,
                                 .key_pem = pki.key_pem};
        cr_assert_eq(tide_tls_ctx_new(&srv.ctx, &o), 0);
    }
    cr_assert_eq(tide_tcp_listen(&srv.listener, "127.0.0.1", 0, NULL), 0);
    tide_addr_t a;
    cr_assert_eq(tide_tcp_local_addr(srv.listener, &a), 0);
    srv.port = tide_addr_port(&a);
    cr_assert_eq(tide_spawn(&srv.acceptor, accept_loop, NULL), 0);
}

static void server_stop(void) {
    cr_assert_eq(tide_cancel(srv.acceptor), 0);
    int st;
    cr_assert_eq(tide_join(srv.acceptor, &st), 0);
    cr_assert_eq(st, 0);
    cr_assert_eq(tide_tcp_close(srv.listener), 0);
    /* Connections end when their clients close (every answer says Connection: close). */
    int64_t until = tide_now() + TT_SLACK(TIDE_SEC(10));
    while (atomic_load(&srv.live) > 0 && tide_now() < until) tide_sleep(TIDE_MSEC(1));
    cr_assert_eq(atomic_load(&srv.live), 0);
    tide_tls_ctx_free(srv.ctx);
    srv.ctx = NULL;
}

static char *url(char *buf, const char *scheme, const char *host, const char *path) {
    snprintf(buf, 256, "%s://%s:%u%s", scheme, host, srv.port, path);
    return buf;
}

/* ---- https ----------------------------------------------------------------------------- */

static int https_basics(void *arg) {
    server_start(true);
    char u[256];
    tide_http_response_t res;

    /* The test's CA from a file, then from memory; by address and by name. */
    tide_http_request_t req = {.url = url(u, "https", "127.0.0.1", "/hello"),
                               .ca_file = pki.ca_file};
    int r = tide_http_fetch(&req, &res);
    cr_assert_eq(r, 0, "%s", tide_strerror(r));
    cr_assert_eq(res.status, 200);
    cr_assert_str_eq(res.body, "hello over tls");
    tide_http_response_free(&res);
    req = (tide_http_request_t){.url = url(u, "https", "localhost", "/hello"), .ca_pem = pki.ca_pem};
    r = tide_http_fetch(&req, &res);
    cr_assert_eq(r, 0, "%s", tide_strerror(r));
    cr_assert_str_eq(res.body, "hello over tls");
    tide_http_response_free(&res);

    /* Without it (the system's CAs), or with another CA: refused. */
    r = tide_http_get(url(u, "https", "127.0.0.1", "/hello"), &res);
    cr_assert_eq(r, -EACCES, "%s", tide_strerror(r));
    cr_assert_null(res.body);
    req = (tide_http_request_t){.url = u, .ca_pem = pki.rogue_cert_pem};
    cr_assert_eq(tide_http_fetch(&req, &res), -EACCES);
    req = (tide_http_request_t){.url = u, .ca_file = "/nonexistent/ca.pem"};
    cr_assert_eq(tide_http_fetch(&req, &res), -ENOENT);

    /* Verification off: accepted (tests only). */
    req = (tide_http_request_t){.url = u, .insecure = 1};
    cr_assert_eq(tide_http_fetch(&req, &res), 0);
    cr_assert_eq(res.status, 200);
    tide_http_response_free(&res);

    /* Plain HTTP to the TLS port: the server's handshake fails (-EPROTO there), its alert
     * is no HTTP answer. */
    r = tide_http_get(url(u, "http", "127.0.0.1", "/hello"), &res);
    cr_assert(r == -EPROTO || r == -ECONNRESET, "%s", tide_strerror(r));
    server_stop();
    return 0;
}

Test(https, fetch_verifies_against_the_given_ca_and_refuses_without_it, .timeout = 120) {
    tt_pki_make(&pki);
    table_fill();
    tt_run(https_basics, NULL, 2);
    tt_pki_free(&pki);
}

/* ---- streamed bodies ------------------------------------------------------------------- */

/* What may be in flight between the server's writes and the callback: the two sockets'
 * kernel buffers (at most tcp_wmem's and tcp_rmem's maximum: up to 32 MB on some machines),
 * curl's buffer and our two, plus a margin. The body is 16 MB more (and at least 50 MB):
 * with the callback slow at first, buffering it whole would show. */
static uint64_t in_flight_max, big_body;

static uint64_t sysctl_max(const char *path) {
    unsigned long long lo, def, max = 0;
    FILE *f = fopen(path, "r");
    if (!f || fscanf(f, "%llu %llu %llu", &lo, &def, &max) != 3) max = 8 << 20;
    if (f) fclose(f);
    return max;
}

static void big_sizes(void) {
    in_flight_max = sysctl_max("/proc/sys/net/ipv4/tcp_rmem") +
                    sysctl_max("/proc/sys/net/ipv4/tcp_wmem") + 2 * TIDE_HTTP_CHUNK + (1 << 20);
    big_body = in_flight_max + (16 << 20);
    if (big_body < ((uint64_t)50 << 20)) big_body = (uint64_t)50 << 20;
}
#define BIG_BODY big_body
#define IN_FLIGHT_MAX in_flight_max

typedef struct sink {
    uint64_t got;          /* body bytes received */
    uint64_t slow_until;   /* sleep a little per chunk until this many (a slow consumer) */
    uint64_t stop_at;      /* return -ECANCELED... (an error of ours) once past this; 0 never */
    int64_t sleep_ns;      /* per chunk while slow */
    uint64_t max_in_flight;
    size_t max_chunk;
    _Atomic int calls;
    int status;
    long rss_start_kb, rss_max_kb;
} sink_t;

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

static int on_body(void *arg, int status, const void *chunk, size_t len) {
    sink_t *s = arg;
    cr_assert(body_ok(chunk, len, s->got), "body differs at %llu", (unsigned long long)s->got);
    cr_assert_leq(len, TIDE_HTTP_CHUNK);
    cr_assert_gt(len, 0);
    s->status = status;
    s->got += len;
    s->calls++;
    if (len > s->max_chunk) s->max_chunk = len;
    uint64_t sent = atomic_load(&srv.sent);
    if (sent - s->got > s->max_in_flight) s->max_in_flight = sent - s->got;
    if ((s->calls & 63) == 0) {
        long kb = rss_kb();
        if (kb > s->rss_max_kb) s->rss_max_kb = kb;
    }
    if (s->stop_at && s->got >= s->stop_at) return -EMSGSIZE;
    if (s->got < s->slow_until) tide_sleep(s->sleep_ns);
    return 0;
}

static int stream_big(void *arg) {
    bool tls = arg != NULL;
    server_start(tls);
    char u[256], path[64];
    snprintf(path, sizeof path, "/big/%llu", (unsigned long long)BIG_BODY);
    sink_t s = {.slow_until = 8 * 1024 * 1024, .sleep_ns = TIDE_USEC(500)};
    s.rss_start_kb = s.rss_max_kb = rss_kb();
    tide_http_request_t req = {.url = url(u, tls ? "https" : "http", "127.0.0.1", path),
                               .ca_pem = pki.ca_pem, .on_body = on_body, .on_body_arg = &s};
    tide_http_response_t res;
    int r = tide_http_fetch(&req, &res);
    cr_assert_eq(r, 0, "%s", tide_strerror(r));
    cr_assert_eq(res.status, 200);
    cr_assert_eq(s.status, 200);
    cr_assert_eq(res.body_len, 0); /* it went to the callback */
    cr_assert_str_eq(tide_http_header(&res, "Content-Length"), path + 5);
    cr_assert_eq(s.got, BIG_BODY);
    cr_assert_eq(atomic_load(&srv.sent), BIG_BODY);
    cr_assert_lt(s.max_in_flight, IN_FLIGHT_MAX, "the server ran %llu bytes ahead",
                 (unsigned long long)s.max_in_flight);
#ifndef TT_SANITIZED
    /* Resident memory grew by far less than the body (sanitizers keep freed memory). */
    cr_assert_lt(s.rss_max_kb - s.rss_start_kb, 16 * 1024, "RSS grew %ld kB",
                 s.rss_max_kb - s.rss_start_kb);
#endif
    cr_log_info("%s: %d chunks, largest %zu, at most %llu bytes in flight, RSS +%ld kB",
                tls ? "https" : "http", s.calls, s.max_chunk,
                (unsigned long long)s.max_in_flight, s.rss_max_kb - s.rss_start_kb);
    tide_http_response_free(&res);
    server_stop();
    return 0;
}

Test(https, fifty_megabytes_streamed_to_a_slow_callback_in_bounded_memory, .timeout = 240) {
    tt_pki_make(&pki);
    table_fill();
    big_sizes();
    tt_run(stream_big, NULL, 2);
    tt_pki_free(&pki);
}

Test(https, fifty_megabytes_streamed_over_tls, .timeout = 240) {
    tt_pki_make(&pki);
    table_fill();
    big_sizes();
    tt_run(stream_big, "tls", 2);
    tt_pki_free(&pki);
}

/* ---- streamed transfers that end early ------------------------------------------------- */

static int stream_fetch(void *arg) {
    tide_http_request_t *req = arg;
    tide_http_response_t res;
    int r = tide_http_fetch(req, &res);
    tide_http_response_free(&res);
    return r;
}

static int stream_early(void *arg) {
    server_start(false);
    char u[256];
    url(u, "http", "127.0.0.1", "/big/1000000000"); /* 1 GB: never finishes here */
    tide_http_response_t res;

    /* The callback says stop: its error comes back. */
    sink_t s = {.stop_at = 3 * 1024 * 1024};
    tide_http_request_t req = {.url = u, .on_body = on_body, .on_body_arg = &s};
    cr_assert_eq(tide_http_fetch(&req, &res), -EMSGSIZE);
    cr_assert_geq(s.got, s.stop_at);

    /* A deadline in the middle. */
    s = (sink_t){.slow_until = UINT64_MAX, .sleep_ns = TIDE_MSEC(1)};
    tide_scope_t scope;
    tide_timeout_begin(&scope, TIDE_MSEC(300));
    int r = tide_http_fetch(&req, &res);
    tide_scope_end(&scope);
    cr_assert_eq(r, -ETIMEDOUT, "%s", tide_strerror(r));
    cr_assert_gt(s.got, 0);

    /* curl's own timeout for the request. */
    s = (sink_t){.slow_until = UINT64_MAX, .sleep_ns = TIDE_MSEC(1)};
    req.timeout_ns = TIDE_MSEC(300);
    cr_assert_eq(tide_http_fetch(&req, &res), -ETIMEDOUT);
    req.timeout_ns = 0;

    /* A cancel in the middle. */
    s = (sink_t){.slow_until = UINT64_MAX, .sleep_ns = TIDE_MSEC(1)};
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, stream_fetch, &req), 0);
    while (s.calls < 5) tide_sleep(TIDE_MSEC(5));
    cr_assert_eq(tide_cancel(t), 0);
    int st;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, -ECANCELED);

    /* max_body holds for streams too. */
    s = (sink_t){0};
    req.max_body = 1000000;
    cr_assert_eq(tide_http_fetch(&req, &res), -EFBIG);
    cr_assert_leq(s.got, 1000000);
    server_stop();
    return 0;
}

Test(https, streamed_transfer_stopped_by_callback_deadline_or_cancel_leaks_nothing,
     .timeout = 120) {
    tt_pki_make(&pki);
    table_fill();
    tt_run(stream_early, NULL, 2);
    tt_pki_free(&pki);
}
