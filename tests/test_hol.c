/* No head-of-line stall: a task that computes without yielding on one worker must not hold
 * back the socket wake-ups of other connections while another worker is free to serve them.
 *
 * The scene: 2 workers, both idle (one sleeps in the socket poll, the other on its futex). A
 * byte arrives on the "busy" connection: the worker in the poll wakes its task, which then
 * computes without yielding until the test's client has finished 50 echo round trips on other
 * connections (or a cap of a few seconds passes). The round trips must all complete while the
 * busy task still runs: that is the behaviour checked (the cap only bounds a failing run). The
 * client is a plain thread on plain blocking sockets, so only the server side relies on tide.
 * The echo side is a task per connection, or a plain thread blocked on tide sockets; and with
 * three workers, two busy tasks.
 * ctest runs this file with the workers polling (the default) and with the driver thread
 * polling (test_hol_driver_polls, TIDE_IO_PARK=0). */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHO_CONNS 5
#define ROUND_TRIPS 50
#define BUSY_CAP_NS TIDE_SEC(5) /* a stalled run fails after this long, not never */

#define MAX_BUSY 2

typedef struct hol_ctx {
    bool threads;               /* the echo side is plain threads (else tasks) */
    int nbusy;                  /* busy connections and tasks (0: 1) */
    uint16_t port;
    tide_tcp_t *busy_conn[MAX_BUSY]; /* server ends of the busy connections */
    tide_tcp_t *echo[ECHO_CONNS]; /* server ends of the echo connections */
    _Atomic int busy_started;   /* busy tasks computing */
    _Atomic int client_done;    /* the client finished its round trips (1) or failed (-1) */
    _Atomic int busy_capped;    /* a busy task hit its cap with the client unfinished */
    _Atomic int trips_during;   /* round trips completed while the busy task computed */
    int client_err;             /* first error the client met (0: none) */
} hol_ctx_t;

/* ---- the client: plain blocking sockets -------------------------------------------------- */

static void *client_main(void *arg) {
    hol_ctx_t *ctx = arg;
    int fds[MAX_BUSY + ECHO_CONNS];
    int n = 0, err = 0, nb = ctx->nbusy;
    /* Connected one after another, so the server accepts them in this order. */
    for (; n < nb + ECHO_CONNS; n++) {
        fds[n] = tt_connect_blocking(ctx->port);
        if (fds[n] < 0) {
            err = fds[n];
            goto out;
        }
    }
    /* Let both workers go idle: one into the socket poll, the other onto its futex. */
    usleep(50000);
    /* One busy task at a time: each starts on whichever worker polls when its byte comes. */
    for (int i = 0; i < nb; i++) {
        char b = 'x';
        if (write(fds[i], &b, 1) != 1) {
            err = -EIO;
            goto out;
        }
        while (atomic_load(&ctx->busy_started) <= i && !atomic_load(&ctx->busy_capped))
            usleep(100);
    }
    for (int i = 0; i < ROUND_TRIPS; i++) {
        int fd = fds[nb + i % ECHO_CONNS];
        char out = (char)('a' + i % 26), in = 0;
        if (write(fd, &out, 1) != 1 || read(fd, &in, 1) != 1 || in != out) {
            err = -EIO;
            goto out;
        }
        if (!atomic_load(&ctx->busy_capped)) atomic_fetch_add(&ctx->trips_during, 1);
    }
out:
    ctx->client_err = err;
    atomic_store(&ctx->client_done, err ? -1 : 1);
    /* Closing ends the echo loops (EOF) and the busy task's final read. */
    for (int i = 0; i < n; i++) close(fds[i]);
    return NULL;
}

/* ---- the server side ------------------------------------------------------------------------ */

typedef struct busy_arg {
    hol_ctx_t *ctx;
    tide_tcp_t *conn;
} busy_arg_t;

static int busy_task(void *arg) {
    hol_ctx_t *ctx = ((busy_arg_t *)arg)->ctx;
    tide_tcp_t *conn = ((busy_arg_t *)arg)->conn;
    char b;
    cr_assert_eq(tide_tcp_read(conn, &b, 1), 1);
    atomic_fetch_add(&ctx->busy_started, 1);
    /* Compute without yielding: no tide call until the client is done or the cap passes. */
    int64_t cap = tide_now() + BUSY_CAP_NS;
    while (!atomic_load_explicit(&ctx->client_done, memory_order_acquire)) {
        if (tide_now() >= cap) {
            atomic_store(&ctx->busy_capped, 1);
            break;
        }
    }
    cr_assert_eq(tide_tcp_read(conn, &b, 1), 0); /* the client's close */
    return 0;
}

