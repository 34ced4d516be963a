/* tide_fd_wait: readiness of a descriptor tide does not own (a database or cache client's
 * socket, a pipe, an eventfd), for non-blocking libraries that want to plug into tide.
 *
 * The fd is not ours, so it cannot stay registered in the reactor's set (its owner may close
 * it at any time). Instead each wait is an operation on the driver, watched by a libuv
 * uv_poll_t that exists only while someone waits. libuv allows one poll handle per fd, so the
 * driver keeps one watch per fd, shared by all its waiters, polling the union of what they
 * ask. A zero-timeout poll(2) on the worker first answers the common "already ready" case
 * without the driver. */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "net_internal.h"

typedef struct fd_watch fd_watch_t;

typedef struct fd_wait_op {
    tide__io_op_t op;         /* the task's wait */
    int fd;
    int events;               /* TIDE_READABLE | TIDE_WRITABLE asked */
    fd_watch_t *watch;        /* the fd's watch while linked (driver thread only) */
    int result;               /* what to complete with, once unlinked */
    tide__list_node_t link;   /* in the watch's waiter list, then in a list to complete */
} fd_wait_op_t;

struct fd_watch {
    uv_poll_t poll;           /* libuv's watch of fd */
    int fd;
    int polling;              /* UV_READABLE | UV_WRITABLE being polled now */
    tide__list_t waiters;     /* fd_wait_op_t: tasks waiting on fd (newest first) */
};

/* The driver's watches by fd (driver thread only). */
typedef struct fd_table {
    fd_watch_t **by_fd;
    size_t cap;
} fd_table_t;

static fd_table_t *table(tide__io_t *io) {
    void **slot = tide__io_fdwatch(io);
    if (!*slot) *slot = tide__new(fd_table_t);
    return *slot;
}

static int table_reserve(fd_table_t *t, int fd) {
    if ((size_t)fd < t->cap) return 0;
    size_t cap = t->cap ? t->cap : 64;
    while (cap <= (size_t)fd) cap *= 2;
    fd_watch_t **n = tide__calloc(cap * sizeof *n);
    if (!n) return -ENOMEM;
    if (t->by_fd) memcpy(n, t->by_fd, t->cap * sizeof *n);
    tide__free(t->by_fd, t->cap * sizeof *n);
    t->by_fd = n;
    t->cap = cap;
    return 0;
}

void tide__fdwait_free(tide__io_t *io) {
    fd_table_t *t = *tide__io_fdwatch(io);
    if (!t) return;
    tide__free(t->by_fd, t->cap * sizeof *t->by_fd);
    tide__delete(t);
    *tide__io_fdwatch(io) = NULL;
}

static void on_watch_closed(uv_handle_t *h) {
    fd_watch_t *w = h->data;
    tide__delete(w);
    tide__io_live_add(-1);
}

static fd_wait_op_t *op_of(tide__list_node_t *n) {
    return tide__list_entry(n, fd_wait_op_t, link);
}

static void unlink_op(fd_watch_t *w, fd_wait_op_t *o) {
    tide__list_remove(&w->waiters, &o->link);
    o->watch = NULL;
}

static void on_poll(uv_poll_t *h, int status, int events);

/* Complete a list of unlinked operations. Done last, after every system call on the fd:
 * once a waiter is completed its task may close the fd. */
static void complete_all(tide__list_t *done) {
    tide__list_node_t *n;
    while ((n = tide__list_pop_front(done)) != NULL) {
        fd_wait_op_t *o = op_of(n);
        tide__io_complete(&o->op, o->result);
    }
}

/* Poll what the remaining waiters want; drop the watch when nobody is left. Moves the
 * waiters it had to fail to *failed (to be completed by the caller, after it is done with
 * the fd). */
