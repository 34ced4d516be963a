/* TCP: listeners, accept (with backpressure and descriptor exhaustion handled), connect,
 * stream reads and writes, half-close, options and addresses.
 *
 * Every call does its system call on the calling worker; on EAGAIN it waits for the socket's
 * next readiness edge from the reactor (net_internal.h) and tries again. The wait is the only
 * place a deadline or cancel can end a call, besides the check made before a call that would
 * consume data, so an error return never hides bytes that were read or written. */
#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "net_internal.h"
#include "tide/ext.h"

#define ACCEPT_BACKOFF_MIN TIDE_MSEC(1)
#define ACCEPT_BACKOFF_MAX TIDE_MSEC(100)
#define CONN_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP)
#define WRITEV_WINDOW 64

/* The stream calls without glibc's cancellation-point wrappers: tide does not cancel threads
 * with pthread_cancel, and the wrappers cost two atomic read-modify-writes of the thread's
 * cancel state per call (~60 instructions per HTTP request, callgrind). Sanitizer builds keep
 * the libc calls, which their runtimes intercept (TIDE_ASAN / TIDE_TSAN: base/platform.h). */
#if defined(__linux__) && !defined(TIDE_ASAN) && !defined(TIDE_TSAN)
#include <sys/syscall.h>
static inline ssize_t stream_recv(int fd, void *buf, size_t len) {
    return syscall(SYS_recvfrom, fd, buf, len, 0, NULL, NULL);
}
static inline ssize_t stream_send(int fd, const void *buf, size_t len, int flags) {
    return syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
}
static inline ssize_t stream_sendmsg(int fd, const struct msghdr *m, int flags) {
    return syscall(SYS_sendmsg, fd, m, flags);
}
#else
#define stream_recv(fd, buf, len) recv(fd, buf, len, 0)
#define stream_send send
#define stream_sendmsg sendmsg
#endif

static inline tide__sock_t *sock_of(tide_tcp_t *c) {
    return (tide__sock_t *)(void *)c;
}
static inline tide_tcp_t *tcp_of(tide__sock_t *s) {
    return (tide_tcp_t *)(void *)s;
}

/* Enter an operation on a connection (kind SOCK_TCP_CONN): 0, -EINVAL, -EBADF, -ENOTCONN. */
static int enter_conn(tide_tcp_t *c) {
    if (!c) return -EINVAL;
    tide__sock_t *s = sock_of(c);
    if (tide__sock_enter(s) < 0) return -EBADF;
    if (s->kind != SOCK_TCP_CONN) {
        tide__sock_leave(s);
        return s->kind == SOCK_TCP_LISTEN ? -ENOTCONN : -EBADF;
    }
    return 0;
}

/* ---- listen ---------------------------------------------------------------------------- */

int tide_tcp_listen_addr(tide_tcp_t **out, const tide_addr_t *addr,
                         const tide_tcp_listen_opts_t *opts) {
    if (!out || !addr || addr->len == 0) return -EINVAL;
    tide_tcp_listen_opts_t o = {0};
    if (opts) o = *opts;
    if (o.backlog < 0) return -EINVAL;
    tide__reactor_t *r = tide__reactor_current();
    if (!r) return tide__io_error();

    int family = addr->u.sa.sa_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int err, one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) goto fail_errno;
    if (o.reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        goto fail_errno;
    if (family == AF_INET6) {
        int v6only = o.v6only != 0;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0)
            goto fail_errno;
    }
    if (bind(fd, &addr->u.sa, addr->len) < 0) goto fail_errno;
    if (listen(fd, o.backlog ? o.backlog : SOMAXCONN) < 0) goto fail_errno;
    tide__sock_t *s = tide__sock_open(r, SOCK_TCP_LISTEN, fd, EPOLLIN, &err);
    if (!s) goto fail_fd;
    s->max_conns = o.max_conns;
    *out = tcp_of(s);
    return 0;
fail_errno:
    err = -errno;
fail_fd:
    close(fd);
    return err;
}

