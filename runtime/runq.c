/* The run queues: a worker's own deque and LIFO slot, the global queues (the inject queue
 * for single tasks from outside, the spill queue for halves of full deques), and stealing.
 * Which queue a worker looks at when is the worker loop's policy (worker.c); the idle
 * bookkeeping a push may trigger is idle.c's. */
#include "runq.h"
#include "scheduler.h"

#define GLOBAL_BATCH 32
#define STEAL_MAX 64

/* The deque is full: move its older half and `extra` to the spill queue in one chunk. Only
 * pointers move: the tasks themselves are not touched. */
void tide__runq_spill(tide__worker_t *w, tide__task_t *extra) {
    tide__spill_chunk_t *c = tide__spill_chunk_get(&w->rt->spill);
    if (!c) {
        /* No memory for a chunk: the inject queue takes it without allocating. */
        tide__inject_push(&w->rt->inject, &extra->qnode);
        return;
    }
    for (int i = 0; i < TIDE_DEQUE_CAP / 2; i++) {
        void *x = tide__deque_pop_own(&w->deque);
        if (x == TIDE_DEQUE_ABORT) { i--; continue; }
        if (!x) break;
        c->tasks[c->count++] = x;
    }
    c->tasks[c->count++] = extra;
    tide__spill_push(&w->rt->spill, c);
    tide__count(w->c.overflows, 1);
}

/* A spawn by the running task: it stays here (runq.h, tide__runq_push_quiet). */
void tide__schedule_local(tide__worker_t *w, tide__task_t *t) {
    tide__runq_push_quiet(w, t);
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
            /* Woken by the running task: run it next on this worker. The task it pushes
             * out of the slot was woken by this worker's tasks too: it stays coupled. */
            tide__task_t *prev = tide__lifo_put(w, t);
            if (prev) tide__runq_push_quiet(w, prev);
            return;
        }
        /* Woken from the scheduler's own stack: by a timer, a task's end, or a poll, whose
         * harvest is quiet (w->quiet, park.c). */
        if (TIDE_UNLIKELY(w->quiet)) tide__runq_push_quiet(w, t);
        else tide__runq_push(w, t);
        return;
    }
    tide__push_remote(t->rt, t);
}

/* A watcher is taking w's LIFO slot while w wants it: let it finish (it never waits for
 * us, and holds the slot for one membarrier call). */
TIDE_NOINLINE void tide__lifo_wait_thief(tide__worker_t *w) {
    while (atomic_load_explicit(&w->lifo_thief, MO_ACQUIRE)) tide__cpu_relax();
}

/* The backlog rule (runq.h). Quiet work is announced when the tasks queued here would wait
 * longer than this at the rate this worker gets through them: under the stall watch's tick,
 * and long against a round of coupled tasks (tide-bench mutex: 100 tasks whose turns of 128
 * lock/unlock pairs take ~2.5 us make a ~250 us round), so a conversation stays on one
 * worker while a batch of short jobs (spawned at once, or harvested by a poll) is shared
 * within a millisecond or two. */
#define TIDE_BACKLOG_NS TIDE_MSEC(1)

void tide__runq_backlog_check(tide__worker_t *w) {
    int64_t queued = tide__deque_len(&w->deque);
    if (queued == 0) {
        w->backlog_at = 0; /* kept up: the window closes unannounced */
        return;
    }
    uint64_t turns = atomic_load_explicit(&w->turns, MO_RELAXED) - w->backlog_turns;
    int64_t now = tide__now(), open_ns = now - w->backlog_at;
    if (open_ns < TIDE_BACKLOG_NS) return;
    /* `turns` turns took open_ns: the last of `queued` tasks waits about queued * open_ns /
     * turns. Within the bound: a new window measures the rate from here. */
    if ((uint64_t)queued * (uint64_t)open_ns <= (uint64_t)TIDE_BACKLOG_NS * turns) {
        w->backlog_at = now;
        w->backlog_turns += turns;
        return;
    }
    w->backlog_at = 0;
    tide__notify_work(w->rt);
}

/* Pop a batch from the global queues (spilled chunks and the inject queue, alternately
 * first): run the first task, queue the rest locally. */
tide__task_t *tide__runq_pop_global(tide__worker_t *w) {
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
            if (TIDE_UNLIKELY(!tide__deque_push(&w->deque, batch[i]))) tide__runq_spill(w, batch[i]);
        }
        if (n > 1) tide__notify_work(rt);
        tide__count(w->c.global_pops, n);
        return batch[0];
    }
    return NULL;
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
        else if (!tide__deque_push(&w->deque, x)) tide__runq_spill(w, x);
    }
    tide__shake_point(SHAKE_STEAL_AFTER);
    if (got) tide__count(w->c.steals, got);
    return first;
}

tide__task_t *tide__runq_steal(tide__worker_t *w) {
    tide_runtime_t *rt = w->rt;
    unsigned n = rt->nworkers;
    unsigned start = n > 1 ? tide__worker_rng(w) % n : 0;
    for (unsigned i = 0; i < n; i++) {
        tide__worker_t *victim = rt->workers[(start + i) % n];
        if (victim == w) continue;
        tide__count(w->c.steal_attempts, 1);
        tide__task_t *t = steal_from(w, victim);
        if (t) return t;
    }
    return NULL;
}

bool tide__runq_work_visible(tide_runtime_t *rt) {
    if (tide__inject_len(&rt->inject) > 0 || tide__spill_len(&rt->spill) > 0) return true;
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (tide__deque_len(&rt->workers[i]->deque) > 0) return true;
    return false;
}
