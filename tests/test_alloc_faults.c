/* Out of memory everywhere: the allocation fault hook (tide_test_fail_alloc) fails each
 * allocation of a representative workload in turn (runtime start, spawn, channels, mutex,
 * queue, sleeps, TCP, UDP, files), then every allocation from a point on. Every call must
 * give its result or -ENOMEM (never another error, a crash or a hang), and once the hook is
 * off the same runtime keeps serving (a spawn and a channel round trip) and, freed, leaks
 * nothing: no task, stack, descriptor or byte of tide's heap. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "driver.h"

/* A result the workload accepts: success (>= 0) or out of memory. */
#define OK_OR_NOMEM(r, what)                                                                  \
    do {                                                                                      \
        long long r_ = (long long)(r);                                                        \
        cr_assert(r_ >= 0 || r_ == -ENOMEM, "%s: %s (only -ENOMEM may fail)", what,         \
                  tide_strerror((int)r_));                                                    \
    } while (0)

static char tmp_path[64];
static unsigned workers = 1; /* of the runtimes under test */

static int echo(void *arg) {
    tide_chan_t *c = arg;
    uint64_t v;
    int r;
    while ((r = tide_chan_recv(c, &v)) == 0) {
        v++;
        r = tide_chan_send(c, &v);
        if (r < 0) break;
    }
    return r == -EPIPE ? 0 : r;
}

static int sleeper(void *arg) {
    (void)arg;
    return tide_sleep(TIDE_MSEC(1));
}

/* Channels, spawn, join, queue, mutex, sleeps. */
static int sync_part(void) {
    tide_chan_t *c;
    int r = tide_chan_new(&c, sizeof(uint64_t), 4);
    OK_OR_NOMEM(r, "chan_new");
    if (r == 0) {
        tide_task_t h;
        r = tide_spawn(&h, echo, c);
        OK_OR_NOMEM(r, "spawn");
        if (r == 0) {
            uint64_t v = 1;
            for (int i = 0; i < 3; i++) {
                r = tide_chan_send(c, &v);
                OK_OR_NOMEM(r, "chan_send");
                if (r < 0) break;
                r = tide_chan_recv(c, &v);
                OK_OR_NOMEM(r, "chan_recv");
                if (r < 0) break;
            }
            tide_chan_close(c);
            int st;
            cr_assert_eq(tide_join(h, &st), 0);
            OK_OR_NOMEM(st, "echo task");
        }
        tide_chan_free(c);
    }
    tide_queue_t *q;
    r = tide_queue_new(&q, sizeof(int), 0);
    OK_OR_NOMEM(r, "queue_new");
    if (r == 0) {
        for (int i = 0; i < 40; i++) { /* past the ring's first buffer: it grows */
            r = tide_queue_put(q, &i);
            OK_OR_NOMEM(r, "queue_put");
            if (r < 0) break;
        }
        int v;
        while (tide_queue_try_get(q, &v) == 0) tide_queue_task_done(q);
        tide_queue_free(q);
    }
    tide_mutex_t m;
    cr_assert_eq(tide_mutex_init(&m), 0);
    cr_assert_eq(tide_mutex_lock(&m), 0);
    cr_assert_eq(tide_mutex_unlock(&m), 0);
    cr_assert_eq(tide_mutex_destroy(&m), 0);
    tide_task_t s[3];
    int n = 0;
    for (int i = 0; i < 3; i++) {
        tide_spawn_opts_t o = {.stack_size = i == 2 ? 128 * 1024 : 0}; /* a dedicated stack */
        r = tide_spawn_opts(&s[n], sleeper, NULL, &o);
        OK_OR_NOMEM(r, "spawn sleeper");
        if (r == 0) n++;
    }
    for (int i = 0; i < n; i++) {
        int st;
        cr_assert_eq(tide_join(s[i], &st), 0);
        cr_assert_eq(st, 0, "sleeper: %s", tide_strerror(st));
    }
    return 0;
}

