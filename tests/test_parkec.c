/* The workers' parking counter (Concurrency Kit's ck_ec, runtime/parkec.h), outside the
 * runtime: the protocol park.c and idle.c follow (a notifier stores its reason, then counts;
 * the sleeper reads the count, then takes the reasons, then sleeps while the count is
 * unchanged) must never lose a wake-up, and a sleep must end at its deadline, neither early
 * nor a backoff step late (ck_ec 0.7.1 oversleeps by a whole step unless tide shortens it). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include "testutil.h"

#include "parkec.h"

#define NOTIFIERS 3
#define NOTIFIES TT_SCALE(100000)

typedef struct park_run {
    tide__parkec_t ec;
    _Atomic uint32_t pending;  /* the reasons: notifications not yet taken */
    _Atomic uint64_t timeouts; /* sleeps that outlived their 5 s bound: lost wake-ups */
    _Atomic uint64_t sleeps;   /* sleeps that did not return at once */
} park_run_t;

static void *notifier(void *arg) {
    park_run_t *r = arg;
    for (int i = 0; i < NOTIFIES; i++) {
        atomic_fetch_add_explicit(&r->pending, 1, memory_order_seq_cst);
        tide__parkec_wake(&r->ec);
        if (tt_rand() % 64 == 0) sched_yield(); /* let the sleeper get to sleep now and then */
    }
    return NULL;
}

Test(parkec, no_wakeup_lost_between_many_notifiers_and_a_sleeper) {
    park_run_t *r = calloc(1, sizeof *r);
    tide__parkec_init(&r->ec);
    pthread_t th[NOTIFIERS];
    for (int i = 0; i < NOTIFIERS; i++) pthread_create(&th[i], NULL, notifier, r);
    uint64_t taken = 0, total = (uint64_t)NOTIFIERS * NOTIFIES;
    while (taken < total) {
        uint32_t count = tide__parkec_value(&r->ec);
        uint32_t p = atomic_exchange_explicit(&r->pending, 0, memory_order_acquire);
        taken += p;
        if (p || taken == total) continue;
        int64_t t0 = tide__now();
        if (tide__parkec_wait(&r->ec, count, t0 + TIDE_SEC(5)) == -ETIMEDOUT) {
            atomic_fetch_add(&r->timeouts, 1);
        } else if (tide__now() - t0 > TIDE_USEC(20)) {
            atomic_fetch_add(&r->sleeps, 1);
        }
    }
    for (int i = 0; i < NOTIFIERS; i++) pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&r->timeouts), 0, "a notification did not wake the sleeper");
    cr_assert_eq(taken, total);
    cr_assert_eq(atomic_load(&r->pending), 0);
    free(r);
}

/* Two threads wake each other in turn, each on its own counter: every round trip is a real
 * sleep and wake-up on the futex (the ping_pong pattern of two parked workers). */
#define ROUND_TRIPS TT_SCALE(5000)

typedef struct side {
    tide__parkec_t ec;
    _Atomic uint32_t turn; /* 1: this side may go */
} side_t;

static side_t sides[2];

static void *player(void *arg) {
    int me = (int)(intptr_t)arg;
    side_t *mine = &sides[me], *other = &sides[!me];
    for (int i = 0; i < ROUND_TRIPS; i++) {
        for (;;) {
            uint32_t count = tide__parkec_value(&mine->ec);
            if (atomic_exchange(&mine->turn, 0)) break;
            if (tide__parkec_wait(&mine->ec, count, tide__now() + TIDE_SEC(5)) == -ETIMEDOUT)
                return (void *)1; /* lost: the other side gave us the turn and we slept on */
        }
        atomic_store(&other->turn, 1);
        tide__parkec_wake(&other->ec);
    }
    return NULL;
}

Test(parkec, ping_pong_between_two_sleepers) {
    for (int i = 0; i < 2; i++) {
        tide__parkec_init(&sides[i].ec);
        atomic_store(&sides[i].turn, 0);
    }
    atomic_store(&sides[0].turn, 1);
    pthread_t a, b;
    void *ra, *rb;
    pthread_create(&a, NULL, player, (void *)0);
    pthread_create(&b, NULL, player, (void *)1);
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    cr_assert_null(ra, "side 0 slept through its turn");
    cr_assert_null(rb, "side 1 slept through its turn");
}

Test(parkec, sleep_ends_at_its_deadline_not_a_backoff_step_later) {
    tide__parkec_t ec;
    tide__parkec_init(&ec);
    for (int i = 0; i < 20; i++) {
        int64_t wait = TIDE_MSEC(1 + i % 12); /* around ck's 2 ms and 16 ms steps */
        int64_t t0 = tide__now();
        int r = tide__parkec_wait(&ec, tide__parkec_value(&ec), t0 + wait);
        int64_t took = tide__now() - t0;
        cr_assert_eq(r, -ETIMEDOUT);
        cr_assert_geq(took, wait, "woke %lld ns early", (long long)(wait - took));
        /* ck 0.7.1 unshortened: 2 ms for 1 ms, 16 ms for 3-12 ms; with tide's first step 1 s. */
        cr_assert_lt(took, wait + TT_SLACK(TIDE_MSEC(200)), "%lld ns for a %lld ns sleep",
                     (long long)took, (long long)wait);
    }
    /* A changed count: no sleep at all. */
    uint32_t before = tide__parkec_value(&ec);
    tide__parkec_wake(&ec);
    int64_t t0 = tide__now();
    cr_assert_eq(tide__parkec_wait(&ec, before, t0 + TIDE_SEC(5)), 0);
    cr_assert_lt(tide__now() - t0, TIDE_SEC(1));
}
