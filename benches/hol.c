/* hol_echo on tide (docs/benchmarks.md): does one computing task hold other connections
 * hostage?
 *
 * An echo server, a task per connection, runs on BENCH_HOL_WORKERS workers. HOL_CLIENTS plain
 * threads outside the runtime, with blocking sockets, do round trips of HOL_MSG bytes and
 * record each one's start and end. A repetition makes one more connection, to a second
 * listener of the same server: its task (an ordinary one, spawned by an accept loop like every
 * connection's, as a slow request's handler would be) reads the busy time, computes for it
 * without ever yielding, and answers when and how long it ran. The figures are the round
 * trips overlapping that busy time: their p99, their maximum, and how many there were. A runtime that keeps serving from its other worker shows the
 * round-trip time of an idle server; one whose poller sits behind the busy task shows the
 * busy time itself. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tide_bench.h"

#define HOL_CLIENTS 10
#define HOL_MSG 64
#define HOL_PAUSE_US 1000 /* between a client's round trips: a loaded server, not a saturated one */

/* A round trip, in bench_now() seconds. */
typedef struct hol_trip {
    double start, end;
} hol_trip_t;

typedef struct hol_env hol_env_t;

/* One client thread and what it measured. */
typedef struct hol_client {
    hol_env_t *env;      /* the run it belongs to */
    unsigned id;         /* 0..HOL_CLIENTS-1, varies the bytes sent */
    int fd;              /* blocking socket, -1 until connected */
    pthread_t thread;    /* running hol_client_main */
    int started;         /* thread is joinable */
    pthread_mutex_t mu;  /* guards trips, n, cap (the thread appends, the runner reads) */
    hol_trip_t *trips;   /* round trips since the last clear */
    size_t n, cap;       /* used and allocated entries of trips */
    _Atomic int ended;   /* the thread has returned */
    char err[128];       /* why it returned early (set before ended) */
} hol_client_t;

struct hol_env {
    uint16_t port;                       /* the echo server's */
    uint16_t busy_port;                  /* the busy request's */
    tide_task_t accepts[2];              /* the two accept loops, joined at close */
    _Atomic int conns;                   /* connection tasks not yet ended */
    _Atomic int stop;                    /* clients: finish the round trip and return */
    hol_client_t clients[HOL_CLIENTS];   /* the load */
};

/* ---- the server (tasks) ------------------------------------------------------------------ */

/* What a connection's task gets. */
typedef struct hol_conn {
    tide_tcp_t *c; /* the connection, closed by the task */
    hol_env_t *h;  /* whose conns count the task leaves when it ends */
} hol_conn_t;

static int conn_end(hol_conn_t *hc) {
    tide_tcp_close(hc->c);
    atomic_fetch_sub(&hc->h->conns, 1);
    free(hc);
    return 0;
}

static int echo_task(void *arg) {
    hol_conn_t *hc = arg;
    char buf[4096];
    ssize_t n;
    while ((n = tide_tcp_read(hc->c, buf, sizeof buf)) > 0)
        if (tide_tcp_write_all(hc->c, buf, (size_t)n, NULL) < 0) break;
    return conn_end(hc);
}

/* The busy request: read the busy time (a double, seconds), compute that long without a
 * single call into tide (so without a yield), answer {start, end} (doubles, bench_now()). */
static int busy_task(void *arg) {
    hol_conn_t *hc = arg;
    tide_tcp_t *c = hc->c;
    double secs, t[2];
    if (tide_tcp_read_exact(c, &secs, sizeof secs, NULL) == (ssize_t)sizeof secs) {
        t[0] = bench_now();
        volatile uint64_t x = 0; /* work the compiler keeps */
        while ((t[1] = bench_now()) - t[0] < secs)
            for (int i = 0; i < 1000; i++) x = x * 6364136223846793005u + 1;
        tide_tcp_write_all(c, t, sizeof t, NULL);
    }
    return conn_end(hc);
}

/* One listener and what its connections run. */
typedef struct hol_listener {
    tide_tcp_t *l;           /* listening */
    int (*conn)(void *conn); /* a detached task per connection, given a hol_conn_t */
    hol_env_t *h;            /* counts the connection tasks */
} hol_listener_t;

/* Ends when cancelled (at close, before the runtime is freed). */
static int accept_task(void *arg) {
    hol_listener_t *hl = arg;
    tide_spawn_opts_t so = {.name = "hol-conn", .detached = 1};
    for (;;) {
        tide_tcp_t *c;
        int r = tide_tcp_accept(hl->l, &c, NULL);
        if (r == -ECANCELED) break;
        if (r < 0) continue;
        tide_tcp_nodelay(c, 1);
        hol_conn_t *hc = malloc(sizeof *hc);
        if (!hc) {
            tide_tcp_close(c);
            continue;
        }
        *hc = (hol_conn_t){c, hl->h};
        atomic_fetch_add(&hl->h->conns, 1);
        if (tide_spawn_opts(NULL, hl->conn, hc, &so) < 0) conn_end(hc);
    }
    tide_tcp_close(hl->l);
    free(hl);
    return 0;
}

