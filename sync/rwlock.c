/* The read-write lock: writer-preferring with hand-off, so neither side starves.
 *
 * A waiting writer stops new readers from joining; when the last reader leaves the lock goes
 * straight to the oldest writer. When a writer unlocks, every reader waiting at that moment
 * is let in together (so a stream of writers cannot starve readers either), else the next
 * writer. Grants are decided under the state lock and completed before the waiter runs, so
 * a waiter whose deadline raced with its grant simply owns the lock and reports success. */
#include "waitq.h"

#define OK(l) TIDE__EMBED_OK(l, TIDE__MAGIC_RWLOCK)

int tide_rwlock_init(tide_rwlock_t *l) {
    if (!l) return -EINVAL;
    atomic_init(&l->lock_, 0);
    l->writer_ = 0;
    l->readers_ = 0;
    tide__waitq_init(&l->rq_);
    tide__waitq_init(&l->wq_);
    l->magic_ = TIDE__MAGIC_RWLOCK;
    return 0;
}

int tide_rwlock_destroy(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide__sync_lock(&l->lock_);
    bool busy = l->writer_ || l->readers_ || !tide__waitq_empty(&l->rq_) ||
                !tide__waitq_empty(&l->wq_);
    if (!busy) l->magic_ = TIDE__MAGIC_DEAD;
    tide__sync_unlock(&l->lock_);
    return busy ? -EBUSY : 0;
}

/* Let every waiting reader in (no writer holds the lock). Lock held. */
static void grant_readers(tide_rwlock_t *l) {
    tide__sync_waiter_t *w;
    while ((w = tide__waitq_pop(&l->rq_)) != NULL) {
        l->readers_++;
        tide_wake(tide__waiter_fire(w, TIDE__W_GRANTED, 0));
    }
}

/* The lock is free: hand it to the oldest writer, else to all waiting readers. */
static void grant_next(tide_rwlock_t *l) {
    tide__sync_waiter_t *w = tide__waitq_pop(&l->wq_);
    if (w) {
        l->writer_ = 1;
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
    int r = tide__waiter_park(&node, &l->lock_, q, writer ? "rwlock write" : "rwlock read",
                              true, NULL);
    if (r > 0) return 0; /* granted */
    /* Left early (lock still held). A departing writer may have been all that kept the
     * waiting readers out. */
    if (writer && !l->writer_ && tide__waitq_empty(&l->wq_)) grant_readers(l);
    tide__sync_unlock(&l->lock_);
    return r;
}

int tide_rwlock_rdlock(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide_budget_tick();
    tide__sync_lock(&l->lock_);
    if (!l->writer_ && tide__waitq_empty(&l->wq_)) {
        l->readers_++;
        tide__sync_unlock(&l->lock_);
        return 0;
    }
    return wait_grant(l, &l->rq_, false);
}

int tide_rwlock_try_rdlock(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide__sync_lock(&l->lock_);
    int r = -EAGAIN;
    if (!l->writer_ && tide__waitq_empty(&l->wq_)) {
        l->readers_++;
        r = 0;
    }
    tide__sync_unlock(&l->lock_);
    return r;
}

int tide_rwlock_rdunlock(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide__sync_lock(&l->lock_);
    if (l->readers_ == 0) {
        tide__sync_unlock(&l->lock_);
        return -EPERM;
    }
    if (--l->readers_ == 0) grant_next(l);
    tide__sync_unlock(&l->lock_);
    return 0;
}

int tide_rwlock_wrlock(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide_budget_tick();
    tide__sync_lock(&l->lock_);
    if (!l->writer_ && l->readers_ == 0 && tide__waitq_empty(&l->wq_)) {
        l->writer_ = 1;
        tide__sync_unlock(&l->lock_);
        return 0;
    }
    return wait_grant(l, &l->wq_, true);
}

int tide_rwlock_try_wrlock(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide__sync_lock(&l->lock_);
    int r = -EAGAIN;
    if (!l->writer_ && l->readers_ == 0 && tide__waitq_empty(&l->wq_)) {
        l->writer_ = 1;
        r = 0;
    }
    tide__sync_unlock(&l->lock_);
    return r;
}

int tide_rwlock_wrunlock(tide_rwlock_t *l) {
    if (!OK(l)) return -EINVAL;
    tide__sync_lock(&l->lock_);
    if (!l->writer_) {
        tide__sync_unlock(&l->lock_);
        return -EPERM;
    }
    l->writer_ = 0;
    /* Readers first if any wait: a writer-preferring lock must still let them through. */
    if (!tide__waitq_empty(&l->rq_)) grant_readers(l);
    else grant_next(l);
    tide__sync_unlock(&l->lock_);
    return 0;
}
