/* tide_waitgroup_t (Go's WaitGroup): wait returns when the count reaches zero; add below
 * zero is refused; thousands of tasks and foreign threads finishing; waiters with deadlines
 * and cancellation leave none behind. */
#include <pthread.h>
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

static int basics(void *arg) {
    tide_waitgroup_t wg;
    cr_assert_eq(tide_waitgroup_init(&wg), 0);
    cr_assert_eq(tide_waitgroup_wait(&wg), 0, "zero: returns at once");
    cr_assert_eq(tide_waitgroup_done(&wg), -EINVAL, "below zero");
    cr_assert_eq(tide_waitgroup_add(&wg, -1), -EINVAL);
    cr_assert_eq(tide_waitgroup_add(&wg, 3), 0);
    cr_assert_eq(tide_waitgroup_add(&wg, -4), -EINVAL, "refused whole");
    cr_assert_eq(tide_waitgroup_add(&wg, INT64_MAX), -EINVAL, "overflow");
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_MSEC(5));
    cr_assert_eq(tide_waitgroup_wait(&wg), -ETIMEDOUT);
    tide_scope_end(&sc);
    cr_assert_eq(tide_waitgroup_add(&wg, -3), 0);
    cr_assert_eq(tide_waitgroup_wait(&wg), 0);
    cr_assert_eq(tide_waitgroup_add(&wg, 0), 0);
    cr_assert_eq(tide_waitgroup_destroy(&wg), 0);
    cr_assert_eq(tide_waitgroup_add(&wg, 1), -EINVAL, "destroyed");
    cr_assert_eq(tide_waitgroup_wait(&wg), -EINVAL);
    cr_assert_eq(tide_waitgroup_init(NULL), -EINVAL);
    cr_assert_eq(tide_waitgroup_done(NULL), -EINVAL);
    return 0;
}

Test(waitgroup, semantics_and_misuse) {
    tt_run(basics, NULL, 0);
}

enum { TASKS = 5000, THREADS = 4, WAITERS = 50 };

typedef struct work {
    tide_waitgroup_t wg;
    _Atomic uint64_t done;
    _Atomic int waiters_ok, waiters_failed;
    int64_t max_timeout;
} work_t;

static int worker(void *arg) {
    work_t *w = arg;
    tt_random_yields(3);
    if (tt_rand() % 4 == 0) tide_sleep(TIDE_USEC(tt_rand() % 300));
    atomic_fetch_add(&w->done, 1);
    cr_assert_eq(tide_waitgroup_done(&w->wg), 0);
    return 0;
}

static void *thread_worker(void *arg) {
    work_t *w = arg;
    atomic_fetch_add(&w->done, 1);
    cr_assert_eq(tide_waitgroup_done(&w->wg), 0);
    return NULL;
}

static int waiter(void *arg) {
    work_t *w = arg;
    tide_scope_t sc;
    if (w->max_timeout) tide_timeout_begin(&sc, 1 + tt_rand() % w->max_timeout);
    int r = tide_waitgroup_wait(&w->wg);
    if (w->max_timeout) tide_scope_end(&sc);
    if (r == 0) {
        cr_assert_eq(atomic_load(&w->done), TASKS + THREADS, "woken before the count hit zero");
        atomic_fetch_add(&w->waiters_ok, 1);
    } else {
        cr_assert(r == -ETIMEDOUT || r == -ECANCELED);
        atomic_fetch_add(&w->waiters_failed, 1);
    }
    return 0;
}

static int wg_main(void *arg) {
    work_t *w = arg;
    static tide_task_t ts[TASKS], ws[WAITERS];
    pthread_t th[THREADS];
    cr_assert_eq(tide_waitgroup_add(&w->wg, TASKS + THREADS), 0);
    for (int i = 0; i < WAITERS; i++) cr_assert_eq(tide_spawn(&ws[i], waiter, w), 0);
    for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_spawn(&ts[i], worker, w), 0);
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, thread_worker, w), 0);
    cr_assert_eq(tide_waitgroup_wait(&w->wg), 0);
    cr_assert_eq(atomic_load(&w->done), TASKS + THREADS, "wait returned before everyone was done");
    for (int i = 0; i < WAITERS; i++) cr_assert_eq(tide_join(ws[i], NULL), 0);
    for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&w->waiters_ok) + atomic_load(&w->waiters_failed), WAITERS);
    if (!w->max_timeout) cr_assert_eq(atomic_load(&w->waiters_ok), WAITERS);
    cr_assert_eq(tide_waitgroup_destroy(&w->wg), 0, "no waiter left behind");
    return 0;
}

Test(waitgroup, thousands_of_tasks_and_threads) {
    static work_t w;
    tide_waitgroup_init(&w.wg);
    tt_run(wg_main, &w, 0);
}

Test(waitgroup, waiters_with_deadlines_leave_none_behind) {
    static work_t w;
    tide_waitgroup_init(&w.wg);
    w.max_timeout = TIDE_USEC(2000);
    tt_run(wg_main, &w, 0);
}

static int blocked_waiter(void *arg) {
    work_t *w = arg;
    return tide_waitgroup_wait(&w->wg);
}

static int cancel_main(void *arg) {
    work_t *w = arg;
    cr_assert_eq(tide_waitgroup_add(&w->wg, 1), 0);
    for (int round = 0; round < TT_SCALE(50); round++) {
        enum { T = 32 };
        tide_task_t ts[T];
        for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], blocked_waiter, w), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 300));
        for (int i = 0; i < T; i++) tide_cancel(ts[i]);
        for (int i = 0; i < T; i++) {
            int st;
            cr_assert_eq(tide_join(ts[i], &st), 0);
            cr_assert_eq(st, -ECANCELED);
        }
    }
    cr_assert_eq(tide_waitgroup_destroy(&w->wg), 0, "no waiter left behind");
    return 0;
}

Test(waitgroup, cancellation_in_the_middle) {
    static work_t w;
    tide_waitgroup_init(&w.wg);
    tt_run(cancel_main, &w, 0);
}
