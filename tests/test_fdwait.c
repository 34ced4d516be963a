/* tide_fd_wait on descriptors tide does not own: pipes, socketpairs, an eventfd written by a
 * plain thread. Readiness wakes the waiter (and every waiter of the same fd), a full pipe makes
 * a writer wait, timeouts and cancels in the middle of waits leave nothing behind, and bad
 * descriptors are errors. */
#include "testutil.h"

#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver.h"

typedef struct waiter_arg {
    int fd;
    int events;
} waiter_arg_t;

static int waiter(void *arg) {
    waiter_arg_t *w = arg;
    return tide_fd_wait(w->fd, w->events);
}

static int pipe_main(void *arg) {
    int p[2];
    cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    /* An empty pipe: writable at once, not readable. */
    cr_assert_eq(tide_fd_wait(p[1], TIDE_WRITABLE), TIDE_WRITABLE);
    tide_scope_t sc;
    tide_timeout_begin(&sc, TIDE_MSEC(20));
    int64_t t0 = tide_now();
    cr_assert_eq(tide_fd_wait(p[0], TIDE_READABLE), -ETIMEDOUT);
    tide_scope_end(&sc);
    cr_assert_geq(tide_now() - t0, TIDE_MSEC(20));

    /* Ten tasks wait to read the same pipe; one write wakes them all. */
    for (int round = 0; round < TT_SCALE(50); round++) {
        enum { N = 10 };
        tide_task_t t[N];
        waiter_arg_t wa = {.fd = p[0], .events = TIDE_READABLE};
        for (int i = 0; i < N; i++) cr_assert_eq(tide_spawn(&t[i], waiter, &wa), 0);
        tt_random_yields(5);
        cr_assert_eq(write(p[1], "x", 1), 1);
        for (int i = 0; i < N; i++) {
            int st;
            cr_assert_eq(tide_join(t[i], &st), 0);
            cr_assert_eq(st, TIDE_READABLE);
        }
        char c;
        cr_assert_eq(read(p[0], &c, 1), 1);
    }

    /* A full pipe: the writer waits until the reader drains it. */
    char buf[4096];
    memset(buf, 'y', sizeof buf);
    while (write(p[1], buf, sizeof buf) > 0) {
    }
    cr_assert_eq(errno, EAGAIN);
    tide_task_t w;
    waiter_arg_t wa = {.fd = p[1], .events = TIDE_WRITABLE};
    cr_assert_eq(tide_spawn(&w, waiter, &wa), 0);
    tide_sleep(TIDE_MSEC(10));
    cr_assert_eq(tide_task_done(w), 0, "writable while full?");
    while (read(p[0], buf, sizeof buf) > 0) {
    }
    int st;
    cr_assert_eq(tide_join(w, &st), 0);
    cr_assert_eq(st, TIDE_WRITABLE);

    /* Hang-up counts as readable. */
    cr_assert_eq(close(p[1]), 0);
    cr_assert_eq(tide_fd_wait(p[0], TIDE_READABLE), TIDE_READABLE);
    cr_assert_eq(close(p[0]), 0);
    return 0;
}

Test(fdwait, pipe_readiness) {
    tt_run(pipe_main, NULL, 2);
}

static int both_main(void *arg) {
    /* One task waits to read and another to write on the same socket; each is woken by its
     * own event only. */
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    cr_assert_eq(tide_fd_wait(sv[0], TIDE_READABLE | TIDE_WRITABLE), TIDE_WRITABLE);
    char buf[4096];
    memset(buf, 'z', sizeof buf);
    while (write(sv[0], buf, sizeof buf) > 0) {
    }
    waiter_arg_t rd = {.fd = sv[0], .events = TIDE_READABLE};
    waiter_arg_t wr = {.fd = sv[0], .events = TIDE_WRITABLE};
    tide_task_t r, w;
    cr_assert_eq(tide_spawn(&r, waiter, &rd), 0);
    cr_assert_eq(tide_spawn(&w, waiter, &wr), 0);
    tide_sleep(TIDE_MSEC(10));
    cr_assert_eq(tide_task_done(r), 0);
    cr_assert_eq(tide_task_done(w), 0);
    cr_assert_eq(write(sv[1], "hello", 5), 5);
    int st;
    cr_assert_eq(tide_join(r, &st), 0);
    cr_assert_eq(st, TIDE_READABLE);
    cr_assert_eq(tide_task_done(w), 0, "the writer woke for the reader's event");
    while (read(sv[1], buf, sizeof buf) > 0) {
    }
    cr_assert_eq(tide_join(w, &st), 0);
    cr_assert_eq(st, TIDE_WRITABLE);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

Test(fdwait, reader_and_writer_on_one_fd) {
    tt_run(both_main, NULL, 2);
}

static void *poke(void *arg) {
    int fd = *(int *)arg;
    for (int i = 0; i < 100; i++) {
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
        uint64_t one = 1;
        if (write(fd, &one, sizeof one) != sizeof one) return (void *)1;
    }
    return NULL;
}

static int join_thread(void *arg) {
    return -pthread_join(*(pthread_t *)arg, NULL);
}

static int eventfd_main(void *arg) {
    /* A plain thread signals an eventfd 100 times; the task counts every increment. */
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, poke, &fd), 0);
    uint64_t total = 0;
    while (total < 100) {
        int r = tide_fd_wait(fd, TIDE_READABLE);
        cr_assert_eq(r, TIDE_READABLE, "%s", tide_strerror(r));
        uint64_t v;
        if (read(fd, &v, sizeof v) == sizeof v) total += v;
        else cr_assert_eq(errno, EAGAIN);
    }
    cr_assert_eq(total, 100);
    cr_assert_eq(tide_spawn_blocking(join_thread, &th), 0);
    close(fd);
    return 0;
}

