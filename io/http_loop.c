/* curl's multi interface on the I/O driver's libuv loop (curl's documented libuv
 * integration): curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION; they go in a
 * private epoll set, see below) and when to call it back (CURLMOPT_TIMERFUNCTION, one uv_timer_t); libuv tells curl
 * what happened through curl_multi_socket_action; finished transfers complete their task's
 * operation. Everything here runs on the driver thread, except creating and destroying the
 * per-runtime state. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <unistd.h>

#include "http_internal.h"
#include "platform.h"
#include "sys_internal.h"
#include "tide/ext.h"
#include "tide/http.h"

/* Idle connections the runtime keeps open for reuse (over all hosts). */
#define MAX_IDLE_CONNS 1024

/* curl's sockets live in a private epoll set, level-triggered, watched by one uv_poll_t on
 * the driver's loop. Why not one uv_poll_t per socket (curl's libuv example): curl can close
 * a socket before it tells us to stop watching it, and libuv's stop then runs
 * EPOLL_CTL_DEL on a descriptor number that may by now be another file, even one another
 * libuv handle watches. Here a stop makes no system call at all: closing a socket already
 * took it out of the set, and an event from a socket we no longer watch (one curl keeps
 * open, idle) is dropped from the set when it arrives. The set is ours alone, so nothing
 * done to it can disturb another handle. */
#define EVENT_BATCH 64

/* What we know of descriptor fd (the table is indexed by descriptor number). */
typedef struct watch {
    uint32_t gen;  /* bumped at every request of curl's: tags the epoll registration */
    bool watched;  /* curl wants events from it */
} watch_t;

struct tide__http {
    _Atomic(tide__io_t *) io; /* the runtime's driver, recorded by the first request */
    CURLM *multi;             /* driver only: curl's multi handle (made on first use) */
    uv_timer_t timer;         /* driver only: curl's timeout */
    uv_poll_t poll;           /* driver only: the loop's watch on epfd */
    int epfd;                 /* driver only: curl's sockets */
    watch_t *watches;         /* driver only: by descriptor number */
    size_t nwatches;
    bool started;             /* driver only: multi, timer, epfd and poll exist */
    size_t live;              /* driver only: libuv handles open (timer, poll) */
    tide__io_op_t *closing;   /* driver only: the shutdown, completed when live reaches 0 */
};

/* ---- curl -> libuv --------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
    tide__http_t *http = h->data;
    if ((void *)h == (void *)&http->poll) close(http->epfd);
    tide__io_live_add(-1);
    if (--http->live == 0 && http->closing) {
        tide__free(http->watches, http->nwatches * sizeof *http->watches);
        http->watches = NULL;
        http->nwatches = 0;
        tide__io_complete(http->closing, 0);
    }
}

/* Hand every finished transfer back to its task. */
static void drain_done(tide__http_t *http) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(http->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE) continue;
        tide__http_xfer_t *x = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode code = m->data.result; /* m is invalid after the removal */
        curl_multi_remove_handle(http->multi, m->easy_handle);
        x->code = code;
        x->added = false;
        tide__io_live_add(-1);
        tide__io_complete(&x->op, 0);
    }
}

static uint64_t tag(int fd, uint32_t gen) {
    return (uint64_t)gen << 32 | (uint32_t)fd;
}

