/* examples/http_hello as a hostile client sees it (the test starts the built program; set
 * HTTP_HELLO_BIN to try another build): answers and pipelining (also a request sent a byte at
 * a time), 431 for an oversized head, 400 for garbage and for the request-smuggling shapes,
 * idle keep-alive connections closed after the idle timeout, a slowloris cut at the header
 * timeout, 10,000 idle connections held while a new request is answered at once, and a clean
 * exit on SIGTERM (the drain). Plain blocking sockets with poll(2) on the client side. */
#include "testutil.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char OK[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         "Content-Length: 13\r\n\r\nHello, World!";
#define OK_LEN (sizeof OK - 1)
static const char GET[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
#define GET_LEN (sizeof GET - 1)

static int64_t now_ms(void) {
    return tt_mono_ns() / 1000000;
}

/* Sanitizer builds of the server run several times slower. */
#define SLACK_MS(ms) (TT_SLACK((int64_t)(ms) * 1000000) / 1000000)

typedef struct hello {
    pid_t pid;
    uint16_t port;
} hello_t;

/* Start http_hello on a free port with extra environment settings (NULL-terminated). */
static void hello_start(hello_t *h, const char *const *env) {
    const char *bin = getenv("HTTP_HELLO_BIN");
#ifdef HTTP_HELLO_BIN
    if (!bin) bin = HTTP_HELLO_BIN;
#endif
    if (!bin) cr_skip_test("examples not built");
    int out[2];
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    size_t n = 0, k = 0;
    while (environ[n]) n++;
    while (env && env[k]) k++;
    char **envp = calloc(n + k + 1, sizeof *envp);
    cr_assert_not_null(envp);
    for (size_t i = 0; i < k; i++) envp[i] = (char *)env[i]; /* ours first: getenv finds them */
    for (size_t i = 0; i < n; i++) envp[k + i] = environ[i];
    const char *port = getenv("HTTP_HELLO_PORT"); /* for builds that cannot report port 0 */
    char *argv[] = {(char *)bin, (char *)(port ? port : "0"), "2", NULL};
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* The server dies with the test, also when an assertion ends the test early. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out[1], 1);
        execve(bin, argv, envp);
        _exit(127);
    }
    h->pid = pid;
    free(envp);
    close(out[1]);
    /* "listening on 127.0.0.1:PORT" */
    char line[128];
    size_t got = 0;
    int64_t end = now_ms() + SLACK_MS(10000);
    while (got < sizeof line - 1 && !memchr(line, '\n', got) && now_ms() < end) {
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t m = read(out[0], line + got, sizeof line - 1 - got);
        if (m <= 0) break;
        got += (size_t)m;
    }
    close(out[0]);
    line[got] = 0;
    char *colon = strrchr(line, ':');
    cr_assert_not_null(colon, "no port from http_hello: '%s'", line);
    h->port = port ? (uint16_t)atoi(port) : (uint16_t)atoi(colon + 1);
    cr_assert_gt(h->port, 0);
}

/* SIGTERM: the server drains and exits 0 within a few seconds. */
static void hello_stop(hello_t *h) {
    kill(h->pid, SIGTERM);
    int st = 0;
    int64_t end = now_ms() + SLACK_MS(10000);
    pid_t w;
    while ((w = waitpid(h->pid, &st, WNOHANG)) == 0 && now_ms() < end) usleep(5000);
    if (w == 0) {
        kill(h->pid, SIGKILL);
        waitpid(h->pid, &st, 0);
        cr_assert_fail("http_hello did not stop on SIGTERM");
    }
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "http_hello exit status %#x", st);
}

static int dial(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        cr_assert_gt(w, 0, "send: %s", strerror(errno));
        c += w;
        n -= (size_t)w;
    }
}

/* Read into buf until want bytes, end of stream or timeout. Returns the bytes read; *eof is
 * set at end of stream (or reset). */
static size_t read_for(int fd, char *buf, size_t want, int64_t ms, int *eof) {
    size_t got = 0;
    int64_t end = now_ms() + ms;
    *eof = 0;
    while (got < want) {
        int64_t left = end - now_ms();
        if (left <= 0) break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0) continue;
        ssize_t m = recv(fd, buf + got, want - got, 0);
        if (m <= 0) {
            *eof = 1;
            break;
        }
        got += (size_t)m;
    }
    return got;
}

