/* files: aiofiles-style file I/O in C. Tasks write files, read them back and stat them
 * without ever blocking a worker thread: every call runs on libuv's thread pool through the
 * runtime's I/O driver and suspends only its task.
 *
 *   files [DIR]      (default: /tmp)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide.h"

#define NFILES 8

typedef struct job {
    char path[512]; /* the file this task owns */
    int index;      /* which one */
} job_t;

/* One file, the long way: open, write in pieces, read back, stat, remove. */
static int roundtrip(void *arg) {
    job_t *j = arg;
    int fd = tide_fs_open(j->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return fd;
    char line[64];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(line, sizeof line, "file %d, line %d\n", j->index, i);
        ssize_t w = tide_fs_write(fd, line, (size_t)n);
        if (w < 0) {
            tide_fs_close(fd);
            return (int)w;
        }
    }
    int r = tide_fs_close(fd);
    if (r < 0) return r;

    struct stat st;
    if ((r = tide_fs_stat(j->path, &st)) < 0) return r;
    char *data;
    size_t len;
    if ((r = tide_fs_read_file(j->path, &data, &len)) < 0) return r;
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += data[i] == '\n';
    printf("%s: %lld bytes on disk, %zu read back, %d lines, first: %.*s", j->path,
           (long long)st.st_size, len, lines, (int)(strchr(data, '\n') - data + 1), data);
    free(data);
    return tide_fs_unlink(j->path);
}

static int main_task(void *arg) {
    const char *dir = arg;
    /* The whole-file shortcuts first. */
    char path[512];
    snprintf(path, sizeof path, "%s/tide-files-demo.txt", dir);
    const char *text = "Hello from a tide task.\n";
    int r = tide_fs_write_file(path, text, strlen(text));
    if (r < 0) return r;
    char *back;
    size_t len;
    if ((r = tide_fs_read_file(path, &back, &len)) < 0) return r;
    printf("wrote and read back %zu bytes: %s", len, back);
    free(back);
    if ((r = tide_fs_unlink(path)) < 0) return r;

    /* Then NFILES files at once, a task each. */
    job_t jobs[NFILES];
    tide_task_t tasks[NFILES];
    int statuses[NFILES];
    for (int i = 0; i < NFILES; i++) {
        jobs[i].index = i;
        snprintf(jobs[i].path, sizeof jobs[i].path, "%s/tide-files-%d.txt", dir, i);
        if ((r = tide_spawn(&tasks[i], roundtrip, &jobs[i])) < 0) return r;
    }
    if ((r = tide_gather(tasks, NFILES, statuses, 0)) < 0) return r;
    for (int i = 0; i < NFILES; i++)
        if (statuses[i] < 0) printf("%s: %s\n", jobs[i].path, tide_strerror(statuses[i]));

    /* And what a missing file looks like. */
    struct stat st;
    r = tide_fs_stat("/no/such/file", &st);
    printf("stat /no/such/file: %s\n", tide_strerror(r));
    return 0;
}

int main(int argc, char **argv) {
    int r = tide_run(main_task, argc > 1 ? argv[1] : "/tmp");
    if (r < 0) fprintf(stderr, "files: %s\n", tide_strerror(r));
    return r < 0;
}
