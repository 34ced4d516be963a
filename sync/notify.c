/* Notify (tokio's Notify): notify_one wakes the oldest waiter, or leaves one permit for the
 * next waiter if nobody waits (permits do not accumulate); notify_all wakes everyone waiting
 * now and leaves no permit. A waiter notified as its deadline passed reports success: the
 * notification is not lost. */
#include "waitq.h"

#define OK(n) TIDE__EMBED_OK(n, TIDE__MAGIC_NOTIFY)

int tide_notify_init(tide_notify_t *n) {
    if (!n) return -EINVAL;
    atomic_init(&n->lock_, 0);
    n->permit_ = 0;
    tide__waitq_init(&n->waiters_);
    n->magic_ = TIDE__MAGIC_NOTIFY;
    return 0;
}

int tide_notify_destroy(tide_notify_t *n) {
    if (!OK(n)) return -EINVAL;
    tide__sync_lock(&n->lock_);
    bool busy = !tide__waitq_empty(&n->waiters_);
    if (!busy) n->magic_ = TIDE__MAGIC_DEAD;
    tide__sync_unlock(&n->lock_);
    return busy ? -EBUSY : 0;
}

int tide_notify_wait(tide_notify_t *n) {
    if (!OK(n)) return -EINVAL;
    tide__sync_lock(&n->lock_);
    if (n->permit_) {
        n->permit_ = 0;
        tide__sync_unlock(&n->lock_);
        tide_budget_tick();
        return 0;
    }
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    node.waker = tide_park_prepare();
    tide__waitq_push(&n->waiters_, &node);
    int r = tide__waiter_park(&node, &n->lock_, &n->waiters_, "notify", false, NULL);
    return r > 0 ? 0 : r;
}

int tide_notify_one(tide_notify_t *n) {
    if (!OK(n)) return -EINVAL;
    tide__sync_lock(&n->lock_);
    tide__sync_waiter_t *w = tide__waitq_pop(&n->waiters_);
    tide_waker_t k = {0};
    if (w) k = tide__waiter_fire(w, TIDE__W_DONE, 0);
    else n->permit_ = 1;
    tide__sync_unlock(&n->lock_);
    tide_wake(k);
    return 0;
}

int tide_notify_all(tide_notify_t *n) {
    if (!OK(n)) return -EINVAL;
    tide__sync_lock(&n->lock_);
    size_t woken = tide__waitq_fire_all(&n->waiters_, TIDE__W_DONE, 0);
    tide__sync_unlock(&n->lock_);
    return woken > INT32_MAX ? INT32_MAX : (int)woken;
}
