/* A worker thread: pick the next task, switch to it, handle why it came back; when there is
 * nothing to run, look for work (steal, global queue), spin briefly, then sleep on a futex.
 *
 * Order of picking (tokio's): every 61st pick the global queue goes first so it cannot
 * starve; then the LIFO slot (a task just woken by the running task: message passing stays
 * cache-hot), at most MAX_LIFO_STREAK times in a row; then the local deque, oldest first;
 * then the global queue; then timers; then stealing. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "overflow.h"
#include "scheduler.h"

#define GLOBAL_QUEUE_INTERVAL 61
#define MAX_LIFO_STREAK 3
#define GLOBAL_BATCH 32
#define STEAL_MAX 64
#define TIMER_POLL_INTERVAL 4

static __thread tide__worker_t *tls_worker;

#if !defined(TIDE_ASAN) && !defined(TIDE_TSAN)
tide__fiber_t tide__no_fiber; /* stands in for a task's sanitizer state in normal builds */
#endif

TIDE_NOINLINE tide__worker_t *tide__worker_current(void) {
    /* The empty asm keeps the compiler from treating this as a pure function whose result
     * (and the thread pointer behind it) could be reused across a context switch. */
    __asm__ __volatile__("" ::: "memory");
    return tls_worker;
}

static uint32_t rng_next(tide__worker_t *w) {
    uint32_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return w->rng = x;
}

/* ---- queues ---------------------------------------------------------------------------- */

/* The deque is full: move its older half and `extra` to the spill queue in one chunk. Only
 * pointers move: the tasks themselves are not touched. */
static void spill(tide__worker_t *w, tide__task_t *extra) {
    tide__spill_chunk_t *c = tide__spill_chunk_get(&w->rt->spill);
    if (!c) {
        /* No memory for a chunk: the inject queue takes it without allocating. */
        tide__inject_push(&w->rt->inject, &extra->qnode);
        return;
    }
    for (int i = 0; i < TIDE_DEQUE_CAP / 2; i++) {
        void *x = tide__deque_steal(&w->deque);
        if (x == TIDE_DEQUE_ABORT) { i--; continue; }
        if (!x) break;
        c->tasks[c->count++] = x;
    }
    c->tasks[c->count++] = extra;
    tide__spill_push(&w->rt->spill, c);
    tide__count(w->c.overflows, 1);
}

static void push_local(tide__worker_t *w, tide__task_t *t) {
    if (TIDE_UNLIKELY(!tide__deque_push(&w->deque, t))) spill(w, t);
    /* Wake a sleeping worker only if this one has more than it is about to run itself (tokio's
     * rule): a lone task will be run here soon, and a searching worker finds the rest. */
    if (!w->searching && tide__deque_len(&w->deque) + (w->lifo != NULL) > 1)
        tide__notify_work(w->rt);
}

void tide__schedule_local(tide__worker_t *w, tide__task_t *t) {
    push_local(w, t);
}

void tide__push_remote(tide_runtime_t *rt, tide__task_t *t) {
    tide__inject_push(&rt->inject, &t->qnode);
    tide__notify_work(rt);
}

void tide__schedule(tide__task_t *t) {
    tide__shake_point(SHAKE_SCHEDULE);
    tide__worker_t *w = tide__worker_current();
    if (w && w->rt == t->rt) {
        /* It will run on this worker soon: start fetching the top of its stack, where the
         * switch will read its saved registers (with 100k tasks alive, that line is cold). */
        if (t->ctx.sp) __builtin_prefetch(t->ctx.sp, 0, 3);
        if (w->current) {
            /* Woken by the running task: run it next on this worker. */
            tide__task_t *prev = w->lifo;
            w->lifo = t;
            if (prev) push_local(w, prev);
            return;
        }
        push_local(w, t);
        return;
    }
    tide__push_remote(t->rt, t);
}

/* Pop a batch from the global queues (spilled chunks and the inject queue, alternately
 * first): run the first task, queue the rest locally. */
static tide__task_t *pop_global(tide__worker_t *w) {
    tide_runtime_t *rt = w->rt;
    int64_t room = TIDE_DEQUE_CAP - tide__deque_len(&w->deque);
    if (room < 1) room = 1;
    for (int pass = 0; pass < 2; pass++) {
        bool from_spill = ((w->tick + (uint32_t)pass) & 1) == 0;
        tide__task_t *batch[TIDE_SPILL_CHUNK];
        int n = 0;
        if (from_spill) {
            if (tide__spill_len(&rt->spill) <= 0) continue;
            /* Take a whole chunk when there is room: the pointers are all that moves. */
            int64_t want = room < TIDE_SPILL_CHUNK ? room : TIDE_SPILL_CHUNK;
            n = tide__spill_pop(&rt->spill, batch, (int)want);
        } else {
            int64_t len = tide__inject_len(&rt->inject);
            if (len <= 0) continue;
            int64_t want = len / rt->nworkers + 1;
            if (want > room) want = room;
            if (want > GLOBAL_BATCH) want = GLOBAL_BATCH;
            tide__qnode_t *nodes[GLOBAL_BATCH];
            n = tide__inject_pop_batch(&rt->inject, nodes, (int)want);
            for (int i = 0; i < n; i++) batch[i] = tide__task_of_qnode(nodes[i]);
        }
        if (n == 0) continue;
        for (int i = 1; i < n; i++) {
            if (TIDE_UNLIKELY(!tide__deque_push(&w->deque, batch[i]))) spill(w, batch[i]);
        }
        if (n > 1) tide__notify_work(rt);
        tide__count(w->c.global_pops, n);
        return batch[0];
    }
    return NULL;
}

