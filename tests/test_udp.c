/* UDP: round trips with every datagram checked (IPv4 and IPv6), many tasks sending and
 * receiving on shared sockets with exact counts, truncation, timeouts and cancels in the middle
 * of receives (nothing lost), close waking a receiver, and bad input. */
#include "testutil.h"

#include <string.h>

#include "driver.h"

static tide_udp_t *bind_local(const char *ip, tide_addr_t *addr) {
    tide_udp_t *u;
    int r = tide_udp_bind(&u, ip, 0);
    cr_assert_eq(r, 0, "bind %s: %s", ip, tide_strerror(r));
    cr_assert_eq(tide_udp_local_addr(u, addr), 0);
    cr_assert_neq(tide_addr_port(addr), 0);
    return u;
}

static void fill(uint8_t *p, size_t n, uint32_t seq) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seq * 131 + i * 7);
}

/* Echo every datagram back to its sender until cancelled. */
static int echo_server(void *arg) {
    tide_udp_t *u = arg;
    uint8_t buf[2048];
    for (;;) {
        tide_addr_t from;
        ssize_t n = tide_udp_recv_from(u, buf, sizeof buf, &from);
        if (n == -ECANCELED || n == -EBADF) return 0;
        cr_assert_geq(n, 0, "recv: %s", tide_strerror((int)n));
        cr_assert_eq(tide_udp_send_to(u, buf, (size_t)n, &from), n);
    }
}

static int round_trips(const char *ip) {
    tide_addr_t sa, ca;
    tide_udp_t *s = bind_local(ip, &sa);
    tide_udp_t *c = bind_local(ip, &ca);
    tide_task_t srv;
    cr_assert_eq(tide_spawn(&srv, echo_server, s), 0);
    uint8_t out[1400], in[1500];
    for (uint32_t i = 0; i < (uint32_t)TT_SCALE(2000); i++) {
        size_t len = 1 + tt_rand() % sizeof out;
        fill(out, len, i);
        cr_assert_eq(tide_udp_send_to(c, out, len, &sa), (ssize_t)len);
        tide_addr_t from;
        ssize_t n = tide_udp_recv_from(c, in, sizeof in, &from);
        cr_assert_eq(n, (ssize_t)len);
        cr_assert_eq(memcmp(in, out, len), 0, "datagram %u differs", i);
        cr_assert_eq(tide_addr_port(&from), tide_addr_port(&sa));
        tt_random_yields(1);
    }
    cr_assert_eq(tide_cancel(srv), 0);
    int st;
    cr_assert_eq(tide_join(srv, &st), 0);
    cr_assert_eq(st, 0);
    cr_assert_eq(tide_udp_close(s), 0);
    cr_assert_eq(tide_udp_close(c), 0);
    return 0;
}

static int round_trip_main(void *arg) {
    round_trips("127.0.0.1");
    round_trips("::1");
    return 0;
}

Test(udp, round_trips_ipv4_and_ipv6) {
    tt_run(round_trip_main, NULL, 2);
}

/* ---- many tasks on shared sockets ------------------------------------------------------- */

#define SENDERS 16
#define RECEIVERS 4

typedef struct shared {
    tide_udp_t *server;
    tide_addr_t server_addr;
    _Atomic int handled;
    _Atomic uint64_t bytes;
} shared_t;

static shared_t *sh;

static int sender(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    tide_addr_t me;
    tide_udp_t *u = bind_local("127.0.0.1", &me);
    uint8_t out[600], in[700];
    for (uint32_t i = 0; i < (uint32_t)TT_SCALE(300); i++) {
        size_t len = 8 + tt_rand() % (sizeof out - 8);
        fill(out, len, id * 100000 + i);
        memcpy(out, &id, 4);
        memcpy(out + 4, &i, 4);
        cr_assert_eq(tide_udp_send_to(u, out, len, &sh->server_addr), (ssize_t)len);
        cr_assert_eq(tide_udp_recv_from(u, in, sizeof in, NULL), (ssize_t)len);
        cr_assert_eq(memcmp(in, out, len), 0);
        atomic_fetch_add(&sh->bytes, len);
    }
    cr_assert_eq(tide_udp_close(u), 0);
    return 0;
}

static int shared_receiver(void *arg) {
    uint8_t buf[700];
    for (;;) {
        tide_addr_t from;
        ssize_t n = tide_udp_recv_from(sh->server, buf, sizeof buf, &from);
        if (n == -ECANCELED) return 0;
        cr_assert_geq(n, 8);
        tt_random_yields(2);
        cr_assert_eq(tide_udp_send_to(sh->server, buf, (size_t)n, &from), n);
        atomic_fetch_add(&sh->handled, 1);
    }
}

static int shared_main(void *arg) {
    static shared_t s;
    sh = &s;
    s.server = bind_local("127.0.0.1", &s.server_addr);
    tide_task_t rx[RECEIVERS], tx[SENDERS];
    for (int i = 0; i < RECEIVERS; i++) cr_assert_eq(tide_spawn(&rx[i], shared_receiver, NULL), 0);
    for (uintptr_t i = 0; i < SENDERS; i++) cr_assert_eq(tide_spawn(&tx[i], sender, (void *)i), 0);
    int st;
    for (int i = 0; i < SENDERS; i++) {
        cr_assert_eq(tide_join(tx[i], &st), 0);
        cr_assert_eq(st, 0);
    }
    for (int i = 0; i < RECEIVERS; i++) {
        cr_assert_eq(tide_cancel(rx[i]), 0);
        cr_assert_eq(tide_join(rx[i], &st), 0);
        cr_assert_eq(st, 0);
    }
    cr_assert_eq(atomic_load(&s.handled), SENDERS * TT_SCALE(300));
    cr_assert_eq(tide_udp_close(s.server), 0);
    return 0;
}

