/* The run queues (runq.c): push, pop, spill and steal. Internal to runtime/.
 * The two that run on every task switch are inline here; the rest live in runq.c. */
#ifndef TIDE_RUNTIME_RUNQ_H
#define TIDE_RUNTIME_RUNQ_H

#include "scheduler.h"

/* The deque is full: move its older half and `extra` to the spill queue in one chunk. */
void tide__runq_spill(tide__worker_t *w, tide__task_t *extra);
/* Pop a batch from the global queues: the first task to run, the rest queued locally. */
tide__task_t *tide__runq_pop_global(tide__worker_t *w);
/* Steal about half of a random victim's deque; one task to run, or NULL. */
tide__task_t *tide__runq_steal(tide__worker_t *w);
/* Is there work in any queue (global, or any worker's deque)? */
bool tide__runq_work_visible(tide_runtime_t *rt);

/* Queue t locally. `running`: a task already runs here ahead of the queue (t yielded straight
 * to it), so t alone is one too many to hold while another worker sleeps; else the next task
 * to run is still in the deque or the LIFO slot, and is not counted as waiting. */
static inline void tide__runq_push_behind(tide__worker_t *w, tide__task_t *t, bool running) {
    if (TIDE_UNLIKELY(!tide__deque_push(&w->deque, t))) tide__runq_spill(w, t);
    /* Wake a sleeping worker only if this one has more than it is about to run itself (tokio's
     * rule): a lone task will be run here soon, and a searching worker finds the rest. */
    if (!w->searching && (running || tide__deque_len(&w->deque) +
                                       (atomic_load_explicit(&w->lifo, MO_RELAXED) != NULL) > 1))
        tide__notify_work(w->rt);
}

static inline void tide__runq_push(tide__worker_t *w, tide__task_t *t) {
    tide__runq_push_behind(w, t, false);
}

/* Quiet work: queued without waking a sleeper, because it is coupled to the task running
 * here (below) or was found by this worker's own poll (park.c, the harvest rule). Such work is
 * shared only once it backs up: the first quiet push that leaves more than the next task to run
 * opens a backlog window (a clock read, once per window); turns that begin while it is open
 * look at it (tide__runq_backlog_check). */
static inline void tide__runq_backlog_mark(tide__worker_t *w) {
    if (w->backlog_at) return;
    if (tide__deque_len(&w->deque) + (atomic_load_explicit(&w->lifo, MO_RELAXED) != NULL) < 2)
        return;
    w->backlog_at = tide__now();
    w->backlog_turns = atomic_load_explicit(&w->turns, MO_RELAXED);
}

/* A look at an open backlog window, due on some turns (below): announce the backlog (one
 * notify) if the tasks queued here would wait longer than TIDE_BACKLOG_NS at the rate this
 * worker gets through them; close the window once the deque drained. */
void tide__runq_backlog_check(tide__worker_t *w);

/* A turn begins (`turns` is its number). While a window is open the look is due on the
 * window's turns 1, 2, 4, 8, 16 and then every 16th: soon enough for long turns (the second
 * turn of a batch of 1 ms jobs announces it), rarely enough for a stream of sub-microsecond
 * ones, which pay a subtraction and a test per turn and a clock read per 16. */
static inline void tide__runq_backlog_turn(tide__worker_t *w, uint64_t turns) {
    if (TIDE_LIKELY(!w->backlog_at)) return;
    uint64_t t = turns - w->backlog_turns;
    if ((t & 15) == 0 || (t < 16 && (t & (t - 1)) == 0)) tide__runq_backlog_check(w);
}

