/* tide — the runtime core: runtimes, tasks, time, deadlines, cancellation, shields.
 * Wakers and task watchers, for building primitives of your own, are in tide/waker.h.
 *
 * Conventions (see docs/api.md):
 *   - every function returns 0 (or a count) on success and a negative errno on failure;
 *     tide_strerror() names it;
 *   - a task is `int fn(void *arg)`; its return value is its status (0 or a negative errno);
 *   - time is int64_t nanoseconds on the monotonic clock (tide_now()); durations are named
 *     *_ns, absolute times `deadline`;
 *   - non-blocking variants are tide_X_try_VERB and return -EAGAIN when they would wait;
 *   - *_free returns void (NULL: no-op); a release that can fail is *_close or *_destroy;
 *   - fields of public structs whose names end in '_' are private;
 *   - every blocking call honours the caller's deadline scope (-ETIMEDOUT) and cancellation
 *     (-ECANCELED), and works from a task; most also work from a plain thread (it blocks).
 */
#ifndef TIDE_CORE_H
#define TIDE_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIDE_VERSION_MAJOR 0
#define TIDE_VERSION_MINOR 1
#define TIDE_VERSION_PATCH 0

/* ---- time ------------------------------------------------------------------------------ */

#define TIDE_NSEC(n) ((int64_t)(n))
#define TIDE_USEC(n) ((int64_t)(n) * 1000)
#define TIDE_MSEC(n) ((int64_t)(n) * 1000000)
#define TIDE_SEC(n) ((int64_t)(n) * 1000000000)
/* "No deadline": later than any time tide_now() will return. */
#define TIDE_FOREVER INT64_MAX

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC). Callable from any thread. */
int64_t tide_now(void);

/* ---- errors ---------------------------------------------------------------------------- */

/* Human-readable text for a negative errno returned by tide (or a positive errno). */
const char *tide_strerror(int err);

/* ---- runtime --------------------------------------------------------------------------- */

typedef struct tide_runtime tide_runtime_t;

/* Default stack size of a task: virtual memory only; the pages a task touches are what it costs. */
#define TIDE_STACK_DEFAULT ((size_t)256 * 1024)
/* Smallest stack a task can run on (smaller requests get -EINVAL). */
#define TIDE_STACK_MIN ((size_t)16 * 1024)

typedef struct tide_config {
    unsigned workers;        /* worker threads; 0: $TIDE_WORKERS, else the number of CPUs */
    size_t stack_size;       /* default task stack size; 0: TIDE_STACK_DEFAULT */
    size_t stack_cache;      /* stacks each worker keeps for reuse; 0: 64 */
    int64_t stack_decay_ns;  /* a freed stack unused this long gives its memory back; 0: 10 s */
    int64_t spin_ns;         /* how long an idle worker looks for work before it sleeps; 0: 20 µs,
                                negative: never spin */
    unsigned budget;         /* operations a task may complete before it is made to yield; 0: 128 */
    int debug;               /* debug mode: slow-task and unjoined-failure reports; also
                                enabled by $TIDE_DEBUG=1 */
    int64_t slow_task_ns;    /* debug mode: report a task running this long without yielding;
                                0: 100 ms */
    int log_level;           /* TIDE_LOG_WARN/INFO/DEBUG; 0: $TIDE_LOG (warn|info|debug), else
                                off; negative: off. Debug mode raises it to at least warn */
    void (*log_fn)(void *arg, int level, const char *line); /* where log lines go (one call
                                per line, from any thread, no trailing newline); NULL: stderr */
    void *log_arg;           /* for log_fn */
    int dump_signal;         /* a signal (e.g. SIGQUIT) that writes a task dump of every runtime
                                asking for it to stderr; 0: $TIDE_DUMP_SIGNAL (name or number),
                                else none; negative: none */
} tide_config_t;

/* Log levels (tide_config_t.log_level): each includes the ones before it. */
enum { TIDE_LOG_WARN = 1, TIDE_LOG_INFO = 2, TIDE_LOG_DEBUG = 3 };

/* Fill a config with defaults (all zero means "default", so this is memset plus clarity). */
void tide_config_init(tide_config_t *cfg);

/* Start a runtime: its worker threads and (on first I/O use) its I/O driver thread.
 * -EINVAL: bad config (stack_size below TIDE_STACK_MIN, a dump_signal that cannot be caught or
 * is a fault signal); -ENOMEM; -EAGAIN: thread creation. */
