/* tide_rwlock_t: readers share, writers exclude; a stream of readers cannot starve a writer
 * and a stream of writers cannot starve readers; deadlines and cancellation in the middle of
 * waits leave the lock consistent (nothing held by whoever failed, nobody stranded). */
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

static int basics(void *arg) {
    tide_rwlock_t l;
    cr_assert_eq(tide_rwlock_init(&l), 0);
    cr_assert_eq(tide_rwlock_rdunlock(&l), -EPERM);
    cr_assert_eq(tide_rwlock_wrunlock(&l), -EPERM);
    cr_assert_eq(tide_rwlock_rdlock(&l), 0);
    cr_assert_eq(tide_rwlock_try_rdlock(&l), 0, "readers share");
    cr_assert_eq(tide_rwlock_try_wrlock(&l), -EAGAIN);
    cr_assert_eq(tide_rwlock_wrunlock(&l), -EPERM, "not write-locked");
    cr_assert_eq(tide_rwlock_destroy(&l), -EBUSY);
    cr_assert_eq(tide_rwlock_rdunlock(&l), 0);
    cr_assert_eq(tide_rwlock_rdunlock(&l), 0);
    cr_assert_eq(tide_rwlock_rdunlock(&l), -EPERM);
    cr_assert_eq(tide_rwlock_wrlock(&l), 0);
    cr_assert_eq(tide_rwlock_try_rdlock(&l), -EAGAIN);
    cr_assert_eq(tide_rwlock_try_wrlock(&l), -EAGAIN);
    cr_assert_eq(tide_rwlock_rdunlock(&l), -EPERM, "no reader holds it");
    cr_assert_eq(tide_rwlock_wrunlock(&l), 0);
    cr_assert_eq(tide_rwlock_destroy(&l), 0);
    cr_assert_eq(tide_rwlock_rdlock(&l), -EINVAL, "destroyed");
    cr_assert_eq(tide_rwlock_wrlock(&l), -EINVAL);
    cr_assert_eq(tide_rwlock_init(NULL), -EINVAL);
    cr_assert_eq(tide_rwlock_rdlock(NULL), -EINVAL);
    cr_assert_eq(tide_rwlock_wrunlock(NULL), -EINVAL);
    return 0;
}

Test(rwlock, semantics_and_misuse) {
    tt_run(basics, NULL, 0);
}

typedef struct shared {
    tide_rwlock_t l;
    _Atomic int readers, writers, max_readers;
    uint64_t value;          /* written under the write lock only */
    uint64_t writes;
    int iters;
    int64_t max_timeout;     /* 0: no deadlines */
    _Atomic uint64_t failed, ok;
    _Atomic int stop;
} shared_t;

static void check_in(shared_t *s, bool writer) {
    if (writer) {
        cr_assert_eq(atomic_fetch_add(&s->writers, 1), 0, "two writers");
        cr_assert_eq(atomic_load(&s->readers), 0, "a writer with readers");
    } else {
        int r = atomic_fetch_add(&s->readers, 1) + 1;
        cr_assert_eq(atomic_load(&s->writers), 0, "a reader with a writer");
        int m = atomic_load(&s->max_readers);
        while (r > m && !atomic_compare_exchange_weak(&s->max_readers, &m, r)) {
        }
    }
}

static void check_out(shared_t *s, bool writer) {
    if (writer) atomic_fetch_sub(&s->writers, 1);
    else atomic_fetch_sub(&s->readers, 1);
}

static int worker(void *arg) {
    shared_t *s = arg;
    for (int i = 0; i < s->iters; i++) {
        bool writer = tt_rand() % 4 == 0;
        tide_scope_t sc;
        if (s->max_timeout) tide_timeout_begin(&sc, 1 + tt_rand() % s->max_timeout);
        int r = writer ? tide_rwlock_wrlock(&s->l) : tide_rwlock_rdlock(&s->l);
        if (s->max_timeout) tide_scope_end(&sc);
        if (r < 0) {
            cr_assert_eq(r, -ETIMEDOUT);
            atomic_fetch_add(&s->failed, 1);
            continue;
        }
        check_in(s, writer);
        if (writer) {
            uint64_t v = s->value;
            tt_random_yields(1);
            s->value = v + 1;
            s->writes++;
        } else {
            uint64_t v = s->value;
            tt_random_yields(1);
            cr_assert_eq(s->value, v, "value changed under a read lock");
        }
        check_out(s, writer);
        atomic_fetch_add(&s->ok, 1);
        cr_assert_eq(writer ? tide_rwlock_wrunlock(&s->l) : tide_rwlock_rdunlock(&s->l), 0);
    }
    return 0;
}

