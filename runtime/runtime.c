/* The runtime object: configuration, start-up, block-on, shutdown, statistics, extension
 * slots. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "overflow.h"
#include "scheduler.h"

#define SHUTDOWN_DUMP_AFTER_NS TIDE_SEC(5)

static _Atomic uint64_t runtime_serial;

void tide_config_init(tide_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
}

static unsigned env_unsigned(const char *name, unsigned fallback) {
    const char *v = getenv(name);
    if (!v || !*v) return fallback;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (*end || n == 0 || n > 1024) return fallback;
    return (unsigned)n;
}

static int resolve_config(tide_config_t *cfg, const tide_config_t *in) {
    if (in) *cfg = *in;
    else tide_config_init(cfg);
    if (cfg->workers == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->workers = env_unsigned("TIDE_WORKERS", cpus > 0 ? (unsigned)cpus : 1);
    }
    if (cfg->workers > 1024) return -EINVAL;
    if (cfg->stack_size == 0) cfg->stack_size = TIDE_STACK_DEFAULT;
    if (cfg->stack_size < TIDE_STACK_MIN || cfg->stack_size > ((size_t)1 << 31)) return -EINVAL;
    if (cfg->stack_cache == 0) cfg->stack_cache = 64;
    if (cfg->stack_decay_ns <= 0) cfg->stack_decay_ns = TIDE_SEC(10);
    if (cfg->spin_ns == 0) {
        const char *v = getenv("TIDE_SPIN_NS");
        cfg->spin_ns = v && *v ? strtoll(v, NULL, 10) : TIDE_USEC(20);
        if (cfg->spin_ns == 0) cfg->spin_ns = -1;
    }
    if (cfg->budget == 0) cfg->budget = 128;
    if (!cfg->debug) {
        const char *d = getenv("TIDE_DEBUG");
        cfg->debug = d && *d && strcmp(d, "0") != 0;
    }
    if (cfg->slow_task_ns <= 0) cfg->slow_task_ns = TIDE_MSEC(100);
    return tide__debug_resolve(cfg);
}

static void free_workers(tide_runtime_t *rt) {
    if (!rt->workers) return;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        if (!rt->workers[i]) continue;
        tide__stack_cache_destroy(&rt->workers[i]->stacks);
        tide__delete_aligned(rt->workers[i]);
    }
    tide__free(rt->workers, rt->nworkers * sizeof *rt->workers);
    rt->workers = NULL;
}

static void stop_workers(tide_runtime_t *rt, unsigned started) {
    atomic_store_explicit(&rt->stop, 1, MO_RELEASE);
    for (unsigned i = 0; i < started; i++) tide__unpark_worker(rt->workers[i]);
    for (unsigned i = 0; i < started; i++) pthread_join(rt->workers[i]->thread, NULL);
}

int tide_runtime_new(tide_runtime_t **out, const tide_config_t *cfg_in) {
    if (!out) return -EINVAL;
    tide_config_t cfg;
    int r = resolve_config(&cfg, cfg_in);
    if (r < 0) return r;

    unsigned started = 0;
    r = -ENOMEM;
    tide_runtime_t *rt = tide__new(tide_runtime_t);
    if (!rt) goto error1;
    rt->cfg = cfg;
    rt->serial = atomic_fetch_add(&runtime_serial, 1) + 1;
    rt->nworkers = cfg.workers;
    rt->origin = tide__now();
    if (tide__inject_init(&rt->inject) < 0) goto error2;
    tide__spill_init(&rt->spill);
    rt->park_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (rt->park_efd < 0) {
        r = -errno;
        goto error3;
    }
    if ((r = tide__idle_init(&rt->idle, rt->nworkers)) < 0) goto error4;
    pthread_mutex_init(&rt->ext_lock, NULL);
    if ((r = tide__stacks_init(&rt->stacks, cfg.stack_size, cfg.stack_decay_ns)) < 0)
        goto error5;
    if ((r = tide__task_pool_init(&rt->tasks, rt->serial)) < 0) goto error6;
    if ((r = tide__blocking_init(&rt->blocking)) < 0) goto error7;

    r = -ENOMEM;
    rt->workers = tide__calloc(rt->nworkers * sizeof *rt->workers);
    if (!rt->workers) goto error8;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        tide__worker_t *w = tide__new_aligned(tide__worker_t);
        if (!w) goto error9;
        rt->workers[i] = w;
        w->rt = rt;
        w->index = i;
        w->rng = 0x9E3779B9u * (i + 1);
        tide__deque_init(&w->deque);
        tide__wheel_init(&w->wheel, rt->origin);
        /* A timer's fire touches its task's state word first (tide__timer_fire). */
        w->wheel.hot = (ptrdiff_t)offsetof(tide__task_t, state) - (ptrdiff_t)offsetof(tide__task_t, timer);
        if (tide__stack_cache_init(&w->stacks, (unsigned)cfg.stack_cache) < 0) goto error9;
        atomic_init(&w->unpark, 0);
    }

    tide__overflow_install();
    for (; started < rt->nworkers; started++) {
        tide__worker_t *w = rt->workers[started];
        if (pthread_create(&w->thread, NULL, tide__worker_main, w) != 0) {
            r = -EAGAIN;
            goto error10;
        }
    }
    atomic_store(&rt->started, 1);
    tide__debug_runtime_start(rt);
    *out = rt;
    return 0;

