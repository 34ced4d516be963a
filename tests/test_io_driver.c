/* The I/O driver: operations run on its libuv loop and wake their task; a deadline or a
 * cancel withdraws an operation cleanly (the libuv request is stopped before the task goes
 * on); many tasks can have operations in flight at once. */
#include "testutil.h"

#include "driver.h"

/* An operation that completes when a libuv timer fires after `ms`. */
typedef struct timer_op {
    tide__io_op_t op;
    uv_timer_t timer;
    uint64_t ms;
} timer_op_t;

static void on_closed(uv_handle_t *h) {
    timer_op_t *t = h->data;
    tide__io_live_add(-1);
    tide__io_complete(&t->op, t->op.cancel_requested ? UV_ECANCELED : 0);
}

static void on_timer(uv_timer_t *h) {
    uv_close((uv_handle_t *)h, on_closed);
}

static void timer_start(tide__io_op_t *op, uv_loop_t *loop) {
    timer_op_t *t = (timer_op_t *)op;
    uv_timer_init(loop, &t->timer);
    tide__io_live_add(1);
    t->timer.data = t;
    uv_timer_start(&t->timer, on_timer, t->ms, 0);
}

static void timer_cancel(tide__io_op_t *op, uv_loop_t *loop) {
    timer_op_t *t = (timer_op_t *)op;
    uv_timer_stop(&t->timer);
    if (!uv_is_closing((uv_handle_t *)&t->timer)) uv_close((uv_handle_t *)&t->timer, on_closed);
}

static int run_timer(uint64_t ms) {
    timer_op_t t = {.op = {.start = timer_start, .cancel = timer_cancel}, .ms = ms};
    return tide__io_run(tide__io_current(), &t.op, "test timer");
}

static int completes(void *arg) {
    int64_t t0 = tide_now();
    cr_assert_eq(run_timer(20), 0);
    cr_assert_geq(tide_now() - t0, TIDE_MSEC(19));
    return 0;
}

Test(io_driver, operation_completes_and_wakes_task) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(completes, NULL), 0);
    cr_assert_eq(tide__io_live(), 0);
    tt_leaks_end(&l);
}

static int times_out(void *arg) {
    tide_scope_t s;
    int64_t t0 = tide_now();
    tide_timeout_begin(&s, TIDE_MSEC(30));
    int r = run_timer(10000);
    tide_scope_end(&s);
    cr_assert_eq(r, -ETIMEDOUT);
    cr_assert_lt(tide_now() - t0, TIDE_SEC(2));
    return 0;
}

Test(io_driver, deadline_cancels_operation) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(times_out, NULL), 0);
    cr_assert_eq(tide__io_live(), 0);
    tt_leaks_end(&l);
}

static int long_op(void *arg) {
    return run_timer(10000);
}

static int cancel_main(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, long_op, NULL), 0);
    tide_sleep(TIDE_MSEC(20));
    cr_assert_eq(tide_cancel(t), 0);
    int st;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, -ECANCELED);
    return 0;
}

Test(io_driver, cancel_withdraws_operation) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(cancel_main, NULL), 0);
    cr_assert_eq(tide__io_live(), 0);
    tt_leaks_end(&l);
}

static int many_child(void *arg) {
    return run_timer(1 + (uintptr_t)arg % 5);
}

static int many_main(void *arg) {
    enum { N = 2000 };
    static tide_task_t ts[N];
    for (uintptr_t i = 0; i < N; i++) cr_assert_eq(tide_spawn(&ts[i], many_child, (void *)i), 0);
    for (int i = 0; i < N; i++) {
        int st = -1;
        cr_assert_eq(tide_join(ts[i], &st), 0);
        cr_assert_eq(st, 0);
    }
    return 0;
}

Test(io_driver, thousands_in_flight) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(many_main, NULL), 0);
    cr_assert_eq(tide__io_live(), 0);
    tt_leaks_end(&l);
}
