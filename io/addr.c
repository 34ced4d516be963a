/* Socket addresses: numeric parsing and formatting (no name lookup here; see dns.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_internal.h"

int tide__addr_numeric(tide_addr_t *a, const char *host, uint16_t port) {
    memset(a, 0, sizeof *a);
    if (!host || !*host) host = "0.0.0.0";
    if (inet_pton(AF_INET, host, &a->u.in.sin_addr) == 1) {
        a->u.in.sin_family = AF_INET;
        a->u.in.sin_port = htons(port);
        a->len = sizeof a->u.in;
        return 0;
    }
    /* IPv6, with an optional %scope (an interface name or number). */
    char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    size_t n = strlen(host);
    if (n >= sizeof buf) return -EINVAL;
    memcpy(buf, host, n + 1);
    char *scope = strchr(buf, '%');
    if (scope) *scope++ = 0;
    if (inet_pton(AF_INET6, buf, &a->u.in6.sin6_addr) != 1) return -EINVAL;
    if (scope) {
        char *end;
        unsigned long id = strtoul(scope, &end, 10);
        if (*scope && !*end) a->u.in6.sin6_scope_id = (uint32_t)id;
        else if (!(a->u.in6.sin6_scope_id = if_nametoindex(scope))) return -EINVAL;
    }
    a->u.in6.sin6_family = AF_INET6;
    a->u.in6.sin6_port = htons(port);
    a->len = sizeof a->u.in6;
    return 0;
}

int tide_addr_parse(tide_addr_t *a, const char *ip, uint16_t port) {
    if (!a) return -EINVAL;
    int r = tide__addr_numeric(a, ip, port);
    if (r < 0) memset(a, 0, sizeof *a);
    return r;
}

int tide_addr_format(const tide_addr_t *a, char *buf, size_t size) {
    if (!a || !buf || a->len == 0) return -EINVAL;
    char ip[INET6_ADDRSTRLEN];
    int n;
    if (a->u.sa.sa_family == AF_INET) {
        if (!inet_ntop(AF_INET, &a->u.in.sin_addr, ip, sizeof ip)) return -EINVAL;
        n = snprintf(buf, size, "%s:%u", ip, ntohs(a->u.in.sin_port));
    } else if (a->u.sa.sa_family == AF_INET6) {
        if (!inet_ntop(AF_INET6, &a->u.in6.sin6_addr, ip, sizeof ip)) return -EINVAL;
        if (a->u.in6.sin6_scope_id)
            n = snprintf(buf, size, "[%s%%%u]:%u", ip, a->u.in6.sin6_scope_id,
                         ntohs(a->u.in6.sin6_port));
        else
            n = snprintf(buf, size, "[%s]:%u", ip, ntohs(a->u.in6.sin6_port));
    } else {
        return -EINVAL;
    }
    if (n < 0) return -EINVAL;
    if ((size_t)n >= size) return -ENOSPC;
    return n;
}

uint16_t tide_addr_port(const tide_addr_t *a) {
    if (!a || a->len == 0) return 0;
    if (a->u.sa.sa_family == AF_INET) return ntohs(a->u.in.sin_port);
    if (a->u.sa.sa_family == AF_INET6) return ntohs(a->u.in6.sin6_port);
    return 0;
}
