/* tide-page-walk: what one cold line costs by how far apart the objects holding it are.
 *
 * sleep_many resumes 100,000 parked tasks, each on its own stack page 320 KiB (stack + moat)
 * from the next; a tokio sleeper is a ~200 B heap object. This reads one line of each of N
 * objects placed `spacing` bytes apart, in a shuffled order, and prints the best of 7 rounds
 * in ns per line: spacing 256 is the heap-object layout, 4096 one object per page (page-table
 * lines shared by 8 pages), 327680 tide's stack tops (every page-table line of its own). No
 * tide in it: it measures the machine, so the docs can say which layouts are worth trying.
 *
 *   tide-page-walk N SPACING [MODE]
 *
 * MODE 0 (default): a dependent chain (each line holds the next one's address), as a switch
 * onto a stack reads the saved sp from the record, then the stack. MODE 1: independent loads
 * the CPU may overlap, as when they are prefetched ahead. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s N SPACING [MODE]\n", argv[0]);
        return 2;
    }
    size_t n = strtoul(argv[1], NULL, 10), spacing = strtoul(argv[2], NULL, 10);
    int mode = argc > 3 ? atoi(argv[3]) : 0;
    if (n < 2 || spacing < sizeof(void *) || spacing % sizeof(void *)) {
        fprintf(stderr, "N >= 2, SPACING a multiple of %zu\n", sizeof(void *));
        return 2;
    }
    size_t len = n * spacing;
    char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    size_t *perm = malloc(n * sizeof *perm);
    if (m == MAP_FAILED || !perm) {
        perror("tide-page-walk");
        return 1;
    }
    /* 4 KiB pages, as tide's stacks are: a huge page would hide the walks being measured. */
    madvise(m, len, MADV_NOHUGEPAGE);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    srand(1);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)rand() % (i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < n; i++) *(char **)(void *)(m + perm[i] * spacing) = m + perm[(i + 1) % n] * spacing;
    double best = 1e30;
    volatile uintptr_t sink = 0; /* keeps the reads */
    for (int r = 0; r < 7; r++) {
        double t0 = now_ns();
        if (mode == 0) {
            char *p = m + perm[0] * spacing;
            for (size_t i = 0; i < n; i++) p = *(char **)(void *)p;
            sink += (uintptr_t)p;
        } else {
            uintptr_t acc = 0;
            for (size_t i = 0; i < n; i++) acc += *(uintptr_t *)(void *)(m + perm[i] * spacing);
            sink += acc;
        }
        double d = (now_ns() - t0) / (double)n;
        if (d < best) best = d;
    }
    printf("n=%zu spacing=%zu mode=%s: %.1f ns per line\n", n, spacing,
           mode == 0 ? "chain" : "independent", best);
    free(perm);
    munmap(m, len);
    return 0;
}
