/* Files (tide/fs.h): each call is one libuv filesystem request started on the I/O driver and
 * run on libuv's thread pool; the task parks until the request's callback completes it.
 * Whole-file reads and writes are one thread-pool job each (io/fs_whole.c).
 *
 * Reads first try preadv2(RWF_NOWAIT) on the worker itself: data already in the page cache
 * is copied at once (about a microsecond), and only a read that would wait for the device
 * (EAGAIN) makes the three-thread trip (worker, driver, pool: tens of microseconds). */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/uio.h>

#include "driver.h"
#include "sys_internal.h"
#include "tide/fs.h"

typedef enum fs_kind {
    FS_OPEN,
    FS_CLOSE,
    FS_READ,
    FS_WRITE,
    FS_FSYNC,
    FS_STAT,
    FS_FSTAT,
    FS_UNLINK,
    FS_RENAME,
    FS_MKDIR,
    FS_RMDIR,
} fs_kind_t;

/* One request, in the calling task's frame for the length of the call. */
typedef struct fs_op {
    tide__io_op_t op;  /* first: the driver hands us back this pointer */
    uv_fs_t req;       /* libuv's request; its callback completes op */
    fs_kind_t kind;    /* which system call */
    const char *path;  /* open, stat, unlink, rename (from), mkdir, rmdir */
    const char *path2; /* rename (to) */
    uv_file fd;        /* close, read, write, fsync, fstat */
    int flags;         /* open */
    int mode;          /* open, mkdir */
    uv_buf_t buf;      /* read, write: the caller's memory */
    int64_t offset;    /* read, write: -1 for the file position */
    struct stat *st;   /* stat, fstat: where the result goes */
    bool withdrawn;    /* driver only: the task gave up waiting (cancel ran first) */
} fs_op_t;

static void copy_stat(struct stat *st, const uv_stat_t *s) {
    memset(st, 0, sizeof *st);
    st->st_dev = (dev_t)s->st_dev;
    st->st_ino = (ino_t)s->st_ino;
    st->st_mode = (mode_t)s->st_mode;
    st->st_nlink = (nlink_t)s->st_nlink;
    st->st_uid = (uid_t)s->st_uid;
    st->st_gid = (gid_t)s->st_gid;
    st->st_rdev = (dev_t)s->st_rdev;
    st->st_size = (off_t)s->st_size;
    st->st_blksize = (blksize_t)s->st_blksize;
    st->st_blocks = (blkcnt_t)s->st_blocks;
    st->st_atim.tv_sec = s->st_atim.tv_sec;
    st->st_atim.tv_nsec = s->st_atim.tv_nsec;
    st->st_mtim.tv_sec = s->st_mtim.tv_sec;
    st->st_mtim.tv_nsec = s->st_mtim.tv_nsec;
    st->st_ctim.tv_sec = s->st_ctim.tv_sec;
    st->st_ctim.tv_nsec = s->st_ctim.tv_nsec;
}

/* ---- driver side ----------------------------------------------------------------------- */

static void on_fs(uv_fs_t *req) {
    fs_op_t *f = req->data;
    int r = (int)req->result;
    if ((f->kind == FS_STAT || f->kind == FS_FSTAT) && r == 0) copy_stat(f->st, &req->statbuf);
    uv_fs_req_cleanup(req);
    if (f->kind == FS_OPEN && r >= 0 && f->withdrawn) {
        /* Nobody is waiting for this descriptor any more: give it back at once (close is
         * quick, so doing it synchronously on the driver is fine). */
        uv_fs_t c;
        uv_fs_close(NULL, &c, r, NULL);
        uv_fs_req_cleanup(&c);
        r = UV_ECANCELED;
    }
    tide__io_live_add(-1);
    tide__io_complete(&f->op, r);
}

