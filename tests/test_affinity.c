/* Coupled tasks and parallelism (the guard rails of issue 9 part 3's placement work): keeping
 * a task woken by another on its waker's worker makes message passing fast, but must not cost a
 * program whose woken tasks compute its second worker, nor stall a woken task behind a waker
 * that computes. Each test asserts on which worker threads ran the tasks (not on wall time):
 *  - consumers fed by a channel, or taking items under a mutex, computing ~5 ms per item, run
 *    on both workers;
 *  - CPU-bound tasks woken together by one event spread over both workers;
 *  - a task woken by a channel whose sender then computes without yielding completes its
 *    round trips on the other worker while the computation runs. */
#include <pthread.h>
#include <stdatomic.h>

#include "testutil.h"

#define ITEM_NS TIDE_MSEC(5) /* the computation per item */
#define MAX_CONSUMERS 4
#define ITEMS_EACH 6 /* items per consumer: the run is ~30 ms a consumer if spread */

/* Compute for ns without a runtime call (no yield, no budget tick). */
static void compute(int64_t ns) {
    int64_t until = tt_mono_ns() + ns;
    while (tt_mono_ns() < until) {
    }
}

/* Compute for 5 ms without a runtime call: the other worker, with nothing to do, stops
 * searching and goes to sleep, so what follows tests who wakes it (not a search in flight). */
static void let_the_other_worker_sleep(void) {
    compute(TIDE_MSEC(5));
}

/* The distinct worker threads seen (at most two matter: both workers of a 2-worker runtime). */
typedef struct seen {
    pthread_mutex_t lock; /* guards the fields below */
    pthread_t thread[2];  /* the first two distinct threads */
    int n;                /* how many of thread[] are filled */
    int runs;             /* items computed in all */
} seen_t;

static void seen_init(seen_t *s) {
    pthread_mutex_init(&s->lock, NULL);
    s->n = 0;
    s->runs = 0;
}

static void seen_note(seen_t *s) {
    pthread_t me = pthread_self();
    pthread_mutex_lock(&s->lock);
    bool known = false;
    for (int i = 0; i < s->n; i++) known |= pthread_equal(s->thread[i], me) != 0;
    if (!known && s->n < 2) s->thread[s->n++] = me;
    s->runs++;
    pthread_mutex_unlock(&s->lock);
}

/* ---- a channel feeding consumers that compute ----------------------------------------------- */

typedef struct feed {
    tide_chan_t *chan; /* items (ints); closed when all are sent */
    seen_t seen;       /* where the items were computed */
    int consumers;     /* how many consumer tasks */
} feed_t;

static int chan_consumer(void *arg) {
    feed_t *f = arg;
    int v, r;
    while ((r = tide_chan_recv(f->chan, &v)) == 0) {
        compute(ITEM_NS);
        seen_note(&f->seen);
    }
    return r == -EPIPE ? 0 : r;
}

static int chan_feed(void *arg) {
    feed_t f = {.consumers = (int)(intptr_t)arg};
    seen_init(&f.seen);
    tide_task_t t[MAX_CONSUMERS];
    /* Capacity 1: the consumers are woken by the sends, one item at a time, as they would be
     * by a dispatcher handing out requests. */
    cr_assert_eq(tide_chan_new(&f.chan, sizeof(int), 1), 0);
    let_the_other_worker_sleep();
    for (int i = 0; i < f.consumers; i++) cr_assert_eq(tide_spawn(&t[i], chan_consumer, &f), 0);
    for (int i = 0; i < f.consumers * ITEMS_EACH; i++) cr_assert_eq(tide_chan_send(f.chan, &i), 0);
    cr_assert_eq(tide_chan_close(f.chan), 0);
    for (int i = 0; i < f.consumers; i++) {
        int status = -1;
        cr_assert_eq(tide_join(t[i], &status), 0);
        cr_assert_eq(status, 0);
    }
    tide_chan_free(f.chan);
    cr_assert_eq(f.seen.runs, f.consumers * ITEMS_EACH);
    cr_assert_eq(f.seen.n, 2, "consumers fed by a channel ran on both workers");
    pthread_mutex_destroy(&f.seen.lock);
    return 0;
}

