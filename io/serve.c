/* The server loop (tide/serve.h): an accept task, one detached task per connection, the
 * server's timeouts passed as deadlines to the connection's reads and writes, and a drain.
 *
 * Descriptor exhaustion and the backlog form of max_conns are tide_tcp_accept's (it backs off
 * without spinning and holds connections in the kernel's queue); this file counts, times and
 * stops connections.
 *
 * A connection's phase is an atomic the drain may claim: it turns IDLE into CLOSED (and
 * cancels the task) only while the connection waits between requests, so a request that has
 * begun is never cut by the idle sweep, only by the grace period's end.
 *
 * The idle timeout is not a deadline per read: a connection that goes idle stamps its phase
 * with the server's sweep epoch, and a sweep task (one per server, waking every
 * idle_timeout_ns / 8, at most every second) advances the epoch and expires the connections
 * idle for idle_timeout_ns or more (IDLE -> EXPIRED, and a cancel that the idle read turns
 * into -ETIMEDOUT). So a keep-alive request costs no timer operation and no clock read at all,
 * and the timeout is honoured within idle_timeout_ns .. idle_timeout_ns + 2 sweeps. */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "list.h"
#include "net_internal.h"
#include "platform.h"
#include "tide/serve.h"
#include "tide/waker.h"

/* The phase's low bits: PH_*. An IDLE phase carries its sweep epoch above them (PH_IDLE_AT),
 * so a claim that compares the whole word cannot take a connection that went idle again. */
enum { PH_REQUEST = 0, PH_IDLE = 1, PH_BUSY = 2, PH_CLOSED = 3, PH_EXPIRED = 4 };
#define PH_BITS 4
#define PH_KIND(p) ((p) & ((1 << PH_BITS) - 1))
#define EPOCH_MASK 0x7ffffffu /* 27 bits of epoch in an int phase */
#define PH_IDLE_AT(e) (PH_IDLE | (int)(((e) & EPOCH_MASK) << PH_BITS))
#define PH_EPOCH(p) (((unsigned)(p) >> PH_BITS) & EPOCH_MASK)

/* What every read and write touches comes first, in 32 bytes: the record is 96 bytes, an
 * allocator size class whose objects start at 0 or 32 modulo 64, so a request costs one line
 * of it (with peer ahead of phase and due it cost two). */
struct tide_conn {
    tide_server_t *srv;       /* owner */
    tide_tcp_t *tcp;          /* the socket; closed by the server after the handler */
    _Atomic int phase;        /* PH_* (IDLE with its epoch): set by the task, IDLE -> CLOSED by
                                 the drain, IDLE -> EXPIRED by the idle sweep */
    bool linked;              /* in the list (under lock); here, it fills phase's padding */
    int64_t due;              /* when the current phase's timeout ends; DUE_UNSET: its limit
                                 after the next read that waits (the task's own) */
    tide__list_node_t link;   /* in the server's list of started connections (under lock) */
    tide_task_t task;         /* the connection's own task, for the drain to cancel */
    tide_addr_t peer;         /* from accept */
};
_Static_assert(offsetof(struct tide_conn, due) + sizeof(int64_t) <= 32 &&
                   sizeof(struct tide_conn) <= 96,
               "a connection's hot fields must fit 32 bytes, and the record 96");

/* Someone waiting in tide_server_shutdown for the connections to end. */
typedef struct drain_waiter {
    tide__list_node_t link;    /* in the server's list (under lock) */
    tide_waker_t waker;        /* woken when live reaches 0 */
} drain_waiter_t;

