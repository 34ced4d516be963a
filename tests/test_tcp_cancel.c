/* Cancellation and deadlines in the middle of TCP operations, in loops with random timing:
 * a cancelled read consumes nothing it does not report, a cancelled write reports exactly what
 * went out (the receiver sees every byte once, in order), a cancelled connect or accept leaks
 * no descriptor and loses no connection. */
#include "testutil_net.h"

#include <string.h>
#include <unistd.h>

#include "driver.h"

/* Sleep 0..max_us microseconds, or just yield a few times. */
static void jitter(unsigned max_us) {
    if (tt_rand() % 2) tt_random_yields(8);
    else tide_sleep(TIDE_USEC(tt_rand() % (max_us + 1)));
}

/* ---- cancelled reads lose nothing ------------------------------------------------------ */

#define READ_TOTAL ((size_t)TT_SCALE(4) * 1024 * 1024)

typedef struct stream {
    tide_tcp_t *c, *s;
    uint8_t *buf;        /* what the receiver got, by stream position */
    size_t pos;          /* received so far */
    size_t got;          /* bytes the last reader task reported */
    int mode;            /* 0: read_exact, 1: plain read, 2: read under its own deadline */
    _Atomic int timeouts;
} stream_t;

static int slow_writer(void *arg) {
    stream_t *st = arg;
    uint8_t chunk[8192];
    size_t at = 0;
    while (at < READ_TOTAL) {
        size_t n = 1 + tt_rand() % sizeof chunk;
        if (n > READ_TOTAL - at) n = READ_TOTAL - at;
        for (size_t i = 0; i < n; i++) chunk[i] = tt_pat(1, at + i);
        cr_assert_eq(tide_tcp_write_all(st->c, chunk, n, NULL), (ssize_t)n);
        at += n;
        if (tt_rand() % 4 == 0) jitter(200);
    }
    return 0;
}

static int reader(void *arg) {
    stream_t *st = arg;
    size_t want = READ_TOTAL - st->pos;
    uint8_t *dst = st->buf + st->pos;
    st->got = 0;
    if (st->mode == 0) {
        ssize_t r = tide_tcp_read_exact(st->s, dst, want, &st->got);
        return r < 0 ? (int)r : 0;
    }
    for (;;) {
        ssize_t r;
        if (st->mode == 2) {
            tide_scope_t sc;
            tide_timeout_begin(&sc, TIDE_USEC(tt_rand() % 300));
            r = tide_tcp_read(st->s, dst + st->got, want - st->got);
            tide_scope_end(&sc);
            if (r == -ETIMEDOUT) {
                atomic_fetch_add(&st->timeouts, 1);
                continue;
            }
        } else {
            r = tide_tcp_read(st->s, dst + st->got, want - st->got);
        }
        if (r < 0) return (int)r;
        cr_assert_gt(r, 0);
        st->got += (size_t)r;
        if (st->got == want) return 0;
    }
}

static int cancel_read_main(void *arg) {
    stream_t *st = arg;
    tt_tcp_pair(&st->c, &st->s);
    st->buf = malloc(READ_TOTAL);
    tide_task_t w;
    cr_assert_eq(tide_spawn(&w, slow_writer, st), 0);
    int cancels = 0, rounds = 0;
    while (st->pos < READ_TOTAL) {
        tide_task_t r;
        cr_assert_eq(tide_spawn(&r, reader, st), 0);
        jitter(500);
        cr_assert_eq(tide_cancel(r), 0);
        int status;
        cr_assert_eq(tide_join(r, &status), 0);
        cr_assert(status == 0 || status == -ECANCELED, "reader: %s", tide_strerror(status));
        cancels += status == -ECANCELED;
        st->pos += st->got; /* exactly what the reader said it stored */
        rounds++;
    }
    int status;
    cr_assert_eq(tide_join(w, &status), 0);
    cr_assert_eq(status, 0);
    for (size_t i = 0; i < READ_TOTAL; i++)
        if (st->buf[i] != tt_pat(1, i)) cr_assert_fail("byte %zu lost or duplicated", i);
    cr_assert_gt(cancels, 0, "no reader was ever cancelled: the test tested nothing");
    /* Nothing more is in flight: the stream ends exactly here. */
    cr_assert_eq(tide_tcp_shutdown(st->c), 0);
    uint8_t b;
    cr_assert_eq(tide_tcp_read(st->s, &b, 1), 0);
    free(st->buf);
    cr_assert_eq(tide_tcp_close(st->c), 0);
    cr_assert_eq(tide_tcp_close(st->s), 0);
    (void)rounds;
    return 0;
}

