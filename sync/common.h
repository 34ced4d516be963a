/* What every sync/ file needs: the public API, the runtime's accounted allocator and futex
 * (base/platform.h: allocation and futex only, no scheduler internals), the small lock
 * that guards each primitive's state, and the magic numbers that catch use of a destroyed
 * object. Internal to sync/. */
#ifndef TIDE_SYNC_COMMON_H
#define TIDE_SYNC_COMMON_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "tide/core.h"
#include "tide/waker.h"
#include "tide/sync.h"

#include "platform.h"

/* Magic numbers: set by init/new, checked on entry. A freed handle (magic cleared by free)
 * is refused with -EINVAL instead of being used. An embeddable object is valid with its magic
 * or zero-filled (never initialised: all zero is its initial state, as in Go); destroy writes
 * TIDE__MAGIC_DEAD, so a destroyed one is refused. The barrier, whose zero has no parties,
 * requires init. */
#define TIDE__EMBED_OK(o, magic) ((o) && ((o)->magic_ == (magic) || (o)->magic_ == 0))
enum {
    TIDE__MAGIC_DEAD = 0x64656164, /* a destroyed embeddable object */
    TIDE__MAGIC_RWLOCK = 0x72776c6b,
    TIDE__MAGIC_SEM = 0x73656d61,
    TIDE__MAGIC_EVENT = 0x6576656e,
    TIDE__MAGIC_NOTIFY = 0x6e6f7469,
    TIDE__MAGIC_COND = 0x636f6e64,
    TIDE__MAGIC_WAITGROUP = 0x77677270,
    TIDE__MAGIC_BARRIER = 0x62617272,
    TIDE__MAGIC_CHAN = 0x6368616e,
    TIDE__MAGIC_ONESHOT = 0x6f6e6573,
    TIDE__MAGIC_QUEUE = 0x71756575,
    TIDE__MAGIC_GROUP = 0x67727570,
};

/* ---- the state lock -----------------------------------------------------------------------
 * A futex lock (0 free, 1 held, 2 held with sleepers) around a primitive's few-instruction
 * critical sections. Tasks never park while holding one (parking is always after unlock), so
 * a holder is running and a short spin nearly always wins; the futex is the fallback for a
 * preempted holder, so a foreign thread holding it cannot make workers burn their time
 * slices.
 *
 * Unlock is a plain release store when the holder sees no sleeper: on this project's VMs a
 * locked exchange costs 15-30 ns, and a channel element takes the lock twice (a send and a
 * receive), so the exchange was a third of an uncontended element (docs/benchmarks.md, "mutex
 * and channel_mpsc: the algorithms"). The price is a window: a thread that marks the lock 2
 * between the holder's look and its store is not woken by that unlock. Sleepers therefore
 * sleep at most TIDE__SYNC_SLEEP_NS at a time and look again, so a wake missed that way is
 * late by at most that much, never lost. */
#define TIDE__SYNC_SLEEP_NS 200000 /* 200 us */
void tide__sync_lock_slow(_Atomic uint32_t *l);

static inline void tide__sync_lock(_Atomic uint32_t *l) {
    uint32_t free_ = 0;
    if (TIDE_LIKELY(atomic_compare_exchange_strong_explicit(l, &free_, 1, memory_order_acquire,
                                                            memory_order_relaxed)))
        return;
    tide__sync_lock_slow(l);
}

static inline void tide__sync_unlock(_Atomic uint32_t *l) {
    if (TIDE_LIKELY(atomic_load_explicit(l, memory_order_relaxed) == 1)) {
        atomic_store_explicit(l, 0, memory_order_release);
        return;
    }
    if (atomic_exchange_explicit(l, 0, memory_order_release) == 2) tide__futex_wake(l, 1);
}

/* Copy one element; the common 8-byte element (a pointer, a uint64_t) becomes one move. */
static inline void tide__elem_copy(void *dst, const void *src, size_t size) {
    if (size == 8) memcpy(dst, src, 8);
    else memcpy(dst, src, size);
}

/* Give other tasks (or threads) a turn while waiting for an object's last users to leave. */
void tide__sync_pause(void);

#endif
