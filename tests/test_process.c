/* Child processes: output and exit status (zero, non-zero, killed), stdin written while
 * stdout is read, environment and working directory, stderr, programs that cannot run, many
 * children at once, deadlines and cancels in the middle of reads, writes and waits (nothing
 * read is lost, nothing is left running or unreaped), and misuse. */
#include "testutil.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

/* libuv learns that a child exited from SIGCHLD: under TSan a helper thread takes it (see
 * tt_signal_sink_begin). The sink starts before the runtime, whose threads inherit the mask. */
static void run_main(int (*fn)(void *), void *arg) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    tt_signal_sink_begin(&set);
    tt_run(fn, arg, 0);
    tt_signal_sink_end();
}

/* The child is gone for good: reaped, not a zombie. */
static void assert_reaped(pid_t pid) {
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1);
    cr_assert_eq(errno, ECHILD);
}

static tide_process_t *spawn(char **argv, int in, int out, int err) {
    tide_process_opts_t o = {.argv = argv, .stdin_mode = in, .stdout_mode = out,
                             .stderr_mode = err};
    tide_process_t *p = NULL;
    int r = tide_process_spawn(&p, &o);
    cr_assert_eq(r, 0, "spawn %s: %s", argv[0], tide_strerror(r));
    cr_assert_gt(tide_process_pid(p), 0);
    return p;
}

/* ---- output and exit status ------------------------------------------------------------ */

static int output(void *arg) {
    char *out;
    size_t len;
    int code = -1;
    char *echo[] = {"echo", "hello", "world", NULL};
    cr_assert_eq(tide_process_output(echo, &out, &len, &code), 0);
    cr_assert_eq(len, 12);
    cr_assert_str_eq(out, "hello world\n");
    cr_assert_eq(code, 0);
    free(out);

    /* The same by hand, reading in small pieces. */
    char *seq[] = {"seq", "1", "2000", NULL};
    tide_process_t *p = spawn(seq, TIDE_STDIO_NULL, TIDE_STDIO_PIPE, TIDE_STDIO_INHERIT);
    char buf[7];
    size_t total = 0;
    unsigned long sum = 0, cur = 0;
    ssize_t n;
    while ((n = tide_process_read(p, TIDE_STDOUT, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                sum += cur;
                cur = 0;
            } else {
                cur = cur * 10 + (unsigned long)(buf[i] - '0');
            }
        }
        total += (size_t)n;
    }
    cr_assert_eq(n, 0);
    cr_assert_eq(sum, 2000ul * 2001 / 2);
    cr_assert_eq(tide_process_read(p, TIDE_STDOUT, buf, sizeof buf), 0); /* stays at EOF */
    int sig = -1;
    cr_assert_eq(tide_process_wait(p, &code, &sig), 0);
    cr_assert_eq(code, 0);
    cr_assert_eq(sig, 0);
    /* Waiting again returns the same at once. */
    cr_assert_eq(tide_process_wait(p, &code, &sig), 0);
    cr_assert_eq(code, 0);
    pid_t pid = tide_process_pid(p);
    cr_assert_eq(tide_process_kill(p, SIGTERM), -ESRCH);
    cr_assert_eq(tide_process_close(p), 0);
    assert_reaped(pid);
    return 0;
}

Test(process, output_and_exit_status) {
    run_main(output, NULL);
}

