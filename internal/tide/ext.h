/* Hooks for tide's own layers above the scheduler (io/ keeps its driver in a runtime slot).
 * Internal: not installed (internal/ is on the include path of tide's sources and tests
 * only); names start with tide__ and may change. The public extension API is tide/waker.h. */
#ifndef TIDE_EXT_H
#define TIDE_EXT_H

#include "tide/core.h"
#include "tide/waker.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TIDE__EXT_IO = 0, /* the I/O driver (io/driver.c) */
    TIDE__EXT_HTTP = 1,
};

/* The object in slot `slot` of rt, made by create(rt) on first use (under a lock, once);
 * destroy(obj) runs at tide_runtime_close after every task has ended and before the workers
 * stop. Returns NULL if create failed (it is tried again next time). */
void *tide__ext_get(tide_runtime_t *rt, int slot, void *(*create)(tide_runtime_t *),
                    void (*destroy)(void *));

/* I/O readiness polled by the workers themselves (tokio's model): a worker about to sleep
 * waits in poll() instead of on its futex, and a busy worker calls poll() without blocking
 * every 61 scheduler ticks, so readiness reaches tasks without a hop through another thread.
 * poll(ctx, efd, timeout_ns) must wait for readiness on its own sources and on the runtime's
 * wake-up eventfd `efd` (readable: return, after reading it), at most timeout_ns (negative:
 * no limit; 0: do not block), dispatch what it found (tide_wake), and return how many events
 * it dispatched. Only one worker polls at a time. */
typedef struct tide__park_hook {
    int (*poll)(void *ctx, int efd, int64_t timeout_ns);
    void *ctx;
} tide__park_hook_t;

/* Install hook (it must stay valid until removed), or remove it with NULL: removal returns
 * once no worker is inside poll(). Returns the eventfd the hook must watch (>= 0), 0 on
 * removal, or a negative errno. */
int tide__runtime_park_hook(tide_runtime_t *rt, const tide__park_hook_t *hook);

/* tide_park_on with a deadline of its own: sleep until the current wait's waker is woken
 * (0), `deadline` or the caller's scope deadline passes, whichever is earlier (-ETIMEDOUT),
 * or a cancel (-ECANCELED). For the I/O calls that take a deadline argument (io/tcp.c): a
 * deadline passed to the wait costs no scope, and no clock read unless the call parks. */
int tide__park_until_on(const char *what, int64_t deadline);

/* tide__park_until_on for a caller that has its task at hand: `self` is the task of the
 * waker tide_park_prepare just returned (the caller's own), so the park need not look it up
 * again, and a parked task's stack holds one frame less. */
int tide__park_self_until(struct tide__task *self, const char *what, int64_t deadline);

/* The waker of t's current wait, for a primitive that keeps only the task of a waiter (one
 * pointer, where a whole waker does not fit): valid if t cannot have begun another wait
 * since it published itself, i.e. taken under the lock t must take to withdraw. */
tide_waker_t tide__waker_current(struct tide__task *t);

/* The runtime's log (runtime/log.c). TIDE__LOG(rt, TIDE_LOG_INFO, "fmt", ...) writes a line
 * through rt's log callback, or to stderr; rt may be NULL (stderr, whichever runtime enabled
 * the level). While no runtime logs at `level`, it is one predictable branch on a read-mostly
 * global and the arguments are not evaluated: fine anywhere but the hottest paths. */
extern int tide__log_max;
void tide__log(tide_runtime_t *rt, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define TIDE__LOG(rt, level, ...)                                                            \
    do {                                                                                     \
        if (__builtin_expect(__atomic_load_n(&tide__log_max, __ATOMIC_RELAXED) >= (level), 0)) \
            tide__log((rt), (level), __VA_ARGS__);                                           \
    } while (0)

/* Live-object counters for leak checks in tests: tasks, stacks and (from io/) open handles. */
typedef struct tide__leaks {
    uint64_t tasks_live;  /* spawned tasks whose record is not yet recycled */
    uint64_t stacks_live; /* stacks owned by tasks */
} tide__leaks_t;
void tide__runtime_leaks(tide_runtime_t *rt, tide__leaks_t *out);
/* Bytes of heap tide holds right now, over all runtimes (zero-sum over a runtime's life). */
int64_t tide__heap_live(void);

#ifdef __cplusplus
}
#endif
#endif
