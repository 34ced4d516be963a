/* Zero-filled embeddable types (docs/api.md, Conventions): every sync type a caller declares
 * by value but the barrier works with no *_init when its memory is all zero (a static, `= {0}`,
 * calloc, memset), including its blocking path (a parked waiter on the zero wait queue);
 * destroy still ends it (-EINVAL afterwards), and *_init afterwards revives it. The barrier
 * needs its init and says so with -EINVAL. The value types of the core read all-zero as
 * "defaults" or "none". Each object is first filled with garbage and then zeroed, so nothing
 * passes by luck. */
#include <stdatomic.h>
#include <string.h>

#include "testutil.h"

#define ZERO(x)                          \
    do {                                 \
        memset(&(x), 0xa5, sizeof(x));   \
        memset(&(x), 0, sizeof(x));      \
    } while (0)

/* Long enough that a spawned task has usually parked; the assertions hold either way. */
#define PARK_GAP TIDE_MSEC(5)

/* ---- mutex ---------------------------------------------------------------------------- */

static tide_mutex_t static_mutex; /* zero by being static: no initializer, no init */

static int mutex_locker(void *arg) {
    tide_mutex_t *m = arg;
    int r = tide_mutex_lock(m); /* parks: the main task holds it */
    if (r == 0) r = tide_mutex_unlock(m);
    return r;
}

static int mutex_zero(void *arg) {
    cr_assert_eq(tide_mutex_try_lock(&static_mutex), 0, "static zero mutex: unlocked");
    cr_assert_eq(tide_mutex_unlock(&static_mutex), 0);
    tide_mutex_t m;
    ZERO(m);
    cr_assert_eq(tide_mutex_lock(&m), 0);
    cr_assert_eq(tide_mutex_try_lock(&m), -EAGAIN);
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, mutex_locker, &m), 0);
    tide_sleep(PARK_GAP);
    cr_assert_eq(tide_mutex_unlock(&m), 0);
    int st = 1;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, 0, "the parked locker got the lock");
    cr_assert_eq(tide_mutex_destroy(&m), 0);
    cr_assert_eq(tide_mutex_lock(&m), -EINVAL, "destroyed");
    return 0;
}

Test(zero_init, mutex) {
    tt_run(mutex_zero, NULL, 2);
}

/* ---- rwlock --------------------------------------------------------------------------- */

static int rw_writer(void *arg) {
    tide_rwlock_t *l = arg;
    int r = tide_rwlock_wrlock(l); /* parks behind the main task's read lock */
    if (r == 0) r = tide_rwlock_wrunlock(l);
    return r;
}

static int rwlock_zero(void *arg) {
    tide_rwlock_t l;
    ZERO(l);
    cr_assert_eq(tide_rwlock_try_rdlock(&l), 0, "zero rwlock: unlocked");
    cr_assert_eq(tide_rwlock_try_wrlock(&l), -EAGAIN, "a reader holds it");
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, rw_writer, &l), 0);
    tide_sleep(PARK_GAP);
    cr_assert_eq(tide_rwlock_rdunlock(&l), 0);
    int st = 1;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, 0, "the parked writer got the lock");
    cr_assert_eq(tide_rwlock_try_wrlock(&l), 0, "left free");
    cr_assert_eq(tide_rwlock_wrunlock(&l), 0);
    cr_assert_eq(tide_rwlock_destroy(&l), 0);
    cr_assert_eq(tide_rwlock_rdlock(&l), -EINVAL, "destroyed");
    cr_assert_eq(tide_rwlock_destroy(&l), -EINVAL, "destroyed twice");
    cr_assert_eq(tide_rwlock_init(&l), 0, "init revives it");
    cr_assert_eq(tide_rwlock_try_wrlock(&l), 0);
    cr_assert_eq(tide_rwlock_wrunlock(&l), 0);
    cr_assert_eq(tide_rwlock_destroy(&l), 0);
    return 0;
}

Test(zero_init, rwlock) {
    tt_run(rwlock_zero, NULL, 2);
}

/* ---- semaphore ------------------------------------------------------------------------ */

static int sem_taker(void *arg) {
    return tide_sem_acquire(arg); /* parks: no permits */
}

