/* tide_notify_t (tokio's Notify): notify_one wakes one waiter or leaves one permit (permits
 * do not accumulate), notify_all wakes the current waiters and leaves none; a notification
 * that meets a waiter's deadline or cancel is never lost. */
#include <pthread.h>
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

static int timed_wait(tide_notify_t *n, int64_t ns) {
    tide_scope_t sc;
    tide_timeout_begin(&sc, ns);
    int r = tide_notify_wait(n);
    tide_scope_end(&sc);
    return r;
}

static int basics(void *arg) {
    tide_notify_t n;
    cr_assert_eq(tide_notify_init(&n), 0);
    cr_assert_eq(timed_wait(&n, TIDE_MSEC(5)), -ETIMEDOUT);
    cr_assert_eq(tide_notify_one(&n), 0);
    cr_assert_eq(tide_notify_one(&n), 0);
    cr_assert_eq(timed_wait(&n, TIDE_MSEC(5)), 0, "the permit");
    cr_assert_eq(timed_wait(&n, TIDE_MSEC(5)), -ETIMEDOUT, "permits do not accumulate");
    cr_assert_eq(tide_notify_all(&n), 0, "nobody waiting");
    cr_assert_eq(timed_wait(&n, TIDE_MSEC(5)), -ETIMEDOUT, "notify_all leaves no permit");
    cr_assert_eq(tide_notify_destroy(&n), 0);
    cr_assert_eq(tide_notify_wait(&n), -EINVAL, "destroyed");
    cr_assert_eq(tide_notify_one(&n), -EINVAL);
    cr_assert_eq(tide_notify_all(&n), -EINVAL);
    cr_assert_eq(tide_notify_init(NULL), -EINVAL);
    cr_assert_eq(tide_notify_wait(NULL), -EINVAL);
    return 0;
}

Test(notify, semantics_and_misuse) {
    tt_run(basics, NULL, 0);
}

typedef struct hub {
    tide_notify_t n;
    _Atomic int woken, arrived;
    _Atomic int stop;
    int64_t max_timeout;
} hub_t;

static int plain_waiter(void *arg) {
    hub_t *h = arg;
    atomic_fetch_add(&h->arrived, 1);
    cr_assert_eq(tide_notify_wait(&h->n), 0);
    atomic_fetch_add(&h->woken, 1);
    return 0;
}

static int all_main(void *arg) {
    hub_t *h = arg;
    enum { T = 2000 };
    static tide_task_t ts[T];
    for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], plain_waiter, h), 0);
    while (atomic_load(&h->arrived) < T) tide_sleep(TIDE_MSEC(1));
    tide_sleep(TIDE_MSEC(5));
    int woken = 0;
    while (woken < T) {
        int r = tide_notify_all(&h->n);
        cr_assert_geq(r, 0);
        woken += r;
        if (woken < T) tide_sleep(TIDE_MSEC(1)); /* stragglers still on their way */
    }
    cr_assert_eq(woken, T, "notify_all counted each waiter once");
    for (int i = 0; i < T; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    cr_assert_eq(atomic_load(&h->woken), T);
    cr_assert_eq(tide_notify_destroy(&h->n), 0);
    return 0;
}

Test(notify, notify_all_wakes_every_waiter) {
    static hub_t h;
    tide_notify_init(&h.n);
    tt_run(all_main, &h, 0);
}

/* Waiters keep waiting with random short deadlines; a notifier sends K notifications one at
 * a time, each only after the previous one was received. If a notification that met a
 * timing-out waiter were dropped, the count would stall. */
static int timed_waiter(void *arg) {
    hub_t *h = arg;
    while (!atomic_load(&h->stop)) {
        int r = timed_wait(&h->n, 1 + tt_rand() % h->max_timeout);
        if (r == 0) atomic_fetch_add(&h->woken, 1);
        else cr_assert_eq(r, -ETIMEDOUT);
    }
    return 0;
}

static void *thread_waiter(void *arg) {
    timed_waiter(arg);
    return NULL;
}

static int lost_main(void *arg) {
    hub_t *h = arg;
    enum { T = 64, K = 3000 };
    tide_task_t ts[T];
    pthread_t th;
    for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], timed_waiter, h), 0);
    cr_assert_eq(pthread_create(&th, NULL, thread_waiter, h), 0);
    int k;
    for (k = 1; k <= TT_SCALE(K); k++) {
        cr_assert_eq(tide_notify_one(&h->n), 0);
        int64_t give_up = tide_now() + TIDE_SEC(10);
        while (atomic_load(&h->woken) < k && tide_now() < give_up) tide_yield();
        cr_assert_eq(atomic_load(&h->woken), k, "notification %d was lost", k);
    }
    atomic_store(&h->stop, 1);
    for (int i = 0; i < T; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&h->woken), TT_SCALE(K), "or received twice");
    cr_assert_eq(tide_notify_destroy(&h->n), 0, "no waiter left behind");
    return 0;
}

Test(notify, no_notification_lost_to_deadlines) {
    static hub_t h;
    tide_notify_init(&h.n);
    h.max_timeout = TIDE_USEC(50);
    tt_run(lost_main, &h, 0);
}

static int cancellable(void *arg) {
    hub_t *h = arg;
    for (;;) {
        if (tide_cancelled()) return -ECANCELED;
        int r = tide_notify_wait(&h->n);
        if (r < 0) return r;
        atomic_fetch_add(&h->woken, 1);
    }
}

static int cancel_main(void *arg) {
    hub_t *h = arg;
    int sent = 0;
    for (int round = 0; round < TT_SCALE(50); round++) {
        enum { T = 16 };
        tide_task_t ts[T];
        for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], cancellable, h), 0);
        for (int j = 0; j < 10; j++) {
            tide_sleep(TIDE_USEC(tt_rand() % 100));
            tide_notify_one(&h->n);
            sent++;
            int64_t give_up = tide_now() + TIDE_SEC(10);
            while (atomic_load(&h->woken) < sent && tide_now() < give_up) tide_yield();
            cr_assert_eq(atomic_load(&h->woken), sent);
        }
        tide_notify_one(&h->n); /* may meet the cancel or be left as the permit */
        for (int i = 0; i < T; i++) tide_cancel(ts[i]);
        for (int i = 0; i < T; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
        int extra = atomic_load(&h->woken) - sent;
        cr_assert(extra == 0 || extra == 1);
        if (extra == 0) cr_assert_eq(timed_wait(&h->n, TIDE_MSEC(100)), 0, "the permit");
        else cr_assert_eq(timed_wait(&h->n, TIDE_MSEC(1)), -ETIMEDOUT);
        atomic_store(&h->woken, sent);
    }
    cr_assert_eq(tide_notify_destroy(&h->n), 0);
    return 0;
}

Test(notify, cancellation_in_the_middle_loses_nothing) {
    static hub_t h;
    tide_notify_init(&h.n);
    tt_run(cancel_main, &h, 0);
}
