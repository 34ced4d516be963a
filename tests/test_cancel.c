/* Cancellation: a cancelled task's blocking calls return -ECANCELED so it unwinds; its status
 * comes back through join; cancel of a finished task is a no-op; shields let cleanup block;
 * cancel races with wakes lose nothing. */
#include <stdatomic.h>

#include "testutil.h"

static tt_gate_t never; /* nobody opens it */

static int wait_forever(void *arg) {
    int r = tt_gate_wait(&never);
    return r;
}

static int cancel_blocked(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, wait_forever, NULL), 0);
    while (tt_gate_waiting(&never) == 0) tide_yield();
    cr_assert_eq(tide_cancel(t), 0);
    int st = 0;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, -ECANCELED);
    cr_assert_eq(tt_gate_waiting(&never), 0, "the cancelled wait withdrew its waker");
    return 0;
}

Test(cancel, blocked_task_gets_ecanceled_and_joins) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tt_gate_init(&never);
    cr_assert_eq(tide_run(cancel_blocked, NULL), 0);
    tt_leaks_end(&l);
}

static int sleeper(void *arg) {
    int r = tide_sleep(TIDE_SEC(60));
    /* Sticky: every later blocking call fails too, so the task unwinds. */
    cr_assert_eq(tide_sleep(TIDE_MSEC(1)), -ECANCELED);
    cr_assert_eq(tide_yield(), -ECANCELED);
    cr_assert(tide_cancelled());
    return r;
}

static int cancel_sleeper(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, sleeper, NULL), 0);
    tide_sleep(TIDE_MSEC(5));
    int64_t t0 = tide_now();
    cr_assert_eq(tide_cancel(t), 0);
    int st = 0;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, -ECANCELED);
    cr_assert_lt(tide_now() - t0, TIDE_SEC(5), "cancel must interrupt the 60 s sleep");
    return 0;
}

Test(cancel, sleep_is_interrupted_and_cancel_is_sticky) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(cancel_sleeper, NULL), 0);
    tt_leaks_end(&l);
}

static int quick(void *arg) {
    return 3;
}

static int cancel_done(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, quick, NULL), 0);
    while (tide_task_done(t) == 0) tide_yield();
    cr_assert_eq(tide_cancel(t), 0, "cancelling a finished task is a no-op");
    int st = 0;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, 3, "cancel after the end does not change the status");
    cr_assert_eq(tide_cancel(t), -ESRCH, "the handle is released");
    return 0;
}

Test(cancel, finished_task_keeps_its_status) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(cancel_done, NULL), 0);
    tt_leaks_end(&l);
}

static int before_start_body(void *arg) {
    /* Cancelled before it ever ran: it still runs (it may own arg), and its first blocking
     * call tells it to stop. */
    return tide_sleep(TIDE_SEC(30));
}

static int cancel_before_start(void *arg) {
    for (int i = 0; i < 200; i++) {
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, before_start_body, NULL), 0);
        cr_assert_eq(tide_cancel(t), 0);
        int st = 0;
        cr_assert_eq(tide_join(t, &st), 0);
        cr_assert_eq(st, -ECANCELED);
    }
    return 0;
}

Test(cancel, before_the_task_starts) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(cancel_before_start, NULL), 0);
    tt_leaks_end(&l);
}

static tt_gate_t slow_cleanup;

static int shielded(void *arg) {
    int r = tide_sleep(TIDE_SEC(60));
    cr_assert_eq(r, -ECANCELED);
    tide_shield_t s;
    tide_shield_begin(&s);
    /* Cleanup that must block: the pending cancel is ignored inside the shield. */
    int cr = tt_gate_wait(&slow_cleanup);
    cr_assert_eq(cr, 0, "a shielded wait is not cancelled");
    cr_assert_eq(tide_sleep(TIDE_MSEC(2)), 0);
    tide_shield_end(&s);
    cr_assert_eq(tide_sleep(TIDE_MSEC(1)), -ECANCELED, "after the shield, cancel applies again");
    return 1;
}

static int shield_main(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, shielded, NULL), 0);
    tide_sleep(TIDE_MSEC(5));
    cr_assert_eq(tide_cancel(t), 0);
    while (tt_gate_waiting(&slow_cleanup) == 0) tide_yield();
    /* A second cancel while it waits in the shield must not break the shielded wait. */
    cr_assert_eq(tide_cancel(t), 0);
    tide_sleep(TIDE_MSEC(5));
    cr_assert_eq(tide_task_done(t), 0);
    tt_gate_open(&slow_cleanup);
    int st = 0;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, 1);
    return 0;
}

Test(cancel, shield_lets_cleanup_block) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tt_gate_init(&slow_cleanup);
    cr_assert_eq(tide_run(shield_main, NULL), 0);
    tt_leaks_end(&l);
}

/* Cancel racing a wake: the wait ends exactly once, with either outcome, and nothing leaks. */
static _Atomic int woken_ok, cancelled_seen;

typedef struct race {
    tt_gate_t gate;
} race_t;

static int racer(void *arg) {
    race_t *r = arg;
    int rc = tt_gate_wait(&r->gate);
    if (rc == 0) atomic_fetch_add(&woken_ok, 1);
    else if (rc == -ECANCELED) atomic_fetch_add(&cancelled_seen, 1);
    else cr_assert_fail("unexpected %d", rc);
    return 0;
}

static int race_main(void *arg) {
    int rounds = TT_SCALE(3000);
    for (int i = 0; i < rounds; i++) {
        race_t r;
        tt_gate_init(&r.gate);
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, racer, &r), 0);
        tt_random_yields(3);
        if (i % 2) {
            tt_gate_open(&r.gate);
            tide_cancel(t);
        } else {
            tide_cancel(t);
            tt_gate_open(&r.gate);
        }
        cr_assert_eq(tide_join(t, NULL), 0);
    }
    cr_assert_eq(atomic_load(&woken_ok) + atomic_load(&cancelled_seen), rounds);
    return 0;
}

Test(cancel, racing_a_wake_ends_the_wait_once) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(race_main, NULL), 0);
    tt_leaks_end(&l);
}

/* A joiner that is cancelled stops waiting, and the handle can still be joined later. */
static int long_sleeper(void *arg) {
    tide_sleep(TIDE_MSEC(50));
    return 9;
}

static int joiner(void *arg) {
    tide_task_t *target = arg;
    int st;
    return tide_join(*target, &st);
}

static int cancelled_joiner_main(void *arg) {
    tide_task_t target, j;
    cr_assert_eq(tide_spawn(&target, long_sleeper, NULL), 0);
    cr_assert_eq(tide_spawn(&j, joiner, &target), 0);
    tide_sleep(TIDE_MSEC(5));
    cr_assert_eq(tide_cancel(j), 0);
    int st = 0;
    cr_assert_eq(tide_join(j, &st), 0);
    cr_assert_eq(st, -ECANCELED, "the cancelled joiner's join failed");
    cr_assert_eq(tide_join(target, &st), 0, "the target's handle is still valid");
    cr_assert_eq(st, 9);
    return 0;
}

Test(cancel, cancelled_join_leaves_handle_valid) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(cancelled_joiner_main, NULL), 0);
    tt_leaks_end(&l);
}
