/* The thread-per-task baseline: every task of a workload is an OS thread, every primitive a
 * pthread mutex and condition variable (pt_sync.h). Threads get 64 KiB stacks, which is
 * plenty for these bodies and lets many exist at once; a thread that cannot be created makes
 * the workload "skipped" with the reason, never a crash. */
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "pt_sync.h"

#define THREAD_STACK ((size_t)64 * 1024)

typedef struct threads_env {
    bench_keep_t *kept; /* per-repetition contexts, freed at close */
    uint64_t rss_base;  /* idle_many: VmRSS before the first run */
} threads_env_t;

/* ---- thread creation -------------------------------------------------------------------- */

static pthread_attr_t attr_joinable, attr_detached;
static pthread_once_t attr_once = PTHREAD_ONCE_INIT;

static void attr_init(void) {
    pthread_attr_init(&attr_joinable);
    pthread_attr_setstacksize(&attr_joinable, THREAD_STACK);
    pthread_attr_init(&attr_detached);
    pthread_attr_setstacksize(&attr_detached, THREAD_STACK);
    pthread_attr_setdetachstate(&attr_detached, PTHREAD_CREATE_DETACHED);
}

/* Detached threads not yet done with their workload's memory: close waits for zero. */
static _Atomic uint64_t detached_live;

/* 0 or the pthread_create error (a positive errno). A detached thread must call
 * detached_done() once it no longer touches its arguments. */
static int start_thread(pthread_t *out, bool detached, void *(*fn)(void *), void *arg) {
    pthread_once(&attr_once, attr_init);
    pthread_t dummy;
    if (detached) atomic_fetch_add_explicit(&detached_live, 1, memory_order_relaxed);
    int err = pthread_create(out ? out : &dummy, detached ? &attr_detached : &attr_joinable, fn,
                             arg);
    if (err && detached) atomic_fetch_sub_explicit(&detached_live, 1, memory_order_relaxed);
    return err;
}

static void detached_done(void) {
    atomic_fetch_sub_explicit(&detached_live, 1, memory_order_release);
}

static long read_proc_long(const char *path) {
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = -1;
        fclose(f);
    }
    return v;
}

static bench_status_t create_failed(bench_sample_t *out, int err, uint64_t made) {
    return bench_fail(out, BENCH_SKIPPED,
                      "pthread_create failed after %llu threads: %s (kernel.threads-max %ld, "
                      "vm.max_map_count %ld, %zu KiB stacks)",
                      (unsigned long long)made, strerror(err),
                      read_proc_long("/proc/sys/kernel/threads-max"),
                      read_proc_long("/proc/sys/vm/max_map_count"), THREAD_STACK / 1024);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- spawn_many, spawn_remote, sleep_many: detached threads, the last one signals ------- */

/* A thread's argument when it needs its index. */
typedef struct indexed {
    void *ctx;  /* the workload's shared context */
    uint64_t i; /* this thread's index */
} indexed_t;

static void countdown_destroy(void *p) {
    pt_countdown_destroy(p);
}

static void *spawned_fn(void *arg) {
    pt_countdown_one(arg);
    detached_done();
    return NULL;
}

static void *sleeper_fn(void *arg) {
    indexed_t *x = arg;
    sleep_ms(1 + (long)(x->i % 10));
    pt_countdown_one(x->ctx);
    detached_done();
    return NULL;
}

/* Start n detached threads and wait for the last one's signal. */
static bench_status_t run_counted(threads_env_t *env, uint64_t n, bool sleepers,
                                  bench_sample_t *out) {
    pt_countdown_t *c = bench_keep_new(&env->kept, sizeof *c);
    indexed_t *idx = sleepers ? bench_keep_new(&env->kept, n * sizeof *idx) : NULL;
    if (!c || (sleepers && !idx)) return bench_fail(out, BENCH_FAILED, "out of memory");
    if (pt_countdown_init(c, n) < 0) return bench_fail(out, BENCH_FAILED, "pt_countdown_init");
    bench_keep_destroy_with(c, countdown_destroy);
    for (uint64_t i = 0; sleepers && i < n; i++) idx[i] = (indexed_t){c, i};

    double t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        int err = sleepers ? start_thread(NULL, true, sleeper_fn, &idx[i])
                           : start_thread(NULL, true, spawned_fn, c);
        if (err) return create_failed(out, err, i); /* close waits for the started ones */
    }
    pt_event_wait(&c->done);
    out->seconds = bench_now() - t0;
    if (atomic_load(&c->count) != n)
        return bench_fail(out, BENCH_FAILED, "%llu threads counted, expected %llu",
                          (unsigned long long)atomic_load(&c->count), (unsigned long long)n);
    if (sleepers && out->seconds < 0.010)
        return bench_fail(out, BENCH_FAILED, "10 ms sleeps finished in %.6f s", out->seconds);
    return BENCH_OK;
}

