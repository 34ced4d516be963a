/* tide — waker-based synchronisation: locks, events, channels, queues, gather, wait, select
 * and task groups. Everything here is built on the waker API of tide/core.h only.
 *
 * Conventions: 0 (or a count) on success, negative errno on failure. Every blocking call
 * honours the caller's deadline scope (-ETIMEDOUT) and cancellation (-ECANCELED), and when it
 * fails that way it has taken nothing, holds nothing and left no waker behind; if what it
 * waited for happened at the same moment (the lock was handed over, the element delivered),
 * it reports success instead, so nothing is ever lost. Deadlines and cancellation end WAITS:
 * a call that can complete at once completes, even for a cancelled task or past its deadline
 * (as in asyncio, where cancellation arrives at the next real suspension) -- so a loop that
 * never has to wait should check tide_cancelled() itself. Unless a function says otherwise,
 * it works from a task and from a plain thread (which then blocks).
 *
 * Misuse that C can detect gets an error, not a crash: NULL arguments and objects that are
 * destroyed/freed (while their memory is still there) get -EINVAL.
 *
 * Objects marked "embeddable" are plain structs the caller allocates (in another struct, on a
 * task's stack, static...). Each one says whether a zero-filled one is ready to use (every
 * embeddable type but the barrier: zero is its initial state, so `tide_sem_t s = {0};` or a
 * static needs no *_init; *_init is the same as zero-filling, or sets a start value) or needs
 * its *_init (the barrier). *_destroy ends one (-EBUSY while in use); after it the object is
 * refused (-EINVAL) until initialised again. Their fields are private (names ending in '_').
 * The others are opaque handles made by *_new and released by *_free, which returns nothing
 * (docs/api.md, Conventions). */
#ifndef TIDE_SYNC_H
#define TIDE_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tide/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Private machinery of the embeddable types below. Fields whose names end in an underscore
 * belong to sync/: never touch them. The sizes are part of the ABI of a release, not of this
 * draft. */
#ifdef __cplusplus
#define TIDE__ATOMIC(T) T /* same size and alignment for the integer types used here */
#else
#define TIDE__ATOMIC(T) _Atomic(T)
#endif

/* A FIFO of parked waiters (each a node on its task's own stack), oldest first, guarded by
 * the lock of the object it belongs to. Zero-filled: empty. */
typedef tide__list_t tide__waitq_t;

/* ---- mutex (embeddable) -----------------------------------------------------------------
 * Uncontended lock and unlock are one compare-and-swap each, no system call. Under
 * contention a running task may take a free lock before a parked waiter gets to it (far
 * cheaper than a hand-off), but no waiter starves: once one has waited longer than
 * TIDE_MUTEX_STARVE_NS the lock is handed to the waiters in FIFO order until the queue moves
 * freely again (Go's scheme). Not recursive; any task or thread may unlock (no owner is
 * recorded). A zero-filled mutex (or TIDE_MUTEX_INITIALIZER) is a valid unlocked mutex.
 *
 * init:     0; -EINVAL (NULL).
 * destroy:  0; -EBUSY if locked or waited on; -EINVAL (NULL, destroyed already).
 * lock:     0; -ETIMEDOUT, -ECANCELED (not locked then); -EINVAL (NULL, destroyed).
 * try_lock: 0; -EAGAIN if held (or being handed to a waiter); -EINVAL.
 * unlock:   0; -EPERM if not locked; -EINVAL (NULL, destroyed). */
#define TIDE_MUTEX_STARVE_NS TIDE_MSEC(1)
typedef struct tide_mutex tide_mutex_t;
struct tide_mutex {
    TIDE__ATOMIC(uint32_t) state_; /* locked | parked | woken | starving | destroyed bits */
    TIDE__ATOMIC(uint32_t) qlock_; /* guards waiters_ (lock and unlock fast paths skip it) */
    tide__waitq_t waiters_;        /* tasks parked in tide_mutex_lock */
};
#define TIDE_MUTEX_INITIALIZER {0, 0, {0}}
int tide_mutex_init(tide_mutex_t *m);
int tide_mutex_destroy(tide_mutex_t *m);
int tide_mutex_lock(tide_mutex_t *m);
int tide_mutex_try_lock(tide_mutex_t *m);
int tide_mutex_unlock(tide_mutex_t *m);

