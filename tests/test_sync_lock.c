/* The sync/ state lock (sync/common.h, lock.c): every channel, queue, semaphore and the
 * mutex's queue take it. Its unlock is a plain store unless it sees a sleeper marked, so a
 * sleeper that marks the lock just after the holder looked is not woken by that unlock; it
 * must find the lock free itself (bounded sleeps). These tests use plain threads, more of
 * them than the machine has CPUs, so holders are preempted and waiters go to sleep. */
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#include "common.h"

#define THREADS 6
#define ROUNDS TT_SCALE(100000)
#define PATIENCE_NS 10000000000LL /* what "never" means here: 10 s, not a speed bar */

typedef struct lock_run {
    _Atomic uint32_t lock; /* the lock under test */
    uint64_t counter;      /* plain: only the lock protects it */
    _Atomic int done;      /* threads that got through */
} lock_run_t;

/* Wait (politely) until the lock word reads want or PATIENCE_NS pass; true if it did. */
static bool wait_word(_Atomic uint32_t *l, uint32_t want) {
    int64_t end = tt_mono_ns() + PATIENCE_NS;
    while (atomic_load(l) != want) {
        if (tt_mono_ns() > end) return false;
        usleep(1000);
    }
    return true;
}

static bool wait_done(lock_run_t *r, int want) {
    int64_t end = tt_mono_ns() + PATIENCE_NS;
    while (atomic_load(&r->done) < want) {
        if (tt_mono_ns() > end) return false;
        usleep(1000);
    }
    return true;
}

static void *hammer(void *arg) {
    lock_run_t *r = arg;
    for (int i = 0; i < ROUNDS; i++) {
        tide__sync_lock(&r->lock);
        uint64_t v = r->counter;
        if (tt_rand() % 512 == 0) sched_yield(); /* be preempted holding it */
        r->counter = v + 1;
        tide__sync_unlock(&r->lock);
    }
    atomic_fetch_add(&r->done, 1);
    return NULL;
}

Test(sync_lock, no_increment_lost_with_more_threads_than_cpus) {
    tt_leaks_t lk;
    tt_leaks_begin(&lk);
    lock_run_t *r = calloc(1, sizeof *r);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, hammer, r);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    cr_assert_eq(r->counter, (uint64_t)THREADS * ROUNDS);
    cr_assert_eq(atomic_load(&r->lock), 0, "the lock must be free at the end");
    free(r);
    tt_leaks_end(&lk);
}

static void *lock_once(void *arg) {
    lock_run_t *r = arg;
    tide__sync_lock(&r->lock);
    r->counter++;
    tide__sync_unlock(&r->lock);
    atomic_fetch_add(&r->done, 1);
    return NULL;
}

/* A holder that stays away: the waiters give up spinning, mark the lock and sleep; the
 * holder's unlock sees the mark and wakes them, one after another. */
Test(sync_lock, sleepers_mark_the_lock_and_the_unlock_wakes_them) {
    tt_leaks_t lk;
    tt_leaks_begin(&lk);
    lock_run_t *r = calloc(1, sizeof *r);
    tide__sync_lock(&r->lock);
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, lock_once, r);
    cr_assert(wait_word(&r->lock, 2), "waiters never marked the held lock contended");
    cr_assert_eq(atomic_load(&r->done), 0, "a waiter got a held lock");
    tide__sync_unlock(&r->lock);
    cr_assert(wait_done(r, 3), "only %d of 3 sleepers got the lock", atomic_load(&r->done));
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    cr_assert_eq(r->counter, 3);
    cr_assert_eq(atomic_load(&r->lock), 0);
    free(r);
    tt_leaks_end(&lk);
}

/* The race the plain-store unlock allows, played out by hand: the holder looked (1, no
 * sleeper), a waiter then marked the lock and went to sleep, and the holder's store of 0
 * lands without a wake. The sleeper must still get the lock: late (one bounded sleep), not
 * never. With unbounded sleeps it would hang here. */