error10:
    stop_workers(rt, started);
error9:
    free_workers(rt); /* the workers made so far, and rt->workers */
error8:
    tide__blocking_shutdown(&rt->blocking);
error7:
    tide__task_pool_destroy(&rt->tasks);
error6:
    tide__stacks_destroy(&rt->stacks);
error5:
    pthread_mutex_destroy(&rt->ext_lock);
    tide__idle_destroy(&rt->idle);
error4:
    close(rt->park_efd);
error3:
    tide__spill_destroy(&rt->spill);
    tide__inject_destroy(&rt->inject);
error2:
    tide__delete(rt);
error1:
    return r;
}

unsigned tide_runtime_workers(const tide_runtime_t *rt) {
    return rt ? rt->nworkers : 0;
}

int tide_runtime_block_on(tide_runtime_t *rt, int (*fn)(void *), void *arg) {
    if (!rt || !fn) return -EINVAL;
    tide__worker_t *w = tide__worker_current();
    if (w && w->rt == rt) return -EDEADLK;
    /* Out of memory for the thread's wait record: fail before the task exists. */
    tide__task_t *self = tide__self();
    if (tide__self_nomem(self)) return -ENOMEM;
    /* Counted as a joiner from before the task exists to after its record is let go: a
     * tide_runtime_close from another thread waits for us (the task may end, cancelled by
     * that free, before our join even looks at it). */
    atomic_fetch_add_explicit(&rt->thread_joiners, 1, MO_SEQ_CST);
    tide_task_t h;
    tide_spawn_opts_t opts = {.name = "main"};
    int r = tide__spawn_with_stack(rt, &h, fn, arg, &opts, __FILE__, __LINE__);
    if (r < 0) {
        atomic_fetch_sub_explicit(&rt->thread_joiners, 1, MO_SEQ_CST);
        return r;
    }
    int status = 0;
    /* The calling thread's deadline scope does not apply: block_on runs the task to its end
     * (a timed-out join would leave it running with nobody to join it). */
    int64_t saved = self->deadline;
    self->deadline = TIDE_FOREVER;
    while ((r = tide_join(h, &status)) == -ETIMEDOUT || r == -ECANCELED) {
    }
    self->deadline = saved;
    atomic_fetch_sub_explicit(&rt->thread_joiners, 1, MO_SEQ_CST);
    return r < 0 ? r : status;
}

