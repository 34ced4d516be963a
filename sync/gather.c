/* gather (collect every status) and wait (asyncio.wait: FIRST_COMPLETED, FIRST_ERROR,
 * ALL_COMPLETED), over tasks the caller spawned.
 *
 * Waiting for all in order is one watch per task, so gather without fail-fast and
 * ALL_COMPLETED are linear. Waiting for "any" uses rounds (taskset.c): each round watches
 * the unfinished tasks and parks once, so it costs O(unfinished) per wake-up; a round ends
 * at the first task already found finished, so tasks finishing in bursts are cheap. */
#include <stdlib.h>

#include "common.h"
#include "taskset.h"

/* Order handles by record, so duplicates end up side by side. */
static int cmp_handle(const void *a, const void *b) {
    const tide_task_t *x = a, *y = b;
    if (x->ptr != y->ptr) return (uintptr_t)x->ptr < (uintptr_t)y->ptr ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Validate every handle, and (gather, which joins) refuse the same handle twice, before
 * doing anything, so an error
 * leaves the caller's tasks alone (a duplicate would be joined twice: its second join could
 * only fail). Few handles are compared pairwise; many are sorted in a scratch copy. */
static int check_handles(const tide_task_t *tasks, size_t n, bool unique) {
    for (size_t i = 0; i < n; i++)
        if (tide_task_done(tasks[i]) < 0) return -ESRCH;
    if (!unique) return 0;
    if (n <= 32) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (tasks[i].ptr == tasks[j].ptr && tasks[i].id == tasks[j].id) return -EINVAL;
        return 0;
    }
    if (n > SIZE_MAX / sizeof *tasks) return -ENOMEM;
    tide_task_t *copy = tide__alloc(n * sizeof *copy);
    if (!copy) return -ENOMEM;
    memcpy(copy, tasks, n * sizeof *copy);
    qsort(copy, n, sizeof *copy, cmp_handle);
    int r = 0;
    for (size_t i = 1; i < n && !r; i++)
        if (cmp_handle(&copy[i - 1], &copy[i]) == 0) r = -EINVAL;
    tide__free(copy, n * sizeof *copy);
    return r;
}

/* Join task i (finished or not), storing what it handed back. */
static int join_one(tide_task_t *tasks, size_t i, int *statuses, void **values) {
    int st = -ESRCH;
    void *v = NULL;
    int r = tide_join_result(tasks[i], &st, &v);
    if (r == -ESRCH) st = -ESRCH; /* released behind our back (misuse): report it, go on */
    else if (r < 0) return r;
    if (statuses) statuses[i] = st;
    if (values) values[i] = v;
    return 0;
}

/* The caller's wait ended early (or fail-fast): cancel the tasks not yet joined and join
 * them, shielded, so nothing is left running. */
static void cancel_and_join(tide_task_t *tasks, size_t n, const uint8_t *joined,
                            int *statuses, void **values) {
    for (size_t i = 0; i < n; i++)
        if (!joined || !joined[i]) tide_cancel(tasks[i]);
    tide_shield_t shield;
    tide_shield_begin(&shield);
    for (size_t i = 0; i < n; i++)
        if (!joined || !joined[i]) join_one(tasks, i, statuses, values);
    tide_shield_end(&shield);
}

static int gather_in_order(tide_task_t *tasks, size_t n, int *statuses, void **values) {
    for (size_t i = 0; i < n; i++) {
        int r = join_one(tasks, i, statuses, values);
        if (r < 0) {
            cancel_and_join(tasks + i, n - i, NULL, statuses ? statuses + i : NULL,
                            values ? values + i : NULL);
            return r;
        }
    }
    return 0;
}

enum { JOINED = 3 };

/* FAIL_FAST and FIRST_ERROR: join tasks as they end, and stop at the first failure; FAIL_FAST
 * then cancels and joins the rest, FIRST_ERROR leaves them running for the caller. */
static int gather_as_they_end(tide_task_t *tasks, size_t n, int *statuses, void **values,
                              int flags) {
    tide__taskset_t set;
    int r = tide__taskset_init(&set, n);
    if (r < 0) return r;
    /* set.ended[i]: 0 running, 1 ended (to be joined), JOINED once its status is taken. */
    int failure = 0;
    size_t left = n;
    while (left > 0) {
        r = tide__taskset_wait(&set, tasks);
        if (r == -ESRCH) {
            /* A handle released behind our back (misuse): it counts as ended. */
            for (size_t i = 0; i < n; i++)
                if (!set.ended[i] && tide_task_done(tasks[i]) < 0) {
                    set.ended[i] = JOINED;
                    if (statuses) statuses[i] = -ESRCH;
                    if (values) values[i] = NULL;
                    left--;
                }
            continue;
        }
        if (r < 0) break;
        for (size_t i = 0; i < n; i++) {
            if (set.ended[i] != 1) continue;
            set.ended[i] = JOINED;
            left--;
            join_one(tasks, i, statuses, values); /* finished: does not block */
            if (statuses && statuses[i] < 0 && !failure) failure = statuses[i];
        }
        if (failure) break;
    }
    if (left > 0 && failure && (flags & TIDE_GATHER_FIRST_ERROR)) {
        /* The failure goes to the caller now; the rest run on, their handles still valid. */
        for (size_t i = 0; i < n; i++) {
            if (set.ended[i] == JOINED) continue;
            if (statuses) statuses[i] = -EINPROGRESS;
            if (values) values[i] = NULL;
        }
    } else if (left > 0) {
        uint8_t *joined = set.ended; /* nonzero: already joined (or released behind us) */
        for (size_t i = 0; i < n; i++) joined[i] = joined[i] == JOINED;
        cancel_and_join(tasks, n, joined, statuses, values);
    }
    tide__taskset_fini(&set);
    if (failure) return failure;
    return r < 0 ? r : 0;
}

