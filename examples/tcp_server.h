/* The skeleton shared by the example servers: `PROGRAM PORT [WORKERS]`, listen on
 * 127.0.0.1:PORT, one detached task per connection running `conn`, until SIGINT or SIGTERM.
 *
 * The accepting task and a task waiting for the signal run in a task group: the signal makes
 * the waiter fail, the group cancels the accept loop, and freeing the runtime then cancels the
 * connections (their blocking calls return -ECANCELED, so they unwind and close). */
#ifndef TIDE_EXAMPLES_TCP_SERVER_H
#define TIDE_EXAMPLES_TCP_SERVER_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "tide.h"

typedef struct tcp_server {
    const char *name;        /* program name, for messages */
    unsigned port;
    int (*conn)(void *conn); /* runs once per connection, gets the tide_tcp_t * */
} tcp_server_t;

static int tcp_server_accept_loop(void *arg) {
    tcp_server_t *s = arg;
    tide_tcp_t *l;
    tide_tcp_listen_opts_t lo = {.backlog = 4096};
    int r = tide_tcp_listen(&l, "127.0.0.1", (uint16_t)s->port, &lo);
    if (r < 0) {
        fprintf(stderr, "%s: listen on 127.0.0.1:%u: %s\n", s->name, s->port, tide_strerror(r));
        return r;
    }
    printf("listening on 127.0.0.1:%u\n", s->port);
    fflush(stdout);
    tide_spawn_opts_t so = {.name = "conn", .detached = 1};
    for (;;) {
        tide_tcp_t *c;
        r = tide_tcp_accept(l, &c, NULL);
        if (r == -ECANCELED) break;
        if (r < 0) { /* out of descriptors, say: accept already backs off; report and go on */
            fprintf(stderr, "%s: accept: %s\n", s->name, tide_strerror(r));
            continue;
        }
        tide_tcp_nodelay(c, 1);
        if (tide_spawn_opts(NULL, s->conn, c, &so) < 0) tide_tcp_close(c);
    }
    tide_tcp_close(l);
    return 0;
}

/* Returns -EINTR at SIGINT or SIGTERM: the failure makes the group cancel the server. */
static int tcp_server_until_signal(void *arg) {
    int sigs[] = {SIGINT, SIGTERM};
    int r = tide_signal_wait_for(sigs, 2);
    return r < 0 ? r : -EINTR;
}

static int tcp_server_main_task(void *arg) {
    tide_group_t *g;
    int r = tide_group_new(&g);
    if (r < 0) return r;
    tide_spawn_opts_t accept = {.name = "accept"}, signals = {.name = "signals"};
    if ((r = tide_group_spawn(g, tcp_server_accept_loop, arg, &accept)) == 0)
        r = tide_group_spawn(g, tcp_server_until_signal, NULL, &signals);
    if (r == 0) r = tide_group_wait(g);
    else tide_group_cancel(g);
    tide_group_free(g);
    return r == -EINTR ? 0 : r; /* stopped by a signal: a clean exit */
}

/* main() of an example server. */
static int tcp_server_run(const char *name, int argc, char **argv, int (*conn)(void *)) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s PORT [WORKERS]\n", argv[0]);
        return 2;
    }
    tcp_server_t s = {.name = name, .port = (unsigned)strtoul(argv[1], NULL, 10), .conn = conn};
    tide_config_t cfg;
    tide_config_init(&cfg);
    if (argc == 3) cfg.workers = (unsigned)strtoul(argv[2], NULL, 10);
    int r = tide_run_config(&cfg, tcp_server_main_task, &s);
    if (r < 0) fprintf(stderr, "%s: %s\n", name, tide_strerror(r));
    return r == 0 ? 0 : 1;
}

#endif