struct tide_server {
    tide_server_config_t cfg;   /* the caller's, copied */
    tide_tcp_t *listener;       /* owned by the accept task, which closes it */
    tide_addr_t local;          /* where it listens (kept: the listener goes at shutdown) */
    tide_task_t acceptor;       /* the accept task; NONE once joined */
    tide_task_t sweeper;        /* the idle sweep task (idle_timeout_ns > 0); NONE once joined */
    _Atomic unsigned epoch;     /* sweeps so far: what an idle connection stamps its phase with */
    int64_t sweep_ns;           /* time between sweeps */
    unsigned sweep_age;         /* epochs after which an idle connection has surely been idle
                                   for idle_timeout_ns */
    tide__spin_t lock;          /* conns, live, waiters, cancelling, acceptor */
    tide__list_t conns;         /* tide_conn_t: started connections, newest first */
    uint64_t live;              /* connection tasks spawned and not ended */
    tide__list_t waiters;       /* drain_waiter_t: drains waiting for live == 0 */
    bool cancelling;            /* the grace ran out: connections starting now end at once */
    _Atomic int draining;       /* shutdown began */
    _Atomic uint64_t accepted, active, refused, idle_timeouts, header_timeouts, write_timeouts,
        errors, cancelled;      /* tide_server_stats_t's counters */
};

#define LINGER_MAX_BYTES (1u << 20)

int tide_server_config_init(tide_server_config_t *cfg) {
    if (!cfg) return -EINVAL;
    memset(cfg, 0, sizeof *cfg);
    cfg->idle_timeout_ns = TIDE_SEC(10);
    cfg->header_timeout_ns = TIDE_SEC(10);
    cfg->nodelay = 1;
    return 0;
}

/* The server's timeouts are deadlines passed to the reads and writes (io/tcp.c's lazy
 * deadlines), not scopes, and their clock is the coarse one (tide__coarse_now: timeouts of
 * seconds do not need better), read only when a call has to wait: the idle timeout starts at
 * the idle read's wait, the header timeout of a request that arrives in one read at the read
 * that waits for more of the head, a write's timeout at its first wait. So a keep-alive
 * request answered without waiting to write reads the clock once (when its connection goes
 * idle and parks) and opens no scope. */
#define DUE_UNSET TIDE__LAZY_UNSET

/* now + limit, saturated (limit > 0). */
static int64_t due_after(int64_t limit) {
    int64_t now = tide__coarse_now();
    return limit > INT64_MAX - now ? TIDE_FOREVER : now + limit;
}

/* Whether an -ETIMEDOUT came from our deadline rather than the caller's own scope. */
static bool ours(int64_t deadline) {
    return tide_deadline() >= deadline;
}

