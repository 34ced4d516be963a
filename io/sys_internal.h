/* Shared by the system half of io/ (files, signals, processes, HTTP): finding the caller's
 * driver, and a list of parked tasks that something on the driver wakes. Internal. */
#ifndef TIDE_IO_SYS_INTERNAL_H
#define TIDE_IO_SYS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "driver.h"
#include "list.h"
#include "tide/core.h"
#include "tide/waker.h"

/* The I/O driver of the calling task's runtime; NULL with *err = -EPERM outside a task, or
 * -ENOMEM if the driver could not start. */
static inline tide__io_t *tide__sys_io(int *err) {
    if (!tide_runtime_current()) {
        *err = -EPERM;
        return NULL;
    }
    tide__io_t *io = tide__io_current();
    if (!io) *err = -ENOMEM;
    return io;
}

/* Whether the caller may start an operation: 0, or -ETIMEDOUT (its deadline has passed) or
 * -ECANCELED (it is cancelled), unless a shield lifts them. Checked before anything starts,
 * so a cancelled task gets its answer at once and never has an operation race its cancel. */
static inline int tide__sys_gate(void) {
    int64_t d = tide_deadline(); /* a shield makes it TIDE_FOREVER */
    if (d != TIDE_FOREVER && tide_now() >= d) return -ETIMEDOUT;
    if (tide_cancelled()) {
        /* Cancelled, but maybe shielded: a park that is already woken tells which (it
         * returns -ECANCELED at once only when the cancel applies). */
        tide_waker_t w = tide_park_prepare();
        tide_wake(w);
        return tide_park_on("cancel check");
    }
    return 0;
}

/* Run op on the driver (tide__io_run, which returns only once the driver is done with every
 * part of op, so its memory may be reused at once). */
static inline int tide__sys_run(tide__io_t *io, tide__io_op_t *op, const char *what) {
    return tide__io_run(io, op, what);
}

/* A parked task, linked (in its own frame) into the wait list of the object it waits on.
 * Lists are guarded by their owner's lock. */
typedef struct tide__sys_waiter {
    tide__list_node_t link;        /* in the wait list, oldest first */
    tide_waker_t waker;            /* woken, and unlinked, by tide__sys_wake_all */
    bool linked;                   /* still in the list (false once woken) */
} tide__sys_waiter_t;

typedef struct tide__sys_waitq {
    tide__list_t waiters; /* tide__sys_waiter_t, oldest first */
} tide__sys_waitq_t;

static inline void tide__sys_wait_add(tide__sys_waitq_t *q, tide__sys_waiter_t *w,
                                      tide_waker_t waker) {
    w->waker = waker;
    tide__list_push_back(&q->waiters, &w->link);
    w->linked = true;
}

/* Withdraw w if nobody woke it yet. */
static inline void tide__sys_wait_remove(tide__sys_waitq_t *q, tide__sys_waiter_t *w) {
    if (!w->linked) return;
    tide__list_remove(&q->waiters, &w->link);
    w->linked = false;
}

/* Wake and unlink every waiter (each re-checks the state it waits for). */
static inline void tide__sys_wake_all(tide__sys_waitq_t *q) {
    tide__list_t all = q->waiters;
    tide__list_node_t *n = tide__list_first(&all);
    tide__list_init(&q->waiters);
    while (n) {
        tide__list_node_t *next = tide__list_next(&all, n);
        tide__sys_waiter_t *w = tide__list_entry(n, tide__sys_waiter_t, link);
        tide_waker_t k = w->waker;
        w->linked = false; /* w may vanish once its task runs: touch it no more */
        tide_wake(k);
        n = next;
    }
}

#endif
