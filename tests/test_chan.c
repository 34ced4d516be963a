/* Channels: bounded (capacity 1 and more), unbounded and rendezvous; FIFO order, try
 * variants, close semantics, misuse; exact-once delivery with many producers and consumers
 * on all workers; and deadlines and cancellation in the middle of sends and receives, where
 * every element reported sent is received exactly once and none reported failed is. */
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

/* The capacities every kind of channel is tested with. */
static const size_t caps[] = {0, 1, 2, 64, TIDE_CHAN_UNBOUNDED};
#define NCAPS (sizeof caps / sizeof caps[0])

/* ---- semantics ------------------------------------------------------------------------- */

static int fifo_and_try(void *arg) {
    tide_chan_t *c;
    cr_assert_eq(tide_chan_new(&c, sizeof(int), 4), 0);
    cr_assert_eq(tide_chan_cap(c), 4);
    int v = 0;
    cr_assert_eq(tide_chan_try_recv(c, &v), -EAGAIN, "empty");
    for (int i = 0; i < 4; i++) cr_assert_eq(tide_chan_try_send(c, &i), 0);
    cr_assert_eq(tide_chan_len(c), 4);
    int x = 99;
    cr_assert_eq(tide_chan_try_send(c, &x), -EAGAIN, "full");
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(tide_chan_recv(c, &v), 0);
        cr_assert_eq(v, i, "FIFO order");
    }
    cr_assert_eq(tide_chan_len(c), 0);
    /* wrap around the ring many times */
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(tide_chan_send(c, &i), 0);
        if (i % 3 == 2) {
            for (int k = 2; k >= 0; k--) {
                cr_assert_eq(tide_chan_recv(c, &v), 0);
                cr_assert_eq(v, i - k);
            }
        }
    }
    tide_chan_free(c);
    return 0;
}

Test(chan, fifo_order_and_try_variants) {
    tt_run(fifo_and_try, NULL, 0);
}

static int close_semantics(void *arg) {
    for (size_t k = 0; k < NCAPS; k++) {
        tide_chan_t *c;
        cr_assert_eq(tide_chan_new(&c, sizeof(int), caps[k]), 0);
        int n = caps[k] == 0 ? 0 : caps[k] == 1 ? 1 : 2;
        for (int i = 0; i < n; i++) cr_assert_eq(tide_chan_send(c, &i), 0);
        cr_assert_eq(tide_chan_close(c), 0);
        cr_assert_eq(tide_chan_close(c), -EPIPE, "double close");
        int v = 7;
        cr_assert_eq(tide_chan_send(c, &v), -EPIPE, "send after close");
        cr_assert_eq(tide_chan_try_send(c, &v), -EPIPE);
        for (int i = 0; i < n; i++) {
            cr_assert_eq(tide_chan_recv(c, &v), 0, "buffered elements are drained");
            cr_assert_eq(v, i);
        }
        cr_assert_eq(tide_chan_recv(c, &v), -EPIPE, "then receivers get -EPIPE");
        cr_assert_eq(tide_chan_try_recv(c, &v), -EPIPE);
        tide_chan_free(c);
    }
    return 0;
}

Test(chan, close_drains_then_epipe) {
    tt_run(close_semantics, NULL, 0);
}

typedef struct blocked {
    tide_chan_t *c;
    int result;
    int value;
} blocked_t;

static int blocked_recv(void *arg) {
    blocked_t *b = arg;
    b->result = tide_chan_recv(b->c, &b->value);
    return 0;
}

static int blocked_send(void *arg) {
    blocked_t *b = arg;
    b->value = 5;
    b->result = tide_chan_send(b->c, &b->value);
    return 0;
}

