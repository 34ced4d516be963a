/* spawn_blocking: the call runs on a pool thread, only the calling task waits (the workers
 * keep running other tasks), statuses come back, many run at once, and a cancel or deadline
 * cannot free memory the call still uses. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "testutil.h"

static _Atomic int ticks;

static int blocking_sleep(void *arg) {
    usleep(100000); /* blocks the thread it runs on */
    cr_assert_null(tide_runtime_current(), "runs on a pool thread, not a worker");
    return (int)(intptr_t)arg;
}

static int ticker(void *arg) {
    for (int i = 0; i < 50; i++) {
        atomic_fetch_add(&ticks, 1);
        tide_sleep(TIDE_MSEC(1));
    }
    return 0;
}

static int only_task_waits(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, ticker, NULL), 0);
    cr_assert_eq(tide_spawn_blocking(blocking_sleep, (void *)(intptr_t)77), 77);
    cr_assert_gt(atomic_load(&ticks), 10, "other tasks ran while the call blocked");
    cr_assert_eq(tide_join(t, NULL), 0);
    return 0;
}

Test(blocking, only_the_calling_task_waits) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.workers = 1; /* with one worker, a blocked worker would stop the ticker */
    cr_assert_eq(tide_run_config(&cfg, only_task_waits, NULL), 0);
    tt_leaks_end(&l);
}

static _Atomic int in_flight, max_in_flight;

static int count_in_flight(void *arg) {
    int n = atomic_fetch_add(&in_flight, 1) + 1;
    int m = atomic_load(&max_in_flight);
    while (n > m && !atomic_compare_exchange_weak(&max_in_flight, &m, n)) {
    }
    usleep(20000);
    atomic_fetch_sub(&in_flight, 1);
    return 1;
}

static int caller(void *arg) {
    return tide_spawn_blocking(count_in_flight, NULL);
}

static int many_at_once(void *arg) {
    tide_task_t ts[32];
    for (int i = 0; i < 32; i++) cr_assert_eq(tide_spawn(&ts[i], caller, NULL), 0);
    for (int i = 0; i < 32; i++) {
        int st = 0;
        cr_assert_eq(tide_join(ts[i], &st), 0);
        cr_assert_eq(st, 1);
    }
    cr_assert_gt(atomic_load(&max_in_flight), 8, "blocking calls ran concurrently");
    return 0;
}

Test(blocking, many_calls_run_concurrently) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(many_at_once, NULL), 0);
    tt_leaks_end(&l);
}

typedef struct job {
    int value;
    _Atomic int finished;
} job_t;

static int uses_arg(void *arg) {
    job_t *j = arg;
    usleep(50000);
    j->value = 123; /* would be a use-after-return if the caller had gone */
    atomic_store(&j->finished, 1);
    return 0;
}

static int cancelled_caller(void *arg) {
    job_t j = {0};
    int r = tide_spawn_blocking(uses_arg, &j);
    cr_assert_eq(atomic_load(&j.finished), 1, "the call finished before the wait ended");
    cr_assert_eq(j.value, 123);
    return r;
}

static int cancel_during(void *arg) {
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, cancelled_caller, NULL), 0);
    tide_sleep(TIDE_MSEC(10));
    cr_assert_eq(tide_cancel(t), 0);
    int st = -1;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, 0, "the call ran to completion and its status came back");
    return 0;
}

Test(blocking, cancel_waits_for_the_call_to_finish) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(cancel_during, NULL), 0);
    tt_leaks_end(&l);
}

static int inline_in_thread(void *arg) {
    return 5;
}

Test(blocking, from_a_plain_thread_runs_inline) {
    cr_assert_eq(tide_spawn_blocking(inline_in_thread, NULL), 5);
    cr_assert_eq(tide_spawn_blocking(NULL, NULL), -EINVAL);
}
