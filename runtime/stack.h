/* Task stacks: mmap'ed, pooled, given to a task on its first run and returned when it ends.
 *
 * Stacks are carved from slabs (one mapping holding several stacks), each with a guard region
 * (TIDE_STACK_MOAT, 64 KiB, so a big frame cannot jump over it) below it, so an overflow
 * faults and is reported (overflow.c). On Linux 6.13+ the guard is a
 * page-table marker (MADV_GUARD_INSTALL) that costs no mapping, so every stack has one. On
 * older kernels it is a PROT_NONE page, which splits the mapping, and Linux allows only
 * vm.max_map_count (65,530 by default) mappings per process: past a budget those stacks are
 * checked with a canary instead — the lowest TIDE_CANARY_BYTES of the stack must stay zero,
 * checked when the task switches out (reading untouched pages maps the shared zero page, so
 * this costs no memory), plus an untouched moat below each stack so a moderate overflow lands
 * in unused memory rather than a neighbour.
 *
 * Freed stacks go to the worker's cache, then, half a cache at a time, to the runtime's depot,
 * a lock-free list of such batches (Concurrency Kit's ck_stack, freelist.h; a batch's members
 * are listed in the free memory of its first stack, so moving one touches no other
 * descriptor). The depot
 * remembers when each batch came back; stacks unused for stack_decay_ns are purged (MADV_DONTNEED: the
 * mapping stays, its memory goes back to the kernel), like jemalloc's dirty-page decay.
 * Page faults cost microseconds here, so reuse matters. */
#ifndef TIDE_RUNTIME_STACK_H
#define TIDE_RUNTIME_STACK_H

#include <pthread.h>

#include "freelist.h"
#include "platform.h"
#include "split_count.h"

#define TIDE_CANARY_BYTES 256
#define TIDE_STACK_MOAT ((size_t)64 * 1024) /* guard region (or canary moat) below each stack */

struct tide__slab;

typedef struct tide__stack {
    struct tide__stack *next;  /* link in the list of purged stacks */
    ck_stack_entry_t batch;    /* while it heads a depot batch: the depot's link to the next */
    int64_t freed_at;          /* ...when that batch came back (decay) */
    unsigned batch_len;        /* ...how many stacks the batch holds, this one included (the
                                  others are listed at the top of this one's stack: stack.c) */
    char *lo;                  /* lowest usable byte; the canary starts here */
    char *hi;                  /* one past the highest usable byte */
    struct tide__slab *slab;   /* the mapping it lives in */
    uint32_t guarded : 1;      /* a guard region lies right below lo */
    uint32_t mprotected : 1;   /* ...made by mprotect (it costs a mapping from the budget) */
    uint32_t purged : 1;       /* memory given back; pages read as zero */
    uint32_t valgrind_id : 29; /* valgrind's id for the registered stack */
#if defined(__SANITIZE_THREAD__)
    void *tsan_fiber;          /* TSan's fiber for this stack: made once, reused by every task
                                  that runs here (creating one costs TSan about a millisecond) */
#endif
} tide__stack_t;

typedef struct tide__slab {
    struct tide__slab *next; /* all slabs of the allocator, for the final unmap */
    char *map;               /* the mapping */
    size_t map_len;
    unsigned count;          /* stacks in it */
    unsigned custom : 1;     /* a single odd-sized stack, unmapped when released */
    tide__stack_t stacks[];  /* their descriptors (kept off the stacks so a purge frees all) */
} tide__slab_t;

/* A worker's private cache of free stacks: an array used as a stack, so the warmest stack is
 * reused first and taking or giving one touches no descriptor. */
typedef struct tide__stack_cache {
    tide__stack_t **items;    /* items[count - 1] is the most recently freed */
    unsigned count;
    unsigned cap;
    _Atomic int64_t live;     /* stacks got through it less those put through it: its part of
                                 the pool's `live` (split_count.h) */
} tide__stack_cache_t;

