/* Task groups: wait joins every child and returns the first error; a failing child cancels
 * its siblings; tide_group_cancel; a cancelled or timed-out waiter takes the children down
 * with it; free with live children; children spawning children; thousands of children. */
#include <stdatomic.h>

#include "testutil.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

static _Atomic int running, finished, cancelled;

static int sleeper(void *arg) {
    atomic_fetch_add(&running, 1);
    int r = tide_sleep(TIDE_MSEC((intptr_t)arg));
    atomic_fetch_sub(&running, 1);
    if (r == -ECANCELED) atomic_fetch_add(&cancelled, 1);
    else atomic_fetch_add(&finished, 1);
    return r;
}

/* Failers start their countdown once every child is spawned (the gate opens): a failure in
 * the middle of the spawning loop would refuse the later spawns (-ECANCELED, rightly), and
 * how far a loop gets in a millisecond is up to the scheduler (TIDE_SHAKE shows it). */
static tt_gate_t failers_go;

static int failer(void *arg) {
    tt_gate_wait(&failers_go);
    tide_sleep(TIDE_MSEC((intptr_t)arg));
    return -EIO;
}

/* Spawn fn(ms) into g. */
static int spawn_ms(tide_group_t *g, int (*fn)(void *), int ms) {
    return tide_group_spawn(g, fn, (void *)(intptr_t)ms, NULL);
}

static void reset(void) {
    atomic_store(&running, 0);
    atomic_store(&finished, 0);
    atomic_store(&cancelled, 0);
}

static int basics(void *arg) {
    tide_group_t *g;
    cr_assert_eq(tide_group_new(NULL), -EINVAL);
    cr_assert_eq(tide_group_new(&g), 0);
    cr_assert_eq(tide_group_wait(g), 0, "empty group");
    reset();
    for (int i = 0; i < 100; i++) cr_assert_eq(spawn_ms(g, sleeper, i % 5), 0);
    cr_assert_eq(tide_group_wait(g), 0, "all succeeded");
    cr_assert_eq(atomic_load(&finished), 100);
    cr_assert_eq(atomic_load(&running), 0);
    cr_assert_eq(tide_group_spawn(NULL, sleeper, NULL, NULL), -EINVAL);
    cr_assert_eq(tide_group_spawn(g, NULL, NULL, NULL), -EINVAL);
    tide_spawn_opts_t o = {.name = "child", .detached = 1};
    cr_assert_eq(tide_group_spawn(g, sleeper, (void *)1, &o), 0, "opts honoured, detached ignored");
    cr_assert_eq(tide_group_wait(g), 0);
    tide_group_free(g);
    tide_group_free(NULL);
    cr_assert_eq(tide_group_wait(NULL), -EINVAL);
    cr_assert_eq(tide_group_cancel(NULL), -EINVAL);
    return 0;
}

Test(group, waits_for_all_children) {
    tt_run(basics, NULL, 0);
}

static int failure_main(void *arg) {
    for (int round = 0; round < TT_SCALE(20); round++) {
        reset();
        tide_group_t *g;
        cr_assert_eq(tide_group_new(&g), 0);
        enum { N = 50 };
        int bad = (int)(tt_rand() % N);
        tt_gate_init(&failers_go);
        for (int i = 0; i < N; i++) {
            if (i == bad) cr_assert_eq(tide_group_spawn(g, failer, (void *)(intptr_t)2, NULL), 0);
            else cr_assert_eq(tide_group_spawn(g, sleeper, (void *)(intptr_t)10000, NULL), 0);
        }
        tt_gate_open(&failers_go);
        int64_t t0 = tide_now();
        cr_assert_eq(tide_group_wait(g), -EIO, "the first error");
        cr_assert_lt(tide_now() - t0, TIDE_SEC(5), "siblings cancelled, not waited out");
        cr_assert_eq(atomic_load(&cancelled), N - 1, "every sibling cancelled");
        cr_assert_eq(atomic_load(&running), 0);
        /* the group is reusable after wait */
        cr_assert_eq(tide_group_spawn(g, sleeper, (void *)(intptr_t)1, NULL), 0);
        cr_assert_eq(tide_group_wait(g), 0);
        tide_group_free(g);
        pthread_mutex_destroy(&failers_go.lock);
    }
    return 0;
}

Test(group, failing_child_cancels_siblings) {
    tt_run(failure_main, NULL, 0);
}

/* Several children fail at about the same time: wait reports one of them (the first
 * recorded), every other child is cancelled or failed, none keeps running. */
static int many_fail_main(void *arg) {
    reset();
    tide_group_t *g;
    cr_assert_eq(tide_group_new(&g), 0);
    tt_gate_init(&failers_go);
    for (int i = 0; i < 200; i++)
        cr_assert_eq(spawn_ms(g, i % 10 ? sleeper : failer, i % 10 ? 10000 : 1), 0);
    tt_gate_open(&failers_go);
    cr_assert_eq(tide_group_wait(g), -EIO);
    cr_assert_eq(atomic_load(&running), 0);
    tide_group_free(g);
    pthread_mutex_destroy(&failers_go.lock);
    return 0;
}

