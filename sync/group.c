/* Task groups (asyncio.TaskGroup, structured concurrency).
 *
 * Each child runs inside a small wrapper that records how it ended, under the group's lock:
 * the first failure (negative status) becomes the group's error and cancels every sibling;
 * the last child to end wakes the waiter. So waiting costs O(1) per child, whatever the
 * order children end in. The group keeps each child's handle (to cancel it, and to join it
 * so its record is released); finished children are reaped as new ones are spawned, so a
 * long-lived group does not grow. A child spawned with a handle for the caller (kept) is
 * waited for but not joined: its status and value stay for the caller's tide_join_result.
 * Since nobody then waits for that wrapper's very end, `inside` counts the wrappers that may
 * still touch the group, and free waits for it to drain, so even a caller who detaches such a
 * handle (misuse) cannot make a wrapper unlock freed memory. */
#include <sched.h>

#include "list.h"
#include "waitq.h"

typedef struct child {
    tide__list_node_t link;  /* in the live or the finished list */
    tide_group_t *group;
    int (*fn)(void *);       /* the user's task */
    void *arg;
    tide_task_t task;        /* its handle (NONE until spawn returned) */
    bool finished;           /* fn returned (the wrapper is about to end) */
    bool kept;               /* the caller holds the handle and joins it, not the group */
    int pending;             /* of {fn returned, spawn returned}, how many have not: it
                                counts as live until both have (then it can be joined) */
} child_t;

struct tide_group {
    uint32_t magic;          /* TIDE__MAGIC_GROUP while alive */
    _Atomic uint32_t lock;   /* guards everything below */
    tide__list_t live;       /* child_t: children still running */
    tide__list_t finished;   /* child_t: children whose fn returned, not yet joined */
    size_t nlive;            /* children on the live list */
    int error;               /* first failure (or -ECANCELED after tide_group_cancel); 0 */
    bool cancelled;          /* siblings were cancelled: refuse new children */
    bool waiting;            /* a tide_group_wait is in progress */
    tide__waitq_t waiters;   /* the waiter, parked until nlive == 0 */
    _Atomic uint32_t inside; /* wrappers spawned that have not yet let go of the group (their
                                last act is this decrement, after unlocking) */
};

#define OK(g) ((g) && (g)->magic == TIDE__MAGIC_GROUP)

static child_t *child_of(tide__list_node_t *n) {
    return n ? tide__list_entry(n, child_t, link) : NULL;
}

int tide_group_new(tide_group_t **out) {
    if (!out) return -EINVAL;
    *out = NULL;
    tide_group_t *g = tide__new(tide_group_t);
    if (!g) return -ENOMEM;
    atomic_init(&g->lock, 0);
    atomic_init(&g->inside, 0);
    tide__waitq_init(&g->waiters);
    g->magic = TIDE__MAGIC_GROUP;
    *out = g;
    return 0;
}

/* Lock held: cancel every running child (children spawned later see `cancelled`). */
static void cancel_live(tide_group_t *g) {
    g->cancelled = true;
    tide__list_for_each(n, &g->live) {
        child_t *c = child_of(n);
        if (c->task.ptr && !c->finished) tide_cancel(c->task);
    }
}

/* Lock held: one of the two events a child waits for to be joinable has happened. */
static void child_settle(tide_group_t *g, child_t *c) {
    if (--c->pending > 0) return;
    tide__list_remove(&g->live, &c->link);
    tide__list_push_front(&g->finished, &c->link);
    if (--g->nlive == 0) tide__waitq_fire_all(&g->waiters, TIDE__W_DONE, 0);
}

static int child_main(void *arg) {
    child_t *c = arg;
    tide_group_t *g = c->group;
    int st = c->fn(c->arg);
    tide__sync_lock(&g->lock);
    c->finished = true;
    /* A child cancelled on its own (through its handle) is not a failure of the group, as
     * in asyncio; one cancelled by the group found g->error already set. */
    bool cancelled_alone = st == -ECANCELED && tide_cancelled();
    if (st < 0 && !cancelled_alone && !g->error) {
        g->error = st;
        cancel_live(g);
    }
    child_settle(g, c);
    tide__sync_unlock(&g->lock);
    atomic_fetch_sub_explicit(&g->inside, 1, memory_order_release); /* g may go now */
    return st;
}

/* Join and free finished children whose tasks have ended (never blocks). */
static void reap(tide_group_t *g, bool all) {
    for (;;) {
        tide__sync_lock(&g->lock);
        child_t *c = child_of(tide__list_first(&g->finished));
        while (c && !all && tide_task_done(c->task) == 0) c = child_of(tide__list_next(&g->finished, &c->link));
        if (c) tide__list_remove(&g->finished, &c->link);
        tide__sync_unlock(&g->lock);
        if (!c) return;
        /* A kept handle is the caller's to join (its wrapper's last touch of g is counted in
         * `inside`). Otherwise, with all, the wrapper may still be on its way out: this join
         * waits for that moment. */
        if (!c->kept) {
            tide_shield_t shield;
            tide_shield_begin(&shield);
            tide_join(c->task, NULL);
            tide_shield_end(&shield);
        }
        tide__delete(c);
    }
}

