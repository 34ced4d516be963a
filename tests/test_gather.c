/* tide_gather: every status collected and every handle released; fail-fast cancels the
 * others at the first failure and returns it; the caller's deadline or cancel cancels and
 * joins what is left (nothing keeps running, nothing leaks); bad handles are refused before
 * anything is touched; thousands of tasks. */
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

/* arg encodes: status in the low 16 bits (as a negative errno if bit 15), delay in ms above */
static void *job(int status, int delay_ms) {
    intptr_t st = status < 0 ? (0x8000 | -status) : status;
    return (void *)(((intptr_t)delay_ms << 16) | st);
}

static _Atomic int running;

static int job_fn(void *arg) {
    intptr_t a = (intptr_t)arg;
    int delay = (int)(a >> 16);
    int st = (int)(a & 0x7fff);
    if (a & 0x8000) st = -st;
    atomic_fetch_add(&running, 1);
    int r = 0;
    if (delay) r = tide_sleep(TIDE_MSEC(delay));
    atomic_fetch_sub(&running, 1);
    return r < 0 ? r : st;
}

static int statuses_main(void *arg) {
    enum { N = 10 };
    tide_task_t ts[N];
    int st[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(tide_spawn(&ts[i], job_fn, job(i % 3 == 0 ? -EIO : i, (N - i) % 4)), 0);
    cr_assert_eq(tide_gather(ts, N, st, 0), 0, "without fail-fast: 0 whatever the statuses");
    for (int i = 0; i < N; i++) {
        cr_assert_eq(st[i], i % 3 == 0 ? -EIO : i);
        cr_assert_eq(tide_task_done(ts[i]), -ESRCH, "handle released");
    }
    cr_assert_eq(tide_gather(NULL, 0, NULL, 0), 0, "nothing to gather");
    cr_assert_eq(tide_gather(NULL, 1, NULL, 0), -EINVAL);
    cr_assert_eq(tide_gather(ts, 0, NULL, 0x10), -EINVAL, "unknown flag");
    /* a released handle among good ones: refused, the good ones untouched */
    tide_task_t mix[2];
    cr_assert_eq(tide_spawn(&mix[0], job_fn, job(5, 0)), 0);
    mix[1] = ts[0];
    cr_assert_eq(tide_gather(mix, 2, st, 0), -ESRCH);
    cr_assert_eq(tide_join(mix[0], &st[0]), 0, "the valid handle was left to us");
    cr_assert_eq(st[0], 5);
    /* statuses may be NULL */
    cr_assert_eq(tide_spawn(&ts[0], job_fn, job(1, 1)), 0);
    cr_assert_eq(tide_gather(ts, 1, NULL, 0), 0);
    return 0;
}

Test(gather, collects_every_status_and_releases_handles) {
    tt_run(statuses_main, NULL, 0);
}

static int fail_fast_main(void *arg) {
    for (int round = 0; round < TT_SCALE(20); round++) {
        enum { N = 50 };
        tide_task_t ts[N];
        int st[N];
        int bad = (int)(tt_rand() % N);
        for (int i = 0; i < N; i++)
            cr_assert_eq(tide_spawn(&ts[i], job_fn, i == bad ? job(-EIO, 2) : job(0, 10000)), 0);
        int64_t t0 = tide_now();
        int r = tide_gather(ts, N, st, TIDE_GATHER_FAIL_FAST);
        cr_assert_eq(r, -EIO, "the first failure is returned");
        cr_assert_lt(tide_now() - t0, TIDE_SEC(5), "the others were cancelled, not waited out");
        for (int i = 0; i < N; i++) {
            cr_assert_eq(st[i], i == bad ? -EIO : -ECANCELED, "task %d: %d", i, st[i]);
            cr_assert_eq(tide_task_done(ts[i]), -ESRCH, "every handle released");
        }
        cr_assert_eq(atomic_load(&running), 0, "nothing left running");
    }
    /* all succeed: 0 and every status */
    enum { M = 100 };
    tide_task_t ts[M];
    int st[M];
    for (int i = 0; i < M; i++) cr_assert_eq(tide_spawn(&ts[i], job_fn, job(i % 7, i % 3)), 0);
    cr_assert_eq(tide_gather(ts, M, st, TIDE_GATHER_FAIL_FAST), 0);
    for (int i = 0; i < M; i++) cr_assert_eq(st[i], i % 7);
    return 0;
}

Test(gather, fail_fast_cancels_the_rest) {
    tt_run(fail_fast_main, NULL, 0);
}

static int caller_main(void *arg) {
    for (int flags = 0; flags <= TIDE_GATHER_FAIL_FAST; flags++) {
        enum { N = 20 };
        tide_task_t ts[N];
        int st[N];
        for (int i = 0; i < N; i++)
            cr_assert_eq(tide_spawn(&ts[i], job_fn, job(0, i < 5 ? 1 : 10000)), 0);
        tide_scope_t sc;
        tide_timeout_begin(&sc, TT_SLACK(TIDE_MSEC(30))); /* the quick five end well before */
        int r = tide_gather(ts, N, st, flags);
        tide_scope_end(&sc);
        cr_assert_eq(r, -ETIMEDOUT);
        for (int i = 0; i < N; i++) {
            cr_assert_eq(st[i], i < 5 ? 0 : -ECANCELED, "flags %d task %d: %d", flags, i, st[i]);
            cr_assert_eq(tide_task_done(ts[i]), -ESRCH);
        }
        cr_assert_eq(atomic_load(&running), 0, "nothing left running");
    }
    return 0;
}

Test(gather, caller_deadline_cancels_and_joins_the_rest) {
    tt_run(caller_main, NULL, 0);
}

typedef struct gathered {
    int flags;
    int result;
    int st[16];
} gathered_t;

static int gatherer(void *arg) {
    gathered_t *g = arg;
    tide_task_t ts[16];
    for (int i = 0; i < 16; i++) cr_assert_eq(tide_spawn(&ts[i], job_fn, job(0, 10000)), 0);
    g->result = tide_gather(ts, 16, g->st, g->flags);
    return 0;
}

static int cancel_main(void *arg) {
    for (int round = 0; round < TT_SCALE(20); round++) {
        gathered_t g = {.flags = round % 2 ? TIDE_GATHER_FAIL_FAST : 0};
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, gatherer, &g), 0);
        tide_sleep(TIDE_USEC(200 + tt_rand() % 2000));
        cr_assert_eq(tide_cancel(t), 0);
        cr_assert_eq(tide_join(t, NULL), 0);
        cr_assert_eq(g.result, -ECANCELED);
        for (int i = 0; i < 16; i++) cr_assert_eq(g.st[i], -ECANCELED);
        cr_assert_eq(atomic_load(&running), 0, "nothing left running");
    }
    return 0;
}

