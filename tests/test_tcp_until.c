/* tide_tcp_read_until / tide_tcp_write_until: a deadline passed to the call bounds its waits
 * (-ETIMEDOUT, nothing consumed or sent), data already there is returned whatever the time,
 * the caller's own scope deadline and cancel still apply, and the connection stays usable
 * after a timeout. */
#include "testutil_net.h"

#include <stdlib.h>
#include <string.h>

static int read_times_out_main(void *arg) {
    (void)arg;
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    char buf[16];
    int64_t deadline = tide_now() + TIDE_MSEC(20);
    cr_assert_eq(tide_tcp_read_until(s, buf, sizeof buf, deadline), -ETIMEDOUT);
    /* A deadline already past with nothing to read: at once. */
    cr_assert_eq(tide_tcp_read_until(s, buf, sizeof buf, tide_now() - 1), -ETIMEDOUT);
    /* The timeouts consumed nothing and left the connection working. */
    cr_assert_eq(tide_tcp_write(c, "hello", 5), 5);
    cr_assert_eq(tide_tcp_read_until(s, buf, sizeof buf, tide_now() + TIDE_SEC(10)), 5);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    tide_tcp_close(c);
    tide_tcp_close(s);
    return 0;
}

Test(tcp_until, read_times_out_and_consumes_nothing) {
    tt_run(read_times_out_main, NULL, 2);
}

static int data_past_deadline_main(void *arg) {
    (void)arg;
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    char buf[16];
    cr_assert_eq(tide_tcp_write(c, "abc", 3), 3);
    /* Wait until the bytes are surely queued (a read without deadline, of one byte). */
    cr_assert_eq(tide_tcp_read(s, buf, 1), 1);
    cr_assert_eq(tide_tcp_read_until(s, buf + 1, sizeof buf - 1, tide_now() - TIDE_SEC(1)), 2);
    cr_assert_eq(memcmp(buf, "abc", 3), 0);
    /* A deadline of TIDE_FOREVER is no deadline: end of stream still ends the read. */
    cr_assert_eq(tide_tcp_shutdown(c), 0);
    cr_assert_eq(tide_tcp_read_until(s, buf, sizeof buf, TIDE_FOREVER), 0);
    tide_tcp_close(c);
    tide_tcp_close(s);
    return 0;
}

Test(tcp_until, returns_data_already_there_past_the_deadline) {
    tt_run(data_past_deadline_main, NULL, 2);
}

static int scope_earlier_main(void *arg) {
    (void)arg;
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    char buf[16];
    /* The scope's deadline is earlier than the call's: it ends the wait. */
    tide_scope_t sc;
    int64_t t0 = tide_now();
    tide_timeout_begin(&sc, TIDE_MSEC(10));
    ssize_t r = tide_tcp_read_until(s, buf, sizeof buf, tide_now() + TIDE_SEC(60));
    tide_scope_end(&sc);
    cr_assert_eq(r, -ETIMEDOUT);
    cr_assert_lt(tide_now() - t0, TIDE_SEC(30), "the call's later deadline was used");
    tide_tcp_close(c);
    tide_tcp_close(s);
    return 0;
}

Test(tcp_until, the_scope_deadline_still_applies) {
    tt_run(scope_earlier_main, NULL, 2);
}

typedef struct blocked {
    tide_tcp_t *s;
    ssize_t r;
} blocked_t;

static int blocked_reader(void *arg) {
    blocked_t *b = arg;
    char buf[16];
    b->r = tide_tcp_read_until(b->s, buf, sizeof buf, tide_now() + TIDE_SEC(60));
    return 0;
}

static int cancel_main(void *arg) {
    (void)arg;
    blocked_t b = {0};
    tide_tcp_t *c;
    tt_tcp_pair(&c, &b.s);
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, blocked_reader, &b), 0);
    tide_sleep(TIDE_MSEC(5));
    cr_assert_eq(tide_cancel(t), 0);
    cr_assert_eq(tide_join(t, NULL), 0);
    cr_assert_eq(b.r, -ECANCELED);
    tide_tcp_close(c);
    tide_tcp_close(b.s);
    return 0;
}

Test(tcp_until, cancel_ends_the_wait) {
    tt_run(cancel_main, NULL, 2);
}

#define CHUNK (64 * 1024)

static int write_times_out_main(void *arg) {
    (void)arg;
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    uint8_t *chunk = malloc(CHUNK);
    cr_assert_not_null(chunk);
    /* Nobody reads s: the socket buffers fill and a write's wait hits its deadline. Every
     * byte the writes reported is in the stream, in order; the timed-out one sent none. */
    size_t sent = 0;
    ssize_t r;
    for (;;) {
        tt_fill(chunk, CHUNK, 7, sent);
        r = tide_tcp_write_until(c, chunk, CHUNK, tide_now() + TIDE_MSEC(30));
        if (r < 0) break;
        cr_assert_gt(r, 0);
        sent += (size_t)r;
        cr_assert_lt(sent, (size_t)1 << 30, "the socket never filled");
    }
    cr_assert_eq(r, -ETIMEDOUT);
    cr_assert_eq(tide_tcp_shutdown(c), 0);
    size_t got = 0;
    for (;;) {
        r = tide_tcp_read(s, chunk, CHUNK);
        cr_assert_geq(r, 0);
        if (r == 0) break;
        for (ssize_t i = 0; i < r; i++) cr_assert_eq(chunk[i], tt_pat(7, got + (size_t)i));
        got += (size_t)r;
    }
    cr_assert_eq(got, sent);
    free(chunk);
    tide_tcp_close(c);
    tide_tcp_close(s);
    return 0;
}

Test(tcp_until, write_times_out_and_sends_nothing_more) {
    tt_run(write_times_out_main, NULL, 2);
}

static int misuse_main(void *arg) {
    (void)arg;
    char buf[4];
    cr_assert_eq(tide_tcp_read_until(NULL, buf, sizeof buf, TIDE_FOREVER), -EINVAL);
    cr_assert_eq(tide_tcp_write_until(NULL, buf, sizeof buf, TIDE_FOREVER), -EINVAL);
    tide_tcp_t *c, *s;
    tt_tcp_pair(&c, &s);
    cr_assert_eq(tide_tcp_read_until(s, NULL, 1, TIDE_FOREVER), -EINVAL);
    cr_assert_eq(tide_tcp_write_until(c, NULL, 1, TIDE_FOREVER), -EINVAL);
    tide_tcp_close(c);
    tide_tcp_close(s);
    cr_assert_eq(tide_tcp_read_until(s, buf, sizeof buf, TIDE_FOREVER), -EBADF);
    return 0;
}

Test(tcp_until, misuse) {
    tt_run(misuse_main, NULL, 2);
}
