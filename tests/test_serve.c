/* The server loop (tide/serve.h): connections served and counted, max_conns in its two forms
 * (wait in the backlog, refuse), descriptor exhaustion (accept backs off, existing connections
 * keep being served, the backlog is served once descriptors come back), the idle and header
 * timeouts (a slowloris client trickling bytes is cut at the header timeout), the graceful
 * drain (idle connections closed at once, busy ones finish, the rest cancelled at the end of
 * the grace) and bad configurations. The handler speaks a line protocol: a request is a line,
 * its answer the same line. */
#include "testutil_net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the line server -------------------------------------------------------------------- */

typedef struct line_opts {
    int64_t work;          /* time each request takes (busy phase), 0: none */
    _Atomic int requests;  /* requests answered */
    _Atomic int working;   /* handlers in a request's work right now */
    _Atomic int read_timeouts; /* tide_conn_read calls that returned -ETIMEDOUT */
} line_opts_t;

static int line_handler(tide_conn_t *c, void *arg) {
    line_opts_t *o = arg;
    char buf[256];
    size_t have = 0;
    for (;;) {
        ssize_t n = tide_conn_read(c, buf + have, sizeof buf - have);
        if (n == -ETIMEDOUT && o) atomic_fetch_add(&o->read_timeouts, 1);
        if (n <= 0) return (int)n;
        have += (size_t)n;
        char *nl;
        while ((nl = memchr(buf, '\n', have))) {
            size_t len = (size_t)(nl - buf) + 1;
            tide_conn_busy(c);
            if (o && o->work) {
                atomic_fetch_add(&o->working, 1);
                int r = tide_sleep(o->work);
                atomic_fetch_sub(&o->working, 1);
                if (r < 0) return r;
            }
            ssize_t w = tide_conn_write(c, buf, len);
            if (w < 0) return (int)w;
            if (o) atomic_fetch_add(&o->requests, 1);
            memmove(buf, buf + len, have - len);
            have -= len;
            if (have) tide_conn_request(c);
            else tide_conn_idle(c);
        }
        if (have == sizeof buf) return -E2BIG;
    }
}

static tide_server_t *start(tide_server_config_t *cfg, line_opts_t *o, uint16_t *port) {
    cfg->host = "127.0.0.1";
    cfg->handler = line_handler;
    cfg->arg = o;
    tide_server_t *s;
    int r = tide_server_start(&s, cfg);
    cr_assert_eq(r, 0, "start: %s", tide_strerror(r));
    tide_addr_t a;
    cr_assert_eq(tide_server_local_addr(s, &a), 0);
    *port = tide_addr_port(&a);
    return s;
}

static tide_tcp_t *dial(uint16_t port) {
    tide_tcp_t *c;
    int r = tide_tcp_connect(&c, "127.0.0.1", port);
    cr_assert_eq(r, 0, "connect: %s", tide_strerror(r));
    return c;
}

/* Send a line and expect it back. */
static void ask(tide_tcp_t *c, const char *line) {
    size_t n = strlen(line);
    char in[64];
    cr_assert_eq(tide_tcp_write_all(c, line, n, NULL), (ssize_t)n);
    tide_scope_t sc;
    tide_timeout_begin(&sc, TT_SLACK(TIDE_SEC(5)));
    ssize_t r = tide_tcp_read_exact(c, in, n, NULL);
    tide_scope_end(&sc);
    cr_assert_eq(r, (ssize_t)n, "answer: %s", tide_strerror((int)r));
    cr_assert_eq(memcmp(in, line, n), 0);
}

/* Read until end of stream (or reset) within ns; returns 0 on end, -ETIMEDOUT if it stayed
 * open. */
static int expect_closed(tide_tcp_t *c, int64_t ns) {
    tide_scope_t sc;
    tide_timeout_begin(&sc, ns);
    char b[64];
    ssize_t n;
    while ((n = tide_tcp_read(c, b, sizeof b)) > 0) {
    }
    tide_scope_end(&sc);
    return n == 0 || n == -ECONNRESET ? 0 : (int)n;
}

