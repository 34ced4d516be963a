/* Parking a worker that found nothing to run: it sleeps until notified, a timer is due, or
 * shutdown; the first to sleep waits in the I/O park hook's poll (tokio's model), the others
 * on their futexes, one of them watching the poll for stalls. The idle bookkeeping (who
 * counts as sleeping or searching) is idle.c's; this file is the sleep itself.
 *
 * I/O polled by the workers (the park hook, see tide/ext.h). */
#include <errno.h>
#include <time.h>

#include "runq.h"
#include "scheduler.h"

/* The watch for stalls. A worker may run a task that computes for a long time without
 * yielding. Three things can then wait behind it while other workers sleep:
 *  - the poll: the worker that slept in the hook's poll woke to run what it found, and until
 *    it comes back nobody waits for readiness;
 *  - its deque: tasks it queued (spawned, I/O readiness it harvested, a task pushed out of its
 *    LIFO slot) that the notify rule did not announce, because one queued task is normally
 *    run by the worker itself soon (runq.h);
 *  - its LIFO slot: a task woken by the running task, which then computes on.
 * So one sleeping worker watches (Go's sysmon, in a worker): it wakes every WATCH_TICK_NS;
 * if the poll is free and nobody took it since its last tick, it takes it; if another
 * worker's deque or LIFO slot holds tasks and that worker began no turn since the last tick,
 * it takes the slot's task (lifo_steal), stops sleeping and steals the rest. While every
 * other worker sleeps nothing can stall, so it sleeps without ticks (WATCH_DEEP: an idle
 * runtime makes no wake-ups), and the next worker to wake up, or to let go of the poll, pokes
 * it back to ticking; a watcher that wakes to run tasks asks another sleeper to take the
 * watch over. The watcher sleeps on its futex or in the hook's poll, whichever it sleeps in. Nothing on the hot path: one load in io_release and
 * one when a worker wakes; the LIFO slot's owner pays two plain stores and a load per take
 * (runq.h), the watcher a membarrier(2) call per slot it takes. Where membarrier is refused,
 * the slot is not watched: a task woken by a task that then computes waits for it (tokio's
 * slot has that limit everywhere). */
enum { WATCH_NONE = 0, WATCH_TICKING = 1, WATCH_DEEP = 2 };
#define WATCH_TICK_NS TIDE_MSEC(2)

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

/* A deep watcher is asked to tick again (it may be on its futex or in the hook's poll). */
static void watch_poke(tide_runtime_t *rt) {
    if (TIDE_UNLIKELY(atomic_load_explicit(&rt->io_watch, MO_SEQ_CST) == WATCH_DEEP)) {
        uint32_t deep = WATCH_DEEP;
        if (atomic_compare_exchange_strong_explicit(&rt->io_watch, &deep, WATCH_NONE,
                                                    MO_SEQ_CST, MO_RELAXED)) {
            tide__worker_t *wk = rt->workers[atomic_load_explicit(&rt->io_watcher, MO_RELAXED)];
            atomic_fetch_or_explicit(&wk->unpark, UNPARK_POKE, MO_SEQ_CST);
            tide__parkec_wake(&wk->unpark_ec);
            tide__kick_io_parked(wk);
        }
    }
}

static void io_release(tide_runtime_t *rt) {
    /* seq_cst store, then the load of io_watch: pairs with a watcher going deep (it stores
     * WATCH_DEEP, then looks at io_owner), so either it sees the poll free or we see it deep. */
    atomic_store_explicit(&rt->io_owner, atomic_load_explicit(&rt->io_owner, MO_RELAXED) + 1,
                          MO_SEQ_CST);
    watch_poke(rt);
}

/* The harvest rule. Readiness a poll collects wakes connection tasks into this worker's deque.
 * Per push, tokio's rule (runq.h) would wake a sleeper as soon as two wait; in a server that
 * hands about every other harvested connection to the other worker, whose whole working set
 * then crosses CPUs (14-30% of task runs were steals in http_hello), and costs a futex wake
 * and a sleep per hand-over. So a harvest keeps what it found: while its poll runs, the pushes
 * it makes are quiet (w->quiet; runq.h, tide__runq_push_quiet, the path coupled pushes take),
 * and the backlog rule announces them once this worker falls behind. A task that
 * computes without yielding begins no turn, and the stall watch (below) steals its deque
 * within a tick or two. Measured (docs/benchmarks.md, "HTTP: the harvest keeps its tasks"):
 * busy polls must keep their harvests too (with only the sleeping poll's kept, -c1000 made
 * more futex calls than with none). */
