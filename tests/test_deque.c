/* The run queues under stress: the Chase-Lev deque with one owner pushing and taking while
 * several thieves steal (every item taken exactly once, none lost, whichever end the owner
 * takes from), and the global inject queue with many producers and batch consumers. */
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>

#include "testutil.h"

#include "deque.h"
#include "inject.h"

#define THIEVES 3
#define ITEMS TT_SCALE(2000000)

typedef struct deque_run {
    tide__deque_t q;
    _Atomic uint8_t *taken;       /* how many times item i was taken */
    _Atomic int owner_done;
    _Atomic uint64_t stolen;
} deque_run_t;

static void take_item(deque_run_t *r, void *x) {
    uintptr_t i = (uintptr_t)x - 2; /* items are 2..ITEMS+1: NULL is empty, 1 is ABORT */
    cr_assert_lt(i, (uintptr_t)ITEMS);
    atomic_fetch_add_explicit(&r->taken[i], 1, memory_order_relaxed);
}

static void *thief(void *arg) {
    deque_run_t *r = arg;
    uint64_t n = 0;
    for (;;) {
        void *x = tide__deque_steal(&r->q);
        if (x == TIDE_DEQUE_ABORT) continue;
        if (x) {
            take_item(r, x);
            n++;
            continue;
        }
        if (atomic_load(&r->owner_done) && tide__deque_len(&r->q) == 0) break;
    }
    atomic_fetch_add(&r->stolen, n);
    return NULL;
}

Test(deque, owner_and_thieves_take_every_item_once) {
    deque_run_t *r = calloc(1, sizeof *r);
    r->taken = calloc(ITEMS, 1);
    tide__deque_init(&r->q);
    pthread_t th[THIEVES];
    for (int i = 0; i < THIEVES; i++) pthread_create(&th[i], NULL, thief, r);

    uint64_t owner_took = 0;
    uintptr_t next = 2;
    while (next <= (uintptr_t)ITEMS + 1) {
        /* Push a random burst (the deque refuses when full), then take a random number back,
         * so the owner and the thieves race on small and large deques, and on the last item. */
        unsigned burst = tt_rand() % 300;
        for (unsigned k = 0; k < burst && next <= (uintptr_t)ITEMS + 1; k++) {
            if (!tide__deque_push(&r->q, (void *)next)) break;
            next++;
        }
        unsigned takes = tt_rand() % 200;
        for (unsigned k = 0; k < takes; k++) {
            /* The owner takes the newest, steals like a thief, or pops the oldest without
             * the thief's fence (tide__deque_pop_own, what the worker loop uses). */
            unsigned how = tt_rand() % 3;
            void *x = how == 0   ? tide__deque_take(&r->q)
                      : how == 1 ? tide__deque_steal(&r->q)
                                 : tide__deque_pop_own(&r->q);
            if (x == TIDE_DEQUE_ABORT) continue;
            if (!x) break;
            take_item(r, x);
            owner_took++;
        }
    }
    void *x;
    while ((x = tide__deque_take(&r->q)) != NULL) {
        take_item(r, x);
        owner_took++;
    }
    atomic_store(&r->owner_done, 1);
    for (int i = 0; i < THIEVES; i++) pthread_join(th[i], NULL);

    for (uint64_t i = 0; i < (uint64_t)ITEMS; i++)
        cr_assert_eq(atomic_load(&r->taken[i]), 1, "item %llu taken %u times",
                     (unsigned long long)i, (unsigned)atomic_load(&r->taken[i]));
    cr_assert_eq(owner_took + atomic_load(&r->stolen), (uint64_t)ITEMS);
    cr_assert_gt(atomic_load(&r->stolen), 0, "the thieves never got anything: not a stress");
    free(r->taken);
    free(r);
}

