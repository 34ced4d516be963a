/* The hierarchical timing wheel (see timer.h). Levels are chosen by the highest bit in which
 * a timer's tick differs from the wheel's elapsed tick, so every timer on a lower level expires
 * before any on a higher one, and the earliest expiry is always in the lowest occupied level.
 * Expiring a slot of a higher level re-inserts its timers closer to the present ("cascading"). */
#include "timer.h"

#include <string.h>

#define SLOT_MASK ((uint64_t)TIDE_WHEEL_SLOTS - 1)
#define MAX_TICKS ((uint64_t)1 << (6 * TIDE_WHEEL_LEVELS))

static inline uint64_t slot_range(unsigned level) { return (uint64_t)1 << (6 * level); }

void tide__wheel_init(tide__wheel_t *w, int64_t origin) {
    memset(w, 0, sizeof *w);
    atomic_init(&w->count, 0);
    w->origin = origin;
}

static unsigned level_for(uint64_t elapsed, uint64_t when) {
    uint64_t masked = (elapsed ^ when) | SLOT_MASK;
    if (masked >= MAX_TICKS) masked = MAX_TICKS - 1;
    unsigned significant = 63u - (unsigned)__builtin_clzll(masked);
    return significant / 6;
}

static void slot_insert(tide__wheel_t *w, tide__timer_t *t) {
    /* Beyond the wheel's range a timer waits in the farthest slot and keeps its real tick:
     * when that slot comes round it is re-inserted, not fired (it never fires early). */
    uint64_t at = t->when - w->elapsed >= MAX_TICKS ? w->elapsed + MAX_TICKS - 1 : t->when;
    unsigned level = level_for(w->elapsed, at);
    unsigned slot = (unsigned)((at >> (6 * level)) & SLOT_MASK);
    t->level = (uint8_t)level;
    t->slot = (uint8_t)slot;
    t->prev = NULL;
    t->next = w->slots[level][slot];
    if (t->next) t->next->prev = t;
    w->slots[level][slot] = t;
    w->occupied[level] |= (uint64_t)1 << slot;
}

static void slot_remove(tide__wheel_t *w, tide__timer_t *t) {
    if (t->prev) t->prev->next = t->next;
    else w->slots[t->level][t->slot] = t->next;
    if (t->next) t->next->prev = t->prev;
    if (!w->slots[t->level][t->slot]) w->occupied[t->level] &= ~((uint64_t)1 << t->slot);
    t->next = t->prev = NULL;
}

static uint64_t tick_of(tide__wheel_t *w, int64_t deadline) {
    if (deadline <= w->origin) return 0;
    uint64_t d = (uint64_t)(deadline - w->origin);
    return (d + TIDE_TICK_NS - 1) / TIDE_TICK_NS; /* round up: never early */
}

bool tide__timer_arm(tide__wheel_t *w, tide__timer_t *t, int64_t deadline, uint64_t seq) {
    uint64_t when = tick_of(w, deadline);
    tide__spin_lock(&w->lock);
    if (when <= w->elapsed) {
        tide__spin_unlock(&w->lock);
        return false;
    }
    t->when = t->due = when;
    t->seq = seq;
    slot_insert(w, t);
    tide__count(w->count, 1);
    atomic_store_explicit(&t->wheel, w, MO_RELEASE);
    tide__spin_unlock(&w->lock);
    return true;
}

bool tide__timer_rearm(tide__wheel_t *w, tide__timer_t *t, int64_t deadline, uint64_t seq) {
    tide__wheel_t *on = atomic_load_explicit(&t->wheel, MO_ACQUIRE);
    if (on) {
        tide__spin_lock(&on->lock);
        if (atomic_load_explicit(&t->wheel, MO_RELAXED) == on) {
            uint64_t due = tick_of(on, deadline);
            if (due > on->elapsed && t->when <= due) {
                t->due = due;
                t->seq = seq;
                tide__spin_unlock(&on->lock);
                return true;
            }
            slot_remove(on, t);
            tide__count(on->count, -1);
            atomic_store_explicit(&t->wheel, NULL, MO_RELAXED);
        }
        tide__spin_unlock(&on->lock);
    }
    return tide__timer_arm(w, t, deadline, seq);
}

