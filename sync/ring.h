/* A FIFO ring of fixed-size elements that grows on demand up to a limit: the buffer of
 * channels and queues. Not thread-safe: the owner's lock guards it (len is atomic only so
 * that tide_chan_len and tide_queue_size may read it without the lock). */
#ifndef TIDE_SYNC_RING_H
#define TIDE_SYNC_RING_H

#include "common.h"

typedef struct tide__ring {
    char *buf;              /* slots * esize bytes (NULL until the first push) */
    size_t slots;           /* allocated slots */
    size_t head;            /* slot of the oldest element */
    _Atomic size_t len;     /* elements held */
    size_t esize;           /* bytes per element */
    size_t limit;           /* most elements it may ever hold (SIZE_MAX: unbounded) */
} tide__ring_t;

void tide__ring_init(tide__ring_t *r, size_t esize, size_t limit);
void tide__ring_fini(tide__ring_t *r);

/* Grow so that one more element fits: 0, or -ENOMEM. Call only when len < limit. */
int tide__ring_grow(tide__ring_t *r);

static inline size_t tide__ring_len(const tide__ring_t *r) {
    return atomic_load_explicit(&r->len, memory_order_relaxed);
}

/* Append (there must be room below limit): 0 or -ENOMEM. */
static inline int tide__ring_push(tide__ring_t *r, const void *elem) {
    size_t len = tide__ring_len(r);
    if (TIDE_UNLIKELY(len == r->slots)) {
        int e = tide__ring_grow(r);
        if (e < 0) return e;
    }
    size_t i = r->head + len;
    if (i >= r->slots) i -= r->slots;
    tide__elem_copy(r->buf + i * r->esize, elem, r->esize);
    atomic_store_explicit(&r->len, len + 1, memory_order_relaxed);
    return 0;
}

/* Remove the oldest element into elem (the ring must not be empty). */
static inline void tide__ring_pop(tide__ring_t *r, void *elem) {
    tide__elem_copy(elem, r->buf + r->head * r->esize, r->esize);
    size_t h = r->head + 1;
    r->head = h == r->slots ? 0 : h;
    atomic_store_explicit(&r->len, tide__ring_len(r) - 1, memory_order_relaxed);
}

#endif
