/* select: exactly one case fires (the others are withdrawn: nothing sent or received by
 * them), random order spreads over ready cases, TIDE_SELECT_BIASED takes array order; joins,
 * events, timeout cases, the caller's deadline and cancellation; closed channels; selects on
 * both sides of rendezvous channels; thousands of concurrent selects with exact counts. */
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

static tide_sel_t recv_case(tide_chan_t *c, void *elem) {
    return (tide_sel_t){.kind = TIDE_SEL_RECV, .chan = c, .elem = elem};
}
static tide_sel_t send_case(tide_chan_t *c, void *elem) {
    return (tide_sel_t){.kind = TIDE_SEL_SEND, .chan = c, .elem = elem};
}

/* ---- semantics ------------------------------------------------------------------------- */

static int fairness(void *arg) {
    /* two always-ready channels: the random start spreads the choice */
    tide_chan_t *a, *b;
    cr_assert_eq(tide_chan_new(&a, sizeof(int), TIDE_CHAN_UNBOUNDED), 0);
    cr_assert_eq(tide_chan_new(&b, sizeof(int), TIDE_CHAN_UNBOUNDED), 0);
    enum { N = 10000 };
    for (int i = 0; i < N; i++) {
        cr_assert_eq(tide_chan_send(a, &i), 0);
        cr_assert_eq(tide_chan_send(b, &i), 0);
    }
    int counts[2] = {0, 0};
    for (int i = 0; i < N; i++) {
        int va = -1, vb = -1;
        tide_sel_t cs[2] = {recv_case(a, &va), recv_case(b, &vb)};
        int r = tide_select(cs, 2, 0);
        cr_assert(r == 0 || r == 1, "select: %d", r);
        r &= 1;
        counts[r]++;
        cr_assert_eq(cs[r].result, 0);
        cr_assert_eq(r == 0 ? vb : va, -1, "the case that did not fire received nothing");
    }
    cr_assert_eq(tide_chan_len(a) + tide_chan_len(b), (size_t)N, "exactly one per select");
    /* binomial(10000, 0.5): 4,500..5,500 is more than 10 standard deviations wide */
    cr_assert(counts[0] > 4500 && counts[1] > 4500, "unfair: %d vs %d", counts[0], counts[1]);

    /* biased: array order, always the first ready case */
    for (int i = 0; i < 100; i++) {
        int va, vb;
        tide_sel_t cs[2] = {recv_case(a, &va), recv_case(b, &vb)};
        cr_assert_eq(tide_select(cs, 2, TIDE_SELECT_BIASED), 0);
        tide_sel_t cs2[2] = {recv_case(b, &vb), recv_case(a, &va)};
        cr_assert_eq(tide_select(cs2, 2, TIDE_SELECT_BIASED), 0);
    }
    tide_chan_free(a);
    tide_chan_free(b);
    return 0;
}

Test(select, random_order_is_fair_biased_takes_array_order) {
    tt_run(fairness, NULL, 0);
}

static int finisher(void *arg) {
    tide_sleep(TIDE_MSEC((intptr_t)arg));
    return 3;
}

static int setter(void *arg) {
    tide_sleep(TIDE_MSEC(20));
    tide_event_set(arg);
    return 0;
}

