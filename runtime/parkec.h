/* The counter a worker sleeps on when it parks on a futex: Concurrency Kit's event count
 * (ck_ec32, multi-producer). A notifier first sets its reason in the worker's `unpark` word
 * (UNPARK_NOTIFY, UNPARK_POKE), then increments the count; the sleeper reads the count, then
 * takes `unpark`, and sleeps only while the count is still what it read. ck_ec keeps a
 * "someone sleeps" flag in the count's top bit, so the increment makes a futex_wake system
 * call only when the worker really sleeps on the futex, not when it is awake, spinning, or
 * sleeping in the park hook's poll (which is woken by its eventfd, tide__kick_io_parked).
 *
 * The count cannot be the `unpark` word itself: ck_ec owns all 32 bits of its word (31 of
 * count, one flag), while the park hook's sleeper (io_sleep) and the poll watch need the
 * reason bits, and take them with an exchange that would wipe a count.
 *
 * Under ThreadSanitizer these are out of line in runtime/parkec.c, compiled without
 * instrumentation (ck's counter is touched with volatile loads and inline asm). The count
 * carries no data: what a wake-up hands over travels in `unpark`, a C11 atomic TSan sees. */
#ifndef TIDE_RUNTIME_PARKEC_H
#define TIDE_RUNTIME_PARKEC_H

#include <ck_ec.h>

#include "platform.h"

typedef struct tide__parkec {
    struct ck_ec32 ec; /* count (31 bits) | someone-sleeps flag (bit 31) */
} tide__parkec_t;

/* The futex wait and wake, tide's clock, and no spinning (the worker spun before parking). */
extern const struct ck_ec_mode tide__parkec_mode;

/* Sleep while the count is `seen`, until `deadline` (tide__now() time, INT64_MAX: none).
 * 0: the count moved (or a spurious return: look again); -ETIMEDOUT. */
int tide__parkec_wait(tide__parkec_t *p, uint32_t seen, int64_t deadline);

#ifdef TIDE_TSAN
void tide__parkec_init(tide__parkec_t *p);
uint32_t tide__parkec_value(tide__parkec_t *p);
void tide__parkec_wake(tide__parkec_t *p);
#else
static inline void tide__parkec_init(tide__parkec_t *p) { ck_ec32_init(&p->ec, 0); }
/* Read the count before looking at the reasons to wake (an acquire). */
static inline uint32_t tide__parkec_value(tide__parkec_t *p) { return ck_ec32_value(&p->ec); }
/* After storing the reason: count one more, and wake the worker if it sleeps on the futex. */
static inline void tide__parkec_wake(tide__parkec_t *p) { ck_ec32_inc(&p->ec, &tide__parkec_mode); }
#endif

#endif
