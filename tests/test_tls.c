/* TLS streams over 127.0.0.1 with certificates made at test time (tls_pki.h): many
 * concurrent echo connections with every byte checked, an untrusted certificate and a wrong
 * host name refused by default, SNI and ALPN seen by both sides, a handshake cut by a deadline
 * (and resumed), a read cancelled and timed out (the stream goes on), close_notify against a
 * truncated stream, megabytes both ways, a peer that does not speak TLS, and bad input. */
#include "testutil_net.h"

#include <stdatomic.h>
#include <string.h>

#include "tide/tls.h"
#include "tls_pki.h"

static tt_pki_t pki;

/* ---- helpers --------------------------------------------------------------------------- */

static tide_tls_ctx_t *server_ctx(const char *cert, const char *key, const char *const *alpn) {
    tide_tls_ctx_t *ctx;
    char err[256] = "";
    tide_tls_ctx_opts_t o = {.role = TIDE_TLS_SERVER, .cert_pem = cert, .key_pem = key,
                             .alpn = alpn, .errbuf = err, .errlen = sizeof err};
    int r = tide_tls_ctx_new(&ctx, &o);
    cr_assert_eq(r, 0, "server ctx: %s: %s", tide_strerror(r), err);
    return ctx;
}

static tide_tls_ctx_t *client_ctx(const char *ca_pem, int insecure) {
    tide_tls_ctx_t *ctx;
    tide_tls_ctx_opts_t o = {.role = TIDE_TLS_CLIENT, .ca_pem = ca_pem, .insecure = insecure};
    int r = tide_tls_ctx_new(&ctx, &o);
    cr_assert_eq(r, 0, "client ctx: %s", tide_strerror(r));
    return ctx;
}

