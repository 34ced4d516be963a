/* The skeleton shared by the example servers: `PROGRAM PORT [WORKERS]`, a tide_server
 * (tide/serve.h) on 127.0.0.1:PORT running `handler` once per connection, until SIGINT or
 * SIGTERM; then a graceful drain: stop accepting, close idle connections, give busy ones
 * SERVE_DRAIN_MS to finish, cancel the rest, print the statistics.
 *
 * Settings from the environment (milliseconds; 0 turns a timeout off):
 *   SERVE_IDLE_MS     idle keep-alive connection closed after this (default 10000)
 *   SERVE_HEADER_MS   a request's head must be in within this of its first byte (10000)
 *   SERVE_WRITE_MS    each write must finish within this (10000)
 *   SERVE_MAX_CONNS   connections at once (default 0: no limit beyond descriptors)
 *   SERVE_REFUSE      1: close connections over SERVE_MAX_CONNS at once; 0: they wait in the
 *                     backlog (default)
 *   SERVE_DRAIN_MS    grace for busy connections at shutdown (default 10000)
 *   TIDE_SERVER_STATS set: at exit, also each worker's counters (tasks run, steals, parks)
 * The soft RLIMIT_NOFILE is raised to the hard one, so tens of thousands of connections fit. */
#ifndef TIDE_EXAMPLES_TCP_SERVER_H
#define TIDE_EXAMPLES_TCP_SERVER_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "tide.h"

#if defined(__SANITIZE_THREAD__)
#include <poll.h>
#include <pthread.h>
/* Under ThreadSanitizer a signal is handled only when the thread it went to enters or leaves
 * a call TSan intercepts, and a worker parked in a raw futex does neither: SIGTERM would wait
 * forever. So in TSan builds the signals are blocked everywhere but in this thread, which
 * sleeps in poll(2) (intercepted) for the life of the process. Other builds need nothing. */
static void *tcp_server_signal_sink(void *arg) {
    pthread_sigmask(SIG_UNBLOCK, (sigset_t *)arg, NULL);
    for (;;) poll(NULL, 0, -1);
    return NULL;
}

static void tcp_server_tsan_signals(void) {
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_t t;
    if (pthread_create(&t, NULL, tcp_server_signal_sink, &set) == 0) pthread_detach(t);
}
#else
static void tcp_server_tsan_signals(void) {}
#endif

typedef struct tcp_server {
    const char *name;          /* program name, for messages */
    tide_server_config_t cfg;  /* what the server is started with */
    int64_t drain;             /* grace at shutdown (ns) */
} tcp_server_t;

/* An environment setting in milliseconds, as nanoseconds. */
static int64_t tcp_server_env_ms(const char *name, int64_t def_ms) {
    const char *v = getenv(name);
    long long ms = v && *v ? strtoll(v, NULL, 10) : def_ms;
    return ms < 0 ? 0 : TIDE_MSEC(ms);
}

static unsigned tcp_server_env_uint(const char *name, unsigned def) {
    const char *v = getenv(name);
    return v && *v ? (unsigned)strtoul(v, NULL, 10) : def;
}

/* TIDE_SERVER_STATS set: at exit, what each worker did (docs/benchmarks.md, "HTTP: the idle
 * spin and task placement"): task runs, steals, parks, LIFO runs, global-queue pops. */
static void tcp_server_print_stats(const char *name) {
    tide_worker_stats_t ws[16];
    tide_stats_t st;
    if (tide_runtime_stats(tide_runtime_current(), &st, ws, 16) < 0) return;
    for (unsigned i = 0; i < st.workers && i < 16; i++)
        fprintf(stderr, "%s: w%u run=%llu steal=%llu park=%llu lifo=%llu global=%llu overflow=%llu\n",
                name, i, (unsigned long long)ws[i].tasks_run, (unsigned long long)ws[i].steals,
                (unsigned long long)ws[i].parks, (unsigned long long)ws[i].lifo_runs,
                (unsigned long long)ws[i].global_pops, (unsigned long long)ws[i].overflows);
}

static int tcp_server_main_task(void *arg) {
    tcp_server_t *ts = arg;
    int sigs[] = {SIGINT, SIGTERM};
    tide_signal_t *sig;
    /* Opened before listening, so a signal that comes early stops the server rather than
     * killing the process. */
    int r = tide_signal_open(&sig, sigs, 2);
    if (r < 0) return r;
    tide_server_t *s;
    if ((r = tide_server_start(&s, &ts->cfg)) < 0) {
        fprintf(stderr, "%s: listen on %s:%u: %s\n", ts->name, ts->cfg.host,
                (unsigned)ts->cfg.port, tide_strerror(r));
        tide_signal_close(sig);
        return r;
    }
    tide_addr_t at;
    tide_server_local_addr(s, &at);
    printf("listening on %s:%u\n", ts->cfg.host, (unsigned)tide_addr_port(&at)); /* port 0 */
    fflush(stdout);
    r = tide_signal_wait(sig);
    int cancelled = tide_server_shutdown(s, ts->drain);
    tide_server_stats_t st;
    tide_server_stats(s, &st);
    fprintf(stderr,
            "%s: stopped: %llu accepted, %llu refused, %llu idle and %llu header timeouts, "
            "%llu errors, %d cancelled at shutdown\n",
            ts->name, (unsigned long long)st.accepted, (unsigned long long)st.refused,
            (unsigned long long)st.idle_timeouts, (unsigned long long)st.header_timeouts,
            (unsigned long long)st.errors, cancelled < 0 ? 0 : cancelled);
    tide_server_free(s);
    tide_signal_close(sig);
    if (getenv("TIDE_SERVER_STATS")) tcp_server_print_stats(ts->name);
    return r < 0 ? r : 0;
}

/* main() of an example server. */
static int tcp_server_run(const char *name, int argc, char **argv,
                          int (*handler)(tide_conn_t *, void *), void *arg) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT [WORKERS]\n", argv[0]);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    tcp_server_t ts = {.name = name};
    tide_server_config_init(&ts.cfg);
    ts.cfg.host = "127.0.0.1";
    ts.cfg.port = (uint16_t)strtoul(argv[1], NULL, 10);
    ts.cfg.backlog = 4096;
    ts.cfg.handler = handler;
    ts.cfg.arg = arg;
    ts.cfg.idle_timeout_ns = tcp_server_env_ms("SERVE_IDLE_MS", 10000);
    ts.cfg.header_timeout_ns = tcp_server_env_ms("SERVE_HEADER_MS", 10000);
    ts.cfg.write_timeout_ns = tcp_server_env_ms("SERVE_WRITE_MS", 10000);
    ts.cfg.max_conns = tcp_server_env_uint("SERVE_MAX_CONNS", 0);
    ts.cfg.refuse_excess = (int)tcp_server_env_uint("SERVE_REFUSE", 0);
    ts.drain = tcp_server_env_ms("SERVE_DRAIN_MS", 10000);
    tcp_server_tsan_signals();
    tide_config_t cfg;
    tide_config_init(&cfg);
    if (argc == 3) cfg.workers = (unsigned)strtoul(argv[2], NULL, 10);
    int r = tide_run_config(&cfg, tcp_server_main_task, &ts);
    if (r < 0) fprintf(stderr, "%s: %s\n", name, tide_strerror(r));
    return r == 0 ? 0 : 1;
}

#endif
