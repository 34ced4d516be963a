/* The mutex: Go's sync.Mutex scheme on wakers.
 *
 * One state word holds everything the fast paths look at: lock is one compare-and-swap and
 * unlock one plain store when nobody waits. Waiters queue FIFO under a separate small lock.
 *
 * Normal mode: unlock releases the lock and wakes the oldest waiter, which then competes with
 * running tasks that barge in (a running task taking a free lock is far cheaper than a
 * hand-off to a parked one, and keeps the critical section cache-hot). At most one woken
 * waiter is on its way at a time (WOKEN), so a burst of unlocks does not wake a herd. A woken
 * waiter that loses goes back to the head of the queue.
 *
 * Starvation mode: a woken waiter that has waited longer than TIDE_MUTEX_STARVE_NS sets
 * STARVING. From then on unlock hands the lock directly to the oldest waiter (it stays held:
 * nobody can barge) until a waiter that did not wait long, or the last waiter, takes it. So
 * no waiter waits much more than the starvation threshold plus the queue ahead of it.
 *
 * Deadlines and cancellation: a waiter that leaves before anything happened to it just
 * unlinks. One that was handed the lock as it timed out owns it and reports success. One
 * that was woken (not handed the lock) as it timed out passes the wake-up on, so the waiters
 * behind it are not stranded behind a free lock.
 *
 * Unlock without a locked instruction: when the word is exactly "held, nothing else", unlock
 * stores 0 to the lock's own byte (a plain release store) and then looks at the flags. The
 * store touches no flag, so nothing a waiter set is erased; what remains is the classic
 * store-then-load race (a waiter sets PARKED as the holder stores, and each misses the other).
 * The waiter closes it with an asymmetric fence: after setting PARKED it runs
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which makes every running thread of the
 * process pass a full barrier, and looks at the lock byte again. Then either the holder's look
 * sees PARKED (and wakes a waiter) or the waiter's look sees the lock free (and wakes the
 * first waiter itself, maybe itself): the wake is never lost nor late. The fence costs a
 * system call and an IPI per park, paid only on the slow path; the saving (one locked
 * instruction per unlock, ~20% of an uncontended lock+unlock) is on every unlock.
 * docs/benchmarks.md, "mutex: an unlock without a locked instruction". Where membarrier is
 * missing (or the byte layout is not little-endian) unlock stays a compare-and-swap. */
#include "waitq.h"

#if defined(__linux__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define M_ASYM 1
#else
#define M_ASYM 0
#endif

enum {
    M_LOCKED = 1u,      /* held: the whole low byte, so unlock can clear it alone */
    M_PARKED = 0x100u,  /* the queue is not empty: unlock must take the slow path */
    M_WOKEN = 0x200u,   /* a woken waiter is on its way: unlock wakes no other */
    M_STARVING = 0x400u, /* hand the lock over in FIFO order; no barging */
    M_DEAD = 0x800u,    /* destroyed */
};

/* The process's membarrier state (base/platform.h): 1 lets unlock use the plain store, every
 * parking waiter fencing; -1 (or a build without the byte store) keeps the CAS. A waiter
 * settles it before it parks, so a holder that reads 1 knows every waiter that could race
 * with it fences. */
static int asym_setup(void) {
#if M_ASYM
    return tide__membarrier_setup();
#else
    return -1;
#endif
}

/* The waiter's half of the fence (see above). False only if membarrier fails although the
 * process registered, which a kernel that registered once does not do; the caller then
 * wakes the queue's head itself, which is all it can do. */
static bool asym_fence(void) {
#if M_ASYM
    return tide__membarrier();
#else
    return false;
#endif
}

/* Spin rounds before queueing, while the holder is likely running on another CPU. */
#define SPIN_ROUNDS 6

int tide_mutex_init(tide_mutex_t *m) {
    if (!m) return -EINVAL;
    asym_setup(); /* early, so the unlock fast path is the plain store from the start */
    atomic_init(&m->state_, 0);
    atomic_init(&m->qlock_, 0);
    tide__waitq_init(&m->waiters_);
    return 0;
}

