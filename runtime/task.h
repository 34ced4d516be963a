/* The task record and its state word.
 *
 * A task's life: spawned RUNNABLE (no stack yet) -> RUNNING on a worker -> it parks (WAITING)
 * or yields (RUNNABLE) or ends (DONE). Wakers move WAITING -> RUNNABLE; a wake that arrives
 * while the task is still RUNNING (it has published its waker but not yet switched out) turns
 * it NOTIFIED, and the park returns at once. The state word also carries the wait's sequence
 * number, so a waker of an earlier wait is recognised as stale and ignored, and the reason the
 * wait ended (woken, timed out, cancelled).
 *
 * Records are type-stable: they are carved from slabs owned by the runtime and recycled, never
 * returned to malloc while the runtime lives. That is what makes a late wake (a waker kept by
 * a primitive after the wait ended) or a join on a released handle safe to detect instead of
 * a use-after-free. */
#ifndef TIDE_RUNTIME_TASK_H
#define TIDE_RUNTIME_TASK_H

#include "tide/core.h"
#include "tide/waker.h"

#include "ctx.h"
#include "inject.h"
#include "list.h"
#include "platform.h"
#include "stack.h"
#include "timer.h"

/* State word layout: [ seq : 56 | reason : 3 | state : 5 ]. */
enum {
    TASK_RUNNING = 0,  /* on a worker (or a plain thread) */
    TASK_WAITING = 1,  /* parked; a wake makes it runnable */
    TASK_NOTIFIED = 2, /* woken while still running: its park returns at once */
    TASK_RUNNABLE = 3, /* in a run queue */
    TASK_DONE = 4,     /* returned; wakes are no-ops */
    TASK_RESUMED = 5,  /* running, and its last wait has ended: wakes are no-ops until the
                          next tide_park_prepare opens a new wait */
};
enum {
    WAKE_NORMAL = 0,  /* tide_wake */
    WAKE_TIMEOUT = 1, /* the wait's timer fired */
    WAKE_CANCEL = 2,  /* tide_cancel */
};
#define ST_STATE(s) ((uint32_t)((s) & 0x1f))
#define ST_REASON(s) ((uint32_t)(((s) >> 5) & 0x7))
#define ST_SEQ(s) ((s) >> 8)
#define ST_MAKE(seq, reason, state) (((uint64_t)(seq) << 8) | ((uint64_t)(reason) << 5) | (state))

/* Flags, changed under the task's lock (read racily where noted). */
enum {
    TF_DONE = 1u << 0,      /* fn returned; status is valid */
    TF_RELEASED = 1u << 1,  /* handle joined or detached: recycle once done */
    TF_DETACHED = 1u << 2,  /* released by detach (for debug reports) */
    TF_CANCELLED = 1u << 3, /* cancellation requested (read lock-free) */
    TF_THREAD = 1u << 4,    /* a plain thread's stand-in, woken by futex */
    TF_JOINED = 1u << 5,    /* status was handed to a joiner */
    TF_RESULT = 1u << 6,    /* the task set a result value (`result` is valid) */
    TF_NOMEM = 1u << 7,     /* the shared stand-in of threads with no memory for their own */
};

/* Laid out in cache lines by use: a spawn writes only the first two lines (the others are left
 * clean by the previous task's end), which matters because a spawner usually gets records
 * that another worker freed, cold in its own cache. */
