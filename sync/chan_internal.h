/* The channel's structure and its locked operations, shared by chan.c and select.c.
 *
 * Parked senders and a freed slot. When a receive frees a slot of a full channel on which
 * senders are parked, the oldest sender is woken to try again (TIDE__W_WOKEN), not handed
 * the slot: by the time it runs the receiver has usually freed more slots, and it fills them
 * all in one go from the fast path instead of parking once per element (with the
 * receiver on another worker, a hand-off per element costs a wake, a steal and a park every
 * time). At most one woken sender is on its way (send_woken), and the invariant
 *
 *     senders parked and a slot free  =>  a woken sender is on its way
 *
 * is kept by everyone who changes it: a receive that frees a slot wakes one; a woken sender
 * that got its element in wakes the next if room is left; one that gives up (deadline,
 * cancel) passes its wake-up on. Running senders may take a free slot before a woken one
 * does (cheaper than making them queue); a woken sender that finds the channel full again
 * goes back to the head of the queue, and once one has waited longer than
 * TIDE_MUTEX_STARVE_NS freed slots are handed to the parked senders directly, in order
 * (send_starving), until the queue moves freely again -- the mutex's scheme. select's send
 * cases are always handed their slot (a select must be completed by whoever fires it). */
#ifndef TIDE_SYNC_CHAN_INTERNAL_H
#define TIDE_SYNC_CHAN_INTERNAL_H

#include "ring.h"
#include "waitq.h"

struct tide_chan {
    uint32_t magic;          /* TIDE__MAGIC_CHAN while alive */
    _Atomic uint32_t lock;   /* guards everything below except the atomics */
    bool closed;             /* no more sends; receivers drain, then get -EPIPE */
    bool gone;               /* being freed: parked tasks leave with -EPIPE */
    bool send_woken;         /* a parked sender was woken to retry and has not yet */
    bool send_starving;      /* hand freed slots to parked senders in order (see above) */
    size_t cap;              /* 0: rendezvous; TIDE_CHAN_UNBOUNDED; else the bound */
    tide__ring_t ring;       /* buffered elements */
    tide__waitq_t sendq;     /* senders parked on a full channel (their element in elem) */
    tide__waitq_t recvq;     /* receivers parked on an empty channel (their buffer in elem) */
};

#define TIDE__HOT static inline __attribute__((always_inline))

static inline bool tide__chan_ok(const tide_chan_t *c) {
    return c && c->magic == TIDE__MAGIC_CHAN;
}

/* Lock held, a slot free, senders parked: wake (or hand the slot to) the oldest one unless
 * a woken sender is on its way already. The task to wake is left in *wake. */
void tide__chan_slot_freed(tide_chan_t *c, tide_waker_t *wake);

/* Lock held: send elem now if possible. 0 sent, -EPIPE closed, -EAGAIN would block,
 * -ENOMEM (unbounded growth failed). A receiver to wake is left in *wake. */
TIDE__HOT int tide__chan_send_locked(tide_chan_t *c, const void *elem, tide_waker_t *wake) {
    if (TIDE_UNLIKELY(c->closed)) return -EPIPE;
    tide__sync_waiter_t *w = tide__waitq_pop_claim(&c->recvq);
    if (w) {
        /* A receiver waits, so the buffer is empty: hand the element straight over. */
        tide__elem_copy(w->elem, elem, c->ring.esize);
        *wake = tide__waiter_fire(w, TIDE__W_DONE, 0);
        return 0;
    }
    if (tide__ring_len(&c->ring) < c->cap) return tide__ring_push(&c->ring, elem);
    return -EAGAIN;
}

/* Lock held: receive into elem now if possible. 0 received, -EPIPE closed and drained,
 * -EAGAIN would block. A sender to wake is left in *wake. */
TIDE__HOT int tide__chan_recv_locked(tide_chan_t *c, void *elem, tide_waker_t *wake) {
    if (tide__ring_len(&c->ring) > 0) {
        tide__ring_pop(&c->ring, elem);
        if (TIDE_UNLIKELY(!tide__waitq_empty(&c->sendq))) tide__chan_slot_freed(c, wake);
        return 0;
    }
    tide__sync_waiter_t *w = tide__waitq_pop_claim(&c->sendq);
    if (w) {
        /* Rendezvous: take it from the parked sender. */
        tide__elem_copy(elem, w->elem, c->ring.esize);
        *wake = tide__waiter_fire(w, TIDE__W_DONE, 0);
        return 0;
    }
    return c->closed ? -EPIPE : -EAGAIN;
}

#endif