/* ---- read-write lock (embeddable) ---------------------------------------------------------
 * Many readers or one writer. Writer-preferring with hand-off: a waiting writer stops new
 * readers, the last reader out hands the lock to the oldest writer, and a writer's unlock
 * lets in every reader waiting at that moment; so neither side starves. Not recursive (a
 * reader that read-locks again while a writer waits deadlocks). Zero-filled: unlocked.
 *
 * init, destroy: as the mutex (destroy: -EBUSY while held or waited on).
 * rdlock, wrlock:       0; -ETIMEDOUT, -ECANCELED (nothing held then); -EINVAL.
 * try_rdlock, try_wrlock: 0; -EAGAIN if it would wait; -EINVAL.
 * rdunlock: 0; -EPERM if no reader holds it; -EINVAL.
 * wrunlock: 0; -EPERM if not write-locked; -EINVAL. */
typedef struct tide_rwlock tide_rwlock_t;
struct tide_rwlock {
    uint32_t magic_;              /* set by init (0: zero-filled), changed by destroy */
    TIDE__ATOMIC(uint32_t) lock_; /* guards every field below */
    uint32_t writer_;             /* 1 while a writer holds it */
    uint64_t readers_;            /* readers holding it */
    tide__waitq_t rq_;            /* parked readers */
    tide__waitq_t wq_;            /* parked writers (they block new readers) */
};
int tide_rwlock_init(tide_rwlock_t *l);
int tide_rwlock_destroy(tide_rwlock_t *l);
int tide_rwlock_rdlock(tide_rwlock_t *l);
int tide_rwlock_try_rdlock(tide_rwlock_t *l);
int tide_rwlock_rdunlock(tide_rwlock_t *l);
int tide_rwlock_wrlock(tide_rwlock_t *l);
int tide_rwlock_try_wrlock(tide_rwlock_t *l);
int tide_rwlock_wrunlock(tide_rwlock_t *l);

/* ---- counting semaphore (embeddable), FIFO ------------------------------------------------
 * release hands its permit straight to the oldest waiter, so late arrivals cannot take it.
 * Zero-filled: no permits (tide_sem_init(s, 0)).
 *
 * init:        0; -EINVAL (NULL).
 * destroy:     0; -EBUSY if waited on; -EINVAL.
 * acquire:     0; -ETIMEDOUT, -ECANCELED (no permit taken then); -EINVAL.
 * try_acquire: 0; -EAGAIN if no permit; -EINVAL.
 * release:     0; -EOVERFLOW if the value would pass UINT64_MAX; -EINVAL.
 * value:       the permits available now (0 for an invalid semaphore). */
typedef struct tide_sem tide_sem_t;
struct tide_sem {
    uint32_t magic_;               /* set by init (0: zero-filled), changed by destroy */
    TIDE__ATOMIC(uint32_t) lock_;  /* guards the queue and increments of value_ */
    TIDE__ATOMIC(uint64_t) value_; /* permits; > 0 only while nobody waits */
    tide__waitq_t waiters_;        /* parked acquirers, FIFO */
};
int tide_sem_init(tide_sem_t *s, uint64_t value);
int tide_sem_destroy(tide_sem_t *s);
int tide_sem_acquire(tide_sem_t *s);
int tide_sem_try_acquire(tide_sem_t *s);
int tide_sem_release(tide_sem_t *s);
uint64_t tide_sem_value(tide_sem_t *s);

/* ---- event (embeddable): asyncio.Event ----------------------------------------------------
 * set wakes every waiter and the event stays set until cleared; a waiter woken by set
 * returns 0 even if the event is cleared before it runs. Zero-filled: not set.
 *
 * init: 0; -EINVAL.  destroy: 0; -EBUSY if waited on; -EINVAL.
 * set, clear: 0; -EINVAL.
 * wait: 0 (at once if set); -ETIMEDOUT, -ECANCELED; -EINVAL.
 * is_set: false also for an invalid event. */