static int harvest(tide__worker_t *w, const tide__park_hook_t *hook, int64_t timeout) {
    w->quiet = true;
    int n = hook->poll(hook->ctx, w->rt->park_efd, timeout);
    w->quiet = false;
    return n;
}

/* A busy or searching worker collects I/O readiness without blocking. */
int tide__park_poll_io(tide__worker_t *w) {
    /* Backpressure: while a backlog waits (a half-full deque, or tasks spilled to the global
     * queue), leave new readiness in the kernel. Polling now would put fresh wakes ahead of
     * spilled older ones, and the oldest connections would wait longest. */
    if (tide__deque_len(&w->deque) >= TIDE_DEQUE_CAP / 2 || tide__spill_len(&w->rt->spill) > 0)
        return 0;
    const tide__park_hook_t *hook = io_acquire(w->rt);
    if (!hook) return 0;
    int n = harvest(w, hook, 0);
    io_release(w->rt);
    return n;
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
            tide__parkec_wake(&rt->workers[i]->unpark_ec);
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

/* Become the watcher (if nobody watches). */
static bool watch_begin(tide_runtime_t *rt) {
    if (rt->nworkers < 2) return false;
    uint32_t none = WATCH_NONE;
    return atomic_compare_exchange_strong_explicit(&rt->io_watch, &none, WATCH_TICKING,
                                                   MO_SEQ_CST, MO_RELAXED);
}

/* Leave the watch on the way out of a sleep. Who watches next is settled once we are
 * counted awake (watch_ensure). */
static void watch_end(tide__worker_t *w, int watch) {
    tide_runtime_t *rt = w->rt;
    if (watch == WATCH_TICKING) {
        atomic_store_explicit(&rt->io_watch, WATCH_NONE, MO_SEQ_CST);
    } else if (watch == WATCH_DEEP) {
        /* Leaving while deep: nobody must poke a worker that no longer watches. If a poker
         * got here first, its poke stays in `unpark` and is ignored. */
        uint32_t deep = WATCH_DEEP;
        atomic_compare_exchange_strong_explicit(&rt->io_watch, &deep, WATCH_NONE, MO_SEQ_CST,
                                                MO_RELAXED);
    }
}

/* w woke up and is counted awake: a task it runs may stall, so a sleeper must watch. Poke the
 * deep watcher back to ticking, or, with no watcher (w was it, or nobody slept when the watch
 * was let go), ask a sleeper to watch: one on its futex if there is one, else the one in the
 * poll. A sleeper that begins to sleep meanwhile takes the free watch itself. */
static void watch_ensure(tide__worker_t *w) {
    tide_runtime_t *rt = w->rt;
    uint32_t v = atomic_load_explicit(&rt->io_watch, MO_SEQ_CST);
    if (TIDE_LIKELY(v == WATCH_TICKING)) return;
    if (v == WATCH_DEEP) {
        watch_poke(rt);
        return;
    }
    if (IDLE_UNPARKED(atomic_load_explicit(&rt->idle.state, MO_SEQ_CST)) >= rt->nworkers)
        return; /* nobody sleeps */
    tide__idle_t *idle = &rt->idle;
    tide__worker_t *o = NULL;
    pthread_mutex_lock(&idle->lock);
    for (unsigned i = idle->nsleepers; i-- > 0;) {
        tide__worker_t *c = rt->workers[idle->sleepers[i]];
        if (c == w) continue;
        if (!o || !atomic_load_explicit(&c->io_parked, MO_RELAXED)) o = c;
        if (!atomic_load_explicit(&o->io_parked, MO_RELAXED)) break;
    }
    if (o) atomic_fetch_or_explicit(&o->unpark, UNPARK_POKE, MO_SEQ_CST);
    pthread_mutex_unlock(&idle->lock);
    if (o) {
        tide__parkec_wake(&o->unpark_ec);
        tide__kick_io_parked(o);
    }
}

/* Take o's LIFO slot (o began no turn for a tick): NULL if it is empty, o is taking it itself,
 * or another watcher is at it. The owner's half of the handshake is runq.h's. */
static tide__task_t *lifo_steal(tide__worker_t *o) {
    uint32_t free = 0;
    if (!atomic_compare_exchange_strong_explicit(&o->lifo_thief, &free, 1, MO_SEQ_CST, MO_RELAXED))
        return NULL;
    tide__task_t *t = NULL;
    tide__shake_point(SHAKE_LIFO);
    /* Acquire: the owner's section as it left it, and the task as its put made it. */
    /* The heavy half of the handshake; where membarrier is refused, no slot is stolen. */
    if (tide__membarrier_setup() > 0 && tide__membarrier() &&
        !atomic_load_explicit(&o->lifo_taking, MO_ACQUIRE))
        t = atomic_exchange_explicit(&o->lifo, NULL, MO_ACQUIRE);
    atomic_store_explicit(&o->lifo_thief, 0, MO_RELEASE);
    return t;
}

/* Tasks queued on another worker that began no turn since our last look (its `turns` has
 * not moved): they wait behind a task that does not yield. Each look records the
 * counts for the next. A stale record (the watch changed hands) costs at most one early
 * steal. A task in such a worker's LIFO slot is taken here, into our own deque; its deque's
 * tasks are stolen by the search that follows. */
static bool queued_work_stalled(tide__worker_t *w) {
    tide_runtime_t *rt = w->rt;
    bool stalled = false;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        tide__worker_t *o = rt->workers[i];
        if (o == w) continue;
        uint64_t turns = atomic_load_explicit(&o->turns, MO_RELAXED);
        if (turns == atomic_load_explicit(&o->watch_turns, MO_RELAXED)) {
            if (tide__deque_len(&o->deque) > 0) stalled = true;
            if (atomic_load_explicit(&o->lifo, MO_RELAXED)) {
                tide__task_t *t = lifo_steal(o);
                if (t) {
                    tide__runq_push(w, t);
                    tide__count(w->c.steals, 1);
                    stalled = true;
                }
            }
        }
        atomic_store_explicit(&o->watch_turns, turns, MO_RELAXED);
    }
    return stalled;
}

