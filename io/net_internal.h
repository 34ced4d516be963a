/* Internal to io/: the reactor (readiness of sockets: the epoll set in io/poller.c, the
 * records in io/sock.c) and the socket record that TCP and UDP handles are made of.
 *
 * How a socket waits: every socket is registered once, edge-triggered, in an epoll set of the
 * runtime's own. The I/O driver's libuv loop watches that set's descriptor and, when it turns
 * readable, harvests it with a zero-timeout epoll_wait: for each event it bumps the socket's
 * per-direction event counter and wakes the tasks waiting in that direction. A task does its
 * system call on its worker first; only on EAGAIN does it wait, and only if no event has
 * arrived since it read the counter before the call (an edge that comes between the call and
 * the wait is not lost). So a busy connection never crosses threads, and a blocked one costs
 * no epoll_ctl and no request to the driver.
 *
 * Records are type-stable: carved from chunks owned by the reactor and recycled, freed only
 * with the runtime. An epoll event carries the record's index and generation; the generation
 * changes when the socket is closed, so an event harvested for an earlier life is ignored, and
 * a handle used after close finds the record closed (-EBADF) instead of freed memory. */
#ifndef TIDE_IO_NET_INTERNAL_H
#define TIDE_IO_NET_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "driver.h"
#include "list.h"
#include "platform.h"
#include "tide/ext.h"
#include "tide/net.h"

enum { SOCK_FREE = 0, SOCK_TCP_CONN = 1, SOCK_TCP_LISTEN = 2, SOCK_UDP = 3 };

/* What a task waits for: readiness to read or write, or (listeners) a free connection slot. */
enum { DIR_READ = 0, DIR_WRITE = 1, DIR_SLOT = 2, NDIRS = 3 };

/* The users word: tasks inside an operation on the socket, plus this bit once it is closing. */
#define SOCK_CLOSED 0x80000000u
/* Marks a valid `drained` snapshot. */
#define SOCK_DRAINED ((uint64_t)1 << 32)

/* A task waiting on a socket beyond the first of its direction (see tide__sock_t's slot);
 * lives on the task's stack while it is linked. */
typedef struct tide__sock_waiter {
    tide__list_node_t link;    /* in the socket's list for one direction */
    tide_waker_t waker;        /* woken (once) by an event, by close or by a freed slot */
    bool linked;               /* still in the list (changed under the socket's lock) */
} tide__sock_waiter_t;

struct tide__reactor;
struct tide__task;

/* Cache-line aligned: sockets served by different workers must not share lines. What a
 * read, a write, a wait and a readiness event touch is in the first line: a stream's request
 * costs one line of its record, not two, and the waker touches no line of the parked task's
 * stack. A stream has one reader and one writer waiting at a time as a rule: each direction's
 * first waiter is kept in the record as its task (`slot`: the wait's seq is the task's
 * current one while it is there, since the task withdraws under the lock before it can begin
 * another wait); more waiters (two tasks reading one socket, acceptors, DIR_SLOT) are linked
 * in `waiters`, on the second line, flagged in `listed` so that a wake need not look there. */
typedef struct TIDE_ALIGNED tide__sock {
    /* line 0: every operation */
    tide__spin_t lock;               /* waiters, slots, gen, closer, and the close handshake */
    _Atomic uint32_t users;          /* operations in flight | SOCK_CLOSED */
    _Atomic uint32_t seq[NDIRS];     /* events seen per direction (edges, freed slots) */
    uint32_t gen;                    /* life of this record (under lock): tags epoll events */
    _Atomic uint64_t drained;        /* SOCK_DRAINED | the DIR_READ seq of a read that emptied
                                        the receive queue (0: not known to be empty) */
    int fd;                          /* the descriptor while open */
    _Atomic bool hup;                /* a hang-up or error was reported: always try the call */
    uint8_t kind;                    /* SOCK_*; stable while the record is open */
    uint8_t listed;                  /* bit 1 << dir: waiters[dir] is not empty (under lock;
                                        written by sock.c's relist only) */
    bool has_parent;                 /* accepted (counted in a listener's conns) */
    uint32_t idx;                    /* where the reactor keeps it: chunk << 8 | slot */
    _Atomic uint32_t send_cap;       /* 0, or once a send found the send buffer full, its
                                        size: the most one send moves (io/tcp.c, send_cap) */
    struct tide__task *slot[DIR_SLOT]; /* the first task waiting to read / write, or NULL
                                        (under lock) */
    /* line 1: waiting beyond the first, closing, listeners */
    tide__list_t waiters[NDIRS];     /* tide__sock_waiter_t: more tasks parked per direction
                                        (newest first) */
    tide_waker_t closer;             /* the task closing it, waiting for users to leave */
    struct tide__reactor *reactor;   /* owner */
    _Atomic uint32_t conns;          /* listener: accepted connections still open */
    uint32_t max_conns;              /* listener: accept backpressure limit (0: none) */
    union {
        struct {
            uint32_t parent_idx;     /* accepted connection: its listener... */
            uint32_t parent_gen;     /* ...while the listener lives in that generation */
        };
        struct tide__sock *next_free; /* free list link (under the reactor's lock), while the
                                        record is free (no parent then) */
    };
} tide__sock_t;