int tide_runtime_new(tide_runtime_t **out, const tide_config_t *cfg);

/* Run fn(arg) as a task of rt and wait for it, from a thread that is not one of rt's workers.
 * Returns the task's status, or a negative errno of its own: -EINVAL (NULL fn),
 * -ESHUTDOWN (runtime shutting down, also when another thread frees it meanwhile: that
 * tide_runtime_close waits for this call to return), -EDEADLK (called from inside one of rt's
 * tasks), -ENOMEM (no memory for the task, its stack or the thread's wait record; fn has not
 * run and arg is still the caller's). */
int tide_runtime_block_on(tide_runtime_t *rt, int (*fn)(void *), void *arg);

/* Shut the runtime down: every task still alive is cancelled (its blocking calls return
 * -ECANCELED) and run until it returns, then threads are joined and all memory, stacks and
 * descriptors are released. A close, not a free (docs/api.md, Conventions): it can refuse.
 * 0, or -EINVAL (NULL rt), -EDEADLK (called from one of rt's own tasks: it would wait for
 * itself; nothing is done). A task that ignores cancellation keeps shutdown waiting; after
 * 5 s a task dump on stderr names it. In debug mode, the tasks still alive are reported (log,
 * warn level) before they are cancelled. Plain threads blocked in tide_join on rt's tasks (or
 * in tide_runtime_block_on) get the task's status or -ESHUTDOWN, and close returns only after
 * they have left; a call on rt that starts after close returned is the caller's bug. */
int tide_runtime_close(tide_runtime_t *rt);

/* asyncio.run: a runtime with default settings (or cfg), fn(arg) as its main task, then shutdown.
 * Returns the main task's status, or a negative errno from starting the runtime or block_on
 * (-ENOMEM: fn did not run). */
int tide_run(int (*fn)(void *), void *arg);
int tide_run_config(const tide_config_t *cfg, int (*fn)(void *), void *arg);

/* The runtime of the calling task, or NULL outside a task. */
tide_runtime_t *tide_runtime_current(void);

/* Number of worker threads of rt. */
unsigned tide_runtime_workers(const tide_runtime_t *rt);

/* ---- tasks ----------------------------------------------------------------------------- */

struct tide__task;

/* A task handle. Copyable, compared by value; stays valid until joined or detached, after
 * which using it is detected (-ESRCH) rather than undefined. The all-zero handle is "none". */
typedef struct tide_task {
    struct tide__task *ptr; /* the task record (type-stable memory, recycled) */
    uint64_t id;            /* the task's unique id; a recycled record has another */
} tide_task_t;

#define TIDE_TASK_NONE ((tide_task_t){0, 0})

typedef struct tide_spawn_opts {
    const char *name;  /* shown in task dumps and debug reports; copied (up to 31 bytes) */
    size_t stack_size; /* 0: the runtime's default; below TIDE_STACK_MIN: -EINVAL */
    int detached;      /* 1: nobody will join; the task's record is recycled when it ends */
} tide_spawn_opts_t;

/* Spawn fn(arg) as a new task on the calling task's runtime (asyncio.create_task).
 * out may be NULL only together with opts->detached. -EPERM outside a task, -EINVAL (NULL fn,
 * NULL out without detached, bad stack size), -ESHUTDOWN, -ENOMEM (no memory for the task's
 * record: the caller keeps arg). Once spawn returned 0 the task runs: its stack is mapped at
 * its first run, and if that fails it waits (retrying every few ms) until a stack can be had,
 * never ending unrun. The spawn site (file and line) is recorded for task dumps. */
#define tide_spawn(out, fn, arg) tide__spawn(NULL, (out), (fn), (arg), NULL, __FILE__, __LINE__)
#define tide_spawn_opts(out, fn, arg, opts) \
    tide__spawn(NULL, (out), (fn), (arg), (opts), __FILE__, __LINE__)
/* Spawn into rt from any thread, inside or outside the runtime (tokio's Handle::spawn). */
#define tide_runtime_spawn(rt, out, fn, arg, opts) \
    tide__spawn((rt), (out), (fn), (arg), (opts), __FILE__, __LINE__)

int tide__spawn(tide_runtime_t *rt, tide_task_t *out, int (*fn)(void *), void *arg,
                const tide_spawn_opts_t *opts, const char *file, int line);