int tide_mutex_destroy(tide_mutex_t *m) {
    if (!m) return -EINVAL;
    uint32_t s = 0;
    if (atomic_compare_exchange_strong_explicit(&m->state_, &s, M_DEAD, memory_order_acq_rel,
                                                memory_order_relaxed))
        return 0;
    return (s & M_DEAD) ? -EINVAL : -EBUSY;
}

int tide_mutex_try_lock(tide_mutex_t *m) {
    if (!m) return -EINVAL;
    uint32_t s = atomic_load_explicit(&m->state_, memory_order_relaxed);
    for (;;) {
        if (s & M_DEAD) return -EINVAL;
        if (s & (M_LOCKED | M_STARVING)) return -EAGAIN;
        if (atomic_compare_exchange_weak_explicit(&m->state_, &s, s | M_LOCKED,
                                                  memory_order_acquire, memory_order_relaxed))
            return 0;
    }
}

/* Take the lock if it is free and nobody is owed it; false if held (or being handed over). */
static bool try_take(tide_mutex_t *m, uint32_t *s) {
    while (!(*s & (M_LOCKED | M_STARVING | M_DEAD))) {
        if (atomic_compare_exchange_weak_explicit(&m->state_, s, *s | M_LOCKED,
                                                  memory_order_acquire, memory_order_relaxed))
            return true;
    }
    return false;
}

/* The lock is free and may have nobody on the way to it: unless a woken waiter already is, take
 * the oldest waiter off the queue and wake it, or, with `grant` in starvation mode, hand it the
 * lock (nobody else may take it then). */
static void wake_oldest(tide_mutex_t *m, bool grant) {
    tide_waker_t k = {0};
    tide__sync_lock(&m->qlock_);
    uint32_t s = atomic_load_explicit(&m->state_, memory_order_relaxed);
    if (!(s & (M_LOCKED | M_WOKEN)) && !tide__waitq_empty(&m->waiters_)) {
        tide__sync_waiter_t *w = tide__waitq_pop(&m->waiters_);
        uint32_t mark = grant && (s & M_STARVING) ? M_LOCKED : M_WOKEN;
        atomic_fetch_or_explicit(&m->state_, mark, memory_order_acquire);
        if (tide__waitq_empty(&m->waiters_))
            atomic_fetch_and_explicit(&m->state_, ~(M_PARKED | M_STARVING), memory_order_relaxed);
        k = tide__waiter_fire(w, mark == M_LOCKED ? TIDE__W_GRANTED : TIDE__W_WOKEN, 0);
    }
    tide__sync_unlock(&m->qlock_);
    tide_wake(k);
}

/* A woken waiter gave up (deadline or cancel) after its wake-up: if the lock is free and
 * others wait, wake the next one in its place. */
static void pass_wake_on(tide_mutex_t *m) {
    wake_oldest(m, false);
}

/* The lock was released by a plain store (unlock's fast path) and someone queued around that
 * time: the holder that saw PARKED after its store, or a waiter whose fenced look found the
 * lock free. Make sure the queue moves: hand the lock to the oldest waiter in starvation mode,
 * else wake it unless a woken waiter is on its way already. Both sides may call this for one
 * release; WOKEN and LOCKED make the second a no-op. */
static void wake_after_release(tide_mutex_t *m) {
    wake_oldest(m, true);
}

/* Park a queued node (queue lock held, dropped here). Returns its final state, or
 * TIDE__W_WAITING with *r < 0 once it has left the queue because the wait ended early.
 * `fence`: a holder may release with a plain store, so fence and look again first: if the
 * lock went free unseen by its holder, make sure a waiter is on its way (wake_after_release). */