/* TCP (listen, connect, accept, a round trip) and UDP. */
static int net_part(void) {
    tide_tcp_t *l, *a = NULL, *b = NULL;
    int r = tide_tcp_listen(&l, "127.0.0.1", 0, NULL);
    OK_OR_NOMEM(r, "tcp_listen");
    if (r < 0) return 0;
    tide_addr_t addr;
    cr_assert_eq(tide_tcp_local_addr(l, &addr), 0);
    r = tide_tcp_connect_addr(&a, &addr);
    OK_OR_NOMEM(r, "tcp_connect");
    if (r == 0) {
        r = tide_tcp_accept(l, &b, NULL);
        OK_OR_NOMEM(r, "tcp_accept");
    }
    if (a && b) {
        char buf[8] = "ping";
        ssize_t w = tide_tcp_write_all(a, buf, 4, NULL);
        OK_OR_NOMEM(w, "tcp_write_all");
        if (w >= 0) {
            size_t got;
            ssize_t rd = tide_tcp_read_exact(b, buf, 4, &got);
            OK_OR_NOMEM(rd, "tcp_read_exact");
        }
    }
    if (b) tide_tcp_close(b);
    if (a) tide_tcp_close(a);
    tide_tcp_close(l);

    tide_udp_t *u;
    r = tide_udp_bind(&u, "127.0.0.1", 0);
    OK_OR_NOMEM(r, "udp_bind");
    if (r == 0) {
        tide_addr_t ua;
        cr_assert_eq(tide_udp_local_addr(u, &ua), 0);
        ssize_t w = tide_udp_send_to(u, "x", 1, &ua);
        OK_OR_NOMEM(w, "udp_send_to");
        if (w == 1) {
            char c;
            OK_OR_NOMEM(tide_udp_recv_from(u, &c, 1, NULL), "udp_recv_from");
        }
        tide_udp_close(u);
    }
    return 0;
}

/* Files: whole-file write and read (the thread pool), and a descriptor's read. */
static int fs_part(void) {
    int r = tide_fs_write_file(tmp_path, "hello", 5);
    OK_OR_NOMEM(r, "fs_write_file");
    if (r < 0) return 0;
    char *data = NULL;
    size_t len = 0;
    r = tide_fs_read_file(tmp_path, &data, &len);
    OK_OR_NOMEM(r, "fs_read_file");
    if (r == 0) {
        cr_assert_eq(len, 5);
        free(data);
    }
    int fd = tide_fs_open(tmp_path, O_RDONLY, 0);
    OK_OR_NOMEM(fd, "fs_open");
    if (fd >= 0) {
        char buf[8];
        OK_OR_NOMEM(tide_fs_read(fd, buf, sizeof buf), "fs_read");
        cr_assert_eq(tide_fs_close(fd), 0);
    }
    return 0;
}

/* Task groups, oneshots, a child process. */
static int more_part(void) {
    tide_group_t *g;
    int r = tide_group_new(&g);
    OK_OR_NOMEM(r, "group_new");
    if (r == 0) {
        for (int i = 0; i < 3; i++) OK_OR_NOMEM(tide_group_spawn(g, sleeper, NULL, NULL), "group_spawn");
        OK_OR_NOMEM(tide_group_wait(g), "group_wait");
        tide_group_free(g);
    }
    tide_oneshot_t *o;
    r = tide_oneshot_new(&o, sizeof(int));
    OK_OR_NOMEM(r, "oneshot_new");
    if (r == 0) {
        int v = 3;
        cr_assert_eq(tide_oneshot_send(o, &v), 0);
        cr_assert_eq(tide_oneshot_recv(o, &v), 0);
        tide_oneshot_free(o);
    }
    char *argv[] = {"/bin/echo", "hi", NULL};
    char *out = NULL;
    size_t len = 0;
    int status = -1;
    r = tide_process_output(argv, &out, &len, &status);
    OK_OR_NOMEM(r, "process_output");
    if (r == 0) {
        cr_assert_eq(status, 0);
        cr_assert_eq(len, 3);
    }
    free(out);
    return 0;
}

static int workload(void *arg) {
    (void)arg;
    sync_part();
    net_part();
    fs_part();
    more_part();
    return 0;
}

/* After the faults: the runtime serves as if nothing happened. */
static int round_trip(void *arg) {
    (void)arg;
    tide_chan_t *c;
    cr_assert_eq(tide_chan_new(&c, sizeof(uint64_t), 0), 0);
    tide_task_t h;
    cr_assert_eq(tide_spawn(&h, echo, c), 0);
    uint64_t v = 41;
    cr_assert_eq(tide_chan_send(c, &v), 0);
    cr_assert_eq(tide_chan_recv(c, &v), 0);
    cr_assert_eq(v, 42);
    tide_chan_close(c);
    int st;
    cr_assert_eq(tide_join(h, &st), 0);
    cr_assert_eq(st, 0);
    tide_chan_free(c);
    workload(NULL); /* and the whole workload works again, unhindered */
    return 0;
}

