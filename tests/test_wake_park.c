/* Wakers under stress: a million wake/park round trips between tasks and a foreign thread,
 * and between tasks on different workers, with no lost wakeup (a lost one hangs the test,
 * which the harness reports as a failure); stale and repeated wakes are harmless. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "testutil.h"

/* ---- many tasks served by one foreign thread ---- */

enum { CLIENTS = 64 };

typedef struct server {
    pthread_mutex_t lock;
    tide_waker_t queue[CLIENTS]; /* tasks waiting to be woken by the thread */
    int nqueue;
    tide_waker_t thread_waker;   /* the thread, when it waits for work */
    int thread_waiting;
    int stop;
    uint64_t served;
} server_t;

static server_t srv;
static uint64_t rounds_per_client;

static void *server_thread(void *arg) {
    for (;;) {
        tide_waker_t batch[CLIENTS];
        pthread_mutex_lock(&srv.lock);
        int n = srv.nqueue;
        for (int i = 0; i < n; i++) batch[i] = srv.queue[i];
        srv.nqueue = 0;
        if (n == 0) {
            if (srv.stop) {
                pthread_mutex_unlock(&srv.lock);
                return NULL;
            }
            srv.thread_waker = tide_park_prepare();
            srv.thread_waiting = 1;
            pthread_mutex_unlock(&srv.lock);
            cr_assert_eq(tide_park(), 0);
            continue;
        }
        srv.served += (uint64_t)n;
        pthread_mutex_unlock(&srv.lock);
        for (int i = 0; i < n; i++) {
            tide_wake(batch[i]);
            if (tt_rand() % 8 == 0) tide_wake(batch[i]); /* repeated wakes are harmless */
        }
    }
}

static int client(void *arg) {
    for (uint64_t r = 0; r < rounds_per_client; r++) {
        pthread_mutex_lock(&srv.lock);
        srv.queue[srv.nqueue++] = tide_park_prepare();
        int wake_thread = srv.thread_waiting;
        srv.thread_waiting = 0;
        tide_waker_t tw = srv.thread_waker;
        pthread_mutex_unlock(&srv.lock);
        if (wake_thread) tide_wake(tw);
        cr_assert_eq(tide_park(), 0);
    }
    return 0;
}

