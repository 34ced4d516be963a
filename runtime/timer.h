/* Timers: a hierarchical timing wheel per worker (six levels of 64 slots, 1 ms resolution,
 * about two years of range), as in tokio and the Linux kernel. Insert, cancel and expiry
 * are O(1); the next expiry is found from per-level occupancy bitmaps, so hundreds of
 * thousands of pending timers cost nothing while they wait.
 *
 * A timer never fires early: its deadline is rounded up to the next tick and it fires once the
 * wheel has advanced to that tick. Each timer is embedded in a task (a task waits for one
 * thing at a time) and wakes exactly the wait it was armed for. The owning worker inserts and
 * expires; any thread may cancel, under the wheel's lock. */
#ifndef TIDE_RUNTIME_TIMER_H
#define TIDE_RUNTIME_TIMER_H

#include "platform.h"

#define TIDE_WHEEL_LEVELS 6
#define TIDE_WHEEL_SLOTS 64
#define TIDE_TICK_NS 1000000 /* 1 ms */

struct tide__wheel;

typedef struct tide__timer {
    struct tide__timer *next;            /* slot list */
    struct tide__timer *prev;
    uint64_t when;                       /* the tick of the slot it waits in */
    uint64_t due;                        /* the tick it fires at (>= when: see rearm) */
    uint64_t seq;                        /* the wait to wake */
    _Atomic(struct tide__wheel *) wheel; /* where it is armed; NULL when not armed */
    uint8_t level;                       /* its slot while armed */
    uint8_t slot;
} tide__timer_t;

typedef struct tide__wheel {
    tide__spin_t lock;     /* owner and cancellers */
    int64_t origin;        /* time of tick 0 (ns) */
    uint64_t elapsed;      /* ticks processed */
    _Atomic uint64_t count; /* armed timers (changed under the lock, peeked without it) */
    ptrdiff_t hot;         /* (char *)timer + hot: the line firing it touches first, fetched
                              ahead while a batch is collected (0: the timer's own) */
    uint64_t occupied[TIDE_WHEEL_LEVELS];  /* bit s: slot s of the level is not empty */
    tide__timer_t *slots[TIDE_WHEEL_LEVELS][TIDE_WHEEL_SLOTS];
} tide__wheel_t;

void tide__wheel_init(tide__wheel_t *w, int64_t origin);

/* Arm t to fire at deadline (ns) for wait seq. Returns false (not armed) if the deadline has
 * already been reached by the wheel. */
bool tide__timer_arm(tide__wheel_t *w, tide__timer_t *t, int64_t deadline, uint64_t seq);

/* tide__timer_arm for a timer that may still be armed, on any wheel, for an earlier wait of
 * its owner (a wait that ended otherwise leaves its timer armed: see waker.c). If it is and
 * waits for a tick no later than the new one, only its due tick and seq change, under that
 * wheel's lock: no list work, no second lock. When its slot comes round before it is due, the
 * poll moves it on instead of firing it. Otherwise (not armed, or armed for later) it is
 * (re)armed on `w`. Returns false if the deadline has already been reached (t is disarmed). */
bool tide__timer_rearm(tide__wheel_t *w, tide__timer_t *t, int64_t deadline, uint64_t seq);

/* Disarm t if still armed (any thread). */
void tide__timer_disarm(tide__timer_t *t);

/* Fire every timer due at `now` (ns): fire(t, seq) is called under the wheel's lock, with t
 * already disarmed. Timers fire in batches: while the expired list is walked, the line at
 * (char *)t + w->hot is prefetched, so the cache misses on thousands of cold owners expiring
 * together overlap instead of following one another. Returns how many fired. */
unsigned tide__wheel_poll(tide__wheel_t *w, int64_t now,
                          void (*fire)(tide__timer_t *t, uint64_t seq));

/* Time (ns) of the next expiry, or INT64_MAX if no timer is armed. */
int64_t tide__wheel_next(tide__wheel_t *w);

#endif
