/* Stacks: an overflow is reported clearly (which task, "stack overflow") and stops the
 * process, whatever guard the stack has (kernel guard markers, mprotect'ed pages, or the
 * canary used when mappings run out); a million concurrent tasks work with default
 * settings; stacks are reused. Overflows run in a child process. */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static volatile int keep_going = 1;

static int recurse(int depth) {
    volatile char frame[512];
    frame[0] = (char)depth;
    if (!keep_going) return 0; /* never true: tells the compiler the recursion can end */
    return recurse(depth + 1) + frame[0];
}

static int overflow_task(void *arg) {
    return recurse(0);
}

static int overflow_main(void *arg) {
    tide_task_t t;
    tide_spawn_opts_t opts = {.name = "deep-recursion"};
    cr_assert_eq(tide_spawn_opts(&t, overflow_task, NULL, &opts), 0);
    tide_join(t, NULL);
    return 0;
}

/* Run an overflowing task in a child with TIDE_STACK_GUARD=mode; return its stderr. */
static void run_child(const char *mode, int *status, char *err, size_t errlen) {
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        if (mode) setenv("TIDE_STACK_GUARD", mode, 1);
        /* Keep the child's core dump out of the way. */
        signal(SIGABRT, SIG_DFL);
        tide_run(overflow_main, NULL);
        _exit(0); /* not reached: the overflow stops the process */
    }
    close(pipefd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < errlen && (r = read(pipefd[0], err + n, errlen - 1 - n)) > 0) n += (size_t)r;
    err[n] = 0;
    close(pipefd[0]);
    cr_assert_eq(waitpid(pid, status, 0), pid);
}

static void expect_overflow_report(const char *mode) {
    int status;
    char err[4096];
    run_child(mode, &status, err, sizeof err);
#if defined(TT_SANITIZED)
    /* ASan/TSan may intercept the fault first and print their own stack-overflow report. */
    cr_assert(WIFSIGNALED(status) || WEXITSTATUS(status) != 0, "child must not exit cleanly");
    cr_assert(strstr(err, "stack overflow") || strstr(err, "stack-overflow") || strstr(err, "SEGV"),
              "no overflow report: %s", err);
#else
    cr_assert(WIFSIGNALED(status), "child was not stopped by a signal (status %d)", status);
    cr_assert_eq(WTERMSIG(status), SIGABRT, "stopped by signal %d", WTERMSIG(status));
    cr_assert(strstr(err, "stack overflow"), "stderr does not say stack overflow: %s", err);
    cr_assert(strstr(err, "deep-recursion"), "stderr does not name the task: %s", err);
    cr_assert(strstr(err, "test_stack.c"), "stderr does not give the spawn site: %s", err);
#endif
}

Test(stack, overflow_reported_with_default_guard) {
    expect_overflow_report(NULL);
}

Test(stack, overflow_reported_with_mprotect_guard) {
    expect_overflow_report("mprotect");
}

Test(stack, runaway_overflow_reported_with_canary) {
    /* No guard page: the recursion runs through the moat; the fault it ends in is still
     * recognised as this task's overflow (its stack pointer is below its stack). */
    expect_overflow_report("canary");
}

/* A moderate overflow that returns before anything faults: only the canary can see it. */
static int dip(int depth) {
    volatile char frame[512];
    for (unsigned i = 0; i < sizeof frame; i++) frame[i] = (char)depth; /* a buffer in use */
    if (depth == 0 || !keep_going) return frame[0];
    return dip(depth - 1) + frame[0];
}

static int moderate_task(void *arg) {
    dip(150); /* ~75+ KiB: past the end of a 64 KiB stack, into the moat below it */
    tide_sleep(TIDE_MSEC(1)); /* switching out checks the canary */
    return 0;
}

static int moderate_main(void *arg) {
    tide_task_t t;
    tide_spawn_opts_t opts = {.name = "deep-recursion", .stack_size = 64 * 1024};
    cr_assert_eq(tide_spawn_opts(&t, moderate_task, NULL, &opts), 0);
    tide_join(t, NULL);
    return 0;
}

Test(stack, moderate_overflow_caught_by_canary) {
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        setenv("TIDE_STACK_GUARD", "canary", 1);
        tide_run(moderate_main, NULL);
        _exit(0);
    }
    close(pipefd[1]);
    char err[4096];
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof err && (r = read(pipefd[0], err + n, sizeof err - 1 - n)) > 0) n += (size_t)r;
    err[n] = 0;
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
#if !defined(TT_SANITIZED)
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %d, stderr: %s", status, err);
    cr_assert(strstr(err, "stack overflow") && strstr(err, "deep-recursion"), "stderr: %s", err);
#else
    cr_assert(status != 0);
#endif
}

/* ---- a million tasks ---- */

static tt_gate_t gate;
static _Atomic uint64_t parked_ok;

static int idle_task(void *arg) {
    int r = tt_gate_wait(&gate);
    if (r == 0) atomic_fetch_add_explicit(&parked_ok, 1, memory_order_relaxed);
    return r;
}

Test(stack, a_million_concurrent_tasks) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tt_gate_init(&gate);
    uint64_t n = TT_LIVE(1000000);
    tide_runtime_t *rt = tt_runtime(2);
    for (uint64_t i = 0; i < n; i++) {
        tide_spawn_opts_t opts = {.detached = 1};
        cr_assert_eq(tide_runtime_spawn(rt, NULL, idle_task, NULL, &opts), 0);
    }
    while (tt_gate_waiting(&gate) < n) tide_sleep(TIDE_MSEC(5));
    tide_stats_t st;
    tide_runtime_stats(rt, &st, NULL, 0);
    cr_assert_geq(st.stacks_live, n, "every parked task holds its stack");
    tt_gate_open(&gate);
    while (atomic_load(&parked_ok) < n) tide_sleep(TIDE_MSEC(5));
    tide_sleep(TIDE_MSEC(10));
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}

static int short_lived(void *arg) {
    return 0;
}

static int reuse_main(void *arg) {
    for (int round = 0; round < 50; round++) {
        tide_task_t ts[64];
        for (int i = 0; i < 64; i++) cr_assert_eq(tide_spawn(&ts[i], short_lived, NULL), 0);
        for (int i = 0; i < 64; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    }
    return 0;
}

Test(stack, stacks_are_reused_not_remapped) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_runtime_t *rt = tt_runtime(2);
    cr_assert_eq(tide_runtime_block_on(rt, reuse_main, NULL), 0);
    tide_stats_t st;
    tide_runtime_stats(rt, &st, NULL, 0);
    /* 3,200 tasks ran, at most ~65 at a time (plus a worker cache's worth per worker). */
    cr_assert_lt(st.stacks_mapped, 600, "%llu stacks mapped for 3,200 short tasks",
                 (unsigned long long)st.stacks_mapped);
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}
