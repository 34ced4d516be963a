/* The tide workloads built on the sync layer: signals are tide_event_t, channels
 * tide_chan_t, the lock tide_mutex_t (include/tide/sync.h, through tide.h). */
#include <stdatomic.h>
#include <stdlib.h>

#include "tide_bench.h"

static bench_status_t oom(tide_env_t *env) {
    return bench_fail(env->out, BENCH_FAILED, "out of memory");
}

/* ---- spawn_many, spawn_remote: detached tasks; the one that reaches n signals ----------- */

typedef struct countdown {
    _Atomic uint64_t count; /* tasks that ran */
    uint64_t n;             /* the one that brings count to n ... */
    tide_event_t done;      /* ... sets this */
} countdown_t;

static void countdown_destroy(void *p) {
    tide_event_destroy(&((countdown_t *)p)->done);
}

/* Kept until the runtime is gone: the last task may still be inside tide_event_set when the
 * spawner wakes up. */
static countdown_t *new_countdown(tide_env_t *env, uint64_t n) {
    countdown_t *c = bench_keep_new(&env->kept, sizeof *c);
    if (!c || tide_event_init(&c->done) < 0) return NULL;
    bench_keep_destroy_with(c, countdown_destroy);
    atomic_init(&c->count, 0);
    c->n = n;
    return c;
}

static int count_task(void *arg) {
    countdown_t *c = arg;
    uint64_t n = c->n;
    if (atomic_fetch_add_explicit(&c->count, 1, memory_order_acq_rel) + 1 == n)
        return tide_event_set(&c->done);
    return 0;
}

static const tide_spawn_opts_t detached = {.detached = 1};

/* Spawn n counting tasks (into rt from a plain thread, or locally from a task) and wait. */
static bench_status_t spawn_and_wait(tide_env_t *env, uint64_t n, tide_runtime_t *rt) {
    countdown_t *c = new_countdown(env, n);
    if (!c) return oom(env);
    double t0 = bench_now();
    for (uint64_t i = 0; i < n; i++) {
        int r = rt ? tide_runtime_spawn(rt, NULL, count_task, c, &detached)
                   : tide_spawn_opts(NULL, count_task, c, &detached);
        if (r < 0) return tide_bench_error(env, "tide_spawn", r);
    }
    int r = tide_event_wait(&c->done);
    env->out->seconds = bench_now() - t0;
    if (r < 0) return tide_bench_error(env, "tide_event_wait", r);
    if (atomic_load(&c->count) != n)
        return bench_fail(env->out, BENCH_FAILED, "%llu tasks counted, expected %llu",
                          (unsigned long long)atomic_load(&c->count), (unsigned long long)n);
    return BENCH_OK;
}

bench_status_t tide_bench_spawn_many(tide_env_t *env) {
    return spawn_and_wait(env, env->cfg->sizes.spawn_many, NULL);
}

bench_status_t tide_bench_spawn_remote(tide_env_t *env) {
    return spawn_and_wait(env, env->cfg->sizes.spawn_remote, env->rt);
}

/* ---- ping_pong ------------------------------------------------------------------------- */

typedef struct pp_pair {
    tide_chan_t *ab, *ba; /* capacity 1 each */
    uint64_t trips;       /* round trips to make */
    uint64_t ok;          /* round trips A checked (read after the join) */
} pp_pair_t;

static int pp_a(void *arg) {
    pp_pair_t *p = arg;
    for (uint64_t i = 0; i < p->trips; i++) {
        uint64_t v;
        int r = tide_chan_send(p->ab, &i);
        if (r < 0 || (r = tide_chan_recv(p->ba, &v)) < 0) return r;
        if (v == i) p->ok++;
    }
    return 0;
}

static int pp_b(void *arg) {
    pp_pair_t *p = arg;
    for (uint64_t i = 0; i < p->trips; i++) {
        uint64_t v;
        int r = tide_chan_recv(p->ab, &v);
        if (r < 0 || (r = tide_chan_send(p->ba, &v)) < 0) return r;
    }
    return 0;
}

