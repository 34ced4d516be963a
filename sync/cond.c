/* The condition variable, for tide_mutex_t. The waiter queues itself before it unlocks the
 * mutex, so a signal sent after that unlock cannot be missed; it always re-locks the mutex
 * before returning (shielded: a deadline or cancel cannot stop that). A waiter signalled as
 * its deadline passed reports success, so the signal is not lost to the other waiters. */
#include "waitq.h"

#define OK(c) ((c) && (c)->__magic == TIDE__MAGIC_COND)

int tide_cond_init(tide_cond_t *c) {
    if (!c) return -EINVAL;
    atomic_init(&c->__lock, 0);
    tide__waitq_init(&c->__waiters);
    c->__magic = TIDE__MAGIC_COND;
    return 0;
}

int tide_cond_destroy(tide_cond_t *c) {
    if (!OK(c)) return -EINVAL;
    tide__sync_lock(&c->__lock);
    bool busy = !tide__waitq_empty(&c->__waiters);
    if (!busy) c->__magic = 0;
    tide__sync_unlock(&c->__lock);
    return busy ? -EBUSY : 0;
}

int tide_cond_wait(tide_cond_t *c, tide_mutex_t *m) {
    if (!OK(c) || !m) return -EINVAL;
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    tide__sync_lock(&c->__lock);
    node.waker = tide_park_prepare();
    tide__waitq_push(&c->__waiters, &node);
    tide__sync_unlock(&c->__lock);

    int r = tide_mutex_unlock(m);
    if (r < 0) {
        /* Not holding m: no wait, nothing to re-lock. */
        tide__sync_lock(&c->__lock);
        if (node.linked) tide__waitq_remove(&c->__waiters, &node);
        tide__sync_unlock(&c->__lock);
        return r;
    }
    tide__sync_lock(&c->__lock);
    r = tide__waiter_park(&node, &c->__lock, &c->__waiters, "condition", false, NULL);

    tide_scope_t shield;
    tide_shield_begin(&shield);
    tide_mutex_lock(m);
    tide_shield_end(&shield);
    return r > 0 ? 0 : r;
}

int tide_cond_signal(tide_cond_t *c) {
    if (!OK(c)) return -EINVAL;
    tide__sync_lock(&c->__lock);
    tide__sync_waiter_t *w = tide__waitq_pop(&c->__waiters);
    tide_waker_t k = {0};
    if (w) k = tide__waiter_fire(w, TIDE__W_DONE, 0);
    tide__sync_unlock(&c->__lock);
    tide_wake(k);
    return 0;
}

int tide_cond_broadcast(tide_cond_t *c) {
    if (!OK(c)) return -EINVAL;
    tide__sync_lock(&c->__lock);
    tide__waitq_fire_all(&c->__waiters, TIDE__W_DONE, 0);
    tide__sync_unlock(&c->__lock);
    return 0;
}
