/* tide_mutex_t: semantics and misuse, exact counts under contention from tasks on every
 * worker and from foreign threads, deadlines and cancellation in the middle of waits (the
 * mutex is never left locked, nobody who failed holds it), and starvation freedom. */
#include <pthread.h>
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

/* Run fn as the main task of a fresh default runtime, with the leak check around it. */
/* ---- semantics ------------------------------------------------------------------------ */

static int basics(void *arg) {
    tide_mutex_t m;
    cr_assert_eq(tide_mutex_init(&m), 0);
    cr_assert_eq(tide_mutex_unlock(&m), -EPERM, "unlock of an unlocked mutex");
    cr_assert_eq(tide_mutex_lock(&m), 0);
    cr_assert_eq(tide_mutex_try_lock(&m), -EAGAIN);
    cr_assert_eq(tide_mutex_destroy(&m), -EBUSY, "destroy of a locked mutex");
    cr_assert_eq(tide_mutex_unlock(&m), 0);
    cr_assert_eq(tide_mutex_unlock(&m), -EPERM, "double unlock");
    cr_assert_eq(tide_mutex_try_lock(&m), 0);
    cr_assert_eq(tide_mutex_unlock(&m), 0);
    cr_assert_eq(tide_mutex_destroy(&m), 0);
    cr_assert_eq(tide_mutex_lock(&m), -EINVAL, "lock of a destroyed mutex");
    cr_assert_eq(tide_mutex_try_lock(&m), -EINVAL);
    cr_assert_eq(tide_mutex_unlock(&m), -EINVAL);
    cr_assert_eq(tide_mutex_destroy(&m), -EINVAL);

    cr_assert_eq(tide_mutex_init(NULL), -EINVAL);
    cr_assert_eq(tide_mutex_lock(NULL), -EINVAL);
    cr_assert_eq(tide_mutex_try_lock(NULL), -EINVAL);
    cr_assert_eq(tide_mutex_unlock(NULL), -EINVAL);
    cr_assert_eq(tide_mutex_destroy(NULL), -EINVAL);

    tide_mutex_t s = TIDE_MUTEX_INITIALIZER;
    cr_assert_eq(tide_mutex_lock(&s), 0, "a statically initialised mutex works");
    cr_assert_eq(tide_mutex_unlock(&s), 0);
    return 0;
}

Test(mutex, semantics_and_misuse) {
    tt_run(basics, NULL, 0);
}

/* A deadline on a lock that is held: -ETIMEDOUT after at least the deadline, not locked. */
static int holder_sleeps(void *arg) {
    tide_mutex_t *m = arg;
    cr_assert_eq(tide_mutex_lock(m), 0);
    tide_sleep(TIDE_MSEC(100));
    cr_assert_eq(tide_mutex_unlock(m), 0);
    return 0;
}

static int deadline_main(void *arg) {
    tide_mutex_t m;
    tide_mutex_init(&m);
    tide_task_t h;
    cr_assert_eq(tide_spawn(&h, holder_sleeps, &m), 0);
    while (tide_mutex_try_lock(&m) == 0) { /* wait until the holder has it */
        tide_mutex_unlock(&m);
        tide_yield();
    }
    tide_scope_t s;
    int64_t t0 = tide_now();
    tide_timeout_begin(&s, TIDE_MSEC(20));
    int r = tide_mutex_lock(&m);
    tide_scope_end(&s);
    cr_assert_eq(r, -ETIMEDOUT);
    cr_assert_geq(tide_now() - t0, TIDE_MSEC(20));
    cr_assert_eq(tide_join(h, NULL), 0);
    /* the holder's unlock found nobody (we left): the mutex is free and clean */
    cr_assert_eq(tide_mutex_try_lock(&m), 0);
    cr_assert_eq(tide_mutex_unlock(&m), 0);
    cr_assert_eq(tide_mutex_destroy(&m), 0);
    return 0;
}

Test(mutex, deadline_while_held) {
    tt_run(deadline_main, NULL, 0);
}

/* ---- exact counts ---------------------------------------------------------------------- */

typedef struct shared {
    tide_mutex_t m;
    uint64_t counter;        /* plain: only the mutex protects it */
    _Atomic int inside;      /* holders right now: must never exceed 1 */
    int iters;
    _Atomic uint64_t ok, failed;
} shared_t;

static void critical(shared_t *s, bool yield) {
    cr_assert_eq(atomic_fetch_add(&s->inside, 1), 0, "two holders at once");
    uint64_t c = s->counter;
    if (yield) tt_random_yields(2); /* hold it across a switch: others must park */
    s->counter = c + 1;
    atomic_fetch_sub(&s->inside, 1);
}

static int contender(void *arg) {
    shared_t *s = arg;
    for (int i = 0; i < s->iters; i++) {
        cr_assert_eq(tide_mutex_lock(&s->m), 0);
        critical(s, (tt_rand() & 7) == 0);
        cr_assert_eq(tide_mutex_unlock(&s->m), 0);
    }
    return 0;
}

