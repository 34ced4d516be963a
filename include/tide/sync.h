/* tide — waker-based synchronisation: locks, events, channels, queues, gather, wait, select
 * and task groups. Everything here is built on the waker API of tide/core.h only.
 *
 * Conventions: 0 (or a count) on success, negative errno on failure. Every blocking call
 * honours the caller's deadline scope (-ETIMEDOUT) and cancellation (-ECANCELED), and when it
 * fails that way it has taken nothing, holds nothing and left no waker behind. Unless a
 * function says otherwise, it works from a task and from a plain thread (which then blocks).
 *
 * Objects marked "embeddable" are plain structs the caller allocates (in another struct, on a
 * task's stack...) and sets up with *_init; their fields are private. The others are opaque
 * handles made by *_new and released by *_free. */
#ifndef TIDE_SYNC_H
#define TIDE_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tide/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* STRUCT DEFINITIONS: filled in by sync/ (see the private fields below each). The sizes are
 * part of the ABI of a release, not of this draft. */

/* ---- mutex (embeddable) -----------------------------------------------------------------
 * Uncontended lock/unlock are one atomic operation each. Under contention no waiter starves:
 * waiters may be barged while their wait is short; once a waiter has waited longer than
 * TIDE_MUTEX_STARVE_NS the lock is handed to waiters in FIFO order (Go's scheme). */
typedef struct tide_mutex tide_mutex_t;
int tide_mutex_init(tide_mutex_t *m);
int tide_mutex_destroy(tide_mutex_t *m);           /* -EBUSY if locked or waited on */
int tide_mutex_lock(tide_mutex_t *m);              /* 0, -ETIMEDOUT, -ECANCELED */
int tide_mutex_trylock(tide_mutex_t *m);           /* 0 or -EBUSY */
int tide_mutex_unlock(tide_mutex_t *m);            /* 0, or -EPERM if not locked */

/* ---- read-write lock (embeddable); writers are not starved by a stream of readers ------- */
typedef struct tide_rwlock tide_rwlock_t;
int tide_rwlock_init(tide_rwlock_t *l);
int tide_rwlock_destroy(tide_rwlock_t *l);
int tide_rwlock_rdlock(tide_rwlock_t *l);
int tide_rwlock_tryrdlock(tide_rwlock_t *l);       /* -EBUSY */
int tide_rwlock_rdunlock(tide_rwlock_t *l);        /* -EPERM if no reader holds it */
int tide_rwlock_wrlock(tide_rwlock_t *l);
int tide_rwlock_trywrlock(tide_rwlock_t *l);
int tide_rwlock_wrunlock(tide_rwlock_t *l);        /* -EPERM if not write-locked */

/* ---- counting semaphore (embeddable), FIFO ------------------------------------------------ */
typedef struct tide_sem tide_sem_t;
int tide_sem_init(tide_sem_t *s, uint64_t value);
int tide_sem_destroy(tide_sem_t *s);
int tide_sem_acquire(tide_sem_t *s);
int tide_sem_tryacquire(tide_sem_t *s);            /* -EAGAIN */
int tide_sem_release(tide_sem_t *s);               /* -EOVERFLOW past UINT64_MAX */
uint64_t tide_sem_value(tide_sem_t *s);

/* ---- event (embeddable): asyncio.Event --------------------------------------------------- */
typedef struct tide_event tide_event_t;
int tide_event_init(tide_event_t *e);
int tide_event_destroy(tide_event_t *e);           /* -EBUSY if tasks wait on it */
int tide_event_set(tide_event_t *e);               /* wakes every waiter; stays set */
int tide_event_clear(tide_event_t *e);
int tide_event_wait(tide_event_t *e);              /* returns at once if set */
bool tide_event_is_set(tide_event_t *e);

/* ---- notify (embeddable): wake one or all current waiters; a notify_one with nobody
 * waiting is kept as one permit for the next waiter (tokio's Notify) ---------------------- */
typedef struct tide_notify tide_notify_t;
int tide_notify_init(tide_notify_t *n);
int tide_notify_destroy(tide_notify_t *n);
int tide_notify_wait(tide_notify_t *n);
int tide_notify_one(tide_notify_t *n);
int tide_notify_all(tide_notify_t *n);             /* returns how many were woken */

