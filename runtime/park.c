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
            tide__parkec_wake(&wk->unpark_ec);
        }
    }
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
    if (o) tide__parkec_wake(&o->unpark_ec);
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
        /* The count before the reasons: a reason stored after this exchange comes with an
         * increment after this read, so the wait below returns at once (parkec.h). */
        uint32_t count = tide__parkec_value(&w->unpark_ec);
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
        if (tide__parkec_wait(&w->unpark_ec, count, until) != -ETIMEDOUT) continue;
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
        return;
    }
    /* Timed out (or stopping). */
    tide__idle_sleep_end(w);
}
