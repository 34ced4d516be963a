/* Certificates made at test time with OpenSSL's API (P-256 keys, so it takes milliseconds):
 * a test CA, a server certificate it signs for localhost and 127.0.0.1, and a second,
 * untrusted CA with a server certificate of its own (same names). PEM text in memory, and the
 * same written to files in a temporary directory for the file-based options. Shared by the
 * TLS and HTTPS tests. */
#ifndef TIDE_TESTS_TLS_PKI_H
#define TIDE_TESTS_TLS_PKI_H

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ThreadSanitizer and OpenSSL: the suppressions live with the library's own, in
 * runtime/platform.c (__tsan_default_suppressions). */

typedef struct tt_pki {
    char *ca_pem;          /* the test CA's certificate: what clients trust */
    char *cert_pem;        /* server certificate: CN and SAN localhost, SAN IP 127.0.0.1 */
    char *key_pem;         /* its key */
    char *rogue_cert_pem;  /* the same names, signed by a CA nobody trusts */
    char *rogue_key_pem;
    char dir[64];          /* a temporary directory holding ca.pem, cert.pem, key.pem */
    char ca_file[96];
    char cert_file[96];
    char key_file[96];
} tt_pki_t;

static void tt_pki_ext(X509 *x, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    cr_assert_not_null(e, "extension %d=%s", nid, value);
    cr_assert_eq(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* A certificate for key, signed by issuer (NULL: self-signed). */
static X509 *tt_pki_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                         int ca, const char *san, long serial) {
    X509 *x = X509_new();
    cr_assert_not_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509 *signer = issuer ? issuer : x;
    tt_pki_ext(x, signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    tt_pki_ext(x, signer, NID_subject_key_identifier, "hash");
    if (ca) {
        tt_pki_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        tt_pki_ext(x, signer, NID_authority_key_identifier, "keyid:always");
        tt_pki_ext(x, signer, NID_ext_key_usage, "serverAuth,clientAuth");
        tt_pki_ext(x, signer, NID_subject_alt_name, san);
    }
    cr_assert_gt(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()), 0);
    return x;
}

static char *tt_pki_bio_string(BIO *b) {
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);
    cr_assert_not_null(s);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static char *tt_pki_cert_pem(X509 *x) {
    BIO *b = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_X509(b, x), 1);
    return tt_pki_bio_string(b);
}

static char *tt_pki_key_pem(EVP_PKEY *k) {
    BIO *b = BIO_new(BIO_s_mem());
    cr_assert_eq(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    return tt_pki_bio_string(b);
}

static void tt_pki_write(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fputs(text, f) >= 0, 1);
    cr_assert_eq(fclose(f), 0);
}

static void tt_pki_make(tt_pki_t *p) {
    memset(p, 0, sizeof *p);
    const char *san = "DNS:localhost,IP:127.0.0.1";
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    EVP_PKEY *rogue_ca_key = EVP_EC_gen("P-256"), *rogue_key = EVP_EC_gen("P-256");
    cr_assert(ca_key && key && rogue_ca_key && rogue_key);
    X509 *ca = tt_pki_cert(ca_key, "tide test CA", NULL, NULL, 1, NULL, 1);
    X509 *cert = tt_pki_cert(key, "localhost", ca, ca_key, 0, san, 2);
    X509 *rogue_ca = tt_pki_cert(rogue_ca_key, "tide rogue CA", NULL, NULL, 1, NULL, 3);
    X509 *rogue = tt_pki_cert(rogue_key, "localhost", rogue_ca, rogue_ca_key, 0, san, 4);
    p->ca_pem = tt_pki_cert_pem(ca);
    p->cert_pem = tt_pki_cert_pem(cert);
    p->key_pem = tt_pki_key_pem(key);
    p->rogue_cert_pem = tt_pki_cert_pem(rogue);
    p->rogue_key_pem = tt_pki_key_pem(rogue_key);
    X509_free(ca);
    X509_free(cert);
    X509_free(rogue_ca);
    X509_free(rogue);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    EVP_PKEY_free(rogue_ca_key);
    EVP_PKEY_free(rogue_key);

    snprintf(p->dir, sizeof p->dir, "/tmp/tide-tls-XXXXXX");
    cr_assert_not_null(mkdtemp(p->dir));
    snprintf(p->ca_file, sizeof p->ca_file, "%s/ca.pem", p->dir);
    snprintf(p->cert_file, sizeof p->cert_file, "%s/cert.pem", p->dir);
    snprintf(p->key_file, sizeof p->key_file, "%s/key.pem", p->dir);
    tt_pki_write(p->ca_file, p->ca_pem);
    tt_pki_write(p->cert_file, p->cert_pem);
    tt_pki_write(p->key_file, p->key_pem);
}

static void tt_pki_free(tt_pki_t *p) {
    unlink(p->ca_file);
    unlink(p->cert_file);
    unlink(p->key_file);
    rmdir(p->dir);
    free(p->ca_pem);
    free(p->cert_pem);
    free(p->key_pem);
    free(p->rogue_cert_pem);
    free(p->rogue_key_pem);
    memset(p, 0, sizeof *p);
}

#endif
