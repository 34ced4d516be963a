/* The event (asyncio.Event): set wakes every waiter and stays set until cleared. A waiter
 * woken by set returns 0 even if the event was cleared again before it ran. */
#include "event_internal.h"

int tide_event_init(tide_event_t *e) {
    if (!e) return -EINVAL;
    atomic_init(&e->__lock, 0);
    atomic_init(&e->__set, 0);
    tide__waitq_init(&e->__waiters);
    e->__magic = TIDE__MAGIC_EVENT;
    return 0;
}

int tide_event_destroy(tide_event_t *e) {
    if (!tide__event_ok(e)) return -EINVAL;
    tide__sync_lock(&e->__lock);
    bool busy = !tide__waitq_empty(&e->__waiters);
    if (!busy) e->__magic = 0;
    tide__sync_unlock(&e->__lock);
    return busy ? -EBUSY : 0;
}

int tide_event_set(tide_event_t *e) {
    if (!tide__event_ok(e)) return -EINVAL;
    if (atomic_load_explicit(&e->__set, memory_order_acquire)) return 0; /* nobody waits */
    tide__sync_lock(&e->__lock);
    atomic_store_explicit(&e->__set, 1, memory_order_release);
    tide__waitq_fire_all(&e->__waiters, TIDE__W_DONE, 0);
    tide__sync_unlock(&e->__lock);
    return 0;
}

int tide_event_clear(tide_event_t *e) {
    if (!tide__event_ok(e)) return -EINVAL;
    tide__sync_lock(&e->__lock);
    atomic_store_explicit(&e->__set, 0, memory_order_relaxed);
    tide__sync_unlock(&e->__lock);
    return 0;
}

int tide_event_wait(tide_event_t *e) {
    if (!tide__event_ok(e)) return -EINVAL;
    if (atomic_load_explicit(&e->__set, memory_order_acquire)) {
        tide_budget_tick();
        return 0;
    }
    tide__sync_lock(&e->__lock);
    if (atomic_load_explicit(&e->__set, memory_order_relaxed)) {
        tide__sync_unlock(&e->__lock);
        return 0;
    }
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    node.waker = tide_park_prepare();
    tide__waitq_push(&e->__waiters, &node);
    int r = tide__waiter_park(&node, &e->__lock, &e->__waiters, "event", false, NULL);
    return r > 0 ? 0 : r;
}

bool tide_event_is_set(tide_event_t *e) {
    return tide__event_ok(e) && atomic_load_explicit(&e->__set, memory_order_acquire);
}
