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

/* A timer left armed by an earlier wait and re-armed for a later deadline does not fire at
 * its old slot, fires once at the new deadline with the new sequence; re-armed for an earlier
 * one, it fires then; re-armed on another wheel while armed on one, it stays where it is. */
Test(timer_wheel, rearm_moves_the_due_time_both_ways) {
    tide__wheel_t w, other;
    tide__wheel_init(&w, 0);
    tide__wheel_init(&other, 0);
    entry_t e = {0};
    fired_count = 0;
    now_ns = 0;
    cr_assert(tide__timer_arm(&w, &e.timer, TIDE_MSEC(5), 1));
    /* Later, at every level: the old slot comes round first and must not fire it. */
    int64_t later[] = {TIDE_MSEC(7), TIDE_MSEC(300), TIDE_SEC(20), TIDE_SEC(4000)};
    for (int i = 0; i < 4; i++) {
        e.deadline = later[i];
        e.fired = 0;
        fired_count = 0;
        cr_assert(tide__timer_rearm(&other, &e.timer, e.deadline, (uint64_t)(uintptr_t)&e));
        cr_assert_eq(atomic_load(&w.count), 1, "kept on its wheel");
        cr_assert_eq(atomic_load(&other.count), 0);
        for (now_ns += TIDE_MSEC(1); now_ns < e.deadline; now_ns += (e.deadline - now_ns) / 3 + 1) {
            tide__wheel_poll(&w, now_ns, fire);
            cr_assert_eq(fired_count, 0, "fired before its new deadline");
            cr_assert_leq(tide__wheel_next(&w), e.deadline, "next expiry after the deadline");
        }
        now_ns = e.deadline;
        tide__wheel_poll(&w, now_ns, fire);
        cr_assert_eq(fired_count, 1, "not fired at its new deadline");
        cr_assert_eq(atomic_load(&w.count), 0);
        /* Arm again for the next round (fired timers are not armed). */
        cr_assert(tide__timer_arm(&w, &e.timer, now_ns + TIDE_MSEC(2), 7));
    }
    /* Earlier: moved forward, fires at the earlier deadline. */
    e.deadline = now_ns + TIDE_MSEC(1);
    cr_assert(tide__timer_rearm(&w, &e.timer, now_ns + TIDE_SEC(10), 8));
    cr_assert(tide__timer_rearm(&w, &e.timer, e.deadline, (uint64_t)(uintptr_t)&e));
    e.fired = 0;
    fired_count = 0;
    now_ns = e.deadline;
    tide__wheel_poll(&w, now_ns, fire);
    cr_assert_eq(fired_count, 1, "an earlier re-arm must fire at the earlier deadline");
    /* A deadline already reached: refused, and the timer is left disarmed. */
    cr_assert(tide__timer_arm(&w, &e.timer, now_ns + TIDE_MSEC(3), 9));
    cr_assert_not(tide__timer_rearm(&w, &e.timer, now_ns - TIDE_MSEC(1), 10));
    cr_assert_eq(atomic_load(&w.count), 0);
    cr_assert_null(atomic_load(&e.timer.wheel));
}

/* Many timers in one slot, cancelled from its middle and ends in any order: the slot counts
 * as occupied until its last timer goes; the others fire, each once, at the slot's tick;
 * timers cascading from a higher level into a slot, and re-armed ones moved on from it, are
 * kept. (Cancels every 8th timer but one run of them, as when a slot was dealt over 8 lists.) */
Test(timer_wheel, a_slot_with_many_timers_fires_each_once_and_empties_last) {
    enum { M = 69, LISTS = 8 };
    tide__wheel_t *w = calloc(1, sizeof *w);
    entry_t *es = calloc(M, sizeof *es);
    tide__wheel_init(w, 0);
    now_ns = 0;
    fired_count = 0;
    /* All in the slot of tick 10. Disarm all but every LISTS-th timer, from the last armed
     * to the first: the slot stays due at 10 ms. */
    for (int i = 0; i < M; i++) {
        es[i].deadline = TIDE_MSEC(10);
        cr_assert(tide__timer_arm(w, &es[i].timer, es[i].deadline, (uint64_t)(uintptr_t)&es[i]));
    }
    for (int i = M - 1; i >= 0; i--) {
        if (i % LISTS == 3) continue;
        tide__timer_disarm(&es[i].timer);
        es[i].cancelled = 1;
        cr_assert_eq(tide__wheel_next(w), TIDE_MSEC(10), "the slot looked empty with timers left");
    }
    /* The survivors of list 3 alone; one of them re-armed for later, one disarmed. */
    int survivors = 0, moved = -1, dropped = -1;
    for (int i = 3; i < M; i += LISTS) {
        if (moved < 0) moved = i;
        else if (dropped < 0) dropped = i;
        else survivors++;
    }
    es[moved].deadline = TIDE_MSEC(200);
    cr_assert(tide__timer_rearm(w, &es[moved].timer, es[moved].deadline, (uint64_t)(uintptr_t)&es[moved]));
    tide__timer_disarm(&es[dropped].timer);
    es[dropped].cancelled = 1;
    /* Timers from level 1 (tick 70) that cascade into level 0 as time passes. */
    entry_t far[2 * LISTS + 1];
    memset(far, 0, sizeof far);
    for (unsigned i = 0; i < sizeof far / sizeof far[0]; i++) {
        far[i].deadline = TIDE_MSEC(70);
        cr_assert(tide__timer_arm(w, &far[i].timer, far[i].deadline, (uint64_t)(uintptr_t)&far[i]));
    }
    now_ns = TIDE_MSEC(9);
    tide__wheel_poll(w, now_ns, fire);
    cr_assert_eq(fired_count, 0, "fired early");
    now_ns = TIDE_MSEC(10);
    tide__wheel_poll(w, now_ns, fire);
    cr_assert_eq(fired_count, survivors);
    cr_assert_eq(tide__wheel_next(w), TIDE_MSEC(64), "the level-1 slot is next");
    now_ns = TIDE_MSEC(69);
    tide__wheel_poll(w, now_ns, fire);
    cr_assert_eq(fired_count, survivors, "cascaded timers fired early");
    now_ns = TIDE_MSEC(70);
    tide__wheel_poll(w, now_ns, fire);
    cr_assert_eq(fired_count, survivors + (int)(sizeof far / sizeof far[0]));
    now_ns = TIDE_MSEC(200);
    tide__wheel_poll(w, now_ns, fire);
    cr_assert_eq(fired_count, survivors + (int)(sizeof far / sizeof far[0]) + 1);
    cr_assert_eq(tide__wheel_next(w), INT64_MAX, "empty slots still marked occupied");
    cr_assert_eq(atomic_load(&w->count), 0);
    for (int i = 0; i < M; i++) cr_assert_eq(es[i].fired, !es[i].cancelled);
    free(es);
    free(w);
}
