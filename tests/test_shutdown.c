/* Shutdown: freeing a runtime with tasks still blocked cancels them, runs them to their end,
 * returns every stack and task record, joins the threads and leaks nothing. */
#include <stdatomic.h>

#include "testutil.h"

static tt_gate_t never;
static _Atomic int unwound;
static _Atomic int children; /* joining tasks that have spawned their child */

static int blocked(void *arg) {
    int r = tt_gate_wait(&never);
    cr_assert_eq(r, -ECANCELED);
    atomic_fetch_add(&unwound, 1);
    return r;
}

static int sleeping(void *arg) {
    int r = tide_sleep(TIDE_SEC(3600));
    cr_assert_eq(r, -ECANCELED);
    atomic_fetch_add(&unwound, 1);
    return r;
}

static int joining(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, sleeping, NULL), 0);
    atomic_fetch_add(&children, 1);
    int st = 0;
    int r = tide_join(t, &st);
    /* Shutdown cancels both: either the join itself is cancelled, or the child ended first
     * (cancelled) and the join delivered its status. */
    cr_assert(r == -ECANCELED || (r == 0 && st == -ECANCELED), "join %d, status %d", r, st);
    atomic_fetch_add(&unwound, 1);
    return r;
}

static int runnable(void *arg) {
    while (!tide_cancelled()) tide_yield();
    atomic_fetch_add(&unwound, 1);
    return 0;
}

Test(shutdown, blocked_tasks_are_cancelled_and_everything_freed) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tt_gate_init(&never);
    tide_runtime_t *rt = tt_runtime(2);
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        tide_task_t t;
        cr_assert_eq(tide_runtime_spawn(rt, &t, blocked, NULL, NULL), 0);
        cr_assert_eq(tide_detach(t), 0);
        cr_assert_eq(tide_runtime_spawn(rt, &t, sleeping, NULL, NULL), 0);
        /* Not detached and never joined: shutdown still frees it. */
        cr_assert_eq(tide_runtime_spawn(rt, &t, joining, NULL, NULL), 0);
        cr_assert_eq(tide_detach(t), 0);
    }
    tide_task_t spin;
    cr_assert_eq(tide_runtime_spawn(rt, &spin, runnable, NULL, NULL), 0);
    /* Every task has run up to its wait (a joining task first run after shutdown began would
     * have its spawn refused, -ESHUTDOWN: seen under TSan, where 900 first runs are slow). */
    while (tt_gate_waiting(&never) < N || atomic_load(&children) < N) tide_sleep(TIDE_MSEC(1));
    tide_sleep(TIDE_MSEC(20));
    tide_runtime_close(rt);
    /* blocked + sleeping + joining's child (sleeping) + joining, + the spinner */
    cr_assert_eq(atomic_load(&unwound), 4 * N + 1);
    cr_assert_eq(tt_gate_waiting(&never), 0, "cancelled waits withdrew their wakers");
    tt_leaks_end(&l);
}

static int spawn_late(void *arg) {
    tide_sleep(TIDE_SEC(3600)); /* cancelled by shutdown */
    tide_task_t t;
    return tide_spawn(&t, spawn_late, NULL);
}

Test(shutdown, spawning_during_shutdown_fails_cleanly) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_runtime_t *rt = tt_runtime(2);
    tide_task_t t;
    cr_assert_eq(tide_runtime_spawn(rt, &t, spawn_late, NULL, NULL), 0);
    tide_sleep(TIDE_MSEC(5));
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

Test(shutdown, idle_runtime_starts_and_stops_many_times) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    for (int i = 0; i < 50; i++) {
        tide_runtime_t *rt = tt_runtime(1 + i % 4);
        tide_runtime_close(rt);
    }
    tt_leaks_end(&l);
}
