/* tide_queue_t (asyncio.Queue): FIFO, maxsize, nowait variants, task_done/join; producers
 * and consumers on all workers with exact counts and join; deadlines and cancellation in
 * the middle of put and get lose and duplicate nothing; misuse. */
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

static int basics(void *arg) {
    tide_queue_t *q = (tide_queue_t *)1;
    cr_assert_eq(tide_queue_new(&q, 0, 4), -EINVAL);
    cr_assert_null(q);
    cr_assert_eq(tide_queue_new(NULL, 4, 4), -EINVAL);
    cr_assert_eq(tide_queue_new(&q, sizeof(int), 3), 0);
    int v;
    cr_assert_eq(tide_queue_try_get(q, &v), -EAGAIN);
    cr_assert_eq(tide_queue_task_done(q), -EINVAL, "nothing got yet");
    cr_assert_eq(tide_queue_join(q), 0, "nothing pending");
    for (int i = 0; i < 3; i++) cr_assert_eq(tide_queue_put(q, &i), 0);
    cr_assert_eq(tide_queue_size(q), 3);
    cr_assert_eq(tide_queue_try_put(q, &v), -EAGAIN, "full");
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_MSEC(5));
    cr_assert_eq(tide_queue_put(q, &v), -ETIMEDOUT);
    cr_assert_eq(tide_queue_join(q), -ETIMEDOUT, "items pending");
    tide_scope_end(&sc);
    cr_assert_eq(tide_queue_size(q), 3, "the timed-out put added nothing");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tide_queue_get(q, &v), 0);
        cr_assert_eq(v, i, "FIFO");
    }
    tide_timeout_begin(&sc, TIDE_MSEC(5));
    cr_assert_eq(tide_queue_join(q), -ETIMEDOUT, "got but not task_done");
    tide_scope_end(&sc);
    for (int i = 0; i < 3; i++) cr_assert_eq(tide_queue_task_done(q), 0);
    cr_assert_eq(tide_queue_task_done(q), -EINVAL, "one too many");
    cr_assert_eq(tide_queue_join(q), 0);
    cr_assert_eq(tide_queue_put(NULL, &v), -EINVAL);
    cr_assert_eq(tide_queue_get(q, NULL), -EINVAL);
    cr_assert_eq(tide_queue_size(NULL), 0);
    tide_queue_free(q);
    tide_queue_free(NULL);

    /* maxsize 0: unbounded */
    cr_assert_eq(tide_queue_new(&q, sizeof(int), 0), 0);
    for (int i = 0; i < 100000; i++) cr_assert_eq(tide_queue_try_put(q, &i), 0);
    cr_assert_eq(tide_queue_size(q), 100000);
    tide_queue_free(q);
    return 0;
}

Test(queue, semantics_and_misuse) {
    tt_run(basics, NULL, 0);
}

typedef struct work {
    tide_queue_t *q;
    int per;
    _Atomic int next;
    _Atomic uint8_t *seen;
    _Atomic uint64_t put_ok, put_failed, got, processed, get_failed;
    int64_t max_timeout;
} work_t;

static int timed(work_t *w, bool put, uint64_t *v) {
    tide_scope_t sc;
    if (w->max_timeout) tide_timeout_begin(&sc, 1 + tt_rand() % w->max_timeout);
    int r = put ? tide_queue_put(w->q, v) : tide_queue_get(w->q, v);
    if (w->max_timeout) tide_scope_end(&sc);
    return r;
}

static int producer(void *arg) {
    work_t *w = arg;
    int id = atomic_fetch_add(&w->next, 1);
    for (int i = 0; i < w->per; i++) {
        uint64_t v = (uint64_t)id * w->per + i;
        int r = timed(w, true, &v);
        if (r == 0) atomic_fetch_add(&w->put_ok, 1);
        else {
            cr_assert_eq(r, -ETIMEDOUT);
            cr_assert_eq(atomic_exchange(&w->seen[v], 2), 0, "a failed put was delivered");
            atomic_fetch_add(&w->put_failed, 1);
        }
        /* now and then a pause longer than the deadlines (1 ms timer resolution), so that
         * getters really do time out */
        if (w->max_timeout && i % 32 == 31) tide_sleep(TIDE_USEC(tt_rand() % 3000));
    }
    return 0;
}

static int consumer(void *arg) {
    work_t *w = arg;
    for (;;) {
        uint64_t v = UINT64_MAX;
        int r = timed(w, false, &v);
        if (r == -ETIMEDOUT) {
            cr_assert_eq(v, UINT64_MAX, "a timed-out get wrote an item");
            atomic_fetch_add(&w->get_failed, 1);
            /* Exit only on a pill, never on a timeout: a consumer that left without its pill
             * would leave the pills' puts blocked on a full queue (found by TIDE_SHAKE). */
            continue;
        }
        if (r == -ECANCELED) return 0;
        cr_assert_eq(r, 0);
        if (v == UINT64_MAX - 1) return 0; /* poison pill */
        cr_assert_eq(atomic_exchange(&w->seen[v], 1), 0, "item twice");
        atomic_fetch_add(&w->got, 1);
        tt_random_yields(1);
        atomic_fetch_add(&w->processed, 1);
        cr_assert_eq(tide_queue_task_done(w->q), 0);
    }
}

