/* Futex, allocation and signal-safe output helpers (see platform.h). */
#include "platform.h"

#include "tide/ext.h"

#include <errno.h>
#include <malloc.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef TIDE_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

_Atomic int tide__membarrier_state;

/* membarrier(2) has no libc wrapper. All six argument slots are passed: a wrapper of
 * syscall() (the tests' call counter) may read them all. */
static long membarrier_call(int cmd) {
    return syscall(SYS_membarrier, cmd, 0L, 0L, 0L, 0L, 0L);
}

int tide__membarrier_setup(void) {
    int st = atomic_load_explicit(&tide__membarrier_state, memory_order_acquire);
    if (TIDE_LIKELY(st)) return st;
    st = membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 ? 1 : -1;
    int none = 0;
    if (!atomic_compare_exchange_strong_explicit(&tide__membarrier_state, &none, st,
                                                 memory_order_acq_rel, memory_order_acquire))
        st = none;
    return st;
}

/* EPERM although registered: a child forked after the parent registered (registration
 * belongs to the address space, and fork starts a new one); register again. */
bool tide__membarrier(void) {
    if (membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return true;
    return errno == EPERM && membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
           membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0;
}

int tide__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t deadline) {
    struct timespec ts, *tsp = NULL;
    if (deadline != INT64_MAX) {
        /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time (FUTEX_WAIT a relative
         * one), so a retry after EINTR does not stretch the wait. */
        if (deadline < 0) deadline = 0;
        ts.tv_sec = deadline / 1000000000;
        ts.tv_nsec = deadline % 1000000000;
        tsp = &ts;
    }
    long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
                     expected, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT) return -ETIMEDOUT;
    return 0;
}

void tide__futex_wake(_Atomic uint32_t *addr, int count) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, NULL, NULL, 0);
}

static _Atomic int64_t mem_live;

static void *account(void *p, size_t size) {
    if (p) atomic_fetch_add_explicit(&mem_live, (int64_t)size, MO_RELAXED);
    return p;
}

/* ---- the allocation fault hook ---- */

_Atomic int tide__fault_armed;       /* a mode is set: allocations consult the counter */
static _Atomic int fault_mode;        /* TIDE_FAIL_OFF, TIDE_FAIL_NTH or TIDE_FAIL_FROM */
static _Atomic int64_t fault_seen;    /* allocations counted since the hook was last set */
static _Atomic int64_t fault_nth;     /* the (1-based) allocation that fails first */

bool tide__fault_hit(void) {
    int mode = atomic_load_explicit(&fault_mode, MO_ACQUIRE);
    int64_t n = atomic_fetch_add_explicit(&fault_seen, 1, MO_RELAXED) + 1;
    int64_t nth = atomic_load_explicit(&fault_nth, MO_RELAXED);
    if (mode == TIDE_FAIL_NTH) return n == nth;
    if (mode == TIDE_FAIL_FROM) return n >= nth;
    return false; /* TIDE_FAIL_COUNT */
}

int64_t tide_test_fail_alloc(int64_t nth, int mode) {
    int64_t seen = atomic_load_explicit(&fault_seen, MO_RELAXED);
    if (mode < TIDE_FAIL_OFF || mode > TIDE_FAIL_COUNT) return -EINVAL;
    if (mode != TIDE_FAIL_OFF && mode != TIDE_FAIL_COUNT && nth < 1) return -EINVAL;
    atomic_store_explicit(&tide__fault_armed, 0, MO_RELAXED);
    atomic_store_explicit(&fault_nth, nth, MO_RELAXED);
    atomic_store_explicit(&fault_seen, 0, MO_RELAXED);
    atomic_store_explicit(&fault_mode, mode, MO_RELEASE);
    atomic_store_explicit(&tide__fault_armed, mode != TIDE_FAIL_OFF, MO_SEQ_CST);
    return seen;
}

int64_t tide__mem_live(void) {
    return atomic_load_explicit(&mem_live, MO_RELAXED);
}

/* The size an aligned block really has: the rounding is the allocator's, never a caller's. */
static size_t aligned_size(size_t size) {
    return size ? (size + TIDE_CACHELINE - 1) & ~(size_t)(TIDE_CACHELINE - 1) : TIDE_CACHELINE;
}

#ifdef TIDE_ALLOC_CHECK
#if defined(TIDE_TSAN) || defined(TIDE_ASAN)
#define SANITIZER_MALLOC 1
#endif
/* A free's size must be the one its block was allocated with: compare with what the
 * allocator itself recorded. jemalloc: the size class the size maps to (exactly the sizes
 * sdallocx accepts). The sanitizers' allocators report the requested size exactly; plain
 * glibc (a Debug build without jemalloc) only bounds it. */