int tide_tcp_listen(tide_tcp_t **out, const char *host, uint16_t port,
                    const tide_tcp_listen_opts_t *opts) {
    if (!out) return -EINVAL;
    tide_addr_t a;
    if (tide__addr_numeric(&a, host, port) < 0) return -EINVAL;
    return tide_tcp_listen_addr(out, &a, opts);
}

/* ---- accept ---------------------------------------------------------------------------- */

/* Errors of accept4 that concern one aborted connection, not the listener: Linux reports
 * the new socket's pending network errors this way, and accept(2) says to retry. */
static bool accept_transient(int e) {
    switch (e) {
    case ECONNABORTED: case EPROTO: case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN:
    case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH: case EPERM:
        return true;
    default:
        return false;
    }
}

static bool out_of_fds(int e) {
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

/* Reserve a connection slot under the listener's max_conns, waiting for one to free up. */
static int reserve_slot(tide__sock_t *l) {
    for (;;) {
        uint32_t seen = tide__sock_seq(l, DIR_SLOT);
        uint32_t n = atomic_load_explicit(&l->conns, memory_order_relaxed);
        if (n < l->max_conns) {
            if (atomic_compare_exchange_weak_explicit(&l->conns, &n, n + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed))
                return 0;
            continue;
        }
        int r = tide__sock_wait(l, DIR_SLOT, seen, "accept backpressure");
        if (r < 0) return r;
    }
}

static void unreserve_slot(tide__sock_t *l) {
    atomic_fetch_sub_explicit(&l->conns, 1, memory_order_relaxed);
    tide__sock_notify(l, DIR_SLOT); /* another acceptor may be waiting for it */
}

/* Out of descriptors: wait for a connection of l to close, or for delay, whichever comes
 * first; only the caller's own deadline or cancel is an error. */
static int backoff(tide__sock_t *l, uint32_t slot_seen, int64_t delay) {
    int64_t outer = tide_deadline();
    tide_scope_t scope;
    TIDE__LOG(tide_runtime_current(), TIDE_LOG_WARN,
              "accept: out of descriptors, backing off for up to %lld ms", (long long)(delay / 1000000));
    tide_timeout_begin(&scope, delay);
    int r = tide__sock_wait(l, DIR_SLOT, slot_seen, "accept: out of descriptors");
    tide_scope_end(&scope);
    if (r == -ETIMEDOUT && (outer == TIDE_FOREVER || tide_now() < outer)) r = 0;
    return r;
}

int tide_tcp_accept(tide_tcp_t *lt, tide_tcp_t **out, tide_addr_t *peer) {
    if (!lt || !out) return -EINVAL;
    tide__sock_t *l = sock_of(lt);
    if (tide__sock_enter(l) < 0) return -EBADF;
    if (l->kind != SOCK_TCP_LISTEN) {
        tide__sock_leave(l);
        return -EINVAL;
    }
    /* With a limit, hold a slot for the whole call (through the waits below), so acceptors
     * never take more than max_conns between them. */
    bool limited = l->max_conns != 0;
    int r = tide__net_check();
    if (r == 0 && limited) r = reserve_slot(l);
    if (r < 0) goto out;
    int64_t delay = ACCEPT_BACKOFF_MIN;
    for (;;) {
        uint32_t seen = tide__sock_seq(l, DIR_READ);
        uint32_t slot_seen = tide__sock_seq(l, DIR_SLOT);
        tide_addr_t a;
        socklen_t alen = sizeof a.u;
        int fd = accept4(l->fd, &a.u.sa, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            tide__sock_t *c = tide__sock_open(l->reactor, SOCK_TCP_CONN, fd, CONN_EVENTS, &r);
            if (!c) {
                close(fd); /* the peer sees a reset: there is no memory to serve it */
                break;
            }
            if (!limited) atomic_fetch_add_explicit(&l->conns, 1, memory_order_relaxed);
            tide__spin_lock(&l->lock);
            c->parent_idx = l->idx;
            c->parent_gen = l->gen;
            c->has_parent = true;
            tide__spin_unlock(&l->lock);
            if (peer) {
                memset(peer, 0, sizeof *peer);
                memcpy(&peer->u, &a.u, alen < sizeof a.u ? alen : sizeof a.u);
                peer->len = alen;
            }
            *out = tcp_of(c);
            r = 0;
            break;
        }
        int e = errno;
        if (e == EINTR || accept_transient(e)) {
            r = 0;
        } else if (e == EAGAIN) {
            r = tide__sock_wait(l, DIR_READ, seen, "tcp accept");
        } else if (out_of_fds(e)) {
            /* The connection stays in the kernel's queue; retry after one of ours closes or
             * the delay passes. Never spin: the listener stays readable all along. */
            r = backoff(l, slot_seen, delay);
            delay = delay * 2 > ACCEPT_BACKOFF_MAX ? ACCEPT_BACKOFF_MAX : delay * 2;
        } else {
            r = -e;
        }
        if (r < 0 || (r = tide__net_check()) < 0) break;
    }
    if (r < 0 && limited) unreserve_slot(l);
out:
    tide__sock_leave(l);
    if (r == 0) tide_budget_tick();
    return r;
}

/* ---- connect --------------------------------------------------------------------------- */

static int connect_one(tide__reactor_t *r, const tide_addr_t *a, tide__sock_t **out) {
    int family = a->u.sa.sa_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int err = 0;
    if (connect(fd, &a->u.sa, a->len) < 0 && errno != EINPROGRESS) {
        err = -errno;
        close(fd);
        return err;
    }
    /* Registered after connect: the set reports the socket's state as of now, so the
     * completion edge cannot be missed, and there is no spurious "unconnected" edge. */
    tide__sock_t *s = tide__sock_open(r, SOCK_TCP_CONN, fd, CONN_EVENTS, &err);
    if (!s) {
        close(fd);
        return err;
    }
    for (;;) {
        uint32_t seen = tide__sock_seq(s, DIR_WRITE);
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) soerr = errno;
        if (soerr) {
            err = -soerr;
            break;
        }
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof ss;
        if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0) {
            *out = s;
            return 0;
        }
        if (errno != ENOTCONN) {
            err = -errno;
            break;
        }
        if ((err = tide__sock_wait(s, DIR_WRITE, seen, "tcp connect")) < 0) break;
    }
    tide__sock_discard(s);
    return err;
}

