/* subprocess: asyncio.create_subprocess_exec in C. Runs a command and reads its output, then
 * feeds a filter program through its stdin while reading its stdout, and shows the exit
 * status of a failing and of a killed child.
 *
 *   subprocess [COMMAND [ARG ...]]      (default: ls -l /)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide.h"

typedef struct feed {
    tide_process_t *p; /* the child */
    const char *text;  /* what to write to its stdin */
} feed_t;

static int feeder(void *arg) {
    feed_t *f = arg;
    ssize_t r = tide_process_write(f->p, f->text, strlen(f->text));
    if (r < 0) return (int)r;
    return tide_process_close_stdin(f->p); /* the child sees end of file */
}

static int main_task(void *arg) {
    char **argv = arg;
    /* 1. Run a command, collect its stdout (subprocess.check_output). */
    char *out;
    size_t len;
    int code;
    int r = tide_process_output(argv, &out, &len, &code);
    if (r < 0) {
        printf("%s: %s\n", argv[0], tide_strerror(r));
        return r;
    }
    printf("--- %s wrote %zu bytes and exited with %d:\n%s", argv[0], len, code, out);
    free(out);

    /* 2. A filter: one task writes its stdin while this one reads its stdout (doing both from
     * one task could deadlock once the pipes fill up). */
    char *tr[] = {"tr", "a-z", "A-Z", NULL};
    tide_process_opts_t o = {.argv = tr, .stdin_mode = TIDE_STDIO_PIPE,
                             .stdout_mode = TIDE_STDIO_PIPE};
    tide_process_t *p;
    if ((r = tide_process_spawn(&p, &o)) < 0) return r;
    feed_t f = {p, "hello from a tide task\n"};
    tide_task_t t;
    if ((r = tide_spawn(&t, feeder, &f)) < 0) goto out;
    r = tide_process_read_all(p, TIDE_STDOUT, &out, &len, 1 << 20);
    int fed;
    tide_join(t, &fed);
    if (r < 0) goto out;
    printf("--- tr pid %d turned it into: %s", (int)tide_process_pid(p), out);
    free(out);
    tide_process_wait(p, &code, NULL);
    tide_process_close(p);

    /* 3. Exit codes and signals. */
    char *fail[] = {"sh", "-c", "exit 7", NULL};
    tide_process_output(fail, NULL, NULL, &code);
    printf("--- sh -c 'exit 7' exited with %d\n", code);
    char *sl[] = {"sleep", "60", NULL};
    tide_process_opts_t so = {.argv = sl};
    if ((r = tide_process_spawn(&p, &so)) < 0) return r;
    tide_sleep(TIDE_MSEC(50));
    tide_process_kill(p, SIGTERM);
    int sig;
    tide_process_wait(p, &code, &sig);
    printf("--- sleep 60 was stopped by signal %d (%s)\n", sig, strsignal(sig));
    r = 0;
out:
    tide_process_close(p);
    return r;
}

int main(int argc, char **argv) {
    char *dflt[] = {"ls", "-l", "/", NULL};
    int r = tide_run(main_task, argc > 1 ? argv + 1 : dflt);
    if (r < 0) fprintf(stderr, "subprocess: %s\n", tide_strerror(r));
    return r < 0;
}
