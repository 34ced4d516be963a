/* The scheduler's shared structures: the runtime, its workers, and the idle coordinator.
 * Internal to runtime/ (sync/ and io/ use the public headers, tide/waker.h among them,
 * internal/tide/ext.h and base/ only; the build keeps runtime/ off their include path, see
 * CMakeLists.txt). */
#ifndef TIDE_RUNTIME_SCHEDULER_H
#define TIDE_RUNTIME_SCHEDULER_H

#include <pthread.h>

#include "tide/core.h"
#include "tide/ext.h"

#include "ctx.h"
#include "deque.h"
#include "inject.h"
#include "parkec.h"
#include "platform.h"
#include "shake.h"
#include "spill.h"
#include "stack.h"
#include "task.h"
#include "task_alloc.h"
#include "timer.h"

/* Why a task switched back to its worker. */
enum { SWITCH_PARK = 1, SWITCH_YIELD = 2, SWITCH_EXIT = 3,
       SWITCH_YIELD_BUDGET = 4 /* a yield forced by the budget: requeued quietly (runq.h) */ };

/* Counters written by the owning worker only (tide__count), read by tide_runtime_stats. */
typedef struct tide__worker_counters {
    _Atomic uint64_t tasks_run, steals, steal_attempts, parks, global_pops, lifo_runs,
        overflows, budget_yields, timers_fired;
} tide__worker_counters_t;

typedef struct tide__worker {
    TIDE_ALIGNED tide__deque_t deque;  /* local run queue (stealable) */
    tide_runtime_t *rt;
    unsigned index;
    pthread_t thread;
    _Atomic(tide__task_t *) lifo; /* task woken by the running task: runs next. Filled by
                                     the owner only; emptied by the owner, or by the stall
                                     watcher when the owner began no turn for a tick (the
                                     protocol: runq.h, tide__lifo_take) */
    _Atomic uint32_t lifo_taking; /* the owner reads and writes the slot now (owner only) */
    _Atomic uint32_t lifo_thief;  /* a watcher is taking the slot now (watchers only) */
    unsigned lifo_streak;        /* LIFO runs in a row (capped, for fairness) */
    uint32_t tick;               /* scheduler iterations (global-queue fairness) */
    _Atomic uint64_t turns;      /* turns begun (begin_run, owner only): the stall watch's
                                    sign of progress, kept even where statistics are not */
    uint32_t rng;                /* xorshift state for victim choice */
    bool searching;              /* counted in idle.searching */
    int64_t spin_ns;             /* how long the idle search spins now: halved by each spin
                                    that found nothing, doubled by each that found work,
                                    cfg.spin_ns / 16 to cfg.spin_ns, or 0: off (worker.c) */
    tide__task_t *current;       /* running task, NULL in the scheduler */
    int switch_reason;           /* SWITCH_* set by the task before switching back */
    tide__task_t *prev;          /* a task that switched straight to the one now running (a
                                    yield or a park on its own stack): the latter finishes
                                    its switch once it is done (worker.c, switch_done) */
    int prev_reason;             /* SWITCH_*: why `prev` switched (a park or a yield) */
    unsigned budget;             /* operations left before a forced yield */
    bool quiet;                  /* a poll's harvest is under way: the tasks its readiness
                                    wakes are queued quietly (park.c, runq.h) */
    tide__ctx_t sched_ctx;       /* the scheduler's own context (the thread's stack) */
    tide__fiber_t sched_fiber;   /* sanitizer state of the scheduler context */
    void *altstack;              /* signal stack for the stack-overflow handler */
    tide__stack_cache_t stacks;  /* free stacks */
    tide__task_cache_t tasks;    /* free task records */
    tide__wheel_t wheel;         /* timers armed by tasks on this worker */
    TIDE_ALIGNED _Atomic uint32_t unpark; /* futex word: UNPARK_NOTIFY when told to wake (and
                                             counted as searching), UNPARK_POKE when a
                                             watcher is asked to watch again */
    tide__parkec_t unpark_ec;    /* counted after each store to `unpark`: what a futex sleeper
                                    sleeps on (parkec.h; zero-filled is a valid count) */
    _Atomic bool io_parked;      /* sleeping in the park hook's poll, not on the futex */
    _Atomic uint64_t watch_turns; /* `turns` at the stall watcher's last look (park.c) */
    int64_t backlog_at;          /* when quiet work (runq.h: coupled pushes, a poll harvest)
                                    left this worker more than its next task, announced to
                                    nobody yet (0: no backlog window open) */
    uint64_t backlog_turns;      /* `turns` when that window opened (the rate it is drained) */
    bool sleeping;               /* in idle.sleepers (under idle.lock) */
    int64_t run_started;         /* debug mode: when the running task was switched to */
    int *errno_ptr;              /* this thread's errno (its address never changes) */
    _Atomic uint64_t spawned;    /* tasks this worker spawned (single writer) */
    _Atomic uint64_t finished;   /* tasks that ended on this worker (single writer) */
    tide__worker_counters_t c;
} tide__worker_t;