/* One run under the hook: make a runtime, run the workload, turn the hook off, check it
 * still serves, free it, check for leaks. */
static void one_run(int64_t n, int mode) {
    if (getenv("TT_TRACE") && *getenv("TT_TRACE")) fprintf(stderr, "run n=%lld mode=%d\n", (long long)n, mode);
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.workers = workers;
    tide_runtime_t *rt = NULL;
    tide_test_fail_alloc(n, mode);
    int r = tide_runtime_new(&rt, &cfg);
    OK_OR_NOMEM(r, "runtime_new");
    if (r == 0) {
        int st = tide_runtime_block_on(rt, workload, NULL);
        OK_OR_NOMEM(st, "block_on");
    }
    tide_test_fail_alloc(0, TIDE_FAIL_OFF);
    if (r == 0) {
        cr_assert_eq(tide_runtime_block_on(rt, round_trip, NULL), 0, "n=%lld mode=%d",
                     (long long)n, mode);
        tt_runtime_quiet(rt);
        tide_runtime_close(rt);
    }
    cr_assert_eq(tide__io_live(), 0, "n=%lld: %lld I/O objects still live", (long long)n,
                 (long long)tide__io_live());
    tt_leaks_end(&l);
}

/* libuv learns that the child exited from SIGCHLD: under TSan a helper thread takes it (see
 * tt_signal_sink_begin), started before any runtime so that their threads inherit the mask. */
static void sink_begin(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    tt_signal_sink_begin(&set);
}

static int64_t workload_allocations(void) {
    sink_begin();
    snprintf(tmp_path, sizeof tmp_path, "/tmp/tide_alloc_faults.%d", (int)getpid());
    one_run(0, TIDE_FAIL_OFF); /* warm up process-wide state (thread records, uv) */
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.workers = workers;
    tide_runtime_t *rt;
    tide_test_fail_alloc(0, TIDE_FAIL_COUNT);
    cr_assert_eq(tide_runtime_new(&rt, &cfg), 0);
    cr_assert_eq(tide_runtime_block_on(rt, workload, NULL), 0);
    int64_t n = tide_test_fail_alloc(0, TIDE_FAIL_OFF);
    tide_runtime_close(rt);
    cr_assert_gt(n, 20, "the workload allocates (counted %lld)", (long long)n);
    return n;
}

Test(alloc_faults, hook_counts_and_fails_as_documented) {
    cr_assert_eq(tide_test_fail_alloc(0, 99), -EINVAL);
    cr_assert_eq(tide_test_fail_alloc(0, TIDE_FAIL_NTH), -EINVAL);
    tide_test_fail_alloc(0, TIDE_FAIL_COUNT);
    tide_chan_t *c;
    cr_assert_eq(tide_chan_new(&c, 8, 1), 0);
    cr_assert_eq(tide_test_fail_alloc(2, TIDE_FAIL_NTH), 1, "one allocation counted");
    tide_chan_t *c2, *c3;
    cr_assert_eq(tide_chan_new(&c2, 8, 1), 0, "the first one succeeds");
    cr_assert_eq(tide_chan_new(&c3, 8, 1), -ENOMEM, "the second fails");
    cr_assert_eq(tide_chan_new(&c3, 8, 1), 0, "the third succeeds");
    tide_test_fail_alloc(1, TIDE_FAIL_FROM);
    tide_chan_t *c4;
    cr_assert_eq(tide_chan_new(&c4, 8, 1), -ENOMEM);
    cr_assert_eq(tide_chan_new(&c4, 8, 1), -ENOMEM);
    tide_test_fail_alloc(0, TIDE_FAIL_OFF);
    cr_assert_eq(tide_chan_new(&c4, 8, 1), 0);
    tide_chan_free(c);
    tide_chan_free(c2);
    tide_chan_free(c3);
    tide_chan_free(c4);
}

Test(alloc_faults, each_allocation_fails_in_turn, .timeout = 600) {
    int64_t total = workload_allocations();
    /* The runtime's start comes first in the count; go a little past the end too. */
    int64_t end = total + 40;
    for (int64_t n = 1; n <= end; n++) one_run(n, TIDE_FAIL_NTH);
    cr_log_info("failed each of %lld allocation points in turn", (long long)end);
    unlink(tmp_path);
    tt_signal_sink_end();
}

/* Two workers: the order of allocations varies from run to run, and failures land while
 * tasks migrate and workers steal. */
