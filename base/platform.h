/* Small platform helpers shared by every layer (base/ is on the include path of runtime/,
 * sync/ and io/; runtime/platform.c implements them): atomics shorthands, CPU pause, futex,
 * allocation (jemalloc's sized API when built with it), and branch hints. */
#ifndef TIDE_BASE_PLATFORM_H
#define TIDE_BASE_PLATFORM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <ck_spinlock.h>

#define TIDE_LIKELY(x) __builtin_expect(!!(x), 1)
#define TIDE_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TIDE_CACHELINE 64
#define TIDE_ALIGNED __attribute__((aligned(TIDE_CACHELINE)))
#define TIDE_NOINLINE __attribute__((noinline))
#define TIDE_UNUSED __attribute__((unused))

/* Memory-order shorthands, upper-case so they cannot clash with ordinary identifiers. */
#define MO_RELAXED memory_order_relaxed
#define MO_ACQUIRE memory_order_acquire
#define MO_RELEASE memory_order_release
#define MO_ACQ_REL memory_order_acq_rel
#define MO_SEQ_CST memory_order_seq_cst

/* Counters with a single writer: a relaxed load and store (no locked instruction), still
 * race-free for readers such as tide_runtime_stats. */
#define tide__count(field, n) \
    atomic_store_explicit(&(field), atomic_load_explicit(&(field), MO_RELAXED) + (n), MO_RELAXED)

static inline void tide__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/* Futex on a 32-bit word: wait while *addr == expected, up to an absolute monotonic deadline
 * (INT64_MAX: none). Returns 0 when woken (or the value differed), -ETIMEDOUT at the deadline. */
int tide__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t deadline);
void tide__futex_wake(_Atomic uint32_t *addr, int count);

/* membarrier(2): a full memory barrier on every running thread of the process, the heavy half
 * of the asymmetric fences that let the LIFO slot's owner (runtime/runq.h) and the mutex's
 * unlock (sync/mutex.c) use plain stores. tide__membarrier_state: 0 not tried yet, 1 the
 * process is registered, -1 unavailable (an old kernel, a sandbox, a big-endian build for
 * the mutex's byte store); it only ever moves from 0. tide__membarrier_setup settles it
 * (registering once) and returns it. tide__membarrier issues the barrier; false if refused. */
extern _Atomic int tide__membarrier_state;
int tide__membarrier_setup(void);
bool tide__membarrier(void);

#include "sanitizer.h" /* TIDE_ASAN, TIDE_TSAN */

/* ThreadSanitizer cannot see Concurrency Kit's synchronisation: its loads and stores are
 * volatile accesses and its fences compiler-only on x86-64 (see docs/architecture.md, "Concurrency
 * Kit under ThreadSanitizer"). Where tide hands data over through a ck structure, it tells TSan
 * about the hand-over itself: a release on the structure's address after publishing, an acquire
 * after consuming. Empty in every other build. */
#ifdef TIDE_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TIDE_TSAN_ACQUIRE(addr) __tsan_acquire((void *)(addr))
#define TIDE_TSAN_RELEASE(addr) __tsan_release((void *)(addr))
#else
#define TIDE_TSAN_ACQUIRE(addr) ((void)0)
#define TIDE_TSAN_RELEASE(addr) ((void)0)
#endif

/* A spinlock for critical sections of a few instructions: Concurrency Kit's fetch-and-store
 * lock, which spins on a plain load (test-and-test-and-set) between attempts. */
typedef struct {
    ck_spinlock_fas_t ck; /* the lock word: false free, true held */
} tide__spin_t;

#define TIDE_SPIN_INIT {CK_SPINLOCK_FAS_INITIALIZER}

#ifdef TIDE_TSAN
/* Under ThreadSanitizer the lock is out of line, in runtime/spin_tsan.c, which is compiled
 * without instrumentation: TSan sees neither ck's lock word nor its fences, only the
 * acquire/release annotations, so it checks the data the lock guards and never reports (nor
 * has to suppress) ck's own accesses. See runtime/platform.c, "Concurrency Kit under TSan". */
void tide__spin_init(tide__spin_t *l);
void tide__spin_lock(tide__spin_t *l);
bool tide__spin_trylock(tide__spin_t *l);
void tide__spin_unlock(tide__spin_t *l);
#else
static inline void tide__spin_init(tide__spin_t *l) { ck_spinlock_fas_init(&l->ck); }
static inline void tide__spin_lock(tide__spin_t *l) { ck_spinlock_fas_lock(&l->ck); }
static inline bool tide__spin_trylock(tide__spin_t *l) {
    /* Look before writing, so a held lock's cache line is not pulled away from its owner. */
    return !ck_spinlock_fas_locked(&l->ck) && ck_spinlock_fas_trylock(&l->ck);
}
static inline void tide__spin_unlock(tide__spin_t *l) { ck_spinlock_fas_unlock(&l->ck); }
#endif

