/* Spawning and joining: from inside tasks and from threads outside the runtime; join hands
 * back the status; detach; nested spawns on all workers; block_on; names and ids. */
#include <pthread.h>
#include <stdatomic.h>

#include "testutil.h"

static int square(void *arg) {
    intptr_t v = (intptr_t)arg;
    tt_random_yields(3);
    return (int)(v * v % 100000);
}

static int spawn_join_inside(void *arg) {
    enum { N = 5000 };
    static tide_task_t ts[N];
    for (intptr_t i = 0; i < N; i++) cr_assert_eq(tide_spawn(&ts[i], square, (void *)i), 0);
    for (intptr_t i = N - 1; i >= 0; i--) { /* join in another order than spawned */
        int st = -1;
        cr_assert_eq(tide_join(ts[i], &st), 0);
        cr_assert_eq(st, (int)(i * i % 100000));
    }
    return 0;
}

Test(spawn, inside_a_task_join_returns_each_status) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(spawn_join_inside, NULL), 0);
    tt_leaks_end(&l);
}

static int negative(void *arg) {
    return -ENOTCONN;
}

static int status_main(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, negative, NULL), 0);
    int st = 0;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, -ENOTCONN, "an error status comes back through join");
    return 42;
}

Test(spawn, run_returns_main_status_and_errors_pass_through_join) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(status_main, NULL), 42);
    tt_leaks_end(&l);
}

/* ---- from outside ---- */

typedef struct outside {
    tide_runtime_t *rt;
    _Atomic int sum;
} outside_t;

static int add_one(void *arg) {
    outside_t *o = arg;
    atomic_fetch_add(&o->sum, 1);
    return 5;
}

static void *foreign_spawner(void *arg) {
    outside_t *o = arg;
    enum { N = 2000 };
    tide_task_t *ts = malloc(sizeof(tide_task_t) * N);
    for (int i = 0; i < N; i++) cr_assert_eq(tide_runtime_spawn(o->rt, &ts[i], add_one, o, NULL), 0);
    for (int i = 0; i < N; i++) {
        int st = 0;
        cr_assert_eq(tide_join(ts[i], &st), 0, "a plain thread joins by blocking");
        cr_assert_eq(st, 5);
    }
    free(ts);
    return NULL;
}

Test(spawn, from_foreign_threads_and_joined_there) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    outside_t o = {.rt = tt_runtime(2)};
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, foreign_spawner, &o);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&o.sum), 8000);
    tt_runtime_quiet(o.rt);
    tide_runtime_close(o.rt);
    tt_leaks_end(&l);
}

static int block_on_body(void *arg) {
    cr_assert_not_null(tide_runtime_current());
    cr_assert_neq(tide_task_id(tide_task_self()), 0);
    return (int)(intptr_t)arg;
}

Test(spawn, block_on_runs_a_task_and_returns_its_status) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_runtime_t *rt = tt_runtime(2);
    cr_assert_null(tide_runtime_current(), "a plain thread is not in a runtime");
    for (intptr_t i = 0; i < 100; i++) cr_assert_eq(tide_runtime_block_on(rt, block_on_body, (void *)i), i);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

/* ---- detach, nesting ---- */

static _Atomic int detached_ran;

static int detached_body(void *arg) {
    tt_random_yields(2);
    atomic_fetch_add(&detached_ran, 1);
    return 0;
}

static int detach_main(void *arg) {
    for (int i = 0; i < 3000; i++) {
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, detached_body, NULL), 0);
        cr_assert_eq(tide_detach(t), 0);
        if (i % 2 == 0) {
            tide_spawn_opts_t opts = {.detached = 1};
            cr_assert_eq(tide_spawn_opts(NULL, detached_body, NULL, &opts), 0);
        }
    }
    while (atomic_load(&detached_ran) < 4500) tide_yield();
    return 0;
}

Test(spawn, detached_tasks_run_and_are_recycled) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_runtime_t *rt = tt_runtime(2);
    cr_assert_eq(tide_runtime_block_on(rt, detach_main, NULL), 0);
    cr_assert_eq(atomic_load(&detached_ran), 4500);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

