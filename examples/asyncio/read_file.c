/* read_file: read a file without blocking the event loop, aiofiles-style
 * (seeds/002_cb5deb1ceb6c05fa.txt).
 *
 *   async def read_file(filename):
 *       async with aiofiles.open(filename, mode='r') as f:
 *           contents = await f.read()
 *       print(contents)
 *   asyncio.run(read_file('example.txt'))
 *
 *   read_file [FILE]      (default: example.txt)
 *
 * The open, read and close run on the I/O driver's thread pool; only this task waits.
 * tide_fs_read_file does the three in one trip; the open/read/close form is below it, as
 * the `async with` block reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tutorial.h"

static int read_file(void *arg) {
    const char *filename = arg;
    int fd = tide_fs_open(filename, O_RDONLY, 0);
    if (fd < 0) return fd;
    size_t cap = 4096, len = 0;
    char *contents = malloc(cap + 1);
    ssize_t n = contents ? 1 : -ENOMEM;
    while (n > 0) {
        if (len == cap) {
            char *bigger = realloc(contents, cap * 2 + 1);
            if (!bigger) {
                n = -ENOMEM;
                break;
            }
            contents = bigger;
            cap *= 2;
        }
        n = tide_fs_read(fd, contents + len, cap - len);
        if (n > 0) len += (size_t)n;
    }
    tide_fs_close(fd); /* the end of the `async with` block */
    if (n < 0) {
        free(contents);
        return (int)n;
    }
    contents[len] = 0;
    printf("%s\n", contents); /* print adds a newline, as Python's does */
    free(contents);
    return 0;
}

int main(int argc, char **argv) {
    const char *filename = argc > 1 ? argv[1] : "example.txt";
    int r = tide_run(read_file, (void *)filename);
    if (r < 0) fprintf(stderr, "read_file: %s: %s\n", filename, tide_strerror(r));
    return r < 0;
}
