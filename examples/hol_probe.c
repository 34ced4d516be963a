/* Head-of-line probe: how long do echo round trips on other connections take while one task
 * computes without yielding? A tide echo server (a task per connection, WORKERS workers,
 * default 2); a plain-thread client on blocking sockets. The client sends one byte on the
 * "busy" connection, whose task then computes for BUSY_MS (default 1000) without yielding;
 * meanwhile the client does round trips of one byte on 4 other connections, one at a time,
 * and times each. Prints one JSON line:
 *
 *   {"impl":"tide","workload":"hol_echo","workers":2,"busy_ms":1000,"round_trips":812,
 *    "p50_us":41.2,"p99_us":2210.5,"max_us":3900.1}
 *
 *   hol_probe [WORKERS] [BUSY_MS]
 *
 * Without the watch on the socket poll (docs/architecture.md), the first round trip waits for
 * the whole computation. Exit status 1 if something failed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tide.h"

#define ECHO_CONNS 4
#define MAX_TRIPS 1000000

typedef struct probe {
    uint16_t port;
    int64_t busy_ns;
    tide_tcp_t *conns[1 + ECHO_CONNS]; /* server ends; [0] is the busy one */
    _Atomic int busy_state;            /* 1: computing, 2: done */
    double *lat_us;                    /* round-trip times measured while computing */
    size_t ntrips;
    int err;
} probe_t;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *client_main(void *arg) {
    probe_t *p = arg;
    int fds[1 + ECHO_CONNS];
    int n = 0;
    for (; n < 1 + ECHO_CONNS; n++) {
        fds[n] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(p->port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fds[n] < 0 || connect(fds[n], (struct sockaddr *)&a, sizeof a) < 0) {
            p->err = -errno;
            goto out;
        }
    }
    usleep(50000); /* let the workers go idle */
    char b = 'x';
    if (write(fds[0], &b, 1) != 1) {
        p->err = -EIO;
        goto out;
    }
    while (atomic_load(&p->busy_state) == 0) usleep(50);
    for (size_t i = 0; atomic_load(&p->busy_state) == 1 && i < MAX_TRIPS; i++) {
        int fd = fds[1 + i % ECHO_CONNS];
        char out = (char)i, in;
        int64_t t0 = tide_now();
        if (write(fd, &out, 1) != 1 || read(fd, &in, 1) != 1 || in != out) {
            p->err = -EIO;
            goto out;
        }
        int64_t t1 = tide_now();
        if (atomic_load(&p->busy_state) == 1) p->lat_us[p->ntrips++] = (double)(t1 - t0) / 1e3;
    }
out:
    for (int i = 0; i < n; i++) close(fds[i]);
    return NULL;
}

static int busy_task(void *arg) {
    probe_t *p = arg;
    char b;
    if (tide_tcp_read(p->conns[0], &b, 1) != 1) return -EIO;
    atomic_store(&p->busy_state, 1);
    int64_t until = tide_now() + p->busy_ns;
    while (tide_now() < until) {
    }
    atomic_store(&p->busy_state, 2);
    return tide_tcp_read(p->conns[0], &b, 1) == 0 ? 0 : -EIO;
}

static int echo_task(void *arg) {
    tide_tcp_t *c = arg;
    char buf[64];
    ssize_t n;
    while ((n = tide_tcp_read(c, buf, sizeof buf)) > 0)
        if (tide_tcp_write_all(c, buf, (size_t)n, NULL) != n) return -EIO;
    return n < 0 ? (int)n : 0;
}

static int join_thread(void *arg) {
    return -pthread_join(*(pthread_t *)arg, NULL);
}

static int probe_main(void *arg) {
    probe_t *p = arg;
    tide_tcp_t *l;
    int r = tide_tcp_listen(&l, "127.0.0.1", 0, NULL);
    if (r < 0) return r;
    tide_addr_t a;
    tide_tcp_local_addr(l, &a);
    p->port = tide_addr_port(&a);
    pthread_t client;
    if (pthread_create(&client, NULL, client_main, p) != 0) return -EAGAIN;
    for (int i = 0; i < 1 + ECHO_CONNS && r == 0; i++) r = tide_tcp_accept(l, &p->conns[i], NULL);
    tide_tcp_close(l);
    tide_task_t tasks[1 + ECHO_CONNS];
    int spawned = 0;
    for (; r == 0 && spawned < 1 + ECHO_CONNS; spawned++)
        r = tide_spawn(&tasks[spawned], spawned ? echo_task : busy_task,
                       spawned ? (void *)p->conns[spawned] : (void *)p);
    for (int i = 0; i < spawned; i++) {
        int st = 0;
        tide_join(tasks[i], &st);
        if (st < 0 && r == 0) r = st;
    }
    tide_spawn_blocking(join_thread, &client);
    for (int i = 0; i < 1 + ECHO_CONNS; i++)
        if (p->conns[i]) tide_tcp_close(p->conns[i]);
    return r;
}

int main(int argc, char **argv) {
    probe_t p = {0};
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.workers = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
    p.busy_ns = TIDE_MSEC(argc > 2 ? atoi(argv[2]) : 1000);
    p.lat_us = calloc(MAX_TRIPS, sizeof *p.lat_us);
    if (!p.lat_us) return 1;
    int r = tide_run_config(&cfg, probe_main, &p);
    if (r < 0 || p.err) {
        fprintf(stderr, "hol_probe: %s\n", tide_strerror(r < 0 ? r : p.err));
        return 1;
    }
    double p50 = 0, p99 = 0, max = 0;
    if (p.ntrips) {
        qsort(p.lat_us, p.ntrips, sizeof *p.lat_us, cmp_double);
        p50 = p.lat_us[p.ntrips / 2];
        p99 = p.lat_us[(size_t)((double)(p.ntrips - 1) * 0.99)];
        max = p.lat_us[p.ntrips - 1];
    }
    printf("{\"impl\":\"tide\",\"workload\":\"hol_echo\",\"workers\":%u,\"busy_ms\":%lld,"
           "\"round_trips\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
           cfg.workers, (long long)(p.busy_ns / 1000000), p.ntrips, p50, p99, max);
    free(p.lat_us);
    return 0;
}
