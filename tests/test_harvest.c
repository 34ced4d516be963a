/* A poll harvest behind a computing connection task (runtime/park.c): the worker asleep in
 * the socket poll wakes with readiness for several connections at once and queues all their
 * tasks in its own deque; the first it runs is a request that computes without yielding. The
 * rest of the harvested batch, and every later wake-up, must still be served by the other
 * workers while it computes: whether the harvest announces what it queued or keeps it for
 * itself, the stall watch (a sleeping worker ticks and steals a deque whose owner began no
 * turn since its last tick) bounds the wait.
 *
 * The scene: every connection runs the same server task (read; a 'B' request computes until
 * the client is done, anything else is echoed). The client, a plain thread on blocking
 * sockets, lets the workers go idle, then writes the 'B' and the first byte of every other
 * connection back to back, so one poll usually finds them together; then it goes on with
 * echo round trips. All of them must complete while the 'B' task still computes (the cap
 * only bounds a failing run): behaviour, not a timing bar. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHO_CONNS 8
#define ROUND_TRIPS 64                /* the first ECHO_CONNS of them in the harvested batch */
#define BUSY_CAP_NS TIDE_SEC(5)       /* a stalled run fails after this long, not never */

typedef struct harvest_ctx {
    uint16_t port;
    tide_tcp_t *conn[1 + ECHO_CONNS]; /* server ends: [0] gets the computing request */
    _Atomic int busy_started;         /* the 'B' request is being computed */
    _Atomic int client_done;          /* the client finished its round trips (1) or failed (-1) */
    _Atomic int busy_capped;          /* the 'B' request hit its cap, the client unfinished */
    _Atomic int trips_during;         /* round trips completed while the 'B' request computed */
    int client_err;                   /* first error the client met (0: none) */
} harvest_ctx_t;

/* ---- the client: plain blocking sockets -------------------------------------------------- */

static void *client_main(void *arg) {
    harvest_ctx_t *ctx = arg;
    int fds[1 + ECHO_CONNS];
    int n = 0, err = 0;
    for (; n < 1 + ECHO_CONNS; n++) { /* one after another: accepted in this order */
        fds[n] = tt_connect_blocking(ctx->port);
        if (fds[n] < 0) {
            err = fds[n];
            goto out;
        }
    }
    /* Let every worker go idle: one into the socket poll, the others onto their futexes. */
    usleep(50000);
    /* The batch: the computing request first, then a request on every other connection,
     * before the poller is back from its wake-up. */
    char b = 'B';
    if (write(fds[0], &b, 1) != 1) {
        err = -EIO;
        goto out;
    }
    for (int i = 0; i < ECHO_CONNS; i++) {
        char out = (char)('a' + i);
        if (write(fds[1 + i], &out, 1) != 1) {
            err = -EIO;
            goto out;
        }
    }
    /* Every round trip from here on is one made while the request computes. */
    while (!atomic_load(&ctx->busy_started) && !atomic_load(&ctx->busy_capped)) usleep(100);
    for (int i = 0; i < ROUND_TRIPS; i++) {
        int fd = fds[1 + i % ECHO_CONNS];
        char out = (char)('a' + i % 26), in = 0;
        /* The batch's requests were written above; later trips write, then read. */
        if ((i >= ECHO_CONNS && write(fd, &out, 1) != 1) || read(fd, &in, 1) != 1 ||
            in != out) {
            err = -EIO;
            goto out;
        }
        if (!atomic_load(&ctx->busy_capped)) atomic_fetch_add(&ctx->trips_during, 1);
    }
out:
    ctx->client_err = err;
    atomic_store_explicit(&ctx->client_done, err ? -1 : 1, memory_order_release);
    /* Closing ends every connection task (EOF). */
    for (int i = 0; i < n; i++) close(fds[i]);
    return NULL;
}

/* ---- the server: one task per connection, all alike ---------------------------------------- */

typedef struct conn_arg {
    harvest_ctx_t *ctx;
    tide_tcp_t *conn;
} conn_arg_t;