/* ---- condition variable (embeddable), used with tide_mutex_t ------------------------------
 * wait atomically unlocks m and waits; it always re-locks m before returning, even on
 * -ETIMEDOUT/-ECANCELED (so the caller's unlock stays correct). */
typedef struct tide_cond tide_cond_t;
int tide_cond_init(tide_cond_t *c);
int tide_cond_destroy(tide_cond_t *c);
int tide_cond_wait(tide_cond_t *c, tide_mutex_t *m);
int tide_cond_signal(tide_cond_t *c);
int tide_cond_broadcast(tide_cond_t *c);

/* ---- wait group (embeddable): Go's sync.WaitGroup ----------------------------------------- */
typedef struct tide_waitgroup tide_waitgroup_t;
int tide_waitgroup_init(tide_waitgroup_t *wg);
int tide_waitgroup_destroy(tide_waitgroup_t *wg);
int tide_waitgroup_add(tide_waitgroup_t *wg, int64_t delta); /* -EINVAL if it would go < 0 */
int tide_waitgroup_done(tide_waitgroup_t *wg);
int tide_waitgroup_wait(tide_waitgroup_t *wg);

/* ---- barrier (embeddable): n parties meet, then all go on; reusable ------------------------
 * wait returns 1 in exactly one party per round (the "serial" one), 0 in the others. A party
 * that times out or is cancelled leaves the round (-ETIMEDOUT/-ECANCELED) and the barrier is
 * broken for that round: the others get -EPIPE (like Python's BrokenBarrierError). */
typedef struct tide_barrier tide_barrier_t;
int tide_barrier_init(tide_barrier_t *b, unsigned parties);
int tide_barrier_destroy(tide_barrier_t *b);
int tide_barrier_wait(tide_barrier_t *b);

/* ---- channel: MPMC, fixed element size ----------------------------------------------------
 * capacity >= 1: bounded buffer; TIDE_CHAN_UNBOUNDED: grows without limit; 0: rendezvous
 * (a send completes only when a receiver takes it, like Go's unbuffered channel).
 * close: senders get -EPIPE; receivers drain what is buffered, then get -EPIPE.
 * send/recv block (a task parks, a plain thread blocks); try_* never block (-EAGAIN).
 * Elements are copied in and out (memcpy of elem_size bytes). */
#define TIDE_CHAN_UNBOUNDED SIZE_MAX
typedef struct tide_chan tide_chan_t;
int tide_chan_new(tide_chan_t **out, size_t elem_size, size_t capacity);
void tide_chan_free(tide_chan_t *c);               /* c must have no waiters left */
int tide_chan_send(tide_chan_t *c, const void *elem);
int tide_chan_recv(tide_chan_t *c, void *elem);
int tide_chan_try_send(tide_chan_t *c, const void *elem); /* -EAGAIN, -EPIPE */
int tide_chan_try_recv(tide_chan_t *c, void *elem);       /* -EAGAIN, -EPIPE */
int tide_chan_close(tide_chan_t *c);               /* -EPIPE if already closed */
size_t tide_chan_len(tide_chan_t *c);              /* buffered elements */
size_t tide_chan_cap(tide_chan_t *c);

/* ---- oneshot: a single value from one sender to one receiver ------------------------------ */
typedef struct tide_oneshot tide_oneshot_t;
int tide_oneshot_new(tide_oneshot_t **out, size_t elem_size);
void tide_oneshot_free(tide_oneshot_t *o);
int tide_oneshot_send(tide_oneshot_t *o, const void *elem); /* never blocks; -EPIPE if sent
                                                               already or receiver closed */
int tide_oneshot_recv(tide_oneshot_t *o, void *elem);       /* -EPIPE if the sender closed */
int tide_oneshot_close(tide_oneshot_t *o);