_Static_assert(offsetof(tide__sock_t, slot) + sizeof(((tide__sock_t *)0)->slot) <= 64,
               "the hot fields of a socket record must fit its first cache line");
_Static_assert(sizeof(tide__sock_t) == 128, "a socket record is two cache lines");

typedef struct tide__reactor tide__reactor_t;

/* Driver hooks (driver.c; io/poller.c): made with the driver before its thread starts, freed after the
 * loop has stopped and closed its handles. new returns NULL on failure. */
tide__reactor_t *tide__reactor_new(tide__io_t *io, uv_loop_t *loop, tide_runtime_t *rt);
/* Take the workers off the reactor's epoll set (before the driver and the reactor go). */
void tide__reactor_unhook(tide__reactor_t *r, tide_runtime_t *rt);
void tide__reactor_free(tide__reactor_t *r);

/* The reactor of the calling task's runtime: NULL outside a task (or -ENOMEM situations). */
tide__reactor_t *tide__reactor_current(void);

/* Take a record for fd (the caller keeps fd until this succeeds) and register it in the epoll
 * set for the given epoll events (EPOLLET is added). Returns the open record, or NULL with
 * *err set (-ENOMEM, or the epoll_ctl error); the fd is not closed then. */
tide__sock_t *tide__sock_open(tide__reactor_t *r, int kind, int fd, uint32_t events, int *err);

/* Close: mark closed, wake every waiter (-EBADF for them), wait (shielded) for the tasks
 * inside operations to leave, close fd, tell the listener it came from, recycle. -EBADF if it
 * was closed already. */
int tide__sock_close(tide__sock_t *s);

/* Stop using a record that never became visible to anyone (open failed half-way): closes fd
 * and recycles it without the handshake. */
void tide__sock_discard(tide__sock_t *s);

/* Operation bracket: enter returns -EBADF if s is closed (or was never opened); otherwise the
 * descriptor stays open until the matching leave. A record is recycled, never freed, so a
 * stale handle's enter is safe; its increment is undone at once and never blocks a close. */
void tide__sock_wake_closer(tide__sock_t *s);
static inline void tide__sock_leave(tide__sock_t *s) {
    uint32_t u = atomic_fetch_sub_explicit(&s->users, 1, memory_order_acq_rel);
    if (__builtin_expect(u == (SOCK_CLOSED | 1), 0)) tide__sock_wake_closer(s);
}
static inline int tide__sock_enter(tide__sock_t *s) {
    uint32_t u = atomic_fetch_add_explicit(&s->users, 1, memory_order_acquire);
    if (__builtin_expect((u & SOCK_CLOSED) != 0, 0)) {
        tide__sock_leave(s);
        return -EBADF;
    }
    return 0;
}

/* Snapshot of a direction's event counter: read it before the system call whose EAGAIN will
 * make the caller wait. */
static inline uint32_t tide__sock_seq(tide__sock_t *s, int dir) {
    return atomic_load_explicit(&s->seq[dir], memory_order_acquire);
}

/* A stream read that returned fewer bytes than asked emptied the receive queue: any byte that
 * arrives later raises a readiness edge, and so a new DIR_READ seq. So while the seq is still
 * the one read before that call (and no hang-up or error was reported, which a read must see),
 * the next read would only get EAGAIN: the caller can wait at once and save the system call. */
static inline bool tide__sock_known_empty(tide__sock_t *s, uint32_t seen) {
    return atomic_load_explicit(&s->drained, memory_order_relaxed) == (SOCK_DRAINED | seen) &&
           !atomic_load_explicit(&s->hup, memory_order_relaxed);
}
static inline void tide__sock_note_read(tide__sock_t *s, uint32_t seen, size_t got, size_t asked) {
    uint64_t v = got < asked ? SOCK_DRAINED | seen : 0;
    if (atomic_load_explicit(&s->drained, memory_order_relaxed) != v)
        atomic_store_explicit(&s->drained, v, memory_order_relaxed);
}

/* Wait until an event in direction dir arrives after `seen` (returns at once if one already
 * has), the socket is closed (-EBADF), or `deadline` (TIDE_FOREVER: none; the earlier of it
 * and the caller's scope deadline applies) or a cancel ends the wait (-ETIMEDOUT,
 * -ECANCELED). 0 means: try the system call again. `what` shows in task dumps. */
static inline int tide__sock_wait_until(tide__sock_t *s, int dir, uint32_t seen,
                                        const char *what, int64_t deadline);

