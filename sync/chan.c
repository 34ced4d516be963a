/* Channels: MPMC, fixed element size, bounded (capacity >= 1), unbounded, or rendezvous
 * (capacity 0, Go's unbuffered channel).
 *
 * One lock per channel; a parked sender or receiver is a wait-queue node holding a pointer
 * to its element. The element travels directly whenever someone waits on the other side: a
 * sender hands it to a parked receiver's buffer, a receiver that frees a slot moves the
 * oldest parked sender's element into it. So a woken task never has to come back and race
 * for its element, and a wait that ends early (deadline, cancel) either finds its node
 * still queued (nothing happened: it unlinks and reports the error) or completed (the
 * element moved: it reports success). A timed-out receive never swallows an element; a
 * timed-out send never leaves its element behind. */
#include "chan_internal.h"

int tide_chan_new(tide_chan_t **out, size_t elem_size, size_t capacity) {
    if (!out) return -EINVAL;
    *out = NULL;
    if (elem_size == 0) return -EINVAL;
    tide_chan_t *c = tide__new_aligned(tide_chan_t);
    if (!c) return -ENOMEM;
    atomic_init(&c->lock, 0);
    c->closed = false;
    c->gone = false;
    c->send_woken = false;
    c->send_starving = false;
    c->cap = capacity;
    tide__ring_init(&c->ring, elem_size, capacity);
    tide__waitq_init(&c->sendq);
    tide__waitq_init(&c->recvq);
    c->magic = TIDE__MAGIC_CHAN;
    *out = c;
    return 0;
}

/* Lock held: close, failing every parked sender and receiver with -EPIPE (parked receivers
 * exist only while the buffer is empty, so none of them misses an element). */
static void close_locked(tide_chan_t *c) {
    c->closed = true;
    tide__waitq_fire_all(&c->sendq, TIDE__W_DONE, -EPIPE);
    tide__waitq_fire_all(&c->recvq, TIDE__W_DONE, -EPIPE);
}

int tide_chan_close(tide_chan_t *c) {
    if (!tide__chan_ok(c)) return -EINVAL;
    tide__sync_lock(&c->lock);
    int r = c->closed ? -EPIPE : 0;
    if (!r) close_locked(c);
    tide__sync_unlock(&c->lock);
    return r;
}

void tide_chan_free(tide_chan_t *c) {
    if (!tide__chan_ok(c)) return;
    tide__sync_lock(&c->lock);
    c->magic = 0;
    /* Tasks still parked here (misuse, but survivable): wake them without completing their
     * waits; each unlinks itself and fails with -EPIPE. Once the queues are empty and no
     * woken sender is on its way, nobody can touch the channel any more. */
    c->closed = c->gone = true;
    tide__waitq_wake_all(&c->sendq);
    tide__waitq_wake_all(&c->recvq);
    while (!tide__waitq_empty(&c->sendq) || !tide__waitq_empty(&c->recvq) || c->send_woken) {
        tide__sync_unlock(&c->lock);
        tide__sync_pause();
        tide__sync_lock(&c->lock);
    }
    tide__sync_unlock(&c->lock);
    tide__ring_fini(&c->ring);
    tide__delete_aligned(c);
}

void tide__chan_slot_freed(tide_chan_t *c, tide_waker_t *wake) {
    tide__sync_waiter_t *w;
    while ((w = tide__waitq_first(&c->sendq)) != NULL) {
        if (w->sel || c->send_starving) {
            /* Hand the slot over: the element goes in now, in queue order. */
            tide__waitq_remove(&c->sendq, w);
            if (!tide__waiter_claim(w)) continue; /* a select that fired elsewhere */
            tide__ring_push(&c->ring, w->elem);   /* the slot is free: cannot fail */
            if (tide__waitq_empty(&c->sendq) ||
                (w->since && tide_now() - w->since < TIDE_MUTEX_STARVE_NS))
                c->send_starving = false; /* the queue moves freely again */
            *wake = tide__waiter_fire(w, TIDE__W_DONE, 0);
            return;
        }
        if (c->send_woken) return; /* one is on its way already */
        tide__waitq_remove(&c->sendq, w);
        c->send_woken = true;
        *wake = tide__waiter_fire(w, TIDE__W_WOKEN, 0);
        return;
    }
    c->send_starving = false;
}

/* Receivers park here (lock held, node ready): 0 or the node's result once completed, else
 * the park's error with the node withdrawn. */
static int recv_wait(tide_chan_t *c, tide__sync_waiter_t *node) {
    node->waker = tide_park_prepare();
    tide__waitq_push(&c->recvq, node);
    int r = tide__waiter_park(node, &c->lock, &c->recvq, "channel recv", false, &c->gone);
    return r > 0 ? node->result : r;
}

/* Park a queued sender's node (lock held, dropped here) until it is completed or woken.
 * Returns the final state, or TIDE__W_WAITING with *r < 0 once the node has left the queue
 * because the wait ended early (or the channel is being freed: *r = -EPIPE). */