int tide_tcp_connect_addr(tide_tcp_t **out, const tide_addr_t *addr) {
    if (!out || !addr || addr->len == 0) return -EINVAL;
    if (addr->u.sa.sa_family != AF_INET && addr->u.sa.sa_family != AF_INET6) return -EINVAL;
    tide__reactor_t *r = tide__reactor_current();
    if (!r) return tide__io_error();
    int e = tide__net_check();
    if (e < 0) return e;
    tide__sock_t *s = NULL;
    if ((e = connect_one(r, addr, &s)) < 0) return e;
    *out = tcp_of(s);
    return 0;
}

int tide_tcp_connect(tide_tcp_t **out, const char *host, uint16_t port) {
    if (!out || !host) return -EINVAL;
    tide__reactor_t *r = tide__reactor_current();
    if (!r) return tide__io_error();
    tide_addr_t addrs[8];
    int n = tide_resolve(host, port, AF_UNSPEC, addrs, 8);
    if (n < 0) return n;
    int e = -ECONNREFUSED;
    for (int i = 0; i < n; i++) {
        if ((e = tide_tcp_connect_addr(out, &addrs[i])) == 0) return 0;
        if (e == -ETIMEDOUT || e == -ECANCELED || e == -EMFILE || e == -ENFILE || e == -ENOMEM)
            break; /* the caller's limits, not this address's fault */
    }
    return e;
}

/* ---- reading --------------------------------------------------------------------------- */

/* Wait in direction dir under the caller's scope and, if d, under d's deadline (started now
 * if this is its first wait). Inlined (once per caller): a parked reader's or writer's stack
 * then holds the caller's frame and the park's, nothing between. */
