/* The thread-pool baseline: a fixed pool of --workers threads with a locked FIFO queue
 * (thread_pool.h); tasks are jobs, primitives are pthread mutexes and condition variables.
 *
 * A job cannot yield or park without holding its thread, so the workloads translate as a pool
 * programmer would write them: a yield re-queues the job (it runs again after everything
 * queued meanwhile); a blocking wait holds the thread. Workloads whose blocked jobs would
 * hold every thread while the jobs that could release them sit in the queue are skipped. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "pt_sync.h"
#include "thread_pool.h"

typedef struct pool_env {
    thread_pool_t pool; /* --workers threads, kept for all repetitions of a workload */
    bench_keep_t *kept; /* per-repetition contexts, freed once the pool has stopped */
} pool_env_t;

static void countdown_destroy(void *p) {
    pt_countdown_destroy(p);
}

/* A countdown kept until close (a job may still be returning from the signal). */
static pt_countdown_t *new_countdown(pool_env_t *env, uint64_t n) {
    pt_countdown_t *c = bench_keep_new(&env->kept, sizeof *c);
    if (!c || pt_countdown_init(c, n) < 0) return NULL;
    bench_keep_destroy_with(c, countdown_destroy);
    return c;
}

static bench_status_t oom(bench_sample_t *out) {
    return bench_fail(out, BENCH_FAILED, "out of memory");
}

/* ---- spawn_many, spawn_remote ------------------------------------------------------------ */

static void count_job(void *arg) {
    pt_countdown_one(arg);
}

/* The spawner of spawn_many: itself a job, it queues n jobs and waits (holding its thread). */
typedef struct spawner {
    thread_pool_t *pool;   /* where to queue the jobs */
    pt_countdown_t *count; /* the spawned jobs' signal */
    uint64_t n;            /* jobs to spawn */
    int err;               /* submit failure */
    double seconds;        /* measured by the spawner, like a task timing itself */
    pt_event_t finished;   /* tells the main thread the figures are in */
} spawner_t;

static void spawner_destroy(void *p) {
    pt_event_destroy(&((spawner_t *)p)->finished);
}

static void spawner_job(void *arg) {
    spawner_t *s = arg;
    double t0 = bench_now();
    for (uint64_t i = 0; i < s->n && !s->err; i++)
        s->err = thread_pool_submit(s->pool, count_job, s->count);
    if (!s->err) pt_event_wait(&s->count->done);
    s->seconds = bench_now() - t0;
    pt_event_set(&s->finished);
}

static bench_status_t run_spawn_many(pool_env_t *env, uint64_t n, bench_sample_t *out) {
    pt_countdown_t *c = new_countdown(env, n);
    spawner_t *s = bench_keep_new(&env->kept, sizeof *s);
    if (!c || !s || pt_event_init(&s->finished) < 0) return oom(out);
    bench_keep_destroy_with(s, spawner_destroy);
    s->pool = &env->pool;
    s->count = c;
    s->n = n;
    if (thread_pool_submit(&env->pool, spawner_job, s) < 0) return oom(out);
    pt_event_wait(&s->finished);
    out->seconds = s->seconds;
    if (s->err) return oom(out);
    if (atomic_load(&c->count) != n)
        return bench_fail(out, BENCH_FAILED, "%llu jobs counted, expected %llu",
                          (unsigned long long)atomic_load(&c->count), (unsigned long long)n);
    return BENCH_OK;
}

static bench_status_t run_spawn_remote(pool_env_t *env, uint64_t n, bench_sample_t *out) {
    pt_countdown_t *c = new_countdown(env, n);
    if (!c) return oom(out);
    double t0 = bench_now();
    for (uint64_t i = 0; i < n; i++)
        if (thread_pool_submit(&env->pool, count_job, c) < 0) return oom(out);
    pt_event_wait(&c->done);
    out->seconds = bench_now() - t0;
    if (atomic_load(&c->count) != n)
        return bench_fail(out, BENCH_FAILED, "%llu jobs counted, expected %llu",
                          (unsigned long long)atomic_load(&c->count), (unsigned long long)n);
    return BENCH_OK;
}