/* In a task: listen on an ephemeral port, start its accept loop (*task), return the port. */
static int serve(hol_env_t *h, int (*conn)(void *), uint16_t *port, tide_task_t *task) {
    hol_listener_t *hl = calloc(1, sizeof *hl);
    if (!hl) return -ENOMEM;
    hl->conn = conn;
    hl->h = h;
    tide_tcp_listen_opts_t lo = {.backlog = 64};
    int r = tide_tcp_listen(&hl->l, "127.0.0.1", 0, &lo);
    if (r < 0) goto free;
    tide_addr_t a;
    if ((r = tide_tcp_local_addr(hl->l, &a)) < 0) goto close;
    *port = tide_addr_port(&a);
    tide_spawn_opts_t so = {.name = "hol-accept"};
    if ((r = tide_spawn_opts(task, accept_task, hl, &so)) < 0) goto close;
    return 0;
close:
    tide_tcp_close(hl->l);
free:
    free(hl);
    return r;
}

static int listen_task(void *arg) {
    hol_env_t *h = arg;
    int r = serve(h, echo_task, &h->port, &h->accepts[0]);
    return r < 0 ? r : serve(h, busy_task, &h->busy_port, &h->accepts[1]);
}

/* At close, once the clients are gone: stop the accept loops and wait for every connection
 * task to end, so nothing of the server still runs when the runtime is freed. */
static int stop_task(void *arg) {
    hol_env_t *h = arg;
    for (int i = 0; i < 2; i++) {
        if (!h->accepts[i].ptr) continue;
        tide_cancel(h->accepts[i]);
        tide_join(h->accepts[i], NULL);
    }
    for (int ms = 0; atomic_load(&h->conns) > 0 && ms < 5000; ms++) tide_sleep(TIDE_MSEC(1));
    return 0;
}

/* ---- the clients (plain threads, blocking sockets) --------------------------------------- */

static int io_all(int fd, char *buf, size_t len, int writing) {
    for (size_t done = 0; done < len;) {
        ssize_t n = writing ? write(fd, buf + done, len - done) : read(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return n == 0 ? -EPIPE : -errno;
        done += (size_t)n;
    }
    return 0;
}

static void *hol_client_main(void *arg) {
    hol_client_t *c = arg;
    char msg[HOL_MSG], back[HOL_MSG];
    for (unsigned k = 0; !atomic_load_explicit(&c->env->stop, memory_order_relaxed); k++) {
        for (unsigned i = 0; i < HOL_MSG; i++) msg[i] = (char)(k + i + c->id);
        double t0 = bench_now();
        int r = io_all(c->fd, msg, sizeof msg, 1);
        if (r == 0) r = io_all(c->fd, back, sizeof back, 0);
        double t1 = bench_now();
        if (r < 0) {
            snprintf(c->err, sizeof c->err, "round trip: %s", strerror(-r));
            break;
        }
        if (memcmp(msg, back, sizeof msg) != 0) {
            snprintf(c->err, sizeof c->err, "the echo differs from what was sent");
            break;
        }
        pthread_mutex_lock(&c->mu);
        if (c->n == c->cap) {
            size_t cap = c->cap ? 2 * c->cap : 4096;
            hol_trip_t *t = realloc(c->trips, cap * sizeof *t);
            if (!t) {
                pthread_mutex_unlock(&c->mu);
                snprintf(c->err, sizeof c->err, "out of memory");
                break;
            }
            c->trips = t;
            c->cap = cap;
        }
        c->trips[c->n++] = (hol_trip_t){t0, t1};
        pthread_mutex_unlock(&c->mu);
        usleep(HOL_PAUSE_US);
    }
    atomic_store(&c->ended, 1);
    return NULL;
}

static int hol_connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

/* Every client has a round trip that started after t: every earlier one is recorded. */
static bench_status_t wait_past(hol_env_t *h, double t, bench_sample_t *out) {
    double deadline = bench_now() + 10;
    for (;;) {
        int all = 1;
        for (int i = 0; i < HOL_CLIENTS; i++) {
            hol_client_t *c = &h->clients[i];
            if (atomic_load(&c->ended))
                return bench_fail(out, BENCH_FAILED, "client %d stopped: %s", i, c->err);
            pthread_mutex_lock(&c->mu);
            if (c->n == 0 || c->trips[c->n - 1].start <= t) all = 0;
            pthread_mutex_unlock(&c->mu);
        }
        if (all) return BENCH_OK;
        if (bench_now() > deadline)
            return bench_fail(out, BENCH_FAILED, "the clients made no round trip for 10 s");
        usleep(2000);
    }
}

/* ---- the implementation hooks (tide.c) -------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void tide_bench_hol_close(tide_env_t *env) {
    hol_env_t *h = env->hol;
    if (!h) return;
    atomic_store(&h->stop, 1);
    for (int i = 0; i < HOL_CLIENTS; i++) {
        hol_client_t *c = &h->clients[i];
        /* A client blocked on a dead server would never see stop: shutting its socket down
         * ends the read. The server is alive here, so this only hurries the last trip. */
        if (c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
        if (c->started) pthread_join(c->thread, NULL);
        if (c->fd >= 0) close(c->fd);
        pthread_mutex_destroy(&c->mu);
        free(c->trips);
    }
    tide_runtime_block_on(env->rt, stop_task, h);
    free(h);
    env->hol = NULL;
}