static inline __attribute__((always_inline)) int wait_dir(tide__sock_t *s, int dir,
                                                          uint32_t seen, const char *what,
                                                          tide__lazy_deadline_t *d) {
    if (!d) return tide__sock_wait(s, dir, seen, what);
    return tide__sock_wait_until(s, dir, seen, what, tide__lazy_start(d));
}

static ssize_t read_impl(tide_tcp_t *c, void *buf, size_t len, tide__lazy_deadline_t *d) {
    if (!buf && len) return -EINVAL;
    int e = enter_conn(c);
    if (e < 0) return e;
    tide__sock_t *s = sock_of(c);
    /* Checked once: a wait that ends in a wake-up is not followed by a second check (the park
     * checks the deadline and cancel itself before it sleeps, so none is missed). */
    ssize_t r = len > 0 ? tide__net_check() : 0;
    while (len > 0 && r == 0) { /* r: 0 to try the call (again), else the result */
        uint32_t seen = tide__sock_seq(s, DIR_READ);
        if (!tide__sock_known_empty(s, seen)) {
            r = stream_recv(s->fd, buf, len);
            if (r > 0) tide__sock_note_read(s, seen, (size_t)r, len);
            if (r >= 0) break;
            if (errno == EINTR) {
                r = 0;
                continue;
            }
            if (errno != EAGAIN) {
                r = -errno;
                break;
            }
        }
        r = wait_dir(s, DIR_READ, seen, "tcp read", d); /* the one wait: inlined once */
    }
    tide__sock_leave(s);
    if (r >= 0) tide_budget_tick();
    return r;
}

ssize_t tide_tcp_read(tide_tcp_t *c, void *buf, size_t len) {
    return read_impl(c, buf, len, NULL);
}

/* The deadline is not checked before the system call: it bounds waiting, and data already
 * there is returned whatever the time (a scope's deadline is checked, as for every call). */
ssize_t tide_tcp_read_until(tide_tcp_t *c, void *buf, size_t len, int64_t deadline) {
    tide__lazy_deadline_t d = {.deadline = deadline};
    return read_impl(c, buf, len, deadline == TIDE_FOREVER ? NULL : &d);
}

ssize_t tide__tcp_read_lazy(tide_tcp_t *c, void *buf, size_t len, tide__lazy_deadline_t *d) {
    return read_impl(c, buf, len, d);
}

ssize_t tide_tcp_read_exact(tide_tcp_t *c, void *buf, size_t len, size_t *got) {
    size_t done = 0;
    ssize_t r = len > SSIZE_MAX ? -EINVAL : 0;
    while (r >= 0 && done < len) {
        r = tide_tcp_read(c, (char *)buf + done, len - done);
        if (r == 0) {
            r = done ? -ENODATA : 0; /* 0: a clean end of stream between messages */
            break;
        }
        if (r > 0) done += (size_t)r;
    }
    if (got) *got = done;
    if (r < 0) return r;
    return done == len ? (ssize_t)len : 0;
}

/* ---- writing --------------------------------------------------------------------------- */

/* Send iov (cnt entries, cnt <= WRITEV_WINDOW or the kernel's limit) once the socket takes
 * it: the count sent (at least 1 unless all entries are empty), or a negative errno. One
 * entry (every tide_tcp_write, so every HTTP answer) goes by sendto, as tokio's and the epoll
 * loop's writes do: sendmsg also copies in and checks the msghdr and imports the iovec
 * (copy_msghdr_from_user alone ~0.07 us per request in perf samples). */
/* Several entries: the msghdr lives in this frame, not in send_some's, which an answer's
 * one-entry send keeps on the stack (the deepest the stack goes per request). */
static TIDE_NOINLINE ssize_t send_vec(int fd, struct iovec *iov, int cnt) {
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
    return stream_sendmsg(fd, &m, MSG_NOSIGNAL);
}