static int echo_loop(tide_tcp_t *c) {
    char buf[64];
    ssize_t n;
    while ((n = tide_tcp_read(c, buf, sizeof buf)) > 0)
        if (tide_tcp_write_all(c, buf, (size_t)n, NULL) != n) return -EIO;
    return n < 0 ? (int)n : 0;
}

static int echo_task(void *arg) {
    return echo_loop(arg);
}

static void *echo_thread(void *arg) {
    /* A plain thread: its reads block the thread on a futex until a socket poll wakes it. */
    return (void *)(intptr_t)echo_loop(arg);
}

static int join_thread(void *arg) {
    void *ret;
    int r = pthread_join(*(pthread_t *)arg, &ret);
    return r ? -r : (int)(intptr_t)ret;
}

static int hol_main(void *arg) {
    hol_ctx_t *ctx = arg;
    if (ctx->nbusy == 0) ctx->nbusy = 1;
    tide_tcp_t *l;
    cr_assert_eq(tide_tcp_listen(&l, "127.0.0.1", 0, NULL), 0);
    tide_addr_t a;
    cr_assert_eq(tide_tcp_local_addr(l, &a), 0);
    ctx->port = tide_addr_port(&a);

    pthread_t client;
    cr_assert_eq(pthread_create(&client, NULL, client_main, ctx), 0);
    for (int i = 0; i < ctx->nbusy; i++) cr_assert_eq(tide_tcp_accept(l, &ctx->busy_conn[i], NULL), 0);
    for (int i = 0; i < ECHO_CONNS; i++) cr_assert_eq(tide_tcp_accept(l, &ctx->echo[i], NULL), 0);
    cr_assert_eq(tide_tcp_close(l), 0);

    tide_task_t busy[MAX_BUSY], echo[ECHO_CONNS];
    busy_arg_t ba[MAX_BUSY];
    pthread_t th[ECHO_CONNS];
    for (int i = 0; i < ctx->nbusy; i++) {
        ba[i] = (busy_arg_t){ctx, ctx->busy_conn[i]};
        cr_assert_eq(tide_spawn(&busy[i], busy_task, &ba[i]), 0);
    }
    for (int i = 0; i < ECHO_CONNS; i++) {
        if (ctx->threads) cr_assert_eq(pthread_create(&th[i], NULL, echo_thread, ctx->echo[i]), 0);
        else cr_assert_eq(tide_spawn(&echo[i], echo_task, ctx->echo[i]), 0);
    }
    int st;
    for (int i = 0; i < ctx->nbusy; i++) {
        cr_assert_eq(tide_join(busy[i], &st), 0);
        cr_assert_eq(st, 0);
    }
    for (int i = 0; i < ECHO_CONNS; i++) {
        if (ctx->threads) {
            cr_assert_eq(tide_spawn_blocking(join_thread, &th[i]), 0);
        } else {
            cr_assert_eq(tide_join(echo[i], &st), 0);
            cr_assert_eq(st, 0, "echo task: %s", tide_strerror(st));
        }
    }
    cr_assert_eq(tide_spawn_blocking(join_thread, &client), 0);
    cr_assert_eq(ctx->client_err, 0, "client: %s", tide_strerror(ctx->client_err));
    cr_assert_eq(atomic_load(&ctx->busy_capped), 0,
                 "the busy task computed for %d s and only %d of %d round trips got through",
                 (int)(BUSY_CAP_NS / TIDE_SEC(1)), atomic_load(&ctx->trips_during), ROUND_TRIPS);
    cr_assert_eq(atomic_load(&ctx->trips_during), ROUND_TRIPS);
    for (int i = 0; i < ctx->nbusy; i++) cr_assert_eq(tide_tcp_close(ctx->busy_conn[i]), 0);
    for (int i = 0; i < ECHO_CONNS; i++) cr_assert_eq(tide_tcp_close(ctx->echo[i]), 0);
    return 0;
}

Test(hol, echo_tasks_served_while_a_task_computes) {
    hol_ctx_t ctx = {.threads = false};
    tt_run(hol_main, &ctx, 2);
}

Test(hol, plain_threads_served_while_a_task_computes) {
    hol_ctx_t ctx = {.threads = true};
    tt_run(hol_main, &ctx, 2);
}

/* Three workers, two of them computing (each picked up its task from the poll in turn): the
 * third must take the poll over after each of them. */
Test(hol, third_worker_serves_while_two_tasks_compute) {
    hol_ctx_t ctx = {.threads = false, .nbusy = 2};
    tt_run(hol_main, &ctx, 3);
}
