/* Idle-worker coordination (see scheduler.h): who searches, who sleeps, who gets woken.
 * Every transition of the idle state (searching, sleeping, woken) is made here.
 *
 * The rule that prevents lost wakeups: a producer makes work visible, then (after a seq_cst
 * fence) reads the idle state; a worker about to sleep first updates the idle state with a
 * seq_cst read-modify-write and, if it was the last searcher, looks at every queue once more.
 * Either the producer sees nobody searching and wakes a sleeper, or the worker sees the work. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runq.h"
#include "scheduler.h"

int tide__idle_init(tide__idle_t *idle, unsigned nworkers) {
    idle->sleepers = tide__calloc(nworkers * sizeof(unsigned));
    if (!idle->sleepers) return -ENOMEM;
    atomic_init(&idle->state, nworkers * IDLE_UNPARK_ONE);
    pthread_mutex_init(&idle->lock, NULL);
    idle->capacity = nworkers;
    idle->nsleepers = 0;
    return 0;
}

void tide__idle_destroy(tide__idle_t *idle) {
    pthread_mutex_destroy(&idle->lock);
    tide__free(idle->sleepers, idle->capacity * sizeof(unsigned));
}

void tide__kick_io_parked(tide__worker_t *w) {
    /* seq_cst pairs with the worker's store of io_parked before it checks `unpark`: either it
     * sees our unpark, or we see it in the poll and write the eventfd. */
    if (atomic_load_explicit(&w->io_parked, MO_SEQ_CST)) {
        uint64_t one = 1;
        ssize_t r = write(w->rt->park_efd, &one, sizeof one);
        (void)r; /* EAGAIN: the counter is already non-zero, which is all we need */
    }
}

void tide__unpark_worker(tide__worker_t *w) {
    atomic_store_explicit(&w->unpark, UNPARK_NOTIFY, MO_SEQ_CST);
    tide__shake_point(SHAKE_UNPARK);
    tide__parkec_wake(&w->unpark_ec);
    tide__kick_io_parked(w);
}

static bool should_wake(tide_runtime_t *rt, uint32_t s) {
    return IDLE_SEARCHING(s) == 0 && IDLE_UNPARKED(s) < rt->nworkers;
}

void tide__notify_work(tide_runtime_t *rt) {
    tide__idle_t *idle = &rt->idle;
    tide__shake_point(SHAKE_NOTIFY);
#if defined(__SANITIZE_THREAD__)
    /* TSan does not model fences: a seq_cst read-modify-write orders the same way. */
    uint32_t s = atomic_fetch_add_explicit(&idle->state, 0, MO_SEQ_CST);
#else
    tide__fence_sc(); /* a locked no-op on x86-64, cheaper than mfence: see deque.h */
    uint32_t s = atomic_load_explicit(&idle->state, MO_SEQ_CST);
#endif
    if (!should_wake(rt, s)) return;
    pthread_mutex_lock(&idle->lock);
    if (!should_wake(rt, atomic_load_explicit(&idle->state, MO_SEQ_CST)) || idle->nsleepers == 0) {
        pthread_mutex_unlock(&idle->lock);
        return;
    }
    tide__worker_t *w = rt->workers[idle->sleepers[--idle->nsleepers]];
    w->sleeping = false;
    /* The woken worker starts out searching, so other producers do not wake more. */
    atomic_fetch_add_explicit(&idle->state, IDLE_SEARCH_ONE + IDLE_UNPARK_ONE, MO_SEQ_CST);
    atomic_store_explicit(&w->unpark, UNPARK_NOTIFY, MO_SEQ_CST);
    pthread_mutex_unlock(&idle->lock);
    tide__shake_point(SHAKE_UNPARK);
    tide__parkec_wake(&w->unpark_ec);
    tide__kick_io_parked(w);
}

bool tide__idle_to_searching(tide__worker_t *w) {
    if (w->searching) return true;
    tide__idle_t *idle = &w->rt->idle;
    uint32_t s = atomic_load_explicit(&idle->state, MO_SEQ_CST);
    if (2 * IDLE_SEARCHING(s) >= w->rt->nworkers) return false;
    atomic_fetch_add_explicit(&idle->state, IDLE_SEARCH_ONE, MO_SEQ_CST);
    w->searching = true;
    return true;
}

/* Found work while searching: stop searching; if we were the last searcher and there is more
 * work about, wake someone to look for it. */
void tide__idle_from_searching(tide__worker_t *w) {
    if (!w->searching) return;
    w->searching = false;
    uint32_t prev = atomic_fetch_sub_explicit(&w->rt->idle.state, IDLE_SEARCH_ONE, MO_SEQ_CST);
    tide__shake_point(SHAKE_SEARCH_END);
    if (IDLE_SEARCHING(prev) == 1 && tide__runq_work_visible(w->rt)) tide__notify_work(w->rt);
}

/* A worker goes to sleep: no longer counted as unparked (nor searching), and on the sleepers
 * list where tide__notify_work finds it. */
void tide__idle_sleep_begin(tide__worker_t *w) {
    tide__idle_t *idle = &w->rt->idle;
    pthread_mutex_lock(&idle->lock);
    uint32_t dec = IDLE_UNPARK_ONE + (w->searching ? IDLE_SEARCH_ONE : 0);
    atomic_fetch_sub_explicit(&idle->state, dec, MO_SEQ_CST);
    idle->sleepers[idle->nsleepers++] = w->index;
    w->sleeping = true;
    pthread_mutex_unlock(&idle->lock);
    w->searching = false;
}

