/* TCP on real sockets over 127.0.0.1 (and ::1): many concurrent echo connections with every
 * byte checked, a 100 MB transfer, half-close, reset, refused and timed-out connections,
 * addresses and options, vectored writes, close waking blocked tasks, a connection used from a
 * plain thread, and bad input. Cancellation has its own file (test_tcp_cancel.c), descriptor
 * exhaustion and backpressure too (test_tcp_pressure.c). */
#include "testutil_net.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver.h"

/* ---- 1,000 concurrent echo connections ------------------------------------------------- */

#define ECHO_CONNS 1000

typedef struct echo_ctx {
    tide_tcp_t *listener;
    uint16_t port;
    tide_task_t handlers[ECHO_CONNS];
    _Atomic int connected;      /* clients connected so far */
    tt_gate_t all_connected;    /* opened when every client is connected */
    _Atomic uint64_t echoed;    /* bytes the server sent back */
    _Atomic uint64_t checked;   /* bytes clients received and verified */
    _Atomic uint64_t sent;      /* bytes clients sent */
} echo_ctx_t;

static echo_ctx_t *echo_ctx;

static int echo_handler(void *arg) {
    tide_tcp_t *c = arg;
    uint8_t buf[4096];
    ssize_t n;
    while ((n = tide_tcp_read(c, buf, 1 + tt_rand() % sizeof buf)) > 0) {
        size_t sent = 0;
        cr_assert_eq(tide_tcp_write_all(c, buf, (size_t)n, &sent), n);
        cr_assert_eq(sent, (size_t)n);
        atomic_fetch_add(&echo_ctx->echoed, (uint64_t)n);
        tt_random_yields(1);
    }
    cr_assert_eq(n, 0, "server read: %s", tide_strerror((int)n));
    cr_assert_eq(tide_tcp_close(c), 0);
    return 0;
}

static int echo_acceptor(void *arg) {
    echo_ctx_t *ctx = arg;
    for (int i = 0; i < ECHO_CONNS; i++) {
        tide_tcp_t *c;
        tide_addr_t peer;
        int r = tide_tcp_accept(ctx->listener, &c, &peer);
        cr_assert_eq(r, 0, "accept: %s", tide_strerror(r));
        cr_assert_eq(peer.u.sa.sa_family, AF_INET);
        cr_assert_eq(tide_spawn(&ctx->handlers[i], echo_handler, c), 0);
    }
    return 0;
}

static int echo_client(void *arg) {
    echo_ctx_t *ctx = echo_ctx;
    uint64_t k = (uintptr_t)arg;
    tide_tcp_t *c;
    int r = tide_tcp_connect(&c, "127.0.0.1", ctx->port);
    cr_assert_eq(r, 0, "connect: %s", tide_strerror(r));
    if (atomic_fetch_add(&ctx->connected, 1) + 1 == ECHO_CONNS) tt_gate_open(&ctx->all_connected);
    cr_assert_eq(tt_gate_wait(&ctx->all_connected), 0);

    tt_stream_t s = tt_tcp_stream(c);
    tt_echo_check(&s, k, 1 + tt_rand() % TT_SCALE(24576), 4096, 2, &ctx->sent, &ctx->checked);
    cr_assert_eq(tide_tcp_shutdown(c), 0);
    char b;
    cr_assert_eq(tide_tcp_read(c, &b, 1), 0); /* the server closes after our EOF */
    cr_assert_eq(tide_tcp_close(c), 0);
    return 0;
}