Test(gather, caller_cancelled_cancels_and_joins_the_rest) {
    tt_run(cancel_main, NULL, 0);
}

static int quick(void *arg) {
    tt_random_yields(3);
    return (int)(intptr_t)arg;
}

static int many_main(void *arg) {
    enum { N = 5000 };
    static tide_task_t ts[N];
    static int st[N];
    for (int flags = 0; flags <= TIDE_GATHER_FAIL_FAST; flags++) {
        for (int i = 0; i < N; i++) cr_assert_eq(tide_spawn(&ts[i], quick, (void *)(intptr_t)i), 0);
        cr_assert_eq(tide_gather(ts, N, st, flags), 0);
        for (int i = 0; i < N; i++) cr_assert_eq(st[i], i);
    }
    return 0;
}

Test(gather, thousands_of_tasks) {
    tt_run(many_main, NULL, 0);
}

/* The same handle twice (or twenty times) is refused before anything happens: nothing is
 * joined or cancelled, and -ESRCH keeps its one meaning (a released handle). */
static int duplicates_main(void *arg) {
    for (int flags = 0; flags <= TIDE_GATHER_FIRST_ERROR; flags++) {
        for (int copies = 2; copies <= 20; copies += 18) {
            enum { N = 3 };
            tide_task_t ts[N];
            for (int i = 0; i < N; i++) cr_assert_eq(tide_spawn(&ts[i], job_fn, job(i, 5)), 0);
            tide_task_t list[N + 20];
            size_t n = 0;
            for (int i = 0; i < N; i++) list[n++] = ts[i];
            for (int c = 1; c < copies; c++) list[n++] = ts[1];
            int st[N + 20];
            cr_assert_eq(tide_gather(list, n, st, flags), -EINVAL, "flags %d copies %d", flags,
                         copies);
            for (int i = 0; i < N; i++) {
                int s = -1;
                cr_assert_eq(tide_join(ts[i], &s), 0, "the handle was left to us");
                cr_assert_eq(s, i, "task %d ran to its end, not cancelled: %d", i, s);
            }
        }
    }
    /* many handles (the sorted check) with one duplicate at the far end */
    enum { M = 100 };
    tide_task_t ts[M + 1];
    for (int i = 0; i < M; i++) cr_assert_eq(tide_spawn(&ts[i], job_fn, job(0, 1)), 0);
    ts[M] = ts[0];
    cr_assert_eq(tide_gather(ts, M + 1, NULL, TIDE_GATHER_FAIL_FAST), -EINVAL);
    cr_assert_eq(tide_gather(ts, M, NULL, TIDE_GATHER_FAIL_FAST), 0, "without it: fine");
    return 0;
}

