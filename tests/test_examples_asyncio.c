/* The asyncio tutorial programs in C (examples/asyncio): each one is run as its own process,
 * its output checked line by line against what the Python prints, and its elapsed time
 * checked to show that the work that overlaps in asyncio overlapped here (about the longest
 * wait, not the sum of them, with generous tolerance). The tutorial's seconds are scaled
 * down by TIDE_EXAMPLE_TIME_SCALE.
 *
 * Each program runs twice: on one worker (TIDE_WORKERS=1, asyncio's single thread), where
 * the lines come in asyncio's order, and on the default workers, where tasks run in parallel
 * and only the order that time decides is checked. Lines due at the same instant (two sleeps
 * ending together) may come in either order in both.
 *
 * The fetching programs get their URLs from an HTTP server this test runs on tide itself: a
 * task per connection, on 127.0.0.1 and an ephemeral port, serving pages and JSON. */
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"
#include "testutil.h"

#ifdef TIDE_ASYNCIO_EXAMPLES

extern char **environ;

/* Tutorial seconds -> real ones: small enough to keep the suite quick, large enough that a
 * process start and a busy machine do not blur "the longest" into "the sum". */
#ifdef TT_SANITIZED
#define SCALE 0.5
#define SCALE_STR "0.5"
#else
#define SCALE 0.1
#define SCALE_STR "0.1"
#endif

/* ---- running an example ---------------------------------------------------------------- */

typedef struct run {
    char out[1 << 16]; /* its standard output */
    size_t len;
    int status;        /* exit status (-1: killed by a signal or not run) */
    double seconds;    /* elapsed, in tutorial seconds */
} run_t;

/* Run examples/asyncio/<prog> with args (NULL-terminated) in cwd (NULL: ours), with workers
 * ("1", or NULL for the default), and wait for it, at most 120 s. */