Test(affinity, channel_consumers_that_compute_use_both_workers) {
    tt_run(chan_feed, (void *)(intptr_t)2, 2);
}

Test(affinity, four_channel_consumers_that_compute_use_both_workers) {
    tt_run(chan_feed, (void *)(intptr_t)4, 2);
}

/* ---- consumers taking items from a mutex-protected counter ---------------------------------- */

typedef struct counter {
    tide_mutex_t lock; /* guards next */
    int next;          /* the next item to take */
    int items;         /* items in all */
    seen_t seen;       /* where the items were computed */
} counter_t;

static int counter_consumer(void *arg) {
    counter_t *c = arg;
    for (;;) {
        int r = tide_mutex_lock(&c->lock);
        if (r < 0) return r;
        int mine = c->next < c->items ? c->next++ : -1;
        if ((r = tide_mutex_unlock(&c->lock)) < 0) return r;
        if (mine < 0) return 0;
        compute(ITEM_NS);
        seen_note(&c->seen);
    }
}

static int counter_feed(void *arg) {
    int n = (int)(intptr_t)arg;
    counter_t c = {.next = 0, .items = n * ITEMS_EACH};
    seen_init(&c.seen);
    cr_assert_eq(tide_mutex_init(&c.lock), 0);
    tide_task_t t[MAX_CONSUMERS];
    let_the_other_worker_sleep();
    for (int i = 0; i < n; i++) cr_assert_eq(tide_spawn(&t[i], counter_consumer, &c), 0);
    for (int i = 0; i < n; i++) {
        int status = -1;
        cr_assert_eq(tide_join(t[i], &status), 0);
        cr_assert_eq(status, 0);
    }
    cr_assert_eq(tide_mutex_destroy(&c.lock), 0);
    cr_assert_eq(c.seen.runs, c.items);
    cr_assert_eq(c.seen.n, 2, "consumers taking items under a mutex ran on both workers");
    pthread_mutex_destroy(&c.seen.lock);
    return 0;
}

Test(affinity, mutex_consumers_that_compute_use_both_workers) {
    tt_run(counter_feed, (void *)(intptr_t)2, 2);
}

Test(affinity, four_mutex_consumers_that_compute_use_both_workers) {
    tt_run(counter_feed, (void *)(intptr_t)4, 2);
}

/* ---- a fan-out woken by one event ----------------------------------------------------------- */

#define FAN 4

typedef struct fan {
    tide_event_t go;       /* set once: every task computes then */
    _Atomic int waiting;   /* tasks that reached the wait */
    seen_t seen;           /* where they computed */
} fan_t;

static int fan_task(void *arg) {
    fan_t *f = arg;
    atomic_fetch_add(&f->waiting, 1);
    int r = tide_event_wait(&f->go);
    if (r < 0) return r;
    for (int i = 0; i < ITEMS_EACH; i++) {
        compute(ITEM_NS);
        seen_note(&f->seen);
    }
    return 0;
}

static int fan_out(void *arg) {
    fan_t f = {.waiting = 0};
    seen_init(&f.seen);
    cr_assert_eq(tide_event_init(&f.go), 0);
    tide_task_t t[FAN];
    for (int i = 0; i < FAN; i++) cr_assert_eq(tide_spawn(&t[i], fan_task, &f), 0);
    while (atomic_load(&f.waiting) < FAN) tide_sleep(TIDE_MSEC(1));
    tide_sleep(TIDE_MSEC(2)); /* the last ones are parked, not about to park */
    let_the_other_worker_sleep();
    cr_assert_eq(tide_event_set(&f.go), 0); /* wakes all four from this worker */
    for (int i = 0; i < FAN; i++) {
        int status = -1;
        cr_assert_eq(tide_join(t[i], &status), 0);
        cr_assert_eq(status, 0);
    }
    cr_assert_eq(tide_event_destroy(&f.go), 0);
    cr_assert_eq(f.seen.runs, FAN * ITEMS_EACH);
    cr_assert_eq(f.seen.n, 2, "tasks woken together by one event computed on both workers");
    pthread_mutex_destroy(&f.seen.lock);
    return 0;
}

Test(affinity, tasks_woken_by_one_event_spread) {
    tt_run(fan_out, NULL, 2);
}

