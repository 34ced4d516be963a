/* TLS streams (tide/tls.h) on OpenSSL 3; their contexts are in io/tls_ctx.c.
 *
 * OpenSSL works on a BIO pair (two ring buffers in memory) and never sees the socket: after
 * every OpenSSL call the task moves bytes between the pair and the TCP connection with
 * tide_tcp_read / tide_tcp_write, which park the task, not the worker, and end on the
 * caller's deadline or cancel. So an OpenSSL call never blocks and never parks: the thread's
 * error queue is cleared before it and read right after it, on the same thread, even though
 * the task may run on another worker at its next call.
 *
 * Writes never leave OpenSSL holding a half-written record: a record goes into the pair only
 * when the pair has room for all of it, so SSL_write always completes and what is left to
 * send is in the pair, ours to flush later (see tls.h for what an interrupted write means). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net_internal.h"
#include "platform.h"
#include "tls_internal.h"

#define RECORD 16384         /* plaintext per record (TLS's maximum) */
#define RECORD_WIRE 17408    /* a record on the wire, overhead included, at most (18,437
                                with TLS 1.2's largest padding and MAC, which we round to
                                NET_RBUF below) */
#define NET_RBUF 20480       /* network -> OpenSSL: holds the largest record whole */
#define NET_WBUF (2 * RECORD_WIRE + 2048) /* OpenSSL -> network: two records per send */
#define ALERT_TIMEOUT TIDE_MSEC(100) /* at most this long to send a failure's alert */

struct tide_tls {
    SSL *ssl;                /* the connection's OpenSSL state; owns `inner` */
    BIO *inner;              /* OpenSSL's end of the pair */
    BIO *net;                /* our end: what OpenSSL wrote is read here, what arrived is
                                written here */
    tide_tcp_t *tcp;         /* the connection, owned */
    tide_tls_ctx_t *ctx;     /* a reference */
    _Atomic bool busy;       /* a call is in progress (one task at a time: -EBUSY) */
    int fatal;               /* the error that killed the stream (0: alive) */
    bool handshaken;         /* the handshake completed */
    bool tcp_eof;            /* the TCP stream ended (OpenSSL was told) */
    bool peer_closed;        /* the peer's close_notify arrived: reads return 0 */
    bool shut;               /* our close_notify is written: no more writes */
    char alpn[256];          /* the negotiated ALPN protocol, NUL-terminated ("": none) */
    char err[320];           /* OpenSSL's text for the last failure */
};

/* ---- errors ---------------------------------------------------------------------------- */

/* Record OpenSSL's reason for a failure (plus the verification result) and leave this
 * thread's error queue empty for whoever runs here next. */
static void capture(tide_tls_t *t, const char *fallback) {
    unsigned long e = ERR_peek_error();
    if (e) ERR_error_string_n(e, t->err, sizeof t->err);
    else snprintf(t->err, sizeof t->err, "%s", fallback);
    long v = SSL_get_verify_result(t->ssl);
    if (v != X509_V_OK) {
        size_t n = strlen(t->err);
        snprintf(t->err + n, sizeof t->err - n, " (%s)", X509_verify_cert_error_string(v));
    }
    ERR_clear_error();
}

/* A failed OpenSSL call (SSL_get_error said sslerr): the stream is dead; why, as an errno. */
static int failure(tide_tls_t *t, int sslerr) {
    unsigned long e = ERR_peek_error();
    int reason = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
    int r = -EPROTO;
    bool eof = t->tcp_eof && (sslerr == SSL_ERROR_SYSCALL || e == 0 ||
                              reason == SSL_R_UNEXPECTED_EOF_WHILE_READING);
    if (eof) r = t->handshaken ? -ECONNABORTED : -ECONNRESET;
    else if (!t->handshaken && SSL_get_verify_result(t->ssl) != X509_V_OK) r = -EACCES;
    else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) r = -EACCES;
    capture(t, eof ? "connection closed without close_notify" : "TLS failure");
    t->fatal = r;
    return r;
}

/* ---- moving bytes between the pair and the connection --------------------------------- */

/* Send everything OpenSSL has written: 0, or the error of tide_tcp_write (what was not sent
 * stays in the pair). */
static int flush_out(tide_tls_t *t) {
    for (;;) {
        char *p;
        int n = BIO_nread0(t->net, &p);
        if (n <= 0) return 0;
        ssize_t w = tide_tcp_write(t->tcp, p, (size_t)n);
        if (w < 0) return (int)w;
        BIO_nread(t->net, &p, (int)w);
    }
}

/* After a failure: send the alert that tells the peer why, if it goes out promptly (a peer
 * that reads nothing must not hold the caller). */
