/* select: wait on channel sends and receives, task ends, events and timeouts at once; exactly
 * one case fires.
 *
 * Go's scheme. Every channel and event involved is locked (in address order, each once);
 * the cases are polled in a random order (or array order with TIDE_SELECT_BIASED) and the
 * first ready one is performed, all under those locks. If none is ready, a wait-queue node
 * per case is queued on its object, all sharing one claim word and the task's one waker,
 * and the task parks. Whoever completes a node must win the claim first (waitq.h), so only
 * one case can ever fire; the losers are dropped by whoever meets them, or withdrawn by the
 * task when it wakes (under all the locks again, after which nobody can claim).
 *
 * Task ends come through completion watchers and TIDE_SEL_DEADLINE through a deadline scope
 * around the park; neither has a side effect, so the task decides them itself after waking,
 * once the claim shows that no channel or event case fired. A case that fired as the
 * caller's own deadline or cancel arrived wins: the operation happened, it is reported. */
#include <limits.h>

#include "chan_internal.h"
#include "event_internal.h"

#define SMALL 8

/* Random case order. Thread-local state read through a non-inlined accessor (a task may
 * resume on another thread, so no TLS address may be cached across a park). */
static __thread uint64_t rng_state;

static TIDE_NOINLINE uint32_t rng_next(void) {
    __asm__ __volatile__("" ::: "memory");
    uint64_t x = rng_state;
    if (!x) x = (uint64_t)tide_now() ^ (uint64_t)(uintptr_t)&rng_state ^ 0x9E3779B97F4A7C15ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return (uint32_t)(x >> 32);
}

typedef struct scratch {
    unsigned *order;            /* cases in polling order */
    tide__sync_waiter_t *nodes;      /* one per case (channel and event cases use theirs) */
    tide_watch_t *watches;      /* one per case (join cases use theirs) */
    uint8_t *watched;           /* join case i: 1 watch registered, 2 task already ended */
    _Atomic uint32_t **locks;   /* distinct locks of the channels and events, sorted */
    size_t nlocks;
    void *heap;                 /* the allocation behind the arrays (n > SMALL) */
    size_t heap_size;
} scratch_t;

static _Atomic uint32_t *case_lock(const tide_sel_t *c) {
    if (c->kind == TIDE_SEL_SEND || c->kind == TIDE_SEL_RECV) return &c->chan->lock;
    if (c->kind == TIDE_SEL_EVENT) return tide__event_lock(c->event);
    return NULL;
}

static int cmp_lock(const void *a, const void *b) {
    uintptr_t x = (uintptr_t) * (_Atomic uint32_t *const *)a;
    uintptr_t y = (uintptr_t) * (_Atomic uint32_t *const *)b;
    return x < y ? -1 : x > y;
}

static void lock_all(scratch_t *s) {
    for (size_t i = 0; i < s->nlocks; i++) tide__sync_lock(s->locks[i]);
}

static void unlock_all(scratch_t *s) {
    for (size_t i = s->nlocks; i-- > 0;) tide__sync_unlock(s->locks[i]);
}

static void unwatch_all(tide_sel_t *cases, size_t n, scratch_t *s) {
    for (size_t i = 0; i < n; i++) {
        if (cases[i].kind == TIDE_SEL_JOIN && s->watched[i] == 1)
            tide_task_unwatch(cases[i].task, &s->watches[i]);
    }
}

static int check_cases(const tide_sel_t *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const tide_sel_t *c = &cases[i];
        switch (c->kind) {
        case TIDE_SEL_NONE:
        case TIDE_SEL_DEADLINE:
        case TIDE_SEL_JOIN:
            break;
        case TIDE_SEL_SEND:
        case TIDE_SEL_RECV:
            if (!tide__chan_ok(c->chan) || !c->elem) return -EINVAL;
            break;
        case TIDE_SEL_EVENT:
            if (!tide__event_ok(c->event)) return -EINVAL;
            break;
        default:
            return -EINVAL;
        }
    }
    return 0;
}

