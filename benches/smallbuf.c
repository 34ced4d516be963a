/* A large write through a small send buffer, over loopback: the time for MB megabytes (default
 * 1) written by one task with tide_tcp_write_all and read by another with tide_tcp_read_exact,
 * or (argument "pair") by a blocking pair of threads, the reference. Built as
 * <build>/benches/tide-smallbuf (docs/benchmarks.md, "A large write through a small buffer"):
 *
 *   W=2 build/rel/benches/tide-smallbuf tide 4096 0   # SO_SNDBUF 4 KB, receive buffer as it comes
 *   build/rel/benches/tide-smallbuf pair 4096 4096    # both 4 KB (SO_RCVBUF set before the handshake)
 *
 * Prints "<ms> ms ok=<1 if the bytes arrived intact>" (the time of the transfer only). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "tide.h"

static size_t len = (size_t)1 << 20;
static int snd, rcv;               /* SO_SNDBUF of the writer, SO_RCVBUF of the reader (0: as is) */
static uint8_t *out, *in;
static tide_tcp_t *tw, *tr;        /* tide: writing and reading ends */
static int pw = -1;                /* pair: the writing end */
static int idle_ms = 5;            /* between the handshake and the transfer (env IDLE_MS): a
                                      connection fresh from its handshake acknowledges at once
                                      for a while (quick-ack mode), and hides the stalls */

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int tide_writer(void *a) {
    (void)a;
    return tide_tcp_write_all(tw, out, len, NULL) < 0;
}

static int tide_main(void *a) {
    (void)a;
    tide_tcp_t *l;
    if (tide_tcp_listen(&l, "127.0.0.1", 0, NULL) < 0) return 1;
    tide_addr_t ad;
    tide_tcp_local_addr(l, &ad);
    /* On the listener, before the handshake: the window scale then suits the buffer. */
    if (rcv) setsockopt(tide_tcp_fd(l), SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    if (tide_tcp_connect(&tw, "127.0.0.1", tide_addr_port(&ad)) < 0) return 1;
    if (tide_tcp_accept(l, &tr, NULL) < 0) return 1;
    tide_tcp_close(l);
    if (snd) setsockopt(tide_tcp_fd(tw), SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
    tide_sleep(TIDE_MSEC(idle_ms));
    double t0 = now_ms();
    tide_task_t w;
    tide_spawn(&w, tide_writer, NULL);
    size_t got;
    tide_tcp_read_exact(tr, in, len, &got);
    double t1 = now_ms();
    tide_join(w, NULL);
    printf("%.1f ms ok=%d\n", t1 - t0, memcmp(in, out, len) == 0);
    tide_tcp_close(tw);
    tide_tcp_close(tr);
    return 0;
}

static void *pair_writer(void *a) {
    (void)a;
    for (size_t d = 0; d < len;) {
        ssize_t r = send(pw, out + d, len - d, MSG_NOSIGNAL);
        if (r <= 0) break;
        d += (size_t)r;
    }
    return NULL;
}

static int pair_main(void) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(l, (void *)&a, sizeof a) < 0 || listen(l, 8) < 0) return 1;
    getsockname(l, (void *)&a, &al);
    if (rcv) setsockopt(l, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    pw = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(pw, (void *)&a, sizeof a) < 0) return 1;
    int r = accept(l, NULL, NULL);
    if (snd) setsockopt(pw, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
    struct timespec idle = {.tv_sec = idle_ms / 1000, .tv_nsec = (long)(idle_ms % 1000) * 1000000};
    nanosleep(&idle, NULL);
    double t0 = now_ms();
    pthread_t t;
    pthread_create(&t, NULL, pair_writer, NULL);
    size_t g = 0;
    while (g < len) {
        ssize_t n = recv(r, in + g, len - g, 0);
        if (n <= 0) break;
        g += (size_t)n;
    }
    double t1 = now_ms();
    pthread_join(t, NULL);
    printf("%.1f ms ok=%d\n", t1 - t0, g == len && memcmp(in, out, len) == 0);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s tide|pair [SO_SNDBUF [SO_RCVBUF]] (env MB, W)\n", argv[0]);
        return 2;
    }
    snd = argc > 2 ? atoi(argv[2]) : 4096;
    rcv = argc > 3 ? atoi(argv[3]) : 0;
    if (getenv("MB")) len = (size_t)atoi(getenv("MB")) << 20;
    if (getenv("IDLE_MS")) idle_ms = atoi(getenv("IDLE_MS"));
    out = malloc(len);
    in = malloc(len);
    for (size_t i = 0; i < len; i++) out[i] = (uint8_t)(i * 7 + (i >> 13));
    if (strcmp(argv[1], "pair") == 0) return pair_main();
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.workers = getenv("W") ? (unsigned)atoi(getenv("W")) : 2;
    return tide_run_config(&cfg, tide_main, NULL);
}