static uint32_t send_park(tide_chan_t *c, tide__sync_waiter_t *node, int *r) {
    tide__sync_unlock(&c->lock);
    for (;;) {
        *r = tide_park_on("channel send");
        uint32_t st = atomic_load_explicit(&node->state, memory_order_acquire);
        if (st != TIDE__W_WAITING) return st;
        tide__sync_lock(&c->lock);
        st = atomic_load_explicit(&node->state, memory_order_acquire);
        if (st == TIDE__W_WAITING) {
            if (*r < 0 || c->gone) {
                tide__waitq_remove(&c->sendq, node);
                tide__sync_unlock(&c->lock);
                if (*r == 0) *r = -EPIPE;
                return st;
            }
            node->waker = tide_park_prepare(); /* woken, not completed: wait on */
        }
        tide__sync_unlock(&c->lock);
        if (st != TIDE__W_WAITING) return st;
    }
}

/* The send could not complete at once (lock held): park until a receiver takes the element
 * or hands it a slot, or until woken to try again (see chan_internal.h). */
static int send_wait(tide_chan_t *c, const void *elem) {
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    node.elem = (void *)elem;
    node.since = tide_now();
    bool front = false; /* a woken sender that lost the race keeps its place in line */
    for (;;) {
        node.waker = tide_park_prepare();
        atomic_store_explicit(&node.state, TIDE__W_WAITING, memory_order_relaxed);
        if (front) tide__waitq_push_front(&c->sendq, &node);
        else tide__waitq_push(&c->sendq, &node);
        int r;
        uint32_t st = send_park(c, &node, &r);
        if (st == TIDE__W_WAITING) return r; /* left the queue: nothing sent */
        if (st == TIDE__W_DONE) return node.result;

        /* Woken to try again: the wake-up is ours until send_woken is cleared. A deadline
         * or cancel that came with it still gets this one try (if it works, the element is
         * sent and that is what we report). */
        tide_waker_t k1 = {0}, k2 = {0};
        tide__sync_lock(&c->lock);
        c->send_woken = false;
        int s = c->gone ? -EPIPE : tide__chan_send_locked(c, elem, &k1);
        if (s == -EAGAIN && r == 0) {
            if (tide_now() - node.since >= TIDE_MUTEX_STARVE_NS) c->send_starving = true;
            front = true;
            continue;
        }
        /* Sent, closed, or giving up: keep the invariant for the senders behind us. */
        if (!c->gone && !tide__waitq_empty(&c->sendq) && tide__ring_len(&c->ring) < c->cap)
            tide__chan_slot_freed(c, &k2);
        tide__sync_unlock(&c->lock);
        tide_wake(k1);
        tide_wake(k2);
        return s == -EAGAIN ? r : s;
    }
}

int tide_chan_send(tide_chan_t *c, const void *elem) {
    if (TIDE_UNLIKELY(!tide__chan_ok(c) || !elem)) return -EINVAL;
    tide_waker_t k = {0};
    tide__sync_lock(&c->lock);
    int r = tide__chan_send_locked(c, elem, &k);
    if (TIDE_LIKELY(r != -EAGAIN)) {
        tide__sync_unlock(&c->lock);
        tide_wake(k);
        tide_budget_tick();
        return r;
    }
    return send_wait(c, elem);
}

int tide_chan_try_send(tide_chan_t *c, const void *elem) {
    if (TIDE_UNLIKELY(!tide__chan_ok(c) || !elem)) return -EINVAL;
    tide_waker_t k = {0};
    tide__sync_lock(&c->lock);
    int r = tide__chan_send_locked(c, elem, &k);
    tide__sync_unlock(&c->lock);
    tide_wake(k);
    if (r == 0) tide_budget_tick();
    return r;
}

int tide_chan_recv(tide_chan_t *c, void *elem) {
    if (TIDE_UNLIKELY(!tide__chan_ok(c) || !elem)) return -EINVAL;
    tide_waker_t k = {0};
    tide__sync_lock(&c->lock);
    int r = tide__chan_recv_locked(c, elem, &k);
    if (TIDE_LIKELY(r != -EAGAIN)) {
        tide__sync_unlock(&c->lock);
        tide_wake(k);
        tide_budget_tick();
        return r;
    }
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    node.elem = elem;
    return recv_wait(c, &node);
}

int tide_chan_try_recv(tide_chan_t *c, void *elem) {
    if (TIDE_UNLIKELY(!tide__chan_ok(c) || !elem)) return -EINVAL;
    tide_waker_t k = {0};
    tide__sync_lock(&c->lock);
    int r = tide__chan_recv_locked(c, elem, &k);
    tide__sync_unlock(&c->lock);
    tide_wake(k);
    if (r == 0) tide_budget_tick();
    return r;
}

size_t tide_chan_len(tide_chan_t *c) {
    return tide__chan_ok(c) ? tide__ring_len(&c->ring) : 0;
}

size_t tide_chan_cap(tide_chan_t *c) {
    return tide__chan_ok(c) ? c->cap : 0;
}