static int kinds(void *arg) {
    tide_chan_t *c;
    cr_assert_eq(tide_chan_new(&c, sizeof(int), 1), 0);
    int v = 0;

    /* timeout case: fires with -ETIMEDOUT when nothing else is ready; returns its index */
    int64_t t0 = tide_now();
    tide_sel_t cs[3] = {recv_case(c, &v), {.kind = TIDE_SEL_NONE},
                        {.kind = TIDE_SEL_DEADLINE, .deadline = t0 + TIDE_MSEC(20)}};
    cr_assert_eq(tide_select(cs, 3, 0), 2);
    cr_assert_eq(cs[2].result, -ETIMEDOUT);
    cr_assert_geq(tide_now() - t0, TIDE_MSEC(20));

    /* a deadline already passed fires at once, a ready case beats it only by luck of order */
    cs[2].deadline = 0;
    cr_assert_eq(tide_select(cs, 3, 0), 2);

    /* the caller's own deadline: -ETIMEDOUT, not a case */
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_MSEC(10));
    tide_sel_t one[1] = {recv_case(c, &v)};
    cr_assert_eq(tide_select(one, 1, 0), -ETIMEDOUT);
    /* enclosing deadline earlier than the timeout case: the enclosing one wins */
    tide_sel_t two[2] = {recv_case(c, &v),
                         {.kind = TIDE_SEL_DEADLINE, .deadline = tide_now() + TIDE_SEC(5)}};
    cr_assert_eq(tide_select(two, 2, 0), -ETIMEDOUT);
    tide_scope_end(&sc);

    /* join case: fires when the task ends; the handle stays ours */
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, finisher, (void *)(intptr_t)20), 0);
    tide_sel_t j[2] = {recv_case(c, &v), {.kind = TIDE_SEL_JOIN, .task = t}};
    cr_assert_eq(tide_select(j, 2, 0), 1);
    cr_assert_eq(j[1].result, 0);
    cr_assert_eq(tide_task_done(t), 1);
    int st;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, 3);
    /* a join case on a released handle is refused */
    cr_assert_eq(tide_select(j, 2, 0), -ESRCH);

    /* event case */
    tide_event_t e;
    tide_event_init(&e);
    cr_assert_eq(tide_spawn(&t, setter, &e), 0);
    tide_sel_t ev[2] = {recv_case(c, &v), {.kind = TIDE_SEL_EVENT, .event = &e}};
    cr_assert_eq(tide_select(ev, 2, 0), 1);
    cr_assert_eq(tide_join(t, NULL), 0);
    cr_assert_eq(tide_select(ev, 2, 0), 1, "a set event is ready at once");
    tide_event_clear(&e);
    cr_assert_eq(tide_event_destroy(&e), 0, "the select left no waiter on the event");

    /* send case on a full channel vs receive case: exactly the ready one */
    v = 5;
    cr_assert_eq(tide_chan_send(c, &v), 0);
    int w = 6, got = -1;
    tide_sel_t sr[2] = {send_case(c, &w), recv_case(c, &got)};
    cr_assert_eq(tide_select(sr, 2, 0), 1, "the channel is full: only recv is ready");
    cr_assert_eq(got, 5);
    got = -1;
    cr_assert_eq(tide_select(sr, 2, 0), 0, "now empty: only send is ready");
    cr_assert_eq(got, -1);
    cr_assert_eq(tide_chan_recv(c, &got), 0);
    cr_assert_eq(got, 6);

    /* closed channel: its cases fire with -EPIPE */
    cr_assert_eq(tide_chan_close(c), 0);
    tide_sel_t cl[2] = {recv_case(c, &v),
                        {.kind = TIDE_SEL_DEADLINE, .deadline = tide_now() + TIDE_SEC(5)}};
    cr_assert_eq(tide_select(cl, 2, 0), 0);
    cr_assert_eq(cl[0].result, -EPIPE);
    tide_sel_t cl2[1] = {send_case(c, &v)};
    cr_assert_eq(tide_select(cl2, 1, 0), 0);
    cr_assert_eq(cl2[0].result, -EPIPE);

    /* misuse */
    cr_assert_eq(tide_select(NULL, 1, 0), -EINVAL);
    tide_sel_t bad[1] = {{.kind = TIDE_SEL_RECV, .chan = NULL, .elem = &v}};
    cr_assert_eq(tide_select(bad, 1, 0), -EINVAL);
    tide_sel_t bad2[1] = {{.kind = (tide_sel_kind_t)99}};
    cr_assert_eq(tide_select(bad2, 1, 0), -EINVAL);
    cr_assert_eq(tide_select(one, 1, 0x100), -EINVAL, "unknown flag");
    tide_chan_free(c);
    return 0;
}

Test(select, timeouts_joins_events_closed_channels_misuse) {
    tt_run(kinds, NULL, 0);
}

/* A select blocked on channels gets a message, and the other cases withdraw: a later send
 * on another case's channel stays there for the next receiver. */
static int late_sender(void *arg) {
    tide_chan_t **cs = arg;
    tide_sleep(TIDE_MSEC(10));
    int v = 42;
    cr_assert_eq(tide_chan_send(cs[1], &v), 0);
    return 0;
}

