/* The futex side of ck_ec for the workers' parking counter (see parkec.h). In ThreadSanitizer
 * builds this file is compiled without instrumentation (CMakeLists.txt) and holds the inline
 * calls too, so TSan never sees ck's counter. */
#if defined(TIDE_TSAN)
/* Uninstrumented: ck's own x86-64 code, as in release (see spin_tsan.c). */
#undef CK_USE_CC_BUILTINS
#define CK_USE_CC_BUILTINS 0
#endif

#include "parkec.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>

static int ec_gettime(const struct ck_ec_ops *ops, struct timespec *out) {
    (void)ops;
    int64_t now = tide__now(); /* CLOCK_MONOTONIC, the clock of tide__futex_wait's deadline */
    out->tv_sec = now / 1000000000;
    out->tv_nsec = now % 1000000000;
    return 0;
}

static int64_t ts_ns(const struct timespec *ts) {
    if (!ts) return INT64_MAX;
    if (ts->tv_sec >= INT64_MAX / 1000000000 - 1) return INT64_MAX;
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void ec_wait32(const struct ck_ec_wait_state *state, const uint32_t *addr,
                      uint32_t expected, const struct timespec *deadline) {
    (void)state;
    tide__futex_wait((_Atomic uint32_t *)(uintptr_t)addr, expected, ts_ns(deadline));
}

static void ec_wake32(const struct ck_ec_ops *ops, const uint32_t *addr) {
    (void)ops;
    tide__futex_wake((_Atomic uint32_t *)(uintptr_t)addr, INT_MAX);
}

static const struct ck_ec_ops ops = {
    .gettime = ec_gettime,
    .wait32 = ec_wait32,
    .wake32 = ec_wake32,
    /* ck spins this many reads before it sets the flag and sleeps: the worker already spun
     * (cfg.spin_ns) before parking, so hardly at all. */
    .busy_loop_iter = 1,
    /* ck's waits are timed at first (an exponential backoff from 2 ms, until a second has
     * passed), a guard its single-producer mode needs; tide's notifiers are multi-producer,
     * whose flag is never lost. So the longest first step ck takes (it stops at a second,
     * measured), then untimed: an idle worker wakes once for nothing, not at 2, 16, 128 ms
     * and 1 s. */
    .initial_wait_ns = UINT32_MAX,
};

const struct ck_ec_mode tide__parkec_mode = {.ops = &ops, .single_producer = false};

/* ck_ec 0.7.1 sleeps a whole backoff step (ops->wait32 gets the step's end, not the caller's
 * deadline) before it looks at the deadline: with the default 2 ms first step a worker whose
 * next timer was due in 1 ms woke after 2, one due in 10 ms after 16 (measured), and with the
 * long first step above after a second (test_sleep and test_parkec fail so). The predicate of
 * ck_ec_wait_pred may shorten each step: it ends the step at the caller's deadline. */
static int clamp_step(const struct ck_ec_wait_state *state, struct timespec *step_end) {
    const struct timespec *deadline = state->data;
    if (deadline->tv_sec < step_end->tv_sec ||
        (deadline->tv_sec == step_end->tv_sec && deadline->tv_nsec < step_end->tv_nsec))
        *step_end = *deadline;
    return 0;
}

int tide__parkec_wait(tide__parkec_t *p, uint32_t seen, int64_t deadline) {
    if (deadline == INT64_MAX)
        return ck_ec32_wait(&p->ec, &tide__parkec_mode, seen, NULL) == 0 ? 0 : -ETIMEDOUT;
    if (deadline < 0) deadline = 0;
    struct timespec ts = {.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000};
    int r = ck_ec32_wait_pred(&p->ec, &tide__parkec_mode, seen, clamp_step, &ts, &ts);
    return r == 0 ? 0 : -ETIMEDOUT;
}

#ifdef TIDE_TSAN
void tide__parkec_init(tide__parkec_t *p) { ck_ec32_init(&p->ec, 0); }
uint32_t tide__parkec_value(tide__parkec_t *p) { return ck_ec32_value(&p->ec); }
void tide__parkec_wake(tide__parkec_t *p) { ck_ec32_inc(&p->ec, &tide__parkec_mode); }
#endif
