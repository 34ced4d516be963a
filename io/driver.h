/* The I/O driver: one thread per runtime running a libuv loop (libuv is not thread-safe).
 *
 * Tasks hand it operations through a lock-free submission stack and uv_async_send (which
 * coalesces, so the driver drains everything per wake-up); completions come back through
 * wakers. Internal to io/: user code sees tide/net.h (and the file API).
 *
 * An operation (tide__io_op_t) lives in the submitting task's memory (usually its stack) and
 * runs as: start(op, loop) on the driver ... the libuv callback calls tide__io_complete(op, r)
 * ... the task resumes with r. If the task's wait ends early (deadline, cancel), the driver
 * runs cancel(op, loop), which must make the operation complete soon (uv_cancel, uv_close,
 * stop reading); the task waits for that completion — shielded — before its stack frame can
 * go, so libuv never writes into freed memory.
 *
 * Sockets do not wait through operations: the driver also harvests the reactor's
 * edge-triggered epoll set (io/poller.c, io/sock.c, net_internal.h), which tasks register their sockets
 * in once and wait on without a request to the driver. */
#ifndef TIDE_IO_DRIVER_H
#define TIDE_IO_DRIVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

#include "tide/core.h"
#include "tide/waker.h"

typedef struct tide__io tide__io_t;
typedef struct tide__io_op tide__io_op_t;

/* A node of the submission stack: asks the driver to start or to cancel an operation. */
typedef struct tide__io_node {
    struct tide__io_node *next;
    tide__io_op_t *op;
    bool cancel; /* run op->cancel rather than op->start */
} tide__io_node_t;

struct tide__io_op {
    void (*start)(tide__io_op_t *op, uv_loop_t *loop);  /* driver: begin the libuv request */
    void (*cancel)(tide__io_op_t *op, uv_loop_t *loop); /* driver: make it finish soon; may be
                                                            NULL (then it just runs to the end) */
    tide__io_t *io;           /* the driver it was submitted to */
    tide__io_node_t start_node;
    tide__io_node_t cancel_node;
    _Atomic uint32_t lock;    /* guards waker/done/result between task and driver */
    tide_waker_t waker;       /* who to wake on completion (re-armed by the task) */
    bool done;                /* completed; result is valid */
    bool cancel_requested;    /* the task gave up waiting (set before cancel runs) */
    bool cancel_taken;        /* the driver is done with cancel_node (which lives in the
                                 task's frame too): the task may go once this and done hold */
    int result;               /* 0/count or negative errno (libuv's UV_E* are -errno) */
    void *data;               /* for the operation's own use */
};

/* The driver of rt, started on first use. NULL if it could not start (then I/O calls fail
 * with -ENOMEM). */
tide__io_t *tide__io_get(tide_runtime_t *rt);
/* The driver of the calling task's runtime; NULL outside a task. */
tide__io_t *tide__io_current(void);
/* The error for a NULL from tide__io_current (or the reactor of it): -EPERM outside a task,
 * else -ENOMEM (the driver could not start for lack of memory). */
static inline int tide__io_error(void) {
    return tide_runtime_current() ? -ENOMEM : -EPERM;
}
/* The libuv loop (only to be touched on the driver thread). */
uv_loop_t *tide__io_loop(tide__io_t *io);
/* True on the driver thread. */
bool tide__io_on_driver(tide__io_t *io);
/* The driver's socket reactor (io/poller.c and io/sock.c, see net_internal.h). */
struct tide__reactor *tide__io_reactor(tide__io_t *io);
/* tide_fd_wait's per-driver state (io/fdwait.c); only touched on the driver thread. */
void **tide__io_fdwatch(tide__io_t *io);

/* Run op on io's driver and wait for it: returns the operation's result, or -ETIMEDOUT /
 * -ECANCELED if the caller's deadline or cancellation ended the wait first and the operation
 * was really cancelled. If it completed anyway (say, data was read), its result is returned:
 * nothing the caller is told about is lost. `what` shows in task dumps. */
int tide__io_run(tide__io_t *io, tide__io_op_t *op, const char *what);

/* Driver side: finish op with result and wake its task. Call exactly once per operation. */
void tide__io_complete(tide__io_op_t *op, int result);

/* A function to run on the driver thread, fire-and-forget: fill in fn and pass &post->node to
 * tide__io_post. The post must stay valid until fn has run; fn may free it. Used for handle
 * teardown that nobody waits for. */
typedef struct tide__io_post {
    tide__io_node_t node;                             /* first: what tide__io_post takes */
    void (*fn)(tide__io_node_t *node, uv_loop_t *loop); /* runs on the driver thread */
} tide__io_post_t;

/* Queue node, the first member of a tide__io_post_t, for the driver thread. */
void tide__io_post(tide__io_t *io, tide__io_node_t *node);

/* Live objects owned by drivers (requests in flight, handles open): for leak checks. */
int64_t tide__io_live(void);
void tide__io_live_add(int64_t delta);

#endif