typedef struct tide_event tide_event_t;
struct tide_event {
    uint32_t magic_;              /* set by init (0: zero-filled), changed by destroy */
    TIDE__ATOMIC(uint32_t) lock_; /* guards waiters_ and changes of set_ */
    TIDE__ATOMIC(uint32_t) set_;  /* 1 while set (read without the lock by wait's fast path) */
    tide__waitq_t waiters_;       /* parked waiters (and select cases) */
};
int tide_event_init(tide_event_t *e);
int tide_event_destroy(tide_event_t *e);
int tide_event_set(tide_event_t *e);
int tide_event_clear(tide_event_t *e);
int tide_event_wait(tide_event_t *e);
bool tide_event_is_set(tide_event_t *e);

/* ---- notify (embeddable): tokio's Notify --------------------------------------------------
 * notify_one wakes the oldest waiter, or if nobody waits leaves one permit that the next
 * wait consumes at once (permits do not accumulate); notify_all wakes everyone waiting now
 * and leaves no permit. A waiter notified as its deadline passed reports success.
 * Zero-filled: no waiter, no permit.
 *
 * init: 0; -EINVAL.  destroy: 0; -EBUSY if waited on; -EINVAL.
 * wait: 0; -ETIMEDOUT, -ECANCELED (no notification consumed then); -EINVAL.
 * notify_one: 0; -EINVAL.  notify_all: how many were woken; -EINVAL. */
typedef struct tide_notify tide_notify_t;
struct tide_notify {
    uint32_t magic_;              /* set by init (0: zero-filled), changed by destroy */
    TIDE__ATOMIC(uint32_t) lock_; /* guards the fields below */
    uint32_t permit_;             /* a notify_one nobody was waiting for */
    tide__waitq_t waiters_;       /* parked waiters */
};
int tide_notify_init(tide_notify_t *n);
int tide_notify_destroy(tide_notify_t *n);
int tide_notify_wait(tide_notify_t *n);
int tide_notify_one(tide_notify_t *n);
int tide_notify_all(tide_notify_t *n);

/* ---- condition variable (embeddable), used with tide_mutex_t ------------------------------
 * wait atomically unlocks m and waits; it always re-locks m before returning, even on
 * -ETIMEDOUT/-ECANCELED (so the caller's unlock stays correct). As with any condition
 * variable, re-check the predicate in a loop. A waiter signalled as its deadline passed
 * reports success (the signal is not lost to the other waiters). Zero-filled: ready.
 *
 * init: 0; -EINVAL.  destroy: 0; -EBUSY if waited on; -EINVAL.
 * wait: 0; -ETIMEDOUT, -ECANCELED (m re-locked in all three cases); -EPERM if m was not
 *       locked (no wait, m untouched); -EINVAL (NULL, destroyed).
 * signal, broadcast: 0; -EINVAL. */
typedef struct tide_cond tide_cond_t;
struct tide_cond {
    uint32_t magic_;              /* set by init (0: zero-filled), changed by destroy */
    TIDE__ATOMIC(uint32_t) lock_; /* guards waiters_ */
    tide__waitq_t waiters_;       /* parked waiters */
};
int tide_cond_init(tide_cond_t *c);
int tide_cond_destroy(tide_cond_t *c);
int tide_cond_wait(tide_cond_t *c, tide_mutex_t *m);
int tide_cond_signal(tide_cond_t *c);
int tide_cond_broadcast(tide_cond_t *c);

/* ---- wait group (embeddable): Go's sync.WaitGroup ------------------------------------------
 * add and done change the count without a lock; wait returns once it reaches zero. Add
 * before starting the work it counts, and start a new round only after the waits of the
 * last one returned. Zero-filled: a count of zero.
 *
 * init: 0; -EINVAL.  destroy: 0; -EBUSY if waited on; -EINVAL.
 * add:  0; -EINVAL if the count would go below zero or overflow (nothing changed), or for
 *       an invalid wait group.  done: add(-1).
 * wait: 0; -ETIMEDOUT, -ECANCELED; -EINVAL. */
