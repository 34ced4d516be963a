/* Shared helpers of the TCP and TLS tests: a listener on 127.0.0.1, a connected pair, and a
 * byte pattern that shows a lost, duplicated or reordered byte. */
#ifndef TIDE_TESTUTIL_NET_H
#define TIDE_TESTUTIL_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif /* TIDE_TESTUTIL_NET_H */