static void update(tide__io_t *io, fd_watch_t *w, tide__list_t *failed) {
    int want = 0;
    tide__list_for_each(n, &w->waiters) {
        fd_wait_op_t *o = op_of(n);
        if (o->events & TIDE_READABLE) want |= UV_READABLE;
        if (o->events & TIDE_WRITABLE) want |= UV_WRITABLE;
    }
    if (want == 0) {
        table(io)->by_fd[w->fd] = NULL;
        /* Synchronous: libuv takes fd out of its epoll set here, not later. */
        uv_poll_stop(&w->poll);
        uv_close((uv_handle_t *)&w->poll, on_watch_closed);
        return;
    }
    if (want == w->polling) return;
    int e = uv_poll_start(&w->poll, want, on_poll);
    if (e == 0) {
        w->polling = want;
        return;
    }
    /* Cannot happen for a handle that was polling; fail the waiters rather than hang. */
    while (!tide__list_empty(&w->waiters)) {
        fd_wait_op_t *o = op_of(tide__list_first(&w->waiters));
        unlink_op(w, o);
        o->result = e;
        tide__list_push_front(failed, &o->link);
    }
    update(io, w, failed);
}

static void on_poll(uv_poll_t *h, int status, int events) {
    fd_watch_t *w = h->data;
    tide__io_t *io = h->loop->data;
    int ready = 0;
    if (status < 0) {
        /* libuv reports POLLERR as an error: a pending socket error, or a bad fd. Either way
         * the waiter's next system call tells it which. */
        ready = TIDE_READABLE | TIDE_WRITABLE;
        w->polling = 0; /* libuv stopped the handle */
    } else {
        if (events & (UV_READABLE | UV_DISCONNECT)) ready |= TIDE_READABLE;
        if (events & UV_WRITABLE) ready |= TIDE_WRITABLE;
    }
    tide__list_t done = {0}, failed = {0};
    tide__list_for_each_safe(n, &w->waiters) {
        fd_wait_op_t *o = op_of(n);
        if (o->events & ready) {
            unlink_op(w, o);
            o->result = o->events & ready;
            tide__list_push_front(&done, &o->link);
        }
    }
    update(io, w, &failed);
    complete_all(&done);
    complete_all(&failed);
}

static void wait_start(tide__io_op_t *op, uv_loop_t *loop) {
    fd_wait_op_t *o = (fd_wait_op_t *)op;
    tide__io_t *io = loop->data;
    fd_table_t *t = table(io);
    if (!t || table_reserve(t, o->fd) < 0) {
        tide__io_complete(op, -ENOMEM);
        return;
    }
    fd_watch_t *w = t->by_fd[o->fd];
    if (!w) {
        w = tide__new(fd_watch_t);
        if (!w) {
            tide__io_complete(op, -ENOMEM);
            return;
        }
        int e = uv_poll_init(loop, &w->poll, o->fd);
        if (e < 0) {
            tide__delete(w);
            tide__io_complete(op, e);
            return;
        }
        tide__io_live_add(1);
        w->poll.data = w;
        w->fd = o->fd;
        t->by_fd[o->fd] = w;
    }
    tide__list_push_front(&w->waiters, &o->link);
    o->watch = w;
    tide__list_t failed = {0};
    update(io, w, &failed);
    complete_all(&failed);
}

static void wait_cancel(tide__io_op_t *op, uv_loop_t *loop) {
    fd_wait_op_t *o = (fd_wait_op_t *)op;
    fd_watch_t *w = o->watch;
    if (!w) return; /* completed already */
    unlink_op(w, o);
    tide__list_t failed = {0};
    update(loop->data, w, &failed);
    tide__io_complete(op, UV_ECANCELED);
    complete_all(&failed);
}

int tide_fd_wait(int fd, int events) {
    if (fd < 0 || events == 0 || (events & ~(TIDE_READABLE | TIDE_WRITABLE))) return -EINVAL;
    tide__io_t *io = tide__io_current();
    if (!io) return tide__io_error();
    int r = tide__net_check();
    if (r < 0) return r;

    struct pollfd p = {.fd = fd};
    if (events & TIDE_READABLE) p.events |= POLLIN;
    if (events & TIDE_WRITABLE) p.events |= POLLOUT;
    if (poll(&p, 1, 0) == 1) {
        if (p.revents & POLLNVAL) return -EBADF;
        int ready = 0;
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) ready |= TIDE_READABLE;
        if (p.revents & (POLLOUT | POLLHUP | POLLERR)) ready |= TIDE_WRITABLE;
        if (ready & events) {
            tide_budget_tick();
            return ready & events;
        }
    }

    fd_wait_op_t o = {.op = {.start = wait_start, .cancel = wait_cancel}, .fd = fd, .events = events};
    return tide__io_run(io, &o.op, "fd wait");
}
