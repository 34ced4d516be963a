/* The I/O driver thread (see driver.h). */
#include "driver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "net_internal.h"
#include "tide/ext.h"

struct tide__io {
    uv_loop_t loop;
    uv_async_t wakeup;                 /* signalled by submitters; drains `pending` */
    _Atomic(tide__io_node_t *) pending;/* submission stack (LIFO; reversed when drained) */
    pthread_t thread;
    _Atomic bool stopping;
    tide_runtime_t *rt;
    tide__reactor_t *reactor;          /* the sockets' epoll set, harvested on this loop */
    void *fdwatch;                     /* tide_fd_wait's table of watched fds (io/fdwait.c) */
};

static _Atomic int64_t io_live;

int64_t tide__io_live(void) { return atomic_load(&io_live); }
void tide__io_live_add(int64_t delta) { atomic_fetch_add(&io_live, delta); }

static void op_lock(tide__io_op_t *op) {
    while (atomic_exchange_explicit(&op->lock, 1, memory_order_acquire)) {
        while (atomic_load_explicit(&op->lock, memory_order_relaxed)) {
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
        }
    }
}

static void op_unlock(tide__io_op_t *op) {
    atomic_store_explicit(&op->lock, 0, memory_order_release);
}

/* ---- driver thread --------------------------------------------------------------------- */

static void run_node(tide__io_t *io, tide__io_node_t *n) {
    if (!n->op) {
        /* A posted function: the node is the first member of a tide__io_post_t. */
        tide__io_post_t *p = (tide__io_post_t *)(void *)n;
        p->fn(n, &io->loop);
        return;
    }
    tide__io_op_t *op = n->op;
    if (!n->cancel) {
        op->start(op, &io->loop);
    } else {
        /* Runs after start (the stack is drained in submission order), and only matters if
         * the operation has not completed yet. The node is part of op, in the task's frame:
         * once both flags are set the task may return, so op is not touched after that. An
         * operation completes only on this thread, so `done` cannot change under us here. */
        op_lock(op);
        bool done = op->done;
        op->cancel_taken = true;
        tide_waker_t w = op->waker;
        op_unlock(op);
        if (done) tide_wake(w); /* the task may be waiting for this node, not for the op */
        else if (op->cancel) op->cancel(op, &io->loop);
    }
}

static void on_wakeup(uv_async_t *a) {
    tide__io_t *io = a->data;
    tide__io_node_t *n = atomic_exchange_explicit(&io->pending, NULL, memory_order_acquire);
    /* The stack holds the newest first: reverse it so operations start in order. */
    tide__io_node_t *fifo = NULL;
    while (n) {
        tide__io_node_t *next = n->next;
        n->next = fifo;
        fifo = n;
        n = next;
    }
    while (fifo) {
        tide__io_node_t *next = fifo->next;
        run_node(io, fifo);
        fifo = next;
    }
    if (atomic_load(&io->stopping)) uv_stop(&io->loop);
}