/* Wait for t to finish; *status (if not NULL) receives its return value and the handle is
 * released. From a task or a plain thread. Errors leave the handle valid (join again later):
 * -ETIMEDOUT (caller's deadline), -ECANCELED (caller cancelled), -ENOMEM (a plain thread with
 * no memory for its wait record), -ESHUTDOWN (a plain thread, t's runtime is being freed and
 * t has not ended; tide_runtime_close waits until such joiners have left). Errors that are misuse:
 * -ESRCH (handle already joined or detached, or TIDE_TASK_NONE), -EDEADLK (a task joining
 * itself). */
int tide_join(tide_task_t t, int *status);

/* Task results (what create_task's awaited value is in asyncio): a task returns its status,
 * and may also hand back a pointer-sized value by calling tide_task_set_result before it
 * returns (the last call wins; a failed task may set one too). tide_join_result is tide_join
 * that also stores the value in *value (NULL if the task set none; value may be NULL).
 * Ownership of whatever the value points to passes to the joiner.
 *   set_result: 0; -EPERM outside a task (a plain thread has no result to give).
 *   join_result: as tide_join. */
int tide_task_set_result(void *value);
int tide_join_result(tide_task_t t, int *status, void **value);

/* Give up the handle: the task runs on and its record is recycled when it ends.
 * -ESRCH if already joined or detached. */
int tide_detach(tide_task_t t);

/* Ask t to stop: its current and future blocking calls return -ECANCELED (inside a shield,
 * after the shield ends). Cancelling a finished task is a no-op returning 0.
 * -ESRCH for a released handle. */
int tide_cancel(tide_task_t t);

/* 1 if t has finished (join will not block), 0 if not, -ESRCH for a released handle. */
int tide_task_done(tide_task_t t);

/* Peek at t's status without joining it: 1 and *status set if t has finished, 0 if it is
 * still running, -ESRCH for a released handle. The handle stays valid. */
int tide_task_status(tide_task_t t, int *status);

/* tide_task_status that also reads the task's result value (NULL if it set none). */
int tide_task_result(tide_task_t t, int *status, void **value);

/* The calling task's handle (not to be joined by itself), or TIDE_TASK_NONE outside a task. */
tide_task_t tide_task_self(void);

/* Unique id of t (also its number in task dumps); 0 for a released handle. */
uint64_t tide_task_id(tide_task_t t);

/* Give the worker to other runnable tasks; the caller runs again soon. -EPERM outside a task;
 * -ECANCELED if the task is cancelled. */
int tide_yield(void);

/* Nonzero if the calling task (or thread) has been cancelled. */
int tide_cancelled(void);

/* Shield the calling task (or thread) for cleanup that must block, like a final flush or
 * waiting for an operation to unwind: inside the shield, blocking calls ignore a pending
 * cancellation and the enclosing deadline scopes (scopes opened inside still apply). Shields
 * nest with each other and with deadline scopes, and are left in reverse order; the struct
 * holds the state to restore. A shield has its own type, so it cannot be ended as a deadline
 * scope (which would leave the task deaf to cancellation); an end that is not the innermost
 * open scope or shield is reported (log, warn level: debug mode shows it) and restores the
 * state the ended one saved. */
typedef struct tide_shield {
    int64_t saved_;   /* the enclosing deadline, restored by tide_shield_end */
    uint32_t depth_;  /* scopes and shields open, this one included (to check the nesting) */
    uint32_t shield_; /* the enclosing shield depth, restored by tide_shield_end */
} tide_shield_t;

void tide_shield_begin(tide_shield_t *shield);
void tide_shield_end(tide_shield_t *shield);

/* ---- time and deadlines ---------------------------------------------------------------- */

/* Sleep for duration_ns (never less). 0, or -ETIMEDOUT if the deadline scope ends first,
 * -ECANCELED. From a task or a plain thread. */
int tide_sleep(int64_t duration_ns);
/* Sleep until tide_now() >= deadline (absolute). */
int tide_sleep_until(int64_t deadline);

/* Deadline scopes (asyncio.timeout): every blocking call made inside the scope returns
 * -ETIMEDOUT once the deadline passes. tide_timeout_begin takes a duration (relative to now),
 * tide_deadline_begin an absolute time on the tide_now() clock. Scopes nest (the earliest
 * deadline wins) and must be left in reverse order. They work in tasks and in plain threads.
 * An end that is not the innermost open scope or shield (one was left open, or ended twice) is
 * reported (log, warn level: debug mode shows it) and restores the state the ended scope
 * saved; so is a task that returns with a scope still open. */