static int tree(void *arg) {
    intptr_t depth = (intptr_t)arg;
    if (depth == 0) return 1;
    tide_task_t a, b;
    cr_assert_eq(tide_spawn(&a, tree, (void *)(depth - 1)), 0);
    cr_assert_eq(tide_spawn(&b, tree, (void *)(depth - 1)), 0);
    int sa = 0, sb = 0;
    cr_assert_eq(tide_join(a, &sa), 0);
    cr_assert_eq(tide_join(b, &sb), 0);
    return sa + sb;
}

Test(spawn, recursive_fork_join_tree) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(tree, (void *)(intptr_t)13), 1 << 13);
    tt_leaks_end(&l);
}

static int named(void *arg) {
    tide_task_set_name("renamed");
    return 0;
}

static int ids_main(void *arg) {
    tide_task_t a, b;
    cr_assert_eq(tide_spawn_opts(&a, named, NULL, &(tide_spawn_opts_t){.name = "first"}), 0);
    cr_assert_eq(tide_spawn(&b, named, NULL), 0);
    cr_assert_neq(tide_task_id(a), tide_task_id(b), "ids are unique");
    cr_assert_eq(tide_join(a, NULL), 0);
    cr_assert_eq(tide_task_id(a), 0, "a released handle has no id");
    cr_assert_eq(tide_join(b, NULL), 0);
    return 0;
}

Test(spawn, ids_are_unique_and_released_handles_have_none) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(ids_main, NULL), 0);
    tt_leaks_end(&l);
}

static int big_stack(void *arg) {
    volatile char buf[400 * 1024]; /* more than the default stack holds */
    for (size_t i = 0; i < sizeof buf; i += 4096) buf[i] = (char)i;
    return buf[4096];
}

static int stack_main(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn_opts(&t, big_stack, NULL, &(tide_spawn_opts_t){.stack_size = 1 << 20}), 0);
    int st = -1;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, (char)4096);
    return 0;
}

Test(spawn, custom_stack_size_is_honoured) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(stack_main, NULL), 0);
    tt_leaks_end(&l);
}

/* Task results: the value a task sets is what its joiner gets (the last set wins); a task
 * that sets none gives NULL even on a recycled record whose previous task set one; a plain
 * thread joining gets it too. */
static int set_twice(void *arg) {
    tide_task_set_result((void *)1);
    tt_random_yields(2);
    tide_task_set_result(arg);
    return 0;
}

static int set_none(void *arg) {
    tt_random_yields(2);
    return 3;
}

static int results_main(void *arg) {
    enum { N = 2000 };
    static tide_task_t ts[N];
    for (int round = 0; round < 4; round++) {
        for (intptr_t i = 0; i < N; i++)
            cr_assert_eq(tide_spawn(&ts[i], round % 2 ? set_none : set_twice, (void *)(i + 7)), 0);
        for (intptr_t i = 0; i < N; i++) {
            int st = -1;
            void *v = (void *)-1;
            cr_assert_eq(tide_join_result(ts[i], &st, &v), 0);
            if (round % 2) {
                cr_assert_eq(st, 3);
                cr_assert_null(v, "a recycled record's old result must not show through");
            } else {
                cr_assert_eq(st, 0);
                cr_assert_eq((intptr_t)v, i + 7, "the last value set");
            }
        }
    }
    return 0;
}

Test(spawn, task_results_reach_the_joiner) {
    tt_run(results_main, NULL, 0);
    /* a plain thread joins and reads the result */
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_runtime_t *rt = tt_runtime(2);
    tide_task_t t;
    cr_assert_eq(tide_runtime_spawn(rt, &t, set_twice, (void *)99, NULL), 0);
    int st = -1;
    void *v = NULL;
    cr_assert_eq(tide_join_result(t, &st, &v), 0);
    cr_assert_eq(st, 0);
    cr_assert_eq((intptr_t)v, 99);
    cr_assert_eq(tide_join_result(t, &st, &v), -ESRCH);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}