/* ---- yield_many: a yield re-queues the job ------------------------------------------------ */

typedef struct yielder {
    thread_pool_t *pool;   /* where a yield re-queues the job */
    pt_countdown_t *count; /* counts finished tasks */
    uint64_t iters;        /* yields to do */
    uint64_t done;         /* yields so far (one job instance at a time touches it) */
    _Atomic int *err;      /* shared submit failure flag */
} yielder_t;

static void yield_job(void *arg) {
    yielder_t *y = arg;
    if (y->done < y->iters) {
        y->done++;
        if (thread_pool_submit(y->pool, yield_job, y) == 0) return;
        atomic_store(y->err, 1);
    }
    pt_countdown_one(y->count);
}

static bench_status_t run_yield_many(pool_env_t *env, const bench_sizes_t *s,
                                     bench_sample_t *out) {
    uint64_t n = s->yield_tasks;
    pt_countdown_t *c = new_countdown(env, n);
    yielder_t *ys = bench_keep_new(&env->kept, n * sizeof *ys);
    _Atomic int *err = bench_keep_new(&env->kept, sizeof *err);
    if (!c || !ys || !err) return oom(out);
    double t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        ys[i] = (yielder_t){&env->pool, c, s->yield_iters, 0, err};
        if (thread_pool_submit(&env->pool, yield_job, &ys[i]) < 0) return oom(out);
    }
    pt_event_wait(&c->done);
    out->seconds = bench_now() - t0;
    if (atomic_load(err)) return oom(out);
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += ys[i].done;
    if (total != n * s->yield_iters)
        return bench_fail(out, BENCH_FAILED, "%llu yields, expected %llu",
                          (unsigned long long)total, (unsigned long long)(n * s->yield_iters));
    return BENCH_OK;
}

/* ---- ping_pong: both sides block, holding threads ----------------------------------------
 * The jobs of a pair are queued next to each other (A then B), and the queue is FIFO: with two
 * or more threads the partner of every blocked job is running or next in line, so the pairs
 * run a few at a time and never deadlock. */

typedef struct pp_pair {
    pt_chan_t ab, ba;       /* A to B and back, capacity 1 each */
    uint64_t trips;         /* round trips to make */
    uint64_t ok;            /* round trips A checked */
    pt_countdown_t *count;  /* both sides of every pair */
} pp_pair_t;

typedef struct pp_run {
    uint64_t inited; /* pairs whose channels are initialised */
    pp_pair_t *pairs; /* the repetition's pairs */
} pp_run_t;

static void pp_run_destroy(void *p) {
    pp_run_t *r = p;
    for (uint64_t i = 0; i < r->inited; i++) {
        pt_chan_destroy(&r->pairs[i].ab);
        pt_chan_destroy(&r->pairs[i].ba);
    }
}

static void pp_a_job(void *arg) {
    pp_pair_t *p = arg;
    uint64_t v;
    for (uint64_t i = 0; i < p->trips; i++) {
        if (!pt_chan_send(&p->ab, i) || !pt_chan_recv(&p->ba, &v)) break;
        if (v == i) p->ok++;
    }
    pt_countdown_one(p->count);
}

static void pp_b_job(void *arg) {
    pp_pair_t *p = arg;
    uint64_t v;
    for (uint64_t i = 0; i < p->trips; i++)
        if (!pt_chan_recv(&p->ab, &v) || !pt_chan_send(&p->ba, v)) break;
    pt_countdown_one(p->count);
}

