/* Task lifecycle: spawn, join, detach, cancel, completion watchers, and the end of a task.
 *
 * A record is recycled when two things have happened, in either order: the task ended
 * (TF_DONE) and its handle was released (TF_RELEASED, by join or detach). Both flags change
 * under the task's lock, and whoever sets the second one recycles, after unlocking. */
#include <errno.h>
#include <string.h>

#include "scheduler.h"

/* ---- spawn ----------------------------------------------------------------------------- */

/* A spawned task always runs (its arg may own what only it releases), so a spawn that
 * cannot be sure of a stack takes one at once and fails up front with -ENOMEM instead:
 * a task with its own stack size (a slab of its own: nothing to reuse), a spawn while the
 * pool's last mapping failed, and block_on's main task (stack_now). Otherwise the stack comes
 * from the warm pool at the first run (see first_stack in worker.c). */
static int spawn(tide_runtime_t *rt, tide_task_t *out, int (*fn)(void *), void *arg,
                 const tide_spawn_opts_t *opts, const char *file, int line, bool stack_now) {
    if (!fn) return -EINVAL;
    bool detached = opts && opts->detached;
    if (!out && !detached) return -EINVAL;
    size_t stack_size = opts ? opts->stack_size : 0;
    if (stack_size && (stack_size < TIDE_STACK_MIN || stack_size > ((size_t)1 << 31)))
        return -EINVAL;
    tide__worker_t *w = tide__worker_current();
    if (!rt) {
        if (!w || !w->current) return -EPERM;
        rt = w->rt;
    }
    if (atomic_load_explicit(&rt->shutting_down, MO_ACQUIRE)) return -ESHUTDOWN;
    bool local = w && w->rt == rt;

    tide__task_t *t = tide__task_alloc(&rt->tasks, local ? &w->tasks : NULL);
    if (!t) return -ENOMEM;
    t->fn = fn;
    t->arg = arg;
    t->rt = rt;
    t->stack_size = (uint32_t)stack_size;
    if (TIDE_UNLIKELY(stack_now || stack_size ||
                      atomic_load_explicit(&rt->stacks.starved, MO_RELAXED)) &&
        !tide__give_stack(rt, local ? &w->stacks : NULL, t)) {
        tide__task_recycle(&rt->tasks, local ? &w->tasks : NULL, t);
        return -ENOMEM;
    }
    t->spawn_file = file;
    t->spawn_line = (uint32_t)line;
    if (opts && opts->name) {
        strncpy(t->name, opts->name, sizeof t->name - 1);
        t->name[sizeof t->name - 1] = 0; /* (a recycled record's name is already "") */
    }
    if (detached) atomic_store_explicit(&t->flags, TF_RELEASED | TF_DETACHED, MO_RELAXED);
    uint64_t id = atomic_load_explicit(&t->id, MO_RELAXED);
    if (out) *out = (tide_task_t){t, id};
    if (local) tide__count(w->spawned, 1);
    else atomic_fetch_add_explicit(&rt->remote_spawned, 1, MO_RELAXED);

    tide__shake_point(SHAKE_SPAWN);
    if (local) tide__schedule_local(w, t);
    else tide__push_remote(rt, t);
    return 0;
}

int tide__spawn(tide_runtime_t *rt, tide_task_t *out, int (*fn)(void *), void *arg,
                const tide_spawn_opts_t *opts, const char *file, int line) {
    return spawn(rt, out, fn, arg, opts, file, line, false);
}

int tide__spawn_with_stack(tide_runtime_t *rt, tide_task_t *out, int (*fn)(void *), void *arg,
                           const tide_spawn_opts_t *opts, const char *file, int line) {
    return spawn(rt, out, fn, arg, opts, file, line, true);
}

/* ---- the end of a task ----------------------------------------------------------------- */

static void recycle(tide__task_t *t, tide__worker_t *w) {
    tide_runtime_t *rt = t->rt;
    bool own = w && w->rt == rt;
    tide__task_recycle(&rt->tasks, own ? &w->tasks : NULL, t);
}