static int withdrawal(void *arg) {
    tide_chan_t *cs[3];
    for (int i = 0; i < 3; i++) cr_assert_eq(tide_chan_new(&cs[i], sizeof(int), 0), 0);
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, late_sender, cs), 0);
    int v[3] = {-1, -1, -1};
    tide_sel_t sel[3] = {recv_case(cs[0], &v[0]), recv_case(cs[1], &v[1]), recv_case(cs[2], &v[2])};
    cr_assert_eq(tide_select(sel, 3, 0), 1);
    cr_assert_eq(v[1], 42);
    cr_assert_eq(v[0], -1);
    cr_assert_eq(v[2], -1);
    tide_join(t, NULL);
    /* nobody is left parked on the rendezvous channels */
    int x = 1;
    for (int i = 0; i < 3; i++) cr_assert_eq(tide_chan_try_send(cs[i], &x), -EAGAIN);
    for (int i = 0; i < 3; i++) tide_chan_free(cs[i]);
    return 0;
}

Test(select, other_cases_are_withdrawn) {
    tt_run(withdrawal, NULL, 0);
}

/* ---- exactly one fires, under contention ---------------------------------------------- */

enum { CH = 4 };

typedef struct arena {
    tide_chan_t *in[CH];      /* producers send element ids here */
    tide_chan_t *out[CH];     /* selectors forward what they received here (send cases) */
    int per;                  /* elements per producer */
    int producers;
    _Atomic int next;
    _Atomic uint8_t *seen;
    _Atomic uint64_t selected, forwarded;
    _Atomic int producers_left;
    _Atomic int done;
    int64_t timeout;          /* selectors' random deadline bound, 0: none */
    _Atomic uint64_t timeouts;
} arena_t;

static int arena_producer(void *arg) {
    arena_t *a = arg;
    int id = atomic_fetch_add(&a->next, 1);
    for (int i = 0; i < a->per; i++) {
        uint64_t v = (uint64_t)id * a->per + i;
        cr_assert_eq(tide_chan_send(a->in[tt_rand() % CH], &v), 0);
    }
    if (atomic_fetch_sub(&a->producers_left, 1) == 1)
        for (int k = 0; k < CH; k++) tide_chan_close(a->in[k]);
    return 0;
}

/* Selects over all input channels at once; each element it gets is counted. */
static int arena_selector(void *arg) {
    arena_t *a = arg;
    int closed = 0;
    bool dead[CH] = {0};
    while (closed < CH) {
        uint64_t v[CH];
        for (int k = 0; k < CH; k++) v[k] = UINT64_MAX;
        tide_sel_t cs[CH + 1];
        for (int k = 0; k < CH; k++)
            cs[k] = dead[k] ? (tide_sel_t){.kind = TIDE_SEL_NONE} : recv_case(a->in[k], &v[k]);
        size_t n = CH;
        tide_scope_t sc;
        if (a->timeout) tide_timeout_begin(&sc, 1 + tt_rand() % a->timeout);
        int r = tide_select(cs, n, 0);
        if (a->timeout) tide_scope_end(&sc);
        if (r == -ETIMEDOUT) {
            for (int k = 0; k < CH; k++) cr_assert_eq(v[k], UINT64_MAX, "timed out yet wrote");
            atomic_fetch_add(&a->timeouts, 1);
            continue;
        }
        cr_assert(r >= 0 && r < CH, "select: %d", r);
        for (int k = 0; k < CH; k++)
            if (k != r) cr_assert_eq(v[k], UINT64_MAX, "case %d fired besides %d", k, r);
        if (cs[r].result == -EPIPE) {
            dead[r] = true;
            closed++;
            continue;
        }
        cr_assert_eq(cs[r].result, 0);
        cr_assert_eq(atomic_exchange(&a->seen[v[r]], 1), 0, "element received twice");
        atomic_fetch_add(&a->selected, 1);
        if ((v[r] & 63) == 0) tt_random_yields(1);
    }
    return 0;
}