static bench_status_t run_ping_pong(pool_env_t *env, const bench_sizes_t *s,
                                    bench_sample_t *out) {
    uint64_t np = s->pp_pairs;
    pt_countdown_t *c = new_countdown(env, 2 * np);
    pp_run_t *run = bench_keep_new(&env->kept, sizeof *run);
    pp_pair_t *pairs = bench_keep_new(&env->kept, np * sizeof *pairs);
    if (!c || !run || !pairs) return oom(out);
    run->pairs = pairs;
    bench_keep_destroy_with(run, pp_run_destroy);
    for (; run->inited < np; run->inited++) {
        pp_pair_t *p = &pairs[run->inited];
        if (pt_chan_init(&p->ab, 1) < 0) return oom(out);
        if (pt_chan_init(&p->ba, 1) < 0) {
            pt_chan_destroy(&p->ab);
            return oom(out);
        }
        p->trips = s->pp_trips;
        p->count = c;
    }
    double t0 = bench_now();
    for (uint64_t i = 0; i < np; i++) {
        if (thread_pool_submit(&env->pool, pp_a_job, &pairs[i]) < 0 ||
            thread_pool_submit(&env->pool, pp_b_job, &pairs[i]) < 0) {
            /* A lone A would wait forever: close every channel so the queued jobs fall
             * through, and let the pool drain before the channels go. */
            for (uint64_t k = 0; k < np; k++) {
                pt_chan_close(&pairs[k].ab);
                pt_chan_close(&pairs[k].ba);
            }
            return oom(out);
        }
    }
    pt_event_wait(&c->done);
    out->seconds = bench_now() - t0;
    uint64_t ok = 0;
    for (uint64_t i = 0; i < np; i++) ok += pairs[i].ok;
    if (ok != np * s->pp_trips)
        return bench_fail(out, BENCH_FAILED, "%llu round trips checked, expected %llu",
                          (unsigned long long)ok, (unsigned long long)(np * s->pp_trips));
    return BENCH_OK;
}

/* ---- chained_spawn ---------------------------------------------------------------------------- */

typedef struct chain {
    thread_pool_t *pool;  /* where each link queues the next */
    uint64_t len;         /* links in the chain */
    _Atomic uint64_t ran; /* links that ran */
    int err;              /* submit failure inside the chain */
    pt_event_t done;      /* set by the last link (or a link that could not go on) */
} chain_t;

/* A link's argument: its chain and its place in it. */
typedef struct link {
    chain_t *chain; /* the chain it belongs to */
    uint64_t i;     /* its place: link i queues link i + 1 */
} link_t;

typedef struct chain_run {
    uint64_t inited; /* chains whose event is initialised */
    chain_t *chains; /* the repetition's chains */
} chain_run_t;

static void chain_run_destroy(void *p) {
    chain_run_t *r = p;
    for (uint64_t i = 0; i < r->inited; i++) pt_event_destroy(&r->chains[i].done);
}

static void link_job(void *arg) {
    link_t *l = arg;
    chain_t *c = l->chain;
    atomic_fetch_add_explicit(&c->ran, 1, memory_order_relaxed);
    if (l->i + 1 == c->len) {
        pt_event_set(&c->done);
    } else if (thread_pool_submit(c->pool, link_job, l + 1) < 0) {
        c->err = -ENOMEM;
        pt_event_set(&c->done);
    }
}

static bench_status_t run_chained(pool_env_t *env, const bench_sizes_t *s,
                                  bench_sample_t *out) {
    uint64_t nc = s->chain_count, len = s->chain_len;
    chain_run_t *run = bench_keep_new(&env->kept, sizeof *run);
    chain_t *cs = bench_keep_new(&env->kept, nc * sizeof *cs);
    link_t *links = bench_keep_new(&env->kept, nc * len * sizeof *links);
    if (!run || !cs || !links) return oom(out);
    run->chains = cs;
    bench_keep_destroy_with(run, chain_run_destroy);
    for (; run->inited < nc; run->inited++) {
        chain_t *c = &cs[run->inited];
        if (pt_event_init(&c->done) < 0) return oom(out);
        c->pool = &env->pool;
        c->len = len;
        for (uint64_t i = 0; i < len; i++) links[run->inited * len + i] = (link_t){c, i};
    }
    double t0 = bench_now();
    for (uint64_t k = 0; k < nc; k++) {
        chain_t *c = &cs[k];
        if (thread_pool_submit(&env->pool, link_job, &links[k * len]) < 0) return oom(out);
        pt_event_wait(&c->done);
        if (c->err) return oom(out);
        if (atomic_load(&c->ran) != len)
            return bench_fail(out, BENCH_FAILED, "chain %llu: %llu links ran, expected %llu",
                              (unsigned long long)k, (unsigned long long)atomic_load(&c->ran),
                              (unsigned long long)len);
    }
    out->seconds = bench_now() - t0;
    return BENCH_OK;
}