bench_status_t tide_bench_ping_pong(tide_env_t *env) {
    const bench_sizes_t *s = &env->cfg->sizes;
    uint64_t np = s->pp_pairs, made = 0, spawned = 0;
    pp_pair_t *pairs = calloc(np, sizeof *pairs);
    tide_task_t *ts = calloc(2 * np, sizeof *ts);
    bench_status_t st = oom(env);
    int r = 0;
    if (!pairs || !ts) goto out;
    for (; made < np; made++) {
        pp_pair_t *p = &pairs[made];
        if ((r = tide_chan_new(&p->ab, sizeof(uint64_t), 1)) < 0) break;
        if ((r = tide_chan_new(&p->ba, sizeof(uint64_t), 1)) < 0) {
            tide_chan_free(p->ab);
            break;
        }
        p->trips = s->pp_trips;
    }
    if (r < 0) {
        st = tide_bench_error(env, "tide_chan_new", r);
        goto out;
    }
    double t0 = bench_now();
    for (; spawned < 2 * np; spawned++) {
        pp_pair_t *p = &pairs[spawned / 2];
        if ((r = tide_spawn(&ts[spawned], spawned % 2 ? pp_b : pp_a, p)) < 0) break;
    }
    if (r < 0) {
        /* A task whose partner never came would wait forever: closing every channel makes
         * the others fail out (-EPIPE) before they are joined. */
        for (uint64_t i = 0; i < np; i++) {
            tide_chan_close(pairs[i].ab);
            tide_chan_close(pairs[i].ba);
        }
        tide_bench_join_all(ts, spawned);
        st = tide_bench_error(env, "tide_spawn", r);
        goto out;
    }
    int jr = tide_bench_join_all(ts, spawned);
    env->out->seconds = bench_now() - t0;
    if (jr < 0) {
        st = tide_bench_error(env, "a ping_pong task", jr);
        goto out;
    }
    uint64_t ok = 0;
    for (uint64_t i = 0; i < np; i++) ok += pairs[i].ok;
    if (ok != np * s->pp_trips)
        st = bench_fail(env->out, BENCH_FAILED, "%llu round trips checked, expected %llu",
                        (unsigned long long)ok, (unsigned long long)(np * s->pp_trips));
    else
        st = BENCH_OK;
out:
    for (uint64_t i = 0; i < made; i++) {
        tide_chan_free(pairs[i].ab);
        tide_chan_free(pairs[i].ba);
    }
    free(ts);
    free(pairs);
    return st;
}

/* ---- chained_spawn ---------------------------------------------------------------------- */

typedef struct chain {
    uint64_t len;         /* links in the chain */
    _Atomic uint64_t ran; /* links that ran */
    _Atomic int err;      /* a link's failed spawn (0: none) */
    tide_event_t done;    /* set by the last link, or by a link that could not go on */
} chain_t;

/* A link's argument: its chain and its place in it. */
typedef struct link {
    chain_t *chain; /* the chain it belongs to */
    uint64_t i;     /* its place: link i spawns link i + 1 */
} link_t;

typedef struct chain_run {
    uint64_t inited; /* chains whose event is initialised */
    chain_t *chains; /* the repetition's chains */
} chain_run_t;

static void chain_run_destroy(void *p) {
    chain_run_t *r = p;
    for (uint64_t i = 0; i < r->inited; i++) tide_event_destroy(&r->chains[i].done);
}

static int link_task(void *arg) {
    link_t *l = arg;
    chain_t *c = l->chain;
    atomic_fetch_add_explicit(&c->ran, 1, memory_order_relaxed);
    if (l->i + 1 == c->len) return tide_event_set(&c->done);
    int r = tide_spawn_opts(NULL, link_task, l + 1, &detached);
    if (r < 0) {
        atomic_store(&c->err, r);
        tide_event_set(&c->done);
    }
    return r;
}