/* Can something stall now? Another worker is awake (it may run a long task), or, with a
 * hook, nobody sleeps in its poll (the futex watcher takes it over on a tick). */
static bool stall_possible(tide_runtime_t *rt) {
    if (IDLE_UNPARKED(atomic_load_explicit(&rt->idle.state, MO_SEQ_CST)) > 0) return true;
    return atomic_load_explicit(&rt->park_hook, MO_SEQ_CST) &&
           !(atomic_load_explicit(&rt->io_owner, MO_SEQ_CST) & 1);
}

/* A tick with nothing stalled: while nothing can stall, stop ticking (WATCH_DEEP) until a
 * worker wakes or lets go of the poll. Returns the watch state to go on with. */
static int watch_maybe_deep(tide__worker_t *w) {
    tide_runtime_t *rt = w->rt;
    if (stall_possible(rt)) return WATCH_TICKING;
    atomic_store_explicit(&rt->io_watcher, w->index, MO_RELAXED);
    atomic_store_explicit(&rt->io_watch, WATCH_DEEP, MO_SEQ_CST);
    /* Look again after the store: a worker that woke (or let go of the poll) meanwhile either
     * shows here or saw us deep and pokes us (watch_poke loads io_watch after its own
     * seq_cst update of the idle state or io_owner). */
    if (!stall_possible(rt)) return WATCH_DEEP;
    uint32_t deep = WATCH_DEEP;
    if (atomic_compare_exchange_strong_explicit(&rt->io_watch, &deep, WATCH_TICKING, MO_SEQ_CST,
                                                MO_RELAXED))
        return WATCH_TICKING;
    return WATCH_NONE; /* poked meanwhile: the poke in `unpark` starts the watch anew */
}

/* One sleeper's part in the stall watch, across the wake-ups of one sleep. Both sleeps (in
 * the hook's poll, on the futex) run the same loop around their own wait: watch_step before
 * each wait, watch_tick after one that ended on a tick. */