static int scratch_init(scratch_t *s, size_t n, void *small, size_t small_size) {
    size_t per = sizeof(unsigned) + sizeof(tide__sync_waiter_t) + sizeof(tide_watch_t) +
                 sizeof(uint8_t) + sizeof(_Atomic uint32_t *);
    size_t size = n * per + 64;
    s->heap = NULL;
    s->heap_size = 0;
    char *p = small;
    if (size > small_size) {
        p = s->heap = tide__alloc(size);
        if (!p) return -ENOMEM;
        s->heap_size = size;
    }
    /* Largest alignment first. */
    s->nodes = (tide__sync_waiter_t *)(void *)p;
    p += n * sizeof(tide__sync_waiter_t);
    s->watches = (tide_watch_t *)(void *)p;
    p += n * sizeof(tide_watch_t);
    s->locks = (_Atomic uint32_t **)(void *)p;
    p += n * sizeof(_Atomic uint32_t *);
    s->order = (unsigned *)(void *)p;
    p += n * sizeof(unsigned);
    s->watched = (uint8_t *)p;
    return 0;
}

/* Poll the cases in order (all locks held). Returns the ready case or -1; its result in
 * *res, a task to wake in *wake. */
static int poll_cases(tide_sel_t *cases, size_t n, scratch_t *s, int *res, tide_waker_t *wake) {
    int64_t now = -1;
    for (size_t k = 0; k < n; k++) {
        unsigned i = s->order[k];
        tide_sel_t *c = &cases[i];
        int r;
        switch (c->kind) {
        case TIDE_SEL_SEND:
            r = tide__chan_send_locked(c->chan, c->elem, wake);
            if (r != -EAGAIN) {
                *res = r;
                return (int)i;
            }
            break;
        case TIDE_SEL_RECV:
            r = tide__chan_recv_locked(c->chan, c->elem, wake);
            if (r != -EAGAIN) {
                *res = r;
                return (int)i;
            }
            break;
        case TIDE_SEL_JOIN:
            if (s->watched[i] == 2) {
                *res = 0;
                return (int)i;
            }
            break;
        case TIDE_SEL_EVENT:
            if (tide__event_ready_locked(c->event)) {
                *res = 0;
                return (int)i;
            }
            break;
        case TIDE_SEL_DEADLINE:
            if (now < 0) now = tide_now();
            if (now >= c->deadline) {
                *res = -ETIMEDOUT;
                return (int)i;
            }
            break;
        default:
            break;
        }
    }
    return -1;
}

