/* Workload names and sizes, clocks, resident memory, progress output. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static const char *const names[W_COUNT] = {
    [W_SPAWN_MANY] = "spawn_many",
    [W_SPAWN_REMOTE] = "spawn_remote",
    [W_YIELD_MANY] = "yield_many",
    [W_PING_PONG] = "ping_pong",
    [W_CHAINED_SPAWN] = "chained_spawn",
    [W_CHANNEL_MPSC] = "channel_mpsc",
    [W_MUTEX] = "mutex",
    [W_SLEEP_MANY] = "sleep_many",
    [W_IDLE_MANY] = "idle_many",
    [W_HOL_ECHO] = "hol_echo",
};

const char *bench_workload_name(bench_workload_t w) {
    return (unsigned)w < W_COUNT ? names[w] : "?";
}

int bench_workload_find(const char *name) {
    for (int w = 0; w < W_COUNT; w++)
        if (strcmp(names[w], name) == 0) return w;
    return -1;
}

uint64_t bench_ops(bench_workload_t w, const bench_sizes_t *s) {
    switch (w) {
    case W_SPAWN_MANY: return s->spawn_many;
    case W_SPAWN_REMOTE: return s->spawn_remote;
    case W_YIELD_MANY: return s->yield_tasks * s->yield_iters;
    case W_PING_PONG: return s->pp_pairs * s->pp_trips;
    case W_CHAINED_SPAWN: return s->chain_count * s->chain_len;
    case W_CHANNEL_MPSC: return s->mpsc_producers * s->mpsc_per;
    case W_MUTEX: return s->mutex_tasks * s->mutex_iters;
    case W_SLEEP_MANY: return s->sleep_tasks;
    case W_IDLE_MANY: return s->idle_tasks;
    case W_HOL_ECHO: return 0; /* its figures are latencies, not a time per operation */
    default: return 0;
    }
}

void bench_sizes_full(bench_sizes_t *s) {
    *s = (bench_sizes_t){
        .spawn_many = 100000,
        .spawn_remote = 100000,
        .yield_tasks = 200,
        .yield_iters = 1000,
        .pp_pairs = 100,
        .pp_trips = 1000,
        .chain_count = 100,
        .chain_len = 1000,
        .mpsc_producers = 16,
        .mpsc_per = 62500,
        .mpsc_cap = 1024,
        .mutex_tasks = 100,
        .mutex_iters = 1000,
        .sleep_tasks = 100000,
        .idle_tasks = 1000000,
        .hol_busy_ms = 1000,
    };
}

/* Small enough for CI and for ThreadSanitizer's limit of ~8,000 live threads, large enough
 * that every queue still fills, every channel blocks and every lock contends. */
void bench_sizes_quick(bench_sizes_t *s) {
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer makes every thread (and every task, a fiber to it) cost ~0.5 ms to
     * create: fewer of them, the same contention (channels still fill, pairs still block). */
    *s = (bench_sizes_t){
        .spawn_many = 1000,
        .spawn_remote = 1000,
        .yield_tasks = 20,
        .yield_iters = 100,
        .pp_pairs = 10,
        .pp_trips = 100,
        .chain_count = 5,
        .chain_len = 100,
        .mpsc_producers = 16,
        .mpsc_per = 1000,
        .mpsc_cap = 64,
        .mutex_tasks = 20,
        .mutex_iters = 500,
        .sleep_tasks = 500,
        .idle_tasks = 500,
        .hol_busy_ms = 200,
    };
    return;
#endif
    *s = (bench_sizes_t){
        .spawn_many = 5000,
        .spawn_remote = 5000,
        .yield_tasks = 20,
        .yield_iters = 100,
        .pp_pairs = 10,
        .pp_trips = 100,
        .chain_count = 10,
        .chain_len = 100,
        .mpsc_producers = 16,
        .mpsc_per = 1000,
        .mpsc_cap = 64,
        .mutex_tasks = 20,
        .mutex_iters = 500,
        .sleep_tasks = 2000,
        .idle_tasks = 2000,
        .hol_busy_ms = 200,
    };
}

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t bench_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024;
}

uint64_t bench_mpsc_sum(uint64_t producers, uint64_t per) {
    /* Producer p sends p * per + i for i < per: together every value below producers * per
     * exactly once. */
    uint64_t n = producers * per;
    return n * (n - 1) / 2;
}

bench_status_t bench_fail(bench_sample_t *out, bench_status_t status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    return status;
}

struct bench_keep {
    struct bench_keep *next;
    void (*destroy)(void *); /* NULL: just free */
    max_align_t payload[];   /* the object */
};

void *bench_keep_new(bench_keep_t **list, size_t size) {
    bench_keep_t *k = calloc(1, sizeof *k + size);
    if (!k) return NULL;
    k->next = *list;
    *list = k;
    return k->payload;
}

void bench_keep_destroy_with(void *obj, void (*destroy)(void *)) {
    bench_keep_t *k = (bench_keep_t *)((char *)obj - offsetof(bench_keep_t, payload));
    k->destroy = destroy;
}

void bench_keep_free(bench_keep_t **list) {
    /* Every destructor first: one kept object may point into another (a run's array of
     * chains), and must still find it alive. */
    for (bench_keep_t *k = *list; k; k = k->next)
        if (k->destroy) k->destroy(k->payload);
    while (*list) {
        bench_keep_t *k = *list;
        *list = k->next;
        free(k);
    }
}

void bench_progress(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("tide-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
