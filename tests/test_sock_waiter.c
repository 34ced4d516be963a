/* A socket's waiters: the first task waiting in a direction is kept in the socket record, any
 * more are linked on their own stacks (io/net_internal.h). Every mix must behave alike: two
 * and three readers contending for one socket (each byte read once, no wake lost), a parked
 * reader cancelled or timed out (the socket serves the next reader), a wake racing a
 * deadline (no byte lost or read twice), a reader and a writer parked on one socket at once,
 * a close waking both, and the dump naming what each waits on. 2 and 4 workers. */
#include "testutil_net.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- readers contending for one socket ------------------------------------------------- */

#define CONTEND_BYTES TT_SCALE(3000)

typedef struct contend {
    tide_tcp_t *c, *s;         /* client end (written), server end (read by every reader) */
    _Atomic uint64_t consumed; /* bytes read, over all readers */
    _Atomic uint64_t sum;      /* sum of the byte values read (each byte is its index) */
    uint64_t per_reader[4];    /* bytes each reader got */
    int readers;
} contend_t;

typedef struct reader_arg {
    contend_t *ct;
    int id;
} reader_arg_t;

static int contend_reader(void *arg) {
    reader_arg_t *ra = arg;
    contend_t *ct = ra->ct;
    for (;;) {
        uint8_t b;
        ssize_t r = tide_tcp_read(ct->s, &b, 1);
        if (r == 0) return 0; /* end of stream: the writer is done */
        if (r < 0) return (int)r;
        ct->per_reader[ra->id]++;
        atomic_fetch_add(&ct->sum, b);
        atomic_fetch_add(&ct->consumed, 1);
    }
}

static int contend_main(void *arg) {
    contend_t *ct = arg;
    tt_tcp_pair(&ct->c, &ct->s);
    tide_task_t t[4];
    reader_arg_t ra[4];
    for (int i = 0; i < ct->readers; i++) {
        ra[i] = (reader_arg_t){ct, i};
        cr_assert_eq(tide_spawn(&t[i], contend_reader, &ra[i]), 0);
    }
    uint64_t want = 0;
    for (uint64_t i = 0; i < CONTEND_BYTES; i++) {
        uint8_t b = (uint8_t)i;
        want += b;
        cr_assert_eq(tide_tcp_write(ct->c, &b, 1), 1);
        /* One byte in flight at a time: every readers' wait (slot and list) is woken for it,
         * and a lost wake leaves it unread for good (the test's timeout). Every few bytes,
         * let all readers park first. */
        while (atomic_load(&ct->consumed) <= i) tide_yield();
        if (i % 16 == 0) tide_sleep(TIDE_USEC(20));
    }
    cr_assert_eq(tide_tcp_shutdown(ct->c), 0);
    for (int i = 0; i < ct->readers; i++) {
        int status;
        cr_assert_eq(tide_join(t[i], &status), 0);
        cr_assert_eq(status, 0, "reader %d: %s", i, tide_strerror(status));
    }
    cr_assert_eq(atomic_load(&ct->consumed), CONTEND_BYTES);
    cr_assert_eq(atomic_load(&ct->sum), want, "a byte was lost or read twice");
    cr_assert_eq(tide_tcp_close(ct->c), 0);
    cr_assert_eq(tide_tcp_close(ct->s), 0);
    return 0;
}

Test(sock_waiter, two_readers_one_socket_2_workers, .timeout = 120) {
    contend_t ct = {.readers = 2};
    tt_run(contend_main, &ct, 2);
}

Test(sock_waiter, three_readers_one_socket_4_workers, .timeout = 120) {
    contend_t ct = {.readers = 3};
    tt_run(contend_main, &ct, 4);
}

/* ---- a parked reader cancelled or timed out -------------------------------------------- */

#define ENDED_ROUNDS TT_SCALE(1500)

typedef struct ended {
    tide_tcp_t *c, *s;
    int mode; /* 0: cancelled, 1: scope deadline, 2: read_until deadline */
} ended_t;

