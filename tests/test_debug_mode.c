/* Debug mode and diagnostics, each report triggered on purpose and its text checked: slow
 * tasks, failures nobody joined, tasks still alive at shutdown, the leveled log (levels,
 * $TIDE_LOG, the callback, nothing evaluated while off) and the task dump on a signal (while
 * every worker is busy). */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* ---- capturing the log through its callback --------------------------------------------- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[1 << 16];
static size_t log_len;

static void collect(void *arg, int level, const char *line) {
    cr_assert_eq((char *)arg, log_buf, "log_arg is handed back");
    cr_assert_null(strchr(line, '\n'), "one line per call: %s", line);
    pthread_mutex_lock(&log_lock);
    int n = snprintf(log_buf + log_len, sizeof log_buf - log_len, "[%d] %s\n", level, line);
    if (n > 0 && (size_t)n < sizeof log_buf - log_len) log_len += (size_t)n;
    pthread_mutex_unlock(&log_lock);
}

static void log_reset(void) {
    pthread_mutex_lock(&log_lock);
    log_len = 0;
    log_buf[0] = 0;
    pthread_mutex_unlock(&log_lock);
}

static tide_config_t log_config(int level, int debug) {
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.workers = 2;
    cfg.debug = debug;
    cfg.log_level = level;
    cfg.log_fn = collect;
    cfg.log_arg = log_buf;
    return cfg;
}

/* The line of the log containing all of `a` and `b` (NULL b: only a), or NULL. */
static const char *log_line(const char *a, const char *b) {
    for (const char *p = log_buf; *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        if (strstr(line, a) && (!b || strstr(line, b))) return p;
        p += len + (end ? 1 : 0);
    }
    return NULL;
}

/* ---- stderr into a file ---------------------------------------------------------------- */

typedef struct capture {
    char path[32];
    int fd;
    int saved;
} capture_t;

static void capture_begin(capture_t *c) {
    strcpy(c->path, "/tmp/tide-dbg-XXXXXX");
    c->fd = mkstemp(c->path);
    cr_assert_geq(c->fd, 0);
    fflush(stderr);
    c->saved = dup(2);
    dup2(c->fd, 2);
}