static tide_server_stats_t stats(tide_server_t *s) {
    tide_server_stats_t st;
    tide_server_stats(s, &st);
    return st;
}

/* Wait (bounded) until the server's active count reaches n. */
static void wait_active(tide_server_t *s, uint64_t n) {
    int64_t end = tide_now() + TT_SLACK(TIDE_SEC(5));
    while (stats(s).active != n && tide_now() < end) tide_sleep(TIDE_MSEC(1));
    cr_assert_eq(stats(s).active, n);
}

/* ---- serving and counting --------------------------------------------------------------- */

static int serves_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    line_opts_t o = {0};
    uint16_t port;
    tide_server_t *s = start(&cfg, &o, &port);
    tide_tcp_t *c[8];
    for (int i = 0; i < 8; i++) c[i] = dial(port);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 8; i++) ask(c[i], "hello\n");
    /* Pipelined: two requests in one write, both answered. */
    cr_assert_eq(tide_tcp_write_all(c[0], "a\nb\n", 4, NULL), 4);
    char in[4];
    cr_assert_eq(tide_tcp_read_exact(c[0], in, 4, NULL), 4);
    cr_assert_eq(memcmp(in, "a\nb\n", 4), 0);
    wait_active(s, 8);
    tide_server_stats_t st = stats(s);
    cr_assert_eq(st.accepted, 8);
    cr_assert_eq(st.refused + st.errors + st.idle_timeouts + st.header_timeouts, 0);
    for (int i = 0; i < 8; i++) tide_tcp_close(c[i]);
    wait_active(s, 0);
    cr_assert_eq(atomic_load(&o.requests), 26);
    cr_assert_eq(tide_server_shutdown(s, TIDE_SEC(1)), 0);
    /* No longer listening. */
    tide_tcp_t *late;
    cr_assert_eq(tide_tcp_connect(&late, "127.0.0.1", port), -ECONNREFUSED);
    tide_server_free(s);
    return 0;
}

Test(serve, serves_counts_and_stops) {
    tt_run(serves_main, NULL, 2);
}

/* ---- max_conns -------------------------------------------------------------------------- */

static int max_backlog_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    cfg.max_conns = 2;
    uint16_t port;
    tide_server_t *s = start(&cfg, NULL, &port);
    tide_tcp_t *a = dial(port), *b = dial(port);
    ask(a, "a\n");
    ask(b, "b\n");
    /* The third connects (the kernel's backlog takes it) but is not served while two are
     * open. */
    tide_tcp_t *c = dial(port);
    cr_assert_eq(tide_tcp_write_all(c, "c\n", 2, NULL), 2);
    char in[2];
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_MSEC(200));
    cr_assert_eq(tide_tcp_read(c, in, 2), -ETIMEDOUT);
    tide_scope_end(&sc);
    cr_assert_eq(stats(s).accepted, 2);
    cr_assert_eq(stats(s).active, 2);
    /* One closes: the waiting one is accepted and answered. */
    tide_tcp_close(a);
    tide_timeout_begin(&sc, TT_SLACK(TIDE_SEC(5)));
    cr_assert_eq(tide_tcp_read_exact(c, in, 2, NULL), 2);
    tide_scope_end(&sc);
    cr_assert_eq(memcmp(in, "c\n", 2), 0);
    cr_assert_eq(stats(s).accepted, 3);
    cr_assert_eq(stats(s).refused, 0);
    tide_tcp_close(b);
    tide_tcp_close(c);
    cr_assert_eq(tide_server_shutdown(s, TIDE_SEC(1)), 0);
    tide_server_free(s);
    return 0;
}

Test(serve, max_conns_waits_in_backlog) {
    tt_run(max_backlog_main, NULL, 2);
}

