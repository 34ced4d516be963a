/* The HTTP client against a small HTTP/1.1 server run by this file (a thread per connection,
 * blocking sockets, 127.0.0.1, an ephemeral port): GET, POST and other methods with bodies,
 * headers both ways, 404, redirects, keep-alive reuse, a slow server and timeouts, a refused
 * port, a server that closes mid-response or says nothing, body limits, hundreds of requests
 * at once, cancels in the middle of transfers, and bad requests. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver.h"

#ifndef TT_SCALE
#define TT_SCALE(n) (n)
#endif

/* ---- the server ------------------------------------------------------------------------ */

#define MAX_CONNS 2048

typedef struct server {
    int lfd;                      /* listening socket */
    uint16_t port;                /* its port */
    int stop[2];                  /* a pipe: readable once the server must stop */
    pthread_t accept_thread;
    pthread_mutex_t lock;         /* guards threads, nthreads */
    pthread_t threads[MAX_CONNS]; /* connection threads, joined at stop */
    int nthreads;
    _Atomic int conns;            /* connections accepted */
    _Atomic int requests;         /* requests parsed */
} server_t;

typedef struct conn {
    server_t *s;
    int fd;
} conn_t;

/* Wait until fd is readable or the server stops; false when stopping. */
static bool wait_readable(server_t *s, int fd, int ms) {
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->stop[0], .events = POLLIN}};
    int r = poll(p, 2, ms);
    return r > 0 && !(p[1].revents & POLLIN) && (p[0].revents & (POLLIN | POLLHUP | POLLERR));
}

static bool send_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool respond(int fd, int status, const char *reason, const char *extra, const void *body,
                    size_t len) {
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nX-Server: tide-test\r\n%s\r\n",
                     status, reason, len, extra ? extra : "");
    return send_all(fd, head, (size_t)n) && send_all(fd, body, len);
}

/* A header's value in a request head (NUL-terminated lines), or NULL. */
static const char *find_header(const char *head, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ') v++;
            const char *e = strstr(v, "\r\n");
            size_t n = (size_t)(e - v) < cap - 1 ? (size_t)(e - v) : cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
    }
    return NULL;
}

static void *conn_main(void *arg) {
    conn_t *c = arg;
    server_t *s = c->s;
    int fd = c->fd;
    free(c);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        /* Read one request head. */
        char *end;
        while (!(end = len ? memmem(buf, len, "\r\n\r\n", 4) : NULL)) {
            if (!wait_readable(s, fd, -1)) goto out;
            if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
            ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
            if (n <= 0) goto out;
            len += (size_t)n;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        char *head = malloc(head_len + 1);
        memcpy(head, buf, head_len);
        head[head_len] = '\0';
        char method[16] = {0}, path[256] = {0}, v[256];
        sscanf(head, "%15s %255s", method, path);
        size_t body_len = find_header(head, "Content-Length", v, sizeof v) ? strtoul(v, NULL, 10) : 0;
        while (len < head_len + body_len) {
            if (head_len + body_len + 1 > cap) buf = realloc(buf, cap = head_len + body_len + 1);
            if (!wait_readable(s, fd, -1)) {
                free(head);
                goto out;
            }
            ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
            if (n <= 0) {
                free(head);
                goto out;
            }
            len += (size_t)n;
        }
        char *body = buf + head_len;
        atomic_fetch_add(&s->requests, 1);
        bool ok = true;
        char extra[700];
        if (strcmp(path, "/hello") == 0) {
            ok = respond(fd, 200, "OK", "Content-Type: text/plain\r\n", "hello world", 11);
        } else if (strcmp(path, "/echo") == 0) {
            char ev[256] = "";
            find_header(head, "X-Echo", ev, sizeof ev);
            snprintf(extra, sizeof extra, "X-Method: %s\r\nX-Echo: %s\r\nX-Empty: %s\r\n", method,
                     ev, find_header(head, "X-Empty", v, sizeof v) ? "present" : "absent");
            ok = respond(fd, 200, "OK", extra, body, body_len);
        } else if (strcmp(path, "/redirect") == 0) {
            ok = respond(fd, 302, "Found", "Location: /hello\r\n", "", 0);
        } else if (strcmp(path, "/toftp") == 0) {
            ok = respond(fd, 302, "Found", "Location: ftp://127.0.0.1/x\r\n", "", 0);
        } else if (strcmp(path, "/loop") == 0) {
            ok = respond(fd, 302, "Found", "Location: /loop\r\n", "", 0);
        } else if (strncmp(path, "/big/", 5) == 0) {
            size_t n = strtoul(path + 5, NULL, 10);
            char *big = malloc(n);
            for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
            ok = respond(fd, 200, "OK", NULL, big, n);
            free(big);
        } else if (strcmp(path, "/slow") == 0) {
            /* Answers after 3 s, unless the client leaves or the server stops. */
            struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->stop[0], .events = POLLIN}};
            if (poll(p, 2, 3000) == 0) ok = respond(fd, 200, "OK", NULL, "late", 4);
            else ok = false;
        } else if (strcmp(path, "/truncated") == 0) {
            const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
            char part[1000];
            memset(part, 'x', sizeof part);
            send_all(fd, h, strlen(h));
            send_all(fd, part, sizeof part);
            ok = false; /* and close */
        } else if (strcmp(path, "/nothing") == 0) {
            ok = false; /* close without a word */
        } else if (strcmp(path, "/garbage") == 0) {
            send_all(fd, "SPLAT\r\n\r\n", 9);
            ok = false;
        } else {
            ok = respond(fd, 404, "Not Found", NULL, "not found", 9);
        }
        bool close_it = find_header(head, "Connection", v, sizeof v) && strcasecmp(v, "close") == 0;
        free(head);
        memmove(buf, buf + head_len + body_len, len - head_len - body_len);
        len -= head_len + body_len;
        if (!ok || close_it) break;
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