/* ---- channel_mpsc: producers are jobs; the consumer is the main thread ---------------------
 * A producer blocked on the full channel holds its thread, but the consumer is outside the
 * pool, so the producers simply run a few at a time. */

typedef struct producer {
    pt_chan_t *chan;            /* the shared channel */
    uint64_t first, count;      /* sends first, first + 1, ... count values */
    pt_countdown_t *count_done; /* counts producers past their last send */
} producer_t;

static void producer_job(void *arg) {
    producer_t *p = arg;
    for (uint64_t i = 0; i < p->count; i++)
        if (!pt_chan_send(p->chan, p->first + i)) break;
    pt_countdown_one(p->count_done);
}

static void chan_destroy(void *p) {
    pt_chan_destroy(p);
}

static bench_status_t run_mpsc(pool_env_t *env, const bench_sizes_t *s, bench_sample_t *out) {
    uint64_t np = s->mpsc_producers, total = np * s->mpsc_per;
    pt_countdown_t *c = new_countdown(env, np);
    pt_chan_t *chan = bench_keep_new(&env->kept, sizeof *chan);
    producer_t *ps = bench_keep_new(&env->kept, np * sizeof *ps);
    if (!c || !chan || !ps || pt_chan_init(chan, s->mpsc_cap) < 0) return oom(out);
    bench_keep_destroy_with(chan, chan_destroy);
    double t0 = bench_now();
    for (uint64_t p = 0; p < np; p++) {
        ps[p] = (producer_t){chan, p * s->mpsc_per, s->mpsc_per, c};
        if (thread_pool_submit(&env->pool, producer_job, &ps[p]) < 0) {
            pt_chan_close(chan);
            return oom(out);
        }
    }
    uint64_t sum = 0, v, got = 0;
    while (got < total && pt_chan_recv(chan, &v)) {
        sum += v;
        got++;
    }
    out->seconds = bench_now() - t0;
    pt_event_wait(&c->done); /* every producer is past its last send */
    uint64_t want = bench_mpsc_sum(np, s->mpsc_per);
    if (got != total || sum != want)
        return bench_fail(out, BENCH_FAILED,
                          "received %llu values summing to %llu, expected %llu summing to %llu",
                          (unsigned long long)got, (unsigned long long)sum,
                          (unsigned long long)total, (unsigned long long)want);
    return BENCH_OK;
}

/* ---- mutex ------------------------------------------------------------------------------------ */

typedef struct mutex_ctx {
    pthread_mutex_t lock;  /* the contended lock */
    uint64_t counter;      /* guarded by lock */
    uint64_t iters;        /* locks per job */
    pt_countdown_t *count; /* counts finished jobs */
} mutex_ctx_t;

static void mutex_destroy(void *p) {
    pthread_mutex_destroy(&((mutex_ctx_t *)p)->lock);
}

static void mutex_job(void *arg) {
    mutex_ctx_t *m = arg;
    for (uint64_t i = 0; i < m->iters; i++) {
        pthread_mutex_lock(&m->lock);
        m->counter++;
        pthread_mutex_unlock(&m->lock);
    }
    pt_countdown_one(m->count);
}

