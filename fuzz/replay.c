/* Runs a libFuzzer harness over files and directories of inputs without libFuzzer, so every
 * build (gcc, the sanitizers) checks the harness's invariants on the seed corpus:
 *
 *   fuzz_http_parse_replay fuzz/corpus/http_parse [more files or directories...]
 *
 * Exits 0 after the last input, or aborts in the harness at the first broken invariant. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t m;
    while (buf && (m = fread(buf + n, 1, cap - n, f)) > 0) {
        n += m;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) return -1;
    /* An exact-size copy, so a read past the input is past the allocation. */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) return -1;
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

static int run(const char *path, int *count) {
    struct stat st;
    if (stat(path, &st) < 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return run_file(path);
    }
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    int r = 0;
    while (r == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        r = run(sub, count);
    }
    closedir(d);
    return r;
}

int main(int argc, char **argv) {
    int count = 0;
    for (int i = 1; i < argc; i++)
        if (run(argv[i], &count) < 0) return 1;
    printf("%d inputs checked\n", count);
    return count > 0 ? 0 : 1;
}
