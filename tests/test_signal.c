/* Signals: a delivery wakes a waiting task; a delivery nobody waits for is kept for the
 * next wait; several tasks (and a plain thread) waiting on one watcher share the deliveries
 * exactly; several watchers each see every delivery; deadlines and cancels in the middle of
 * waits take nothing; bad signal numbers and misuse are errors. The signals are sent to this
 * very process (Criterion runs each test in a process of its own). */
#include "testutil.h"

#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <unistd.h>

#include "driver.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

/* Real-time signals used by the counting tests. Consecutive sends rotate through RT_N
 * numbers: the kernel queues real-time signals, but ThreadSanitizer keeps one pending slot per
 * signal number while it defers a delivery, and would merge two of the same. */
#define RT(i) (SIGRTMIN + 1 + (int)((i) % RT_N))
#define RT_N 8

static bool is_rt(int sig) {
    return sig >= SIGRTMIN + 1 && sig < SIGRTMIN + 1 + RT_N;
}

/* Every signal the tests send: under TSan a helper thread takes them (see
 * tt_signal_sink_begin), started before the runtime, whose threads inherit the mask. */
static void test_signals(sigset_t *set) {
    sigemptyset(set);
    int std[] = {SIGUSR1, SIGUSR2, SIGHUP, SIGINT, SIGTERM};
    for (size_t i = 0; i < sizeof std / sizeof std[0]; i++) sigaddset(set, std[i]);
    for (int sig = SIGRTMIN; sig <= SIGRTMIN + 12; sig++) sigaddset(set, sig);
}

static void run_main(int (*fn)(void *), void *arg) {
    sigset_t set;
    test_signals(&set);
    tt_signal_sink_begin(&set);
    tt_run(fn, arg, 0);
    tt_signal_sink_end();
}

static void send_self(int sig) {
    cr_assert_eq(kill(getpid(), sig), 0);
}

/* Real-time signals are queued by the kernel, never merged: exact counts can be checked. */
static void queue_self(int sig) {
    union sigval v = {.sival_int = 0};
    cr_assert_eq(sigqueue(getpid(), sig, v), 0);
}

/* A pending delivery, taken without waiting, polling until the driver has seen it; -EAGAIN
 * if none came within ns. */
static int take_within(tide_signal_t *s, int64_t ns) {
    int64_t limit = tide_now() + ns;
    int r;
    while ((r = tide_signal_try_wait(s)) == -EAGAIN && tide_now() < limit) tide_sleep(TIDE_MSEC(1));
    return r;
}

/* ---- one delivery, one waiter ---------------------------------------------------------- */

static int wait_task(void *arg) {
    return tide_signal_wait(arg);
}

static int delivered(void *arg) {
    int sigs[] = {SIGUSR1};
    tide_signal_t *s;
    cr_assert_eq(tide_signal_open(&s, sigs, 1), 0);
    for (int i = 0; i < 20; i++) {
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, wait_task, s), 0);
        tide_sleep(TIDE_MSEC(1 + i % 3));
        send_self(SIGUSR1);
        int st = 0;
        cr_assert_eq(tide_join(t, &st), 0);
        cr_assert_eq(st, SIGUSR1);
    }
    cr_assert_eq(tide_signal_try_wait(s), -EAGAIN);
    cr_assert_eq(tide_signal_close(s), 0);
    return 0;
}

Test(signal, delivered_to_waiting_task) {
    run_main(delivered, NULL);
}

/* ---- nobody waiting -------------------------------------------------------------------- */

static int kept(void *arg) {
    int sigs[] = {SIGUSR2, SIGHUP};
    tide_signal_t *s;
    cr_assert_eq(tide_signal_open(&s, sigs, 2), 0);
    send_self(SIGHUP);
    /* Until the driver has seen it, it is not pending: wait for it without a waiter. */
    cr_assert_eq(take_within(s, TIDE_SEC(10)), SIGHUP);
    send_self(SIGUSR2);
    tide_sleep(TIDE_MSEC(50)); /* delivered while nobody waits */
    int64_t t0 = tide_now();
    cr_assert_eq(tide_signal_wait(s), SIGUSR2);
    cr_assert_lt(tide_now() - t0, TIDE_SEC(1));
    cr_assert_eq(tide_signal_try_wait(s), -EAGAIN);
    cr_assert_eq(tide_signal_close(s), 0);
    return 0;
}

Test(signal, delivery_while_nobody_waits_is_kept) {
    run_main(kept, NULL);
}

/* ---- several waiters, exact counts ----------------------------------------------------- */

typedef struct share {
    tide_signal_t *s;
    _Atomic uint64_t got;
} share_t;

static int counting_waiter(void *arg) {
    share_t *sh = arg;
    for (;;) {
        int r = tide_signal_wait(sh->s);
        if (r < 0) return r == -ECANCELED ? 0 : r;
        cr_assert(is_rt(r), "signal %d", r);
        atomic_fetch_add(&sh->got, 1);
        tt_random_yields(2);
    }
}

