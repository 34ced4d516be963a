/* Shared helpers of the TCP and TLS tests: a listener on 127.0.0.1, a connected pair, and a
 * byte pattern that shows a lost, duplicated or reordered byte. */
#ifndef TIDE_TESTUTIL_NET_H
#define TIDE_TESTUTIL_NET_H

#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "testutil.h"

/* Listen on 127.0.0.1 with an ephemeral port (o may be NULL); returns the port. */
static inline uint16_t tt_listen_local(tide_tcp_t **l, const tide_tcp_listen_opts_t *o) {
    int r = tide_tcp_listen(l, "127.0.0.1", 0, o);
    cr_assert_eq(r, 0, "listen: %s", tide_strerror(r));
    tide_addr_t a;
    cr_assert_eq(tide_tcp_local_addr(*l, &a), 0);
    uint16_t port = tide_addr_port(&a);
    cr_assert_neq(port, 0);
    return port;
}

/* A connected pair: c is the client end, s the accepted end. */
static inline void tt_tcp_pair(tide_tcp_t **c, tide_tcp_t **s) {
    tide_tcp_t *l;
    uint16_t port = tt_listen_local(&l, NULL);
    int r = tide_tcp_connect(c, "127.0.0.1", port);
    cr_assert_eq(r, 0, "connect: %s", tide_strerror(r));
    r = tide_tcp_accept(l, s, NULL);
    cr_assert_eq(r, 0, "accept: %s", tide_strerror(r));
    cr_assert_eq(tide_tcp_close(l), 0);
}

/* Shrink c's send buffer to `size` bytes and watch its sends from here (tt_send_watch).
 * Returns the size the kernel made it (it doubles the value asked): the most one send may move
 * once the buffer was found full (io/tcp.c, send_cap). */
static inline int tt_small_sndbuf(tide_tcp_t *c, int size) {
    cr_assert_eq(setsockopt(tide_tcp_fd(c), SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
    int got = 0;
    socklen_t len = sizeof got;
    cr_assert_eq(getsockopt(tide_tcp_fd(c), SOL_SOCKET, SO_SNDBUF, &got, &len), 0);
    tt_send_watch(tide_tcp_fd(c));
    return got;
}

/* End the watch tt_small_sndbuf began: the buffer must have been found full, and no send after
 * that may have moved more than `sndbuf` bytes. */
static inline void tt_send_watch_check(int sndbuf) {
    uint64_t most = tt_send_watch_max();
    tt_send_watch(-1);
    cr_log_info("the largest send after the buffer was found full: %llu bytes",
                (unsigned long long)most);
    cr_assert_gt(most, 0, "the send buffer was never full");
    cr_assert_leq(most, (uint64_t)sndbuf,
                  "a send moved %llu bytes after the %d-byte buffer was found full",
                  (unsigned long long)most, sndbuf);
}

/* Lower the soft RLIMIT_NOFILE to the lowest free descriptor: no new descriptor can be opened
 * from here (accept gets EMFILE), those open stay usable. *saved gets the limit to restore. */
static inline void tt_nofile_at_limit(struct rlimit *saved) {
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, saved), 0);
    int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(probe, 0);
    close(probe);
    struct rlimit low = *saved;
    low.rlim_cur = (rlim_t)probe;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
}

/* The byte at stream position i of stream k: position-dependent, so a lost, duplicated or
 * reordered byte shows. */
static inline uint8_t tt_pat(uint64_t k, uint64_t i) {
    uint64_t x = (i + k * 0x9E3779B97F4A7C15ULL) * 0xbf58476d1ce4e5b9ULL;
    return (uint8_t)(x >> 56);
}

/* Fill p with positions at..at+n-1 of stream k. */
static inline void tt_fill(uint8_t *p, size_t n, uint64_t k, uint64_t at) {
    for (size_t i = 0; i < n; i++) p[i] = tt_pat(k, at + i);
}

/* Whether p holds positions at..at+n-1 of stream k. */
static inline bool tt_check(const uint8_t *p, size_t n, uint64_t k, uint64_t at) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != tt_pat(k, at + i)) return false;
    return true;
}

/* A byte stream an echo check runs over: a TCP connection, or a TLS stream. */
typedef struct tt_stream {
    void *conn;                                                     /* the connection */
    ssize_t (*write_all)(void *conn, const void *buf, size_t len);  /* len or a negative errno */
    ssize_t (*read_exact)(void *conn, void *buf, size_t len);       /* len or less at the end */
} tt_stream_t;

static inline ssize_t tt_tcp_write_all(void *c, const void *buf, size_t len) {
    return tide_tcp_write_all(c, buf, len, NULL);
}

static inline ssize_t tt_tcp_read_exact(void *c, void *buf, size_t len) {
    return tide_tcp_read_exact(c, buf, len, NULL);
}

/* A TCP connection as an echo check's stream. */
static inline tt_stream_t tt_tcp_stream(tide_tcp_t *c) {
    return (tt_stream_t){c, tt_tcp_write_all, tt_tcp_read_exact};
}

/* Largest chunk tt_echo_check sends at once. */
#define TT_ECHO_CHUNK 6000

/* The client's side of an echo connection: send positions 0..total-1 of stream k in chunks
 * of random size (1..max_chunk, at most TT_ECHO_CHUNK), read each chunk back and check every
 * byte, then (0..yields random yields) let others run. *sent and *checked count the bytes
 * sent and verified, so the test can match them with what its server echoed. */
static inline void tt_echo_check(const tt_stream_t *s, uint64_t k, size_t total, size_t max_chunk,
                                 unsigned yields, _Atomic uint64_t *sent,
                                 _Atomic uint64_t *checked) {
    uint8_t out[TT_ECHO_CHUNK], in[TT_ECHO_CHUNK];
    if (max_chunk > TT_ECHO_CHUNK) max_chunk = TT_ECHO_CHUNK;
    size_t at = 0;
    while (at < total) {
        size_t chunk = 1 + tt_rand() % max_chunk;
        if (chunk > total - at) chunk = total - at;
        tt_fill(out, chunk, k, at);
        cr_assert_eq(s->write_all(s->conn, out, chunk), (ssize_t)chunk);
        atomic_fetch_add(sent, chunk);
        cr_assert_eq(s->read_exact(s->conn, in, chunk), (ssize_t)chunk);
        cr_assert(tt_check(in, chunk, k, at), "connection %llu: bytes differ", (unsigned long long)k);
        atomic_fetch_add(checked, chunk);
        at += chunk;
        tt_random_yields(yields);
    }
}

#endif /* TIDE_TESTUTIL_NET_H */