static void flush_alert(tide_tls_t *t) {
    (void)TIDE_WITH_TIMEOUT(ALERT_TIMEOUT, flush_out(t));
}

/* Hand OpenSSL what the connection has (waiting for it): 0, or the error of tide_tcp_read
 * (nothing was consumed). At end of stream OpenSSL is told, and its next call fails. */
static int fill_in(tide_tls_t *t) {
    if (t->tcp_eof) return t->handshaken ? -ECONNABORTED : -ECONNRESET;
    char *p;
    int n = BIO_nwrite0(t->net, &p);
    if (n <= 0) return -EPROTO; /* full, yet OpenSSL wants more: a record larger than TLS's */
    ssize_t r = tide_tcp_read(t->tcp, p, (size_t)n);
    if (r < 0) return (int)r;
    if (r == 0) {
        t->tcp_eof = true;
        BIO_shutdown_wr(t->net);
        return 0;
    }
    BIO_nwrite(t->net, &p, (int)r);
    return 0;
}

/* What an OpenSSL call that returned ret needs. Called right after it, on the same thread. */
static int need(tide_tls_t *t, int ret) {
    int e = SSL_get_error(t->ssl, ret);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_ZERO_RETURN)
        ERR_clear_error();
    return e;
}

/* One task at a time. */
static int enter(tide_tls_t *t) {
    if (atomic_exchange_explicit(&t->busy, true, memory_order_acq_rel)) return -EBUSY;
    return 0;
}
static void leave(tide_tls_t *t) {
    atomic_store_explicit(&t->busy, false, memory_order_release);
}

/* ---- handshake ------------------------------------------------------------------------- */

static int handshake(tide_tls_t *t) {
    while (!t->handshaken) {
        if (t->fatal) return t->fatal;
        ERR_clear_error();
        int ret = SSL_do_handshake(t->ssl);
        int e = ret == 1 ? SSL_ERROR_NONE : need(t, ret);
        if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            int r = failure(t, e);
            flush_alert(t);
            return r;
        }
        int r = flush_out(t);
        if (r < 0) return r;
        if (e == SSL_ERROR_NONE) {
            const unsigned char *p;
            unsigned len;
            SSL_get0_alpn_selected(t->ssl, &p, &len);
            if (len) memcpy(t->alpn, p, len); /* len < 256: ALPN names are 255 bytes at most */
            t->alpn[len] = '\0';
            t->handshaken = true;
        } else if (e == SSL_ERROR_WANT_READ && (r = fill_in(t)) < 0) {
            return r;
        }
    }
    return 0;
}

int tide_tls_handshake(tide_tls_t *t) {
    if (!t) return -EINVAL;
    int r = enter(t);
    if (r < 0) return r;
    if ((r = tide__net_check()) == 0) r = handshake(t);
    leave(t);
    return r;
}

/* ---- reading --------------------------------------------------------------------------- */

ssize_t tide_tls_read(tide_tls_t *t, void *buf, size_t len) {
    if (!t || (!buf && len)) return -EINVAL;
    int r = enter(t);
    if (r < 0) return r;
    ssize_t out = 0;
    if ((r = tide__net_check()) < 0 || (r = handshake(t)) < 0) goto done;
    size_t got = 0;
    while (len > 0 && !t->peer_closed) {
        if ((r = t->fatal) < 0) break;
        if (!got && !t->tcp_eof && !SSL_has_pending(t->ssl) && BIO_ctrl_pending(t->inner) == 0 &&
            BIO_ctrl_pending(t->net) == 0) {
            /* Nothing buffered anywhere: OpenSSL could only answer WANT_READ. */
            if ((r = fill_in(t)) < 0) break;
            continue;
        }
        ERR_clear_error();
        size_t n = 0;
        int ok = SSL_read_ex(t->ssl, (char *)buf + got, len - got, &n);
        int e = ok ? SSL_ERROR_NONE : need(t, 0);
        if (ok) {
            got += n;
            /* Take what is already here without waiting, up to len. */
            if (got < len && (SSL_has_pending(t->ssl) || BIO_ctrl_pending(t->inner) > 0))
                continue;
            break;
        }
        if (e == SSL_ERROR_ZERO_RETURN) {
            t->peer_closed = true;
            break;
        }
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            r = failure(t, e);
            if (got) r = 0; /* reported by the next call: t->fatal */
            break;
        }
        /* Something of ours to send first (a key update's answer)? */
        if (BIO_ctrl_pending(t->net) > 0 && (r = flush_out(t)) < 0) {
            if (got) r = 0;
            break;
        }
        if (e == SSL_ERROR_WANT_WRITE) continue;
        if (got) break; /* give what we have rather than wait */
        if ((r = fill_in(t)) < 0) break;
    }
    if (r == 0) out = (ssize_t)got;