int tide_group_spawn_task(tide_group_t *g, tide_task_t *out, int (*fn)(void *), void *arg,
                          const tide_spawn_opts_t *opts) {
    if (!OK(g) || !fn) return -EINVAL;
    if (!tide_runtime_current()) return -EPERM;
    tide_spawn_opts_t o = {0};
    if (opts) o = *opts;
    o.detached = 0; /* the group joins its children */
    reap(g, false);

    child_t *c = tide__new(child_t);
    if (!c) return -ENOMEM;
    c->group = g;
    c->fn = fn;
    c->arg = arg;
    c->pending = 2;
    c->kept = out != NULL;
    tide__sync_lock(&g->lock);
    if (g->cancelled) {
        tide__sync_unlock(&g->lock);
        tide__delete(c);
        return -ECANCELED;
    }
    tide__list_push_front(&g->live, &c->link);
    g->nlive++;
    tide__sync_unlock(&g->lock);

    tide_task_t t;
    atomic_fetch_add_explicit(&g->inside, 1, memory_order_relaxed);
    int r = tide_spawn_opts(&t, child_main, c, &o);
    if (r < 0) atomic_fetch_sub_explicit(&g->inside, 1, memory_order_relaxed);
    tide__sync_lock(&g->lock);
    if (r < 0) {
        tide__list_remove(&g->live, &c->link);
        if (--g->nlive == 0) tide__waitq_fire_all(&g->waiters, TIDE__W_DONE, 0);
        tide__sync_unlock(&g->lock);
        tide__delete(c);
        return r;
    }
    c->task = t;
    if (out) *out = t;
    /* Cancelled while we were spawning: this child missed that sweep. */
    if (g->cancelled && !c->finished) tide_cancel(t);
    child_settle(g, c);
    tide__sync_unlock(&g->lock);
    return 0;
}

int tide_group_spawn(tide_group_t *g, int (*fn)(void *), void *arg,
                     const tide_spawn_opts_t *opts) {
    return tide_group_spawn_task(g, NULL, fn, arg, opts);
}

int tide_group_cancel(tide_group_t *g) {
    if (!OK(g)) return -EINVAL;
    tide__sync_lock(&g->lock);
    if (!g->error) g->error = -ECANCELED;
    cancel_live(g);
    tide__sync_unlock(&g->lock);
    return 0;
}

/* Park until every child has ended (lock held on entry, not on return). */
static int wait_children(tide_group_t *g) {
    while (g->nlive > 0) {
        tide__sync_waiter_t node;
        tide__waiter_init(&node);
        node.waker = tide_park_prepare();
        tide__waitq_push(&g->waiters, &node);
        int r = tide__waiter_park(&node, &g->lock, &g->waiters, "task group", false, NULL);
        if (r < 0) return r;
        tide__sync_lock(&g->lock);
    }
    tide__sync_unlock(&g->lock);
    return 0;
}

int tide_group_wait(tide_group_t *g) {
    if (!OK(g)) return -EINVAL;
    tide__sync_lock(&g->lock);
    if (g->waiting) {
        tide__sync_unlock(&g->lock);
        return -EBUSY;
    }
    g->waiting = true;
    int r = wait_children(g);
    if (r < 0) {
        /* Our own deadline or cancellation: the children go down with us. */
        tide__sync_lock(&g->lock);
        cancel_live(g);
        tide_shield_t shield;
        tide_shield_begin(&shield);
        wait_children(g);
        tide_shield_end(&shield);
    }
    reap(g, true);
    tide__sync_lock(&g->lock);
    int err = g->error;
    g->error = 0;
    g->cancelled = false;
    g->waiting = false;
    tide__sync_unlock(&g->lock);
    return r < 0 ? r : err;
}

void tide_group_free(tide_group_t *g) {
    if (!OK(g)) return;
    tide__sync_lock(&g->lock);
    bool busy = g->nlive > 0 || !tide__list_empty(&g->finished);
    tide__sync_unlock(&g->lock);
    if (busy) {
        tide_group_cancel(g);
        tide_shield_t shield;
        tide_shield_begin(&shield);
        tide__sync_lock(&g->lock);
        wait_children(g);
        tide_shield_end(&shield);
        reap(g, true);
    }
    /* Every wrapper has settled (nlive is 0); the last few may be a few instructions from
     * their final decrement. */
    while (atomic_load_explicit(&g->inside, memory_order_acquire) > 0) sched_yield();
    g->magic = 0;
    tide__delete(g);
}