static void *accept_main(void *arg) {
    server_t *s = arg;
    while (wait_readable(s, s->lfd, -1)) {
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        atomic_fetch_add(&s->conns, 1);
        conn_t *c = malloc(sizeof *c);
        c->s = s;
        c->fd = fd;
        pthread_mutex_lock(&s->lock);
        cr_assert_lt(s->nthreads, MAX_CONNS);
        pthread_create(&s->threads[s->nthreads++], NULL, conn_main, c);
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

static void server_start(server_t *s) {
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    cr_assert_eq(pipe(s->stop), 0);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(s->lfd, 1024), 0);
    socklen_t al = sizeof a;
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->accept_thread, NULL, accept_main, s);
}

static void server_stop(server_t *s) {
    cr_assert_eq(write(s->stop[1], "x", 1), 1);
    pthread_join(s->accept_thread, NULL);
    for (int i = 0; i < s->nthreads; i++) pthread_join(s->threads[i], NULL);
    close(s->lfd);
    close(s->stop[0]);
    close(s->stop[1]);
    pthread_mutex_destroy(&s->lock);
}

static server_t srv;

static char *url(char *buf, const char *path) {
    snprintf(buf, 256, "http://127.0.0.1:%u%s", srv.port, path);
    return buf;
}

/* The server around a runtime: the client's kept-alive connections close when the runtime
 * ends, and only then can the server's connection threads finish. */
static void run_main(int (*fn)(void *), void *arg) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    server_start(&srv);
    cr_assert_eq(tide_run(fn, arg), 0);
    cr_assert_eq(tide__io_live(), 0, "%lld libuv handles left", (long long)tide__io_live());
    server_stop(&srv);
    tt_leaks_end(&l);
}

/* ---- basics ---------------------------------------------------------------------------- */

static int get(void *arg) {
    char u[256];
    tide_http_response_t res;
    cr_assert_eq(tide_http_get(url(u, "/hello"), &res), 0);
    cr_assert_eq(res.status, 200);
    cr_assert_eq(res.body_len, 11);
    cr_assert_str_eq(res.body, "hello world");
    cr_assert_str_eq(tide_http_header(&res, "x-server"), "tide-test");
    cr_assert_str_eq(tide_http_header(&res, "Content-Type"), "text/plain");
    cr_assert_str_eq(tide_http_header(&res, "content-length"), "11");
    cr_assert_null(tide_http_header(&res, "X-Nope"));
    cr_assert_eq(res.nheaders, 3);
    tide_http_response_free(&res);
    cr_assert_null(res.body);
    tide_http_response_free(&res); /* twice is fine */

    /* 404 is a response, not an error. */
    cr_assert_eq(tide_http_get(url(u, "/missing"), &res), 0);
    cr_assert_eq(res.status, 404);
    cr_assert_str_eq(res.body, "not found");
    tide_http_response_free(&res);

    /* HEAD: headers, no body. */
    tide_http_request_t head = {.method = "HEAD", .url = url(u, "/hello")};
    cr_assert_eq(tide_http_fetch(&head, &res), 0);
    cr_assert_eq(res.status, 200);
    cr_assert_eq(res.body_len, 0);
    cr_assert_str_eq(res.body, "");
    cr_assert_str_eq(tide_http_header(&res, "Content-Length"), "11");
    tide_http_response_free(&res);

    /* Keep-alive: all of the above went over one connection. */
    cr_assert_eq(atomic_load(&srv.conns), 1);
    cr_assert_eq(atomic_load(&srv.requests), 3);
    return 0;
}

