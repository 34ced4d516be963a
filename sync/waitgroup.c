/* The wait group (Go's sync.WaitGroup): add and done change the count without a lock; the
 * change that brings it to zero takes the lock and wakes the waiters, provided it is still
 * zero then (a racing add means another zero crossing will come and do it). */
#include "waitq.h"

#define OK(g) TIDE__EMBED_OK(g, TIDE__MAGIC_WAITGROUP)

int tide_waitgroup_init(tide_waitgroup_t *wg) {
    if (!wg) return -EINVAL;
    atomic_init(&wg->lock_, 0);
    atomic_init(&wg->count_, 0);
    tide__waitq_init(&wg->waiters_);
    wg->magic_ = TIDE__MAGIC_WAITGROUP;
    return 0;
}

int tide_waitgroup_destroy(tide_waitgroup_t *wg) {
    if (!OK(wg)) return -EINVAL;
    tide__sync_lock(&wg->lock_);
    bool busy = !tide__waitq_empty(&wg->waiters_);
    if (!busy) wg->magic_ = TIDE__MAGIC_DEAD;
    tide__sync_unlock(&wg->lock_);
    return busy ? -EBUSY : 0;
}

int tide_waitgroup_add(tide_waitgroup_t *wg, int64_t delta) {
    if (!OK(wg)) return -EINVAL;
    int64_t c = atomic_load_explicit(&wg->count_, memory_order_relaxed);
    int64_t n;
    do {
        /* c >= 0, so c + delta cannot overflow for delta < 0 (and -delta could). */
        if (delta < 0 ? c + delta < 0 : c > INT64_MAX - delta) return -EINVAL;
        n = c + delta;
    } while (!atomic_compare_exchange_weak_explicit(&wg->count_, &c, n, memory_order_acq_rel,
                                                    memory_order_relaxed));
    if (n == 0 && delta != 0) {
        tide__sync_lock(&wg->lock_);
        if (atomic_load_explicit(&wg->count_, memory_order_acquire) == 0)
            tide__waitq_fire_all(&wg->waiters_, TIDE__W_DONE, 0);
        tide__sync_unlock(&wg->lock_);
    }
    return 0;
}

int tide_waitgroup_done(tide_waitgroup_t *wg) {
    return tide_waitgroup_add(wg, -1);
}

int tide_waitgroup_wait(tide_waitgroup_t *wg) {
    if (!OK(wg)) return -EINVAL;
    if (atomic_load_explicit(&wg->count_, memory_order_acquire) == 0) return 0;
    tide__sync_lock(&wg->lock_);
    if (atomic_load_explicit(&wg->count_, memory_order_acquire) == 0) {
        tide__sync_unlock(&wg->lock_);
        return 0;
    }
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    node.waker = tide_park_prepare();
    tide__waitq_push(&wg->waiters_, &node);
    int r = tide__waiter_park(&node, &wg->lock_, &wg->waiters_, "waitgroup", false, NULL);
    return r > 0 ? 0 : r;
}