static uint32_t park(tide_mutex_t *m, tide__sync_waiter_t *node, bool fence, int *r) {
    tide__sync_unlock(&m->qlock_);
    if (fence) {
        if (!asym_fence() ||
            !(atomic_load_explicit(&m->state_, memory_order_relaxed) & M_LOCKED))
            wake_after_release(m);
    }
    for (;;) {
        *r = tide_park_on("mutex");
        uint32_t st = atomic_load_explicit(&node->state, memory_order_acquire);
        if (st != TIDE__W_WAITING) return st;
        tide__sync_lock(&m->qlock_);
        st = atomic_load_explicit(&node->state, memory_order_acquire);
        if (st == TIDE__W_WAITING && *r < 0) {
            tide__waitq_remove(&m->waiters_, node);
            if (tide__waitq_empty(&m->waiters_))
                atomic_fetch_and_explicit(&m->state_, ~(M_PARKED | M_STARVING),
                                          memory_order_relaxed);
        } else if (st == TIDE__W_WAITING) {
            node->waker = tide_park_prepare(); /* woken, not completed: wait on */
            tide__sync_unlock(&m->qlock_);
            continue;
        }
        tide__sync_unlock(&m->qlock_);
        return st;
    }
}

static TIDE_NOINLINE int lock_slow(tide_mutex_t *m) {
    uint32_t s = atomic_load_explicit(&m->state_, memory_order_relaxed);
    if (s & M_DEAD) return -EINVAL;

    /* Spin while the lock is held but nobody queues: the holder is probably running and
     * about to let go, and a park costs far more than this. */
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        if (try_take(m, &s)) return 0;
        if (s & (M_PARKED | M_STARVING | M_DEAD)) break;
        for (int j = 0; j < (2 << i); j++) tide__cpu_relax();
        s = atomic_load_explicit(&m->state_, memory_order_relaxed);
    }

    int asym = asym_setup(); /* before PARKED is ever set by this waiter: see asym_setup */
    tide__sync_waiter_t node;
    tide__waiter_init(&node);
    bool requeue = false; /* a woken waiter goes back to the head of the line */
    bool starving = false;
    for (;;) {
        s = atomic_load_explicit(&m->state_, memory_order_relaxed);
        if (try_take(m, &s)) return 0;
        if (s & M_DEAD) return -EINVAL;

        tide__sync_lock(&m->qlock_);
        s = atomic_load_explicit(&m->state_, memory_order_relaxed);
        bool queued = false;
        for (;;) {
            if (!(s & (M_LOCKED | M_STARVING))) break; /* released meanwhile: try again */
            uint32_t next = s | M_PARKED | (starving ? M_STARVING : 0);
            if (atomic_compare_exchange_weak_explicit(&m->state_, &s, next,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                queued = true;
                break;
            }
        }
        if (!queued) {
            tide__sync_unlock(&m->qlock_);
            continue;
        }
        if (!node.since) node.since = tide_now();
        atomic_store_explicit(&node.state, TIDE__W_WAITING, memory_order_relaxed);
        node.waker = tide_park_prepare();
        if (requeue) tide__waitq_push_front(&m->waiters_, &node);
        else tide__waitq_push(&m->waiters_, &node);

        bool fence = asym == 1;
        int r;
        uint32_t st = park(m, &node, fence, &r);
        if (st == TIDE__W_WAITING) return r; /* left the queue: nothing taken */
        if (st == TIDE__W_GRANTED) {
            /* Handed over in starvation mode: it is ours, whatever the park said. Leave
             * starvation mode if we did not wait long (the queue is moving again). */
            if ((atomic_load_explicit(&m->state_, memory_order_relaxed) & M_STARVING) &&
                tide_now() - node.since < TIDE_MUTEX_STARVE_NS)
                atomic_fetch_and_explicit(&m->state_, ~M_STARVING, memory_order_relaxed);
            return 0;
        }
        /* Woken: the lock was released for us to compete for. */
        atomic_fetch_and_explicit(&m->state_, ~M_WOKEN, memory_order_relaxed);
        if (r < 0) {
            pass_wake_on(m);
            return r;
        }
        requeue = true;
        starving = tide_now() - node.since >= TIDE_MUTEX_STARVE_NS;
    }
}