/* ---- shutdown -------------------------------------------------------------------------- */

static void cancel_live(tide__task_t *t, void *arg) {
    (void)arg;
    uint32_t flags = atomic_load_explicit(&t->flags, MO_ACQUIRE);
    if (flags & (TF_DONE | TF_CANCELLED)) return;
    tide__task_lock(t);
    bool live = atomic_load_explicit(&t->id, MO_RELAXED) != 0 &&
                !(atomic_load_explicit(&t->flags, MO_RELAXED) & TF_DONE);
    tide__task_unlock(t);
    if (live) tide__cancel_task(t);
}

static void report_unjoined(tide__task_t *t, void *arg) {
    (void)arg;
    uint32_t flags = atomic_load_explicit(&t->flags, MO_ACQUIRE);
    if ((flags & TF_DONE) && !(flags & TF_RELEASED) && t->status < 0) tide__debug_unjoined(t);
}

int tide_runtime_close(tide_runtime_t *rt) {
    if (!rt) return -EINVAL;
    tide__worker_t *w = tide__worker_current();
    if (w && w->rt == rt) return -EDEADLK; /* it would wait for the calling task to end */
    atomic_store(&rt->shutting_down, 1);
    if (rt->cfg.debug) tide__debug_alive(rt);

    int64_t start = tide__now();
    bool dumped = false;
    while (tide__live_tasks(rt) > 0) {
        tide__task_foreach(&rt->tasks, cancel_live, NULL);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        if (!dumped && tide__now() - start > SHUTDOWN_DUMP_AFTER_NS) {
            dumped = true;
            fprintf(stderr, "tide: shutdown is waiting for tasks that ignore cancellation:\n");
            tide_runtime_dump(rt, 2);
        }
    }

    /* Plain threads woken in tide_join by their task's end still read its record: let them
     * leave before the records go (tasks are done, so their wait is over). */
    while (atomic_load_explicit(&rt->thread_joiners, MO_SEQ_CST) > 0) {
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }

    /* Layers above (the I/O driver) go first, newest slot last-in-first-out. */
    for (int i = TIDE_EXT_SLOTS - 1; i >= 0; i--) {
        void *obj = atomic_load(&rt->ext[i]);
        if (obj && rt->ext_free[i]) rt->ext_free[i](obj);
        atomic_store(&rt->ext[i], NULL);
    }
    stop_workers(rt, rt->nworkers);
    tide__blocking_shutdown(&rt->blocking);
    if (rt->cfg.debug) tide__task_foreach(&rt->tasks, report_unjoined, NULL);
    tide__debug_runtime_stop(rt);

    for (unsigned i = 0; i < rt->nworkers; i++) tide__stack_cache_flush(&rt->stacks, &rt->workers[i]->stacks);
    free_workers(rt);
    tide__task_pool_destroy(&rt->tasks);
    tide__stacks_destroy(&rt->stacks);
    tide__idle_destroy(&rt->idle);
    tide__spill_destroy(&rt->spill);
    tide__inject_destroy(&rt->inject);
    close(rt->park_efd);
    pthread_mutex_destroy(&rt->ext_lock);
    tide__delete(rt);
    return 0;
}

int tide_run_config(const tide_config_t *cfg, int (*fn)(void *), void *arg) {
    if (!fn) return -EINVAL;
    tide_runtime_t *rt;
    int r = tide_runtime_new(&rt, cfg);
    if (r < 0) return r;
    int status = tide_runtime_block_on(rt, fn, arg);
    tide_runtime_close(rt);
    return status;
}

int tide_run(int (*fn)(void *), void *arg) {
    return tide_run_config(NULL, fn, arg);
}

/* ---- statistics and extension slots ---------------------------------------------------- */

