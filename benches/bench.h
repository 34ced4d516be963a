/* tide-bench: the workloads of BENCH.md, run on tide and on two threaded baselines.
 *
 * The runner (main.c) owns the command line, the warm-up and repetitions, the median and the
 * output. An implementation (tide.c + tide_sync.c, threads.c, pool.c) runs one repetition of
 * one workload at a time, timing only the workload itself and checking its result. */
#ifndef TIDE_BENCH_H
#define TIDE_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* The workloads, in BENCH.md's order (which is also the output order). */
typedef enum bench_workload {
    W_SPAWN_MANY,
    W_SPAWN_REMOTE,
    W_YIELD_MANY,
    W_PING_PONG,
    W_CHAINED_SPAWN,
    W_CHANNEL_MPSC,
    W_MUTEX,
    W_SLEEP_MANY,
    W_IDLE_MANY,
    W_HOL_ECHO, /* not in BENCH.md's table: docs/benchmarks.md defines it */
    W_COUNT
} bench_workload_t;

/* Workload sizes: BENCH.md's figures, or the smaller --quick ones. */
typedef struct bench_sizes {
    uint64_t spawn_many;     /* tasks spawned from inside a task */
    uint64_t spawn_remote;   /* tasks spawned from a plain thread */
    uint64_t yield_tasks;    /* yield_many: tasks ... */
    uint64_t yield_iters;    /* ... each yielding this many times */
    uint64_t pp_pairs;       /* ping_pong: pairs of tasks ... */
    uint64_t pp_trips;       /* ... each doing this many round trips */
    uint64_t chain_count;    /* chained_spawn: chains, one after the other ... */
    uint64_t chain_len;      /* ... of this many tasks each */
    uint64_t mpsc_producers; /* channel_mpsc: producers ... */
    uint64_t mpsc_per;       /* ... each sending this many values ... */
    uint64_t mpsc_cap;       /* ... into a channel of this capacity */
    uint64_t mutex_tasks;    /* mutex: tasks ... */
    uint64_t mutex_iters;    /* ... each locking this many times */
    uint64_t sleep_tasks;    /* sleep_many: tasks; task i sleeps 1 + i % 10 ms */
    uint64_t idle_tasks;     /* idle_many: tasks parked at once */
    uint64_t hol_busy_ms;    /* hol_echo: how long the busy task computes */
} bench_sizes_t;

/* What every implementation is told about the run. */
typedef struct bench_cfg {
    unsigned workers;    /* --workers: runtime workers, pool threads */
    bench_sizes_t sizes; /* full or --quick */
} bench_cfg_t;

/* Outcome of one repetition. */
typedef enum bench_status {
    BENCH_OK = 0,
    BENCH_FAILED = 1,  /* wrong result or an unexpected error: the program exits non-zero */
    BENCH_SKIPPED = 2, /* the implementation cannot run it here (reason says why) */
} bench_status_t;

typedef struct bench_sample {
    double seconds;        /* the workload's own wall time */
    double bytes_per_task; /* idle_many: resident memory growth per parked task */
    double p99_us;         /* hol_echo: p99 of the round trips overlapping the busy time ... */
    double max_us;         /* ... their maximum ... */
    double round_trips;    /* ... and how many there were */
    char reason[256];      /* BENCH_FAILED / BENCH_SKIPPED: why */
} bench_sample_t;

/* An implementation. env is its per-workload state (a runtime for tide), created before the
 * warm-up and freed after the last repetition, so pools are reused across repetitions. */
typedef struct bench_impl {
    const char *name; /* as --impl names it */
    /* NULL if w can run with cfg, else why not (a static string or written into buf). */
    const char *(*skip)(bench_workload_t w, const bench_cfg_t *cfg, char *buf, size_t len);
    /* 0, or a negative errno (then reason holds the message). */
    int (*open)(void **env, bench_workload_t w, const bench_cfg_t *cfg, char *reason,
                size_t len);
    /* One repetition. rep is 0 for the warm-up. */
    bench_status_t (*run)(void *env, bench_workload_t w, const bench_cfg_t *cfg, unsigned rep,
                          bench_sample_t *out);
    void (*close)(void *env, bench_workload_t w);
} bench_impl_t;

extern const bench_impl_t bench_impl_tide;
extern const bench_impl_t bench_impl_threads;
extern const bench_impl_t bench_impl_pool;

/* hol_echo runs on this many workers, whatever --workers says (docs/benchmarks.md). */
#define BENCH_HOL_WORKERS 2
/* Why the threaded baselines skip it: the busy code is a task sharing a runtime's workers. */
#define BENCH_HOL_SKIP "hol_echo measures a runtime whose workers a computing task shares"

/* ---- shared helpers (util.c) ------------------------------------------------------------ */

/* Workload name as in BENCH.md, and the reverse lookup (-1 if unknown). */
const char *bench_workload_name(bench_workload_t w);
int bench_workload_find(const char *name);
/* The operation count BENCH.md divides by. */
uint64_t bench_ops(bench_workload_t w, const bench_sizes_t *s);
void bench_sizes_full(bench_sizes_t *s);
void bench_sizes_quick(bench_sizes_t *s);

/* Monotonic clock in seconds. */
double bench_now(void);
/* VmRSS of this process in bytes (0 if unreadable). */
uint64_t bench_rss(void);
/* Sum of p * per + i over producers p and indices i: what channel_mpsc must receive. */
uint64_t bench_mpsc_sum(uint64_t producers, uint64_t per);

/* Format into out->reason and return status (for one-line failure paths). */
bench_status_t bench_fail(bench_sample_t *out, bench_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Objects a repetition leaves behind for tasks or threads that may still touch them after
 * the workload's own end (a detached task's last instruction after it signals): kept in a
 * list and freed at close, once the implementation knows every such task is gone. */
typedef struct bench_keep bench_keep_t;
/* Zeroed memory of size bytes, kept on *list; NULL if out of memory. */
void *bench_keep_new(bench_keep_t **list, size_t size);
/* Run destroy(obj) before obj is freed (call once obj is fully set up). */
void bench_keep_destroy_with(void *obj, void (*destroy)(void *));
/* Destroy everything on *list, then free it all. */
void bench_keep_free(bench_keep_t **list);

/* Progress line on stderr (never stdout: --json owns it). */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
