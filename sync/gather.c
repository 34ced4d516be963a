/* gather (collect every status) and wait (asyncio.wait: FIRST_COMPLETED, FIRST_ERROR,
 * ALL_COMPLETED), over tasks the caller spawned.
 *
 * Waiting for all in order is one watch per task, so gather without fail-fast and
 * ALL_COMPLETED are linear. Waiting for "any" uses rounds (taskset.c): each round watches
 * the unfinished tasks and parks once, so it costs O(unfinished) per wake-up; a round ends
 * at the first task already found finished, so tasks finishing in bursts are cheap. */
#include "common.h"
#include "taskset.h"

/* Validate every handle before doing anything, so -ESRCH leaves the caller's tasks alone. */
static int check_handles(const tide_task_t *tasks, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (tide_task_done(tasks[i]) < 0) return -ESRCH;
    return 0;
}

/* The caller's wait ended early (or fail-fast): cancel the tasks not yet joined and join
 * them, shielded, so nothing is left running. */
static void cancel_and_join(tide_task_t *tasks, size_t n, const uint8_t *joined,
                            int *statuses) {
    for (size_t i = 0; i < n; i++)
        if (!joined || !joined[i]) tide_cancel(tasks[i]);
    tide_scope_t shield;
    tide_shield_begin(&shield);
    for (size_t i = 0; i < n; i++) {
        if (joined && joined[i]) continue;
        int st = -ESRCH;
        tide_join(tasks[i], &st);
        if (statuses) statuses[i] = st;
    }
    tide_shield_end(&shield);
}

static int gather_in_order(tide_task_t *tasks, size_t n, int *statuses) {
    for (size_t i = 0; i < n; i++) {
        int st = 0;
        int r = tide_join(tasks[i], &st);
        if (r == -ESRCH) st = -ESRCH; /* the same handle twice: the first entry took it */
        else if (r < 0) {
            cancel_and_join(tasks + i, n - i, NULL, statuses ? statuses + i : NULL);
            return r;
        }
        if (statuses) statuses[i] = st;
    }
    return 0;
}

enum { JOINED = 3 };

static int gather_fail_fast(tide_task_t *tasks, size_t n, int *statuses) {
    tide__taskset_t set;
    int r = tide__taskset_init(&set, n);
    if (r < 0) return r;
    /* set.ended[i]: 0 running, 1 ended (to be joined), JOINED once its status is taken. */
    int failure = 0;
    size_t left = n;
    while (left > 0) {
        r = tide__taskset_wait(&set, tasks);
        if (r == -ESRCH) {
            /* A duplicate handle released by our own join: it counts as ended. */
            for (size_t i = 0; i < n; i++)
                if (!set.ended[i] && tide_task_done(tasks[i]) < 0) {
                    set.ended[i] = JOINED;
                    if (statuses) statuses[i] = -ESRCH;
                    left--;
                }
            continue;
        }
        if (r < 0) break;
        for (size_t i = 0; i < n; i++) {
            if (set.ended[i] != 1) continue;
            set.ended[i] = JOINED;
            left--;
            int st = -ESRCH;
            tide_join(tasks[i], &st); /* finished: does not block */
            if (statuses) statuses[i] = st;
            if (st < 0 && !failure) {
                failure = st;
                for (size_t j = 0; j < n; j++)
                    if (!set.ended[j]) tide_cancel(tasks[j]);
            }
        }
        if (failure) break;
    }
    if (left > 0) {
        uint8_t *joined = set.ended; /* nonzero: already joined (or a dead duplicate) */
        cancel_and_join(tasks, n, joined, statuses);
    }
    tide__taskset_fini(&set);
    if (failure) return failure;
    return r < 0 ? r : 0;
}

int tide_gather(tide_task_t *tasks, size_t n, int *statuses, int flags) {
    if ((!tasks && n) || (flags & ~TIDE_GATHER_FAIL_FAST)) return -EINVAL;
    int r = check_handles(tasks, n);
    if (r < 0) return r;
    if (flags & TIDE_GATHER_FAIL_FAST) return gather_fail_fast(tasks, n, statuses);
    return gather_in_order(tasks, n, statuses);
}

/* ---- wait ------------------------------------------------------------------------------ */

/* Fill done[] from the tasks' current state; returns how many have finished. */
static int count_done(const tide_task_t *tasks, size_t n, uint8_t *done) {
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        int d = tide_task_done(tasks[i]) == 1;
        if (done) done[i] = (uint8_t)d;
        count += d;
    }
    return count;
}

/* Any finished task with a negative status? */
static bool any_failed(const tide_task_t *tasks, size_t n, const uint8_t *ended) {
    for (size_t i = 0; i < n; i++) {
        int st;
        if (ended[i] && tide_task_status(tasks[i], &st) == 1 && st < 0) return true;
    }
    return false;
}

static int wait_all(tide_task_t *tasks, size_t n) {
    for (size_t i = 0; i < n; i++) {
        for (;;) {
            tide_watch_t watch;
            int r = tide_task_watch(tasks[i], &watch, tide_park_prepare());
            if (r == 1) break;
            if (r < 0) return r;
            int pr = tide_park_on("wait tasks");
            tide_task_unwatch(tasks[i], &watch);
            if (watch.fired) break;
            if (pr < 0) return pr;
        }
    }
    return 0;
}

int tide_wait(tide_task_t *tasks, size_t n, tide_wait_mode_t mode, uint8_t *done) {
    if ((!tasks && n) || n > INT32_MAX) return -EINVAL;
    if (mode != TIDE_FIRST_COMPLETED && mode != TIDE_FIRST_ERROR && mode != TIDE_ALL_COMPLETED)
        return -EINVAL;
    int r = check_handles(tasks, n);
    if (r < 0) return r;
    if (n == 0) return 0;

    if (mode == TIDE_ALL_COMPLETED) {
        r = wait_all(tasks, n);
    } else {
        tide__taskset_t set;
        r = tide__taskset_init(&set, n);
        if (r < 0) return r;
        for (size_t i = 0; i < n; i++) set.ended[i] = tide_task_done(tasks[i]) == 1;
        size_t ended = 0;
        for (size_t i = 0; i < n; i++) ended += set.ended[i];
        for (;;) {
            if (mode == TIDE_FIRST_COMPLETED && ended > 0) break;
            if (mode == TIDE_FIRST_ERROR && (ended == n || any_failed(tasks, n, set.ended)))
                break;
            r = tide__taskset_wait(&set, tasks);
            if (r < 0) break;
            ended += (size_t)r;
        }
        tide__taskset_fini(&set);
        if (r > 0) r = 0;
    }
    int count = count_done(tasks, n, done);
    return r < 0 ? r : count;
}