/* A write waits only when the send buffer is full: out of line, off send_some's frame. */
static TIDE_NOINLINE int wait_write(tide__sock_t *s, uint32_t seen, const char *what,
                                    tide__lazy_deadline_t *d) {
    return wait_dir(s, DIR_WRITE, seen, what, d);
}

/* The most a write sends per call once a send has found the send buffer full (a short send or
 * EAGAIN): the buffer's size. A call given more than the buffer holds still queues one whole
 * segment (up to 64 KB on loopback) as soon as any room frees up, so a small buffer then
 * holds a single segment in flight, and the sender waits for its acknowledgement, which the
 * receiver delays (40 ms) when only one segment arrived: a 1 MB write through a 4 KB
 * SO_SNDBUF took 1-370 ms, mostly 90 (a blocking pair of threads 1-370 too: the kernel does
 * it). Calls no larger than the buffer keep several segments in flight, acknowledged at once
 * (1-8 ms; docs/benchmarks.md, "A large write through a small buffer (this round)").
 *
 * The cap is the socket's (tide__sock_t.send_cap, 0 until then), not one write call's: a
 * caller looping over tide_tcp_write would otherwise pay an uncapped first send, and the stall
 * it can bring, on every call. It is written by send_cap alone, which reads the buffer's size:
 * when a send finds the buffer full while uncapped, and after a capped send took its whole
 * piece (the buffer may have grown: autotuning soon makes a default one hold more than a
 * segment, and the cap stops mattering). It is never cleared: it is the buffer's size, true
 * for the socket's life but for that growth, and a send no larger than it is untouched by
 * it; whether an uncapped send would have fit no send result says (that would take an
 * ioctl per send), and clearing on a guess brings the stall back. A socket whose buffer never
 * fills (an HTTP answer's) pays a load and a compare per send, and no system call. */
static TIDE_NOINLINE void send_cap(tide__sock_t *s) {
    int v = 0;
    socklen_t n = sizeof v;
    uint32_t cap = getsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &v, &n) < 0 || v <= 0 ? 0 : (uint32_t)v;
    atomic_store_explicit(&s->send_cap, cap, memory_order_relaxed);
}

/* Shorten iov (cnt entries) to at most cap bytes: the entries' count left. */
static int clip_vec(struct iovec *iov, int cnt, size_t cap) {
    size_t left = cap;
    for (int i = 0; i < cnt; i++) {
        if (iov[i].iov_len >= left) {
            iov[i].iov_len = left;
            return i + 1;
        }
        left -= iov[i].iov_len;
    }
    return cnt;
}

/* One send of iov (cnt entries): the count sent, or -1 with errno set. */
static inline ssize_t send_once(int fd, struct iovec *iov, int cnt) {
    return cnt == 1 ? stream_send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL)
                    : send_vec(fd, iov, cnt);
}

#define SEND_NOT_MADE ((ssize_t)-2) /* send_more: no send made yet */

/* send_some's every case but the common one, out of line: a capped socket, a first send that
 * was short or failed (r, made uncapped, `seen` read before it; errno still its own), waits
 * and retries. */
static TIDE_NOINLINE ssize_t send_more(tide__sock_t *s, struct iovec *iov, int cnt, size_t want,
                                       ssize_t r, uint32_t seen, const char *what,
                                       tide__lazy_deadline_t *d) {
    uint32_t cap = 0; /* the cap the send in r was made under */
    for (;;) {
        if (r == SEND_NOT_MADE) {
            cap = atomic_load_explicit(&s->send_cap, memory_order_relaxed);
            if (cap != 0) cnt = clip_vec(iov, cnt, cap);
            seen = tide__sock_seq(s, DIR_WRITE);
            r = send_once(s->fd, iov, cnt);
        }
        if (r >= 0) {
            /* Less than wanted: short (the buffer is full) or the whole capped piece. */
            if ((size_t)r < want && (cap == 0 || (size_t)r == cap)) send_cap(s);
            return r;
        }
        int e = errno;
        r = SEND_NOT_MADE;
        if (e == EINTR) continue;
        if (e != EAGAIN) return -e;
        int w = wait_write(s, seen, what, d);
        if (w < 0) return w;
        if (cap == 0) send_cap(s);
    }
}