static int close_wakes(void *arg) {
    for (size_t k = 0; k < NCAPS; k++) {
        tide_chan_t *c;
        cr_assert_eq(tide_chan_new(&c, sizeof(int), caps[k]), 0);
        blocked_t r[8], s[8];
        tide_task_t tr[8], ts[8];
        int nsend = caps[k] == TIDE_CHAN_UNBOUNDED ? 0 : 8;
        /* fill the buffer so that senders block */
        for (size_t i = 0; caps[k] != TIDE_CHAN_UNBOUNDED && i < caps[k]; i++) {
            int v = -1;
            cr_assert_eq(tide_chan_send(c, &v), 0);
        }
        bool empty = caps[k] == 0 || caps[k] == TIDE_CHAN_UNBOUNDED;
        for (int i = 0; i < 8; i++) {
            r[i] = (blocked_t){c, 1, 0};
            s[i] = (blocked_t){c, 1, 0};
            if (empty) cr_assert_eq(tide_spawn(&tr[i], blocked_recv, &r[i]), 0);
            if (i < nsend && !empty) cr_assert_eq(tide_spawn(&ts[i], blocked_send, &s[i]), 0);
        }
        tide_sleep(TIDE_MSEC(10));
        cr_assert_eq(tide_chan_close(c), 0);
        for (int i = 0; i < 8; i++) {
            if (empty) {
                tide_join(tr[i], NULL);
                cr_assert_eq(r[i].result, -EPIPE, "a parked receiver is failed by close");
            }
            if (i < nsend && !empty) {
                tide_join(ts[i], NULL);
                cr_assert_eq(s[i].result, -EPIPE, "a parked sender is failed by close");
            }
        }
        tide_chan_free(c);
    }
    return 0;
}

Test(chan, close_wakes_parked_senders_and_receivers) {
    tt_run(close_wakes, NULL, 0);
}

static int misuse(void *arg) {
    tide_chan_t *c = (tide_chan_t *)1;
    cr_assert_eq(tide_chan_new(NULL, 8, 1), -EINVAL);
    cr_assert_eq(tide_chan_new(&c, 0, 1), -EINVAL, "zero element size");
    cr_assert_null(c);
    int v = 0;
    cr_assert_eq(tide_chan_send(NULL, &v), -EINVAL);
    cr_assert_eq(tide_chan_recv(NULL, &v), -EINVAL);
    cr_assert_eq(tide_chan_try_send(NULL, &v), -EINVAL);
    cr_assert_eq(tide_chan_try_recv(NULL, &v), -EINVAL);
    cr_assert_eq(tide_chan_close(NULL), -EINVAL);
    cr_assert_eq(tide_chan_len(NULL), 0);
    cr_assert_eq(tide_chan_cap(NULL), 0);
    tide_chan_free(NULL);
    cr_assert_eq(tide_chan_new(&c, sizeof v, 1), 0);
    cr_assert_eq(tide_chan_send(c, NULL), -EINVAL, "NULL element");
    cr_assert_eq(tide_chan_recv(c, NULL), -EINVAL);
    tide_chan_free(c);
    return 0;
}

Test(chan, misuse_gets_einval) {
    tt_run(misuse, NULL, 0);
}

/* Elements of odd sizes are copied whole. */
typedef struct big {
    uint64_t a[7];
    uint8_t tail[5];
} big_t;

static int big_sender(void *arg) {
    tide_chan_t *c = arg;
    for (int i = 0; i < 1000; i++) {
        big_t b;
        for (int k = 0; k < 7; k++) b.a[k] = (uint64_t)i * 7 + k;
        memset(b.tail, i & 0xff, sizeof b.tail);
        cr_assert_eq(tide_chan_send(c, &b), 0);
    }
    return 0;
}

static int elem_sizes(void *arg) {
    for (size_t k = 0; k < NCAPS; k++) {
        tide_chan_t *c;
        cr_assert_eq(tide_chan_new(&c, sizeof(big_t), caps[k]), 0);
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, big_sender, c), 0);
        for (int i = 0; i < 1000; i++) {
            big_t b;
            cr_assert_eq(tide_chan_recv(c, &b), 0);
            for (int j = 0; j < 7; j++) cr_assert_eq(b.a[j], (uint64_t)i * 7 + j);
            for (int j = 0; j < 5; j++) cr_assert_eq(b.tail[j], i & 0xff);
        }
        tide_join(t, NULL);
        tide_chan_free(c);
        /* one-byte elements */
        cr_assert_eq(tide_chan_new(&c, 1, caps[k] == 0 ? 1 : caps[k]), 0);
        uint8_t x = 0xab, y = 0;
        cr_assert_eq(tide_chan_send(c, &x), 0);
        cr_assert_eq(tide_chan_recv(c, &y), 0);
        cr_assert_eq(y, 0xab);
        tide_chan_free(c);
    }
    return 0;
}

Test(chan, odd_element_sizes_copied_whole) {
    tt_run(elem_sizes, NULL, 0);
}

/* Rendezvous: a send completes only when a receiver takes it. */
static int rendezvous_sender(void *arg) {
    blocked_t *b = arg;
    int v = 42;
    b->result = tide_chan_send(b->c, &v);
    b->value = 1; /* sent */
    return 0;
}

