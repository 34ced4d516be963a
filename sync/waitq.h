/* Wait queues: the one way a sync/ primitive parks a task.
 *
 * A waiter is a node on the parked task's own stack, linked into a FIFO owned by the
 * primitive and guarded by the primitive's state lock. Whoever completes the wait (a sender,
 * an unlocker, close...) does, under that lock: unlink the node, perform the hand-off (copy
 * the element, transfer the lock), store the node's final state with release order, copy its
 * waker; then, after unlocking, wakes it. From the final-state store on, the node belongs to
 * its owner again and the completer never touches it.
 *
 * The owner, when its park returns for whatever reason, reads the state (acquire). A final
 * state means the operation happened, even if the park itself reported a timeout or a
 * cancel: the hand-off stands and is reported as success, so nothing is lost. A waiting state
 * means nobody completed it yet: the owner takes the lock, and if the node is still waiting
 * it unlinks it and reports the park's error; nothing was taken and no waker is left behind.
 *
 * select registers one node per case, all sharing a claim word: a completer must win the
 * claim (tide__waiter_claim) before it may complete a node, so exactly one case fires. */
#ifndef TIDE_SYNC_WAITQ_H
#define TIDE_SYNC_WAITQ_H

#include "common.h"
#include "list.h"

/* A node's state: TIDE__W_WAITING until completed, then one of the final values (their
 * meaning is the primitive's: a mutex distinguishes a hand-off from a wake-up). */
enum {
    TIDE__W_WAITING = 0,
    TIDE__W_DONE = 1,    /* completed: the operation happened, see result */
    TIDE__W_GRANTED = 2, /* mutex: the lock was handed over (it is held now) */
    TIDE__W_WOKEN = 3,   /* mutex: the lock was released; try again */
};

/* A select's shared claim: -1 until one case wins it, then that case's index. */
typedef struct tide__sel {
    _Atomic int fired; /* -1: nothing yet; >= 0: the case that fired; -2: withdrawn */
} tide__sel_t;

/* A task parked on a sync/ primitive: its node in a wait queue (on its own stack), carrying
 * the hand-off's outcome. Not the socket waiter of io/ (tide__sock_waiter_t). */
typedef struct tide__sync_waiter {
    tide__list_node_t link;    /* in the queue, guarded by the owning primitive's lock */
    tide_waker_t waker;        /* the parked task's current wait */
    _Atomic uint32_t state;    /* TIDE__W_WAITING, then a final value (release-stored) */
    bool linked;               /* in a queue now (guarded by the owning primitive's lock) */
    int result;                /* outcome, valid with a final state: 0 or a negative errno */
    void *elem;                /* channel/queue: the element to send or the buffer to fill */
    int64_t since;             /* mutex: when this task started waiting (starvation mode) */
    tide__sel_t *sel;          /* select: the claim shared by its cases; NULL otherwise */
    unsigned index;            /* select: which case this node is */
} tide__sync_waiter_t;

/* A fresh node for the calling task's wait. */
static inline void tide__waiter_init(tide__sync_waiter_t *w) {
    w->link = (tide__list_node_t){0};
    w->waker = (tide_waker_t){0};
    atomic_store_explicit(&w->state, TIDE__W_WAITING, memory_order_relaxed);
    w->linked = false;
    w->result = 0;
    w->elem = NULL;
    w->since = 0;
    w->sel = NULL;
    w->index = 0;
}

static inline void tide__waitq_init(tide__waitq_t *q) {
    tide__list_init(q);
}

static inline bool tide__waitq_empty(const tide__waitq_t *q) {
    return tide__list_empty(q);
}

/* The oldest node, left linked; NULL if none. */
static inline tide__sync_waiter_t *tide__waitq_first(const tide__waitq_t *q) {
    tide__list_node_t *n = tide__list_first(q);
    return n ? tide__list_entry(n, tide__sync_waiter_t, link) : NULL;
}

static inline void tide__waitq_push(tide__waitq_t *q, tide__sync_waiter_t *w) {
    tide__list_push_back(q, &w->link);
    w->linked = true;
}

/* At the head: a mutex waiter that lost a race keeps its place in line. */
static inline void tide__waitq_push_front(tide__waitq_t *q, tide__sync_waiter_t *w) {
    tide__list_push_front(q, &w->link);
    w->linked = true;
}

static inline void tide__waitq_remove(tide__waitq_t *q, tide__sync_waiter_t *w) {
    tide__list_remove(q, &w->link);
    w->linked = false;
}

static inline tide__sync_waiter_t *tide__waitq_pop(tide__waitq_t *q) {
    tide__sync_waiter_t *w = tide__waitq_first(q);
    if (w) tide__waitq_remove(q, w);
    return w;
}

/* May this node be completed? Always for a plain wait; for a select case only if its select
 * has not fired yet (and then it has fired now, as this case). */
static inline bool tide__waiter_claim(tide__sync_waiter_t *w) {
    if (TIDE_LIKELY(!w->sel)) return true;
    int none = -1;
    return atomic_compare_exchange_strong_explicit(&w->sel->fired, &none, (int)w->index,
                                                   memory_order_acq_rel, memory_order_acquire);
}

/* Complete an unlinked node: the owner may leave as soon as the state is stored, so the
 * waker is copied first and returned for waking after the lock is dropped. */
static inline tide_waker_t tide__waiter_fire(tide__sync_waiter_t *w, uint32_t state, int result) {
    tide_waker_t k = w->waker;
    w->result = result;
    atomic_store_explicit(&w->state, state, memory_order_release);
    return k;
}

/* Pop the first node that can be claimed (dropping dead select cases); NULL if none. */
static inline tide__sync_waiter_t *tide__waitq_pop_claim(tide__waitq_t *q) {
    tide__sync_waiter_t *w;
    while ((w = tide__waitq_pop(q)) != NULL)
        if (tide__waiter_claim(w)) return w;
    return NULL;
}

/* Complete every claimable node of q with (state, result), waking them at once (under the
 * caller's lock: their owners cannot leave before it is dropped). Returns how many. */
size_t tide__waitq_fire_all(tide__waitq_t *q, uint32_t state, int result);

/* Wake every node of q without completing it (they stay linked): freeing an object with
 * waiters (misuse, but survivable) makes each of them unlink itself, so that the object's
 * memory can go once its queues are empty. Lock held. */
void tide__waitq_wake_all(tide__waitq_t *q);

/* The owner's side of a wait. Called with the lock held and the node published (linked,
 * its waker from tide_park_prepare): drops the lock, parks, and settles the outcome as
 * described above. Returns the final state (> 0) with the lock NOT held, or an error (< 0)
 * after the node was unlinked: the park's error (-ETIMEDOUT, -ECANCELED), or -EPIPE if the
 * object is being freed (*gone, when gone is not NULL); then the lock is still held if
 * `hold` (so the caller can undo something atomically with leaving), else not. A wake-up
 * that did not complete the node (a plain wait never gets one) just parks again. */
int tide__waiter_park(tide__sync_waiter_t *w, _Atomic uint32_t *lock, tide__waitq_t *q,
                      const char *what, bool hold, const bool *gone);

#endif