/* Send up to `want` bytes (> 0) of iov (cnt entries), at most the socket's cap (send_cap).
 * Only the common case (no cap, the whole piece taken at once) here, inlined in both callers:
 * written as one loop that reads the cap, it cost an HTTP answer ~14 instructions (~38 where
 * GCC then left it out of line); this way the same as before the cap moved into the socket
 * (scripts/srv_ir.sh). */
static inline __attribute__((always_inline)) ssize_t send_some(tide__sock_t *s, struct iovec *iov,
                                                               int cnt, size_t want,
                                                               const char *what,
                                                               tide__lazy_deadline_t *d) {
    ssize_t r = tide__net_check(); /* once, as in read_impl */
    if (r < 0) return r;
    r = SEND_NOT_MADE;
    uint32_t seen = 0;
    if (__builtin_expect(atomic_load_explicit(&s->send_cap, memory_order_relaxed) == 0, 1)) {
        seen = tide__sock_seq(s, DIR_WRITE);
        r = send_once(s->fd, iov, cnt);
        if (__builtin_expect(r == (ssize_t)want, 1)) return r;
    }
    return send_more(s, iov, cnt, want, r, seen, what, d);
}

static ssize_t write_impl(tide_tcp_t *c, const void *buf, size_t len,
                          tide__lazy_deadline_t *d) {
    if (!buf && len) return -EINVAL;
    int e = enter_conn(c);
    if (e < 0) return e;
    tide__sock_t *s = sock_of(c);
    struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
    ssize_t r = len ? send_some(s, &v, 1, len, "tcp write", d) : 0;
    tide__sock_leave(s);
    if (r >= 0) tide_budget_tick();
    return r;
}

ssize_t tide_tcp_write(tide_tcp_t *c, const void *buf, size_t len) {
    return write_impl(c, buf, len, NULL);
}

ssize_t tide_tcp_write_until(tide_tcp_t *c, const void *buf, size_t len, int64_t deadline) {
    tide__lazy_deadline_t d = {.deadline = deadline};
    return write_impl(c, buf, len, deadline == TIDE_FOREVER ? NULL : &d);
}

ssize_t tide__tcp_write_lazy(tide_tcp_t *c, const void *buf, size_t len,
                             tide__lazy_deadline_t *d) {
    return write_impl(c, buf, len, d);
}

static ssize_t writev_impl(tide_tcp_t *c, const struct iovec *iov, int iovcnt, size_t *sent,
                           tide__lazy_deadline_t *d) {
    if (sent) *sent = 0;
    if (iovcnt < 0 || (!iov && iovcnt > 0)) return -EINVAL;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > SSIZE_MAX - total) return -EINVAL;
        if (iov[i].iov_len && !iov[i].iov_base) return -EINVAL;
        total += iov[i].iov_len;
    }
    int e = enter_conn(c);
    if (e < 0) return e;
    tide__sock_t *s = sock_of(c);
    size_t done = 0;
    ssize_t r = 0;
    int idx = 0;      /* first entry not fully sent */
    size_t off = 0;   /* bytes of it already sent */
    while (done < total) {
        struct iovec win[WRITEV_WINDOW];
        int n = 0;
        for (int i = idx; i < iovcnt && n < WRITEV_WINDOW; i++) {
            size_t skip = i == idx ? off : 0;
            if (iov[i].iov_len == skip) continue;
            win[n].iov_base = (char *)iov[i].iov_base + skip;
            win[n].iov_len = iov[i].iov_len - skip;
            n++;
        }
        r = send_some(s, win, n, total - done, "tcp write", d);
        if (r < 0) break;
        done += (size_t)r;
        /* Advance (idx, off) past the r bytes just sent. */
        size_t adv = (size_t)r;
        while (idx < iovcnt && adv >= iov[idx].iov_len - off) {
            adv -= iov[idx].iov_len - off;
            off = 0;
            idx++;
        }
        off += adv;
    }
    tide__sock_leave(s);
    if (sent) *sent = done;
    if (r < 0) return r;
    tide_budget_tick();
    return (ssize_t)total;
}