/* epfd is readable: hand curl what its sockets have. */
static void on_ready(uv_poll_t *h, int status, int events) {
    tide__http_t *http = h->data;
    struct epoll_event evs[EVENT_BATCH];
    int n = epoll_wait(http->epfd, evs, EVENT_BATCH, 0);
    for (int i = 0; i < n; i++) {
        int fd = (int)(uint32_t)evs[i].data.u64;
        uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
        /* Looked up afresh each time: socket_action may grow the table. */
        watch_t *w = (size_t)fd < http->nwatches ? &http->watches[fd] : NULL;
        if (!w || !w->watched) {
            /* No longer watched, yet registered: the descriptor is still the socket that
             * was registered (closing it would have removed it), so this is safe. */
            epoll_ctl(http->epfd, EPOLL_CTL_DEL, fd, NULL);
            continue;
        }
        if (w->gen != gen) continue; /* curl changed what it wants since this was harvested */
        uint32_t e = evs[i].events;
        int flags = 0;
        if (e & EPOLLERR) flags |= CURL_CSELECT_ERR;
        if (e & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) flags |= CURL_CSELECT_IN;
        if (e & (EPOLLOUT | EPOLLHUP)) flags |= CURL_CSELECT_OUT;
        int running;
        curl_multi_socket_action(http->multi, fd, flags, &running);
    }
    drain_done(http);
}