static int ended_reader(void *arg) {
    ended_t *e = arg;
    uint8_t b;
    ssize_t r;
    if (e->mode == 1) {
        tide_scope_t sc;
        tide_timeout_begin(&sc, TIDE_USEC(1 + tt_rand() % 200));
        r = tide_tcp_read(e->s, &b, 1);
        tide_scope_end(&sc);
    } else if (e->mode == 2) {
        r = tide_tcp_read_until(e->s, &b, 1, tide_now() + TIDE_USEC(1 + tt_rand() % 200));
    } else {
        r = tide_tcp_read(e->s, &b, 1);
    }
    return (int)r;
}

static int ended_main(void *arg) {
    ended_t *e = arg;
    tt_tcp_pair(&e->c, &e->s);
    int want = e->mode == 0 ? -ECANCELED : -ETIMEDOUT;
    for (int i = 0; i < ENDED_ROUNDS; i++) {
        /* Two readers, so the second waits in the list, then the slot is withdrawn. */
        tide_task_t t[2];
        cr_assert_eq(tide_spawn(&t[0], ended_reader, e), 0);
        if (i % 2) cr_assert_eq(tide_spawn(&t[1], ended_reader, e), 0);
        if (tt_rand() % 2) tt_random_yields(4);
        else tide_sleep(TIDE_USEC(tt_rand() % 100));
        for (int k = 0; k < 1 + i % 2; k++) {
            if (e->mode == 0) cr_assert_eq(tide_cancel(t[k]), 0);
            int status;
            cr_assert_eq(tide_join(t[k], &status), 0);
            cr_assert_eq(status, want, "round %d: %s", i, tide_strerror(status));
        }
        /* The socket serves the next reader: nothing of the ended waits is left behind. */
        uint8_t b = (uint8_t)i, got = 0;
        tide_task_t r;
        ended_t plain = {.c = e->c, .s = e->s, .mode = 0};
        cr_assert_eq(tide_spawn(&r, ended_reader, &plain), 0);
        if (i % 3 == 0) tide_sleep(TIDE_USEC(20)); /* parked first, sometimes */
        cr_assert_eq(tide_tcp_write(e->c, &b, 1), 1);
        int status;
        cr_assert_eq(tide_join(r, &status), 0);
        cr_assert_eq(status, 1, "round %d: %s", i, tide_strerror(status));
        (void)got;
    }
    cr_assert_eq(tide_tcp_close(e->c), 0);
    cr_assert_eq(tide_tcp_close(e->s), 0);
    return 0;
}

Test(sock_waiter, cancelled_parked_reader, .timeout = 120) {
    ended_t e = {.mode = 0};
    tt_run(ended_main, &e, 2);
}

Test(sock_waiter, parked_reader_scope_deadline, .timeout = 120) {
    ended_t e = {.mode = 1};
    tt_run(ended_main, &e, 4);
}

Test(sock_waiter, parked_reader_read_until, .timeout = 120) {
    ended_t e = {.mode = 2};
    tt_run(ended_main, &e, 2);
}

/* ---- a wake racing a deadline ---------------------------------------------------------- */

#define RACE_BYTES TT_SCALE(3000)

typedef struct race {
    tide_tcp_t *c, *s;
    uint8_t got[RACE_BYTES]; /* bytes in the order read */
    size_t n;                /* read so far */
    int timeouts;
} race_t;

static int race_writer(void *arg) {
    race_t *rc = arg;
    for (size_t i = 0; i < RACE_BYTES; i++) {
        uint8_t b = tt_pat(3, i);
        cr_assert_eq(tide_tcp_write(rc->c, &b, 1), 1);
        tide_sleep(TIDE_USEC(tt_rand() % 60));
    }
    return 0;
}

