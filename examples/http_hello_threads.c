/* http_hello_threads: the threaded baseline of http_hello — the same server with one OS
 * thread per connection and blocking sockets (what tide is measured against).
 *
 *   http_hello_threads PORT
 *
 * Listens on 127.0.0.1:PORT; keep-alive and pipelining exactly as http_hello (the answers to
 * the requests one read brought in go out in one write). SIGINT or SIGTERM stops it. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "http_hello.h"

#define THREAD_STACK (128 * 1024)

static int listen_fd = -1;
static atomic_int stopping;

/* A write_all_fn (http_hello.h) over a blocking socket; conn is the descriptor. */
static ssize_t write_all(void *conn, const void *buf, size_t n) {
    int fd = (int)(intptr_t)conn;
    const char *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *serve_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[BUF_SIZE];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        have += (size_t)n;
        size_t pos;
        int end; /* a refused request is told why (no timeouts or lingering here) */
        if (answer_requests(buf, have, &pos, &end, write_all, arg) < 0) break;
        if (end) break;
        memmove(buf, buf + pos, have - pos);
        have -= pos;
    }
    close(fd);
    return NULL;
}

static void *wait_signal(void *arg) {
    sigset_t *set = arg;
    int sig;
    if (sigwait(set, &sig) == 0) {
        atomic_store(&stopping, 1);
        shutdown(listen_fd, SHUT_RDWR); /* wakes the blocked accept */
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", argv[0]);
        return 2;
    }
    unsigned port = (unsigned)strtoul(argv[1], NULL, 10);
    batch_fill();

    /* A shell starts background jobs with SIGINT ignored, and an ignored signal is dropped
     * before sigwait could see it: take the default disposition back, then block. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(listen_fd, 4096) < 0) {
        fprintf(stderr, "http_hello_threads: listen on 127.0.0.1:%u: %s\n", port, strerror(errno));
        return 1;
    }
    printf("listening on 127.0.0.1:%u\n", port);
    fflush(stdout);

    pthread_t sig_thread;
    pthread_create(&sig_thread, NULL, wait_signal, &set);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    while (!atomic_load(&stopping)) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) usleep(10000); /* wait for closes */
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        if (pthread_create(&t, &attr, serve_conn, (void *)(intptr_t)fd) != 0) close(fd);
    }
    pthread_attr_destroy(&attr);
    pthread_join(sig_thread, NULL);
    close(listen_fd);
    return 0; /* connection threads end with the process */
}
