/* Channels between runtime tasks and plain threads outside the runtime, both directions,
 * blocking (the thread blocks) and try variants (never block), rendezvous included; a
 * thread's blocking call honours its deadline scope; close wakes a blocked thread. */
#include <pthread.h>
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

static const size_t caps[] = {0, 1, 8, TIDE_CHAN_UNBOUNDED};
#define NCAPS (sizeof caps / sizeof caps[0])

typedef struct xfer {
    tide_chan_t *c;
    int per;                  /* elements per sender */
    int senders;
    _Atomic int next_id;
    _Atomic int senders_left;
    _Atomic uint64_t received;
    _Atomic uint64_t sum;
    _Atomic uint8_t *seen;
    bool try_only;            /* threads use try variants, spinning with sched_yield */
} xfer_t;

static void got(xfer_t *x, uint64_t v) {
    cr_assert_eq(atomic_exchange(&x->seen[v], 1), 0, "element %llu twice", (unsigned long long)v);
    atomic_fetch_add(&x->received, 1);
    atomic_fetch_add(&x->sum, v);
}

static void send_all(xfer_t *x, bool thread) {
    int id = atomic_fetch_add(&x->next_id, 1);
    for (int i = 0; i < x->per; i++) {
        uint64_t v = (uint64_t)id * x->per + i;
        int r;
        if (thread && x->try_only) {
            while ((r = tide_chan_try_send(x->c, &v)) == -EAGAIN) sched_yield();
        } else {
            r = tide_chan_send(x->c, &v);
        }
        cr_assert_eq(r, 0, "send: %s", tide_strerror(r));
    }
    if (atomic_fetch_sub(&x->senders_left, 1) == 1) cr_assert_eq(tide_chan_close(x->c), 0);
}

static void recv_all(xfer_t *x, bool thread) {
    for (;;) {
        uint64_t v;
        int r;
        if (thread && x->try_only) {
            while ((r = tide_chan_try_recv(x->c, &v)) == -EAGAIN) sched_yield();
        } else {
            r = tide_chan_recv(x->c, &v);
        }
        if (r == -EPIPE) return;
        cr_assert_eq(r, 0, "recv: %s", tide_strerror(r));
        got(x, v);
    }
}

static int task_sender(void *arg) { send_all(arg, false); return 0; }
static int task_receiver(void *arg) { recv_all(arg, false); return 0; }
static void *thread_sender(void *arg) { send_all(arg, true); return NULL; }
static void *thread_receiver(void *arg) { recv_all(arg, true); return NULL; }

typedef struct plan {
    size_t cap;
    bool threads_send;        /* threads send, tasks receive; else the other way round */
    bool mixed;               /* tasks and threads on both sides */
    bool try_only;
} plan_t;

enum { THREADS = 3, TASKS = 16 };

static int run_plan(void *arg) {
    plan_t *p = arg;
    xfer_t x = {0};
    x.per = TT_SCALE(3000);
    x.try_only = p->try_only;
    int task_senders = p->threads_send ? 0 : TASKS;
    int thread_senders = p->threads_send ? THREADS : 0;
    if (p->mixed) task_senders = TASKS / 2, thread_senders = THREADS;
    x.senders = task_senders + thread_senders;
    atomic_store(&x.senders_left, x.senders);
    size_t total = (size_t)x.senders * x.per;
    x.seen = calloc(total, 1);
    cr_assert_eq(tide_chan_new(&x.c, sizeof(uint64_t), p->cap), 0);

    pthread_t th[2 * THREADS];
    int nth = 0;
    tide_task_t ts[2 * TASKS];
    int nts = 0;
    int task_receivers = p->threads_send || p->mixed ? TASKS / 2 : 0;
    int thread_receivers = p->threads_send && !p->mixed ? 0 : THREADS;
    for (int i = 0; i < thread_receivers; i++)
        cr_assert_eq(pthread_create(&th[nth++], NULL, thread_receiver, &x), 0);
    for (int i = 0; i < task_receivers; i++)
        cr_assert_eq(tide_spawn(&ts[nts++], task_receiver, &x), 0);
    for (int i = 0; i < thread_senders; i++)
        cr_assert_eq(pthread_create(&th[nth++], NULL, thread_sender, &x), 0);
    for (int i = 0; i < task_senders; i++)
        cr_assert_eq(tide_spawn(&ts[nts++], task_sender, &x), 0);
    for (int i = 0; i < nts; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    for (int i = 0; i < nth; i++) pthread_join(th[i], NULL);

    cr_assert_eq(atomic_load(&x.received), total, "cap %zu: %llu of %zu received", p->cap,
                 (unsigned long long)atomic_load(&x.received), total);
    cr_assert_eq(atomic_load(&x.sum), (uint64_t)total * (total - 1) / 2);
    tide_chan_free(x.c);
    free((void *)x.seen);
    return 0;
}

static void run(plan_t p) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_runtime_t *rt = tt_runtime(0);
    for (size_t k = 0; k < NCAPS; k++) {
        p.cap = caps[k];
        cr_assert_eq(tide_runtime_block_on(rt, run_plan, &p), 0);
    }
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

Test(chan_threads, threads_send_tasks_receive_blocking) {
    run((plan_t){.threads_send = true});
}

Test(chan_threads, tasks_send_threads_receive_blocking) {
    run((plan_t){.threads_send = false});
}

Test(chan_threads, both_sides_mixed_blocking) {
    run((plan_t){.mixed = true});
}

Test(chan_threads, threads_use_try_variants_only) {
    run((plan_t){.mixed = true, .try_only = true});
    run((plan_t){.threads_send = true, .try_only = true});
}

/* ---- a thread's blocking calls without any runtime, its deadlines, close wakes it ------- */

typedef struct solo {
    tide_chan_t *c;
    int result;
    int64_t waited;
} solo_t;

static void *thread_recv_deadline(void *arg) {
    solo_t *s = arg;
    tide_scope_t sc;
    int64_t t0 = tide_now();
    tide_timeout_begin(&sc, TIDE_MSEC(30));
    uint64_t v = 12345;
    s->result = tide_chan_recv(s->c, &v);
    tide_scope_end(&sc);
    s->waited = tide_now() - t0;
    cr_assert_eq(v, 12345, "a timed-out receive wrote the buffer");
    return NULL;
}

static void *thread_recv(void *arg) {
    solo_t *s = arg;
    uint64_t v;
    s->result = tide_chan_recv(s->c, &v);
    return NULL;
}

static void *thread_send_full(void *arg) {
    solo_t *s = arg;
    uint64_t v = 1;
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_MSEC(30));
    s->result = tide_chan_send(s->c, &v);
    tide_scope_end(&sc);
    return NULL;
}