static void on_timer(uv_timer_t *t) {
    tide__http_t *http = t->data;
    int running;
    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_done(http);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    tide__http_t *http = userp;
    if (fd < 0) return -1;
    if (what == CURL_POLL_REMOVE) {
        /* No system call: the descriptor may already be closed (see the top of the file). */
        if ((size_t)fd < http->nwatches) http->watches[fd].watched = false;
        return 0;
    }
    if ((size_t)fd >= http->nwatches) {
        size_t n = http->nwatches ? http->nwatches : 64;
        while (n <= (size_t)fd) n *= 2;
        watch_t *w = tide__calloc(n * sizeof *w);
        if (!w) return -1;
        if (http->nwatches) memcpy(w, http->watches, http->nwatches * sizeof *w);
        tide__free(http->watches, http->nwatches * sizeof *w);
        http->watches = w;
        http->nwatches = n;
    }
    watch_t *w = &http->watches[fd];
    w->gen++;
    w->watched = true;
    struct epoll_event ev = {.data.u64 = tag(fd, w->gen)};
    if (what & CURL_POLL_IN) ev.events |= EPOLLIN | EPOLLRDHUP;
    if (what & CURL_POLL_OUT) ev.events |= EPOLLOUT;
    /* curl owns fd and it is open: these touch only that socket's registration. */
    if (epoll_ctl(http->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
    if (errno == ENOENT && epoll_ctl(http->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
    w->watched = false;
    return -1;
}

static int on_timeout(CURLM *multi, long ms, void *userp) {
    tide__http_t *http = userp;
    /* curl must not be called back from inside this function: a 0 ms timer runs on the
     * loop's next turn. */
    if (ms < 0) uv_timer_stop(&http->timer);
    else uv_timer_start(&http->timer, on_timer, (uint64_t)ms, 0);
    return 0;
}

static int start_multi(tide__http_t *http, uv_loop_t *loop) {
    http->multi = curl_multi_init();
    if (!http->multi) goto error1;
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    /* Keep idle connections for reuse. curl's default cache follows the number of transfers
     * in flight at each moment, so a dip in concurrency closes connections that the next
     * burst must open again (a connect and a close for every few requests). */
    curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, (long)MAX_IDLE_CONNS);
    /* Thousands of requests to one server must not become thousands of connections (and
     * descriptors): beyond this many, requests wait for a free connection. */
    curl_multi_setopt(http->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)TIDE_HTTP_MAX_HOST_CONNS);
    http->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (http->epfd < 0) goto error2;
    if (uv_poll_init(loop, &http->poll, http->epfd) < 0) goto error3;
    http->poll.data = http;
    uv_poll_start(&http->poll, UV_READABLE, on_ready);
    uv_timer_init(loop, &http->timer);
    http->timer.data = http;
    http->live += 2;
    tide__io_live_add(2);
    http->started = true;
    return 0;
error3:
    close(http->epfd);
error2:
    curl_multi_cleanup(http->multi);
    http->multi = NULL;
error1:
    return -ENOMEM;
}

/* ---- transfers ------------------------------------------------------------------------- */

static void xfer_start(tide__io_op_t *op, uv_loop_t *loop) {
    tide__http_xfer_t *x = (tide__http_xfer_t *)op;
    tide__http_t *http = x->http;
    if (!http->started && start_multi(http, loop) < 0) {
        tide__io_complete(op, -ENOMEM);
        return;
    }
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(http->multi, x->easy) != CURLM_OK) {
        tide__io_complete(op, -ENOMEM);
        return;
    }
    x->added = true;
    tide__io_live_add(1);
}

static void xfer_cancel(tide__io_op_t *op, uv_loop_t *loop) {
    tide__http_xfer_t *x = (tide__http_xfer_t *)op;
    if (!x->added) return; /* it finished (and completed) already */
    curl_multi_remove_handle(x->http->multi, x->easy);
    x->added = false;
    tide__io_live_add(-1);
    tide__io_complete(op, UV_ECANCELED);
}

int tide__http_run(tide__http_xfer_t *x) {
    tide__io_t *io = atomic_load_explicit(&x->http->io, memory_order_relaxed);
    x->op.start = xfer_start;
    x->op.cancel = xfer_cancel;
    x->added = false;
    return tide__sys_run(io, &x->op, "http fetch");
}

/* An unpause request: the transfer it names is in the task's frame until this completes. */
typedef struct unpause {
    tide__io_op_t op;      /* first */
    tide__http_xfer_t *x;  /* the paused transfer */
} unpause_t;

static void unpause_start(tide__io_op_t *op, uv_loop_t *loop) {
    tide__http_xfer_t *x = ((unpause_t *)op)->x;
    if (x->added) {
        /* curl may deliver the held data (our write callback) and even finish the transfer
         * from inside this call. */
        curl_easy_pause(x->easy, CURLPAUSE_CONT);
        drain_done(x->http);
    }
    tide__io_complete(op, 0);
}

int tide__http_unpause(tide__http_xfer_t *x) {
    tide__io_t *io = atomic_load_explicit(&x->http->io, memory_order_relaxed);
    unpause_t u = {.op = {.start = unpause_start}, .x = x};
    /* Shielded: it is short, and a transfer left paused would never end. */
    tide_shield_t shield;
    tide_shield_begin(&shield);
    int r = tide__sys_run(io, &u.op, "http unpause");
    tide_shield_end(&shield);
    return r;
}

/* ---- per-runtime state ----------------------------------------------------------------- */

static void shutdown_start(tide__io_op_t *op, uv_loop_t *loop) {
    tide__http_t *http = ((tide__http_xfer_t *)op)->http;
    if (!http->started) {
        tide__io_complete(op, 0);
        return;
    }
    http->closing = op;
    /* Every task has ended, so no transfer is in flight; this closes the kept-alive
     * connections, telling on_socket to drop their watchers. */
    curl_multi_cleanup(http->multi);
    http->multi = NULL;
    uv_close((uv_handle_t *)&http->poll, on_handle_closed);
    uv_close((uv_handle_t *)&http->timer, on_handle_closed);
}

static void http_destroy(void *p) {
    tide__http_t *http = p;
    tide__io_t *io = atomic_load(&http->io);
    if (io) {
        /* Runs in the thread freeing the runtime (not a task): the wait blocks it, and the
         * driver is still up (slots are torn down newest first, the driver is slot 0). */
        tide__http_xfer_t x = {.op = {.start = shutdown_start}, .http = http};
        tide__sys_run(io, &x.op, "http shutdown");
    }
    tide__delete(http);
}

static void *http_create(tide_runtime_t *rt) {
    return tide__new(tide__http_t);
}

tide__http_t *tide__http_get(tide_runtime_t *rt, tide__io_t *io) {
    /* The driver cannot be looked up inside http_create (the slot lock is held there), so
     * each request records it; it is the same pointer every time. */
    tide__http_t *http = tide__ext_get(rt, TIDE__EXT_HTTP, http_create, http_destroy);
    if (http) atomic_store_explicit(&http->io, io, memory_order_relaxed);
    return http;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void tide__http_global_init(void) {
    pthread_once(&global_once, global_init);
}
