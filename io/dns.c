/* Name resolution: uv_getaddrinfo on the I/O driver (the lookup itself runs on libuv's thread
 * pool), so a worker never blocks in the resolver.
 *
 * A lookup cannot be interrupted once a pool thread runs it, and the resolver may take
 * seconds. So the request lives on the heap, not on the task's stack: a deadline or cancel
 * completes the task's operation at once and leaves the request to finish in the background,
 * freed by its callback (tracked by tide__io_live, so a test still sees it go). */
#include <errno.h>
#include <netdb.h>
#include <string.h>

#include "net_internal.h"

typedef struct dns_op {
    tide__io_op_t op;         /* the task's wait */
    const char *host;         /* the task's arguments: valid until op completes */
    uint16_t port;
    int family;
    tide_addr_t *out;         /* where results go (the task's memory) */
    size_t max;
    struct dns_req *req;      /* the libuv request, once started */
} dns_op_t;

typedef struct dns_req {
    uv_getaddrinfo_t req;     /* owned by libuv until the callback */
    dns_op_t *op;             /* the waiting task's operation; NULL once it gave up */
} dns_req_t;

static int map_eai(int status) {
    switch (status) {
    case UV_EAI_NONAME:
    case UV_EAI_NODATA:
    case UV_EAI_ADDRFAMILY: return -ENOENT;
    case UV_EAI_AGAIN: return -EAGAIN;
    case UV_EAI_MEMORY: return -ENOMEM;
    case UV_EAI_FAMILY: return -EAFNOSUPPORT;
    case UV_EAI_CANCELED: return UV_ECANCELED;
    case UV_EAI_SERVICE:
    case UV_EAI_SOCKTYPE:
    case UV_EAI_BADFLAGS: return -EINVAL;
    default:
        /* libuv's other EAI codes sit at -3000 and below; anything else is a plain -errno. */
        return status <= -3000 || status >= 0 ? -EIO : status;
    }
}

/* Copy usable addresses into the task's array: the count, or -ENOENT if there were none. */
static int copy_results(dns_op_t *d, const struct addrinfo *res) {
    size_t n = 0;
    for (const struct addrinfo *ai = res; ai && n < d->max; ai = ai->ai_next) {
        tide_addr_t *a = &d->out[n];
        memset(a, 0, sizeof *a);
        if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof a->u.in) {
            memcpy(&a->u.in, ai->ai_addr, sizeof a->u.in);
            a->u.in.sin_port = htons(d->port);
            a->len = sizeof a->u.in;
        } else if (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof a->u.in6) {
            memcpy(&a->u.in6, ai->ai_addr, sizeof a->u.in6);
            a->u.in6.sin6_port = htons(d->port);
            a->len = sizeof a->u.in6;
        } else {
            continue;
        }
        n++;
    }
    return n ? (int)n : -ENOENT;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    dns_req_t *r = req->data;
    if (r->op) {
        int result = status < 0 ? map_eai(status) : copy_results(r->op, res);
        tide__io_complete(&r->op->op, result);
    }
    if (res) uv_freeaddrinfo(res);
    tide__delete(r);
    tide__io_live_add(-1);
}

static void dns_start(tide__io_op_t *op, uv_loop_t *loop) {
    dns_op_t *d = (dns_op_t *)op;
    dns_req_t *r = tide__new(dns_req_t);
    if (!r) {
        tide__io_complete(op, -ENOMEM);
        return;
    }
    r->op = d;
    r->req.data = r;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = d->family;
    hints.ai_socktype = SOCK_STREAM; /* one entry per address, not one per socket type */
    /* libuv copies host and hints, so the request does not depend on the task's memory. */
    int e = uv_getaddrinfo(loop, &r->req, on_resolved, d->host, NULL, &hints);
    if (e < 0) {
        tide__delete(r);
        tide__io_complete(op, map_eai(e));
        return;
    }
    tide__io_live_add(1);
    d->req = r;
}

static void dns_cancel(tide__io_op_t *op, uv_loop_t *loop) {
    (void)loop;
    dns_op_t *d = (dns_op_t *)op;
    dns_req_t *r = d->req;
    if (!r) return;
    /* Not started on the pool yet: the callback comes with UV_EAI_CANCELED. Running: let it
     * run, detached from the task, and release the task now. */
    if (uv_cancel((uv_req_t *)&r->req) == 0) return;
    r->op = NULL;
    tide__io_complete(op, UV_ECANCELED);
}

int tide_resolve(const char *host, uint16_t port, int family, tide_addr_t *out, size_t max) {
    if (!host || !*host || !out || max == 0) return -EINVAL;
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6) return -EINVAL;
    if (max > INT32_MAX) max = INT32_MAX;
    /* A numeric address needs no resolver. */
    tide_addr_t a;
    if (tide__addr_numeric(&a, host, port) == 0) {
        if (family != AF_UNSPEC && a.u.sa.sa_family != family) return -ENOENT;
        out[0] = a;
        return 1;
    }
    tide__io_t *io = tide__io_current();
    if (!io) return tide__io_error();
    int r = tide__net_check();
    if (r < 0) return r;
    dns_op_t d = {
        .op = {.start = dns_start, .cancel = dns_cancel},
        .host = host,
        .port = port,
        .family = family,
        .out = out,
        .max = max,
    };
    return tide__io_run(io, &d.op, "dns resolve");
}