static int race_main(void *arg) {
    race_t *rc = arg;
    tt_tcp_pair(&rc->c, &rc->s);
    tide_task_t w;
    cr_assert_eq(tide_spawn(&w, race_writer, rc), 0);
    while (rc->n < RACE_BYTES) {
        /* A deadline about as far as the next byte: wake and timer race. */
        ssize_t r = tide_tcp_read_until(rc->s, rc->got + rc->n, RACE_BYTES - rc->n,
                                        tide_now() + TIDE_USEC(tt_rand() % 60));
        if (r == -ETIMEDOUT) {
            rc->timeouts++;
            continue;
        }
        cr_assert_gt(r, 0, "read: %s", tide_strerror((int)r));
        rc->n += (size_t)r;
    }
    cr_assert_eq(tide_join(w, NULL), 0);
    cr_assert(tt_check(rc->got, RACE_BYTES, 3, 0), "a byte was lost, duplicated or reordered");
    cr_assert_gt(rc->timeouts, 0, "no deadline ever ended a wait: the race was not run");
    cr_assert_eq(tide_tcp_close(rc->c), 0);
    cr_assert_eq(tide_tcp_close(rc->s), 0);
    return 0;
}

Test(sock_waiter, wake_racing_deadline_2_workers, .timeout = 120) {
    static race_t rc;
    memset(&rc, 0, sizeof rc);
    tt_run(race_main, &rc, 2);
}

Test(sock_waiter, wake_racing_deadline_4_workers, .timeout = 120) {
    static race_t rc;
    memset(&rc, 0, sizeof rc);
    tt_run(race_main, &rc, 4);
}

static void dump_to(char *buf, size_t size) {
    char path[] = "/tmp/tide-dump-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_geq(tide_runtime_dump(tide_runtime_current(), fd), 1);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, size - 1);
    buf[n > 0 ? n : 0] = 0;
    close(fd);
    unlink(path);
}

/* Wait (up to 10 s) until the dump shows a task waiting on each of the two things. */
static void wait_parked(const char *a, const char *b) {
    static char buf[1 << 14];
    for (int i = 0; i < 20000; i++) {
        dump_to(buf, sizeof buf);
        if (strstr(buf, a) && strstr(buf, b)) return;
        tide_sleep(TIDE_USEC(500));
    }
    cr_assert_fail("never both parked (%s, %s): %s", a, b, buf);
}

/* ---- a reader and a writer parked on one socket at once -------------------------------- */

#define BOTH_ROUNDS TT_SCALE(50)
#define BOTH_WRITE (256 * 1024) /* more than the send and receive buffers hold */

typedef struct both {
    tide_tcp_t *c, *s; /* s: read and written by the two parked tasks; c: the peer */
    uint8_t *out, *in;
    bool close_them;   /* end the round by closing s under both */
} both_t;

static int both_reader(void *arg) {
    both_t *b = arg;
    uint8_t x;
    ssize_t r = tide_tcp_read(b->s, &x, 1);
    if (r == 1 && x != 0x5a) return -EIO;
    return (int)r;
}

static int both_writer(void *arg) {
    both_t *b = arg;
    size_t sent = 0;
    ssize_t r = tide_tcp_write_all(b->s, b->out, BOTH_WRITE, &sent);
    return r < 0 ? (int)r : 0;
}

/* A small send buffer, so that the writer parks soon (the peer's receive buffer stays as it
 * is: a small window would make the transfer crawl through delayed acknowledgements). */
static void small_send_buffer(tide_tcp_t *t) {
    int fd = tide_tcp_fd(t), small = 4096;
    cr_assert_geq(fd, 0);
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
}

