/* Spawning past the address space. A task's stack is mapped when it first runs; when that
 * mapping fails the task used to end with -ENOMEM without ever running, so the arg it owned
 * was never released. The contract (core.h, docs/api.md): tide_spawn either fails up front
 * (-ENOMEM, the caller keeps arg) or the task runs; a task whose first stack cannot be mapped
 * waits, retrying, until one can, and cancelling it makes it run at once to see the cancel. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "testutil.h"

typedef struct owned {
    _Atomic int ran;     /* the task's body started */
    _Atomic int *freed;  /* bumped when the task releases its arg */
} owned_t;

/* Owns its arg: only the task itself frees it. */
static int owner(void *arg) {
    owned_t *o = arg;
    atomic_store(&o->ran, 1);
    atomic_fetch_add(o->freed, 1);
    free(o);
    return 0;
}

enum { N = 40 };
static _Atomic int freed;

/* Pool stacks come 16 to a mapping: the 40 tasks below need more than the runtime's first
 * one. */
typedef struct gated {
    owned_t o;
    tt_gate_t *gate;
    _Atomic int *started;
} gated_t;

static int gated_owner(void *arg) {
    gated_t *g = arg;
    atomic_fetch_add(g->started, 1);
    int r = tt_gate_wait(g->gate);
    atomic_fetch_add(g->o.freed, 1);
    free(g);
    return r;
}

static int stacks_run_out_mid_flight(void *arg) {
    (void)arg;
    atomic_store(&freed, 0);
    static tt_gate_t gate;
    tt_gate_init(&gate);
    _Atomic int started = 0;
    tide_task_t h[N];
    for (int i = 0; i < N; i++) {
        gated_t *g = calloc(1, sizeof *g);
        g->o.freed = &freed;
        g->gate = &gate;
        g->started = &started;
        cr_assert_eq(tide_spawn(&h[i], gated_owner, g), 0);
    }
    /* They have records but no stacks yet; now no stack can be mapped. */
    tide_test_fail_alloc(1, TIDE_FAIL_FROM);
    tide_sleep(TIDE_MSEC(30));
    int ran = atomic_load(&started);
    /* The runtime knows stacks are short: a spawn now fails up front, the caller keeps arg. */
    owned_t *o = calloc(1, sizeof *o);
    o->freed = &freed;
    tide_task_t extra;
    int r = tide_spawn(&extra, owner, o);
    tide_test_fail_alloc(0, TIDE_FAIL_OFF);
    cr_assert_lt(ran, N, "all %d ran: stacks did not run out?", ran);
    cr_assert_gt(ran, 0);
    cr_assert_eq(atomic_load(&freed), 0, "a task ended without running?");
    cr_assert_eq(r, -ENOMEM, "spawn while stacks are short: %s", tide_strerror(r));
    free(o);
    /* Memory is back: the waiting tasks get their stacks and run. */
    while (atomic_load(&started) < N) tide_sleep(TIDE_MSEC(1));
    tt_gate_open(&gate);
    for (int i = 0; i < N; i++) {
        int st = -1;
        cr_assert_eq(tide_join(h[i], &st), 0);
        cr_assert_eq(st, 0, "task %d: %s (it ended without running?)", i, tide_strerror(st));
    }
    cr_assert_eq(atomic_load(&freed), N, "every spawned task ran and released its arg");
    cr_log_info("%d of %d tasks had stacks when mapping failed; the rest waited", ran, N);
    return 0;
}

Test(spawn_nomem, stacks_run_out_tasks_wait_then_run_and_spawn_fails_up_front) {
    tt_run(stacks_run_out_mid_flight, NULL, 1);
    tt_run(stacks_run_out_mid_flight, NULL, 2);
}

/* A stack of its own size is mapped at spawn: spawn fails up front when it cannot be. */
static int own_size_stack_fails_up_front(void *arg) {
    (void)arg;
    atomic_store(&freed, 0);
    const tide_spawn_opts_t big = {.stack_size = 256 * 1024};
    owned_t *o = calloc(1, sizeof *o);
    o->freed = &freed;
    tide_task_t h;
    tide_test_fail_alloc(1, TIDE_FAIL_FROM);
    int r = tide_spawn_opts(&h, owner, o, &big);
    tide_test_fail_alloc(0, TIDE_FAIL_OFF);
    cr_assert_eq(r, -ENOMEM, "%s", tide_strerror(r));
    cr_assert_eq(tide_spawn_opts(&h, owner, o, &big), 0, "memory is back");
    int st = -1;
    cr_assert_eq(tide_join(h, &st), 0);
    cr_assert_eq(st, 0);
    cr_assert_eq(atomic_load(&freed), 1);
    return 0;
}