Test(http, get_status_headers_body_404_head) {
    run_main(get, NULL);
}

/* Timeouts at the top of int64_t: "practically never", not an overflow into a negative
 * (curl refuses negative timeouts) and not undefined arithmetic. */
static int huge_timeouts(void *arg) {
    (void)arg;
    char u[256];
    tide_http_response_t res;
    tide_http_request_t req = {.url = url(u, "/hello"), .timeout_ns = INT64_MAX,
                               .connect_timeout_ns = INT64_MAX};
    cr_assert_eq(tide_http_fetch(&req, &res), 0);
    cr_assert_eq(res.status, 200);
    tide_http_response_free(&res);
    return 0;
}

Test(http, int64_max_timeouts_mean_no_limit) {
    run_main(huge_timeouts, NULL);
}

static int post(void *arg) {
    char u[256];
    tide_http_response_t res;
    /* A binary body with NULs, large enough that curl would have asked for 100-continue. */
    size_t n = 300000;
    unsigned char *body = malloc(n);
    for (size_t i = 0; i < n; i++) body[i] = (unsigned char)(i * 7 + (i >> 8));
    tide_http_header_t hs[] = {{"X-Echo", "round trip"}, {"Content-Type", "application/x-bin"},
                               {"X-Empty", ""}};
    tide_http_request_t req = {.url = url(u, "/echo"), .headers = hs, .nheaders = 3,
                               .body = body, .body_len = n};
    cr_assert_eq(tide_http_fetch(&req, &res), 0); /* method defaults to POST with a body */
    cr_assert_eq(res.status, 200);
    cr_assert_eq(res.body_len, n);
    cr_assert_eq(memcmp(res.body, body, n), 0);
    cr_assert_str_eq(tide_http_header(&res, "X-Method"), "POST");
    cr_assert_str_eq(tide_http_header(&res, "X-Echo"), "round trip");
    cr_assert_str_eq(tide_http_header(&res, "X-Empty"), "present");
    tide_http_response_free(&res);

    const char *methods[] = {"PUT", "PATCH", "DELETE", "GET", "POST", "OPTIONS"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        char b[32];
        int bl = snprintf(b, sizeof b, "body of %s", methods[i]);
        tide_http_request_t r2 = {.method = methods[i], .url = u, .body = b,
                                  .body_len = (size_t)bl};
        cr_assert_eq(tide_http_fetch(&r2, &res), 0, "%s", methods[i]);
        cr_assert_str_eq(tide_http_header(&res, "X-Method"), methods[i]);
        cr_assert_str_eq(res.body, b);
        cr_assert_str_eq(tide_http_header(&res, "X-Empty"), "absent");
        tide_http_response_free(&res);
    }
    /* An empty POST, and the shortcut. */
    tide_http_request_t empty = {.method = "POST", .url = u};
    cr_assert_eq(tide_http_fetch(&empty, &res), 0);
    cr_assert_eq(res.body_len, 0);
    tide_http_response_free(&res);
    cr_assert_eq(tide_http_post(u, "text/plain", "abc", 3, &res), 0);
    cr_assert_str_eq(res.body, "abc");
    tide_http_response_free(&res);
    free(body);
    return 0;
}

Test(http, post_and_other_methods_with_bodies_and_headers) {
    run_main(post, NULL);
}

static int redirects(void *arg) {
    char u[256];
    tide_http_response_t res;
    tide_http_request_t req = {.url = url(u, "/redirect")};
    cr_assert_eq(tide_http_fetch(&req, &res), 0);
    cr_assert_eq(res.status, 302);
    cr_assert_str_eq(tide_http_header(&res, "Location"), "/hello");
    tide_http_response_free(&res);
    req.max_redirects = 3;
    cr_assert_eq(tide_http_fetch(&req, &res), 0);
    cr_assert_eq(res.status, 200);
    cr_assert_str_eq(res.body, "hello world");
    cr_assert_null(tide_http_header(&res, "Location")); /* the final response's headers only */
    tide_http_response_free(&res);
    req.url = url(u, "/loop");
    cr_assert_eq(tide_http_fetch(&req, &res), -ELOOP);
    cr_assert_eq(res.body, NULL);
    req.url = url(u, "/toftp"); /* only http and https are followed */
    cr_assert_eq(tide_http_fetch(&req, &res), -EPROTONOSUPPORT);
    return 0;
}