/* Expect n answers of "Hello, World!". */
static void expect_ok(int fd, int n) {
    static char buf[64 * OK_LEN];
    cr_assert_leq((size_t)n * OK_LEN, sizeof buf);
    int eof;
    size_t got = read_for(fd, buf, (size_t)n * OK_LEN, SLACK_MS(5000), &eof);
    cr_assert_eq(got, (size_t)n * OK_LEN, "got %zu of %d answers' bytes (eof %d)", got, n, eof);
    for (int i = 0; i < n; i++) cr_assert_eq(memcmp(buf + (size_t)i * OK_LEN, OK, OK_LEN), 0);
}

/* Expect an answer starting with "HTTP/1.1 <status>", then the end of the stream. */
static void expect_status_and_close(int fd, int status) {
    char buf[1024];
    int eof;
    size_t got = read_for(fd, buf, sizeof buf - 1, SLACK_MS(5000), &eof);
    buf[got] = 0;
    char want[32];
    snprintf(want, sizeof want, "HTTP/1.1 %d ", status);
    cr_assert_eq(strncmp(buf, want, strlen(want)), 0, "want %d, got '%s'", status, buf);
    cr_assert(eof, "connection left open after %d", status);
}

/* ---- answers ---------------------------------------------------------------------------- */

Test(http_hello, answers_and_pipelines, .timeout = 120) {
    tt_leaks_t lk;
    tt_leaks_begin(&lk);
    hello_t h;
    hello_start(&h, NULL);
    int fd = dial(h.port);
    send_all(fd, GET, GET_LEN);
    expect_ok(fd, 1);
    /* Ten pipelined requests in one write, answered in order. */
    char many[10 * GET_LEN];
    for (int i = 0; i < 10; i++) memcpy(many + i * GET_LEN, GET, GET_LEN);
    send_all(fd, many, sizeof many);
    expect_ok(fd, 10);
    /* Two requests sent a byte at a time. */
    for (size_t i = 0; i < 2 * GET_LEN; i++) {
        send_all(fd, many + i, 1);
        usleep(1000);
    }
    expect_ok(fd, 2);
    /* A request with a body, then one more. */
    const char post[] = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n"
                        "Host: a\r\n\r\n";
    send_all(fd, post, sizeof post - 1);
    expect_ok(fd, 2);
    /* "Connection: close": answered, then closed. */
    const char bye[] = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    send_all(fd, bye, sizeof bye - 1);
    char buf[512];
    int eof;
    size_t got = read_for(fd, buf, sizeof buf, SLACK_MS(5000), &eof);
    cr_assert(eof);
    cr_assert_gt(got, 0);
    cr_assert_eq(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17), 0);
    cr_assert_not_null(memmem(buf, got, "Connection: close", 17));
    close(fd);
    hello_stop(&h);
    tt_leaks_end(&lk);
}

/* A request longer than the buffer a connection starts with (2 KiB on its stack) is taken
 * whole, sent at once or in pieces, and the connection goes on serving after it. */