/* ---- joinable groups: start n threads, join them all --------------------------------- */

/* Start fn(args + i * stride) for i < n, then join them. On a creation failure, release(rel)
 * lets the started threads end before they are joined. */
static bench_status_t run_joined(uint64_t n, void *(*fn)(void *), void *args, size_t stride,
                                 void (*release)(void *), void *rel, bench_sample_t *out) {
    pthread_t *th = malloc(n * sizeof *th);
    if (!th) return bench_fail(out, BENCH_FAILED, "out of memory");
    uint64_t made = 0;
    int err = 0;
    for (; made < n; made++) {
        err = start_thread(&th[made], false, fn, (char *)args + made * stride);
        if (err) break;
    }
    if (err && release) release(rel);
    for (uint64_t i = 0; i < made; i++) pthread_join(th[i], NULL);
    free(th);
    return err ? create_failed(out, err, made) : BENCH_OK;
}

/* ---- yield_many ---------------------------------------------------------------------------- */

typedef struct yielder {
    uint64_t iters; /* yields to do */
    uint64_t done;  /* yields performed (written by its thread, read after the join) */
} yielder_t;

static void *yield_fn(void *arg) {
    yielder_t *y = arg;
    for (uint64_t i = 0; i < y->iters; i++) {
        sched_yield();
        y->done++;
    }
    return NULL;
}

static bench_status_t run_yield_many(const bench_sizes_t *s, bench_sample_t *out) {
    yielder_t *ys = calloc(s->yield_tasks, sizeof *ys);
    if (!ys) return bench_fail(out, BENCH_FAILED, "out of memory");
    for (uint64_t i = 0; i < s->yield_tasks; i++) ys[i].iters = s->yield_iters;
    double t0 = bench_now();
    bench_status_t st = run_joined(s->yield_tasks, yield_fn, ys, sizeof *ys, NULL, NULL, out);
    out->seconds = bench_now() - t0;
    uint64_t total = 0;
    for (uint64_t i = 0; i < s->yield_tasks; i++) total += ys[i].done;
    free(ys);
    if (st == BENCH_OK && total != s->yield_tasks * s->yield_iters)
        st = bench_fail(out, BENCH_FAILED, "%llu yields, expected %llu",
                        (unsigned long long)total,
                        (unsigned long long)(s->yield_tasks * s->yield_iters));
    return st;
}

/* ---- ping_pong ------------------------------------------------------------------------------ */

typedef struct pp_pair {
    pt_chan_t ab, ba; /* capacity 1 each */
    uint64_t trips;   /* round trips to make */
    uint64_t ok;      /* round trips A checked (written by A, read after the join) */
} pp_pair_t;

/* One argument per thread: the pair and which side. */
typedef struct pp_side {
    pp_pair_t *pair; /* the pair */
    int is_a;        /* 1: sends first and checks; 0: echoes */
} pp_side_t;