static int both_main(void *arg) {
    both_t *b = arg;
    b->out = malloc(BOTH_WRITE);
    b->in = malloc(BOTH_WRITE);
    tt_fill(b->out, BOTH_WRITE, 4, 0);
    for (int i = 0; i < BOTH_ROUNDS; i++) {
        tt_tcp_pair(&b->c, &b->s);
        small_send_buffer(b->s);
        tide_task_t rd, wr;
        cr_assert_eq(tide_spawn(&rd, both_reader, b), 0);
        cr_assert_eq(tide_spawn(&wr, both_writer, b), 0);
        /* Both parked: nothing to read, and the peer reads nothing yet. */
        wait_parked("waiting on tcp read", "waiting on tcp write");
        int rs, ws;
        if (b->close_them) {
            cr_assert_eq(tide_tcp_close(b->s), 0);
            cr_assert_eq(tide_join(rd, &rs), 0);
            cr_assert_eq(tide_join(wr, &ws), 0);
            cr_assert_eq(rs, -EBADF, "round %d reader: %s", i, tide_strerror(rs));
            cr_assert_eq(ws, -EBADF, "round %d writer: %s", i, tide_strerror(ws));
        } else {
            uint8_t x = 0x5a;
            cr_assert_eq(tide_tcp_write(b->c, &x, 1), 1); /* wakes the reader */
            size_t got = 0;
            cr_assert_eq(tide_tcp_read_exact(b->c, b->in, BOTH_WRITE, &got), BOTH_WRITE);
            cr_assert_eq(tide_join(rd, &rs), 0);
            cr_assert_eq(tide_join(wr, &ws), 0);
            cr_assert_eq(rs, 1, "round %d reader: %s", i, tide_strerror(rs));
            cr_assert_eq(ws, 0, "round %d writer: %s", i, tide_strerror(ws));
            cr_assert(memcmp(b->in, b->out, BOTH_WRITE) == 0, "round %d: data differ", i);
            cr_assert_eq(tide_tcp_close(b->s), 0);
        }
        cr_assert_eq(tide_tcp_close(b->c), 0);
    }
    free(b->out);
    free(b->in);
    return 0;
}

Test(sock_waiter, reader_and_writer_parked_at_once, .timeout = 120) {
    both_t b = {.close_them = false};
    tt_run(both_main, &b, 2);
}

Test(sock_waiter, close_wakes_parked_reader_and_writer, .timeout = 120) {
    both_t b = {.close_them = true};
    tt_run(both_main, &b, 4);
}

/* ---- what the dump says ---------------------------------------------------------------- */

static tide_tcp_t *dump_s;

static int dump_reader(void *arg) {
    uint8_t x;
    return (int)tide_tcp_read(dump_s, &x, 1);
}

static int dump_main(void *arg) {
    tide_tcp_t *c;
    tt_tcp_pair(&c, &dump_s);
    /* The main task itself parks on a read first: once running again, the dump must not say
     * it waits on anything (a park leaves waiting_on in place). */
    uint8_t x = 1;
    tide_task_t echo;
    cr_assert_eq(tide_spawn(&echo, dump_reader, NULL), 0);
    tide_task_t t[2];
    tide_spawn_opts_t o0 = {.name = "slot-reader"}, o1 = {.name = "list-reader"};
    cr_assert_eq(tide_spawn_opts(&t[0], dump_reader, NULL, &o0), 0);
    cr_assert_eq(tide_spawn_opts(&t[1], dump_reader, NULL, &o1), 0);
    tide_sleep(TIDE_MSEC(5));
    static char buf[1 << 14];
    dump_to(buf, sizeof buf);
    cr_assert(strstr(buf, "'slot-reader' waiting on tcp read"), "dump: %s", buf);
    cr_assert(strstr(buf, "'list-reader' waiting on tcp read"), "dump: %s", buf);
    /* Three bytes for the three readers (each wake wakes them all; each takes one). */
    for (int i = 0; i < 3; i++) cr_assert_eq(tide_tcp_write(c, &x, 1), 1);
    int st;
    cr_assert_eq(tide_join(echo, &st), 0);
    cr_assert_eq(st, 1);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(tide_join(t[i], &st), 0);
        cr_assert_eq(st, 1);
    }
    /* main parked on joins ("join"): running now, it is shown without one. */
    dump_to(buf, sizeof buf);
    char *me = strstr(buf, "running");
    cr_assert_not_null(me, "dump: %s", buf);
    char *eol = strchr(me, '\n');
    if (eol) *eol = 0;
    cr_assert_null(strstr(me, " on join"), "a running task shown waiting: %s", me);
    cr_assert_null(strstr(me, "waiting"), "a running task shown waiting: %s", me);
    cr_assert_eq(tide_tcp_close(c), 0);
    cr_assert_eq(tide_tcp_close(dump_s), 0);
    return 0;
}

Test(sock_waiter, dump_names_what_each_waits_on, .timeout = 60) {
    tt_run(dump_main, NULL, 2);
}
