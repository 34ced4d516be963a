/* tide_barrier_t: parties meet every round, exactly one is the serial party; a party that
 * leaves early (deadline, cancel) breaks the round for the others (-EPIPE) and the next
 * round starts clean; misuse. */
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

static int basics(void *arg) {
    tide_barrier_t b;
    cr_assert_eq(tide_barrier_init(&b, 0), -EINVAL, "zero parties");
    cr_assert_eq(tide_barrier_init(NULL, 2), -EINVAL);
    cr_assert_eq(tide_barrier_init(&b, 1), 0);
    for (int i = 0; i < 5; i++) cr_assert_eq(tide_barrier_wait(&b), 1, "alone: always serial");
    cr_assert_eq(tide_barrier_destroy(&b), 0);
    cr_assert_eq(tide_barrier_wait(&b), -EINVAL, "destroyed");
    cr_assert_eq(tide_barrier_destroy(&b), -EINVAL);
    cr_assert_eq(tide_barrier_wait(NULL), -EINVAL);
    return 0;
}

Test(barrier, semantics_and_misuse) {
    tt_run(basics, NULL, 0);
}

enum { PARTIES = 64 };

typedef struct team {
    tide_barrier_t b;
    int rounds;
    _Atomic int arrived[1000];  /* per round: parties that reached the barrier */
    _Atomic int serial[1000];   /* per round: parties that got 1 */
} team_t;

static int member(void *arg) {
    team_t *t = arg;
    for (int r = 0; r < t->rounds; r++) {
        tt_random_yields(2);
        atomic_fetch_add(&t->arrived[r], 1);
        int s = tide_barrier_wait(&t->b);
        cr_assert(s == 0 || s == 1, "wait: %d", s);
        cr_assert_eq(atomic_load(&t->arrived[r]), PARTIES, "released before all arrived");
        if (s == 1) atomic_fetch_add(&t->serial[r], 1);
    }
    return 0;
}

static int rounds_main(void *arg) {
    team_t *t = arg;
    tide_task_t ts[PARTIES];
    for (int i = 0; i < PARTIES; i++) cr_assert_eq(tide_spawn(&ts[i], member, t), 0);
    for (int i = 0; i < PARTIES; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    for (int r = 0; r < t->rounds; r++)
        cr_assert_eq(atomic_load(&t->serial[r]), 1, "round %d: %d serial parties", r,
                     atomic_load(&t->serial[r]));
    cr_assert_eq(tide_barrier_destroy(&t->b), 0);
    return 0;
}

Test(barrier, every_round_exactly_one_serial) {
    team_t *t = calloc(1, sizeof *t);
    t->rounds = TT_SCALE(1000);
    cr_assert_eq(tide_barrier_init(&t->b, PARTIES), 0);
    tt_run(rounds_main, t, 0);
    free(t);
}

/* One party gives up (deadline or cancel) in each round: everybody else waiting in that
 * round gets -EPIPE; then a full round works. */
typedef struct breaker {
    tide_barrier_t b;
    _Atomic int epipe, ok, early;
} breaker_t;

static int patient(void *arg) {
    breaker_t *k = arg;
    int r = tide_barrier_wait(&k->b);
    if (r == -EPIPE) atomic_fetch_add(&k->epipe, 1);
    else if (r >= 0) atomic_fetch_add(&k->ok, 1);
    else atomic_fetch_add(&k->early, 1);
    return 0;
}

static int impatient(void *arg) {
    breaker_t *k = arg;
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_MSEC(5));
    int r = tide_barrier_wait(&k->b);
    tide_scope_end(&sc);
    cr_assert_eq(r, -ETIMEDOUT);
    return 0;
}

static int break_main(void *arg) {
    breaker_t *k = arg;
    enum { N = 8 };
    for (int round = 0; round < TT_SCALE(30); round++) {
        atomic_store(&k->epipe, 0);
        atomic_store(&k->ok, 0);
        atomic_store(&k->early, 0);
        tide_task_t ts[N];
        /* N-1 arrive; the impatient one among them leaves: the others are broken */
        bool cancel = round % 2;
        for (int i = 0; i < N - 2; i++) cr_assert_eq(tide_spawn(&ts[i], patient, k), 0);
        cr_assert_eq(tide_spawn(&ts[N - 2], cancel ? patient : impatient, k), 0);
        tide_sleep(TIDE_MSEC(2));
        if (cancel) {
            tide_sleep(TIDE_MSEC(5));
            tide_cancel(ts[N - 2]);
        }
        for (int i = 0; i < N - 1; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
        int broken = atomic_load(&k->epipe), early = atomic_load(&k->early);
        cr_assert_eq(atomic_load(&k->ok), 0);
        cr_assert_eq(broken + early, cancel ? N - 1 : N - 2);
        cr_assert_eq(broken, N - 2, "round %d: %d broken", round, broken);
        /* a complete round afterwards */
        atomic_store(&k->ok, 0);
        for (int i = 0; i < N; i++) cr_assert_eq(tide_spawn(&ts[i], patient, k), 0);
        for (int i = 0; i < N; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
        cr_assert_eq(atomic_load(&k->ok), N, "the round after a broken one works");
    }
    cr_assert_eq(tide_barrier_destroy(&k->b), 0);
    return 0;
}

Test(barrier, early_leaver_breaks_the_round) {
    static breaker_t k;
    cr_assert_eq(tide_barrier_init(&k.b, 8), 0);
    tt_run(break_main, &k, 0);
}