/* On the worker, after the task's last switch: its stack goes back, joiners are woken. */
void tide__task_finish(tide__worker_t *w, tide__task_t *t) {
    tide_runtime_t *rt = w->rt;
    /* Before TF_DONE: once a joiner sees it, the record may be recycled under us. */
    if (TIDE_UNLIKELY(t->scope_depth != 0)) tide__debug_scope_leak(t);
    /* A wait's timer outlives the wait (see park_until_at): the record is recycled, and the
     * next task's waits start their seq where this one's ended, but its timer must go. */
    tide__timer_disarm(&t->timer);
    /* A park leaves what it waited on in place (see park_until_at): clean for the record's
     * next task, whose first run takes a set one for a stack retry (worker.c). */
    atomic_store_explicit(&t->waiting_on, NULL, MO_RELAXED);
    if (t->stack) {
        tide__stack_put(&rt->stacks, &w->stacks, t->stack, t->stack_size);
        t->stack = NULL;
    }
#ifdef TIDE_TSAN
    t->fiber.tsan = NULL; /* it belongs to the stack, which keeps it for the next task */
#endif
    tide__task_lock(t);
    uint64_t st = atomic_load_explicit(&t->state, MO_RELAXED);
    atomic_store_explicit(&t->state, ST_MAKE(ST_SEQ(st), 0, TASK_DONE), MO_RELEASE);
    uint32_t flags = atomic_fetch_or_explicit(&t->flags, TF_DONE, MO_ACQ_REL) | TF_DONE;
    /* Watches are read under the lock: a watcher that timed out takes the lock to withdraw,
     * so it can never return (and free its watch) while we are still using it. Plain wakers
     * are copied out and woken after the unlock (a waker stays valid for the runtime's life,
     * and a stale one is a no-op): a joining thread woken under the lock would run at once
     * on this CPU and spin on the lock we still hold until we are scheduled again. */
    tide_waker_t later[8];
    unsigned nlater = 0;
    tide__list_for_each_safe(node, &t->watchers) { /* a callback may let its watch go */
        tide_watch_t *n = tide__list_entry(node, tide_watch_t, link);
        n->fired = 1;
        if (n->fn) n->fn(n);
        else if (nlater < 8) later[nlater++] = n->waker;
        else tide_wake(n->waker);
    }
    tide__list_init(&t->watchers);
    tide__task_unlock(t);
    for (unsigned i = 0; i < nlater; i++) tide_wake(later[i]);
    if (TIDE_UNLIKELY(rt->cfg.debug) && (flags & TF_DETACHED) && t->status < 0)
        tide__debug_unjoined(t);
    /* Release, not tide__count's relaxed store: tide_runtime_close reads these counters
     * (acquire, tide__live_tasks) to learn that every task has ended, then frees what tasks
     * used (the I/O driver, the reactor's socket records). Everything this task did, such as
     * closing its sockets while being cancelled by the shutdown, must happen before that. */
    atomic_store_explicit(&w->finished, atomic_load_explicit(&w->finished, MO_RELAXED) + 1,
                          MO_RELEASE);
    if (flags & TF_RELEASED) recycle(t, w);
}

/* ---- join, detach, cancel -------------------------------------------------------------- */

/* Lock t if h still names it and its handle is not released; false otherwise. */
static bool lock_handle(tide_task_t h, tide__task_t **out) {
    if (!tide__handle_ok(h)) return false;
    tide__task_t *t = h.ptr;
    tide__task_lock(t);
    if (atomic_load_explicit(&t->id, MO_RELAXED) != h.id ||
        (atomic_load_explicit(&t->flags, MO_RELAXED) & TF_RELEASED)) {
        tide__task_unlock(t);
        return false;
    }
    *out = t;
    return true;
}

static void watch_unlink(tide__task_t *t, tide_watch_t *n) {
    tide__list_remove(&t->watchers, &n->link);
}

static void watch_link(tide__task_t *t, tide_watch_t *n) {
    tide__list_push_front(&t->watchers, &n->link);
}

/* A plain thread's join holds its runtime's thread_joiners count from its first look at the
 * record to its last, so tide_runtime_close cannot free the record under it (see api.md). */
static int join_leave(tide_runtime_t *rt, int r) {
    if (rt) atomic_fetch_sub_explicit(&rt->thread_joiners, 1, MO_SEQ_CST);
    return r;
}

