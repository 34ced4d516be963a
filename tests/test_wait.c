/* tide_wait (asyncio.wait): FIRST_COMPLETED, FIRST_ERROR, ALL_COMPLETED; done[] says who
 * finished; handles are not released; the caller's deadline and cancellation end the wait
 * with done[] filled; misuse. */
#include <stdatomic.h>
#include <stdlib.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

typedef struct spec {
    int status;
    int delay_ms;
} spec_t;

static int job_fn(void *arg) {
    spec_t *s = arg;
    if (s->delay_ms && tide_sleep(TIDE_MSEC(s->delay_ms)) < 0) return -ECANCELED;
    return s->status;
}

static void spawn_all(tide_task_t *ts, spec_t *sp, int n) {
    for (int i = 0; i < n; i++) cr_assert_eq(tide_spawn(&ts[i], job_fn, &sp[i]), 0);
}

static void cancel_join_all(tide_task_t *ts, int n, int *st) {
    for (int i = 0; i < n; i++) tide_cancel(ts[i]);
    for (int i = 0; i < n; i++) cr_assert_eq(tide_join(ts[i], st ? &st[i] : NULL), 0);
}

static int modes_main(void *arg) {
    enum { N = 6 };
    tide_task_t ts[N];
    uint8_t done[N];
    int st[N];

    /* FIRST_COMPLETED: the quick one */
    spec_t a[N] = {{0, 10000}, {0, 10000}, {7, 10}, {0, 10000}, {0, 10000}, {0, 10000}};
    spawn_all(ts, a, N);
    int r = tide_wait(ts, N, TIDE_FIRST_COMPLETED, done);
    cr_assert_eq(r, 1);
    for (int i = 0; i < N; i++) cr_assert_eq(done[i], i == 2);
    cr_assert_eq(tide_join(ts[2], &st[2]), 0, "handles are not released");
    cr_assert_eq(st[2], 7);
    ts[2] = ts[0]; /* keep the array valid for the cleanup below */
    cancel_join_all(ts + 1, N - 1, NULL);
    cr_assert_eq(tide_join(ts[0], NULL), -ESRCH, "joined via ts[2]");

    /* FIRST_ERROR: successes do not end it, the failure does */
    spec_t b[N] = {{0, 1}, {0, 2}, {-EIO, 30}, {0, 10000}, {0, 3}, {0, 10000}};
    spawn_all(ts, b, N);
    r = tide_wait(ts, N, TIDE_FIRST_ERROR, done);
    cr_assert_geq(r, 4, "the three quick successes and the failure");
    cr_assert(done[0] && done[1] && done[2] && done[4] && !done[3] && !done[5]);
    cancel_join_all(ts, N, st);
    cr_assert_eq(st[2], -EIO);

    /* FIRST_ERROR with no error: returns when all are done */
    spec_t c[N] = {{0, 1}, {1, 2}, {2, 3}, {3, 1}, {4, 2}, {5, 3}};
    spawn_all(ts, c, N);
    cr_assert_eq(tide_wait(ts, N, TIDE_FIRST_ERROR, done), N);
    cancel_join_all(ts, N, st);
    for (int i = 0; i < N; i++) cr_assert_eq(st[i], i);

    /* ALL_COMPLETED */
    spec_t d[N] = {{0, 5}, {-EIO, 1}, {0, 3}, {0, 0}, {0, 8}, {0, 2}};
    spawn_all(ts, d, N);
    cr_assert_eq(tide_wait(ts, N, TIDE_ALL_COMPLETED, done), N);
    for (int i = 0; i < N; i++) cr_assert_eq(done[i], 1);
    cancel_join_all(ts, N, st);
    cr_assert_eq(st[1], -EIO);

    /* already finished: returns at once; done may be NULL */
    spec_t e[1] = {{9, 0}};
    spawn_all(ts, e, 1);
    tide_sleep(TIDE_MSEC(5));
    cr_assert_eq(tide_wait(ts, 1, TIDE_FIRST_COMPLETED, NULL), 1);
    cancel_join_all(ts, 1, NULL);

    /* misuse */
    cr_assert_eq(tide_wait(NULL, 1, TIDE_ALL_COMPLETED, done), -EINVAL);
    cr_assert_eq(tide_wait(ts, 1, (tide_wait_mode_t)0, done), -EINVAL);
    cr_assert_eq(tide_wait(ts, 1, TIDE_ALL_COMPLETED, done), -ESRCH, "released handle");
    cr_assert_eq(tide_wait(NULL, 0, TIDE_FIRST_COMPLETED, NULL), 0);
    return 0;
}

