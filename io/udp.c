/* UDP: bind, send_to, recv_from on the reactor (same scheme as TCP: the system call first, a
 * readiness wait only on EAGAIN). */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "net_internal.h"

static inline tide__sock_t *sock_of(tide_udp_t *u) {
    return (tide__sock_t *)(void *)u;
}

static int enter_udp(tide_udp_t *u) {
    if (!u) return -EINVAL;
    tide__sock_t *s = sock_of(u);
    if (tide__sock_enter(s) < 0) return -EBADF;
    if (s->kind != SOCK_UDP) {
        tide__sock_leave(s);
        return -EBADF;
    }
    return 0;
}

int tide_udp_bind_addr(tide_udp_t **out, const tide_addr_t *addr) {
    if (!out || !addr || addr->len == 0) return -EINVAL;
    tide__reactor_t *r = tide__reactor_current();
    if (!r) return tide__io_error();
    int family = addr->u.sa.sa_family;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int err;
    if (bind(fd, &addr->u.sa, addr->len) < 0) {
        err = -errno;
        goto fail_fd;
    }
    tide__sock_t *s = tide__sock_open(r, SOCK_UDP, fd, EPOLLIN | EPOLLOUT, &err);
    if (!s) goto fail_fd;
    *out = (tide_udp_t *)(void *)s;
    return 0;
fail_fd:
    close(fd);
    return err;
}

int tide_udp_bind(tide_udp_t **out, const char *host, uint16_t port) {
    if (!out) return -EINVAL;
    tide_addr_t a;
    if (tide__addr_numeric(&a, host, port) < 0) return -EINVAL;
    return tide_udp_bind_addr(out, &a);
}

/* The socket's address family, asked of the kernel: only a failed send needs it (the
 * record has no room for it in the line every operation reads). */
static int family_of(int fd) {
    int v = AF_UNSPEC;
    socklen_t n = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &n) < 0 ? AF_UNSPEC : v;
}

ssize_t tide_udp_send_to(tide_udp_t *u, const void *buf, size_t len, const tide_addr_t *to) {
    if ((!buf && len) || !to || to->len == 0) return -EINVAL;
    int e = enter_udp(u);
    if (e < 0) return e;
    tide__sock_t *s = sock_of(u);
    ssize_t r;
    for (;;) {
        if ((r = tide__net_check()) < 0) break;
        uint32_t seen = tide__sock_seq(s, DIR_WRITE);
        r = sendto(s->fd, buf, len, MSG_NOSIGNAL, &to->u.sa, to->len);
        if (r >= 0) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN) {
            r = errno == EINVAL && to->u.sa.sa_family != family_of(s->fd) ? -EAFNOSUPPORT : -errno;
            break;
        }
        if ((r = tide__sock_wait(s, DIR_WRITE, seen, "udp send")) < 0) break;
    }
    tide__sock_leave(s);
    if (r >= 0) tide_budget_tick();
    return r;
}

ssize_t tide_udp_recv_from(tide_udp_t *u, void *buf, size_t len, tide_addr_t *from) {
    if (!buf && len) return -EINVAL;
    int e = enter_udp(u);
    if (e < 0) return e;
    tide__sock_t *s = sock_of(u);
    ssize_t r;
    for (;;) {
        if ((r = tide__net_check()) < 0) break;
        uint32_t seen = tide__sock_seq(s, DIR_READ);
        tide_addr_t a;
        struct iovec v = {.iov_base = buf, .iov_len = len};
        struct msghdr m = {.msg_name = &a.u, .msg_namelen = sizeof a.u, .msg_iov = &v,
                           .msg_iovlen = 1};
        r = recvmsg(s->fd, &m, 0);
        if (r >= 0) {
            if (from) {
                memset(from, 0, sizeof *from);
                memcpy(&from->u, &a.u, m.msg_namelen < sizeof a.u ? m.msg_namelen : sizeof a.u);
                from->len = m.msg_namelen;
            }
            if (m.msg_flags & MSG_TRUNC) r = -EMSGSIZE;
            break;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN) {
            r = -errno;
            break;
        }
        if ((r = tide__sock_wait(s, DIR_READ, seen, "udp recv")) < 0) break;
    }
    tide__sock_leave(s);
    if (r >= 0) tide_budget_tick();
    return r;
}

int tide_udp_close(tide_udp_t *u) {
    if (!u) return -EINVAL;
    return tide__sock_close(sock_of(u));
}

int tide_udp_local_addr(tide_udp_t *u, tide_addr_t *out) {
    if (!out) return -EINVAL;
    int e = enter_udp(u);
    if (e < 0) return e;
    memset(out, 0, sizeof *out);
    socklen_t len = sizeof out->u;
    int r = getsockname(sock_of(u)->fd, &out->u.sa, &len) < 0 ? -errno : 0;
    if (r == 0) out->len = len;
    tide__sock_leave(sock_of(u));
    return r;
}
