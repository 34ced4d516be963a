/* tide — TLS streams over tide's TCP, on OpenSSL 3.
 *
 *   tide_tls_ctx_t *ctx;
 *   tide_tls_ctx_opts_t co = {.role = TIDE_TLS_CLIENT};    // system CAs, verification on
 *   tide_tls_ctx_new(&ctx, &co);
 *   tide_tcp_t *tcp;
 *   tide_tcp_connect(&tcp, "example.com", 443);
 *   tide_tls_t *t;
 *   tide_tls_opts_t o = {.server_name = "example.com"};
 *   if (tide_tls_connect(&t, tcp, ctx, &o) < 0) tide_tcp_close(tcp);
 *   else { tide_tls_write_all(t, req, len, NULL); tide_tls_read(t, buf, sizeof buf); ... }
 *
 * OpenSSL never touches the socket: it reads and writes memory buffers, and tide moves the
 * bytes between those and the TCP connection with tide_tcp_read / tide_tcp_write. So a
 * handshake, read or write that would block parks the task (never the worker), and every call
 * honours the caller's deadline scope (-ETIMEDOUT) and cancellation (-ECANCELED) like the TCP
 * calls do. An interrupted call leaves the stream in a defined state:
 *   - handshake: may be called again, or the stream closed;
 *   - read: consumed nothing the caller was not given; the stream stays usable;
 *   - write: an error means none of this call's bytes were taken; a count means they were
 *     encrypted and are sent or queued (a deadline or cancel while sending them leaves the
 *     rest of their record queued, sent first by the next write, tide_tls_flush or
 *     tide_tls_shutdown, which then reports the error if it still cannot send).
 *
 * Threads: a stream is used by one task at a time (a second concurrent call gets -EBUSY); the
 * task may move between workers between calls. OpenSSL's error queue is per thread: each call
 * clears it before and drains it right after every OpenSSL call, with no park in between, so
 * nothing leaks to the next user of the thread. A context is shared freely between threads.
 *
 * Errors (besides those of tide_tcp_read / tide_tcp_write, passed through):
 *   -EPROTO        handshake or protocol failure (no common version or cipher, bad record,
 *                  a fatal alert from the peer, not TLS at all); the stream is dead after it;
 *   -EACCES        certificate verification failed (untrusted, expired, wrong host name;
 *                  tide_tls_verify_result says which); the same errno as the HTTP client's;
 *   -ECONNRESET    the TCP connection was reset, or closed during the handshake;
 *   -ECONNABORTED  the peer closed the TCP connection without a close_notify after the
 *                  handshake: the data may have been truncated (an attacker can do this);
 *   -EPIPE         write after tide_tls_shutdown (and the TCP errors of a peer gone);
 *   -EBUSY         another task is inside a call on the same stream;
 *   -EINVAL, -ENOMEM, -EPERM (not in a task).
 * tide_tls_error returns OpenSSL's text for the last failure, for logs. */
#ifndef TIDE_TLS_H
#define TIDE_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "tide/core.h"
#include "tide/net.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tide_tls_ctx tide_tls_ctx_t;
typedef struct tide_tls tide_tls_t;

enum { TIDE_TLS_CLIENT = 0, TIDE_TLS_SERVER = 1 };

/* Protocol versions for min_version. */
#define TIDE_TLS_1_2 0x0303
#define TIDE_TLS_1_3 0x0304

typedef struct tide_tls_ctx_opts {
    int role;                /* TIDE_TLS_CLIENT or TIDE_TLS_SERVER */
    const char *cert_file;   /* PEM certificate chain, leaf first (servers need one, in a
                                file or in memory; clients only for client certificates) */
    const char *key_file;    /* its PEM private key (unencrypted) */
    const char *cert_pem;    /* the same two in memory (NUL-terminated PEM text), instead */
    const char *key_pem;
    const char *ca_file;     /* trusted CA certificates, a PEM bundle */
    const char *ca_dir;      /* a directory of hashed CA certificates (c_rehash) */
    const char *ca_pem;      /* trusted CAs in memory (PEM text, one or more) */
    int insecure;            /* client: do not verify the server (for tests; never in prod) */
    int verify_peer;         /* server: require a client certificate signed by the CAs */
    int min_version;         /* lowest protocol accepted: 0 or TIDE_TLS_1_2, TIDE_TLS_1_3 */
    int max_version;         /* highest: 0 (the newest OpenSSL has), TIDE_TLS_1_2, TIDE_TLS_1_3 */
    const char *const *alpn; /* server: the protocols it speaks ("h2", "http/1.1"), in order
                                of preference, NULL-terminated; the first the client also
                                offers is chosen, none if they share none */
    char *errbuf;            /* if not NULL: receives OpenSSL's reason when ctx_new fails */
    size_t errlen;           /* its size */
} tide_tls_ctx_opts_t;

/* A context: the configuration and certificates shared by many streams. Clients without
 * ca_file / ca_dir / ca_pem trust the system's CAs. Works outside a task too.
 * -EINVAL (NULL out or opts, bad role or versions, a server without certificate, a certificate
 * or key that does not parse or match, a bad ALPN list), -ENOENT / -EACCES (a file or
 * directory that does not exist or cannot be read), -ENOMEM. */
int tide_tls_ctx_new(tide_tls_ctx_t **out, const tide_tls_ctx_opts_t *opts);

