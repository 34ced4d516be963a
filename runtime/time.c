/* The clock, sleeps and deadline scopes. A deadline scope only narrows: the effective deadline
 * is the earliest of the enclosing ones, and leaving a scope restores the one before. */
#include <errno.h>

#include "log.h"
#include "scheduler.h"

int64_t tide_now(void) {
    return tide__now();
}

static int sleep_until(int64_t until, int64_t now) {
    tide__task_t *self = tide__self();
    for (;;) {
        tide_park_prepare(); /* nobody else gets this waker: only the timer ends the wait */
        int r = tide__park_until(self, "sleep", until, now);
        if (r == -ETIMEDOUT) {
            /* The deadline that passed was `until` (timers never fire early), unless the
             * scope's came first. */
            return until <= self->deadline ? 0 : -ETIMEDOUT;
        }
        if (r < 0) return r;
        now = 0; /* r == 0 cannot come from anyone but a stray waker; sleep on */
    }
}

int tide_sleep_until(int64_t until) {
    return sleep_until(until, 0);
}

int tide_sleep(int64_t ns) {
    if (ns < 0) ns = 0;
    int64_t now = tide__now();
    int64_t until = ns > INT64_MAX - now ? INT64_MAX : now + ns;
    return sleep_until(until, now);
}

/* Open a scope on t (not the no-memory stand-in). 1 if it narrowed the deadline. */
static inline int narrow(tide_scope_t *scope, tide__task_t *t, int64_t deadline) {
    scope->saved_ = t->deadline;
    scope->shield_ = t->shield;
    scope->task_ = t;
    scope->depth_ = ++t->scope_depth;
    if (deadline >= t->deadline) return 0;
    t->deadline = deadline;
    return 1;
}

static int scope_begin(tide_scope_t *scope, tide__task_t *t, int64_t deadline) {
    if (TIDE_UNLIKELY(tide__self_nomem(t))) { /* shared: its waits fail anyway; not written */
        scope->saved_ = t->deadline;
        scope->shield_ = t->shield;
        scope->depth_ = 0;
        scope->task_ = NULL;
        return 0;
    }
    return narrow(scope, t, deadline);
}

void tide_deadline_begin(tide_scope_t *scope, int64_t deadline) {
    scope_begin(scope, tide__self(), deadline);
}

/* A plain thread (no task named), or debug mode's check that self is the caller (else this
 * would write another task's record). */
static TIDE_NOINLINE int begin_self_slow(tide_scope_t *scope, tide__task_t *t, int64_t deadline) {
    tide__task_t *me = tide__self();
    if (t && t != me)
        TIDE__LOG(t->rt, TIDE_LOG_WARN,
                  "tide_deadline_begin_self: self is not the calling task (the scope is opened "
                  "on the caller)");
    return scope_begin(scope, me, deadline);
}

int tide_deadline_begin_self(tide_scope_t *scope, tide_task_t self, int64_t deadline) {
    tide__task_t *t = self.ptr; /* a task's record: never a thread's stand-in */
    if (TIDE_LIKELY(t != NULL && !t->rt->cfg.debug)) return narrow(scope, t, deadline);
    return begin_self_slow(scope, t, deadline);
}

void tide_timeout_begin(tide_scope_t *scope, int64_t ns) {
    int64_t now = tide__now();
    int64_t deadline = ns < 0 ? now : (ns > INT64_MAX - now ? INT64_MAX : now + ns);
    tide_deadline_begin(scope, deadline);
}

void tide_scope_end(tide_scope_t *scope) {
    /* The task the scope was begun on (a scope opens and ends on the same task): no lookup. */
    tide__task_t *t = scope->task_;
    if (!t || scope->depth_ == 0) return; /* begun on the no-memory stand-in */
    if (TIDE_UNLIKELY(t->scope_depth != scope->depth_))
        tide__debug_scope_mismatch(t, "tide_scope_end", scope->depth_);
    /* Everything from what the scope saved: a shield or scope left open inside it ends with
     * it, so a forgotten tide_shield_end cannot leave the task deaf to cancellation. */
    t->scope_depth = scope->depth_ - 1;
    t->shield = scope->shield_;
    t->deadline = scope->saved_;
}

int tide__deadline_due(void) {
    tide__task_t *t = tide__self();
    if (atomic_load_explicit(&t->flags, MO_RELAXED) & TF_CANCELLED) return 1;
    return t->deadline != TIDE_FOREVER && !tide__before(t->deadline);
}

int64_t tide_deadline(void) {
    return tide__self()->deadline;
}