/* Everything written so far (the capture goes on). */
static const char *capture_read(capture_t *c) {
    static char buf[1 << 16];
    ssize_t n = pread(c->fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

static const char *capture_end(capture_t *c) {
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    const char *s = capture_read(c);
    close(c->fd);
    unlink(c->path);
    return s;
}

/* ---- slow tasks and failures nobody joined --------------------------------------------- */

static int hog(void *arg) {
    int64_t until = tide_now() + TIDE_MSEC(30);
    while (tide_now() < until) {
    }
    return 0;
}

static int fails(void *arg) {
    return -ECONNRESET;
}

static int reports_main(void *arg) {
    int *lines = arg;
    tide_task_t t;
    tide_spawn_opts_t slow = {.name = "hog"};
    cr_assert_eq(tide_spawn_opts(&t, hog, NULL, &slow), 0);
    cr_assert_eq(tide_join(t, NULL), 0);
    tide_spawn_opts_t bad = {.name = "failer", .detached = 1};
    lines[0] = __LINE__ + 1;
    cr_assert_eq(tide_spawn_opts(NULL, fails, NULL, &bad), 0);
    tide_spawn_opts_t bad2 = {.name = "never-joined"};
    lines[1] = __LINE__ + 1;
    cr_assert_eq(tide_spawn_opts(&t, fails, NULL, &bad2), 0); /* dropped on purpose */
    tide_spawn_opts_t good = {.name = "joined-failure"};
    cr_assert_eq(tide_spawn_opts(&t, fails, NULL, &good), 0);
    int status;
    cr_assert_eq(tide_join(t, &status), 0);
    cr_assert_eq(status, -ECONNRESET);
    tide_sleep(TIDE_MSEC(10));
    return 0;
}

Test(debug_mode, slow_task_and_never_retrieved_failure) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    log_reset();
    tide_config_t cfg = log_config(0, 1);
    cfg.slow_task_ns = TIDE_MSEC(10);
    int lines[2];
    cr_assert_eq(tide_run_config(&cfg, reports_main, lines), 0);
    tt_leaks_end(&l);
    const char *slow = log_line("'hog'", "without yielding");
    cr_assert(slow, "log: %s", log_buf);
    cr_assert_eq(strncmp(slow, "[1] task ", 9), 0, "a warning naming the task: %.200s", slow);
    cr_assert(log_line("'hog'", "test_debug_mode.c:"), "spawn site: %s", log_buf);
    char site[64];
    snprintf(site, sizeof site, "test_debug_mode.c:%d)", lines[0]);
    cr_assert(log_line("'failer'", site), "detached failure at its spawn site: %s", log_buf);
    cr_assert(log_line("'failer'", "failed with -104 (Connection reset by peer) and nobody joined"),
              "log: %s", log_buf);
    snprintf(site, sizeof site, "test_debug_mode.c:%d)", lines[1]);
    cr_assert(log_line("'never-joined'", site), "dropped handle: %s", log_buf);
    cr_assert_null(log_line("'joined-failure'", NULL), "its failure was retrieved: %s", log_buf);
    /* (A slow sanitizer build may report main as slow; its success is what matters.) */
    cr_assert_null(log_line("'main'", "nobody joined"), "main was joined and succeeded: %s",
                   log_buf);
    cr_assert_null(log_line("still alive", NULL), "nothing was left running: %s", log_buf);
}

Test(debug_mode, no_reports_without_debug_mode) {
    log_reset();
    tide_config_t cfg = log_config(0, 0);
    cfg.slow_task_ns = TIDE_MSEC(10);
    int lines[2];
    unsetenv("TIDE_LOG");
    unsetenv("TIDE_DEBUG");
    cr_assert_eq(tide_run_config(&cfg, reports_main, lines), 0);
    cr_assert_eq(log_len, 0, "log: %s", log_buf);
}

/* ---- tasks alive at shutdown ------------------------------------------------------------ */

static tt_gate_t gate;
static int alive_lines[2];

static int sleeper(void *arg) {
    return tide_sleep(TIDE_SEC(3600)); /* -ECANCELED at shutdown */
}

static int gate_waiter(void *arg) {
    return tt_gate_wait(&gate);
}

static int alive_main(void *arg) {
    tide_spawn_opts_t a = {.name = "sleeper", .detached = 1};
    alive_lines[0] = __LINE__ + 1;
    cr_assert_eq(tide_spawn_opts(NULL, sleeper, NULL, &a), 0);
    tide_spawn_opts_t b = {.name = "gate-waiter"};
    tide_task_t t;
    alive_lines[1] = __LINE__ + 1;
    cr_assert_eq(tide_spawn_opts(&t, gate_waiter, NULL, &b), 0); /* never joined */
    while (tt_gate_waiting(&gate) < 1) tide_yield();
    tide_sleep(TIDE_MSEC(5)); /* the sleeper parks too */
    return 0;
}

Test(debug_mode, tasks_alive_at_shutdown_are_reported_then_cancelled) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tt_gate_init(&gate);
    log_reset();
    tide_config_t cfg = log_config(0, 1);
    cr_assert_eq(tide_run_config(&cfg, alive_main, NULL), 0);
    tt_leaks_end(&l);
    cr_assert(log_line("shutdown: 2 tasks still alive, cancelling them", NULL), "log: %s",
              log_buf);
    char want[128];
    snprintf(want, sizeof want, "spawned at %s:%d", __FILE__, alive_lines[0]);
    cr_assert(log_line("still alive at shutdown: task ", "'sleeper' waiting on sleep"),
              "name, state, what it waits on: %s", log_buf);
    cr_assert(log_line("'sleeper'", want), "spawn site %s: %s", want, log_buf);
    snprintf(want, sizeof want, "spawned at %s:%d", __FILE__, alive_lines[1]);
    cr_assert(log_line("'gate-waiter' waiting on test gate", want), "log: %s", log_buf);
    /* Reported before being cancelled; their cancellation is not a failure to report. */
    cr_assert_null(log_line("[cancelled]", NULL), "log: %s", log_buf);
    cr_assert_null(log_line("nobody joined", NULL), "log: %s", log_buf);
    /* The report comes before the log's last line (the runtime's stop), all at warn. */
    cr_assert_null(log_line("[2]", NULL), "warn level only: %s", log_buf);
}

Test(debug_mode, alive_at_shutdown_also_from_runtime_free_to_stderr) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tt_gate_init(&gate);
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.workers = 2;
    cfg.debug = 1;
    capture_t c;
    capture_begin(&c);
    tide_runtime_t *rt;
    cr_assert_eq(tide_runtime_new(&rt, &cfg), 0);
    cr_assert_eq(tide_runtime_block_on(rt, alive_main, NULL), 0);
    tide_runtime_close(rt);
    const char *err = capture_end(&c);
    tt_leaks_end(&l);
    cr_assert(strstr(err, "tide warn: shutdown: 2 tasks still alive, cancelling them\n"),
              "stderr: %s", err);
    cr_assert(strstr(err, "tide warn: still alive at shutdown: task "), "stderr: %s", err);
    cr_assert(strstr(err, "'gate-waiter' waiting on test gate  spawned at "), "stderr: %s", err);
}

/* ---- the log: levels, environment, cost when off ---------------------------------------- */

