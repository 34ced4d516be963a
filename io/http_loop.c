/* curl's multi interface on the I/O driver's libuv loop (curl's documented libuv
 * integration): curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION, one uv_poll_t
 * each) and when to call it back (CURLMOPT_TIMERFUNCTION, one uv_timer_t); libuv tells curl
 * what happened through curl_multi_socket_action; finished transfers complete their task's
 * operation. Everything here runs on the driver thread, except creating and destroying the
 * per-runtime state. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "http_internal.h"
#include "platform.h"
#include "sys_internal.h"
#include "tide/ext.h"
#include "tide/http.h"

/* Idle connections the runtime keeps open for reuse (over all hosts). */
#define MAX_IDLE_CONNS 1024

/* A socket curl asked us to watch. */
typedef struct sock {
    uv_poll_t poll;          /* libuv's watcher of fd */
    curl_socket_t fd;        /* the socket */
    tide__http_t *http;      /* the owner */
    struct sock *next;       /* links in http->socks, for shutdown */
    struct sock *prev;
} sock_t;

struct tide__http {
    _Atomic(tide__io_t *) io; /* the runtime's driver, recorded by the first request */
    CURLM *multi;             /* driver only: curl's multi handle (made on first use) */
    uv_timer_t timer;         /* driver only: curl's timeout */
    bool started;             /* driver only: multi and timer exist */
    sock_t *socks;            /* driver only: sockets being watched */
    size_t live;              /* driver only: libuv handles open (timer, polls) */
    tide__io_op_t *closing;   /* driver only: the shutdown, completed when live reaches 0 */
};

/* ---- curl -> libuv --------------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
    tide__http_t *http = h->data;
    if ((void *)h != (void *)&http->timer) tide__free(h, sizeof(sock_t));
    tide__io_live_add(-1);
    if (--http->live == 0 && http->closing) tide__io_complete(http->closing, 0);
}

static void sock_close(sock_t *s) {
    tide__http_t *http = s->http;
    if (s->prev) s->prev->next = s->next;
    else http->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    s->poll.data = http;
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
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

static void on_poll(uv_poll_t *h, int status, int events) {
    sock_t *s = h->data;
    tide__http_t *http = s->http;
    int flags = 0;
    if (status < 0) flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
    int running;
    /* May call on_socket, which may close s: do not touch s afterwards. */
    curl_multi_socket_action(http->multi, s->fd, flags, &running);
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
    sock_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(http->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (!s) {
        tide__io_t *io = atomic_load_explicit(&http->io, memory_order_relaxed);
        s = tide__calloc(sizeof *s);
        if (!s) return -1;
        if (uv_poll_init_socket(tide__io_loop(io), &s->poll, fd) < 0) {
            tide__free(s, sizeof *s);
            return -1;
        }
        s->fd = fd;
        s->http = http;
        s->poll.data = s;
        s->next = http->socks;
        if (s->next) s->next->prev = s;
        http->socks = s;
        http->live++;
        tide__io_live_add(1);
        curl_multi_assign(http->multi, fd, s);
    }
    int ev = 0;
    if (what & CURL_POLL_IN) ev |= UV_READABLE;
    if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
    return uv_poll_start(&s->poll, ev, on_poll) < 0 ? -1 : 0;
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
    if (!http->multi) return -ENOMEM;
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
    uv_timer_init(loop, &http->timer);
    http->timer.data = http;
    http->live++;
    tide__io_live_add(1);
    http->started = true;
    return 0;
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
    while (http->socks) sock_close(http->socks);
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
    tide__free(http, sizeof *http);
}

static void *http_create(tide_runtime_t *rt) {
    return tide__calloc(sizeof(tide__http_t));
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