void tide__timer_disarm(tide__timer_t *t) {
    tide__wheel_t *w = atomic_load_explicit(&t->wheel, MO_ACQUIRE);
    if (!w) return;
    tide__spin_lock(&w->lock);
    /* It may have fired (and been disarmed) while we took the lock. */
    if (atomic_load_explicit(&t->wheel, MO_RELAXED) == w) {
        slot_remove(w, t);
        tide__count(w->count, -1);
        atomic_store_explicit(&t->wheel, NULL, MO_RELAXED);
    }
    tide__spin_unlock(&w->lock);
}

/* Earliest occupied slot: its level, slot and the tick at which it is due. */
static bool next_expiration(tide__wheel_t *w, unsigned *level_out, unsigned *slot_out,
                            uint64_t *deadline_out) {
    for (unsigned level = 0; level < TIDE_WHEEL_LEVELS; level++) {
        uint64_t occ = w->occupied[level];
        if (!occ) continue;
        uint64_t range = slot_range(level);
        uint64_t level_range = range * TIDE_WHEEL_SLOTS;
        unsigned now_slot = (unsigned)((w->elapsed / range) & SLOT_MASK);
        uint64_t rotated = now_slot ? (occ >> now_slot) | (occ << (64 - now_slot)) : occ;
        unsigned slot = ((unsigned)__builtin_ctzll(rotated) + now_slot) & SLOT_MASK;
        uint64_t level_start = w->elapsed & ~(level_range - 1);
        uint64_t deadline = level_start + slot * range;
        if (deadline <= w->elapsed) deadline += level_range;
        *level_out = level;
        *slot_out = slot;
        *deadline_out = deadline;
        return true;
    }
    return false;
}

#define FIRE_BATCH 32

unsigned tide__wheel_poll(tide__wheel_t *w, int64_t now,
                          void (*fire)(tide__timer_t *t, uint64_t seq)) {
    uint64_t now_tick = now <= w->origin ? 0 : (uint64_t)(now - w->origin) / TIDE_TICK_NS;
    unsigned fired = 0, n = 0;
    tide__timer_t *batch[FIRE_BATCH]; /* expired, disarmed, not fired yet */
    uint64_t seqs[FIRE_BATCH];        /* the wait each is to wake */
    tide__spin_lock(&w->lock);
    unsigned level, slot;
    uint64_t deadline;
    while (w->count && next_expiration(w, &level, &slot, &deadline) && deadline <= now_tick) {
        tide__timer_t *list = w->slots[level][slot];
        w->slots[level][slot] = NULL;
        w->occupied[level] &= ~((uint64_t)1 << slot);
        w->elapsed = deadline;
        while (list) {
            tide__timer_t *t = list;
            list = t->next;
            t->next = t->prev = NULL;
            if (t->due > w->elapsed) {
                t->when = t->due; /* re-armed for later (rearm): not due yet, move it on */
                slot_insert(w, t);
            } else if (t->when <= w->elapsed) {
                /* Read the wait's sequence before letting go of the timer: once `wheel` is
                 * NULL the task (woken by someone else meanwhile) may re-arm it for its next
                 * wait, and firing with that wait's sequence would end it early. The batch
                 * keeps the owner's address (owners are type-stable records) and that
                 * sequence: a stale one makes the fire a no-op. */
                __builtin_prefetch((char *)t + w->hot, 1, 3);
                seqs[n] = t->seq;
                batch[n++] = t;
                tide__count(w->count, -1);
                atomic_store_explicit(&t->wheel, NULL, MO_RELEASE);
                if (n == FIRE_BATCH) {
                    for (unsigned i = 0; i < n; i++) fire(batch[i], seqs[i]);
                    fired += n;
                    n = 0;
                }
            } else {
                slot_insert(w, t); /* cascade to a lower level */
            }
        }
    }
    for (unsigned i = 0; i < n; i++) fire(batch[i], seqs[i]);
    fired += n;
    if (now_tick > w->elapsed) w->elapsed = now_tick;
    tide__spin_unlock(&w->lock);
    return fired;
}

int64_t tide__wheel_next(tide__wheel_t *w) {
    unsigned level, slot;
    uint64_t deadline;
    int64_t r = INT64_MAX;
    tide__spin_lock(&w->lock);
    if (w->count && next_expiration(w, &level, &slot, &deadline))
        r = w->origin + (int64_t)(deadline * TIDE_TICK_NS);
    tide__spin_unlock(&w->lock);
    return r;
}