Test(sync_lock, a_wake_missed_by_a_racing_unlock_is_late_not_lost) {
    tt_leaks_t lk;
    tt_leaks_begin(&lk);
    lock_run_t *r = calloc(1, sizeof *r);
    tide__sync_lock(&r->lock);
    pthread_t th;
    pthread_create(&th, NULL, lock_once, r);
    cr_assert(wait_word(&r->lock, 2), "the waiter never went to sleep on the held lock");
    usleep(2000); /* let it reach the futex: the store below must find it asleep */
    atomic_store_explicit(&r->lock, 0, memory_order_release); /* the racing unlock: no wake */
    cr_assert(wait_done(r, 1), "a sleeper was stranded behind a free lock");
    pthread_join(th, NULL);
    cr_assert_eq(r->counter, 1);
    cr_assert_eq(atomic_load(&r->lock), 0);
    free(r);
    tt_leaks_end(&lk);
}

/* The lock under tasks: six workers on a machine with fewer CPUs, so a worker is often
 * descheduled holding a channel's lock and the others go to sleep on it. Producers and
 * consumers yield at random and receive under short deadlines; every element sent must be
 * received exactly once, and every task must finish. */
enum { TP = 16, TC = 8, TPER = TT_SCALE(20000) };

typedef struct tasks_run {
    tide_chan_t *c;           /* capacity 4: senders and receivers both park */
    _Atomic int producers;    /* producers still sending; the last one closes */
    _Atomic uint64_t got;     /* elements received */
    _Atomic uint64_t sum;     /* their sum */
    _Atomic uint8_t seen[TP * TPER]; /* each element's receipt */
} tasks_run_t;

static int t_producer(void *arg) {
    tasks_run_t *t = arg;
    static _Atomic int next;
    int id = atomic_fetch_add(&next, 1) % TP;
    for (int i = 0; i < TPER; i++) {
        uint64_t v = (uint64_t)id * TPER + i;
        int r = tide_chan_send(t->c, &v);
        if (r < 0) return r;
        if (tt_rand() % 64 == 0) tt_random_yields(3);
    }
    if (atomic_fetch_sub(&t->producers, 1) == 1) tide_chan_close(t->c);
    return 0;
}

static int t_consumer(void *arg) {
    tasks_run_t *t = arg;
    for (;;) {
        uint64_t v = UINT64_MAX;
        tide_scope_t sc;
        tide_timeout_begin(&sc, TIDE_USEC(50 + tt_rand() % 200));
        int r = tide_chan_recv(t->c, &v);
        tide_scope_end(&sc);
        if (r == -EPIPE) return 0;
        if (r == -ETIMEDOUT) {
            cr_assert_eq(v, UINT64_MAX, "a timed-out receive wrote an element");
            continue;
        }
        if (r < 0) return r;
        cr_assert_lt(v, (uint64_t)TP * TPER);
        cr_assert_eq(atomic_exchange(&t->seen[v], 1), 0, "element %llu twice",
                     (unsigned long long)v);
        atomic_fetch_add(&t->got, 1);
        atomic_fetch_add(&t->sum, v);
        if (tt_rand() % 64 == 0) tt_random_yields(3);
    }
}

static int tasks_main(void *arg) {
    (void)arg;
    tasks_run_t *t = calloc(1, sizeof *t);
    cr_assert_eq(tide_chan_new(&t->c, sizeof(uint64_t), 4), 0);
    atomic_store(&t->producers, TP);
    tide_task_t ts[TP + TC];
    for (int i = 0; i < TC; i++) cr_assert_eq(tide_spawn(&ts[i], t_consumer, t), 0);
    for (int i = 0; i < TP; i++) cr_assert_eq(tide_spawn(&ts[TC + i], t_producer, t), 0);
    for (int i = 0; i < TP + TC; i++) {
        int st = -1;
        cr_assert_eq(tide_join(ts[i], &st), 0);
        cr_assert_eq(st, 0, "task %d: %s", i, tide_strerror(st));
    }
    uint64_t n = (uint64_t)TP * TPER;
    cr_assert_eq(atomic_load(&t->got), n);
    cr_assert_eq(atomic_load(&t->sum), n * (n - 1) / 2);
    tide_chan_free(t->c);
    free(t);
    return 0;
}

Test(sync_lock, tasks_on_more_workers_than_cpus_lose_and_duplicate_nothing) {
    tt_run(tasks_main, NULL, 6);
}
