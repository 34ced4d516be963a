/* tide_mutex_t's plain-store unlock (sync/mutex.c): the holder releases the lock byte with a
 * plain store and only then looks for waiters, and a waiter fences (membarrier) after
 * queueing and looks again. These tests aim at the moment that design must get right: the
 * first waiter queueing just as the holder lets go, from tasks on two workers and from plain
 * threads, with deadlines, cancellation and starvation hand-offs around it. A wake lost there
 * leaves a waiter parked behind a free lock for good: every lock here runs under a long
 * deadline, so such a loss fails the test ("stranded") instead of hanging it. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "testutil.h"

/* Longer than any wait a working mutex can cause here, even on a loaded machine: only a lost
 * wake-up reaches it. */
#define STRANDED TIDE_SEC(20)

typedef struct race {
    tide_mutex_t m;
    uint64_t counter;        /* plain: only the mutex protects it */
    _Atomic int inside;      /* holders right now: never more than 1 */
    int iters;               /* locks per contender */
    _Atomic uint64_t ok;     /* locks taken */
    _Atomic uint64_t failed; /* locks that ended early (deadline, cancel) */
} race_t;

/* A few hundred nanoseconds at most: short enough that waiters arrive while the holder is
 * about to release, long enough that they often find it held. */
static void spin_a_little(void) {
    unsigned n = tt_rand() % 64;
    for (volatile unsigned i = 0; i < n; i++) {
    }
}

static void critical(race_t *r) {
    cr_assert_eq(atomic_fetch_add(&r->inside, 1), 0, "two holders at once");
    uint64_t c = r->counter;
    spin_a_little();
    r->counter = c + 1;
    atomic_fetch_sub(&r->inside, 1);
}

/* Lock under the stranding deadline; any failure is reported as the test's failure. */
static void lock_or_fail(race_t *r) {
    tide_scope_t sc; /* scopes work for plain threads too */
    tide_timeout_begin(&sc, STRANDED);
    int rc = tide_mutex_lock(&r->m);
    tide_scope_end(&sc);
    cr_assert_eq(rc, 0, "a waiter was stranded behind a free lock (%d)", rc);
}

static int racer(void *arg) {
    race_t *r = arg;
    for (int i = 0; i < r->iters; i++) {
        lock_or_fail(r);
        critical(r);
        cr_assert_eq(tide_mutex_unlock(&r->m), 0);
        atomic_fetch_add(&r->ok, 1);
        spin_a_little();
        if ((tt_rand() & 63) == 0) tide_yield(); /* -EPERM on a plain thread: fine */
    }
    return 0;
}

static void *thread_racer(void *arg) {
    racer(arg);
    return NULL;
}

static int first_waiter_main(void *arg) {
    enum { TASKS = 4, THREADS = 2 };
    race_t *r = arg;
    tide_task_t ts[TASKS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, thread_racer, r), 0);
    for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_spawn(&ts[i], racer, r), 0);
    for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    cr_assert_eq(r->counter, (uint64_t)(TASKS + THREADS) * r->iters);
    cr_assert_eq(atomic_load(&r->ok), r->counter);
    cr_assert_eq(tide_mutex_destroy(&r->m), 0, "left locked or with a waiter behind");
    return 0;
}

/* Few contenders, tiny critical sections: the queue is mostly empty, so most unlocks take the
 * plain-store path and most parks are a first waiter racing it. */
Test(mutex_release, first_waiter_races_the_plain_store) {
    static race_t r;
    cr_assert_eq(tide_mutex_init(&r.m), 0);
    r.iters = TT_SCALE(20000);
    tt_run(first_waiter_main, &r, 2);
}

/* The same, on a mutex never initialised (zero-filled, as TIDE_MUTEX_INITIALIZER): the
 * fence is set up by the first contended lock rather than by init. */
Test(mutex_release, zero_filled_mutex) {
    static race_t r; /* static: all zero */
    r.iters = TT_SCALE(20000);
    tt_run(first_waiter_main, &r, 2);
}

/* ---- a lone waiter against a lone holder ---------------------------------------------------- */