typedef struct tide_waitgroup tide_waitgroup_t;
struct tide_waitgroup {
    uint32_t magic_;              /* set by init (0: zero-filled), changed by destroy */
    TIDE__ATOMIC(uint32_t) lock_; /* guards waiters_; taken when the count reaches zero */
    TIDE__ATOMIC(int64_t) count_; /* outstanding work (add/done change it lock-free) */
    tide__waitq_t waiters_;       /* parked waiters */
};
int tide_waitgroup_init(tide_waitgroup_t *wg);
int tide_waitgroup_destroy(tide_waitgroup_t *wg);
int tide_waitgroup_add(tide_waitgroup_t *wg, int64_t delta);
int tide_waitgroup_done(tide_waitgroup_t *wg);
int tide_waitgroup_wait(tide_waitgroup_t *wg);

/* ---- barrier (embeddable): n parties meet, then all go on; reusable ------------------------
 * wait returns 1 in exactly one party per round (the "serial" one, the last to arrive), 0 in
 * the others. A party that times out or is cancelled leaves the round (-ETIMEDOUT/-ECANCELED)
 * and the barrier is broken for that round: the others waiting in it get -EPIPE (like
 * Python's BrokenBarrierError); the next round starts empty. Requires tide_barrier_init (a
 * zero-filled barrier has no party count: every call on it returns -EINVAL).
 *
 * init: 0; -EINVAL (NULL, parties == 0).  destroy: 0; -EBUSY if waited on; -EINVAL.
 * wait: 1 or 0; -EPIPE (round broken); -ETIMEDOUT, -ECANCELED; -EINVAL. */
typedef struct tide_barrier tide_barrier_t;
struct tide_barrier {
    uint32_t magic_;              /* set by init, changed by destroy (misuse detection) */
    TIDE__ATOMIC(uint32_t) lock_; /* guards the fields below */
    uint32_t parties_;            /* parties per round */
    uint32_t arrived_;            /* parties of the current round waiting */
    uint64_t round_;              /* rounds completed or broken */
    tide__waitq_t waiters_;       /* the current round's parked parties */
};
int tide_barrier_init(tide_barrier_t *b, unsigned parties);
int tide_barrier_destroy(tide_barrier_t *b);
int tide_barrier_wait(tide_barrier_t *b);

/* ---- channel: MPMC, fixed element size ----------------------------------------------------
 * capacity >= 1: bounded buffer; TIDE_CHAN_UNBOUNDED: grows without limit; 0: rendezvous
 * (a send completes only when a receiver takes it, like Go's unbuffered channel).
 * Elements are copied in and out (memcpy of elem_size bytes), in FIFO order; an element
 * goes straight from sender to receiver whenever one of them is parked.
 * close: senders get -EPIPE; receivers drain what is buffered, then get -EPIPE; parked
 * senders and receivers are failed with -EPIPE at once.
 * send/recv block (a task parks, a plain thread blocks); try_* never block. A timed-out or
 * cancelled recv has received nothing (elem untouched); a timed-out or cancelled send has
 * sent nothing.
 *
 * new:      0; -EINVAL (NULL out, elem_size 0); -ENOMEM.
 * free:     releases c. c should have no parked tasks left; if it has (misuse), they are
 *           failed with -EPIPE and free waits for them to leave before releasing memory.
 * send:     0; -EPIPE (closed); -ETIMEDOUT, -ECANCELED; -ENOMEM (unbounded growth);
 *           -EINVAL (NULL, freed).
 * recv:     0; -EPIPE (closed and drained); -ETIMEDOUT, -ECANCELED; -EINVAL.
 * try_send: 0; -EAGAIN (full, or no receiver waiting on a rendezvous channel); -EPIPE;
 *           -ENOMEM; -EINVAL.
 * try_recv: 0; -EAGAIN (empty, or no sender waiting on a rendezvous channel); -EPIPE;
 *           -EINVAL.
 * close:    0; -EPIPE if already closed; -EINVAL.
 * len: elements buffered now; cap: the capacity given to new (both 0 for an invalid c). */