static tide__task_t *pop_local(tide__worker_t *w) {
    for (;;) {
        void *x = tide__deque_steal(&w->deque); /* oldest first: the owner reads FIFO */
        if (x != TIDE_DEQUE_ABORT) return x;
    }
}

/* Steal about half of a victim's deque into ours; returns one task to run. */
static tide__task_t *steal_from(tide__worker_t *w, tide__worker_t *victim) {
    tide__shake_point(SHAKE_STEAL_BEFORE);
    int64_t len = tide__deque_len(&victim->deque);
    if (len == 0) return NULL;
    int64_t want = (len + 1) / 2;
    if (want > STEAL_MAX) want = STEAL_MAX;
    tide__task_t *first = NULL;
    int64_t got = 0;
    for (int64_t i = 0; i < want; i++) {
        void *x = tide__deque_steal(&victim->deque);
        if (x == TIDE_DEQUE_ABORT) continue; /* lost a race: someone took it, try the next */
        if (!x) break;
        got++;
        if (!first) first = x;
        else if (!tide__deque_push(&w->deque, x)) spill(w, x);
    }
    tide__shake_point(SHAKE_STEAL_AFTER);
    if (got) tide__count(w->c.steals, got);
    return first;
}

static tide__task_t *steal_any(tide__worker_t *w) {
    tide_runtime_t *rt = w->rt;
    unsigned n = rt->nworkers;
    unsigned start = n > 1 ? rng_next(w) % n : 0;
    for (unsigned i = 0; i < n; i++) {
        tide__worker_t *victim = rt->workers[(start + i) % n];
        if (victim == w) continue;
        tide__count(w->c.steal_attempts, 1);
        tide__task_t *t = steal_from(w, victim);
        if (t) return t;
    }
    return NULL;
}

static bool work_visible(tide_runtime_t *rt) {
    if (tide__inject_len(&rt->inject) > 0 || tide__spill_len(&rt->spill) > 0) return true;
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (tide__deque_len(&rt->workers[i]->deque) > 0) return true;
    return false;
}

/* ---- timers ---------------------------------------------------------------------------- */

void tide__timer_fire(tide__timer_t *timer, uint64_t seq) {
    tide__task_t *t = (tide__task_t *)(void *)((char *)timer - offsetof(tide__task_t, timer));
    tide__wake_task(t, seq, WAKE_TIMEOUT); /* only tasks arm wheel timers, never stand-ins */
}

/* Expire due timers of this worker's wheel (and, when idle, of the others' too, so one busy
 * worker does not hold back the sleeps of tasks that ran on it). */
static unsigned poll_timers(tide__worker_t *w, bool all, int64_t *next_out) {
    tide_runtime_t *rt = w->rt;
    int64_t now = tide__now();
    unsigned fired = 0;
    int64_t next = INT64_MAX;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        tide__worker_t *o = rt->workers[i];
        if (o != w && !all) continue;
        if (atomic_load_explicit(&o->wheel.count, MO_RELAXED) == 0) continue;
        fired += tide__wheel_poll(&o->wheel, now, tide__timer_fire);
        if (next_out) {
            int64_t n = tide__wheel_next(&o->wheel);
            if (n < next) next = n;
        }
    }
    if (fired) tide__count(w->c.timers_fired, fired);
    if (next_out) *next_out = next;
    return fired;
}

/* ---- idle transitions ------------------------------------------------------------------ */

static bool to_searching(tide__worker_t *w) {
    if (w->searching) return true;
    tide__idle_t *idle = &w->rt->idle;
    uint32_t s = atomic_load_explicit(&idle->state, MO_SEQ_CST);
    if (2 * IDLE_SEARCHING(s) >= w->rt->nworkers) return false;
    atomic_fetch_add_explicit(&idle->state, IDLE_SEARCH_ONE, MO_SEQ_CST);
    w->searching = true;
    return true;
}

/* Found work while searching: stop searching; if we were the last searcher and there is more
 * work about, wake someone to look for it. */
static void from_searching(tide__worker_t *w) {
    if (!w->searching) return;
    w->searching = false;
    uint32_t prev = atomic_fetch_sub_explicit(&w->rt->idle.state, IDLE_SEARCH_ONE, MO_SEQ_CST);
    tide__shake_point(SHAKE_SEARCH_END);
    if (IDLE_SEARCHING(prev) == 1 && work_visible(w->rt)) tide__notify_work(w->rt);
}