static void fs_start(tide__io_op_t *op, uv_loop_t *loop) {
    fs_op_t *f = (fs_op_t *)op;
    uv_fs_t *q = &f->req;
    q->data = f;
    int r;
    switch (f->kind) {
    case FS_OPEN: r = uv_fs_open(loop, q, f->path, f->flags, f->mode, on_fs); break;
    case FS_CLOSE: r = uv_fs_close(loop, q, f->fd, on_fs); break;
    case FS_READ: r = uv_fs_read(loop, q, f->fd, &f->buf, 1, f->offset, on_fs); break;
    case FS_WRITE: r = uv_fs_write(loop, q, f->fd, &f->buf, 1, f->offset, on_fs); break;
    case FS_FSYNC: r = uv_fs_fsync(loop, q, f->fd, on_fs); break;
    case FS_STAT: r = uv_fs_stat(loop, q, f->path, on_fs); break;
    case FS_FSTAT: r = uv_fs_fstat(loop, q, f->fd, on_fs); break;
    case FS_UNLINK: r = uv_fs_unlink(loop, q, f->path, on_fs); break;
    case FS_RENAME: r = uv_fs_rename(loop, q, f->path, f->path2, on_fs); break;
    case FS_MKDIR: r = uv_fs_mkdir(loop, q, f->path, f->mode, on_fs); break;
    case FS_RMDIR: r = uv_fs_rmdir(loop, q, f->path, on_fs); break;
    default: r = UV_EINVAL; break;
    }
    if (r < 0) {
        /* Refused before it was queued (no callback will come). */
        uv_fs_req_cleanup(q);
        tide__io_complete(op, r);
        return;
    }
    tide__io_live_add(1);
}

static void fs_cancel(tide__io_op_t *op, uv_loop_t *loop) {
    fs_op_t *f = (fs_op_t *)op;
    f->withdrawn = true;
    /* Succeeds only while the request waits for a pool thread; then its callback reports
     * UV_ECANCELED. A request already running finishes and reports its real result. */
    uv_cancel((uv_req_t *)&f->req);
}

/* ---- task side ------------------------------------------------------------------------- */

static int fs_run(fs_op_t *f, const char *what) {
    int err;
    tide__io_t *io = tide__sys_io(&err);
    if (!io) return err;
    if (f->kind != FS_CLOSE && (err = tide__sys_gate()) < 0) return err;
    f->op.start = fs_start;
    /* A close must happen even when the caller gives up, or the descriptor's fate is
     * unknown: it is never withdrawn. */
    f->op.cancel = f->kind == FS_CLOSE ? NULL : fs_cancel;
    f->withdrawn = false;
    return tide__sys_run(io, &f->op, what);
}

int tide_fs_open(const char *path, int flags, int mode) {
    if (!path) return -EINVAL;
    fs_op_t f = {.kind = FS_OPEN, .path = path, .flags = flags | O_CLOEXEC, .mode = mode};
    return fs_run(&f, "fs open");
}

int tide_fs_close(int fd) {
    if (fd < 0) return -EBADF;
    fs_op_t f = {.kind = FS_CLOSE, .fd = fd};
    return fs_run(&f, "fs close");
}

static ssize_t rw_once(fs_kind_t kind, int fd, void *buf, size_t len, int64_t offset) {
    fs_op_t f = {.kind = kind, .fd = fd, .buf = uv_buf_init(buf, 0), .offset = offset};
    /* One system call moves at most this much anyway (Linux caps read/write at 2 GB - 4 KB),
     * and libuv's uv_buf_t length must fit its callers' int results. */
    f.buf.len = len > 0x7ffff000 ? 0x7ffff000 : len;
    return fs_run(&f, kind == FS_READ ? "fs read" : "fs write");
}

/* Cleared if the kernel has no preadv2: then every read takes the pool. */
static _Atomic bool nowait_works = true;

/* The read straight from the page cache: its count or error, or -EAGAIN when it would block
 * or this kind of file does not support it (then the pool must do it). */