Test(chan_threads, thread_deadline_and_close_without_runtime) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    for (size_t k = 0; k < NCAPS; k++) {
        solo_t s = {0};
        cr_assert_eq(tide_chan_new(&s.c, sizeof(uint64_t), caps[k]), 0);
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, thread_recv_deadline, &s), 0);
        pthread_join(th, NULL);
        cr_assert_eq(s.result, -ETIMEDOUT);
        cr_assert_geq(s.waited, TIDE_MSEC(30));
        uint64_t v = 9;
        if (caps[k] != 0) {
            /* the timed-out receiver left no trace: a send is still buffered for the next */
            cr_assert_eq(tide_chan_try_send(s.c, &v), 0);
            cr_assert_eq(tide_chan_try_recv(s.c, &v), 0);
            cr_assert_eq(v, 9);
        } else {
            cr_assert_eq(tide_chan_try_send(s.c, &v), -EAGAIN, "no receiver left parked");
        }
        /* a full channel: the thread's send times out and leaves nothing behind */
        if (caps[k] != 0 && caps[k] != TIDE_CHAN_UNBOUNDED) {
            for (size_t i = 0; i < caps[k]; i++) cr_assert_eq(tide_chan_try_send(s.c, &v), 0);
            cr_assert_eq(pthread_create(&th, NULL, thread_send_full, &s), 0);
            pthread_join(th, NULL);
            cr_assert_eq(s.result, -ETIMEDOUT);
            cr_assert_eq(tide_chan_len(s.c), caps[k], "the timed-out send enqueued nothing");
            while (tide_chan_try_recv(s.c, &v) == 0) {
            }
        }
        /* close wakes a thread blocked in recv */
        cr_assert_eq(pthread_create(&th, NULL, thread_recv, &s), 0);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        cr_assert_eq(tide_chan_close(s.c), 0);
        pthread_join(th, NULL);
        cr_assert_eq(s.result, -EPIPE);
        tide_chan_free(s.c);
    }
    tt_leaks_end(&l);
}

/* Rendezvous between a thread and a task, thousands of round trips (the thread blocks on a
 * futex each time, the task parks). */
typedef struct pingpong {
    tide_chan_t *ping, *pong;
    int rounds;
} pingpong_t;

static void *thread_ponger(void *arg) {
    pingpong_t *p = arg;
    for (int i = 0; i < p->rounds; i++) {
        uint64_t v;
        cr_assert_eq(tide_chan_recv(p->ping, &v), 0);
        v++;
        cr_assert_eq(tide_chan_send(p->pong, &v), 0);
    }
    return NULL;
}

static int pinger(void *arg) {
    pingpong_t *p = arg;
    for (int i = 0; i < p->rounds; i++) {
        uint64_t v = (uint64_t)i * 2;
        cr_assert_eq(tide_chan_send(p->ping, &v), 0);
        cr_assert_eq(tide_chan_recv(p->pong, &v), 0);
        cr_assert_eq(v, (uint64_t)i * 2 + 1);
    }
    return 0;
}

Test(chan_threads, rendezvous_round_trips_task_and_thread) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    pingpong_t p = {.rounds = TT_SCALE(5000)};
    cr_assert_eq(tide_chan_new(&p.ping, sizeof(uint64_t), 0), 0);
    cr_assert_eq(tide_chan_new(&p.pong, sizeof(uint64_t), 0), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, thread_ponger, &p), 0);
    tide_runtime_t *rt = tt_runtime(0);
    cr_assert_eq(tide_runtime_block_on(rt, pinger, &p), 0);
    pthread_join(th, NULL);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tide_chan_free(p.ping);
    tide_chan_free(p.pong);
    tt_leaks_end(&l);
}