#define TIDE_CHAN_UNBOUNDED SIZE_MAX
typedef struct tide_chan tide_chan_t;
int tide_chan_new(tide_chan_t **out, size_t elem_size, size_t capacity);
void tide_chan_free(tide_chan_t *c);
int tide_chan_send(tide_chan_t *c, const void *elem);
int tide_chan_recv(tide_chan_t *c, void *elem);
int tide_chan_try_send(tide_chan_t *c, const void *elem);
int tide_chan_try_recv(tide_chan_t *c, void *elem);
int tide_chan_close(tide_chan_t *c);
size_t tide_chan_len(tide_chan_t *c);
size_t tide_chan_cap(tide_chan_t *c);

/* ---- oneshot: a single value from one sender to one receiver ------------------------------
 * send never blocks: it stores the value (or hands it to the parked receiver). close, from
 * either side, ends it: a value sent before the close is still delivered, then receivers
 * get -EPIPE; a send after the close is refused.
 *
 * new:   0; -EINVAL (NULL out, elem_size 0); -ENOMEM.
 * free:  releases o; a parked receiver (misuse) is failed with -EPIPE first.
 * send:  0; -EPIPE if sent already or closed; -EINVAL.
 * recv:  0; -EPIPE if closed without a value, or the value was taken already; -EBUSY if
 *        another receiver is parked; -ETIMEDOUT, -ECANCELED (the value, if it comes, stays
 *        for the next recv); -EINVAL.
 * close: 0; -EPIPE if already closed; -EINVAL. */
typedef struct tide_oneshot tide_oneshot_t;
int tide_oneshot_new(tide_oneshot_t **out, size_t elem_size);
void tide_oneshot_free(tide_oneshot_t *o);
int tide_oneshot_send(tide_oneshot_t *o, const void *elem);
int tide_oneshot_recv(tide_oneshot_t *o, void *elem);
int tide_oneshot_close(tide_oneshot_t *o);

/* ---- queue: asyncio.Queue (FIFO, maxsize 0 = unbounded) with task_done/join ----------------
 * join waits until every item put has been got and marked done with task_done.
 *
 * new:  0; -EINVAL (NULL out, elem_size 0); -ENOMEM.
 * free: releases q; parked tasks (misuse) are failed with -EPIPE first.
 * put:  0; -ETIMEDOUT, -ECANCELED (nothing added then); -ENOMEM; -EINVAL.
 * get:  0; -ETIMEDOUT, -ECANCELED (nothing taken, elem untouched); -EINVAL.
 * try_put: 0; -EAGAIN when full; -ENOMEM; -EINVAL (asyncio's put_nowait).
 * try_get: 0; -EAGAIN when empty; -EINVAL (asyncio's get_nowait).
 * task_done:  0; -EINVAL if called more times than items were got (or invalid q).
 * join: 0; -ETIMEDOUT, -ECANCELED; -EINVAL.
 * size: items queued now (0 for an invalid q). */
typedef struct tide_queue tide_queue_t;
int tide_queue_new(tide_queue_t **out, size_t elem_size, size_t maxsize);
void tide_queue_free(tide_queue_t *q);
int tide_queue_put(tide_queue_t *q, const void *elem);
int tide_queue_get(tide_queue_t *q, void *elem);
int tide_queue_try_put(tide_queue_t *q, const void *elem);
int tide_queue_try_get(tide_queue_t *q, void *elem);
int tide_queue_task_done(tide_queue_t *q);
int tide_queue_join(tide_queue_t *q);
size_t tide_queue_size(tide_queue_t *q);