static void *thread_contender(void *arg) {
    contender(arg);
    return NULL;
}

static int counts_main(void *arg) {
    enum { TMAX = 1000 };
    shared_t *s = arg;
    static tide_task_t ts[TMAX];
    const int TASKS = TT_SCALE(TMAX); /* spawning thousands is slow under the sanitizers */
    pthread_t th[2];
    for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&th[i], NULL, thread_contender, s), 0);
    for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_spawn(&ts[i], contender, s), 0);
    for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    cr_assert_eq(s->counter, (uint64_t)(TASKS + 2) * s->iters);
    cr_assert_eq(tide_mutex_destroy(&s->m), 0, "no waiter left behind");
    return 0;
}

Test(mutex, exact_count_tasks_and_threads) {
    static shared_t s;
    tide_mutex_init(&s.m);
    s.iters = TT_SCALE(1000);
    tt_run(counts_main, &s, 0);
}

/* ---- deadlines and cancellation in the middle of waits ---------------------------------- */

static int timed_contender(void *arg) {
    shared_t *s = arg;
    for (int i = 0; i < s->iters; i++) {
        tide_scope_t sc;
        tide_timeout_begin(&sc, TIDE_USEC(1 + tt_rand() % 200));
        int r = tide_mutex_lock(&s->m);
        tide_scope_end(&sc);
        if (r == 0) {
            critical(s, true);
            cr_assert_eq(tide_mutex_unlock(&s->m), 0);
            atomic_fetch_add(&s->ok, 1);
        } else {
            cr_assert_eq(r, -ETIMEDOUT);
            /* a failed lock holds nothing: unlocking must say so (unless someone else holds
             * it, in which case it is theirs and we must not touch it) */
            atomic_fetch_add(&s->failed, 1);
        }
    }
    return 0;
}

static int timeouts_main(void *arg) {
    enum { TASKS = 200 };
    shared_t *s = arg;
    tide_task_t ts[TASKS];
    for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_spawn(&ts[i], timed_contender, s), 0);
    for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    cr_assert_eq(s->counter, atomic_load(&s->ok), "every success counted once, no failure did");
    cr_assert_eq(atomic_load(&s->ok) + atomic_load(&s->failed), (uint64_t)TASKS * s->iters);
    cr_assert_gt(atomic_load(&s->failed), 0, "the test must actually time some locks out");
    cr_assert_gt(atomic_load(&s->ok), 0);
    cr_assert_eq(tide_mutex_try_lock(&s->m), 0, "left unlocked");
    cr_assert_eq(tide_mutex_unlock(&s->m), 0);
    cr_assert_eq(tide_mutex_destroy(&s->m), 0, "no waiter left behind");
    return 0;
}

Test(mutex, timeouts_in_the_middle_of_waits) {
    static shared_t s;
    tide_mutex_init(&s.m);
    s.iters = TT_SCALE(1000);
    tt_run(timeouts_main, &s, 0);
}

/* Loops until cancelled. A lock that can be taken at once is taken even by a cancelled task
 * (cancellation ends waits; it does not fail calls that need not wait), so the loop also
 * checks for it. */
static int cancellable(void *arg) {
    shared_t *s = arg;
    for (;;) {
        if (tide_cancelled()) return -ECANCELED;
        int r = tide_mutex_lock(&s->m);
        if (r < 0) {
            cr_assert_eq(r, -ECANCELED);
            atomic_fetch_add(&s->failed, 1);
            return r;
        }
        critical(s, true);
        cr_assert_eq(tide_mutex_unlock(&s->m), 0);
        atomic_fetch_add(&s->ok, 1);
    }
}

static int cancel_main(void *arg) {
    enum { TASKS = 64 };
    shared_t *s = arg;
    for (int round = 0; round < TT_SCALE(100); round++) {
        tide_task_t ts[TASKS];
        for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_spawn(&ts[i], cancellable, s), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 500));
        for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_cancel(ts[i]), 0);
        for (int i = 0; i < TASKS; i++) {
            int st;
            cr_assert_eq(tide_join(ts[i], &st), 0);
            cr_assert_eq(st, -ECANCELED);
        }
        cr_assert_eq(tide_mutex_try_lock(&s->m), 0, "round %d: left locked", round);
        cr_assert_eq(tide_mutex_unlock(&s->m), 0);
    }
    cr_assert_eq(s->counter, atomic_load(&s->ok));
    cr_assert_eq(tide_mutex_destroy(&s->m), 0);
    return 0;
}

Test(mutex, cancellation_in_the_middle_of_waits) {
    static shared_t s;
    tide_mutex_init(&s.m);
    tt_run(cancel_main, &s, 0);
}

/* ---- a foreign thread blocks on a mutex a task holds ------------------------------------ */

typedef struct cross {
    tide_mutex_t m;
    _Atomic int stage;     /* 1: the thread is about to lock */
    _Atomic int unlocked;  /* the task is about to unlock */
    int saw_unlocked;      /* what the thread saw once it had the lock */
} cross_t;