static void run_example(run_t *r, const char *cwd, const char *workers, const char *prog,
                        const char *const *args) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TIDE_ASYNCIO_EXAMPLES, prog);
    const char *argv[32] = {path};
    int argc = 1;
    for (; args && args[argc - 1]; argc++) argv[argc] = args[argc - 1];
    argv[argc] = NULL;
    /* our environment, with the scale and worker count of this run */
    char *envp[256];
    int envc = 0;
    for (char **e = environ; *e && envc < 250; e++)
        if (strncmp(*e, "TIDE_EXAMPLE_TIME_SCALE=", 24) && strncmp(*e, "TIDE_WORKERS=", 13))
            envp[envc++] = *e;
    envp[envc++] = "TIDE_EXAMPLE_TIME_SCALE=" SCALE_STR;
    char wenv[32];
    if (workers) {
        snprintf(wenv, sizeof wenv, "TIDE_WORKERS=%s", workers);
        envp[envc++] = wenv;
    }
    envp[envc] = NULL;

    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    if (cwd) posix_spawn_file_actions_addchdir_np(&fa, cwd);
    pid_t pid;
    int64_t t0 = tide_now();
    int e = posix_spawn(&pid, path, &fa, NULL, (char *const *)argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    cr_assert_eq(e, 0, "spawn %s: %s", path, strerror(e));
    r->len = 0;
    for (;;) {
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        int64_t left = t0 + TIDE_SEC(120) - tide_now();
        if (left <= 0 || poll(&pf, 1, (int)(left / 1000000)) == 0) {
            kill(pid, SIGKILL);
            break;
        }
        ssize_t n = read(p[0], r->out + r->len, sizeof r->out - 1 - r->len);
        if (n <= 0) break;
        r->len += (size_t)n;
    }
    r->out[r->len] = 0;
    close(p[0]);
    int ws;
    cr_assert_eq(waitpid(pid, &ws, 0), pid);
    r->seconds = (double)(tide_now() - t0) / 1e9 / SCALE;
    r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

/* ---- checking its lines ---------------------------------------------------------------- */

/* Split s (modified) into lines. */
static size_t split_lines(char *s, char **lines, size_t max) {
    size_t n = 0;
    while (*s && n < max) {
        lines[n++] = s;
        char *nl = strchr(s, '\n');
        if (!nl) break;
        *nl = 0;
        s = nl + 1;
    }
    return n;
}

/* Does line match want, where '#' in want stands for a number (stored in nums)? */
static bool line_matches(const char *line, const char *want, double *nums, size_t *nnums) {
    while (*want) {
        if (*want == '#') {
            char *end;
            double v = strtod(line, &end);
            if (end == line) return false;
            if (nums) nums[(*nnums)++] = v;
            line = end;
            want++;
        } else if (*line++ != *want++) {
            return false;
        }
    }
    return *line == 0;
}

/* The output must be the segments in order; the lines inside a segment ('\n'-separated) in
 * any order. Numbers at '#' are returned in nums, in output order. */
static void check_lines(const run_t *r, const char *prog, const char *const *segments,
                        double *nums) {
    char copy[sizeof r->out];
    memcpy(copy, r->out, r->len + 1);
    char *got[256];
    size_t ngot = split_lines(copy, got, 256), at = 0, nnums = 0;
    for (size_t s = 0; segments[s]; s++) {
        char seg[4096];
        snprintf(seg, sizeof seg, "%s", segments[s]);
        char *want[64];
        size_t nwant = split_lines(seg, want, 64);
        cr_assert_leq(at + nwant, ngot, "%s: too few lines:\n%s", prog, r->out);
        char **part = &got[at];
        /* match each wanted line to one of the segment's lines (patterns: greedily) */
        bool used[64] = {0};
        for (size_t w = 0; w < nwant; w++) {
            size_t g = 0;
            while (g < nwant && (used[g] || !line_matches(part[g], want[w], NULL, NULL))) g++;
            cr_assert_lt(g, nwant, "%s: line \"%s\" not where expected in:\n%s", prog, want[w],
                         r->out);
            used[g] = true;
        }
        for (size_t g = 0; g < nwant; g++)
            for (size_t w = 0; w < nwant; w++)
                if (line_matches(part[g], want[w], nums, &nnums)) break;
        at += nwant;
    }
    cr_assert_eq(at, ngot, "%s: extra lines in:\n%s", prog, r->out);
}

/* ---- the sleeping programs --------------------------------------------------------------- */

typedef struct program {
    const char *name;
    const char *const strict[16]; /* segments on one worker (asyncio's order) */
    const char *const loose[16];  /* segments on all workers (NULL: as strict) */
    double longest;               /* tutorial seconds if the waits overlap as in asyncio */
    double sum;                   /* ... if they ran one after the other */
} program_t;

static const program_t programs[] = {
    {"greet", {"hello", "world"}, {NULL}, 1, 1},
    {"fn", {"This is ", "asynchronous programming", "and not multi-threading"}, {NULL}, 2, 2},
    {"fn_await", {"one", "two", "three", "four", "five"}, {NULL}, 5, 5},
    {"fn_task", {"one", "four", "two", "five\nthree"}, {"one\nfour\ntwo", "five\nthree"}, 2, 3},
    {"call_api",
     {"Get stock price of GOOG...", "Get stock price of APPL...", "300", "300",
      "It took # second(s) to complete."},
     {"Get stock price of GOOG...\nGet stock price of APPL...", "300", "300",
      "It took # second(s) to complete."},
     3, 6},
    {"sequential_vs_tasks",
     {"Get stock price of GOOG...", "300", "Get stock price of APPL...", "300",
      "Sequential: # second(s).", "Get stock price of GOOG...", "Get stock price of APPL...",
      "300", "300", "Tasks: # second(s)."},
     {"Get stock price of GOOG...", "300", "Get stock price of APPL...", "300",
      "Sequential: # second(s).", "Get stock price of GOOG...\nGet stock price of APPL...",
      "300", "300", "Tasks: # second(s)."},
     9, 12},
    {"gather_funcs",
     {"Function 1 started..", "Function 2 started..", "Function 3 started..", "Function 3 Ended",
      "Function 1 Ended", "Function 2 Ended", "Main Ended.."},
     {"Function 1 started..\nFunction 2 started..\nFunction 3 started..", "Function 3 Ended",
      "Function 1 Ended", "Function 2 Ended", "Main Ended.."},
     3, 6},
    {"gather_tasks",
     {"Starting task 1", "Starting task 2", "Starting task 3",
      "Finished task 1\nFinished task 2\nFinished task 3", "Task results: [1, 2, 3]"},
     {"Starting task 1\nStarting task 2\nStarting task 3",
      "Finished task 1\nFinished task 2\nFinished task 3", "Task results: [1, 2, 3]"},
     1, 3},
    {"my_coroutine", {"Doing Other Stuff", "My Coroutine", "Coroutine Finished"},
     {"Doing Other Stuff\nMy Coroutine", "Coroutine Finished"}, 1, 1},
    {"first_second_task",
     {"First Task Start", "Second Task Start", "Second Task End", "First Task End"},
     {"First Task Start\nSecond Task Start", "Second Task End", "First Task End"}, 3, 3},
};

/* A process start, a runtime start and shutdown, in tutorial seconds: measured once, so the
 * overlap check compares waits, not the cost of starting a program. */
static double startup_cost(void) {
    static run_t r;
    run_example(&r, NULL, NULL, "greet", NULL);
    cr_assert_eq(r.status, 0);
    double c = r.seconds - 1;
    return c > 0 ? c : 0;
}

/* Elapsed tutorial seconds must be at least `longest` (the waits are not shortened) and
 * below the midpoint between overlapping and not (they did overlap). */
static bool overlapped(const run_t *r, double longest, double sum, double startup) {
    double limit = (longest + sum) / 2 + startup * 2 + 0.25;
    if (sum == longest) limit = longest + 0.5 + startup * 2; /* nothing to overlap: no slower */
    return r->seconds < limit;
}

static void check_overlap(const run_t *r, const char *prog, double longest, double sum,
                          double startup) {
    cr_assert_geq(r->seconds, longest * 0.98, "%s took %.2f tutorial s, less than its waits",
                  prog, r->seconds);
    cr_assert(overlapped(r, longest, sum, startup),
              "%s took %.2f tutorial s (overlapping: %.1f, in turn: %.1f)", prog, r->seconds,
              longest, sum);
}

/* run_example, again (up to three runs in all) while the timing says it did not overlap: the
 * machine may be busy, and a run slowed for no fault of its own should not fail the test. The
 * caller checks the last run's output and, with check_overlap, its timing. */
static void run_timed(run_t *r, const char *cwd, const char *prog, const char *const *args,
                      double longest, double sum, double startup) {
    for (int attempt = 0;; attempt++) {
        run_example(r, cwd, NULL, prog, args);
        if (attempt == 2 || r->status != 0 || overlapped(r, longest, sum, startup)) return;
        fprintf(stderr, "%s: slow run (%.2f tutorial s), again\n", prog, r->seconds);
    }
}

static void check_program(const program_t *p, const char *workers, double startup) {
    static run_t r;
    /* The machine may be busy: a run that was slow for no fault of its own gets two more
     * tries at the timing; the output must be right every time. */
    for (int attempt = 0;; attempt++) {
        run_example(&r, NULL, workers, p->name, NULL);
        cr_assert_eq(r.status, 0, "%s exited %d:\n%s", p->name, r.status, r.out);
        if (attempt == 2 || overlapped(&r, p->longest, p->sum, startup)) break;
        fprintf(stderr, "%s: slow run (%.2f tutorial s), again\n", p->name, r.seconds);
        check_lines(&r, p->name, !workers && p->loose[0] ? p->loose : p->strict, NULL);
    }
    cr_assert_eq(r.status, 0, "%s exited %d:\n%s", p->name, r.status, r.out);
    double nums[8];
    const char *const *segs = !workers && p->loose[0] ? p->loose : p->strict;
    check_lines(&r, p->name, segs, nums);
    check_overlap(&r, p->name, p->longest, p->sum, startup);
    /* the times the programs print themselves, rounded to whole tutorial seconds */
    if (!strcmp(p->name, "call_api")) {
        cr_assert(nums[0] == 3.0 || nums[0] == 4.0, "call_api: It took %.1f", nums[0]);
    } else if (!strcmp(p->name, "sequential_vs_tasks")) {
        cr_assert(nums[0] == 6.0 || nums[0] == 7.0, "Sequential: %.1f", nums[0]);
        cr_assert(nums[1] == 3.0 || nums[1] == 4.0, "Tasks: %.1f", nums[1]);
    }
}

Test(examples_asyncio, sleeping_programs_print_what_asyncio_prints_and_overlap) {
    double startup = startup_cost();
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
        check_program(&programs[i], "1", startup);
        check_program(&programs[i], NULL, startup);
    }
}

