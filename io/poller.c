/* The poller: the reactor's edge-triggered epoll set, in which the socket records of sock.c
 * are registered (see net_internal.h for the scheme), and its harvesting. The workers harvest
 * it themselves
 * (the park hook of tide/ext.h, tokio's model): the first worker with nothing to run sleeps
 * in epoll_wait on it, and busy workers poll it without blocking every 61 picks, so a
 * readiness event wakes its task from the worker that will run it. Measured against the
 * driver thread harvesting it (TIDE_IO_PARK=0 keeps that, for comparison; http_hello,
 * wrk -t1 -d5s, 2 workers, TIDE_IO_PARK=0 and 1 alternated over rounds): -c100 66-91k vs
 * 61-67k requests/s at 8.4-12.7 vs 12.8-14.1 us of CPU each; -c1000 62-69k vs 50-53k at
 * 10.6-11.8 vs 14.2-15.2 us, p99 24-28 vs 23-26 ms; -c1 15k vs 9-12k, p50 49-56 vs 73-104 us.
 *
 * Chosen over the alternative, a libuv uv_poll_t per socket started by a request to the
 * driver on every EAGAIN, by measurement (http_hello, wrk -t1 -c100 -d5s, 2 workers, this
 * 2-vCPU machine, runs alternated): the shared set served 77-78k requests/s at 12.5 us of
 * server CPU each, the uv_poll_t variant 50-55k at 18.5-20.7 us, because it pays a driver round
 * trip (queue push, eventfd write, driver wake-up) and two epoll_ctl calls per blocked read,
 * where the shared set pays nothing per read and one epoll_wait per batch of events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "reactor.h"

#define HARVEST_BATCH 256
/* A worker's harvest: half its deque (TIDE_DEQUE_CAP, runtime/deque.h), the room the park
 * hook's caller leaves (runtime/park.c polls only while the deque is less than half full). */
#define WORKER_BATCH 128

/* epoll data of the runtime's wake-up eventfd in the set (no socket has this index). */
#define EFD_TAG UINT64_MAX

/* ---- harvesting (driver thread) -------------------------------------------------------- */

static void dispatch(tide__reactor_t *r, const struct epoll_event *ev) {
    uint32_t e = ev->events;
    unsigned dirs = 0;
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLPRI | EPOLLHUP | EPOLLERR)) dirs |= 1u << DIR_READ;
    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) dirs |= 1u << DIR_WRITE;
    tide__sock_ready(r, ev->data.u64, dirs, (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
}

static void harvest(tide__reactor_t *r) {
    struct epoll_event evs[HARVEST_BATCH];
    int n;
    do {
        n = epoll_wait(r->epfd, evs, HARVEST_BATCH, 0);
        for (int i = 0; i < n; i++) dispatch(r, &evs[i]);
    } while (n == HARVEST_BATCH);
}

static void on_ready(uv_poll_t *h, int status, int events) {
    (void)status;
    (void)events;
    harvest(h->data);
}

/* The park hook (tide/ext.h): a worker waits here instead of sleeping on its futex, and busy
 * workers call it with timeout 0. Readiness then reaches tasks from the worker that will run
 * them, with no hop through the driver thread. The runtime's eventfd is in the set: it
 * becomes readable when someone wants the worker back. */
static int worker_poll(void *ctx, int efd, int64_t timeout_ns) {
    (void)efd; /* in the set, edge-triggered: never read */
    tide__reactor_t *r = ctx;
    struct epoll_event evs[WORKER_BATCH];
    int timeout_ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
    if (timeout_ns > (int64_t)INT32_MAX * 1000000) timeout_ms = INT32_MAX;
    int dispatched = 0;
    /* One batch, not a loop until the set is empty: the wakes go to this worker's deque, and
     * more than its free half would spill the rest to the global queue (a lock, and tasks
     * that then run on whichever worker pops them). Events left over stay on the kernel's
     * ready list for the next poll, the other worker's or ours. */
    int n = epoll_wait(r->epfd, evs, WORKER_BATCH, timeout_ms);
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == EFD_TAG) continue; /* a wake-up: had (see hook_install) */
        dispatch(r, &evs[i]);
        dispatched++;
    }
    return dispatched;
}

/* Let the runtime's workers poll epfd (unless TIDE_IO_PARK=0 asks for the driver to do it,
 * the design this replaced, kept for comparison). false: the driver keeps polling. */
static bool hook_install(tide__reactor_t *r, tide_runtime_t *rt) {
    const char *env = getenv("TIDE_IO_PARK");
    if (env && strcmp(env, "0") == 0) return false;
    r->hook = (tide__park_hook_t){.poll = worker_poll, .ctx = r};
    int efd = tide__runtime_park_hook(rt, &r->hook);
    if (efd < 0) return false;
    /* Edge-triggered, and never read (as mio's waker): every write to an eventfd wakes its
     * waiters, so each write after a harvest is a new edge, and the worker woken by it need not
     * make a read(2) to rearm it (0.01-0.1 reads per HTTP request saved, strace). The counter
     * only grows: a write fails (EAGAIN, then no edge) only after 2^64 - 2 of them, centuries of
     * wake-ups at one per system call. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = EFD_TAG};
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, efd, &ev) != 0) {
        tide__runtime_park_hook(rt, NULL);
        return false;
    }
    r->hooked = true;
    return true;
}

void tide__reactor_unhook(tide__reactor_t *r, tide_runtime_t *rt) {
    if (!r || !r->hooked) return;
    tide__runtime_park_hook(rt, NULL); /* returns once no worker is inside worker_poll */
    r->hooked = false;
}

/* ---- lifecycle ------------------------------------------------------------------------- */

tide__reactor_t *tide__reactor_new(tide__io_t *io, uv_loop_t *loop, tide_runtime_t *rt) {
    tide__reactor_t *r = tide__new(tide__reactor_t);
    if (!r) goto error1;
    r->io = io;
    pthread_mutex_init(&r->lock, NULL);
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (r->epfd < 0) goto error2;
    if (uv_poll_init(loop, &r->poll, r->epfd) != 0) goto error3;
    r->poll.data = r;
    if (hook_install(r, rt)) return r; /* the workers poll; the driver's watch stays idle */
    if (uv_poll_start(&r->poll, UV_READABLE, on_ready) != 0) goto error4;
    return r;
error4:
    tide__reactor_unhook(r, rt);
    uv_close((uv_handle_t *)&r->poll, NULL);
    uv_run(loop, UV_RUN_NOWAIT); /* runs the close callback: r->poll is about to go */
error3:
    close(r->epfd);
error2:
    pthread_mutex_destroy(&r->lock);
    tide__delete(r);
error1:
    return NULL;
}

/* Runs once every task has ended (tide_runtime_close waits for them, and a task's end is
 * published with release order, see tide__task_finish) and the driver thread is joined and no
 * worker polls the set: a socket closed during shutdown, typically by a task unwinding from
 * the shutdown's cancel, has been closed completely (finish() included) before we get here,
 * so nothing touches a record while its chunk goes. */
void tide__reactor_free(tide__reactor_t *r) {
    if (!r) return;
    tide__sock_free_all(r);
    close(r->epfd);
    pthread_mutex_destroy(&r->lock);
    tide__delete(r);
}

tide__reactor_t *tide__reactor_current(void) {
    tide__io_t *io = tide__io_current();
    return io ? tide__io_reactor(io) : NULL;
}