static int conn_task(void *arg) {
    harvest_ctx_t *ctx = ((conn_arg_t *)arg)->ctx;
    tide_tcp_t *c = ((conn_arg_t *)arg)->conn;
    char buf[64];
    ssize_t n;
    while ((n = tide_tcp_read(c, buf, sizeof buf)) > 0) {
        if (buf[0] == 'B') {
            atomic_fetch_add(&ctx->busy_started, 1);
            /* Compute without yielding: no tide call until the client is done or the cap. */
            int64_t cap = tide_now() + BUSY_CAP_NS;
            while (!atomic_load_explicit(&ctx->client_done, memory_order_acquire)) {
                if (tide_now() >= cap) {
                    atomic_store(&ctx->busy_capped, 1);
                    break;
                }
            }
            continue;
        }
        if (tide_tcp_write_all(c, buf, (size_t)n, NULL) != n) return -EIO;
    }
    return n < 0 ? (int)n : 0;
}

static int join_thread(void *arg) {
    void *ret;
    int r = pthread_join(*(pthread_t *)arg, &ret);
    return r ? -r : 0;
}

static int harvest_main(void *arg) {
    (void)arg;
    harvest_ctx_t ctx = {0};
    tide_tcp_t *l;
    cr_assert_eq(tide_tcp_listen(&l, "127.0.0.1", 0, NULL), 0);
    tide_addr_t a;
    cr_assert_eq(tide_tcp_local_addr(l, &a), 0);
    ctx.port = tide_addr_port(&a);

    pthread_t client;
    cr_assert_eq(pthread_create(&client, NULL, client_main, &ctx), 0);
    for (int i = 0; i < 1 + ECHO_CONNS; i++) cr_assert_eq(tide_tcp_accept(l, &ctx.conn[i], NULL), 0);
    cr_assert_eq(tide_tcp_close(l), 0);

    tide_task_t t[1 + ECHO_CONNS];
    conn_arg_t ca[1 + ECHO_CONNS];
    for (int i = 0; i < 1 + ECHO_CONNS; i++) {
        ca[i] = (conn_arg_t){&ctx, ctx.conn[i]};
        cr_assert_eq(tide_spawn(&t[i], conn_task, &ca[i]), 0);
    }
    for (int i = 0; i < 1 + ECHO_CONNS; i++) {
        int st = -1;
        cr_assert_eq(tide_join(t[i], &st), 0);
        cr_assert_eq(st, 0, "connection %d: %s", i, tide_strerror(st));
    }
    cr_assert_eq(tide_spawn_blocking(join_thread, &client), 0);
    cr_assert_eq(ctx.client_err, 0, "client: %s", tide_strerror(ctx.client_err));
    cr_assert_eq(atomic_load(&ctx.busy_started), 1);
    cr_assert_eq(atomic_load(&ctx.busy_capped), 0,
                 "a request computed for %d s and only %d of %d round trips got through",
                 (int)(BUSY_CAP_NS / TIDE_SEC(1)), atomic_load(&ctx.trips_during), ROUND_TRIPS);
    cr_assert_eq(atomic_load(&ctx.trips_during), ROUND_TRIPS,
                 "every round trip completed while the request computed");
    for (int i = 0; i < 1 + ECHO_CONNS; i++) cr_assert_eq(tide_tcp_close(ctx.conn[i]), 0);
    return 0;
}

Test(harvest, batch_behind_a_computing_request_served_on_two_workers) {
    tt_run(harvest_main, NULL, 2);
}

Test(harvest, batch_behind_a_computing_request_served_on_four_workers) {
    tt_run(harvest_main, NULL, 4);
}

/* ---- a backlog the harvesting worker does not keep up with is shared ----------------------
 * The harvest keeps what it queued while its worker keeps up, and announces it (wakes one
 * sleeper) once the worker has not drained it within a bound. The scene: SHARE_CONNS
 * connections whose requests each compute for SHARE_COMPUTE_NS without yielding (so turns
 * still begin between them, and the stall watch, which steals only from a worker that began
 * no turn for a tick, stays out of it). The client writes every request back to back after
 * the workers went idle; the requests must not all be served one after another by the worker
 * that harvested them: at least two workers run them. */
#define SHARE_CONNS 16
#define SHARE_COMPUTE_NS TIDE_MSEC(1) /* 16 ms of work: time for a woken worker to get a CPU */

typedef struct share_ctx {
    uint16_t port;
    int client_err;                    /* first error the client met (0: none) */
    pthread_t ran_on[SHARE_CONNS];     /* the worker thread that computed request i */
    _Atomic int served;                /* requests computed */
} share_ctx_t;

