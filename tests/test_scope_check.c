/* Deadline scopes and shields must end innermost first. A shield has its own type, so ending
 * it as a deadline scope does not compile (tests/compile_fail/shield_as_scope.c, run by
 * ctest); what the types cannot see is caught at run time: an end that is not the innermost
 * open scope is reported (log, warn level, which debug mode turns on) and restores what the
 * ended scope saved, so a forgotten shield end cannot leave a task deaf to cancellation; a
 * task that returns with a scope open is reported too. Balanced use reports nothing. */
#include <string.h>

#include "testutil.h"

static int leaks_a_shield(void *arg) {
    cr_assert_eq(tide_cancel(tide_task_self()), 0);
    tide_scope_t outer;
    tide_timeout_begin(&outer, TIDE_SEC(10));
    tide_shield_t sh;
    tide_shield_begin(&sh); /* never ended: the mistake */
    cr_assert_eq(tide_sleep(TIDE_MSEC(1)), 0, "shielded");
    tide_scope_end(&outer);
    /* The outer scope's end ended the shield too: cancellation is seen again. */
    cr_assert_eq(tide_sleep(TIDE_MSEC(1)), -ECANCELED);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    return 0;
}

Test(scope_check, a_shield_left_open_is_reported_and_ended_with_its_scope) {
    const char *log = tt_run_logged(leaks_a_shield);
    cr_assert_not_null(strstr(log, "tide_scope_end ends a scope opened at depth 1 while 2 are "
                                   "open: an inner deadline scope or shield was never ended"),
                       "log: %s", log);
    cr_assert_not_null(strstr(log, "'main'"), "names the task: %s", log);
    cr_assert_null(strstr(log, "returned with"), "nothing left open at the end: %s", log);
}

static int leaks_a_scope_in_a_shield(void *arg) {
    tide_shield_t sh;
    tide_shield_begin(&sh);
    tide_scope_t inner;
    tide_timeout_begin(&inner, TIDE_MSEC(1)); /* never ended */
    tide_shield_end(&sh);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER, "the shield's end ended the inner scope");
    cr_assert_eq(tide_sleep(TIDE_MSEC(3)), 0);
    return 0;
}

Test(scope_check, a_scope_left_open_in_a_shield_is_reported) {
    const char *log = tt_run_logged(leaks_a_scope_in_a_shield);
    cr_assert_not_null(strstr(log, "tide_shield_end ends a scope opened at depth 1 while 2"),
                       "log: %s", log);
}

static int ends_twice(void *arg) {
    tide_scope_t s;
    tide_timeout_begin(&s, TIDE_SEC(10));
    tide_scope_end(&s);
    tide_scope_end(&s);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    return 0;
}

Test(scope_check, a_scope_ended_twice_is_reported) {
    const char *log = tt_run_logged(ends_twice);
    cr_assert_not_null(strstr(log, "tide_scope_end ends a scope opened at depth 1 while 0 are "
                                   "open: it was ended twice, or out of order"),
                       "log: %s", log);
}

static int child_leaves_scope_open(void *arg) {
    static tide_scope_t s; /* static: it outlives the task, which is not the point here */
    tide_timeout_begin(&s, TIDE_SEC(10));
    return 0;
}

static int spawns_a_leaker(void *arg) {
    tide_task_t t;
    tide_spawn_opts_t o = {.name = "leaker"};
    cr_assert_eq(tide_spawn_opts(&t, child_leaves_scope_open, NULL, &o), 0);
    cr_assert_eq(tide_join(t, NULL), 0);
    return 0;
}

Test(scope_check, a_task_returning_inside_a_scope_is_reported) {
    const char *log = tt_run_logged(spawns_a_leaker);
    cr_assert_not_null(strstr(log, "'leaker'"), "log: %s", log);
    cr_assert_not_null(strstr(log, "returned with 1 deadline scope(s) or shield(s) not ended"),
                       "log: %s", log);
}

static int balanced(void *arg) {
    tide_scope_t a, b;
    tide_shield_t sh;
    tide_timeout_begin(&a, TIDE_SEC(10));
    tide_shield_begin(&sh);
    tide_deadline_begin(&b, tide_now() + TIDE_SEC(5));
    cr_assert_eq(TIDE_WITH_TIMEOUT(TIDE_MSEC(1), tide_sleep(TIDE_SEC(1))), -ETIMEDOUT);
    cr_assert_eq(TIDE_WITH_SHIELD(TIDE_WITH_DEADLINE(TIDE_FOREVER, tide_sleep(0))), 0);
    tide_scope_end(&b);
    tide_shield_end(&sh);
    tide_scope_end(&a);
    return 0;
}

Test(scope_check, balanced_scopes_report_nothing) {
    const char *log = tt_run_logged(balanced);
    cr_assert_null(strstr(log, "scope"), "log: %s", log);
}