/* Read exactly len bytes (the test's own loop over tide_tls_read). */
static ssize_t read_exact(tide_tls_t *t, void *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = tide_tls_read(t, (char *)buf + got, len - got);
        if (n <= 0) return n;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* tide_tls_write_all and read_exact as an echo check's stream (testutil_net.h). */
static ssize_t tls_write_all(void *t, const void *buf, size_t len) {
    return tide_tls_write_all(t, buf, len, NULL);
}

static ssize_t tls_read_exact(void *t, void *buf, size_t len) {
    return read_exact(t, buf, len);
}

/* A server side run in its own task: accept a handshake on s, then `then` (may be NULL). */
typedef struct side {
    tide_tcp_t *tcp;             /* the accepted TCP end */
    tide_tls_ctx_t *ctx;         /* server context */
    int handshake;               /* what tide_tls_handshake returned */
    char sni[64];                /* the SNI name the server saw ("" none) */
    char alpn[32];               /* the protocol chosen ("" none) */
    char err[320];               /* tide_tls_error after a failure */
    int (*then)(struct side *s, tide_tls_t *t);
    void *arg;                   /* for then */
} side_t;

static int server_side(void *arg) {
    side_t *s = arg;
    tide_tls_t *t;
    cr_assert_eq(tide_tls_server(&t, s->tcp, s->ctx), 0);
    s->handshake = tide_tls_handshake(t);
    snprintf(s->err, sizeof s->err, "%s", tide_tls_error(t));
    const char *n = tide_tls_server_name(t), *a = tide_tls_alpn(t);
    snprintf(s->sni, sizeof s->sni, "%s", n ? n : "");
    snprintf(s->alpn, sizeof s->alpn, "%s", a ? a : "");
    int r = 0;
    if (s->handshake == 0 && s->then) r = s->then(s, t);
    cr_assert_eq(tide_tls_close(t), 0); /* closes s->tcp too */
    return r;
}

/* ---- echo: many concurrent connections ------------------------------------------------- */

#define ECHO_CONNS 200

typedef struct echo {
    tide_tcp_t *listener;
    uint16_t port;
    tide_tls_ctx_t *sctx, *cctx;
    tide_task_t handlers[ECHO_CONNS];
    int nconns;
    _Atomic uint64_t sent, checked, echoed;
} echo_t;

static echo_t *echo;

static int echo_handler(void *arg) {
    tide_tcp_t *c = arg;
    tide_tls_t *t;
    int r = tide_tls_accept(&t, c, echo->sctx);
    cr_assert_eq(r, 0, "accept: %s", tide_strerror(r));
    cr_assert_str_eq(tide_tls_alpn(t), "echo/1");
    cr_assert_str_eq(tide_tls_server_name(t), "localhost");
    uint8_t buf[8192];
    ssize_t n;
    while ((n = tide_tls_read(t, buf, 1 + tt_rand() % sizeof buf)) > 0) {
        cr_assert_eq(tide_tls_write_all(t, buf, (size_t)n, NULL), n);
        atomic_fetch_add(&echo->echoed, (uint64_t)n);
    }
    cr_assert_eq(n, 0, "server read: %s", tide_strerror((int)n)); /* close_notify */
    cr_assert_eq(tide_tls_shutdown(t), 0);
    cr_assert_eq(tide_tls_close(t), 0);
    return 0;
}

static int echo_acceptor(void *arg) {
    for (int i = 0; i < echo->nconns; i++) {
        tide_tcp_t *c;
        cr_assert_eq(tide_tcp_accept(echo->listener, &c, NULL), 0);
        cr_assert_eq(tide_spawn(&echo->handlers[i], echo_handler, c), 0);
    }
    return 0;
}

static int echo_client(void *arg) {
    uint64_t k = (uintptr_t)arg;
    tide_tcp_t *c;
    cr_assert_eq(tide_tcp_connect(&c, "127.0.0.1", echo->port), 0);
    tide_tls_t *t;
    const char *alpn[] = {"echo/1", NULL};
    tide_tls_opts_t o = {.server_name = "localhost", .alpn = alpn};
    int r = tide_tls_connect(&t, c, echo->cctx, &o);
    cr_assert_eq(r, 0, "connect: %s", tide_strerror(r));
    cr_assert_str_eq(tide_tls_alpn(t), "echo/1");
    cr_assert_eq(tide_tls_verify_result(t), 0);
    cr_assert_not_null(tide_tls_version(t));
    tt_stream_t s = {t, tls_write_all, tls_read_exact};
    tt_echo_check(&s, k, 1 + tt_rand() % TT_SCALE(65536), 6000, 0, &echo->sent, &echo->checked);
    cr_assert_eq(tide_tls_shutdown(t), 0);
    char b;
    cr_assert_eq(tide_tls_read(t, &b, 1), 0); /* the server's close_notify */
    cr_assert_eq(tide_tls_close(t), 0);
    return 0;
}

static int echo_main(void *arg) {
    const char *alpn[] = {"echo/1", NULL};
    echo->sctx = server_ctx(pki.cert_pem, pki.key_pem, alpn);
    echo->cctx = client_ctx(pki.ca_pem, 0);
    echo->port = tt_listen_local(&echo->listener, NULL);
    tide_task_t acceptor;
    cr_assert_eq(tide_spawn(&acceptor, echo_acceptor, NULL), 0);
    static tide_task_t clients[ECHO_CONNS];
    for (uintptr_t i = 0; i < (uintptr_t)echo->nconns; i++)
        cr_assert_eq(tide_spawn(&clients[i], echo_client, (void *)i), 0);
    int st;
    for (int i = 0; i < echo->nconns; i++) {
        cr_assert_eq(tide_join(clients[i], &st), 0);
        cr_assert_eq(st, 0);
    }
    cr_assert_eq(tide_join(acceptor, &st), 0);
    for (int i = 0; i < echo->nconns; i++) {
        cr_assert_eq(tide_join(echo->handlers[i], &st), 0);
        cr_assert_eq(st, 0);
    }
    cr_assert_eq(atomic_load(&echo->checked), atomic_load(&echo->sent));
    cr_assert_eq(atomic_load(&echo->echoed), atomic_load(&echo->sent));
    cr_assert_eq(tide_tcp_close(echo->listener), 0);
    tide_tls_ctx_free(echo->sctx);
    tide_tls_ctx_free(echo->cctx);
    return 0;
}

Test(tls, concurrent_echo_connections_bytes_checked, .timeout = 240) {
    tt_pki_make(&pki);
    static echo_t e;
    e.nconns = TT_SCALE(ECHO_CONNS);
    echo = &e;
    tt_run(echo_main, &e, 4);
    tt_pki_free(&pki);
}

/* ---- verification ---------------------------------------------------------------------- */

/* Handshake a client with ctx and name against a server with cert/key; returns the client's
 * result, *verify its verification result, and the server side's outcome in *srv. */
static int try_handshake(tide_tls_ctx_t *cctx, const char *name, const char *cert,
                         const char *key, long *verify, side_t *srv, char *err, size_t errlen) {
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    memset(srv, 0, sizeof *srv);
    srv->tcp = s;
    srv->ctx = server_ctx(cert, key, NULL);
    tide_task_t st;
    cr_assert_eq(tide_spawn(&st, server_side, srv), 0);
    tide_tls_t *t;
    tide_tls_opts_t o = {.server_name = name};
    cr_assert_eq(tide_tls_client(&t, c, cctx, &o), 0);
    int r = tide_tls_handshake(t);
    *verify = tide_tls_verify_result(t);
    if (err) snprintf(err, errlen, "%s", tide_tls_error(t));
    int status; /* the server's handshake ends too: the client's Finished, or its alert */
    cr_assert_eq(tide_join(st, &status), 0);
    cr_assert_eq(tide_tls_close(t), 0);
    tide_tls_ctx_free(srv->ctx);
    return r;
}

static int verification(void *arg) {
    tide_tls_ctx_t *trusting = client_ctx(pki.ca_pem, 0);
    long v;
    side_t srv;
    char err[320];

    /* The right CA and name: accepted. */
    cr_assert_eq(try_handshake(trusting, "localhost", pki.cert_pem, pki.key_pem, &v, &srv, err,
                               sizeof err), 0, "%s", err);
    cr_assert_eq(v, X509_V_OK);
    cr_assert_eq(srv.handshake, 0);

    /* A certificate from a CA we do not trust: refused, the server hears why. */
    int r = try_handshake(trusting, "localhost", pki.rogue_cert_pem, pki.rogue_key_pem, &v, &srv,
                          err, sizeof err);
    cr_assert_eq(r, -EACCES, "%s", tide_strerror(r));
    cr_assert_eq(v, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    cr_assert(strstr(err, "certificate verify failed"), "error text: %s", err);
    cr_assert_eq(srv.handshake, -EPROTO, "server: %s", tide_strerror(srv.handshake));
    cr_assert(strstr(srv.err, "unknown ca"), "server error text: %s", srv.err);

    /* The system's CAs (no CA given) do not know the test CA either: on by default. */
    tide_tls_ctx_t *system = client_ctx(NULL, 0);
    r = try_handshake(system, "localhost", pki.cert_pem, pki.key_pem, &v, &srv, NULL, 0);
    cr_assert_eq(r, -EACCES);
    cr_assert_eq(v, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);

    /* A name the certificate does not carry, a DNS name or an IP address. */
    r = try_handshake(trusting, "example.org", pki.cert_pem, pki.key_pem, &v, &srv, err,
                      sizeof err);
    cr_assert_eq(r, -EACCES);
    cr_assert_eq(v, X509_V_ERR_HOSTNAME_MISMATCH, "%ld: %s", v, err);
    r = try_handshake(trusting, "127.0.0.2", pki.cert_pem, pki.key_pem, &v, &srv, NULL, 0);
    cr_assert_eq(r, -EACCES);
    cr_assert_eq(v, X509_V_ERR_IP_ADDRESS_MISMATCH);
    r = try_handshake(trusting, "127.0.0.1", pki.cert_pem, pki.key_pem, &v, &srv, NULL, 0);
    cr_assert_eq(r, 0);
    cr_assert_str_empty(srv.sni); /* no SNI for an address */

    /* Verification off (tests only): anything goes, the result still tells. */
    tide_tls_ctx_t *insecure = client_ctx(NULL, 1);
    r = try_handshake(insecure, "example.org", pki.rogue_cert_pem, pki.rogue_key_pem, &v, &srv,
                      NULL, 0);
    cr_assert_eq(r, 0);
    cr_assert_neq(v, X509_V_OK);

    /* tide_tls_connect on failure: no stream, the TCP connection is still ours. */
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    memset(&srv, 0, sizeof srv);
    srv.tcp = s;
    srv.ctx = server_ctx(pki.rogue_cert_pem, pki.rogue_key_pem, NULL);
    tide_task_t st;
    cr_assert_eq(tide_spawn(&st, server_side, &srv), 0);
    tide_tls_t *t = (tide_tls_t *)&srv;
    tide_tls_opts_t o = {.server_name = "localhost"};
    cr_assert_eq(tide_tls_connect(&t, c, trusting, &o), -EACCES);
    cr_assert_null(t);
    cr_assert_eq(tide_tcp_close(c), 0);
    cr_assert_eq(tide_join(st, NULL), 0);
    tide_tls_ctx_free(srv.ctx);

    tide_tls_ctx_free(trusting);
    tide_tls_ctx_free(system);
    tide_tls_ctx_free(insecure);
    return 0;
}

Test(tls, untrusted_certificate_and_wrong_name_refused_by_default) {
    tt_pki_make(&pki);
    tt_run(verification, NULL, 2);
    tt_pki_free(&pki);
}

/* ---- SNI and ALPN ---------------------------------------------------------------------- */

static int alpn_case(const char *const *server, const char *const *client, char *s_alpn,
                     char *c_alpn, char *sni) {
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    side_t srv = {.tcp = s, .ctx = server_ctx(pki.cert_pem, pki.key_pem, server)};
    tide_task_t st;
    cr_assert_eq(tide_spawn(&st, server_side, &srv), 0);
    tide_tls_ctx_t *cctx = client_ctx(pki.ca_pem, 0);
    tide_tls_t *t;
    tide_tls_opts_t o = {.server_name = "localhost", .alpn = client};
    int r = tide_tls_connect(&t, c, cctx, &o);
    cr_assert_eq(r, 0, "%s", tide_strerror(r));
    const char *a = tide_tls_alpn(t);
    strcpy(c_alpn, a ? a : "");
    cr_assert_str_eq(tide_tls_server_name(t), "localhost");
    cr_assert_eq(tide_join(st, NULL), 0);
    cr_assert_eq(tide_tls_close(t), 0);
    cr_assert_eq(srv.handshake, 0);
    strcpy(s_alpn, srv.alpn);
    strcpy(sni, srv.sni);
    tide_tls_ctx_free(srv.ctx);
    tide_tls_ctx_free(cctx);
    return 0;
}

static int sni_alpn(void *arg) {
    char sa[32], ca[32], sni[64];
    const char *server[] = {"http/1.1", "h2", NULL};
    const char *client[] = {"h2", "http/1.1", NULL};
    const char *other[] = {"spdy/3", NULL};
    /* The server's preference wins among what both speak. */
    alpn_case(server, client, sa, ca, sni);
    cr_assert_str_eq(sa, "http/1.1");
    cr_assert_str_eq(ca, "http/1.1");
    cr_assert_str_eq(sni, "localhost");
    const char *h2[] = {"h2", NULL};
    alpn_case(server, h2, sa, ca, sni);
    cr_assert_str_eq(ca, "h2");
    /* Nothing in common, or nothing offered: the handshake goes on without ALPN. */
    alpn_case(server, other, sa, ca, sni);
    cr_assert_str_empty(sa);
    cr_assert_str_empty(ca);
    alpn_case(server, NULL, sa, ca, sni);
    cr_assert_str_empty(ca);
    alpn_case(NULL, client, sa, ca, sni);
    cr_assert_str_empty(ca);
    return 0;
}

Test(tls, sni_seen_by_server_and_alpn_negotiated) {
    tt_pki_make(&pki);
    tt_run(sni_alpn, NULL, 2);
    tt_pki_free(&pki);
}

/* ---- deadlines and cancellation -------------------------------------------------------- */

typedef struct silent {
    tide_tcp_t *tcp;
    tide_tls_ctx_t *ctx;
} silent_t;

static int connect_silent(void *arg) {
    silent_t *s = arg;
    tide_tls_t *t = NULL;
    tide_tls_opts_t o = {.server_name = "localhost"};
    int r = tide_tls_connect(&t, s->tcp, s->ctx, &o);
    cr_assert_null(t);
    cr_assert_eq(tide_tcp_close(s->tcp), 0); /* still ours after the failure */
    return r;
}

static int handshake_deadline(void *arg) {
    tide_tls_ctx_t *cctx = client_ctx(pki.ca_pem, 0);
    tide_tls_ctx_t *sctx = server_ctx(pki.cert_pem, pki.key_pem, NULL);
    tide_tls_opts_t o = {.server_name = "localhost"};

    /* A server that never answers: the client's handshake ends at its deadline. */
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    tide_tls_t *t;
    tide_scope_t scope;
    int64_t t0 = tide_now();
    tide_timeout_begin(&scope, TIDE_MSEC(100));
    int r = tide_tls_connect(&t, c, cctx, &o);
    tide_scope_end(&scope);
    int64_t took = tide_now() - t0;
    cr_assert_eq(r, -ETIMEDOUT, "%s", tide_strerror(r));
    cr_assert_null(t);
    cr_assert_geq(took, TIDE_MSEC(100));
    cr_assert_lt(took, TT_SLACK(TIDE_MSEC(2000)));
    cr_assert_eq(tide_tcp_close(c), 0); /* still ours */
    cr_assert_eq(tide_tcp_close(s), 0);

    /* A client that never says hello: the server's handshake ends at its deadline. */
    tide_tcp_t *c2, *s2;
    tt_tcp_pair(&c2, &s2);
    tide_timeout_begin(&scope, TIDE_MSEC(50));
    r = tide_tls_accept(&t, s2, sctx);
    tide_scope_end(&scope);
    cr_assert_eq(r, -ETIMEDOUT);
    cr_assert_eq(tide_tcp_close(c2), 0);
    cr_assert_eq(tide_tcp_close(s2), 0);

    /* A handshake cancelled while it waits for the server. */
    tt_tcp_pair(&c2, &s2);
    silent_t sc = {c2, cctx};
    tide_task_t task;
    cr_assert_eq(tide_spawn(&task, connect_silent, &sc), 0);
    tide_sleep(TIDE_MSEC(20));
    cr_assert_eq(tide_cancel(task), 0);
    int status;
    cr_assert_eq(tide_join(task, &status), 0);
    cr_assert_eq(status, -ECANCELED, "%s", tide_strerror(status));
    cr_assert_eq(tide_tcp_close(s2), 0);

    /* A cut handshake goes on where it stopped once the peer answers. */
    tt_tcp_pair(&c, &s);
    cr_assert_eq(tide_tls_client(&t, c, cctx, &o), 0);
    tide_timeout_begin(&scope, TIDE_MSEC(30));
    r = tide_tls_handshake(t);
    tide_scope_end(&scope);
    cr_assert_eq(r, -ETIMEDOUT);
    side_t srv = {.tcp = s, .ctx = sctx};
    tide_task_t st;
    cr_assert_eq(tide_spawn(&st, server_side, &srv), 0);
    cr_assert_eq(tide_tls_handshake(t), 0);
    cr_assert_eq(tide_join(st, NULL), 0);
    cr_assert_eq(srv.handshake, 0);
    cr_assert_eq(tide_tls_close(t), 0);

    tide_tls_ctx_free(cctx);
    tide_tls_ctx_free(sctx);
    return 0;
}

Test(tls, handshake_deadline_or_cancel_with_silent_peer_leaks_nothing) {
    tt_pki_make(&pki);
    tt_run(handshake_deadline, NULL, 2);
    tt_pki_free(&pki);
}

/* A connected pair of TLS streams: *ct the client, *st the server (handshakes done). */
typedef struct tls_pair {
    tide_tls_ctx_t *cctx, *sctx;
    tide_tls_t *c, *s;
} tls_pair_t;

static int accept_into(void *arg) {
    void **a = arg; /* {tcp, ctx, out} */
    return tide_tls_accept((tide_tls_t **)a[2], a[0], a[1]);
}

static void tls_pair(tls_pair_t *p) {
    p->cctx = client_ctx(pki.ca_pem, 0);
    p->sctx = server_ctx(pki.cert_pem, pki.key_pem, NULL);
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    void *a[3] = {s, p->sctx, &p->s};
    tide_task_t st;
    cr_assert_eq(tide_spawn(&st, accept_into, a), 0);
    tide_tls_opts_t o = {.server_name = "localhost"};
    cr_assert_eq(tide_tls_connect(&p->c, c, p->cctx, &o), 0);
    int status;
    cr_assert_eq(tide_join(st, &status), 0);
    cr_assert_eq(status, 0);
}

static void tls_pair_free(tls_pair_t *p) {
    if (p->c) cr_assert_eq(tide_tls_close(p->c), 0);
    if (p->s) cr_assert_eq(tide_tls_close(p->s), 0);
    tide_tls_ctx_free(p->cctx);
    tide_tls_ctx_free(p->sctx);
}

static int blocked_reader(void *arg) {
    char buf[64];
    ssize_t n = tide_tls_read(arg, buf, sizeof buf);
    return n < 0 ? (int)n : -EIO;
}

static int cancel_read(void *arg) {
    tls_pair_t p;
    tls_pair(&p);
    /* A read with nothing to read, cancelled: -ECANCELED, and meanwhile the stream is busy
     * for anyone else. */
    tide_task_t rt;
    cr_assert_eq(tide_spawn(&rt, blocked_reader, p.c), 0);
    tide_sleep(TIDE_MSEC(20));
    cr_assert_eq(tide_tls_write(p.c, "x", 1), -EBUSY);
    cr_assert_eq(tide_tls_close(p.c), -EBUSY);
    cr_assert_eq(tide_cancel(rt), 0);
    int status;
    cr_assert_eq(tide_join(rt, &status), 0);
    cr_assert_eq(status, -ECANCELED);
    /* A read cut by a deadline. */
    char buf[64];
    tide_scope_t scope;
    tide_timeout_begin(&scope, TIDE_MSEC(20));
    cr_assert_eq(tide_tls_read(p.c, buf, sizeof buf), -ETIMEDOUT);
    tide_scope_end(&scope);
    /* The stream goes on: nothing was lost or garbled. */
    cr_assert_eq(tide_tls_write_all(p.s, "after", 5, NULL), 5);
    cr_assert_eq(read_exact(p.c, buf, 5), 5);
    cr_assert_arr_eq(buf, "after", 5);
    cr_assert_eq(tide_tls_write_all(p.c, "back", 4, NULL), 4);
    cr_assert_eq(read_exact(p.s, buf, 4), 4);
    cr_assert_arr_eq(buf, "back", 4);
    tls_pair_free(&p);
    return 0;
}

Test(tls, cancelled_and_timed_out_reads_leave_the_stream_usable) {
    tt_pki_make(&pki);
    tt_run(cancel_read, NULL, 2);
    tt_pki_free(&pki);
}

/* ---- clean shutdown and truncation ----------------------------------------------------- */

static int shutdown_truncation(void *arg) {
    char buf[64];
    tls_pair_t p;
    tls_pair(&p);
    /* close_notify: the data, then a clean 0; writes after our shutdown are refused. */
    cr_assert_eq(tide_tls_write_all(p.s, "bye", 3, NULL), 3);
    cr_assert_eq(tide_tls_shutdown(p.s), 0);
    cr_assert_eq(tide_tls_shutdown(p.s), 0); /* once is enough; twice is harmless */
    cr_assert_eq(tide_tls_write(p.s, "x", 1), -EPIPE);
    cr_assert_eq(read_exact(p.c, buf, 3), 3);
    cr_assert_eq(tide_tls_read(p.c, buf, sizeof buf), 0);
    cr_assert_eq(tide_tls_read(p.c, buf, sizeof buf), 0); /* and stays there */
    /* Half-closed: the client may still write and the server read. */
    cr_assert_eq(tide_tls_write_all(p.c, "late", 4, NULL), 4);
    cr_assert_eq(read_exact(p.s, buf, 4), 4);
    cr_assert_eq(tide_tls_shutdown(p.c), 0);
    cr_assert_eq(tide_tls_read(p.s, buf, sizeof buf), 0);
    tls_pair_free(&p);

    /* The peer closes the TCP connection without close_notify: truncation is reported. */
    tls_pair(&p);
    cr_assert_eq(tide_tls_write_all(p.s, "partial", 7, NULL), 7);
    cr_assert_eq(tide_tls_close(p.s), 0);
    p.s = NULL;
    cr_assert_eq(read_exact(p.c, buf, 7), 7);
    cr_assert_arr_eq(buf, "partial", 7);
    ssize_t n = tide_tls_read(p.c, buf, sizeof buf);
    cr_assert_eq(n, -ECONNABORTED, "%s", tide_strerror((int)n));
    cr_assert_eq(tide_tls_read(p.c, buf, sizeof buf), -ECONNABORTED);
    tls_pair_free(&p);
    return 0;
}

Test(tls, close_notify_is_a_clean_end_and_truncation_is_detected) {
    tt_pki_make(&pki);
    tt_run(shutdown_truncation, NULL, 2);
    tt_pki_free(&pki);
}

/* ---- detach: the TCP connection outlives the stream ------------------------------------ */

static int detach_keeps_tcp(void *arg) {
    tls_pair_t p;
    tls_pair(&p);
    char buf[16];
    cr_assert_eq(tide_tls_write_all(p.s, "tls", 3, NULL), 3);
    cr_assert_eq(read_exact(p.c, buf, 3), 3);
    cr_assert_eq(tide_tls_shutdown(p.s), 0);
    cr_assert_eq(tide_tls_read(p.c, buf, sizeof buf), 0); /* the clean end */
    tide_tcp_t *s = tide_tls_detach(p.s), *c = tide_tls_detach(p.c);
    p.s = p.c = NULL;
    cr_assert(s && c);
    cr_assert_null(tide_tls_detach(NULL));
    /* The sockets are still open and usable in plain text. */
    cr_assert_eq(tide_tcp_write_all(s, "raw", 3, NULL), 3);
    size_t at = 0;
    while (at < 3) {
        ssize_t n = tide_tcp_read(c, buf + at, 3 - at);
        cr_assert_gt(n, 0);
        at += (size_t)n;
    }
    cr_assert_arr_eq(buf, "raw", 3);
    tide_tcp_close(s);
    tide_tcp_close(c);
    tls_pair_free(&p);
    return 0;
}

Test(tls, detach_gives_back_an_open_tcp_connection) {
    tt_pki_make(&pki);
    tt_run(detach_keeps_tcp, NULL, 2);
    tt_pki_free(&pki);
}

/* ---- megabytes both ways --------------------------------------------------------------- */

#define BIG ((size_t)TT_SCALE(16 * 1024 * 1024))

typedef struct big {
    tide_tls_t *t;
    uint64_t k;
} big_t;

static int big_write(void *arg) {
    big_t *b = arg;
    uint8_t *p = malloc(BIG);
    cr_assert_not_null(p);
    tt_fill(p, BIG, b->k, 0);
    size_t sent = 0;
    ssize_t r = tide_tls_write_all(b->t, p, BIG, &sent);
    free(p);
    cr_assert_eq(r, (ssize_t)BIG, "%s", tide_strerror((int)r));
    cr_assert_eq(sent, BIG);
    return 0;
}

static int big_read(void *arg) {
    big_t *b = arg;
    static uint8_t buf[100000];
    size_t at = 0;
    while (at < BIG) {
        ssize_t n = tide_tls_read(b->t, buf, sizeof buf);
        cr_assert_gt(n, 0, "%s", tide_strerror((int)n));
        cr_assert(tt_check(buf, (size_t)n, b->k, at), "bytes differ at %zu", at);
        at += (size_t)n;
    }
    return 0;
}

static int big_both_ways(void *arg) {
    tls_pair_t p;
    tls_pair(&p);
    /* One task per stream at a time: client -> server first, then back. */
    big_t w = {p.c, 1}, r = {p.s, 1};
    tide_task_t tw, tr;
    cr_assert_eq(tide_spawn(&tw, big_write, &w), 0);
    cr_assert_eq(tide_spawn(&tr, big_read, &r), 0);
    int s1, s2;
    cr_assert_eq(tide_join(tw, &s1), 0);
    cr_assert_eq(tide_join(tr, &s2), 0);
    cr_assert(s1 == 0 && s2 == 0);
    big_t w2 = {p.s, 2}, r2 = {p.c, 2};
    cr_assert_eq(tide_spawn(&tw, big_write, &w2), 0);
    cr_assert_eq(tide_spawn(&tr, big_read, &r2), 0);
    cr_assert_eq(tide_join(tw, &s1), 0);
    cr_assert_eq(tide_join(tr, &s2), 0);
    cr_assert(s1 == 0 && s2 == 0);
    tls_pair_free(&p);
    return 0;
}

Test(tls, megabytes_both_ways, .timeout = 240) {
    tt_pki_make(&pki);
    tt_run(big_both_ways, NULL, 2);
    tt_pki_free(&pki);
}

/* ---- a peer that is not TLS, bad input ------------------------------------------------- */

static int not_tls(void *arg) {
    tide_tls_ctx_t *sctx = server_ctx(pki.cert_pem, pki.key_pem, NULL);
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    cr_assert_eq(tide_tcp_write_all(c, req, sizeof req - 1, NULL), (ssize_t)sizeof req - 1);
    tide_tls_t *t;
    cr_assert_eq(tide_tls_server(&t, s, sctx), 0);
    cr_assert_eq(tide_tls_handshake(t), -EPROTO);
    cr_assert_str_not_empty(tide_tls_error(t));
    cr_assert_eq(tide_tls_handshake(t), -EPROTO); /* dead for good */
    char buf[8];
    cr_assert_eq(tide_tls_read(t, buf, sizeof buf), -EPROTO);
    cr_assert_eq(tide_tls_write(t, "x", 1), -EPROTO);
    cr_assert_eq(tide_tls_close(t), 0);

    /* A peer that hangs up during the handshake. */
    tide_tls_ctx_t *cctx = client_ctx(pki.ca_pem, 0);
    cr_assert_eq(tide_tcp_close(c), 0);
    tt_tcp_pair(&c, &s);
    cr_assert_eq(tide_tcp_close(s), 0);
    tide_tls_opts_t o = {.server_name = "localhost"};
    int r = tide_tls_connect(&t, c, cctx, &o);
    cr_assert(r == -ECONNRESET || r == -EPIPE, "%s", tide_strerror(r));
    cr_assert_eq(tide_tcp_close(c), 0);
    tide_tls_ctx_free(sctx);
    tide_tls_ctx_free(cctx);
    return 0;
}

Test(tls, a_peer_that_is_not_tls_or_hangs_up) {
    tt_pki_make(&pki);
    tt_run(not_tls, NULL, 2);
    tt_pki_free(&pki);
}

static int bad_input(void *arg) {
    tide_tls_ctx_t *ctx;
    char err[256] = "";
    tide_tls_ctx_opts_t o = {.role = TIDE_TLS_SERVER};
    cr_assert_eq(tide_tls_ctx_new(NULL, &o), -EINVAL);
    cr_assert_eq(tide_tls_ctx_new(&ctx, NULL), -EINVAL);
    cr_assert_eq(tide_tls_ctx_new(&ctx, &o), -EINVAL); /* a server needs a certificate */
    o = (tide_tls_ctx_opts_t){.role = 7};
    cr_assert_eq(tide_tls_ctx_new(&ctx, &o), -EINVAL);
    o = (tide_tls_ctx_opts_t){.role = TIDE_TLS_CLIENT, .min_version = 0x0301};
    cr_assert_eq(tide_tls_ctx_new(&ctx, &o), -EINVAL); /* TLS 1.0: no */
    o = (tide_tls_ctx_opts_t){.role = TIDE_TLS_CLIENT, .min_version = TIDE_TLS_1_3,
                              .max_version = TIDE_TLS_1_2};
    cr_assert_eq(tide_tls_ctx_new(&ctx, &o), -EINVAL);
    o = (tide_tls_ctx_opts_t){.role = TIDE_TLS_SERVER, .cert_file = "/nonexistent/cert.pem",
                              .key_file = pki.key_file};
    cr_assert_eq(tide_tls_ctx_new(&ctx, &o), -ENOENT);
    o = (tide_tls_ctx_opts_t){.role = TIDE_TLS_SERVER, .cert_pem = "garbage",
                              .key_pem = pki.key_pem, .errbuf = err, .errlen = sizeof err};
    cr_assert_eq(tide_tls_ctx_new(&ctx, &o), -EINVAL);
    cr_assert_str_not_empty(err);
    o = (tide_tls_ctx_opts_t){.role = TIDE_TLS_SERVER, .cert_pem = pki.cert_pem,
                              .key_pem = pki.rogue_key_pem};
    cr_assert_eq(tide_tls_ctx_new(&ctx, &o), -EINVAL); /* key does not match */
    const char *bad_alpn[] = {"", NULL};
    o = (tide_tls_ctx_opts_t){.role = TIDE_TLS_SERVER, .cert_pem = pki.cert_pem,
                              .key_pem = pki.key_pem, .alpn = bad_alpn};
    cr_assert_eq(tide_tls_ctx_new(&ctx, &o), -EINVAL);

    /* From files, TLS 1.3 only, both sides. */
    tide_tls_ctx_t *sctx, *cctx;
    o = (tide_tls_ctx_opts_t){.role = TIDE_TLS_SERVER, .cert_file = pki.cert_file,
                              .key_file = pki.key_file, .min_version = TIDE_TLS_1_3};
    cr_assert_eq(tide_tls_ctx_new(&sctx, &o), 0);
    o = (tide_tls_ctx_opts_t){.role = TIDE_TLS_CLIENT, .ca_file = pki.ca_file};
    cr_assert_eq(tide_tls_ctx_new(&cctx, &o), 0);

    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    tide_tls_t *t;
    tide_tls_opts_t none = {0}, empty = {.server_name = ""};
    const char *long_alpn[] = {"h2", "x", NULL};
    char big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    long_alpn[1] = big;
    tide_tls_opts_t bad = {.server_name = "localhost", .alpn = long_alpn};
    cr_assert_eq(tide_tls_client(&t, c, cctx, NULL), -EINVAL);  /* verifying needs a name */
    cr_assert_eq(tide_tls_client(&t, c, cctx, &none), -EINVAL);
    cr_assert_eq(tide_tls_client(&t, c, cctx, &empty), -EINVAL);
    cr_assert_eq(tide_tls_client(&t, c, cctx, &bad), -EINVAL);
    cr_assert_eq(tide_tls_client(&t, c, sctx, &empty), -EINVAL); /* a server context */
    cr_assert_eq(tide_tls_server(&t, s, cctx), -EINVAL);
    cr_assert_eq(tide_tls_client(NULL, c, cctx, NULL), -EINVAL);
    cr_assert_eq(tide_tls_client(&t, NULL, cctx, NULL), -EINVAL);
    cr_assert_eq(tide_tls_server(&t, s, NULL), -EINVAL);
    cr_assert_eq(tide_tls_connect(NULL, c, cctx, NULL), -EINVAL);
    cr_assert_eq(tide_tls_read(NULL, big, 1), -EINVAL);
    cr_assert_eq(tide_tls_write(NULL, big, 1), -EINVAL);
    cr_assert_eq(tide_tls_handshake(NULL), -EINVAL);
    cr_assert_eq(tide_tls_shutdown(NULL), -EINVAL);
    cr_assert_eq(tide_tls_flush(NULL), -EINVAL);
    cr_assert_eq(tide_tls_close(NULL), -EINVAL);
    cr_assert_null(tide_tls_alpn(NULL));
    cr_assert_null(tide_tls_tcp(NULL));

    void *a[3] = {s, sctx, &t};
    tide_task_t st;
    cr_assert_eq(tide_spawn(&st, accept_into, a), 0);
    tide_tls_t *ct;
    tide_tls_opts_t ok = {.server_name = "localhost"};
    cr_assert_eq(tide_tls_connect(&ct, c, cctx, &ok), 0);
    cr_assert_eq(tide_join(st, NULL), 0);
    cr_assert_str_eq(tide_tls_version(ct), "TLSv1.3");
    cr_assert_eq(tide_tls_tcp(ct), c);
    cr_assert_eq(tide_tls_read(ct, NULL, 1), -EINVAL);
    cr_assert_eq(tide_tls_read(ct, big, 0), 0);
    cr_assert_eq(tide_tls_write(ct, big, 0), 0);
    /* The context may go before its streams. */
    tide_tls_ctx_free(sctx);
    tide_tls_ctx_free(cctx);
    cr_assert_eq(tide_tls_write_all(ct, "ok", 2, NULL), 2);
    cr_assert_eq(read_exact(t, big, 2), 2);
    cr_assert_eq(tide_tls_close(ct), 0);
    cr_assert_eq(tide_tls_close(t), 0);
    return 0;
}

Test(tls, bad_input_gets_clear_errors) {
    tt_pki_make(&pki);
    tt_run(bad_input, NULL, 2);
    tt_pki_free(&pki);
}

/* ---- TLS 1.2, versions, client certificates -------------------------------------------- */

typedef struct hs {
    tide_tcp_t *tcp;
    tide_tls_ctx_t *ctx;
    tide_tls_t *t;
    int r;
} hs_t;

static int server_hs(void *arg) {
    hs_t *h = arg;
    cr_assert_eq(tide_tls_server(&h->t, h->tcp, h->ctx), 0);
    h->r = tide_tls_handshake(h->t);
    return 0;
}

/* Handshake cctx against sctx over a fresh connection; both streams stay open. */
static void handshake_both(tide_tls_ctx_t *cctx, tide_tls_ctx_t *sctx, hs_t *c, hs_t *s) {
    tide_tcp_t *ct, *st;
    tt_tcp_pair(&ct, &st);
    *s = (hs_t){.tcp = st, .ctx = sctx};
    *c = (hs_t){.tcp = ct, .ctx = cctx};
    tide_task_t task;
    cr_assert_eq(tide_spawn(&task, server_hs, s), 0);
    tide_tls_opts_t o = {.server_name = "localhost"};
    cr_assert_eq(tide_tls_client(&c->t, ct, cctx, &o), 0);
    c->r = tide_tls_handshake(c->t);
    cr_assert_eq(tide_join(task, NULL), 0);
}

static tide_tls_ctx_t *ctx_of(tide_tls_ctx_opts_t o) {
    tide_tls_ctx_t *c;
    int r = tide_tls_ctx_new(&c, &o);
    cr_assert_eq(r, 0, "%s", tide_strerror(r));
    return c;
}

static int versions_and_client_certs(void *arg) {
    tide_tls_ctx_t *server = server_ctx(pki.cert_pem, pki.key_pem, NULL);
    tide_tls_ctx_t *client12 = ctx_of((tide_tls_ctx_opts_t){
        .role = TIDE_TLS_CLIENT, .ca_pem = pki.ca_pem, .max_version = TIDE_TLS_1_2});
    hs_t c, s;

    /* TLS 1.2 end to end: a megabyte each way, then close_notify both ways. */
    handshake_both(client12, server, &c, &s);
    cr_assert_eq(c.r, 0, "%s", tide_tls_error(c.t));
    cr_assert_eq(s.r, 0);
    cr_assert_str_eq(tide_tls_version(c.t), "TLSv1.2");
    cr_assert_str_eq(tide_tls_version(s.t), "TLSv1.2");
    big_t w = {c.t, 3}, rd = {s.t, 3};
    tide_task_t tw;
    cr_assert_eq(tide_spawn(&tw, big_write, &w), 0);
    cr_assert_eq(big_read(&rd), 0);
    cr_assert_eq(tide_join(tw, NULL), 0);
    char buf[16];
    cr_assert_eq(tide_tls_write_all(s.t, "12", 2, NULL), 2);
    cr_assert_eq(tide_tls_shutdown(s.t), 0);
    cr_assert_eq(read_exact(c.t, buf, 2), 2);
    cr_assert_eq(tide_tls_read(c.t, buf, sizeof buf), 0);
    cr_assert_eq(tide_tls_shutdown(c.t), 0);
    cr_assert_eq(tide_tls_read(s.t, buf, sizeof buf), 0);
    cr_assert_eq(tide_tls_close(c.t), 0);
    cr_assert_eq(tide_tls_close(s.t), 0);

    /* No common version: both sides fail the handshake. */
    tide_tls_ctx_t *server13 = ctx_of((tide_tls_ctx_opts_t){
        .role = TIDE_TLS_SERVER, .cert_pem = pki.cert_pem, .key_pem = pki.key_pem,
        .min_version = TIDE_TLS_1_3});
    handshake_both(client12, server13, &c, &s);
    cr_assert_eq(c.r, -EPROTO, "%s", tide_strerror(c.r));
    cr_assert_eq(s.r, -EPROTO, "%s", tide_strerror(s.r));
    cr_assert(strstr(tide_tls_error(s.t), "protocol"), "%s", tide_tls_error(s.t));
    cr_assert_eq(tide_tls_close(c.t), 0);
    cr_assert_eq(tide_tls_close(s.t), 0);

    /* Client certificates: required and verified by the server. */
    tide_tls_ctx_t *mtls = ctx_of((tide_tls_ctx_opts_t){
        .role = TIDE_TLS_SERVER, .cert_pem = pki.cert_pem, .key_pem = pki.key_pem,
        .ca_pem = pki.ca_pem, .verify_peer = 1});
    tide_tls_ctx_t *with_cert = ctx_of((tide_tls_ctx_opts_t){
        .role = TIDE_TLS_CLIENT, .ca_pem = pki.ca_pem, .cert_pem = pki.cert_pem,
        .key_pem = pki.key_pem});
    tide_tls_ctx_t *rogue_cert = ctx_of((tide_tls_ctx_opts_t){
        .role = TIDE_TLS_CLIENT, .ca_pem = pki.ca_pem, .cert_pem = pki.rogue_cert_pem,
        .key_pem = pki.rogue_key_pem});
    tide_tls_ctx_t *no_cert = client_ctx(pki.ca_pem, 0);
    handshake_both(with_cert, mtls, &c, &s);
    cr_assert_eq(c.r, 0);
    cr_assert_eq(s.r, 0, "%s", tide_tls_error(s.t));
    cr_assert_eq(tide_tls_verify_result(s.t), X509_V_OK);
    cr_assert_eq(tide_tls_close(c.t), 0);
    cr_assert_eq(tide_tls_close(s.t), 0);
    tide_tls_ctx_t *bad[] = {rogue_cert, no_cert};
    for (int i = 0; i < 2; i++) {
        handshake_both(bad[i], mtls, &c, &s);
        cr_assert_eq(s.r, -EACCES, "%d: %s: %s", i, tide_strerror(s.r), tide_tls_error(s.t));
        /* TLS 1.3: the client is done before the server judges it; it hears the alert. */
        ssize_t n = c.r < 0 ? c.r : tide_tls_read(c.t, buf, sizeof buf);
        cr_assert_eq(n, -EPROTO, "%d: %s", i, tide_strerror((int)n));
        cr_assert_eq(tide_tls_close(c.t), 0);
        cr_assert_eq(tide_tls_close(s.t), 0);
    }
    tide_tls_ctx_free(server);
    tide_tls_ctx_free(server13);
    tide_tls_ctx_free(client12);
    tide_tls_ctx_free(mtls);
    tide_tls_ctx_free(with_cert);
    tide_tls_ctx_free(rogue_cert);
    tide_tls_ctx_free(no_cert);
    return 0;
}

Test(tls, tls12_version_limits_and_client_certificates) {
    tt_pki_make(&pki);
    tt_run(versions_and_client_certs, NULL, 2);
    tt_pki_free(&pki);
}