bench_status_t tide_bench_chained_spawn(tide_env_t *env) {
    const bench_sizes_t *s = &env->cfg->sizes;
    uint64_t nc = s->chain_count, len = s->chain_len;
    chain_run_t *run = bench_keep_new(&env->kept, sizeof *run);
    chain_t *cs = bench_keep_new(&env->kept, nc * sizeof *cs);
    link_t *links = bench_keep_new(&env->kept, nc * len * sizeof *links);
    if (!run || !cs || !links) return oom(env);
    run->chains = cs;
    bench_keep_destroy_with(run, chain_run_destroy);
    for (; run->inited < nc; run->inited++) {
        chain_t *c = &cs[run->inited];
        int r = tide_event_init(&c->done);
        if (r < 0) return tide_bench_error(env, "tide_event_init", r);
        c->len = len;
        for (uint64_t i = 0; i < len; i++) links[run->inited * len + i] = (link_t){c, i};
    }
    double t0 = bench_now();
    for (uint64_t k = 0; k < nc; k++) {
        chain_t *c = &cs[k];
        int r = tide_spawn_opts(NULL, link_task, &links[k * len], &detached);
        if (r < 0) return tide_bench_error(env, "tide_spawn", r);
        if ((r = tide_event_wait(&c->done)) < 0)
            return tide_bench_error(env, "tide_event_wait", r);
        if ((r = atomic_load(&c->err)) < 0) return tide_bench_error(env, "tide_spawn", r);
        if (atomic_load(&c->ran) != len)
            return bench_fail(env->out, BENCH_FAILED,
                              "chain %llu: %llu links ran, expected %llu",
                              (unsigned long long)k, (unsigned long long)atomic_load(&c->ran),
                              (unsigned long long)len);
    }
    env->out->seconds = bench_now() - t0;
    return BENCH_OK;
}

/* ---- channel_mpsc: 16 producer tasks, the workload's own task consumes ------------------- */

typedef struct producer {
    tide_chan_t *chan;     /* the shared channel */
    uint64_t first, count; /* sends first, first + 1, ... count values */
} producer_t;

static int producer_task(void *arg) {
    producer_t *p = arg;
    for (uint64_t i = 0; i < p->count; i++) {
        uint64_t v = p->first + i;
        int r = tide_chan_send(p->chan, &v);
        if (r < 0) return r;
    }
    return 0;
}

bench_status_t tide_bench_channel_mpsc(tide_env_t *env) {
    const bench_sizes_t *s = &env->cfg->sizes;
    uint64_t np = s->mpsc_producers, total = np * s->mpsc_per, spawned = 0;
    tide_chan_t *chan = NULL;
    producer_t *ps = calloc(np, sizeof *ps);
    tide_task_t *ts = calloc(np, sizeof *ts);
    bench_status_t st = oom(env);
    if (!ps || !ts) goto out;
    int r = tide_chan_new(&chan, sizeof(uint64_t), s->mpsc_cap);
    if (r < 0) {
        st = tide_bench_error(env, "tide_chan_new", r);
        goto out;
    }
    double t0 = bench_now();
    for (; spawned < np; spawned++) {
        ps[spawned] = (producer_t){chan, spawned * s->mpsc_per, s->mpsc_per};
        if ((r = tide_spawn(&ts[spawned], producer_task, &ps[spawned])) < 0) break;
    }
    uint64_t sum = 0, got = 0, v;
    if (r < 0) {
        tide_chan_close(chan); /* the producers fail out with -EPIPE */
        tide_bench_join_all(ts, spawned);
        st = tide_bench_error(env, "tide_spawn", r);
        goto out_chan;
    }
    while (got < total && (r = tide_chan_recv(chan, &v)) == 0) {
        sum += v;
        got++;
    }
    env->out->seconds = bench_now() - t0;
    if (r < 0) tide_chan_close(chan);
    int jr = tide_bench_join_all(ts, spawned);
    uint64_t want = bench_mpsc_sum(np, s->mpsc_per);
    if (r < 0) st = tide_bench_error(env, "tide_chan_recv", r);
    else if (jr < 0) st = tide_bench_error(env, "a producer", jr);
    else if (got != total || sum != want)
        st = bench_fail(env->out, BENCH_FAILED,
                        "received %llu values summing to %llu, expected %llu summing to %llu",
                        (unsigned long long)got, (unsigned long long)sum,
                        (unsigned long long)total, (unsigned long long)want);
    else st = BENCH_OK;
out_chan:
    tide_chan_free(chan);
out:
    free(ts);
    free(ps);
    return st;
}

/* ---- mutex ------------------------------------------------------------------------------ */

typedef struct mutex_ctx {
    tide_mutex_t lock; /* the contended lock */
    uint64_t counter;  /* guarded by lock */
    uint64_t iters;    /* locks per task */
} mutex_ctx_t;

static int mutex_task(void *arg) {
    mutex_ctx_t *m = arg;
    for (uint64_t i = 0; i < m->iters; i++) {
        int r = tide_mutex_lock(&m->lock);
        if (r < 0) return r;
        m->counter++;
        if ((r = tide_mutex_unlock(&m->lock)) < 0) return r;
    }
    return 0;
}

