/* tide — networking: TCP, UDP, DNS and readiness of any file descriptor.
 *
 * Everything here blocks the calling task, never its worker thread: a call first tries the
 * non-blocking system call on the worker and waits (on the runtime's I/O driver) only when it
 * would block. Conventions are those of tide/core.h: 0 or a count on success, a negative errno
 * on failure; every blocking call honours the caller's deadline scope (-ETIMEDOUT) and
 * cancellation (-ECANCELED), and an interrupted call has lost nothing the caller was told
 * about: a read that returns an error consumed no data, a write reports what went out.
 *
 * Handles (tide_tcp_t, tide_udp_t) are opaque and belong to the runtime that made them; close
 * each one before freeing the runtime. Functions that create handles need a runtime (call them
 * from a task: -EPERM otherwise); functions on an existing handle also work from a plain
 * thread, which then blocks. A handle may be used by several tasks at once (one reading while
 * another writes, several accepting); closing it wakes them all with -EBADF. Using a handle
 * after it was closed is detected (-EBADF) until its memory is reused for a new handle, as
 * with a file descriptor.
 *
 * Host names: functions taking a `host` accept a numeric IPv4 or IPv6 address ("127.0.0.1",
 * "::1") or, where it says so, a name resolved on the I/O driver without blocking a worker.
 * Name-resolution errors: -ENOENT (no such host), -EAGAIN (temporary failure, try again),
 * -EAFNOSUPPORT, -EIO (the resolver failed), -ENOMEM. */
#ifndef TIDE_NET_H
#define TIDE_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "tide/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- addresses ------------------------------------------------------------------------- */

/* An IPv4 or IPv6 socket address. */
typedef struct tide_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in;   /* family AF_INET */
        struct sockaddr_in6 in6; /* family AF_INET6 */
    } u;
    socklen_t len; /* bytes of u in use; 0: no address */
} tide_addr_t;

/* Longest text tide_addr_format writes, with its terminating NUL ("[v6%scope]:65535"). */
#define TIDE_ADDRSTRLEN (INET6_ADDRSTRLEN + 20)

/* Fill *a from a numeric address and a port (no name lookup). NULL or "" for ip means the
 * IPv4 wildcard 0.0.0.0; "::" is the IPv6 wildcard. -EINVAL: NULL a, or ip is not a numeric
 * address. */
int tide_addr_parse(tide_addr_t *a, const char *ip, uint16_t port);

/* Write "1.2.3.4:80" or "[::1]:80" to buf. Returns the length written (without the NUL), or
 * -EINVAL (NULL or unset address, unknown family), -ENOSPC (buf too small). */
int tide_addr_format(const tide_addr_t *a, char *buf, size_t size);

/* The port of a, or 0 if a is NULL or unset. */
uint16_t tide_addr_port(const tide_addr_t *a);

/* ---- DNS ------------------------------------------------------------------------------- */

/* Resolve host (a name or a numeric address) to up to max socket addresses with the given
 * port, in the resolver's order of preference, without blocking a worker (getaddrinfo runs on
 * libuv's thread pool). family is AF_UNSPEC, AF_INET or AF_INET6. Returns the number of
 * addresses written (at least 1), or: -EINVAL (NULL or empty host, NULL out with max > 0,
 * max == 0, bad family), -ENOENT (no such host, or no address of that family), -EAGAIN, -EIO,
 * -ENOMEM, -EPERM (not in a task), -ETIMEDOUT, -ECANCELED. A lookup abandoned by a deadline or a
 * cancel finishes in the background; the caller does not wait for it. */
int tide_resolve(const char *host, uint16_t port, int family, tide_addr_t *out, size_t max);

/* ---- TCP ------------------------------------------------------------------------------- */

/* A TCP connection or listener. */
typedef struct tide_tcp tide_tcp_t;

typedef struct tide_tcp_listen_opts {
    int backlog;        /* listen(2) queue length; 0: SOMAXCONN */
    int reuseport;      /* nonzero: SO_REUSEPORT (several listeners share the port) */
    int v6only;         /* nonzero: an IPv6 listener does not take IPv4 connections */
    unsigned max_conns; /* accept backpressure: at most this many accepted connections open at
                           once; beyond it tide_tcp_accept waits for one to close rather than
                           taking more from the kernel's queue. 0: no limit */
} tide_tcp_listen_opts_t;

/* Listen on host:port (host numeric, NULL for 0.0.0.0; port 0 picks a free port, see
 * tide_tcp_local_addr). SO_REUSEADDR is always set. opts may be NULL (defaults).
 * -EINVAL (NULL out, bad host, negative backlog), -EADDRINUSE, -EADDRNOTAVAIL, -EACCES,
 * -EMFILE/-ENFILE (no descriptors), -ENOMEM, -EPERM (not in a task). */
