/* Scheduler shake: a stress mode that perturbs the timing of the scheduler's decision points
 * (Go's -race randomises its scheduler the same way), so interleavings that are rare on a quiet
 * machine (a wake landing between a park's publish and its state change, a steal racing the
 * owner's pop, a searcher giving up just as work arrives) happen often enough to be tested.
 *
 * On with TIDE_SHAKE=<seed> (any non-zero number) in the environment, read once at start-up,
 * or tide__shake_set from a test. Off, each point is one relaxed load of a read-mostly word and
 * a not-taken branch; the perturbation itself lives out of line in shake.c. */
#ifndef TIDE_RUNTIME_SHAKE_H
#define TIDE_RUNTIME_SHAKE_H

#include "platform.h"

/* Where a point sits (each perturbs the window named). */
enum {
    SHAKE_SPAWN,          /* task.c: record filled in, about to queue it */
    SHAKE_SCHEDULE,       /* worker.c: a woken task, before choosing LIFO/local/remote */
    SHAKE_LIFO,           /* worker.c, park.c: about to take the LIFO slot (owner, watcher) */
    SHAKE_STEAL_BEFORE,   /* worker.c: about to steal from a victim */
    SHAKE_STEAL_AFTER,    /* worker.c: stolen, not yet run */
    SHAKE_INJECT_PUSH,    /* inject.c: between the tail exchange and the link store */
    SHAKE_INJECT_POP,     /* inject.c: before claiming a batch */
    SHAKE_NOTIFY,         /* idle.c: work published, before reading the idle state */
    SHAKE_UNPARK,         /* idle.c: a sleeper chosen, before its futex wake */
    SHAKE_SEARCH_END,     /* worker.c: the last searcher, before looking for more work */
    SHAKE_PARK_BEFORE,    /* worker.c: about to announce sleep */
    SHAKE_PARK_RECHECK,   /* worker.c: announced, before the re-check of every queue */
    SHAKE_PARK_WOKEN,     /* worker.c: back from the futex */
    SHAKE_SWITCHED_BACK,  /* worker.c: a parking (yielding) task is off its stack, not yet WAITING (queued) */
    SHAKE_WAKE,           /* waker.c: a wake read the state, before its transition */
    SHAKE_PREPARED,       /* waker.c: a wait opened, before the waker is published */
    SHAKE_NSITES
};

extern _Atomic uint32_t tide__shake_on; /* non-zero: shaking (written once, read everywhere) */

/* Out of line: a random pause (a spin, a sched_yield, or a short sleep) at `site`. */
void tide__shake_hit(unsigned site);

static inline void tide__shake_point(unsigned site) {
    if (TIDE_UNLIKELY(atomic_load_explicit(&tide__shake_on, MO_RELAXED))) tide__shake_hit(site);
}

/* Turn shaking on with `seed` (0: off). For tests; TIDE_SHAKE does it at start-up. */
void tide__shake_set(uint64_t seed);
/* Points that paused since start (a test checks that shaking happened). */
uint64_t tide__shake_hits(void);

#endif