Test(wait, first_completed_first_error_all_completed) {
    tt_run(modes_main, NULL, 0);
}

static int deadline_main(void *arg) {
    enum { N = 8 };
    tide_task_t ts[N];
    uint8_t done[N];
    spec_t s[N];
    for (int mode = TIDE_FIRST_COMPLETED; mode <= TIDE_ALL_COMPLETED; mode++) {
        for (int i = 0; i < N; i++)
            s[i] = (spec_t){0, i < 3 && mode != TIDE_FIRST_COMPLETED ? 1 : 10000};
        spawn_all(ts, s, N);
        /* Under TIDE_SHAKE (scripts/test.sh shake) a 1 ms task may take longer than the 30 ms
         * below on a loaded machine: let the quick ones finish first, so the report is what
         * is tested, not the timing. */
        for (int i = 0; getenv("TIDE_SHAKE") && i < N; i++)
            while (s[i].delay_ms == 1 && tide_task_done(ts[i]) == 0) tide_sleep(TIDE_MSEC(1));
        tide_scope_t sc;
        int64_t t0 = tide_now();
        tide_timeout_begin(&sc, TIDE_MSEC(30));
        int r = tide_wait(ts, N, (tide_wait_mode_t)mode, done);
        tide_scope_end(&sc);
        cr_assert_eq(r, -ETIMEDOUT, "mode %d: %d", mode, r);
        cr_assert_geq(tide_now() - t0, TIDE_MSEC(30));
        for (int i = 0; i < N; i++)
            cr_assert_eq(done[i], i < 3 && mode != TIDE_FIRST_COMPLETED,
                         "mode %d: done[%d] = %d, the task %s finished", mode, i, done[i],
                         tide_task_done(ts[i]) == 1 ? "has" : "has not");
        cancel_join_all(ts, N, NULL);
    }
    return 0;
}

Test(wait, caller_deadline_reports_who_finished) {
    tt_run(deadline_main, NULL, 0);
}

typedef struct waiting {
    tide_task_t ts[8];
    uint8_t done[8];
    int result;
    int mode;
} waiting_t;

static int waiter_task(void *arg) {
    waiting_t *w = arg;
    w->result = tide_wait(w->ts, 8, (tide_wait_mode_t)w->mode, w->done);
    return 0;
}

static int cancel_main(void *arg) {
    static spec_t slow = {0, 10000};
    for (int round = 0; round < TT_SCALE(30); round++) {
        waiting_t w = {.mode = 1 + round % 3};
        for (int i = 0; i < 8; i++) cr_assert_eq(tide_spawn(&w.ts[i], job_fn, &slow), 0);
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, waiter_task, &w), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 1000));
        cr_assert_eq(tide_cancel(t), 0);
        cr_assert_eq(tide_join(t, NULL), 0);
        cr_assert_eq(w.result, -ECANCELED);
        /* the handles are still ours and the tasks untouched (still running) */
        for (int i = 0; i < 8; i++) cr_assert_eq(tide_task_done(w.ts[i]), 0);
        cancel_join_all(w.ts, 8, NULL);
    }
    return 0;
}

Test(wait, caller_cancelled_leaves_tasks_alone) {
    tt_run(cancel_main, NULL, 0);
}