/* ---- a fan-out of spawned tasks ------------------------------------------------------------- */

#define GIVE_UP_NS TIDE_SEC(1) /* a failing run ends after this long; not a timing target */

static int seen_count(seen_t *s) {
    pthread_mutex_lock(&s->lock);
    int n = s->n;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Compute an item, and then on until a task has run on the other worker too (a second at
 * most): what is checked is that the fan-out spreads, however loaded the machine. */
static int spawn_task(void *arg) {
    seen_t *s = arg;
    compute(ITEM_NS);
    seen_note(s);
    int64_t until = tt_mono_ns() + GIVE_UP_NS;
    while (seen_count(s) < 2 && tt_mono_ns() < until) {
    }
    return 0;
}

static int spawn_fan(void *arg) {
    seen_t s;
    seen_init(&s);
    tide_task_t t[FAN];
    let_the_other_worker_sleep();
    for (int i = 0; i < FAN; i++) cr_assert_eq(tide_spawn(&t[i], spawn_task, &s), 0);
    for (int i = 0; i < FAN; i++) cr_assert_eq(tide_join(t[i], NULL), 0);
    cr_assert_eq(s.runs, FAN);
    cr_assert_eq(s.n, 2, "spawned tasks that compute ran on both workers");
    pthread_mutex_destroy(&s.lock);
    return 0;
}

Test(affinity, spawned_tasks_that_compute_spread) {
    tt_run(spawn_fan, NULL, 2);
}

/* ---- many short jobs spawned at once ------------------------------------------------------- */

/* Each job computes for less than the stall watch's tick, so the watch sees the spawner's
 * worker begin turns all along and never steals: only the backlog rule (runq.c) can share
 * them. Nobody joins until all are done (a joiner's wake would spread them by the notify rule
 * and hide the rule under test). */
#define JOBS 200
#define JOB_NS TIDE_USEC(300)

typedef struct jobs {
    seen_t seen;       /* where the jobs computed */
    _Atomic int left;  /* jobs not yet done */
    tide_event_t done; /* set by the last job */
} jobs_t;

static int short_job(void *arg) {
    jobs_t *j = arg;
    compute(JOB_NS);
    seen_note(&j->seen);
    if (atomic_fetch_sub(&j->left, 1) == 1) return tide_event_set(&j->done);
    return 0;
}

static int spawn_short_jobs(void *arg) {
    (void)arg;
    jobs_t j = {.left = JOBS};
    seen_init(&j.seen);
    cr_assert_eq(tide_event_init(&j.done), 0);
    static tide_task_t t[JOBS];
    let_the_other_worker_sleep();
    for (int i = 0; i < JOBS; i++) cr_assert_eq(tide_spawn(&t[i], short_job, &j), 0);
    cr_assert_eq(tide_event_wait(&j.done), 0);
    for (int i = 0; i < JOBS; i++) {
        int status = -1;
        cr_assert_eq(tide_join(t[i], &status), 0);
        cr_assert_eq(status, 0);
    }
    cr_assert_eq(tide_event_destroy(&j.done), 0);
    cr_assert_eq(j.seen.runs, JOBS);
    cr_assert_eq(j.seen.n, 2, "short jobs spawned at once computed on both workers");
    pthread_mutex_destroy(&j.seen.lock);
    return 0;
}

Test(affinity, many_short_spawned_jobs_spread) {
    tt_run(spawn_short_jobs, NULL, 2);
}

/* ---- spawned tasks that compute in slices, yielding between them ---------------------------- */

#define SLICE_NS TIDE_USEC(200)
#define SLICES 20

static int slicer(void *arg) {
    seen_t *s = arg;
    for (int i = 0; i < SLICES; i++) {
        compute(SLICE_NS);
        seen_note(s);
        int r = tide_yield();
        if (r < 0) return r;
    }
    return 0;
}

static int slicers(void *arg) {
    int n = (int)(intptr_t)arg;
    seen_t s;
    seen_init(&s);
    tide_task_t t[MAX_CONSUMERS];
    let_the_other_worker_sleep();
    for (int i = 0; i < n; i++) cr_assert_eq(tide_spawn(&t[i], slicer, &s), 0);
    for (int i = 0; i < n; i++) {
        int status = -1;
        cr_assert_eq(tide_join(t[i], &status), 0);
        cr_assert_eq(status, 0);
    }
    cr_assert_eq(s.runs, n * SLICES);
    cr_assert_eq(s.n, 2, "tasks computing in slices between tide_yield calls ran on both workers");
    pthread_mutex_destroy(&s.lock);
    return 0;
}

Test(affinity, tasks_that_yield_between_slices_spread) {
    tt_run(slicers, (void *)(intptr_t)2, 2);
}

Test(affinity, four_tasks_that_yield_between_slices_spread) {
    tt_run(slicers, (void *)(intptr_t)4, 2);
}

/* ---- head of line: a woken task whose waker computes ---------------------------------------- */

#define ROUNDS 50
#define WAKER_COMPUTES_NS TIDE_MSEC(300)

typedef struct hol {
    tide_chan_t *start;      /* main -> woken: wakes it into main's worker */
    tide_chan_t *ab, *ba;    /* the woken task's round trips with its partner */
    _Atomic int rounds_done; /* round trips completed */
    pthread_t woken_thread;  /* where the woken task ran its round trips */
} hol_t;

static int partner(void *arg) {
    hol_t *h = arg;
    for (int i = 0; i < ROUNDS; i++) {
        int v, r;
        if ((r = tide_chan_recv(h->ab, &v)) < 0 || (r = tide_chan_send(h->ba, &v)) < 0) return r;
    }
    return 0;
}

static int woken(void *arg) {
    hol_t *h = arg;
    int v, r;
    if ((r = tide_chan_recv(h->start, &v)) < 0) return r;
    h->woken_thread = pthread_self();
    for (int i = 0; i < ROUNDS; i++) {
        if ((r = tide_chan_send(h->ab, &i)) < 0 || (r = tide_chan_recv(h->ba, &v)) < 0) return r;
        if (v != i) return -EPROTO;
        atomic_fetch_add(&h->rounds_done, 1);
    }
    return 0;
}

static int hol_scene(void *arg) {
    hol_t h = {.rounds_done = 0};
    cr_assert_eq(tide_chan_new(&h.start, sizeof(int), 1), 0);
    cr_assert_eq(tide_chan_new(&h.ab, sizeof(int), 1), 0);
    cr_assert_eq(tide_chan_new(&h.ba, sizeof(int), 1), 0);
    tide_task_t tw, tp;
    cr_assert_eq(tide_spawn(&tw, woken, &h), 0);
    cr_assert_eq(tide_spawn(&tp, partner, &h), 0);
    tide_sleep(TIDE_MSEC(5)); /* both parked in recv; the other worker goes back to sleep */
    int go = 1;
    cr_assert_eq(tide_chan_send(h.start, &go), 0); /* the woken task -> this worker */
    pthread_t me = pthread_self();
    /* Compute without yielding for 300 ms, or on until the round trips are done (a failing
     * run gives up after a second). */
    int64_t t0 = tt_mono_ns();
    int done_at_300ms = -1;
    while (atomic_load(&h.rounds_done) < ROUNDS && tt_mono_ns() - t0 < GIVE_UP_NS) {
        if (done_at_300ms < 0 && tt_mono_ns() - t0 >= WAKER_COMPUTES_NS)
            done_at_300ms = atomic_load(&h.rounds_done);
    }
    if (done_at_300ms < 0) done_at_300ms = atomic_load(&h.rounds_done);
    int status = -1;
    cr_assert_eq(tide_join(tw, &status), 0);
    cr_assert_eq(status, 0);
    cr_assert_eq(tide_join(tp, &status), 0);
    cr_assert_eq(status, 0);
    tide_chan_free(h.start);
    tide_chan_free(h.ab);
    tide_chan_free(h.ba);
    cr_assert_eq(done_at_300ms, ROUNDS,
                 "the woken task completed its round trips while its waker computed (%d of %d)",
                 done_at_300ms, ROUNDS);
    cr_assert(!pthread_equal(h.woken_thread, me), "on the other worker");
    return 0;
}

Test(affinity, woken_task_runs_while_its_waker_computes) {
    tt_run(hol_scene, NULL, 2);
}
