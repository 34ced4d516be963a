/* Shared test helpers: the leak check every test ends with, and small utilities. */
#ifndef TIDE_TESTUTIL_H
#define TIDE_TESTUTIL_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include "tide.h"
#include "tide/ext.h"

/* What a test must give back: open descriptors and tide's heap. */
typedef struct tt_leaks {
    int fds;         /* open file descriptors at the start */
    int64_t heap;    /* tide's live heap bytes at the start */
} tt_leaks_t;

int tt_open_fds(void);
void tt_leaks_begin(tt_leaks_t *l);
/* Assert that nothing leaked since tt_leaks_begin (call after every runtime is freed). */
void tt_leaks_end(const tt_leaks_t *l);
/* Assert rt has no live task records or stacks (call before tide_runtime_close); waits up to
 * 5 s for detached tasks that are still finishing. */
void tt_runtime_quiet(tide_runtime_t *rt);

/* Run fn(arg) as the main task of a fresh runtime with `workers` workers (0: default) and
 * check that it returned 0 and that the runtime's life leaked nothing: task records, stacks,
 * I/O handles and requests, descriptors, heap. The usual body of a Test. */
void tt_run(int (*fn)(void *), void *arg, unsigned workers);

/* Signals for tests under ThreadSanitizer. TSan runs the program's handler for an
 * asynchronous signal only when the receiving thread enters or leaves a call it intercepts; a
 * worker parked in the runtime's raw futex system call does neither, so a signal the kernel
 * hands to it waits indefinitely (and libuv never learns that a child exited). Under TSan,
 * begin blocks `sigs` in the calling thread, so in every thread it starts afterwards (call
 * it before the runtime starts), and starts one helper thread that takes them, sleeping in
 * poll(2), which TSan intercepts; end stops the helper. In other builds both do nothing and
 * the kernel picks any thread. */
void tt_signal_sink_begin(const sigset_t *sigs);
void tt_signal_sink_end(void);

/* A runtime with n workers (0: default), asserting success. */
tide_runtime_t *tt_runtime(unsigned workers);

/* A gate built directly on wakers (so core tests need nothing from sync/): tasks or threads
 * wait until it opens; opening wakes them all. Waits honour deadlines and cancellation. */
typedef struct tt_gate_node {
    struct tt_gate_node *next, *prev; /* list of waiters */
    tide_waker_t waker;
    int woken;
} tt_gate_node_t;

typedef struct tt_gate {
    pthread_mutex_t lock;
    int open;
    uint64_t waiting;   /* waiters in the list */
    tt_gate_node_t *head;
} tt_gate_t;

void tt_gate_init(tt_gate_t *g);
int tt_gate_wait(tt_gate_t *g);          /* 0, -ETIMEDOUT, -ECANCELED */
void tt_gate_open(tt_gate_t *g);
uint64_t tt_gate_waiting(tt_gate_t *g);

/* Iteration counts: sanitizer builds run 5-15x slower, so adversarial loops shrink there
 * (the character of a test stays, its length does not explode). */
#ifdef TT_SANITIZED
#define TT_SCALE(n) ((n) / 10 > 0 ? (n) / 10 : 1)
#else
#define TT_SCALE(n) (n)
#endif

/* Tasks alive at the same time: ThreadSanitizer gives every task's stack a "fiber" and allows
 * at most 8,128 threads and fibers per process, so TSan builds cap concurrency there. */
#if defined(__SANITIZE_THREAD__)
#define TT_LIVE(n) ((n) < 4000 ? (n) : 4000)
#else
#define TT_LIVE(n) TT_SCALE(n)
#endif

/* Timing bounds stretch under sanitizers, which run 5-15x slower (and TSan far slower still
 * when it creates fibers for new task stacks). */
#if defined(__SANITIZE_THREAD__)
#define TT_SLACK(ns) ((ns) * 100)
#elif defined(TT_SANITIZED)
#define TT_SLACK(ns) ((ns) * 20)
#else
#define TT_SLACK(ns) (ns)
#endif

/* System calls tide's own code makes, counted process-wide (tests/CMakeLists.txt links every
 * test with -Wl,--wrap for them; libuv's calls are not counted). A loop that spins or retries
 * shows as thousands of calls, where a bound on time or process CPU would also trip on a
 * loaded machine or under a sanitizer with the code correct. */
uint64_t tt_accept_calls(void);     /* accept4 */
/* Run fn(NULL) as the main task of a 2-worker debug-mode runtime whose log lines are
 * collected; returns the log (valid until the next call). Checks the usual leaks. */
const char *tt_run_logged(int (*fn)(void *));

/* Stream sends: sendmsg, and send / sendto (one buffer, io/tcp.c), the libc calls or the raw
 * system calls. */
uint64_t tt_sendmsg_calls(void);
uint64_t tt_epoll_wait_calls(void); /* epoll_wait (the workers' and driver's harvests) */
/* Watch the sends on fd (one watch at a time, from here on): tt_send_watch_max is the most one
 * moved after a send on fd first came back short or with EAGAIN (its buffer was full). */
void tt_send_watch(int fd);
uint64_t tt_send_watch_max(void);
/* Task switches of the calling task's runtime so far (every worker's tasks_run). */
uint64_t tt_tasks_run(void);

/* A plain blocking socket connected to 127.0.0.1:port (a client outside the runtime), its
 * reads bounded at 20 s so a stalled server fails a test instead of hanging it; or -errno. */
int tt_connect_blocking(uint16_t port);

/* The monotonic clock read afresh, in ns: a task that computes without yielding cannot use
 * tide_now(), which may be its worker's cached reading. */
int64_t tt_mono_ns(void);

/* Cheap thread-safe random numbers for adversarial interleavings. */
uint32_t tt_rand(void);
/* Yield a random number of times (0..max) when inside a task. */
void tt_random_yields(unsigned max);

#endif