static int max_refuse_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    cfg.max_conns = 2;
    cfg.refuse_excess = 1;
    uint16_t port;
    tide_server_t *s = start(&cfg, NULL, &port);
    tide_tcp_t *a = dial(port), *b = dial(port);
    ask(a, "a\n");
    ask(b, "b\n");
    /* Over the limit: accepted and closed at once. */
    for (int i = 0; i < 3; i++) {
        tide_tcp_t *c = dial(port);
        cr_assert_eq(expect_closed(c, TT_SLACK(TIDE_SEC(2))), 0);
        tide_tcp_close(c);
    }
    cr_assert_eq(stats(s).refused, 3);
    cr_assert_eq(stats(s).accepted, 2);
    ask(a, "still\n");
    tide_tcp_close(a);
    wait_active(s, 1);
    tide_tcp_t *c = dial(port);
    ask(c, "now\n");
    tide_tcp_close(b);
    tide_tcp_close(c);
    cr_assert_eq(tide_server_shutdown(s, TIDE_SEC(1)), 0);
    tide_server_free(s);
    return 0;
}

Test(serve, max_conns_refuses_excess) {
    tt_run(max_refuse_main, NULL, 2);
}

/* ---- descriptor exhaustion -------------------------------------------------------------- */

#define LIVE 4
#define PENDING 6

typedef struct raw {
    int fd[PENDING];
    uint16_t port;
    int result;
} raw_t;

/* Plain blocking sockets, opened before the limit came down: connecting needs no new
 * descriptor. Runs on the blocking pool. */