ssize_t tide_tcp_writev(tide_tcp_t *c, const struct iovec *iov, int iovcnt, size_t *sent) {
    return writev_impl(c, iov, iovcnt, sent, NULL);
}

ssize_t tide__tcp_writev_lazy(tide_tcp_t *c, const struct iovec *iov, int iovcnt,
                              tide__lazy_deadline_t *d) {
    return writev_impl(c, iov, iovcnt, NULL, d);
}

ssize_t tide_tcp_write_all(tide_tcp_t *c, const void *buf, size_t len, size_t *sent) {
    if (!buf && len) {
        if (sent) *sent = 0;
        return -EINVAL;
    }
    struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
    return tide_tcp_writev(c, &v, 1, sent);
}

/* ---- the rest -------------------------------------------------------------------------- */

int tide_tcp_shutdown(tide_tcp_t *c) {
    int e = enter_conn(c);
    if (e < 0) return e;
    int r = shutdown(sock_of(c)->fd, SHUT_WR) < 0 ? -errno : 0;
    tide__sock_leave(sock_of(c));
    return r;
}

int tide_tcp_close(tide_tcp_t *c) {
    if (!c) return -EINVAL;
    return tide__sock_close(sock_of(c));
}

static int setopt(tide_tcp_t *c, int level, int name, int value) {
    int e = enter_conn(c);
    if (e < 0) return e == -ENOTCONN ? -EINVAL : e;
    int r = setsockopt(sock_of(c)->fd, level, name, &value, sizeof value) < 0 ? -errno : 0;
    tide__sock_leave(sock_of(c));
    return r;
}

int tide_tcp_nodelay(tide_tcp_t *c, int on) {
    return setopt(c, IPPROTO_TCP, TCP_NODELAY, on != 0);
}

int tide_tcp_keepalive(tide_tcp_t *c, int on, int64_t idle_ns) {
    if (on && idle_ns < 0) return -EINVAL;
    /* TCP_KEEPIDLE counts whole seconds: round up, so a short idle is not "system default" */
    int64_t idle_s = idle_ns / TIDE_SEC(1) + (idle_ns % TIDE_SEC(1) != 0);
    if (on && idle_s > INT_MAX) return -EINVAL;
    int r = setopt(c, SOL_SOCKET, SO_KEEPALIVE, on != 0);
    if (r == 0 && on && idle_s) r = setopt(c, IPPROTO_TCP, TCP_KEEPIDLE, (int)idle_s);
    return r;
}

static int sockname(tide_tcp_t *c, tide_addr_t *out, bool peer) {
    if (!c || !out) return -EINVAL;
    tide__sock_t *s = sock_of(c);
    if (tide__sock_enter(s) < 0) return -EBADF;
    int r = 0;
    if (peer && s->kind != SOCK_TCP_CONN) {
        r = -ENOTCONN;
    } else {
        memset(out, 0, sizeof *out);
        socklen_t len = sizeof out->u;
        int e = peer ? getpeername(s->fd, &out->u.sa, &len) : getsockname(s->fd, &out->u.sa, &len);
        if (e < 0) r = -errno;
        else out->len = len;
    }
    tide__sock_leave(s);
    return r;
}

int tide_tcp_local_addr(tide_tcp_t *c, tide_addr_t *out) {
    return sockname(c, out, false);
}

int tide_tcp_peer_addr(tide_tcp_t *c, tide_addr_t *out) {
    return sockname(c, out, true);
}

int tide_tcp_fd(tide_tcp_t *c) {
    if (!c) return -EINVAL;
    tide__sock_t *s = sock_of(c);
    if (tide__sock_enter(s) < 0) return -EBADF;
    int fd = s->fd;
    tide__sock_leave(s);
    return fd;
}