static int exit_codes(void *arg) {
    char *sh[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    tide_process_t *p = spawn(sh, TIDE_STDIO_NULL, TIDE_STDIO_PIPE, TIDE_STDIO_PIPE);
    char *out, *err;
    size_t olen, elen;
    cr_assert_eq(tide_process_read_all(p, TIDE_STDOUT, &out, &olen, 0), 0);
    cr_assert_eq(tide_process_read_all(p, TIDE_STDERR, &err, &elen, 0), 0);
    cr_assert_str_eq(out, "out\n");
    cr_assert_str_eq(err, "err\n");
    free(out);
    free(err);
    int code = -1, sig = -1;
    cr_assert_eq(tide_process_wait(p, &code, &sig), 0);
    cr_assert_eq(code, 3);
    cr_assert_eq(sig, 0);
    cr_assert_eq(tide_process_close(p), 0);

    char *f[] = {"false", NULL};
    cr_assert_eq(tide_process_output(f, NULL, NULL, &code), 0);
    cr_assert_eq(code, 1);

    /* Killed: the signal, not an exit code. */
    char *sl[] = {"sleep", "10", NULL};
    p = spawn(sl, TIDE_STDIO_NULL, TIDE_STDIO_NULL, TIDE_STDIO_NULL);
    cr_assert_eq(tide_process_kill(p, 0), 0); /* alive */
    cr_assert_eq(tide_process_kill(p, SIGTERM), 0);
    cr_assert_eq(tide_process_wait(p, &code, &sig), 0);
    cr_assert_eq(sig, SIGTERM);
    cr_assert_eq(code, 0);
    cr_assert_eq(tide_process_kill(p, SIGKILL), -ESRCH);
    cr_assert_eq(tide_process_close(p), 0);

    char *selfkill[] = {"sh", "-c", "kill -9 $$", NULL};
    cr_assert_eq(tide_process_output(selfkill, NULL, NULL, &code), 0);
    cr_assert_eq(code, 128 + SIGKILL);
    return 0;
}

Test(process, nonzero_exit_and_killed_child) {
    run_main(exit_codes, NULL);
}

/* ---- stdin ----------------------------------------------------------------------------- */

#define PAYLOAD ((size_t)1 << 20)

typedef struct feed {
    tide_process_t *p;
    const char *data;
} feed_t;

static int feeder(void *arg) {
    feed_t *f = arg;
    size_t done = 0;
    while (done < PAYLOAD) {
        size_t n = 1 + tt_rand() % 100000;
        if (n > PAYLOAD - done) n = PAYLOAD - done;
        ssize_t w = tide_process_write(f->p, f->data + done, n);
        cr_assert_eq(w, (ssize_t)n, "write: %s", tide_strerror((int)w));
        done += n;
        tt_random_yields(2);
    }
    return tide_process_close_stdin(f->p);
}

static int stdin_roundtrip(void *arg) {
    char *data = malloc(PAYLOAD);
    for (size_t i = 0; i < PAYLOAD; i++) data[i] = (char)(i * 31 + (i >> 9));
    for (int round = 0; round < 3; round++) {
        char *cat[] = {"cat", NULL};
        tide_process_t *p = spawn(cat, TIDE_STDIO_PIPE, TIDE_STDIO_PIPE, TIDE_STDIO_INHERIT);
        feed_t f = {p, data};
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, feeder, &f), 0);
        char *out;
        size_t len;
        cr_assert_eq(tide_process_read_all(p, TIDE_STDOUT, &out, &len, 0), 0);
        int st = -1;
        cr_assert_eq(tide_join(t, &st), 0);
        cr_assert_eq(st, 0);
        cr_assert_eq(len, PAYLOAD);
        cr_assert_eq(memcmp(out, data, PAYLOAD), 0);
        free(out);
        int code = -1;
        cr_assert_eq(tide_process_wait(p, &code, NULL), 0);
        cr_assert_eq(code, 0);
        cr_assert_eq(tide_process_write(p, "x", 1), -EPIPE); /* closed */
        cr_assert_eq(tide_process_close_stdin(p), 0);         /* again: fine */
        cr_assert_eq(tide_process_close(p), 0);
    }
    free(data);

    /* A child that exits without reading: the write fails with EPIPE, the parent lives. */
    char *t[] = {"true", NULL};
    tide_process_t *p = spawn(t, TIDE_STDIO_PIPE, TIDE_STDIO_NULL, TIDE_STDIO_NULL);
    cr_assert_eq(tide_process_wait(p, NULL, NULL), 0);
    static char big[256 << 10];
    cr_assert_eq(tide_process_write(p, big, sizeof big), -EPIPE);
    cr_assert_eq(tide_process_close(p), 0);
    return 0;
}

Test(process, write_to_stdin_while_reading_stdout) {
    run_main(stdin_roundtrip, NULL);
}

/* ---- environment, directory, failures to start ----------------------------------------- */