typedef struct tide__stacks {
    size_t stack_size;          /* usable size of pooled stacks (page multiple) */
    int64_t decay_ns;           /* purge stacks idle this long */
    _Atomic bool starved;       /* the last pool slab could not be mapped: spawns take their
                                   stack at once, so they fail up front (tide__spawn). Read
                                   by every spawn: kept away from the counters below */
    TIDE_ALIGNED tide__freelist_t warm; /* the depot: batches of warm stacks (a batch is what a
                                   cache gives back at once), lock-free (freelist.h), newest
                                   on top; on its own cache line */
    _Atomic size_t warm_count;  /* stacks in it (a hint: updated after each push and pop) */
    TIDE_ALIGNED pthread_mutex_t lock; /* guards everything below, and the decay pass, which
                                   has the warm batches off the depot for a moment */
    tide__stack_t *cold;        /* purged stacks, reused before new slabs */
    size_t cold_count;
    tide__slab_t *slabs;        /* every slab, for tide__stacks_destroy */
    _Atomic int64_t last_purge; /* when a purge last ran */
    _Atomic uint64_t live;      /* stacks owned by tasks: the shared part of a split count
                                   (split_count.h) whose other parts are the caches' */
    _Atomic uint64_t mapped;    /* stacks in all slabs */
    _Atomic uint64_t guarded;   /* of which guarded */
} tide__stacks_t;

int tide__stacks_init(tide__stacks_t *s, size_t stack_size, int64_t decay_ns);
/* A cache with room for cap stacks. */
int tide__stack_cache_init(tide__stack_cache_t *cache, unsigned cap);
void tide__stack_cache_destroy(tide__stack_cache_t *cache);
/* Unmap everything. Every stack must have been released. */
void tide__stacks_destroy(tide__stacks_t *s);

/* A stack of the pool's size (size == 0 or equal) or a dedicated one. NULL: out of memory. */
tide__stack_t *tide__stack_get(tide__stacks_t *s, tide__stack_cache_t *cache, size_t size);
/* Return a stack; cache may be NULL (then straight to the depot). size: what it was asked
 * for (tide__stack_get's size), which says whether it is a pooled stack without reading its
 * descriptor: with many tasks alive that descriptor is a cache miss, and so is its slab. */
void tide__stack_put(tide__stacks_t *s, tide__stack_cache_t *cache, tide__stack_t *st,
                     size_t size);
/* Move a cache's stacks to the depot (worker exit), and fold its count into the pool's. */
void tide__stack_cache_flush(tide__stacks_t *s, tide__stack_cache_t *cache);
/* Purge depot stacks idle longer than the decay time; cheap when there is nothing to do. */
void tide__stacks_decay(tide__stacks_t *s, int64_t now);

/* True when every stack of the process has a guard (kernel guard markers): the canary checks
 * are then skipped without even reading a stack's descriptor. */
extern _Atomic bool tide__stacks_all_guarded;

/* Canary check of a stack that is not guarded. false: the canary is damaged (overflow). */
static inline bool tide__stack_canary_ok(const tide__stack_t *st, const void *sp) {
    if (atomic_load_explicit(&tide__stacks_all_guarded, MO_RELAXED) || st->guarded) return true;
    if ((const char *)sp < st->lo + TIDE_CANARY_BYTES) return false;
    const uint64_t *w = (const uint64_t *)(const void *)st->lo;
    uint64_t acc = 0;
    for (unsigned i = 0; i < TIDE_CANARY_BYTES / 8; i++) acc |= w[i];
    return acc == 0;
}

/* The thorough version, for a canary stack whose task has ended: samples the lowest page of
 * the stack and the moat below it, where a deep call that returned may have left traces
 * the canary words missed. Reads of untouched pages hit the shared zero page. */
static inline bool tide__stack_canary_deep_ok(const tide__stack_t *st) {
    if (atomic_load_explicit(&tide__stacks_all_guarded, MO_RELAXED) || st->guarded) return true;
    uint64_t acc = 0;
    const char *from = st->lo - TIDE_STACK_MOAT + 64;
    for (const char *p = from; p < st->lo + 4096; p += 64) acc |= *(const volatile uint64_t *)p;
    return acc == 0;
}

/* Process-wide budget of guard pages, from vm.max_map_count. */
long tide__guard_budget(void);

#endif