Test(spawn_nomem, own_size_stack_fails_up_front) {
    tt_run(own_size_stack_fails_up_front, NULL, 1);
}

/* A task waiting for a stack is cancelled: it still runs (its body sees the cancel at its
 * first blocking call), and shutdown (which cancels) is not held up once memory is back. */
static int cancelled_owner(void *arg) {
    owned_t *o = arg;
    atomic_store(&o->ran, 1);
    int r = tide_sleep(TIDE_SEC(60));
    atomic_fetch_add(o->freed, 1);
    free(o);
    return r;
}

static int cancel_while_waiting(void *arg) {
    (void)arg;
    atomic_store(&freed, 0);
    enum { M = 24 }; /* more than one mapping's worth: the last ones wait for a stack */
    tide_task_t h[M];
    for (int i = 0; i < M; i++) {
        owned_t *o = calloc(1, sizeof *o);
        o->freed = &freed;
        cr_assert_eq(tide_spawn(&h[i], cancelled_owner, o), 0);
    }
    tide_test_fail_alloc(1, TIDE_FAIL_FROM);
    tide_sleep(TIDE_MSEC(20));
    for (int i = 0; i < M; i++) cr_assert_eq(tide_cancel(h[i]), 0);
    tide_sleep(TIDE_MSEC(20));
    tide_test_fail_alloc(0, TIDE_FAIL_OFF);
    for (int i = 0; i < M; i++) {
        int st = 0;
        cr_assert_eq(tide_join(h[i], &st), 0);
        cr_assert_eq(st, -ECANCELED, "task %d ran and saw the cancel: %s", i, tide_strerror(st));
    }
    cr_assert_eq(atomic_load(&freed), M);
    return 0;
}

Test(spawn_nomem, cancelled_while_waiting_for_a_stack_runs_and_unwinds) {
    tt_run(cancel_while_waiting, NULL, 1);
}

#if !defined(TT_SANITIZED)
/* The real thing (sanitizers reserve terabytes of shadow memory and need to map more as they
 * go, so only the plain build runs this): an address-space limit that leaves no room for a
 * 1 GiB stack. Spawn fails up front (the caller keeps arg), or the task runs once the limit
 * is raised; it never ends without running. */
static long vm_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0;
    if (f) {
        if (fscanf(f, "%ld", &pages) != 1) pages = 0;
        fclose(f);
    }
    return pages * sysconf(_SC_PAGESIZE);
}

typedef struct rl {
    struct rlimit saved;
} rl_t;

static int huge_stack_past_rlimit(void *arg) {
    rl_t *rl = arg;
    atomic_store(&freed, 0);
    owned_t *o = calloc(1, sizeof *o);
    o->freed = &freed;
    tide_spawn_opts_t huge = {.stack_size = (size_t)1 << 30};
    struct rlimit lim = rl->saved;
    lim.rlim_cur = (rlim_t)vm_bytes() + ((rlim_t)256 << 20); /* 256 MiB to spare */
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
    tide_task_t h;
    int r = tide_spawn_opts(&h, owner, o, &huge);
    tide_sleep(TIDE_MSEC(30));
    int ran_early = atomic_load(&freed);
    cr_assert_eq(setrlimit(RLIMIT_AS, &rl->saved), 0);
    cr_assert_eq(ran_early, 0, "a 1 GiB stack fit under the limit?");
    if (r == -ENOMEM) {
        /* Failed up front: the caller still owns o, and may try again. */
        r = tide_spawn_opts(&h, owner, o, &huge);
        cr_assert_eq(r, 0, "with the limit raised: %s", tide_strerror(r));
    }
    cr_assert_eq(r, 0, "%s", tide_strerror(r));
    int st = -1;
    cr_assert_eq(tide_join(h, &st), 0);
    cr_assert_eq(st, 0, "the task ended without running: %s", tide_strerror(st));
    cr_assert_eq(atomic_load(&freed), 1);
    return 0;
}

Test(spawn_nomem, address_space_limit_spawn_fails_or_task_runs) {
    rl_t rl;
    cr_assert_eq(getrlimit(RLIMIT_AS, &rl.saved), 0);
    tt_run(huge_stack_past_rlimit, &rl, 1);
}
#endif