Test(group, simultaneous_failures_report_one) {
    tt_run(many_fail_main, NULL, 0);
}

static int cancel_group_main(void *arg) {
    reset();
    tide_group_t *g;
    cr_assert_eq(tide_group_new(&g), 0);
    for (int i = 0; i < 20; i++) cr_assert_eq(spawn_ms(g, sleeper, 10000), 0);
    tide_sleep(TIDE_MSEC(5));
    cr_assert_eq(tide_group_cancel(g), 0);
    cr_assert_eq(tide_group_spawn(g, sleeper, (void *)1, NULL), -ECANCELED, "no new children");
    cr_assert_eq(tide_group_wait(g), -ECANCELED);
    cr_assert_eq(atomic_load(&cancelled), 20);
    tide_group_free(g);
    return 0;
}

Test(group, group_cancel_cancels_children) {
    tt_run(cancel_group_main, NULL, 0);
}

typedef struct owner {
    tide_group_t *g;
    int result;
    bool deadline;
} owner_t;

static int owner_fn(void *arg) {
    owner_t *o = arg;
    for (int i = 0; i < 10; i++) cr_assert_eq(spawn_ms(o->g, sleeper, 10000), 0);
    tide_scope_t sc;
    if (o->deadline) tide_timeout_begin(&sc, TIDE_MSEC(10));
    o->result = tide_group_wait(o->g);
    if (o->deadline) tide_scope_end(&sc);
    return 0;
}

static int waiter_cancel_main(void *arg) {
    for (int round = 0; round < TT_SCALE(20); round++) {
        reset();
        owner_t o = {.deadline = round % 2};
        cr_assert_eq(tide_group_new(&o.g), 0);
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, owner_fn, &o), 0);
        if (!o.deadline) {
            tide_sleep(TIDE_USEC(500 + tt_rand() % 2000));
            cr_assert_eq(tide_cancel(t), 0);
        }
        cr_assert_eq(tide_join(t, NULL), 0);
        cr_assert_eq(o.result, o.deadline ? -ETIMEDOUT : -ECANCELED);
        cr_assert_eq(atomic_load(&running), 0, "children went down with the waiter");
        cr_assert_eq(atomic_load(&cancelled), 10);
        tide_group_free(o.g);
    }
    return 0;
}

Test(group, waiter_cancel_or_deadline_takes_children_down) {
    tt_run(waiter_cancel_main, NULL, 0);
}

static int free_live_main(void *arg) {
    reset();
    tide_group_t *g;
    cr_assert_eq(tide_group_new(&g), 0);
    for (int i = 0; i < 10; i++) cr_assert_eq(spawn_ms(g, sleeper, 10000), 0);
    tide_sleep(TIDE_MSEC(2));
    tide_group_free(g); /* cancels and waits */
    cr_assert_eq(atomic_load(&running), 0);
    cr_assert_eq(atomic_load(&cancelled), 10);
    return 0;
}

Test(group, free_with_live_children_cancels_and_waits) {
    tt_run(free_live_main, NULL, 0);
}

/* Children spawn grandchildren into the same group while the owner waits; a long-lived group
 * reaps finished children as it goes. */
typedef struct tree {
    tide_group_t *g;
    _Atomic int count;
    int depth;
} tree_t;

static tree_t tree;

static int node(void *arg) {
    int depth = (int)(intptr_t)arg;
    atomic_fetch_add(&tree.count, 1);
    tt_random_yields(2);
    if (depth < tree.depth)
        for (int i = 0; i < 3; i++)
            cr_assert_eq(tide_group_spawn(tree.g, node, (void *)(intptr_t)(depth + 1), NULL), 0);
    return 0;
}

static int tree_main(void *arg) {
    cr_assert_eq(tide_group_new(&tree.g), 0);
    tree.depth = 7; /* 1 + 3 + ... + 3^7 = 3280 tasks */
    cr_assert_eq(tide_group_spawn(tree.g, node, (void *)0, NULL), 0);
    cr_assert_eq(tide_group_wait(tree.g), 0);
    cr_assert_eq(atomic_load(&tree.count), 3280);
    tide_group_free(tree.g);
    return 0;
}

Test(group, children_spawn_children_thousands) {
    tt_run(tree_main, NULL, 0);
}

/* Children with handles (asyncio's tg.create_task): each child's own status and value after
 * the wait, not only the first error; one child cancelled alone does not fail the group. */
static int valued_child(void *arg) {
    intptr_t ms = (intptr_t)arg;
    int r = tide_sleep(TIDE_MSEC(ms));
    tide_task_set_result((void *)(ms * 10));
    if (r < 0) return r;
    return ms == 100 ? -EIO : 0;
}

