/* tide_oneshot_t: one value, one sender, one receiver; send never blocks; close from either
 * side; a receive that ends by deadline or cancel takes nothing, so the value is still there
 * for the next receive; misuse. */
#include <pthread.h>
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

typedef struct val {
    uint64_t a, b, c;
} val_t;

static int basics(void *arg) {
    tide_oneshot_t *o = (tide_oneshot_t *)1;
    cr_assert_eq(tide_oneshot_new(&o, 0), -EINVAL);
    cr_assert_null(o);
    cr_assert_eq(tide_oneshot_new(NULL, 8), -EINVAL);
    cr_assert_eq(tide_oneshot_new(&o, sizeof(val_t)), 0);
    val_t v = {1, 2, 3}, w = {0};
    cr_assert_eq(tide_oneshot_send(o, &v), 0);
    cr_assert_eq(tide_oneshot_send(o, &v), -EPIPE, "sent already");
    cr_assert_eq(tide_oneshot_recv(o, &w), 0);
    cr_assert(w.a == 1 && w.b == 2 && w.c == 3);
    cr_assert_eq(tide_oneshot_recv(o, &w), -EPIPE, "taken already");
    cr_assert_eq(tide_oneshot_close(o), 0);
    cr_assert_eq(tide_oneshot_close(o), -EPIPE, "double close");
    cr_assert_eq(tide_oneshot_send(NULL, &v), -EINVAL);
    cr_assert_eq(tide_oneshot_send(o, NULL), -EINVAL);
    cr_assert_eq(tide_oneshot_recv(NULL, &w), -EINVAL);
    cr_assert_eq(tide_oneshot_close(NULL), -EINVAL);
    tide_oneshot_free(o);
    tide_oneshot_free(NULL);

    /* closed before a send: the receiver gets -EPIPE, a send is refused */
    cr_assert_eq(tide_oneshot_new(&o, sizeof v), 0);
    cr_assert_eq(tide_oneshot_close(o), 0);
    cr_assert_eq(tide_oneshot_recv(o, &w), -EPIPE);
    cr_assert_eq(tide_oneshot_send(o, &v), -EPIPE);
    tide_oneshot_free(o);

    /* sent then closed by the sender: the value is still delivered */
    cr_assert_eq(tide_oneshot_new(&o, sizeof v), 0);
    cr_assert_eq(tide_oneshot_send(o, &v), 0);
    cr_assert_eq(tide_oneshot_close(o), 0);
    cr_assert_eq(tide_oneshot_recv(o, &w), 0);
    tide_oneshot_free(o);
    return 0;
}

Test(oneshot, semantics_and_misuse) {
    tt_run(basics, NULL, 0);
}

typedef struct pair {
    tide_oneshot_t *o;
    int result;
    val_t got;
    int64_t timeout;
    int64_t send_delay; /* how long the sender of the race test waits */
} pair_t;

static int receiver(void *arg) {
    pair_t *p = arg;
    tide_scope_t sc;
    if (p->timeout) tide_timeout_begin(&sc, p->timeout);
    p->result = tide_oneshot_recv(p->o, &p->got);
    if (p->timeout) tide_scope_end(&sc);
    return 0;
}

static void *thread_receiver(void *arg) {
    receiver(arg);
    return NULL;
}

static int parked(void *arg) {
    /* the receiver parks first; the send hands the value over */
    pair_t p = {0};
    cr_assert_eq(tide_oneshot_new(&p.o, sizeof(val_t)), 0);
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, receiver, &p), 0);
    tide_sleep(TIDE_MSEC(5));
    pair_t second = {.o = p.o};
    receiver(&second);
    cr_assert_eq(second.result, -EBUSY, "one receiver only");
    val_t v = {7, 8, 9};
    cr_assert_eq(tide_oneshot_send(p.o, &v), 0);
    cr_assert_eq(tide_join(t, NULL), 0);
    cr_assert_eq(p.result, 0);
    cr_assert_eq(p.got.c, 9);
    tide_oneshot_free(p.o);

    /* close wakes a parked receiver with -EPIPE; so does free */
    for (int k = 0; k < 2; k++) {
        pair_t q = {0};
        cr_assert_eq(tide_oneshot_new(&q.o, sizeof(val_t)), 0);
        cr_assert_eq(tide_spawn(&t, receiver, &q), 0);
        tide_sleep(TIDE_MSEC(5));
        if (k == 0) cr_assert_eq(tide_oneshot_close(q.o), 0);
        else tide_oneshot_free(q.o);
        cr_assert_eq(tide_join(t, NULL), 0);
        cr_assert_eq(q.result, -EPIPE);
        if (k == 0) tide_oneshot_free(q.o);
    }

    /* a foreign thread receives */
    pair_t r = {0};
    cr_assert_eq(tide_oneshot_new(&r.o, sizeof(val_t)), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, thread_receiver, &r), 0);
    tide_sleep(TIDE_MSEC(5));
    cr_assert_eq(tide_oneshot_send(r.o, &v), 0);
    pthread_join(th, NULL);
    cr_assert_eq(r.result, 0);
    cr_assert_eq(r.got.a, 7);
    tide_oneshot_free(r.o);
    return 0;
}