Test(http, redirects_followed_only_when_asked) {
    run_main(redirects, NULL);
}

/* ---- failures -------------------------------------------------------------------------- */

static int timeouts(void *arg) {
    char u[256];
    tide_http_response_t res;
    for (int i = 0; i < 3; i++) {
        /* The request's own timeout... */
        tide_http_request_t req = {.url = url(u, "/slow"), .timeout_ns = TIDE_MSEC(100)};
        int64_t t0 = tide_now();
        cr_assert_eq(tide_http_fetch(&req, &res), -ETIMEDOUT);
        int64_t took = tide_now() - t0;
        cr_assert_geq(took, TIDE_MSEC(99));
        cr_assert_lt(took, TIDE_MSEC(2500), "waited for the server after all");
        cr_assert_null(res.body);
        /* ... and the caller's deadline scope. */
        tide_scope_t s;
        t0 = tide_now();
        tide_timeout_begin(&s, TIDE_MSEC(50));
        cr_assert_eq(tide_http_get(u, &res), -ETIMEDOUT);
        tide_scope_end(&s);
        took = tide_now() - t0;
        cr_assert_geq(took, TIDE_MSEC(50));
        cr_assert_lt(took, TIDE_MSEC(2500));
    }
    /* The client still works afterwards. */
    cr_assert_eq(tide_http_get(url(u, "/hello"), &res), 0);
    cr_assert_eq(res.status, 200);
    tide_http_response_free(&res);
    return 0;
}

Test(http, slow_server_times_out) {
    run_main(timeouts, NULL);
}

static int broken(void *arg) {
    char u[256];
    tide_http_response_t res;
    cr_assert_eq(tide_http_get(url(u, "/truncated"), &res), -ECONNRESET);
    cr_assert_null(res.body);
    cr_assert_eq(tide_http_get(url(u, "/nothing"), &res), -ECONNRESET);
    cr_assert_eq(tide_http_get(url(u, "/garbage"), &res), -EPROTO);

    /* A port nobody listens on. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    char refused[64];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%u/", ntohs(a.sin_port));
    cr_assert_eq(tide_http_get(refused, &res), -ECONNREFUSED);

    /* Unknown host. */
    cr_assert_eq(tide_http_get("http://no-such-host.invalid/", &res), -ENOENT);

    /* Bodies over the limit: known from Content-Length, or counted as they arrive. */
    tide_http_request_t req = {.url = url(u, "/big/100000"), .max_body = 50000};
    cr_assert_eq(tide_http_fetch(&req, &res), -EFBIG);
    req.max_body = 100000;
    cr_assert_eq(tide_http_fetch(&req, &res), 0);
    cr_assert_eq(res.body_len, 100000);
    for (size_t i = 0; i < res.body_len; i++) cr_assert_eq(res.body[i], (char)('a' + i % 26));
    tide_http_response_free(&res);

    /* Bad requests, refused before anything is sent. */
    cr_assert_eq(tide_http_get("not a url", &res), -EINVAL);
    cr_assert_eq(tide_http_get("http://", &res), -EINVAL);
    cr_assert_eq(tide_http_get("ftp://127.0.0.1/x", &res), -EPROTONOSUPPORT);
    cr_assert_eq(tide_http_get("file:///etc/passwd", &res), -EPROTONOSUPPORT);
    cr_assert_eq(tide_http_get(NULL, &res), -EINVAL);
    cr_assert_eq(tide_http_get(u, NULL), -EINVAL);
    cr_assert_eq(tide_http_fetch(NULL, &res), -EINVAL);
    tide_http_header_t evil[] = {{"X-A", "v\r\nInjected: yes"}};
    tide_http_request_t r2 = {.url = u, .headers = evil, .nheaders = 1};
    cr_assert_eq(tide_http_fetch(&r2, &res), -EINVAL);
    tide_http_header_t badname[] = {{"X A:", "v"}};
    r2.headers = badname;
    cr_assert_eq(tide_http_fetch(&r2, &res), -EINVAL);
    tide_http_header_t nullname[] = {{NULL, "v"}};
    r2.headers = nullname;
    cr_assert_eq(tide_http_fetch(&r2, &res), -EINVAL);
    r2.headers = NULL;
    cr_assert_eq(tide_http_fetch(&r2, &res), -EINVAL); /* nheaders without headers */
    tide_http_request_t r3 = {.url = u, .method = "GET /x HTTP/1.1\r\n"};
    cr_assert_eq(tide_http_fetch(&r3, &res), -EINVAL);
    tide_http_request_t r4 = {.url = u, .body_len = 5};
    cr_assert_eq(tide_http_fetch(&r4, &res), -EINVAL); /* a length without a body */
    return 0;
}