/* ---- queue: asyncio.Queue (FIFO, maxsize 0 = unbounded) with task_done/join --------------- */
typedef struct tide_queue tide_queue_t;
int tide_queue_new(tide_queue_t **out, size_t elem_size, size_t maxsize);
void tide_queue_free(tide_queue_t *q);
int tide_queue_put(tide_queue_t *q, const void *elem);
int tide_queue_get(tide_queue_t *q, void *elem);
int tide_queue_put_nowait(tide_queue_t *q, const void *elem); /* -EAGAIN when full */
int tide_queue_get_nowait(tide_queue_t *q, void *elem);       /* -EAGAIN when empty */
int tide_queue_task_done(tide_queue_t *q);         /* -EINVAL if called more than items got */
int tide_queue_join(tide_queue_t *q);              /* until every item got is task_done */
size_t tide_queue_size(tide_queue_t *q);

/* ---- gather: wait for tasks and collect every status ----------------------------------------
 * statuses[i] receives task i's status; every handle is joined (released) on return, except
 * that on -ETIMEDOUT/-ECANCELED of the caller the tasks not yet finished are cancelled and
 * joined before returning (nothing is left running). With TIDE_GATHER_FAIL_FAST, the first
 * task to fail (negative status) cancels the others; gather still waits for all of them, and
 * returns that first failure. Without it, returns 0 and the statuses say who failed. */
#define TIDE_GATHER_FAIL_FAST 1
int tide_gather(tide_task_t *tasks, size_t n, int *statuses, int flags);

/* ---- wait: asyncio.wait ----------------------------------------------------------------------
 * Waits until the condition holds or the caller's deadline passes; handles are NOT released
 * (join them after). done[i] is set to 1 for finished tasks, 0 otherwise. Returns the number
 * of finished tasks (>= 1 for FIRST_*, n for ALL), or -ETIMEDOUT / -ECANCELED (done[] still
 * filled). FIRST_ERROR returns when any task finishes with a negative status, or all finish. */
typedef enum tide_wait_mode {
    TIDE_FIRST_COMPLETED = 1,
    TIDE_FIRST_ERROR = 2,
    TIDE_ALL_COMPLETED = 3,
} tide_wait_mode_t;
int tide_wait(tide_task_t *tasks, size_t n, tide_wait_mode_t mode, uint8_t *done);

/* ---- select: wait on several operations; exactly one fires -----------------------------------
 * Returns the index of the case that fired (its operation completed, and only its), or
 * -ETIMEDOUT (a TIDE_SEL_TIMEOUT case, or the caller's deadline, with no other case ready),
 * -ECANCELED. A closed channel makes its send/recv case fire with result -EPIPE. Cases are
 * tried in a random order (fair); TIDE_SELECT_BIASED tries them in array order. A case with
 * kind TIDE_SEL_NONE is skipped (handy to disable a case in a loop). */
typedef enum tide_sel_kind {
    TIDE_SEL_NONE = 0,
    TIDE_SEL_SEND,    /* chan, elem: send *elem */
    TIDE_SEL_RECV,    /* chan, elem: receive into *elem */
    TIDE_SEL_JOIN,    /* task: the task finished (it is not released; join it after) */
    TIDE_SEL_EVENT,   /* event: the event is set */
    TIDE_SEL_TIMEOUT, /* deadline (absolute, tide_now() clock): fires when it passes */
} tide_sel_kind_t;

typedef struct tide_sel {
    tide_sel_kind_t kind;
    tide_chan_t *chan;
    void *elem;
    tide_task_t task;
    tide_event_t *event;
    int64_t deadline;
    int result; /* out: 0 on success, -EPIPE for a closed channel */
} tide_sel_t;

#define TIDE_SELECT_BIASED 1
int tide_select(tide_sel_t *cases, size_t n, int flags);

/* ---- task groups: asyncio.TaskGroup / structured concurrency ------------------------------
 * Tasks spawned into a group are joined by tide_group_wait. The first child to fail (negative
 * status) cancels all its siblings; wait returns that first error (0 if none failed). Cancel
 * of the waiting task cancels every child, waits for them and returns -ECANCELED. A group
 * must be waited before it is freed; tide_group_free on a group with live children cancels
 * and waits for them first. */
typedef struct tide_group tide_group_t;
int tide_group_new(tide_group_t **out);
int tide_group_spawn(tide_group_t *g, int (*fn)(void *), void *arg, const tide_spawn_opts_t *opts);
int tide_group_cancel(tide_group_t *g);
int tide_group_wait(tide_group_t *g);
void tide_group_free(tide_group_t *g);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_SYNC_H */
