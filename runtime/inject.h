/* The global inject queue: where tasks spawned or woken from outside the workers (the I/O
 * driver, foreign threads) and spills of full local deques go.
 *
 * Producers never lock: a push is one atomic exchange (Vyukov's intrusive MPSC queue), and a
 * batch of any length costs the same. Consumers (the workers) serialise on a try-lock and take
 * batches, so a worker that finds the lock busy simply looks elsewhere. This avoids the single
 * mutex that makes tokio's remote spawn slow. */
#ifndef TIDE_RUNTIME_INJECT_H
#define TIDE_RUNTIME_INJECT_H

#include "platform.h"

typedef struct tide__qnode {
    _Atomic(struct tide__qnode *) next; /* next node toward the tail */
} tide__qnode_t;

typedef struct tide__inject {
    TIDE_ALIGNED _Atomic(tide__qnode_t *) tail; /* producers exchange here */
    _Atomic int64_t len;                        /* items pushed and not yet popped */
    TIDE_ALIGNED tide__spin_t consumer;         /* one consumer at a time */
    tide__qnode_t *head;                        /* consumer's end (under `consumer`) */
    tide__qnode_t stub;                         /* keeps the list non-empty */
} tide__inject_t;

void tide__inject_init(tide__inject_t *q);

/* Push the chain first -> ... -> last (already linked through ->next). Any thread. */
void tide__inject_push_batch(tide__inject_t *q, tide__qnode_t *first, tide__qnode_t *last,
                             int64_t n);

static inline void tide__inject_push(tide__inject_t *q, tide__qnode_t *n) {
    atomic_store_explicit(&n->next, NULL, MO_RELAXED);
    tide__inject_push_batch(q, n, n, 1);
}

/* Pop up to max nodes into out[]; returns how many (0 if empty or another consumer is busy). */
int tide__inject_pop_batch(tide__inject_t *q, tide__qnode_t **out, int max);

static inline int64_t tide__inject_len(tide__inject_t *q) {
    return atomic_load_explicit(&q->len, MO_RELAXED);
}

#endif
