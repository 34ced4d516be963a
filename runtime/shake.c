/* Scheduler shake (see shake.h): random pauses at the scheduler's decision points.
 *
 * A point pauses with probability 1/4; a pause is usually a short spin (the other thread
 * gets a few hundred nanoseconds into the window), sometimes sched_yield (another thread on
 * this CPU runs through the window), rarely a sleep of up to 200 µs (a whole other worker's
 * turn fits in). The mix is the point: spins find fine races, sleeps find lost wake-ups. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "shake.h"

_Atomic uint32_t tide__shake_on;
static _Atomic uint64_t shake_seed;
static _Atomic uint64_t shake_threads; /* gives each thread its own stream */
static _Atomic uint64_t shake_hits;
static __thread uint64_t tls_rng;      /* 0: not yet seeded on this thread */

static uint64_t next_rand(void) {
    /* splitmix64: one multiply chain, good enough for timing noise. */
    uint64_t x = (tls_rng += 0x9E3779B97F4A7C15ULL);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

void tide__shake_hit(unsigned site) {
    if (!tls_rng) {
        uint64_t n = atomic_fetch_add_explicit(&shake_threads, 1, MO_RELAXED) + 1;
        tls_rng = atomic_load_explicit(&shake_seed, MO_RELAXED) * 0x100000001B3ULL + n * 7919;
        if (!tls_rng) tls_rng = 1;
    }
    uint64_t r = next_rand() ^ ((uint64_t)site << 56);
    if ((r & 3) != 0) return; /* 3 in 4 points pass untouched */
    atomic_fetch_add_explicit(&shake_hits, 1, MO_RELAXED);
    unsigned kind = (unsigned)(r >> 2) & 63;
    if (kind < 48) {
        unsigned spins = (unsigned)(r >> 8) & 1023;
        for (unsigned i = 0; i < spins; i++) tide__cpu_relax();
    } else if (kind < 62) {
        sched_yield();
    } else {
        struct timespec ts = {0, (long)(1000 + ((r >> 16) % 200000))};
        nanosleep(&ts, NULL);
    }
}

void tide__shake_set(uint64_t seed) {
    atomic_store_explicit(&shake_seed, seed, MO_RELAXED);
    atomic_store_explicit(&tide__shake_on, seed != 0, MO_RELEASE);
}

uint64_t tide__shake_hits(void) {
    return atomic_load_explicit(&shake_hits, MO_RELAXED);
}

__attribute__((constructor)) static void shake_from_env(void) {
    const char *v = getenv("TIDE_SHAKE");
    if (!v || !*v) return;
    uint64_t seed = strtoull(v, NULL, 0);
    if (seed) tide__shake_set(seed);
}
