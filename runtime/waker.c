/* Wakers: tide_park_prepare / tide_park / tide_wake, for tasks and for plain threads.
 *
 * A plain thread that blocks on a tide primitive (a channel shared with the runtime, a join
 * from main) gets a stand-in task record: same state word, same waker protocol, but its park
 * is a futex wait on the state word and its wake a futex wake. Stand-ins are pooled for the
 * life of the process (type-stable, like task records), so a late wake is always safe. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler.h"

void tide__switch_out(tide__task_t *t, int reason);

/* ---- thread stand-ins ------------------------------------------------------------------ */

static pthread_mutex_t standin_lock = PTHREAD_MUTEX_INITIALIZER;
static tide__task_t *standin_free;
static pthread_key_t standin_key;
static pthread_once_t standin_once = PTHREAD_ONCE_INIT;
static __thread tide__task_t *tls_standin;

static void standin_release(void *p) {
    tide__task_t *t = p;
    /* The thread is gone: its waits are over, so move the sequence on and recycle. */
    uint64_t seq = ST_SEQ(atomic_load(&t->state)) + 1;
    atomic_store(&t->state, ST_MAKE(seq, 0, TASK_RESUMED));
    pthread_mutex_lock(&standin_lock);
    t->next_free = standin_free;
    standin_free = t;
    pthread_mutex_unlock(&standin_lock);
}

static void standin_key_init(void) {
    pthread_key_create(&standin_key, standin_release);
}

/* The stand-in of a thread that found no memory for one of its own, shared by all such
 * threads: every wait on it fails at once with -ENOMEM (park never sleeps on it, so wakes
 * meant for one thread cannot reach another), and nothing but its state word is written. */
static tide__task_t nomem_record = {
    .state = ST_MAKE(1, 0, TASK_RESUMED),
    .flags = TF_THREAD | TF_NOMEM,
    .deadline = TIDE_FOREVER,
};

static tide__task_t *standin_nomem(void) {
    return &nomem_record;
}

bool tide__self_nomem(tide__task_t *t) {
    return t == &nomem_record;
}

static TIDE_NOINLINE tide__task_t *standin(void) {
    __asm__ __volatile__("" ::: "memory");
    tide__task_t *t = tls_standin;
    if (TIDE_LIKELY(t != NULL)) return t;
    pthread_once(&standin_once, standin_key_init);
    pthread_mutex_lock(&standin_lock);
    t = standin_free;
    if (t) standin_free = t->next_free;
    pthread_mutex_unlock(&standin_lock);
    if (!t) {
        /* Deliberately never freed: a waker may still point here after the thread exits. */
        t = tide__alloc_fault() ? NULL : aligned_alloc(64, sizeof *t); /* cache-line aligned */
        if (!t) return standin_nomem(); /* not cached: the next call tries again */
        memset(t, 0, sizeof *t);
        atomic_init(&t->state, ST_MAKE(1, 0, TASK_RESUMED));
    }
    atomic_store(&t->flags, TF_THREAD);
    atomic_store(&t->id, 0);
    t->deadline = TIDE_FOREVER;
    t->shield = 0;
    t->scope_depth = 0;
    t->next_free = NULL;
    tls_standin = t;
    pthread_setspecific(standin_key, t);
    return t;
}

/* tide__self's slow half (scheduler.h): not a worker running a task, so a plain thread (or a
 * worker's own code between tasks), which gets its stand-in. */
tide__task_t *tide__self_thread(void) {
    return standin();
}

/* Futex on the low 32 bits of the state word (state, reason and the low bits of seq). */
static inline _Atomic uint32_t *state_word32(tide__task_t *t) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (_Atomic uint32_t *)(void *)&t->state;
#else
    return (_Atomic uint32_t *)(void *)((char *)&t->state + 4);
#endif
}

/* ---- wake ------------------------------------------------------------------------------ */

static inline void wake(tide__task_t *t, uint64_t seq, uint32_t reason, bool maybe_thread) {
    uint64_t st = atomic_load_explicit(&t->state, MO_ACQUIRE);
    for (;;) {
        if (ST_SEQ(st) != seq) return; /* an earlier wait: stale */
        uint32_t state = ST_STATE(st);
        uint64_t next;
        if (state == TASK_WAITING) next = ST_MAKE(seq, reason, TASK_RUNNABLE);
        else if (state == TASK_RUNNING) next = ST_MAKE(seq, reason, TASK_NOTIFIED);
        else return; /* already woken, resumed, or finished */
        tide__shake_point(SHAKE_WAKE);
        if (atomic_compare_exchange_weak_explicit(&t->state, &st, next, MO_SEQ_CST, MO_ACQUIRE)) {
            if (state == TASK_WAITING) {
                /* A stand-in is the record without a runtime: rt shares the state word's
                 * line, the flags (TF_THREAD) do not, and the waker has that line already. */
                if (maybe_thread && t->rt == NULL)
                    tide__futex_wake(state_word32(t), 1);
                else
                    tide__schedule(t);
            }
            return;
        }
    }
}

