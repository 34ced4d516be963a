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

static inline tide__task_t *tide__runq_pop_local(tide__worker_t *w) {
    for (;;) {
        void *x = tide__deque_pop_own(&w->deque); /* oldest first: the owner reads FIFO */
        if (x != TIDE_DEQUE_ABORT) return x;
    }
}

#endif
