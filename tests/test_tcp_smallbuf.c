/* A large write through a small send buffer (SO_SNDBUF 4 KB; the receive buffer 4 KB too, or
 * as it comes): the writer parks on almost every send, so every EPOLLOUT edge must reach it
 * and let it make progress (a lost edge hangs the transfer, a wake that finds nothing to do
 * shows as extra send calls), and the bytes must arrive intact, with 1 and 2 workers, in both
 * poll modes (workers poll the reactor's set, or the driver thread does: TIDE_IO_PARK=0).
 *
 * Once the buffer is full, no send may move more than the buffer holds: a larger one queues a
 * whole segment (64 KB on loopback) the moment any room frees, the buffer then holds that
 * single segment in flight, and the receiver delays its acknowledgement 40 ms (one segment
 * is not enough to acknowledge at once): 1 MB took 1-370 ms, mostly 90, where capped sends
 * take 1-3 ms (io/tcp.c, send_cap). Checked on the send calls themselves, not on time.
 *
 * Why the buffers are set where they are: SO_RCVBUF is set on the listener, before the
 * handshake, so the window scale agreed matches the small buffer (shrunk after the handshake
 * the window crawls through zero-window probes, ~19 s per MB for a blocking pair of threads
 * too; docs/benchmarks.md, "A large write through a small buffer"). */
#include <stdlib.h>
#include <sys/socket.h>

#include "testutil.h"
#include "testutil_net.h"

#define SB_LEN ((size_t)512 * 1024) /* fast even under sanitizers (0.1 s a run) */
#define SB_BUF 4096

typedef struct sb {
    bool small_rcv;     /* the reading end's SO_RCVBUF is 4 KB too */
    tide_tcp_t *w, *r;  /* the writing end (connected) and the reading end (accepted) */
    uint8_t *out, *in;
} sb_t;

static int sb_writer(void *arg) {
    sb_t *b = arg;
    size_t sent = 0;
    ssize_t r = tide_tcp_write_all(b->w, b->out, SB_LEN, &sent);
    if (r < 0) return (int)r;
    return sent == SB_LEN ? 0 : -EIO;
}

static int sb_main(void *arg) {
    sb_t b = *(sb_t *)arg;
    b.out = malloc(SB_LEN);
    b.in = malloc(SB_LEN);
    cr_assert(b.out && b.in);
    tt_fill(b.out, SB_LEN, 7, 0);

    tide_tcp_t *l;
    uint16_t port = tt_listen_local(&l, NULL);
    int small = SB_BUF;
    if (b.small_rcv)
        cr_assert_eq(setsockopt(tide_tcp_fd(l), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    cr_assert_eq(tide_tcp_connect(&b.w, "127.0.0.1", port), 0);
    cr_assert_eq(tide_tcp_accept(l, &b.r, NULL), 0);
    cr_assert_eq(tide_tcp_close(l), 0);
    int sndbuf = tt_small_sndbuf(b.w, SB_BUF);

    uint64_t sends0 = tt_sendmsg_calls();
    tide_task_t wr;
    cr_assert_eq(tide_spawn(&wr, sb_writer, &b), 0);
    /* A lost edge would leave both ends parked for good: end it as a failure, not a hang. */
    tide_scope_t scope;
    tide_timeout_begin(&scope, TIDE_SEC(30));
    size_t got = 0;
    ssize_t n = tide_tcp_read_exact(b.r, b.in, SB_LEN, &got);
    tide_scope_end(&scope);
    cr_assert_eq(n, (ssize_t)SB_LEN, "read %zu of %zu: %s", got, SB_LEN,
                 n < 0 ? tide_strerror((int)n) : "short");
    int ws;
    cr_assert_eq(tide_join(wr, &ws), 0);
    cr_assert_eq(ws, 0, "writer: %s", tide_strerror(ws));
    uint64_t sends = tt_sendmsg_calls() - sends0;
    cr_assert(tt_check(b.in, SB_LEN, 7, 0), "the bytes differ");
    tt_send_watch_check(sndbuf);
    /* An EPOLLOUT edge comes once a third of the queued bytes are acknowledged, so a send
     * after it moves a few KB, and a send that fails (EAGAIN) is followed by a park that only
     * an edge ends: ~200 calls for 512 KB measured (2.5 KB each), bounded here at 2 per KB. A
     * writer woken with no room (a spurious or early wake) or retrying without waiting makes
     * more; a lost edge hangs the read above. */
    uint64_t bound = 2 * (SB_LEN / 1024) + 16;
    cr_log_info("%zu bytes in %llu send calls", SB_LEN, (unsigned long long)sends);
    cr_assert_leq(sends, bound, "%llu send calls for %zu bytes (at most %llu)",
                  (unsigned long long)sends, SB_LEN, (unsigned long long)bound);
    cr_assert_eq(tide_tcp_close(b.w), 0);
    cr_assert_eq(tide_tcp_close(b.r), 0);
    free(b.out);
    free(b.in);
    return 0;
}

/* The poll mode is read when the runtime's reactor starts. */
static void run_mode(bool small_rcv, unsigned workers, bool driver_polls) {
    sb_t b = {.small_rcv = small_rcv};
    if (driver_polls) setenv("TIDE_IO_PARK", "0", 1);
    tt_run(sb_main, &b, workers);
    if (driver_polls) unsetenv("TIDE_IO_PARK");
}

Test(tcp_smallbuf, small_rcv_one_worker, .timeout = 120) {
    run_mode(true, 1, false);
}

Test(tcp_smallbuf, small_rcv_one_worker_driver_polls, .timeout = 120) {
    run_mode(true, 1, true);
}

Test(tcp_smallbuf, small_rcv_two_workers, .timeout = 120) {
    run_mode(true, 2, false);
}

Test(tcp_smallbuf, small_rcv_two_workers_driver_polls, .timeout = 120) {
    run_mode(true, 2, true);
}

Test(tcp_smallbuf, default_rcv_one_worker, .timeout = 120) {
    run_mode(false, 1, false);
}

Test(tcp_smallbuf, default_rcv_one_worker_driver_polls, .timeout = 120) {
    run_mode(false, 1, true);
}

Test(tcp_smallbuf, default_rcv_two_workers, .timeout = 120) {
    run_mode(false, 2, false);
}

Test(tcp_smallbuf, default_rcv_two_workers_driver_polls, .timeout = 120) {
    run_mode(false, 2, true);
}
