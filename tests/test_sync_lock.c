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

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wait (politely) until the lock word reads want or PATIENCE_NS pass; true if it did. */
static bool wait_word(_Atomic uint32_t *l, uint32_t want) {
    int64_t end = mono_ns() + PATIENCE_NS;
    while (atomic_load(l) != want) {
        if (mono_ns() > end) return false;
        usleep(1000);
    }
    return true;
}

static bool wait_done(lock_run_t *r, int want) {
    int64_t end = mono_ns() + PATIENCE_NS;
    while (atomic_load(&r->done) < want) {
        if (mono_ns() > end) return false;
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
