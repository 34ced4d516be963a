/* tide_sem_t: counting, FIFO hand-off, try and overflow; a limiter under contention never
 * admits more than its permits; deadlines and cancellation in the middle of waits never
 * lose or create a permit. */
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

static int basics(void *arg) {
    tide_sem_t s;
    cr_assert_eq(tide_sem_init(&s, 2), 0);
    cr_assert_eq(tide_sem_value(&s), 2);
    cr_assert_eq(tide_sem_acquire(&s), 0);
    cr_assert_eq(tide_sem_try_acquire(&s), 0);
    cr_assert_eq(tide_sem_try_acquire(&s), -EAGAIN);
    cr_assert_eq(tide_sem_value(&s), 0);
    cr_assert_eq(tide_sem_release(&s), 0);
    cr_assert_eq(tide_sem_release(&s), 0);
    cr_assert_eq(tide_sem_value(&s), 2);
    cr_assert_eq(tide_sem_destroy(&s), 0);
    cr_assert_eq(tide_sem_acquire(&s), -EINVAL, "destroyed");
    cr_assert_eq(tide_sem_release(&s), -EINVAL);
    cr_assert_eq(tide_sem_init(&s, UINT64_MAX), 0);
    cr_assert_eq(tide_sem_release(&s), -EOVERFLOW);
    cr_assert_eq(tide_sem_value(&s), UINT64_MAX);
    cr_assert_eq(tide_sem_destroy(&s), 0);
    cr_assert_eq(tide_sem_init(NULL, 1), -EINVAL);
    cr_assert_eq(tide_sem_acquire(NULL), -EINVAL);
    cr_assert_eq(tide_sem_try_acquire(NULL), -EINVAL);
    cr_assert_eq(tide_sem_release(NULL), -EINVAL);
    return 0;
}

Test(sem, semantics_and_misuse) {
    tt_run(basics, NULL, 0);
}

/* FIFO: waiters get permits in the order they queued. */
typedef struct fifo {
    tide_sem_t s;
    _Atomic int order[16];
    _Atomic int next;
    _Atomic int arrived;
} fifo_t;

static int fifo_waiter(void *arg) {
    fifo_t *f = arg;
    atomic_fetch_add(&f->arrived, 1);
    cr_assert_eq(tide_sem_acquire(&f->s), 0);
    f->order[atomic_fetch_add(&f->next, 1)] = 1;
    return 0;
}

static int fifo_main(void *arg) {
    fifo_t *f = arg;
    cr_assert_eq(tide_sem_init(&f->s, 0), 0);
    tide_task_t ts[16];
    int seq[16];
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(tide_spawn(&ts[i], fifo_waiter, f), 0);
        /* queue them in spawn order: let each reach its acquire before the next starts */
        while (atomic_load(&f->arrived) < i + 1) tide_yield();
        tide_sleep(TIDE_MSEC(2));
        seq[i] = i;
    }
    for (int i = 0; i < 16; i++) {
        cr_assert_eq(tide_sem_release(&f->s), 0);
        /* the i-th waiter (in queue order) and only it finishes */
        cr_assert_eq(tide_join(ts[seq[i]], NULL), 0);
        cr_assert_eq(atomic_load(&f->next), i + 1);
        for (int k = i + 1; k < 16; k++) cr_assert_eq(tide_task_done(ts[k]), 0, "order broken");
    }
    cr_assert_eq(tide_sem_value(&f->s), 0);
    cr_assert_eq(tide_sem_destroy(&f->s), 0);
    return 0;
}

Test(sem, fifo_hand_off) {
    static fifo_t f;
    tt_run(fifo_main, &f, 0);
}

typedef struct limiter {
    tide_sem_t s;
    uint64_t permits;
    _Atomic int inside, max_inside;
    _Atomic uint64_t ok, failed;
    int iters;
    int64_t max_timeout;
} limiter_t;

static int limited(void *arg) {
    limiter_t *l = arg;
    for (int i = 0; i < l->iters; i++) {
        if (tide_cancelled()) return -ECANCELED;
        tide_scope_t sc;
        if (l->max_timeout) tide_timeout_begin(&sc, 1 + tt_rand() % l->max_timeout);
        int r = tide_sem_acquire(&l->s);
        if (l->max_timeout) tide_scope_end(&sc);
        if (r < 0) {
            cr_assert(r == -ETIMEDOUT || r == -ECANCELED);
            atomic_fetch_add(&l->failed, 1);
            if (r == -ECANCELED) return r;
            continue;
        }
        int in = atomic_fetch_add(&l->inside, 1) + 1;
        cr_assert_leq(in, (int)l->permits, "more holders than permits");
        int m = atomic_load(&l->max_inside);
        while (in > m && !atomic_compare_exchange_weak(&l->max_inside, &m, in)) {
        }
        tt_random_yields(2);
        atomic_fetch_sub(&l->inside, 1);
        atomic_fetch_add(&l->ok, 1);
        cr_assert_eq(tide_sem_release(&l->s), 0);
    }
    return 0;
}

static int limiter_main(void *arg) {
    limiter_t *l = arg;
    enum { TMAX = 1000 };
    static tide_task_t ts[TMAX];
    const int T = TT_SCALE(TMAX); /* spawning thousands is slow under the sanitizers */
    for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], limited, l), 0);
    for (int i = 0; i < T; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    cr_assert_eq(atomic_load(&l->ok) + atomic_load(&l->failed), (uint64_t)T * l->iters);
    cr_assert_eq(tide_sem_value(&l->s), l->permits, "a permit was lost or created");
    cr_assert_eq(atomic_load(&l->max_inside), (int)l->permits, "permits were not all used");
    if (l->max_timeout) cr_assert_gt(atomic_load(&l->failed), 0, "no deadline hit");
    cr_assert_eq(tide_sem_destroy(&l->s), 0, "no waiter left behind");
    return 0;
}

Test(sem, limiter_exact_under_contention) {
    static limiter_t l;
    l.permits = 5;
    l.iters = TT_SCALE(100);
    tide_sem_init(&l.s, l.permits);
    tt_run(limiter_main, &l, 0);
}

Test(sem, deadlines_in_the_middle_keep_permits) {
    static limiter_t l;
    l.permits = 3;
    l.iters = TT_SCALE(100);
    l.max_timeout = TIDE_USEC(100);
    tide_sem_init(&l.s, l.permits);
    tt_run(limiter_main, &l, 0);
}

static int cancel_main(void *arg) {
    limiter_t *l = arg;
    l->iters = 1 << 30;
    for (int round = 0; round < TT_SCALE(50); round++) {
        enum { T = 32 };
        tide_task_t ts[T];
        for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], limited, l), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 500));
        for (int i = 0; i < T; i++) tide_cancel(ts[i]);
        for (int i = 0; i < T; i++) {
            int st;
            cr_assert_eq(tide_join(ts[i], &st), 0);
            cr_assert_eq(st, -ECANCELED);
        }
        cr_assert_eq(tide_sem_value(&l->s), l->permits, "round %d: permits %llu", round,
                     (unsigned long long)tide_sem_value(&l->s));
    }
    cr_assert_eq(tide_sem_destroy(&l->s), 0);
    return 0;
}

Test(sem, cancellation_in_the_middle_keeps_permits) {
    static limiter_t l;
    l.permits = 2;
    tide_sem_init(&l.s, l.permits);
    tt_run(cancel_main, &l, 0);
}