/* Release the caller's reference; streams made from ctx keep it alive until they close. */
void tide_tls_ctx_free(tide_tls_ctx_t *ctx);

typedef struct tide_tls_opts {
    const char *server_name; /* client: sent as SNI (unless an IP address) and the name (or
                                IP) the server's certificate must match; required when the
                                context verifies (-EINVAL otherwise) */
    const char *const *alpn; /* client: protocols to offer, in order of preference,
                                NULL-terminated (each 1..255 bytes) */
} tide_tls_opts_t;

/* Wrap a connected tcp as the client (or server) side of a TLS stream, without I/O: the
 * stream owns tcp from then on (tide_tls_close closes it). The handshake happens in
 * tide_tls_handshake, or in the first read or write. opts may be NULL when the context does
 * not verify. -EINVAL (NULL argument, ctx of the other role, missing or bad server_name, bad
 * ALPN), -ENOMEM; on failure tcp is still the caller's. */
int tide_tls_client(tide_tls_t **out, tide_tcp_t *tcp, tide_tls_ctx_t *ctx,
                    const tide_tls_opts_t *opts);
int tide_tls_server(tide_tls_t **out, tide_tcp_t *tcp, tide_tls_ctx_t *ctx);

/* Run the handshake to its end: 0, or -EPROTO, -EACCES, -ECONNRESET, -ETIMEDOUT, -ECANCELED
 * (may be called again), or another error. 0 at once if it is done already. */
int tide_tls_handshake(tide_tls_t *t);

/* tide_tls_client (tide_tls_server) and tide_tls_handshake in one. On failure *out is NULL,
 * nothing is left allocated and tcp is still the caller's, to close; use the two calls
 * instead to read tide_tls_error or tide_tls_verify_result after a failed handshake. */
int tide_tls_connect(tide_tls_t **out, tide_tcp_t *tcp, tide_tls_ctx_t *ctx,
                     const tide_tls_opts_t *opts);
int tide_tls_accept(tide_tls_t **out, tide_tcp_t *tcp, tide_tls_ctx_t *ctx);

/* Read up to len bytes of plaintext (at least 1 unless len is 0). Returns the count, 0 once
 * the peer's close_notify arrived (a clean end), or -ECONNABORTED (the TCP stream ended
 * without one), -EPROTO, -ECONNRESET, -ETIMEDOUT, -ECANCELED (nothing consumed; the stream
 * stays usable), -EBUSY, -EINVAL. */
ssize_t tide_tls_read(tide_tls_t *t, void *buf, size_t len);

/* Write some of buf (up to a few records, at least 1 byte unless len is 0) and send it.
 * Returns the count taken (see the top of the file for an interrupted send), or an error
 * with nothing taken: -EPIPE (after tide_tls_shutdown), -EPROTO, -ECONNRESET, -ETIMEDOUT,
 * -ECANCELED, -EBUSY, -EINVAL. */
ssize_t tide_tls_write(tide_tls_t *t, const void *buf, size_t len);

/* Write and send all of buf. Returns len, or an error of tide_tls_write (also when the last
 * bytes were taken but could not be sent); *sent (if not NULL) receives the bytes taken in
 * every case. */
ssize_t tide_tls_write_all(tide_tls_t *t, const void *buf, size_t len, size_t *sent);

/* Send what an interrupted write left queued. 0, or an error of tide_tls_write. */
int tide_tls_flush(tide_tls_t *t);

/* Send close_notify (once): no more writes (-EPIPE); the peer reads a clean end. Reading
 * still works until the peer's close_notify (read returns 0). Does not close tcp.
 * 0, or an error of tide_tls_write. */
int tide_tls_shutdown(tide_tls_t *t);

/* Release the stream and close its TCP connection, without close_notify (call
 * tide_tls_shutdown first for a clean end). Queued bytes are dropped. -EINVAL (NULL), -EBUSY
 * (a call is in progress on it: nothing is done). */
int tide_tls_close(tide_tls_t *t);

/* Release the stream but not its TCP connection, which is the caller's again (to close, or
 * for whoever owns it: a tide_server closes its connections after the handler returns).
 * Queued bytes are dropped; call tide_tls_shutdown first for a clean end. Returns the TCP
 * handle, or NULL (t NULL, or a call is in progress on it: nothing is done). */
tide_tcp_t *tide_tls_detach(tide_tls_t *t);

/* The protocol ALPN chose ("h2"), or NULL if none (or before the handshake). */
const char *tide_tls_alpn(tide_tls_t *t);
/* Client: the name it sent; server: the SNI name the client sent; NULL if none. */
const char *tide_tls_server_name(tide_tls_t *t);
/* The peer certificate's verification result: 0 (X509_V_OK, or not verified), or an
 * X509_V_ERR_* code; tide_tls_error has its text after a failed handshake. */
long tide_tls_verify_result(tide_tls_t *t);
/* The negotiated protocol ("TLSv1.3"), or NULL before the handshake. */
const char *tide_tls_version(tide_tls_t *t);
/* OpenSSL's text for the stream's last failure ("" if none): for logs. Valid until the next
 * call on t. */
const char *tide_tls_error(tide_tls_t *t);
/* The TCP connection under t (for addresses and options; do not read or write it). */
tide_tcp_t *tide_tls_tcp(tide_tls_t *t);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_TLS_H */
