/* Signal watchers (tide/signal.h): one uv_signal_t per caught signal on the I/O driver; its
 * callback counts the delivery in the watcher and wakes the tasks waiting there. Waiting
 * needs only the watcher's lock and wakers, so it works from any thread. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "driver.h"
#include "platform.h"
#include "sys_internal.h"
#include "tide/signal.h"

/* Signal numbers are 1..NSIG-1 (64 on Linux). */
#define SIGS 65

struct tide_signal {
    pthread_mutex_t lock;         /* guards pending, waiters, users */
    uint64_t pending[SIGS];       /* deliveries not yet returned, by signal number */
    tide__sys_waitq_t waiters;    /* tasks parked in tide_signal_wait */
    unsigned users;               /* callers inside tide_signal_wait (close must not free) */
    tide__io_t *io;               /* the driver the handles live on */
    size_t n;                     /* number of handles */
    size_t live;                  /* driver only: handles initialised and not yet closed */
    int close_result;             /* driver only: what the closing operation reports */
    tide__io_op_t *closing;       /* driver only: completed when the last handle has closed */
    uv_signal_t handles[];        /* one per caught signal */
};

static size_t watcher_size(size_t n) {
    return sizeof(tide_signal_t) + n * sizeof(uv_signal_t);
}

/* ---- driver side ----------------------------------------------------------------------- */

static void on_signal(uv_signal_t *h, int signum) {
    tide_signal_t *s = h->data;
    pthread_mutex_lock(&s->lock);
    s->pending[signum]++;
    tide__sys_wake_all(&s->waiters);
    pthread_mutex_unlock(&s->lock);
}

static void on_closed(uv_handle_t *h) {
    tide_signal_t *s = h->data;
    tide__io_live_add(-1);
    if (--s->live == 0 && s->closing) tide__io_complete(s->closing, s->close_result);
}

/* Close every handle still open; op completes (with result) once they are all gone. */
static void close_all(tide_signal_t *s, tide__io_op_t *op, int result) {
    s->closing = op;
    s->close_result = result;
    if (s->live == 0) {
        tide__io_complete(op, result);
        return;
    }
    /* on_closed runs later (from the loop), so counting down cannot finish early here. */
    for (size_t i = 0; i < s->live; i++) uv_close((uv_handle_t *)&s->handles[i], on_closed);
}

typedef struct open_op {
    tide__io_op_t op;     /* first: the driver hands us back this pointer */
    tide_signal_t *s;     /* the watcher being opened */
    const int *signums;   /* what it catches */
} open_op_t;

static void open_start(tide__io_op_t *op, uv_loop_t *loop) {
    open_op_t *o = (open_op_t *)op;
    tide_signal_t *s = o->s;
    int r = 0;
    for (size_t i = 0; i < s->n; i++) {
        r = uv_signal_init(loop, &s->handles[i]);
        if (r < 0) break;
        s->handles[i].data = s;
        s->live++;
        tide__io_live_add(1);
        r = uv_signal_start(&s->handles[i], on_signal, o->signums[i]);
        if (r < 0) break;
    }
    if (r < 0) {
        close_all(s, op, r);
        return;
    }
    tide__io_complete(op, 0);
}

static void close_start(tide__io_op_t *op, uv_loop_t *loop) {
    close_all(((open_op_t *)op)->s, op, 0);
}

/* ---- task side ------------------------------------------------------------------------- */

static bool catchable(int sig) {
    return sig > 0 && sig < SIGS && sig < NSIG && sig != SIGKILL && sig != SIGSTOP &&
           sig != SIGSEGV && sig != SIGBUS && sig != SIGILL && sig != SIGFPE;
}

int tide_signal_open(tide_signal_t **out, const int *signums, size_t n) {
    if (out) *out = NULL;
    if (!out || !signums || n == 0 || n > TIDE_SIGNAL_MAX) return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!catchable(signums[i])) return -EINVAL;
        for (size_t j = 0; j < i; j++)
            if (signums[j] == signums[i]) return -EINVAL;
    }
    int err;
    tide__io_t *io = tide__sys_io(&err);
    if (!io) return err;
    if ((err = tide__sys_gate()) < 0) return err;
    int r = -ENOMEM;
    tide_signal_t *s = tide__calloc(watcher_size(n));
    if (!s) goto error1;
    pthread_mutex_init(&s->lock, NULL);
    s->io = io;
    s->n = n;
    open_op_t o = {.op = {.start = open_start}, .s = s, .signums = signums};
    r = tide__sys_run(io, &o.op, "signal open");
    if (r < 0) goto error2;
    *out = s;
    return 0;
error2:
    pthread_mutex_destroy(&s->lock);
    tide__free(s, watcher_size(n));
error1:
    return r;
}

/* The lowest pending signal, taken; 0 if none. Called with s->lock held. */
static int take(tide_signal_t *s) {
    for (int sig = 1; sig < SIGS; sig++) {
        if (s->pending[sig]) {
            s->pending[sig]--;
            return sig;
        }
    }
    return 0;
}

int tide_signal_try_wait(tide_signal_t *s) {
    if (!s) return -EINVAL;
    pthread_mutex_lock(&s->lock);
    int sig = take(s);
    pthread_mutex_unlock(&s->lock);
    return sig ? sig : -EAGAIN;
}

int tide_signal_wait(tide_signal_t *s) {
    if (!s) return -EINVAL;
    tide__sys_waiter_t w;
    int r;
    pthread_mutex_lock(&s->lock);
    s->users++;
    for (;;) {
        r = take(s);
        if (r) break;
        tide__sys_wait_add(&s->waiters, &w, tide_park_prepare());
        pthread_mutex_unlock(&s->lock);
        r = tide_park_on("signal wait");
        pthread_mutex_lock(&s->lock);
        tide__sys_wait_remove(&s->waiters, &w);
        /* A delivery woke every waiter, so one that leaves now takes nothing from the
         * others: it stays pending for them or the next wait. */
        if (r < 0) break;
    }
    s->users--;
    pthread_mutex_unlock(&s->lock);
    if (r > 0) tide_budget_tick();
    return r;
}

int tide_signal_close(tide_signal_t *s) {
    if (!s) return -EINVAL;
    if (!tide_runtime_current()) return -EPERM;
    pthread_mutex_lock(&s->lock);
    bool busy = s->users > 0;
    pthread_mutex_unlock(&s->lock);
    if (busy) return -EBUSY;
    /* Closing cannot be withdrawn (no cancel callback): the handles are gone, and nothing on
     * the driver can touch s, when this returns. */
    open_op_t o = {.op = {.start = close_start}, .s = s};
    tide__sys_run(s->io, &o.op, "signal close");
    size_t n = s->n;
    pthread_mutex_destroy(&s->lock);
    tide__free(s, watcher_size(n));
    return 0;
}

int tide_signal_wait_for(const int *signums, size_t n) {
    tide_signal_t *s;
    int r = tide_signal_open(&s, signums, n);
    if (r < 0) return r;
    r = tide_signal_wait(s);
    tide_signal_close(s);
    return r;
}
