/* tide — wakers and task watchers: the extension API, for building blocking primitives of
 * your own (a lock, a queue, an adapter for a callback library) that behave like tide's own:
 * they park the task, not the thread, and honour deadline scopes and cancellation. Every
 * primitive in sync/ and io/ is built on exactly this API and nothing else of the scheduler.
 *
 * Public, with the stability of the rest of the API: 0.x releases may change it from one minor
 * version to the next (the soname and the CMake package's version check say so), never within
 * one. Make wakers with tide_park_prepare and watches with tide_task_watch*; of their fields,
 * read only those the comments offer (a watch's fired and arg). See docs/api.md, "Wakers". */
#ifndef TIDE_WAKER_H
#define TIDE_WAKER_H

#include "tide/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- wakers: the mechanism every blocking primitive uses -------------------------------
 *
 *   tide_waker_t w = tide_park_prepare();   // 1. start a wait
 *   lock; if (ready) { unlock; return; } register w; unlock;   // 2. publish the waker
 *   int r = tide_park();                    // 3. sleep until woken, deadline or cancel
 *   lock; if still registered, unregister; unlock;  // 4. r != 0: withdraw the waker
 *
 * tide_wake(w) may be called from any thread, any number of times, even after the wait ended
 * or the task finished: only the first wake of a wait counts, later ones are no-ops. Waker
 * memory stays valid until the runtime is freed. In a plain thread the same calls block the
 * thread. */
typedef struct tide_waker {
    struct tide__task *task; /* who to wake */
    uint64_t seq;            /* which wait of that task; a stale seq makes the wake a no-op */
} tide_waker_t;

/* Begin a wait and return its waker. Any waker of an earlier wait becomes stale. */
tide_waker_t tide_park_prepare(void);

/* Sleep until the current wait's waker is woken (0), the deadline scope ends (-ETIMEDOUT) or
 * the caller is cancelled (-ECANCELED). Returns at once if the wake came already. */
int tide_park(void);

/* Like tide_park, with a description shown in task dumps ("channel recv", "mutex"...). */
int tide_park_on(const char *what);

/* Wake the wait w belongs to. Safe from any thread, any number of times. */
void tide_wake(tide_waker_t w);

/* Count one operation against the calling task's cooperative budget, yielding to other tasks
 * when it is spent. Primitives call it on their fast paths, so a task that never blocks still
 * lets others run. A no-op outside a task. */
void tide_budget_tick(void);

/* Completion watchers, for primitives that wait on tasks (gather, wait, select, groups):
 * register a waker to be woken when a task ends, without joining it. The watch lives in the
 * caller's memory (usually its stack) until it fires or is withdrawn. */
typedef struct tide_watch {
    tide__list_node_t link;  /* in the task's watcher list (owned by tide) */
    tide_waker_t waker;      /* woken once when the task ends */
    void (*fn)(struct tide_watch *w); /* or, if set, called instead (see tide_task_watch_fn) */
    void *arg;               /* for fn */
    int fired;               /* set by tide when woken (read after withdrawing) */
} tide_watch_t;

/* Register w on t: 0 registered, 1 t has already ended (w not registered), -ESRCH. */
int tide_task_watch(tide_task_t t, tide_watch_t *w, tide_waker_t waker);
/* Like tide_task_watch, but when t ends, fn(w) is called instead of a wake (w->arg = arg), so
 * one waiter can count many completions and wake itself only when it must. fn runs on the
 * thread where t ended, under t's lock: it must be short, must not block, and must not call
 * tide functions on t. */
int tide_task_watch_fn(tide_task_t t, tide_watch_t *w, void (*fn)(tide_watch_t *w), void *arg);
/* Withdraw w if it has not fired; afterwards tide no longer touches w. */
void tide_task_unwatch(tide_task_t t, tide_watch_t *w);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_WAKER_H */
