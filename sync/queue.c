/* Queue: asyncio.Queue. FIFO with an optional maximum size (0: unbounded); put parks while
 * it is full, get while it is empty; task_done and join track the items got and not yet
 * processed. Items move directly between a putter and a parked getter (and from a parked
 * putter into the slot a get frees), as in the channel, so a put or get that ends early
 * either happened completely or not at all. */
#include "ring.h"
#include "waitq.h"

struct tide_queue {
    uint32_t magic;          /* TIDE__MAGIC_QUEUE while alive */
    _Atomic uint32_t lock;   /* guards everything below except the atomics */
    bool gone;               /* being freed: parked tasks leave with -EPIPE */
    size_t maxsize;          /* SIZE_MAX when unbounded */
    tide__ring_t ring;       /* queued items */
    uint64_t unfinished;     /* items got and not yet task_done */
    tide__waitq_t getters;   /* parked in get (the queue is empty) */
    tide__waitq_t putters;   /* parked in put (the queue is full), item in elem */
    tide__waitq_t joiners;   /* parked in join */
};

#define OK(q) ((q) && (q)->magic == TIDE__MAGIC_QUEUE)

int tide_queue_new(tide_queue_t **out, size_t elem_size, size_t maxsize) {
    if (!out) return -EINVAL;
    *out = NULL;
    if (elem_size == 0) return -EINVAL;
    tide_queue_t *q = tide__new_aligned(tide_queue_t);
    if (!q) return -ENOMEM;
    atomic_init(&q->lock, 0);
    q->gone = false;
    q->maxsize = maxsize ? maxsize : SIZE_MAX;
    tide__ring_init(&q->ring, elem_size, q->maxsize);
    q->unfinished = 0;
    tide__waitq_init(&q->getters);
    tide__waitq_init(&q->putters);
    tide__waitq_init(&q->joiners);
    q->magic = TIDE__MAGIC_QUEUE;
    *out = q;
    return 0;
}

void tide_queue_free(tide_queue_t *q) {
    if (!OK(q)) return;
    tide__sync_lock(&q->lock);
    q->magic = 0;
    /* Parked tasks (misuse, but survivable) unlink themselves and fail with -EPIPE; the
     * memory goes once none is left (see tide_chan_free). */
    q->gone = true;
    tide__waitq_wake_all(&q->getters);
    tide__waitq_wake_all(&q->putters);
    tide__waitq_wake_all(&q->joiners);
    while (!tide__waitq_empty(&q->getters) || !tide__waitq_empty(&q->putters) ||
           !tide__waitq_empty(&q->joiners)) {
        tide__sync_unlock(&q->lock);
        tide__sync_pause();
        tide__sync_lock(&q->lock);
    }
    tide__sync_unlock(&q->lock);
    tide__ring_fini(&q->ring);
    tide__delete_aligned(q);
}

/* Lock held: everything put has been got and processed. */
static void check_joined(tide_queue_t *q) {
    if (q->unfinished == 0 && tide__ring_len(&q->ring) == 0)
        tide__waitq_fire_all(&q->joiners, TIDE__W_DONE, 0);
}

static int put_locked(tide_queue_t *q, const void *elem, tide_waker_t *wake) {
    tide__sync_waiter_t *w = tide__waitq_pop(&q->getters);
    if (w) {
        tide__elem_copy(w->elem, elem, q->ring.esize);
        q->unfinished++;
        *wake = tide__waiter_fire(w, TIDE__W_DONE, 0);
        return 0;
    }
    if (tide__ring_len(&q->ring) < q->maxsize) return tide__ring_push(&q->ring, elem);
    return -EAGAIN;
}

static int get_locked(tide_queue_t *q, void *elem, tide_waker_t *wake) {
    if (tide__ring_len(&q->ring) == 0) return -EAGAIN;
    tide__ring_pop(&q->ring, elem);
    q->unfinished++;
    tide__sync_waiter_t *w = tide__waitq_pop(&q->putters);
    if (w) {
        tide__ring_push(&q->ring, w->elem); /* the slot just freed */
        *wake = tide__waiter_fire(w, TIDE__W_DONE, 0);
    }
    return 0;
}

static int park(tide_queue_t *q, tide__waitq_t *wq, tide__sync_waiter_t *node, const char *what) {
    node->waker = tide_park_prepare();
    tide__waitq_push(wq, node);
    int r = tide__waiter_park(node, &q->lock, wq, what, false, &q->gone);
    return r > 0 ? node->result : r;
}

static int put(tide_queue_t *q, const void *elem, bool block) {
    if (!OK(q) || !elem) return -EINVAL;
    tide_waker_t k = {0};
    tide__sync_lock(&q->lock);
    int r = put_locked(q, elem, &k);
    if (r != -EAGAIN || !block) {
        tide__sync_unlock(&q->lock);
        tide_wake(k);
        if (r == 0) tide_budget_tick();
        return r;
    }
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    node.elem = (void *)elem;
    return park(q, &q->putters, &node, "queue put");
}

static int get(tide_queue_t *q, void *elem, bool block) {
    if (!OK(q) || !elem) return -EINVAL;
    tide_waker_t k = {0};
    tide__sync_lock(&q->lock);
    int r = get_locked(q, elem, &k);
    if (r != -EAGAIN || !block) {
        tide__sync_unlock(&q->lock);
        tide_wake(k);
        if (r == 0) tide_budget_tick();
        return r;
    }
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    node.elem = elem;
    return park(q, &q->getters, &node, "queue get");
}

int tide_queue_put(tide_queue_t *q, const void *elem) { return put(q, elem, true); }
int tide_queue_try_put(tide_queue_t *q, const void *elem) { return put(q, elem, false); }
int tide_queue_get(tide_queue_t *q, void *elem) { return get(q, elem, true); }
int tide_queue_try_get(tide_queue_t *q, void *elem) { return get(q, elem, false); }

int tide_queue_task_done(tide_queue_t *q) {
    if (!OK(q)) return -EINVAL;
    tide__sync_lock(&q->lock);
    int r = 0;
    if (q->unfinished == 0) r = -EINVAL;
    else if (--q->unfinished == 0) check_joined(q);
    tide__sync_unlock(&q->lock);
    return r;
}

int tide_queue_join(tide_queue_t *q) {
    if (!OK(q)) return -EINVAL;
    tide__sync_lock(&q->lock);
    if (q->unfinished == 0 && tide__ring_len(&q->ring) == 0) {
        tide__sync_unlock(&q->lock);
        return 0;
    }
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    return park(q, &q->joiners, &node, "queue join");
}

size_t tide_queue_size(tide_queue_t *q) {
    return OK(q) ? tide__ring_len(&q->ring) : 0;
}