static int rendezvous(void *arg) {
    tide_chan_t *c;
    cr_assert_eq(tide_chan_new(&c, sizeof(int), 0), 0);
    int v = 1;
    cr_assert_eq(tide_chan_try_send(c, &v), -EAGAIN, "nobody receiving");
    cr_assert_eq(tide_chan_try_recv(c, &v), -EAGAIN, "nobody sending");
    blocked_t b = {c, 1, 0};
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, rendezvous_sender, &b), 0);
    tide_sleep(TIDE_MSEC(20));
    cr_assert_eq(b.value, 0, "the send is still waiting for a receiver");
    cr_assert_eq(tide_chan_len(c), 0);
    cr_assert_eq(tide_chan_try_recv(c, &v), 0, "try_recv takes from a parked sender");
    cr_assert_eq(v, 42);
    tide_join(t, NULL);
    cr_assert_eq(b.result, 0);
    cr_assert_eq(b.value, 1);
    /* and try_send hands to a parked receiver */
    blocked_t r = {c, 1, 0};
    cr_assert_eq(tide_spawn(&t, blocked_recv, &r), 0);
    tide_sleep(TIDE_MSEC(5));
    v = 77;
    cr_assert_eq(tide_chan_try_send(c, &v), 0);
    tide_join(t, NULL);
    cr_assert_eq(r.result, 0);
    cr_assert_eq(r.value, 77);
    tide_chan_free(c);
    return 0;
}

Test(chan, rendezvous_send_waits_for_receiver) {
    tt_run(rendezvous, NULL, 0);
}

static int unbounded(void *arg) {
    tide_chan_t *c;
    cr_assert_eq(tide_chan_new(&c, sizeof(uint64_t), TIDE_CHAN_UNBOUNDED), 0);
    enum { N = 200000 };
    for (uint64_t i = 0; i < N; i++) cr_assert_eq(tide_chan_try_send(c, &i), 0);
    cr_assert_eq(tide_chan_len(c), N);
    for (uint64_t i = 0; i < N; i++) {
        uint64_t v;
        cr_assert_eq(tide_chan_recv(c, &v), 0);
        cr_assert_eq(v, i);
    }
    tide_chan_free(c);
    return 0;
}

Test(chan, unbounded_never_blocks) {
    tt_run(unbounded, NULL, 0);
}

/* Freeing a channel with parked tasks (misuse) fails them with -EPIPE instead of crashing. */
static int free_parked(void *arg) {
    for (int senders = 0; senders < 2; senders++) {
        tide_chan_t *c;
        cr_assert_eq(tide_chan_new(&c, sizeof(int), 0), 0);
        blocked_t r[4];
        tide_task_t t[4];
        for (int i = 0; i < 4; i++) {
            r[i] = (blocked_t){c, 1, 0};
            cr_assert_eq(tide_spawn(&t[i], senders ? blocked_send : blocked_recv, &r[i]), 0);
        }
        tide_sleep(TIDE_MSEC(10));
        tide_chan_free(c);
        for (int i = 0; i < 4; i++) {
            tide_join(t[i], NULL);
            cr_assert_eq(r[i].result, -EPIPE);
        }
    }
    return 0;
}

Test(chan, free_with_parked_tasks_fails_them) {
    /* One worker, so every blocked task has parked before the free (see test_queue.c). */
    tt_run(free_parked, NULL, 1);
}

/* ---- exact-once delivery under contention --------------------------------------------- */

typedef struct mpmc {
    tide_chan_t *c;
    int per_producer;
    _Atomic uint32_t next_producer;
    _Atomic uint8_t *seen;       /* one flag per element id */
    _Atomic uint64_t received;
    _Atomic uint64_t sent_ok;
    _Atomic uint64_t send_failed;
    _Atomic uint64_t recv_failed;
    _Atomic int producers_left;
    int64_t max_timeout_ns;      /* 0: no deadlines */
    bool cancel_mode;
} mpmc_t;

static int deadline_op(mpmc_t *m, bool send, uint64_t *v) {
    if (!m->max_timeout_ns) return send ? tide_chan_send(m->c, v) : tide_chan_recv(m->c, v);
    tide_scope_t s;
    tide_timeout_begin(&s, 1 + tt_rand() % m->max_timeout_ns);
    int r = send ? tide_chan_send(m->c, v) : tide_chan_recv(m->c, v);
    tide_scope_end(&s);
    return r;
}