done:
    leave(t);
    if (r < 0) return r;
    tide_budget_tick();
    return out;
}

/* ---- writing --------------------------------------------------------------------------- */

/* Encrypt as much of buf as the pair holds (at least one record), then send it. */
static ssize_t write_some(tide_tls_t *t, const char *buf, size_t len) {
    if (t->fatal) return t->fatal;
    if (t->shut) return -EPIPE;
    int r = flush_out(t); /* what an interrupted write left, first: order matters */
    if (r < 0) return r;
    size_t taken = 0;
    while (taken < len && BIO_ctrl_get_write_guarantee(t->inner) >= RECORD_WIRE) {
        size_t chunk = len - taken < RECORD ? len - taken : RECORD;
        ERR_clear_error();
        size_t n = 0;
        if (SSL_write_ex(t->ssl, buf + taken, chunk, &n)) {
            taken += n;
            continue;
        }
        int e = need(t, 0);
        if (e == SSL_ERROR_WANT_WRITE && taken) break; /* not expected with the room check */
        if (e == SSL_ERROR_WANT_WRITE) {
            /* OpenSSL holds part of a record for this very chunk: it must be retried with
             * it. Send, and retry here; if the send fails, the record can never be
             * finished, so the stream is dead. */
            if ((r = flush_out(t)) < 0) {
                snprintf(t->err, sizeof t->err, "a record could not be sent whole");
                t->fatal = r;
                return r;
            }
            continue;
        }
        if (e == SSL_ERROR_WANT_READ) { /* only mid-handshake, which is done by now */
            if ((r = fill_in(t)) < 0) return taken ? (ssize_t)taken : r;
            continue;
        }
        r = failure(t, e);
        if (taken) break;
        return r;
    }
    /* A failed send leaves the rest queued: the bytes are taken all the same. */
    (void)flush_out(t);
    return (ssize_t)taken;
}

ssize_t tide_tls_write(tide_tls_t *t, const void *buf, size_t len) {
    if (!t || (!buf && len)) return -EINVAL;
    int r = enter(t);
    if (r < 0) return r;
    ssize_t w = 0;
    if ((r = tide__net_check()) < 0 || (r = handshake(t)) < 0) w = r;
    else if (len) w = write_some(t, buf, len > SSIZE_MAX ? SSIZE_MAX : len);
    leave(t);
    if (w >= 0) tide_budget_tick();
    return w;
}

int tide_tls_flush(tide_tls_t *t) {
    if (!t) return -EINVAL;
    int r = enter(t);
    if (r < 0) return r;
    r = t->fatal ? t->fatal : flush_out(t);
    leave(t);
    return r;
}

ssize_t tide_tls_write_all(tide_tls_t *t, const void *buf, size_t len, size_t *sent) {
    size_t done = 0;
    ssize_t r = (!buf && len) || len > SSIZE_MAX ? -EINVAL : 0;
    while (r >= 0 && done < len) {
        r = tide_tls_write(t, (const char *)buf + done, len - done);
        if (r > 0) done += (size_t)r;
    }
    if (r >= 0 && len) r = tide_tls_flush(t); /* the last bytes' send may have been cut */
    if (sent) *sent = done;
    return r < 0 ? r : (ssize_t)len;
}

/* ---- shutdown and close ---------------------------------------------------------------- */

int tide_tls_shutdown(tide_tls_t *t) {
    if (!t) return -EINVAL;
    int r = enter(t);
    if (r < 0) return r;
    if (t->fatal) {
        r = t->fatal;
    } else if (!t->handshaken) {
        t->shut = true; /* nothing was said: nothing to end cleanly */
    } else {
        if (!t->shut) {
            ERR_clear_error();
            int ret = SSL_shutdown(t->ssl); /* 0 or 1: close_notify is in the pair */
            if (ret < 0) {
                int e = need(t, ret);
                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) r = failure(t, e);
            }
            t->shut = true;
        }
        if (r == 0) r = flush_out(t);
    }
    leave(t);
    return r;
}

/* Free the stream; its TCP connection is closed only if close_tcp. */
static void stream_free(tide_tls_t *t, bool close_tcp) {
    SSL_free(t->ssl); /* frees inner too */
    BIO_free(t->net);
    ERR_clear_error();
    if (close_tcp) tide_tcp_close(t->tcp);
    tide__tls_ctx_unref(t->ctx);
    tide__delete(t);
}

int tide_tls_close(tide_tls_t *t) {
    if (!t) return -EINVAL;
    int r = enter(t);
    if (r < 0) return r;
    stream_free(t, true);
    return 0;
}