Test(udp, many_tasks_share_sockets) {
    tt_run(shared_main, NULL, 2);
}

/* ---- truncation, timeouts, cancels, close ---------------------------------------------- */

static int receive_one(void *arg) {
    uint8_t b[64];
    return (int)tide_udp_recv_from(arg, b, sizeof b, NULL);
}

static int edge_main(void *arg) {
    tide_addr_t aa, ba;
    tide_udp_t *a = bind_local("127.0.0.1", &aa);
    tide_udp_t *b = bind_local("127.0.0.1", &ba);
    uint8_t out[100], in[100];
    fill(out, sizeof out, 9);

    /* A datagram larger than the buffer: -EMSGSIZE, its head kept. */
    cr_assert_eq(tide_udp_send_to(a, out, 100, &ba), 100);
    cr_assert_eq(tide_udp_recv_from(b, in, 10, NULL), -EMSGSIZE);
    cr_assert_eq(memcmp(in, out, 10), 0);
    /* Empty datagrams are datagrams. */
    cr_assert_eq(tide_udp_send_to(a, NULL, 0, &ba), 0);
    cr_assert_eq(tide_udp_recv_from(b, in, sizeof in, NULL), 0);

    /* A receive that times out consumes nothing. */
    tide_scope_t sc;
    int64_t t0 = tide_now();
    tide_timeout_begin(&sc, TIDE_MSEC(20));
    cr_assert_eq(tide_udp_recv_from(b, in, sizeof in, NULL), -ETIMEDOUT);
    tide_scope_end(&sc);
    cr_assert_geq(tide_now() - t0, TIDE_MSEC(20));

    /* Receivers cancelled at random moments, with datagrams arriving: every datagram is
     * received exactly once, by a receiver that reported it. */
    int got = 0, sent = 0;
    for (int i = 0; i < TT_SCALE(500); i++) {
        tide_task_t t;
        cr_assert_eq(tide_spawn(&t, receive_one, b), 0);
        if (tt_rand() % 2) {
            cr_assert_eq(tide_udp_send_to(a, out, 1 + (size_t)(i % 50), &ba), 1 + i % 50);
            sent++;
        }
        tt_random_yields(3);
        cr_assert_eq(tide_cancel(t), 0);
        int st;
        cr_assert_eq(tide_join(t, &st), 0);
        if (st >= 0) got++;
        else cr_assert_eq(st, -ECANCELED);
    }
    /* Whatever the cancelled receivers did not take is still queued. */
    for (;;) {
        tide_timeout_begin(&sc, TIDE_MSEC(20));
        ssize_t n = tide_udp_recv_from(b, in, sizeof in, NULL);
        tide_scope_end(&sc);
        if (n == -ETIMEDOUT) break;
        cr_assert_gt(n, 0);
        got++;
    }
    cr_assert_eq(got, sent);

    /* Close wakes a parked receiver. */
    tide_task_t t;
    cr_assert_eq(tide_spawn(&t, receive_one, b), 0);
    tide_sleep(TIDE_MSEC(5));
    cr_assert_eq(tide_udp_close(b), 0);
    int st;
    cr_assert_eq(tide_join(t, &st), 0);
    cr_assert_eq(st, -EBADF);
    cr_assert_eq(tide_udp_close(a), 0);
    return 0;
}

Test(udp, truncation_timeouts_cancels_close) {
    tt_run(edge_main, NULL, 2);
}

/* ---- bad input ------------------------------------------------------------------------- */

static int bad_main(void *arg) {
    tide_udp_t *u;
    tide_addr_t a, six;
    char b[4];
    cr_assert_eq(tide_udp_bind(NULL, "127.0.0.1", 0), -EINVAL);
    cr_assert_eq(tide_udp_bind(&u, "nope", 0), -EINVAL);
    u = bind_local("127.0.0.1", &a);
    tide_udp_t *dup;
    cr_assert_eq(tide_udp_bind(&dup, "127.0.0.1", tide_addr_port(&a)), -EADDRINUSE);
    cr_assert_eq(tide_udp_send_to(NULL, b, 1, &a), -EINVAL);
    cr_assert_eq(tide_udp_send_to(u, b, 1, NULL), -EINVAL);
    cr_assert_eq(tide_udp_send_to(u, b, 1, &(tide_addr_t){0}), -EINVAL);
    cr_assert_eq(tide_udp_send_to(u, NULL, 1, &a), -EINVAL);
    cr_assert_eq(tide_addr_parse(&six, "::1", 9), 0);
    cr_assert_eq(tide_udp_send_to(u, b, 1, &six), -EAFNOSUPPORT);
    cr_assert_eq(tide_udp_recv_from(u, NULL, 1, NULL), -EINVAL);
    cr_assert_eq(tide_udp_local_addr(u, NULL), -EINVAL);
    cr_assert_eq(tide_udp_close(NULL), -EINVAL);
    cr_assert_eq(tide_udp_close(u), 0);
    cr_assert_eq(tide_udp_close(u), -EBADF);
    cr_assert_eq(tide_udp_send_to(u, b, 1, &a), -EBADF);
    cr_assert_eq(tide_udp_recv_from(u, b, 1, NULL), -EBADF);
    cr_assert_eq(tide_udp_local_addr(u, &a), -EBADF);
    return 0;
}

Test(udp, bad_input_is_an_error_not_a_crash) {
    tt_run(bad_main, NULL, 1);
}