static int join(tide_task_t h, int *status, void **value) {
    tide__task_t *self = tide__self();
    if (h.ptr == self) return -EDEADLK;
    bool thread = atomic_load_explicit(&self->flags, MO_RELAXED) & TF_THREAD;
    tide_runtime_t *joined = NULL; /* a thread's: the runtime whose count it holds */
    for (;;) {
        tide__task_t *t;
        if (!lock_handle(h, &t)) return join_leave(joined, -ESRCH);
        uint32_t flags = atomic_load_explicit(&t->flags, MO_RELAXED);
        if (flags & TF_DONE) {
            int s = t->status;
            void *v = (flags & TF_RESULT) ? t->result : NULL;
            atomic_fetch_or_explicit(&t->flags, TF_RELEASED | TF_JOINED, MO_ACQ_REL);
            tide__task_unlock(t);
            recycle(t, tide__worker_current());
            if (status) *status = s;
            if (value) *value = v;
            return join_leave(joined, 0);
        }
        if (thread && !joined) {
            /* Counted under the task's lock while it has not ended, so before its end and
             * before tide_runtime_close can see the last task end. */
            joined = t->rt;
            atomic_fetch_add_explicit(&joined->thread_joiners, 1, MO_SEQ_CST);
        }
        if (thread && atomic_load_explicit(&t->rt->shutting_down, MO_SEQ_CST)) {
            /* A thread does not wait on a runtime being freed (its task is being cancelled;
             * a task joining a sibling while it unwinds does wait). */
            tide__task_unlock(t);
            return join_leave(joined, -ESHUTDOWN);
        }
        tide_watch_t node = {0};
        node.waker = tide_park_prepare();
        node.fn = NULL;
        watch_link(t, &node);
        tide__task_unlock(t);

        int r = tide__park(self, "join");

        tide__task_lock(t);
        if (!node.fired) watch_unlink(t, &node);
        tide__task_unlock(t);
        if (r < 0) return join_leave(joined, r);
    }
}

int tide_join(tide_task_t h, int *status) {
    return join(h, status, NULL);
}

int tide_join_result(tide_task_t h, int *status, void **value) {
    return join(h, status, value);
}

int tide_detach(tide_task_t h) {
    tide__task_t *t;
    if (!lock_handle(h, &t)) return -ESRCH;
    uint32_t flags =
        atomic_fetch_or_explicit(&t->flags, TF_RELEASED | TF_DETACHED, MO_ACQ_REL);
    tide__task_unlock(t);
    if (flags & TF_DONE) {
        if (TIDE_UNLIKELY(t->rt->cfg.debug) && t->status < 0) tide__debug_unjoined(t);
        recycle(t, tide__worker_current());
    }
    return 0;
}

/* Cancel t (already validated, lock not held by the caller). */
void tide__cancel_task(tide__task_t *t) {
    atomic_fetch_or_explicit(&t->flags, TF_CANCELLED, MO_SEQ_CST);
    uint64_t st = atomic_load_explicit(&t->state, MO_SEQ_CST);
    /* Ends the current wait, if one is open; a task between waits sees the flag at its next
     * blocking call. A recycled record has moved its sequence on, so this is then a no-op. */
    tide__wake(t, ST_SEQ(st), WAKE_CANCEL);
}

int tide_cancel(tide_task_t h) {
    if (!tide__handle_ok(h)) return -ESRCH;
    tide__task_t *t = h.ptr;
    tide__task_lock(t);
    if (atomic_load_explicit(&t->id, MO_RELAXED) != h.id) {
        tide__task_unlock(t);
        return -ESRCH;
    }
    bool done = atomic_load_explicit(&t->flags, MO_RELAXED) & TF_DONE;
    if (!done) atomic_fetch_or_explicit(&t->flags, TF_CANCELLED, MO_SEQ_CST);
    uint64_t st = atomic_load_explicit(&t->state, MO_SEQ_CST);
    tide__task_unlock(t);
    if (!done) tide__wake(t, ST_SEQ(st), WAKE_CANCEL);
    return 0;
}

int tide_task_done(tide_task_t h) {
    tide__task_t *t;
    if (!lock_handle(h, &t)) return -ESRCH;
    int done = (atomic_load_explicit(&t->flags, MO_RELAXED) & TF_DONE) != 0;
    tide__task_unlock(t);
    return done;
}