Test(tcp_cancel, cancelled_read_exact_loses_nothing, .timeout = 120) {
    stream_t st = {.mode = 0};
    tt_run(cancel_read_main, &st, 2);
}

Test(tcp_cancel, cancelled_read_loses_nothing, .timeout = 120) {
    stream_t st = {.mode = 1};
    tt_run(cancel_read_main, &st, 2);
}

Test(tcp_cancel, deadlines_inside_reads_lose_nothing, .timeout = 120) {
    stream_t st = {.mode = 2};
    tt_run(cancel_read_main, &st, 2);
    cr_assert_gt(atomic_load(&st.timeouts), 0, "no read ever timed out: the test tested nothing");
}

/* ---- cancelled writes report exactly what went out ------------------------------------- */

/* Not scaled down under sanitizers: it must be well above what socket buffers hold. */
#define WRITE_TOTAL ((size_t)16 * 1024 * 1024)

typedef struct wstream {
    tide_tcp_t *c, *s;
    uint8_t *src;        /* the whole stream */
    size_t pos;          /* reported sent so far */
    size_t sent;         /* what the last writer reported */
    bool deadline;       /* writers stop on their own deadline instead of a cancel */
    _Atomic size_t received;
} wstream_t;

static int writer(void *arg) {
    wstream_t *ws = arg;
    size_t n = WRITE_TOTAL - ws->pos;
    ws->sent = 0;
    ssize_t r;
    if (ws->deadline) {
        tide_scope_t sc;
        tide_timeout_begin(&sc, TIDE_USEC(tt_rand() % 2000));
        r = tt_rand() % 2 ? tide_tcp_write_all(ws->c, ws->src + ws->pos, n, &ws->sent)
                          : tide_tcp_writev(ws->c,
                                            (struct iovec[2]){{ws->src + ws->pos, n / 2},
                                                              {ws->src + ws->pos + n / 2, n - n / 2}},
                                            2, &ws->sent);
        tide_scope_end(&sc);
    } else {
        r = tide_tcp_write_all(ws->c, ws->src + ws->pos, n, &ws->sent);
    }
    if (r >= 0) cr_assert_eq(ws->sent, n);
    return r < 0 ? (int)r : 0;
}

static int slow_reader(void *arg) {
    wstream_t *ws = arg;
    size_t cap = 64 * 1024;
    uint8_t *buf = malloc(cap);
    size_t at = 0;
    ssize_t n;
    while ((n = tide_tcp_read(ws->s, buf, 1 + tt_rand() % cap)) > 0) {
        cr_assert(memcmp(buf, ws->src + at, (size_t)n) == 0, "stream differs near byte %zu", at);
        at += (size_t)n;
        atomic_store(&ws->received, at);
        if (tt_rand() % 8 == 0) jitter(300); /* let the writer fill the socket and park */
    }
    cr_assert_eq(n, 0);
    free(buf);
    return 0;
}