static int echo_main(void *arg) {
    echo_ctx_t *ctx = arg;
    ctx->port = tt_listen_local(&ctx->listener, NULL);
    tide_task_t acceptor;
    cr_assert_eq(tide_spawn(&acceptor, echo_acceptor, ctx), 0);
    static tide_task_t clients[ECHO_CONNS];
    for (uintptr_t i = 0; i < ECHO_CONNS; i++)
        cr_assert_eq(tide_spawn(&clients[i], echo_client, (void *)i), 0);
    int st;
    for (int i = 0; i < ECHO_CONNS; i++) {
        cr_assert_eq(tide_join(clients[i], &st), 0);
        cr_assert_eq(st, 0);
    }
    cr_assert_eq(tide_join(acceptor, &st), 0);
    cr_assert_eq(st, 0);
    for (int i = 0; i < ECHO_CONNS; i++) {
        cr_assert_eq(tide_join(ctx->handlers[i], &st), 0);
        cr_assert_eq(st, 0);
    }
    cr_assert_eq(atomic_load(&ctx->connected), ECHO_CONNS);
    cr_assert_eq(atomic_load(&ctx->checked), atomic_load(&ctx->sent));
    cr_assert_eq(atomic_load(&ctx->echoed), atomic_load(&ctx->sent));
    cr_assert_eq(tide_tcp_close(ctx->listener), 0);
    return 0;
}

Test(tcp, thousand_concurrent_echo_connections, .timeout = 120) {
    static echo_ctx_t ctx;
    tt_gate_init(&ctx.all_connected);
    echo_ctx = &ctx;
    tt_run(echo_main, &ctx, 4);
}

/* ---- 100 MB transfer ------------------------------------------------------------------- */

#define BIG_TOTAL ((uint64_t)100 * 1024 * 1024)
#define TABLE_SIZE 1000003 /* prime: slices of it at random offsets never line up by chance */

static uint8_t *table;

typedef struct big_ctx {
    tide_tcp_t *c, *s;
    uint64_t received;
    uint64_t sum_sent, sum_received; /* position-weighted checksums */
} big_ctx_t;

/* A checksum of every 61st stream position (positions, not chunk offsets: the two sides cut
 * the stream differently). */
static uint64_t weigh(const uint8_t *p, size_t n, uint64_t at) {
    uint64_t sum = 0;
    for (size_t i = (61 - at % 61) % 61; i < n; i += 61) sum += (uint64_t)p[i] * (at + i + 1);
    return sum;
}

static int big_writer(void *arg) {
    big_ctx_t *b = arg;
    uint64_t at = 0;
    while (at < BIG_TOTAL) {
        /* Alternate plain writes and vectored writes of several slices. */
        struct iovec v[4];
        int n = 1 + (int)(tt_rand() % 4);
        uint64_t pos = at;
        int used = 0;
        for (int i = 0; i < n && pos < BIG_TOTAL; i++) {
            size_t len = 1 + tt_rand() % (256 * 1024);
            if (len > BIG_TOTAL - pos) len = BIG_TOTAL - pos;
            size_t off = pos % TABLE_SIZE;
            if (len > TABLE_SIZE - off) len = TABLE_SIZE - off;
            v[i].iov_base = table + off;
            v[i].iov_len = len;
            pos += len;
            used++;
        }
        size_t want = (size_t)(pos - at), sent = 0;
        ssize_t r = used == 1 ? tide_tcp_write_all(b->c, v[0].iov_base, v[0].iov_len, &sent)
                              : tide_tcp_writev(b->c, v, used, &sent);
        cr_assert_eq(r, (ssize_t)want, "write: %s", tide_strerror((int)r));
        cr_assert_eq(sent, want);
        for (int i = 0; i < used; i++) {
            b->sum_sent += weigh(v[i].iov_base, v[i].iov_len, at);
            at += v[i].iov_len;
        }
    }
    cr_assert_eq(tide_tcp_shutdown(b->c), 0);
    return 0;
}