/* Returns how many puts and gets ended by deadline. */
static uint64_t run_work(size_t maxsize, int producers, int consumers, int per, int64_t timeout) {
    work_t *w = calloc(1, sizeof *w);
    w->per = per;
    w->max_timeout = timeout;
    size_t total = (size_t)producers * per;
    w->seen = calloc(total, 1);
    cr_assert_eq(tide_queue_new(&w->q, sizeof(uint64_t), maxsize), 0);
    tide_task_t *ps = calloc((size_t)producers, sizeof *ps);
    tide_task_t *cs = calloc((size_t)consumers, sizeof *cs);
    for (int i = 0; i < consumers; i++) cr_assert_eq(tide_spawn(&cs[i], consumer, w), 0);
    for (int i = 0; i < producers; i++) cr_assert_eq(tide_spawn(&ps[i], producer, w), 0);
    for (int i = 0; i < producers; i++) cr_assert_eq(tide_join(ps[i], NULL), 0);
    /* join: returns once every item put has been got and processed */
    cr_assert_eq(tide_queue_join(w->q), 0);
    cr_assert_eq(atomic_load(&w->processed), atomic_load(&w->put_ok),
                 "join returned with %llu of %llu processed",
                 (unsigned long long)atomic_load(&w->processed),
                 (unsigned long long)atomic_load(&w->put_ok));
    uint64_t pill = UINT64_MAX - 1;
    for (int i = 0; i < consumers; i++) cr_assert_eq(tide_queue_put(w->q, &pill), 0);
    for (int i = 0; i < consumers; i++) cr_assert_eq(tide_join(cs[i], NULL), 0);
    cr_assert_eq(atomic_load(&w->put_ok) + atomic_load(&w->put_failed), total);
    cr_assert_eq(atomic_load(&w->got), atomic_load(&w->put_ok));
    uint64_t hit = atomic_load(&w->put_failed) + atomic_load(&w->get_failed);
    tide_queue_free(w->q);
    free(ps);
    free(cs);
    free((void *)w->seen);
    free(w);
    return hit;
}

static int exact_main(void *arg) {
    run_work(0, 50, 50, TT_SCALE(500), 0);
    run_work(1, 50, 50, TT_SCALE(500), 0);
    run_work(16, 1000, 1000, TT_SCALE(50), 0);
    return 0;
}

Test(queue, producers_consumers_join_exact) {
    tt_run(exact_main, NULL, 0);
}

static int deadline_main(void *arg) {
    uint64_t hit = 0;
    for (int i = 0; i < 2; i++) {
        hit += run_work(4, 8, 24, TT_SCALE(1000), TIDE_USEC(30));
        hit += run_work(4, 24, 8, TT_SCALE(500), TIDE_USEC(30));
    }
    cr_assert_gt(hit, 0, "no deadline hit: the test proves nothing");
    return 0;
}

Test(queue, deadlines_in_the_middle_lose_nothing) {
    tt_run(deadline_main, NULL, 0);
}

/* Freeing a queue with parked tasks (misuse) fails them with -EPIPE instead of crashing. */
static int getter(void *arg) {
    int v;
    return tide_queue_get(arg, &v);
}

static int free_main(void *arg) {
    tide_queue_t *q;
    cr_assert_eq(tide_queue_new(&q, sizeof(int), 1), 0);
    tide_task_t ts[4];
    for (int i = 0; i < 4; i++) cr_assert_eq(tide_spawn(&ts[i], getter, q), 0);
    tide_sleep(TIDE_MSEC(5));
    tide_queue_free(q);
    for (int i = 0; i < 4; i++) {
        int st;
        cr_assert_eq(tide_join(ts[i], &st), 0);
        cr_assert_eq(st, -EPIPE);
    }
    return 0;
}

Test(queue, free_with_parked_tasks_fails_them) {
    /* One worker: the getters, queued before the main task sleeps, all run (and park) before
     * it wakes, however slow the machine. With more, a late getter would use the freed
     * queue: the misuse this test must not commit itself. */
    tt_run(free_main, NULL, 1);
}

static int cancel_main(void *arg) {
    for (int round = 0; round < TT_SCALE(20); round++) {
        work_t *w = calloc(1, sizeof *w);
        w->per = 200;
        enum { P = 16, C = 16 };
        w->seen = calloc((size_t)P * w->per, 1);
        cr_assert_eq(tide_queue_new(&w->q, sizeof(uint64_t), 2), 0);
        tide_task_t cs[C], ps[P];
        for (int i = 0; i < C; i++) cr_assert_eq(tide_spawn(&cs[i], consumer, w), 0);
        for (int i = 0; i < P; i++) cr_assert_eq(tide_spawn(&ps[i], producer, w), 0);
        for (int i = 0; i < P; i++) cr_assert_eq(tide_join(ps[i], NULL), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 300));
        for (int i = 0; i < C; i++) tide_cancel(cs[i]);
        for (int i = 0; i < C; i++) cr_assert_eq(tide_join(cs[i], NULL), 0);
        /* what the cancelled consumers did not take is still queued */
        uint64_t v;
        while (tide_queue_try_get(w->q, &v) == 0) {
            cr_assert_eq(atomic_exchange(&w->seen[v], 1), 0);
            atomic_fetch_add(&w->got, 1);
        }
        cr_assert_eq(atomic_load(&w->got), (uint64_t)P * w->per, "round %d", round);
        tide_queue_free(w->q);
        free((void *)w->seen);
        free(w);
    }
    return 0;
}

Test(queue, cancellation_in_the_middle_loses_nothing) {
    tt_run(cancel_main, NULL, 0);
}