/* Queue t locally and wake nobody: the quiet push, one path for all quiet work. t is coupled
 * to the task running here (spawned by it, woken by it and pushed out of the LIFO slot, or the
 * task itself, its budget spent in a stream of operations that did not block), so it runs
 * fastest on this worker: a sleeper woken to steal it would run the two halves of one
 * conversation on two CPUs, every message and lock word crossing between them
 * (docs/benchmarks.md, "coupled tasks stay together"); or t was woken by this worker's own poll
 * (w->quiet: park.c, the harvest rule). What spreads such work instead: the backlog rule above
 * (many short tasks spawned at once, say, wait longer than the bound and get announced); a
 * worker that is awake and searching steals it as before; the stall watch (park.c) takes it
 * when this worker begins no turn for a tick (a task computing without yielding); a voluntary
 * tide_yield, a task's end waking its joiner, timers and I/O readiness outside a harvest still
 * wake a sleeper by tide__runq_push's rule. A searching worker opens no window: it announces
 * what it found as it stops searching (idle.c). */
static inline void tide__runq_push_quiet(tide__worker_t *w, tide__task_t *t) {
    if (TIDE_UNLIKELY(!tide__deque_push(&w->deque, t))) tide__runq_spill(w, t);
    if (!w->searching) tide__runq_backlog_mark(w);
}

/* The LIFO slot, stealable at no locked instruction on its owner's side. Only the owner
 * fills the slot; a stall watcher (park.c) may empty it when the owner began no turn for a
 * tick. An empty slot is filled with a plain store: the watcher can only write NULL over NULL
 * meanwhile. Reading and emptying (or replacing) a full one is the owner's critical section,
 * kept apart from the watcher's exchange by an asymmetric Dekker handshake: the owner stores
 * lifo_taking and then loads lifo_thief (no fence: a fence costs what an exchange does); the
 * watcher stores lifo_thief, then has every running thread of the process execute a full
 * barrier (membarrier(2), park.c lifo_steal), then loads lifo_taking. Wherever the barrier
 * falls in the owner's section, either the owner sees the thief and waits for it (a few
 * microseconds, and only when its slot looked stalled), or the watcher sees the owner at work
 * and takes nothing, or the owner's section is over and visible, its NULL with it. */
void tide__lifo_wait_thief(tide__worker_t *w);

static inline void tide__lifo_enter(tide__worker_t *w) {
    atomic_store_explicit(&w->lifo_taking, 1, MO_RELAXED);
    atomic_signal_fence(MO_SEQ_CST); /* the store before the load, in program order */
    /* Acquire (free on x86): the slot is read after the thief is seen gone, on any CPU. */
    if (TIDE_UNLIKELY(atomic_load_explicit(&w->lifo_thief, MO_ACQUIRE))) tide__lifo_wait_thief(w);
}

static inline void tide__lifo_leave(tide__worker_t *w) {
    /* Release: a watcher that reads 0 here sees the slot as this section left it. */
    atomic_store_explicit(&w->lifo_taking, 0, MO_RELEASE);
}

/* Take the slot's task (NULL if empty, or taken by a watcher). */
static inline tide__task_t *tide__lifo_take(tide__worker_t *w) {
    tide__lifo_enter(w);
    tide__task_t *t = atomic_load_explicit(&w->lifo, MO_RELAXED);
    atomic_store_explicit(&w->lifo, NULL, MO_RELAXED);
    tide__lifo_leave(w);
    return t;
}

/* Put t in the slot; returns the task it displaced (NULL if none). Release: a watcher that
 * takes t sees it whole. */
static inline tide__task_t *tide__lifo_put(tide__worker_t *w, tide__task_t *t) {
    if (TIDE_LIKELY(!atomic_load_explicit(&w->lifo, MO_RELAXED))) {
        atomic_store_explicit(&w->lifo, t, MO_RELEASE);
        return NULL;
    }
    tide__lifo_enter(w);
    tide__task_t *prev = atomic_load_explicit(&w->lifo, MO_RELAXED);
    atomic_store_explicit(&w->lifo, t, MO_RELEASE);
    tide__lifo_leave(w);
    return prev;
}

static inline tide__task_t *tide__runq_pop_local(tide__worker_t *w) {
    for (;;) {
        void *x = tide__deque_pop_own(&w->deque); /* oldest first: the owner reads FIFO */
        if (x != TIDE_DEQUE_ABORT) return x;
    }
}

#endif
