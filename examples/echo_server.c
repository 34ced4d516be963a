/* echo_server: TCP echo on tide, one task per connection.
 *
 *   echo_server PORT [WORKERS]
 *
 * Listens on 127.0.0.1:PORT and sends back whatever each client sends, until it closes.
 * SIGINT or SIGTERM stops it: a thread waiting for the signal cancels the accepting task, and
 * freeing the runtime cancels the connections. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "tide.h"

static int echo(void *arg) {
    tide_tcp_t *c = arg;
    char buf[16384];
    ssize_t n;
    while ((n = tide_tcp_read(c, buf, sizeof buf)) > 0)
        if (tide_tcp_write_all(c, buf, (size_t)n, NULL) < 0) break;
    tide_tcp_close(c);
    return 0;
}

static int serve(void *arg) {
    unsigned port = *(unsigned *)arg;
    tide_tcp_t *l;
    tide_tcp_listen_opts_t lo = {.backlog = 4096};
    int r = tide_tcp_listen(&l, "127.0.0.1", (uint16_t)port, &lo);
    if (r < 0) {
        fprintf(stderr, "echo_server: listen on 127.0.0.1:%u: %s\n", port, tide_strerror(r));
        return r;
    }
    printf("listening on 127.0.0.1:%u\n", port);
    fflush(stdout);
    tide_spawn_opts_t so = {.name = "echo conn", .detached = 1};
    for (;;) {
        tide_tcp_t *c;
        r = tide_tcp_accept(l, &c, NULL);
        if (r == -ECANCELED) break;
        if (r < 0) {
            fprintf(stderr, "echo_server: accept: %s\n", tide_strerror(r));
            tide_sleep(TIDE_MSEC(10));
            continue;
        }
        tide_tcp_nodelay(c, 1);
        if (tide_spawn_opts(NULL, echo, c, &so) < 0) tide_tcp_close(c);
    }
    tide_tcp_close(l);
    return 0;
}

static void *wait_signal(void *arg) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig;
    if (sigwait(&set, &sig) == 0) tide_cancel(*(tide_task_t *)arg);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT [WORKERS]\n", argv[0]);
        return 2;
    }
    unsigned port = (unsigned)strtoul(argv[1], NULL, 10);
    tide_config_t cfg;
    tide_config_init(&cfg);
    if (argc == 3) cfg.workers = (unsigned)strtoul(argv[2], NULL, 10);

    /* A shell starts background jobs with SIGINT ignored, and an ignored signal is dropped
     * before sigwait could see it: take the default disposition back, then block. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread but wait_signal's use */

    tide_runtime_t *rt;
    int r = tide_runtime_new(&rt, &cfg);
    if (r < 0) {
        fprintf(stderr, "echo_server: %s\n", tide_strerror(r));
        return 1;
    }
    tide_task_t server;
    tide_spawn_opts_t so = {.name = "accept"};
    r = tide_runtime_spawn(rt, &server, serve, &port, &so);
    if (r == 0) {
        pthread_t sig_thread;
        pthread_create(&sig_thread, NULL, wait_signal, &server);
        tide_join(server, &r);
        pthread_cancel(sig_thread);
        pthread_join(sig_thread, NULL);
    }
    tide_runtime_free(rt);
    return r == 0 ? 0 : 1;
}