typedef struct __attribute__((aligned(64))) tide__task {
    /* line 0: scheduling */
    _Atomic uint64_t state;     /* seq | reason | state, see above */
    tide__qnode_t qnode;        /* link in the inject queue */
    tide__ctx_t ctx;            /* saved context while switched out */
    tide__stack_t *stack;       /* NULL until the first run */
    struct tide__worker *worker;/* worker running it (valid while RUNNING) */
    union {
        int (*fn)(void *);             /* body, while the task lives */
        struct tide__task *next_free;  /* free-list link, while the record is free */
    };
    void *arg;
    tide_runtime_t *rt;         /* owner; NULL for a thread stand-in, which is how a wake
                                   tells one from a task without reading line 1 */
    /* line 1: identity, completion, per-task context */
    _Atomic uint64_t id;        /* unique id; 0 while the record is free */
    _Atomic uint32_t flags;     /* TF_* */
    int status;                 /* fn's return value once TF_DONE */
    int saved_errno;            /* errno of this task while switched out */
    uint32_t shield;            /* cancellation shield depth */
    int64_t deadline;           /* current deadline scope (TIDE_FOREVER: none) */
    tide__spin_t lock;          /* guards flags changes and watchers */
    uint32_t stack_size;        /* requested stack size (0: runtime default) */
    _Atomic(const char *) waiting_on; /* what the task is parked on (dumps): written by each
                                   park, never cleared on resume (dumps show it only while
                                   the task waits), NULL again once the task ends. Here, not
                                   in line 2: a park then writes two lines of the record */
    const char *spawn_file;     /* spawn site, for dumps */
    uint32_t spawn_line;
    uint32_t scope_depth;       /* deadline scopes and shields open (checks their nesting) */
    /* line 2: timed waits and watchers (a park without a deadline does not touch it) */
    tide__timer_t timer;        /* the wait's timeout (deadline or sleep) */
    tide__list_t watchers;      /* tide_watch_t: who waits for this task to end (join,
                                   gather...); empty again by the time the task ends */
    /* line 3: rarely used */
    char name[32];              /* for dumps; "" if unnamed (cleared when recycled) */
    void *result;               /* tide_task_set_result's value, valid only with TF_RESULT
                                   (so a spawn never has to clear it) */
#if defined(TIDE_ASAN) || defined(TIDE_TSAN)
    tide__fiber_t fiber;        /* sanitizer state of its stack */
#endif
} tide__task_t;

/* What a park touches, in two lines: the state word and the saved context in line 0, flags,
 * deadline, saved errno and waiting_on in line 1 (line 2 only for a timed wait). A wake reads
 * line 0 only (state, rt). */
_Static_assert(offsetof(tide__task_t, ctx) < 64 && offsetof(tide__task_t, rt) < 64 &&
                   offsetof(tide__task_t, waiting_on) / 64 == 1 &&
                   offsetof(tide__task_t, flags) / 64 == 1 &&
                   offsetof(tide__task_t, deadline) / 64 == 1 &&
                   offsetof(tide__task_t, saved_errno) / 64 == 1,
               "a park must touch two lines of the task record");

/* The sanitizer state of a task (only sanitizer builds have one). */
#if defined(TIDE_ASAN) || defined(TIDE_TSAN)
#define TIDE__TASK_FIBER(t) (&(t)->fiber)
#else
extern tide__fiber_t tide__no_fiber;
#define TIDE__TASK_FIBER(t) (&tide__no_fiber)
#endif

static inline void tide__task_lock(tide__task_t *t) { tide__spin_lock(&t->lock); }
static inline void tide__task_unlock(tide__task_t *t) { tide__spin_unlock(&t->lock); }

static inline tide__task_t *tide__task_of_qnode(tide__qnode_t *n) {
    return (tide__task_t *)(void *)((char *)n - offsetof(tide__task_t, qnode));
}

/* Validate a handle: the record still belongs to the task it was given for. */
static inline bool tide__handle_ok(tide_task_t h) {
    return h.ptr && h.id && atomic_load_explicit(&h.ptr->id, MO_ACQUIRE) == h.id;
}

/* Wake the wait `seq` of t for `reason`; no-op if stale or already woken. */
void tide__wake(tide__task_t *t, uint64_t seq, uint32_t reason);

/* tide__wake for a t known to be a task, not a thread's stand-in (its timer fired): the
 * flags, on another line than the state word, are not read. */
void tide__wake_task(tide__task_t *t, uint64_t seq, uint32_t reason);

/* Make a task that has just become RUNNABLE run: to the waking worker's LIFO slot or queue,
 * the inject queue, or (a thread stand-in) its futex. Defined by the scheduler. */
void tide__schedule(tide__task_t *t);

/* tide__self() (scheduler.h): the calling task or thread stand-in (never NULL; a stand-in is
 * made on first use). */
/* tide__spawn, taking the task's stack at once (-ENOMEM up front if there is none). */
int tide__spawn_with_stack(tide_runtime_t *rt, tide_task_t *out, int (*fn)(void *), void *arg,
                           const tide_spawn_opts_t *opts, const char *file, int line);
/* True for the stand-in shared by plain threads that had no memory for their own: a wait
 * on it fails with -ENOMEM, and its fields (deadline, shield) must not be written. */
bool tide__self_nomem(tide__task_t *t);

/* Park the caller until its current wait ends; returns 0, -ETIMEDOUT or -ECANCELED. */
int tide__park(tide__task_t *self, const char *what);

#endif