static void *thread_waiter(void *arg) {
    share_t *sh = arg;
    /* A plain thread waits on the same watcher (it blocks); a deadline ends its loop. */
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_SEC(30));
    for (;;) {
        int r = tide_signal_wait(sh->s);
        if (r < 0) break;
        cr_assert(is_rt(r), "signal %d", r);
        if (atomic_fetch_add(&sh->got, 1) == UINT64_MAX) break;
    }
    tide_scope_end(&sc);
    return NULL;
}

/* Until both counters reach n (or a generous limit passes: the asserts then say how far
 * they got). */
static void wait_counts(share_t *a, share_t *b, uint64_t n) {
    int64_t limit = tide_now() + TIDE_SEC(20);
    while ((atomic_load(&a->got) < n || atomic_load(&b->got) < n) && tide_now() < limit)
        tide_sleep(TIDE_MSEC(1));
}

static int shared(void *arg) {
    int sigs[RT_N];
    for (int i = 0; i < RT_N; i++) sigs[i] = RT(i);
    share_t a = {.got = 0}, b = {.got = 0};
    cr_assert_eq(tide_signal_open(&a.s, sigs, RT_N), 0);
    cr_assert_eq(tide_signal_open(&b.s, sigs, RT_N), 0);
    enum { WAITERS = 8 };
    tide_task_t ta[WAITERS], tb;
    for (int i = 0; i < WAITERS; i++) cr_assert_eq(tide_spawn(&ta[i], counting_waiter, &a), 0);
    cr_assert_eq(tide_spawn(&tb, counting_waiter, &b), 0);
    pthread_t th;
    pthread_create(&th, NULL, thread_waiter, &a);

    uint64_t n = (uint64_t)TT_SCALE(600);
    for (uint64_t i = 0; i < n; i++) {
        queue_self(RT(i));
        /* Fewer in flight than there are signal numbers in the rotation (see RT_N); this
         * also keeps libuv's signal pipe from filling up. */
        if (i % 4 == 3) wait_counts(&a, &b, i - 3);
    }
    wait_counts(&a, &b, n);
    tide_sleep(TIDE_MSEC(20)); /* nothing more may come */
    cr_assert_eq(atomic_load(&a.got), n, "watcher a saw %llu of %llu",
                 (unsigned long long)atomic_load(&a.got), (unsigned long long)n);
    cr_assert_eq(atomic_load(&b.got), n, "watcher b saw %llu of %llu",
                 (unsigned long long)atomic_load(&b.got), (unsigned long long)n);

    /* Stop the waiters: cancel the tasks; wake the thread with one more signal after which
     * its counter tells it to leave. */
    for (int i = 0; i < WAITERS; i++) {
        cr_assert_eq(tide_cancel(ta[i]), 0);
        int st = -1;
        cr_assert_eq(tide_join(ta[i], &st), 0);
        cr_assert_eq(st, 0);
    }
    cr_assert_eq(tide_cancel(tb), 0);
    cr_assert_eq(tide_join(tb, NULL), 0);
    atomic_store(&a.got, UINT64_MAX);
    queue_self(RT(n));
    pthread_join(th, NULL);
    /* b saw that last one too: take it, then both are empty and can close. */
    int r = take_within(b.s, TIDE_SEC(10));
    cr_assert_eq(r, RT(n));
    cr_assert_eq(tide_signal_try_wait(a.s), -EAGAIN);
    cr_assert_eq(tide_signal_close(a.s), 0);
    cr_assert_eq(tide_signal_close(b.s), 0);
    return 0;
}

Test(signal, waiters_share_deliveries_exactly_and_watchers_each_see_all) {
    run_main(shared, NULL);
}

/* ---- deadlines and cancels mid-wait ---------------------------------------------------- */

static int interrupted(void *arg) {
    int sigs[RT_N + 1];
    for (int i = 0; i < RT_N; i++) sigs[i] = RT(i);
    sigs[RT_N] = SIGUSR1; /* never sent */
    tide_signal_t *s;
    cr_assert_eq(tide_signal_open(&s, sigs, RT_N + 1), 0);
    int iters = TT_SCALE(300);
    uint64_t sent = 0, got = 0;
    for (int i = 0; i < iters; i++) {
        tide_scope_t sc;
        tide_timeout_begin(&sc, TIDE_USEC(tt_rand() % 300));
        int r = tide_signal_wait(s);
        tide_scope_end(&sc);
        if (r > 0) {
            cr_assert(is_rt(r), "signal %d", r);
            got++;
        } else {
            cr_assert_eq(r, -ETIMEDOUT);
        }
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, wait_task, s), 0);
        tt_random_yields(3);
        if (i % 3 == 0) {
            queue_self(RT(sent));
            sent++;
        }
        tt_random_yields(3);
        cr_assert_eq(tide_cancel(t), 0);
        int st = 0;
        cr_assert_eq(tide_join(t, &st), 0);
        if (st > 0) {
            cr_assert(is_rt(st), "signal %d", st);
            got++;
        } else {
            cr_assert_eq(st, -ECANCELED);
        }
    }
    /* Every delivery is accounted for: taken by a wait, or still pending. */
    int r;
    while (got < sent && (r = take_within(s, TIDE_SEC(10))) > 0) {
        cr_assert(is_rt(r), "signal %d", r);
        got++;
    }
    cr_assert_eq(got, sent);
    cr_assert_eq(tide_signal_try_wait(s), -EAGAIN);
    cr_assert_eq(tide_signal_close(s), 0);
    return 0;
}

