/* tide — waiting for signals (SIGINT, SIGTERM, SIGHUP, SIGUSR1, real-time signals...) in a
 * task, for graceful shutdown and reloads.
 *
 *   int sigs[] = {SIGINT, SIGTERM};
 *   tide_signal_t *s;
 *   tide_signal_open(&s, sigs, 2);           // from now on these signals are caught
 *   int sig = tide_signal_wait(s);           // parks until one arrives
 *   ... shut down ...
 *   tide_signal_close(s);
 *
 * A watcher counts every delivery from the moment tide_signal_open returns, whether or not a
 * task is waiting at that moment: a signal that arrives between two waits is returned by the
 * next one, never lost. Several watchers (in one runtime or several) may catch the same
 * signal: each gets every delivery. While at least one watcher of a signal is open in the
 * process, the signal's default action (terminating the process for SIGINT and SIGTERM) does
 * not happen; once the last one is closed it is back. The kernel merges deliveries of a
 * standard signal that arrive while one is pending (real-time signals are queued): such
 * merged deliveries count once.
 *
 * Watchers belong to the runtime they were opened in; close each before that runtime ends. */
#ifndef TIDE_SIGNAL_H
#define TIDE_SIGNAL_H

#include <signal.h>
#include <stddef.h>

#include "tide/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tide_signal tide_signal_t;

/* The most signals one watcher can catch. */
#define TIDE_SIGNAL_MAX 32

/* Start catching the n signals in signums (1 <= n <= TIDE_SIGNAL_MAX) for *out. Task-only.
 * -EINVAL: NULL out or signums, n out of range, a duplicate, or a signal that cannot be
 *          caught or must not be (not in 1..NSIG-1, SIGKILL, SIGSTOP, and the fault signals
 *          SIGSEGV, SIGBUS, SIGILL, SIGFPE, which the runtime handles itself);
 * -EPERM:  called outside a task; -ENOMEM; any negative errno from installing the handler;
 * -ETIMEDOUT / -ECANCELED only if the caller was past its deadline or cancelled before the
 * call (nothing is opened); once begun, opening is not interrupted (it is quick). */
int tide_signal_open(tide_signal_t **out, const int *signums, size_t n);

/* Wait for the next delivery and return its signal number (> 0); each delivery is returned
 * once. When several are pending, the lowest signal number comes first. Several tasks may
 * wait on one watcher; each delivery goes to one of them. From a task or a plain thread.
 * -EINVAL (NULL s), -ETIMEDOUT (deadline scope), -ECANCELED (caller cancelled): these take
 * no delivery, which stays for the next wait. */
int tide_signal_wait(tide_signal_t *s);

/* Take a pending delivery without waiting: its signal number, or -EAGAIN if none is pending,
 * -EINVAL (NULL s). */
int tide_signal_try_wait(tide_signal_t *s);

/* Stop catching and free s; pending deliveries are dropped. Task-only (-EPERM), never
 * interrupted by a deadline or a cancel. -EINVAL (NULL s), -EBUSY (a task is inside
 * tide_signal_wait on s: s stays open; cancel that task first). */
int tide_signal_close(tide_signal_t *s);

/* One-shot: open a watcher of the n signals, wait for one, close it; returns the signal
 * number. Signals that arrive before the call are not seen (keep a watcher open for that).
 * Errors of tide_signal_open and tide_signal_wait. */
int tide_signal_wait_for(const int *signums, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_SIGNAL_H */
