/* Whole-file read and write (tide/fs.h): open, size, transfer and close as one job on libuv's
 * thread pool, so a whole file costs one driver round trip instead of four. The job checks a
 * stop flag between chunks, so a deadline or cancel ends even a huge transfer soon. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "platform.h"
#include "sys_internal.h"
#include "tide/fs.h"

/* Bytes moved per system call; also how often the job looks at its stop flag. */
#define CHUNK ((size_t)1 << 20)

typedef struct whole_op {
    tide__io_op_t op;     /* first: the driver hands us back this pointer */
    uv_work_t work;       /* the thread-pool job */
    const char *path;     /* the file */
    bool writing;         /* write_file rather than read_file */
    const char *wdata;    /* write: the caller's bytes */
    size_t wlen;          /* write: how many */
    char *data;           /* read: the malloc'ed result (owned by the job until it succeeds) */
    size_t len;           /* read: its length */
    int result;           /* the job's result: 0 or a negative errno */
    _Atomic bool stop;    /* set by the driver when the task gave up: the job stops early */
} whole_op_t;

static bool stopped(whole_op_t *w) {
    return atomic_load_explicit(&w->stop, memory_order_relaxed);
}

/* Thread pool: read the whole file into a malloc'ed buffer. */
static int read_whole(whole_op_t *w) {
    int fd;
    do fd = open(w->path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return -errno;
    int r;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out_fd;
    }
    if (S_ISDIR(st.st_mode)) {
        r = -EISDIR;
        goto out_fd;
    }
    if ((uint64_t)st.st_size >= SIZE_MAX / 2) {
        r = -EFBIG;
        goto out_fd;
    }
    /* Room for the whole size plus one, so the end of file shows as a 0 read without a
     * regrow; files that report no size (pipes, /proc) start small and double. */
    size_t cap = (size_t)st.st_size + 1 < 4096 ? 4096 : (size_t)st.st_size + 1;
    char *buf = tide__alloc_fault() ? NULL : malloc(cap);
    if (!buf) {
        r = -ENOMEM;
        goto out_fd;
    }
    size_t len = 0;
    for (;;) {
        if (stopped(w)) {
            r = UV_ECANCELED;
            goto out_buf;
        }
        if (len + 1 == cap) {
            if (cap >= SIZE_MAX / 4) {
                r = -EFBIG;
                goto out_buf;
            }
            char *nb = tide__alloc_fault() ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                r = -ENOMEM;
                goto out_buf;
            }
            buf = nb;
            cap *= 2;
        }
        size_t want = cap - 1 - len;
        ssize_t n = read(fd, buf + len, want < CHUNK ? want : CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            r = -errno;
            goto out_buf;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    w->data = buf;
    w->len = len;
    close(fd);
    return 0;
out_buf:
    free(buf);
out_fd:
    close(fd);
    return r;
}

/* Thread pool: replace the file's content. */
static int write_whole(whole_op_t *w) {
    int fd;
    do fd = open(w->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return -errno;
    int r = 0;
    size_t done = 0;
    while (done < w->wlen) {
        if (stopped(w)) {
            r = UV_ECANCELED;
            break;
        }
        size_t want = w->wlen - done;
        ssize_t n = write(fd, w->wdata + done, want < CHUNK ? want : CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            r = -errno;
            break;
        }
        done += (size_t)n;
    }
    /* close(2) reports delayed write errors (NFS, quotas): they are the write's errors too. */
    if (close(fd) < 0 && r == 0 && errno != EINTR) r = -errno;
    return r;
}

static void on_work(uv_work_t *req) {
    whole_op_t *w = req->data;
    w->result = w->writing ? write_whole(w) : read_whole(w);
}

static void on_after_work(uv_work_t *req, int status) {
    whole_op_t *w = req->data;
    tide__io_live_add(-1);
    /* status is UV_ECANCELED when uv_cancel caught the job before it ran. */
    tide__io_complete(&w->op, status < 0 ? status : w->result);
}

static void whole_start(tide__io_op_t *op, uv_loop_t *loop) {
    whole_op_t *w = (whole_op_t *)op;
    w->work.data = w;
    int r = uv_queue_work(loop, &w->work, on_work, on_after_work);
    if (r < 0) {
        tide__io_complete(op, r);
        return;
    }
    tide__io_live_add(1);
}

static void whole_cancel(tide__io_op_t *op, uv_loop_t *loop) {
    whole_op_t *w = (whole_op_t *)op;
    atomic_store_explicit(&w->stop, true, memory_order_relaxed);
    uv_cancel((uv_req_t *)&w->work);
}

static int whole_run(whole_op_t *w, const char *what) {
    int err;
    tide__io_t *io = tide__sys_io(&err);
    if (!io) return err;
    if ((err = tide__sys_gate()) < 0) return err;
    w->op.start = whole_start;
    w->op.cancel = whole_cancel;
    atomic_init(&w->stop, false);
    return tide__sys_run(io, &w->op, what);
}

int tide_fs_read_file(const char *path, char **data, size_t *len) {
    if (data) *data = NULL;
    if (len) *len = 0;
    if (!path || !data || !len) return -EINVAL;
    whole_op_t w = {.path = path};
    int r = whole_run(&w, "fs read_file");
    if (r < 0) return r; /* the job hands over a buffer only when it succeeds */
    *data = w.data;
    *len = w.len;
    return 0;
}

int tide_fs_write_file(const char *path, const void *data, size_t len) {
    if (!path || (!data && len)) return -EINVAL;
    whole_op_t w = {.path = path, .writing = true, .wdata = data, .wlen = len};
    return whole_run(&w, "fs write_file");
}
