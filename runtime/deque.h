/* The per-worker run queue: a fixed-capacity Chase-Lev work-stealing deque with the C11
 * memory orderings of Lê, Pop, Cohen and Zappa Nardelli ("Correct and Efficient Work-Stealing
 * for Weak Memory Models", PPoPP 2013).
 *
 * The owner pushes and takes at the bottom; any thread steals at the top. The capacity is
 * fixed (no buffer to reclaim, as in tokio and Go): a full deque refuses the push and the
 * owner spills half of it to the global inject queue. Indices are signed 64-bit and never
 * wrap in practice; slots are relaxed atomics. */
#ifndef TIDE_RUNTIME_DEQUE_H
#define TIDE_RUNTIME_DEQUE_H

#include "platform.h"

#define TIDE_DEQUE_CAP 256 /* power of two */

/* ThreadSanitizer does not model standalone fences (GCC refuses them under -fsanitize=thread).
 * In TSan builds each "store; seq_cst fence; load" of the paper becomes a seq_cst exchange and
 * a seq_cst load, which orders the same accesses at least as strongly (on x86 it even compiles
 * to the same instructions). Normal builds use the paper's fences as written. */
#if defined(__SANITIZE_THREAD__)
#define TIDE_DEQUE_STORE_FENCED(obj, v) atomic_exchange_explicit((obj), (v), MO_SEQ_CST)
#define TIDE_DEQUE_FENCE() ((void)0)
#define TIDE_DEQUE_LOAD_FENCED(obj) atomic_load_explicit((obj), MO_SEQ_CST)
#else
#define TIDE_DEQUE_STORE_FENCED(obj, v) atomic_store_explicit((obj), (v), MO_RELAXED)
#define TIDE_DEQUE_FENCE() tide__fence_sc()
#define TIDE_DEQUE_LOAD_FENCED(obj) atomic_load_explicit((obj), MO_RELAXED)
#endif

/* A full (StoreLoad) fence, as atomic_thread_fence(seq_cst). On x86-64 compilers emit mfence,
 * which also waits for non-temporal stores and costs ~1.5x a locked instruction (measured
 * here: 34 ns against 22 ns, a store before each); any locked read-modify-write is a full
 * barrier for ordinary memory, so a no-op `lock or` on the thread's own stack orders the same
 * (Linux's smp_mb() on x86-64 is this). Not for sanitizer builds: TSan ignores fences anyway,
 * and its callers use seq_cst read-modify-writes there instead. */
static inline void tide__fence_sc(void) {
#if defined(__x86_64__)
    __asm__ __volatile__("lock orl $0, (%%rsp)" ::: "memory", "cc");
#else
    atomic_thread_fence(MO_SEQ_CST);
#endif
}

typedef struct tide__deque {
    TIDE_ALIGNED _Atomic int64_t top;  /* next to steal; advanced by CAS (thieves, owner) */
    TIDE_ALIGNED _Atomic int64_t bottom; /* next free slot; written by the owner only */
    _Atomic(void *) slots[TIDE_DEQUE_CAP]; /* ring of items, index mod capacity */
} tide__deque_t;

/* Result of a steal that lost a race (the deque was not empty). */
#define TIDE_DEQUE_ABORT ((void *)1)

void tide__deque_init(tide__deque_t *q);

/* Owner: push at the bottom. Returns false when full (the caller spills). */
static inline bool tide__deque_push(tide__deque_t *q, void *item) {
    int64_t b = atomic_load_explicit(&q->bottom, MO_RELAXED);
    int64_t t = atomic_load_explicit(&q->top, MO_ACQUIRE);
    if (b - t >= TIDE_DEQUE_CAP) return false;
    atomic_store_explicit(&q->slots[b & (TIDE_DEQUE_CAP - 1)], item, MO_RELAXED);
    /* The paper's release fence followed by a relaxed store, written as a release store so
     * ThreadSanitizer (which ignores standalone fences) sees the hand-over too. */
    atomic_store_explicit(&q->bottom, b + 1, MO_RELEASE);
    return true;
}

/* Owner: take the newest item (LIFO end), or NULL. */
static inline void *tide__deque_take(tide__deque_t *q) {
    int64_t b = atomic_load_explicit(&q->bottom, MO_RELAXED) - 1;
    TIDE_DEQUE_STORE_FENCED(&q->bottom, b);
    TIDE_DEQUE_FENCE();
    int64_t t = TIDE_DEQUE_LOAD_FENCED(&q->top);
    void *x = NULL;
    if (t <= b) {
        x = atomic_load_explicit(&q->slots[b & (TIDE_DEQUE_CAP - 1)], MO_RELAXED);
        if (t == b) {
            /* Last item: race the thieves for it. */
            if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, MO_SEQ_CST, MO_RELAXED))
                x = NULL;
            atomic_store_explicit(&q->bottom, b + 1, MO_RELAXED);
        }
    } else {
        atomic_store_explicit(&q->bottom, b + 1, MO_RELAXED);
    }
    return x;
}

/* Any thread (the owner included): take the oldest item. NULL when empty, TIDE_DEQUE_ABORT
 * when another thread won the race for it. */
static inline void *tide__deque_steal(tide__deque_t *q) {
#if defined(__SANITIZE_THREAD__)
    int64_t t = atomic_load_explicit(&q->top, MO_SEQ_CST);
    int64_t b = atomic_load_explicit(&q->bottom, MO_SEQ_CST);
#else
    int64_t t = atomic_load_explicit(&q->top, MO_ACQUIRE);
    tide__fence_sc();
    int64_t b = atomic_load_explicit(&q->bottom, MO_ACQUIRE);
#endif
    if (t >= b) return NULL;
    void *x = atomic_load_explicit(&q->slots[t & (TIDE_DEQUE_CAP - 1)], MO_RELAXED);
    if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, MO_SEQ_CST, MO_RELAXED))
        return TIDE_DEQUE_ABORT;
    return x;
}

/* Owner only: take the oldest item (the FIFO end the thieves use). NULL when empty,
 * TIDE_DEQUE_ABORT when a thief won the race for it. Unlike tide__deque_steal there is no
 * fence between reading top and bottom: the fence is there for a thief, whose bottom may be
 * stale while the owner takes the last item from the other end (tide__deque_take); the owner
 * reads its own bottom, which nobody else writes, and never takes while it pops. The CAS on
 * top still decides every race with the thieves. It runs on every task switch, and the fence
 * it saves is an mfence (~30 ns here). */
static inline void *tide__deque_pop_own(tide__deque_t *q) {
    int64_t b = atomic_load_explicit(&q->bottom, MO_RELAXED);
    int64_t t = atomic_load_explicit(&q->top, MO_ACQUIRE);
    if (t >= b) return NULL;
    void *x = atomic_load_explicit(&q->slots[t & (TIDE_DEQUE_CAP - 1)], MO_RELAXED);
    if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, MO_SEQ_CST, MO_RELAXED))
        return TIDE_DEQUE_ABORT;
    return x;
}

/* Approximate number of items (exact when called by the owner with no thief active). */
static inline int64_t tide__deque_len(tide__deque_t *q) {
    int64_t b = atomic_load_explicit(&q->bottom, MO_RELAXED);
    int64_t t = atomic_load_explicit(&q->top, MO_RELAXED);
    return b > t ? b - t : 0;
}

#endif
