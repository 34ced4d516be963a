/* tide_event_t (asyncio.Event): set wakes every waiter and stays set; clear; wait returns at
 * once while set; thousands of waiters on all workers and foreign threads; deadlines and
 * cancellation in the middle of waits leave no waiter behind. */
#include <pthread.h>
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

static int basics(void *arg) {
    tide_event_t e;
    cr_assert_eq(tide_event_init(&e), 0);
    cr_assert(!tide_event_is_set(&e));
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_MSEC(10));
    cr_assert_eq(tide_event_wait(&e), -ETIMEDOUT);
    tide_scope_end(&sc);
    cr_assert_eq(tide_event_set(&e), 0);
    cr_assert(tide_event_is_set(&e));
    cr_assert_eq(tide_event_wait(&e), 0, "set: returns at once");
    cr_assert_eq(tide_event_set(&e), 0, "set twice is fine");
    cr_assert_eq(tide_event_clear(&e), 0);
    cr_assert(!tide_event_is_set(&e));
    cr_assert_eq(tide_event_destroy(&e), 0);
    cr_assert_eq(tide_event_wait(&e), -EINVAL, "destroyed");
    cr_assert_eq(tide_event_set(&e), -EINVAL);
    cr_assert(!tide_event_is_set(&e));
    cr_assert_eq(tide_event_init(NULL), -EINVAL);
    cr_assert_eq(tide_event_wait(NULL), -EINVAL);
    cr_assert_eq(tide_event_set(NULL), -EINVAL);
    cr_assert_eq(tide_event_clear(NULL), -EINVAL);
    cr_assert_eq(tide_event_destroy(NULL), -EINVAL);
    return 0;
}

Test(event, semantics_and_misuse) {
    tt_run(basics, NULL, 0);
}

typedef struct crowd {
    tide_event_t e;
    _Atomic int woken, failed, arrived;
    int64_t max_timeout;
} crowd_t;

static int waiter(void *arg) {
    crowd_t *c = arg;
    tide_scope_t sc;
    atomic_fetch_add(&c->arrived, 1);
    if (c->max_timeout) tide_timeout_begin(&sc, 1 + tt_rand() % c->max_timeout);
    int r = tide_event_wait(&c->e);
    if (c->max_timeout) tide_scope_end(&sc);
    if (r == 0) atomic_fetch_add(&c->woken, 1);
    else {
        cr_assert(r == -ETIMEDOUT || r == -ECANCELED, "wait: %s", tide_strerror(r));
        atomic_fetch_add(&c->failed, 1);
    }
    return 0;
}

static void *thread_waiter(void *arg) {
    waiter(arg);
    return NULL;
}

static int crowd_main(void *arg) {
    crowd_t *c = arg;
    enum { TMAX = 5000, TH = 3 };
    static tide_task_t ts[TMAX];
    const int T = TT_SCALE(TMAX); /* spawning thousands is slow under the sanitizers */
    pthread_t th[TH];
    for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], waiter, c), 0);
    for (int i = 0; i < TH; i++) cr_assert_eq(pthread_create(&th[i], NULL, thread_waiter, c), 0);
    while (atomic_load(&c->arrived) < T + TH) tide_sleep(TIDE_MSEC(1));
    tide_sleep(TIDE_USEC(tt_rand() % 2000));
    cr_assert_eq(tide_event_set(&c->e), 0);
    for (int i = 0; i < T; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    for (int i = 0; i < TH; i++) pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&c->woken) + atomic_load(&c->failed), T + TH);
    if (!c->max_timeout) cr_assert_eq(atomic_load(&c->woken), T + TH, "every waiter woken");
    cr_assert_eq(tide_event_destroy(&c->e), 0, "no waiter left behind");
    return 0;
}

Test(event, set_wakes_thousands_of_tasks_and_threads) {
    static crowd_t c;
    tide_event_init(&c.e);
    tt_run(crowd_main, &c, 0);
}

static int deadline_rounds(void *arg) {
    for (int round = 0; round < TT_SCALE(20); round++) {
        crowd_t *c = calloc(1, sizeof *c);
        tide_event_init(&c->e);
        c->max_timeout = TIDE_USEC(1500);
        enum { T = 200 };
        tide_task_t ts[T];
        for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], waiter, c), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 1500));
        cr_assert_eq(tide_event_set(&c->e), 0);
        for (int i = 0; i < T; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
        cr_assert_eq(atomic_load(&c->woken) + atomic_load(&c->failed), T);
        cr_assert_eq(tide_event_destroy(&c->e), 0, "round %d: a waiter left behind", round);
        free(c);
    }
    return 0;
}

Test(event, deadlines_in_the_middle_leave_no_waiter) {
    tt_run(deadline_rounds, NULL, 0);
}

static int cancel_rounds(void *arg) {
    for (int round = 0; round < TT_SCALE(20); round++) {
        crowd_t *c = calloc(1, sizeof *c);
        tide_event_init(&c->e);
        enum { T = 200 };
        tide_task_t ts[T];
        for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], waiter, c), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 1000));
        for (int i = 0; i < T; i += 2) tide_cancel(ts[i]);
        if (round % 2) cr_assert_eq(tide_event_set(&c->e), 0);
        else {
            for (int i = 1; i < T; i += 2) tide_cancel(ts[i]);
        }
        for (int i = 0; i < T; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
        cr_assert_eq(atomic_load(&c->woken) + atomic_load(&c->failed), T);
        cr_assert_eq(tide_event_destroy(&c->e), 0, "round %d: a waiter left behind", round);
        free(c);
    }
    return 0;
}

Test(event, cancellation_in_the_middle_leaves_no_waiter) {
    tt_run(cancel_rounds, NULL, 0);
}

/* A waiter woken by set returns 0 even if the event is cleared before it runs. */
static int set_clear_main(void *arg) {
    crowd_t *c = arg;
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, waiter, c), 0);
    tide_sleep(TIDE_MSEC(10));
    cr_assert_eq(tide_event_set(&c->e), 0);
    cr_assert_eq(tide_event_clear(&c->e), 0);
    cr_assert_eq(tide_join(t, NULL), 0);
    cr_assert_eq(atomic_load(&c->woken), 1);
    cr_assert_eq(tide_event_destroy(&c->e), 0);
    return 0;
}

Test(event, set_then_clear_still_wakes) {
    static crowd_t c;
    tide_event_init(&c.e);
    tt_run(set_clear_main, &c, 0);
}