/* ---- I/O polled by the workers (the park hook, see tide/ext.h) ---------------------------- */

/* The watch for a stalled poll. The worker that sleeps in the hook's poll wakes to run what
 * it found, and may run a task that computes for a long time; until it comes back, nobody
 * waits for readiness, and the other workers sleep on their futexes. So one futex sleeper
 * watches (Go's sysmon, in a worker): it wakes every WATCH_TICK_NS, and if nobody has taken
 * the poll since its last tick while the poll is free, it takes it (waits in the hook's poll
 * itself). After WATCH_IDLE_TICKS ticks it goes on sleeping without ticks (an idle runtime
 * makes no wake-ups), and the next worker to let go of the poll pokes it back to ticking.
 * Nothing on the hot path: one load in io_release; under load the workers poll as they go. */
enum { WATCH_NONE = 0, WATCH_TICKING = 1, WATCH_DEEP = 2 };
#define WATCH_TICK_NS TIDE_MSEC(2)
#define WATCH_IDLE_TICKS 50

/* Take the right to poll the hook; NULL if there is no hook or another worker polls. */
static const tide__park_hook_t *io_acquire(tide_runtime_t *rt) {
    if (!atomic_load_explicit(&rt->park_hook, MO_RELAXED)) return NULL;
    uint32_t v = atomic_load_explicit(&rt->io_owner, MO_RELAXED);
    if ((v & 1) || !atomic_compare_exchange_strong_explicit(&rt->io_owner, &v, v + 1, MO_SEQ_CST,
                                                            MO_RELAXED))
        return NULL;
    /* Read again after taking it: tide__runtime_park_hook(NULL) waits for io_owner to be free,
     * so a hook seen now cannot be removed before we let go. */
    const tide__park_hook_t *hook = atomic_load_explicit(&rt->park_hook, MO_SEQ_CST);
    if (!hook) atomic_store_explicit(&rt->io_owner, v + 2, MO_SEQ_CST);
    return hook;
}

static void io_release(tide_runtime_t *rt) {
    /* seq_cst store, then the load of io_watch: pairs with a watcher going deep (it stores
     * WATCH_DEEP, then looks at io_owner), so either it sees the poll free or we see it deep. */
    atomic_store_explicit(&rt->io_owner, atomic_load_explicit(&rt->io_owner, MO_RELAXED) + 1,
                          MO_SEQ_CST);
    if (TIDE_UNLIKELY(atomic_load_explicit(&rt->io_watch, MO_SEQ_CST) == WATCH_DEEP)) {
        uint32_t deep = WATCH_DEEP;
        if (atomic_compare_exchange_strong_explicit(&rt->io_watch, &deep, WATCH_NONE,
                                                    MO_SEQ_CST, MO_RELAXED)) {
            tide__worker_t *wk = rt->workers[atomic_load_explicit(&rt->io_watcher, MO_RELAXED)];
            atomic_fetch_or_explicit(&wk->unpark, UNPARK_POKE, MO_SEQ_CST);
            tide__futex_wake(&wk->unpark, 1);
        }
    }
}

/* A busy or searching worker collects I/O readiness without blocking. */
static int poll_io(tide__worker_t *w) {
    /* Backpressure: while a backlog waits (a half-full deque, or tasks spilled to the global
     * queue), leave new readiness in the kernel. Polling now would put fresh wakes ahead of
     * spilled older ones, and the oldest connections would wait longest. */
    if (tide__deque_len(&w->deque) >= TIDE_DEQUE_CAP / 2 || tide__spill_len(&w->rt->spill) > 0)
        return 0;
    const tide__park_hook_t *hook = io_acquire(w->rt);
    if (!hook) return 0;
    int n = hook->poll(hook->ctx, w->rt->park_efd, 0);
    io_release(w->rt);
    return n;
}

/* Sleep in the hook's poll (this worker owns it) until notified (returns true), a timer is
 * due, shutdown, or I/O events were dispatched into our queue (returns false). */
static bool io_sleep(tide__worker_t *w, const tide__park_hook_t *hook, int64_t deadline) {
    tide_runtime_t *rt = w->rt;
    bool notified = false;
    /* Announce before looking at `unpark`: a notifier stores `unpark` and then looks at
     * io_parked (both seq_cst), so one of us sees the other. */
    atomic_store_explicit(&w->io_parked, true, MO_SEQ_CST);
    for (;;) {
        if (atomic_exchange_explicit(&w->unpark, 0, MO_SEQ_CST) & UNPARK_NOTIFY) {
            notified = true;
            break;
        }
        if (atomic_load_explicit(&rt->stop, MO_ACQUIRE)) break;
        /* The hook is being removed: its remover kicks us until we let go of it. */
        if (atomic_load_explicit(&rt->park_hook, MO_SEQ_CST) != hook) break;
        int64_t timeout = -1;
        if (deadline != INT64_MAX) {
            timeout = deadline - tide__now();
            if (timeout <= 0) break;
        }
        int n = hook->poll(hook->ctx, rt->park_efd, timeout);
        if (n > 0 || w->lifo || tide__deque_len(&w->deque) > 0) break;
    }
    atomic_store_explicit(&w->io_parked, false, MO_SEQ_CST);
    io_release(rt);
    return notified;
}

