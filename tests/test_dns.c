/* DNS: "localhost" resolves (without blocking a worker), an unknown name is an error and not
 * a crash, numeric addresses need no resolver, connect by name falls back across addresses,
 * and lookups cut short by cancels or deadlines leave nothing behind. */
#include "testutil.h"

#include <arpa/inet.h>
#include <string.h>

#include "driver.h"

static bool is_loopback(const tide_addr_t *a) {
    if (a->u.sa.sa_family == AF_INET) return (ntohl(a->u.in.sin_addr.s_addr) >> 24) == 127;
    if (a->u.sa.sa_family == AF_INET6) return memcmp(&a->u.in6.sin6_addr, &in6addr_loopback, 16) == 0;
    return false;
}

static int localhost_main(void *arg) {
    tide_addr_t a[8];
    int n = tide_resolve("localhost", 8080, AF_UNSPEC, a, 8);
    cr_assert_geq(n, 1, "localhost: %s", tide_strerror(n));
    for (int i = 0; i < n; i++) {
        cr_assert(is_loopback(&a[i]));
        cr_assert_eq(tide_addr_port(&a[i]), 8080);
    }
    n = tide_resolve("localhost", 1, AF_INET, a, 8);
    cr_assert_geq(n, 1);
    for (int i = 0; i < n; i++) cr_assert_eq(a[i].u.sa.sa_family, AF_INET);
    /* max bounds what is written. */
    cr_assert_eq(tide_resolve("localhost", 1, AF_UNSPEC, a, 1), 1);
    return 0;
}

Test(dns, localhost_resolves) {
    tt_run(localhost_main, NULL, 2);
}

static int unknown_main(void *arg) {
    tide_addr_t a[4];
    for (int i = 0; i < 5; i++) {
        int n = tide_resolve("no-such-host.invalid", 80, AF_UNSPEC, a, 4);
        cr_assert(n == -ENOENT || n == -EAGAIN || n == -EIO, "unknown host: %d %s", n,
                  tide_strerror(n));
        tide_tcp_t *c = NULL;
        int r = tide_tcp_connect(&c, "no-such-host.invalid", 80);
        cr_assert_eq(r, n == -ENOENT ? -ENOENT : r);
        cr_assert_lt(r, 0);
        cr_assert_null(c);
    }
    return 0;
}

Test(dns, unknown_name_is_an_error) {
    tt_run(unknown_main, NULL, 2);
}

static int numeric_main(void *arg) {
    tide_addr_t a[2];
    cr_assert_eq(tide_resolve("127.0.0.1", 5, AF_UNSPEC, a, 2), 1);
    cr_assert_eq(a[0].u.sa.sa_family, AF_INET);
    cr_assert_eq(tide_addr_port(&a[0]), 5);
    cr_assert_eq(tide_resolve("::1", 6, AF_INET6, a, 2), 1);
    cr_assert_eq(a[0].u.sa.sa_family, AF_INET6);
    cr_assert_eq(tide_resolve("::1", 6, AF_INET, a, 2), -ENOENT);
    /* Bad input. */
    cr_assert_eq(tide_resolve(NULL, 1, AF_UNSPEC, a, 2), -EINVAL);
    cr_assert_eq(tide_resolve("", 1, AF_UNSPEC, a, 2), -EINVAL);
    cr_assert_eq(tide_resolve("localhost", 1, AF_UNSPEC, NULL, 2), -EINVAL);
    cr_assert_eq(tide_resolve("localhost", 1, AF_UNSPEC, a, 0), -EINVAL);
    cr_assert_eq(tide_resolve("localhost", 1, 12345, a, 2), -EINVAL);
    /* An expired deadline or a pending cancel ends a lookup before it starts. */
    tide_scope_t sc;
    tide_timeout_begin(&sc, 0);
    cr_assert_eq(tide_resolve("localhost", 1, AF_UNSPEC, a, 2), -ETIMEDOUT);
    tide_scope_end(&sc);
    return 0;
}

Test(dns, numeric_addresses_and_bad_input) {
    tt_run(numeric_main, NULL, 1);
}

Test(dns, name_lookup_needs_a_task) {
    tide_addr_t a;
    cr_assert_eq(tide_resolve("localhost", 1, AF_UNSPEC, &a, 1), -EPERM);
    cr_assert_eq(tide_resolve("127.0.0.1", 1, AF_UNSPEC, &a, 1), 1); /* numeric: no driver */
}

static int connect_by_name_main(void *arg) {
    /* Listening on IPv4 only: if "localhost" also gives ::1, that attempt is refused and the
     * next address is tried. */
    tide_tcp_t *l, *c, *s;
    cr_assert_eq(tide_tcp_listen(&l, "127.0.0.1", 0, NULL), 0);
    tide_addr_t la;
    cr_assert_eq(tide_tcp_local_addr(l, &la), 0);
    for (int i = 0; i < 20; i++) {
        int r = tide_tcp_connect(&c, "localhost", tide_addr_port(&la));
        cr_assert_eq(r, 0, "connect localhost: %s", tide_strerror(r));
        cr_assert_eq(tide_tcp_accept(l, &s, NULL), 0);
        cr_assert_eq(tide_tcp_write_all(c, "hi", 2, NULL), 2);
        char b[2];
        cr_assert_eq(tide_tcp_read_exact(s, b, 2, NULL), 2);
        cr_assert_eq(tide_tcp_close(c), 0);
        cr_assert_eq(tide_tcp_close(s), 0);
    }
    cr_assert_eq(tide_tcp_close(l), 0);
    return 0;
}

Test(dns, connect_by_name) {
    tt_run(connect_by_name_main, NULL, 2);
}

/* Mostly "localhost" (answered from /etc/hosts): a crowd of unknown names would measure the
 * DNS server, whose slow answers hold libuv's four pool threads. */
static bool unknown(uintptr_t i) {
    return i % 50 == 0;
}

static int resolver(void *arg) {
    tide_addr_t a[4];
    int n = tide_resolve(unknown((uintptr_t)arg) ? "no-such-host.invalid" : "localhost", 1,
                         AF_UNSPEC, a, 4);
    if (n > 0) {
        for (int i = 0; i < n; i++) cr_assert(is_loopback(&a[i]));
        return 0;
    }
    return n;
}

static int many_main(void *arg) {
    enum { N = 300 };
    tide_task_t t[N];
    int ok = 0, cancelled = 0;
    for (uintptr_t i = 0; i < N; i++) cr_assert_eq(tide_spawn(&t[i], resolver, (void *)i), 0);
    for (int i = 0; i < N; i++) {
        if (tt_rand() % 2) {
            tt_random_yields(2);
            cr_assert_eq(tide_cancel(t[i]), 0);
        }
        int st;
        cr_assert_eq(tide_join(t[i], &st), 0);
        if (st == 0) ok++;
        else if (st == -ECANCELED) cancelled++;
        else cr_assert(unknown((uintptr_t)i), "lookup %d: %s", i, tide_strerror(st));
    }
    cr_assert_gt(ok, 0);
    /* Abandoned lookups finish in the background; the leak check after the runtime is freed
     * sees them all gone. */
    (void)cancelled;
    return 0;
}

Test(dns, concurrent_lookups_with_cancels) {
    tt_run(many_main, NULL, 2);
}
