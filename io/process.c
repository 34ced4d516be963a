/* Child processes (tide/process.h): uv_spawn on the I/O driver, libuv pipes for the child's
 * standard descriptors, the exit callback recorded in the handle and broadcast to waiters.
 *
 * Reads and writes are driver operations on the pipe streams: a read hands libuv the
 * caller's buffer and stops reading as soon as one chunk arrived, so nothing is read that the
 * caller is not given. A write is a uv_write of the caller's buffer; libuv cannot withdraw
 * one half-done, so cutting a write short closes the pipe. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "platform.h"
#include "sys_internal.h"
#include "tide/process.h"

typedef struct pipe_slot {
    uv_pipe_t pipe;        /* first: the parent's end, a libuv stream on the driver */
    bool used;             /* configured as a pipe at spawn */
    bool open;             /* driver only: not closed (or closing) yet */
    struct read_op *reader;/* driver only: the read in flight on this pipe */
    bool eof;              /* a read saw end of file (touched by the reader holding busy) */
    _Atomic bool busy;     /* a task is reading or writing this pipe */
} pipe_slot_t;

struct tide_process {
    pthread_mutex_t lock;       /* guards exited, exit_status, term_signal, waiters, users */
    bool exited;                /* the child has been reaped */
    int exit_status;            /* its exit code */
    int term_signal;            /* the signal that killed it, or 0 */
    tide__sys_waitq_t waiters;  /* tasks in tide_process_wait */
    unsigned users;             /* tasks inside a call on p: free must not run under them */
    tide__io_t *io;             /* the driver the handles live on */
    pid_t pid;                  /* the child's id */
    size_t live;                /* driver only: handles initialised and not yet closed */
    int close_result;           /* driver only: what the closing operation reports */
    tide__io_op_t *closing;     /* driver only: completed once every handle has closed */
    bool reap_then_close;       /* driver only: free killed the child, close once reaped */
    uv_process_t proc;          /* libuv's process handle */
    pipe_slot_t pipes[3];       /* stdin, stdout, stderr */
};

/* ---- driver side: handles -------------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h) {
    tide_process_t *p = h->data;
    tide__io_live_add(-1);
    if (--p->live == 0 && p->closing) tide__io_complete(p->closing, p->close_result);
}

static void close_pipe(tide_process_t *p, int i) {
    pipe_slot_t *s = &p->pipes[i];
    if (!s->open) return;
    s->open = false;
    uv_close((uv_handle_t *)&s->pipe, on_handle_closed);
}

/* Close every handle; op completes with result once all are closed. */
static void close_all(tide_process_t *p, tide__io_op_t *op, int result) {
    p->closing = op;
    p->close_result = result;
    if (p->live == 0) {
        tide__io_complete(op, result);
        return;
    }
    for (int i = 0; i < 3; i++) close_pipe(p, i);
    if (!uv_is_closing((uv_handle_t *)&p->proc)) uv_close((uv_handle_t *)&p->proc, on_handle_closed);
}

static void on_child_exit(uv_process_t *h, int64_t exit_status, int term_signal) {
    tide_process_t *p = h->data;
    pthread_mutex_lock(&p->lock);
    p->exited = true;
    p->exit_status = (int)exit_status;
    p->term_signal = term_signal;
    tide__sys_wake_all(&p->waiters);
    pthread_mutex_unlock(&p->lock);
    if (p->reap_then_close) close_all(p, p->closing, 0);
}

static bool has_exited(tide_process_t *p) {
    pthread_mutex_lock(&p->lock);
    bool e = p->exited;
    pthread_mutex_unlock(&p->lock);
    return e;
}

/* A write into a pipe the child closed must fail with EPIPE rather than kill the process:
 * SIGPIPE is raised in the writing thread, the driver, so it is blocked there. */
