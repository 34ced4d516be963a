/* The tide implementation: one runtime per workload (cfg.workers = --workers), the workloads
 * that need only the core API (yield_many, sleep_many), and the dispatch to tide_sync.c.
 * Public API only (tide.h). Every workload but spawn_remote runs inside a task and times
 * itself there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide_bench.h"

bench_status_t tide_bench_error(tide_env_t *env, const char *what, int err) {
    return bench_fail(env->out, BENCH_FAILED, "%s: %s", what, tide_strerror(err));
}

/* ---- yield_many ------------------------------------------------------------------------- */

typedef struct yielder {
    uint64_t iters; /* yields to do */
    uint64_t done;  /* yields that returned 0 (read after the join) */
} yielder_t;

static int yield_task(void *arg) {
    yielder_t *y = arg;
    for (uint64_t i = 0; i < y->iters; i++) {
        int r = tide_yield();
        if (r < 0) return r;
        y->done++;
    }
    return 0;
}

static bench_status_t run_yield_many(tide_env_t *env) {
    const bench_sizes_t *s = &env->cfg->sizes;
    uint64_t n = s->yield_tasks;
    yielder_t *ys = calloc(n, sizeof *ys);
    tide_task_t *ts = calloc(n, sizeof *ts);
    bench_status_t st = bench_fail(env->out, BENCH_FAILED, "out of memory");
    if (!ys || !ts) goto out;
    double t0 = bench_now();
    uint64_t spawned = 0;
    int r = 0;
    for (; spawned < n; spawned++) {
        ys[spawned].iters = s->yield_iters;
        if ((r = tide_spawn(&ts[spawned], yield_task, &ys[spawned])) < 0) break;
    }
    int jr = tide_bench_join_all(ts, spawned);
    env->out->seconds = bench_now() - t0;
    if (r < 0) {
        st = tide_bench_error(env, "tide_spawn", r);
        goto out;
    }
    if (jr < 0) {
        st = tide_bench_error(env, "a yielding task", jr);
        goto out;
    }
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += ys[i].done;
    if (total != n * s->yield_iters)
        st = bench_fail(env->out, BENCH_FAILED, "%llu yields, expected %llu",
                        (unsigned long long)total, (unsigned long long)(n * s->yield_iters));
    else
        st = BENCH_OK;
out:
    free(ts);
    free(ys);
    return st;
}

/* ---- sleep_many ------------------------------------------------------------------------- */

static int sleep_task(void *arg) {
    uintptr_t i = (uintptr_t)arg;
    return tide_sleep(TIDE_MSEC(1 + i % 10));
}

static bench_status_t run_sleep_many(tide_env_t *env) {
    uint64_t n = env->cfg->sizes.sleep_tasks;
    tide_task_t *ts = calloc(n, sizeof *ts);
    if (!ts) return bench_fail(env->out, BENCH_FAILED, "out of memory");
    double t0 = bench_now();
    uint64_t spawned = 0;
    int r = 0;
    for (; spawned < n; spawned++)
        if ((r = tide_spawn(&ts[spawned], sleep_task, (void *)(uintptr_t)spawned)) < 0) break;
    int jr = tide_bench_join_all(ts, spawned);
    env->out->seconds = bench_now() - t0;
    free(ts);
    if (r < 0) return tide_bench_error(env, "tide_spawn", r);
    if (jr < 0) return tide_bench_error(env, "a sleeping task", jr);
    /* Every task slept at least its time, so the longest sleep bounds the whole. */
    double longest = 1e-3 * (double)(n < 10 ? n : 10);
    if (env->out->seconds < longest)
        return bench_fail(env->out, BENCH_FAILED, "sleeps of up to %.0f ms ended after %.6f s",
                          longest * 1e3, env->out->seconds);
    return BENCH_OK;
}

/* ---- the implementation ----------------------------------------------------------------- */

/* The argument of the task a workload runs in. */
typedef struct main_arg {
    tide_env_t *env;       /* the runtime and the repetition's figures */
    bench_workload_t w;    /* which workload */
    bench_status_t status; /* its outcome */
} main_arg_t;

static int main_task(void *arg) {
    main_arg_t *m = arg;
    tide_env_t *env = m->env;
    switch (m->w) {
    case W_SPAWN_MANY: m->status = tide_bench_spawn_many(env); break;
    case W_YIELD_MANY: m->status = run_yield_many(env); break;
    case W_PING_PONG: m->status = tide_bench_ping_pong(env); break;
    case W_CHAINED_SPAWN: m->status = tide_bench_chained_spawn(env); break;
    case W_CHANNEL_MPSC: m->status = tide_bench_channel_mpsc(env); break;
    case W_MUTEX: m->status = tide_bench_mutex(env); break;
    case W_SLEEP_MANY: m->status = run_sleep_many(env); break;
    case W_IDLE_MANY: m->status = tide_bench_idle_many(env); break;
    default: m->status = bench_fail(env->out, BENCH_FAILED, "unknown workload"); break;
    }
    return 0;
}