Test(wake_park, million_round_trips_with_a_foreign_thread) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    pthread_mutex_init(&srv.lock, NULL);
    uint64_t total = TT_SCALE(1000000);
    rounds_per_client = total / CLIENTS;
    tide_runtime_t *rt = tt_runtime(2);
    pthread_t th;
    pthread_create(&th, NULL, server_thread, NULL);
    tide_task_t ts[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) cr_assert_eq(tide_runtime_spawn(rt, &ts[i], client, NULL, NULL), 0);
    for (int i = 0; i < CLIENTS; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    pthread_mutex_lock(&srv.lock);
    srv.stop = 1;
    int wake = srv.thread_waiting;
    tide_waker_t tw = srv.thread_waker;
    pthread_mutex_unlock(&srv.lock);
    if (wake) tide_wake(tw);
    pthread_join(th, NULL);
    cr_assert_eq(srv.served, rounds_per_client * CLIENTS);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

/* ---- strict ping-pong: task and thread both park every round ---- */

typedef struct mailbox {
    pthread_mutex_t lock;
    int full;
    tide_waker_t waiter;
    int has_waiter;
} mailbox_t;

static void mb_put(mailbox_t *m) {
    pthread_mutex_lock(&m->lock);
    m->full = 1;
    int w = m->has_waiter;
    m->has_waiter = 0;
    tide_waker_t wk = m->waiter;
    pthread_mutex_unlock(&m->lock);
    if (w) tide_wake(wk);
}

static void mb_take(mailbox_t *m) {
    pthread_mutex_lock(&m->lock);
    while (!m->full) {
        m->waiter = tide_park_prepare();
        m->has_waiter = 1;
        pthread_mutex_unlock(&m->lock);
        cr_assert_eq(tide_park(), 0);
        pthread_mutex_lock(&m->lock);
    }
    m->full = 0;
    pthread_mutex_unlock(&m->lock);
}

static mailbox_t to_thread, to_task;
static int pp_rounds;

static void *pp_thread(void *arg) {
    for (int i = 0; i < pp_rounds; i++) {
        mb_take(&to_thread);
        mb_put(&to_task);
    }
    return NULL;
}

static int pp_task(void *arg) {
    for (int i = 0; i < pp_rounds; i++) {
        mb_put(&to_thread);
        mb_take(&to_task);
    }
    return 0;
}

Test(wake_park, strict_ping_pong_task_and_thread) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    pthread_mutex_init(&to_thread.lock, NULL);
    pthread_mutex_init(&to_task.lock, NULL);
    pp_rounds = TT_SCALE(30000);
    tide_runtime_t *rt = tt_runtime(2);
    pthread_t th;
    pthread_create(&th, NULL, pp_thread, NULL);
    cr_assert_eq(tide_runtime_block_on(rt, pp_task, NULL), 0);
    pthread_join(th, NULL);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

/* ---- task pairs across workers ---- */

enum { PAIRS = 50 };
static mailbox_t pair_box[PAIRS][2];
static int pair_rounds;

static int pair_a(void *arg) {
    intptr_t p = (intptr_t)arg;
    for (int i = 0; i < pair_rounds; i++) {
        mb_put(&pair_box[p][0]);
        mb_take(&pair_box[p][1]);
        if (i % 64 == 0) tt_random_yields(2);
    }
    return 0;
}

static int pair_b(void *arg) {
    intptr_t p = (intptr_t)arg;
    for (int i = 0; i < pair_rounds; i++) {
        mb_take(&pair_box[p][0]);
        mb_put(&pair_box[p][1]);
    }
    return 0;
}

Test(wake_park, million_round_trips_between_tasks) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    pair_rounds = TT_SCALE(1000000) / PAIRS;
    for (int p = 0; p < PAIRS; p++)
        for (int k = 0; k < 2; k++) pthread_mutex_init(&pair_box[p][k].lock, NULL);
    tide_runtime_t *rt = tt_runtime(2);
    tide_task_t ts[PAIRS][2];
    for (intptr_t p = 0; p < PAIRS; p++) {
        cr_assert_eq(tide_runtime_spawn(rt, &ts[p][0], pair_a, (void *)p, NULL), 0);
        cr_assert_eq(tide_runtime_spawn(rt, &ts[p][1], pair_b, (void *)p, NULL), 0);
    }
    for (int p = 0; p < PAIRS; p++)
        for (int k = 0; k < 2; k++) cr_assert_eq(tide_join(ts[p][k], NULL), 0);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

/* ---- stale wakers ---- */

static int stale(void *arg) {
    tide_waker_t old = tide_park_prepare();
    tide_waker_t cur = tide_park_prepare(); /* a new wait: `old` is stale now */
    tide_wake(old);
    tide_scope_t s;
    tide_timeout_begin(&s, TIDE_MSEC(20));
    cr_assert_eq(tide_park(), -ETIMEDOUT, "a stale waker must not end the current wait");
    tide_scope_end(&s);
    (void)cur;
    cur = tide_park_prepare();
    tide_wake(cur); /* woken before parking: the park returns at once */
    cr_assert_eq(tide_park(), 0);
    tide_wake(cur); /* after the wait ended: no effect on the next one */
    tide_park_prepare();
    tide_timeout_begin(&s, TIDE_MSEC(20));
    cr_assert_eq(tide_park(), -ETIMEDOUT);
    tide_scope_end(&s);
    return 0;
}

static int finished(void *arg) {
    tide_waker_t *out = arg;
    *out = tide_park_prepare();
    return 0;
}

static int wake_finished(void *arg) {
    tide_waker_t w;
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, finished, &w), 0);
    cr_assert_eq(tide_join(t, NULL), 0);
    tide_wake(w); /* the task is gone (its record may be reused): harmless */
    tide_task_t t2;
    cr_assert_eq(tide_spawn(&t2, stale, NULL), 0); /* likely reuses the same record */
    tide_wake(w);
    cr_assert_eq(tide_join(t2, NULL), 0);
    return 0;
}

Test(wake_park, stale_and_late_wakes_are_harmless) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(wake_finished, NULL), 0);
    tt_leaks_end(&l);
}
