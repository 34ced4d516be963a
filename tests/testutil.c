/* See testutil.h. */
#include "testutil.h"

#include "driver.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

int tt_open_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

void tt_leaks_begin(tt_leaks_t *l) {
    /* libuv opens a process-wide pipe (its signal lock) the first time any loop starts, and
     * keeps it for good: open it now so it is not counted against the test. */
    static int primed;
    if (!primed) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        uv_loop_close(&loop);
        primed = 1;
    }
    l->fds = tt_open_fds();
    l->heap = tide__heap_live();
}

#if defined(__SANITIZE_THREAD__)
static pthread_t sink;
static int sink_pipe[2];
static sigset_t sink_sigs;

static void *sink_main(void *arg) {
    pthread_sigmask(SIG_UNBLOCK, &sink_sigs, NULL);
    struct pollfd p = {.fd = sink_pipe[0], .events = POLLIN};
    while (poll(&p, 1, -1) <= 0) continue; /* EINTR: a signal was handled here */
    return NULL;
}

void tt_signal_sink_begin(const sigset_t *sigs) {
    sink_sigs = *sigs;
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    cr_assert_eq(pipe(sink_pipe), 0);
    cr_assert_eq(pthread_create(&sink, NULL, sink_main, NULL), 0);
}

void tt_signal_sink_end(void) {
    cr_assert_eq(write(sink_pipe[1], "x", 1), 1);
    pthread_join(sink, NULL);
    close(sink_pipe[0]);
    close(sink_pipe[1]);
}
#else
void tt_signal_sink_begin(const sigset_t *sigs) {
    (void)sigs;
}

void tt_signal_sink_end(void) {}
#endif

void tt_leaks_end(const tt_leaks_t *l) {
    cr_assert_eq(tt_open_fds(), l->fds, "file descriptors leaked: %d open, %d before",
                 tt_open_fds(), l->fds);
    cr_assert_eq(tide__heap_live(), l->heap, "tide heap leaked: %lld bytes live, %lld before",
                 (long long)tide__heap_live(), (long long)l->heap);
}

void tt_runtime_quiet(tide_runtime_t *rt) {
    /* Detached tasks may still be on their way out (switching back to their worker, giving
     * back their stack) when the test's last check passes: give them a moment. */
    tide__leaks_t k;
    for (int i = 0; i < 5000; i++) {
        tide__runtime_leaks(rt, &k);
        if (k.tasks_live == 0 && k.stacks_live == 0) break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(k.tasks_live, 0, "%llu task records not released", (unsigned long long)k.tasks_live);
    cr_assert_eq(k.stacks_live, 0, "%llu stacks still owned", (unsigned long long)k.stacks_live);
}

void tt_run(int (*fn)(void *), void *arg, unsigned workers) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_runtime_t *rt = tt_runtime(workers);
    int st = tide_runtime_block_on(rt, fn, arg);
    cr_assert_eq(st, 0, "main task failed: %s", tide_strerror(st));
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    cr_assert_eq(tide__io_live(), 0, "%lld I/O objects still live", (long long)tide__io_live());
    tt_leaks_end(&l);
}

tide_runtime_t *tt_runtime(unsigned workers) {
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.workers = workers;
    tide_runtime_t *rt = NULL;
    int r = tide_runtime_new(&rt, &cfg);
    cr_assert_eq(r, 0, "tide_runtime_new: %s", tide_strerror(r));
    return rt;
}

/* ---- counted system calls (see testutil.h) ---------------------------------------------- */

static _Atomic uint64_t accept_calls, sendmsg_calls, epoll_wait_calls;

int __real_accept4(int fd, struct sockaddr *a, socklen_t *alen, int flags);
int __wrap_accept4(int fd, struct sockaddr *a, socklen_t *alen, int flags);
int __wrap_accept4(int fd, struct sockaddr *a, socklen_t *alen, int flags) {
    atomic_fetch_add_explicit(&accept_calls, 1, memory_order_relaxed);
    return __real_accept4(fd, a, alen, flags);
}

/* The send watch (tt_send_watch): one descriptor's sends, from one writer at a time. */
static _Atomic int watch_fd = -1;
static _Atomic bool watch_full;       /* a send on it came back short or EAGAIN */
static _Atomic uint64_t watch_max;    /* the most a send on it moved since */

static void watch_send(int fd, size_t asked, ssize_t got, int err) {
    if (fd != atomic_load_explicit(&watch_fd, memory_order_relaxed)) return;
    if (got > 0 && atomic_load(&watch_full) && (uint64_t)got > atomic_load(&watch_max))
        atomic_store(&watch_max, (uint64_t)got);
    if (got < 0 ? err == EAGAIN : (size_t)got < asked) atomic_store(&watch_full, true);
}

static size_t msg_len(const struct msghdr *m) {
    size_t n = 0;
    for (size_t i = 0; i < m->msg_iovlen; i++) n += m->msg_iov[i].iov_len;
    return n;
}

/* A stream send just made (fd, asked bytes, its result r): counted and watched, errno kept
 * for the caller. */
static ssize_t sent(int fd, size_t asked, ssize_t r) {
    int e = errno;
    atomic_fetch_add_explicit(&sendmsg_calls, 1, memory_order_relaxed);
    watch_send(fd, asked, r, e);
    errno = e;
    return r;
}

void tt_send_watch(int fd) {
    atomic_store(&watch_full, false);
    atomic_store(&watch_max, 0);
    atomic_store(&watch_fd, fd);
}

uint64_t tt_send_watch_max(void) {
    return atomic_load(&watch_max);
}

