/* A count kept in parts: one part per worker cache, written by its owner alone with a plain
 * load and store (tide__count), and one shared atomic for threads without a cache. Readers add
 * the parts up. The live stacks (stack.c) and task records (task_alloc.c) are counted this way:
 * one shared counter bumped by every spawn and every exit was a locked instruction on a line
 * both workers wrote, and spawn_many ran 1.6x faster without the two (docs/benchmarks.md,
 * "Spawns: two shared counters off the hot path"). A part may go negative: an item can be taken
 * through one worker's cache and given back through another's. */
#ifndef TIDE_RUNTIME_SPLIT_COUNT_H
#define TIDE_RUNTIME_SPLIT_COUNT_H

#include "platform.h"

/* Add d to the caller's own part, or (part NULL) to the shared count. */
static inline void tide__split_add(_Atomic int64_t *part, _Atomic uint64_t *shared, int64_t d) {
    if (part) tide__count(*part, d);
    else atomic_fetch_add_explicit(shared, (uint64_t)d, MO_RELAXED);
}

/* Move the owner's part into the shared count (its cache is being flushed): the shared count
 * first, then the zero (release), so a reader that sees the zero sees the sum. */
static inline void tide__split_fold(_Atomic int64_t *part, _Atomic uint64_t *shared) {
    int64_t v = atomic_load_explicit(part, MO_RELAXED);
    if (!v) return;
    atomic_fetch_add_explicit(shared, (uint64_t)v, MO_SEQ_CST);
    atomic_store_explicit(part, 0, MO_RELEASE);
}

/* One part, read from any thread: sum the parts first, then call tide__split_total. */
static inline int64_t tide__split_part(_Atomic int64_t *part) {
    return atomic_load_explicit(part, MO_ACQUIRE);
}

/* The total, from the parts' sum read first (a fold in between is then counted twice, never
 * missed) and the shared count. Exact while nobody adds; never below zero (a give-back seen
 * before its take, mid-flight). */
static inline uint64_t tide__split_total(int64_t parts, _Atomic uint64_t *shared) {
    int64_t sum = parts + (int64_t)atomic_load_explicit(shared, MO_SEQ_CST);
    return sum < 0 ? 0 : (uint64_t)sum;
}

#endif