static int blocking_fn(void *arg) {
    return 7;
}

static int log_main(void *arg) {
    cr_assert_eq(tide_spawn_blocking(blocking_fn, NULL), 7);
    return 0;
}

Test(debug_mode, log_levels_filter) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    unsetenv("TIDE_LOG");
    setenv("TIDE_BLOCKING_THREADS", "4", 1);
    /* warn: nothing happened worth a warning. */
    log_reset();
    tide_config_t cfg = log_config(TIDE_LOG_WARN, 0);
    cr_assert_eq(tide_run_config(&cfg, log_main, NULL), 0);
    cr_assert_eq(log_len, 0, "log: %s", log_buf);
    /* info: the runtime's start and stop, not the blocking pool's growth (debug). */
    log_reset();
    cfg = log_config(TIDE_LOG_INFO, 0);
    cr_assert_eq(tide_run_config(&cfg, log_main, NULL), 0);
    cr_assert(log_line("[2] runtime ", "started: 2 workers"), "log: %s", log_buf);
    cr_assert(log_line("[2] runtime ", "stopped after"), "log: %s", log_buf);
    cr_assert_null(log_line("blocking pool", NULL), "log: %s", log_buf);
    cr_assert_null(log_line("[3]", NULL), "log: %s", log_buf);
    /* debug: everything. */
    log_reset();
    cfg = log_config(TIDE_LOG_DEBUG, 0);
    cr_assert_eq(tide_run_config(&cfg, log_main, NULL), 0);
    cr_assert(log_line("[3] blocking pool grew to 1 threads", NULL), "log: %s", log_buf);
    cr_assert(log_line("[2] runtime ", "started"), "log: %s", log_buf);
    /* Debug mode raises an unset level to warn (its reports are warnings). */
    log_reset();
    cfg = log_config(0, 1);
    cr_assert_eq(tide_run_config(&cfg, log_main, NULL), 0);
    cr_assert_eq(log_len, 0, "log: %s", log_buf);
    tt_leaks_end(&l);
}

static int evaluated;

static int side_effect(void) {
    return ++evaluated;
}

static int gate_main(void *arg) {
    int *max = arg;
    *max = __atomic_load_n(&tide__log_max, __ATOMIC_RELAXED);
    return 0;
}

Test(debug_mode, log_is_off_by_default_and_costs_no_evaluation) {
    unsetenv("TIDE_LOG");
    unsetenv("TIDE_DEBUG");
    int max = -1;
    cr_assert_eq(tide_run(gate_main, &max), 0);
    cr_assert_eq(max, 0, "the global gate stays shut while no runtime logs");
    TIDE__LOG(NULL, TIDE_LOG_WARN, "%d", side_effect());
    cr_assert_eq(evaluated, 0, "arguments of a disabled log call are not evaluated");

    /* $TIDE_LOG turns it on (to stderr); an explicit negative level wins over it. */
    setenv("TIDE_LOG", "info", 1);
    capture_t c;
    capture_begin(&c);
    cr_assert_eq(tide_run(gate_main, &max), 0);
    const char *err = capture_end(&c);
    cr_assert_eq(max, TIDE_LOG_INFO);
    cr_assert(strstr(err, "tide info: runtime "), "stderr: %s", err);
    cr_assert(strstr(err, " stopped after "), "stderr: %s", err);
    cr_assert_eq(__atomic_load_n(&tide__log_max, __ATOMIC_RELAXED), 0, "shut again");

    setenv("TIDE_LOG", "debug", 1);
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.log_level = -1;
    capture_begin(&c);
    cr_assert_eq(tide_run_config(&cfg, gate_main, &max), 0);
    err = capture_end(&c);
    cr_assert_eq(max, 0);
    cr_assert_str_empty(err, "stderr: %s", err);

    setenv("TIDE_LOG", "loud", 1); /* unknown: off */
    cr_assert_eq(tide_run(gate_main, &max), 0);
    cr_assert_eq(max, 0);
    unsetenv("TIDE_LOG");
}

/* ---- the task dump on a signal ---------------------------------------------------------- */

static _Atomic int spinning;
static _Atomic int stop_spinning;

static int spinner(void *arg) {
    atomic_fetch_add(&spinning, 1);
    while (!atomic_load(&stop_spinning)) {
    } /* never yields: its worker is busy */
    return 0;
}

/* Poll captured stderr until it holds `want` (the dump thread prints asynchronously). */
static const char *wait_for(capture_t *c, const char *want) {
    int64_t until = tide_now() + TT_SLACK(TIDE_SEC(10));
    const char *s;
    while (!strstr(s = capture_read(c), want) && tide_now() < until) usleep(2000);
    return s;
}