/* Idle-worker coordination (tokio's scheme): at most half the workers search for work at
 * once; a parked worker is woken only when nobody is searching; the last searcher to find
 * work wakes another, so work is never left behind while workers sleep. */
typedef struct tide__idle {
    TIDE_ALIGNED _Atomic uint32_t state; /* searching (low 16 bits) | unparked (high 16) */
    pthread_mutex_t lock;                /* sleepers list */
    unsigned *sleepers;                  /* indices of parked workers (stack) */
    unsigned nsleepers;
    unsigned capacity;                   /* room in sleepers */
} tide__idle_t;

/* Bits of tide__worker_t.unpark. */
#define UNPARK_NOTIFY 1u
#define UNPARK_POKE 2u

#define IDLE_SEARCH_ONE 1u
#define IDLE_UNPARK_ONE (1u << 16)
#define IDLE_SEARCHING(s) ((s) & 0xffffu)
#define IDLE_UNPARKED(s) ((s) >> 16)

/* A spawn_blocking request waiting for or running on a pool thread. */
typedef struct tide__blocking_job {
    struct tide__blocking_job *next;
    int (*fn)(void *);
    void *arg;
    int status;
    _Atomic int done;
    tide_waker_t waker;
} tide__blocking_job_t;

typedef struct tide__blocking_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;          /* jobs arrived, or shutdown */
    pthread_cond_t exited;        /* a thread left */
    tide__blocking_job_t *head, *tail;
    unsigned threads;             /* alive */
    unsigned idle;                /* waiting for jobs */
    unsigned max_threads;
    bool stop;
} tide__blocking_pool_t;

#define TIDE_EXT_SLOTS 4

struct tide_runtime {
    tide_config_t cfg;
    uint64_t serial;              /* distinguishes runtimes in thread-local caches */
    unsigned nworkers;
    tide__worker_t **workers;
    tide__inject_t inject;        /* global queue: single tasks from outside the workers */
    tide__spill_t spill;          /* global queue: halves of full deques, as arrays */
    tide__idle_t idle;
    tide__stacks_t stacks;
    tide__task_pool_t tasks;
    tide__blocking_pool_t blocking;
    int64_t origin;               /* tide_now() at start: timer wheels' tick 0 */
    _Atomic int shutting_down;    /* no new spawns from outside tasks */
    _Atomic uint32_t thread_joiners; /* plain threads in tide_join on one of our tasks or in
                                        block_on: tide_runtime_close waits for them to leave */
    _Atomic int stop;             /* workers exit */
    _Atomic uint64_t remote_spawned;  /* tasks spawned from outside the workers */
    _Atomic uint64_t remote_finished; /* (tasks end on workers; kept for symmetry) */
    pthread_mutex_t ext_lock;     /* extension slots (io driver...) */
    _Atomic(void *) ext[TIDE_EXT_SLOTS]; /* read without the lock once set */
    void (*ext_free[TIDE_EXT_SLOTS])(void *);
    _Atomic int started;          /* workers started (for clean failure unwinding) */
    _Atomic(const tide__park_hook_t *) park_hook; /* I/O polled by parking workers, or NULL */
    _Atomic uint32_t io_owner;    /* low bit: a worker is inside the hook's poll; the rest
                                     counts the polls taken (a watcher sees a stall as no
                                     change across a tick) */
    _Atomic uint32_t io_watch;    /* WATCH_*: is a sleeping worker watching for a stalled
                                     poll (see futex_sleep in worker.c) */
    _Atomic unsigned io_watcher;  /* index of the worker in WATCH_DEEP */
    int park_efd;                 /* eventfd that wakes a worker sleeping in the hook */
};

/* The worker the calling thread is, or NULL. Not inlined: a task may move to another thread
 * across any blocking call, and a compiler must not cache the TLS address (GCC bug 26461). */
tide__worker_t *tide__worker_current(void);