static int big_reader(void *arg) {
    big_ctx_t *b = arg;
    size_t cap = 128 * 1024;
    uint8_t *buf = malloc(cap);
    ssize_t n;
    while ((n = tide_tcp_read(b->s, buf, 1 + tt_rand() % cap)) > 0) {
        uint64_t at = b->received;
        size_t done = 0;
        while (done < (size_t)n) {
            size_t off = (at + done) % TABLE_SIZE;
            size_t len = (size_t)n - done;
            if (len > TABLE_SIZE - off) len = TABLE_SIZE - off;
            cr_assert(memcmp(buf + done, table + off, len) == 0, "byte mismatch near %llu",
                      (unsigned long long)(at + done));
            b->sum_received += weigh(buf + done, len, at + done);
            done += len;
        }
        b->received += (uint64_t)n;
    }
    cr_assert_eq(n, 0, "read: %s", tide_strerror((int)n));
    free(buf);
    return 0;
}

static int big_main(void *arg) {
    big_ctx_t *b = arg;
    tt_tcp_pair(&b->c, &b->s);
    tide_task_t w, r;
    cr_assert_eq(tide_spawn(&w, big_writer, b), 0);
    cr_assert_eq(tide_spawn(&r, big_reader, b), 0);
    int st;
    cr_assert_eq(tide_join(w, &st), 0);
    cr_assert_eq(st, 0);
    cr_assert_eq(tide_join(r, &st), 0);
    cr_assert_eq(st, 0);
    cr_assert_eq(b->received, BIG_TOTAL);
    cr_assert_eq(b->sum_received, b->sum_sent);
    cr_assert_eq(tide_tcp_close(b->c), 0);
    cr_assert_eq(tide_tcp_close(b->s), 0);
    return 0;
}

Test(tcp, transfer_100mb_intact, .timeout = 120) {
    table = malloc(TABLE_SIZE);
    tt_fill(table, TABLE_SIZE, 42, 0);
    big_ctx_t b = {0};
    tt_run(big_main, &b, 2);
    free(table);
}

/* ---- half-close, reset, refused, timeouts ---------------------------------------------- */

static int half_close_main(void *arg) {
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    cr_assert_eq(tide_tcp_write_all(c, "request", 7, NULL), 7);
    cr_assert_eq(tide_tcp_shutdown(c), 0);
    /* The server reads to end of stream, then still answers on its open half. */
    char buf[64];
    size_t got;
    cr_assert_eq(tide_tcp_read_exact(s, buf, 7, &got), 7);
    cr_assert_eq(memcmp(buf, "request", 7), 0);
    cr_assert_eq(tide_tcp_read(s, buf, sizeof buf), 0);
    cr_assert_eq(tide_tcp_read(s, buf, sizeof buf), 0); /* end of stream stays */
    cr_assert_eq(tide_tcp_write_all(s, "response", 8, NULL), 8);
    cr_assert_eq(tide_tcp_close(s), 0);
    cr_assert_eq(tide_tcp_read_exact(c, buf, 8, &got), 8);
    cr_assert_eq(memcmp(buf, "response", 8), 0);
    cr_assert_eq(tide_tcp_read(c, buf, sizeof buf), 0);
    /* We shut down our side: writing now is an error, not a signal. */
    cr_assert_eq(tide_tcp_write(c, "x", 1), -EPIPE);
    cr_assert_eq(tide_tcp_close(c), 0);
    return 0;
}

Test(tcp, half_close) {
    tt_run(half_close_main, NULL, 2);
}

static int truncated_main(void *arg) {
    /* read_exact: end of stream inside the message is -ENODATA with the partial count. */
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    cr_assert_eq(tide_tcp_write_all(c, "abc", 3, NULL), 3);
    cr_assert_eq(tide_tcp_shutdown(c), 0);
    char buf[8];
    size_t got = 99;
    cr_assert_eq(tide_tcp_read_exact(s, buf, 8, &got), -ENODATA);
    cr_assert_eq(got, 3);
    cr_assert_eq(memcmp(buf, "abc", 3), 0);
    cr_assert_eq(tide_tcp_read_exact(s, buf, 8, &got), 0);
    cr_assert_eq(got, 0);
    cr_assert_eq(tide_tcp_close(c), 0);
    cr_assert_eq(tide_tcp_close(s), 0);
    return 0;
}

Test(tcp, read_exact_reports_truncation) {
    tt_run(truncated_main, NULL, 1);
}