static void arena(int producers, int selectors, int per, int64_t timeout) {
    arena_t *a = calloc(1, sizeof *a);
    a->per = per;
    a->producers = producers;
    a->timeout = timeout;
    atomic_store(&a->producers_left, producers);
    size_t total = (size_t)producers * per;
    a->seen = calloc(total, 1);
    for (int k = 0; k < CH; k++)
        cr_assert_eq(tide_chan_new(&a->in[k], sizeof(uint64_t), k == 0 ? 0 : (size_t)k * 3), 0);
    tide_task_t *ts = calloc((size_t)(producers + selectors), sizeof *ts);
    for (int i = 0; i < selectors; i++) cr_assert_eq(tide_spawn(&ts[i], arena_selector, a), 0);
    for (int i = 0; i < producers; i++)
        cr_assert_eq(tide_spawn(&ts[selectors + i], arena_producer, a), 0);
    for (int i = 0; i < producers + selectors; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    cr_assert_eq(atomic_load(&a->selected), total, "%llu of %zu",
                 (unsigned long long)atomic_load(&a->selected), total);
    if (timeout) cr_assert_gt(atomic_load(&a->timeouts), 0, "no select ever timed out");
    for (int k = 0; k < CH; k++) tide_chan_free(a->in[k]);
    free(ts);
    free((void *)a->seen);
    free(a);
}

static int exactly_one_main(void *arg) {
    arena(16, 16, TT_SCALE(5000), 0);
    arena(1000, 1000, TT_SCALE(50), 0); /* thousands of tasks on all workers */
    return 0;
}

Test(select, exactly_one_case_fires_under_contention) {
    tt_run(exactly_one_main, NULL, 0);
}

static int deadline_main(void *arg) {
    for (int i = 0; i < 6; i++) arena(8, 32, TT_SCALE(5000), TIDE_USEC(40));
    return 0;
}

Test(select, deadlines_in_the_middle_lose_nothing) {
    tt_run(deadline_main, NULL, 0);
}

/* Selects on both sides of rendezvous channels: a select-send meets a select-recv; each
 * element goes exactly once, and the send cases that did not fire did not send. */
typedef struct duel {
    tide_chan_t *c[2];
    int per;
    _Atomic int next;
    _Atomic uint8_t *seen;
    _Atomic uint64_t sent, received;
    _Atomic int senders_left;
} duel_t;

static int duel_sender(void *arg) {
    duel_t *d = arg;
    int id = atomic_fetch_add(&d->next, 1);
    for (int i = 0; i < d->per; i++) {
        uint64_t v = (uint64_t)id * d->per + i;
        tide_sel_t cs[2] = {send_case(d->c[0], &v), send_case(d->c[1], &v)};
        int r = tide_select(cs, 2, 0);
        cr_assert(r == 0 || r == 1);
        cr_assert_eq(cs[r].result, 0);
        atomic_fetch_add(&d->sent, 1);
    }
    if (atomic_fetch_sub(&d->senders_left, 1) == 1) {
        tide_chan_close(d->c[0]);
        tide_chan_close(d->c[1]);
    }
    return 0;
}

static int duel_receiver(void *arg) {
    duel_t *d = arg;
    bool dead[2] = {false, false};
    while (!dead[0] || !dead[1]) {
        uint64_t v[2] = {UINT64_MAX, UINT64_MAX};
        tide_sel_t cs[2];
        for (int k = 0; k < 2; k++)
            cs[k] = dead[k] ? (tide_sel_t){.kind = TIDE_SEL_NONE} : recv_case(d->c[k], &v[k]);
        int r = tide_select(cs, 2, 0);
        cr_assert(r == 0 || r == 1);
        cr_assert_eq(v[1 - r], UINT64_MAX);
        if (cs[r].result == -EPIPE) {
            dead[r] = true;
            continue;
        }
        cr_assert_eq(atomic_exchange(&d->seen[v[r]], 1), 0, "received twice");
        atomic_fetch_add(&d->received, 1);
    }
    return 0;
}

static int duel_main(void *arg) {
    enum { S = 64, R = 64 };
    duel_t *d = calloc(1, sizeof *d);
    d->per = TT_SCALE(500);
    atomic_store(&d->senders_left, S);
    d->seen = calloc((size_t)S * d->per, 1);
    for (int k = 0; k < 2; k++) cr_assert_eq(tide_chan_new(&d->c[k], sizeof(uint64_t), 0), 0);
    tide_task_t ts[S + R];
    for (int i = 0; i < R; i++) cr_assert_eq(tide_spawn(&ts[i], duel_receiver, d), 0);
    for (int i = 0; i < S; i++) cr_assert_eq(tide_spawn(&ts[R + i], duel_sender, d), 0);
    for (int i = 0; i < S + R; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    cr_assert_eq(atomic_load(&d->sent), (uint64_t)S * d->per);
    cr_assert_eq(atomic_load(&d->received), atomic_load(&d->sent));
    for (int k = 0; k < 2; k++) tide_chan_free(d->c[k]);
    free((void *)d->seen);
    free(d);
    return 0;
}

Test(select, select_send_meets_select_recv_on_rendezvous) {
    tt_run(duel_main, NULL, 0);
}

/* Cancel selectors blocked on several channels, in a loop: afterwards the channels have no
 * parked waiters and every element sent is still there. */
static int blocked_selector(void *arg) {
    tide_chan_t **cs = arg;
    int v[3];
    tide_sel_t sel[3] = {recv_case(cs[0], &v[0]), recv_case(cs[1], &v[1]), send_case(cs[2], &v[2])};
    v[2] = 7;
    int r = tide_select(sel, 3, 0);
    return r < 0 ? r : 100 + r;
}

static int cancel_main(void *arg) {
    tide_chan_t *cs[3];
    cr_assert_eq(tide_chan_new(&cs[0], sizeof(int), 0), 0);
    cr_assert_eq(tide_chan_new(&cs[1], sizeof(int), 4), 0);
    cr_assert_eq(tide_chan_new(&cs[2], sizeof(int), 0), 0);
    int fired = 0, cancelled = 0;
    for (int round = 0; round < TT_SCALE(200); round++) {
        enum { T = 16 };
        tide_task_t ts[T];
        for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], blocked_selector, cs), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 300));
        /* one element may or may not be taken by a selector before the cancel */
        int x = round;
        tide_chan_try_send(cs[1], &x);
        for (int i = 0; i < T; i++) tide_cancel(ts[i]);
        int took = 0;
        for (int i = 0; i < T; i++) {
            int st;
            cr_assert_eq(tide_join(ts[i], &st), 0);
            if (st == -ECANCELED) cancelled++;
            else {
                cr_assert_eq(st, 101, "only the buffered element could fire: %d", st);
                took++;
                fired++;
            }
        }
        int y;
        int left = 0;
        while (tide_chan_try_recv(cs[1], &y) == 0) left++;
        cr_assert_eq(took + left, 1, "round %d: the element was lost or duplicated", round);
        int z = 0;
        cr_assert_eq(tide_chan_try_send(cs[0], &z), -EAGAIN, "a cancelled select left a receiver");
        cr_assert_eq(tide_chan_try_recv(cs[2], &z), -EAGAIN, "a cancelled select left a sender");
    }
    cr_assert_gt(cancelled, 0);
    for (int k = 0; k < 3; k++) tide_chan_free(cs[k]);
    return 0;
}

