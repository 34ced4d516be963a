/* The state lock's contended path (see common.h). */
#include <sched.h>
#include <time.h>

#include "common.h"

#define LOCK_SPINS 24 /* with the back-off, about a thousand pauses in all */

/* The futex's clock, read afresh (tide_now() may be a worker's cached reading). */
static int64_t mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void tide__sync_lock_slow(_Atomic uint32_t *l) {
    /* Back off exponentially between looks: every look pulls the line away from the holder,
     * whose unlock then has to fetch it back. */
    unsigned pause = 1;
    for (int i = 0; i < LOCK_SPINS; i++) {
        uint32_t v = atomic_load_explicit(l, memory_order_relaxed);
        if (v == 0 && atomic_compare_exchange_weak_explicit(l, &v, 1, memory_order_acquire,
                                                            memory_order_relaxed))
            return;
        if (v == 2) break; /* others sleep already: join them rather than burn the CPU */
        for (unsigned k = 0; k < pause; k++) tide__cpu_relax();
        if (pause < 64) pause <<= 1;
    }
    /* Mark the lock contended (2) whenever we take it from here on: we cannot know whether
     * other sleepers remain, so the unlock that follows must wake one. Sleep in bounded
     * stretches: an unlock that looked just before our mark stores 0 without waking us
     * (common.h), and then only our own look finds the lock free. */
    while (atomic_exchange_explicit(l, 2, memory_order_acquire) != 0)
        tide__futex_wait(l, 2, mono_now() + TIDE__SYNC_SLEEP_NS);
}

void tide__sync_pause(void) {
    if (tide_yield() == -EPERM) sched_yield();
}