static int watch(tide_task_t h, tide_watch_t *n, tide_waker_t waker, void (*fn)(tide_watch_t *),
                 void *arg) {
    tide__task_t *t;
    if (!n || !lock_handle(h, &t)) return -ESRCH;
    if (atomic_load_explicit(&t->flags, MO_RELAXED) & TF_DONE) {
        tide__task_unlock(t);
        return 1;
    }
    n->waker = waker;
    n->fn = fn;
    n->arg = arg;
    n->fired = 0;
    watch_link(t, n);
    tide__task_unlock(t);
    return 0;
}

int tide_task_watch(tide_task_t h, tide_watch_t *n, tide_waker_t waker) {
    return watch(h, n, waker, NULL, NULL);
}

int tide_task_watch_fn(tide_task_t h, tide_watch_t *n, void (*fn)(tide_watch_t *), void *arg) {
    if (!fn) return -EINVAL;
    return watch(h, n, (tide_waker_t){0}, fn, arg);
}

int tide_task_status(tide_task_t h, int *status) {
    tide__task_t *t;
    if (!lock_handle(h, &t)) return -ESRCH;
    int done = (atomic_load_explicit(&t->flags, MO_RELAXED) & TF_DONE) != 0;
    if (done && status) *status = t->status;
    tide__task_unlock(t);
    return done;
}

int tide_task_result(tide_task_t h, int *status, void **value) {
    tide__task_t *t;
    if (!lock_handle(h, &t)) return -ESRCH;
    uint32_t flags = atomic_load_explicit(&t->flags, MO_RELAXED);
    int done = (flags & TF_DONE) != 0;
    if (done && status) *status = t->status;
    if (done && value) *value = (flags & TF_RESULT) ? t->result : NULL;
    tide__task_unlock(t);
    return done;
}

int tide_task_set_result(void *value) {
    tide__worker_t *w = tide__worker_current();
    if (!w || !w->current) return -EPERM;
    tide__task_t *t = w->current;
    tide__task_lock(t);
    t->result = value;
    atomic_fetch_or_explicit(&t->flags, TF_RESULT, MO_RELAXED);
    tide__task_unlock(t);
    return 0;
}

void tide_task_unwatch(tide_task_t h, tide_watch_t *n) {
    /* The watch keeps the handle from being released by someone else only by convention;
     * check anyway, the record is type-stable. */
    if (!h.ptr || !n) return;
    tide__task_t *t = h.ptr;
    tide__task_lock(t);
    if (!n->fired && atomic_load_explicit(&t->id, MO_RELAXED) == h.id) watch_unlink(t, n);
    tide__task_unlock(t);
}

/* ---- identity -------------------------------------------------------------------------- */

tide_task_t tide_task_self(void) {
    tide__worker_t *w = tide__worker_current();
    if (!w || !w->current) return TIDE_TASK_NONE;
    tide__task_t *t = w->current;
    return (tide_task_t){t, atomic_load_explicit(&t->id, MO_RELAXED)};
}

uint64_t tide_task_id(tide_task_t h) {
    return tide__handle_ok(h) ? h.id : 0;
}

void tide_task_set_name(const char *name) {
    tide__worker_t *w = tide__worker_current();
    if (!w || !w->current) return;
    tide__task_t *t = w->current;
    tide__task_lock(t);
    if (name) {
        strncpy(t->name, name, sizeof t->name - 1);
        t->name[sizeof t->name - 1] = 0;
    } else {
        t->name[0] = 0;
    }
    tide__task_unlock(t);
}

tide_runtime_t *tide_runtime_current(void) {
    tide__worker_t *w = tide__worker_current();
    return w && w->current ? w->rt : NULL;
}

uint64_t tide__spawned_tasks(tide_runtime_t *rt) {
    uint64_t n = atomic_load_explicit(&rt->remote_spawned, MO_ACQUIRE);
    for (unsigned i = 0; i < rt->nworkers; i++)
        n += atomic_load_explicit(&rt->workers[i]->spawned, MO_ACQUIRE);
    return n;
}

uint64_t tide__live_tasks(tide_runtime_t *rt) {
    /* Read the ends before the starts: a task counted as finished was counted as spawned.
     * Acquire pairs with tide__task_finish's release: once this says 0, every task's work
     * happened before the caller's next step (shutdown frees the extension layers then). */
    uint64_t done = 0;
    for (unsigned i = 0; i < rt->nworkers; i++)
        done += atomic_load_explicit(&rt->workers[i]->finished, MO_ACQUIRE);
    uint64_t spawned = tide__spawned_tasks(rt);
    return spawned > done ? spawned - done : 0;
}