tide_tcp_t *tide_tls_detach(tide_tls_t *t) {
    if (!t || enter(t) < 0) return NULL;
    tide_tcp_t *tcp = t->tcp;
    stream_free(t, false);
    return tcp;
}

/* ---- accessors ------------------------------------------------------------------------- */

const char *tide_tls_alpn(tide_tls_t *t) {
    return t && t->alpn[0] ? t->alpn : NULL;
}

const char *tide_tls_server_name(tide_tls_t *t) {
    return t ? SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

long tide_tls_verify_result(tide_tls_t *t) {
    return t ? SSL_get_verify_result(t->ssl) : X509_V_OK;
}

const char *tide_tls_version(tide_tls_t *t) {
    return t && t->handshaken ? SSL_get_version(t->ssl) : NULL;
}

const char *tide_tls_error(tide_tls_t *t) {
    return t ? t->err : "";
}

tide_tcp_t *tide_tls_tcp(tide_tls_t *t) {
    return t ? t->tcp : NULL;
}

/* ---- streams --------------------------------------------------------------------------- */

static int stream_new(tide_tls_t **out, tide_tcp_t *tcp, tide_tls_ctx_t *ctx) {
    tide_tls_t *t = tide__new(tide_tls_t);
    if (!t) goto error1;
    ERR_clear_error();
    t->ssl = SSL_new(ctx->ssl);
    if (!t->ssl) goto error2;
    if (!BIO_new_bio_pair(&t->inner, NET_WBUF, &t->net, NET_RBUF)) goto error3;
    SSL_set_bio(t->ssl, t->inner, t->inner);
    t->tcp = tcp;
    t->ctx = ctx;
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
    *out = t;
    return 0;
error3:
    SSL_free(t->ssl);
error2:
    ERR_clear_error();
    tide__delete(t);
error1:
    return -ENOMEM;
}

static bool is_ip(const char *s) {
    unsigned char b[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

int tide_tls_client(tide_tls_t **out, tide_tcp_t *tcp, tide_tls_ctx_t *ctx,
                    const tide_tls_opts_t *opts) {
    if (!out || !tcp || !ctx || ctx->role != TIDE_TLS_CLIENT) return -EINVAL;
    const char *name = opts ? opts->server_name : NULL;
    if (name && (!*name || strlen(name) > 253)) return -EINVAL;
    if (ctx->verify && !name) return -EINVAL; /* verifying a chain without a name proves
                                                  nothing about whom we talk to */
    unsigned char *alpn = NULL;
    size_t alpn_len = 0;
    int r;
    if (opts && opts->alpn && (r = tide__tls_alpn_encode(opts->alpn, &alpn, &alpn_len)) < 0) return r;
    tide_tls_t *t;
    if ((r = stream_new(&t, tcp, ctx)) < 0) goto out;
    r = -ENOMEM;
    SSL_set_connect_state(t->ssl);
    if (name && is_ip(name)) {
        if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name)) goto fail;
    } else if (name) {
        if (!SSL_set_tlsext_host_name(t->ssl, name) || !SSL_set1_host(t->ssl, name)) goto fail;
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    }
    if (alpn && SSL_set_alpn_protos(t->ssl, alpn, (unsigned)alpn_len) != 0) goto fail;
    *out = t;
    r = 0;
    goto out;
fail:
    stream_free(t, false);
out:
    if (alpn) tide__free(alpn, alpn_len);
    return r;
}

int tide_tls_server(tide_tls_t **out, tide_tcp_t *tcp, tide_tls_ctx_t *ctx) {
    if (!out || !tcp || !ctx || ctx->role != TIDE_TLS_SERVER) return -EINVAL;
    tide_tls_t *t;
    int r = stream_new(&t, tcp, ctx);
    if (r < 0) return r;
    SSL_set_accept_state(t->ssl);
    *out = t;
    return 0;
}

int tide_tls_connect(tide_tls_t **out, tide_tcp_t *tcp, tide_tls_ctx_t *ctx,
                     const tide_tls_opts_t *opts) {
    if (!out) return -EINVAL;
    *out = NULL;
    tide_tls_t *t;
    int r = tide_tls_client(&t, tcp, ctx, opts);
    if (r == 0 && (r = tide_tls_handshake(t)) < 0) stream_free(t, false);
    if (r == 0) *out = t;
    return r;
}

int tide_tls_accept(tide_tls_t **out, tide_tcp_t *tcp, tide_tls_ctx_t *ctx) {
    if (!out) return -EINVAL;
    *out = NULL;
    tide_tls_t *t;
    int r = tide_tls_server(&t, tcp, ctx);
    if (r == 0 && (r = tide_tls_handshake(t)) < 0) stream_free(t, false);
    if (r == 0) *out = t;
    return r;
}