static void record(mpmc_t *m, uint64_t v) {
    uint8_t was = atomic_exchange(&m->seen[v], 1);
    cr_assert_eq(was, 0, "element %llu received twice", (unsigned long long)v);
    atomic_fetch_add(&m->received, 1);
}

static int producer(void *arg) {
    mpmc_t *m = arg;
    uint32_t p = atomic_fetch_add(&m->next_producer, 1);
    for (int i = 0; i < m->per_producer; i++) {
        uint64_t v = (uint64_t)p * m->per_producer + i;
        if (m->cancel_mode && tide_cancelled()) break;
        int r = deadline_op(m, true, &v);
        if (r == 0) {
            atomic_fetch_add(&m->sent_ok, 1);
        } else {
            cr_assert(r == -ETIMEDOUT || r == -ECANCELED, "send: %s", tide_strerror(r));
            atomic_fetch_add(&m->send_failed, 1);
            /* mark it so a receiver that gets it anyway is caught */
            uint8_t was = atomic_exchange(&m->seen[v], 2);
            cr_assert_eq(was, 0, "element %llu reported unsent was received",
                         (unsigned long long)v);
            if (r == -ECANCELED) break;
        }
        if ((i & 15) == 0) tt_random_yields(1);
        /* now and then a pause longer than the deadlines (1 ms timer resolution), so that
         * receivers really do time out */
        if (m->max_timeout_ns && i % 64 == 63) tide_sleep(TIDE_USEC(tt_rand() % 2000));
    }
    if (atomic_fetch_sub(&m->producers_left, 1) == 1) tide_chan_close(m->c);
    return 0;
}

static int consumer(void *arg) {
    mpmc_t *m = arg;
    for (;;) {
        uint64_t v = UINT64_MAX;
        int r = deadline_op(m, false, &v);
        if (r == -EPIPE) return 0;
        if (r == -ETIMEDOUT) {
            cr_assert_eq(v, UINT64_MAX, "a timed-out receive wrote an element");
            atomic_fetch_add(&m->recv_failed, 1);
            continue;
        }
        cr_assert_eq(r, 0, "recv: %s", tide_strerror(r));
        uint8_t was = atomic_exchange(&m->seen[v], 1);
        cr_assert_eq(was, 0, "element %llu received twice or after its send failed",
                     (unsigned long long)v);
        atomic_fetch_add(&m->received, 1);
        if ((v & 31) == 0) tt_random_yields(1);
    }
}

