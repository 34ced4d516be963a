/* The runtime's spinlock (Concurrency Kit's fetch-and-store lock, base/platform.h) under
 * stress: threads increment a plain counter under the lock, mixing lock and trylock, with random
 * pauses inside the critical section; no increment may be lost. Under ThreadSanitizer this also
 * checks the hand-over annotations: without them, TSan reports the counter (see platform.c). */
#include <pthread.h>
#include <sched.h>

#include "testutil.h"

#include "platform.h"

#define THREADS 4
#define ROUNDS TT_SCALE(200000)

typedef struct spin_run {
    tide__spin_t lock;
    uint64_t counter;   /* plain: only the lock protects it */
    uint64_t trylocks;  /* successful trylocks, under the lock too */
} spin_run_t;

static void *hammer(void *arg) {
    spin_run_t *r = arg;
    for (int i = 0; i < ROUNDS; i++) {
        if (tt_rand() % 4 == 0) {
            while (!tide__spin_trylock(&r->lock)) sched_yield();
            r->trylocks++;
        } else {
            tide__spin_lock(&r->lock);
        }
        uint64_t v = r->counter;
        if (tt_rand() % 1024 == 0) sched_yield(); /* hold it across a preemption */
        r->counter = v + 1;
        tide__spin_unlock(&r->lock);
    }
    return NULL;
}

Test(spinlock, no_increment_lost_under_contention) {
    spin_run_t *r = calloc(1, sizeof *r);
    tide__spin_init(&r->lock);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, hammer, r);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    cr_assert_eq(r->counter, (uint64_t)THREADS * ROUNDS);
    cr_assert_gt(r->trylocks, 0);
    free(r);
}

Test(spinlock, trylock_fails_while_held_and_zero_fill_is_unlocked) {
    spin_run_t *r = calloc(1, sizeof *r); /* zero-filled: must be a free lock */
    cr_assert(tide__spin_trylock(&r->lock));
    cr_assert_not(tide__spin_trylock(&r->lock), "a held lock must refuse trylock");
    tide__spin_unlock(&r->lock);
    cr_assert(tide__spin_trylock(&r->lock));
    tide__spin_unlock(&r->lock);
    free(r);
}