static void *share_client(void *arg) {
    share_ctx_t *ctx = arg;
    int fds[SHARE_CONNS];
    int n = 0, err = 0;
    for (; n < SHARE_CONNS; n++) {
        fds[n] = tt_connect_blocking(ctx->port);
        if (fds[n] < 0) {
            err = fds[n];
            goto out;
        }
    }
    usleep(50000); /* the workers go idle: one into the socket poll */
    for (int i = 0; i < SHARE_CONNS; i++) {
        char c = (char)i;
        if (write(fds[i], &c, 1) != 1) {
            err = -EIO;
            goto out;
        }
    }
    for (int i = 0; i < SHARE_CONNS; i++) {
        char in = -1;
        if (read(fds[i], &in, 1) != 1 || in != (char)i) {
            err = -EIO;
            goto out;
        }
    }
out:
    ctx->client_err = err;
    for (int i = 0; i < n; i++) close(fds[i]);
    return NULL;
}

typedef struct share_arg {
    share_ctx_t *ctx;
    tide_tcp_t *conn;
} share_arg_t;

static int share_conn(void *arg) {
    share_ctx_t *ctx = ((share_arg_t *)arg)->ctx;
    tide_tcp_t *c = ((share_arg_t *)arg)->conn;
    char b;
    ssize_t n;
    while ((n = tide_tcp_read(c, &b, 1)) > 0) {
        int64_t until = tide_now() + SHARE_COMPUTE_NS;
        while (tide_now() < until) {
        }
        if (b >= 0 && b < SHARE_CONNS) ctx->ran_on[(int)b] = pthread_self();
        atomic_fetch_add(&ctx->served, 1);
        if (tide_tcp_write_all(c, &b, 1, NULL) != 1) return -EIO;
    }
    return n < 0 ? (int)n : 0;
}

static int share_main(void *arg) {
    (void)arg;
    share_ctx_t ctx = {0};
    tide_tcp_t *l, *conn[SHARE_CONNS];
    cr_assert_eq(tide_tcp_listen(&l, "127.0.0.1", 0, NULL), 0);
    tide_addr_t a;
    cr_assert_eq(tide_tcp_local_addr(l, &a), 0);
    ctx.port = tide_addr_port(&a);
    pthread_t client;
    cr_assert_eq(pthread_create(&client, NULL, share_client, &ctx), 0);
    for (int i = 0; i < SHARE_CONNS; i++) cr_assert_eq(tide_tcp_accept(l, &conn[i], NULL), 0);
    cr_assert_eq(tide_tcp_close(l), 0);
    tide_task_t t[SHARE_CONNS];
    share_arg_t sa[SHARE_CONNS];
    for (int i = 0; i < SHARE_CONNS; i++) {
        sa[i] = (share_arg_t){&ctx, conn[i]};
        cr_assert_eq(tide_spawn(&t[i], share_conn, &sa[i]), 0);
    }
    for (int i = 0; i < SHARE_CONNS; i++) {
        int st = -1;
        cr_assert_eq(tide_join(t[i], &st), 0);
        cr_assert_eq(st, 0, "connection %d: %s", i, tide_strerror(st));
    }
    cr_assert_eq(tide_spawn_blocking(join_thread, &client), 0);
    cr_assert_eq(ctx.client_err, 0, "client: %s", tide_strerror(ctx.client_err));
    cr_assert_eq(atomic_load(&ctx.served), SHARE_CONNS);
    int workers = 0;
    for (int i = 0; i < SHARE_CONNS; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++) seen = seen || pthread_equal(ctx.ran_on[j], ctx.ran_on[i]);
        workers += !seen;
    }
    cr_assert(workers >= 2, "all %d computing requests ran on one worker", SHARE_CONNS);
    for (int i = 0; i < SHARE_CONNS; i++) cr_assert_eq(tide_tcp_close(conn[i]), 0);
    return 0;
}

Test(harvest, backlog_not_kept_up_with_is_shared_on_two_workers) {
    tt_run(share_main, NULL, 2);
}

Test(harvest, backlog_not_kept_up_with_is_shared_on_four_workers) {
    tt_run(share_main, NULL, 4);
}
