/* The spill queue: where a worker whose deque is full puts the older half of it.
 *
 * Spilled tasks travel as arrays of task pointers ("chunks"), not as a linked list through
 * the task records: the worker that picks them up copies pointers into its own deque without
 * touching the tasks, which were just written by the other CPU and would each be a cache miss
 * if it had to follow links through them (the global inject queue's linked list is kept for
 * single tasks pushed from outside, where a lock-free push matters more). Chunks are reused. */
#ifndef TIDE_RUNTIME_SPILL_H
#define TIDE_RUNTIME_SPILL_H

#include "deque.h"
#include "platform.h"

#define TIDE_SPILL_CHUNK (TIDE_DEQUE_CAP / 2 + 1)

struct tide__task;

typedef struct tide__spill_chunk {
    struct tide__spill_chunk *next; /* queue order, or the free list */
    uint32_t head;                  /* first task not yet taken */
    uint32_t count;                 /* tasks in it */
    struct tide__task *tasks[TIDE_SPILL_CHUNK];
} tide__spill_chunk_t;

typedef struct tide__spill {
    TIDE_ALIGNED tide__spin_t lock;  /* everything below */
    tide__spill_chunk_t *head, *tail;/* FIFO of chunks with tasks */
    tide__spill_chunk_t *free;       /* empty chunks for reuse */
    _Atomic int64_t len;             /* tasks queued (peeked at without the lock) */
} tide__spill_t;

void tide__spill_init(tide__spill_t *q);
void tide__spill_destroy(tide__spill_t *q);

/* An empty chunk to fill (NULL: out of memory). */
tide__spill_chunk_t *tide__spill_chunk_get(tide__spill_t *q);
/* Queue a filled chunk. */
void tide__spill_push(tide__spill_t *q, tide__spill_chunk_t *c);
/* Take up to max tasks (in spill order) into out[]; 0 if empty or the lock is busy. */
int tide__spill_pop(tide__spill_t *q, struct tide__task **out, int max);

static inline int64_t tide__spill_len(tide__spill_t *q) {
    return atomic_load_explicit(&q->len, MO_RELAXED);
}

#endif
