/* tide_runtime_close while plain threads are blocked in tide_join on its tasks. The contract
 * (docs/api.md): free cancels the tasks; a joiner whose task ends gets 0 and the task's status
 * (-ECANCELED for a task that unwound), one that would have to wait on a runtime being freed
 * gets -ESHUTDOWN; either way free returns only after every joiner has left, so no joiner
 * touches freed memory (the woken joiner used to take the task's lock after the records
 * were freed: a heap-use-after-free under ASan). */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "testutil.h"

enum { JOINERS = 3 };

typedef struct joiner {
    tide_task_t h;
    _Atomic int started;
    int r, status;
} joiner_t;

/* Blocks until cancelled, then unwinds after a few yields (so the joiner's wake and the
 * free race in many orders). */
static int blocked(void *arg) {
    (void)arg;
    int r = tide_sleep(TIDE_SEC(3600));
    tt_random_yields(3);
    return r;
}

static void *join_thread(void *arg) {
    joiner_t *j = arg;
    atomic_store(&j->started, 1);
    j->status = 12345;
    j->r = tide_join(j->h, &j->status);
    return NULL;
}

Test(free_while_joined, joiner_gets_status_or_eshutdown_and_free_waits_for_it) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    int iters = TT_SCALE(300);
    int got_status = 0, got_shutdown = 0;
    for (int it = 0; it < iters; it++) {
        tide_runtime_t *rt = tt_runtime(1 + (unsigned)(it % 2));
        joiner_t j[JOINERS];
        pthread_t th[JOINERS];
        for (int i = 0; i < JOINERS; i++) {
            memset(&j[i], 0, sizeof j[i]);
            cr_assert_eq(tide_runtime_spawn(rt, &j[i].h, blocked, NULL, NULL), 0);
            cr_assert_eq(pthread_create(&th[i], NULL, join_thread, &j[i]), 0);
        }
        for (int i = 0; i < JOINERS; i++)
            while (!atomic_load(&j[i].started)) sched_yield();
        /* Let the joiners reach their park most of the time, not always. */
        if (it % 4) {
            struct timespec ts = {0, (long)(tt_rand() % 300000)};
            nanosleep(&ts, NULL);
        }
        tide_runtime_close(rt);
        for (int i = 0; i < JOINERS; i++) {
            cr_assert_eq(pthread_join(th[i], NULL), 0);
            if (j[i].r == 0) {
                cr_assert_eq(j[i].status, -ECANCELED, "the task was cancelled by free");
                got_status++;
            } else {
                cr_assert_eq(j[i].r, -ESHUTDOWN, "join: %s", tide_strerror(j[i].r));
                got_shutdown++;
            }
        }
    }
    cr_log_info("joins: %d with the status, %d -ESHUTDOWN", got_status, got_shutdown);
    cr_assert_gt(got_status, 0, "no joiner was ever parked when free ran");
    tt_leaks_end(&l);
}

/* tide_run's own join must come back with -ESHUTDOWN when another thread frees the
 * runtime it blocks on (block_on from a plain thread). */
typedef struct blockon {
    tide_runtime_t *rt;
    _Atomic int running;
    int r;
} blockon_t;

static int main_task(void *arg) {
    blockon_t *b = arg;
    atomic_store(&b->running, 1);
    return tide_sleep(TIDE_SEC(3600));
}

static void *block_on_thread(void *arg) {
    blockon_t *b = arg;
    b->r = tide_runtime_block_on(b->rt, main_task, b);
    return NULL;
}

Test(free_while_joined, block_on_from_another_thread_ends_with_the_task) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    for (int it = 0; it < TT_SCALE(50); it++) {
        blockon_t b = {.rt = tt_runtime(1)};
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, block_on_thread, &b), 0);
        while (!atomic_load(&b.running)) sched_yield();
        tide_runtime_close(b.rt);
        cr_assert_eq(pthread_join(th, NULL), 0);
        cr_assert(b.r == -ECANCELED || b.r == -ESHUTDOWN, "block_on: %s", tide_strerror(b.r));
    }
    tt_leaks_end(&l);
}