typedef struct pp_run {
    pp_pair_t *pairs; /* every pair, closed on a failed start */
    uint64_t npairs;  /* how many */
} pp_run_t;

static void *pp_fn(void *arg) {
    pp_side_t *side = arg;
    pp_pair_t *p = side->pair;
    uint64_t v;
    for (uint64_t i = 0; i < p->trips; i++) {
        if (side->is_a) {
            if (!pt_chan_send(&p->ab, i) || !pt_chan_recv(&p->ba, &v)) break;
            if (v == i) p->ok++;
        } else {
            if (!pt_chan_recv(&p->ab, &v) || !pt_chan_send(&p->ba, v)) break;
        }
    }
    return NULL;
}

static void pp_release(void *arg) {
    pp_run_t *r = arg;
    for (uint64_t i = 0; i < r->npairs; i++) {
        pt_chan_close(&r->pairs[i].ab);
        pt_chan_close(&r->pairs[i].ba);
    }
}

static bench_status_t run_ping_pong(const bench_sizes_t *s, bench_sample_t *out) {
    uint64_t np = s->pp_pairs;
    pp_pair_t *pairs = calloc(np, sizeof *pairs);
    pp_side_t *sides = calloc(2 * np, sizeof *sides);
    bench_status_t st = bench_fail(out, BENCH_FAILED, "out of memory");
    uint64_t inited = 0;
    if (!pairs || !sides) goto out;
    for (; inited < np; inited++) {
        pp_pair_t *p = &pairs[inited];
        if (pt_chan_init(&p->ab, 1) < 0) goto out;
        if (pt_chan_init(&p->ba, 1) < 0) {
            pt_chan_destroy(&p->ab);
            goto out;
        }
        p->trips = s->pp_trips;
        sides[2 * inited] = (pp_side_t){p, 1};
        sides[2 * inited + 1] = (pp_side_t){p, 0};
    }
    pp_run_t run = {pairs, np};
    double t0 = bench_now();
    st = run_joined(2 * np, pp_fn, sides, sizeof *sides, pp_release, &run, out);
    out->seconds = bench_now() - t0;
    if (st != BENCH_OK) goto out;
    uint64_t ok = 0;
    for (uint64_t i = 0; i < np; i++) ok += pairs[i].ok;
    if (ok != np * s->pp_trips)
        st = bench_fail(out, BENCH_FAILED, "%llu round trips checked, expected %llu",
                        (unsigned long long)ok, (unsigned long long)(np * s->pp_trips));
out:
    for (uint64_t i = 0; i < inited; i++) {
        pt_chan_destroy(&pairs[i].ab);
        pt_chan_destroy(&pairs[i].ba);
    }
    free(sides);
    free(pairs);
    return st;
}

/* ---- chained_spawn --------------------------------------------------------------------------- */

typedef struct chain_ctx {
    uint64_t len;         /* links in the chain */
    _Atomic uint64_t ran; /* links that ran */
    _Atomic int err;      /* pthread_create error inside the chain (0: none) */
    pt_event_t done;      /* set by the last link, or by a link that could not go on */
    indexed_t *links;     /* links[i]: the argument of link i */
} chain_ctx_t;

/* One repetition's chains, kept until close. */
typedef struct chain_run {
    uint64_t inited;     /* chains whose event is initialised */
    chain_ctx_t *chains; /* the repetition's chains */
} chain_run_t;

static void chain_run_destroy(void *p) {
    chain_run_t *r = p;
    for (uint64_t i = 0; i < r->inited; i++) pt_event_destroy(&r->chains[i].done);
}

static void *chain_fn(void *arg) {
    indexed_t *x = arg;
    chain_ctx_t *c = x->ctx;
    atomic_fetch_add_explicit(&c->ran, 1, memory_order_relaxed);
    if (x->i + 1 == c->len) {
        pt_event_set(&c->done);
    } else {
        int err = start_thread(NULL, true, chain_fn, &c->links[x->i + 1]);
        if (err) {
            atomic_store(&c->err, err);
            pt_event_set(&c->done);
        }
    }
    detached_done();
    return NULL;
}