static int env_cwd(void *arg) {
    char *sh[] = {"sh", "-c", "echo \"$FOO\"; pwd", NULL};
    char *env[] = {"FOO=bar baz", "PATH=/usr/bin:/bin", NULL};
    tide_process_opts_t o = {.argv = sh, .env = env, .cwd = "/tmp",
                             .stdout_mode = TIDE_STDIO_PIPE};
    tide_process_t *p;
    cr_assert_eq(tide_process_spawn(&p, &o), 0);
    char *out;
    size_t len;
    cr_assert_eq(tide_process_read_all(p, TIDE_STDOUT, &out, &len, 0), 0);
    cr_assert_str_eq(out, "bar baz\n/tmp\n");
    free(out);
    cr_assert_eq(tide_process_close(p), 0);

    /* file overrides argv[0] as the program. */
    char *argv[] = {"my-name", "-c", "echo $0", NULL};
    tide_process_opts_t o2 = {.file = "/bin/sh", .argv = argv, .stdout_mode = TIDE_STDIO_PIPE};
    cr_assert_eq(tide_process_spawn(&p, &o2), 0);
    cr_assert_eq(tide_process_read_all(p, TIDE_STDOUT, &out, &len, 0), 0);
    cr_assert_str_eq(out, "my-name\n");
    free(out);
    cr_assert_eq(tide_process_close(p), 0);

    /* Programs that cannot run. */
    char *missing[] = {"/nonexistent/program", NULL};
    tide_process_opts_t bad = {.argv = missing, .stdout_mode = TIDE_STDIO_PIPE,
                               .stdin_mode = TIDE_STDIO_PIPE};
    p = (tide_process_t *)1;
    cr_assert_eq(tide_process_spawn(&p, &bad), -ENOENT);
    cr_assert_null(p);
    char plain[] = "/tmp/tide-noexec-XXXXXX"; /* a file without execute permission */
    int fd = mkstemp(plain);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "echo hi\n", 8), 8);
    close(fd);
    char *noexec[] = {plain, NULL};
    bad.argv = noexec;
    cr_assert_eq(tide_process_spawn(&p, &bad), -EACCES);
    unlink(plain);
    char *nopath[] = {"no-such-program-anywhere", NULL};
    cr_assert_eq(tide_process_output(nopath, NULL, NULL, NULL), -ENOENT);
    char *ls[] = {"ls", NULL};
    tide_process_opts_t badcwd = {.argv = ls, .cwd = "/nonexistent/dir"};
    cr_assert_eq(tide_process_spawn(&p, &badcwd), -ENOENT);
    return 0;
}

Test(process, env_cwd_and_programs_that_cannot_run) {
    run_main(env_cwd, NULL);
}

/* ---- many children --------------------------------------------------------------------- */

static int child_task(void *arg) {
    uintptr_t i = (uintptr_t)arg;
    char num[32], *out;
    size_t len;
    int code = -1;
    snprintf(num, sizeof num, "%lu", (unsigned long)i);
    char *argv[] = {"sh", "-c", "echo $1; exit $(($1 % 7))", "sh", num, NULL};
    tt_random_yields(3);
    int r = tide_process_output(argv, &out, &len, &code);
    if (r < 0) return r;
    char want[40];
    snprintf(want, sizeof want, "%lu\n", (unsigned long)i);
    cr_assert_str_eq(out, want);
    cr_assert_eq(code, (int)(i % 7));
    free(out);
    return 0;
}

