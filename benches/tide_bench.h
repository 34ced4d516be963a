/* The tide implementation's shared state: tide.c runs the workloads that need only the core
 * API; tide_sync.c those built on channels, mutexes and events (include/tide/sync.h). */
#ifndef TIDE_BENCH_TIDE_H
#define TIDE_BENCH_TIDE_H

#include "bench.h"
#include "tide.h"

/* One runtime per workload, reused by its warm-up and repetitions (its stack and task pools
 * stay warm, as in a long-running server). */
typedef struct tide_env {
    tide_runtime_t *rt;      /* cfg.workers = --workers */
    const bench_cfg_t *cfg;  /* sizes */
    unsigned rep;            /* 0: the warm-up */
    bench_sample_t *out;   /* the current repetition's figures */
    bench_keep_t *kept;    /* per-repetition objects, freed after the runtime */
    uint64_t rss_base;     /* idle_many: VmRSS before the first run */
    struct hol_env *hol;   /* hol_echo: the echo server's clients (hol.c) */
} tide_env_t;

/* Join every handle in ts[0..n) (all of them, even after a failure); the first bad status. */
static inline int tide_bench_join_all(tide_task_t *ts, uint64_t n) {
    int first = 0;
    for (uint64_t i = 0; i < n; i++) {
        int st = 0, r = tide_join(ts[i], &st);
        if (r < 0 && !first) first = r;
        if (st < 0 && !first) first = st;
    }
    return first;
}

/* Workloads of tide_sync.c, run inside a task (tide_runtime_block_on) except spawn_remote,
 * which runs on the calling plain thread. */
bench_status_t tide_bench_spawn_many(tide_env_t *env);
bench_status_t tide_bench_spawn_remote(tide_env_t *env);
bench_status_t tide_bench_ping_pong(tide_env_t *env);
bench_status_t tide_bench_chained_spawn(tide_env_t *env);
bench_status_t tide_bench_channel_mpsc(tide_env_t *env);
bench_status_t tide_bench_mutex(tide_env_t *env);
bench_status_t tide_bench_idle_many(tide_env_t *env);

/* hol_echo (hol.c): open starts the server and its client threads on env->rt (reason filled
 * on failure, negative errno returned), run is one repetition from the plain thread, close
 * stops the clients (before the runtime is freed). */
int tide_bench_hol_open(tide_env_t *env, char *reason, size_t len);
bench_status_t tide_bench_hol_run(tide_env_t *env);
void tide_bench_hol_close(tide_env_t *env);

/* A failure from a tide call: "what: strerror(err)". */
bench_status_t tide_bench_error(tide_env_t *env, const char *what, int err);

#endif