static void *thread_locker(void *arg) {
    cross_t *c = arg;
    atomic_store(&c->stage, 1);
    cr_assert_eq(tide_mutex_lock(&c->m), 0);
    c->saw_unlocked = atomic_load(&c->unlocked);
    cr_assert_eq(tide_mutex_unlock(&c->m), 0);
    return NULL;
}

static int cross_main(void *arg) {
    cross_t *c = arg;
    pthread_t th;
    cr_assert_eq(tide_mutex_lock(&c->m), 0);
    cr_assert_eq(pthread_create(&th, NULL, thread_locker, c), 0);
    /* Hold the lock until the thread is at it, then a while longer so that it blocks; an
     * order, not a time, is what is checked (a loaded machine may run the thread late). */
    while (atomic_load(&c->stage) == 0) tide_sleep(TIDE_MSEC(1));
    tide_sleep(TIDE_MSEC(30));
    atomic_store(&c->unlocked, 1);
    cr_assert_eq(tide_mutex_unlock(&c->m), 0);
    pthread_join(th, NULL);
    cr_assert(c->saw_unlocked, "the thread got the lock the task held");
    return 0;
}

Test(mutex, foreign_thread_blocks_until_task_unlocks) {
    static cross_t c;
    tide_mutex_init(&c.m);
    tt_run(cross_main, &c, 0);
}

/* ---- starvation freedom ----------------------------------------------------------------
 * Two bargers lock and unlock back to back, each holding the lock for a few microseconds of
 * busy work, on both workers (and a foreign thread), for as long as the victim is not done.
 * A running locker always beats a parked one to a free lock; without the hand-off once a
 * waiter has waited > 1 ms the victim could wait indefinitely. It must get the lock
 * VICTIM_LOCKS times, each time with a bounded number of bargers getting in first. */

typedef struct starve {
    tide_mutex_t m;
    _Atomic int stop;
    _Atomic uint64_t barges;
    int64_t worst;           /* longest single wait of the victim, ns */
    uint64_t worst_barges;   /* most locks taken by bargers during one wait of the victim */
} starve_t;

static void busy_us(int us) {
    int64_t end = tide_now() + TIDE_USEC(us);
    while (tide_now() < end) {
    }
}

static int barger(void *arg) {
    starve_t *s = arg;
    while (!atomic_load(&s->stop)) {
        tide_mutex_lock(&s->m);
        busy_us(5);
        atomic_fetch_add(&s->barges, 1);
        tide_mutex_unlock(&s->m);
    }
    return 0;
}

static void *thread_barger(void *arg) {
    barger(arg);
    return NULL;
}

#define VICTIM_LOCKS 100

static int victim(void *arg) {
    starve_t *s = arg;
    for (int i = 0; i < VICTIM_LOCKS; i++) {
        int64_t t0 = tide_now();
        uint64_t b0 = atomic_load(&s->barges);
        cr_assert_eq(tide_mutex_lock(&s->m), 0);
        int64_t w = tide_now() - t0;
        uint64_t b = atomic_load(&s->barges) - b0;
        if (w > s->worst) s->worst = w;
        if (b > s->worst_barges) s->worst_barges = b;
        tide_mutex_unlock(&s->m);
        tide_sleep(TIDE_USEC(200));
    }
    return 0;
}

static int starve_main(void *arg) {
    starve_t *s = arg;
    tide_task_t b[2], v;
    pthread_t th;
    for (int i = 0; i < 2; i++) cr_assert_eq(tide_spawn(&b[i], barger, s), 0);
    cr_assert_eq(pthread_create(&th, NULL, thread_barger, s), 0);
    tide_sleep(TIDE_MSEC(5));
    cr_assert_eq(tide_spawn(&v, victim, s), 0);
    /* The victim must finish while the bargers are still at it. */
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_SEC(20));
    int r = tide_join(v, NULL);
    tide_scope_end(&sc);
    atomic_store(&s->stop, 1);
    if (r < 0) {
        tide_cancel(v);
        tide_join(v, NULL);
    }
    for (int i = 0; i < 2; i++) tide_join(b[i], NULL);
    pthread_join(th, NULL);
    cr_assert_eq(r, 0, "the victim starved (%d locks not done in 20 s)", VICTIM_LOCKS);
    cr_assert_gt(atomic_load(&s->barges), 1000, "the bargers did run");
    /* Counted in bargers' locks rather than time, so a loaded machine does not change the
     * bound: once the victim has waited past the threshold, the next unlock hands it the
     * lock. Measured here: with the hand-off at most ~1,500 barges get in during one wait
     * (the threshold, plus the budget the waking worker's current task still has); with the
     * hand-off disabled, 16,000 to 43,000. */
    cr_assert_lt(s->worst_barges, 10000, "%llu locks barged in during one wait (%lld ns)",
                 (unsigned long long)s->worst_barges, (long long)s->worst);
    return 0;
}

Test(mutex, no_waiter_starves) {
    static starve_t s;
    tide_mutex_init(&s.m);
    tt_run(starve_main, &s, 0);
}
