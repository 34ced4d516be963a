/* The scheduler shake mode (runtime/shake.h): off, its points do nothing; on, they pause at
 * the scheduler's decision points, and the runtime still delivers everything (the whole suite
 * runs under it too: scripts/test.sh shake). */
#include "testutil.h"

#include "shake.h"

#define PAIRS 8
#define ROUNDS TT_SCALE(2000)

typedef struct pp {
    tide_chan_t *ping, *pong; /* rendezvous channels: every message is a wake each way */
    uint64_t sum;  /* values the ponger saw */
} pp_t;

static int ponger(void *arg) {
    pp_t *p = arg;
    uint64_t v;
    int r;
    while ((r = tide_chan_recv(p->ping, &v)) == 0) {
        p->sum += v;
        cr_assert_eq(tide_chan_send(p->pong, &v), 0);
    }
    return r == -EPIPE ? 0 : r;
}

static int pinger(void *arg) {
    pp_t *p = arg;
    for (uint64_t i = 1; i <= ROUNDS; i++) {
        uint64_t back = 0;
        cr_assert_eq(tide_chan_send(p->ping, &i), 0);
        cr_assert_eq(tide_chan_recv(p->pong, &back), 0);
        cr_assert_eq(back, i);
        if (i % 64 == 0) tide_sleep(1000);
    }
    return tide_chan_close(p->ping);
}

/* Ping-pong pairs across the workers, sleeps, spawns: wakes of every kind. */
static int ping_pong(void *unused) {
    pp_t p[PAIRS];
    tide_task_t a[PAIRS], b[PAIRS];
    for (int i = 0; i < PAIRS; i++) {
        p[i].sum = 0;
        cr_assert_eq(tide_chan_new(&p[i].ping, sizeof(uint64_t), 0), 0);
        cr_assert_eq(tide_chan_new(&p[i].pong, sizeof(uint64_t), 0), 0);
        cr_assert_eq(tide_spawn(&b[i], ponger, &p[i]), 0);
        cr_assert_eq(tide_spawn(&a[i], pinger, &p[i]), 0);
    }
    for (int i = 0; i < PAIRS; i++) {
        int st = -1;
        cr_assert_eq(tide_join(a[i], &st), 0);
        cr_assert_eq(st, 0);
        cr_assert_eq(tide_join(b[i], &st), 0);
        cr_assert_eq(st, 0);
        cr_assert_eq(p[i].sum, (uint64_t)ROUNDS * (ROUNDS + 1) / 2, "pair %d lost a message", i);
        tide_chan_free(p[i].ping);
        tide_chan_free(p[i].pong);
    }
    return 0;
}

Test(shake, on_it_pauses_and_nothing_is_lost) {
    for (unsigned workers = 1; workers <= 4; workers *= 2) {
        uint64_t before = tide__shake_hits();
        tide__shake_set(0x5eed + workers);
        tt_run(ping_pong, NULL, workers);
        tide__shake_set(0);
        cr_assert_gt(tide__shake_hits(), before, "no shake point paused with %u workers", workers);
    }
}

Test(shake, off_its_points_do_nothing) {
    tide__shake_set(0);
    uint64_t before = tide__shake_hits();
    tt_run(ping_pong, NULL, 2);
    cr_assert_eq(tide__shake_hits(), before);
}
