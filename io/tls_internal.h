/* Internal to io/: what TLS streams (io/tls.c) share with contexts (io/tls_ctx.c). */
#ifndef TIDE_IO_TLS_INTERNAL_H
#define TIDE_IO_TLS_INTERNAL_H

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "tide/tls.h"

struct tide_tls_ctx {
    SSL_CTX *ssl;            /* OpenSSL's context */
    _Atomic int refs;        /* the creator's, plus one per stream (the ALPN callback uses us) */
    int role;                /* TIDE_TLS_CLIENT or TIDE_TLS_SERVER */
    bool verify;             /* client: the server's certificate is verified */
    unsigned char *alpn;     /* server: protocols in ALPN wire format (length-prefixed) */
    size_t alpn_len;         /* its length */
};

/* Drop a reference; the last one frees the context. */
void tide__tls_ctx_unref(tide_tls_ctx_t *c);

/* Protocol names (NULL-terminated list) to ALPN's wire format, each prefixed by its length,
 * allocated with tide__alloc (*outlen bytes): 0, -EINVAL (an empty or too long name, an empty
 * list), -ENOMEM. */
int tide__tls_alpn_encode(const char *const *list, unsigned char **out, size_t *outlen);

#endif
