/* Wait queues (see waitq.h). */
#include "waitq.h"

size_t tide__waitq_fire_all(tide__waitq_t *q, uint32_t state, int result) {
    size_t n = 0;
    tide__sync_waiter_t *w;
    while ((w = tide__waitq_pop(q)) != NULL) {
        if (!tide__waiter_claim(w)) continue;
        tide_wake(tide__waiter_fire(w, state, result));
        n++;
    }
    return n;
}

void tide__waitq_wake_all(tide__waitq_t *q) {
    tide__list_for_each(n, q) tide_wake(tide__list_entry(n, tide__sync_waiter_t, link)->waker);
}

int tide__waiter_park(tide__sync_waiter_t *w, _Atomic uint32_t *lock, tide__waitq_t *q,
                      const char *what, bool hold, const bool *gone) {
    tide__sync_unlock(lock);
    for (;;) {
        int r = tide_park_on(what);
        uint32_t st = atomic_load_explicit(&w->state, memory_order_acquire);
        if (st != TIDE__W_WAITING) return (int)st;
        tide__sync_lock(lock);
        st = atomic_load_explicit(&w->state, memory_order_acquire);
        if (st != TIDE__W_WAITING) {
            tide__sync_unlock(lock);
            return (int)st;
        }
        if (r < 0 || (gone && *gone)) {
            tide__waitq_remove(q, w);
            if (!hold) tide__sync_unlock(lock);
            return r < 0 ? r : -EPIPE;
        }
        /* Woken but not completed: wait again, under a fresh waker. */
        w->waker = tide_park_prepare();
        tide__sync_unlock(lock);
    }
}