static int reset_main(void *arg) {
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    /* SO_LINGER 0 makes close send a reset. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    cr_assert_eq(setsockopt(tide_tcp_fd(s), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    cr_assert_eq(tide_tcp_close(s), 0);
    char buf[16];
    ssize_t r = tide_tcp_read(c, buf, sizeof buf);
    cr_assert_eq(r, -ECONNRESET, "read after reset: %s", tide_strerror((int)r));
    /* After the reset is consumed, writing fails too (never with SIGPIPE). */
    r = tide_tcp_write_all(c, "x", 1, NULL);
    cr_assert(r == -EPIPE || r == -ECONNRESET, "write after reset: %s", tide_strerror((int)r));
    cr_assert_eq(tide_tcp_close(c), 0);
    return 0;
}

Test(tcp, reset_by_peer) {
    tt_run(reset_main, NULL, 2);
}

static int blocked_reset_reader(void *arg) {
    char buf[16];
    return (int)tide_tcp_read(arg, buf, sizeof buf);
}

static int reset_wakes_main(void *arg) {
    /* A reader already parked when the reset arrives is woken with the error. */
    for (int i = 0; i < TT_SCALE(50); i++) {
        tide_tcp_t *c, *s;
        tt_tcp_pair(&c, &s);
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, blocked_reset_reader, c), 0);
        tt_random_yields(3);
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        cr_assert_eq(setsockopt(tide_tcp_fd(s), SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
        cr_assert_eq(tide_tcp_close(s), 0);
        int st;
        cr_assert_eq(tide_join(t, &st), 0);
        cr_assert_eq(st, -ECONNRESET, "parked reader: %s", tide_strerror(st));
        cr_assert_eq(tide_tcp_close(c), 0);
    }
    return 0;
}

Test(tcp, reset_wakes_parked_reader) {
    tt_run(reset_wakes_main, NULL, 2);
}

static int refused_main(void *arg) {
    tide_tcp_t *l, *c = NULL;
    uint16_t port = tt_listen_local(&l, NULL);
    cr_assert_eq(tide_tcp_close(l), 0);
    for (int i = 0; i < TT_SCALE(100); i++) {
        int r = tide_tcp_connect(&c, "127.0.0.1", port);
        cr_assert_eq(r, -ECONNREFUSED, "connect: %s", tide_strerror(r));
    }
    cr_assert_null(c);
    return 0;
}

Test(tcp, connection_refused) {
    tt_run(refused_main, NULL, 2); /* and no descriptor left behind (the leak check) */
}

/* A listener that never accepts, with its queue full: further connects hang in SYN retries. */
static tide_tcp_t *full_listener(uint16_t *port, tide_tcp_t **held, int nheld) {
    tide_tcp_t *l;
    tide_tcp_listen_opts_t o = {.backlog = 1};
    *port = tt_listen_local(&l, &o);
    for (int i = 0; i < nheld; i++) {
        tide_scope_t s;
        tide_timeout_begin(&s, TIDE_MSEC(200));
        int r = tide_tcp_connect(&held[i], "127.0.0.1", *port);
        tide_scope_end(&s);
        if (r < 0) {
            held[i] = NULL;
            cr_assert_eq(r, -ETIMEDOUT);
        }
    }
    return l;
}

static int connect_timeout_main(void *arg) {
    tide_tcp_t *held[4];
    uint16_t port;
    tide_tcp_t *l = full_listener(&port, held, 4);
    for (int i = 0; i < 3; i++) {
        tide_scope_t s;
        int64_t t0 = tide_now();
        tide_timeout_begin(&s, TIDE_MSEC(50));
        tide_tcp_t *c = NULL;
        int r = tide_tcp_connect(&c, "127.0.0.1", port);
        tide_scope_end(&s);
        cr_assert_eq(r, -ETIMEDOUT, "connect: %s", tide_strerror(r));
        cr_assert_null(c);
        cr_assert_geq(tide_now() - t0, TIDE_MSEC(50));
    }
    for (int i = 0; i < 4; i++)
        if (held[i]) cr_assert_eq(tide_tcp_close(held[i]), 0);
    cr_assert_eq(tide_tcp_close(l), 0);
    return 0;
}