static size_t big_request(char *out, size_t size, size_t header_bytes, const char *tail) {
    int n = snprintf(out, size, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(out + n, 'a', header_bytes);
    size_t len = (size_t)n + header_bytes;
    len += (size_t)snprintf(out + len, size - len, "\r\n\r\n%s", tail);
    return len;
}

Test(http_hello, answers_a_request_larger_than_the_first_buffer, .timeout = 120) {
    tt_leaks_t lk;
    tt_leaks_begin(&lk);
    hello_t h;
    hello_start(&h, NULL);
    static char req[16384];
    /* A 6 KB head (the limit is 8 KB) with a plain request pipelined behind it. */
    size_t len = big_request(req, sizeof req, 6000, GET);
    int fd = dial(h.port);
    send_all(fd, req, len);
    expect_ok(fd, 2);
    send_all(fd, GET, GET_LEN);
    expect_ok(fd, 1);
    close(fd);
    /* The same in 700-byte pieces: the buffer fills and grows while the head comes in. */
    fd = dial(h.port);
    for (size_t off = 0; off < len; off += 700) {
        send_all(fd, req + off, len - off < 700 ? len - off : 700);
        usleep(2000);
    }
    expect_ok(fd, 2);
    /* A body of 7,000 bytes (the body limit is 8 KB), then a plain request. */
    int n = snprintf(req, sizeof req,
                     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7000\r\n\r\n");
    memset(req + n, 'b', 7000);
    memcpy(req + n + 7000, GET, GET_LEN);
    send_all(fd, req, (size_t)n + 7000 + GET_LEN);
    expect_ok(fd, 2);
    close(fd);
    /* A head just over the limit is still refused whole. */
    len = big_request(req, sizeof req, 8300, "");
    fd = dial(h.port);
    send_all(fd, req, len);
    expect_status_and_close(fd, 431);
    close(fd);
    hello_stop(&h);
    tt_leaks_end(&lk);
}

/* ---- refusals --------------------------------------------------------------------------- */

static void refused(uint16_t port, const char *req, size_t len, int status) {
    int fd = dial(port);
    send_all(fd, req, len);
    expect_status_and_close(fd, status);
    close(fd);
}

Test(http_hello, refuses_bad_requests, .timeout = 120) {
    tt_leaks_t lk;
    tt_leaks_begin(&lk);
    hello_t h;
    hello_start(&h, NULL);
    /* A 100 KB header: 431, read by the client despite the rest it keeps sending. */
    static char big[100 * 1024];
    int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(big + n, 'a', sizeof big - (size_t)n - 4);
    memcpy(big + sizeof big - 4, "\r\n\r\n", 4);
    refused(h.port, big, sizeof big, 431);
    /* Garbage, and a TLS hello on the plain port. */
    refused(h.port, "garbage\r\n\r\n", 11, 400);
    refused(h.port, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11, 400);
    /* Issue 11's parser shapes: an empty Content-Length followed by "12: x" (the old parser
     * waited for a 12-byte body), and two Content-Lengths (the last won). */
    const char empty_cl[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n12: x\r\n\r\n";
    refused(h.port, empty_cl, sizeof empty_cl - 1, 400);
    const char two_cl[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 5\r\n"
                          "\r\nhello";
    refused(h.port, two_cl, sizeof two_cl - 1, 400);
    const char cl_te[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: "
                         "chunked\r\n\r\n0\r\n\r\n";
    refused(h.port, cl_te, sizeof cl_te - 1, 400);
    const char fold[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n";
    refused(h.port, fold, sizeof fold - 1, 400);
    /* A good request before a bad one in the same write is answered first. */
    int fd = dial(h.port);
    char two[256];
    int m = snprintf(two, sizeof two, "%sGET / HTTP/1.1\r\nHost : a\r\n\r\n", GET);
    send_all(fd, two, (size_t)m);
    expect_ok(fd, 1);
    expect_status_and_close(fd, 400);
    close(fd);
    /* Still serving. */
    fd = dial(h.port);
    send_all(fd, GET, GET_LEN);
    expect_ok(fd, 1);
    close(fd);
    hello_stop(&h);
    tt_leaks_end(&lk);
}

/* ---- timeouts --------------------------------------------------------------------------- */

Test(http_hello, closes_idle_keepalive, .timeout = 120) {
    tt_leaks_t lk;
    tt_leaks_begin(&lk);
    hello_t h;
    const char *env[] = {"SERVE_IDLE_MS=300", "SERVE_HEADER_MS=5000", NULL};
    hello_start(&h, env);
    int fd = dial(h.port);
    int64_t t0 = 0;
    /* Requests within the idle timeout keep it open: 400 ms in all, so the idle time runs
     * from the last request, not the first; each gap leaves 200 ms for a loaded machine. */
    for (int i = 0; i < 5; i++) {
        if (i) usleep(100 * 1000);
        t0 = now_ms(); /* the server cannot start the idle time before it has the request */
        send_all(fd, GET, GET_LEN);
        expect_ok(fd, 1);
    }
    char b[16];
    int eof;
    read_for(fd, b, sizeof b, SLACK_MS(5000), &eof);
    int64_t took = now_ms() - t0;
    cr_assert(eof, "idle connection not closed");
    /* Not before the timeout, less the server's coarse clock (a tick behind) and rounding. */
    cr_assert_geq(took, 280, "closed after %lld ms", (long long)took);
    cr_assert_lt(took, SLACK_MS(2000), "closed after %lld ms", (long long)took);
    close(fd);
    hello_stop(&h);
    tt_leaks_end(&lk);
}

Test(http_hello, cuts_slowloris, .timeout = 120) {
    tt_leaks_t lk;
    tt_leaks_begin(&lk);
    hello_t h;
    const char *env[] = {"SERVE_IDLE_MS=60000", "SERVE_HEADER_MS=1000", NULL};
    hello_start(&h, env);
    /* Several clients, each trickling a header line every 200 ms and never ending the head. */
    enum { SLOW = 5 };
    int fd[SLOW];
    for (int i = 0; i < SLOW; i++) {
        fd[i] = dial(h.port);
        send_all(fd[i], "GET / HTTP/1.1\r\n", 16);
    }
    int64_t t0 = now_ms();
    int open = SLOW, closed_at[SLOW] = {0};
    while (open > 0 && now_ms() - t0 < SLACK_MS(10000)) {
        for (int i = 0; i < SLOW; i++) {
            if (closed_at[i]) continue;
            struct pollfd p = {.fd = fd[i], .events = POLLIN};
            if (poll(&p, 1, 0) > 0) { /* the 408, or the end */
                char b[512];
                if (recv(fd[i], b, sizeof b, 0) > 0) continue;
                closed_at[i] = (int)(now_ms() - t0);
                open--;
                continue;
            }
            if (send(fd[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) < 0) {
                closed_at[i] = (int)(now_ms() - t0);
                open--;
            }
        }
        usleep(200 * 1000);
    }
    cr_assert_eq(open, 0, "a slowloris client was held for %lld ms", (long long)(now_ms() - t0));
    for (int i = 0; i < SLOW; i++) {
        cr_assert_geq(closed_at[i], 800);
        cr_assert_lt(closed_at[i], SLACK_MS(3000));
        close(fd[i]);
    }
    /* Ordinary requests still go through. */
    int c = dial(h.port);
    send_all(c, GET, GET_LEN);
    expect_ok(c, 1);
    close(c);
    hello_stop(&h);
    tt_leaks_end(&lk);
}

/* ---- many idle connections -------------------------------------------------------------- */

Test(http_hello, holds_10000_idle_connections, .timeout = 300) {
    tt_leaks_t lk;
    tt_leaks_begin(&lk);
    /* 10,000 in release builds; fewer under the sanitizers (TSan allows ~8,000 fibers). */
    int conns = TT_LIVE(10000);
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    struct rlimit saved = rl;
    if (rl.rlim_cur < (rlim_t)conns + 100) {
        if (rl.rlim_max < (rlim_t)conns + 100) cr_skip_test("RLIMIT_NOFILE hard limit too low");
        rl.rlim_cur = (rlim_t)conns + 100;
        cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    hello_t h;
    const char *env[] = {"SERVE_IDLE_MS=120000", "SERVE_HEADER_MS=120000", NULL};
    hello_start(&h, env);
    int *fd = calloc((size_t)conns, sizeof *fd);
    cr_assert_not_null(fd);
    /* Each makes a request (so it is a kept-alive connection), then idles. */
    for (int i = 0; i < conns; i++) {
        fd[i] = dial(h.port);
        send_all(fd[i], GET, GET_LEN);
    }
    for (int i = 0; i < conns; i++) expect_ok(fd[i], 1);

    /* A new connection's request is answered at once. The median of five: a server that
     * walks its idle connections per request is slow every time, a loaded machine now and
     * then. */
    int64_t took[5];
    for (int k = 0; k < 5; k++) {
        int64_t t0 = now_ms();
        int c = dial(h.port);
        send_all(c, GET, GET_LEN);
        expect_ok(c, 1);
        close(c);
        took[k] = now_ms() - t0;
    }
    for (int i = 1; i < 5; i++) /* insertion sort */
        for (int j = i; j > 0 && took[j - 1] > took[j]; j--) {
            int64_t x = took[j];
            took[j] = took[j - 1];
            took[j - 1] = x;
        }
    cr_log_info("%d idle connections: fresh requests took %lld ms (median), %lld ms (worst)",
                conns, (long long)took[2], (long long)took[4]);
    cr_assert_lt(took[2], SLACK_MS(200), "requests took %lld ms (median of 5)",
                 (long long)took[2]);

    /* All still open, and served when they speak again. */
    for (int i = 0; i < conns; i++) {
        struct pollfd p = {.fd = fd[i], .events = POLLIN};
        cr_assert_eq(poll(&p, 1, 0), 0, "idle connection %d was closed", i);
    }
    for (int i = 0; i < conns; i += conns / 100) {
        send_all(fd[i], GET, GET_LEN);
        expect_ok(fd[i], 1);
    }
    /* SIGTERM drains: the idle connections are closed at once, the server exits 0. */
    int64_t t0 = now_ms();
    hello_stop(&h);
    cr_log_info("drained %d idle connections in %lld ms", conns, (long long)(now_ms() - t0));
    for (int i = 0; i < conns; i++) {
        char b;
        int eof;
        read_for(fd[i], &b, 1, SLACK_MS(2000), &eof);
        cr_assert(eof, "connection %d not closed by the drain", i);
        close(fd[i]);
    }
    free(fd);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    tt_leaks_end(&lk);
}
