/* The event (asyncio.Event): set wakes every waiter and stays set until cleared. A waiter
 * woken by set returns 0 even if the event was cleared again before it ran. */
#include "event_internal.h"

int tide_event_init(tide_event_t *e) {
    if (!e) return -EINVAL;
    atomic_init(&e->lock_, 0);
    atomic_init(&e->set_, 0);
    tide__waitq_init(&e->waiters_);
    e->magic_ = TIDE__MAGIC_EVENT;
    return 0;
}

int tide_event_destroy(tide_event_t *e) {
    if (!tide__event_ok(e)) return -EINVAL;
    tide__sync_lock(&e->lock_);
    bool busy = !tide__waitq_empty(&e->waiters_);
    if (!busy) e->magic_ = TIDE__MAGIC_DEAD;
    tide__sync_unlock(&e->lock_);
    return busy ? -EBUSY : 0;
}

int tide_event_set(tide_event_t *e) {
    if (!tide__event_ok(e)) return -EINVAL;
    if (atomic_load_explicit(&e->set_, memory_order_acquire)) return 0; /* nobody waits */
    tide__sync_lock(&e->lock_);
    atomic_store_explicit(&e->set_, 1, memory_order_release);
    tide__waitq_fire_all(&e->waiters_, TIDE__W_DONE, 0);
    tide__sync_unlock(&e->lock_);
    return 0;
}

int tide_event_clear(tide_event_t *e) {
    if (!tide__event_ok(e)) return -EINVAL;
    tide__sync_lock(&e->lock_);
    atomic_store_explicit(&e->set_, 0, memory_order_relaxed);
    tide__sync_unlock(&e->lock_);
    return 0;
}

int tide_event_wait(tide_event_t *e) {
    if (!tide__event_ok(e)) return -EINVAL;
    if (atomic_load_explicit(&e->set_, memory_order_acquire)) {
        tide_budget_tick();
        return 0;
    }
    tide__sync_lock(&e->lock_);
    if (atomic_load_explicit(&e->set_, memory_order_relaxed)) {
        tide__sync_unlock(&e->lock_);
        return 0;
    }
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    node.waker = tide_park_prepare();
    tide__waitq_push(&e->waiters_, &node);
    int r = tide__waiter_park(&node, &e->lock_, &e->waiters_, "event", false, NULL);
    return r > 0 ? 0 : r;
}

bool tide_event_is_set(tide_event_t *e) {
    return tide__event_ok(e) && atomic_load_explicit(&e->set_, memory_order_acquire);
}