static int sem_zero(void *arg) {
    tide_sem_t s;
    ZERO(s);
    cr_assert_eq(tide_sem_value(&s), 0, "zero semaphore: no permits");
    cr_assert_eq(tide_sem_try_acquire(&s), -EAGAIN);
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, sem_taker, &s), 0);
    tide_sleep(PARK_GAP);
    cr_assert_eq(tide_sem_release(&s), 0);
    int st = 1;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, 0, "the parked acquirer got the permit");
    cr_assert_eq(tide_sem_value(&s), 0);
    cr_assert_eq(tide_sem_destroy(&s), 0);
    cr_assert_eq(tide_sem_release(&s), -EINVAL, "destroyed");
    cr_assert_eq(tide_sem_value(&s), 0);
    return 0;
}

Test(zero_init, semaphore) {
    tt_run(sem_zero, NULL, 2);
}

/* ---- event and notify ------------------------------------------------------------------ */

static int event_waiter(void *arg) {
    return tide_event_wait(arg);
}

static int notify_waiter(void *arg) {
    return tide_notify_wait(arg);
}

static int event_notify_zero(void *arg) {
    tide_event_t e;
    ZERO(e);
    cr_assert_not(tide_event_is_set(&e), "zero event: not set");
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, event_waiter, &e), 0);
    tide_sleep(PARK_GAP);
    cr_assert_eq(tide_event_set(&e), 0);
    int st = 1;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, 0);
    cr_assert(tide_event_is_set(&e));
    cr_assert_eq(tide_event_destroy(&e), 0);
    cr_assert_eq(tide_event_set(&e), -EINVAL, "destroyed");

    /* An event that select waits on, zero-filled too. */
    tide_event_t e2;
    ZERO(e2);
    tide_sel_t cases[2];
    ZERO(cases);
    cases[0].kind = TIDE_SEL_EVENT;
    cases[0].event = &e2;
    cases[1].kind = TIDE_SEL_DEADLINE;
    cases[1].deadline = tide_now() + TIDE_SEC(60);
    cr_assert_eq(tide_spawn(&t, event_waiter, &e2), 0);
    cr_assert_eq(tide_event_set(&e2), 0);
    cr_assert_eq(tide_select(cases, 2, 0), 0, "select sees a zero-filled event");
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(tide_event_destroy(&e2), 0);

    tide_notify_t n;
    ZERO(n);
    cr_assert_eq(tide_notify_all(&n), 0, "zero notify: nobody waits");
    cr_assert_eq(tide_notify_one(&n), 0);
    cr_assert_eq(tide_notify_wait(&n), 0, "the permit left by notify_one");
    cr_assert_eq(tide_spawn(&t, notify_waiter, &n), 0);
    int woken = 0;
    for (int i = 0; i < 1000 && woken == 0; i++) { /* until the waiter has parked */
        tide_sleep(TIDE_MSEC(1));
        woken = tide_notify_all(&n);
    }
    cr_assert_eq(woken, 1);
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, 0);
    cr_assert_eq(tide_notify_destroy(&n), 0);
    cr_assert_eq(tide_notify_one(&n), -EINVAL, "destroyed");
    return 0;
}

Test(zero_init, event_and_notify) {
    tt_run(event_notify_zero, NULL, 2);
}

/* ---- condition variable with a zero mutex ----------------------------------------------- */

typedef struct cond_pair {
    tide_mutex_t m; /* zero-filled */
    tide_cond_t c;  /* zero-filled */
    int ready;      /* the predicate, under m */
} cond_pair_t;

static int cond_signaller(void *arg) {
    cond_pair_t *p = arg;
    tide_sleep(PARK_GAP);
    tide_mutex_lock(&p->m);
    p->ready = 1;
    tide_cond_signal(&p->c);
    tide_mutex_unlock(&p->m);
    return 0;
}

static int cond_zero(void *arg) {
    cond_pair_t p;
    ZERO(p);
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, cond_signaller, &p), 0);
    cr_assert_eq(tide_mutex_lock(&p.m), 0);
    while (!p.ready) cr_assert_eq(tide_cond_wait(&p.c, &p.m), 0);
    cr_assert_eq(tide_mutex_unlock(&p.m), 0);
    cr_assert_eq(tide_join(t, NULL), 0);
    cr_assert_eq(tide_cond_destroy(&p.c), 0);
    cr_assert_eq(tide_cond_signal(&p.c), -EINVAL, "destroyed");
    cr_assert_eq(tide_mutex_destroy(&p.m), 0);
    return 0;
}

