/* Deadlines in one line: TIDE_WITH_TIMEOUT / TIDE_WITH_DEADLINE / TIDE_WITH_SHIELD pass the
 * call's value through, bound it (-ETIMEDOUT), nest with explicit scopes (the earliest
 * deadline wins), restore the caller's deadline however the expression is left, and work
 * with cancellation. */
#include <stdatomic.h>

#include "testutil.h"

static int answer(void) {
    return 42;
}

static int evaluations;
static int64_t counted(int64_t ns) {
    evaluations++;
    return ns;
}

static int value_passthrough(void *arg) {
    int64_t before = tide_deadline();
    cr_assert_eq(TIDE_WITH_TIMEOUT(TIDE_SEC(10), answer()), 42);
    cr_assert_eq(TIDE_WITH_DEADLINE(TIDE_FOREVER, answer()), 42);
    cr_assert_eq(TIDE_WITH_SHIELD(answer()), 42);
    /* Any type, any value: a negative count, a pointer, a struct. */
    ssize_t n = TIDE_WITH_TIMEOUT(TIDE_SEC(1), (ssize_t)-7);
    cr_assert_eq(n, -7);
    const char *p = TIDE_WITH_TIMEOUT(TIDE_SEC(1), "tide");
    cr_assert_str_eq(p, "tide");
    tide_task_t self = TIDE_WITH_TIMEOUT(TIDE_SEC(1), tide_task_self());
    cr_assert_eq(self.id, tide_task_self().id);
    /* A compound literal's commas are fine (the expression is the macro's variadic tail). */
    int two = TIDE_WITH_TIMEOUT(TIDE_SEC(1), ((int[]){1, 2})[1]);
    cr_assert_eq(two, 2);
    /* Void expressions, and several statements as one. */
    int ran = 0;
    TIDE_WITH_TIMEOUT(TIDE_SEC(1), (void)(ran = 1));
    cr_assert_eq(ran, 1);
    int v = TIDE_WITH_TIMEOUT(TIDE_SEC(1), ({
        int a = answer();
        a + 1;
    }));
    cr_assert_eq(v, 43);
    /* ns is evaluated once. */
    evaluations = 0;
    cr_assert_eq(TIDE_WITH_TIMEOUT(counted(TIDE_SEC(1)), tide_sleep(0)), 0);
    cr_assert_eq(evaluations, 1);
    cr_assert_eq(tide_deadline(), before);
    return 0;
}

Test(deadline_shorthand, passes_the_value_through) {
    tt_run(value_passthrough, NULL, 2);
}

static int times_out(void *arg) {
    int64_t t0 = tide_now();
    int r = TIDE_WITH_TIMEOUT(TIDE_MSEC(20), tide_sleep(TIDE_SEC(30)));
    int64_t took = tide_now() - t0;
    cr_assert_eq(r, -ETIMEDOUT);
    cr_assert_geq(took, TIDE_MSEC(20));
    cr_assert_lt(took, TT_SLACK(TIDE_SEC(2)), "took %lld ns", (long long)took);
    /* A blocking primitive, not only sleep: an empty channel's receive. */
    tide_chan_t *ch;
    cr_assert_eq(tide_chan_new(&ch, sizeof(int), 1), 0);
    int msg;
    cr_assert_eq(TIDE_WITH_TIMEOUT(TIDE_MSEC(5), tide_chan_recv(ch, &msg)), -ETIMEDOUT);
    /* A deadline in the past: the call fails at once. */
    cr_assert_eq(TIDE_WITH_DEADLINE(tide_now() - 1, tide_chan_recv(ch, &msg)), -ETIMEDOUT);
    /* A call that finishes in time is not touched. */
    cr_assert_eq(TIDE_WITH_TIMEOUT(TIDE_SEC(10), tide_sleep(TIDE_MSEC(1))), 0);
    msg = 5;
    cr_assert_eq(TIDE_WITH_TIMEOUT(TIDE_SEC(10), tide_chan_send(ch, &msg)), 0);
    cr_assert_eq(TIDE_WITH_TIMEOUT(TIDE_SEC(10), tide_chan_recv(ch, &msg)), 0);
    cr_assert_eq(msg, 5);
    tide_chan_free(ch);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    return 0;
}

Test(deadline_shorthand, times_out_a_call_that_takes_too_long) {
    tt_run(times_out, NULL, 2);
}

