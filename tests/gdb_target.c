/* The program tests/test_gdb.sh debugs: named tasks parked in known functions, then a stop at
 * gdb_target_ready() (and one task running) where gdb lists the tasks and prints their backtraces. Run alone, it
 * just finishes (exit 0). */
#include <stdatomic.h>
#include <stdio.h>

#include "tide.h"

static _Atomic int parked;

/* Where the 'sleepy' task parks: a plain sleep, one frame down. */
__attribute__((noinline)) int gdb_target_sleep_leaf(int64_t ns) {
    atomic_fetch_add(&parked, 1);
    int r = tide_sleep(ns);
    __asm__ __volatile__("" ::: "memory"); /* not a tail call: keep this frame */
    return r;
}

static int sleepy(void *arg) {
    return gdb_target_sleep_leaf(TIDE_SEC(3600)) == -ECANCELED ? 0 : -1;
}

/* Where the 'waiter' tasks park: on their own waker, nobody wakes it (cancel ends it). */
__attribute__((noinline)) int gdb_target_wait_here(int depth) {
    if (depth > 0) {
        int r = gdb_target_wait_here(depth - 1);
        __asm__ __volatile__("" ::: "memory");
        return r;
    }
    tide_park_prepare();
    atomic_fetch_add(&parked, 1);
    int r = tide_park_on("gdb test");
    __asm__ __volatile__("" ::: "memory");
    return r;
}

static int waiter(void *arg) {
    return gdb_target_wait_here(2) == -ECANCELED ? 0 : -1;
}

static _Atomic int spinning, stop;

/* Where the 'spinner' task runs when gdb stops the program: on a worker, never parked. */
__attribute__((noinline)) void gdb_target_spin(void) {
    atomic_store(&spinning, 1);
    while (!atomic_load(&stop)) {
    }
}

static int spinner(void *arg) {
    gdb_target_spin();
    return 0;
}

/* gdb stops here: three tasks are parked, one is running. */
__attribute__((noinline)) void gdb_target_ready(void) {
    __asm__ __volatile__("" ::: "memory");
}

int main(void) {
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.workers = 2;
    tide_runtime_t *rt;
    if (tide_runtime_new(&rt, &cfg) < 0) return 1;
    tide_task_t tasks[4];
    tide_spawn_opts_t sleepy_opts = {.name = "sleepy"};
    tide_spawn_opts_t waiter_opts = {.name = "waiter"};
    if (tide_runtime_spawn(rt, &tasks[0], sleepy, NULL, &sleepy_opts) < 0) return 1;
    if (tide_runtime_spawn(rt, &tasks[1], waiter, NULL, &waiter_opts) < 0) return 1;
    if (tide_runtime_spawn(rt, &tasks[2], waiter, NULL, &waiter_opts) < 0) return 1;
    int64_t until = tide_now() + TIDE_SEC(30);
    while (atomic_load(&parked) < 3 && tide_now() < until) tide_sleep(TIDE_MSEC(1));
    tide_sleep(TIDE_MSEC(20)); /* from "about to park" to parked */
    tide_spawn_opts_t spinner_opts = {.name = "spinner"};
    if (tide_runtime_spawn(rt, &tasks[3], spinner, NULL, &spinner_opts) < 0) return 1;
    while (!atomic_load(&spinning) && tide_now() < until) tide_sleep(TIDE_MSEC(1));
    gdb_target_ready();
    atomic_store(&stop, 1);
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        int status = -1;
        tide_cancel(tasks[i]);
        if (tide_join(tasks[i], &status) < 0 || status != 0) bad = 1;
    }
    tide_runtime_close(rt);
    puts(bad ? "gdb_target: a task did not end as expected" : "gdb_target: done");
    fflush(stdout);
    return bad;
}