Test(zero_init, cond) {
    tt_run(cond_zero, NULL, 2);
}

/* ---- wait group ------------------------------------------------------------------------- */

static int wg_worker(void *arg) {
    tide_sleep(PARK_GAP);
    return tide_waitgroup_done(arg);
}

static int waitgroup_zero(void *arg) {
    tide_waitgroup_t wg;
    ZERO(wg);
    cr_assert_eq(tide_waitgroup_wait(&wg), 0, "zero wait group: count 0, returns at once");
    cr_assert_eq(tide_waitgroup_done(&wg), -EINVAL, "below zero");
    cr_assert_eq(tide_waitgroup_add(&wg, 2), 0);
    tide_task_t t[2];
    for (int i = 0; i < 2; i++) cr_assert_eq(tide_spawn(&t[i], wg_worker, &wg), 0);
    cr_assert_eq(tide_waitgroup_wait(&wg), 0);
    for (int i = 0; i < 2; i++) {
        int st = 1;
        cr_assert_eq(tide_join(t[i], &st), 0);
        cr_assert_eq(st, 0);
    }
    cr_assert_eq(tide_waitgroup_destroy(&wg), 0);
    cr_assert_eq(tide_waitgroup_add(&wg, 1), -EINVAL, "destroyed");
    return 0;
}

Test(zero_init, waitgroup) {
    tt_run(waitgroup_zero, NULL, 2);
}

/* ---- barrier: init required ------------------------------------------------------------- */

static int barrier_party(void *arg) {
    return tide_barrier_wait(arg);
}

static int barrier_zero(void *arg) {
    tide_barrier_t b;
    ZERO(b);
    cr_assert_eq(tide_barrier_wait(&b), -EINVAL, "zero barrier: no parties, init required");
    cr_assert_eq(tide_barrier_destroy(&b), -EINVAL);
    cr_assert_eq(tide_barrier_init(&b, 2), 0);
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, barrier_party, &b), 0);
    int mine = tide_barrier_wait(&b);
    int st = -1;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert(mine >= 0 && st >= 0 && mine + st == 1, "one serial party: %d %d", mine, st);
    cr_assert_eq(tide_barrier_destroy(&b), 0);
    return 0;
}

Test(zero_init, barrier_requires_init) {
    tt_run(barrier_zero, NULL, 2);
}

/* ---- core value types: zero is "defaults" or "none" -------------------------------------- */

static int nothing(void *arg) {
    return 7;
}

static int core_values(void *arg) {
    tide_spawn_opts_t o;
    ZERO(o);
    tide_task_t t;
    cr_assert_eq(tide_spawn_opts(&t, nothing, NULL, &o), 0, "zero opts: defaults, joinable");
    int st = 0;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, 7);

    tide_task_t none;
    ZERO(none);
    cr_assert_eq(tide_join(none, NULL), -ESRCH, "the zero handle is TIDE_TASK_NONE");

    tide_sel_t c[2];
    ZERO(c);
    c[1].kind = TIDE_SEL_DEADLINE;
    c[1].deadline = tide_now(); /* passed: fires at once */
    cr_assert_eq(tide_select(c, 2, 0), 1, "a zero case is TIDE_SEL_NONE, skipped");
    cr_assert_eq(c[1].result, -ETIMEDOUT);

    tide_addr_t a;
    ZERO(a);
    char text[TIDE_ADDRSTRLEN];
    cr_assert_eq(tide_addr_format(&a, text, sizeof text), -EINVAL, "zero address: unset");
    cr_assert_eq(tide_addr_port(&a), 0);

    tide_http_response_t res;
    ZERO(res);
    tide_http_response_free(&res); /* a zero response is fine to free */
    return 0;
}

Test(zero_init, core_value_types) {
    tt_run(core_values, NULL, 1);
}

/* A zero tide_config_t is the defaults. */
Test(zero_init, config) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_config_t cfg;
    ZERO(cfg);
    tide_runtime_t *rt;
    cr_assert_eq(tide_runtime_new(&rt, &cfg), 0);
    cr_assert_gt(tide_runtime_workers(rt), 0);
    cr_assert_eq(tide_runtime_block_on(rt, nothing, NULL), 7);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}