/* Allocation: jemalloc's mallocx/sdallocx (sized free) when built with it, libc otherwise
 * (the sanitizer builds, whose allocators must see every block). Returns NULL on failure.
 *
 * Frees are sized, and the size a free takes is always the one its allocation was asked for:
 * any rounding (the cache-line rounding of the aligned pair) happens inside, so no caller
 * recomputes it. A wrong size would be undefined behaviour under sdallocx and skew the leak
 * counter: fixed-size objects use the typed pairs below, which take the size from the
 * pointer's type; variable-size blocks pass the size they asked for. Checked builds
 * (TIDE_ALLOC_CHECK: sanitizers, or no NDEBUG) verify every free's size against the
 * allocator's own record of the block and abort on a mismatch. */
void *tide__alloc(size_t size);
void *tide__calloc(size_t size);
void tide__free(void *p, size_t size); /* size: as asked of tide__alloc / tide__calloc */
void *tide__alloc_aligned(size_t size); /* cache-line aligned, zeroed */
void tide__free_aligned(void *p, size_t size); /* size: as asked of tide__alloc_aligned */

/* Fixed-size objects: new (zeroed) and delete, the size from the type. tide__delete also
 * frees what tide__alloc(sizeof *p) returned; it refuses a void pointer at compile time. */
#define TIDE__TYPED_PTR(p)                                                                    \
    (void)sizeof(struct {                                                                     \
        _Static_assert(!__builtin_types_compatible_p(__typeof__(*(p)), void),                 \
                       "a typed pointer is needed to know the size");                         \
        int unused;                                                                           \
    })
#define tide__new(type) ((type *)tide__calloc(sizeof(type)))
#define tide__delete(p) (TIDE__TYPED_PTR(p), tide__free((p), sizeof *(p)))
#define tide__new_aligned(type) ((type *)tide__alloc_aligned(sizeof(type)))
#define tide__delete_aligned(p) (TIDE__TYPED_PTR(p), tide__free_aligned((p), sizeof *(p)))

#if defined(TIDE_TSAN) || defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
#define TIDE_ALLOC_CHECK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TIDE_ALLOC_CHECK 1
#endif
#endif

/* The allocation fault hook (tide_test_fail_alloc): when armed, tide__alloc_fault() counts an
 * allocation and says whether it must fail. Off, it costs one relaxed load and a branch the
 * predictor always gets right. Every allocation tide makes asks it first: the heap ones here,
 * stack mappings, the I/O driver's and the thread wait records. */
extern _Atomic int tide__fault_armed;
bool tide__fault_hit(void);
static inline bool tide__alloc_fault(void) {
    return TIDE_UNLIKELY(atomic_load_explicit(&tide__fault_armed, MO_RELAXED)) &&
           tide__fault_hit();
}
/* Bytes tide has allocated and not freed (all its heap use goes through these functions):
 * what the tests' leak check compares before and after a runtime's life. */
int64_t tide__mem_live(void);

/* Monotonic nanoseconds, inline for the scheduler's hot paths. */
static inline int64_t tide__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether `deadline` (ns, monotonic) is still ahead. Blocking calls check their deadline
 * before every system call and park, and a server's timeouts are seconds away: the kernel's
 * tick-granular clock (CLOCK_MONOTONIC_COARSE, a vDSO read of the last tick's time, never
 * ahead of the exact clock and behind it by at most a tick, 1-10 ms) settles those at a
 * fraction of an exact read's cost; only a deadline within TIDE_COARSE_SLACK of it needs
 * the exact clock. */
#define TIDE_COARSE_SLACK 25000000 /* 25 ms: more than a tick at HZ=100 */
static inline bool tide__before(int64_t deadline) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t coarse = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (TIDE_LIKELY(deadline > coarse + TIDE_COARSE_SLACK)) return true;
    return tide__now() < deadline;
}

/* Whether the caller (task or thread) has a cancel pending (shielded or not) or a deadline
 * that has passed: tide_cancelled() and tide_deadline() in one lookup of the caller, for the
 * check the I/O calls make before each system call (runtime/time.c). */
int tide__deadline_due(void);

/* The calling thread's errno, looked up afresh: glibc declares __errno_location() const, so
 * a compiler may reuse &errno computed before a context switch (GCC bug 26461), and a task
 * that moved to another worker would then read or write the old thread's errno. */
int *tide__errno_ptr(void);

/* Write a message straight to stderr with write(2): safe in signal handlers and when the
 * heap may be corrupt. Pieces are concatenated; NULL ends the list. */
void tide__die_write(const char *first, ...);
/* Format an unsigned number into buf (at least 24 bytes); returns buf. Async-signal-safe. */
char *tide__utoa(uint64_t v, char *buf);

#endif