Test(tcp, connect_times_out) {
    tt_run(connect_timeout_main, NULL, 2);
}

static int read_timeout_main(void *arg) {
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    char buf[16];
    tide_scope_t sc;
    int64_t t0 = tide_now();
    tide_timeout_begin(&sc, TIDE_MSEC(30));
    ssize_t r = tide_tcp_read(s, buf, sizeof buf);
    tide_scope_end(&sc);
    cr_assert_eq(r, -ETIMEDOUT);
    cr_assert_geq(tide_now() - t0, TIDE_MSEC(30));
    /* Nothing was lost by the timed-out read: what comes next arrives whole. */
    cr_assert_eq(tide_tcp_write_all(c, "after", 5, NULL), 5);
    size_t got;
    cr_assert_eq(tide_tcp_read_exact(s, buf, 5, &got), 5);
    cr_assert_eq(memcmp(buf, "after", 5), 0);
    /* An expired deadline fails at once, even with data waiting, and consumes none of it. */
    cr_assert_eq(tide_tcp_write_all(c, "more", 4, NULL), 4);
    tide_timeout_begin(&sc, 0);
    cr_assert_eq(tide_tcp_read(s, buf, sizeof buf), -ETIMEDOUT);
    tide_scope_end(&sc);
    cr_assert_eq(tide_tcp_read_exact(s, buf, 4, &got), 4);
    cr_assert_eq(memcmp(buf, "more", 4), 0);
    cr_assert_eq(tide_tcp_close(c), 0);
    cr_assert_eq(tide_tcp_close(s), 0);
    return 0;
}

Test(tcp, read_times_out_without_losing_data) {
    tt_run(read_timeout_main, NULL, 2);
}

/* ---- addresses, options, IPv6 ---------------------------------------------------------- */