/* The calling task, else the plain thread's stand-in (task.h). Inline around the one
 * non-inlined TLS read, so a lookup is one call, not two; the thread's half is waker.c's. */
tide__task_t *tide__self_thread(void);
static inline tide__task_t *tide__self(void) {
    tide__worker_t *w = tide__worker_current();
    if (TIDE_LIKELY(w && w->current)) return w->current;
    return tide__self_thread();
}

/* xorshift: victim choice and retry spreading. */
static inline uint32_t tide__worker_rng(tide__worker_t *w) {
    uint32_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return w->rng = x;
}

/* Idle transitions (idle.c). */
/* 0, or -ENOMEM (nothing to undo then). */
int tide__idle_init(tide__idle_t *idle, unsigned nworkers);
void tide__idle_destroy(tide__idle_t *idle);
/* Wake a parked worker if nobody is searching (after making work available). */
void tide__notify_work(tide_runtime_t *rt);
/* Start searching for work, unless half the workers already do (false). */
bool tide__idle_to_searching(tide__worker_t *w);
/* Found work while searching: stop; the last searcher wakes another if work remains. */
void tide__idle_from_searching(tide__worker_t *w);
/* Going to sleep (off the unparked count, onto the sleepers list), and back without a
 * notification. */
void tide__idle_sleep_begin(tide__worker_t *w);
void tide__idle_sleep_end(tide__worker_t *w);

/* Parking (park.c): sleep until notified, a timer is due, or shutdown. */
void tide__worker_park(tide__worker_t *w);
/* A busy or searching worker collects I/O readiness without blocking; events dispatched. */
int tide__park_poll_io(tide__worker_t *w);
/* Expire due timers of w's wheel (all: every worker's); *next_out: the earliest left. */
unsigned tide__poll_timers(tide__worker_t *w, bool all, int64_t *next_out);

/* Scheduler entry points used by runtime.c. */
void *tide__worker_main(void *arg);
void tide__push_remote(tide_runtime_t *rt, tide__task_t *t);
void tide__schedule_local(tide__worker_t *w, tide__task_t *t);
/* Give t its stack and make its first frame (first run, or spawn when stacks are short):
 * false when no stack could be had. cache: the calling worker's, or NULL. */
bool tide__give_stack(tide_runtime_t *rt, tide__stack_cache_t *cache, tide__task_t *t);
void tide__switch_out(tide__task_t *t, int reason);
/* Park until woken or `deadline` (or the scope's, if earlier); now: the current time if the
 * caller has just read it, else 0. */
int tide__park_until(tide__task_t *t, const char *what, int64_t deadline, int64_t now);
void tide__unpark_worker(tide__worker_t *w);
/* After setting w->unpark: if w sleeps in the park hook, kick it there too. */
void tide__kick_io_parked(tide__worker_t *w);
void tide__timer_fire(tide__timer_t *timer, uint64_t seq);

/* Tasks spawned and not yet ended (sum of per-worker counters: no shared hot counter). */
uint64_t tide__live_tasks(tide_runtime_t *rt);
uint64_t tide__spawned_tasks(tide_runtime_t *rt);

/* Task lifecycle (task.c). */
void tide__task_finish(tide__worker_t *w, tide__task_t *t);
void tide__cancel_task(tide__task_t *t);

/* Blocking pool (blocking.c). */
int tide__blocking_init(tide__blocking_pool_t *p);
void tide__blocking_shutdown(tide__blocking_pool_t *p);

/* Debug mode (debug.c). */
void tide__debug_slow(tide__task_t *t, int64_t ran_ns);
void tide__debug_unjoined(tide__task_t *t);
/* A deadline scope or shield ended (`fn`) out of order: it was opened at `depth`, but the
 * caller has t->scope_depth open; and a task that returned with scopes still open. */
void tide__debug_scope_mismatch(tide__task_t *t, const char *fn, uint32_t depth);
void tide__debug_scope_leak(tide__task_t *t);
/* Report the tasks still alive at shutdown, before they are cancelled. */
void tide__debug_alive(tide_runtime_t *rt);
/* Resolve the log level and the dump signal (config, else environment); -EINVAL: a signal a
 * dump cannot use. */
int tide__debug_resolve(tide_config_t *cfg);
/* Register a started runtime (debuggers, the log level, the dump signal), and unregister it. */
void tide__debug_runtime_start(tide_runtime_t *rt);
void tide__debug_runtime_stop(tide_runtime_t *rt);

#endif