static bench_status_t run_chained(threads_env_t *env, const bench_sizes_t *s,
                                  bench_sample_t *out) {
    uint64_t nc = s->chain_count, len = s->chain_len;
    chain_run_t *run = bench_keep_new(&env->kept, sizeof *run);
    chain_ctx_t *cs = bench_keep_new(&env->kept, nc * sizeof *cs);
    indexed_t *links = bench_keep_new(&env->kept, nc * len * sizeof *links);
    if (!run || !cs || !links) return bench_fail(out, BENCH_FAILED, "out of memory");
    run->chains = cs;
    bench_keep_destroy_with(run, chain_run_destroy);
    for (; run->inited < nc; run->inited++) {
        chain_ctx_t *c = &cs[run->inited];
        if (pt_event_init(&c->done) < 0) return bench_fail(out, BENCH_FAILED, "pt_event_init");
        c->len = len;
        c->links = links + run->inited * len;
        for (uint64_t i = 0; i < len; i++) c->links[i] = (indexed_t){c, i};
    }
    double t0 = bench_now();
    for (uint64_t k = 0; k < nc; k++) {
        chain_ctx_t *c = &cs[k];
        int err = start_thread(NULL, true, chain_fn, &c->links[0]);
        if (err) return create_failed(out, err, k * len);
        pt_event_wait(&c->done);
        if ((err = atomic_load(&c->err)) != 0)
            return create_failed(out, err, k * len + atomic_load(&c->ran));
        if (atomic_load(&c->ran) != len)
            return bench_fail(out, BENCH_FAILED, "chain %llu: %llu links ran, expected %llu",
                              (unsigned long long)k, (unsigned long long)atomic_load(&c->ran),
                              (unsigned long long)len);
    }
    out->seconds = bench_now() - t0;
    return BENCH_OK;
}

/* ---- channel_mpsc ---------------------------------------------------------------------------- */

typedef struct producer {
    pt_chan_t *chan;       /* the shared channel */
    uint64_t first, count; /* sends first, first + 1, ... count values */
} producer_t;

static void *producer_fn(void *arg) {
    producer_t *p = arg;
    for (uint64_t i = 0; i < p->count; i++)
        if (!pt_chan_send(p->chan, p->first + i)) break;
    return NULL;
}

static bench_status_t run_mpsc(const bench_sizes_t *s, bench_sample_t *out) {
    uint64_t np = s->mpsc_producers, total = np * s->mpsc_per;
    pt_chan_t chan;
    producer_t *ps = calloc(np, sizeof *ps);
    pthread_t *th = calloc(np, sizeof *th);
    bench_status_t st = bench_fail(out, BENCH_FAILED, "out of memory");
    if (!ps || !th || pt_chan_init(&chan, s->mpsc_cap) < 0) goto out_free;
    for (uint64_t p = 0; p < np; p++) ps[p] = (producer_t){&chan, p * s->mpsc_per, s->mpsc_per};

    double t0 = bench_now();
    uint64_t made = 0;
    int err = 0;
    for (; made < np && !err; made++) err = start_thread(&th[made], false, producer_fn, &ps[made]);
    if (err) {
        made--;
        pt_chan_close(&chan);
        st = create_failed(out, err, made);
    } else {
        /* The consumer is this thread, as the spawner is in every other workload. */
        uint64_t sum = 0, v, got = 0;
        while (got < total && pt_chan_recv(&chan, &v)) {
            sum += v;
            got++;
        }
        out->seconds = bench_now() - t0;
        uint64_t want = bench_mpsc_sum(np, s->mpsc_per);
        if (got != total || sum != want)
            st = bench_fail(out, BENCH_FAILED, "received %llu values summing to %llu, expected "
                            "%llu summing to %llu", (unsigned long long)got,
                            (unsigned long long)sum, (unsigned long long)total,
                            (unsigned long long)want);
        else
            st = BENCH_OK;
    }
    for (uint64_t i = 0; i < made; i++) pthread_join(th[i], NULL);
    pt_chan_destroy(&chan);
out_free:
    free(th);
    free(ps);
    return st;
}