Test(examples_asyncio, read_file_prints_the_file) {
    char dir[] = "/tmp/tide_read_file_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/example.txt", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("test\ntest", f);
    fclose(f);
    static run_t r;
    run_example(&r, dir, NULL, "read_file", NULL); /* example.txt in its directory */
    cr_assert_eq(r.status, 0);
    cr_assert_str_eq(r.out, "test\ntest\n");
    const char *const missing[] = {"nope.txt", NULL};
    run_example(&r, dir, NULL, "read_file", missing);
    cr_assert_eq(r.status, 1, "a missing file is an error");
    cr_assert_eq(r.len, 0);
    unlink(path);
    rmdir(dir);
}

/* ---- the server, on tide ----------------------------------------------------------------- */

typedef struct server {
    tide_runtime_t *rt;
    tide_task_t task;
    _Atomic unsigned port;     /* 0 until it listens */
    _Atomic unsigned requests; /* served */
} server_t;

typedef struct conn {
    server_t *s;
    tide_tcp_t *c;
} conn_t;

/* Page n: longer than the 100 characters the programs print of it. */
static size_t page_body(int n, char *buf, size_t cap) {
    int len = snprintf(buf, cap, "<!doctype html><html><body><h1>Page %d</h1>", n);
    for (int i = 0; i < n + 3; i++)
        len += snprintf(buf + len, cap - (size_t)len, "<p>Paragraph %d of page %d.</p>", i, n);
    len += snprintf(buf + len, cap - (size_t)len, "</body></html>\n");
    return (size_t)len;
}