Test(signal, deadline_and_cancel_mid_wait_lose_nothing) {
    run_main(interrupted, NULL);
}

/* ---- SIGINT / SIGTERM, one-shot -------------------------------------------------------- */

static int graceful_waiter(void *arg) {
    int sigs[] = {SIGINT, SIGTERM};
    return tide_signal_wait_for(sigs, 2);
}

static int graceful(void *arg) {
    int sigs[] = {SIGINT, SIGTERM};
    tide_signal_t *guard;
    /* Keep one watcher open throughout, so a signal sent before the one-shot waiter is ready
     * does not terminate the test. */
    cr_assert_eq(tide_signal_open(&guard, sigs, 2), 0);
    int which[] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, graceful_waiter, NULL), 0);
        /* Keep signalling until the waiter has caught one (it may not be listening yet). */
        int st = 0;
        int64_t limit = tide_now() + TIDE_SEC(10);
        while (tide_task_done(t) == 0 && tide_now() < limit) {
            send_self(which[i]);
            tide_sleep(TIDE_MSEC(5));
        }
        if (!tide_task_done(t)) tide_cancel(t); /* so the assert below fails, not hangs */
        cr_assert_eq(tide_join(t, &st), 0);
        cr_assert_eq(st, which[i]);
    }
    int r;
    while ((r = tide_signal_try_wait(guard)) > 0) continue;
    cr_assert_eq(r, -EAGAIN);
    cr_assert_eq(tide_signal_close(guard), 0);
    return 0;
}

Test(signal, sigterm_and_sigint_reach_a_one_shot_waiter) {
    run_main(graceful, NULL);
}

/* ---- misuse ---------------------------------------------------------------------------- */

static int misuse(void *arg) {
    tide_signal_t *s = (tide_signal_t *)1;
    int bad[] = {0, -1, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, NSIG, 1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tide_signal_open(&s, &bad[i], 1), -EINVAL, "signal %d", bad[i]);
        cr_assert_null(s);
    }
    int dup[] = {SIGUSR1, SIGUSR1};
    cr_assert_eq(tide_signal_open(&s, dup, 2), -EINVAL);
    int one[] = {SIGUSR1};
    cr_assert_eq(tide_signal_open(&s, one, 0), -EINVAL);
    cr_assert_eq(tide_signal_open(&s, one, TIDE_SIGNAL_MAX + 1), -EINVAL);
    cr_assert_eq(tide_signal_open(&s, NULL, 1), -EINVAL);
    cr_assert_eq(tide_signal_open(NULL, one, 1), -EINVAL);
    cr_assert_eq(tide_signal_wait(NULL), -EINVAL);
    cr_assert_eq(tide_signal_try_wait(NULL), -EINVAL);
    cr_assert_eq(tide_signal_close(NULL), -EINVAL);
    cr_assert_eq(tide_signal_wait_for(bad, 1), -EINVAL);

    /* Closing under a waiter is refused; once it has left, close works. */
    cr_assert_eq(tide_signal_open(&s, one, 1), 0);
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, wait_task, s), 0);
    tide_sleep(TIDE_MSEC(10));
    cr_assert_eq(tide_signal_close(s), -EBUSY);
    cr_assert_eq(tide_cancel(t), 0);
    int st = 0;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, -ECANCELED);
    cr_assert_eq(tide_signal_close(s), 0);

    /* Many watchers opened and closed: nothing is left behind. */
    for (int i = 0; i < TT_SCALE(200); i++) {
        int sigs[] = {SIGUSR1, SIGUSR2, SIGRTMIN + (i % 8)};
        cr_assert_eq(tide_signal_open(&s, sigs, 3), 0);
        cr_assert_eq(tide_signal_close(s), 0);
    }
    return 0;
}

Test(signal, misuse_is_refused) {
    run_main(misuse, NULL);
}

Test(signal, open_outside_a_task_is_eperm) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    int one[] = {SIGUSR1};
    tide_signal_t *s;
    cr_assert_eq(tide_signal_open(&s, one, 1), -EPERM);
    cr_assert_null(s);
    cr_assert_eq(tide_signal_wait_for(one, 1), -EPERM);
    tt_leaks_end(&l);
}