void tide__wake(tide__task_t *t, uint64_t seq, uint32_t reason) {
    wake(t, seq, reason, true);
}

void tide__wake_task(tide__task_t *t, uint64_t seq, uint32_t reason) {
    wake(t, seq, reason, false);
}

void tide_wake(tide_waker_t w) {
    if (w.task) tide__wake(w.task, w.seq, WAKE_NORMAL);
}

/* ---- prepare and park ------------------------------------------------------------------ */

tide_waker_t tide_park_prepare(void) {
    tide__task_t *t = tide__self();
    uint64_t st = atomic_load_explicit(&t->state, MO_RELAXED);
    uint64_t seq;
    do {
        seq = ST_SEQ(st) + 1;
    } while (!atomic_compare_exchange_weak_explicit(
        &t->state, &st, ST_MAKE(seq, 0, TASK_RUNNING), MO_SEQ_CST, MO_RELAXED));
    tide__shake_point(SHAKE_PREPARED);
    return (tide_waker_t){t, seq};
}

static int reason_to_err(uint32_t reason) {
    switch (reason) {
    case WAKE_TIMEOUT: return -ETIMEDOUT;
    case WAKE_CANCEL: return -ECANCELED;
    default: return 0;
    }
}

static bool cancel_pending(tide__task_t *t) {
    return t->shield == 0 && (atomic_load_explicit(&t->flags, MO_SEQ_CST) & TF_CANCELLED);
}

/* A plain thread's park: the thread plays the scheduler's part itself. */
static int thread_park(tide__task_t *t, int64_t deadline) {
    uint64_t st = atomic_load_explicit(&t->state, MO_ACQUIRE);
    for (;;) {
        if (ST_STATE(st) != TASK_RUNNING) {
            /* Woken already (NOTIFIED) or no open wait (RESUMED). */
            atomic_store_explicit(&t->state,
                                  ST_MAKE(ST_SEQ(st), ST_REASON(st), TASK_RESUMED), MO_RELEASE);
            return ST_STATE(st) == TASK_NOTIFIED ? reason_to_err(ST_REASON(st)) : 0;
        }
        uint64_t waiting = ST_MAKE(ST_SEQ(st), 0, TASK_WAITING);
        if (atomic_compare_exchange_weak_explicit(&t->state, &st, waiting, MO_SEQ_CST, MO_ACQUIRE))
            break;
    }
    uint64_t seq = ST_SEQ(st);
    uint32_t word = (uint32_t)ST_MAKE(seq, 0, TASK_WAITING);
    for (;;) {
        st = atomic_load_explicit(&t->state, MO_ACQUIRE);
        if (ST_STATE(st) != TASK_WAITING) break;
        if (tide__futex_wait(state_word32(t), word, deadline) == -ETIMEDOUT) {
            uint64_t expect = ST_MAKE(seq, 0, TASK_WAITING);
            if (atomic_compare_exchange_strong_explicit(
                    &t->state, &expect, ST_MAKE(seq, WAKE_TIMEOUT, TASK_RESUMED), MO_ACQ_REL,
                    MO_ACQUIRE))
                return -ETIMEDOUT;
        }
    }
    atomic_store_explicit(&t->state, ST_MAKE(seq, ST_REASON(st), TASK_RESUMED), MO_RELEASE);
    return reason_to_err(ST_REASON(st));
}

/* Cancelled inside a shield: the wait goes on. Reopen it with the same sequence, so the
 * wakers already handed out still count. */
static void reopen_shielded(tide__task_t *t) {
    uint64_t st = atomic_load_explicit(&t->state, MO_RELAXED);
    atomic_compare_exchange_strong_explicit(&t->state, &st, ST_MAKE(ST_SEQ(st), 0, TASK_RUNNING),
                                            MO_SEQ_CST, MO_RELAXED);
}

/* Park until the current wait ends or `deadline` passes (-ETIMEDOUT). `now` is the time if
 * the caller has just read the clock, else 0. Every kind of wait: a thread's, a timed one,
 * one cancelled before it began, one reopened by a shield. */
static TIDE_NOINLINE int park_until_at(tide__task_t *t, const char *what, int64_t deadline,
                                       int64_t now) {
    for (;;) {
        if (TIDE_UNLIKELY(t == &nomem_record)) return -ENOMEM;
        if (cancel_pending(t)) return -ECANCELED;
        if (deadline != TIDE_FOREVER && (now ? now >= deadline : !tide__before(deadline)))
            return -ETIMEDOUT;
        now = 0;
        int r;
        if (atomic_load_explicit(&t->flags, MO_RELAXED) & TF_THREAD) {
            r = thread_park(t, deadline);
        } else {
            uint64_t seq = ST_SEQ(atomic_load_explicit(&t->state, MO_RELAXED));
            /* A wait that ends otherwise leaves its timer armed (firing it then is a no-op: its
             * seq is stale), and the next wait re-arms it cheaply: a server reading with a
             * timeout pays one lock, not an insert and a remove, per read that parks. The
             * task's end disarms it (tide__task_finish). */
            if (deadline != TIDE_FOREVER &&
                !tide__timer_rearm(&t->worker->wheel, &t->timer, deadline, seq))
                return -ETIMEDOUT;
            /* Written once: a resume leaves it (dumps show it only while the task waits);
             * the task's end clears it. */
            atomic_store_explicit(&t->waiting_on, what, MO_RELAXED);
            tide__switch_out(t, SWITCH_PARK);
            r = reason_to_err(ST_REASON(atomic_load_explicit(&t->state, MO_ACQUIRE)));
        }
        if (r != -ECANCELED || t->shield == 0) return r;
        reopen_shielded(t);
    }
}

