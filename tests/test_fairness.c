/* Fairness: a hot task that never blocks cannot starve the others on its worker (the
 * cooperative budget makes it yield); tasks from the global queue are not starved by a
 * worker busy with local work; yield goes to the back of the line. */
#include <stdatomic.h>

#include "testutil.h"

static _Atomic int stop_hot;
static _Atomic uint64_t hot_ops;

static int hot(void *arg) {
    /* Models a task whose operations always complete at once (a channel that is never
     * empty): each one ticks the budget but never parks. */
    while (!atomic_load(&stop_hot)) {
        atomic_fetch_add(&hot_ops, 1);
        tide_budget_tick();
    }
    return 0;
}

static int victim(void *arg) {
    atomic_store(&stop_hot, 1);
    return 0;
}

static int hot_main(void *arg) {
    tide_task_t h, v;
    cr_assert_eq(tide_spawn(&h, hot, NULL), 0);
    tide_yield(); /* let the hot task start and take the worker */
    cr_assert_eq(tide_spawn(&v, victim, NULL), 0);
    cr_assert_eq(tide_join(v, NULL), 0);
    cr_assert_eq(tide_join(h, NULL), 0);
    return 0;
}

Test(fairness, hot_task_cannot_starve_others_on_one_worker) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_runtime_t *rt = tt_runtime(1);
    cr_assert_eq(tide_runtime_block_on(rt, hot_main, NULL), 0);
    tide_stats_t st;
    tide_worker_stats_t ws[1];
    cr_assert_eq(tide_runtime_stats(rt, &st, ws, 1), 0);
    cr_assert_gt(ws[0].budget_yields, 0, "the hot task was made to yield");
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

/* A worker whose tasks keep waking each other through the LIFO slot and local queue must
 * still serve the global queue (spawns from outside). */
static _Atomic int remote_ran;

static int remote_task(void *arg) {
    atomic_store(&remote_ran, 1);
    return 0;
}

static int spinner(void *arg) {
    while (!atomic_load(&remote_ran)) tide_yield();
    return 0;
}

Test(fairness, global_queue_is_not_starved) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_runtime_t *rt = tt_runtime(1);
    tide_task_t s[4];
    for (int i = 0; i < 4; i++) cr_assert_eq(tide_runtime_spawn(rt, &s[i], spinner, NULL, NULL), 0);
    tide_sleep(TIDE_MSEC(10)); /* the spinners own the only worker now */
    tide_task_t r;
    cr_assert_eq(tide_runtime_spawn(rt, &r, remote_task, NULL, NULL), 0);
    cr_assert_eq(tide_join(r, NULL), 0);
    for (int i = 0; i < 4; i++) cr_assert_eq(tide_join(s[i], NULL), 0);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

/* Round robin: N tasks each yielding K times on one worker interleave; no task runs twice
 * in a row while another is runnable. */
enum { RR_TASKS = 8, RR_ROUNDS = 100 };
static _Atomic int last_runner = -1;
static _Atomic int repeats;

static tt_gate_t rr_start;

static int rr(void *arg) {
    int me = (int)(intptr_t)arg;
    tt_gate_wait(&rr_start); /* start together, however slowly they were spawned */
    for (int i = 0; i < RR_ROUNDS; i++) {
        if (atomic_exchange(&last_runner, me) == me) atomic_fetch_add(&repeats, 1);
        tide_yield();
    }
    return 0;
}

Test(fairness, yield_goes_to_the_back_of_the_line) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_runtime_t *rt = tt_runtime(1);
    tide_task_t ts[RR_TASKS];
    tt_gate_init(&rr_start);
    for (intptr_t i = 0; i < RR_TASKS; i++) cr_assert_eq(tide_runtime_spawn(rt, &ts[i], rr, (void *)i, NULL), 0);
    while (tt_gate_waiting(&rr_start) < RR_TASKS) tide_sleep(TIDE_MSEC(1));
    tt_gate_open(&rr_start);
    for (int i = 0; i < RR_TASKS; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    /* Only the tail end, when tasks finish, may let one run twice. */
    cr_assert_leq(atomic_load(&repeats), RR_TASKS, "%d repeats", atomic_load(&repeats));
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}
