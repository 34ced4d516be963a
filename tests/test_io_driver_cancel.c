/* The I/O driver's cancel protocol when an operation completes while its task's wait is being
 * cut short (deadline or cancel). Once tide__io_run returns, the operation's memory, including
 * the cancel request the task queued for the driver, is the caller's again: the tests scribble
 * over it at once, so a driver that still reads it crashes or hangs here.
 *
 * The first test forces the worst order (completion first, then the driver reads the cancel
 * request, with time in between for the task to leave) by holding the driver in a posted
 * function while the requests queue up behind it; the second races completions against
 * deadlines and cancels at random, many times over. */
#include "testutil.h"

#include <sched.h>
#include <string.h>

#include "driver.h"

typedef struct race_op {
    tide__io_op_t op;
    uv_timer_t timer;
    int64_t ms;      /* < 0: start does nothing; something else completes the operation */
    bool saw_cancel; /* driver thread only: the cancel request came before the end */
} race_op_t;

static void on_closed(uv_handle_t *h) {
    race_op_t *t = h->data;
    tide__io_live_add(-1);
    tide__io_complete(&t->op, t->saw_cancel ? UV_ECANCELED : 0);
}

static void on_timer(uv_timer_t *h) {
    uv_close((uv_handle_t *)h, on_closed);
}

static void race_start(tide__io_op_t *op, uv_loop_t *loop) {
    race_op_t *t = (race_op_t *)op;
    if (t->ms < 0) return;
    uv_timer_init(loop, &t->timer);
    tide__io_live_add(1);
    t->timer.data = t;
    uv_timer_start(&t->timer, on_timer, (uint64_t)t->ms, 0);
}

/* The cancel request does not stop anything: the operation completes anyway, before or after
 * the driver reads the request. */
static void race_cancel(tide__io_op_t *op, uv_loop_t *loop) {
    ((race_op_t *)op)->saw_cancel = true;
}

static _Atomic(race_op_t *) published;

static int run_one(int64_t ms) {
    race_op_t t = {.op = {.start = race_start, .cancel = race_cancel}, .ms = ms};
    atomic_store(&published, &t);
    int r = tide__io_run(tide__io_current(), &t.op, "race op");
    memset(&t, 0xA5, sizeof t); /* ours again: the driver must not look */
    __asm__ __volatile__("" : : "r"(&t) : "memory"); /* keep the "dead" store */
    return r;
}

/* ---- forced order ---------------------------------------------------------------------- */

static _Atomic int gate_open, gate_entered;

static void gate_fn(tide__io_node_t *node, uv_loop_t *loop) {
    atomic_store(&gate_entered, 1);
    while (!atomic_load(&gate_open)) sched_yield();
}

static void complete_fn(tide__io_node_t *node, uv_loop_t *loop) {
    race_op_t *t = atomic_load(&published);
    tide__io_complete(&t->op, 0);
    /* Linger: a task that (wrongly) leaves as soon as its operation is done has time to. */
    struct timespec ts = {0, 3000000};
    nanosleep(&ts, NULL);
}

static int victim(void *arg) {
    return run_one(-1);
}

static int forced_main(void *arg) {
    tide__io_t *io = tide__io_current();
    for (int i = 0; i < TT_SCALE(50); i++) {
        tide_task_t v;
        atomic_store(&published, NULL);
        cr_assert_eq(tide_spawn(&v, victim, NULL), 0);
        while (!atomic_load(&published)) tide_sleep(TIDE_USEC(100));
        tide_sleep(TIDE_MSEC(1)); /* its start request has run */

        /* Hold the driver, then queue a completion and, behind it, the task's cancel. */
        static tide__io_post_t gate = {.fn = gate_fn}, done = {.fn = complete_fn};
        atomic_store(&gate_open, 0);
        atomic_store(&gate_entered, 0);
        tide__io_post(io, &gate.node);
        while (!atomic_load(&gate_entered)) tide_sleep(TIDE_USEC(100));
        tide__io_post(io, &done.node);
        cr_assert_eq(tide_cancel(v), 0);
        tide_sleep(TIDE_MSEC(2)); /* the victim has queued its cancel request */
        atomic_store(&gate_open, 1);

        int st;
        cr_assert_eq(tide_join(v, &st), 0);
        cr_assert_eq(st, 0, "completed before the driver saw the cancel: %s", tide_strerror(st));
    }
    return 0;
}

Test(io_driver_cancel, completion_queued_before_the_cancel_request) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(forced_main, NULL), 0);
    cr_assert_eq(tide__io_live(), 0);
    tt_leaks_end(&l);
}

/* ---- random races ---------------------------------------------------------------------- */

typedef struct ctx {
    _Atomic int completed, interrupted;
} ctx_t;

static int deadline_racer(void *arg) {
    ctx_t *c = arg;
    for (int i = 0; i < TT_SCALE(300); i++) {
        tide_scope_t s;
        tide_timeout_begin(&s, TIDE_USEC(tt_rand() % 1500));
        int r = run_one(1);
        tide_scope_end(&s);
        cr_assert(r == 0 || r == -ETIMEDOUT, "op: %s", tide_strerror(r));
        atomic_fetch_add(r < 0 ? &c->interrupted : &c->completed, 1);
    }
    return 0;
}

static int cancel_victim(void *arg) {
    ctx_t *c = arg;
    int r = run_one(tt_rand() % 2);
    cr_assert(r == 0 || r == -ECANCELED, "op: %s", tide_strerror(r));
    atomic_fetch_add(r < 0 ? &c->interrupted : &c->completed, 1);
    return 0;
}

static int race_main(void *arg) {
    ctx_t *c = arg;
    enum { RACERS = 8 };
    tide_task_t t[RACERS];
    for (int i = 0; i < RACERS; i++) cr_assert_eq(tide_spawn(&t[i], deadline_racer, c), 0);
    for (int i = 0; i < TT_SCALE(2000); i++) {
        tide_task_t v;
        cr_assert_eq(tide_spawn(&v, cancel_victim, c), 0);
        if (tt_rand() % 2) tide_sleep(TIDE_USEC(tt_rand() % 1200));
        else tt_random_yields(4);
        cr_assert_eq(tide_cancel(v), 0);
        cr_assert_eq(tide_join(v, NULL), 0);
    }
    for (int i = 0; i < RACERS; i++) cr_assert_eq(tide_join(t[i], NULL), 0);
    return 0;
}

Test(io_driver_cancel, completions_racing_deadlines_and_cancels, .timeout = 120) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    ctx_t c = {0};
    cr_assert_eq(tide_run(race_main, &c), 0);
    cr_assert_eq(tide__io_live(), 0);
    /* Both outcomes happened: the races were real. */
    cr_assert_gt(atomic_load(&c.completed), 0);
    cr_assert_gt(atomic_load(&c.interrupted), 0);
    tt_leaks_end(&l);
}