static int raw_connect(void *arg) {
    raw_t *r = arg;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(r->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    for (int i = 0; i < PENDING; i++)
        if (connect(r->fd[i], (struct sockaddr *)&a, sizeof a) < 0) return -errno;
    for (int i = 0; i < PENDING; i++)
        if (send(r->fd[i], "raw\n", 4, MSG_NOSIGNAL) != 4) return -EIO;
    return 0;
}

static int raw_answers(void *arg) {
    raw_t *r = arg;
    for (int i = 0; i < PENDING; i++) {
        char in[4];
        if (recv(r->fd[i], in, 4, MSG_WAITALL) != 4 || memcmp(in, "raw\n", 4)) return -EIO;
    }
    return 0;
}

static int emfile_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    line_opts_t o = {0};
    uint16_t port;
    tide_server_t *s = start(&cfg, &o, &port);
    tide_tcp_t *live[LIVE];
    for (int i = 0; i < LIVE; i++) {
        live[i] = dial(port);
        ask(live[i], "live\n");
    }
    static raw_t raw;
    raw.port = port;
    for (int i = 0; i < PENDING; i++) cr_assert_geq(raw.fd[i] = socket(AF_INET, SOCK_STREAM, 0), 0);
    struct timeval tv = {.tv_sec = 10};
    for (int i = 0; i < PENDING; i++)
        setsockopt(raw.fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

    /* No new descriptor from here: the lowest free one is at the limit. */
    struct rlimit saved;
    tt_nofile_at_limit(&saved);
    uint64_t accepts0 = tt_accept_calls();
    int r = tide_spawn_blocking(raw_connect, &raw);
    cr_assert_eq(r, 0, "raw connect: %s", tide_strerror(r));

    /* Accept is out of descriptors: the live connections are still served, nothing is
     * counted as an error, and the process does not spin. */
    for (int round = 0; round < 10; round++)
        for (int i = 0; i < LIVE; i++) ask(live[i], "again\n");
    /* Counted, not timed (process CPU against wall time trips on a loaded machine): a few
     * accept calls in 300 ms (the back-off doubles up to 100 ms), not thousands; the runtime
     * parks instead of polling the listener that stays readable; few task switches. */
    uint64_t a0 = tt_accept_calls(), e0 = tt_epoll_wait_calls(), r0 = tt_tasks_run();
    tide_sleep(TIDE_MSEC(300));
    uint64_t accepts = tt_accept_calls() - a0, polls = tt_epoll_wait_calls() - e0,
             runs = tt_tasks_run() - r0;
    cr_log_info("out of descriptors, 300 ms: %llu accept calls, %llu epoll_wait calls, "
                "%llu task switches", (unsigned long long)accepts, (unsigned long long)polls,
                (unsigned long long)runs);
    cr_assert_lt(accepts, 50, "accept spins out of descriptors: %llu calls in 300 ms",
                 (unsigned long long)accepts);
    cr_assert_lt(polls, 1000, "the runtime polls a listener it cannot serve: %llu epoll_wait "
                 "calls in 300 ms", (unsigned long long)polls);
    cr_assert_lt(runs, 200, "%llu task switches in 300 ms of idling", (unsigned long long)runs);
    cr_assert_geq(tt_accept_calls() - accepts0, 3, "accept never retried after backing off");
    tide_server_stats_t st = stats(s);
    cr_assert_eq(st.accepted, LIVE);
    cr_assert_eq(st.errors, 0);

    /* Descriptors come back as live connections close: the backlog is served. */
    for (int i = 0; i < LIVE; i++) tide_tcp_close(live[i]);
    r = tide_spawn_blocking(raw_answers, &raw);
    cr_assert_eq(r, 0, "pending connections not served");
    cr_assert_eq(stats(s).accepted, LIVE + PENDING);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    for (int i = 0; i < PENDING; i++) close(raw.fd[i]);
    cr_assert_eq(tide_server_shutdown(s, TIDE_SEC(2)), 0);
    cr_assert_eq(stats(s).errors, 0);
    tide_server_free(s);
    return 0;
}

Test(serve, emfile_backs_off_and_keeps_serving, .timeout = 120) {
    tt_run(emfile_main, NULL, 2);
}

/* ---- timeouts --------------------------------------------------------------------------- */

static int idle_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    cfg.idle_timeout_ns = TIDE_MSEC(300);
    cfg.header_timeout_ns = TIDE_SEC(30);
    uint16_t port;
    tide_server_t *s = start(&cfg, NULL, &port);
    tide_tcp_t *c = dial(port);
    /* Requests within the idle timeout keep the connection: 400 ms in all, so the timeout is
     * counted from the last request, not from the first; each gap leaves 200 ms for a loaded
     * machine's delays. */
    int64_t t0 = 0;
    for (int i = 0; i < 5; i++) {
        if (i) tide_sleep(TIDE_MSEC(100));
        t0 = tide_now(); /* the server cannot see the request, so start its idle time, earlier */
        ask(c, "x\n");
    }
    cr_assert_eq(expect_closed(c, TT_SLACK(TIDE_SEC(3))), 0);
    int64_t took = tide_now() - t0;
    /* Not before the timeout (less the server's coarse clock, which lags by a tick). */
    cr_assert_geq(took, TIDE_MSEC(280), "closed after %lld ns", (long long)took);
    tide_tcp_close(c);
    wait_active(s, 0);
    cr_assert_eq(stats(s).idle_timeouts, 1);
    cr_assert_eq(stats(s).header_timeouts, 0);
    cr_assert_eq(tide_server_shutdown(s, 0), 0);
    tide_server_free(s);
    return 0;
}

Test(serve, idle_timeout_closes_keepalive) {
    tt_run(idle_main, NULL, 2);
}

/* The idle sweep expires a connection left idle while another, asking every 50 ms, lives on
 * through many sweeps; the handlers' idle reads end with -ETIMEDOUT. */