typedef struct tide_scope {
    int64_t saved_;         /* the enclosing deadline, restored by tide_scope_end */
    uint32_t depth_;        /* scopes and shields open, this one included (to check the nesting) */
    uint32_t shield_;       /* the shield depth at begin (restored if an inner shield was left open) */
    struct tide__task *task_; /* whose scope: the end needs no lookup of the caller */
} tide_scope_t;

void tide_timeout_begin(tide_scope_t *scope, int64_t timeout_ns);
void tide_deadline_begin(tide_scope_t *scope, int64_t deadline);
void tide_scope_end(tide_scope_t *scope);
/* tide_deadline_begin for a caller that names itself: self is tide_task_self() of the calling
 * task, taken once and kept (a server loop opens a scope per read and per write), which saves
 * looking the caller up, most of a scope's cost. Returns 1 if the scope's deadline is the one
 * in force (earlier than every enclosing one), else 0. self must be the caller (debug mode
 * checks it); TIDE_TASK_NONE (a plain thread) is looked up as tide_deadline_begin does. End
 * it with tide_scope_end. */
int tide_deadline_begin_self(tide_scope_t *scope, tide_task_t self, int64_t deadline);
/* The caller's current deadline (TIDE_FOREVER if none). */
int64_t tide_deadline(void);

/* Deadlines in one line: the value of the expression, evaluated inside a deadline scope that
 * opens before it and ends after it (ns or the deadline is evaluated first, once):
 *
 *     ssize_t n = TIDE_WITH_TIMEOUT(TIDE_MSEC(100), tide_tcp_read(c, buf, sizeof buf));
 *     int r = TIDE_WITH_DEADLINE(tide_now() + TIDE_SEC(1), tide_chan_recv(ch, &msg));
 *     TIDE_WITH_SHIELD(tide_tcp_write_all(c, bye, len, NULL));   // cleanup that must block
 *
 * Any blocking call works, and so does a void expression or a block of several statements
 * (`({ a(); b(); })`). The scope cannot stay open: it is a variable with GNU C's cleanup
 * attribute, so however the expression is left (even a return or goto out of a statement
 * expression inside it; longjmp skips it, as it skips every cleanup) the scope ends. They nest with each other and with explicit scopes
 * (the earliest deadline wins). GNU C (gcc, clang): statement expressions, so not defined
 * for other compilers; __extension__ keeps -pedantic quiet. There is deliberately no block
 * form (`TIDE_WITH_TIMEOUT(ns) { ... }`): a `break` or `continue` there would end the macro's
 * hidden loop, not the caller's. */
#if defined(__GNUC__)
#define TIDE_WITH_TIMEOUT(ns, ...) TIDE__WITH(tide_timeout_begin, ns, __COUNTER__, __VA_ARGS__)
#define TIDE_WITH_DEADLINE(deadline, ...) \
    TIDE__WITH(tide_deadline_begin, deadline, __COUNTER__, __VA_ARGS__)
