/* The send cap is the socket's, not one write call's: a writer that loops over tide_tcp_write
 * (64 KB a call) through a 4 KB SO_SNDBUF sends no more than the buffer holds per send call
 * once a send has found the buffer full, in every call after that one too, not only within
 * it. Each call starting uncapped queued a whole 64 KB segment whenever any room had freed up
 * between calls, the very stall the cap is there to avoid (io/tcp.c, send_cap;
 * tests/test_tcp_smallbuf.c has the single large write). Checked on the send calls
 * themselves (testutil's send watch), not on time.
 *
 * The writer lets the reader drain the connection between its calls (it waits until every
 * byte it wrote has arrived), so that each call begins with room in the buffer: the case an
 * uncapped first send gets wrong. The receive buffer is left at its default: the kernel sizes
 * a segment to at most half the largest window the peer offered, so behind a 4 KB window no
 * send overshoots and the case could not show (with the cap kept per call, as before this
 * test, every call after the first EAGAIN moved 65483 bytes here). */
#include <stdlib.h>

#include "testutil.h"
#include "testutil_net.h"

#define SC_LEN ((size_t)512 * 1024)
#define SC_CALL ((size_t)64 * 1024) /* what each tide_tcp_write call asks for */
#define SC_BUF 4096

typedef struct sc {
    tide_tcp_t *w, *r;   /* the writing end (connected) and the reading end (accepted) */
    uint8_t *out, *in;
    _Atomic size_t got;  /* bytes the reader has so far */
    size_t calls;        /* tide_tcp_write calls the writer made */
} sc_t;

static int sc_writer(void *arg) {
    sc_t *b = arg;
    size_t off = 0;
    while (off < SC_LEN) {
        size_t n = SC_LEN - off < SC_CALL ? SC_LEN - off : SC_CALL;
        ssize_t r = tide_tcp_write(b->w, b->out + off, n);
        if (r <= 0) return r < 0 ? (int)r : -EIO;
        off += (size_t)r;
        b->calls++;
        /* Until the reader has it all: the next call starts with room in the buffer. */
        while (atomic_load(&b->got) < off) {
            int e = tide_sleep(TIDE_USEC(100));
            if (e < 0) return e;
        }
    }
    return 0;
}

static int sc_main(void *arg) {
    (void)arg;
    sc_t b = {0};
    b.out = malloc(SC_LEN);
    b.in = malloc(SC_LEN);
    cr_assert(b.out && b.in);
    tt_fill(b.out, SC_LEN, 11, 0);

    tt_tcp_pair(&b.w, &b.r);
    int sndbuf = tt_small_sndbuf(b.w, SC_BUF);

    tide_task_t wr;
    cr_assert_eq(tide_spawn(&wr, sc_writer, &b), 0);
    tide_scope_t scope; /* a lost edge: a failure, not a hang */
    tide_timeout_begin(&scope, TIDE_SEC(30));
    size_t got = 0;
    ssize_t n = 0;
    while (got < SC_LEN && (n = tide_tcp_read(b.r, b.in + got, SC_LEN - got)) > 0) {
        got += (size_t)n;
        atomic_store(&b.got, got);
    }
    tide_scope_end(&scope);
    cr_assert_eq(got, SC_LEN, "read %zu of %zu: %s", got, SC_LEN,
                 n < 0 ? tide_strerror((int)n) : "end of stream");
    int ws;
    cr_assert_eq(tide_join(wr, &ws), 0);
    cr_assert_eq(ws, 0, "writer: %s", tide_strerror(ws));
    cr_assert(tt_check(b.in, SC_LEN, 11, 0), "the bytes differ");
    cr_log_info("%zu bytes in %zu write calls", SC_LEN, b.calls);
    tt_send_watch_check(sndbuf);
    cr_assert_eq(tide_tcp_close(b.w), 0);
    cr_assert_eq(tide_tcp_close(b.r), 0);
    free(b.out);
    free(b.in);
    return 0;
}

Test(tcp_sendcap, looping_writer_one_worker, .timeout = 120) {
    tt_run(sc_main, NULL, 1);
}

Test(tcp_sendcap, looping_writer_two_workers, .timeout = 120) {
    tt_run(sc_main, NULL, 2);
}