static int select_run(tide_sel_t *cases, size_t n, scratch_t *s) {
    tide__sel_t sel;
    int64_t earliest = TIDE_FOREVER;
    for (size_t i = 0; i < n; i++)
        if (cases[i].kind == TIDE_SEL_DEADLINE && cases[i].deadline < earliest)
            earliest = cases[i].deadline;

    for (;;) {
        atomic_init(&sel.fired, -1);
        tide_waker_t waker = tide_park_prepare();
        for (size_t i = 0; i < n; i++) {
            s->watched[i] = 0;
            if (cases[i].kind != TIDE_SEL_JOIN) continue;
            int r = tide_task_watch(cases[i].task, &s->watches[i], waker);
            if (r < 0) {
                unwatch_all(cases, n, s);
                return r;
            }
            s->watched[i] = r == 1 ? 2 : 1;
        }

        lock_all(s);
        int res = 0;
        tide_waker_t wake = {0};
        int ready = poll_cases(cases, n, s, &res, &wake);
        if (ready >= 0) {
            unlock_all(s);
            tide_wake(wake);
            unwatch_all(cases, n, s);
            cases[ready].result = res;
            tide_budget_tick();
            return ready;
        }
        for (size_t i = 0; i < n; i++) {
            tide_sel_t *c = &cases[i];
            tide__sync_waiter_t *w = &s->nodes[i];
            if (c->kind != TIDE_SEL_SEND && c->kind != TIDE_SEL_RECV && c->kind != TIDE_SEL_EVENT)
                continue;
            tide__waiter_init(w);
            w->waker = waker;
            w->sel = &sel;
            w->index = (unsigned)i;
            w->elem = c->elem;
            if (c->kind == TIDE_SEL_EVENT) {
                tide__event_enqueue_locked(c->event, w);
            } else {
                tide__waitq_push(c->kind == TIDE_SEL_SEND ? &c->chan->sendq : &c->chan->recvq, w);
            }
        }
        unlock_all(s);

        tide_scope_t scope;
        if (earliest != TIDE_FOREVER) tide_deadline_begin(&scope, earliest);
        int pr = tide_park_on("select");
        if (earliest != TIDE_FOREVER) tide_scope_end(&scope);

        lock_all(s);
        for (size_t i = 0; i < n; i++) {
            tide_sel_t *c = &cases[i];
            tide__sync_waiter_t *w = &s->nodes[i];
            if (c->kind == TIDE_SEL_EVENT) tide__event_withdraw_locked(c->event, w);
            else if (c->kind == TIDE_SEL_SEND && w->linked) tide__waitq_remove(&c->chan->sendq, w);
            else if (c->kind == TIDE_SEL_RECV && w->linked) tide__waitq_remove(&c->chan->recvq, w);
        }
        int fired = -1;
        atomic_compare_exchange_strong_explicit(&sel.fired, &fired, -2, memory_order_acq_rel,
                                                memory_order_acquire);
        if (fired >= 0) {
            cases[fired].result = s->nodes[fired].result;
        } else {
            /* A channel being freed woke us (misuse): report it as closed, and never touch
             * it again (it goes as soon as we unlock). */
            for (size_t k = 0; k < n && fired < 0; k++) {
                tide_sel_t *c = &cases[s->order[k]];
                if ((c->kind == TIDE_SEL_SEND || c->kind == TIDE_SEL_RECV) && c->chan->gone) {
                    fired = (int)s->order[k];
                    c->result = -EPIPE;
                }
            }
        }
        unlock_all(s);
        unwatch_all(cases, n, s);
        if (fired >= 0) return fired;
        /* No channel or event case fired: a task that ended, or our own timeout? */
        int64_t now = -1;
        for (size_t k = 0; k < n; k++) {
            unsigned i = s->order[k];
            if (cases[i].kind == TIDE_SEL_JOIN && s->watches[i].fired) {
                cases[i].result = 0;
                return (int)i;
            }
        }
        for (size_t k = 0; k < n; k++) {
            unsigned i = s->order[k];
            if (cases[i].kind != TIDE_SEL_DEADLINE) continue;
            if (now < 0) now = tide_now();
            if (now >= cases[i].deadline) {
                cases[i].result = -ETIMEDOUT;
                return (int)i;
            }
        }
        if (pr < 0) return pr;
        /* Woken with nothing to show (a stale claim): poll again. */
    }
}

int tide_select(tide_sel_t *cases, size_t n, int flags) {
    if ((!cases && n) || n > INT_MAX || (flags & ~TIDE_SELECT_BIASED)) return -EINVAL;
    int r = check_cases(cases, n);
    if (r < 0) return r;

    _Alignas(64) char small[SMALL * 160];
    scratch_t s;
    if ((r = scratch_init(&s, n, small, sizeof small)) < 0) return r;

    for (size_t i = 0; i < n; i++) s.order[i] = (unsigned)i;
    if (!(flags & TIDE_SELECT_BIASED)) {
        for (size_t i = n; i > 1; i--) {
            size_t j = rng_next() % i;
            unsigned t = s.order[i - 1];
            s.order[i - 1] = s.order[j];
            s.order[j] = t;
        }
    }
    s.nlocks = 0;
    for (size_t i = 0; i < n; i++) {
        _Atomic uint32_t *l = case_lock(&cases[i]);
        if (l) s.locks[s.nlocks++] = l;
    }
    qsort(s.locks, s.nlocks, sizeof *s.locks, cmp_lock);
    size_t u = 0;
    for (size_t i = 0; i < s.nlocks; i++)
        if (u == 0 || s.locks[u - 1] != s.locks[i]) s.locks[u++] = s.locks[i];
    s.nlocks = u;

    r = select_run(cases, n, &s);
    if (s.heap) tide__free(s.heap, s.heap_size);
    return r;
}