ssize_t __real_sendmsg(int fd, const struct msghdr *m, int flags);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags) {
    return sent(fd, msg_len(m), __real_sendmsg(fd, m, flags));
}

ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags) {
    return sent(fd, len, __real_send(fd, buf, len, flags));
}

/* io/tcp.c issues recv, sendto and sendmsg as raw system calls in builds without sanitizers (glibc's
 * wrappers cost two atomic updates of the cancel state per call): count those too. */
long __real_syscall(long n, ...);
long __wrap_syscall(long n, ...);
long __wrap_syscall(long n, ...) {
    va_list ap;
    va_start(ap, n);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    if (n != SYS_sendmsg && n != SYS_sendto) return __real_syscall(n, a1, a2, a3, a4, a5, a6);
    long r = __real_syscall(n, a1, a2, a3, a4, a5, a6);
    return sent((int)a1, n == SYS_sendto ? (size_t)a3 : msg_len((const struct msghdr *)a2), r);
}

int __real_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout);
int __wrap_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout);
int __wrap_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout) {
    atomic_fetch_add_explicit(&epoll_wait_calls, 1, memory_order_relaxed);
    return __real_epoll_wait(epfd, evs, max, timeout);
}

uint64_t tt_accept_calls(void) {
    return atomic_load_explicit(&accept_calls, memory_order_relaxed);
}

uint64_t tt_sendmsg_calls(void) {
    return atomic_load_explicit(&sendmsg_calls, memory_order_relaxed);
}

uint64_t tt_epoll_wait_calls(void) {
    return atomic_load_explicit(&epoll_wait_calls, memory_order_relaxed);
}

uint64_t tt_tasks_run(void) {
    tide_runtime_t *rt = tide_runtime_current();
    cr_assert_not_null(rt, "tt_tasks_run outside a task");
    tide_stats_t st;
    tide_worker_stats_t ws[64];
    cr_assert_eq(tide_runtime_stats(rt, &st, ws, 64), 0);
    uint64_t n = 0;
    for (unsigned i = 0; i < st.workers && i < 64; i++) n += ws[i].tasks_run;
    return n;
}

int tt_connect_blocking(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Bounded reads: a stalled server fails the test instead of hanging it. */
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int64_t tt_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static _Atomic uint64_t rand_state = 0x853c49e6748fea9bULL;

uint32_t tt_rand(void) {
    uint64_t x = atomic_fetch_add_explicit(&rand_state, 0x9E3779B97F4A7C15ULL, memory_order_relaxed);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (uint32_t)x;
}

void tt_random_yields(unsigned max) {
    if (!tide_runtime_current()) return;
    unsigned n = max ? tt_rand() % (max + 1) : 0;
    for (unsigned i = 0; i < n; i++) tide_yield();
}

void tt_gate_init(tt_gate_t *g) {
    pthread_mutex_init(&g->lock, NULL);
    g->open = 0;
    g->waiting = 0;
    g->head = NULL;
}

int tt_gate_wait(tt_gate_t *g) {
    tt_gate_node_t n = {0};
    pthread_mutex_lock(&g->lock);
    if (g->open) {
        pthread_mutex_unlock(&g->lock);
        return 0;
    }
    n.waker = tide_park_prepare();
    n.next = g->head;
    if (g->head) g->head->prev = &n;
    g->head = &n;
    g->waiting++;
    pthread_mutex_unlock(&g->lock);
    for (;;) {
        int r = tide_park_on("test gate");
        pthread_mutex_lock(&g->lock);
        if (n.woken) {
            pthread_mutex_unlock(&g->lock);
            return 0;
        }
        if (r < 0) {
            if (n.prev) n.prev->next = n.next; else g->head = n.next;
            if (n.next) n.next->prev = n.prev;
            g->waiting--;
            pthread_mutex_unlock(&g->lock);
            return r;
        }
        n.waker = tide_park_prepare(); /* woken without being opened: cannot happen */
        pthread_mutex_unlock(&g->lock);
        cr_assert_fail("gate waiter woken while the gate is shut");
    }
}

void tt_gate_open(tt_gate_t *g) {
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    for (tt_gate_node_t *n = g->head; n; n = n->next) {
        n->woken = 1;
        tide_wake(n->waker); /* under the lock: a timed-out waiter cannot have left yet */
    }
    g->head = NULL;
    g->waiting = 0;
    pthread_mutex_unlock(&g->lock);
}

uint64_t tt_gate_waiting(tt_gate_t *g) {
    pthread_mutex_lock(&g->lock);
    uint64_t n = g->waiting;
    pthread_mutex_unlock(&g->lock);
    return n;
}

/* ---- a debug-mode runtime's log (see testutil.h) ----------------------------------------- */

static pthread_mutex_t logged_lock = PTHREAD_MUTEX_INITIALIZER;
static char logged_buf[1 << 14];
static size_t logged_len;

static void logged_collect(void *arg, int level, const char *line) {
    (void)arg;
    (void)level;
    pthread_mutex_lock(&logged_lock);
    int n = snprintf(logged_buf + logged_len, sizeof logged_buf - logged_len, "%s\n", line);
    if (n > 0 && (size_t)n < sizeof logged_buf - logged_len) logged_len += (size_t)n;
    pthread_mutex_unlock(&logged_lock);
}

const char *tt_run_logged(int (*fn)(void *)) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    logged_len = 0;
    logged_buf[0] = 0;
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.workers = 2;
    cfg.debug = 1;
    cfg.log_fn = logged_collect;
    tide_runtime_t *rt;
    cr_assert_eq(tide_runtime_new(&rt, &cfg), 0);
    cr_assert_eq(tide_runtime_block_on(rt, fn, NULL), 0);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
    return logged_buf;
}