static int handles_main(void *arg) {
    tide_group_t *g;
    cr_assert_eq(tide_group_new(&g), 0);
    /* failers (the adversarial rounds below) start at once here */
    tt_gate_init(&failers_go);
    tt_gate_open(&failers_go);
    /* every status, not just the first error */
    int ms[4] = {1, 100, 2000, 5};
    tide_task_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(tide_group_spawn_task(g, &t[i], valued_child, (void *)(intptr_t)ms[i], NULL), 0);
    cr_assert_eq(spawn_ms(g, sleeper, 10000), 0, "a child without a handle, cancelled too");
    cr_assert_eq(tide_group_wait(g), -EIO);
    int want[4] = {0, -EIO, -ECANCELED, 0};
    for (int i = 0; i < 4; i++) {
        int st = 1;
        void *v = NULL;
        cr_assert_eq(tide_join_result(t[i], &st, &v), 0, "the handle is the caller's");
        cr_assert_eq(st, want[i], "child %d: %d", i, st);
        cr_assert_eq((intptr_t)v, ms[i] * 10);
    }

    /* one child cancelled through its handle: the others run on, the group succeeds */
    reset();
    tide_task_t lone;
    cr_assert_eq(tide_group_spawn_task(g, &lone, sleeper, (void *)(intptr_t)10000, NULL), 0);
    for (int i = 0; i < 3; i++) cr_assert_eq(spawn_ms(g, sleeper, 20), 0);
    tide_sleep(TIDE_MSEC(2));
    cr_assert_eq(tide_cancel(lone), 0);
    cr_assert_eq(tide_group_wait(g), 0, "a child cancelled alone is no failure");
    cr_assert_eq(atomic_load(&finished), 3, "its siblings ran to their end");
    int st = 0;
    cr_assert_eq(tide_join(lone, &st), 0);
    cr_assert_eq(st, -ECANCELED);

    /* joined before the wait: fine, and the wait does not wait twice */
    cr_assert_eq(tide_group_spawn_task(g, &lone, valued_child, (void *)(intptr_t)1, NULL), 0);
    cr_assert_eq(tide_join(lone, &st), 0);
    cr_assert_eq(st, 0);
    cr_assert_eq(tide_group_wait(g), 0);

    /* adversarial: kept and plain children, random cancels, random failures, group freed
     * with kept children alive */
    for (int round = 0; round < TT_SCALE(50); round++) {
        enum { N = 16 };
        tide_task_t k[N];
        int nk = 0;
        for (int i = 0; i < N; i++) {
            int d = (int)(tt_rand() % 4);
            int (*fn)(void *) = tt_rand() % 8 == 0 ? failer : sleeper;
            /* once a child failed, the group refuses new ones (-ECANCELED, nothing spawned) */
            bool kept = tt_rand() % 2;
            int r = kept ? tide_group_spawn_task(g, &k[nk], fn, (void *)(intptr_t)d, NULL)
                         : spawn_ms(g, fn, d);
            cr_assert(r == 0 || r == -ECANCELED, "spawn: %d", r);
            if (r == 0 && kept) nk++;
        }
        if (nk && tt_rand() % 2) tide_cancel(k[tt_rand() % nk]);
        tt_random_yields(3);
        int r = tide_group_wait(g);
        cr_assert(r == 0 || r == -EIO, "round %d: %d", round, r);
        for (int i = 0; i < nk; i++) {
            st = 1;
            cr_assert_eq(tide_join(k[i], &st), 0);
            cr_assert(st == 0 || st == -EIO || st == -ECANCELED);
        }
    }
    tide_group_free(g);

    cr_assert_eq(tide_group_new(&g), 0);
    cr_assert_eq(tide_group_spawn_task(g, &lone, sleeper, (void *)(intptr_t)10000, NULL), 0);
    tide_group_free(g); /* cancels and waits for it; the handle is still ours */
    cr_assert_eq(tide_join(lone, &st), 0);
    cr_assert_eq(st, -ECANCELED);
    cr_assert_eq(tide_group_spawn_task(NULL, &lone, sleeper, NULL, NULL), -EINVAL);
    return 0;
}

Test(group, child_handles_give_every_status_and_cancel_one) {
    tt_run(handles_main, NULL, 0);
}

/* Misuse that must stay safe: a child's handle detached before the group is waited and freed
 * (nobody then waits for the child's very end; the group must still not be freed under it). */
static int quick_child(void *arg) {
    tt_random_yields(2);
    return (int)(intptr_t)arg;
}

static int detached_handles_main(void *arg) {
    for (int round = 0; round < TT_SCALE(300); round++) {
        tide_group_t *g;
        cr_assert_eq(tide_group_new(&g), 0);
        for (int i = 0; i < 4; i++) {
            tide_task_t t;
            intptr_t st = i == 3 ? -EIO : 0; /* last: a failed group refuses new children */
            cr_assert_eq(tide_group_spawn_task(g, &t, quick_child, (void *)st, NULL), 0);
            cr_assert_eq(tide_detach(t), 0);
        }
        if (round % 2) cr_assert_eq(tide_group_wait(g), -EIO);
        tide_group_free(g);
    }
    return 0;
}

Test(group, detached_child_handle_does_not_outlive_the_group) {
    tt_run(detached_handles_main, NULL, 0);
}
