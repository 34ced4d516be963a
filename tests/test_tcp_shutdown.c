/* Sockets closed during shutdown: detached tasks that hold a listener, connections or a UDP
 * socket and close them as tide_runtime_close cancels them. Their closes complete (0, the
 * descriptor released) before the runtime tears down the I/O driver and the reactor, whose
 * socket records they touch; nothing is left open or counted live. Looped with random timing at 1 and 2 workers so
 * that ThreadSanitizer and AddressSanitizer see the close racing the teardown if it can. */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "driver.h" /* tide__io_live */
#include "testutil.h"

/* One runtime's life: what its tasks did while it was being freed. */
typedef struct life {
    _Atomic int opened;     /* sockets opened (listener, both ends of connections, UDP) */
    _Atomic int closes;     /* closes that returned 0 */
    _Atomic int bad_closes; /* closes that returned anything else */
    uint16_t port;          /* the listener's port */
} life_t;

static void ns_sleep(long ns) {
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* Vary where the close lands relative to the teardown: a few yields, sometimes a short sleep
 * (shielded, since the task is already cancelled and would not sleep otherwise), sometimes
 * straight away. */
static void jitter(void) {
    switch (tt_rand() % 4) {
    case 0: break;
    case 1: tt_random_yields(8); break;
    case 2: {
        tide_shield_t s;
        tide_shield_begin(&s);
        tide_sleep(TIDE_USEC(tt_rand() % 200));
        tide_shield_end(&s);
        break;
    }
    default: {
        /* Off the task's worker for a moment: the teardown runs on in the meantime. */
        tide_shield_t s;
        tide_shield_begin(&s);
        ns_sleep((long)(tt_rand() % 100000));
        tide_shield_end(&s);
        break;
    }
    }
}

static void close_counted(life_t *lf, tide_tcp_t *c) {
    jitter();
    int r = tide_tcp_close(c);
    if (r == 0) atomic_fetch_add(&lf->closes, 1);
    else atomic_fetch_add(&lf->bad_closes, 1);
}

typedef struct conn_arg {
    life_t *lf;
    tide_tcp_t *c;
} conn_arg_t;

/* Holds one connection: reads until cancelled (or the peer goes), then closes it. */
static int conn_task(void *p) {
    conn_arg_t a = *(conn_arg_t *)p;
    free(p);
    char buf[64];
    while (tide_tcp_read(a.c, buf, sizeof buf) > 0) {
    }
    close_counted(a.lf, a.c);
    return 0;
}

static void spawn_holder(life_t *lf, tide_tcp_t *c) {
    conn_arg_t *a = malloc(sizeof *a);
    cr_assert_not_null(a);
    *a = (conn_arg_t){lf, c};
    tide_spawn_opts_t so = {.name = "holder", .detached = 1};
    if (tide_spawn_opts(NULL, conn_task, a, &so) < 0) {
        free(a);
        close_counted(lf, c);
    }
}

typedef struct accept_arg {
    life_t *lf;
    tide_tcp_t *l;
} accept_arg_t;

/* Holds the listener: accepts, handing each connection to a holder, until cancelled; then
 * closes the listener (the closes of its connections may come before or after). */
static int accept_task(void *p) {
    accept_arg_t *a = p;
    for (;;) {
        tide_tcp_t *c;
        if (tide_tcp_accept(a->l, &c, NULL) < 0) break;
        atomic_fetch_add(&a->lf->opened, 1);
        spawn_holder(a->lf, c);
    }
    close_counted(a->lf, a->l);
    free(a);
    return 0;
}

/* Connects one client and holds it (the client end of a pair). */
static int client_task(void *p) {
    life_t *lf = p;
    tide_tcp_t *c;
    if (tide_tcp_connect(&c, "127.0.0.1", lf->port) < 0) return 0; /* cancelled first */
    atomic_fetch_add(&lf->opened, 1);
    spawn_holder(lf, c);
    return 0;
}

/* Holds a UDP socket: waits for a datagram that never comes, then closes it. */
static int udp_task(void *p) {
    life_t *lf = p;
    tide_udp_t *u;
    if (tide_udp_bind(&u, "127.0.0.1", 0) < 0) return 0; /* cancelled first */
    atomic_fetch_add(&lf->opened, 1);
    char buf[16];
    while (tide_udp_recv_from(u, buf, sizeof buf, NULL) >= 0) {
    }
    jitter();
    int r = tide_udp_close(u);
    if (r == 0) atomic_fetch_add(&lf->closes, 1);
    else atomic_fetch_add(&lf->bad_closes, 1);
    return 0;
}

enum { CLIENTS = 3 };

/* The main task: a listener held by a detached accept loop and a few connections, each end
 * held by a detached task; returns at once or after a moment, leaving them all to shutdown. */
static int server_main(void *p) {
    life_t *lf = p;
    tide_tcp_t *l;
    cr_assert_eq(tide_tcp_listen(&l, "127.0.0.1", 0, NULL), 0);
    atomic_fetch_add(&lf->opened, 1);
    tide_addr_t addr;
    cr_assert_eq(tide_tcp_local_addr(l, &addr), 0);
    lf->port = tide_addr_port(&addr);
    accept_arg_t *a = malloc(sizeof *a);
    cr_assert_not_null(a);
    *a = (accept_arg_t){lf, l};
    tide_spawn_opts_t so = {.name = "acceptor", .detached = 1};
    cr_assert_eq(tide_spawn_opts(NULL, accept_task, a, &so), 0);
    unsigned clients = tt_rand() % (CLIENTS + 1);
    so.name = "client";
    for (unsigned i = 0; i < clients; i++)
        cr_assert_eq(tide_spawn_opts(NULL, client_task, lf, &so), 0);
    if (tt_rand() % 2) {
        so.name = "udp";
        cr_assert_eq(tide_spawn_opts(NULL, udp_task, lf, &so), 0);
    }
    if (tt_rand() % 2) tide_sleep(TIDE_USEC(tt_rand() % 500));
    return 0;
}

static void lives(unsigned workers, int iterations) {
    tt_leaks_t leaks;
    tt_leaks_begin(&leaks);
    for (int i = 0; i < iterations; i++) {
        life_t lf = {0};
        tide_runtime_t *rt = tt_runtime(workers);
        cr_assert_eq(tide_runtime_block_on(rt, server_main, &lf), 0);
        /* Free while the tasks are starting, blocked, or anywhere between. */
        if (tt_rand() % 2) ns_sleep((long)(tt_rand() % 300000));
        tide_runtime_close(rt);
        /* Every socket a task held was closed by that task, successfully, before the free
         * returned; none was left to the reactor's teardown. */
        cr_assert_eq(atomic_load(&lf.bad_closes), 0);
        cr_assert_eq(atomic_load(&lf.closes), atomic_load(&lf.opened), "%d of %d sockets closed",
                     atomic_load(&lf.closes), atomic_load(&lf.opened));
        cr_assert_eq(tide__io_live(), 0, "%lld sockets still live", (long long)tide__io_live());
    }
    tt_leaks_end(&leaks);
}

/* Release builds run hundreds of lives; sanitizer builds fewer (each life starts threads, and
 * TSan makes that slow), still enough for the race to show in every run before the fix. */
#ifdef TT_SANITIZED
#define LIVES 80
#else
#define LIVES 300
#endif

Test(tcp_shutdown, closes_during_free_one_worker, .timeout = 120) {
    lives(1, LIVES);
}

Test(tcp_shutdown, closes_during_free_two_workers, .timeout = 120) {
    lives(2, LIVES);
}