/* One holder, one waiter, one round at a time: the holder locks, says so, holds for a random
 * 0-4 us (about as long as the waiter spins before it parks) and unlocks; the waiter locks as
 * soon as it hears. Nobody else touches the mutex, so a wake-up lost between the holder's
 * store and the waiter's mark is never made up for by a later unlock: the waiter stays parked
 * behind a free lock until its deadline. One pair has a task hold and a plain thread wait,
 * the other the reverse, at once (2 workers). */
typedef struct pair {
    tide_mutex_t m;
    _Atomic uint32_t held; /* the round the holder has locked for */
    _Atomic uint32_t done; /* the round the waiter has finished */
    uint32_t rounds;
    uint64_t counter;      /* guarded by m */
} pair_t;

static void wait_for(_Atomic uint32_t *v, uint32_t want) {
    while (atomic_load(v) != want)
        if (tide_yield() == -EPERM) sched_yield();
}

static void spin_up_to(unsigned n) {
    n = tt_rand() % (n + 1);
    for (volatile unsigned i = 0; i < n; i++) {
    }
}

static int pair_holder(void *arg) {
    pair_t *p = arg;
    for (uint32_t i = 1; i <= p->rounds; i++) {
        tide_scope_t sc;
        tide_timeout_begin(&sc, STRANDED);
        cr_assert_eq(tide_mutex_lock(&p->m), 0, "holder, round %u", i);
        tide_scope_end(&sc);
        p->counter++;
        atomic_store(&p->held, i);
        spin_up_to(4000);
        cr_assert_eq(tide_mutex_unlock(&p->m), 0);
        wait_for(&p->done, i);
    }
    return 0;
}

static int pair_waiter(void *arg) {
    pair_t *p = arg;
    for (uint32_t i = 1; i <= p->rounds; i++) {
        wait_for(&p->held, i);
        spin_up_to(200);
        tide_scope_t sc;
        tide_timeout_begin(&sc, STRANDED);
        int rc = tide_mutex_lock(&p->m);
        tide_scope_end(&sc);
        cr_assert_eq(rc, 0, "round %u: the waiter was stranded behind a free lock (%d)", i, rc);
        p->counter++;
        cr_assert_eq(tide_mutex_unlock(&p->m), 0);
        atomic_store(&p->done, i);
    }
    return 0;
}

static void *thread_pair_holder(void *arg) {
    pair_holder(arg);
    return NULL;
}

static void *thread_pair_waiter(void *arg) {
    pair_waiter(arg);
    return NULL;
}

static int pairs_main(void *arg) {
    pair_t *p = arg; /* two pairs */
    pthread_t th[2];
    tide_task_t ts[2];
    cr_assert_eq(pthread_create(&th[0], NULL, thread_pair_waiter, &p[0]), 0);
    cr_assert_eq(pthread_create(&th[1], NULL, thread_pair_holder, &p[1]), 0);
    cr_assert_eq(tide_spawn(&ts[0], pair_holder, &p[0]), 0);
    cr_assert_eq(tide_spawn(&ts[1], pair_waiter, &p[1]), 0);
    for (int i = 0; i < 2; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(p[i].counter, 2ull * p[i].rounds);
        cr_assert_eq(tide_mutex_destroy(&p[i].m), 0);
    }
    return 0;
}

Test(mutex_release, lone_waiter_races_the_release) {
    static pair_t p[2];
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(tide_mutex_init(&p[i].m), 0);
        p[i].rounds = TT_SCALE(20000);
    }
    tt_run(pairs_main, p, 2);
}

/* ---- waits that end early while the holder lets go ---------------------------------------- */

/* Tiny deadlines (1-20 us) and cancellation: waiters leave the queue as the holder's plain
 * store lands, and the holder's look then finds PARKED with nobody, or somebody else, left. */
