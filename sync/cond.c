/* The condition variable, for tide_mutex_t. The waiter queues itself before it unlocks the
 * mutex, so a signal sent after that unlock cannot be missed; it always re-locks the mutex
 * before returning (shielded: a deadline or cancel cannot stop that). A waiter signalled as
 * its deadline passed reports success, so the signal is not lost to the other waiters. */
#include "waitq.h"

#define OK(c) TIDE__EMBED_OK(c, TIDE__MAGIC_COND)

int tide_cond_init(tide_cond_t *c) {
    if (!c) return -EINVAL;
    atomic_init(&c->lock_, 0);
    tide__waitq_init(&c->waiters_);
    c->magic_ = TIDE__MAGIC_COND;
    return 0;
}

int tide_cond_destroy(tide_cond_t *c) {
    if (!OK(c)) return -EINVAL;
    tide__sync_lock(&c->lock_);
    bool busy = !tide__waitq_empty(&c->waiters_);
    if (!busy) c->magic_ = TIDE__MAGIC_DEAD;
    tide__sync_unlock(&c->lock_);
    return busy ? -EBUSY : 0;
}

int tide_cond_wait(tide_cond_t *c, tide_mutex_t *m) {
    if (!OK(c) || !m) return -EINVAL;
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    tide__sync_lock(&c->lock_);
    node.waker = tide_park_prepare();
    tide__waitq_push(&c->waiters_, &node);
    tide__sync_unlock(&c->lock_);

    int r = tide_mutex_unlock(m);
    if (r < 0) {
        /* Not holding m: no wait, nothing to re-lock. */
        tide__sync_lock(&c->lock_);
        if (node.linked) tide__waitq_remove(&c->waiters_, &node);
        tide__sync_unlock(&c->lock_);
        return r;
    }
    tide__sync_lock(&c->lock_);
    r = tide__waiter_park(&node, &c->lock_, &c->waiters_, "condition", false, NULL);

    tide_shield_t shield;
    tide_shield_begin(&shield);
    tide_mutex_lock(m);
    tide_shield_end(&shield);
    return r > 0 ? 0 : r;
}

int tide_cond_signal(tide_cond_t *c) {
    if (!OK(c)) return -EINVAL;
    tide__sync_lock(&c->lock_);
    tide__sync_waiter_t *w = tide__waitq_pop(&c->waiters_);
    tide_waker_t k = {0};
    if (w) k = tide__waiter_fire(w, TIDE__W_DONE, 0);
    tide__sync_unlock(&c->lock_);
    tide_wake(k);
    return 0;
}

int tide_cond_broadcast(tide_cond_t *c) {
    if (!OK(c)) return -EINVAL;
    tide__sync_lock(&c->lock_);
    tide__waitq_fire_all(&c->waiters_, TIDE__W_DONE, 0);
    tide__sync_unlock(&c->lock_);
    return 0;
}
