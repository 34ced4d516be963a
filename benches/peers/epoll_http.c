/* tide-peer-epoll: the HTTP hello server of BENCH.md as a hand-written, one-thread epoll loop
 * (edge-triggered, non-blocking sockets): the limit a runtime's HTTP figures are read against.
 *
 *   tide-peer-epoll PORT [WORKERS]     (WORKERS is accepted and ignored: one thread)
 *
 * Listens on 127.0.0.1:PORT and answers every request with the bytes of
 * examples/http_hello.h, keep-alive and pipelining, parsing requests with the same code as
 * examples/http_hello, so the two do exactly the same work per request. Runs until killed. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../examples/http_hello.h"

/* One connection. */
typedef struct conn {
    int fd;              /* non-blocking socket */
    int closing;         /* close once owed is written (client asked, or a bad request) */
    int error;           /* an HTTP error status to answer before closing (400, 431...) */
    size_t have;         /* bytes of buf holding unparsed input */
    size_t owed;         /* answer bytes parsed for but not yet written */
    char buf[BUF_SIZE];  /* input: the front of the next request(s) */
} conn_t;

static void conn_close(int ep, conn_t *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Write what is owed. 1: all written; 0: the socket is full (wait for EPOLLOUT); -1: error.
 * The owed bytes are the tail of a stream of back-to-back answers, which batch holds. */
static int conn_flush(conn_t *c) {
    while (c->owed) {
        size_t start = (RESPONSE_LEN - c->owed % RESPONSE_LEN) % RESPONSE_LEN;
        size_t len = sizeof batch - start;
        if (len > c->owed) len = c->owed;
        ssize_t n = write(c->fd, batch + start, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->owed -= (size_t)n;
    }
    return 1;
}

/* Edge-triggered: keep reading and writing until the socket says EAGAIN. */
static void conn_event(int ep, conn_t *c) {
    for (;;) {
        int f = conn_flush(c);
        if (f < 0) goto close;
        if (f > 0 && c->closing) {
            if (c->error) { /* best effort, as the servers measured against it do */
                char answer[256];
                ssize_t w = write(c->fd, answer, error_response(answer, sizeof answer, c->error));
                (void)w;
            }
            goto close;
        }
        if (f == 0) return; /* EPOLLOUT brings us back */
        ssize_t n = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
        if (n == 0) goto close;
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            goto close;
        }
        c->have += (size_t)n;
        size_t used;
        int last;
        size_t count = parse_requests(c->buf, c->have, &used, &last);
        memmove(c->buf, c->buf + used, c->have - used);
        c->have -= used;
        c->owed += count * RESPONSE_LEN;
        if (last) c->closing = 1;
        if (last > 1) c->error = last;
    }
close:
    conn_close(ep, c);
}

static void accept_all(int ep, int lfd) {
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) perror("tide-peer-epoll: accept");
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_t *c = calloc(1, sizeof *c);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                 .data.ptr = c};
        if (!c || (c->fd = fd, epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)) {
            free(c);
            close(fd);
            continue;
        }
        conn_event(ep, c); /* the request may be there already */
    }
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT [WORKERS]\n", argv[0]);
        return 2;
    }
    batch_fill();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)strtoul(argv[1], NULL, 10)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4096) < 0) {
        perror("tide-peer-epoll: listen");
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    static int listener; /* its address tags the listening socket's events */
    struct epoll_event lev = {.events = EPOLLIN | EPOLLET, .data.ptr = &listener};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        perror("tide-peer-epoll: epoll");
        return 1;
    }
    printf("listening on 127.0.0.1:%s\n", argv[1]);
    fflush(stdout);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        if (n < 0 && errno != EINTR) {
            perror("tide-peer-epoll: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listener) accept_all(ep, lfd);
            else conn_event(ep, evs[i].data.ptr);
        }
    }
}
