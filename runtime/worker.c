/* A worker thread: pick the next task, switch to it, handle why it came back; when there is
 * nothing to run, look for work (steal, global queue), spin briefly, then park (park.c).
 * The queues themselves are runq.c's, the idle bookkeeping idle.c's.
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
#include "runq.h"
#include "scheduler.h"

#define GLOBAL_QUEUE_INTERVAL 61
#define MAX_LIFO_STREAK 3
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

/* ---- timers ---------------------------------------------------------------------------- */

void tide__timer_fire(tide__timer_t *timer, uint64_t seq) {
    tide__task_t *t = (tide__task_t *)(void *)((char *)timer - offsetof(tide__task_t, timer));
    tide__wake_task(t, seq, WAKE_TIMEOUT); /* only tasks arm wheel timers, never stand-ins */
}

/* Expire due timers of this worker's wheel (and, when idle, of the others' too, so one busy
 * worker does not hold back the sleeps of tasks that ran on it). */
unsigned tide__poll_timers(tide__worker_t *w, bool all, int64_t *next_out) {
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

/* ---- running tasks --------------------------------------------------------------------- */

static void switch_done(tide__worker_t *w);

static void task_entry(void *arg) {
    tide__task_t *t = arg;
    tide__fiber_arrive_new();
    switch_done(t->worker); /* a yield or a park may have switched straight here */
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
    int64_t when = tide__now() + TIDE_MSEC(1) * (1 + tide__worker_rng(w) % 8); /* spread the retries */
    uint64_t cur = ST_MAKE(seq, 0, TASK_RUNNING);
    if (tide__timer_arm(&w->wheel, &t->timer, when, seq) &&
        atomic_compare_exchange_strong_explicit(&t->state, &cur, ST_MAKE(seq, 0, TASK_WAITING),
                                                MO_ACQ_REL, MO_ACQUIRE))
        return; /* parked: the timer or a cancel wakes it */
    /* Cancelled meanwhile (NOTIFIED): queue it; first_stack disarms the timer. */
    atomic_store_explicit(&t->state, ST_MAKE(seq, ST_REASON(cur), TASK_RUNNABLE), MO_RELEASE);
    tide__runq_push(w, t);
}

static TIDE_NOINLINE bool first_stack(tide__worker_t *w, tide__task_t *t) {
    /* stack_retry's timer, when a cancel woke the task first. Only stack_retry gives a task
     * that never ran a waiting_on (set before it arms, cleared below), so a plain first run
     * skips the call. */
    if (atomic_load_explicit(&t->waiting_on, MO_RELAXED)) tide__timer_disarm(&t->timer);
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

/* A task that yielded is off its stack: make it runnable again. */
static inline void mark_runnable(tide__task_t *t) {
    /* With no wait open (RESUMED, the usual case) no waker writes the state (wake() leaves
     * RESUMED alone), so a plain store will do: a locked CAS costs ~20 ns here. With a wait
     * open, a waker may be turning RUNNING into NOTIFIED right now: keep whatever it wrote. */
    uint64_t cur = atomic_load_explicit(&t->state, MO_ACQUIRE);
    if (TIDE_LIKELY(ST_STATE(cur) == TASK_RESUMED)) {
        atomic_store_explicit(&t->state, ST_MAKE(ST_SEQ(cur), ST_REASON(cur), TASK_RUNNABLE),
                              MO_RELEASE);
        return;
    }
    while (!atomic_compare_exchange_weak_explicit(
        &t->state, &cur, ST_MAKE(ST_SEQ(cur), ST_REASON(cur), TASK_RUNNABLE), MO_ACQ_REL,
        MO_ACQUIRE)) {
    }
}

/* A task just switched away from: its stack must not have overflowed. */
static inline void check_stack(tide__task_t *t) {
    if (TIDE_UNLIKELY(!tide__stack_canary_ok(t->stack, t->ctx.sp))) tide__overflow_die(t);
}

/* Make t the task running on w: its wait is closed (RUNNABLE or NOTIFIED -> RESUMED; late
 * wakers of it are no-ops, and nobody else writes a runnable task's state), it has a stack,
 * and it is counted. False: no stack to be had (stack_retry took t over). */
static inline bool resume(tide__worker_t *w, tide__task_t *t) {
    uint64_t st = atomic_load_explicit(&t->state, MO_ACQUIRE);
    atomic_store_explicit(&t->state, ST_MAKE(ST_SEQ(st), ST_REASON(st), TASK_RESUMED), MO_RELEASE);
    if (TIDE_UNLIKELY(!t->stack) && !first_stack(w, t)) return false;
    t->worker = w;
    w->current = t;
    tide__count(w->c.tasks_run, 1);
    return true;
}

/* A new turn on w begins with t (picked from a queue, or yielded to): a fresh budget, the
 * next tasks' memory on its way, then resume. Always inlined: its callers are the switch
 * paths, and the backlog check's call made GCC keep it out of line (+2% instructions in
 * yield_many/ping_pong). */
static inline __attribute__((always_inline)) bool begin_run(tide__worker_t *w, tide__task_t *t) {
    prefetch_next(w);
    w->budget = w->rt->cfg.budget;
    /* The stall watch (park.c) reads this from another worker: single writer, so a relaxed
     * load and store, no locked instruction. */
    uint64_t turns = atomic_load_explicit(&w->turns, MO_RELAXED) + 1;
    atomic_store_explicit(&w->turns, turns, MO_RELAXED);
    tide__runq_backlog_turn(w, turns);
    return resume(w, t);
}

/* A task that switched away to park is off its stack now: close the park (RUNNING ->
 * WAITING). True: parked, from here on a waker owns it and the caller must not touch it.
 * False: it was woken before it got off the CPU (NOTIFIED), or parked with no wait open;
 * it is still the caller's (no waker writes its state now), and *cur holds its state word
 * for the caller to run or queue it. Both park paths share it (run_task after a switch
 * through the scheduler, park_done after a direct one); what they do with a woken task
 * differs. Inlined: the CAS is the park's hot step. */
static inline __attribute__((always_inline)) bool complete_park(tide__task_t *t,
                                                                uint64_t *cur) {
    *cur = atomic_load_explicit(&t->state, MO_ACQUIRE);
    return ST_STATE(*cur) == TASK_RUNNING &&
           atomic_compare_exchange_strong_explicit(&t->state, cur,
                                                   ST_MAKE(ST_SEQ(*cur), 0, TASK_WAITING),
                                                   MO_ACQ_REL, MO_ACQUIRE);
}

/* switch_done's halves. The task that ran before this one on this worker switched straight
 * to it; its context is saved now, so it may be queued (and stolen), or its park completed
 * (and a waker may resume it elsewhere). A yield: */
static TIDE_NOINLINE void yield_done(tide__worker_t *w) {
    tide__task_t *y = w->prev;
    w->prev = NULL;
    check_stack(y);
    tide__shake_point(SHAKE_SWITCHED_BACK); /* off its stack, not yet queued */
    mark_runnable(y);
    /* A yield forced by the budget stays coupled (runq.h). Otherwise tide__runq_push's rule
     * counts the task about to run, which is in the deque when a yield goes through the
     * scheduler; here it runs already, so one queued task is one too many to hold while
     * another worker sleeps. */
    if (w->prev_reason == SWITCH_YIELD_BUDGET) tide__runq_push_quiet(w, y);
    else tide__runq_push_behind(w, y, true);
}

/* run_task's SWITCH_PARK step, on this side of a direct switch. */
static TIDE_NOINLINE void park_done(tide__worker_t *w) {
    tide__task_t *y = w->prev;
    w->prev = NULL;
    check_stack(y);
    tide__shake_point(SHAKE_SWITCHED_BACK); /* off its stack, its wait still open */
    uint64_t cur;
    if (complete_park(y, &cur)) return;
    /* Woken meanwhile: queue it, as a yield is. */
    atomic_store_explicit(&y->state, ST_MAKE(ST_SEQ(cur), ST_REASON(cur), TASK_RUNNABLE),
                          MO_RELEASE);
    tide__runq_push_behind(w, y, true);
}

/* Called first thing wherever a task resumes (back from tide__ctx_switch in switch_out, or
 * at the start of a new task). Two calls, not one with a test inside: the park's registers
 * cost a yield ~6 instructions in a frame they share. */
static inline void switch_done(tide__worker_t *w) {
    if (TIDE_UNLIKELY(w->prev != NULL)) {
        if (w->prev_reason == SWITCH_PARK) park_done(w);
        else yield_done(w);
    }
}

static void run_task(tide__worker_t *w, tide__task_t *t) {
    tide_runtime_t *rt = w->rt;
    if (w->searching) tide__idle_from_searching(w);
    if (!begin_run(w, t)) return;
again:
    /* Debug mode times each turn from here (switch_direct is off in debug mode). */
    if (TIDE_UNLIKELY(rt->cfg.debug)) w->run_started = tide__now();
    tide__fiber_leave(&w->sched_fiber, TIDE__TASK_FIBER(t), 0);
    tide__ctx_switch(&w->sched_ctx, &t->ctx);
    tide__fiber_arrive(&w->sched_fiber);

    /* The task back here may be another than the one switched to: a task that yields hands
     * the worker straight to the next one, and so may one that parks (switch_direct). It ran
     * on this worker all along. */
    t = w->current;
    w->current = NULL;
    if (TIDE_UNLIKELY(rt->cfg.debug)) {
        int64_t ran = tide__now() - w->run_started;
        if (ran >= rt->cfg.slow_task_ns) tide__debug_slow(t, ran);
    }
    check_stack(t);

    tide__shake_point(SHAKE_SWITCHED_BACK);
    switch (w->switch_reason) {
    case SWITCH_PARK: {
        uint64_t cur;
        if (complete_park(t, &cur)) return; /* do not touch t */
        /* Woken meanwhile: resume it now, unless its budget is spent. */
        if (w->budget > 0) {
            if (!resume(w, t)) return;
            goto again;
        }
        atomic_store_explicit(&t->state, ST_MAKE(ST_SEQ(cur), ST_REASON(cur), TASK_RUNNABLE),
                              MO_RELEASE);
        tide__runq_push(w, t);
        return;
    }
    case SWITCH_YIELD:
    case SWITCH_YIELD_BUDGET: {
        mark_runnable(t);
        /* A yield lets others run first, including work waiting in the global queues: with
         * the local deque empty the yielder would otherwise run again at once, and tasks
         * woken from outside would wait for the 61st pick. */
        if (!atomic_load_explicit(&w->lifo, MO_RELAXED) && tide__deque_len(&w->deque) == 0 &&
            (tide__inject_len(&w->rt->inject) > 0 || tide__spill_len(&w->rt->spill) > 0)) {
            tide__task_t *first = tide__runq_pop_global(w);
            if (first) tide__runq_push(w, first);
        }
        if (w->switch_reason == SWITCH_YIELD_BUDGET) tide__runq_push_quiet(w, t); /* coupled */
        else tide__runq_push(w, t);
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

static void yield_out(tide__task_t *t, int reason);

void tide_budget_tick(void) {
    tide__worker_t *w = tls_worker; /* a leaf until the yield: no switch can intervene */
    if (!w || !w->current) return;
    if (w->budget > 1) {
        w->budget--;
        return;
    }
    w->budget = 0;
    tide__count(w->c.budget_yields, 1);
    /* The task runs a stream of operations that do not block (a channel with room, a free
     * lock, a ready socket): its partners are likely the tasks queued here, so the yield is
     * a quiet one (runq.h). */
    yield_out(w->current, SWITCH_YIELD_BUDGET);
}

/* The local part of a pick: the LIFO slot (within its streak), then the deque. */
static inline tide__task_t *next_local(tide__worker_t *w) {
    if (atomic_load_explicit(&w->lifo, MO_RELAXED)) {
        tide__shake_point(SHAKE_LIFO);
        tide__task_t *t = tide__lifo_take(w); /* NULL: a stall watcher took it (park.c) */
        if (TIDE_UNLIKELY(!t)) goto deque;
        if (w->lifo_streak < MAX_LIFO_STREAK) {
            w->lifo_streak++;
            tide__count(w->c.lifo_runs, 1);
            return t;
        }
        /* Streak over: the LIFO task queues behind the others like anyone else. */
        tide__runq_push(w, t);
    }
deque:
    w->lifo_streak = 0;
    return tide__runq_pop_local(w);
}

/* A yield or a park done on the task's own stack: pick the next task and switch straight to
 * it, one context switch instead of two (task -> scheduler -> task). The task switched from
 * must not be queued, or marked parked, before its context is saved (another worker could
 * resume it first), so the task switched to does that (w->prev, switch_done). Only the plain
 * pick goes this way; one with periodic work due (timers, the global queue, readiness), with
 * nothing local, or in debug mode (its timing is per run) goes through the scheduler, whose
 * stack is the thread's own (a task's may be small) and whose loop does the rest. Shake mode
 * takes this path too: its pauses are small calls. False: it did not switch. */
static inline bool switch_direct(tide__worker_t *w, tide__task_t *t, int reason) {
    tide_runtime_t *rt = w->rt;
    uint32_t tick = w->tick + 1;
    if (tick % GLOBAL_QUEUE_INTERVAL == 0 ||
        (atomic_load_explicit(&w->wheel.count, MO_RELAXED) && tick % TIMER_POLL_INTERVAL == 0) ||
        TIDE_UNLIKELY(rt->cfg.debug) || atomic_load_explicit(&rt->stop, MO_RELAXED))
        return false;
    if (!atomic_load_explicit(&w->lifo, MO_RELAXED) && tide__deque_len(&w->deque) == 0)
        return false;
    w->tick = tick;
    w->current = NULL; /* a wake from here on (a LIFO streak's end) is not t's */
    tide__task_t *u = next_local(w);
    if (!u) { /* stolen meanwhile */
        w->current = t;
        return false;
    }
    if (!begin_run(w, u)) {
        w->current = t; /* u waits for a stack (stack_retry): go through the scheduler */
        return false;
    }
    w->prev = t;
    w->prev_reason = reason;
    tide__fiber_leave(TIDE__TASK_FIBER(t), TIDE__TASK_FIBER(u), 0);
    tide__ctx_switch(&t->ctx, &u->ctx);
    tide__fiber_arrive(TIDE__TASK_FIBER(t));
    return true;
}

static inline void switch_to_scheduler(tide__worker_t *w, tide__task_t *t, int reason) {
    w->switch_reason = reason;
    tide__fiber_leave(TIDE__TASK_FIBER(t), &w->sched_fiber, 0);
    tide__ctx_switch(&t->ctx, &w->sched_ctx);
    tide__fiber_arrive(TIDE__TASK_FIBER(t));
}

/* tide__switch_out's two halves, each out of line so that neither pays for the registers
 * the other needs. A yield: SWITCH_YIELD, or SWITCH_YIELD_BUDGET (tide_budget_tick). */
static TIDE_NOINLINE void yield_out(tide__task_t *t, int reason) {
    tide__worker_t *w = t->worker;
    t->saved_errno = *w->errno_ptr;
    if (!switch_direct(w, t, reason)) switch_to_scheduler(w, t, reason);
    switch_done(t->worker);
    /* t->worker is reloaded after the switch (the asm clobbers memory): we may have moved, and
     * each worker knows its own thread's errno, so no TLS lookup can be stale here. */
    *t->worker->errno_ptr = t->saved_errno;
}

/* A park: straight to the next local task, unless t was woken already (NOTIFIED: the
 * scheduler resumes it at once) or opened no wait. */
static TIDE_NOINLINE void park_out(tide__task_t *t) {
    tide__worker_t *w = t->worker;
    t->saved_errno = *w->errno_ptr;
    if (ST_STATE(atomic_load_explicit(&t->state, MO_RELAXED)) != TASK_RUNNING ||
        !switch_direct(w, t, SWITCH_PARK))
        switch_to_scheduler(w, t, SWITCH_PARK);
    switch_done(t->worker);
    *t->worker->errno_ptr = t->saved_errno;
}

/* Called on a task's stack: go back to the worker for `reason` (SWITCH_YIELD or
 * SWITCH_PARK). Returns when resumed, possibly on another worker. */
void tide__switch_out(tide__task_t *t, int reason) {
    if (reason == SWITCH_YIELD) yield_out(t, SWITCH_YIELD);
    else park_out(t);
}

static tide__task_t *next_task(tide__worker_t *w) {
    w->tick++;
    if (atomic_load_explicit(&w->wheel.count, MO_RELAXED) && w->tick % TIMER_POLL_INTERVAL == 0)
        tide__poll_timers(w, false, NULL);
    if (w->tick % GLOBAL_QUEUE_INTERVAL == 0) {
        /* Fairness and I/O: every 61st pick, collect readiness and serve the global queue
         * before the local one, so neither waits behind a busy worker's own tasks. */
        tide__park_poll_io(w);
        tide__task_t *t = tide__runq_pop_global(w);
        if (t) return t;
    }
    tide__task_t *t = next_local(w);
    if (t) return t;
    return tide__runq_pop_global(w);
}

/* The idle search's spin, in rounds of SPIN_PAUSES pauses (a pause takes ~50 ns on this
 * project's machine, so the 64 it had made a round of ~3 us: the shortest spin was that, not
 * cfg.spin_ns / 16), looking at the global queue and the other deques every round and
 * collecting readiness every SPIN_POLL_ROUNDS rounds (~25 us, at most once in the longest
 * spin: a poll is a system call). */
#define SPIN_PAUSES 8
#define SPIN_POLL_ROUNDS 64
/* A worker whose spins keep finding nothing stops spinning (w->spin_ns 0), and then spins
 * one search in SPIN_PROBE at the shortest length, to notice when spinning pays again. A
 * compromise: in http_hello the probes cost ~40 ns a request at 1 in 4 (~12 at 1 in 16), and
 * rarer probes bring the spin back later when message passing needs it. */
#define SPIN_PROBE 4

/* The spin paid off or did not: spin longer or shorter next time, down to not at all. Only
 * work found in the queues counts: readiness its own poll collected would have reached a
 * worker asleep in the poll without the spin (the poll is free whenever this worker can take
 * it), so a server's spin, which finds nothing else, dies down, while message passing
 * between tasks on different workers keeps it. Measured (docs/benchmarks.md, "HTTP: the
 * idle spin and task placement"): in http_hello every spin found nothing, costing ~0.2 us
 * a request. */
static void spin_paid(tide__worker_t *w, bool paid) {
    int64_t max = w->rt->cfg.spin_ns, min = max / 16;
    if (paid) w->spin_ns = w->spin_ns < min ? min : w->spin_ns * 2 > max ? max : w->spin_ns * 2;
    else w->spin_ns = w->spin_ns / 2 >= min ? w->spin_ns / 2 : 0;
}

/* How long this search spins: w->spin_ns, or a probe's shortest spin when that is 0. */
static int64_t spin_length(tide__worker_t *w) {
    int64_t max = w->rt->cfg.spin_ns;
    if (max <= 0) return 0;
    if (w->spin_ns > 0) return w->spin_ns;
    return tide__worker_rng(w) % SPIN_PROBE == 0 ? max / 16 : 0;
}

/* Nothing local: look elsewhere (bounded number of searchers), spinning a little before
 * sleeping because a cross-CPU wake costs tens of microseconds here. */
static tide__task_t *search(tide__worker_t *w) {
    tide_runtime_t *rt = w->rt;
    if (tide__poll_timers(w, true, NULL)) return next_task(w);
    if (!tide__idle_to_searching(w)) return NULL;
    int64_t spin = spin_length(w);
    int64_t spin_until = spin ? tide__now() + spin : 0;
    for (unsigned round = 0;; round++) {
        tide__task_t *t = tide__runq_pop_global(w);
        if (!t) t = tide__runq_steal(w);
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
        for (int i = 0; i < SPIN_PAUSES; i++) tide__cpu_relax();
        if (round % SPIN_POLL_ROUNDS == SPIN_POLL_ROUNDS - 1 &&
            (tide__poll_timers(w, true, NULL) + tide__park_poll_io(w)) > 0) {
            spin_paid(w, false);
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
        tide__worker_park(w);
    }
    tide__task_t *left = tide__lifo_take(w);
    if (left) {
        /* Cannot happen once every task has ended; keep it visible if it ever does. */
        tide__runq_push(w, left);
    }
    tide__stack_cache_flush(&rt->stacks, &w->stacks);
    tide__task_cache_flush(&rt->tasks, &w->tasks);
    tide__overflow_thread_fini(w);
    tide__ctx_thread_fini(&w->sched_ctx);
    tls_worker = NULL;
    return NULL;
}
