/* The state lock's contended path (see common.h). */
#include <sched.h>

#include "common.h"

#define LOCK_SPINS 24 /* with the back-off, about a thousand pauses in all */

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
     * other sleepers remain, so the unlock that follows must wake one. */
    while (atomic_exchange_explicit(l, 2, memory_order_acquire) != 0)
        tide__futex_wait(l, 2, INT64_MAX);
}

void tide__sync_pause(void) {
    if (tide_yield() == -EPERM) sched_yield();
}