static int cancel_write_main(void *arg) {
    wstream_t *ws = arg;
    tt_tcp_pair(&ws->c, &ws->s);
    ws->src = malloc(WRITE_TOTAL);
    for (size_t i = 0; i < WRITE_TOTAL; i++) ws->src[i] = tt_pat(1, i * 7);
    tide_task_t rd;
    cr_assert_eq(tide_spawn(&rd, slow_reader, ws), 0);
    int stops = 0;
    while (ws->pos < WRITE_TOTAL) {
        tide_task_t w;
        cr_assert_eq(tide_spawn(&w, writer, ws), 0);
        if (!ws->deadline) {
            jitter(1000);
            cr_assert_eq(tide_cancel(w), 0);
        }
        int status;
        cr_assert_eq(tide_join(w, &status), 0);
        cr_assert(status == 0 || status == (ws->deadline ? -ETIMEDOUT : -ECANCELED),
                  "writer: %s", tide_strerror(status));
        stops += status != 0;
        ws->pos += ws->sent;
    }
    cr_assert_eq(tide_tcp_shutdown(ws->c), 0);
    int status;
    cr_assert_eq(tide_join(rd, &status), 0);
    cr_assert_eq(status, 0);
    cr_assert_eq(atomic_load(&ws->received), WRITE_TOTAL);
    cr_assert_gt(stops, 0, "no writer was ever stopped: the test tested nothing");
    free(ws->src);
    cr_assert_eq(tide_tcp_close(ws->c), 0);
    cr_assert_eq(tide_tcp_close(ws->s), 0);
    return 0;
}

Test(tcp_cancel, cancelled_write_reports_exactly_what_was_sent, .timeout = 120) {
    wstream_t ws = {.deadline = false};
    tt_run(cancel_write_main, &ws, 2);
}

Test(tcp_cancel, deadlines_inside_writes_report_exactly_what_was_sent, .timeout = 120) {
    wstream_t ws = {.deadline = true};
    tt_run(cancel_write_main, &ws, 2);
}

/* ---- connect ------------------------------------------------------------------------- */

typedef struct conn_arg {
    uint16_t port;
    tide_tcp_t *conn;
} conn_arg_t;

static int connector(void *arg) {
    conn_arg_t *a = arg;
    a->conn = NULL;
    return tide_tcp_connect(&a->conn, "127.0.0.1", a->port);
}

static int cancel_connect_main(void *arg) {
    /* A listener that never accepts, with a full queue: connects to it hang. */
    tide_tcp_t *l, *held[4] = {0};
    tide_tcp_listen_opts_t o = {.backlog = 1};
    uint16_t port = tt_listen_local(&l, &o);
    for (int i = 0; i < 4; i++) {
        tide_scope_t s;
        tide_timeout_begin(&s, TIDE_MSEC(100));
        if (tide_tcp_connect(&held[i], "127.0.0.1", port) < 0) held[i] = NULL;
        tide_scope_end(&s);
    }
    int fds = tt_open_fds();
    for (int i = 0; i < TT_SCALE(100); i++) {
        conn_arg_t a = {.port = port};
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, connector, &a), 0);
        jitter(2000);
        cr_assert_eq(tide_cancel(t), 0);
        int st;
        cr_assert_eq(tide_join(t, &st), 0);
        cr_assert_eq(st, -ECANCELED, "connect: %s", tide_strerror(st));
        cr_assert_null(a.conn);
        cr_assert_eq(tt_open_fds(), fds, "a cancelled connect left a descriptor open");
    }
    for (int i = 0; i < 4; i++)
        if (held[i]) cr_assert_eq(tide_tcp_close(held[i]), 0);
    cr_assert_eq(tide_tcp_close(l), 0);

    /* Against a listener that does accept: a connect cancelled at a random point either
     * completed (and the connection is usable) or left nothing behind. */
    port = tt_listen_local(&l, NULL);
    fds = tt_open_fds();
    int done = 0;
    for (int i = 0; i < TT_SCALE(300); i++) {
        conn_arg_t a = {.port = port};
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, connector, &a), 0);
        tt_random_yields(3);
        cr_assert_eq(tide_cancel(t), 0);
        int st;
        cr_assert_eq(tide_join(t, &st), 0);
        if (st == 0) {
            done++;
            tide_tcp_t *s;
            cr_assert_eq(tide_tcp_accept(l, &s, NULL), 0);
            cr_assert_eq(tide_tcp_write_all(a.conn, "k", 1, NULL), 1);
            char b;
            cr_assert_eq(tide_tcp_read(s, &b, 1), 1);
            cr_assert_eq(tide_tcp_close(s), 0);
            cr_assert_eq(tide_tcp_close(a.conn), 0);
        } else {
            cr_assert_eq(st, -ECANCELED);
            cr_assert_null(a.conn);
            /* The kernel may have completed the handshake: drain it from the queue. */
            tide_tcp_t *s;
            tide_scope_t sc;
            tide_timeout_begin(&sc, TIDE_MSEC(2));
            if (tide_tcp_accept(l, &s, NULL) == 0) tide_tcp_close(s);
            tide_scope_end(&sc);
        }
        cr_assert_eq(tt_open_fds(), fds);
    }
    cr_assert_eq(tide_tcp_close(l), 0);
    (void)done;
    return 0;
}