int tide__runtime_park_hook(tide_runtime_t *rt, const tide__park_hook_t *hook) {
    if (!rt) return -EINVAL;
    if (hook) {
        if (!hook->poll) return -EINVAL;
        atomic_store_explicit(&rt->park_hook, hook, MO_SEQ_CST);
        /* Workers asleep since before the hook existed sleep without watching it: poke them,
         * so one of them takes up the watch. */
        for (unsigned i = 0; i < rt->nworkers; i++) {
            atomic_fetch_or_explicit(&rt->workers[i]->unpark, UNPARK_POKE, MO_SEQ_CST);
            tide__futex_wake(&rt->workers[i]->unpark, 1);
        }
        return rt->park_efd;
    }
    atomic_store_explicit(&rt->park_hook, NULL, MO_SEQ_CST);
    while (atomic_load_explicit(&rt->io_owner, MO_SEQ_CST) & 1) {
        for (unsigned i = 0; i < rt->nworkers; i++) tide__kick_io_parked(rt->workers[i]);
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* Become the watcher (if nobody watches) while the hook is installed. */
static bool watch_begin(tide_runtime_t *rt) {
    if (!atomic_load_explicit(&rt->park_hook, MO_RELAXED) || rt->nworkers < 2) return false;
    uint32_t none = WATCH_NONE;
    return atomic_compare_exchange_strong_explicit(&rt->io_watch, &none, WATCH_TICKING,
                                                   MO_SEQ_CST, MO_RELAXED);
}

/* A watcher stops watching (it takes the poll over, or leaves to run tasks): with more than
 * two workers, others may sleep without watching (they found the watch taken); poke one to
 * watch in its place. With two, the other worker is the one that polls (or runs tasks), and we
 * watch again when we park. */
static void watch_hand_over(tide__worker_t *w) {
    tide_runtime_t *rt = w->rt;
    if (rt->nworkers < 3) return;
    tide__idle_t *idle = &rt->idle;
    tide__worker_t *o = NULL;
    pthread_mutex_lock(&idle->lock);
    for (unsigned i = idle->nsleepers; i-- > 0;) {
        tide__worker_t *c = rt->workers[idle->sleepers[i]];
        if (c != w && !atomic_load_explicit(&c->io_parked, MO_RELAXED)) {
            o = c;
            atomic_fetch_or_explicit(&o->unpark, UNPARK_POKE, MO_SEQ_CST);
            break;
        }
    }
    pthread_mutex_unlock(&idle->lock);
    if (o) tide__futex_wake(&o->unpark, 1);
}

/* Sleep on the futex until notified (returns true), `deadline`, or shutdown; while the poll is
 * another worker's, watch it for stalls (see WATCH_TICK_NS) and take it over if it stalls. */
static bool futex_sleep(tide__worker_t *w, int64_t deadline) {
    tide_runtime_t *rt = w->rt;
    int watch = watch_begin(rt) ? WATCH_TICKING : WATCH_NONE;
    unsigned ticks = 0;
    uint32_t seen = atomic_load_explicit(&rt->io_owner, MO_SEQ_CST);
    bool notified = false;
    for (;;) {
        uint32_t u = atomic_exchange_explicit(&w->unpark, 0, MO_ACQUIRE);
        if (u & UNPARK_NOTIFY) {
            notified = true;
            break;
        }
        if ((u & UNPARK_POKE) && watch != WATCH_TICKING) {
            /* Poked out of a deep watch (whoever poked reset it): watch anew. */
            watch = watch_begin(rt) ? WATCH_TICKING : WATCH_NONE;
            ticks = 0;
            seen = atomic_load_explicit(&rt->io_owner, MO_SEQ_CST);
        }
        if (atomic_load_explicit(&rt->stop, MO_ACQUIRE)) break;
        int64_t until = deadline;
        if (watch == WATCH_TICKING) {
            int64_t tick = tide__now() + WATCH_TICK_NS;
            if (tick < until) until = tick;
        }
        if (tide__futex_wait(&w->unpark, 0, until) != -ETIMEDOUT) continue;
        if (watch != WATCH_TICKING || until == deadline) break;
        /* A tick. The poll free, and nobody took it since the last tick: take it. */
        uint32_t now_owner = atomic_load_explicit(&rt->io_owner, MO_SEQ_CST);
        if (!(now_owner & 1) && now_owner == seen) {
            /* Give up the watch before taking the poll: a worker that then finds the poll
             * taken finds the watch free, and watches us. */
            atomic_store_explicit(&rt->io_watch, WATCH_NONE, MO_SEQ_CST);
            const tide__park_hook_t *hook = io_acquire(rt);
            if (hook) {
                watch_hand_over(w); /* we poll now: someone else must watch us */
                return io_sleep(w, hook, deadline);
            }
            if (!watch_begin(rt)) watch = WATCH_NONE; /* someone else took both meanwhile */
            now_owner = atomic_load_explicit(&rt->io_owner, MO_SEQ_CST);
        }
        seen = now_owner;
        if (++ticks < WATCH_IDLE_TICKS) continue;
        /* Long enough without a stall: stop ticking until the poll is let go of again. */
        atomic_store_explicit(&rt->io_watcher, w->index, MO_RELAXED);
        atomic_store_explicit(&rt->io_watch, WATCH_DEEP, MO_SEQ_CST);
        watch = WATCH_DEEP;
        if (!(atomic_load_explicit(&rt->io_owner, MO_SEQ_CST) & 1)) {
            /* Let go of meanwhile: tick on (unless its releaser saw us deep and pokes us). */
            uint32_t deep = WATCH_DEEP;
            if (atomic_compare_exchange_strong_explicit(&rt->io_watch, &deep, WATCH_TICKING,
                                                        MO_SEQ_CST, MO_RELAXED))
                watch = WATCH_TICKING;
            else
                watch = WATCH_NONE;
            ticks = 0;
        }
    }
    if (watch == WATCH_TICKING) {
        atomic_store_explicit(&rt->io_watch, WATCH_NONE, MO_SEQ_CST);
        watch_hand_over(w);
    } else if (watch == WATCH_DEEP) {
        /* Leaving while deep: nobody must poke a worker that no longer watches. If a releaser
         * got here first, its poke stays in `unpark` and is ignored. */
        uint32_t deep = WATCH_DEEP;
        atomic_compare_exchange_strong_explicit(&rt->io_watch, &deep, WATCH_NONE, MO_SEQ_CST,
                                                MO_RELAXED);
        watch_hand_over(w);
    }
    return notified;
}

/* Sleep until notified, a timer is due, or shutdown. */
static void park(tide__worker_t *w) {
    tide_runtime_t *rt = w->rt;
    tide__idle_t *idle = &rt->idle;

    int64_t deadline;
    if (poll_timers(w, true, &deadline)) return; /* work appeared */
    int64_t now = tide__now();
    tide__stacks_decay(&rt->stacks, now);
    /* A task waits for a stack the pool could not map (stack_retry): hand ours over. */
    if (TIDE_UNLIKELY(atomic_load_explicit(&rt->stacks.starved, MO_RELAXED)) && w->stacks.count)
        tide__stack_cache_flush(&rt->stacks, &w->stacks);
    if (atomic_load_explicit(&rt->stacks.warm_count, MO_RELAXED) &&
        now + rt->stacks.decay_ns / 4 < deadline)
        deadline = now + rt->stacks.decay_ns / 4; /* come back to give idle stacks back */

    tide__shake_point(SHAKE_PARK_BEFORE);
    pthread_mutex_lock(&idle->lock);
    uint32_t dec = IDLE_UNPARK_ONE + (w->searching ? IDLE_SEARCH_ONE : 0);
    atomic_fetch_sub_explicit(&idle->state, dec, MO_SEQ_CST);
    idle->sleepers[idle->nsleepers++] = w->index;
    w->sleeping = true;
    pthread_mutex_unlock(&idle->lock);
    w->searching = false;

    /* Look once more after announcing the sleep, so work pushed while we were on our way
     * is not stranded (the producer may have seen us awake and woken nobody). notify may
     * pick this very worker, which then returns at once. */
    tide__shake_point(SHAKE_PARK_RECHECK);
    if (work_visible(rt)) tide__notify_work(rt);

    tide__count(w->c.parks, 1);
    bool notified = false;
    const tide__park_hook_t *hook = io_acquire(rt);
    if (hook) {
        /* The first worker to sleep waits for I/O too (tokio's model): readiness then wakes
         * it directly, with no hop through the driver thread. */
        notified = io_sleep(w, hook, deadline);
    } else {
        notified = futex_sleep(w, deadline);
    }
    tide__shake_point(SHAKE_PARK_WOKEN);
    if (notified) {
        w->searching = true; /* the notifier counted us as searching */
        return;
    }
    /* Timed out (or stopping): take ourselves off the sleepers list, unless a notifier got
     * there first, in which case we are already counted as awake and searching. */
    pthread_mutex_lock(&idle->lock);
    if (w->sleeping) {
        for (unsigned i = 0; i < idle->nsleepers; i++) {
            if (idle->sleepers[i] == w->index) {
                idle->sleepers[i] = idle->sleepers[--idle->nsleepers];
                break;
            }
        }
        w->sleeping = false;
        atomic_fetch_add_explicit(&idle->state, IDLE_UNPARK_ONE, MO_SEQ_CST);
    } else {
        atomic_store_explicit(&w->unpark, 0, MO_RELAXED);
        w->searching = true;
    }
    pthread_mutex_unlock(&idle->lock);
}

/* ---- running tasks --------------------------------------------------------------------- */

static void task_entry(void *arg) {
    tide__task_t *t = arg;
    tide__fiber_arrive_new();
    int status = t->fn(t->arg);
    t->status = status;
    tide__worker_t *w = tide__worker_current();
    w->switch_reason = SWITCH_EXIT;
    tide__fiber_leave(TIDE__TASK_FIBER(t), &w->sched_fiber, 1);
    tide__ctx_switch(&t->ctx, &w->sched_ctx);
    abort(); /* a finished task is never resumed */
}

bool tide__give_stack(tide_runtime_t *rt, tide__stack_cache_t *cache, tide__task_t *t) {
    tide__stack_t *st = tide__stack_get(&rt->stacks, cache, t->stack_size);
    if (!st) return false;
    t->stack = st;
    tide__ctx_make(&t->ctx, st->lo, st->hi, task_entry, t);
#ifdef TIDE_ASAN
    t->fiber.bottom = st->lo;
    t->fiber.size = (size_t)(st->hi - st->lo);
#endif
#ifdef TIDE_TSAN
    if (!st->tsan_fiber) st->tsan_fiber = __tsan_create_fiber(0);
    t->fiber.tsan = st->tsan_fiber;
#endif
    return true;
}

/* No memory for a task's first stack (spawned before the runtime knew stacks were short, see
 * tide__spawn): the task keeps its place and tries again a few milliseconds later, or at once
 * when it is cancelled; it never ends without having run, since its arg may own resources
 * only it releases. The wait is an ordinary one (a new sequence, the task's timer), so every
 * waker rule holds. */
static TIDE_NOINLINE void stack_retry(tide__worker_t *w, tide__task_t *t) {
    uint64_t seq = ST_SEQ(atomic_load_explicit(&t->state, MO_RELAXED)) + 1;
    atomic_store_explicit(&t->state, ST_MAKE(seq, 0, TASK_RUNNING), MO_SEQ_CST);
    atomic_store_explicit(&t->waiting_on, "stack (out of memory)", MO_RELAXED);
    /* Free stacks may sit in an idle worker's cache: woken, it finds nothing to do and hands
     * them to the depot as it parks again (see park). */
    tide__notify_work(w->rt);
    int64_t when = tide__now() + TIDE_MSEC(1) * (1 + rng_next(w) % 8); /* spread the retries */
    uint64_t cur = ST_MAKE(seq, 0, TASK_RUNNING);
    if (tide__timer_arm(&w->wheel, &t->timer, when, seq) &&
        atomic_compare_exchange_strong_explicit(&t->state, &cur, ST_MAKE(seq, 0, TASK_WAITING),
                                                MO_ACQ_REL, MO_ACQUIRE))
        return; /* parked: the timer or a cancel wakes it */
    /* Cancelled meanwhile (NOTIFIED): queue it; first_stack disarms the timer. */
    atomic_store_explicit(&t->state, ST_MAKE(seq, ST_REASON(cur), TASK_RUNNABLE), MO_RELEASE);
    push_local(w, t);
}

static TIDE_NOINLINE bool first_stack(tide__worker_t *w, tide__task_t *t) {
    tide__timer_disarm(&t->timer); /* stack_retry's, when a cancel woke the task first */
    if (!tide__give_stack(w->rt, &w->stacks, t)) {
        stack_retry(w, t);
        return false;
    }
    atomic_store_explicit(&t->waiting_on, NULL, MO_RELAXED);
    return true;
}

/* With many tasks alive their records and stacks are cold. While one task runs, have the
 * memory of the next ones on their way: the next-but-one's record, and the next one's saved
 * stack (its record was fetched the same way a turn earlier). Hints only: the deque may change
 * under us, and prefetching a recycled record or a stale address is harmless. */
static inline void prefetch_next(tide__worker_t *w) {
#if !defined(TIDE_TSAN)
    int64_t top = atomic_load_explicit(&w->deque.top, MO_RELAXED);
    int64_t bottom = atomic_load_explicit(&w->deque.bottom, MO_RELAXED);
    if (bottom - top >= 1) {
        tide__task_t *n1 = atomic_load_explicit(&w->deque.slots[top & (TIDE_DEQUE_CAP - 1)], MO_RELAXED);
        if (n1) {
            void *sp = n1->ctx.sp;
            if (sp) {
                __builtin_prefetch(sp, 0, 3);
            } else {
                /* A first run: it will get the newest stack of our cache and write its
                 * initial frame at the top; the descriptor was fetched a turn earlier. */
                unsigned c = w->stacks.count;
                if (c) __builtin_prefetch(w->stacks.items[c - 1]->hi - 64, 1, 3);
                if (c > 1) __builtin_prefetch(w->stacks.items[c - 2], 0, 3);
            }
        }
        if (bottom - top >= 2)
            __builtin_prefetch(atomic_load_explicit(
                &w->deque.slots[(top + 1) & (TIDE_DEQUE_CAP - 1)], MO_RELAXED), 1, 3);
    }
#else
    (void)w;
#endif
}

static void run_task(tide__worker_t *w, tide__task_t *t) {
    tide_runtime_t *rt = w->rt;
    if (w->searching) from_searching(w);
    prefetch_next(w);
    w->budget = rt->cfg.budget;
again:;
    uint64_t st = atomic_load_explicit(&t->state, MO_ACQUIRE);
    /* RUNNABLE (or NOTIFIED) -> RESUMED: the wait that ended is closed; late wakers of it
     * are no-ops. Nobody else writes a runnable task's state. */
    atomic_store_explicit(&t->state, ST_MAKE(ST_SEQ(st), ST_REASON(st), TASK_RESUMED), MO_RELEASE);
    if (TIDE_UNLIKELY(!t->stack) && !first_stack(w, t)) return;
    t->worker = w;
    w->current = t;
    tide__count(w->c.tasks_run, 1);
    if (TIDE_UNLIKELY(rt->cfg.debug)) w->run_started = tide__now();

    tide__fiber_leave(&w->sched_fiber, TIDE__TASK_FIBER(t), 0);
    tide__ctx_switch(&w->sched_ctx, &t->ctx);
    tide__fiber_arrive(&w->sched_fiber);

    w->current = NULL;
    if (TIDE_UNLIKELY(rt->cfg.debug)) {
        int64_t ran = tide__now() - w->run_started;
        if (ran >= rt->cfg.slow_task_ns) tide__debug_slow(t, ran);
    }
    if (TIDE_UNLIKELY(!tide__stack_canary_ok(t->stack, t->ctx.sp))) tide__overflow_die(t);

    tide__shake_point(SHAKE_SWITCHED_BACK);
    switch (w->switch_reason) {
    case SWITCH_PARK: {
        uint64_t cur = atomic_load_explicit(&t->state, MO_ACQUIRE);
        if (ST_STATE(cur) == TASK_RUNNING &&
            atomic_compare_exchange_strong_explicit(
                &t->state, &cur, ST_MAKE(ST_SEQ(cur), 0, TASK_WAITING), MO_ACQ_REL, MO_ACQUIRE))
            return; /* parked: from here on a waker owns it; do not touch t */
        /* Woken before it got off the CPU (NOTIFIED), or a park with no open wait: resume
         * it now, unless its budget is spent. */
        if (w->budget > 0) goto again;
        atomic_store_explicit(&t->state, ST_MAKE(ST_SEQ(cur), ST_REASON(cur), TASK_RUNNABLE),
                              MO_RELEASE);
        push_local(w, t);
        return;
    }
    case SWITCH_YIELD: {
        /* A waker may be turning RUNNING into NOTIFIED right now: keep whatever it wrote. */
        uint64_t cur = atomic_load_explicit(&t->state, MO_ACQUIRE);
        while (!atomic_compare_exchange_weak_explicit(
            &t->state, &cur, ST_MAKE(ST_SEQ(cur), ST_REASON(cur), TASK_RUNNABLE), MO_ACQ_REL,
            MO_ACQUIRE)) {
        }
        /* A yield lets others run first, including work waiting in the global queues: with
         * the local deque empty the yielder would otherwise run again at once, and tasks
         * woken from outside would wait for the 61st pick. */
        if (!w->lifo && tide__deque_len(&w->deque) == 0 &&
            (tide__inject_len(&w->rt->inject) > 0 || tide__spill_len(&w->rt->spill) > 0)) {
            tide__task_t *first = pop_global(w);
            if (first) push_local(w, first);
        }
        push_local(w, t);
        return;
    }
    case SWITCH_EXIT:
        if (TIDE_UNLIKELY(!tide__stack_canary_deep_ok(t->stack))) tide__overflow_die(t);
        tide__task_finish(w, t);
        return;
    default:
        abort();
    }
}

void tide_budget_tick(void) {
    tide__worker_t *w = tls_worker; /* a leaf until the yield: no switch can intervene */
    if (!w || !w->current) return;
    if (w->budget > 1) {
        w->budget--;
        return;
    }
    w->budget = 0;
    tide__count(w->c.budget_yields, 1);
    tide__switch_out(w->current, SWITCH_YIELD);
}

/* Called on a task's stack: go back to the worker for `reason`. Returns when resumed,
 * possibly on another worker. */
void tide__switch_out(tide__task_t *t, int reason) {
    tide__worker_t *w = t->worker;
    w->switch_reason = reason;
    t->saved_errno = *w->errno_ptr;
    tide__fiber_leave(TIDE__TASK_FIBER(t), &w->sched_fiber, 0);
    tide__ctx_switch(&t->ctx, &w->sched_ctx);
    tide__fiber_arrive(TIDE__TASK_FIBER(t));
    /* t->worker is reloaded after the switch (the asm clobbers memory): we may have moved, and
     * each worker knows its own thread's errno, so no TLS lookup can be stale here. */
    *t->worker->errno_ptr = t->saved_errno;
}

static tide__task_t *next_task(tide__worker_t *w) {
    w->tick++;
    if (atomic_load_explicit(&w->wheel.count, MO_RELAXED) && w->tick % TIMER_POLL_INTERVAL == 0)
        poll_timers(w, false, NULL);
    if (w->tick % GLOBAL_QUEUE_INTERVAL == 0) {
        /* Fairness and I/O: every 61st pick, collect readiness and serve the global queue
         * before the local one, so neither waits behind a busy worker's own tasks. */
        poll_io(w);
        tide__task_t *t = pop_global(w);
        if (t) return t;
    }
    if (w->lifo) {
        tide__shake_point(SHAKE_LIFO);
        tide__task_t *t = w->lifo;
        w->lifo = NULL;
        if (w->lifo_streak < MAX_LIFO_STREAK) {
            w->lifo_streak++;
            tide__count(w->c.lifo_runs, 1);
            return t;
        }
        /* Streak over: the LIFO task queues behind the others like anyone else. */
        push_local(w, t);
    }
    w->lifo_streak = 0;
    tide__task_t *t = pop_local(w);
    if (t) return t;
    return pop_global(w);
}

/* The spin paid off (work turned up while spinning) or did not: spin longer or shorter next
 * time. A server whose work comes from the network finds little by spinning (readiness is
 * the poll's), and a spinning worker takes the CPU from the program on the other end (on 2
 * CPUs, wrk); message passing between tasks on different workers finds its work this way. */
static void spin_paid(tide__worker_t *w, bool paid) {
    int64_t max = w->rt->cfg.spin_ns;
    if (paid) w->spin_ns = w->spin_ns * 2 > max ? max : w->spin_ns * 2;
    else if (w->spin_ns / 2 >= max / 16) w->spin_ns /= 2;
}

/* Nothing local: look elsewhere (bounded number of searchers), spinning a little before
 * sleeping because a cross-CPU wake costs tens of microseconds here. */
static tide__task_t *search(tide__worker_t *w) {
    tide_runtime_t *rt = w->rt;
    if (poll_timers(w, true, NULL)) return next_task(w);
    if (!to_searching(w)) return NULL;
    int64_t spin_until = w->spin_ns > 0 ? tide__now() + w->spin_ns : 0;
    for (unsigned round = 0;; round++) {
        tide__task_t *t = pop_global(w);
        if (!t) t = steal_any(w);
        if (!t && (w->lifo || tide__deque_len(&w->deque))) t = next_task(w);
        if (t) {
            if (round) spin_paid(w, true);
            return t;
        }
        if (atomic_load_explicit(&rt->stop, MO_RELAXED)) return NULL;
        if (!spin_until || tide__now() >= spin_until) {
            if (round) spin_paid(w, false);
            return NULL;
        }
        for (int i = 0; i < 64; i++) tide__cpu_relax();
        if ((round & 15) == 15 && (poll_timers(w, true, NULL) + poll_io(w)) > 0) {
            spin_paid(w, true);
            return next_task(w);
        }
    }
}

void *tide__worker_main(void *arg) {
    tide__worker_t *w = arg;
    tide_runtime_t *rt = w->rt;
    tls_worker = w;
    w->errno_ptr = &errno;
    w->spin_ns = rt->cfg.spin_ns;
    /* Asynchronous signals are for other threads (the program's own, or the I/O driver's
     * signal watchers): a handler run here would run on whatever task stack is current. The
     * faults the runtime reports (stack overflow) and abort stay deliverable. */
    sigset_t async;
    sigfillset(&async);
    sigdelset(&async, SIGSEGV);
    sigdelset(&async, SIGBUS);
    sigdelset(&async, SIGILL);
    sigdelset(&async, SIGFPE);
    sigdelset(&async, SIGABRT);
    sigdelset(&async, SIGTRAP);
    sigdelset(&async, SIGSYS);
    pthread_sigmask(SIG_BLOCK, &async, NULL);
    tide__ctx_thread_init(&w->sched_ctx);
    tide__overflow_thread_init(w);
#ifdef TIDE_TSAN
    w->sched_fiber.tsan = __tsan_get_current_fiber();
#endif
#ifdef TIDE_ASAN
    {
        pthread_attr_t attr;
        void *addr;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            pthread_attr_getstack(&attr, &addr, &size);
            w->sched_fiber.bottom = addr;
            w->sched_fiber.size = size;
            pthread_attr_destroy(&attr);
        }
    }
#endif
    while (!atomic_load_explicit(&rt->stop, MO_ACQUIRE)) {
        tide__task_t *t = next_task(w);
        if (!t) t = search(w);
        if (t) {
            run_task(w, t);
            continue;
        }
        park(w);
    }
    if (w->lifo) {
        /* Cannot happen once every task has ended; keep it visible if it ever does. */
        push_local(w, w->lifo);
        w->lifo = NULL;
    }
    tide__stack_cache_flush(&rt->stacks, &w->stacks);
    tide__task_cache_flush(&rt->tasks, &w->tasks);
    tide__overflow_thread_fini(w);
    tide__ctx_thread_fini(&w->sched_ctx);
    tls_worker = NULL;
    return NULL;
}