Test(http, error_paths_return_negative_errnos) {
    run_main(broken, NULL);
}

Test(http, outside_a_task_is_eperm) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_http_response_t res;
    cr_assert_eq(tide_http_get("http://127.0.0.1:1/", &res), -EPERM);
    tt_leaks_end(&l);
}

/* ---- concurrency ----------------------------------------------------------------------- */

static int one_fetch(void *arg) {
    uintptr_t i = (uintptr_t)arg;
    char u[256], body[64], hv[32];
    int bl = snprintf(body, sizeof body, "request number %lu", (unsigned long)i);
    snprintf(hv, sizeof hv, "h%lu", (unsigned long)i);
    tide_http_header_t h = {"X-Echo", hv};
    tide_http_request_t req = {.url = url(u, "/echo"), .headers = &h, .nheaders = 1,
                               .body = body, .body_len = (size_t)bl};
    tide_http_response_t res;
    tt_random_yields(3);
    int r = tide_http_fetch(&req, &res);
    if (r < 0) return r;
    cr_assert_eq(res.status, 200);
    cr_assert_str_eq(res.body, body);
    cr_assert_str_eq(tide_http_header(&res, "X-Echo"), hv);
    tide_http_response_free(&res);
    return 0;
}

static int concurrent(void *arg) {
    int n = TT_SCALE(500);
    tide_task_t *ts = calloc((size_t)n, sizeof *ts);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < n; i++)
            cr_assert_eq(tide_spawn(&ts[i], one_fetch, (void *)(uintptr_t)(i + round * n)), 0);
        for (int i = 0; i < n; i++) {
            int st = -1;
            cr_assert_eq(tide_join(ts[i], &st), 0);
            cr_assert_eq(st, 0, "fetch %d: %s", i, tide_strerror(st));
        }
    }
    free(ts);
    cr_assert_eq(atomic_load(&srv.requests), 2 * n);
    /* Connections were reused and bounded: never more than the per-host limit. */
    cr_assert_leq(atomic_load(&srv.conns), TIDE_HTTP_MAX_HOST_CONNS);
    return 0;
}

Test(http, hundreds_of_concurrent_requests) {
    run_main(concurrent, NULL);
}

static int slow_fetch(void *arg) {
    char u[256];
    tide_http_response_t res;
    int r = tide_http_get(url(u, (const char *)arg), &res);
    tide_http_response_free(&res);
    return r;
}

static int cancels(void *arg) {
    int iters = TT_SCALE(100);
    for (int i = 0; i < iters; i++) {
        /* Cancel a transfer at a random point: connecting, sending, waiting, receiving. */
        tide_task_t t;
        const char *path = i % 3 == 0 ? "/slow" : i % 3 == 1 ? "/big/2000000" : "/hello";
        cr_assert_eq(tide_spawn(&t, slow_fetch, (void *)path), 0);
        if (tt_rand() % 2) tide_sleep(TIDE_USEC(tt_rand() % 2000));
        else tt_random_yields(5);
        cr_assert_eq(tide_cancel(t), 0);
        int st = 1;
        cr_assert_eq(tide_join(t, &st), 0);
        /* Finished before the cancel, or cancelled; never anything else. */
        cr_assert(st == 0 || st == -ECANCELED, "status %s", tide_strerror(st));
        if (i % 3 == 0) cr_assert_eq(st, -ECANCELED);

        /* And a deadline in the middle of a transfer. */
        tide_scope_t s;
        tide_timeout_begin(&s, TIDE_USEC(tt_rand() % 3000));
        char u[256];
        tide_http_response_t res;
        int r = tide_http_get(url(u, "/big/1000000"), &res);
        tide_scope_end(&s);
        cr_assert(r == 0 || r == -ETIMEDOUT, "status %s", tide_strerror(r));
        if (r == 0) {
            cr_assert_eq(res.body_len, 1000000);
            tide_http_response_free(&res);
        }
    }
    /* All that left the client healthy. */
    char u[256];
    tide_http_response_t res;
    cr_assert_eq(tide_http_get(url(u, "/hello"), &res), 0);
    cr_assert_str_eq(res.body, "hello world");
    tide_http_response_free(&res);
    return 0;
}

Test(http, cancels_and_deadlines_mid_transfer_leave_nothing) {
    run_main(cancels, NULL);
}
