/* The barrier: `parties` tasks meet; the last to arrive (the serial one, returning 1)
 * releases the others (0). A party that leaves early (deadline, cancel) breaks the round:
 * everyone waiting in it gets -EPIPE and the next round starts empty. A party released just
 * as its deadline passed reports the release, not the timeout. */
#include "waitq.h"

#define OK(b) ((b) && (b)->magic_ == TIDE__MAGIC_BARRIER)

int tide_barrier_init(tide_barrier_t *b, unsigned parties) {
    if (!b || parties == 0) return -EINVAL;
    atomic_init(&b->lock_, 0);
    b->parties_ = parties;
    b->arrived_ = 0;
    b->round_ = 0;
    tide__waitq_init(&b->waiters_);
    b->magic_ = TIDE__MAGIC_BARRIER;
    return 0;
}

int tide_barrier_destroy(tide_barrier_t *b) {
    if (!OK(b)) return -EINVAL;
    tide__sync_lock(&b->lock_);
    bool busy = !tide__waitq_empty(&b->waiters_);
    if (!busy) b->magic_ = TIDE__MAGIC_DEAD;
    tide__sync_unlock(&b->lock_);
    return busy ? -EBUSY : 0;
}

int tide_barrier_wait(tide_barrier_t *b) {
    if (!OK(b)) return -EINVAL;
    tide__sync_lock(&b->lock_);
    if (++b->arrived_ == b->parties_) {
        b->arrived_ = 0;
        b->round_++;
        tide__waitq_fire_all(&b->waiters_, TIDE__W_DONE, 0);
        tide__sync_unlock(&b->lock_);
        tide_budget_tick();
        return 1;
    }
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    node.waker = tide_park_prepare();
    tide__waitq_push(&b->waiters_, &node);
    int r = tide__waiter_park(&node, &b->lock_, &b->waiters_, "barrier", true, NULL);
    if (r > 0) return node.result;
    /* Left early (lock still held, the round not complete): it cannot complete any more. */
    b->arrived_ = 0;
    b->round_++;
    tide__waitq_fire_all(&b->waiters_, TIDE__W_DONE, -EPIPE);
    tide__sync_unlock(&b->lock_);
    return r;
}