/* The same under the caller's scope only. */
static inline int tide__sock_wait(tide__sock_t *s, int dir, uint32_t seen, const char *what) {
    return tide__sock_wait_until(s, dir, seen, what, TIDE_FOREVER);
}

/* tide__sock_wait_until's other cases (io/sock.c), s's lock held and dropped: closed, an
 * event since `seen`, or the direction's slot taken (or none: DIR_SLOT). */
int tide__sock_wait_other(tide__sock_t *s, int dir, uint32_t seen, tide_waker_t w,
                          const char *what, int64_t deadline);
/* A slot wait ended otherwise than by the socket's wake (deadline, cancel): withdraw. */
void tide__sock_leave_slot(tide__sock_t *s, int dir, struct tide__task *self);

/* Inline, so that a parked reader's stack holds no frame of its own between the read and
 * the park (the common case: the direction's first waiter, no event since `seen`). */
static inline int tide__sock_wait_until(tide__sock_t *s, int dir, uint32_t seen,
                                        const char *what, int64_t deadline) {
    tide_waker_t w = tide_park_prepare();
    tide__spin_lock(&s->lock);
    if (__builtin_expect((atomic_load_explicit(&s->users, memory_order_relaxed) & SOCK_CLOSED) ||
                             atomic_load_explicit(&s->seq[dir], memory_order_relaxed) != seen ||
                             dir >= DIR_SLOT || s->slot[dir] != NULL,
                         0))
        return tide__sock_wait_other(s, dir, seen, w, what, deadline);
    s->slot[dir] = w.task;
    tide__spin_unlock(&s->lock);
    int r = tide__park_self_until(w.task, what, deadline);
    /* 0: woken by a wake of this wait, which only the socket had, and which emptied the
     * slot under the lock before waking: nothing to withdraw, no lock to take. */
    if (__builtin_expect(r != 0, 0)) tide__sock_leave_slot(s, dir, w.task);
    return r;
}

/* A deadline an I/O call computes only if it has to wait: `deadline` starts as
 * TIDE__LAZY_UNSET and becomes "now + after" (the coarse clock, see tide__coarse_now) at the
 * call's first wait, so a call that does not block reads no clock. A caller that makes
 * several calls under one deadline passes the same record to each. */
#define TIDE__LAZY_UNSET INT64_MIN
typedef struct tide__lazy_deadline {
    int64_t deadline; /* absolute, TIDE_FOREVER (none) or TIDE__LAZY_UNSET (not yet started) */
    int64_t after;    /* what it becomes when started: now + after (after > 0) */
} tide__lazy_deadline_t;

/* The kernel's tick-granular monotonic clock (a few ms behind the exact one, a fifth of its
 * cost): for timeouts of seconds. */
static inline int64_t tide__coarse_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The deadline of d, started now if it was not: for a call about to wait. */
static inline int64_t tide__lazy_start(tide__lazy_deadline_t *d) {
    if (d->deadline == TIDE__LAZY_UNSET) {
        int64_t now = tide__coarse_now();
        d->deadline = d->after > INT64_MAX - now ? TIDE_FOREVER : now + d->after;
    }
    return d->deadline;
}

/* tide_tcp_read / tide_tcp_write under d (NULL: only the caller's scope), for the server loop
 * (io/serve.c): -ETIMEDOUT when d's deadline (or the scope's) ends a wait. */
ssize_t tide__tcp_read_lazy(tide_tcp_t *c, void *buf, size_t len, tide__lazy_deadline_t *d);
ssize_t tide__tcp_write_lazy(tide_tcp_t *c, const void *buf, size_t len,
                             tide__lazy_deadline_t *d);
ssize_t tide__tcp_writev_lazy(tide_tcp_t *c, const struct iovec *iov, int iovcnt,
                              tide__lazy_deadline_t *d);

/* Wake the waiters of dir after bumping its counter (a freed listener slot). */
void tide__sock_notify(tide__sock_t *s, int dir);

/* The record at idx if it is still in generation gen, locked; NULL otherwise. */
tide__sock_t *tide__sock_lock_gen(tide__reactor_t *r, uint32_t idx, uint32_t gen);

/* A deadline or cancel that is already due, checked on the fast path (before a system call
 * that would consume data), honouring shields: 0, -ETIMEDOUT or -ECANCELED. */
int tide__net_check_slow(void);
static inline int tide__net_check(void) {
    if (__builtin_expect(!tide__deadline_due(), 1)) return 0;
    return tide__net_check_slow();
}

/* Open live handles, for tests' leak checks: each open record counts one in tide__io_live. */

/* Address helpers (io/addr.c). Numeric only; 0 or -EINVAL. */
int tide__addr_numeric(tide_addr_t *a, const char *host, uint16_t port);

/* The fd_wait driver side (io/fdwait.c): freed with the driver. */
void tide__fdwait_free(tide__io_t *io);

#endif
