/* Observability: runtime statistics, the task dump (names, states, what a task waits on,
 * spawn sites), and debug mode's reports of slow tasks and failures nobody joined. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static tt_gate_t gate;

static int waiter(void *arg) {
    return tt_gate_wait(&gate);
}

static int stats_main(void *arg) {
    tide_task_t ts[100];
    for (int i = 0; i < 100; i++) {
        tide_spawn_opts_t opts = {.name = i == 7 ? "the-seventh" : NULL};
        cr_assert_eq(tide_spawn_opts(&ts[i], waiter, NULL, &opts), 0);
    }
    while (tt_gate_waiting(&gate) < 100) tide_yield();

    tide_runtime_t *rt = tide_runtime_current();
    tide_stats_t st;
    tide_worker_stats_t ws[8];
    cr_assert_eq(tide_runtime_stats(rt, &st, ws, 8), 0);
    cr_assert_eq(st.workers, 2);
    cr_assert_geq(st.tasks_spawned, 101);
    cr_assert_geq(st.tasks_live, 101, "100 waiters and main");
    cr_assert_geq(st.stacks_live, 101);
    cr_assert_geq(ws[0].tasks_run + ws[1].tasks_run, 101);

    /* The dump names the waiters, their state, what they wait on and where they came from. */
    char path[] = "/tmp/tide-dump-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_geq(tide_runtime_dump(rt, fd), 101);
    lseek(fd, 0, SEEK_SET);
    static char buf[1 << 16];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    cr_assert(strstr(buf, "'the-seventh' waiting on test gate"), "dump: %.2000s", buf);
    cr_assert(strstr(buf, "test_observability.c:"), "spawn site missing");
    cr_assert(strstr(buf, "'main' running"), "the dumping task is running");

    tt_gate_open(&gate);
    for (int i = 0; i < 100; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    return 0;
}

Test(observability, stats_and_task_dump) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tt_gate_init(&gate);
    tide_runtime_t *rt = tt_runtime(2);
    cr_assert_eq(tide_runtime_block_on(rt, stats_main, NULL), 0);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

static int hog(void *arg) {
    int64_t until = tide_now() + TIDE_MSEC(150);
    while (tide_now() < until) {
    }
    return 0;
}

static int fails(void *arg) {
    return -ECONNRESET;
}

static int debug_main(void *arg) {
    tide_task_t t;
    tide_spawn_opts_t slow = {.name = "hog"};
    cr_assert_eq(tide_spawn_opts(&t, hog, NULL, &slow), 0);
    cr_assert_eq(tide_join(t, NULL), 0);
    tide_spawn_opts_t bad = {.name = "failer", .detached = 1};
    cr_assert_eq(tide_spawn_opts(NULL, fails, NULL, &bad), 0);
    tide_spawn_opts_t bad2 = {.name = "never-joined"};
    cr_assert_eq(tide_spawn_opts(&t, fails, NULL, &bad2), 0); /* dropped on purpose */
    tide_sleep(TIDE_MSEC(10));
    return 0;
}

/* The live counts are kept per worker (a task that begins on one worker and ends on another
 * counts +1 in the first's cache and -1 in the second's): their sum must be exact. Tasks
 * wander between the workers by random yields before and after they park. */
#define WANDERERS 2000
static tt_gate_t wander_gate;

static int wanderer(void *arg) {
    tt_random_yields(8);
    int r = tt_gate_wait(&wander_gate);
    tt_random_yields(8);
    return r;
}

static int live_counts_main(void *arg) {
    tide_runtime_t *rt = tide_runtime_current();
    static tide_task_t ts[WANDERERS];
    tide_stats_t st;
    for (int round = 0; round < TT_SCALE(20); round++) {
        for (int i = 0; i < WANDERERS; i++) cr_assert_eq(tide_spawn(&ts[i], wanderer, NULL), 0);
        while (tt_gate_waiting(&wander_gate) < WANDERERS) tide_yield();
        cr_assert_eq(tide_runtime_stats(rt, &st, NULL, 0), 0);
        cr_assert_eq(st.tasks_live, WANDERERS + 1, "round %d: %llu records live", round,
                     (unsigned long long)st.tasks_live);
        cr_assert_eq(st.stacks_live, WANDERERS + 1, "round %d: %llu stacks live", round,
                     (unsigned long long)st.stacks_live);
        tt_gate_open(&wander_gate);
        for (int i = 0; i < WANDERERS; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
        tt_gate_init(&wander_gate);
        /* Every wanderer has ended (its stack went back before its join could return) and
         * been joined (its record recycled): only main is left. */
        cr_assert_eq(tide_runtime_stats(rt, &st, NULL, 0), 0);
        cr_assert_eq(st.tasks_live, 1, "round %d: %llu records live after the joins", round,
                     (unsigned long long)st.tasks_live);
        cr_assert_eq(st.stacks_live, 1, "round %d: %llu stacks live after the joins", round,
                     (unsigned long long)st.stacks_live);
    }
    return 0;
}

Test(observability, live_counts_are_exact_when_tasks_end_on_another_worker) {
    tt_gate_init(&wander_gate);
    tt_run(live_counts_main, NULL, 2);
}

Test(observability, debug_mode_reports_slow_tasks_and_unjoined_failures) {
    char path[] = "/tmp/tide-debug-XXXXXX";
    int fd = mkstemp(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.debug = 1;
    /* Well above what a short task can take when its thread is preempted on a loaded machine
     * or paused by TIDE_SHAKE (main was reported at 10 ms), well below the hog's 150 ms. */
    cfg.slow_task_ns = TIDE_MSEC(50);
    cr_assert_eq(tide_run_config(&cfg, debug_main, NULL), 0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    static char buf[1 << 14];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
    cr_assert(strstr(buf, "'hog'") && strstr(buf, "without yielding"), "stderr: %s", buf);
    cr_assert(strstr(buf, "'failer'") && strstr(buf, "nobody joined"), "stderr: %s", buf);
    cr_assert(strstr(buf, "'never-joined'"), "stderr: %s", buf);
    /* main was joined and succeeded: no failure report names it (a slow sanitizer build may
     * report it as slow, which is true there). */
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        cr_assert(!strstr(line, "'main'") || !strstr(line, "nobody joined"), "%s", line);
}
