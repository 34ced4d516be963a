/* The idle worker's spin (runtime/worker.c, search): it shrinks to nothing while its spins find
 * no work (a server's idle worker) and comes back by probing. Whatever its length, no wake-up
 * may be lost: a worker that stopped spinning goes straight to sleep and must be woken by the
 * producer's notify. These tests first make every spin fail, then pass messages between
 * tasks that the two workers run, a wake-up at every hop; a lost one hangs the test. */
#include <pthread.h>
#include <stdlib.h>

#include "testutil.h"

#define ROUND_TRIPS TT_SCALE(20000)

/* The ping-pong peer, a plain thread: it receives on `in` and answers on `out`, so every
 * answer wakes the main task from outside the runtime (the global queue and a notify), while
 * both workers, with nothing else to run, are searching or asleep. */
typedef struct peer {
    tide_chan_t *in;  /* messages to this peer */
    tide_chan_t *out; /* its answers */
    int count;        /* messages it handled */
} peer_t;

static void *pong(void *arg) {
    peer_t *p = arg;
    int v;
    while (tide_chan_recv(p->in, &v) == 0) {
        p->count++;
        if (tide_chan_send(p->out, &v) < 0) break;
    }
    return NULL;
}

/* Both workers idle many times with nothing to find (the main task sleeps, its timer is the
 * only work), so their spins fail and die down; then a round trip per message. */
static int spin_off_then_ping_pong(void *arg) {
    (void)arg;
    for (int i = 0; i < 64; i++) cr_assert_eq(tide_sleep(TIDE_USEC(100)), 0);
    tide_chan_t *to, *from;
    cr_assert_eq(tide_chan_new(&to, sizeof(int), 1), 0);
    cr_assert_eq(tide_chan_new(&from, sizeof(int), 1), 0);
    peer_t p = {to, from, 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, pong, &p), 0);
    for (int i = 0; i < ROUND_TRIPS; i++) {
        cr_assert_eq(tide_chan_send(to, &i), 0);
        int v = -1;
        cr_assert_eq(tide_chan_recv(from, &v), 0);
        cr_assert_eq(v, i);
        /* Now and then let both workers run dry again, so searches keep failing. */
        if (i % 1000 == 999) cr_assert_eq(tide_sleep(TIDE_USEC(50)), 0);
    }
    tide_chan_close(to);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(p.count, ROUND_TRIPS);
    tide_chan_free(to);
    tide_chan_free(from);
    return 0;
}

Test(spin, messages_pass_after_the_spin_died_down) {
    tt_run(spin_off_then_ping_pong, NULL, 2);
}

Test(spin, messages_pass_with_the_spin_off) {
    /* TIDE_SPIN_NS is read when the runtime is configured (tide_config_t.spin_ns 0). */
    setenv("TIDE_SPIN_NS", "-1", 1);
    tt_run(spin_off_then_ping_pong, NULL, 2);
    unsetenv("TIDE_SPIN_NS");
}
