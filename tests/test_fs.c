/* Files: round trips through every call, a several-MB file, many concurrent readers, the
 * error paths, and deadlines and cancels that withdraw queued requests (libuv's thread pool
 * is made busy with FIFO opens that block until a writer comes) without leaking a request or
 * a descriptor. */
#include "testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

/* A fresh directory per test process. */
static char dir[64];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/tide-fs-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static char *path_of(char *buf, const char *name) {
    snprintf(buf, 128, "%s/%s", dir, name);
    return buf;
}

static void fill(unsigned char *p, size_t n, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

static void run_main(int (*fn)(void *), void *arg) {
    make_dir();
    tt_run(fn, arg, 0);
    remove_dir();
}

/* ---- round trip ------------------------------------------------------------------------ */

static int roundtrip(void *arg) {
    char p[128], q[128];
    path_of(p, "a.txt");
    int fd = tide_fs_open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0, "open: %s", tide_strerror(fd));
    cr_assert_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    cr_assert_eq(tide_fs_write(fd, "hello, ", 7), 7);
    cr_assert_eq(tide_fs_write(fd, "world\n", 6), 6);
    cr_assert_eq(tide_fs_pwrite(fd, "J", 1, 0), 1);
    cr_assert_eq(tide_fs_fsync(fd), 0);
    struct stat st;
    cr_assert_eq(tide_fs_fstat(fd, &st), 0);
    cr_assert_eq(st.st_size, 13);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(tide_fs_close(fd), 0);

    fd = tide_fs_open(p, O_RDONLY, 0);
    cr_assert_geq(fd, 0);
    char buf[64] = {0};
    cr_assert_eq(tide_fs_read(fd, buf, 5), 5);
    cr_assert_eq(memcmp(buf, "Jello", 5), 0);
    cr_assert_eq(tide_fs_read(fd, buf, sizeof buf), 8); /* the rest; the position moved */
    cr_assert_eq(memcmp(buf, ", world\n", 8), 0);
    cr_assert_eq(tide_fs_read(fd, buf, sizeof buf), 0); /* end of file */
    cr_assert_eq(tide_fs_pread(fd, buf, 5, 7), 5);
    cr_assert_eq(memcmp(buf, "world", 5), 0);
    cr_assert_eq(tide_fs_close(fd), 0);

    cr_assert_eq(tide_fs_stat(p, &st), 0);
    cr_assert_eq(st.st_size, 13);

    char *data;
    size_t len;
    cr_assert_eq(tide_fs_read_file(p, &data, &len), 0);
    cr_assert_eq(len, 13);
    cr_assert_str_eq(data, "Jello, world\n"); /* NUL-terminated */
    free(data);

    cr_assert_eq(tide_fs_write_file(p, "replaced", 8), 0);
    cr_assert_eq(tide_fs_read_file(p, &data, &len), 0);
    cr_assert_eq(len, 8);
    cr_assert_str_eq(data, "replaced");
    free(data);
    cr_assert_eq(tide_fs_write_file(p, NULL, 0), 0);
    cr_assert_eq(tide_fs_read_file(p, &data, &len), 0);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(data, "");
    free(data);

    /* Append mode writes at the end whatever the position. */
    fd = tide_fs_open(p, O_WRONLY | O_APPEND, 0);
    cr_assert_eq(tide_fs_write(fd, "ab", 2), 2);
    cr_assert_eq(tide_fs_write(fd, "cd", 2), 2);
    cr_assert_eq(tide_fs_close(fd), 0);
    cr_assert_eq(tide_fs_read_file(p, &data, &len), 0);
    cr_assert_str_eq(data, "abcd");
    free(data);

    path_of(q, "b.txt");
    cr_assert_eq(tide_fs_rename(p, q), 0);
    cr_assert_eq(tide_fs_stat(p, &st), -ENOENT);
    cr_assert_eq(tide_fs_stat(q, &st), 0);
    cr_assert_eq(tide_fs_unlink(q), 0);
    cr_assert_eq(tide_fs_stat(q, &st), -ENOENT);

    path_of(p, "sub");
    cr_assert_eq(tide_fs_mkdir(p, 0755), 0);
    cr_assert_eq(tide_fs_mkdir(p, 0755), -EEXIST);
    cr_assert_eq(tide_fs_stat(p, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(tide_fs_write_file(path_of(q, "sub/x"), "x", 1), 0);
    cr_assert_eq(tide_fs_rmdir(p), -ENOTEMPTY);
    cr_assert_eq(tide_fs_unlink(q), 0);
    cr_assert_eq(tide_fs_rmdir(p), 0);
    return 0;
}

Test(fs, round_trip_write_read_stat_rename_unlink) {
    run_main(roundtrip, NULL);
}

/* ---- a large file ---------------------------------------------------------------------- */

#define BIG ((size_t)6 << 20)

static int large(void *arg) {
    char p[128];
    path_of(p, "big.bin");
    unsigned char *src = malloc(BIG);
    fill(src, BIG, 7);
    cr_assert_eq(tide_fs_write_file(p, src, BIG), 0);
    struct stat st;
    cr_assert_eq(tide_fs_stat(p, &st), 0);
    cr_assert_eq((size_t)st.st_size, BIG);

    char *data;
    size_t len;
    cr_assert_eq(tide_fs_read_file(p, &data, &len), 0);
    cr_assert_eq(len, BIG);
    cr_assert_eq(memcmp(data, src, BIG), 0);
    free(data);

    /* The same through open/read in odd-sized chunks, and written back with pwrite in
     * reverse chunk order. */
    int fd = tide_fs_open(p, O_RDONLY, 0);
    char q[128];
    int out = tide_fs_open(path_of(q, "copy.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_geq(out, 0);
    unsigned char *buf = malloc(BIG);
    size_t got = 0;
    while (got < BIG) {
        size_t want = 1 + tt_rand() % 300000;
        ssize_t n = tide_fs_read(fd, buf + got, want);
        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
    cr_assert_eq(tide_fs_read(fd, buf, 1), 0);
    cr_assert_eq(memcmp(buf, src, BIG), 0);
    size_t chunk = 777777;
    for (size_t off = BIG - BIG % chunk;; off -= chunk) {
        size_t n = off + chunk > BIG ? BIG - off : chunk;
        cr_assert_eq(tide_fs_pwrite(out, buf + off, n, (int64_t)off), (ssize_t)n);
        if (off == 0) break;
    }
    cr_assert_eq(tide_fs_close(fd), 0);
    cr_assert_eq(tide_fs_close(out), 0);
    cr_assert_eq(tide_fs_read_file(q, &data, &len), 0);
    cr_assert_eq(len, BIG);
    cr_assert_eq(memcmp(data, src, BIG), 0);
    free(data);
    free(buf);
    free(src);
    return 0;
}

Test(fs, several_megabytes_intact) {
    run_main(large, NULL);
}

/* ---- many concurrent readers ----------------------------------------------------------- */

#define SHARED ((size_t)256 << 10)

typedef struct readers {
    char path[128];
    unsigned char *src;
    _Atomic uint64_t bytes;
} readers_t;

static int reader(void *arg) {
    readers_t *rd = arg;
    tt_random_yields(3);
    if (tt_rand() % 2) {
        char *data;
        size_t len;
        int r = tide_fs_read_file(rd->path, &data, &len);
        if (r < 0) return r;
        cr_assert_eq(len, SHARED);
        cr_assert_eq(memcmp(data, rd->src, SHARED), 0);
        free(data);
        atomic_fetch_add(&rd->bytes, len);
        return 0;
    }
    int fd = tide_fs_open(rd->path, O_RDONLY, 0);
    if (fd < 0) return fd;
    char buf[4096];
    for (int i = 0; i < 8; i++) {
        size_t off = tt_rand() % (SHARED - sizeof buf);
        ssize_t n = tide_fs_pread(fd, buf, sizeof buf, (int64_t)off);
        cr_assert_eq(n, (ssize_t)sizeof buf);
        cr_assert_eq(memcmp(buf, rd->src + off, sizeof buf), 0);
        atomic_fetch_add(&rd->bytes, (uint64_t)n);
        tt_random_yields(2);
    }
    return tide_fs_close(fd);
}

static int many_readers(void *arg) {
    readers_t *rd = arg;
    path_of(rd->path, "shared.bin");
    rd->src = malloc(SHARED);
    fill(rd->src, SHARED, 99);
    cr_assert_eq(tide_fs_write_file(rd->path, rd->src, SHARED), 0);
    int n = TT_SCALE(400);
    tide_task_t *ts = calloc((size_t)n, sizeof *ts);
    for (int i = 0; i < n; i++) cr_assert_eq(tide_spawn(&ts[i], reader, rd), 0);
    for (int i = 0; i < n; i++) {
        int st = -1;
        cr_assert_eq(tide_join(ts[i], &st), 0);
        cr_assert_eq(st, 0, "reader %d: %s", i, tide_strerror(st));
    }
    free(ts);
    free(rd->src);
    return 0;
}

Test(fs, many_concurrent_readers) {
    readers_t rd = {.bytes = 0};
    run_main(many_readers, &rd);
    cr_assert_gt(atomic_load(&rd.bytes), 0);
}

/* ---- errors ---------------------------------------------------------------------------- */

static int errors(void *arg) {
    char p[128];
    struct stat st;
    char *data = (char *)1;
    size_t len = 5;
    char buf[16];
    path_of(p, "missing");
    cr_assert_eq(tide_fs_open(p, O_RDONLY, 0), -ENOENT);
    cr_assert_eq(tide_fs_stat(p, &st), -ENOENT);
    cr_assert_eq(tide_fs_unlink(p), -ENOENT);
    cr_assert_eq(tide_fs_rmdir(p), -ENOENT);
    cr_assert_eq(tide_fs_read_file(p, &data, &len), -ENOENT);
    cr_assert_null(data);
    cr_assert_eq(len, 0);
    cr_assert_eq(tide_fs_write_file(path_of(p, "no/such/dir"), "x", 1), -ENOENT);
    char q[128];
    cr_assert_eq(tide_fs_rename(path_of(p, "missing"), path_of(q, "x")), -ENOENT);

    /* Directories. */
    cr_assert_eq(tide_fs_read_file(dir, &data, &len), -EISDIR);
    cr_assert_eq(tide_fs_open(dir, O_WRONLY, 0), -EISDIR);
    cr_assert_eq(tide_fs_write_file(dir, "x", 1), -EISDIR);
    int fd = tide_fs_open(dir, O_RDONLY, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(tide_fs_read(fd, buf, sizeof buf), -EISDIR);
    cr_assert_eq(tide_fs_close(fd), 0);
    cr_assert_eq(tide_fs_unlink(dir), -EISDIR);

    /* Closed and invalid descriptors. */
    cr_assert_eq(tide_fs_read(fd, buf, sizeof buf), -EBADF);
    cr_assert_eq(tide_fs_write(fd, "x", 1), -EBADF);
    cr_assert_eq(tide_fs_close(fd), -EBADF);
    cr_assert_eq(tide_fs_fstat(fd, &st), -EBADF);
    cr_assert_eq(tide_fs_read(-1, buf, 1), -EBADF);
    cr_assert_eq(tide_fs_close(-3), -EBADF);
    /* Read-only descriptor written. */
    cr_assert_eq(tide_fs_write_file(path_of(p, "ro"), "abc", 3), 0);
    fd = tide_fs_open(p, O_RDONLY, 0);
    cr_assert_eq(tide_fs_write(fd, "x", 1), -EBADF);
    cr_assert_eq(tide_fs_close(fd), 0);
    cr_assert_eq(tide_fs_open(p, O_WRONLY | O_CREAT | O_EXCL, 0644), -EEXIST);

    /* Bad arguments. */
    cr_assert_eq(tide_fs_open(NULL, O_RDONLY, 0), -EINVAL);
    cr_assert_eq(tide_fs_stat(NULL, &st), -EINVAL);
    cr_assert_eq(tide_fs_stat(p, NULL), -EINVAL);
    cr_assert_eq(tide_fs_fstat(0, NULL), -EINVAL);
    cr_assert_eq(tide_fs_read(0, NULL, 4), -EINVAL);
    cr_assert_eq(tide_fs_pread(0, buf, 4, -1), -EINVAL);
    cr_assert_eq(tide_fs_pwrite(0, buf, 4, -5), -EINVAL);
    cr_assert_eq(tide_fs_write(0, buf, (size_t)SSIZE_MAX + 1), -EINVAL);
    cr_assert_eq(tide_fs_read_file(NULL, &data, &len), -EINVAL);
    cr_assert_eq(tide_fs_read_file(p, NULL, &len), -EINVAL);
    cr_assert_eq(tide_fs_write_file(p, NULL, 3), -EINVAL);
    cr_assert_eq(tide_fs_rename(p, NULL), -EINVAL);
    cr_assert_eq(tide_fs_unlink(NULL), -EINVAL);
    cr_assert_eq(tide_fs_mkdir(NULL, 0755), -EINVAL);
    return 0;
}

Test(fs, errors_are_negative_errnos) {
    run_main(errors, NULL);
}

Test(fs, outside_a_task_is_eperm) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    struct stat st;
    char *data;
    size_t len;
    char buf[4];
    cr_assert_eq(tide_fs_open("/tmp", O_RDONLY, 0), -EPERM);
    cr_assert_eq(tide_fs_stat("/tmp", &st), -EPERM);
    cr_assert_eq(tide_fs_read(0, buf, 1), -EPERM);
    cr_assert_eq(tide_fs_close(0), -EPERM);
    cr_assert_eq(tide_fs_read_file("/etc/hostname", &data, &len), -EPERM);
    cr_assert_eq(tide_fs_write_file("/tmp/x", "x", 1), -EPERM);
    tt_leaks_end(&l);
}

/* ---- deadlines and cancels ------------------------------------------------------------- */

/* libuv's pool has UV_THREADPOOL_SIZE threads (set below, before the pool starts). Opening a
 * FIFO for reading blocks its thread until a writer opens it: POOL such opens make every
 * later request wait in the queue, where a deadline or cancel really withdraws it. */
#define POOL 4

typedef struct blocker {
    char fifo[128];
    int fd;
} blocker_t;

static int block_pool(void *arg) {
    blocker_t *b = arg;
    b->fd = tide_fs_open(b->fifo, O_RDONLY, 0);
    cr_assert_geq(b->fd, 0, "fifo open: %s", tide_strerror(b->fd));
    return tide_fs_close(b->fd);
}

static int stat_forever(void *arg) {
    struct stat st;
    return tide_fs_stat("/", &st);
}

static int read_file_forever(void *arg) {
    char *data;
    size_t len;
    return tide_fs_read_file("/etc/passwd", &data, &len);
}

static int queued_withdrawn(void *arg) {
    char fifo[128];
    path_of(fifo, "fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    blocker_t b[POOL];
    tide_task_t bt[POOL];
    for (int i = 0; i < POOL; i++) {
        strcpy(b[i].fifo, fifo);
        cr_assert_eq(tide_spawn(&bt[i], block_pool, &b[i]), 0);
    }
    /* Wait until all four opens sit in the pool. */
    while (tide__io_live() < POOL) tide_sleep(TIDE_MSEC(1));
    tide_sleep(TIDE_MSEC(20));

    int iters = TT_SCALE(300);
    for (int i = 0; i < iters; i++) {
        /* A deadline withdraws a queued stat... */
        tide_scope_t s;
        struct stat st;
        tide_timeout_begin(&s, TIDE_USEC(tt_rand() % 500));
        int r = tide_fs_stat("/", &st);
        tide_scope_end(&s);
        cr_assert_eq(r, -ETIMEDOUT);
        /* ... and a cancel a queued open, a whole-file read, a write. */
        tide_task_t t;
        int (*fn)(void *) = i % 2 ? stat_forever : read_file_forever;
        cr_assert_eq(tide_spawn(&t, fn, NULL), 0);
        tt_random_yields(3);
        cr_assert_eq(tide_cancel(t), 0);
        int st2 = 0;
        cr_assert_eq(tide_join(t, &st2), 0);
        cr_assert_eq(st2, -ECANCELED);
        /* Only the four blockers remain in flight. */
        cr_assert_eq(tide__io_live(), POOL);
    }
    /* A writer releases the blockers; the pool works again. */
    int w = open(fifo, O_WRONLY | O_NONBLOCK);
    cr_assert_geq(w, 0);
    for (int i = 0; i < POOL; i++) {
        int st = -1;
        cr_assert_eq(tide_join(bt[i], &st), 0);
        cr_assert_eq(st, 0);
    }
    close(w);
    struct stat st;
    cr_assert_eq(tide_fs_stat("/", &st), 0);
    return 0;
}

Test(fs, deadline_and_cancel_withdraw_queued_requests) {
    setenv("UV_THREADPOOL_SIZE", "4", 1);
    run_main(queued_withdrawn, NULL);
}

/* An open that is already running cannot be withdrawn: the task waits for it, and the
 * descriptor it returns after the deadline is closed again, not leaked. */
static void *late_writer(void *arg) {
    usleep(300 * 1000);
    int w = open((char *)arg, O_WRONLY | O_NONBLOCK);
    cr_assert_geq(w, 0);
    usleep(20 * 1000);
    close(w);
    return NULL;
}

static int running_open(void *arg) {
    char fifo[128];
    path_of(fifo, "fifo2");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    struct stat st;
    cr_assert_eq(tide_fs_stat(fifo, &st), 0); /* the driver is up: its descriptors count */
    int before = tt_open_fds();
    for (int i = 0; i < 3; i++) {
        /* The deadline leaves the driver's pool 100 ms to start the open (a loaded machine
         * may take a while), the writer comes three times as late; t0 is taken before the
         * writer starts, so the lower bound below holds however late the thread runs. */
        int64_t t0 = tide_now();
        pthread_t th;
        pthread_create(&th, NULL, late_writer, fifo);
        tide_scope_t s;
        tide_timeout_begin(&s, TIDE_MSEC(100));
        int r = tide_fs_open(fifo, O_RDONLY, 0);
        tide_scope_end(&s);
        pthread_join(th, NULL);
        cr_assert_eq(r, -ETIMEDOUT, "got %d", r);
        cr_assert_geq(tide_now() - t0, TIDE_MSEC(300), "returned before the open ended");
        cr_assert_eq(tt_open_fds(), before);
    }
    return 0;
}

Test(fs, running_open_cut_short_closes_its_descriptor) {
    run_main(running_open, NULL);
}

/* Whole-file jobs stop between chunks once the task gives up. Through FIFOs, so the job is
 * surely running when the deadline comes: an endless stream to read, and a slow reader
 * that would take seconds to drain what is written. The deadline leaves the driver's pool
 * 200 ms to start the job: a loaded machine (TSan, other builds) took over 30 ms, and the
 * job was withdrawn before it opened the FIFO. */
#define WHOLE_DEADLINE TIDE_MSEC(200)
typedef struct stream {
    char fifo[128];
    _Atomic uint64_t moved; /* bytes the helper thread wrote or read */
} stream_t;

static void *endless_writer(void *arg) {
    stream_t *st = arg;
    int fd = open(st->fifo, O_WRONLY);
    cr_assert_geq(fd, 0);
    static char chunk[65536];
    ssize_t n;
    while ((n = write(fd, chunk, sizeof chunk)) > 0) atomic_fetch_add(&st->moved, (uint64_t)n);
    cr_assert_eq(errno, EPIPE); /* the reader went away */
    close(fd);
    return NULL;
}

static void *slow_reader(void *arg) {
    stream_t *st = arg;
    int fd = open(st->fifo, O_RDONLY);
    cr_assert_geq(fd, 0);
    static char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) {
        atomic_fetch_add(&st->moved, (uint64_t)n);
        usleep(2000);
    }
    cr_assert_eq(n, 0);
    close(fd);
    return NULL;
}

/* Open the other end of st's FIFO for a moment, so a helper thread still blocked in its
 * open (the job never opened the FIFO) gets through and ends: a failed assertion then, not
 * a hang in pthread_join. */
static void release_helper(stream_t *st, int flags) {
    int fd = open(st->fifo, flags | O_NONBLOCK);
    if (fd >= 0) close(fd);
}

/* One read_file cut by the deadline, through a FIFO an endless writer feeds: what the writer
 * had handed to the job when the call returned (0: the job had not started). */
static uint64_t read_cut_short(const char *name) {
    stream_t st = {.moved = 0};
    path_of(st.fifo, name);
    cr_assert_eq(mkfifo(st.fifo, 0600), 0);
    pthread_t th;
    pthread_create(&th, NULL, endless_writer, &st);
    char *data = (char *)1;
    size_t len = 1;
    tide_scope_t s;
    tide_timeout_begin(&s, WHOLE_DEADLINE);
    int r = tide_fs_read_file(st.fifo, &data, &len);
    tide_scope_end(&s);
    uint64_t moved = atomic_load(&st.moved);
    release_helper(&st, O_RDONLY);
    pthread_join(th, NULL);
    cr_assert_eq(r, -ETIMEDOUT, "got %s", tide_strerror(r));
    cr_assert_null(data);
    cr_assert_eq(len, 0);
    return moved;
}

/* One write_file of n bytes cut by the deadline, through a FIFO a slow reader drains: what
 * the reader got (0: the job had not started). */
static uint64_t write_cut_short(const char *name, const char *src, size_t n) {
    stream_t st = {.moved = 0};
    path_of(st.fifo, name);
    cr_assert_eq(mkfifo(st.fifo, 0600), 0);
    pthread_t th;
    pthread_create(&th, NULL, slow_reader, &st);
    tide_scope_t s;
    tide_timeout_begin(&s, WHOLE_DEADLINE);
    int r = tide_fs_write_file(st.fifo, src, n);
    tide_scope_end(&s);
    release_helper(&st, O_WRONLY);
    pthread_join(th, NULL);
    cr_assert_eq(r, -ETIMEDOUT, "got %s", tide_strerror(r));
    uint64_t moved = atomic_load(&st.moved);
    cr_assert_lt(moved, n, "the stopped job wrote everything");
    return moved;
}

/* Three rounds each way. A job the pool had not started by the deadline (withdrawn, as it
 * should be: a loaded machine) shows nothing moved; that round runs again, three tries in
 * all, so only a job that never runs fails the test. */
static int whole_stops(void *arg) {
    signal(SIGPIPE, SIG_IGN);
    size_t n = (size_t)64 << 20; /* ~2 s for the slow reader */
    char *src = calloc(1, n);
    for (int writing = 0; writing < 2; writing++) {
        for (int i = 0; i < 3; i++) {
            uint64_t moved = 0;
            for (int attempt = 0; attempt < 3 && moved == 0; attempt++) {
                char name[16];
                snprintf(name, sizeof name, "%s%d.%d", writing ? "out" : "in", i, attempt);
                moved = writing ? write_cut_short(name, src, n) : read_cut_short(name);
                if (moved == 0) cr_log_warn("%s: the job had not started by the deadline", name);
            }
            cr_assert_gt(moved, 0, "the job never ran (%s, three tries)", writing ? "write" : "read");
        }
    }
    free(src);
    return 0;
}

Test(fs, whole_file_job_stops_on_deadline) {
    run_main(whole_stops, NULL);
}

/* Reads of cached data are served on the worker without a thread hop; they still honour a
 * cancel, an expired deadline and a shield exactly like the slow path. */
typedef struct cached {
    char path[128];
    tide_task_t self;
    int fd;
} cached_t;

static int cancelled_reader(void *arg) {
    cached_t *c = arg;
    char buf[8];
    /* Spin (yielding) until cancelled; the cancel must then show on the next read. */
    while (!tide_cancelled()) {
        ssize_t n = tide_fs_pread(c->fd, buf, sizeof buf, 0);
        if (n == -ECANCELED) break;
        cr_assert_eq(n, 8);
        tide_yield();
    }
    cr_assert_eq(tide_fs_pread(c->fd, buf, sizeof buf, 0), -ECANCELED);
    cr_assert_eq(tide_fs_read(c->fd, buf, sizeof buf), -ECANCELED);
    tide_shield_t sh;
    tide_shield_begin(&sh);
    cr_assert_eq(tide_fs_pread(c->fd, buf, sizeof buf, 0), 8); /* shielded: it happens */
    cr_assert_eq(memcmp(buf, "01234567", 8), 0);
    tide_shield_end(&sh);
    return -ECANCELED;
}

static int cached_reads(void *arg) {
    cached_t c;
    path_of(c.path, "cached");
    cr_assert_eq(tide_fs_write_file(c.path, "0123456789abcdef", 16), 0);
    c.fd = tide_fs_open(c.path, O_RDONLY, 0);
    cr_assert_geq(c.fd, 0);
    char buf[16];
    /* Sequential reads move the position, pread does not. */
    cr_assert_eq(tide_fs_read(c.fd, buf, 10), 10);
    cr_assert_eq(tide_fs_pread(c.fd, buf, 4, 12), 4);
    cr_assert_eq(memcmp(buf, "cdef", 4), 0);
    cr_assert_eq(tide_fs_read(c.fd, buf, 16), 6);
    cr_assert_eq(memcmp(buf, "abcdef", 6), 0);
    cr_assert_eq(tide_fs_read(c.fd, buf, 16), 0);
    /* An expired deadline. */
    tide_scope_t s;
    tide_timeout_begin(&s, 0);
    cr_assert_eq(tide_fs_pread(c.fd, buf, 4, 0), -ETIMEDOUT);
    tide_scope_end(&s);
    cr_assert_eq(tide_fs_pread(c.fd, buf, 4, 0), 4);
    /* Cancels, many times over. */
    for (int i = 0; i < TT_SCALE(200); i++) {
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, cancelled_reader, &c), 0);
        tt_random_yields(4);
        cr_assert_eq(tide_cancel(t), 0);
        int st = 0;
        cr_assert_eq(tide_join(t, &st), 0);
        cr_assert_eq(st, -ECANCELED);
    }
    cr_assert_eq(tide_fs_close(c.fd), 0);
    return 0;
}

Test(fs, cached_reads_honour_cancel_deadline_and_shield) {
    run_main(cached_reads, NULL);
}