static int idle_sweep_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    int64_t idle = TIDE_MSEC(400);
    cfg.idle_timeout_ns = idle;
    cfg.header_timeout_ns = TIDE_SEC(30);
    static line_opts_t o;
    uint16_t port;
    tide_server_t *s = start(&cfg, &o, &port);
    tide_tcp_t *quiet = dial(port), *active = dial(port);
    ask(quiet, "q\n");
    int64_t t0 = tide_now(), end = t0 + TT_SLACK(TIDE_SEC(5));
    int closed = -ETIMEDOUT;
    while (closed != 0 && tide_now() < end) {
        ask(active, "a\n");
        closed = expect_closed(quiet, TIDE_MSEC(50)); /* and the pause between requests */
    }
    cr_assert_eq(closed, 0, "the idle connection was never closed");
    cr_assert_geq(tide_now() - t0, idle - TIDE_MSEC(20)); /* the coarse clock's tick */
    cr_assert_eq(stats(s).idle_timeouts, 1);
    ask(active, "still here\n");
    cr_assert_eq(expect_closed(active, TT_SLACK(TIDE_SEC(3))), 0);
    tide_tcp_close(quiet);
    tide_tcp_close(active);
    wait_active(s, 0);
    cr_assert_eq(stats(s).idle_timeouts, 2);
    cr_assert_eq(atomic_load(&o.read_timeouts), 2);
    cr_assert_eq(stats(s).errors, 0);
    cr_assert_eq(tide_server_shutdown(s, 0), 0);
    tide_server_free(s);
    return 0;
}

Test(serve, idle_sweep_expires_only_idle_connections) {
    tt_run(idle_sweep_main, NULL, 2);
}

static int header_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    cfg.idle_timeout_ns = TIDE_SEC(30);
    cfg.header_timeout_ns = TIDE_MSEC(300);
    uint16_t port;
    tide_server_t *s = start(&cfg, NULL, &port);

    /* A connection that never sends: cut at the header timeout (first byte). */
    tide_tcp_t *quiet = dial(port);
    /* A slowloris: a byte every 50 ms, never a full line; each byte would reset a per-read
     * timeout, but the header timeout counts from the request's first byte. */
    tide_tcp_t *slow = dial(port);
    ask(slow, "first\n"); /* a full request, then a trickled one */
    int64_t t0 = tide_now();
    int sent = 0;
    while (tide_now() - t0 < TT_SLACK(TIDE_SEC(3))) {
        if (tide_tcp_write(slow, "z", 1) != 1) break;
        sent++;
        char b;
        tide_scope_t sc;
        tide_timeout_begin(&sc, TIDE_MSEC(50));
        ssize_t n = tide_tcp_read(slow, &b, 1);
        tide_scope_end(&sc);
        if (n != -ETIMEDOUT) break; /* closed (0 or a reset) */
    }
    int64_t took = tide_now() - t0;
    cr_assert_lt(took, TT_SLACK(TIDE_SEC(2)), "slowloris held for %lld ns", (long long)took);
    cr_assert_geq(took, TIDE_MSEC(250));
    cr_assert_gt(sent, 3);
    cr_assert_eq(expect_closed(quiet, TT_SLACK(TIDE_SEC(2))), 0);
    tide_tcp_close(quiet);
    tide_tcp_close(slow);
    wait_active(s, 0);
    cr_assert_eq(stats(s).header_timeouts, 2);
    cr_assert_eq(stats(s).idle_timeouts, 0);
    cr_assert_eq(tide_server_shutdown(s, 0), 0);
    tide_server_free(s);
    return 0;
}

Test(serve, header_timeout_cuts_slowloris) {
    tt_run(header_main, NULL, 2);
}

/* ---- drain ------------------------------------------------------------------------------ */

