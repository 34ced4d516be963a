/* tide — the server loop: listen, accept, one task per connection, with the limits and
 * timeouts a server exposed to the internet needs (Go's net/http Server, nginx's core module).
 *
 *   tide_server_config_t cfg;
 *   tide_server_config_init(&cfg);
 *   cfg.port = 8080; cfg.handler = serve_conn;     // int serve_conn(tide_conn_t *c, void *arg)
 *   tide_server_t *s;
 *   tide_server_start(&s, &cfg);                    // listening, accepting in a task of its own
 *   ... wait for SIGTERM ...
 *   tide_server_shutdown(s, TIDE_SEC(10));          // drain: stop accepting, let requests end
 *   tide_server_free(s);
 *
 * What the loop does for every server:
 *   - Out of descriptors (EMFILE/ENFILE/ENOBUFS/ENOMEM at accept), it neither fails nor spins:
 *     it waits for one of its connections to close or for a growing delay (1 ms to 100 ms),
 *     keeping every established connection served (tide_tcp_accept does this).
 *   - At most max_conns connections at once; beyond that a connection either waits in the
 *     kernel's backlog until one closes, or is accepted and closed at once (refuse_excess).
 *   - Timeouts, ending blocked calls with -ETIMEDOUT (the header and write timeouts are passed
 *     as deadlines to the reads and writes, tide_tcp_read_until, and the earlier of them and
 *     the handler's own scope applies; the idle timeout is a sweep, once every
 *     idle_timeout_ns / 8 but at least every second, so it costs a request nothing and ends
 *     an idle wait between idle_timeout_ns and that plus two sweeps): tide_conn_read waits
 *     about idle_timeout_ns for
 *     the first byte of a request between requests (a keep-alive connection), and at most
 *     header_timeout_ns from the first byte of a request (or the accept, for the first request)
 *     until the handler says the request's head is in; a client trickling a header line at a
 *     time (slowloris) cannot stretch it. (The clock of a request that began with a read starts
 *     at the next read, the first that waits for more of it: a request that arrives whole costs
 *     no clock read.) tide_conn_write gives each write write_timeout_ns from its first wait
 *     for the socket (a write the socket takes at once reads no clock).
 *   - A graceful drain: stop accepting, close idle connections, let busy ones finish within a
 *     grace period, then cancel what is left and wait for it to unwind.
 *   - Statistics.
 *
 * The handler owns the connection for the call; the server closes it when the handler returns
 * (the handler must not close it). Calls here follow tide/core.h: 0 or a count on success, a
 * negative errno on failure. */
#ifndef TIDE_SERVE_H
#define TIDE_SERVE_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "tide/core.h"
#include "tide/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tide_server tide_server_t;
/* One accepted connection, as its handler sees it. */
typedef struct tide_conn tide_conn_t;

typedef struct tide_server_config {
    const char *host;       /* numeric address to listen on; NULL: 0.0.0.0 */
    uint16_t port;          /* 0: any free port (see tide_server_local_addr) */
    int backlog;            /* listen(2) queue; 0: SOMAXCONN */
    int reuseport;          /* nonzero: SO_REUSEPORT, for one process (or server) per core */
    unsigned max_conns;     /* connections open at once; 0: no limit */
    int refuse_excess;      /* with max_conns: 0 leaves the excess in the backlog until a
                               connection closes; 1 accepts and closes it at once (counted in
                               `refused`) */
    int64_t idle_timeout_ns;   /* how long a keep-alive connection may wait for its next
                                  request; 0: none. Default 10 s */
    int64_t header_timeout_ns; /* from a request's first byte (the accept, for the first) to
                                  the end of its head; 0: none. Default 10 s */
    int64_t write_timeout_ns;  /* for each tide_conn_write/writev; 0: none (default) */
    int nodelay;            /* nonzero: TCP_NODELAY on accepted connections (default 1) */
    int (*handler)(tide_conn_t *c, void *arg); /* runs in its own task per connection; its
                                                  negative return counts in `errors` */
    void *arg;              /* passed to handler */
    const char *name;       /* task name prefix for dumps; NULL: "conn" */
} tide_server_config_t;

/* Defaults as documented above (handler NULL: set it). -EINVAL for NULL. */
int tide_server_config_init(tide_server_config_t *cfg);