static int addr_main(void *arg) {
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    tide_addr_t a, b;
    cr_assert_eq(tide_tcp_local_addr(c, &a), 0);
    cr_assert_eq(tide_tcp_peer_addr(s, &b), 0);
    cr_assert_eq(tide_addr_port(&a), tide_addr_port(&b));
    char text[TIDE_ADDRSTRLEN];
    cr_assert_gt(tide_addr_format(&a, text, sizeof text), 0);
    cr_assert_eq(strncmp(text, "127.0.0.1:", 10), 0, "%s", text);
    cr_assert_eq(tide_addr_format(&a, text, 4), -ENOSPC);
    cr_assert_eq(tide_tcp_nodelay(c, 1), 0);
    int on = 0;
    socklen_t len = sizeof on;
    cr_assert_eq(getsockopt(tide_tcp_fd(c), IPPROTO_TCP, 1 /* TCP_NODELAY */, &on, &len), 0);
    cr_assert_eq(on, 1);
    cr_assert_eq(tide_tcp_keepalive(s, 1, TIDE_SEC(30)), 0);
    cr_assert_eq(getsockopt(tide_tcp_fd(s), SOL_SOCKET, SO_KEEPALIVE, &on, &len), 0);
    cr_assert_eq(on, 1);
    cr_assert_eq(getsockopt(tide_tcp_fd(s), IPPROTO_TCP, TCP_KEEPIDLE, &on, &len), 0);
    cr_assert_eq(on, 30, "keepalive idle in ns, set in seconds");
    cr_assert_eq(tide_tcp_keepalive(s, 1, TIDE_MSEC(1500)), 0);
    cr_assert_eq(getsockopt(tide_tcp_fd(s), IPPROTO_TCP, TCP_KEEPIDLE, &on, &len), 0);
    cr_assert_eq(on, 2, "a part of a second rounds up");
    cr_assert_eq(tide_tcp_keepalive(s, 1, -1), -EINVAL);
    cr_assert_eq(tide_tcp_close(c), 0);
    cr_assert_eq(tide_tcp_close(s), 0);

    /* IPv6 loopback, listening and connecting by numeric address. */
    tide_tcp_t *l6;
    int r = tide_tcp_listen(&l6, "::1", 0, &(tide_tcp_listen_opts_t){.v6only = 1});
    cr_assert_eq(r, 0, "listen ::1: %s", tide_strerror(r));
    cr_assert_eq(tide_tcp_local_addr(l6, &a), 0);
    cr_assert_eq(a.u.sa.sa_family, AF_INET6);
    cr_assert_eq(tide_tcp_connect(&c, "::1", tide_addr_port(&a)), 0);
    cr_assert_eq(tide_tcp_accept(l6, &s, &b), 0);
    cr_assert_eq(b.u.sa.sa_family, AF_INET6);
    cr_assert_gt(tide_addr_format(&b, text, sizeof text), 0);
    cr_assert_eq(strncmp(text, "[::1]:", 6), 0, "%s", text);
    cr_assert_eq(tide_tcp_write_all(c, "six", 3, NULL), 3);
    char buf[3];
    cr_assert_eq(tide_tcp_read_exact(s, buf, 3, NULL), 3);
    cr_assert_eq(memcmp(buf, "six", 3), 0);
    cr_assert_eq(tide_tcp_close(c), 0);
    cr_assert_eq(tide_tcp_close(s), 0);
    cr_assert_eq(tide_tcp_close(l6), 0);

    /* SO_REUSEPORT: two listeners share a port. */
    tide_tcp_t *r1, *r2;
    tide_tcp_listen_opts_t o = {.reuseport = 1};
    uint16_t port = tt_listen_local(&r1, &o);
    cr_assert_eq(tide_tcp_listen(&r2, "127.0.0.1", port, &o), 0);
    cr_assert_eq(tide_tcp_close(r1), 0);
    cr_assert_eq(tide_tcp_close(r2), 0);
    return 0;
}

Test(tcp, addresses_options_ipv6_reuseport) {
    tt_run(addr_main, NULL, 2);
}

/* ---- vectored writes ------------------------------------------------------------------- */

static int writev_main(void *arg) {
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    enum { N = 200 }; /* more entries than one sendmsg window */
    static uint8_t data[N][300];
    struct iovec v[N];
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        size_t len = i % 7 == 0 ? 0 : 1 + tt_rand() % 300; /* empty entries too */
        tt_fill(data[i], len, 7, total);
        v[i].iov_base = data[i];
        v[i].iov_len = len;
        total += len;
    }
    size_t sent = 0;
    cr_assert_eq(tide_tcp_writev(c, v, N, &sent), (ssize_t)total);
    cr_assert_eq(sent, total);
    cr_assert_eq(tide_tcp_writev(c, NULL, 0, &sent), 0);
    cr_assert_eq(tide_tcp_shutdown(c), 0);
    uint8_t *in = malloc(total + 1);
    size_t got;
    cr_assert_eq(tide_tcp_read_exact(s, in, total, &got), (ssize_t)total);
    cr_assert(tt_check(in, total, 7, 0));
    cr_assert_eq(tide_tcp_read(s, in, 1), 0);
    free(in);
    cr_assert_eq(tide_tcp_close(c), 0);
    cr_assert_eq(tide_tcp_close(s), 0);
    return 0;
}

Test(tcp, writev_many_entries) {
    tt_run(writev_main, NULL, 1);
}

/* ---- close wakes the tasks blocked on a handle ----------------------------------------- */

static int parked_read(void *arg) {
    char b[8];
    return (int)tide_tcp_read(arg, b, sizeof b);
}

static int parked_accept(void *arg) {
    tide_tcp_t *c;
    return tide_tcp_accept(arg, &c, NULL);
}