Test(fdwait, eventfd_from_a_plain_thread) {
    tt_run(eventfd_main, NULL, 2);
}

static int cancel_main(void *arg) {
    int p[2];
    cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    int woke = 0, cancelled = 0;
    for (int i = 0; i < TT_SCALE(1000); i++) {
        tide_task_t t[3];
        waiter_arg_t wa = {.fd = p[0], .events = TIDE_READABLE};
        for (int k = 0; k < 3; k++) cr_assert_eq(tide_spawn(&t[k], waiter, &wa), 0);
        bool wrote = tt_rand() % 4 == 0;
        if (wrote) cr_assert_eq(write(p[1], "x", 1), 1);
        tt_random_yields(4);
        for (int k = 0; k < 3; k++) {
            if (tt_rand() % 2) cr_assert_eq(tide_cancel(t[k]), 0);
        }
        if (!wrote) cr_assert_eq(write(p[1], "x", 1), 1); /* the uncancelled ones get out */
        for (int k = 0; k < 3; k++) {
            int st;
            cr_assert_eq(tide_join(t[k], &st), 0);
            if (st == TIDE_READABLE) woke++;
            else cr_assert_eq(st, -ECANCELED, "wait: %s", tide_strerror(st));
            cancelled += st == -ECANCELED;
        }
        char c;
        cr_assert_eq(read(p[0], &c, 1), 1);
        /* Deadlines in the middle of a wait, too. */
        int64_t ns = TIDE_USEC(tt_rand() % 200);
        cr_assert_eq(TIDE_WITH_TIMEOUT(ns, tide_fd_wait(p[0], TIDE_READABLE)), -ETIMEDOUT);
    }
    cr_assert_gt(cancelled, 0);
    cr_assert_gt(woke, 0);
    /* The fd is still usable: nothing was left registered for it. */
    cr_assert_eq(write(p[1], "y", 1), 1);
    cr_assert_eq(tide_fd_wait(p[0], TIDE_READABLE), TIDE_READABLE);
    close(p[0]);
    close(p[1]);
    return 0;
}

Test(fdwait, cancels_and_deadlines_in_waits) {
    tt_run(cancel_main, NULL, 2);
}

static int bad_main(void *arg) {
    int p[2];
    /* Start the driver first: its own descriptors would take the numbers closed below. */
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(tide_fd_wait(p[1], TIDE_WRITABLE), TIDE_WRITABLE);
    close(p[0]);
    close(p[1]);
    cr_assert_eq(pipe(p), 0);
    close(p[0]);
    close(p[1]);
    cr_assert_eq(tide_fd_wait(p[0], TIDE_READABLE), -EBADF);
    cr_assert_eq(tide_fd_wait(-1, TIDE_READABLE), -EINVAL);
    cr_assert_eq(tide_fd_wait(0, 0), -EINVAL);
    cr_assert_eq(tide_fd_wait(0, 4), -EINVAL);
    /* A regular file is always ready. */
    char path[] = "/tmp/tide-fdwait-XXXXXX";
    int f = mkstemp(path);
    cr_assert_geq(f, 0);
    unlink(path);
    cr_assert_eq(tide_fd_wait(f, TIDE_READABLE | TIDE_WRITABLE), TIDE_READABLE | TIDE_WRITABLE);
    close(f);
    return 0;
}

Test(fdwait, bad_descriptors) {
    tt_run(bad_main, NULL, 1);
    cr_assert_eq(tide_fd_wait(0, TIDE_READABLE), -EPERM); /* outside a task */
}
