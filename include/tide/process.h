/* tide — child processes, asyncio.create_subprocess_exec-style: spawn a program with its
 * arguments, environment and working directory, talk to it through pipes on its stdin, stdout
 * and stderr, wait for its exit status, send it signals.
 *
 *   char *argv[] = {"ls", "-l", NULL};
 *   tide_process_opts_t o = {.argv = argv, .stdout_mode = TIDE_STDIO_PIPE};
 *   tide_process_t *p;
 *   tide_process_spawn(&p, &o);
 *   char *out; size_t len;
 *   tide_process_read_all(p, TIDE_STDOUT, &out, &len);
 *   int code, sig;
 *   tide_process_wait(p, &code, &sig);
 *   tide_process_close(p);
 *
 * The child is started and reaped by the runtime's I/O driver; every call suspends only the
 * calling task. All functions are task-only: from a plain thread they return -EPERM (except
 * tide_process_pid). Errors every blocking call can return besides its own: -ETIMEDOUT (the
 * caller's deadline scope), -ECANCELED (the caller was cancelled), -ENOMEM. Calls marked
 * "never interrupted" ignore deadlines and cancels; the others, made by a task already
 * cancelled or past its deadline, return at once and start nothing. */
#ifndef TIDE_PROCESS_H
#define TIDE_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

#include "tide/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What one of the child's standard descriptors is connected to. */
enum {
    TIDE_STDIO_INHERIT = 0, /* the parent's own descriptor (the default) */
    TIDE_STDIO_PIPE = 1,    /* a pipe the parent reads (stdout, stderr) or writes (stdin) */
    TIDE_STDIO_NULL = 2,    /* /dev/null */
};

/* Which output pipe to read. */
enum { TIDE_STDOUT = 1, TIDE_STDERR = 2 };

typedef struct tide_process_opts {
    const char *file;  /* program: a path, or a name searched in $PATH; NULL: argv[0] */
    char *const *argv; /* NULL-terminated argument list; argv[0] is required */
    char *const *env;  /* NULL-terminated "NAME=value" list; NULL: the parent's environment */
    const char *cwd;   /* working directory; NULL: the parent's */
    int stdin_mode;    /* TIDE_STDIO_* for the child's stdin */
    int stdout_mode;   /* ... stdout */
    int stderr_mode;   /* ... stderr */
} tide_process_opts_t;

typedef struct tide_process tide_process_t;

/* Start a child. Returns once it runs (or failed to start): *out receives its handle.
 * -EINVAL: NULL out or opts, no argv[0], a bad stdio mode; -ENOENT / -EACCES / -ENOEXEC /
 * -ENOTDIR...: the program could not be executed or cwd is not usable (the child never ran);
 * -EAGAIN / -EMFILE: no process or descriptor left; -EPERM outside a task; -ENOMEM;
 * -ETIMEDOUT / -ECANCELED only if the caller was past its deadline or cancelled before the
 * call (nothing started); once begun, spawning is not interrupted (it is quick). */
int tide_process_spawn(tide_process_t **out, const tide_process_opts_t *opts);

/* The child's process id (> 0), or -EINVAL for NULL. From any thread. */
pid_t tide_process_pid(const tide_process_t *p);

/* Write all len bytes to the child's stdin; returns len. -EINVAL (NULL p, NULL buf with len >
 * 0), -ENOTCONN (stdin is not a pipe), -EPIPE (stdin was closed, or the child closed its end),
 * -EBUSY (another task is writing). A write cut short by a deadline or cancel closes stdin
 * (how much of the buffer the child got is unknown then) and returns -ETIMEDOUT/-ECANCELED. */
ssize_t tide_process_write(tide_process_t *p, const void *buf, size_t len);

/* Close the child's stdin (it sees end of file). Again: 0. -EINVAL, -ENOTCONN (not a pipe),
 * -EBUSY (a write is in progress). Never interrupted. */
int tide_process_close_stdin(tide_process_t *p);

/* Read up to len bytes from the child's stdout or stderr (which: TIDE_STDOUT, TIDE_STDERR);
 * returns the count, 0 at end of file (the child and everything it started closed the pipe).
 * A deadline or cancel loses nothing: the bytes are read by the next call. -EINVAL (NULL p,
 * NULL buf, len 0 or above SSIZE_MAX, bad which), -ENOTCONN (not a pipe), -EBUSY (another
 * task reads that pipe). */
ssize_t tide_process_read(tide_process_t *p, int which, void *buf, size_t len);

/* Read a pipe to its end: *data is a malloc'ed buffer of *len bytes plus a NUL (free() it).
 * On failure *data is NULL and *len 0; bytes read before a deadline or cancel are lost with
 * it. Errors of tide_process_read, and -EFBIG past max bytes (0: no limit). */
int tide_process_read_all(tide_process_t *p, int which, char **data, size_t *len, size_t max);

/* Wait for the child to exit: *exit_status gets its exit code (0..255; 0 if killed by a
 * signal) and *term_signal the signal that killed it (0 if it exited); either pointer may be
 * NULL. Returns at once if it has exited already; any number of tasks may wait. -EINVAL. */
int tide_process_wait(tide_process_t *p, int *exit_status, int *term_signal);

/* Send signum (0: only check that the child is alive) to the child. -EINVAL (NULL p, bad
 * signal number), -ESRCH (it has exited already: a reaped child's pid may belong to another
 * process, so no signal is sent). Never interrupted. */
int tide_process_kill(tide_process_t *p, int signum);

/* Close the child's pipes and release its handle (a close, not a free: it can refuse, see
 * docs/api.md, Conventions). A child still running is killed (SIGKILL) and
 * reaped first, so no zombie is left: call tide_process_wait before if it should finish on
 * its own. Never interrupted by a deadline or a cancel. -EINVAL (NULL p), -EBUSY (a task is
 * still reading, writing or waiting on p: nothing is released). */
int tide_process_close(tide_process_t *p);

/* subprocess.check_output-style: run argv (searched in $PATH) with stdin from /dev/null and
 * stderr inherited, collect its stdout (*out, malloc'ed and NUL-terminated, free() it; may be
 * NULL to discard) and its exit status (*exit_status: the exit code, or 128 + the signal that
 * killed it). A deadline or cancel kills the child. Errors of tide_process_spawn and
 * tide_process_read_all. */
int tide_process_output(char *const *argv, char **out, size_t *len, int *exit_status);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_PROCESS_H */