Test(gather, same_handle_twice_is_refused_untouched) {
    tt_run(duplicates_main, NULL, 0);
}

/* A task hands back a value (tide_task_set_result); gather gives them in argument order. */
static int valued(void *arg) {
    intptr_t i = (intptr_t)arg;
    tide_sleep(TIDE_MSEC((3 - i % 3) * 2)); /* end out of order */
    tide_task_set_result((void *)(i * 100));
    return i == 4 ? -EIO : 0;
}

static int results_main(void *arg) {
    for (int flags = 0; flags <= TIDE_GATHER_FAIL_FAST; flags++) {
        enum { N = 4 };
        tide_task_t ts[N];
        int st[N];
        void *v[N];
        for (int i = 0; i < N; i++) cr_assert_eq(tide_spawn(&ts[i], valued, (void *)(intptr_t)i), 0);
        cr_assert_eq(tide_gather_results(ts, N, st, v, flags), 0);
        for (int i = 0; i < N; i++) {
            cr_assert_eq(st[i], 0);
            cr_assert_eq((intptr_t)v[i], i * 100, "flags %d value %d", flags, i);
        }
    }
    /* a task that sets no value gives NULL; join_result and task_result read it too */
    tide_task_t t, u;
    cr_assert_eq(tide_spawn(&t, job_fn, job(7, 0)), 0);
    cr_assert_eq(tide_spawn(&u, valued, (void *)(intptr_t)4), 0);
    void *v = (void *)1;
    int st = 0;
    cr_assert_eq(tide_join_result(t, &st, &v), 0);
    cr_assert_eq(st, 7);
    cr_assert_null(v);
    while (tide_task_result(u, &st, &v) == 0) tide_sleep(TIDE_MSEC(1));
    cr_assert_eq(st, -EIO, "a failed task may hand back a value too");
    cr_assert_eq((intptr_t)v, 400);
    v = NULL;
    cr_assert_eq(tide_join_result(u, NULL, &v), 0);
    cr_assert_eq((intptr_t)v, 400);
    cr_assert_eq(tide_join_result(u, NULL, &v), -ESRCH);
    cr_assert_eq(tide_task_result(u, NULL, NULL), -ESRCH);
    return 0;
}

Test(gather, results_in_argument_order) {
    tt_run(results_main, NULL, 0);
    cr_assert_eq(tide_task_set_result(NULL), -EPERM, "outside a task");
}

/* asyncio.gather without return_exceptions: the first failure comes back at once, the others
 * keep running (their handles are the caller's). */