/* ---- mutex ------------------------------------------------------------------------------------ */

typedef struct mutex_ctx {
    pthread_mutex_t lock; /* the contended lock */
    uint64_t counter;     /* guarded by lock */
    uint64_t iters;       /* locks per thread */
} mutex_ctx_t;

static void *mutex_fn(void *arg) {
    mutex_ctx_t *m = arg;
    for (uint64_t i = 0; i < m->iters; i++) {
        pthread_mutex_lock(&m->lock);
        m->counter++;
        pthread_mutex_unlock(&m->lock);
    }
    return NULL;
}

static bench_status_t run_mutex(const bench_sizes_t *s, bench_sample_t *out) {
    mutex_ctx_t m = {.counter = 0, .iters = s->mutex_iters};
    pthread_mutex_init(&m.lock, NULL);
    double t0 = bench_now();
    /* Every thread gets the same argument: stride 0. */
    bench_status_t st = run_joined(s->mutex_tasks, mutex_fn, &m, 0, NULL, NULL, out);
    out->seconds = bench_now() - t0;
    pthread_mutex_destroy(&m.lock);
    uint64_t want = s->mutex_tasks * s->mutex_iters;
    if (st == BENCH_OK && m.counter != want)
        st = bench_fail(out, BENCH_FAILED, "counter %llu, expected %llu",
                        (unsigned long long)m.counter, (unsigned long long)want);
    return st;
}

/* ---- idle_many ------------------------------------------------------------------------------- */

typedef struct idle_ctx {
    pthread_mutex_t lock;     /* guards arrived and released */
    pthread_cond_t all_here;  /* the last thread to arrive tells the main thread */
    pthread_cond_t go;        /* the release, broadcast */
    uint64_t n;               /* threads */
    uint64_t arrived;         /* guarded by lock */
    bool released;            /* guarded by lock */
    _Atomic uint64_t resumed; /* threads that got past the release */
} idle_ctx_t;

static void *idle_fn(void *arg) {
    idle_ctx_t *c = arg;
    pthread_mutex_lock(&c->lock);
    if (++c->arrived == c->n) pthread_cond_signal(&c->all_here);
    while (!c->released) pthread_cond_wait(&c->go, &c->lock);
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add_explicit(&c->resumed, 1, memory_order_relaxed);
    return NULL;
}

static void idle_release(void *arg) {
    idle_ctx_t *c = arg;
    pthread_mutex_lock(&c->lock);
    c->released = true;
    pthread_cond_broadcast(&c->go);
    pthread_mutex_unlock(&c->lock);
}

static bench_status_t run_idle(threads_env_t *env, const bench_sizes_t *s, unsigned rep,
                               bench_sample_t *out) {
    uint64_t n = s->idle_tasks;
    pthread_t *th = malloc(n * sizeof *th);
    if (!th) return bench_fail(out, BENCH_FAILED, "out of memory");
    idle_ctx_t c = {.n = n, .arrived = 0, .released = false};
    atomic_init(&c.resumed, 0);
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.all_here, NULL);
    pthread_cond_init(&c.go, NULL);
    if (rep == 0) {
        /* Heap the earlier workloads freed would be reused without growing RSS: give it back
         * first, so the growth measured is this workload's. */
        malloc_trim(0);
        env->rss_base = bench_rss();
    }

    bench_status_t st = BENCH_OK;
    double t0 = bench_now();
    uint64_t made = 0;
    int err = 0;
    for (; made < n; made++)
        if ((err = start_thread(&th[made], false, idle_fn, &c)) != 0) break;
    if (!err) {
        pthread_mutex_lock(&c.lock);
        while (c.arrived < n) pthread_cond_wait(&c.all_here, &c.lock);
        pthread_mutex_unlock(&c.lock);
        uint64_t rss = bench_rss();
        out->bytes_per_task =
            rss > env->rss_base ? (double)(rss - env->rss_base) / (double)n : 0;
    }
    idle_release(&c);
    for (uint64_t i = 0; i < made; i++) pthread_join(th[i], NULL);
    out->seconds = bench_now() - t0;
    if (err) st = create_failed(out, err, made);
    else if (atomic_load(&c.resumed) != n)
        st = bench_fail(out, BENCH_FAILED, "%llu threads resumed, expected %llu",
                        (unsigned long long)atomic_load(&c.resumed), (unsigned long long)n);
    pthread_cond_destroy(&c.go);
    pthread_cond_destroy(&c.all_here);
    pthread_mutex_destroy(&c.lock);
    free(th);
    return st;
}

