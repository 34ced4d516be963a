/* https_hello: http_hello (BENCH.md's "Hello, World!" HTTP/1.1 server) over TLS.
 *
 *   https_hello PORT [WORKERS [CERT.pem KEY.pem]]
 *
 * Listens on 127.0.0.1:PORT, one task per connection: a TLS handshake (bounded by a deadline,
 * so a client that never finishes it cannot hold a task forever), then keep-alive and
 * pipelined requests exactly as http_hello answers them. Without CERT and KEY it makes a
 * self-signed certificate for localhost at start (clients must then skip verification:
 * `curl -k`, or trust nothing). Ctrl-C (SIGINT) or SIGTERM stops it (see tcp_server.h). */
#include <errno.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_hello.h"
#include "tcp_server.h"
#include "tide.h"

#define HANDSHAKE_TIMEOUT TIDE_SEC(10)
#define READ_TIMEOUT TIDE_SEC(10) /* an idle keep-alive connection, or a trickling request */

static tide_tls_ctx_t *ctx;

/* tide_tls_write_all as http_hello.h's write_all_fn. */
static ssize_t tls_write_all(void *t, const void *buf, size_t len) {
    return tide_tls_write_all(t, buf, len, NULL);
}

/* One connection, on the server loop (tide/serve.h), which owns the TCP connection and
 * closes it after this returns: the TLS stream is detached from it, not closed. The server's
 * idle and header timeouts bound tide_conn_read, which TLS does not use, so the handshake and
 * each read get deadline scopes of their own. */
static int serve_conn(tide_conn_t *c, void *arg) {
    (void)arg;
    tide_tls_t *t;
    int r = TIDE_WITH_TIMEOUT(HANDSHAKE_TIMEOUT, tide_tls_accept(&t, tide_conn_tcp(c), ctx));
    if (r < 0) return 0; /* not TLS, an untrusting client, too slow, or shutting down */
    char buf[BUF_SIZE];
    size_t have = 0;
    for (;;) {
        ssize_t n =
            TIDE_WITH_TIMEOUT(READ_TIMEOUT, tide_tls_read(t, buf + have, sizeof buf - have));
        if (n == 0) tide_tls_shutdown(t); /* the client's close_notify: answer with ours */
        if (n <= 0) break;
        have += (size_t)n;
        size_t pos;
        int last; /* a bad request is told so, as http_hello does */
        if (answer_requests(buf, have, &pos, &last, tls_write_all, t) < 0) break;
        if (last || tide_conn_draining(c)) {
            tide_tls_shutdown(t);
            break;
        }
        memmove(buf, buf + pos, have - pos);
        have -= pos;
    }
    tide_tls_detach(t);
    return 0;
}

/* A self-signed certificate for localhost and 127.0.0.1, in PEM, for trying things out. */
static int self_signed(char **cert_pem, char **key_pem) {
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    int ok = key && x && cb && kb;
    if (ok) {
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
        X509_set_pubkey(x, key);
        X509_NAME *n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                                   -1, -1, 0);
        X509_set_issuer_name(x, n);
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
                                                "DNS:localhost,IP:127.0.0.1");
        ok = e && X509_add_ext(x, e, -1) && X509_sign(x, key, EVP_sha256()) &&
             PEM_write_bio_X509(cb, x) && PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL);
        X509_EXTENSION_free(e);
    }
    char *p;
    if (ok) {
        long n = BIO_get_mem_data(cb, &p);
        *cert_pem = strndup(p, (size_t)n);
        n = BIO_get_mem_data(kb, &p);
        *key_pem = strndup(p, (size_t)n);
        ok = *cert_pem && *key_pem;
    }
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok ? 0 : -ENOMEM;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 3 && argc != 5) {
        fprintf(stderr, "usage: %s PORT [WORKERS [CERT.pem KEY.pem]]\n", argv[0]);
        return 2;
    }
    static const char *const alpn[] = {"http/1.1", NULL};
    char err[256] = "", *cert = NULL, *key = NULL;
    tide_tls_ctx_opts_t o = {.role = TIDE_TLS_SERVER, .alpn = alpn, .errbuf = err,
                             .errlen = sizeof err};
    if (argc == 5) {
        o.cert_file = argv[3];
        o.key_file = argv[4];
    } else if (self_signed(&cert, &key) == 0) {
        o.cert_pem = cert;
        o.key_pem = key;
        printf("https_hello: using a self-signed certificate for localhost\n");
    }
    int r = tide_tls_ctx_new(&ctx, &o);
    free(cert);
    free(key);
    if (r < 0) {
        fprintf(stderr, "https_hello: certificate: %s %s\n", tide_strerror(r), err);
        return 1;
    }
    batch_fill();
    r = tcp_server_run("https_hello", argc < 3 ? argc : 3, argv, serve_conn, NULL);
    tide_tls_ctx_free(ctx);
    return r;
}