static void count(_Atomic uint64_t *c) {
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ---- connections ------------------------------------------------------------------------ */

/* A connection task ends: the last one out wakes the drains waiting. This unlock is the last
 * touch of the server, so a drain that sees live == 0 under the lock may free it. */
static void conn_exit(tide_server_t *s) {
    tide__spin_lock(&s->lock);
    atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
    if (--s->live == 0)
        tide__list_for_each(n, &s->waiters) tide_wake(tide__list_entry(n, drain_waiter_t, link)->waker);
    tide__spin_unlock(&s->lock);
}

static int conn_main(void *arg) {
    tide_conn_t *c = arg;
    tide_server_t *s = c->srv;
    c->task = tide_task_self();
    tide__spin_lock(&s->lock);
    bool go = !s->cancelling;
    if (go) {
        tide__list_push_front(&s->conns, &c->link);
        c->linked = true;
    }
    tide__spin_unlock(&s->lock);
    if (go) {
        if (s->cfg.nodelay) tide_tcp_nodelay(c->tcp, 1);
        int r = s->cfg.handler(c, s->cfg.arg);
        if (r < 0 && r != -ECANCELED && r != -ETIMEDOUT) count(&s->errors);
        tide__spin_lock(&s->lock);
        tide__list_remove(&s->conns, &c->link);
        c->linked = false;
        tide__spin_unlock(&s->lock);
    } else {
        count(&s->refused);
    }
    tide_tcp_close(c->tcp);
    tide__delete(c);
    conn_exit(s);
    return 0;
}

tide_tcp_t *tide_conn_tcp(tide_conn_t *c) {
    return c ? c->tcp : NULL;
}

const tide_addr_t *tide_conn_peer(tide_conn_t *c) {
    return c ? &c->peer : NULL;
}

int tide_conn_draining(tide_conn_t *c) {
    return c && atomic_load(&c->srv->draining);
}

void tide_conn_idle(tide_conn_t *c) {
    if (!c) return;
    int idle = PH_IDLE_AT(atomic_load_explicit(&c->srv->epoch, memory_order_relaxed));
    atomic_store(&c->phase, idle);
    /* Paired with the drain's store of draining before its sweep (both seq_cst): either the
     * sweep sees IDLE, or we see draining here. */
    if (atomic_load(&c->srv->draining)) atomic_compare_exchange_strong(&c->phase, &idle, PH_CLOSED);
}

/* Move to phase ph unless the drain or the idle sweep has closed the connection. */
static void set_phase(tide_conn_t *c, int ph) {
    int cur = atomic_load(&c->phase);
    while (cur != PH_CLOSED && cur != PH_EXPIRED &&
           !atomic_compare_exchange_weak(&c->phase, &cur, ph)) {
    }
}

void tide_conn_busy(tide_conn_t *c) {
    if (c) set_phase(c, PH_BUSY);
}

void tide_conn_request(tide_conn_t *c) {
    if (!c) return;
    if (c->srv->cfg.header_timeout_ns > 0) c->due = due_after(c->srv->cfg.header_timeout_ns);
    set_phase(c, PH_REQUEST);
}

/* The rest of a request's head, under header_timeout_ns. Out of line: its deadline record
 * and what it keeps across the read would widen tide_conn_read's frame, which an idle
 * keep-alive connection's parked stack holds (a line of it per request). */
static TIDE_NOINLINE ssize_t read_head(tide_conn_t *c, void *buf, size_t len) {
    tide_server_t *s = c->srv;
    /* The deadline goes to the read: no scope, and no clock read unless it waits. */
    tide__lazy_deadline_t d = {.deadline = c->due, .after = s->cfg.header_timeout_ns};
    ssize_t n = tide__tcp_read_lazy(c->tcp, buf, len, &d);
    c->due = d.deadline;
    if (n == -ETIMEDOUT && ours(d.deadline)) count(&s->header_timeouts);
    return n;
}

ssize_t tide_conn_read(tide_conn_t *c, void *buf, size_t len) {
    if (!c) return -EINVAL;
    int ph = atomic_load_explicit(&c->phase, memory_order_relaxed);
    if (ph == PH_CLOSED) return 0;
    if (ph == PH_EXPIRED) return -ETIMEDOUT;
    if (PH_KIND(ph) == PH_REQUEST && c->srv->cfg.header_timeout_ns > 0)
        return read_head(c, buf, len);
    ssize_t n = tide_tcp_read(c->tcp, buf, len); /* idle: the sweep times it */
    if (PH_KIND(ph) != PH_IDLE) return n;
    if (n > 0) {
        /* The first byte of a request: header_timeout_ns runs from the read that waits for
         * more of it (none, if the head is all here), unless the drain claimed the connection
         * meanwhile (then the request is dropped, as any server closing an idle keep-alive
         * connection may race with a request; clients retry those). */
        if (!atomic_compare_exchange_strong(&c->phase, &ph, PH_REQUEST)) return 0;
        c->due = DUE_UNSET;
        return n;
    }
    if (n == -ECANCELED) {
        int now = atomic_load(&c->phase);
        if (now == PH_CLOSED) return 0;
        if (now == PH_EXPIRED) return -ETIMEDOUT;
    }
    return n;
}

/* One buffer, all of it: a send until done, not tide_tcp_writev, whose bookkeeping for many
 * buffers costs more than the send's own preparation. d (NULL: none) bounds the waits. */
static ssize_t write_all(tide_tcp_t *t, const void *buf, size_t len, tide__lazy_deadline_t *d) {
    size_t done = 0;
    do {
        ssize_t r = tide__tcp_write_lazy(t, (const char *)buf + done, len - done, d);
        if (r < 0) return r;
        done += (size_t)r;
    } while (done < len);
    return (ssize_t)len;
}

ssize_t tide_conn_write(tide_conn_t *c, const void *buf, size_t len) {
    if (!c) return -EINVAL;
    if (!buf && len) return -EINVAL;
    if (len > SSIZE_MAX) return -EINVAL;
    tide_server_t *s = c->srv;
    if (s->cfg.write_timeout_ns <= 0) return write_all(c->tcp, buf, len, NULL);
    /* Started by the first send that has to wait, shared by the sends after it. */
    tide__lazy_deadline_t d = {.deadline = DUE_UNSET, .after = s->cfg.write_timeout_ns};
    ssize_t n = write_all(c->tcp, buf, len, &d);
    if (n == -ETIMEDOUT && ours(d.deadline)) count(&s->write_timeouts);
    return n;
}

/* Many buffers: tide_tcp_writev's waits under the same lazy write deadline. */
ssize_t tide_conn_writev(tide_conn_t *c, const struct iovec *iov, int iovcnt) {
    if (!c) return -EINVAL;
    tide_server_t *s = c->srv;
    if (s->cfg.write_timeout_ns <= 0) return tide_tcp_writev(c->tcp, iov, iovcnt, NULL);
    tide__lazy_deadline_t d = {.deadline = DUE_UNSET, .after = s->cfg.write_timeout_ns};
    ssize_t n = tide__tcp_writev_lazy(c->tcp, iov, iovcnt, &d);
    if (n == -ETIMEDOUT && ours(d.deadline)) count(&s->write_timeouts);
    return n;
}

void tide_conn_linger(tide_conn_t *c, int64_t max_ns) {
    if (!c) return;
    if (tide_tcp_shutdown(c->tcp) < 0) return;
    char buf[4096];
    size_t total = 0;
    tide_scope_t scope;
    tide_timeout_begin(&scope, max_ns);
    while (total < LINGER_MAX_BYTES) {
        ssize_t n = tide_tcp_read(c->tcp, buf, sizeof buf);
        if (n <= 0) break;
        total += (size_t)n;
    }
    tide_scope_end(&scope);
}

/* ---- the idle sweep --------------------------------------------------------------------- */

/* Every sweep_ns: a new epoch, and the connections idle since sweep_age epochs or more are
 * expired. A connection stamped with epoch e went idle before epoch e + 1 began, so at epoch
 * E it has been idle for at least (E - e - 1) sweeps. Cancelled (and joined) at shutdown. */
static int sweep_main(void *arg) {
    tide_server_t *s = arg;
    while (tide_sleep(s->sweep_ns) == 0) {
        unsigned e = atomic_fetch_add_explicit(&s->epoch, 1, memory_order_relaxed) + 1;
        uint64_t expired = 0;
        tide__spin_lock(&s->lock);
        tide__list_for_each(n, &s->conns) {
            tide_conn_t *c = tide__list_entry(n, tide_conn_t, link);
            int p = atomic_load(&c->phase);
            if (PH_KIND(p) != PH_IDLE || ((e - PH_EPOCH(p)) & EPOCH_MASK) < s->sweep_age) continue;
            if (atomic_compare_exchange_strong(&c->phase, &p, PH_EXPIRED)) {
                tide_cancel(c->task);
                expired++;
            }
        }
        tide__spin_unlock(&s->lock);
        if (expired) atomic_fetch_add_explicit(&s->idle_timeouts, expired, memory_order_relaxed);
    }
    return 0;
}

/* ---- accepting -------------------------------------------------------------------------- */

/* The first request's header timeout runs from the accept. */
static int64_t cfg_header_due(tide_server_t *s) {
    return s->cfg.header_timeout_ns > 0 ? due_after(s->cfg.header_timeout_ns) : DUE_UNSET;
}

static int accept_main(void *arg) {
    tide_server_t *s = arg;
    tide_spawn_opts_t so = {.name = s->cfg.name ? s->cfg.name : "conn", .detached = 1};
    for (;;) {
        tide_tcp_t *t;
        tide_addr_t peer;
        int r = tide_tcp_accept(s->listener, &t, &peer);
        if (r == -ECANCELED || r == -EBADF) break;
        if (r < 0) {
            /* Not exhaustion (accept waits that out itself): count it, and do not spin on a
             * listener that keeps failing. */
            count(&s->errors);
            if (tide_sleep(TIDE_MSEC(10)) == -ECANCELED) break;
            continue;
        }
        if (s->cfg.refuse_excess && s->cfg.max_conns &&
            atomic_load_explicit(&s->active, memory_order_relaxed) >= s->cfg.max_conns) {
            /* Counted before the close: a client that sees its connection end may read the
             * server's stats at once (test_serve's max_conns_refuses_excess did, and lost). */
            count(&s->refused);
            tide_tcp_close(t);
            continue;
        }
        tide_conn_t *c = tide__new(tide_conn_t);
        if (!c) {
            count(&s->errors);
            tide_tcp_close(t);
            continue;
        }
        c->srv = s;
        c->tcp = t;
        c->peer = peer;
        c->due = cfg_header_due(s);
        atomic_init(&c->phase, PH_REQUEST);
        tide__spin_lock(&s->lock);
        s->live++;
        tide__spin_unlock(&s->lock);
        atomic_fetch_add_explicit(&s->active, 1, memory_order_relaxed);
        r = tide_spawn_opts(NULL, conn_main, c, &so);
        if (r < 0) {
            count(&s->errors);
            tide_tcp_close(t);
            tide__delete(c);
            conn_exit(s);
            if (r == -ESHUTDOWN) break;
            continue;
        }
        count(&s->accepted);
    }
    tide_tcp_close(s->listener);
    return 0;
}

int tide_server_start(tide_server_t **out, const tide_server_config_t *cfg) {
    if (!out || !cfg || !cfg->handler || cfg->backlog < 0 || cfg->idle_timeout_ns < 0 ||
        cfg->header_timeout_ns < 0 || cfg->write_timeout_ns < 0)
        return -EINVAL;
    int r = -ENOMEM;
    tide_server_t *s = tide__new(tide_server_t);
    if (!s) goto error1;
    s->cfg = *cfg;
    tide_tcp_listen_opts_t lo = {
        .backlog = cfg->backlog,
        .reuseport = cfg->reuseport,
        .max_conns = cfg->refuse_excess ? 0 : cfg->max_conns,
    };
    r = tide_tcp_listen(&s->listener, cfg->host, cfg->port, &lo);
    if (r < 0) goto error2;
    if ((r = tide_tcp_local_addr(s->listener, &s->local)) < 0) goto error3;
    if (cfg->idle_timeout_ns > 0) {
        int64_t sweep = cfg->idle_timeout_ns / 8;
        s->sweep_ns = sweep < TIDE_MSEC(1) ? TIDE_MSEC(1) : sweep > TIDE_SEC(1) ? TIDE_SEC(1) : sweep;
        int64_t age = (cfg->idle_timeout_ns + s->sweep_ns - 1) / s->sweep_ns + 1;
        s->sweep_age = age > (int64_t)(EPOCH_MASK / 2) ? EPOCH_MASK / 2 : (unsigned)age;
        tide_spawn_opts_t so = {.name = "idle sweep"};
        if ((r = tide_spawn_opts(&s->sweeper, sweep_main, s, &so)) < 0) goto error3;
    }
    tide_spawn_opts_t ao = {.name = "accept"};
    if ((r = tide_spawn_opts(&s->acceptor, accept_main, s, &ao)) < 0) goto error4;
    *out = s;
    return 0;
error4:
    if (s->sweeper.ptr) {
        tide_cancel(s->sweeper);
        tide_join(s->sweeper, NULL);
    }
error3:
    tide_tcp_close(s->listener);
error2:
    tide__delete(s);
error1:
    return r;
}

int tide_server_local_addr(tide_server_t *s, tide_addr_t *out) {
    if (!s || !out) return -EINVAL;
    if (atomic_load(&s->draining)) return -EBADF;
    *out = s->local;
    return 0;
}

/* ---- draining --------------------------------------------------------------------------- */

/* Wait for every connection task to end, or the caller's deadline or cancel. */
static int wait_live_zero(tide_server_t *s) {
    drain_waiter_t me = {0};
    for (;;) {
        me.waker = tide_park_prepare();
        tide__spin_lock(&s->lock);
        if (s->live == 0) {
            tide__spin_unlock(&s->lock);
            return 0;
        }
        tide__list_push_front(&s->waiters, &me.link);
        tide__spin_unlock(&s->lock);
        int r = tide_park_on("server drain");
        tide__spin_lock(&s->lock);
        tide__list_remove(&s->waiters, &me.link);
        tide__spin_unlock(&s->lock);
        if (r < 0) return r;
    }
}

int tide_server_shutdown(tide_server_t *s, int64_t grace_ns) {
    if (!s) return -EINVAL;
    int64_t now = tide_now();
    int64_t deadline = grace_ns <= 0 ? now
                       : grace_ns > INT64_MAX - now ? TIDE_FOREVER : now + grace_ns;
    atomic_store(&s->draining, 1);

    /* Stop accepting: the accept task closes the listener on its way out. */
    tide_shield_t shield;
    tide_shield_begin(&shield);
    tide__spin_lock(&s->lock);
    tide_task_t acceptor = s->acceptor, sweeper = s->sweeper;
    s->acceptor = TIDE_TASK_NONE;
    s->sweeper = TIDE_TASK_NONE;
    tide__spin_unlock(&s->lock);
    if (acceptor.ptr) {
        tide_cancel(acceptor);
        tide_join(acceptor, NULL);
    }
    if (sweeper.ptr) { /* the drain closes the idle ones now */
        tide_cancel(sweeper);
        tide_join(sweeper, NULL);
    }
    tide_shield_end(&shield);

    /* Close the connections waiting between requests. */
    tide__spin_lock(&s->lock);
    tide__list_for_each(n, &s->conns) {
        tide_conn_t *c = tide__list_entry(n, tide_conn_t, link);
        int p = atomic_load(&c->phase);
        if (PH_KIND(p) == PH_IDLE && atomic_compare_exchange_strong(&c->phase, &p, PH_CLOSED))
            tide_cancel(c->task);
    }
    tide__spin_unlock(&s->lock);

    /* Let the busy ones finish until the deadline. */
    tide_scope_t scope;
    tide_deadline_begin(&scope, deadline);
    int r = wait_live_zero(s);
    tide_scope_end(&scope);
    if (r == 0) return 0;
    bool caller_cancelled = r == -ECANCELED;

    int n = 0;
    tide__spin_lock(&s->lock);
    s->cancelling = true;
    tide__list_for_each(node, &s->conns) {
        tide_conn_t *c = tide__list_entry(node, tide_conn_t, link);
        int was = atomic_exchange(&c->phase, PH_CLOSED);
        if (was == PH_CLOSED || was == PH_EXPIRED) continue; /* idle: cancelled already */
        tide_cancel(c->task);
        n++;
    }
    tide__spin_unlock(&s->lock);
    atomic_fetch_add_explicit(&s->cancelled, (uint64_t)n, memory_order_relaxed);
    tide_shield_begin(&shield);
    wait_live_zero(s);
    tide_shield_end(&shield);
    return caller_cancelled ? -ECANCELED : n;
}

void tide_server_stats(tide_server_t *s, tide_server_stats_t *out) {
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!s) return;
    out->accepted = atomic_load_explicit(&s->accepted, memory_order_relaxed);
    out->active = atomic_load_explicit(&s->active, memory_order_relaxed);
    out->refused = atomic_load_explicit(&s->refused, memory_order_relaxed);
    out->idle_timeouts = atomic_load_explicit(&s->idle_timeouts, memory_order_relaxed);
    out->header_timeouts = atomic_load_explicit(&s->header_timeouts, memory_order_relaxed);
    out->write_timeouts = atomic_load_explicit(&s->write_timeouts, memory_order_relaxed);
    out->errors = atomic_load_explicit(&s->errors, memory_order_relaxed);
    out->cancelled = atomic_load_explicit(&s->cancelled, memory_order_relaxed);
}

void tide_server_free(tide_server_t *s) {
    if (!s) return;
    tide__spin_lock(&s->lock);
    bool pending = s->acceptor.ptr != NULL || s->sweeper.ptr != NULL || s->live != 0;
    tide__spin_unlock(&s->lock);
    if (pending || !atomic_load(&s->draining)) tide_server_shutdown(s, 0);
    /* A drain running elsewhere may still be unlinking itself: take the lock once more. */
    tide__spin_lock(&s->lock);
    tide__spin_unlock(&s->lock);
    tide__delete(s);
}