static int nests(void *arg) {
    tide_scope_t outer;
    tide_timeout_begin(&outer, TIDE_MSEC(30));
    int64_t dl = tide_deadline();
    /* A longer inner timeout cannot extend the outer deadline. */
    cr_assert_eq(TIDE_WITH_TIMEOUT(TIDE_SEC(10), tide_deadline()), dl);
    /* A shorter one wins inside, and the outer one is back afterwards. */
    cr_assert_lt(TIDE_WITH_TIMEOUT(TIDE_MSEC(1), tide_deadline()), dl);
    cr_assert_eq(tide_deadline(), dl);
    /* Shorthands nest in each other. */
    int64_t inner = TIDE_WITH_DEADLINE(dl - TIDE_MSEC(10),
                                       TIDE_WITH_TIMEOUT(TIDE_SEC(10), tide_deadline()));
    cr_assert_eq(inner, dl - TIDE_MSEC(10));
    /* The outer scope still bounds a call made through the shorthand. */
    int64_t t0 = tide_now();
    cr_assert_eq(TIDE_WITH_TIMEOUT(TIDE_SEC(10), tide_sleep(TIDE_SEC(10))), -ETIMEDOUT);
    cr_assert_lt(tide_now() - t0, TT_SLACK(TIDE_SEC(2)));
    cr_assert_eq(tide_deadline(), dl);
    /* A shield lifts the enclosing deadline, even an expired one, for its expression only. */
    cr_assert_eq(TIDE_WITH_SHIELD(tide_deadline()), TIDE_FOREVER);
    cr_assert_eq(TIDE_WITH_SHIELD(tide_sleep(TIDE_MSEC(2))), 0);
    cr_assert_eq(TIDE_WITH_SHIELD(TIDE_WITH_TIMEOUT(TIDE_MSEC(2), tide_sleep(TIDE_SEC(10)))),
                 -ETIMEDOUT);
    cr_assert_eq(tide_deadline(), dl);
    cr_assert_eq(tide_sleep(TIDE_MSEC(1)), -ETIMEDOUT);
    tide_scope_end(&outer);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    return 0;
}

Test(deadline_shorthand, nests_with_an_outer_scope) {
    tt_run(nests, NULL, 2);
}

/* Leaves the expression with a return from inside it: the scope still ends. */
static int leave_early(int how) {
    int r = TIDE_WITH_TIMEOUT(TIDE_MSEC(50), ({
        if (how == 1) return 1;
        how;
    }));
    if (r == 2) {
        TIDE_WITH_SHIELD(({
            if (how == 2) return 2;
        }));
    }
    return 0;
}

static int restores(void *arg) {
    cr_assert_eq(TIDE_WITH_TIMEOUT(TIDE_MSEC(1), tide_sleep(TIDE_SEC(1))), -ETIMEDOUT);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    cr_assert_eq(tide_sleep(TIDE_MSEC(3)), 0, "the expired scope is gone");
    tide_scope_t outer;
    tide_timeout_begin(&outer, TIDE_SEC(100));
    int64_t dl = tide_deadline();
    cr_assert_eq(leave_early(1), 1);
    cr_assert_eq(tide_deadline(), dl, "a return out of the expression ended its scope");
    cr_assert_eq(leave_early(2), 2);
    cr_assert_eq(tide_deadline(), dl, "a return out of a shielded expression ended the shield");
    cr_assert_eq(leave_early(0), 0);
    cr_assert_eq(tide_deadline(), dl);
    tide_scope_end(&outer);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    return 0;
}

Test(deadline_shorthand, restores_the_scope_after_the_call) {
    tt_run(restores, NULL, 2);
}

/* The same from a plain thread (no runtime): scopes work there too. */
Test(deadline_shorthand, works_in_a_plain_thread) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(TIDE_WITH_TIMEOUT(TIDE_MSEC(5), tide_sleep(TIDE_SEC(10))), -ETIMEDOUT);
    cr_assert_eq(TIDE_WITH_TIMEOUT(TIDE_SEC(10), answer()), 42);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    tt_leaks_end(&l);
}

static _Atomic int victim_stage;

static int victim(void *arg) {
    atomic_store(&victim_stage, 1);
    /* Blocked inside the shorthand when the cancel comes. */
    int r = TIDE_WITH_TIMEOUT(TIDE_SEC(30), tide_sleep(TIDE_SEC(30)));
    cr_assert_eq(r, -ECANCELED);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);
    /* Cancelled: a bounded call fails at once... */
    cr_assert_eq(TIDE_WITH_TIMEOUT(TIDE_SEC(30), tide_sleep(TIDE_MSEC(1))), -ECANCELED);
    /* ...except in a shield, where cleanup may block, still under its own deadline. */
    cr_assert_eq(TIDE_WITH_SHIELD(tide_sleep(TIDE_MSEC(2))), 0);
    cr_assert_eq(TIDE_WITH_SHIELD(TIDE_WITH_TIMEOUT(TIDE_MSEC(2), tide_sleep(TIDE_SEC(30)))),
                 -ETIMEDOUT);
    /* And the shield ended with its expression. */
    cr_assert_eq(tide_sleep(TIDE_MSEC(1)), -ECANCELED);
    atomic_store(&victim_stage, 2);
    return -ECANCELED;
}

static int cancels(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, victim, NULL), 0);
    while (atomic_load(&victim_stage) == 0) tide_sleep(TIDE_MSEC(1));
    tide_sleep(TIDE_MSEC(5)); /* let it reach the sleep */
    cr_assert_eq(tide_cancel(t), 0);
    int status = 0;
    cr_assert_eq(tide_join(t, &status), 0);
    cr_assert_eq(status, -ECANCELED);
    cr_assert_eq(atomic_load(&victim_stage), 2);
    return 0;
}

Test(deadline_shorthand, works_with_cancellation) {
    tt_run(cancels, NULL, 2);
}
