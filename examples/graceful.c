/* graceful: graceful shutdown on SIGINT or SIGTERM. Worker tasks serve "requests" (here:
 * ticks of work) until a task waiting for the signal cancels them; each worker finishes its
 * current request and says goodbye, and the program exits cleanly.
 *
 *   graceful [SECONDS]      (with SECONDS, it sends itself SIGTERM after that long)
 *
 * The watcher is opened before the workers start, so a signal that comes early is not lost
 * (and does not kill the process: while a watcher is open, the signal's default action is
 * replaced by delivery to it). */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tide.h"

#define WORKERS 4

static _Atomic long served;

static int worker(void *arg) {
    int id = (int)(intptr_t)arg;
    long mine = 0;
    for (;;) {
        /* A request: 10 ms of waiting on something. */
        int r = tide_sleep(TIDE_MSEC(10));
        if (r == -ECANCELED) break;
        mine++;
        atomic_fetch_add(&served, 1);
    }
    /* Cleanup that must finish even though we were cancelled: shielded. */
    TIDE_WITH_SHIELD(tide_sleep(TIDE_MSEC(5))); /* say, flush a log */
    printf("worker %d: served %ld requests, bye\n", id, mine);
    return 0;
}

static int alarm_task(void *arg) {
    int secs = (int)(intptr_t)arg;
    if (tide_sleep(TIDE_SEC(secs)) == 0) kill(getpid(), SIGTERM);
    return 0;
}

static int main_task(void *arg) {
    int secs = (int)(intptr_t)arg;
    int sigs[] = {SIGINT, SIGTERM};
    tide_signal_t *s;
    int r = tide_signal_open(&s, sigs, 2);
    if (r < 0) return r;
    tide_task_t ws[WORKERS], alarm = TIDE_TASK_NONE;
    for (int i = 0; i < WORKERS; i++) tide_spawn(&ws[i], worker, (void *)(intptr_t)i);
    if (secs > 0) tide_spawn(&alarm, alarm_task, (void *)(intptr_t)secs);
    printf("serving (pid %d); press Ctrl-C or send SIGTERM to stop\n", (int)getpid());
    fflush(stdout);

    int sig = tide_signal_wait(s);
    printf("got %s after %ld requests: shutting down\n", sig > 0 ? strsignal(sig) : "error",
           atomic_load(&served));
    for (int i = 0; i < WORKERS; i++) tide_cancel(ws[i]);
    for (int i = 0; i < WORKERS; i++) tide_join(ws[i], NULL);
    if (secs > 0) {
        tide_cancel(alarm);
        tide_join(alarm, NULL);
    }
    tide_signal_close(s);
    printf("clean exit\n");
    return 0;
}

int main(int argc, char **argv) {
    int secs = argc > 1 ? atoi(argv[1]) : 0;
    int r = tide_run(main_task, (void *)(intptr_t)secs);
    if (r < 0) fprintf(stderr, "graceful: %s\n", tide_strerror(r));
    return r < 0;
}