/* ---- gather: wait for tasks and collect every status (asyncio.gather) ---------------------
 * statuses[i] (statuses may be NULL) receives task i's status and values[i] (values may be
 * NULL) the value it set with tide_task_set_result (NULL if none), in argument order; every
 * handle is joined (released) on return. On -ETIMEDOUT/-ECANCELED of the caller the tasks
 * not yet finished are cancelled and joined before returning (nothing is left running; their
 * statuses are filled too). Modes (at most one):
 *   0 (asyncio's return_exceptions=True): wait for all; returns 0, the statuses say who
 *     failed.
 *   TIDE_GATHER_FAIL_FAST (a TaskGroup's rule): the first task to fail (negative status)
 *     cancels the others; gather still waits for all of them, and returns that failure.
 *   TIDE_GATHER_FIRST_ERROR (asyncio's default, return_exceptions=False): the first failure
 *     is returned at once and the others keep running: the tasks that had ended are joined
 *     (statuses filled), the others are NOT: their statuses[i] is -EINPROGRESS and their
 *     handles stay valid, for the caller to join, cancel or detach (so statuses is
 *     required in this mode).
 *
 * Returns 0; the first failure (FAIL_FAST, FIRST_ERROR); -ETIMEDOUT, -ECANCELED; checked
 * first, with nothing joined or cancelled: -ESRCH if a handle is released, -EINVAL if the
 * same handle is given twice, NULL tasks with n > 0, NULL statuses with FIRST_ERROR, unknown
 * or two modes; -ENOMEM (FAIL_FAST
 * or FIRST_ERROR with many tasks). From a task or a thread. */
#define TIDE_GATHER_FAIL_FAST 1
#define TIDE_GATHER_FIRST_ERROR 2
int tide_gather(tide_task_t *tasks, size_t n, int *statuses, int flags);
int tide_gather_results(tide_task_t *tasks, size_t n, int *statuses, void **values, int flags);

/* ---- wait: asyncio.wait ----------------------------------------------------------------------
 * Waits until the condition holds or the caller's deadline passes; handles are NOT released
 * (join them after). done[i] (done may be NULL) is set to 1 for finished tasks, 0 otherwise.
 * FIRST_ERROR returns when any task finishes with a negative status, or all finish.
 *
 * Returns the number of finished tasks (>= 1 for FIRST_*, n for ALL; 0 when n == 0), or
 * -ETIMEDOUT / -ECANCELED (done[] still filled); -ESRCH (a released handle); -EINVAL (NULL
 * tasks with n > 0, unknown mode); -ENOMEM. */
typedef enum tide_wait_mode {
    TIDE_FIRST_COMPLETED = 1,
    TIDE_FIRST_ERROR = 2,
    TIDE_ALL_COMPLETED = 3,
} tide_wait_mode_t;
int tide_wait(tide_task_t *tasks, size_t n, tide_wait_mode_t mode, uint8_t *done);
/* asyncio's `done, pending = await asyncio.wait(...)`: tide_wait that splits the handles into
 * two arrays (each with room for n; either may be NULL), done[0..*ndone) and pending[0..n -
 * *ndone), both in the order of tasks. The sets and *ndone are filled on success and on
 * -ETIMEDOUT/-ECANCELED alike (so a deadline reads like asyncio.wait's timeout); returns the
 * number done, or the errors of tide_wait. */
int tide_wait_sets(tide_task_t *tasks, size_t n, tide_wait_mode_t mode, tide_task_t *done,
                   tide_task_t *pending, size_t *ndone);

/* ---- select: wait on several operations; exactly one fires -----------------------------------
 * Returns the index of the case that fired -- its operation completed, and only its: the
 * other cases sent and received nothing. cases[i].result says how it ended: 0, -EPIPE (a
 * closed channel's send or recv case fires that way), -ETIMEDOUT (a TIDE_SEL_DEADLINE case
 * whose deadline passed: the select's own time limit is a case like any other, so it can be
 * told apart from the caller's deadline scope). The case takes an absolute deadline (for a
 * duration: tide_now() + timeout_ns).
 * Cases are tried in a random order (fair); TIDE_SELECT_BIASED tries them in array order. A
 * case with kind TIDE_SEL_NONE is skipped (handy to disable a case in a loop); with no
 * enabled case, select waits for the caller's deadline or cancellation.
 *
 * Returns the index; -ETIMEDOUT (the caller's deadline scope, no case ready); -ECANCELED;
 * -ESRCH (a JOIN case with a released handle); -EINVAL (NULL cases with n > 0, a send/recv
 * case without a valid chan or elem, an EVENT case without a valid event, an unknown kind
 * or flag); -ENOMEM (more than 8 cases and no memory). */
