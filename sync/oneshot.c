/* Oneshot: one value from one sender to one receiver. send never blocks (it stores the value
 * or hands it to the parked receiver); close from either side ends it: a receiver still
 * gets a value sent before the close, then -EPIPE. */
#include "waitq.h"

enum { OS_EMPTY, OS_FULL, OS_TAKEN };

struct tide_oneshot {
    uint32_t magic;          /* TIDE__MAGIC_ONESHOT while alive */
    _Atomic uint32_t lock;   /* guards everything below */
    int value;               /* OS_EMPTY, OS_FULL (stored in buf), OS_TAKEN */
    bool closed;             /* closed by either side */
    tide__waitq_t waiters;   /* the parked receiver (one at most) */
    bool gone;               /* being freed: a parked receiver leaves with -EPIPE */
    size_t esize;            /* element size */
    char buf[];              /* the value while OS_FULL */
};

#define OK(o) ((o) && (o)->magic == TIDE__MAGIC_ONESHOT)

static size_t oneshot_size(size_t esize) {
    return sizeof(struct tide_oneshot) + esize;
}

int tide_oneshot_new(tide_oneshot_t **out, size_t elem_size) {
    if (!out) return -EINVAL;
    *out = NULL;
    if (elem_size == 0 || elem_size > SIZE_MAX / 2) return -EINVAL;
    tide_oneshot_t *o = tide__alloc(oneshot_size(elem_size));
    if (!o) return -ENOMEM;
    atomic_init(&o->lock, 0);
    o->value = OS_EMPTY;
    o->closed = false;
    tide__waitq_init(&o->waiters);
    o->gone = false;
    o->esize = elem_size;
    o->magic = TIDE__MAGIC_ONESHOT;
    *out = o;
    return 0;
}

void tide_oneshot_free(tide_oneshot_t *o) {
    if (!OK(o)) return;
    tide__sync_lock(&o->lock);
    o->magic = 0;
    /* A parked receiver (misuse, but survivable) unlinks itself and fails with -EPIPE; the
     * memory goes once it has (see tide_chan_free). */
    o->closed = o->gone = true;
    tide__waitq_wake_all(&o->waiters);
    while (!tide__waitq_empty(&o->waiters)) {
        tide__sync_unlock(&o->lock);
        tide__sync_pause();
        tide__sync_lock(&o->lock);
    }
    tide__sync_unlock(&o->lock);
    tide__free(o, oneshot_size(o->esize));
}

int tide_oneshot_send(tide_oneshot_t *o, const void *elem) {
    if (!OK(o) || !elem) return -EINVAL;
    tide__sync_lock(&o->lock);
    if (o->closed || o->value != OS_EMPTY) {
        tide__sync_unlock(&o->lock);
        return -EPIPE;
    }
    tide_waker_t k = {0};
    tide__sync_waiter_t *w = tide__waitq_pop(&o->waiters);
    if (w) {
        tide__elem_copy(w->elem, elem, o->esize);
        o->value = OS_TAKEN;
        k = tide__waiter_fire(w, TIDE__W_DONE, 0);
    } else {
        tide__elem_copy(o->buf, elem, o->esize);
        o->value = OS_FULL;
    }
    tide__sync_unlock(&o->lock);
    tide_wake(k);
    return 0;
}

int tide_oneshot_recv(tide_oneshot_t *o, void *elem) {
    if (!OK(o) || !elem) return -EINVAL;
    tide__sync_lock(&o->lock);
    if (o->value == OS_FULL) {
        tide__elem_copy(elem, o->buf, o->esize);
        o->value = OS_TAKEN;
        tide__sync_unlock(&o->lock);
        return 0;
    }
    if (o->value == OS_TAKEN || o->closed) {
        tide__sync_unlock(&o->lock);
        return -EPIPE;
    }
    if (!tide__waitq_empty(&o->waiters)) {
        tide__sync_unlock(&o->lock);
        return -EBUSY; /* one receiver only */
    }
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    node.elem = elem;
    node.waker = tide_park_prepare();
    tide__waitq_push(&o->waiters, &node);
    int r = tide__waiter_park(&node, &o->lock, &o->waiters, "oneshot", false, &o->gone);
    return r > 0 ? node.result : r;
}

int tide_oneshot_close(tide_oneshot_t *o) {
    if (!OK(o)) return -EINVAL;
    tide__sync_lock(&o->lock);
    int r = o->closed ? -EPIPE : 0;
    if (!r) {
        o->closed = true;
        tide__waitq_fire_all(&o->waiters, TIDE__W_DONE, -EPIPE);
    }
    tide__sync_unlock(&o->lock);
    return r;
}