/* A worker woke without being notified (its deadline, or shutdown): take it off the sleepers
 * list, unless a notifier got there first, in which case it is already counted as awake and
 * searching. */
void tide__idle_sleep_end(tide__worker_t *w) {
    tide__idle_t *idle = &w->rt->idle;
    pthread_mutex_lock(&idle->lock);
    if (w->sleeping) {
        for (unsigned i = 0; i < idle->nsleepers; i++) {
            if (idle->sleepers[i] == w->index) {
                idle->sleepers[i] = idle->sleepers[--idle->nsleepers];
                break;
            }
        }
        w->sleeping = false;
        atomic_fetch_add_explicit(&idle->state, IDLE_UNPARK_ONE, MO_SEQ_CST);
    } else {
        atomic_store_explicit(&w->unpark, 0, MO_RELAXED);
        w->searching = true;
    }
    pthread_mutex_unlock(&idle->lock);
}

/* ---- the poll left to a busy worker while the CPUs are taken ------------------------------
 * The first worker to sleep waits in the I/O hook's poll (park.c, tokio's model), where every
 * socket that becomes readable wakes it. While another worker is awake that buys a second
 * CPU's worth of service only if a CPU is free for the poller. When every CPU already has a
 * runnable thread (the load generator of a benchmark on the same machine, other processes),
 * the woken poller takes a CPU from one of them - from the client that feeds the server, in
 * a benchmark - and the wake-ups are paid by whoever made the sockets readable. Measured
 * (docs/benchmarks.md, "HTTP: where the two CPUs go"): under wrk on 2 CPUs, wrk is the
 * bottleneck; with the second worker off the poll, wrk spent less CPU per request.
 * So a worker about to sleep while another is awake asks whether its own thread waited for a
 * CPU lately: the share of its runnable time spent waiting in the run queue (schedstat: wait
 * against run time) since its previous look. Over POLL_DEFER_SHARE it sleeps on its futex and
 * leaves the poll to the busy worker, which polls every 61 turns; the stall watch (park.c)
 * takes the poll over when nobody took it for a tick, so a task that computes without
 * yielding still holds nobody's readiness hostage. A look reads /proc/thread-self/schedstat
 * (open, read, close: no descriptor outlives it) at most every POLL_LOOK_NS per worker; between
 * looks the last verdict holds. Where schedstat cannot be read the answer is no (the poll, as
 * before). TIDE_POLL_DEFER=auto turns this on; 1 defers whenever another worker is awake; unset
 * or 0, the poll as before: this round's shared machine could not show a gain at -c100
 * (docs/benchmarks.md), so the default waits for a quiet A/B. */
#define POLL_LOOK_NS TIDE_MSEC(4)
#define POLL_DEFER_SHARE 8 /* contended: wait > (wait + run) / POLL_DEFER_SHARE */

/* A worker thread's last look (only its own thread reads or writes it). */
typedef struct cpu_look {
    int64_t at;     /* when (tide__now; 0: never) */
    uint64_t run;   /* schedstat's time on a CPU then, ns */
    uint64_t wait;  /* and its time runnable but waiting for a CPU, ns */
    bool contended; /* the verdict */
} cpu_look_t;

static __thread cpu_look_t cpu_look;

/* TIDE_POLL_DEFER: unset or 0: never (the default until a quiet machine has measured it),
 * 1: always, auto: by the look. Read once per process. */
static int poll_defer_mode(void) {
    static _Atomic int mode = -2;
    int m = atomic_load_explicit(&mode, MO_RELAXED);
    if (m == -2) {
        const char *e = getenv("TIDE_POLL_DEFER");
        m = !e ? 0 : strcmp(e, "auto") == 0 ? -1 : strcmp(e, "1") == 0;
        atomic_store_explicit(&mode, m, MO_RELAXED);
    }
    return m;
}

/* This thread's schedstat (run ns, wait ns); false where the kernel does not provide it. */
static bool read_schedstat(uint64_t *run, uint64_t *wait) {
    int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char buf[96];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return false;
    buf[n] = '\0';
    unsigned long long r, wt;
    if (sscanf(buf, "%llu %llu", &r, &wt) != 2) return false;
    *run = r;
    *wait = wt;
    return true;
}

bool tide__cpu_contended(void) {
    cpu_look_t *l = &cpu_look;
    int64_t now = tide__now();
    if (l->at && now - l->at < POLL_LOOK_NS) return l->contended;
    uint64_t run, wait;
    if (!read_schedstat(&run, &wait)) {
        l->at = now;
        l->contended = false;
        return false;
    }
    if (l->at) {
        uint64_t dr = run - l->run, dw = wait - l->wait;
        /* Too little runnable time since the last look says nothing: keep the verdict. */
        if (dr + dw >= (uint64_t)TIDE_USEC(100)) l->contended = dw * POLL_DEFER_SHARE > dr + dw;
    }
    l->at = now;
    l->run = run;
    l->wait = wait;
    return l->contended;
}

bool tide__idle_poll_defer(tide__worker_t *w) {
    /* Nobody else awake: somebody must wait for readiness, and it is us. */
    if (IDLE_UNPARKED(atomic_load_explicit(&w->rt->idle.state, MO_SEQ_CST)) == 0) return false;
    int m = poll_defer_mode();
    return m >= 0 ? m == 1 : tide__cpu_contended();
}