static int contention_main(void *arg) {
    shared_t *s = arg;
    enum { T = 500 };
    static tide_task_t ts[T];
    for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], worker, s), 0);
    for (int i = 0; i < T; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    cr_assert_eq(s->value, s->writes);
    cr_assert_eq(atomic_load(&s->ok) + atomic_load(&s->failed), (uint64_t)T * s->iters);
    cr_assert_gt(atomic_load(&s->max_readers), 1, "readers never shared the lock");
    if (s->max_timeout) cr_assert_gt(atomic_load(&s->failed), 0, "no deadline hit");
    cr_assert_eq(tide_rwlock_try_wrlock(&s->l), 0, "left free");
    cr_assert_eq(tide_rwlock_wrunlock(&s->l), 0);
    cr_assert_eq(tide_rwlock_destroy(&s->l), 0, "no waiter left behind");
    return 0;
}

Test(rwlock, readers_share_writers_exclude_exact_counts) {
    static shared_t s;
    tide_rwlock_init(&s.l);
    s.iters = TT_SCALE(200);
    tt_run(contention_main, &s, 0);
}

Test(rwlock, deadlines_in_the_middle_of_waits) {
    static shared_t s;
    tide_rwlock_init(&s.l);
    s.iters = TT_SCALE(200);
    s.max_timeout = TIDE_USEC(100);
    tt_run(contention_main, &s, 0);
}

/* Overlapping readers keep the lock read-held continuously; a writer must still get in, and
 * readers must still get in while writers keep coming. */
static int stream_reader(void *arg) {
    shared_t *s = arg;
    while (!atomic_load(&s->stop)) {
        cr_assert_eq(tide_rwlock_rdlock(&s->l), 0);
        tide_sleep(TIDE_USEC(200));
        cr_assert_eq(tide_rwlock_rdunlock(&s->l), 0);
    }
    return 0;
}

static int stream_writer(void *arg) {
    shared_t *s = arg;
    while (!atomic_load(&s->stop)) {
        cr_assert_eq(tide_rwlock_wrlock(&s->l), 0);
        tide_sleep(TIDE_USEC(100));
        cr_assert_eq(tide_rwlock_wrunlock(&s->l), 0);
    }
    return 0;
}

static int starve_main(void *arg) {
    shared_t *s = arg;
    tide_task_t rs[8];
    for (int i = 0; i < 8; i++) cr_assert_eq(tide_spawn(&rs[i], stream_reader, s), 0);
    tide_sleep(TIDE_MSEC(5));
    for (int i = 0; i < 20; i++) {
        tide_scope_t sc;
        tide_timeout_begin(&sc, TIDE_SEC(5));
        int r = tide_rwlock_wrlock(&s->l);
        tide_scope_end(&sc);
        cr_assert_eq(r, 0, "a writer starved by overlapping readers");
        cr_assert_eq(tide_rwlock_wrunlock(&s->l), 0);
    }
    atomic_store(&s->stop, 1);
    for (int i = 0; i < 8; i++) tide_join(rs[i], NULL);

    atomic_store(&s->stop, 0);
    tide_task_t ws[4];
    for (int i = 0; i < 4; i++) cr_assert_eq(tide_spawn(&ws[i], stream_writer, s), 0);
    tide_sleep(TIDE_MSEC(5));
    for (int i = 0; i < 20; i++) {
        tide_scope_t sc;
        tide_timeout_begin(&sc, TIDE_SEC(5));
        int r = tide_rwlock_rdlock(&s->l);
        tide_scope_end(&sc);
        cr_assert_eq(r, 0, "a reader starved by a stream of writers");
        cr_assert_eq(tide_rwlock_rdunlock(&s->l), 0);
    }
    atomic_store(&s->stop, 1);
    for (int i = 0; i < 4; i++) tide_join(ws[i], NULL);
    cr_assert_eq(tide_rwlock_destroy(&s->l), 0);
    return 0;
}