static int leaver(void *arg) {
    race_t *r = arg;
    for (int i = 0; i < r->iters; i++) {
        tide_scope_t sc;
        bool tiny = tt_rand() & 1;
        tide_timeout_begin(&sc, tiny ? TIDE_USEC(1 + tt_rand() % 20) : STRANDED);
        int rc = tide_mutex_lock(&r->m);
        tide_scope_end(&sc);
        if (rc == 0) {
            critical(r);
            if ((tt_rand() & 7) == 0) { /* now and then long enough for tiny waits to end */
                int64_t end = tide_now() + TIDE_USEC(30);
                while (tide_now() < end) {
                }
            }
            cr_assert_eq(tide_mutex_unlock(&r->m), 0);
            atomic_fetch_add(&r->ok, 1);
        } else {
            cr_assert(rc == -ECANCELED || (rc == -ETIMEDOUT && tiny),
                      "lock failed with %d (a long wait timed out: stranded)", rc);
            atomic_fetch_add(&r->failed, 1);
            if (rc == -ECANCELED) return rc;
        }
        spin_a_little();
    }
    return 0;
}

static int leavers_main(void *arg) {
    enum { TASKS = 6 };
    race_t *r = arg;
    for (int round = 0; round < 20; round++) {
        tide_task_t ts[TASKS];
        for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_spawn(&ts[i], leaver, r), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 300));
        tide_cancel(ts[tt_rand() % TASKS]); /* one leaves mid-wait, or mid-run */
        for (int i = 0; i < TASKS; i++) {
            int st;
            cr_assert_eq(tide_join(ts[i], &st), 0);
            cr_assert(st == 0 || st == -ECANCELED, "task ended with %d", st);
        }
        cr_assert_eq(tide_mutex_try_lock(&r->m), 0, "round %d: left locked", round);
        cr_assert_eq(tide_mutex_unlock(&r->m), 0);
    }
    cr_assert_eq(r->counter, atomic_load(&r->ok), "every success counted once, no failure did");
    cr_assert_gt(atomic_load(&r->failed), 0, "some waits must actually end early");
    cr_assert_eq(tide_mutex_destroy(&r->m), 0, "no waiter left behind");
    return 0;
}

Test(mutex_release, deadlines_and_cancel_at_the_release) {
    static race_t r;
    cr_assert_eq(tide_mutex_init(&r.m), 0);
    r.iters = TT_SCALE(2000);
    tt_run(leavers_main, &r, 2);
}

/* ---- starvation mode around a plain release ----------------------------------------------- */

/* A plain thread holds the lock for a millisecond at a time, long enough for queued tasks to
 * pass the starvation threshold, and releases between holds with no one else holding: the
 * queued waiters' mark (STARVING) can meet its plain store. A free lock left in starvation
 * mode with nobody handed it would strand every waiter. */
typedef struct starve {
    race_t r;
    _Atomic int stop; /* the tasks are done: the thread stops */
} starve_t;

static void *slow_holder(void *arg) {
    starve_t *s = arg;
    while (!atomic_load(&s->stop)) {
        cr_assert_eq(tide_mutex_lock(&s->r.m), 0);
        critical(&s->r);
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        cr_assert_eq(tide_mutex_unlock(&s->r.m), 0);
        atomic_fetch_add(&s->r.ok, 1);
        spin_a_little();
    }
    return NULL;
}

static int starve_main(void *arg) {
    enum { TASKS = 8 };
    starve_t *s = arg;
    pthread_t th;
    tide_task_t ts[TASKS];
    cr_assert_eq(pthread_create(&th, NULL, slow_holder, s), 0);
    for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_spawn(&ts[i], racer, &s->r), 0);
    for (int i = 0; i < TASKS; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    atomic_store(&s->stop, 1);
    pthread_join(th, NULL);
    cr_assert_eq(s->r.counter, atomic_load(&s->r.ok));
    cr_assert_eq(tide_mutex_destroy(&s->r.m), 0);
    return 0;
}

Test(mutex_release, starvation_hand_off_meets_the_plain_store) {
    static starve_t s;
    cr_assert_eq(tide_mutex_init(&s.r.m), 0);
    s.r.iters = TT_SCALE(300);
    tt_run(starve_main, &s, 2);
}
