/* Misuse gets a documented negative errno, never corruption or a hang: task-only calls
 * outside a task, joining twice or after detach, NULL functions, bad stack sizes, spawning
 * into a runtime that is shutting down, block_on from inside one of its tasks, joining
 * oneself. The one exception: freeing a runtime from inside one of its own tasks aborts
 * (free returns nothing, and going on would deadlock). */
#include <stdatomic.h>

#include "testutil.h"

static int nothing(void *arg) {
    return 0;
}

Test(misuse, task_only_calls_outside_a_task) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, nothing, NULL), -EPERM);
    cr_assert_eq(tide_yield(), -EPERM);
    cr_assert_eq(tide_task_id(tide_task_self()), 0);
    cr_assert_null(tide_runtime_current());
    cr_assert_eq(tide_join(TIDE_TASK_NONE, NULL), -ESRCH);
    cr_assert_eq(tide_detach(TIDE_TASK_NONE), -ESRCH);
    cr_assert_eq(tide_cancel(TIDE_TASK_NONE), -ESRCH);
    cr_assert_eq(tide_runtime_close(NULL), -EINVAL);
    cr_assert_eq(tide_runtime_block_on(NULL, nothing, NULL), -EINVAL);
    cr_assert_eq(tide_run(NULL, NULL), -EINVAL);
}

static int double_join(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, nothing, NULL), 0);
    cr_assert_eq(tide_join(t, NULL), 0);
    cr_assert_eq(tide_join(t, NULL), -ESRCH, "second join");
    cr_assert_eq(tide_detach(t), -ESRCH, "detach after join");
    cr_assert_eq(tide_task_done(t), -ESRCH);

    cr_assert_eq(tide_spawn(&t, nothing, NULL), 0);
    cr_assert_eq(tide_detach(t), 0);
    cr_assert_eq(tide_join(t, NULL), -ESRCH, "join after detach");
    cr_assert_eq(tide_detach(t), -ESRCH, "second detach");

    cr_assert_eq(tide_join(tide_task_self(), NULL), -EDEADLK, "join itself");
    return 0;
}

Test(misuse, join_twice_or_after_detach) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(double_join, NULL), 0);
    tt_leaks_end(&l);
}

static int bad_spawns(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, NULL, NULL), -EINVAL, "NULL fn");
    cr_assert_eq(tide_spawn(NULL, nothing, NULL), -EINVAL, "nowhere to put the handle");
    tide_spawn_opts_t small = {.stack_size = 1024};
    cr_assert_eq(tide_spawn_opts(&t, nothing, NULL, &small), -EINVAL, "stack too small");
    tide_spawn_opts_t huge = {.stack_size = (size_t)1 << 40};
    cr_assert_eq(tide_spawn_opts(&t, nothing, NULL, &huge), -EINVAL, "stack absurdly large");
    return 0;
}

Test(misuse, bad_spawn_arguments) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(bad_spawns, NULL), 0);
    tt_leaks_end(&l);
}

Test(misuse, bad_runtime_config) {
    tide_runtime_t *rt = NULL;
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.stack_size = 4096;
    cr_assert_eq(tide_runtime_new(&rt, &cfg), -EINVAL);
    cr_assert_null(rt);
    cfg.stack_size = 0;
    cfg.workers = 100000;
    cr_assert_eq(tide_runtime_new(&rt, &cfg), -EINVAL);
    cr_assert_eq(tide_runtime_new(NULL, NULL), -EINVAL);
}

static int block_on_self(void *arg) {
    tide_runtime_t *rt = tide_runtime_current();
    cr_assert_eq(tide_runtime_block_on(rt, nothing, NULL), -EDEADLK, "block_on from inside");
    return 0;
}

Test(misuse, block_on_from_inside_own_task) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(block_on_self, NULL), 0);
    tt_leaks_end(&l);
}

static int close_self(void *arg) {
    /* It would wait for itself: refused, and nothing is done (the runtime goes on). */
    cr_assert_eq(tide_runtime_close(tide_runtime_current()), -EDEADLK);
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, nothing, NULL), 0, "still running after the refused close");
    int st = 1;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, 0);
    return 0;
}

Test(misuse, close_from_inside_own_task_is_refused) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(close_self, NULL), 0);
    tt_leaks_end(&l);
}

static tt_gate_t hold;
static _Atomic int spawn_in_shutdown = 1;

static int holds_shutdown(void *arg) {
    tide_sleep(TIDE_SEC(3600)); /* cancelled by the shutdown */
    tide_task_t t;
    atomic_store(&spawn_in_shutdown, tide_spawn(&t, nothing, NULL));
    tide_shield_t s;
    tide_shield_begin(&s);
    tt_gate_wait(&hold); /* keeps the runtime shutting down until the test opens it */
    tide_shield_end(&s);
    return 0;
}

static void *free_it(void *arg) {
    tide_runtime_close(arg);
    return NULL;
}

Test(misuse, spawn_into_runtime_that_is_shutting_down) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tt_gate_init(&hold);
    tide_runtime_t *rt = tt_runtime(2);
    tide_task_t t;
    cr_assert_eq(tide_runtime_spawn(rt, &t, holds_shutdown, NULL, NULL), 0);
    cr_assert_eq(tide_detach(t), 0);
    while (tt_gate_waiting(&hold) == 0 && atomic_load(&spawn_in_shutdown) == 1) {
        if (tide_sleep(TIDE_MSEC(1)) == 0 && tt_gate_waiting(&hold) == 0) {
            static int started;
            if (!started++) {
                pthread_t th;
                pthread_create(&th, NULL, free_it, rt);
                pthread_detach(th);
            }
        }
    }
    /* The runtime is inside tide_runtime_close, held up by the shielded task: spawns fail,
     * from a task of the runtime and from outside. */
    while (tt_gate_waiting(&hold) == 0) tide_sleep(TIDE_MSEC(1));
    cr_assert_eq(atomic_load(&spawn_in_shutdown), -ESHUTDOWN);
    tide_task_t x;
    cr_assert_eq(tide_runtime_spawn(rt, &x, nothing, NULL, NULL), -ESHUTDOWN);
    tt_gate_open(&hold);
    while (tt_open_fds() != l.fds || tide__heap_live() != l.heap) tide_sleep(TIDE_MSEC(1));
    tt_leaks_end(&l);
}

Test(misuse, strerror_names_errors) {
    cr_assert_str_eq(tide_strerror(-ETIMEDOUT), "deadline expired");
    cr_assert_str_eq(tide_strerror(-ECANCELED), "operation cancelled");
    cr_assert_str_eq(tide_strerror(0), "success");
    cr_assert_not_null(tide_strerror(-12345));
}
