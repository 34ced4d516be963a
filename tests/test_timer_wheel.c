/* The timing wheel on its own: timers fire in deadline order, never before their deadline,
 * at every level of the wheel; cancelled timers never fire; the next-expiry estimate is never
 * later than the earliest timer; hundreds of thousands pending. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "timer.h"

typedef struct entry {
    tide__timer_t timer;
    int64_t deadline;
    int fired;
    int cancelled;
} entry_t;

static int64_t now_ns;
static int fired_count;
static int64_t last_deadline_fired;

static void fire(tide__timer_t *t, uint64_t seq) {
    entry_t *e = (entry_t *)(void *)t;
    cr_assert_eq(seq, (uint64_t)(uintptr_t)e, "the wake carries the armed sequence");
    cr_assert_not(e->cancelled, "a cancelled timer fired");
    cr_assert_eq(e->fired, 0, "fired twice");
    cr_assert_geq(now_ns, e->deadline, "fired %lld ns early", (long long)(e->deadline - now_ns));
    e->fired = 1;
    fired_count++;
    last_deadline_fired = e->deadline;
}

Test(timer_wheel, random_timers_fire_on_time_and_never_early) {
    enum { N = 200000 };
    entry_t *es = calloc(N, sizeof *es);
    tide__wheel_t *w = calloc(1, sizeof *w);
    tide__wheel_init(w, 0);
    now_ns = 0;
    fired_count = 0;
    int expected = 0;
    for (int i = 0; i < N; i++) {
        /* Mix of near (level 0), medium and far (up to ~5 h: level 3-4) deadlines. */
        int64_t span = (i % 3 == 0) ? TIDE_MSEC(60) : (i % 3 == 1) ? TIDE_SEC(30) : TIDE_SEC(18000);
        es[i].deadline = 1 + (int64_t)((uint64_t)tt_rand() * (uint64_t)tt_rand() % (uint64_t)span);
        cr_assert(tide__timer_arm(w, &es[i].timer, es[i].deadline, (uint64_t)(uintptr_t)&es[i]));
        if (i % 5 == 0) {
            tide__timer_disarm(&es[i].timer);
            es[i].cancelled = 1;
        } else {
            expected++;
        }
    }
    /* Advance in irregular steps (as a worker does), checking next-expiry each time. */
    while (fired_count < expected) {
        int64_t next = tide__wheel_next(w);
        cr_assert_neq(next, INT64_MAX, "timers pending but no next expiry");
        /* The estimate is a slot boundary: never later than the earliest pending deadline. */
        int64_t step = (int64_t)(tt_rand() % 3 == 0 ? tt_rand() % TIDE_MSEC(5) : tt_rand() % TIDE_SEC(2));
        now_ns = next > now_ns ? next : now_ns;
        now_ns += step % (TIDE_MSEC(1) + 1);
        tide__wheel_poll(w, now_ns, fire);
    }
    cr_assert_eq(tide__wheel_next(w), INT64_MAX);
    for (int i = 0; i < N; i++) cr_assert_eq(es[i].fired, !es[i].cancelled);
    free(es);
    free(w);
}

Test(timer_wheel, next_expiry_is_never_after_the_earliest_deadline) {
    tide__wheel_t *w = calloc(1, sizeof *w);
    tide__wheel_init(w, 0);
    enum { N = 5000 };
    entry_t *es = calloc(N, sizeof *es);
    int64_t earliest = INT64_MAX;
    for (int i = 0; i < N; i++) {
        es[i].deadline = TIDE_MSEC(1) + (int64_t)(tt_rand() % 1000000) * TIDE_MSEC(1);
        if (es[i].deadline < earliest) earliest = es[i].deadline;
        cr_assert(tide__timer_arm(w, &es[i].timer, es[i].deadline, (uint64_t)(uintptr_t)&es[i]));
    }
    int64_t next = tide__wheel_next(w);
    cr_assert_leq(next, earliest + TIDE_TICK_NS, "next %lld, earliest %lld", (long long)next,
                  (long long)earliest);
    /* Polling at the estimate repeatedly reaches the earliest timer without skipping it. */
    now_ns = 0;
    fired_count = 0;
    while (fired_count == 0) {
        now_ns = tide__wheel_next(w);
        tide__wheel_poll(w, now_ns, fire);
    }
    cr_assert_eq(last_deadline_fired, earliest);
    for (int i = 0; i < N; i++) tide__timer_disarm(&es[i].timer);
    cr_assert_eq(tide__wheel_next(w), INT64_MAX);
    free(es);
    free(w);
}

Test(timer_wheel, past_deadlines_are_refused) {
    tide__wheel_t w;
    tide__wheel_init(&w, TIDE_SEC(100));
    entry_t e = {0};
    now_ns = TIDE_SEC(200);
    fired_count = 0;
    tide__wheel_poll(&w, now_ns, fire);
    cr_assert_not(tide__timer_arm(&w, &e.timer, TIDE_SEC(150), 1), "deadline already passed");
    cr_assert_not(tide__timer_arm(&w, &e.timer, 0, 1));
    e.deadline = TIDE_SEC(201);
    cr_assert(tide__timer_arm(&w, &e.timer, e.deadline, (uint64_t)(uintptr_t)&e));
    tide__timer_disarm(&e.timer);
    tide__timer_disarm(&e.timer); /* twice is fine */
    now_ns = TIDE_SEC(300);
    tide__wheel_poll(&w, now_ns, fire);
    cr_assert_eq(fired_count, 0);
}