static void dump_on_signal(int sig, const char *env) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tt_gate_init(&gate);
    atomic_store(&spinning, 0);
    atomic_store(&stop_spinning, 0);
    /* This thread does not take the signal (nor do the workers: they block asynchronous
     * signals), so it can reach only the runtime's own dump thread. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.workers = 2;
    if (env) setenv("TIDE_DUMP_SIGNAL", env, 1);
    else cfg.dump_signal = sig;
    tide_runtime_t *rt;
    cr_assert_eq(tide_runtime_new(&rt, &cfg), 0);
    unsetenv("TIDE_DUMP_SIGNAL");

    /* The waiter parks first; then two spinners take both workers and never let go. */
    tide_task_t spin[2], parked;
    tide_spawn_opts_t po = {.name = "parked-one"};
    cr_assert_eq(tide_runtime_spawn(rt, &parked, gate_waiter, NULL, &po), 0);
    int64_t until = tide_now() + TT_SLACK(TIDE_SEC(10));
    while (tt_gate_waiting(&gate) < 1 && tide_now() < until) usleep(1000);
    cr_assert_eq(tt_gate_waiting(&gate), 1);
    tide_spawn_opts_t so = {.name = "spinner"};
    for (int i = 0; i < 2; i++) cr_assert_eq(tide_runtime_spawn(rt, &spin[i], spinner, NULL, &so), 0);
    while (atomic_load(&spinning) < 2 && tide_now() < until) usleep(1000);
    cr_assert_eq(atomic_load(&spinning), 2, "both workers are busy");

    capture_t c;
    capture_begin(&c);
    cr_assert_eq(kill(getpid(), sig), 0);
    const char *s = wait_for(&c, "tide: 3 tasks\n");
    static char copy[1 << 16];
    memcpy(copy, s, strlen(s) + 1);
    /* A second signal, a second dump. */
    cr_assert_eq(kill(getpid(), sig), 0);
    until = tide_now() + TT_SLACK(TIDE_SEC(10));
    const char *again;
    while (!(again = strstr(capture_read(&c), "tide: 3 tasks\n")) ||
           !strstr(again + 1, "tide: 3 tasks\n")) {
        if (tide_now() > until) break;
        usleep(2000);
    }
    capture_end(&c);
    cr_assert(again && strstr(again + 1, "tide: 3 tasks\n"), "a second dump");

    atomic_store(&stop_spinning, 1);
    tt_gate_open(&gate);
    for (int i = 0; i < 2; i++) cr_assert_eq(tide_join(spin[i], NULL), 0);
    cr_assert_eq(tide_join(parked, NULL), 0);
    tide_runtime_close(rt);

    /* The signal's disposition is the program's again, and nothing (pipe, thread) is left. */
    struct sigaction now;
    sigaction(sig, NULL, &now);
    cr_assert_eq((void *)now.sa_handler, (void *)SIG_DFL);
    tt_leaks_end(&l);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    cr_assert(strstr(copy, "tide: task dump (2 workers"), "stderr: %s", copy);
    cr_assert(strstr(copy, "'spinner' running on worker 0") || strstr(copy, "'spinner' running on worker 1"),
              "stderr: %s", copy);
    cr_assert(strstr(copy, "'parked-one' waiting on test gate  spawned at "), "stderr: %s", copy);
    cr_assert(strstr(copy, "test_debug_mode.c:"), "spawn sites: %s", copy);
}

Test(debug_mode, task_dump_on_configured_signal_while_workers_are_busy) {
    dump_on_signal(SIGQUIT, NULL);
}

Test(debug_mode, task_dump_signal_from_environment_by_name) {
    dump_on_signal(SIGUSR2, "SIGUSR2");
}

Test(debug_mode, task_dump_signal_by_number_and_bad_signals) {
    char num[8];
    snprintf(num, sizeof num, "%d", SIGUSR1);
    dump_on_signal(SIGUSR1, num);

    tide_config_t cfg;
    tide_config_init(&cfg);
    tide_runtime_t *rt;
    int bad[] = {SIGKILL, SIGSEGV, SIGSTOP, 10000};
    for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.dump_signal = bad[i];
        cr_assert_eq(tide_runtime_new(&rt, &cfg), -EINVAL, "signal %d", bad[i]);
    }
    /* A bad environment value is reported and ignored: the program still runs. */
    setenv("TIDE_DUMP_SIGNAL", "SIGNOPE", 1);
    capture_t c;
    capture_begin(&c);
    int max;
    cr_assert_eq(tide_run(gate_main, &max), 0);
    const char *err = capture_end(&c);
    unsetenv("TIDE_DUMP_SIGNAL");
    cr_assert(strstr(err, "TIDE_DUMP_SIGNAL=SIGNOPE is not a signal"), "stderr: %s", err);
}
