/* Extreme integers at the public API: the most negative and most positive counts, durations,
 * deadlines, sizes and error codes get a clear answer (a negative errno, or the documented
 * clamping), never undefined arithmetic, a wait that ends early or one that never ends. */
#include <limits.h>
#include <string.h>

#include "testutil.h"

#include "timer.h"

static int waitgroup_extremes(void *arg) {
    (void)arg;
    tide_waitgroup_t wg;
    cr_assert_eq(tide_waitgroup_init(&wg), 0);
    /* -INT64_MIN does not exist: the count must be left alone and the call refused. */
    cr_assert_eq(tide_waitgroup_add(&wg, INT64_MIN), -EINVAL, "INT64_MIN on zero");
    cr_assert_eq(tide_waitgroup_wait(&wg), 0, "the count is still zero");
    cr_assert_eq(tide_waitgroup_add(&wg, 5), 0);
    cr_assert_eq(tide_waitgroup_add(&wg, INT64_MIN), -EINVAL, "INT64_MIN on five");
    cr_assert_eq(tide_waitgroup_add(&wg, INT64_MIN + 5), -EINVAL, "one below zero");
    cr_assert_eq(tide_waitgroup_add(&wg, INT64_MAX), -EINVAL, "overflow");
    cr_assert_eq(tide_waitgroup_add(&wg, INT64_MAX - 5), 0, "exactly INT64_MAX");
    cr_assert_eq(tide_waitgroup_add(&wg, 1), -EINVAL, "past INT64_MAX");
    cr_assert_eq(tide_waitgroup_add(&wg, -INT64_MAX), 0, "back to zero");
    cr_assert_eq(tide_waitgroup_wait(&wg), 0, "wait returns at zero");
    cr_assert_eq(tide_waitgroup_destroy(&wg), 0);
    return 0;
}

Test(extreme_values, waitgroup_add_int64_min_and_max) {
    tt_run(waitgroup_extremes, NULL, 1);
}

Test(extreme_values, strerror_int_min_and_max) {
    const char *s = tide_strerror(INT_MIN);
    cr_assert_not_null(s);
    cr_assert_str_not_empty(s);
    cr_assert_not_null(tide_strerror(INT_MAX));
    cr_assert_not_null(tide_strerror(-INT_MAX));
    cr_assert_str_eq(tide_strerror(-ETIMEDOUT), tide_strerror(ETIMEDOUT));
}

/* Durations and deadlines at both ends: negative ones are already past, huge ones are
 * (practically) never; none overflows into the other. */
static int duration_extremes(void *arg) {
    (void)arg;
    cr_assert_eq(tide_sleep(INT64_MIN), 0, "a negative sleep returns at once");
    cr_assert_eq(tide_sleep_until(INT64_MIN), 0);
    cr_assert_eq(tide_sleep(0), 0);

    tide_scope_t sc;
    tide_timeout_begin(&sc, INT64_MIN);
    cr_assert_eq(tide_sleep(TIDE_SEC(10)), -ETIMEDOUT, "timeout INT64_MIN: expired");
    tide_scope_end(&sc);
    tide_deadline_begin(&sc, INT64_MIN);
    cr_assert_eq(tide_sleep(TIDE_SEC(10)), -ETIMEDOUT, "deadline INT64_MIN: expired");
    tide_scope_end(&sc);

    /* Huge: the wait must not end by itself (no overflow to the past, no capped timer). */
    tide_timeout_begin(&sc, INT64_MAX);
    cr_assert_geq(tide_deadline(), tide_now(), "INT64_MAX ns from now did not wrap");
    tide_scope_t inner;
    tide_timeout_begin(&inner, TIDE_MSEC(20));
    cr_assert_eq(tide_sleep(INT64_MAX), -ETIMEDOUT, "the inner 20 ms scope ends it");
    tide_scope_end(&inner);
    tide_scope_end(&sc);
    cr_assert_eq(tide_deadline(), TIDE_FOREVER);

    /* A deadline beyond the timer wheel's range (2^36 ms, about 2.2 years): a sleep with a
     * nearer real deadline must end by that one, and nothing must fire early. */
    tide_deadline_begin(&sc, tide_now() + TIDE_SEC(100LL * 365 * 24 * 3600));
    int64_t t0 = tide_now();
    tide_timeout_begin(&inner, TIDE_MSEC(10));
    cr_assert_eq(tide_sleep(TIDE_SEC(200LL * 365 * 24 * 3600)), -ETIMEDOUT);
    tide_scope_end(&inner);
    cr_assert_geq(tide_now() - t0, TIDE_MSEC(10));
    tide_scope_end(&sc);
    return 0;
}