static int close_wakes_main(void *arg) {
    for (int i = 0; i < TT_SCALE(200); i++) {
        tide_tcp_t *c, *s, *l;
        tt_tcp_pair(&c, &s);
        tt_listen_local(&l, NULL);
        tide_task_t r1, r2, a1, a2;
        cr_assert_eq(tide_spawn(&r1, parked_read, s), 0);
        cr_assert_eq(tide_spawn(&r2, parked_read, s), 0); /* two readers on one connection */
        cr_assert_eq(tide_spawn(&a1, parked_accept, l), 0);
        cr_assert_eq(tide_spawn(&a2, parked_accept, l), 0);
        tt_random_yields(4);
        cr_assert_eq(tide_tcp_close(s), 0);
        cr_assert_eq(tide_tcp_close(l), 0);
        int st;
        cr_assert_eq(tide_join(r1, &st), 0);
        cr_assert_eq(st, -EBADF);
        cr_assert_eq(tide_join(r2, &st), 0);
        cr_assert_eq(st, -EBADF);
        cr_assert_eq(tide_join(a1, &st), 0);
        cr_assert_eq(st, -EBADF);
        cr_assert_eq(tide_join(a2, &st), 0);
        cr_assert_eq(st, -EBADF);
        /* The handles are gone; using them again is detected. */
        char b[1];
        cr_assert_eq(tide_tcp_read(s, b, 1), -EBADF);
        cr_assert_eq(tide_tcp_close(s), -EBADF);
        cr_assert_eq(tide_tcp_close(c), 0);
    }
    return 0;
}

Test(tcp, close_wakes_blocked_tasks) {
    tt_run(close_wakes_main, NULL, 2);
}

/* ---- a connection used from a plain thread ---------------------------------------------- */

typedef struct thread_ctx {
    tide_tcp_t *conn;
    int result;
} thread_ctx_t;

static int join_thread(void *arg) {
    return -pthread_join(*(pthread_t *)arg, NULL);
}

static void *foreign_echo(void *arg) {
    /* Not a tide thread: reads and writes block the thread on a futex, same API. */
    thread_ctx_t *t = arg;
    uint8_t buf[1000];
    ssize_t n;
    uint64_t at = 0;
    t->result = 0;
    while ((n = tide_tcp_read(t->conn, buf, sizeof buf)) > 0) {
        if (!tt_check(buf, (size_t)n, 3, at)) t->result = -EIO;
        at += (uint64_t)n;
        if (tide_tcp_write_all(t->conn, buf, (size_t)n, NULL) != n) t->result = -EIO;
    }
    if (n < 0) t->result = (int)n;
    return NULL;
}

static int foreign_main(void *arg) {
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    thread_ctx_t t = {.conn = s, .result = 1};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, foreign_echo, &t), 0);
    uint64_t at = 0;
    uint8_t out[700], in[700];
    for (int i = 0; i < TT_SCALE(300); i++) {
        size_t len = 1 + tt_rand() % sizeof out;
        tt_fill(out, len, 3, at);
        cr_assert_eq(tide_tcp_write_all(c, out, len, NULL), (ssize_t)len);
        cr_assert_eq(tide_tcp_read_exact(c, in, len, NULL), (ssize_t)len);
        cr_assert(tt_check(in, len, 3, at));
        at += len;
    }
    cr_assert_eq(tide_tcp_shutdown(c), 0);
    /* The thread may still be blocked in its read: wait for it without blocking a worker. */
    cr_assert_eq(tide_spawn_blocking(join_thread, &th), 0);
    cr_assert_eq(t.result, 0);
    cr_assert_eq(tide_tcp_close(s), 0);
    cr_assert_eq(tide_tcp_close(c), 0);
    return 0;
}

Test(tcp, connection_served_from_plain_thread) {
    tt_run(foreign_main, NULL, 2);
}

/* ---- bad input ------------------------------------------------------------------------- */

