/* The global inject queue: where tasks spawned or woken from outside the workers (the I/O
 * driver, foreign threads) go.
 *
 * Producers never lock. A push normally claims a cell of a bounded ring (Vyukov's bounded MPMC
 * queue: one compare-and-swap), and consumers claim a run of ready cells with one more, then
 * read the task pointers out of the array: no walk through the tasks themselves, which were
 * just written on another CPU and would each be a cache miss. When the ring is full, pushes go
 * to an unbounded intrusive list (Vyukov's MPSC queue: one atomic exchange), whose consumers
 * serialise on a try-lock. This avoids the single mutex that makes tokio's remote spawn slow. */
#ifndef TIDE_RUNTIME_INJECT_H
#define TIDE_RUNTIME_INJECT_H

#include "platform.h"

typedef struct tide__qnode {
    _Atomic(struct tide__qnode *) next; /* next node toward the tail */
} tide__qnode_t;

#define TIDE_INJECT_RING 4096 /* cells, a power of two */

typedef struct tide__inject_cell {
    _Atomic uint64_t seq;  /* Vyukov's turn counter: pos = free, pos+1 = full */
    tide__qnode_t *node;   /* the task's node while full */
} tide__inject_cell_t;

typedef struct tide__inject {
    TIDE_ALIGNED _Atomic uint64_t enqueue_pos;  /* next ring cell to fill */
    TIDE_ALIGNED _Atomic uint64_t dequeue_pos;  /* next ring cell to empty */
    tide__inject_cell_t *cells;                 /* the ring */
    TIDE_ALIGNED _Atomic(tide__qnode_t *) tail; /* overflow list: producers exchange here */
    _Atomic int64_t len;                        /* items in the overflow list */
    TIDE_ALIGNED tide__spin_t consumer;         /* one consumer at a time */
    tide__qnode_t *head;                        /* consumer's end (under `consumer`) */
    tide__qnode_t stub;                         /* keeps the list non-empty */
} tide__inject_t;

int tide__inject_init(tide__inject_t *q);
void tide__inject_destroy(tide__inject_t *q);

/* Push one node. Any thread. */
void tide__inject_push(tide__inject_t *q, tide__qnode_t *n);

/* Pop up to max nodes into out[]; returns how many (0 if empty or another consumer is busy). */
int tide__inject_pop_batch(tide__inject_t *q, tide__qnode_t **out, int max);

static inline int64_t tide__inject_len(tide__inject_t *q) {
    int64_t ring = (int64_t)(atomic_load_explicit(&q->enqueue_pos, MO_RELAXED) -
                             atomic_load_explicit(&q->dequeue_pos, MO_RELAXED));
    return (ring > 0 ? ring : 0) + atomic_load_explicit(&q->len, MO_RELAXED);
}

#endif
