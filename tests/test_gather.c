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
        tide_timeout_begin(&sc, TIDE_MSEC(30));
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
