/* tide_cond_t with tide_mutex_t: producer/consumer with exact counts; signal wakes one,
 * broadcast all; a wait that ends by deadline or cancel still re-locks the mutex; a signal
 * that meets a timing-out waiter is not lost; misuse. */
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

static int basics(void *arg) {
    tide_cond_t c;
    tide_mutex_t m;
    cr_assert_eq(tide_cond_init(&c), 0);
    cr_assert_eq(tide_mutex_init(&m), 0);
    cr_assert_eq(tide_cond_wait(&c, &m), -EPERM, "mutex not held");
    cr_assert_eq(tide_cond_destroy(&c), 0, "the failed wait left nothing queued");
    cr_assert_eq(tide_cond_init(&c), 0);
    cr_assert_eq(tide_mutex_lock(&m), 0);
    tide_scope_t sc;
    int64_t t0 = tide_now();
    tide_timeout_begin(&sc, TIDE_MSEC(10));
    cr_assert_eq(tide_cond_wait(&c, &m), -ETIMEDOUT);
    tide_scope_end(&sc);
    cr_assert_geq(tide_now() - t0, TIDE_MSEC(10));
    cr_assert_eq(tide_mutex_try_lock(&m), -EAGAIN, "re-locked after the deadline");
    cr_assert_eq(tide_mutex_unlock(&m), 0);
    cr_assert_eq(tide_cond_signal(&c), 0, "nobody waiting: fine");
    cr_assert_eq(tide_cond_broadcast(&c), 0);
    cr_assert_eq(tide_cond_destroy(&c), 0);
    cr_assert_eq(tide_cond_signal(&c), -EINVAL, "destroyed");
    cr_assert_eq(tide_cond_wait(&c, &m), -EINVAL);
    cr_assert_eq(tide_cond_init(NULL), -EINVAL);
    cr_assert_eq(tide_cond_signal(NULL), -EINVAL);
    cr_assert_eq(tide_cond_broadcast(NULL), -EINVAL);
    cr_assert_eq(tide_cond_init(&c), 0);
    cr_assert_eq(tide_cond_wait(&c, NULL), -EINVAL);
    cr_assert_eq(tide_cond_destroy(&c), 0);
    cr_assert_eq(tide_mutex_destroy(&m), 0);
    return 0;
}

Test(cond, semantics_and_misuse) {
    tt_run(basics, NULL, 0);
}

/* A bounded buffer built from one mutex and two condition variables. */
typedef struct bb {
    tide_mutex_t m;
    tide_cond_t not_empty, not_full;
    uint64_t buf[8];
    int head, len;
    int per;                 /* items per producer */
    _Atomic int next_id;
    uint64_t sum, received;  /* under m */
    int producers_left;      /* under m */
    int64_t max_timeout;
    _Atomic uint64_t timeouts;
} bb_t;

static int cwait(bb_t *b, tide_cond_t *c) {
    if (!b->max_timeout) return tide_cond_wait(c, &b->m);
    tide_scope_t sc;
    tide_timeout_begin(&sc, 1 + tt_rand() % b->max_timeout);
    int r = tide_cond_wait(c, &b->m);
    tide_scope_end(&sc);
    if (r == -ETIMEDOUT) atomic_fetch_add(&b->timeouts, 1);
    return r;
}

static int bb_producer(void *arg) {
    bb_t *b = arg;
    int id = atomic_fetch_add(&b->next_id, 1);
    for (int i = 0; i < b->per; i++) {
        uint64_t v = (uint64_t)id * b->per + i;
        cr_assert_eq(tide_mutex_lock(&b->m), 0);
        while (b->len == 8) {
            int r = cwait(b, &b->not_full);
            cr_assert(r == 0 || r == -ETIMEDOUT);
            /* whatever happened, we hold the mutex again */
            cr_assert_eq(tide_mutex_try_lock(&b->m), -EAGAIN);
        }
        b->buf[(b->head + b->len++) % 8] = v;
        cr_assert_eq(tide_cond_signal(&b->not_empty), 0);
        cr_assert_eq(tide_mutex_unlock(&b->m), 0);
    }
    cr_assert_eq(tide_mutex_lock(&b->m), 0);
    if (--b->producers_left == 0) tide_cond_broadcast(&b->not_empty);
    cr_assert_eq(tide_mutex_unlock(&b->m), 0);
    return 0;
}

