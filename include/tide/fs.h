/* tide — files, aiofiles-style: open, read, write, stat, whole-file read and write.
 *
 * Every call runs the system call on libuv's thread pool, through the runtime's I/O driver,
 * and suspends only the calling task: a worker thread never blocks on the disk. Files are
 * plain descriptors (int), so they mix with any other code; tide_fs_open sets O_CLOEXEC.
 *
 * Errors every function here can return, besides the ones listed with it:
 *   -EPERM      called outside a task (the driver belongs to the caller's runtime);
 *   -ENOMEM     out of memory, or the runtime's I/O driver could not start;
 *   -ETIMEDOUT  the caller's deadline scope ended first and the operation did not happen;
 *   -ECANCELED  the calling task was cancelled and the operation did not happen;
 *   -EINVAL     a NULL pointer where one is required, or a length above SSIZE_MAX;
 *   any other negative errno of the underlying system call (-ENOENT, -EACCES, -EISDIR, -EBADF,
 *   -ENOSPC, -EEXIST, -ENOTDIR, ...).
 * A task that is already cancelled or past its deadline gets -ECANCELED or -ETIMEDOUT at once
 * and nothing is started (inside a shield, the call runs; tide_fs_close always closes).
 * A deadline or a cancel can only withdraw an operation that has not started on the thread
 * pool; one already running completes, and then its real result is returned (a count of
 * bytes read or written is never lost). tide_fs_open is the exception: an open that completes
 * after its wait was cut short closes the new descriptor again and reports -ETIMEDOUT or
 * -ECANCELED, so no descriptor leaks. */
#ifndef TIDE_FS_H
#define TIDE_FS_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "tide/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* open(2): returns the new descriptor (>= 0). flags are open(2)'s (O_RDONLY, O_WRONLY|O_CREAT|
 * O_TRUNC, O_APPEND...; O_CLOEXEC is always added); mode applies with O_CREAT. */
int tide_fs_open(const char *path, int flags, int mode);

/* close(2). Never interrupted by a deadline or a cancel: the descriptor is closed when it
 * returns, whatever the result. -EBADF for a descriptor that is not open. */
int tide_fs_close(int fd);

/* read(2) at the file position: up to len bytes into buf; returns the count, 0 at end of file.
 * -EBADF, -EISDIR (fd is a directory). Data already in the page cache is read on the calling
 * worker at once (preadv2 with RWF_NOWAIT); only reads that must wait for the device go to
 * the thread pool. */
ssize_t tide_fs_read(int fd, void *buf, size_t len);

/* pread(2): like tide_fs_read at offset (>= 0, else -EINVAL); the file position is unchanged. */
ssize_t tide_fs_pread(int fd, void *buf, size_t len, int64_t offset);

/* Write all len bytes at the file position (or at the end with O_APPEND); returns len. A
 * shorter count means an error, a deadline or a cancel stopped it after that many bytes were
 * written (the next call reports the error). -EBADF, -ENOSPC, -EFBIG, -EPIPE... */
ssize_t tide_fs_write(int fd, const void *buf, size_t len);

/* Like tide_fs_write at offset (>= 0, else -EINVAL); the file position is unchanged. */
ssize_t tide_fs_pwrite(int fd, const void *buf, size_t len, int64_t offset);

/* fsync(2): flush fd's data and metadata to the device. -EBADF, -EIO. */
int tide_fs_fsync(int fd);

/* stat(2) of path (following symbolic links) and fstat(2) of fd, into *st. -ENOENT, -EBADF. */
int tide_fs_stat(const char *path, struct stat *st);
int tide_fs_fstat(int fd, struct stat *st);

/* unlink(2), rename(2), mkdir(2) (mode as for mkdir: 0755 is usual), rmdir(2). -ENOENT,
 * -EEXIST, -EISDIR (unlink of a directory), -ENOTEMPTY (rmdir), -EACCES... */
int tide_fs_unlink(const char *path);
int tide_fs_rename(const char *from, const char *to);
int tide_fs_mkdir(const char *path, int mode);
int tide_fs_rmdir(const char *path);

/* Read a whole file in one trip to the thread pool (open, size, read, close). On success
 * *data is a malloc'ed buffer of *len bytes plus a terminating NUL (so text can be used as a
 * string); the caller free()s it. On failure *data is NULL and *len 0. Files whose size is not
 * known in advance (pipes, /proc) are read to their end. -ENOENT, -EISDIR, -EACCES, -EFBIG
 * (larger than the address space), -ENOMEM. A deadline or cancel during a large read stops
 * it between chunks. */
int tide_fs_read_file(const char *path, char **data, size_t *len);

/* Write len bytes of data as the whole content of path (created with mode 0644 if missing,
 * truncated otherwise) in one trip to the thread pool. A deadline or cancel stops it between
 * chunks and leaves the file partly written. -ENOENT (missing directory), -EISDIR, -EACCES,
 * -ENOSPC. */
int tide_fs_write_file(const char *path, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* TIDE_FS_H */