/* A wake that was not a plain one, after the common park below: a cancel inside a shield
 * reopens the wait (park_until_at's loop); otherwise the reason is the result. */
static TIDE_NOINLINE __attribute__((cold)) int park_ended_otherwise(tide__task_t *t,
                                                                    uint32_t reason) {
    int r = reason_to_err(reason);
    if (r != -ECANCELED || t->shield == 0) return r;
    reopen_shielded(t);
    /* What it waits on is still there (park_common): the caller's argument need not be kept
     * live across the switch. */
    return park_until_at(t, atomic_load_explicit(&t->waiting_on, MO_RELAXED), TIDE_FOREVER, 0);
}

/* The common park, inlined into its callers so that a parked task's stack holds one frame
 * between the primitive and the switch: a task (not a thread's stand-in), no deadline, no
 * cancel pending. Everything else takes park_until_at, out of line. The flags are read with
 * cancel_pending's order (a cancel that came before the wait opened is seen here). */
static inline __attribute__((always_inline)) int park_common(tide__task_t *t, const char *what,
                                                             int64_t deadline) {
    uint32_t flags = atomic_load_explicit(&t->flags, MO_SEQ_CST);
    if (TIDE_UNLIKELY((flags & (TF_THREAD | TF_CANCELLED | TF_NOMEM)) ||
                      deadline != TIDE_FOREVER))
        return park_until_at(t, what, deadline, 0);
    atomic_store_explicit(&t->waiting_on, what, MO_RELAXED); /* see park_until_at */
    tide__switch_out(t, SWITCH_PARK);
    uint32_t reason = ST_REASON(atomic_load_explicit(&t->state, MO_ACQUIRE));
    if (TIDE_LIKELY(reason == WAKE_NORMAL)) return 0;
    return park_ended_otherwise(t, reason);
}

int tide__park(tide__task_t *t, const char *what) {
    return park_until_at(t, what, t->deadline, 0);
}

int tide__park_until(tide__task_t *t, const char *what, int64_t deadline, int64_t now) {
    if (t->deadline < deadline) deadline = t->deadline;
    return park_until_at(t, what, deadline, now);
}

int tide_park(void) {
    tide__task_t *t = tide__self();
    return park_common(t, "park", t->deadline);
}

int tide_park_on(const char *what) {
    tide__task_t *t = tide__self();
    return park_common(t, what ? what : "park", t->deadline);
}

int tide__park_self_until(struct tide__task *self, const char *what, int64_t deadline) {
    if (self->deadline < deadline) deadline = self->deadline;
    return park_common(self, what, deadline);
}

int tide__park_until_on(const char *what, int64_t deadline) {
    return tide__park_self_until(tide__self(), what, deadline);
}

/* The waker of t's current wait (see internal/tide/ext.h). */
tide_waker_t tide__waker_current(struct tide__task *t) {
    return (tide_waker_t){t, ST_SEQ(atomic_load_explicit(&t->state, MO_ACQUIRE))};
}

/* ---- yield and budget ------------------------------------------------------------------ */

int tide_yield(void) {
    tide__worker_t *w = tide__worker_current();
    tide__task_t *t = w ? w->current : NULL;
    if (!t) return -EPERM;
    tide__switch_out(t, SWITCH_YIELD);
    if (cancel_pending(t)) return -ECANCELED;
    return 0;
}

/* ---- cancellation state of the caller -------------------------------------------------- */

int tide_cancelled(void) {
    tide__task_t *t = tide__self();
    return (atomic_load_explicit(&t->flags, MO_RELAXED) & TF_CANCELLED) != 0;
}

void tide_shield_begin(tide_shield_t *shield) {
    tide__task_t *t = tide__self();
    shield->saved_ = t->deadline;
    shield->shield_ = t->shield;
    if (t == &nomem_record) { /* shared: its waits fail anyway */
        shield->depth_ = 0;
        return;
    }
    shield->depth_ = ++t->scope_depth;
    t->deadline = TIDE_FOREVER;
    t->shield++;
}

void tide_shield_end(tide_shield_t *shield) {
    tide__task_t *t = tide__self();
    if (t == &nomem_record || shield->depth_ == 0) return; /* begun on the no-memory stand-in */
    if (TIDE_UNLIKELY(t->scope_depth != shield->depth_))
        tide__debug_scope_mismatch(t, "tide_shield_end", shield->depth_);
    /* Everything from what the shield saved: a scope left open inside it ends with it. */
    t->scope_depth = shield->depth_ - 1;
    t->shield = shield->shield_;
    t->deadline = shield->saved_;
}