/* Returns how many sends and receives ended by deadline. */
static uint64_t mpmc_run(size_t cap, int producers, int consumers, int per, int64_t timeout_ns) {
    mpmc_t *m = calloc(1, sizeof *m);
    size_t total = (size_t)producers * per;
    m->seen = calloc(total, 1);
    m->per_producer = per;
    m->max_timeout_ns = timeout_ns;
    atomic_store(&m->producers_left, producers);
    cr_assert_eq(tide_chan_new(&m->c, sizeof(uint64_t), cap), 0);
    tide_task_t *ts = calloc((size_t)(producers + consumers), sizeof *ts);
    for (int i = 0; i < consumers; i++) cr_assert_eq(tide_spawn(&ts[i], consumer, m), 0);
    for (int i = 0; i < producers; i++)
        cr_assert_eq(tide_spawn(&ts[consumers + i], producer, m), 0);
    for (int i = 0; i < producers + consumers; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    uint64_t ok = atomic_load(&m->sent_ok), failed = atomic_load(&m->send_failed);
    cr_assert_eq(ok + failed, total);
    cr_assert_eq(atomic_load(&m->received), ok,
                 "cap %zu: %llu sent, %llu received", cap, (unsigned long long)ok,
                 (unsigned long long)atomic_load(&m->received));
    for (size_t i = 0; i < total; i++) cr_assert_neq(m->seen[i], 0);
    uint64_t hit = failed + atomic_load(&m->recv_failed);
    tide_chan_free(m->c);
    free(ts);
    free((void *)m->seen);
    free(m);
    return hit;
}

static int mpmc_main(void *arg) {
    for (size_t k = 0; k < NCAPS; k++) mpmc_run(caps[k], 8, 8, TT_SCALE(20000), 0);
    return 0;
}

Test(chan, mpmc_exactly_once_every_capacity) {
    tt_run(mpmc_main, NULL, 0);
}

static int many_tasks_main(void *arg) {
    /* thousands of tasks on all workers */
    mpmc_run(16, 1000, 1000, TT_SCALE(100), 0);
    mpmc_run(0, 1000, 1000, TT_SCALE(100), 0);
    return 0;
}

Test(chan, thousands_of_tasks_exactly_once) {
    tt_run(many_tasks_main, NULL, 0);
}

static int timeouts_main(void *arg) {
    for (size_t k = 0; k < NCAPS; k++) {
        uint64_t hit = 0;
        /* more receivers than senders (receives time out), then the other way round */
        for (int round = 0; round < 3; round++) {
            hit += mpmc_run(caps[k], 8, 24, TT_SCALE(3000), TIDE_USEC(30));
            hit += mpmc_run(caps[k], 24, 8, TT_SCALE(1000), TIDE_USEC(30));
        }
        cr_assert_gt(hit, 0, "cap %zu: no deadline ever hit: the test proves nothing", caps[k]);
    }
    return 0;
}

Test(chan, deadlines_in_the_middle_lose_and_duplicate_nothing) {
    tt_run(timeouts_main, NULL, 0);
}

/* Cancel producers and consumers at random moments: a cancelled send was not delivered, a
 * delivered one was counted; a cancelled receive swallowed nothing (what the consumers
 * missed is drained after). */
static int cancel_consumer(void *arg) {
    mpmc_t *m = arg;
    for (;;) {
        if (tide_cancelled()) return -ECANCELED;
        uint64_t v = UINT64_MAX;
        int r = tide_chan_recv(m->c, &v);
        if (r == -EPIPE) return 0;
        if (r == -ECANCELED) {
            cr_assert_eq(v, UINT64_MAX, "a cancelled receive wrote an element");
            return r;
        }
        cr_assert_eq(r, 0);
        record(m, v);
    }
}

static int cancel_main(void *arg) {
    enum { P = 32, C = 32 };
    for (size_t k = 0; k < NCAPS; k++) {
        for (int round = 0; round < TT_SCALE(30); round++) {
            mpmc_t *m = calloc(1, sizeof *m);
            int per = 500;
            m->seen = calloc((size_t)P * per, 1);
            m->per_producer = per;
            m->cancel_mode = true;
            atomic_store(&m->producers_left, P);
            cr_assert_eq(tide_chan_new(&m->c, sizeof(uint64_t), caps[k]), 0);
            tide_task_t ts[P + C];
            for (int i = 0; i < C; i++) cr_assert_eq(tide_spawn(&ts[i], cancel_consumer, m), 0);
            for (int i = 0; i < P; i++) cr_assert_eq(tide_spawn(&ts[C + i], producer, m), 0);
            tide_sleep(TIDE_USEC(tt_rand() % 2000));
            for (int i = 0; i < P + C; i++)
                if (tt_rand() % 2) tide_cancel(ts[i]);
            /* drain what the cancelled consumers left: the closing producer ends it */
            for (int i = C; i < P + C; i++) tide_join(ts[i], NULL);
            uint64_t v;
            while (tide_chan_try_recv(m->c, &v) == 0) record(m, v);
            for (int i = 0; i < C; i++) tide_join(ts[i], NULL);
            while (tide_chan_try_recv(m->c, &v) == 0) record(m, v);
            cr_assert_eq(atomic_load(&m->received), atomic_load(&m->sent_ok),
                         "cap %zu round %d: sent %llu received %llu", caps[k], round,
                         (unsigned long long)atomic_load(&m->sent_ok),
                         (unsigned long long)atomic_load(&m->received));
            tide_chan_free(m->c);
            free((void *)m->seen);
            free(m);
        }
    }
    return 0;
}

Test(chan, cancellation_in_the_middle_loses_nothing) {
    tt_run(cancel_main, NULL, 0);
}

/* ---- parked senders and freed slots ---------------------------------------------------- */

/* Each receive that frees a slot lets one parked sender complete, as in Go: a receiver that
 * takes three elements and then waits for three parked senders to finish their sends does
 * not wait forever. */
typedef struct slot {
    tide_chan_t *c;
    tide_event_t sent[3];
} slot_t;

static int slot_sender(void *arg) {
    slot_t *s = (slot_t *)((uintptr_t)arg & ~(uintptr_t)3);
    int i = (int)((uintptr_t)arg & 3);
    uint64_t v = 100 + i;
    cr_assert_eq(tide_chan_send(s->c, &v), 0);
    cr_assert_eq(tide_event_set(&s->sent[i]), 0);
    return 0;
}

static int slots_main(void *arg) {
    static slot_t s __attribute__((aligned(8)));
    for (int round = 0; round < TT_SCALE(200); round++) {
        cr_assert_eq(tide_chan_new(&s.c, sizeof(uint64_t), 4), 0);
        for (int i = 0; i < 3; i++) tide_event_init(&s.sent[i]);
        for (uint64_t v = 0; v < 4; v++) cr_assert_eq(tide_chan_send(s.c, &v), 0);
        tide_task_t ts[3];
        for (uintptr_t i = 0; i < 3; i++)
            cr_assert_eq(tide_spawn(&ts[i], slot_sender, (void *)((uintptr_t)&s | i)), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 500)); /* some or all of them park */
        for (int i = 0; i < 3; i++) {
            uint64_t v;
            cr_assert_eq(tide_chan_recv(s.c, &v), 0);
            cr_assert_eq(v, (uint64_t)i, "FIFO");
        }
        for (int i = 0; i < 3; i++) {
            tide_scope_t sc;
            tide_timeout_begin(&sc, TIDE_SEC(10));
            int r = tide_event_wait(&s.sent[i]);
            tide_scope_end(&sc);
            cr_assert_eq(r, 0, "round %d: sender %d still parked with room in the channel", round, i);
        }
        for (int i = 0; i < 3; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
        uint64_t got = 0, v;
        for (int i = 0; i < 4; i++) {
            cr_assert_eq(tide_chan_try_recv(s.c, &v), 0);
            got += v;
        }
        cr_assert_eq(got, 3 + 100 + 101 + 102);
        cr_assert_eq(tide_chan_try_recv(s.c, &v), -EAGAIN);
        for (int i = 0; i < 3; i++) tide_event_destroy(&s.sent[i]);
        tide_chan_free(s.c);
    }
    return 0;
}

Test(chan, freed_slots_complete_parked_senders) {
    tt_run(slots_main, NULL, 0);
}

/* A sender parked on a full channel is not starved by running senders that take the slot a
 * receive frees before the woken sender gets to run. Here the main task plays both parts in
 * each round: it receives (which wakes the parked victim into this worker's LIFO slot, so
 * the victim cannot run before main yields) and at once sends into the freed slot, then
 * sleeps, letting the victim find the channel full again. Without the hand-off to a sender
 * that has waited past the threshold, the victim would lose every round. */
typedef struct victim {
    tide_chan_t *c;
    _Atomic int done;
} victim_t;

static int chan_victim(void *arg) {
    victim_t *v = arg;
    uint64_t x = 777;
    cr_assert_eq(tide_chan_send(v->c, &x), 0);
    atomic_store(&v->done, 1);
    return 0;
}

static int barge_main(void *arg) {
    for (int rep = 0; rep < 5; rep++) {
        victim_t v = {0};
        cr_assert_eq(tide_chan_new(&v.c, sizeof(uint64_t), 1), 0);
        uint64_t x = 1, y;
        cr_assert_eq(tide_chan_send(v.c, &x), 0); /* full */
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, chan_victim, &v), 0);
        tide_sleep(TIDE_MSEC(5)); /* it parks */
        int rounds = 0, victim_seen = 0;
        while (!atomic_load(&v.done) && rounds < 200) {
            cr_assert_eq(tide_chan_recv(v.c, &y), 0);
            victim_seen += y == 777;
            tide_chan_try_send(v.c, &x); /* barge into the freed slot (fails once handed over) */
            tide_sleep(TIDE_USEC(100));
            rounds++;
        }
        while (!atomic_load(&v.done)) { /* (only if it failed) let it finish */
            if (tide_chan_recv(v.c, &y) == 0) victim_seen += y == 777;
            tide_sleep(TIDE_USEC(100));
        }
        cr_assert_eq(tide_join(t, NULL), 0);
        while (tide_chan_try_recv(v.c, &y) == 0) victim_seen += y == 777;
        cr_assert_eq(victim_seen, 1, "the victim's element arrived exactly once");
        /* each round is at least one timer tick (1 ms): the hand-off comes after ~2 */
        cr_assert_lt(rounds, 50, "the parked sender lost %d rounds in a row", rounds);
        tide_chan_free(v.c);
    }
    return 0;
}

Test(chan, parked_sender_not_starved_by_running_senders) {
    tt_run(barge_main, NULL, 0);
}