static int drain_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    static line_opts_t o;
    o.work = TIDE_MSEC(200);
    uint16_t port;
    tide_server_t *s = start(&cfg, &o, &port);
    tide_tcp_t *idle = dial(port), *busy = dial(port);
    ask(idle, "i\n");
    cr_assert_eq(tide_tcp_write_all(busy, "b\n", 2, NULL), 2);
    int64_t end = tide_now() + TT_SLACK(TIDE_SEC(5));
    while (atomic_load(&o.working) == 0 && tide_now() < end) tide_sleep(TIDE_MSEC(1));
    cr_assert_eq(atomic_load(&o.working), 1);

    int64_t t0 = tide_now();
    cr_assert_eq(tide_server_shutdown(s, TIDE_SEC(5)), 0);
    int64_t took = tide_now() - t0;
    cr_assert_lt(took, TT_SLACK(TIDE_SEC(2)));
    /* The busy one got its answer, the idle one was closed, neither was cancelled. */
    char in[2];
    cr_assert_eq(tide_tcp_read_exact(busy, in, 2, NULL), 2);
    cr_assert_eq(expect_closed(busy, TT_SLACK(TIDE_SEC(1))), 0);
    cr_assert_eq(expect_closed(idle, TT_SLACK(TIDE_SEC(1))), 0);
    tide_tcp_t *late;
    cr_assert_eq(tide_tcp_connect(&late, "127.0.0.1", port), -ECONNREFUSED);
    tide_server_stats_t st = stats(s);
    cr_assert_eq(st.cancelled, 0);
    cr_assert_eq(st.active, 0);
    cr_assert_eq(atomic_load(&o.requests), 2);
    tide_tcp_close(idle);
    tide_tcp_close(busy);
    tide_server_free(s);
    return 0;
}

Test(serve, drain_closes_idle_and_lets_busy_finish) {
    tt_run(drain_main, NULL, 2);
}

static int drain_cancel_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    static line_opts_t o;
    o.work = TIDE_SEC(60); /* never finishes by itself */
    uint16_t port;
    tide_server_t *s = start(&cfg, &o, &port);
    tide_tcp_t *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = dial(port);
        cr_assert_eq(tide_tcp_write_all(c[i], "w\n", 2, NULL), 2);
    }
    int64_t end = tide_now() + TT_SLACK(TIDE_SEC(5));
    while (atomic_load(&o.working) < 3 && tide_now() < end) tide_sleep(TIDE_MSEC(1));
    int64_t t0 = tide_now();
    cr_assert_eq(tide_server_shutdown(s, TIDE_MSEC(150)), 3);
    int64_t took = tide_now() - t0;
    cr_assert_geq(took, TIDE_MSEC(140));
    cr_assert_lt(took, TT_SLACK(TIDE_SEC(2)));
    cr_assert_eq(atomic_load(&o.working), 0);
    tide_server_stats_t st = stats(s);
    cr_assert_eq(st.cancelled, 3);
    cr_assert_eq(st.active, 0);
    cr_assert_eq(st.errors, 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(expect_closed(c[i], TT_SLACK(TIDE_SEC(1))), 0);
        tide_tcp_close(c[i]);
    }
    /* A second shutdown and free are harmless. */
    cr_assert_eq(tide_server_shutdown(s, TIDE_SEC(1)), 0);
    tide_server_free(s);
    return 0;
}

Test(serve, drain_cancels_at_end_of_grace) {
    tt_run(drain_cancel_main, NULL, 2);
}

/* Freeing a server with live connections shuts it down (grace 0). */
static int free_live_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    uint16_t port;
    tide_server_t *s = start(&cfg, NULL, &port);
    tide_tcp_t *c = dial(port);
    ask(c, "x\n");
    tide_server_free(s);
    cr_assert_eq(expect_closed(c, TT_SLACK(TIDE_SEC(1))), 0);
    tide_tcp_close(c);
    return 0;
}

Test(serve, free_shuts_down) {
    tt_run(free_live_main, NULL, 2);
}

/* ---- misuse ----------------------------------------------------------------------------- */

static int dummy(tide_conn_t *c, void *arg) {
    return 0;
}

