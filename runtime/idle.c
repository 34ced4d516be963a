/* Idle-worker coordination (see scheduler.h): who searches, who sleeps, who gets woken.
 * Every transition of the idle state (searching, sleeping, woken) is made here.
 *
 * The rule that prevents lost wakeups: a producer makes work visible, then (after a seq_cst
 * fence) reads the idle state; a worker about to sleep first updates the idle state with a
 * seq_cst read-modify-write and, if it was the last searcher, looks at every queue once more.
 * Either the producer sees nobody searching and wakes a sleeper, or the worker sees the work. */
#include <errno.h>
#include <stdlib.h>
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