/* The live counts are split between the workers' caches and the pools (split_count.h). */
static uint64_t tasks_live(tide_runtime_t *rt) {
    int64_t parts = 0;
    for (unsigned i = 0; i < rt->nworkers; i++)
        parts += tide__split_part(&rt->workers[i]->tasks.live);
    return tide__split_total(parts, &rt->tasks.records_live);
}

static uint64_t stacks_live(tide_runtime_t *rt) {
    int64_t parts = 0;
    for (unsigned i = 0; i < rt->nworkers; i++)
        parts += tide__split_part(&rt->workers[i]->stacks.live);
    return tide__split_total(parts, &rt->stacks.live);
}

int tide_runtime_stats(tide_runtime_t *rt, tide_stats_t *stats, tide_worker_stats_t *per_worker,
                       unsigned nworkers) {
    if (!rt || !stats) return -EINVAL;
    memset(stats, 0, sizeof *stats);
    stats->workers = rt->nworkers;
    stats->tasks_spawned = tide__spawned_tasks(rt);
    stats->tasks_live = tasks_live(rt);
    stats->stacks_live = stacks_live(rt);
    stats->stacks_mapped = atomic_load(&rt->stacks.mapped);
    stats->stacks_guarded = atomic_load(&rt->stacks.guarded);
    stats->global_depth = tide__inject_len(&rt->inject) + tide__spill_len(&rt->spill);
    pthread_mutex_lock(&rt->blocking.lock);
    stats->blocking_threads = rt->blocking.threads;
    pthread_mutex_unlock(&rt->blocking.lock);
    for (unsigned i = 0; per_worker && i < nworkers && i < rt->nworkers; i++) {
        tide__worker_t *w = rt->workers[i];
        tide_worker_stats_t *o = &per_worker[i];
        o->tasks_run = atomic_load_explicit(&w->c.tasks_run, MO_RELAXED);
        o->steals = atomic_load_explicit(&w->c.steals, MO_RELAXED);
        o->steal_attempts = atomic_load_explicit(&w->c.steal_attempts, MO_RELAXED);
        o->parks = atomic_load_explicit(&w->c.parks, MO_RELAXED);
        o->global_pops = atomic_load_explicit(&w->c.global_pops, MO_RELAXED);
        o->lifo_runs = atomic_load_explicit(&w->c.lifo_runs, MO_RELAXED);
        o->overflows = atomic_load_explicit(&w->c.overflows, MO_RELAXED);
        o->budget_yields = atomic_load_explicit(&w->c.budget_yields, MO_RELAXED);
        o->timers_fired = atomic_load_explicit(&w->c.timers_fired, MO_RELAXED);
        o->queue_depth = tide__deque_len(&w->deque);
        o->stacks_cached = 0; /* the cache is the worker's private state; see stacks_mapped */
    }
    return 0;
}

void *tide__ext_get(tide_runtime_t *rt, int slot, void *(*create)(tide_runtime_t *),
                    void (*destroy)(void *)) {
    if (!rt || slot < 0 || slot >= TIDE_EXT_SLOTS) return NULL;
    /* Every I/O call looks its driver up here: no lock once it exists. */
    void *obj = atomic_load_explicit(&rt->ext[slot], MO_ACQUIRE);
    if (obj || !create) return obj;
    pthread_mutex_lock(&rt->ext_lock);
    obj = atomic_load_explicit(&rt->ext[slot], MO_RELAXED);
    if (!obj && !atomic_load(&rt->stop)) {
        obj = create(rt);
        if (obj) {
            rt->ext_free[slot] = destroy;
            atomic_store_explicit(&rt->ext[slot], obj, MO_RELEASE);
        }
    }
    pthread_mutex_unlock(&rt->ext_lock);
    return obj;
}

void tide__runtime_leaks(tide_runtime_t *rt, tide__leaks_t *out) {
    out->tasks_live = tasks_live(rt);
    out->stacks_live = stacks_live(rt);
}

int64_t tide__heap_live(void) {
    return tide__mem_live();
}
