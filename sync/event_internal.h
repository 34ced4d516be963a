/* The event's side of select: poll it and queue a select case on it, under its lock. */
#ifndef TIDE_SYNC_EVENT_INTERNAL_H
#define TIDE_SYNC_EVENT_INTERNAL_H

#include "waitq.h"

static inline bool tide__event_ok(const tide_event_t *e) {
    return TIDE__EMBED_OK(e, TIDE__MAGIC_EVENT);
}

static inline _Atomic uint32_t *tide__event_lock(tide_event_t *e) {
    return &e->lock_;
}

/* Lock held: is it set? */
static inline bool tide__event_ready_locked(tide_event_t *e) {
    return atomic_load_explicit(&e->set_, memory_order_relaxed) != 0;
}

/* Lock held: queue a select case (set fires it). */
static inline void tide__event_enqueue_locked(tide_event_t *e, tide__sync_waiter_t *w) {
    tide__waitq_push(&e->waiters_, w);
}

/* Lock held: withdraw a select case if it is still queued. */
static inline void tide__event_withdraw_locked(tide_event_t *e, tide__sync_waiter_t *w) {
    if (w->linked) tide__waitq_remove(&e->waiters_, w);
}

#endif