typedef struct watch {
    int state;         /* WATCH_* this sleeper holds */
    int64_t deadline;  /* the sleep's own end (INT64_MAX: none) */
    int64_t until;     /* the coming wait's end: the deadline, or the next tick while ticking */
    int64_t now;       /* when `until` was set (until > now, or until is INT64_MAX) */
    uint32_t seen;     /* io_owner at the last tick: the poll free and still `seen` a tick
                          later was left untaken (futex sleepers take it over) */
} watch_t;

static void watch_start(tide__worker_t *w, watch_t *wt, int64_t deadline) {
    wt->state = watch_begin(w->rt) ? WATCH_TICKING : WATCH_NONE;
    wt->deadline = deadline;
    wt->until = deadline;
    wt->now = 0;
    wt->seen = atomic_load_explicit(&w->rt->io_owner, MO_SEQ_CST);
}

/* Before each wait, with what `unpark` held (the caller's exchange: the two sleeps order it
 * against their own announcement differently). STEP_NOTIFIED: a notifier counted us as
 * searching; STEP_END: stopping, or the deadline passed; STEP_WAIT: wait until wt->until. */
enum { STEP_WAIT, STEP_NOTIFIED, STEP_END };
static int watch_step(tide__worker_t *w, watch_t *wt, uint32_t u) {
    tide_runtime_t *rt = w->rt;
    if (u & UNPARK_NOTIFY) return STEP_NOTIFIED;
    if ((u & UNPARK_POKE) && wt->state != WATCH_TICKING) {
        /* Poked out of a deep watch (whoever poked reset it), or asked to take the watch
         * up: watch anew. */
        wt->state = watch_begin(rt) ? WATCH_TICKING : WATCH_NONE;
        wt->seen = atomic_load_explicit(&rt->io_owner, MO_SEQ_CST);
    }
    if (atomic_load_explicit(&rt->stop, MO_ACQUIRE)) return STEP_END;
    int64_t now = wt->now = tide__now();
    if (wt->deadline != INT64_MAX && wt->deadline <= now) return STEP_END;
    wt->until = wt->deadline;
    if (wt->state == WATCH_TICKING && now + WATCH_TICK_NS < wt->until)
        wt->until = now + WATCH_TICK_NS;
    return STEP_WAIT;
}

/* Did the wait that just timed out end on a tick (not on the deadline)? */
static bool watch_ticked(const watch_t *wt) {
    return wt->state == WATCH_TICKING && wt->until != wt->deadline;
}

/* A tick. Work queued behind a task that does not yield: true, end the sleep and go and
 * steal it. A futex sleeper (`take` not NULL) also takes the poll over when it is free and
 * nobody took it since the last tick: true with *take set, the watch given up (it watches
 * as it polls). Else go on sleeping, deep if nothing can stall. */
static bool watch_tick(tide__worker_t *w, watch_t *wt, const tide__park_hook_t **take) {
    tide_runtime_t *rt = w->rt;
    if (queued_work_stalled(w)) return true;
    if (take) {
        uint32_t owner = atomic_load_explicit(&rt->io_owner, MO_SEQ_CST);
        if (atomic_load_explicit(&rt->park_hook, MO_RELAXED) && !(owner & 1) &&
            owner == wt->seen) {
            /* Give up the watch before taking the poll: a worker that then finds the poll
             * taken finds the watch free, and watches us. */
            atomic_store_explicit(&rt->io_watch, WATCH_NONE, MO_SEQ_CST);
            wt->state = WATCH_NONE;
            *take = io_acquire(rt);
            if (*take) return true;
            /* Someone else took the poll meanwhile: watch again, unless it took both. */
            wt->state = watch_begin(rt) ? WATCH_TICKING : WATCH_NONE;
            owner = atomic_load_explicit(&rt->io_owner, MO_SEQ_CST);
        }
        wt->seen = owner;
    }
    if (wt->state == WATCH_TICKING) wt->state = watch_maybe_deep(w);
    return false;
}

/* Sleep in the hook's poll (this worker owns it) until notified (returns true), a timer is
 * due, shutdown, I/O events were dispatched into our queue, or work queued elsewhere stalled
 * (returns false); watch for the latter while another worker is awake. */