typedef enum tide_sel_kind {
    TIDE_SEL_NONE = 0,
    TIDE_SEL_SEND,     /* chan, elem: send *elem */
    TIDE_SEL_RECV,     /* chan, elem: receive into *elem */
    TIDE_SEL_JOIN,     /* task: the task finished (it is not released; join it after) */
    TIDE_SEL_EVENT,    /* event: the event is set */
    TIDE_SEL_DEADLINE, /* deadline (absolute, tide_now() clock): fires when it passes */
} tide_sel_kind_t;

typedef struct tide_sel {
    tide_sel_kind_t kind; /* what the case waits for; TIDE_SEL_NONE: skipped */
    tide_chan_t *chan;    /* SEND, RECV: the channel */
    void *elem;           /* SEND: the element to send; RECV: where the element goes */
    tide_task_t task;     /* JOIN: the task */
    tide_event_t *event;  /* EVENT: the event */
    int64_t deadline;     /* DEADLINE: absolute time on the tide_now() clock */
    int result;           /* out: 0, -EPIPE for a closed channel, -ETIMEDOUT for a deadline */
} tide_sel_t;

#define TIDE_SELECT_BIASED 1
int tide_select(tide_sel_t *cases, size_t n, int flags);

/* ---- task groups: asyncio.TaskGroup / structured concurrency ------------------------------
 * Tasks spawned into a group are waited for, and joined, by tide_group_wait (those spawned
 * with tide_group_spawn_task are waited for, and joined by the caller). The first child to
 * fail (negative status) cancels all its siblings; wait returns that first error (0 if none failed). Cancel
 * (or the deadline) of the waiting task cancels every child, waits for them and returns
 * -ECANCELED (-ETIMEDOUT). After wait returns the group is empty and ready for reuse. A group
 * must be waited before it is freed; tide_group_free on a group with live children cancels
 * and waits for them first. Children may spawn into their own group.
 *
 * new:    0; -EINVAL (NULL); -ENOMEM.
 * spawn:  0; -ECANCELED if the group is cancelled or failing (the child was not spawned);
 *         -EPERM outside a task; -EINVAL (NULL group or fn, bad opts); -ENOMEM; -ESHUTDOWN.
 *         opts as for tide_spawn_opts, except that detached is ignored.
 * cancel: 0 (wait will return -ECANCELED unless a child failed first); -EINVAL.
 * wait:   0 or the first child's error; -ETIMEDOUT, -ECANCELED (children cancelled and
 *         waited for); -EBUSY if another wait is in progress; -EINVAL.
 * free:   releases g (not while a wait on it is in progress). */
typedef struct tide_group tide_group_t;
int tide_group_new(tide_group_t **out);
int tide_group_spawn(tide_group_t *g, int (*fn)(void *), void *arg, const tide_spawn_opts_t *opts);
/* tide_group_spawn that gives the child's handle (asyncio's tg.create_task): the group still
 * waits for the child and cancels it when a sibling fails, but does not release the handle:
 * the caller joins it, before or after tide_group_wait, for that child's own status and value
 * (tide_join_result), so every child's status can be read, not just the first error; and may
 * cancel that one child: a child whose status is -ECANCELED because it was cancelled on its
 * own is not a failure of the group (the siblings run on), as in asyncio. Detaching the
 * handle gives up that child's own status (the group still waits for it and still sees its
 * failure). On failure *out is left untouched. Errors as for
 * tide_group_spawn; out NULL is tide_group_spawn. */
int tide_group_spawn_task(tide_group_t *g, tide_task_t *out, int (*fn)(void *), void *arg,
                          const tide_spawn_opts_t *opts);
int tide_group_cancel(tide_group_t *g);
int tide_group_wait(tide_group_t *g);
void tide_group_free(tide_group_t *g);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_SYNC_H */
