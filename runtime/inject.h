/* The global inject queue: where tasks spawned or woken from outside the workers (the I/O
 * driver, foreign threads) go.
 *
 * Producers never lock. A push normally takes a slot of a bounded ring (Concurrency Kit's
 * ck_ring, multi-producer: one compare-and-swap to reserve, then a store to publish in order).
 * When the ring is full, pushes go to an unbounded intrusive list (Vyukov's MPSC queue: one
 * atomic exchange). Consumers serialise on a try-lock and drain a batch from both: ck_ring's
 * single-consumer dequeue needs no atomic read-modify-write at all, and a worker that finds the
 * lock taken has another worker already pulling work in. This avoids the single mutex that makes
 * tokio's remote spawn slow. */
#ifndef TIDE_RUNTIME_INJECT_H
#define TIDE_RUNTIME_INJECT_H

#include <ck_ring.h>

#include "platform.h"

typedef struct tide__qnode {
    _Atomic(struct tide__qnode *) next; /* next node toward the tail */
} tide__qnode_t;

#define TIDE_INJECT_RING 4096 /* ring slots, a power of two (one stays empty: ck_ring) */

typedef struct tide__inject {
    TIDE_ALIGNED ck_ring_t ring;                /* indices of the ring (ck pads them apart) */
    ck_ring_buffer_t *slots;                    /* the ring's slots: task nodes */
    TIDE_ALIGNED _Atomic(tide__qnode_t *) tail; /* overflow list: producers exchange here */
    _Atomic int64_t len;                        /* items in the overflow list */
    TIDE_ALIGNED tide__spin_t consumer;         /* one consumer at a time, for ring and list */
    tide__qnode_t *head;                        /* consumer's end of the list */
    tide__qnode_t stub;                         /* keeps the list non-empty */
} tide__inject_t;

int tide__inject_init(tide__inject_t *q);
void tide__inject_destroy(tide__inject_t *q);

/* Push one node. Any thread. */
void tide__inject_push(tide__inject_t *q, tide__qnode_t *n);

/* Pop up to max nodes into out[]; returns how many (0 if empty or another consumer is busy). */
int tide__inject_pop_batch(tide__inject_t *q, tide__qnode_t **out, int max);

static inline int64_t tide__inject_len(tide__inject_t *q) {
    return (int64_t)ck_ring_size(&q->ring) + atomic_load_explicit(&q->len, MO_RELAXED);
}

#endif