static const char *tb_skip(bench_workload_t w, const bench_cfg_t *cfg, char *buf, size_t len) {
    return NULL;
}

static int tb_open(void **envp, bench_workload_t w, const bench_cfg_t *cfg, char *reason,
                     size_t len) {
    tide_env_t *env = calloc(1, sizeof *env);
    if (!env) {
        snprintf(reason, len, "out of memory");
        return -ENOMEM;
    }
    tide_config_t tc;
    tide_config_init(&tc);
    tc.workers = w == W_HOL_ECHO ? BENCH_HOL_WORKERS : cfg->workers;
    int r = tide_runtime_new(&env->rt, &tc);
    if (r < 0) {
        snprintf(reason, len, "tide_runtime_new: %s", tide_strerror(r));
        free(env);
        return r;
    }
    env->cfg = cfg;
    if (w == W_HOL_ECHO && (r = tide_bench_hol_open(env, reason, len)) < 0) {
        tide_runtime_close(env->rt);
        free(env);
        return r;
    }
    *envp = env;
    return 0;
}

/* TIDE_BENCH_STATS=1: after each repetition, one line on stderr with its ns/op and what each
 * worker did meanwhile (tasks run, tasks stolen, parks, LIFO runs): where the tasks ran, to
 * tell a run whose tasks stayed on one worker from one whose tasks moved between them
 * (docs/benchmarks.md, "Where woken tasks run"). */
#define STATS_MAX_WORKERS 16

static bool stats_wanted(void) {
    static int wanted = -1;
    if (wanted < 0) wanted = getenv("TIDE_BENCH_STATS") && *getenv("TIDE_BENCH_STATS") == '1';
    return wanted;
}

static unsigned stats_take(tide_runtime_t *rt, tide_worker_stats_t *ws) {
    tide_stats_t st;
    if (tide_runtime_stats(rt, &st, ws, STATS_MAX_WORKERS) < 0) return 0;
    return st.workers < STATS_MAX_WORKERS ? st.workers : STATS_MAX_WORKERS;
}

static void stats_print(bench_workload_t w, const bench_cfg_t *cfg, const bench_sample_t *out,
                        const tide_worker_stats_t *a, const tide_worker_stats_t *b, unsigned n) {
    fprintf(stderr, "stats %s ns/op=%.1f", bench_workload_name(w),
            out->seconds * 1e9 / (double)bench_ops(w, &cfg->sizes));
    for (unsigned i = 0; i < n; i++)
        fprintf(stderr, " | w%u run=%llu steal=%llu park=%llu lifo=%llu", i,
                (unsigned long long)(b[i].tasks_run - a[i].tasks_run),
                (unsigned long long)(b[i].steals - a[i].steals),
                (unsigned long long)(b[i].parks - a[i].parks),
                (unsigned long long)(b[i].lifo_runs - a[i].lifo_runs));
    fprintf(stderr, "\n");
}

static bench_status_t tb_run(void *envp, bench_workload_t w, const bench_cfg_t *cfg,
                               unsigned rep, bench_sample_t *out) {
    tide_env_t *env = envp;
    env->rep = rep;
    env->out = out;
    if (w == W_SPAWN_REMOTE) return tide_bench_spawn_remote(env);
    if (w == W_HOL_ECHO) return tide_bench_hol_run(env);
    main_arg_t m = {env, w, BENCH_FAILED};
    tide_worker_stats_t before[STATS_MAX_WORKERS], after[STATS_MAX_WORKERS];
    unsigned n = stats_wanted() ? stats_take(env->rt, before) : 0;
    int r = tide_runtime_block_on(env->rt, main_task, &m);
    if (n && r >= 0 && m.status == BENCH_OK && stats_take(env->rt, after) == n)
        stats_print(w, cfg, out, before, after, n);
    if (r < 0) return tide_bench_error(env, "tide_runtime_block_on", r);
    return m.status;
}

static void tb_close(void *envp, bench_workload_t w) {
    tide_env_t *env = envp;
    tide_bench_hol_close(env); /* the clients first, while the server still answers */
    tide_runtime_close(env->rt);
    /* Every task has ended: what they shared can go. */
    bench_keep_free(&env->kept);
    free(env);
}

const bench_impl_t bench_impl_tide = {
    .name = "tide",
    .skip = tb_skip,
    .open = tb_open,
    .run = tb_run,
    .close = tb_close,
};