static int bad_input_main(void *arg) {
    tide_tcp_t *l, *c, *s;
    char buf[4];
    cr_assert_eq(tide_tcp_listen(NULL, "127.0.0.1", 0, NULL), -EINVAL);
    cr_assert_eq(tide_tcp_listen(&l, "not an address", 0, NULL), -EINVAL);
    cr_assert_eq(tide_tcp_listen(&l, "127.0.0.1", 0, &(tide_tcp_listen_opts_t){.backlog = -1}),
                 -EINVAL);
    uint16_t port = tt_listen_local(&l, NULL);
    cr_assert_eq(tide_tcp_listen(&c, "127.0.0.1", port, NULL), -EADDRINUSE);
    cr_assert_eq(tide_tcp_connect(NULL, "127.0.0.1", port), -EINVAL);
    cr_assert_eq(tide_tcp_connect(&c, NULL, port), -EINVAL);
    cr_assert_eq(tide_tcp_connect_addr(&c, &(tide_addr_t){0}), -EINVAL);
    cr_assert_eq(tide_tcp_accept(NULL, &c, NULL), -EINVAL);
    cr_assert_eq(tide_tcp_accept(l, NULL, NULL), -EINVAL);
    cr_assert_eq(tide_tcp_read(NULL, buf, 1), -EINVAL);
    cr_assert_eq(tide_tcp_read(l, buf, 1), -ENOTCONN);
    cr_assert_eq(tide_tcp_write(l, buf, 1), -ENOTCONN);
    cr_assert_eq(tide_tcp_shutdown(l), -ENOTCONN);
    cr_assert_eq(tide_tcp_nodelay(l, 1), -EINVAL);
    cr_assert_eq(tide_tcp_peer_addr(l, &(tide_addr_t){0}), -ENOTCONN);
    cr_assert_eq(tide_tcp_close(NULL), -EINVAL);
    cr_assert_eq(tide_tcp_connect(&c, "127.0.0.1", port), 0);
    cr_assert_eq(tide_tcp_accept(c, &s, NULL), -EINVAL); /* not a listener */
    cr_assert_eq(tide_tcp_accept(l, &s, NULL), 0);
    cr_assert_eq(tide_tcp_read(c, NULL, 1), -EINVAL);
    cr_assert_eq(tide_tcp_read(c, buf, 0), 0);
    cr_assert_eq(tide_tcp_write(c, NULL, 1), -EINVAL);
    cr_assert_eq(tide_tcp_writev(c, NULL, 1, NULL), -EINVAL);
    cr_assert_eq(tide_tcp_writev(c, (struct iovec[1]){{NULL, 0}}, -1, NULL), -EINVAL);
    cr_assert_eq(tide_tcp_close(s), 0);
    cr_assert_eq(tide_tcp_close(c), 0);
    cr_assert_eq(tide_tcp_close(l), 0);
    /* Use after close. */
    cr_assert_eq(tide_tcp_read(c, buf, 1), -EBADF);
    cr_assert_eq(tide_tcp_write_all(c, buf, 1, NULL), -EBADF);
    cr_assert_eq(tide_tcp_shutdown(c), -EBADF);
    cr_assert_eq(tide_tcp_accept(l, &s, NULL), -EBADF);
    cr_assert_eq(tide_tcp_local_addr(l, &(tide_addr_t){0}), -EBADF);
    cr_assert_eq(tide_tcp_fd(c), -EBADF);
    cr_assert_eq(tide_tcp_close(c), -EBADF);
    cr_assert_eq(tide_tcp_close(l), -EBADF);
    return 0;
}

Test(tcp, bad_input_is_an_error_not_a_crash) {
    tt_run(bad_input_main, NULL, 1);
}

Test(tcp, outside_a_task) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_tcp_t *t;
    cr_assert_eq(tide_tcp_listen(&t, "127.0.0.1", 0, NULL), -EPERM);
    cr_assert_eq(tide_tcp_connect(&t, "127.0.0.1", 1), -EPERM);
    tt_leaks_end(&l);
}
