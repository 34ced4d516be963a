/* tide_deadline_begin_self: a deadline scope opened by a task that names itself (the server
 * loop's per-read and per-write timeouts). It bounds blocking calls like tide_deadline_begin,
 * says whether its deadline is the one in force, nests, is ended by tide_scope_end after the
 * task has moved between workers, accepts TIDE_TASK_NONE from a plain thread, and in debug
 * mode refuses to write a task other than the caller. */
#include <string.h>

#include "testutil.h"

static int bounds_and_restores(void *arg) {
    tide_task_t self = tide_task_self();
    tide_scope_t scope;
    int64_t deadline = tide_now() + TIDE_MSEC(20);
    cr_assert_eq(tide_deadline_begin_self(&scope, self, deadline), 1, "the narrowest: in force");
    cr_assert_eq(tide_deadline(), deadline);
    cr_assert_eq(tide_sleep(TIDE_SEC(30)), -ETIMEDOUT);
    cr_assert_geq(tide_now(), deadline);
    tide_scope_end(&scope);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    cr_assert_eq(tide_sleep(TIDE_MSEC(1)), 0);
    return 0;
}

Test(deadline_self, bounds_a_call_and_restores) {
    tt_run(bounds_and_restores, NULL, 2);
}

static int nests(void *arg) {
    tide_task_t self = tide_task_self();
    tide_scope_t outer, inner, innermost;
    int64_t near = tide_now() + TIDE_MSEC(15);
    tide_deadline_begin(&outer, near);
    /* A later deadline inside an earlier one: not in force, and the earlier one still is. */
    cr_assert_eq(tide_deadline_begin_self(&inner, self, near + TIDE_SEC(10)), 0);
    cr_assert_eq(tide_deadline(), near);
    cr_assert_eq(tide_sleep(TIDE_SEC(30)), -ETIMEDOUT);
    /* An earlier one inside: in force until its end. */
    int64_t nearer = near - 1;
    cr_assert_eq(tide_deadline_begin_self(&innermost, self, nearer), 1);
    cr_assert_eq(tide_deadline(), nearer);
    tide_scope_end(&innermost);
    cr_assert_eq(tide_deadline(), near);
    tide_scope_end(&inner);
    cr_assert_eq(tide_deadline(), near);
    tide_scope_end(&outer);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    return 0;
}

Test(deadline_self, nests_with_other_scopes) {
    tt_run(nests, NULL, 2);
}

/* Each task opens a scope, yields many times (with two workers and a crowd of tasks it is
 * stolen back and forth), and ends it: the end finds the task's own record, wherever it runs
 * now, and nobody else's deadline moved. */
static int hopper(void *arg) {
    tide_task_t self = tide_task_self();
    int64_t deadline = tide_now() + TIDE_SEC(60) + (int64_t)(uintptr_t)arg;
    for (int round = 0; round < 50; round++) {
        tide_scope_t scope;
        cr_assert_eq(tide_deadline_begin_self(&scope, self, deadline), 1);
        for (int k = 0; k < 5; k++) {
            cr_assert_eq(tide_yield(), 0);
            cr_assert_eq(tide_deadline(), deadline);
        }
        tide_scope_end(&scope);
        cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    }
    return 0;
}

static int crowd(void *arg) {
    enum { N = 64 };
    tide_task_t t[N];
    for (uintptr_t i = 0; i < N; i++) cr_assert_eq(tide_spawn(&t[i], hopper, (void *)i), 0);
    for (int i = 0; i < N; i++) {
        int status = -1;
        cr_assert_eq(tide_join(t[i], &status), 0);
        cr_assert_eq(status, 0);
    }
    return 0;
}

Test(deadline_self, ends_on_the_task_after_it_moved) {
    tt_run(crowd, NULL, 2);
}

/* A plain thread has no task handle: TIDE_TASK_NONE looks it up. */
Test(deadline_self, works_in_a_plain_thread) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_scope_t scope;
    int64_t deadline = tide_now() + TIDE_MSEC(5);
    cr_assert_eq(tide_deadline_begin_self(&scope, TIDE_TASK_NONE, deadline), 1);
    cr_assert_eq(tide_deadline(), deadline);
    cr_assert_eq(tide_sleep(TIDE_SEC(10)), -ETIMEDOUT);
    tide_scope_end(&scope);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    tt_leaks_end(&l);
}

/* Debug mode: a handle that is not the caller's is reported, and the scope goes on the caller,
 * not on the task named. */
static int bystander(void *arg) {
    tt_gate_t *gate = arg;
    int r = tt_gate_wait(gate);
    cr_assert_eq(r, 0);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER, "its deadline was not touched");
    return 0;
}

static int names_another(void *arg) {
    tt_gate_t gate;
    tt_gate_init(&gate);
    tide_task_t other;
    cr_assert_eq(tide_spawn(&other, bystander, &gate), 0);
    tide_scope_t scope;
    int64_t deadline = tide_now() + TIDE_SEC(30);
    cr_assert_eq(tide_deadline_begin_self(&scope, other, deadline), 1);
    cr_assert_eq(tide_deadline(), deadline, "the scope is the caller's");
    tide_scope_end(&scope);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    tt_gate_open(&gate);
    cr_assert_eq(tide_join(other, NULL), 0);
    return 0;
}

Test(deadline_self, debug_mode_keeps_the_scope_on_the_caller) {
    const char *log = tt_run_logged(names_another);
    cr_assert(strstr(log, "self is not the calling task") != NULL, "log: %s", log);
}