static int misuse_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_t *s;
    cr_assert_eq(tide_server_config_init(NULL), -EINVAL);
    tide_server_config_init(&cfg);
    cr_assert_eq(tide_server_start(&s, &cfg), -EINVAL); /* no handler */
    cfg.handler = dummy;
    cr_assert_eq(tide_server_start(NULL, &cfg), -EINVAL);
    cr_assert_eq(tide_server_start(&s, NULL), -EINVAL);
    cfg.idle_timeout_ns = -1;
    cr_assert_eq(tide_server_start(&s, &cfg), -EINVAL);
    cfg.idle_timeout_ns = 0;
    cfg.host = "not an address";
    cr_assert_eq(tide_server_start(&s, &cfg), -EINVAL);
    cr_assert_eq(tide_server_shutdown(NULL, 0), -EINVAL);
    cr_assert_eq(tide_conn_read(NULL, NULL, 0), -EINVAL);
    cr_assert_eq(tide_conn_write(NULL, "", 0), -EINVAL);
    tide_server_free(NULL);
    /* A port in use. */
    cfg.host = "127.0.0.1";
    cr_assert_eq(tide_server_start(&s, &cfg), 0);
    tide_addr_t a;
    cr_assert_eq(tide_server_local_addr(s, &a), 0);
    tide_server_t *s2;
    cfg.port = tide_addr_port(&a);
    cr_assert_eq(tide_server_start(&s2, &cfg), -EADDRINUSE);
    cr_assert_eq(tide_server_shutdown(s, 0), 0);
    cr_assert_eq(tide_server_local_addr(s, &a), -EBADF);
    tide_server_free(s);
    return 0;
}

Test(serve, misuse) {
    tt_run(misuse_main, NULL, 2);
}

/* ---- write timeout ---------------------------------------------------------------------- */

static char flood_buf[1 << 20];

/* Answers any first byte with up to 256 MiB: a client that does not read blocks the writes.
 * arg not NULL: with tide_conn_writev, the buffer in two halves. */
static int flood_handler(tide_conn_t *c, void *arg) {
    char b;
    ssize_t n = tide_conn_read(c, &b, 1);
    if (n <= 0) return (int)n;
    tide_conn_busy(c);
    struct iovec halves[2] = {{flood_buf, sizeof flood_buf / 2},
                              {flood_buf + sizeof flood_buf / 2, sizeof flood_buf / 2}};
    for (int i = 0; i < 256; i++) {
        ssize_t w = arg ? tide_conn_writev(c, halves, 2)
                        : tide_conn_write(c, flood_buf, sizeof flood_buf);
        if (w < 0) return (int)w;
    }
    return 0;
}

static int write_timeout_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    cfg.host = "127.0.0.1";
    cfg.write_timeout_ns = TIDE_MSEC(200);
    cfg.handler = flood_handler;
    cfg.arg = arg;
    tide_server_t *s;
    cr_assert_eq(tide_server_start(&s, &cfg), 0);
    tide_addr_t a;
    cr_assert_eq(tide_server_local_addr(s, &a), 0);
    tide_tcp_t *c = dial(tide_addr_port(&a));
    cr_assert_eq(tide_tcp_write_all(c, "x", 1, NULL), 1);
    /* We never read: the server's write blocks and times out, and the connection ends. */
    int64_t end = tide_now() + TT_SLACK(TIDE_SEC(10));
    while (stats(s).write_timeouts == 0 && tide_now() < end) tide_sleep(TIDE_MSEC(5));
    cr_assert_eq(stats(s).write_timeouts, 1);
    wait_active(s, 0);
    cr_assert_eq(stats(s).errors, 0);
    tide_tcp_close(c);
    cr_assert_eq(tide_server_shutdown(s, 0), 0);
    tide_server_free(s);
    return 0;
}

Test(serve, write_timeout_ends_a_stalled_reader) {
    tt_run(write_timeout_main, NULL, 2);
}

Test(serve, write_timeout_ends_a_stalled_reader_of_a_writev) {
    tt_run(write_timeout_main, "writev", 2);
}