/* JSONPlaceholder-style posts; title and body lengths in code points are in the comments. */
static const char *const posts[] = {
    "{\"userId\": 1, \"id\": 1, \"title\": \"sunt aut facere\", \"body\": \"quia et suscipit\"}",
    /* title 15, body 16 */
    "{\"userId\": 2, \"id\": 2, \"title\": \"qui est esse\", \"body\": \"est rerum tempore\"}",
    /* title 12, body 17 */
    "[{\"userId\": 1, \"id\": 3, \"title\": \"ea molestia\u00e9\", \"body\": \"et iusto sed"
    "\"}, {\"userId\": 3, \"id\": 4, \"title\": \"eum et est occaecati xy\", \"body\": "
    "\"ullam et saepe xx\"}]",
    /* titles 12 and 23 (é is one character, two bytes), bodies 12 and 17 */
};

static bool respond(tide_tcp_t *c, const char *type, const char *body, size_t len, int code) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n", code,
                     code == 200 ? "OK" : "Not Found", type, len);
    struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, len}};
    return tide_tcp_writev(c, iov, 2, NULL) == (ssize_t)(n + len);
}

/* GET /page/N, /slow/MS/page/N (answered after MS ms), /post/N (N = 1..3), /bad (not JSON);
 * anything else is a 404. Keeps the connection open for the next request. */