static int many(void *arg) {
    int n = TT_SCALE(100);
    tide_task_t *ts = calloc((size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++) cr_assert_eq(tide_spawn(&ts[i], child_task, (void *)(uintptr_t)i), 0);
    for (int i = 0; i < n; i++) {
        int st = -1;
        cr_assert_eq(tide_join(ts[i], &st), 0);
        cr_assert_eq(st, 0, "child %d: %s", i, tide_strerror(st));
    }
    free(ts);
    return 0;
}

Test(process, many_children_at_once) {
    run_main(many, NULL);
}

/* ---- deadlines and cancels ------------------------------------------------------------- */

static int read_forever(void *arg) {
    char buf[16];
    return (int)tide_process_read(arg, TIDE_STDOUT, buf, sizeof buf);
}

static int wait_forever(void *arg) {
    return tide_process_wait(arg, NULL, NULL);
}

static int interrupted(void *arg) {
    /* A child that prints a numbered line every few milliseconds: reads are cut short over
     * and over, and yet every line arrives, whole and in order. */
    char *sh[] = {"sh", "-c", "i=0; while [ $i -lt 150 ]; do echo line$i; i=$((i+1)); "
                              "sleep 0.002; done", NULL};
    tide_process_t *p = spawn(sh, TIDE_STDIO_NULL, TIDE_STDIO_PIPE, TIDE_STDIO_INHERIT);
    size_t cap = 1 << 16, len = 0;
    char *acc = malloc(cap);
    int cut = 0;
    for (;;) {
        tide_scope_t s;
        tide_timeout_begin(&s, TIDE_USEC(tt_rand() % 3000));
        ssize_t n = tide_process_read(p, TIDE_STDOUT, acc + len, 1 + tt_rand() % 64);
        tide_scope_end(&s);
        if (n == -ETIMEDOUT) {
            cut++;
            continue;
        }
        cr_assert_geq(n, 0, "read: %s", tide_strerror((int)n));
        if (n == 0) break;
        len += (size_t)n;
        cr_assert_lt(len + 64, cap);
    }
    acc[len] = '\0';
    char *q = acc;
    for (int i = 0; i < 150; i++) {
        char want[16];
        int w = snprintf(want, sizeof want, "line%d\n", i);
        cr_assert_eq(strncmp(q, want, (size_t)w), 0, "line %d: %.12s", i, q);
        q += w;
    }
    cr_assert_eq(*q, '\0');
    cr_assert_gt(cut, 0, "no read was cut short");
    free(acc);
    cr_assert_eq(tide_process_wait(p, NULL, NULL), 0);
    cr_assert_eq(tide_process_close(p), 0);

    /* Waits and reads on a child that does nothing: deadlines and cancels in a loop. */
    char *sl[] = {"sleep", "30", NULL};
    p = spawn(sl, TIDE_STDIO_PIPE, TIDE_STDIO_PIPE, TIDE_STDIO_NULL);
    pid_t pid = tide_process_pid(p);
    for (int i = 0; i < TT_SCALE(200); i++) {
        tide_scope_t s;
        tide_timeout_begin(&s, TIDE_USEC(tt_rand() % 400));
        int r = i % 2 ? tide_process_wait(p, NULL, NULL) : (int)read_forever(p);
        tide_scope_end(&s);
        cr_assert_eq(r, -ETIMEDOUT);
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, i % 2 ? wait_forever : read_forever, p), 0);
        tt_random_yields(3);
        cr_assert_eq(tide_cancel(t), 0);
        int st = 0;
        cr_assert_eq(tide_join(t, &st), 0);
        cr_assert_eq(st, -ECANCELED);
    }
    /* A write into a pipe nobody reads fills it, then the deadline cuts it short; stdin is
     * closed then. */
    static char big[1 << 20];
    tide_scope_t s;
    tide_timeout_begin(&s, TIDE_MSEC(30));
    cr_assert_eq(tide_process_write(p, big, sizeof big), -ETIMEDOUT);
    tide_scope_end(&s);
    cr_assert_eq(tide_process_write(p, "x", 1), -EPIPE);
    /* Freeing a running child kills and reaps it. */
    cr_assert_eq(tide_process_close(p), 0);
    assert_reaped(pid);
    return 0;
}

Test(process, deadlines_and_cancels_lose_nothing_and_leave_nothing) {
    run_main(interrupted, NULL);
}

/* A task holding a child is cancelled (as at runtime shutdown): it frees the child in its
 * unwinding, and the child is killed and reaped. The child's pid is handed over through an
 * atomic: the owner runs on another worker while the canceller polls for it (a plain int
 * there was a data race, reported by ThreadSanitizer in CI). */
static int owner(void *arg) {
    char *sl[] = {"sleep", "30", NULL};
    tide_process_t *p = spawn(sl, TIDE_STDIO_NULL, TIDE_STDIO_PIPE, TIDE_STDIO_NULL);
    atomic_store_explicit((_Atomic pid_t *)arg, tide_process_pid(p), memory_order_release);
    char buf[8];
    ssize_t r = tide_process_read(p, TIDE_STDOUT, buf, sizeof buf);
    cr_assert_eq(tide_process_close(p), 0); /* works although cancelled */
    return (int)r;
}

static int cancel_owner(void *arg) {
    for (int i = 0; i < TT_SCALE(20); i++) {
        _Atomic pid_t pid = 0;
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, owner, &pid), 0);
        while (atomic_load_explicit(&pid, memory_order_acquire) == 0) tide_yield();
        tt_random_yields(5);
        cr_assert_eq(tide_cancel(t), 0);
        int st = 0;
        cr_assert_eq(tide_join(t, &st), 0);
        cr_assert_eq(st, -ECANCELED);
        assert_reaped(atomic_load_explicit(&pid, memory_order_relaxed));
    }
    return 0;
}

Test(process, cancelled_owner_frees_and_reaps_its_child) {
    run_main(cancel_owner, NULL);
}

/* ---- misuse ---------------------------------------------------------------------------- */

