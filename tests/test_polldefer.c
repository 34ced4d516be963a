/* The poll left to a busy worker while the CPUs are taken (runtime/idle.c,
 * tide__idle_poll_defer): the look at the calling thread's run-queue wait that decides it.
 * The behaviour with the poll deferred - no head-of-line stall, harvests still shared - is
 * test_hol and test_harvest run again with TIDE_POLL_DEFER=1 (tests/CMakeLists.txt). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "testutil.h"
#include "scheduler.h"

typedef struct spinner {
    int cpu;            /* the CPU both threads are pinned to */
    atomic_bool stop;   /* set by the test when it has looked */
} spinner_t;

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    cr_assert_eq(sched_setaffinity(0, sizeof set, &set), 0);
}

static void *spin_main(void *arg) {
    spinner_t *s = arg;
    pin(s->cpu);
    while (!atomic_load(&s->stop)) {
    }
    return NULL;
}

/* Two threads that never block, pinned to one CPU: each waits for it about half the time it
 * is runnable, far over the 1/8 that counts as contended. */
Test(polldefer, contention_seen_when_two_threads_share_a_cpu) {
    if (access("/proc/thread-self/schedstat", R_OK) != 0) return; /* no schedstat: nothing to see */
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cpu_set_t old;
    cr_assert_eq(sched_getaffinity(0, sizeof old, &old), 0);
    spinner_t s = {.cpu = -1};
    for (int c = 0; c < CPU_SETSIZE && s.cpu < 0; c++)
        if (CPU_ISSET(c, &old)) s.cpu = c;
    pin(s.cpu);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, spin_main, &s), 0);
    (void)tide__cpu_contended(); /* the first look only records where we start from */
    int64_t end = tt_mono_ns() + 200 * 1000000LL;
    while (tt_mono_ns() < end) {
    }
    bool contended = tide__cpu_contended();
    atomic_store(&s.stop, true);
    pthread_join(th, NULL);
    cr_assert_eq(sched_setaffinity(0, sizeof old, &old), 0);
    cr_assert(contended, "two spinning threads on one CPU were not seen as contended");
    tt_leaks_end(&l);
}