static int conn_main(void *arg) {
    conn_t *k = arg;
    char buf[8192];
    size_t len = 0;
    for (;;) {
        char *end;
        while (!(end = len ? memmem(buf, len, "\r\n\r\n", 4) : NULL)) {
            if (len == sizeof buf) goto out;
            ssize_t n = tide_tcp_read(k->c, buf + len, sizeof buf - len);
            if (n <= 0) goto out;
            len += (size_t)n;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        char path[256] = "";
        buf[head_len - 1] = 0;
        sscanf(buf, "GET %255s", path);
        const char *p = path;
        int ms = 0, n = 0;
        if (sscanf(p, "/slow/%d/", &ms) == 1) {
            p = strchr(p + 6, '/');
            tide_sleep(TIDE_MSEC(ms));
        }
        char page[4096];
        bool ok;
        if (p && sscanf(p, "/page/%d", &n) == 1 && n >= 0 && n < 50) {
            ok = respond(k->c, "text/html", page, page_body(n, page, sizeof page), 200);
        } else if (p && sscanf(p, "/post/%d", &n) == 1 && n >= 1 && n <= 3) {
            ok = respond(k->c, "application/json", posts[n - 1], strlen(posts[n - 1]), 200);
        } else if (p && !strcmp(p, "/bad")) {
            ok = respond(k->c, "application/json", "{not json", 9, 200);
        } else {
            ok = respond(k->c, "text/plain", "not found", 9, 404);
        }
        atomic_fetch_add(&k->s->requests, 1);
        if (!ok) break;
        memmove(buf, buf + head_len, len - head_len);
        len -= head_len;
    }
out:
    tide_tcp_close(k->c);
    free(k);
    return 0;
}

/* Accept until cancelled; a task per connection, in a group that takes them down at the end. */
static int server_main(void *arg) {
    server_t *s = arg;
    tide_tcp_t *l;
    cr_assert_eq(tide_tcp_listen(&l, "127.0.0.1", 0, NULL), 0);
    tide_addr_t a;
    cr_assert_eq(tide_tcp_local_addr(l, &a), 0);
    char text[TIDE_ADDRSTRLEN];
    tide_addr_format(&a, text, sizeof text);
    atomic_store(&s->port, (unsigned)atoi(strrchr(text, ':') + 1));
    tide_group_t *g;
    cr_assert_eq(tide_group_new(&g), 0);
    for (;;) {
        conn_t *k = malloc(sizeof *k);
        cr_assert_not_null(k);
        k->s = s;
        if (tide_tcp_accept(l, &k->c, NULL) < 0) {
            free(k);
            break;
        }
        if (tide_group_spawn(g, conn_main, k, NULL) < 0) {
            tide_tcp_close(k->c);
            free(k);
        }
    }
    tide_group_free(g); /* cancels the connections still open and waits for them */
    tide_tcp_close(l);
    return 0;
}

static tt_leaks_t leaks;

static void server_start(server_t *s) {
    tt_leaks_begin(&leaks);
    memset(s, 0, sizeof *s);
    s->rt = tt_runtime(2);
    cr_assert_eq(tide_runtime_spawn(s->rt, &s->task, server_main, s, NULL), 0);
    for (int i = 0; i < 5000 && !atomic_load(&s->port); i++) usleep(1000);
    cr_assert_neq(atomic_load(&s->port), 0, "the server did not start");
}

static void server_stop(server_t *s) {
    cr_assert_eq(tide_cancel(s->task), 0);
    cr_assert_eq(tide_join(s->task, NULL), 0);
    tt_runtime_quiet(s->rt);
    tide_runtime_close(s->rt);
    cr_assert_eq(tide__io_live(), 0, "%lld I/O objects still live", (long long)tide__io_live());
    tt_leaks_end(&leaks);
}

static char urls[8][128];

static const char *url(server_t *s, int i, const char *fmt, int a, int b) {
    int n = snprintf(urls[i], sizeof urls[i], "http://127.0.0.1:%u", atomic_load(&s->port));
    snprintf(urls[i] + n, sizeof urls[i] - (size_t)n, fmt, a, b);
    return urls[i];
}

/* One tutorial second of server delay, in ms. */
#define DELAY_MS ((int)(1000 * SCALE))

/* "Fetched data from URL :<its first 100 characters>..." */
static void fetched_line(char *out, size_t cap, const char *u, int page) {
    char body[4096];
    page_body(page, body, sizeof body);
    snprintf(out, cap, "Fetched data from %s :%.100s...", u, body);
}

static size_t page_len(int page) {
    char body[4096];
    return page_body(page, body, sizeof body);
}

Test(examples_asyncio, fetch_data_and_fetch_page_over_a_tide_server) {
    static server_t s;
    server_start(&s);
    double startup = startup_cost();
    /* three pages, each answered after one tutorial second: together, about one second */
    const char *args[4];
    for (int i = 0; i < 3; i++) args[i] = url(&s, i, "/slow/%d/page/%d", DELAY_MS, i + 1);
    args[3] = NULL;
    static run_t r;
    run_timed(&r, NULL, "fetch_data", args, 1, 3, startup);
    cr_assert_eq(r.status, 0, "fetch_data:\n%s", r.out);
    char lines[3][512], all[2048];
    for (int i = 0; i < 3; i++) fetched_line(lines[i], sizeof lines[i], args[i], i + 1);
    snprintf(all, sizeof all, "%s\n%s\n%s", lines[0], lines[1], lines[2]);
    const char *const segs[] = {all, "Fetched all data.", NULL};
    check_lines(&r, "fetch_data", segs, NULL);
    check_overlap(&r, "fetch_data", 1, 3, startup);

    /* asyncio's default gather: a refused connection is the program's error */
    const char *bad[] = {args[0], "http://127.0.0.1:1/", NULL};
    run_example(&r, NULL, NULL, "fetch_data", bad);
    cr_assert_eq(r.status, 1);
    cr_assert_null(strstr(r.out, "Fetched all data."));

    const char *one[] = {url(&s, 3, "/page/%d", 7, 0), NULL};
    run_example(&r, NULL, NULL, "fetch_page", one);
    cr_assert_eq(r.status, 0);
    char body[4096], want[128];
    page_body(7, body, sizeof body);
    snprintf(want, sizeof want, "%.100s\n", body);
    cr_assert_str_eq(r.out, want);
    cr_assert_geq(atomic_load(&s.requests), 4);
    server_stop(&s);
}

Test(examples_asyncio, producer_consumer_with_sentinel_and_with_join) {
    static server_t s;
    server_start(&s);
    double startup = startup_cost();
    const char *args[4];
    for (int i = 0; i < 3; i++) args[i] = url(&s, i, "/slow/%d/page/%d", DELAY_MS, 2 * i + 1);
    args[3] = NULL;
    /* a page is processed after it is fetched; the fetches overlap */
    char seg[4096];
    int len = 0;
    for (int i = 0; i < 3; i++) {
        char line[512];
        fetched_line(line, sizeof line, args[i], 2 * i + 1);
        len += snprintf(seg + len, sizeof seg - (size_t)len, "%s\nProcessing data of length %zu%s",
                        line, page_len(2 * i + 1), i < 2 ? "\n" : "");
    }
    const char *progs[] = {"producer_consumer", "producer_consumer_join"};
    for (int p = 0; p < 2; p++) {
        static run_t r;
        run_timed(&r, NULL, progs[p], args, 1, 3, startup);
        cr_assert_eq(r.status, 0, "%s:\n%s", progs[p], r.out);
        const char *const segs[] = {seg, p ? "All data processed." : NULL, NULL};
        check_lines(&r, progs[p], segs, NULL);
        check_overlap(&r, progs[p], 1, 3, startup);
        /* each page's Fetched line comes before its Processing line: the consumer waits */
        for (int i = 0; i < 3; i++) {
            char line[512], proc[64];
            fetched_line(line, sizeof line, args[i], 2 * i + 1);
            snprintf(proc, sizeof proc, "Processing data of length %zu\n", page_len(2 * i + 1));
            cr_assert_lt(strstr(r.out, line) - r.out, strstr(r.out, proc) - r.out);
        }
    }
    server_stop(&s);
}

Test(examples_asyncio, scraper_saves_every_page) {
    static server_t s;
    server_start(&s);
    char dir[] = "/tmp/tide_scraper_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    const char *args[5];
    for (int i = 0; i < 4; i++) args[i] = url(&s, i, "/slow/%d/page/%d", DELAY_MS, 10 + i);
    args[4] = NULL;
    double startup = startup_cost();
    static run_t r;
    run_timed(&r, dir, "scraper", args, 1, 4, startup);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(r.len, 0, "it prints nothing, as the Python: %s", r.out);
    check_overlap(&r, "scraper", 1, 4, startup);
    for (int i = 0; i < 4; i++) {
        char path[96], want[4096], got[4096] = "";
        snprintf(path, sizeof path, "%s/file_%d.html", dir, i);
        size_t n = page_body(10 + i, want, sizeof want);
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f, "%s", path);
        size_t m = fread(got, 1, sizeof got - 1, f);
        fclose(f);
        cr_assert_eq(m, n, "%s: %zu bytes, not %zu", path, m, n);
        cr_assert_arr_eq(got, want, n);
        unlink(path);
    }
    rmdir(dir);
    server_stop(&s);
}