static int quick(void *arg) {
    tt_random_yields(3);
    return (int)(intptr_t)arg;
}

/* Rounds of FIRST_COMPLETED over thousands of tasks finishing at random. */
static int many_main(void *arg) {
    enum { N = 2000 };
    static tide_task_t ts[N];
    static uint8_t done[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(tide_spawn(&ts[i], quick, (void *)(intptr_t)(i % 5 ? 0 : -1)), 0);
    int r = tide_wait(ts, N, TIDE_FIRST_ERROR, done);
    cr_assert_geq(r, 1);
    int failed = 0, seen = 0;
    for (int i = 0; i < N; i++) {
        if (!done[i]) continue;
        seen++;
        int st;
        cr_assert_eq(tide_task_done(ts[i]), 1);
        (void)st;
    }
    cr_assert_eq(seen, r);
    cr_assert_eq(tide_wait(ts, N, TIDE_ALL_COMPLETED, done), N);
    for (int i = 0; i < N; i++) {
        int st;
        cr_assert_eq(tide_join(ts[i], &st), 0);
        failed += st < 0;
    }
    cr_assert_eq(failed, N / 5);
    return 0;
}

Test(wait, thousands_of_tasks) {
    tt_run(many_main, NULL, 0);
}

/* asyncio's `done, pending = await asyncio.wait(...)`: the handles split into two sets, in
 * the caller's order, on success and on the caller's deadline alike. */
static int sets_main(void *arg) {
    enum { N = 6 };
    tide_task_t ts[N], done[N], pending[N];
    spec_t sp[N];
    for (int i = 0; i < N; i++) sp[i] = (spec_t){.status = 0, .delay_ms = i % 2 ? i : 60000};
    spawn_all(ts, sp, N);
    size_t nd = 99;
    tide_scope_t sc;
    /* The quick three sleep 1-5 ms: a second leaves room for a loaded machine or a slow build. */
    int64_t slack = TT_SLACK(TIDE_SEC(1));
    tide_timeout_begin(&sc, slack < TIDE_SEC(2) ? slack : TIDE_SEC(2));
    int r = tide_wait_sets(ts, N, TIDE_ALL_COMPLETED, done, pending, &nd);
    tide_scope_end(&sc);
    cr_assert_eq(r, -ETIMEDOUT);
    cr_assert_eq(nd, 3);
    for (size_t i = 0; i < nd; i++) cr_assert_eq(done[i].id, ts[2 * i + 1].id, "done in order");
    for (size_t i = 0; i < N - nd; i++) cr_assert_eq(pending[i].id, ts[2 * i].id, "pending in order");
    /* FIRST_COMPLETED: returns the count; the pending are still running, handles valid */
    for (size_t i = 0; i < nd; i++) cr_assert_eq(tide_join(done[i], NULL), 0);
    for (size_t i = 0; i < N - nd; i++) cr_assert_eq(tide_cancel(pending[i]), 0);
    cr_assert_eq(tide_wait_sets(pending, N - nd, TIDE_FIRST_COMPLETED, done, NULL, &nd), (int)nd);
    cr_assert_geq(nd, 1);
    for (int i = 0; i < 3; i++) cr_assert_eq(tide_join(ts[2 * i], NULL), 0);
    /* refused before waiting: outputs untouched */
    nd = 99;
    cr_assert_eq(tide_wait_sets(ts, 1, TIDE_ALL_COMPLETED, done, pending, &nd), -ESRCH);
    cr_assert_eq(nd, 99);
    cr_assert_eq(tide_wait_sets(NULL, 1, TIDE_ALL_COMPLETED, NULL, NULL, NULL), -EINVAL);
    cr_assert_eq(tide_wait_sets(NULL, 0, TIDE_ALL_COMPLETED, NULL, NULL, &nd), 0);
    cr_assert_eq(nd, 0);
    return 0;
}

Test(wait, sets_split_done_and_pending) {
    tt_run(sets_main, NULL, 0);
}