static ssize_t read_cached(int fd, void *buf, size_t len, int64_t offset) {
    if (!atomic_load_explicit(&nowait_works, memory_order_relaxed)) return -EAGAIN;
    struct iovec iov = {.iov_base = buf, .iov_len = len > 0x7ffff000 ? 0x7ffff000 : len};
    ssize_t n = preadv2(fd, &iov, 1, offset, RWF_NOWAIT);
    if (n >= 0) return n;
    switch (errno) {
    case EAGAIN:     /* not cached, or an empty pipe */
    case EOPNOTSUPP: /* directories, some file systems, kernels without RWF_NOWAIT */
    case EINVAL:     /* not allowed here (O_DIRECT alignment...): the pool says what it is */
    case EINTR:
        return -EAGAIN;
    case ENOSYS:     /* no preadv2 at all (before Linux 4.6) */
        atomic_store_explicit(&nowait_works, false, memory_order_relaxed);
        return -EAGAIN;
    default:
        return -errno; /* EBADF and the like: the pool would say the same */
    }
}

static ssize_t read_at(int fd, void *buf, size_t len, int64_t offset) {
    if (fd < 0) return -EBADF;
    if ((!buf && len) || len > SSIZE_MAX) return -EINVAL;
    if (!tide_runtime_current()) return -EPERM;
    int err = tide__sys_gate();
    if (err < 0) return err;
    ssize_t n = read_cached(fd, buf, len, offset);
    if (n != -EAGAIN) {
        tide_budget_tick();
        return n;
    }
    return rw_once(FS_READ, fd, buf, len, offset);
}

ssize_t tide_fs_read(int fd, void *buf, size_t len) {
    return read_at(fd, buf, len, -1);
}

ssize_t tide_fs_pread(int fd, void *buf, size_t len, int64_t offset) {
    if (offset < 0) return -EINVAL;
    return read_at(fd, buf, len, offset);
}

static ssize_t write_at(int fd, const void *buf, size_t len, int64_t offset) {
    if (fd < 0) return -EBADF;
    if ((!buf && len) || len > SSIZE_MAX) return -EINVAL;
    size_t done = 0;
    do {
        ssize_t r = rw_once(FS_WRITE, fd, (char *)buf + done, len - done,
                            offset < 0 ? -1 : offset + (int64_t)done);
        /* What was written stays reported; the error (or deadline) shows on the next call. */
        if (r < 0) return done ? (ssize_t)done : r;
        if (r == 0 && len) return done ? (ssize_t)done : -EIO;
        done += (size_t)r;
    } while (done < len);
    return (ssize_t)done;
}

ssize_t tide_fs_write(int fd, const void *buf, size_t len) {
    return write_at(fd, buf, len, -1);
}

ssize_t tide_fs_pwrite(int fd, const void *buf, size_t len, int64_t offset) {
    if (offset < 0) return -EINVAL;
    return write_at(fd, buf, len, offset);
}

int tide_fs_fsync(int fd) {
    if (fd < 0) return -EBADF;
    fs_op_t f = {.kind = FS_FSYNC, .fd = fd};
    return fs_run(&f, "fs fsync");
}

int tide_fs_stat(const char *path, struct stat *st) {
    if (!path || !st) return -EINVAL;
    fs_op_t f = {.kind = FS_STAT, .path = path, .st = st};
    return fs_run(&f, "fs stat");
}

int tide_fs_fstat(int fd, struct stat *st) {
    if (!st) return -EINVAL;
    if (fd < 0) return -EBADF;
    fs_op_t f = {.kind = FS_FSTAT, .fd = fd, .st = st};
    return fs_run(&f, "fs fstat");
}

int tide_fs_unlink(const char *path) {
    if (!path) return -EINVAL;
    fs_op_t f = {.kind = FS_UNLINK, .path = path};
    return fs_run(&f, "fs unlink");
}

int tide_fs_rename(const char *from, const char *to) {
    if (!from || !to) return -EINVAL;
    fs_op_t f = {.kind = FS_RENAME, .path = from, .path2 = to};
    return fs_run(&f, "fs rename");
}

int tide_fs_mkdir(const char *path, int mode) {
    if (!path) return -EINVAL;
    fs_op_t f = {.kind = FS_MKDIR, .path = path, .mode = mode};
    return fs_run(&f, "fs mkdir");
}

int tide_fs_rmdir(const char *path) {
    if (!path) return -EINVAL;
    fs_op_t f = {.kind = FS_RMDIR, .path = path};
    return fs_run(&f, "fs rmdir");
}