typedef struct tide_server_stats {
    uint64_t accepted;        /* connections accepted and handed to a handler */
    uint64_t active;          /* connections open now */
    uint64_t refused;         /* closed at once: over max_conns (refuse_excess) or draining */
    uint64_t idle_timeouts;   /* reads that hit idle_timeout_ns */
    uint64_t header_timeouts; /* reads that hit header_timeout_ns */
    uint64_t write_timeouts;  /* writes that hit write_timeout_ns */
    uint64_t errors;          /* handlers that returned an error, spawns that failed, and
                                 accept errors other than those it backs off from */
    uint64_t cancelled;       /* connections cancelled when a drain's grace ran out */
} tide_server_stats_t;

/* Listen as cfg says and start accepting in a task of the caller's runtime (call it from a
 * task). cfg is copied. -EINVAL (NULL out or cfg, NULL handler, bad host, negative timeout or
 * backlog), -EPERM (not in a task), the errors of tide_tcp_listen, -ENOMEM. */
int tide_server_start(tide_server_t **out, const tide_server_config_t *cfg);

/* The address the server listens on (the port picked for port 0). -EINVAL, -EBADF (shut
 * down). */
int tide_server_local_addr(tide_server_t *s, tide_addr_t *out);

/* Graceful drain: stop accepting and close the listener; close idle connections (blocked in
 * tide_conn_read between requests: that read returns 0, end of stream); tell busy handlers
 * (tide_conn_draining) and let them finish their requests for up to grace_ns (0: cancel at
 * once; TIDE_FOREVER: no limit); then cancel the rest (their blocking calls return
 * -ECANCELED) and wait until every connection task has ended. A second call waits likewise.
 * Returns the number of connections that had to be cancelled (0: a clean drain). -EINVAL
 * (NULL s), -ECANCELED (the caller was cancelled: the drain still completed, cancelling at
 * once). */
int tide_server_shutdown(tide_server_t *s, int64_t grace_ns);

/* Counters so far (any thread, any time, also after shutdown). */
void tide_server_stats(tide_server_t *s, tide_server_stats_t *out);

/* Release the server; shuts it down first (grace 0) if that was not done. NULL is a no-op. */
void tide_server_free(tide_server_t *s);

/* ---- inside a handler ------------------------------------------------------------------ */

/* The connection's TCP handle, for tide_tcp_* calls (which see no server timeout). */
tide_tcp_t *tide_conn_tcp(tide_conn_t *c);
/* The peer's address. */
const tide_addr_t *tide_conn_peer(tide_conn_t *c);

/* Read up to len bytes under the server's timeouts. Waiting between requests (the phase
 * after tide_conn_idle), it waits idle_timeout_ns (up to two sweeps more, see above), and the
 * first byte starts a request:
 * from then on (and from the accept for the first request) it gives up header_timeout_ns after
 * the request began, however the bytes trickle in, until tide_conn_busy. Returns what
 * tide_tcp_read returns; -ETIMEDOUT when a server timeout (or the caller's own deadline
 * scope) ends it; 0 (end of stream) when the server is draining and the connection was
 * idle. */
ssize_t tide_conn_read(tide_conn_t *c, void *buf, size_t len);
/* tide_tcp_write_all / tide_tcp_writev under write_timeout_ns (if set). */
ssize_t tide_conn_write(tide_conn_t *c, const void *buf, size_t len);
ssize_t tide_conn_writev(tide_conn_t *c, const struct iovec *iov, int iovcnt);

/* Phases (what the next tide_conn_read waits under). idle: between requests, nothing of the
 * next one received — call it after answering when the buffer holds no partial request; a
 * draining server makes the next read return 0. busy: the head is in (reading a body,
 * working): only the handler's own deadline scopes apply. request: a request has begun (part
 * of it is buffered): header_timeout_ns runs from now. */
void tide_conn_idle(tide_conn_t *c);
void tide_conn_busy(tide_conn_t *c);
void tide_conn_request(tide_conn_t *c);

/* Nonzero once the server is draining: answer the request in hand, then end (for HTTP, send
 * "Connection: close"). */
int tide_conn_draining(tide_conn_t *c);

/* Close the way nginx's lingering close does, after an error answer the client may still be
 * sending into: shut down our side and discard what arrives for up to max_ns (or 1 MiB), so
 * the peer reads the answer instead of a reset. The server closes the socket afterwards. */
void tide_conn_linger(tide_conn_t *c, int64_t max_ns);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_SERVE_H */