int tide_bench_hol_open(tide_env_t *env, char *reason, size_t len) {
    hol_env_t *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(reason, len, "out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < HOL_CLIENTS; i++) {
        h->clients[i].env = h;
        h->clients[i].id = (unsigned)i;
        h->clients[i].fd = -1;
        pthread_mutex_init(&h->clients[i].mu, NULL);
    }
    env->hol = h;
    int r = tide_runtime_block_on(env->rt, listen_task, h);
    if (r < 0) {
        snprintf(reason, len, "listen: %s", tide_strerror(r));
        goto fail;
    }
    for (int i = 0; i < HOL_CLIENTS; i++) {
        hol_client_t *c = &h->clients[i];
        if ((c->fd = hol_connect(h->port)) < 0) {
            r = c->fd;
            snprintf(reason, len, "connect: %s", strerror(-r));
            goto fail;
        }
        if ((r = pthread_create(&c->thread, NULL, hol_client_main, c)) != 0) {
            snprintf(reason, len, "pthread_create: %s", strerror(r));
            r = -r;
            goto fail;
        }
        c->started = 1;
    }
    return 0;
fail:
    tide_bench_hol_close(env);
    return r;
}

bench_status_t tide_bench_hol_run(tide_env_t *env) {
    hol_env_t *h = env->hol;
    bench_sample_t *out = env->out;
    for (int i = 0; i < HOL_CLIENTS; i++) {
        pthread_mutex_lock(&h->clients[i].mu);
        h->clients[i].n = 0;
        pthread_mutex_unlock(&h->clients[i].mu);
    }
    /* Steady state first: every client is doing round trips. */
    bench_status_t st = wait_past(h, bench_now(), out);
    if (st != BENCH_OK) return st;
    usleep(50000);

    /* The busy request, from this plain thread. */
    double secs = (double)env->cfg->sizes.hol_busy_ms * 1e-3, t[2];
    int fd = hol_connect(h->busy_port), r = fd < 0 ? fd : 0;
    if (r == 0) r = io_all(fd, (char *)&secs, sizeof secs, 1);
    if (r == 0) r = io_all(fd, (char *)t, sizeof t, 0);
    if (fd >= 0) close(fd);
    if (r < 0) return bench_fail(out, BENCH_FAILED, "the busy request: %s", strerror(-r));
    struct { double t0, t1; } b = {t[0], t[1]};
    if ((st = wait_past(h, b.t1, out)) != BENCH_OK) return st;

    size_t n = 0, cap = 0;
    double *lat = NULL;
    for (int i = 0; i < HOL_CLIENTS; i++) {
        hol_client_t *c = &h->clients[i];
        pthread_mutex_lock(&c->mu);
        for (size_t k = 0; k < c->n; k++) {
            hol_trip_t tr = c->trips[k];
            if (!(tr.start < b.t1 && tr.end > b.t0)) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 4096;
                double *m = realloc(lat, cap * sizeof *m);
                if (!m) {
                    pthread_mutex_unlock(&c->mu);
                    free(lat);
                    return bench_fail(out, BENCH_FAILED, "out of memory");
                }
                lat = m;
            }
            lat[n++] = tr.end - tr.start;
        }
        pthread_mutex_unlock(&c->mu);
    }
    if (n == 0) {
        free(lat);
        return bench_fail(out, BENCH_FAILED, "no round trip overlapped the busy time");
    }
    qsort(lat, n, sizeof *lat, cmp_double);
    size_t idx = (99 * n + 99) / 100; /* ceil(0.99 n): the p99 is the idx-th smallest */
    out->seconds = b.t1 - b.t0;
    out->p99_us = lat[idx - 1] * 1e6;
    out->max_us = lat[n - 1] * 1e6;
    out->round_trips = (double)n;
    bench_progress("hol_echo (tide): %zu round trips overlapped the busy time: p99 %.1f us, "
                   "max %.1f us", n, out->p99_us, out->max_us);
    free(lat);
    return BENCH_OK;
}