static bool io_sleep(tide__worker_t *w, const tide__park_hook_t *hook, int64_t deadline) {
    tide_runtime_t *rt = w->rt;
    bool notified = false;
    watch_t wt;
    watch_start(w, &wt, deadline);
    /* Announce before looking at `unpark`: a notifier stores `unpark` and then looks at
     * io_parked (both seq_cst), so one of us sees the other. */
    atomic_store_explicit(&w->io_parked, true, MO_SEQ_CST);
    for (;;) {
        int step = watch_step(w, &wt, atomic_exchange_explicit(&w->unpark, 0, MO_SEQ_CST));
        if (step == STEP_NOTIFIED) notified = true;
        if (step != STEP_WAIT) break;
        /* The hook is being removed: its remover kicks us until we let go of it. */
        if (atomic_load_explicit(&rt->park_hook, MO_SEQ_CST) != hook) break;
        int n = harvest(w, hook, wt.until == INT64_MAX ? -1 : wt.until - wt.now);
        if (n > 0 || w->lifo || tide__deque_len(&w->deque) > 0) break;
        if (watch_ticked(&wt) && tide__now() >= wt.until && watch_tick(w, &wt, NULL)) break;
    }
    atomic_store_explicit(&w->io_parked, false, MO_SEQ_CST);
    io_release(rt);
    watch_end(w, wt.state);
    return notified;
}

/* Sleep on the futex until notified (returns true), `deadline`, shutdown, or work queued
 * elsewhere stalled (returns false); watch for stalls (see WATCH_TICK_NS) and take over a
 * stalled poll. */
static bool futex_sleep(tide__worker_t *w, int64_t deadline) {
    bool notified = false;
    watch_t wt;
    watch_start(w, &wt, deadline);
    for (;;) {
        /* The count before the reasons: a reason stored after this exchange comes with an
         * increment after this read, so the wait below returns at once (parkec.h). */
        uint32_t count = tide__parkec_value(&w->unpark_ec);
        int step = watch_step(w, &wt, atomic_exchange_explicit(&w->unpark, 0, MO_ACQUIRE));
        if (step == STEP_NOTIFIED) notified = true;
        if (step != STEP_WAIT) break;
        if (tide__parkec_wait(&w->unpark_ec, count, wt.until) != -ETIMEDOUT) continue;
        if (!watch_ticked(&wt)) break;
        const tide__park_hook_t *hook = NULL;
        if (watch_tick(w, &wt, &hook)) {
            if (hook) return io_sleep(w, hook, deadline);
            break;
        }
    }
    watch_end(w, wt.state);
    return notified;
}

/* Sleep until notified, a timer is due, or shutdown. */
void tide__worker_park(tide__worker_t *w) {
    tide_runtime_t *rt = w->rt;
    int64_t deadline;
    if (tide__poll_timers(w, true, &deadline)) return; /* work appeared */
    int64_t now = tide__now();
    tide__stacks_decay(&rt->stacks, now);
    /* A task waits for a stack the pool could not map (stack_retry): hand ours over. */
    if (TIDE_UNLIKELY(atomic_load_explicit(&rt->stacks.starved, MO_RELAXED)) && w->stacks.count)
        tide__stack_cache_flush(&rt->stacks, &w->stacks);
    if (atomic_load_explicit(&rt->stacks.warm_count, MO_RELAXED) &&
        now + rt->stacks.decay_ns / 4 < deadline)
        deadline = now + rt->stacks.decay_ns / 4; /* come back to give idle stacks back */

    w->backlog_at = 0; /* drained (stolen) without a turn here to notice */
    tide__shake_point(SHAKE_PARK_BEFORE);
    tide__idle_sleep_begin(w);

    /* Look once more after announcing the sleep, so work pushed while we were on our way
     * is not stranded (the producer may have seen us awake and woken nobody). notify may
     * pick this very worker, which then returns at once. */
    tide__shake_point(SHAKE_PARK_RECHECK);
    if (tide__runq_work_visible(rt)) tide__notify_work(rt);

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
    } else {
        /* Timed out, a stall to steal, or stopping. */
        tide__idle_sleep_end(w);
    }
    watch_ensure(w); /* counted awake now (by our notifier or just above) */
}