static bench_status_t run_mutex(pool_env_t *env, const bench_sizes_t *s, bench_sample_t *out) {
    pt_countdown_t *c = new_countdown(env, s->mutex_tasks);
    mutex_ctx_t *m = bench_keep_new(&env->kept, sizeof *m);
    if (!c || !m) return oom(out);
    pthread_mutex_init(&m->lock, NULL);
    bench_keep_destroy_with(m, mutex_destroy);
    m->iters = s->mutex_iters;
    m->count = c;
    double t0 = bench_now();
    for (uint64_t i = 0; i < s->mutex_tasks; i++)
        if (thread_pool_submit(&env->pool, mutex_job, m) < 0) return oom(out);
    pt_event_wait(&c->done);
    out->seconds = bench_now() - t0;
    pthread_mutex_lock(&m->lock);
    uint64_t counter = m->counter;
    pthread_mutex_unlock(&m->lock);
    if (counter != s->mutex_tasks * s->mutex_iters)
        return bench_fail(out, BENCH_FAILED, "counter %llu, expected %llu",
                          (unsigned long long)counter,
                          (unsigned long long)(s->mutex_tasks * s->mutex_iters));
    return BENCH_OK;
}

/* ---- the implementation ----------------------------------------------------------------------- */

static const char *pool_skip(bench_workload_t w, const bench_cfg_t *cfg, char *buf,
                             size_t len) {
    const bench_sizes_t *s = &cfg->sizes;
    unsigned n = cfg->workers;
    switch (w) {
    case W_HOL_ECHO: return BENCH_HOL_SKIP;
    case W_SPAWN_MANY:
        if (n >= 2) return NULL;
        return "the spawner waits inside a job, holding the only pool thread (needs --workers "
               ">= 2)";
    case W_PING_PONG:
        if (n >= 2) return NULL;
        return "a blocked side of a pair holds the only pool thread while its partner is "
               "queued (needs --workers >= 2)";
    case W_SLEEP_MANY:
        snprintf(buf, len,
                 "a pool has no timers: each sleep blocks a pool thread, so %llu sleeps of "
                 "1-10 ms on %u threads would take about %.0f s",
                 (unsigned long long)s->sleep_tasks, n, (double)s->sleep_tasks * 5.5e-3 / n);
        return buf;
    case W_IDLE_MANY:
        snprintf(buf, len,
                 "a parked task holds a pool thread: %llu parked tasks on %u threads deadlock",
                 (unsigned long long)s->idle_tasks, n);
        return buf;
    default:
        return NULL;
    }
}

static int pool_open(void **envp, bench_workload_t w, const bench_cfg_t *cfg, char *reason,
                     size_t len) {
    pool_env_t *env = calloc(1, sizeof *env);
    if (!env) {
        snprintf(reason, len, "out of memory");
        return -ENOMEM;
    }
    int r = thread_pool_init(&env->pool, cfg->workers);
    if (r < 0) {
        snprintf(reason, len, "thread_pool_init: %s", strerror(-r));
        free(env);
        return r;
    }
    *envp = env;
    return 0;
}

static bench_status_t pool_run(void *envp, bench_workload_t w, const bench_cfg_t *cfg,
                               unsigned rep, bench_sample_t *out) {
    pool_env_t *env = envp;
    const bench_sizes_t *s = &cfg->sizes;
    switch (w) {
    case W_SPAWN_MANY: return run_spawn_many(env, s->spawn_many, out);
    case W_SPAWN_REMOTE: return run_spawn_remote(env, s->spawn_remote, out);
    case W_YIELD_MANY: return run_yield_many(env, s, out);
    case W_PING_PONG: return run_ping_pong(env, s, out);
    case W_CHAINED_SPAWN: return run_chained(env, s, out);
    case W_CHANNEL_MPSC: return run_mpsc(env, s, out);
    case W_MUTEX: return run_mutex(env, s, out);
    default: return bench_fail(out, BENCH_FAILED, "not a pool workload");
    }
}

static void pool_close(void *envp, bench_workload_t w) {
    pool_env_t *env = envp;
    thread_pool_destroy(&env->pool); /* runs what is queued, joins: nobody touches kept now */
    bench_keep_free(&env->kept);
    free(env);
}

const bench_impl_t bench_impl_pool = {
    .name = "pool",
    .skip = pool_skip,
    .open = pool_open,
    .run = pool_run,
    .close = pool_close,
};
