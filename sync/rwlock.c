/* The read-write lock: writer-preferring with hand-off, so neither side starves.
 *
 * A waiting writer stops new readers from joining; when the last reader leaves the lock goes
 * straight to the oldest writer. When a writer unlocks, every reader waiting at that moment
 * is let in together (so a stream of writers cannot starve readers either), else the next
 * writer. Grants are decided under the state lock and completed before the waiter runs, so
 * a waiter whose deadline raced with its grant simply owns the lock and reports success. */
#include "waitq.h"

#define OK(l) ((l) && (l)->__magic == TIDE__MAGIC_RWLOCK)

int tide_rwlock_init(tide_rwlock_t *l) {
    if (!l) return -EINVAL;
    atomic_init(&l->__lock, 0);
    l->__writer = 0;
    l->__readers = 0;
    tide__waitq_init(&l->__rq);
    tide__waitq_init(&l->__wq);
    l->__magic = TIDE__MAGIC_RWLOCK;
    return 0;
}

int tide_rwlock_destroy(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide__sync_lock(&l->__lock);
    bool busy = l->__writer || l->__readers || !tide__waitq_empty(&l->__rq) ||
                !tide__waitq_empty(&l->__wq);
    if (!busy) l->__magic = 0;
    tide__sync_unlock(&l->__lock);
    return busy ? -EBUSY : 0;
}

/* Let every waiting reader in (no writer holds the lock). Lock held. */
static void grant_readers(tide_rwlock_t *l) {
    tide__sync_waiter_t *w;
    while ((w = tide__waitq_pop(&l->__rq)) != NULL) {
        l->__readers++;
        tide_wake(tide__waiter_fire(w, TIDE__W_GRANTED, 0));
    }
}

/* The lock is free: hand it to the oldest writer, else to all waiting readers. */
static void grant_next(tide_rwlock_t *l) {
    tide__sync_waiter_t *w = tide__waitq_pop(&l->__wq);
    if (w) {
        l->__writer = 1;
        tide_wake(tide__waiter_fire(w, TIDE__W_GRANTED, 0));
        return;
    }
    grant_readers(l);
}

static int wait_grant(tide_rwlock_t *l, tide__waitq_t *q, bool writer) {
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    node.waker = tide_park_prepare();
    tide__waitq_push(q, &node);
    int r = tide__waiter_park(&node, &l->__lock, q, writer ? "rwlock write" : "rwlock read",
                              true, NULL);
    if (r > 0) return 0; /* granted */
    /* Left early (lock still held). A departing writer may have been all that kept the
     * waiting readers out. */
    if (writer && !l->__writer && tide__waitq_empty(&l->__wq)) grant_readers(l);
    tide__sync_unlock(&l->__lock);
    return r;
}

int tide_rwlock_rdlock(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide_budget_tick();
    tide__sync_lock(&l->__lock);
    if (!l->__writer && tide__waitq_empty(&l->__wq)) {
        l->__readers++;
        tide__sync_unlock(&l->__lock);
        return 0;
    }
    return wait_grant(l, &l->__rq, false);
}

int tide_rwlock_tryrdlock(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide__sync_lock(&l->__lock);
    int r = -EBUSY;
    if (!l->__writer && tide__waitq_empty(&l->__wq)) {
        l->__readers++;
        r = 0;
    }
    tide__sync_unlock(&l->__lock);
    return r;
}

int tide_rwlock_rdunlock(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide__sync_lock(&l->__lock);
    if (l->__readers == 0) {
        tide__sync_unlock(&l->__lock);
        return -EPERM;
    }
    if (--l->__readers == 0) grant_next(l);
    tide__sync_unlock(&l->__lock);
    return 0;
}

int tide_rwlock_wrlock(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide_budget_tick();
    tide__sync_lock(&l->__lock);
    if (!l->__writer && l->__readers == 0 && tide__waitq_empty(&l->__wq)) {
        l->__writer = 1;
        tide__sync_unlock(&l->__lock);
        return 0;
    }
    return wait_grant(l, &l->__wq, true);
}

int tide_rwlock_trywrlock(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide__sync_lock(&l->__lock);
    int r = -EBUSY;
    if (!l->__writer && l->__readers == 0 && tide__waitq_empty(&l->__wq)) {
        l->__writer = 1;
        r = 0;
    }
    tide__sync_unlock(&l->__lock);
    return r;
}

int tide_rwlock_wrunlock(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide__sync_lock(&l->__lock);
    if (!l->__writer) {
        tide__sync_unlock(&l->__lock);
        return -EPERM;
    }
    l->__writer = 0;
    /* Readers first if any wait: a writer-preferring lock must still let them through. */
    if (!tide__waitq_empty(&l->__rq)) grant_readers(l);
    else grant_next(l);
    tide__sync_unlock(&l->__lock);
    return 0;
}
