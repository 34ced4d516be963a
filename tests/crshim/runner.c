/* The test runner behind crshim's criterion.h (ThreadSanitizer builds only; see there).
 * Runs every registered test in its own forked process, in name order, and reports like
 * Criterion: a failing assertion prints file:line and the message and fails the test; the
 * program exits non-zero if any test failed. Options: --filter GLOB (suite/name), --timeout S,
 * --verbose; Criterion's other options (--jobs...) are accepted and ignored. */
#include <errno.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criterion/criterion.h"

#define EXIT_SKIPPED 77

static struct crshim_test *tests;
static int expect_failed;

void crshim_register(struct crshim_test *t) {
    t->next = tests;
    tests = t;
}

void crshim_begin(const char *file, int line, const char *what, int fatal) {
    fprintf(stderr, "[----] %s:%d: %s\n[----]   %s", file, line,
            fatal ? "Assertion Failed" : "Expectation Failed", what);
}

void crshim_msg(const char *fmt, ...) {
    if (!fmt[0]) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, ": ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

void crshim_end(int fatal) {
    fprintf(stderr, "\n");
    fflush(stderr);
    if (fatal) _exit(1);
    expect_failed = 1;
}

void crshim_skip(const char *fmt, ...) {
    (void)fmt;
    fflush(NULL);
    _exit(EXIT_SKIPPED);
}

static int by_name(const void *a, const void *b) {
    const struct crshim_test *x = *(struct crshim_test *const *)a, *y = *(struct crshim_test *const *)b;
    int c = strcmp(x->suite, y->suite);
    return c ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv) {
    const char *filter = NULL;
    double default_timeout = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strncmp(argv[i], "--filter=", 9)) filter = argv[i] + 9;
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) default_timeout = atof(argv[++i]);
        else if (!strncmp(argv[i], "--timeout=", 10)) default_timeout = atof(argv[i] + 10);
    }
    size_t n = 0;
    for (struct crshim_test *t = tests; t; t = t->next) n++;
    struct crshim_test **list = calloc(n ? n : 1, sizeof *list);
    n = 0;
    for (struct crshim_test *t = tests; t; t = t->next) list[n++] = t;
    qsort(list, n, sizeof *list, by_name);

    int passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        struct crshim_test *t = list[i];
        char id[512];
        snprintf(id, sizeof id, "%s/%s", t->suite, t->name);
        if (t->disabled || (filter && fnmatch(filter, id, 0) != 0)) continue;
        fflush(NULL);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            double to = t->timeout > 0 ? t->timeout : default_timeout;
            if (to > 0) alarm((unsigned)(to + 0.999));
            if (t->init) t->init();
            t->fn();
            if (t->fini) t->fini();
            fflush(NULL);
            _exit(expect_failed ? 1 : 0);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        bool ok;
        if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SKIPPED) {
            skipped++;
            fprintf(stderr, "[SKIP] %s::%s\n", t->suite, t->name);
            continue;
        }
        if (t->signal) ok = WIFSIGNALED(status) && WTERMSIG(status) == t->signal;
        else ok = WIFEXITED(status) && WEXITSTATUS(status) == t->exit_code;
        if (ok) {
            passed++;
            fprintf(stderr, "[PASS] %s::%s: (%.2fs)\n", t->suite, t->name, secs);
        } else {
            failed++;
            if (WIFSIGNALED(status))
                fprintf(stderr, "[FAIL] %s::%s: CRASH! signal %d (%s) (%.2fs)\n", t->suite,
                        t->name, WTERMSIG(status), strsignal(WTERMSIG(status)), secs);
            else
                fprintf(stderr, "[FAIL] %s::%s: exit status %d (%.2fs)\n", t->suite, t->name,
                        WEXITSTATUS(status), secs);
        }
    }
    fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Skipped: %d\n",
            passed + failed, passed, failed, skipped);
    free(list);
    return failed ? 1 : 0;
}