Test(deque, full_deque_refuses_push_and_keeps_order) {
    tide__deque_t *q = calloc(1, sizeof *q);
    tide__deque_init(q);
    for (uintptr_t i = 2; i < TIDE_DEQUE_CAP + 2; i++) cr_assert(tide__deque_push(q, (void *)i));
    cr_assert_not(tide__deque_push(q, (void *)999), "a full deque must refuse");
    cr_assert_eq(tide__deque_len(q), TIDE_DEQUE_CAP);
    cr_assert_eq((uintptr_t)tide__deque_steal(q), 2, "steal takes the oldest");
    cr_assert_eq((uintptr_t)tide__deque_take(q), TIDE_DEQUE_CAP + 1, "take takes the newest");
    cr_assert_eq((uintptr_t)tide__deque_pop_own(q), 3, "the owner's pop takes the oldest");
    free(q);
}

/* ---- inject queue ---- */

#define PRODUCERS 4
#define PER_PRODUCER TT_SCALE(250000)

typedef struct item {
    tide__qnode_t node;
    uint32_t producer;
    uint32_t seq;
} item_t;

typedef struct inject_run {
    tide__inject_t q;
    item_t *items;
    _Atomic int producers_done;
} inject_run_t;

typedef struct producer_arg {
    inject_run_t *r;
    uint32_t id;
} producer_arg_t;

static void *producer(void *arg) {
    producer_arg_t *p = arg;
    item_t *mine = &p->r->items[(size_t)p->id * PER_PRODUCER];
    for (uint32_t i = 0; i < PER_PRODUCER; i++) {
        mine[i].producer = p->id;
        mine[i].seq = i;
        tide__inject_push(&p->r->q, &mine[i].node);
        /* Bursts overflow the ring into the list; pauses let it drain back. */
        if (tt_rand() % 4096 == 0) sched_yield();
    }
    atomic_fetch_add(&p->r->producers_done, 1);
    return NULL;
}

typedef struct consumer_arg {
    inject_run_t *r;
    uint32_t *last_seen; /* per producer: the next seq expected by this consumer */
    uint64_t got;
    uint8_t *seen;
} consumer_arg_t;

static void *consumer(void *arg) {
    consumer_arg_t *c = arg;
    tide__qnode_t *batch[32];
    for (;;) {
        int n = tide__inject_pop_batch(&c->r->q, batch, 1 + (int)(tt_rand() % 32));
        for (int i = 0; i < n; i++) {
            item_t *it = (item_t *)(void *)batch[i];
            size_t idx = (size_t)it->producer * PER_PRODUCER + it->seq;
            cr_assert_eq(c->seen[idx], 0, "item popped twice");
            c->seen[idx] = 1;
            c->got++;
        }
        if (n == 0 && atomic_load(&c->r->producers_done) == PRODUCERS &&
            tide__inject_len(&c->r->q) == 0)
            break;
    }
    return NULL;
}

Test(inject, producers_and_batch_consumers_lose_nothing) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    inject_run_t *r = calloc(1, sizeof *r);
    cr_assert_eq(tide__inject_init(&r->q), 0);
    r->items = calloc((size_t)PRODUCERS * PER_PRODUCER, sizeof(item_t));
    uint8_t *seen = calloc((size_t)PRODUCERS * PER_PRODUCER, 1);
    pthread_t pt[PRODUCERS], ct[2];
    producer_arg_t pa[PRODUCERS];
    consumer_arg_t ca[2];
    for (int i = 0; i < 2; i++) {
        ca[i] = (consumer_arg_t){.r = r, .seen = seen};
        pthread_create(&ct[i], NULL, consumer, &ca[i]);
    }
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        pa[i] = (producer_arg_t){r, i};
        pthread_create(&pt[i], NULL, producer, &pa[i]);
    }
    for (int i = 0; i < PRODUCERS; i++) pthread_join(pt[i], NULL);
    for (int i = 0; i < 2; i++) pthread_join(ct[i], NULL);
    cr_assert_eq(ca[0].got + ca[1].got, (uint64_t)PRODUCERS * PER_PRODUCER);
    for (size_t i = 0; i < (size_t)PRODUCERS * PER_PRODUCER; i++) cr_assert_eq(seen[i], 1);
    tide__inject_destroy(&r->q);
    free(seen);
    free(r->items);
    free(r);
    tt_leaks_end(&l);
}