int tide_mutex_lock(tide_mutex_t *m) {
    if (TIDE_UNLIKELY(!m)) return -EINVAL;
    tide_budget_tick(); /* before taking it: never yield while holding */
    uint32_t s = 0;
    if (TIDE_LIKELY(atomic_compare_exchange_strong_explicit(
            &m->state_, &s, M_LOCKED, memory_order_acquire, memory_order_relaxed)))
        return 0;
    return lock_slow(m);
}

static TIDE_NOINLINE int unlock_slow(tide_mutex_t *m, uint32_t s) {
    for (;;) {
        if (s & M_DEAD) return -EINVAL;
        if (!(s & M_LOCKED)) return -EPERM;
        if (s & M_PARKED) break;
        /* Held with a woken waiter on its way but nobody queued: just release. */
        if (atomic_compare_exchange_weak_explicit(&m->state_, &s, s & ~M_LOCKED,
                                                  memory_order_release, memory_order_relaxed))
            return 0;
    }
    tide_waker_t k = {0};
    tide__sync_lock(&m->qlock_);
    s = atomic_load_explicit(&m->state_, memory_order_relaxed);
    tide__sync_waiter_t *w = tide__waitq_first(&m->waiters_);
    if (!w) {
        /* Everyone queued has left. */
        atomic_fetch_and_explicit(&m->state_, ~(M_LOCKED | M_PARKED | M_STARVING),
                                  memory_order_release);
    } else if (s & M_STARVING) {
        /* Hand it over: it stays locked, now for the oldest waiter. */
        tide__waitq_remove(&m->waiters_, w);
        if (tide__waitq_empty(&m->waiters_))
            atomic_fetch_and_explicit(&m->state_, ~(M_PARKED | M_STARVING),
                                      memory_order_relaxed);
        k = tide__waiter_fire(w, TIDE__W_GRANTED, 0); /* release: the new owner sees our
                                                         critical section */
    } else if (s & M_WOKEN) {
        atomic_fetch_and_explicit(&m->state_, ~M_LOCKED, memory_order_release);
    } else {
        tide__waitq_remove(&m->waiters_, w);
        bool last = tide__waitq_empty(&m->waiters_);
        for (;;) {
            uint32_t next = (s & ~M_LOCKED) | M_WOKEN;
            if (last) next &= ~(M_PARKED | M_STARVING);
            if (atomic_compare_exchange_weak_explicit(&m->state_, &s, next,
                                                      memory_order_release,
                                                      memory_order_relaxed))
                break;
        }
        k = tide__waiter_fire(w, TIDE__W_WOKEN, 0);
    }
    tide__sync_unlock(&m->qlock_);
    tide_wake(k);
    return 0;
}

int tide_mutex_unlock(tide_mutex_t *m) {
    if (TIDE_UNLIKELY(!m)) return -EINVAL;
#if M_ASYM
    if (TIDE_LIKELY(atomic_load_explicit(&tide__membarrier_state, memory_order_relaxed) == 1) &&
        TIDE_LIKELY(atomic_load_explicit(&m->state_, memory_order_relaxed) == M_LOCKED)) {
        /* Held, nobody queued, nothing else: release with a plain store of the lock byte,
         * then look for a waiter that queued meanwhile (it fences; see the top). */
        _Atomic uint8_t *b = (_Atomic uint8_t *)&m->state_;
        atomic_store_explicit(&b[0], 0, memory_order_release);
        atomic_signal_fence(memory_order_seq_cst); /* the compiler's half of the fence */
        /* The flags' byte only: no overlap with the pending store, so no forwarding stall. */
        if (TIDE_LIKELY(!(atomic_load_explicit(&b[1], memory_order_relaxed) & (M_PARKED >> 8))))
            return 0;
        wake_after_release(m);
        return 0;
    }
#endif
    uint32_t s = M_LOCKED;
    if (TIDE_LIKELY(atomic_compare_exchange_strong_explicit(&m->state_, &s, 0,
                                                            memory_order_release,
                                                            memory_order_relaxed)))
        return 0;
    return unlock_slow(m, s);
}