static int bb_consumer(void *arg) {
    bb_t *b = arg;
    cr_assert_eq(tide_mutex_lock(&b->m), 0);
    for (;;) {
        while (b->len == 0 && b->producers_left > 0) {
            int r = cwait(b, &b->not_empty);
            cr_assert(r == 0 || r == -ETIMEDOUT);
        }
        if (b->len == 0) break;
        uint64_t v = b->buf[b->head];
        b->head = (b->head + 1) % 8;
        b->len--;
        b->sum += v;
        b->received++;
        cr_assert_eq(tide_cond_signal(&b->not_full), 0);
        if ((v & 15) == 0) {
            /* let others in now and then */
            cr_assert_eq(tide_mutex_unlock(&b->m), 0);
            tt_random_yields(1);
            cr_assert_eq(tide_mutex_lock(&b->m), 0);
        }
    }
    cr_assert_eq(tide_mutex_unlock(&b->m), 0);
    return 0;
}

static int bb_main(void *arg) {
    bb_t *b = arg;
    enum { P = 200, C = 200 };
    static tide_task_t ts[P + C];
    b->producers_left = P;
    for (int i = 0; i < C; i++) cr_assert_eq(tide_spawn(&ts[i], bb_consumer, b), 0);
    for (int i = 0; i < P; i++) cr_assert_eq(tide_spawn(&ts[C + i], bb_producer, b), 0);
    for (int i = 0; i < P + C; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    uint64_t total = (uint64_t)P * b->per;
    cr_assert_eq(b->received, total);
    cr_assert_eq(b->sum, total * (total - 1) / 2);
    if (b->max_timeout) cr_assert_gt(atomic_load(&b->timeouts), 0, "no deadline hit");
    cr_assert_eq(tide_cond_destroy(&b->not_empty), 0, "no waiter left behind");
    cr_assert_eq(tide_cond_destroy(&b->not_full), 0);
    cr_assert_eq(tide_mutex_destroy(&b->m), 0);
    return 0;
}

static bb_t *bb_new(int per, int64_t timeout) {
    bb_t *b = calloc(1, sizeof *b);
    tide_mutex_init(&b->m);
    tide_cond_init(&b->not_empty);
    tide_cond_init(&b->not_full);
    b->per = per;
    b->max_timeout = timeout;
    return b;
}

Test(cond, bounded_buffer_exact_counts) {
    bb_t *b = bb_new(TT_SCALE(200), 0);
    tt_run(bb_main, b, 0);
    free(b);
}

Test(cond, deadlines_in_the_middle_relock_and_lose_no_signal) {
    /* a signal consumed by a waiter that timed out would strand the others: the run would
     * hang, or with the timeouts retrying, still finish with exact counts */
    bb_t *b = bb_new(TT_SCALE(200), TIDE_USEC(50));
    tt_run(bb_main, b, 0);
    free(b);
}

/* broadcast wakes all; signal wakes exactly one. */
typedef struct gate {
    tide_mutex_t m;
    tide_cond_t c;
    int generation;          /* under m */
    _Atomic int woken, waiting;
} gate_t;

static int gate_waiter(void *arg) {
    gate_t *g = arg;
    cr_assert_eq(tide_mutex_lock(&g->m), 0);
    int gen = g->generation;
    atomic_fetch_add(&g->waiting, 1);
    while (g->generation == gen) cr_assert_eq(tide_cond_wait(&g->c, &g->m), 0);
    atomic_fetch_add(&g->woken, 1);
    cr_assert_eq(tide_mutex_unlock(&g->m), 0);
    return 0;
}

static int one_waiter(void *arg) {
    gate_t *g = arg;
    /* The cancel may land while the lock is still contended: then the lock fails with
     * -ECANCELED and nothing is held (under shake mode's pauses this happens often). */
    int l = tide_mutex_lock(&g->m);
    if (l == -ECANCELED) return l;
    cr_assert_eq(l, 0, "%s", tide_strerror(l));
    atomic_fetch_add(&g->waiting, 1);
    int r = tide_cond_wait(&g->c, &g->m);
    if (r == 0) atomic_fetch_add(&g->woken, 1);
    cr_assert_eq(tide_mutex_unlock(&g->m), 0);
    return 0;
}

static int gate_main(void *arg) {
    gate_t *g = arg;
    enum { T = 1000 };
    static tide_task_t ts[T];
    for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], gate_waiter, g), 0);
    while (atomic_load(&g->waiting) < T) tide_sleep(TIDE_MSEC(1));
    cr_assert_eq(tide_mutex_lock(&g->m), 0);
    g->generation++;
    cr_assert_eq(tide_cond_broadcast(&g->c), 0);
    cr_assert_eq(tide_mutex_unlock(&g->m), 0);
    for (int i = 0; i < T; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    cr_assert_eq(atomic_load(&g->woken), T);

    /* signal: one at a time */
    atomic_store(&g->woken, 0);
    atomic_store(&g->waiting, 0);
    for (int i = 0; i < 8; i++) cr_assert_eq(tide_spawn(&ts[i], one_waiter, g), 0);
    while (atomic_load(&g->waiting) < 8) tide_sleep(TIDE_MSEC(1));
    for (int k = 1; k <= 8; k++) {
        cr_assert_eq(tide_mutex_lock(&g->m), 0);
        cr_assert_eq(tide_cond_signal(&g->c), 0);
        cr_assert_eq(tide_mutex_unlock(&g->m), 0);
        int64_t give_up = tide_now() + TIDE_SEC(10);
        while (atomic_load(&g->woken) < k && tide_now() < give_up) tide_sleep(TIDE_USEC(100));
        tide_sleep(TIDE_MSEC(2));
        cr_assert_eq(atomic_load(&g->woken), k, "signal %d woke %d", k, atomic_load(&g->woken));
    }
    for (int i = 0; i < 8; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    cr_assert_eq(tide_cond_destroy(&g->c), 0);
    return 0;
}

Test(cond, broadcast_wakes_all_signal_wakes_one) {
    static gate_t g;
    tide_mutex_init(&g.m);
    tide_cond_init(&g.c);
    tt_run(gate_main, &g, 0);
}

/* Cancel waiters in the middle: each returns -ECANCELED holding the mutex, and releases it. */
static int cancel_waiter(void *arg) {
    gate_t *g = arg;
    /* The cancel may land while the lock is still contended: then the lock fails with
     * -ECANCELED and nothing is held (under shake mode's pauses this happens often). */
    int l = tide_mutex_lock(&g->m);
    if (l == -ECANCELED) return l;
    cr_assert_eq(l, 0, "%s", tide_strerror(l));
    atomic_fetch_add(&g->waiting, 1);
    int r = tide_cond_wait(&g->c, &g->m);
    cr_assert(r == -ECANCELED || r == 0, "%s", tide_strerror(r));
    cr_assert_eq(tide_mutex_try_lock(&g->m), -EAGAIN);
    cr_assert_eq(tide_mutex_unlock(&g->m), 0, "held on return");
    return r;
}

static int cancel_main(void *arg) {
    gate_t *g = arg;
    for (int round = 0; round < TT_SCALE(50); round++) {
        enum { T = 16 };
        tide_task_t ts[T];
        atomic_store(&g->waiting, 0);
        for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], cancel_waiter, g), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 300));
        if (round % 2) tide_cond_signal(&g->c);
        for (int i = 0; i < T; i++) tide_cancel(ts[i]);
        for (int i = 0; i < T; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
        cr_assert_eq(tide_mutex_try_lock(&g->m), 0, "round %d: mutex left held", round);
        cr_assert_eq(tide_mutex_unlock(&g->m), 0);
    }
    cr_assert_eq(tide_cond_destroy(&g->c), 0, "no waiter left behind");
    return 0;
}

Test(cond, cancellation_relocks_and_leaves_no_waiter) {
    static gate_t g;
    tide_mutex_init(&g.m);
    tide_cond_init(&g.c);
    tt_run(cancel_main, &g, 0);
}