static void check_size(void *p, size_t size, bool aligned) {
#ifdef TIDE_WITH_JEMALLOC
    bool ok = sallocx(p, 0) == nallocx(size ? size : 1, aligned ? MALLOCX_ALIGN(TIDE_CACHELINE) : 0);
#elif defined(SANITIZER_MALLOC)
    bool ok = malloc_usable_size(p) == (size ? size : 1);
#else
    bool ok = malloc_usable_size(p) >= size;
#endif
    if (TIDE_LIKELY(ok)) return;
    char a[24], b[24];
    tide__die_write("tide: freed with the wrong size: ", tide__utoa(size, a),
                    " bytes, the block has ", tide__utoa(malloc_usable_size(p), b), "\n", NULL);
    abort();
}
#else
#define check_size(p, size, aligned) ((void)0)
#endif

void *tide__alloc(size_t size) {
    if (tide__alloc_fault()) return NULL;
#ifdef TIDE_WITH_JEMALLOC
    return account(mallocx(size ? size : 1, 0), size);
#else
    return account(malloc(size ? size : 1), size);
#endif
}

void *tide__calloc(size_t size) {
    if (tide__alloc_fault()) return NULL;
#ifdef TIDE_WITH_JEMALLOC
    return account(mallocx(size ? size : 1, MALLOCX_ZERO), size);
#else
    return account(calloc(1, size ? size : 1), size);
#endif
}

void tide__free(void *p, size_t size) {
    if (!p) return;
    check_size(p, size, false);
    atomic_fetch_sub_explicit(&mem_live, (int64_t)size, MO_RELAXED);
#ifdef TIDE_WITH_JEMALLOC
    sdallocx(p, size ? size : 1, 0);
#else
    free(p);
#endif
}

void *tide__alloc_aligned(size_t size) {
    if (tide__alloc_fault()) return NULL;
    size = aligned_size(size);
#ifdef TIDE_WITH_JEMALLOC
    return account(mallocx(size, MALLOCX_ALIGN(TIDE_CACHELINE) | MALLOCX_ZERO), size);
#else
    void *p = aligned_alloc(TIDE_CACHELINE, size);
    if (p) memset(p, 0, size);
    return account(p, size);
#endif
}

void tide__free_aligned(void *p, size_t size) {
    if (!p) return;
    size = aligned_size(size);
    check_size(p, size, true);
    atomic_fetch_sub_explicit(&mem_live, (int64_t)size, MO_RELAXED);
#ifdef TIDE_WITH_JEMALLOC
    sdallocx(p, size, MALLOCX_ALIGN(TIDE_CACHELINE));
#else
    free(p);
#endif
}

__attribute__((noinline)) int *tide__errno_ptr(void) {
    __asm__ __volatile__("" ::: "memory");
    return &errno;
}

char *tide__utoa(uint64_t v, char *buf) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (int i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n] = 0;
    return buf;
}

void tide__die_write(const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        size_t len = strlen(s);
        while (len > 0) {
            ssize_t w = write(2, s, len);
            if (w <= 0) {
                if (w < 0 && errno == EINTR) continue;
                break;
            }
            s += w;
            len -= (size_t)w;
        }
    }
    va_end(ap);
}

/* Concurrency Kit under ThreadSanitizer.
 *
 * Built with CK_USE_CC_BUILTINS=1 (CMakeLists.txt), ck's read-modify-writes are compiler
 * builtins, but its plain loads and stores stay volatile accesses and its fences compile to
 * nothing TSan models. So TSan would report ck's own lock words as racy, and would miss the
 * hand-over of the data behind them. tide answers both:
 *  - ck's code runs uninstrumented: the spinlock is out of line in runtime/spin_tsan.c, compiled
 *    without -fsanitize=thread, so TSan never sees ck's accesses;
 *  - the hand-over is annotated (TIDE_TSAN_ACQUIRE after taking, TIDE_TSAN_RELEASE before
 *    letting go; platform.h), so races on the data guarded through ck are still found.
 * The coverage this gives up (ck's internal orderings) is replaced by the stress tests of each
 * ck-backed structure in the release and ASan builds (tests/test_spinlock.c).
 * Suppressing ck's reports instead (the first answer) was not free: matching a suppression
 * symbolizes the report's stacks, and the first symbolization loads the debug information of
 * every linked library, which held every thread of the process for 0.4-0.7 s.
 *
 * The suppressions that remain live in this file because every program linked with tide links
 * it (an object of their own in the static archive would be left out: nothing refers to them);
 * they are weak, so a program with suppressions of its own keeps those (and should repeat
 * these). */
#ifdef TIDE_TSAN
__attribute__((weak)) const char *__tsan_default_suppressions(void);
__attribute__((weak)) const char *__tsan_default_suppressions(void) {
    return /* OpenSSL: libcrypto and libssl are not instrumented, so their own synchronisation
            * through atomics is invisible to TSan (the lock-free `ex_cached` acquire check in
            * x509v3_cache_extensions, crypto/x509/v3_purp.c, see openssl/openssl#6996 and
            * #32609), and it reports races on certificate data that a shared context's
            * handshakes read concurrently. Only reports with a libcrypto or libssl frame. */
           "race:libcrypto.so.3\n"
           "race:libssl.so.3\n";
}
#endif
