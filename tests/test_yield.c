/* Yield: a task that yields hands its worker straight to the next task (one context switch,
 * no stop in the scheduler) and is queued by that task once it is off its stack. What must
 * hold whichever way the switch goes: each task resumes as itself (tide_task_self, its
 * registers and errno), on whatever worker stole it meanwhile; a yield with a wait open
 * keeps what a waker did; and a worker whose tasks only yield still fires its timers and
 * serves the global queue (the periodic work is the scheduler's, so those picks go through
 * it). */
#include <errno.h>
#include <stdatomic.h>

#include "testutil.h"

enum { YT_TASKS = 64, YT_YIELDS = 2000 };

typedef struct yt_arg {
    tide_task_t self;  /* filled in before the gate opens */
    int id;            /* also this task's errno */
    uint64_t yields;   /* yields done (read after the join) */
} yt_arg_t;

static tt_gate_t yt_start;

static __attribute__((noinline)) void set_errno(int v) {
    errno = v;
}

static __attribute__((noinline)) int get_errno(void) {
    return errno;
}

static int yt_task(void *arg) {
    yt_arg_t *a = arg;
    tt_gate_wait(&yt_start); /* all spawned (handles known) before anyone yields */
    uint64_t sum = (uint64_t)a->id, expect = (uint64_t)a->id;
    for (int i = 0; i < YT_YIELDS; i++) {
        set_errno(1000 + a->id);
        sum = sum * 31 + (uint64_t)i; /* kept in registers across the switch */
        cr_assert_eq(tide_yield(), 0);
        expect = expect * 31 + (uint64_t)i;
        cr_assert_eq(sum, expect);
        cr_assert_eq(get_errno(), 1000 + a->id, "errno of another task after a yield");
        tide_task_t me = tide_task_self();
        cr_assert(me.ptr == a->self.ptr && tide_task_id(me) == tide_task_id(a->self),
                  "task %d resumed as another task", a->id);
        a->yields++;
    }
    return 0;
}

static int yt_main(void *arg) {
    yt_arg_t *as = arg;
    tide_task_t ts[YT_TASKS];
    tt_gate_init(&yt_start);
    for (int i = 0; i < YT_TASKS; i++) {
        as[i].id = i;
        cr_assert_eq(tide_spawn(&ts[i], yt_task, &as[i]), 0);
        as[i].self = ts[i];
    }
    /* Let them reach the gate: the yields below start new tasks by a direct switch too. */
    while (tt_gate_waiting(&yt_start) < YT_TASKS) tide_yield();
    tt_gate_open(&yt_start);
    for (int i = 0; i < YT_TASKS; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    return 0;
}

static void run_yielders(unsigned workers) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_runtime_t *rt = tt_runtime(workers);
    yt_arg_t as[YT_TASKS] = {0};
    cr_assert_eq(tide_runtime_block_on(rt, yt_main, as), 0);
    for (int i = 0; i < YT_TASKS; i++) cr_assert_eq(as[i].yields, YT_YIELDS);
    tide_stats_t st;
    tide_worker_stats_t ws[4];
    cr_assert_eq(tide_runtime_stats(rt, &st, ws, workers), 0);
    uint64_t runs = 0;
    for (unsigned i = 0; i < workers; i++) runs += ws[i].tasks_run;
    cr_assert_geq(runs, (uint64_t)YT_TASKS * YT_YIELDS, "every resumption counts as a run");
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

Test(yield, tasks_resume_as_themselves_on_one_worker) {
    run_yielders(1);
}

Test(yield, tasks_resume_as_themselves_while_workers_steal) {
    run_yielders(4);
}

/* A wait opened before a yield: the waker of it must not be lost, whether it fires before
 * the yield (the task is NOTIFIED) or while the task is queued. Either way the park after
 * the yield returns (a yield may end the wait early, as any wake-up may be spurious). */
static _Atomic int woke_it;

static int waker_task(void *arg) {
    tide_waker_t *k = arg;
    tide_wake(*k);
    atomic_store(&woke_it, 1);
    return 0;
}

static int open_wait_main(void *arg) {
    for (int round = 0; round < 200; round++) {
        tide_waker_t k = tide_park_prepare();
        if (round & 1) tide_wake(k); /* NOTIFIED before the yield */
        tide_task_t w;
        atomic_store(&woke_it, 0);
        cr_assert_eq(tide_spawn(&w, waker_task, &k), 0);
        while (!atomic_load(&woke_it)) cr_assert_eq(tide_yield(), 0);
        cr_assert_eq(tide_park(), 0);
        cr_assert_eq(tide_join(w, NULL), 0);
    }
    return 0;
}

Test(yield, a_yield_with_a_wait_open_loses_no_wake) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_runtime_t *rt = tt_runtime(2);
    cr_assert_eq(tide_runtime_block_on(rt, open_wait_main, NULL), 0);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

/* Tasks that only yield to each other on a lone worker: a sleeping task's timer still fires
 * and a task spawned from outside still runs, or the yielders would spin forever. */
static _Atomic int slept, remote_ran;

static int sleeper(void *arg) {
    cr_assert_eq(tide_sleep(TIDE_MSEC(5)), 0);
    atomic_store(&slept, 1);
    return 0;
}

static int remote_task(void *arg) {
    atomic_store(&remote_ran, 1);
    return 0;
}

static int spinner(void *arg) {
    while (!atomic_load(&slept) || !atomic_load(&remote_ran)) cr_assert_eq(tide_yield(), 0);
    return 0;
}

Test(yield, yielders_leave_room_for_timers_and_the_global_queue) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    atomic_store(&slept, 0);
    atomic_store(&remote_ran, 0);
    tide_runtime_t *rt = tt_runtime(1);
    tide_task_t s[3], z, r;
    cr_assert_eq(tide_runtime_spawn(rt, &z, sleeper, NULL, NULL), 0);
    for (int i = 0; i < 3; i++) cr_assert_eq(tide_runtime_spawn(rt, &s[i], spinner, NULL, NULL), 0);
    cr_assert_eq(tide_runtime_spawn(rt, &r, remote_task, NULL, NULL), 0);
    cr_assert_eq(tide_join(z, NULL), 0);
    cr_assert_eq(tide_join(r, NULL), 0);
    for (int i = 0; i < 3; i++) cr_assert_eq(tide_join(s[i], NULL), 0);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}