Test(alloc_faults, each_allocation_fails_in_turn_two_workers, .timeout = 600) {
    workers = 2;
    int64_t total = workload_allocations();
    int64_t end = total + 40;
    for (int64_t n = 1; n <= end; n++) one_run(n, n % 2 ? TIDE_FAIL_NTH : TIDE_FAIL_FROM);
    cr_log_info("two workers: failed %lld allocation points", (long long)end);
    unlink(tmp_path);
    tt_signal_sink_end();
}

Test(alloc_faults, every_allocation_from_a_point_on_fails, .timeout = 600) {
    int64_t total = workload_allocations();
    int64_t end = total + 40;
    for (int64_t n = 1; n <= end; n++) one_run(n, TIDE_FAIL_FROM);
    cr_log_info("failed every allocation from each of %lld points on", (long long)end);
    unlink(tmp_path);
    tt_signal_sink_end();
}

/* A plain thread's first blocking call needs its wait record: with none to be had the call
 * returns -ENOMEM (it used to abort the process), and the next call gets one. */
typedef struct thread_arg {
    tide_chan_t *c;
    tide_runtime_t *rt;
    int r_nomem, r_block_on, r_run, r_after;
} thread_arg_t;

static int noop(void *arg) {
    (void)arg;
    return 0;
}

static void *plain_thread(void *arg) {
    thread_arg_t *t = arg;
    uint64_t v;
    tide_test_fail_alloc(1, TIDE_FAIL_FROM);
    t->r_nomem = tide_chan_recv(t->c, &v);
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_MSEC(1)); /* scopes on the shared record do nothing */
    tide_scope_end(&sc);
    t->r_block_on = tide_runtime_block_on(t->rt, noop, NULL);
    t->r_run = tide_run(noop, NULL);
    tide_test_fail_alloc(0, TIDE_FAIL_OFF);
    t->r_after = tide_chan_recv(t->c, &v);
    return NULL;
}

Test(alloc_faults, plain_thread_wait_without_memory_returns_enomem) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    thread_arg_t t = {0};
    cr_assert_eq(tide_chan_new(&t.c, sizeof(uint64_t), 1), 0);
    t.rt = tt_runtime(1);
    uint64_t v = 5;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, plain_thread, &t), 0);
    /* The recv after the hook is cleared blocks until we send. */
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    cr_assert_eq(tide_chan_send(t.c, &v), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(t.r_nomem, -ENOMEM, "recv: %s", tide_strerror(t.r_nomem));
    cr_assert_eq(t.r_block_on, -ENOMEM, "block_on: %s", tide_strerror(t.r_block_on));
    cr_assert_eq(t.r_run, -ENOMEM, "tide_run: %s", tide_strerror(t.r_run));
    cr_assert_eq(tide_runtime_block_on(t.rt, noop, NULL), 0, "the runtime is fine");
    tt_runtime_quiet(t.rt);
    tide_runtime_close(t.rt);
    cr_assert_eq(t.r_after, 0, "recv with memory back: %s", tide_strerror(t.r_after));
    tide_chan_free(t.c);
    tt_leaks_end(&l);
}

/* The I/O driver cannot start: every kind of I/O says -ENOMEM (not -EPERM, which means
 * "not in a task"). */
static int io_without_driver(void *arg) {
    (void)arg;
    tide_test_fail_alloc(1, TIDE_FAIL_FROM);
    tide_tcp_t *t;
    tide_udp_t *u;
    tide_addr_t a[2];
    int p[2];
    cr_assert_eq(pipe(p), 0);
    int r[] = {
        tide_tcp_listen(&t, "127.0.0.1", 0, NULL),
        tide_tcp_connect(&t, "127.0.0.1", 9),
        tide_udp_bind(&u, "127.0.0.1", 0),
        tide_resolve("localhost", 80, 0, a, 2),
        tide_fd_wait(p[0], TIDE_READABLE),
        tide_fs_open("/dev/null", O_RDONLY, 0),
    };
    tide_test_fail_alloc(0, TIDE_FAIL_OFF);
    close(p[0]);
    close(p[1]);
    const char *names[] = {"tcp_listen", "tcp_connect", "udp_bind", "resolve", "fd_wait",
                           "fs_open"};
    for (unsigned i = 0; i < sizeof r / sizeof r[0]; i++)
        cr_assert_eq(r[i], -ENOMEM, "%s: %s", names[i], tide_strerror(r[i]));
    return 0;
}

Test(alloc_faults, io_driver_without_memory_gives_enomem) {
    tt_run(io_without_driver, NULL, 1);
}