static void *driver_main(void *arg) {
    tide__io_t *io = arg;
    pthread_setname_np(pthread_self(), "tide-io");
    uv_run(&io->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void push(tide__io_t *io, tide__io_node_t *n) {
    tide__io_node_t *head = atomic_load_explicit(&io->pending, memory_order_relaxed);
    do {
        n->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&io->pending, &head, n,
                                                    memory_order_release, memory_order_relaxed));
    uv_async_send(&io->wakeup);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

static void close_walk(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void destroy(void *p) {
    tide__io_t *io = p;
    tide__reactor_unhook(io->reactor, io->rt); /* no worker polls the set from now on */
    atomic_store(&io->stopping, true);
    uv_async_send(&io->wakeup);
    pthread_join(io->thread, NULL);
    /* Every task has ended, so every handle still open belongs to nobody: close them all and
     * let their close callbacks run. */
    uv_walk(&io->loop, close_walk, NULL);
    uv_run(&io->loop, UV_RUN_DEFAULT);
    tide__fdwait_free(io);
    tide__reactor_free(io->reactor);
    uv_loop_close(&io->loop);
    free(io);
}

static void *create(tide_runtime_t *rt) {
    tide__io_t *io = tide__alloc_fault() ? NULL : calloc(1, sizeof *io);
    if (!io) return NULL;
    io->rt = rt;
    atomic_init(&io->pending, NULL);
    atomic_init(&io->stopping, false);
    if (uv_loop_init(&io->loop) != 0) goto error1;
    io->loop.data = io;
    if (uv_async_init(&io->loop, &io->wakeup, on_wakeup) != 0) goto error2;
    io->wakeup.data = io;
    io->reactor = tide__reactor_new(io, &io->loop, rt);
    if (!io->reactor) goto error3;
    if (pthread_create(&io->thread, NULL, driver_main, io) != 0) goto error3;
    return io;
error3:
    /* The async handle and the reactor's poll: close them and let their callbacks run. */
    uv_walk(&io->loop, close_walk, NULL);
    uv_run(&io->loop, UV_RUN_DEFAULT);
    tide__reactor_free(io->reactor);
error2:
    uv_loop_close(&io->loop);
error1:
    free(io);
    TIDE__LOG(rt, TIDE_LOG_WARN, "the I/O driver failed to start (tried again at the next I/O call)");
    return NULL;
}

tide__io_t *tide__io_get(tide_runtime_t *rt) {
    return tide__ext_get(rt, TIDE__EXT_IO, create, destroy);
}

tide__io_t *tide__io_current(void) {
    tide_runtime_t *rt = tide_runtime_current();
    return rt ? tide__io_get(rt) : NULL;
}

uv_loop_t *tide__io_loop(tide__io_t *io) {
    return &io->loop;
}

tide__reactor_t *tide__io_reactor(tide__io_t *io) {
    return io->reactor;
}

void **tide__io_fdwatch(tide__io_t *io) {
    return &io->fdwatch;
}

bool tide__io_on_driver(tide__io_t *io) {
    return pthread_equal(pthread_self(), io->thread);
}

void tide__io_post(tide__io_t *io, tide__io_node_t *node) {
    node->op = NULL;
    push(io, node);
}

/* ---- operations ------------------------------------------------------------------------ */

void tide__io_complete(tide__io_op_t *op, int result) {
    op_lock(op);
    op->result = result;
    op->done = true;
    tide_waker_t w = op->waker; /* op may vanish as soon as we unlock */
    op_unlock(op);
    tide_wake(w);
}

int tide__io_run(tide__io_t *io, tide__io_op_t *op, const char *what) {
    op->io = io;
    op->done = false;
    op->cancel_requested = false;
    op->cancel_taken = false;
    op->result = 0;
    atomic_store_explicit(&op->lock, 0, memory_order_relaxed);
    op->start_node = (tide__io_node_t){.op = op, .cancel = false};
    op->cancel_node = (tide__io_node_t){.op = op, .cancel = true};
    op->waker = tide_park_prepare();
    push(io, &op->start_node);

    int r;
    for (;;) {
        r = tide_park_on(what);
        op_lock(op);
        bool done = op->done;
        if (!done && r == 0) op->waker = tide_park_prepare(); /* spurious: wait again */
        op_unlock(op);
        if (done) return op->result;
        if (r < 0) break;
    }

    /* Deadline or cancellation: ask the driver to cancel, then wait for the operation to
     * really end and for the driver to be done with the cancel request (both live in our
     * frame), whatever further deadlines or cancels say. The operation may well complete
     * before the driver gets to the request: returning then would leave the driver a node in
     * a dead frame. */
    op_lock(op);
    op->cancel_requested = true;
    op_unlock(op);
    push(io, &op->cancel_node);
    tide_shield_t shield;
    tide_shield_begin(&shield);
    for (;;) {
        op_lock(op);
        bool over = op->done && op->cancel_taken;
        if (!over) op->waker = tide_park_prepare();
        op_unlock(op);
        if (over) break;
        tide_park_on(what);
    }
    tide_shield_end(&shield);
    /* Cancelled for real: report why we stopped waiting. Completed anyway: report that. */
    return op->result == UV_ECANCELED ? r : op->result;
}