int tide_gather_results(tide_task_t *tasks, size_t n, int *statuses, void **values, int flags) {
    int modes = TIDE_GATHER_FAIL_FAST | TIDE_GATHER_FIRST_ERROR;
    if ((!tasks && n) || (flags & ~modes) || (flags & modes) == modes) return -EINVAL;
    /* FIRST_ERROR leaves some handles to the caller: the statuses say which. */
    if ((flags & TIDE_GATHER_FIRST_ERROR) && !statuses && n) return -EINVAL;
    int r = check_handles(tasks, n, true);
    if (r < 0) return r;
    if (!(flags & modes)) return gather_in_order(tasks, n, statuses, values);
    /* These modes read each status as it comes: keep them somewhere if the caller won't. */
    int small[8];
    int *st = statuses;
    if (!st && n <= 8) st = small;
    else if (!st && (n > SIZE_MAX / sizeof *st || !(st = tide__alloc(n * sizeof *st))))
        return -ENOMEM;
    r = gather_as_they_end(tasks, n, st, values, flags);
    if (!statuses && st != small) tide__free(st, n * sizeof *st);
    return r;
}

int tide_gather(tide_task_t *tasks, size_t n, int *statuses, int flags) {
    return tide_gather_results(tasks, n, statuses, NULL, flags);
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

/* Wait until mode's condition holds: 0, or a negative errno. */
static int wait_for(tide_task_t *tasks, size_t n, tide_wait_mode_t mode) {
    if ((!tasks && n) || n > INT32_MAX) return -EINVAL;
    if (mode != TIDE_FIRST_COMPLETED && mode != TIDE_FIRST_ERROR && mode != TIDE_ALL_COMPLETED)
        return -EINVAL;
    int r = check_handles(tasks, n, false); /* waiting twice on one task is harmless */
    if (r < 0 || n == 0) return r;
    if (mode == TIDE_ALL_COMPLETED) return wait_all(tasks, n);

    tide__taskset_t set;
    r = tide__taskset_init(&set, n);
    if (r < 0) return r;
    for (size_t i = 0; i < n; i++) set.ended[i] = tide_task_done(tasks[i]) == 1;
    size_t ended = 0;
    for (size_t i = 0; i < n; i++) ended += set.ended[i];
    for (;;) {
        if (mode == TIDE_FIRST_COMPLETED && ended > 0) break;
        if (mode == TIDE_FIRST_ERROR && (ended == n || any_failed(tasks, n, set.ended))) break;
        r = tide__taskset_wait(&set, tasks);
        if (r < 0) break;
        ended += (size_t)r;
    }
    tide__taskset_fini(&set);
    return r > 0 ? 0 : r;
}

/* Errors found before waiting leave the outputs alone; the caller's deadline or cancellation
 * does not: they still say where each task stands. */
static bool refused(int r) {
    return r == -EINVAL || r == -ESRCH || r == -ENOMEM;
}

int tide_wait(tide_task_t *tasks, size_t n, tide_wait_mode_t mode, uint8_t *done) {
    int r = wait_for(tasks, n, mode);
    if (refused(r)) return r;
    int count = count_done(tasks, n, done);
    return r < 0 ? r : count;
}

int tide_wait_sets(tide_task_t *tasks, size_t n, tide_wait_mode_t mode, tide_task_t *done,
                   tide_task_t *pending, size_t *ndone) {
    int r = wait_for(tasks, n, mode);
    if (refused(r)) return r;
    /* One look at each task, so a task that ends meanwhile is in exactly one set. */
    size_t d = 0, p = 0;
    for (size_t i = 0; i < n; i++) {
        if (tide_task_done(tasks[i]) == 1) {
            if (done) done[d] = tasks[i];
            d++;
        } else {
            if (pending) pending[p] = tasks[i];
            p++;
        }
    }
    if (ndone) *ndone = d;
    return r < 0 ? r : (int)d;
}