Test(select, cancellation_in_the_middle_withdraws_all_cases) {
    tt_run(cancel_main, NULL, 0);
}

/* Freeing a channel a select is parked on (misuse) fails that case with -EPIPE. */
static int select_on(void *arg) {
    tide_chan_t **cs = arg;
    int v[2];
    tide_sel_t sel[2] = {recv_case(cs[0], &v[0]), recv_case(cs[1], &v[1])};
    int r = tide_select(sel, 2, 0);
    if (r < 0) return r;
    return r == 1 && sel[1].result == -EPIPE ? 0 : -EIO;
}

static int free_main(void *arg) {
    tide_chan_t *cs[2];
    for (int k = 0; k < 2; k++) cr_assert_eq(tide_chan_new(&cs[k], sizeof(int), k), 0);
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, select_on, cs), 0);
    tide_sleep(TIDE_MSEC(10));
    tide_chan_free(cs[1]);
    int st;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, 0, "the select reported the freed channel's case as closed");
    int x = 0;
    cr_assert_eq(tide_chan_try_send(cs[0], &x), -EAGAIN, "its other case was withdrawn");
    tide_chan_free(cs[0]);
    return 0;
}

Test(select, freed_channel_fails_its_case) {
    tt_run(free_main, NULL, 0);
}