Test(tcp_cancel, cancelled_connect_leaks_nothing, .timeout = 120) {
    tt_run(cancel_connect_main, NULL, 2);
}

/* ---- accept ---------------------------------------------------------------------------- */

typedef struct acc_arg {
    tide_tcp_t *l;
    tide_tcp_t *conn;
} acc_arg_t;

static int acceptor(void *arg) {
    acc_arg_t *a = arg;
    a->conn = NULL;
    return tide_tcp_accept(a->l, &a->conn, NULL);
}

typedef struct client_arg {
    uint16_t port;
    _Atomic int connected;
    tide_tcp_t *conns[1024];
} client_arg_t;

static int late_client(void *arg) {
    client_arg_t *c = arg;
    jitter(1000);
    tide_tcp_t *t;
    cr_assert_eq(tide_tcp_connect(&t, "127.0.0.1", c->port), 0);
    c->conns[atomic_fetch_add(&c->connected, 1)] = t;
    return 0;
}

static int cancel_accept_main(void *arg) {
    static client_arg_t clients;
    tide_tcp_t *l;
    clients.port = tt_listen_local(&l, NULL);
    int accepted = 0, cancelled = 0, iters = TT_SCALE(1000);
    for (int i = 0; i < iters; i++) {
        acc_arg_t a = {.l = l};
        tide_task_t t, c;
        cr_assert_eq(tide_spawn(&t, acceptor, &a), 0);
        cr_assert_eq(tide_spawn(&c, late_client, &clients), 0);
        jitter(1000);
        cr_assert_eq(tide_cancel(t), 0);
        int st;
        cr_assert_eq(tide_join(t, &st), 0);
        if (st == 0) {
            accepted++;
            cr_assert_eq(tide_tcp_close(a.conn), 0);
        } else {
            cr_assert_eq(st, -ECANCELED, "accept: %s", tide_strerror(st));
            cr_assert_null(a.conn);
            cancelled++;
        }
        cr_assert_eq(tide_join(c, &st), 0);
        cr_assert_eq(st, 0);
    }
    /* Every connection a client made is still there for the next acceptor: none lost. */
    for (;;) {
        tide_tcp_t *s;
        tide_scope_t sc;
        tide_timeout_begin(&sc, TIDE_MSEC(100));
        int r = tide_tcp_accept(l, &s, NULL);
        tide_scope_end(&sc);
        if (r == -ETIMEDOUT) break;
        cr_assert_eq(r, 0);
        accepted++;
        cr_assert_eq(tide_tcp_close(s), 0);
    }
    cr_assert_eq(accepted, iters, "connections lost: %d accepted of %d", accepted, iters);
    cr_assert_gt(cancelled, 0, "no accept was ever cancelled: the test tested nothing");
    for (int i = 0; i < iters; i++) cr_assert_eq(tide_tcp_close(clients.conns[i]), 0);
    cr_assert_eq(tide_tcp_close(l), 0);
    return 0;
}

Test(tcp_cancel, cancelled_accept_loses_no_connection, .timeout = 120) {
    tt_run(cancel_accept_main, NULL, 2);
}