Test(oneshot, parked_receiver_close_free_and_threads) {
    /* One worker, so a spawned receiver has parked before the main task wakes from its
     * sleep (see test_queue.c): the free below must not come before the receive. */
    tt_run(parked, NULL, 1);
}

/* In a loop: a receiver with a random deadline races a sender with a random delay. Either
 * the receive got the value, or it timed out and the value (if sent) is still there. */
static int sender(void *arg) {
    pair_t *p = arg;
    tide_sleep(p->send_delay);
    val_t v = {42, 43, 44};
    cr_assert_eq(tide_oneshot_send(p->o, &v), 0);
    return 0;
}

static int race_main(void *arg) {
    int got = 0, timed_out = 0;
    for (int i = 0; i < TT_SCALE(2000); i++) {
        /* Mostly a close race; every eighth round is lopsided on purpose (a deadline far
         * shorter or far longer than the send), so both outcomes happen however the machine's
         * timing shifts (sanitizers, load). */
        pair_t p = {.timeout = 1 + tt_rand() % TIDE_USEC(200), .send_delay = TIDE_USEC(tt_rand() % 200)};
        if (i % 8 == 3) p.timeout = TIDE_USEC(1), p.send_delay = TIDE_MSEC(5);
        if (i % 8 == 7) p.timeout = TIDE_SEC(10), p.send_delay = 0;
        cr_assert_eq(tide_oneshot_new(&p.o, sizeof(val_t)), 0);
        tide_task_t s, r;
        cr_assert_eq(tide_spawn(&r, receiver, &p), 0);
        cr_assert_eq(tide_spawn(&s, sender, &p), 0);
        cr_assert_eq(tide_join(r, NULL), 0);
        cr_assert_eq(tide_join(s, NULL), 0);
        if (p.result == 0) {
            got++;
            cr_assert_eq(p.got.b, 43);
            val_t w;
            cr_assert_eq(tide_oneshot_recv(p.o, &w), -EPIPE, "delivered twice");
        } else {
            cr_assert_eq(p.result, -ETIMEDOUT);
            timed_out++;
            val_t w = {0};
            cr_assert_eq(tide_oneshot_recv(p.o, &w), 0, "the value was lost to the deadline");
            cr_assert_eq(w.c, 44);
        }
        tide_oneshot_free(p.o);
    }
    cr_assert_gt(got, 0);
    cr_assert_gt(timed_out, 0);
    return 0;
}

Test(oneshot, deadline_races_lose_nothing) {
    tt_run(race_main, NULL, 0);
}

static int cancel_main(void *arg) {
    for (int i = 0; i < TT_SCALE(500); i++) {
        pair_t p = {0};
        cr_assert_eq(tide_oneshot_new(&p.o, sizeof(val_t)), 0);
        tide_task_t s, r;
        cr_assert_eq(tide_spawn(&r, receiver, &p), 0);
        cr_assert_eq(tide_spawn(&s, sender, &p), 0);
        tide_sleep(TIDE_USEC(tt_rand() % 200));
        tide_cancel(r);
        cr_assert_eq(tide_join(r, NULL), 0);
        cr_assert_eq(tide_join(s, NULL), 0);
        val_t w;
        if (p.result == 0) cr_assert_eq(tide_oneshot_recv(p.o, &w), -EPIPE);
        else {
            cr_assert_eq(p.result, -ECANCELED);
            cr_assert_eq(tide_oneshot_recv(p.o, &w), 0, "the value was lost to the cancel");
        }
        tide_oneshot_free(p.o);
    }
    return 0;
}

Test(oneshot, cancellation_races_lose_nothing) {
    tt_run(cancel_main, NULL, 0);
}