Test(rwlock, neither_side_starves) {
    static shared_t s;
    tide_rwlock_init(&s.l);
    tt_run(starve_main, &s, 0);
}

/* A waiting writer blocks new readers; when it gives up (deadline), those readers go in. */
static int late_reader(void *arg) {
    shared_t *s = arg;
    cr_assert_eq(tide_rwlock_rdlock(&s->l), 0);
    atomic_fetch_add(&s->ok, 1);
    cr_assert_eq(tide_rwlock_rdunlock(&s->l), 0);
    return 0;
}

static int timed_writer(void *arg) {
    shared_t *s = arg;
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_MSEC(40));
    int r = tide_rwlock_wrlock(&s->l);
    tide_scope_end(&sc);
    cr_assert_eq(r, -ETIMEDOUT);
    return 0;
}

static int writer_gives_up_main(void *arg) {
    shared_t *s = arg;
    cr_assert_eq(tide_rwlock_rdlock(&s->l), 0);
    tide_task_t w, r;
    cr_assert_eq(tide_spawn(&w, timed_writer, s), 0);
    tide_sleep(TIDE_MSEC(10));
    cr_assert_eq(tide_spawn(&r, late_reader, s), 0);
    tide_sleep(TIDE_MSEC(10));
    cr_assert_eq(atomic_load(&s->ok), 0, "a new reader got past a waiting writer");
    cr_assert_eq(tide_join(w, NULL), 0);
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_SEC(5));
    int jr = tide_join(r, NULL); /* while we still hold our read lock */
    tide_scope_end(&sc);
    cr_assert_eq(jr, 0, "the reader was not let in when the writer left");
    cr_assert_eq(atomic_load(&s->ok), 1);
    cr_assert_eq(tide_rwlock_rdunlock(&s->l), 0);
    cr_assert_eq(tide_rwlock_destroy(&s->l), 0);
    return 0;
}

Test(rwlock, departing_writer_lets_blocked_readers_in) {
    static shared_t s;
    tide_rwlock_init(&s.l);
    tt_run(writer_gives_up_main, &s, 0);
}

static int cancellable(void *arg) {
    shared_t *s = arg;
    for (;;) {
        if (tide_cancelled()) return -ECANCELED;
        bool writer = tt_rand() % 3 == 0;
        int r = writer ? tide_rwlock_wrlock(&s->l) : tide_rwlock_rdlock(&s->l);
        if (r < 0) return r;
        check_in(s, writer);
        tt_random_yields(2);
        check_out(s, writer);
        cr_assert_eq(writer ? tide_rwlock_wrunlock(&s->l) : tide_rwlock_rdunlock(&s->l), 0);
    }
}

static int cancel_main(void *arg) {
    shared_t *s = arg;
    for (int round = 0; round < TT_SCALE(50); round++) {
        enum { T = 32 };
        tide_task_t ts[T];
        for (int i = 0; i < T; i++) cr_assert_eq(tide_spawn(&ts[i], cancellable, s), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 500));
        for (int i = 0; i < T; i++) tide_cancel(ts[i]);
        for (int i = 0; i < T; i++) {
            int st;
            cr_assert_eq(tide_join(ts[i], &st), 0);
            cr_assert_eq(st, -ECANCELED);
        }
        cr_assert_eq(tide_rwlock_try_wrlock(&s->l), 0, "round %d: left held", round);
        cr_assert_eq(tide_rwlock_wrunlock(&s->l), 0);
    }
    cr_assert_eq(tide_rwlock_destroy(&s->l), 0);
    return 0;
}

Test(rwlock, cancellation_in_the_middle_of_waits) {
    static shared_t s;
    tide_rwlock_init(&s.l);
    tt_run(cancel_main, &s, 0);
}