static int misuse(void *arg) {
    tide_process_t *p;
    char *argv[] = {"true", NULL};
    char *empty[] = {NULL};
    tide_process_opts_t o = {.argv = argv};
    cr_assert_eq(tide_process_spawn(NULL, &o), -EINVAL);
    cr_assert_eq(tide_process_spawn(&p, NULL), -EINVAL);
    o.argv = empty;
    cr_assert_eq(tide_process_spawn(&p, &o), -EINVAL);
    o.argv = NULL;
    cr_assert_eq(tide_process_spawn(&p, &o), -EINVAL);
    o.argv = argv;
    o.stdout_mode = 7;
    cr_assert_eq(tide_process_spawn(&p, &o), -EINVAL);
    o.stdout_mode = TIDE_STDIO_INHERIT;
    o.stdin_mode = -1;
    cr_assert_eq(tide_process_spawn(&p, &o), -EINVAL);
    cr_assert_eq(tide_process_output(NULL, NULL, NULL, NULL), -EINVAL);

    char buf[4];
    cr_assert_eq(tide_process_read(NULL, TIDE_STDOUT, buf, 4), -EINVAL);
    cr_assert_eq(tide_process_write(NULL, buf, 4), -EINVAL);
    cr_assert_eq(tide_process_wait(NULL, NULL, NULL), -EINVAL);
    cr_assert_eq(tide_process_kill(NULL, SIGTERM), -EINVAL);
    cr_assert_eq(tide_process_close(NULL), -EINVAL);
    cr_assert_eq(tide_process_close_stdin(NULL), -EINVAL);
    cr_assert_eq(tide_process_pid(NULL), -EINVAL);

    /* A child with no pipes. */
    char *sl[] = {"sleep", "30", NULL};
    p = spawn(sl, TIDE_STDIO_NULL, TIDE_STDIO_NULL, TIDE_STDIO_PIPE);
    cr_assert_eq(tide_process_read(p, TIDE_STDOUT, buf, 4), -ENOTCONN);
    cr_assert_eq(tide_process_write(p, buf, 4), -ENOTCONN);
    cr_assert_eq(tide_process_close_stdin(p), -ENOTCONN);
    cr_assert_eq(tide_process_read(p, 0, buf, 4), -EINVAL);
    cr_assert_eq(tide_process_read(p, 3, buf, 4), -EINVAL);
    cr_assert_eq(tide_process_read(p, TIDE_STDERR, NULL, 4), -EINVAL);
    cr_assert_eq(tide_process_read(p, TIDE_STDERR, buf, 0), -EINVAL);
    cr_assert_eq(tide_process_kill(p, -1), -EINVAL);
    cr_assert_eq(tide_process_kill(p, 1000), -EINVAL);

    /* Free under a waiter is refused. */
    int st = -1;
    tide_task_t w;
    cr_assert_eq(tide_spawn(&w, wait_forever, p), 0);
    tide_sleep(TIDE_MSEC(10));
    cr_assert_eq(tide_process_close(p), -EBUSY);
    cr_assert_eq(tide_process_kill(p, SIGKILL), 0);
    cr_assert_eq(tide_join(w, &st), 0);
    cr_assert_eq(st, 0);
    cr_assert_eq(tide_process_close(p), 0);
    return 0;
}

static int read_stderr_forever(void *arg) {
    char buf[16];
    return (int)tide_process_read(arg, TIDE_STDERR, buf, sizeof buf);
}

static int busy(void *arg) {
    char *sl[] = {"sleep", "30", NULL};
    tide_process_t *p = spawn(sl, TIDE_STDIO_NULL, TIDE_STDIO_NULL, TIDE_STDIO_PIPE);
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, read_stderr_forever, p), 0);
    tide_sleep(TIDE_MSEC(10));
    char buf[4];
    cr_assert_eq(tide_process_read(p, TIDE_STDERR, buf, 4), -EBUSY);
    cr_assert_eq(tide_process_close(p), -EBUSY);
    cr_assert_eq(tide_cancel(t), 0);
    int st = 0;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, -ECANCELED);
    cr_assert_eq(tide_process_close(p), 0);
    return 0;
}

Test(process, misuse_is_refused) {
    run_main(misuse, NULL);
    run_main(busy, NULL);
}

Test(process, outside_a_task_is_eperm) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    char *argv[] = {"true", NULL};
    tide_process_opts_t o = {.argv = argv};
    tide_process_t *p;
    cr_assert_eq(tide_process_spawn(&p, &o), -EPERM);
    cr_assert_eq(tide_process_output(argv, NULL, NULL, NULL), -EPERM);
    tt_leaks_end(&l);
}