/* ---- SO_REUSEPORT ----------------------------------------------------------------------- */

static int reuseport_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    cfg.reuseport = 1;
    uint16_t port;
    tide_server_t *s1 = start(&cfg, NULL, &port), *s2;
    cfg.port = port;
    cr_assert_eq(tide_server_start(&s2, &cfg), 0, "a second listener on the same port");
    /* The kernel spreads connections over both listeners; all are served. */
    enum { N = 24 };
    for (int i = 0; i < N; i++) {
        tide_tcp_t *c = dial(port);
        ask(c, "hi\n");
        tide_tcp_close(c);
    }
    uint64_t a1 = stats(s1).accepted, a2 = stats(s2).accepted;
    cr_assert_eq(a1 + a2, N);
    cr_assert(a1 > 0 && a2 > 0, "one listener took all: %llu/%llu", (unsigned long long)a1,
              (unsigned long long)a2);
    cr_assert_eq(tide_server_shutdown(s1, TIDE_SEC(1)), 0);
    cr_assert_eq(tide_server_shutdown(s2, TIDE_SEC(1)), 0);
    tide_server_free(s1);
    tide_server_free(s2);
    return 0;
}

Test(serve, reuseport_shares_a_port) {
    tt_run(reuseport_main, NULL, 2);
}

/* ---- a write larger than the socket takes at once --------------------------------------- */

#define BIG_LEN (8u << 20) /* far beyond the socket buffers: many partial sends and waits */

static int big_handler(tide_conn_t *c, void *arg) {
    char cmd;
    ssize_t n = tide_conn_read(c, &cmd, 1);
    if (n <= 0) return (int)n;
    tide_conn_busy(c);
    unsigned char *big = malloc(BIG_LEN);
    if (!big) return -ENOMEM;
    for (size_t i = 0; i < BIG_LEN; i++) big[i] = (unsigned char)(i * 7 + (i >> 12));
    ssize_t w = tide_conn_write(c, big, BIG_LEN);
    free(big);
    return w == (ssize_t)BIG_LEN ? 0 : (int)(w < 0 ? w : -EIO);
}

static int big_write_main(void *arg) {
    tide_server_config_t cfg;
    tide_server_config_init(&cfg);
    cfg.host = "127.0.0.1";
    cfg.write_timeout_ns = TIDE_SEC(30); /* under a write timeout, as the examples run */
    cfg.handler = big_handler;
    tide_server_t *s;
    cr_assert_eq(tide_server_start(&s, &cfg), 0);
    tide_addr_t a;
    cr_assert_eq(tide_server_local_addr(s, &a), 0);
    tide_tcp_t *c = dial(tide_addr_port(&a));
    cr_assert_eq(tide_tcp_write_all(c, "x", 1, NULL), 1);
    /* Read it back in small, slow-ish pieces, so the server's sends stop and resume. */
    size_t got = 0;
    unsigned char b[4096];
    for (;;) {
        ssize_t n = tide_tcp_read(c, b, sizeof b);
        cr_assert_geq(n, 0, "read: %s", tide_strerror((int)n));
        if (n == 0) break;
        for (ssize_t k = 0; k < n; k++, got++)
            cr_assert_eq(b[k], (unsigned char)(got * 7 + (got >> 12)), "byte %zu", got);
        if ((got & 0xfffff) < (size_t)n) tide_yield();
    }
    cr_assert_eq(got, BIG_LEN, "every byte arrived, in order");
    wait_active(s, 0);
    tide_server_stats_t st = stats(s);
    cr_assert_eq(st.errors + st.write_timeouts, 0);
    tide_tcp_close(c);
    cr_assert_eq(tide_server_shutdown(s, 0), 0);
    tide_server_free(s);
    return 0;
}

Test(serve, conn_write_sends_a_large_buffer_whole) {
    tt_run(big_write_main, NULL, 2);
}