static void block_sigpipe(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* ---- spawn ----------------------------------------------------------------------------- */

typedef struct spawn_op {
    tide__io_op_t op;                /* first: the driver hands us back this pointer */
    tide_process_t *p;               /* the handle being set up */
    const tide_process_opts_t *opts; /* the caller's options */
} spawn_op_t;

static int stdio_mode(const tide_process_opts_t *o, int i) {
    return i == 0 ? o->stdin_mode : i == 1 ? o->stdout_mode : o->stderr_mode;
}

static void spawn_start(tide__io_op_t *op, uv_loop_t *loop) {
    spawn_op_t *s = (spawn_op_t *)op;
    tide_process_t *p = s->p;
    const tide_process_opts_t *o = s->opts;
    block_sigpipe();
    uv_stdio_container_t stdio[3];
    for (int i = 0; i < 3; i++) {
        switch (stdio_mode(o, i)) {
        case TIDE_STDIO_PIPE:
            uv_pipe_init(loop, &p->pipes[i].pipe, 0);
            p->pipes[i].pipe.data = p;
            p->pipes[i].used = true;
            p->pipes[i].open = true;
            p->live++;
            tide__io_live_add(1);
            stdio[i].flags = UV_CREATE_PIPE | (i == 0 ? UV_READABLE_PIPE : UV_WRITABLE_PIPE);
            stdio[i].data.stream = (uv_stream_t *)&p->pipes[i].pipe;
            break;
        case TIDE_STDIO_NULL:
            stdio[i].flags = UV_IGNORE; /* libuv connects 0-2 to /dev/null */
            break;
        default:
            stdio[i].flags = UV_INHERIT_FD;
            stdio[i].data.fd = i;
            break;
        }
    }
    uv_process_options_t po = {
        .exit_cb = on_child_exit,
        .file = o->file ? o->file : o->argv[0],
        .args = (char **)o->argv,
        .env = (char **)o->env,
        .cwd = o->cwd,
        .stdio_count = 3,
        .stdio = stdio,
    };
    p->proc.data = p;
    int r = uv_spawn(loop, &p->proc, &po);
    /* The handle is initialised even when spawning failed, and must be closed then too. */
    p->live++;
    tide__io_live_add(1);
    if (r < 0) {
        close_all(p, op, r);
        return;
    }
    p->pid = p->proc.pid;
    tide__io_complete(op, 0);
}

static void destroy(tide_process_t *p) {
    pthread_mutex_destroy(&p->lock);
    tide__delete(p);
}

int tide_process_spawn(tide_process_t **out, const tide_process_opts_t *opts) {
    if (out) *out = NULL;
    if (!out || !opts || !opts->argv || !opts->argv[0]) return -EINVAL;
    int modes[3] = {opts->stdin_mode, opts->stdout_mode, opts->stderr_mode};
    for (int i = 0; i < 3; i++)
        if (modes[i] < TIDE_STDIO_INHERIT || modes[i] > TIDE_STDIO_NULL) return -EINVAL;
    int err;
    tide__io_t *io = tide__sys_io(&err);
    if (!io) return err;
    if ((err = tide__sys_gate()) < 0) return err;
    int r = -ENOMEM;
    tide_process_t *p = tide__new(tide_process_t);
    if (!p) goto error1;
    pthread_mutex_init(&p->lock, NULL);
    p->io = io;
    for (int i = 0; i < 3; i++) atomic_init(&p->pipes[i].busy, false);
    spawn_op_t s = {.op = {.start = spawn_start}, .p = p, .opts = opts};
    r = tide__sys_run(io, &s.op, "process spawn");
    if (r < 0) goto error2;
    *out = p;
    return 0;
error2:
    destroy(p);
error1:
    return r;
}

pid_t tide_process_pid(const tide_process_t *p) {
    return p ? p->pid : -EINVAL;
}

/* ---- callers in flight ------------------------------------------------------------------ */

static void enter(tide_process_t *p) {
    pthread_mutex_lock(&p->lock);
    p->users++;
    pthread_mutex_unlock(&p->lock);
}

static void leave(tide_process_t *p) {
    pthread_mutex_lock(&p->lock);
    p->users--;
    pthread_mutex_unlock(&p->lock);
}

/* Claim pipe i for one reader or writer: 0, -ENOTCONN (not a pipe) or -EBUSY. */
static int claim(tide_process_t *p, int i) {
    if (!p->pipes[i].used) return -ENOTCONN;
    if (atomic_exchange_explicit(&p->pipes[i].busy, true, memory_order_acquire)) return -EBUSY;
    enter(p);
    return 0;
}

static void release(tide_process_t *p, int i) {
    leave(p);
    atomic_store_explicit(&p->pipes[i].busy, false, memory_order_release);
}

/* ---- reading --------------------------------------------------------------------------- */

typedef struct read_op {
    tide__io_op_t op;  /* first: the driver hands us back this pointer */
    pipe_slot_t *slot; /* the pipe */
    char *buf;         /* the caller's buffer */
    size_t len;        /* its size */
} read_op_t;

/* The pipe is the slot's first member. */
static read_op_t *reader_of(void *stream) {
    return ((pipe_slot_t *)stream)->reader;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    read_op_t *r = reader_of(h);
    *buf = uv_buf_init(r->buf, (unsigned)r->len);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
    read_op_t *r = reader_of(st);
    if (n == 0) return; /* nothing there after all (EAGAIN): keep reading */
    /* Stop before anything else is read: only what this caller is given leaves the pipe. */
    uv_read_stop(st);
    r->slot->reader = NULL;
    tide__io_complete(&r->op, n == UV_EOF ? 0 : (int)n);
}

static void read_start(tide__io_op_t *op, uv_loop_t *loop) {
    read_op_t *r = (read_op_t *)op;
    if (!r->slot->open) {
        tide__io_complete(op, UV_EPIPE);
        return;
    }
    r->slot->reader = r;
    int e = uv_read_start((uv_stream_t *)&r->slot->pipe, on_alloc, on_read);
    if (e < 0) {
        r->slot->reader = NULL;
        tide__io_complete(op, e);
    }
}

static void read_cancel(tide__io_op_t *op, uv_loop_t *loop) {
    read_op_t *r = (read_op_t *)op;
    uv_read_stop((uv_stream_t *)&r->slot->pipe);
    r->slot->reader = NULL;
    tide__io_complete(op, UV_ECANCELED);
}

ssize_t tide_process_read(tide_process_t *p, int which, void *buf, size_t len) {
    if (!p || !buf || len == 0 || len > SSIZE_MAX) return -EINVAL;
    if (which != TIDE_STDOUT && which != TIDE_STDERR) return -EINVAL;
    if (!tide_runtime_current()) return -EPERM;
    int r = tide__sys_gate();
    if (r < 0) return r;
    r = claim(p, which);
    if (r < 0) return r;
    pipe_slot_t *slot = &p->pipes[which];
    if (slot->eof) {
        release(p, which);
        return 0;
    }
    /* libuv's buffers are sized in unsigned int. */
    read_op_t op = {.op = {.start = read_start, .cancel = read_cancel}, .slot = slot, .buf = buf,
                    .len = len > INT_MAX ? INT_MAX : len};
    r = tide__sys_run(p->io, &op.op, which == TIDE_STDOUT ? "process stdout" : "process stderr");
    if (r == 0) slot->eof = true;
    release(p, which);
    if (r > 0) tide_budget_tick();
    return r;
}

int tide_process_read_all(tide_process_t *p, int which, char **data, size_t *len, size_t max) {
    if (data) *data = NULL;
    if (len) *len = 0;
    if (!data || !len) return -EINVAL;
    size_t cap = 4096, n = 0;
    char *buf = tide__alloc_fault() ? NULL : malloc(cap);
    if (!buf) return -ENOMEM;
    int r;
    for (;;) {
        if (n + 1 == cap) {
            char *nb = cap <= SIZE_MAX / 2 && !tide__alloc_fault() ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                r = -ENOMEM;
                goto fail;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t k = tide_process_read(p, which, buf + n, cap - 1 - n);
        if (k < 0) {
            r = (int)k;
            goto fail;
        }
        if (k == 0) break;
        n += (size_t)k;
        if (max && n > max) {
            r = -EFBIG;
            goto fail;
        }
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
fail:
    free(buf);
    return r;
}

/* ---- writing --------------------------------------------------------------------------- */

typedef struct write_op {
    tide__io_op_t op;   /* first: the driver hands us back this pointer */
    tide_process_t *p;  /* whose stdin */
    uv_write_t req;     /* libuv's write request */
    uv_buf_t buf;       /* the caller's bytes */
} write_op_t;

static void on_written(uv_write_t *req, int status) {
    write_op_t *w = req->data;
    tide__io_live_add(-1);
    tide__io_complete(&w->op, status < 0 ? status : (int)w->buf.len);
}

static void write_start(tide__io_op_t *op, uv_loop_t *loop) {
    write_op_t *w = (write_op_t *)op;
    if (!w->p->pipes[0].open) {
        tide__io_complete(op, UV_EPIPE);
        return;
    }
    block_sigpipe();
    w->req.data = w;
    int e = uv_write(&w->req, (uv_stream_t *)&w->p->pipes[0].pipe, &w->buf, 1, on_written);
    if (e < 0) {
        tide__io_complete(op, e);
        return;
    }
    tide__io_live_add(1);
}

static void write_cancel(tide__io_op_t *op, uv_loop_t *loop) {
    /* Closing the stream is libuv's only way to withdraw a queued write: on_written then
     * reports UV_ECANCELED. */
    close_pipe(((write_op_t *)op)->p, 0);
}

ssize_t tide_process_write(tide_process_t *p, const void *buf, size_t len) {
    if (!p || (!buf && len) || len > SSIZE_MAX) return -EINVAL;
    if (!tide_runtime_current()) return -EPERM;
    int r = tide__sys_gate();
    if (r < 0) return r;
    r = claim(p, 0);
    if (r < 0) return r;
    size_t done = 0;
    /* libuv's buffers are sized in unsigned int: big writes go in pieces. */
    while (done < len) {
        size_t n = len - done > INT_MAX ? INT_MAX : len - done;
        write_op_t w = {.op = {.start = write_start, .cancel = write_cancel}, .p = p,
                        .buf = uv_buf_init((char *)buf + done, (unsigned)n)};
        r = tide__sys_run(p->io, &w.op, "process stdin");
        if (r < 0) break;
        done += n;
    }
    release(p, 0);
    if (r < 0) return r;
    tide_budget_tick();
    return (ssize_t)len;
}

typedef struct simple_op {
    tide__io_op_t op;  /* first: the driver hands us back this pointer */
    tide_process_t *p; /* the process */
    int arg;           /* kill: the signal */
} simple_op_t;

static void close_stdin_start(tide__io_op_t *op, uv_loop_t *loop) {
    close_pipe(((simple_op_t *)op)->p, 0);
    tide__io_complete(op, 0);
}

int tide_process_close_stdin(tide_process_t *p) {
    if (!p) return -EINVAL;
    if (!tide_runtime_current()) return -EPERM;
    int r = claim(p, 0);
    if (r < 0) return r;
    simple_op_t o = {.op = {.start = close_stdin_start}, .p = p};
    r = tide__sys_run(p->io, &o.op, "process close stdin");
    release(p, 0);
    return r;
}

/* ---- exit, signals, release ------------------------------------------------------------ */

int tide_process_wait(tide_process_t *p, int *exit_status, int *term_signal) {
    if (!p) return -EINVAL;
    if (!tide_runtime_current()) return -EPERM;
    tide__sys_waiter_t w;
    int r = 0;
    pthread_mutex_lock(&p->lock);
    p->users++;
    while (!p->exited) {
        tide__sys_wait_add(&p->waiters, &w, tide_park_prepare());
        pthread_mutex_unlock(&p->lock);
        r = tide_park_on("process wait");
        pthread_mutex_lock(&p->lock);
        tide__sys_wait_remove(&p->waiters, &w);
        if (r < 0 && !p->exited) break;
        r = 0;
    }
    if (r == 0) {
        if (exit_status) *exit_status = p->exit_status;
        if (term_signal) *term_signal = p->term_signal;
    }
    p->users--;
    pthread_mutex_unlock(&p->lock);
    return r;
}

static void kill_start(tide__io_op_t *op, uv_loop_t *loop) {
    simple_op_t *k = (simple_op_t *)op;
    /* Reaping happens on this thread too, so "not exited" here means the pid is still the
     * child's. */
    tide__io_complete(op, has_exited(k->p) ? UV_ESRCH : uv_process_kill(&k->p->proc, k->arg));
}

int tide_process_kill(tide_process_t *p, int signum) {
    if (!p || signum < 0 || signum >= NSIG) return -EINVAL;
    if (!tide_runtime_current()) return -EPERM;
    simple_op_t o = {.op = {.start = kill_start}, .p = p, .arg = signum};
    return tide__sys_run(p->io, &o.op, "process kill");
}

static void free_start(tide__io_op_t *op, uv_loop_t *loop) {
    tide_process_t *p = ((simple_op_t *)op)->p;
    if (has_exited(p)) {
        close_all(p, op, 0);
        return;
    }
    /* Closing the handle of a live child would leave it unreaped: kill it, and let on_child_exit
     * close everything once it is gone. */
    p->closing = op;
    p->reap_then_close = true;
    uv_process_kill(&p->proc, SIGKILL);
}

int tide_process_close(tide_process_t *p) {
    if (!p) return -EINVAL;
    if (!tide_runtime_current()) return -EPERM;
    pthread_mutex_lock(&p->lock);
    bool busy = p->users > 0;
    pthread_mutex_unlock(&p->lock);
    if (busy) return -EBUSY;
    simple_op_t o = {.op = {.start = free_start}, .p = p};
    tide__sys_run(p->io, &o.op, "process free");
    destroy(p);
    return 0;
}

int tide_process_output(char *const *argv, char **out, size_t *len, int *exit_status) {
    if (out) *out = NULL;
    if (len) *len = 0;
    if (!argv || !argv[0]) return -EINVAL;
    tide_process_opts_t o = {.argv = argv, .stdin_mode = TIDE_STDIO_NULL,
                             .stdout_mode = TIDE_STDIO_PIPE};
    tide_process_t *p;
    int r = tide_process_spawn(&p, &o);
    if (r < 0) return r;
    char *data;
    size_t n;
    r = tide_process_read_all(p, TIDE_STDOUT, &data, &n, 0);
    if (r < 0) goto out;
    int code, sig;
    r = tide_process_wait(p, &code, &sig);
    if (r < 0) {
        free(data);
        goto out;
    }
    if (exit_status) *exit_status = sig ? 128 + sig : code;
    if (out) *out = data;
    else free(data);
    if (len) *len = n;
out:
    tide_process_close(p); /* kills the child if a deadline or cancel cut us short */
    return r;
}