static int first_error_main(void *arg) {
    for (int round = 0; round < 3; round++) {
        enum { N = 12 };
        tide_task_t ts[N];
        int st[N];
        void *v[N];
        int bad = (int)(tt_rand() % N);
        for (int i = 0; i < N; i++) {
            void *a = i == bad ? job(-EIO, 200) : job(i, i % 2 ? 0 : 10000);
            cr_assert_eq(tide_spawn(&ts[i], job_fn, a), 0);
        }
        int64_t t0 = tide_now();
        cr_assert_eq(tide_gather_results(ts, N, st, v, TIDE_GATHER_FIRST_ERROR), -EIO);
        cr_assert_lt(tide_now() - t0, TIDE_SEC(5), "returned at the failure");
        cr_assert_eq(st[bad], -EIO);
        for (int i = 0; i < N; i++) {
            if (i == bad) continue;
            if (i % 2) {
                cr_assert_eq(st[i], i, "a quick task had ended: joined (%d: %d)", i, st[i]);
                cr_assert_eq(tide_task_done(ts[i]), -ESRCH);
            } else {
                cr_assert_eq(st[i], -EINPROGRESS, "still running: %d", i);
                cr_assert_eq(tide_task_done(ts[i]), 0, "running on, handle valid");
            }
        }
        cr_assert_gt(atomic_load(&running), 0, "the others were not cancelled");
        for (int i = 0; i < N; i += 2) {
            if (i == bad) continue;
            cr_assert_eq(tide_cancel(ts[i]), 0);
            int s = 0;
            cr_assert_eq(tide_join(ts[i], &s), 0);
            cr_assert_eq(s, -ECANCELED);
        }
    }
    /* nobody fails: like mode 0 */
    tide_task_t ts[3];
    int st[3];
    for (int i = 0; i < 3; i++) cr_assert_eq(tide_spawn(&ts[i], job_fn, job(i, 3 - i)), 0);
    cr_assert_eq(tide_gather(ts, 3, st, TIDE_GATHER_FIRST_ERROR), 0);
    for (int i = 0; i < 3; i++) cr_assert_eq(st[i], i);
    cr_assert_eq(tide_gather(ts, 0, NULL, TIDE_GATHER_FIRST_ERROR | TIDE_GATHER_FAIL_FAST),
                 -EINVAL, "one mode at a time");
    cr_assert_eq(tide_gather(ts, 1, NULL, TIDE_GATHER_FIRST_ERROR), -EINVAL,
                 "FIRST_ERROR needs the statuses to say which handles are left");
    return 0;
}

Test(gather, first_error_returns_at_once_and_leaves_the_rest_running) {
    tt_run(first_error_main, NULL, 0);
}

/* FIRST_ERROR under races: several tasks fail at random moments while others end or run on.
 * Whatever the interleaving: the failure returned is the status of a joined task; every
 * -EINPROGRESS handle is still the caller's, every other one is released. */
static int first_error_race_main(void *arg) {
    for (int round = 0; round < TT_SCALE(200); round++) {
        enum { N = 16 };
        tide_task_t ts[N];
        int st[N];
        void *v[N];
        for (int i = 0; i < N; i++) {
            int fail = tt_rand() % 4 == 0;
            void *a = job(fail ? -EIO - (int)(tt_rand() % 3) : i, (int)(tt_rand() % 3));
            cr_assert_eq(tide_spawn(&ts[i], job_fn, a), 0);
        }
        int r = tide_gather_results(ts, N, st, v, TIDE_GATHER_FIRST_ERROR);
        bool returned_seen = r == 0;
        for (int i = 0; i < N; i++) {
            if (st[i] == -EINPROGRESS) {
                cr_assert_lt(r, 0, "tasks left running only after a failure");
                cr_assert_geq(tide_task_done(ts[i]), 0, "an -EINPROGRESS handle is ours");
                cr_assert_eq(tide_join(ts[i], &st[i]), 0);
            } else {
                cr_assert_eq(tide_task_done(ts[i]), -ESRCH, "a reported status: joined");
                if (st[i] == r) returned_seen = true;
            }
            cr_assert(r != 0 || st[i] >= 0, "0 means nobody failed");
        }
        cr_assert(returned_seen, "round %d: %d is some joined task's status", round, r);
    }
    return 0;
}

Test(gather, first_error_under_races) {
    tt_run(first_error_race_main, NULL, 0);
}