int tide_tcp_listen(tide_tcp_t **out, const char *host, uint16_t port,
                    const tide_tcp_listen_opts_t *opts);
/* The same, on an address. */
int tide_tcp_listen_addr(tide_tcp_t **out, const tide_addr_t *addr,
                         const tide_tcp_listen_opts_t *opts);

/* Wait for and accept a connection on listener l; *out receives it (non-blocking, close-on-
 * exec, registered with the runtime). If peer is not NULL it receives the peer's address.
 * Out of descriptors (EMFILE/ENFILE/ENOBUFS/ENOMEM from the kernel), accept does not fail and
 * does not spin: it waits for a connection of l to close or for a growing delay (1 ms to
 * 100 ms), then tries again, so established connections keep being served. With max_conns set,
 * it waits while that many connections are open. Connections the kernel aborted before they
 * were accepted are skipped.
 * -EINVAL (NULL out or l not a listener), -EBADF (l closed, also while waiting), -ETIMEDOUT,
 * -ECANCELED, -ENOMEM (no memory for the handle). */
int tide_tcp_accept(tide_tcp_t *l, tide_tcp_t **out, tide_addr_t *peer);

/* Connect to host:port; host may be a name (resolved without blocking a worker, see
 * tide_resolve; each address is tried in turn until one connects). The deadline scope bounds
 * the whole attempt. -EINVAL (NULL out or host), -ECONNREFUSED, -ENETUNREACH, -EHOSTUNREACH,
 * -ETIMEDOUT (the deadline scope, or the kernel gave up), -ECANCELED, -EMFILE/-ENFILE, -ENOMEM,
 * the resolver errors listed at the top, -EPERM (not in a task). Nothing is left open on
 * failure. */
int tide_tcp_connect(tide_tcp_t **out, const char *host, uint16_t port);
/* The same, to an address. -EINVAL also for an unset address. */
int tide_tcp_connect_addr(tide_tcp_t **out, const tide_addr_t *addr);

/* Read up to len bytes (at least 1 unless len is 0). Returns the count, 0 at end of stream
 * (the peer shut down its side), or -ECONNRESET (reset by peer), -ETIMEDOUT, -ECANCELED (no
 * data was consumed), -EBADF (closed, also while waiting), -ENOTCONN (a listener), -EINVAL
 * (NULL c, NULL buf with len > 0), or another socket error. */
ssize_t tide_tcp_read(tide_tcp_t *c, void *buf, size_t len);

/* tide_tcp_read with a deadline of its own (absolute, tide_now()'s clock; TIDE_FOREVER: none):
 * a wait for data ends with -ETIMEDOUT at the earlier of it and the caller's scope deadline.
 * Bytes already there are returned whatever the time. Costs no scope, and no clock read
 * unless the call has to wait: for a server's per-read timeouts. */
ssize_t tide_tcp_read_until(tide_tcp_t *c, void *buf, size_t len, int64_t deadline);

/* Read exactly len bytes. Returns len; 0 if the stream ended before the first byte; or an
 * error: -ENODATA (the stream ended after some bytes but before len), the errors of
 * tide_tcp_read. *got (if not NULL) receives the bytes stored in buf in every case, so a
 * deadline or a cancel in the middle loses nothing. */
ssize_t tide_tcp_read_exact(tide_tcp_t *c, void *buf, size_t len, size_t *got);

/* Write some of buf (at least 1 byte unless len is 0); returns the count. -EPIPE (the
 * connection is shut down for writing, by us or a reset), -ECONNRESET, -ETIMEDOUT, -ECANCELED
 * (nothing was written), -EBADF, -ENOTCONN, -EINVAL. Never raises SIGPIPE. */
ssize_t tide_tcp_write(tide_tcp_t *c, const void *buf, size_t len);

/* tide_tcp_write with a deadline of its own, as tide_tcp_read_until: a wait for the socket
 * to take data ends with -ETIMEDOUT (nothing written) at the earlier of deadline and the
 * scope's. */
ssize_t tide_tcp_write_until(tide_tcp_t *c, const void *buf, size_t len, int64_t deadline);

/* Write all of buf. Returns len or an error of tide_tcp_write; *sent (if not NULL) receives
 * the bytes handed to the kernel in every case (on a deadline or a cancel, the rest was not
 * sent). */
ssize_t tide_tcp_write_all(tide_tcp_t *c, const void *buf, size_t len, size_t *sent);