Test(extreme_values, durations_and_deadlines_at_both_ends) {
    tt_run(duration_extremes, NULL, 1);
}

/* The timer behind a deadline more than 2^36 ms away fired at the wheel's range limit
 * (capped), ending the wait as a timeout years early. It must fire at its real tick. */
typedef struct far_timer {
    tide__timer_t timer;
    int64_t deadline;
    int64_t fired_at;
} far_timer_t;

static int64_t wheel_now;

static void far_fire(tide__timer_t *t, uint64_t seq) {
    (void)seq;
    far_timer_t *f = (far_timer_t *)(void *)t;
    f->fired_at = wheel_now;
}

Test(extreme_values, timer_beyond_wheel_range_never_fires_early) {
    tide__wheel_t *w = calloc(1, sizeof *w);
    tide__wheel_init(w, 0);
    const int64_t range_ns = ((int64_t)1 << 36) * TIDE_TICK_NS;
    far_timer_t f[4] = {{.deadline = range_ns + TIDE_SEC(5)},
                        {.deadline = 3 * range_ns + TIDE_MSEC(7)},
                        {.deadline = INT64_MAX / 2},
                        {.deadline = range_ns - TIDE_SEC(1)}};
    for (int i = 0; i < 4; i++) {
        f[i].fired_at = -1;
        cr_assert(tide__timer_arm(w, &f[i].timer, f[i].deadline, (uint64_t)i + 1));
    }
    /* Jump from expiry to expiry as an idle worker does; the far one may not fire before its
     * deadline, and must fire once the clock reaches it. */
    wheel_now = 0;
    for (int step = 0; step < 100000 && f[0].fired_at < 0 ; step++) {
        int64_t next = tide__wheel_next(w);
        cr_assert_neq(next, INT64_MAX, "armed timers, no next expiry");
        if (next > wheel_now) wheel_now = next;
        tide__wheel_poll(w, wheel_now, far_fire);
    }
    cr_assert_geq(f[3].fired_at, f[3].deadline, "the in-range one fired early");
    cr_assert_geq(f[0].fired_at, f[0].deadline, "fired %lld s early",
                  (long long)((f[0].deadline - f[0].fired_at) / TIDE_SEC(1)));
    cr_assert_lt(f[0].fired_at, f[0].deadline + TIDE_MSEC(2), "fired late");
    for (int step = 0; step < 100000 && f[1].fired_at < 0; step++) {
        int64_t next = tide__wheel_next(w);
        if (next > wheel_now) wheel_now = next;
        tide__wheel_poll(w, wheel_now, far_fire);
    }
    cr_assert_geq(f[1].fired_at, f[1].deadline, "the 3x-range one fired early");
    cr_assert_eq(f[2].fired_at, -1, "the far-far one has not fired");
    tide__timer_disarm(&f[2].timer);
    cr_assert_eq(tide__wheel_next(w), INT64_MAX);
    free(w);
}

static int noop(void *arg) {
    (void)arg;
    return 0;
}

/* Sizes: absurd element sizes, counts and stack sizes are refused or fail with -ENOMEM
 * without touching memory they do not have. */
static int size_extremes(void *arg) {
    (void)arg;
    tide_chan_t *c;
    cr_assert_eq(tide_chan_new(&c, (size_t)1 << 61, 16), 0);
    char small[16] = {0};
    /* The ring's first buffer would be 16 << 61 bytes: that overflows size_t. */
    cr_assert_eq(tide_chan_try_send(c, small), -ENOMEM);
    tide_chan_free(c);
    cr_assert_eq(tide_chan_new(&c, 8, SIZE_MAX), 0, "capacity SIZE_MAX: unbounded");
    uint64_t v = 7;
    cr_assert_eq(tide_chan_try_send(c, &v), 0);
    cr_assert_eq(tide_chan_try_recv(c, &v), 0);
    tide_chan_free(c);

    tide_sem_t s;
    cr_assert_eq(tide_sem_init(&s, UINT64_MAX), 0);
    cr_assert_eq(tide_sem_release(&s), -EOVERFLOW);
    cr_assert_eq(tide_sem_destroy(&s), 0);

    tide_task_t h;
    tide_spawn_opts_t o = {.stack_size = SIZE_MAX};
    cr_assert_eq(tide_spawn_opts(&h, noop, NULL, &o), -EINVAL);
    return 0;
}

Test(extreme_values, sizes_at_the_top) {
    tt_run(size_extremes, NULL, 1);
}
