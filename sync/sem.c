/* The counting semaphore: FIFO, with hand-off. release gives its permit straight to the
 * oldest waiter, so permits are never stolen by late arrivals and a positive value means
 * nobody waits (acquire's fast path is then a single compare-and-swap). */
#include "waitq.h"

#define OK(s) TIDE__EMBED_OK(s, TIDE__MAGIC_SEM)

int tide_sem_init(tide_sem_t *s, uint64_t value) {
    if (!s) return -EINVAL;
    atomic_init(&s->lock_, 0);
    atomic_init(&s->value_, value);
    tide__waitq_init(&s->waiters_);
    s->magic_ = TIDE__MAGIC_SEM;
    return 0;
}

int tide_sem_destroy(tide_sem_t *s) {
    if (!OK(s)) return -EINVAL;
    tide__sync_lock(&s->lock_);
    bool busy = !tide__waitq_empty(&s->waiters_);
    if (!busy) s->magic_ = TIDE__MAGIC_DEAD;
    tide__sync_unlock(&s->lock_);
    return busy ? -EBUSY : 0;
}

/* Take a permit if there is one (value > 0 implies an empty queue). */
static bool take(tide_sem_t *s) {
    uint64_t v = atomic_load_explicit(&s->value_, memory_order_relaxed);
    while (v > 0)
        if (atomic_compare_exchange_weak_explicit(&s->value_, &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

int tide_sem_try_acquire(tide_sem_t *s) {
    if (!OK(s)) return -EINVAL;
    return take(s) ? 0 : -EAGAIN;
}

int tide_sem_acquire(tide_sem_t *s) {
    if (!OK(s)) return -EINVAL;
    tide_budget_tick();
    if (take(s)) return 0;
    tide__sync_lock(&s->lock_);
    /* value only grows under the lock, so this second look is final */
    if (take(s)) {
        tide__sync_unlock(&s->lock_);
        return 0;
    }
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    node.waker = tide_park_prepare();
    tide__waitq_push(&s->waiters_, &node);
    int r = tide__waiter_park(&node, &s->lock_, &s->waiters_, "semaphore", false, NULL);
    return r > 0 ? 0 : r;
}

int tide_sem_release(tide_sem_t *s) {
    if (!OK(s)) return -EINVAL;
    tide__sync_lock(&s->lock_);
    tide__sync_waiter_t *w = tide__waitq_pop(&s->waiters_);
    if (w) {
        tide_waker_t k = tide__waiter_fire(w, TIDE__W_GRANTED, 0);
        tide__sync_unlock(&s->lock_);
        tide_wake(k);
        return 0;
    }
    uint64_t v = atomic_load_explicit(&s->value_, memory_order_relaxed);
    int r = 0;
    if (v == UINT64_MAX) r = -EOVERFLOW;
    else atomic_fetch_add_explicit(&s->value_, 1, memory_order_release);
    tide__sync_unlock(&s->lock_);
    return r;
}

uint64_t tide_sem_value(tide_sem_t *s) {
    if (!OK(s)) return 0;
    return atomic_load_explicit(&s->value_, memory_order_relaxed);
}