/* ---- the implementation ---------------------------------------------------------------------- */

static const char *threads_skip(bench_workload_t w, const bench_cfg_t *cfg, char *buf,
                                size_t len) {
    if (w == W_HOL_ECHO) return BENCH_HOL_SKIP;
    if (w != W_IDLE_MANY) return NULL;
    /* Limits that certainly stop n live threads; anything else is found out by trying. */
    uint64_t n = cfg->sizes.idle_tasks;
    long max = read_proc_long("/proc/sys/kernel/threads-max");
    if (max > 0 && n > (uint64_t)max) {
        snprintf(buf, len, "%llu live threads exceed kernel.threads-max (%ld)",
                 (unsigned long long)n, max);
        return buf;
    }
    struct rlimit rl;
    if (geteuid() != 0 && getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        n > rl.rlim_cur) {
        snprintf(buf, len, "%llu live threads exceed RLIMIT_NPROC (%llu)",
                 (unsigned long long)n, (unsigned long long)rl.rlim_cur);
        return buf;
    }
    return NULL;
}

static int threads_open(void **env, bench_workload_t w, const bench_cfg_t *cfg, char *reason,
                        size_t len) {
    threads_env_t *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(reason, len, "out of memory");
        return -ENOMEM;
    }
    *env = e;
    return 0;
}

static bench_status_t threads_run(void *envp, bench_workload_t w, const bench_cfg_t *cfg,
                                  unsigned rep, bench_sample_t *out) {
    threads_env_t *env = envp;
    const bench_sizes_t *s = &cfg->sizes;
    switch (w) {
    /* A plain thread spawning threads is the same program whether or not we call the
     * spawner a task. */
    case W_SPAWN_MANY: return run_counted(env, s->spawn_many, false, out);
    case W_SPAWN_REMOTE: return run_counted(env, s->spawn_remote, false, out);
    case W_YIELD_MANY: return run_yield_many(s, out);
    case W_PING_PONG: return run_ping_pong(s, out);
    case W_CHAINED_SPAWN: return run_chained(env, s, out);
    case W_CHANNEL_MPSC: return run_mpsc(s, out);
    case W_MUTEX: return run_mutex(s, out);
    case W_SLEEP_MANY: return run_counted(env, s->sleep_tasks, true, out);
    case W_IDLE_MANY: return run_idle(env, s, rep, out);
    default: return bench_fail(out, BENCH_FAILED, "unknown workload");
    }
}

static void threads_close(void *envp, bench_workload_t w) {
    threads_env_t *env = envp;
    /* Detached threads signal before they are done with their context. */
    while (atomic_load_explicit(&detached_live, memory_order_acquire) != 0) sleep_ms(1);
    bench_keep_free(&env->kept);
    free(env);
}

const bench_impl_t bench_impl_threads = {
    .name = "threads",
    .skip = threads_skip,
    .open = threads_open,
    .run = threads_run,
    .close = threads_close,
};