Test(examples_asyncio, api_aggregator_statistics_over_json) {
    static server_t s;
    server_start(&s);
    const char *args[4];
    for (int i = 0; i < 3; i++) args[i] = url(&s, i, "/slow/%d/post/%d", DELAY_MS, i + 1);
    args[3] = NULL;
    double startup = startup_cost();
    static run_t r;
    run_timed(&r, NULL, "api_aggregator", args, 1, 3, startup);
    cr_assert_eq(r.status, 0, "api_aggregator:\n%s", r.out);
    /* 4 posts; titles 15+12+12+23 = 62 -> 15.5; bodies 16+17+12+17 = 62 -> 15.5 */
    const char *const segs[] = {"Fetched 4 posts from 3 API calls", "Average title length: 15.5",
                                "Average body length: 15.5", "Posts per user: 1: 2, 2: 1, 3: 1",
                                NULL};
    check_lines(&r, "api_aggregator", segs, NULL);
    check_overlap(&r, "api_aggregator", 1, 3, startup);
    /* a reply that is not JSON fails its task, and the group the program */
    const char *bad[] = {args[0], url(&s, 4, "/bad", 0, 0), NULL};
    run_example(&r, NULL, NULL, "api_aggregator", bad);
    cr_assert_eq(r.status, 1);
    cr_assert_eq(r.len, 0);
    server_stop(&s);
}

#endif /* TIDE_ASYNCIO_EXAMPLES */