/* Write all of iov[0..iovcnt) as one stream, with as few system calls as the kernel allows
 * (for a response's header and body, or pipelined answers). Returns the total, or an error as
 * for tide_tcp_write_all (*sent likewise); -EINVAL also for iovcnt < 0, NULL iov with
 * iovcnt > 0, or a total above SSIZE_MAX. */
ssize_t tide_tcp_writev(tide_tcp_t *c, const struct iovec *iov, int iovcnt, size_t *sent);

/* Half-close: no more writes from us; the peer reads end of stream, and we can still read.
 * -EBADF, -ENOTCONN (not connected, or a listener), -EINVAL (NULL). */
int tide_tcp_shutdown(tide_tcp_t *c);

/* Close a connection or listener and release the handle. Tasks blocked on it return -EBADF;
 * close waits for them to let go (ignoring its own deadline and cancellation, which cannot
 * leave the descriptor half-closed), so it is safe to call from any task. -EINVAL (NULL),
 * -EBADF (already closed). Never fails otherwise: the descriptor is always released. */
int tide_tcp_close(tide_tcp_t *c);

/* Socket options. -EBADF, -EINVAL (NULL, or a listener for nodelay/keepalive), or the
 * setsockopt error. keepalive: idle_ns without traffic before probes start (0: the system
 * default; the kernel counts whole seconds, so it is rounded up to one; negative: -EINVAL). */
int tide_tcp_nodelay(tide_tcp_t *c, int on);
int tide_tcp_keepalive(tide_tcp_t *c, int on, int64_t idle_ns);

/* Addresses of the two ends (the local one also for a listener: how to learn the port picked
 * for port 0). -EINVAL (NULL), -EBADF, -ENOTCONN (peer of a listener or a reset socket). */
int tide_tcp_local_addr(tide_tcp_t *c, tide_addr_t *out);
int tide_tcp_peer_addr(tide_tcp_t *c, tide_addr_t *out);

/* The descriptor, for getsockopt and the like (do not read, write or close it yourself), or
 * -EBADF / -EINVAL. */
int tide_tcp_fd(tide_tcp_t *c);

/* ---- UDP ------------------------------------------------------------------------------- */

typedef struct tide_udp tide_udp_t;

/* A UDP socket bound to host:port (numeric host, NULL for 0.0.0.0; port 0: any free port).
 * -EINVAL, -EADDRINUSE, -EADDRNOTAVAIL, -EMFILE/-ENFILE, -ENOMEM, -EPERM (not in a task). */
int tide_udp_bind(tide_udp_t **out, const char *host, uint16_t port);
int tide_udp_bind_addr(tide_udp_t **out, const tide_addr_t *addr);

/* Send one datagram of len bytes to `to`. Returns len, or -EMSGSIZE (too large), -EINVAL
 * (NULL u/to, unset address, NULL buf with len > 0), -EAFNOSUPPORT (address family differs
 * from the socket's), -EBADF, -ETIMEDOUT, -ECANCELED (nothing sent), or another socket error. */
ssize_t tide_udp_send_to(tide_udp_t *u, const void *buf, size_t len, const tide_addr_t *to);

/* Receive one datagram; *from (if not NULL) receives its sender. Returns its length, or
 * -EMSGSIZE (it was longer than len: the first len bytes are in buf, the rest is discarded),
 * -EINVAL, -EBADF (closed, also while waiting), -ETIMEDOUT, -ECANCELED (nothing consumed),
 * or another socket error (such as -ECONNREFUSED reported by ICMP for an earlier send). */
ssize_t tide_udp_recv_from(tide_udp_t *u, void *buf, size_t len, tide_addr_t *from);

/* Close and release; tasks blocked on u return -EBADF. -EINVAL (NULL), -EBADF. */
int tide_udp_close(tide_udp_t *u);

/* The bound address (and port). -EINVAL, -EBADF. */
int tide_udp_local_addr(tide_udp_t *u, tide_addr_t *out);

/* ---- readiness of any descriptor ------------------------------------------------------- */

#define TIDE_READABLE 1
#define TIDE_WRITABLE 2

/* Wait until fd (any pollable descriptor: socket, pipe, eventfd... of a foreign library) is
 * readable and/or writable, as asked in events. Returns the ready subset of events (nonzero;
 * an error or hang-up condition on fd counts as ready for everything asked, so the caller's
 * next system call reports it; a regular file is always ready). Several tasks may wait on one
 * fd. fd is made non-blocking; do not close it while a task waits on it. -EINVAL (events not a
 * combination of TIDE_READABLE and TIDE_WRITABLE, negative fd), -EBADF (not open), -EEXIST
 * (fd is one the runtime's own I/O driver watches), -EPERM (not in a task), -ETIMEDOUT,
 * -ECANCELED, -ENOMEM. */
int tide_fd_wait(int fd, int events);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_NET_H */