bench_status_t tide_bench_mutex(tide_env_t *env) {
    const bench_sizes_t *s = &env->cfg->sizes;
    uint64_t n = s->mutex_tasks, spawned = 0;
    mutex_ctx_t m = {.counter = 0, .iters = s->mutex_iters};
    tide_task_t *ts = calloc(n, sizeof *ts);
    if (!ts) return oom(env);
    int r = tide_mutex_init(&m.lock);
    if (r < 0) {
        free(ts);
        return tide_bench_error(env, "tide_mutex_init", r);
    }
    double t0 = bench_now();
    for (; spawned < n; spawned++)
        if ((r = tide_spawn(&ts[spawned], mutex_task, &m)) < 0) break;
    int jr = tide_bench_join_all(ts, spawned);
    env->out->seconds = bench_now() - t0;
    free(ts);
    int dr = tide_mutex_destroy(&m.lock);
    if (r < 0) return tide_bench_error(env, "tide_spawn", r);
    if (jr < 0) return tide_bench_error(env, "a locking task", jr);
    if (dr < 0) return tide_bench_error(env, "tide_mutex_destroy", dr);
    if (m.counter != n * s->mutex_iters)
        return bench_fail(env->out, BENCH_FAILED, "counter %llu, expected %llu",
                          (unsigned long long)m.counter,
                          (unsigned long long)(n * s->mutex_iters));
    return BENCH_OK;
}

/* ---- idle_many -------------------------------------------------------------------------- */

typedef struct idle_ctx {
    uint64_t n;               /* tasks */
    _Atomic uint64_t arrived; /* tasks about to park */
    _Atomic uint64_t resumed; /* tasks past the release */
    tide_event_t all_here;    /* set by the n-th arrival */
    tide_event_t release;     /* what every task parks on */
} idle_ctx_t;

static void idle_destroy(void *p) {
    idle_ctx_t *c = p;
    tide_event_destroy(&c->release);
    tide_event_destroy(&c->all_here);
}

static int idle_task(void *arg) {
    idle_ctx_t *c = arg;
    if (atomic_fetch_add_explicit(&c->arrived, 1, memory_order_acq_rel) + 1 == c->n) {
        int r = tide_event_set(&c->all_here);
        if (r < 0) return r;
    }
    int r = tide_event_wait(&c->release);
    if (r < 0) return r;
    atomic_fetch_add_explicit(&c->resumed, 1, memory_order_relaxed);
    return 0;
}

bench_status_t tide_bench_idle_many(tide_env_t *env) {
    uint64_t n = env->cfg->sizes.idle_tasks, spawned = 0;
    idle_ctx_t *c = bench_keep_new(&env->kept, sizeof *c);
    tide_task_t *ts = calloc(n, sizeof *ts);
    if (!c || !ts || tide_event_init(&c->all_here) < 0) {
        free(ts);
        return oom(env);
    }
    if (tide_event_init(&c->release) < 0) {
        tide_event_destroy(&c->all_here);
        free(ts);
        return oom(env);
    }
    bench_keep_destroy_with(c, idle_destroy);
    c->n = n;
    if (env->rep == 0) env->rss_base = bench_rss();

    double t0 = bench_now();
    int r = 0;
    for (; spawned < n; spawned++)
        if ((r = tide_spawn(&ts[spawned], idle_task, c)) < 0) break;
    int wr = r < 0 ? 0 : tide_event_wait(&c->all_here);
    if (r == 0 && wr == 0) {
        /* Every task has run up to its wait (the last ones may be finishing the call to
         * park): their stacks and records are all in memory now. */
        uint64_t rss = bench_rss();
        env->out->bytes_per_task =
            rss > env->rss_base ? (double)(rss - env->rss_base) / (double)n : 0;
    }
    tide_event_set(&c->release);
    int jr = tide_bench_join_all(ts, spawned);
    env->out->seconds = bench_now() - t0;
    free(ts);
    if (r < 0) return tide_bench_error(env, "tide_spawn", r);
    if (wr < 0) return tide_bench_error(env, "tide_event_wait", wr);
    if (jr < 0) return tide_bench_error(env, "a parked task", jr);
    if (atomic_load(&c->resumed) != n)
        return bench_fail(env->out, BENCH_FAILED, "%llu tasks resumed, expected %llu",
                          (unsigned long long)atomic_load(&c->resumed), (unsigned long long)n);
    return BENCH_OK;
}