#define TIDE_WITH_SHIELD(...) TIDE__WITH_SHIELD(__COUNTER__, __VA_ARGS__)
/* __COUNTER__ names each scope variable apart, so nested uses do not shadow each other. */
#define TIDE__WITH(begin, arg, n, ...) TIDE__WITH_(begin, arg, n, __VA_ARGS__)
#define TIDE__WITH_(begin, arg, n, ...)                                                      \
    __extension__({                                                                          \
        tide_scope_t tide__scope_##n __attribute__((cleanup(tide_scope_end)));               \
        begin(&tide__scope_##n, (arg));                                                      \
        __VA_ARGS__;                                                                         \
    })
#define TIDE__WITH_SHIELD(n, ...) TIDE__WITH_SHIELD_(n, __VA_ARGS__)
#define TIDE__WITH_SHIELD_(n, ...)                                                           \
    __extension__({                                                                          \
        tide_shield_t tide__shield_##n __attribute__((cleanup(tide_shield_end)));            \
        tide_shield_begin(&tide__shield_##n);                                                \
        __VA_ARGS__;                                                                         \
    })
#endif

/* The links of tide's intrusive lists (internal: the operations are tide's own, base/list.h),
 * here because public structs embed them (tide/sync.h, tide/waker.h). A zero-filled list is
 * empty. */
typedef struct tide__list_node {
    struct tide__list_node *next; /* toward the last node; the last node's next is the first */
    struct tide__list_node *prev; /* toward the first; NULL at the first */
} tide__list_node_t;
typedef struct tide__list {
    tide__list_node_t *last; /* NULL when empty; last->next is the first */
} tide__list_t;

/* ---- blocking pool --------------------------------------------------------------------- */

/* Run fn(arg) on the runtime's blocking-call pool (a bounded set of threads) and suspend the
 * calling task until it returns; returns fn's status. From a plain thread, runs fn inline.
 * -ETIMEDOUT/-ECANCELED end the wait early, but fn itself runs to completion (it cannot be
 * interrupted) before its memory is released; arg must stay valid until then, so the call
 * waits for fn when it must. */
int tide_spawn_blocking(int (*fn)(void *), void *arg);

/* ---- observability --------------------------------------------------------------------- */

typedef struct tide_worker_stats {
    uint64_t tasks_run;      /* times a task was switched to */
    uint64_t steals;         /* tasks taken from other workers */
    uint64_t steal_attempts; /* victims tried */
    uint64_t parks;          /* times the worker went to sleep */
    uint64_t global_pops;    /* tasks taken from the global inject queue */
    uint64_t lifo_runs;      /* tasks run from the LIFO slot */
    uint64_t overflows;      /* times the local deque spilled half to the global queue */
    uint64_t budget_yields;  /* forced yields of tasks that spent their budget */
    uint64_t timers_fired;   /* timers expired on this worker */
    int64_t queue_depth;     /* tasks in the local deque now */
    uint64_t stacks_cached;  /* stacks held for reuse */
} tide_worker_stats_t;

typedef struct tide_stats {
    unsigned workers;
    uint64_t tasks_spawned;
    uint64_t tasks_live;      /* spawned and not yet released */
    uint64_t stacks_live;     /* stacks owned by tasks now */
    uint64_t stacks_mapped;   /* stacks mapped (live + cached) */
    uint64_t stacks_guarded;  /* of those, protected by a guard page (the rest: canary) */
    int64_t global_depth;     /* tasks in the global inject queue */
    uint64_t blocking_threads;
} tide_stats_t;

/* Snapshot of rt's counters; per_worker may be NULL, else has room for nworkers entries. */
int tide_runtime_stats(tide_runtime_t *rt, tide_stats_t *stats, tide_worker_stats_t *per_worker,
                       unsigned nworkers);

/* Write a dump of rt's live tasks (id, name, state, worker, what it waits on, spawn site) to fd.
 * Safe to call from any thread while the runtime runs; not from a signal handler (it locks and
 * prints): for a dump on a signal, set cfg.dump_signal (see docs/debugging.md). */
int tide_runtime_dump(tide_runtime_t *rt, int fd);

/* Name the calling task (shown in dumps); copied up to 31 bytes. */
void tide_task_set_name(const char *name);

/* ---- the allocation fault hook (for tests; documented in docs/api.md) ------------------
 * Makes tide's own allocations fail, so tests can prove that running out of memory is an
 * error everywhere (-ENOMEM), never a crash, a hang or a leak. Every allocation tide makes
 * counts: its heap (records, channels, buffers), task stack mappings, the I/O driver's state
 * and the wait records of plain threads (memory libuv, libcurl or OpenSSL allocate for
 * themselves does not). Process-wide, all runtimes and threads together.
 *   TIDE_FAIL_OFF    no faults (the default; nth is ignored)
 *   TIDE_FAIL_NTH    the nth allocation from now fails, the others succeed
 *   TIDE_FAIL_FROM   the nth allocation from now and every later one fail
 *   TIDE_FAIL_COUNT  none fails, allocations are counted (to size a sweep over a workload)
 * Setting a mode restarts the count. Returns how many allocations were counted since the
 * previous call, or -EINVAL (unknown mode, nth < 1 for NTH/FROM). */
enum { TIDE_FAIL_OFF = 0, TIDE_FAIL_NTH = 1, TIDE_FAIL_FROM = 2, TIDE_FAIL_COUNT = 3 };
int64_t tide_test_fail_alloc(int64_t nth, int mode);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_CORE_H */
