/* Observability: task dumps, debug mode's reports (slow tasks, failures nobody joined, tasks
 * still alive at shutdown), the registry of live runtimes (for debuggers: tools/gdb walks it),
 * and the task dump on a signal (Go's SIGQUIT dump).
 *
 * The dump signal: a handler may not walk the task list (it takes locks, it prints), so the
 * handler only writes a byte to a pipe; a small thread of ours reads it and dumps every runtime
 * that asked for the signal, under the registry's lock. That thread is the one thread that
 * never blocks the signal (workers block asynchronous signals), so a dump works even while
 * every worker is busy or the program's own threads block the signal. */
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "scheduler.h"

static const char *state_name(uint32_t s) {
    switch (s) {
    case TASK_RUNNING: case TASK_RESUMED: return "running";
    case TASK_WAITING: return "waiting";
    case TASK_NOTIFIED: return "waking";
    case TASK_RUNNABLE: return "runnable";
    case TASK_DONE: return "done";
    default: return "?";
    }
}

/* A copy of what a dump shows, taken under the task's lock. Some fields are written by their
 * owners without that lock (the worker running the task; the spawn site and name, filled in
 * right after the record gets its id): a dump taken while the runtime runs may see them stale
 * or not yet set, never dangling (records are type-stable, the strings static or kept
 * NUL-terminated in the record). ThreadSanitizer is told so instead of reporting it. */
typedef struct snapshot {
    uint64_t id;
    char name[32];
    const char *state;
    const char *waiting_on;
    const char *file;
    unsigned line;
    int worker;
    int status;
    bool cancelled;
    bool done;
} snapshot_t;

#ifdef TIDE_TSAN
__attribute__((no_sanitize("thread")))
#endif
static bool snap(tide__task_t *t, snapshot_t *s) {
    tide__task_lock(t);
    s->id = atomic_load_explicit(&t->id, MO_RELAXED);
    if (!s->id) {
        tide__task_unlock(t);
        return false;
    }
    memcpy(s->name, t->name, sizeof s->name);
    s->name[sizeof s->name - 1] = 0;
    uint32_t flags = atomic_load_explicit(&t->flags, MO_RELAXED);
    uint64_t st = atomic_load_explicit(&t->state, MO_RELAXED);
    s->done = flags & TF_DONE;
    s->state = s->done ? "done" : state_name(ST_STATE(st));
    s->waiting_on = atomic_load_explicit(&t->waiting_on, MO_RELAXED);
    s->file = t->spawn_file;
    s->line = t->spawn_line;
    s->worker = (ST_STATE(st) == TASK_RUNNING || ST_STATE(st) == TASK_RESUMED) && t->worker
                    ? (int)t->worker->index : -1;
    s->status = t->status;
    s->cancelled = flags & TF_CANCELLED;
    tide__task_unlock(t);
    return true;
}

/* One task as the dump and the reports show it: "task 7 'name' waiting on sleep
 * spawned at f.c:12" (no newline). */
static void describe(const snapshot_t *s, char *buf, size_t size) {
    size_t n = 0;
#define PUT(...)                                                                   \
    do {                                                                           \
        int k = snprintf(buf + n, size - n, __VA_ARGS__);                          \
        if (k > 0) n = (size_t)k < size - n ? n + (size_t)k : size - 1;            \
    } while (0)
    PUT("task %llu%s%s%s %s", (unsigned long long)s->id, s->name[0] ? " '" : "", s->name,
        s->name[0] ? "'" : "", s->state);
    if (s->worker >= 0) PUT(" on worker %d", s->worker);
    if (s->waiting_on && strcmp(s->state, "waiting") == 0) PUT(" on %s", s->waiting_on);
    if (s->done) PUT(" (status %d, not joined)", s->status);
    if (s->cancelled) PUT(" [cancelled]");
    PUT("  spawned at %s:%u", s->file ? s->file : "?", s->line);
#undef PUT
}

typedef struct dump_ctx {
    int fd;
    unsigned count;
} dump_ctx_t;

static void dump_one(tide__task_t *t, void *arg) {
    dump_ctx_t *d = arg;
    snapshot_t s;
    if (!snap(t, &s)) return;
    d->count++;
    char line[256];
    describe(&s, line, sizeof line);
    dprintf(d->fd, "  %s\n", line);
}

int tide_runtime_dump(tide_runtime_t *rt, int fd) {
    if (!rt || fd < 0) return -EINVAL;
    dprintf(fd, "tide: task dump (%u workers, global queue %lld)\n", rt->nworkers,
            (long long)tide__inject_len(&rt->inject));
    dump_ctx_t d = {fd, 0};
    tide__task_foreach(&rt->tasks, dump_one, &d);
    dprintf(fd, "tide: %u tasks\n", d.count);
    return (int)d.count;
}

/* ---- debug mode's reports -------------------------------------------------------------- */

void tide__debug_slow(tide__task_t *t, int64_t ran_ns) {
    TIDE__LOG(t->rt, TIDE_LOG_WARN,
              "task %llu%s%s%s (spawned at %s:%u) ran %.1f ms without yielding",
              (unsigned long long)atomic_load_explicit(&t->id, MO_RELAXED),
              t->name[0] ? " '" : "", t->name, t->name[0] ? "'" : "",
              t->spawn_file ? t->spawn_file : "?", t->spawn_line, (double)ran_ns / 1e6);
}

void tide__debug_unjoined(tide__task_t *t) {
    /* A task that ended because it was cancelled did what it was asked (asyncio does not
     * report a cancelled task either); shutdown's cancellations are reported as still alive. */
    if (t->status == -ECANCELED && (atomic_load_explicit(&t->flags, MO_ACQUIRE) & TF_CANCELLED))
        return;
    TIDE__LOG(t->rt, TIDE_LOG_WARN,
              "task %llu%s%s%s (spawned at %s:%u) failed with %d (%s) and nobody joined it",
              (unsigned long long)atomic_load_explicit(&t->id, MO_RELAXED),
              t->name[0] ? " '" : "", t->name, t->name[0] ? "'" : "",
              t->spawn_file ? t->spawn_file : "?", t->spawn_line, t->status,
              tide_strerror(t->status));
}

/* Who: "task 7 'name' (spawned at f.c:12)", or "a thread" for a plain thread's stand-in. */
static void who(tide__task_t *t, char *buf, size_t size) {
    if (atomic_load_explicit(&t->flags, MO_RELAXED) & TF_THREAD) {
        snprintf(buf, size, "a thread");
        return;
    }
    snprintf(buf, size, "task %llu%s%s%s (spawned at %s:%u)",
             (unsigned long long)atomic_load_explicit(&t->id, MO_RELAXED),
             t->name[0] ? " '" : "", t->name, t->name[0] ? "'" : "",
             t->spawn_file ? t->spawn_file : "?", t->spawn_line);
}

void tide__debug_scope_mismatch(tide__task_t *t, const char *fn, uint32_t depth) {
    char w[128];
    who(t, w, sizeof w);
    TIDE__LOG(t->rt, TIDE_LOG_WARN,
              "%s: %s ends a scope opened at depth %u while %u are open: %s", w, fn,
              (unsigned)depth, (unsigned)t->scope_depth,
              depth < t->scope_depth ? "an inner deadline scope or shield was never ended "
                                       "(ended with it now)"
                                     : "it was ended twice, or out of order");
}

void tide__debug_scope_leak(tide__task_t *t) {
    char w[128];
    who(t, w, sizeof w);
    TIDE__LOG(t->rt, TIDE_LOG_WARN, "%s returned with %u deadline scope(s) or shield(s) not ended",
              w, (unsigned)t->scope_depth);
}

typedef struct alive_ctx {
    tide_runtime_t *rt;
    unsigned count;
} alive_ctx_t;

static void count_alive(tide__task_t *t, void *arg) {
    alive_ctx_t *a = arg;
    if (!(atomic_load_explicit(&t->flags, MO_ACQUIRE) & TF_DONE)) a->count++;
}

static void report_alive(tide__task_t *t, void *arg) {
    alive_ctx_t *a = arg;
    snapshot_t s;
    if (!snap(t, &s) || s.done) return;
    char line[256];
    describe(&s, line, sizeof line);
    TIDE__LOG(a->rt, TIDE_LOG_WARN, "still alive at shutdown: %s", line);
}

void tide__debug_alive(tide_runtime_t *rt) {
    alive_ctx_t a = {rt, 0};
    tide__task_foreach(&rt->tasks, count_alive, &a);
    if (!a.count) return;
    TIDE__LOG(rt, TIDE_LOG_WARN, "shutdown: %u task%s still alive, cancelling them", a.count,
              a.count == 1 ? "" : "s");
    tide__task_foreach(&rt->tasks, report_alive, &a);
}

/* ---- the registry of live runtimes ------------------------------------------------------ */

/* A live runtime, linked from tide__runtimes. */
typedef struct tide__runtime_link {
    tide_runtime_t *rt;                /* the runtime */
    struct tide__runtime_link *next;   /* the next live runtime, or NULL */
} tide__runtime_link_t;

/* Every live runtime, newest first. Not static: debuggers find the runtimes through it (see
 * tools/gdb/tide-gdb.py). Changed under registry_lock at runtime start and stop only. */
tide__runtime_link_t *tide__runtimes;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;

/* The dump signal's state, shared by the runtimes that ask for it (under registry_lock). */
static struct {
    int sig;                 /* the signal handled; 0: none installed */
    unsigned users;          /* runtimes that asked for it */
    int rfd;                 /* pipe read end, watched by the thread */
    int wfd;                 /* pipe write end (the handler reads dump_wfd instead) */
    pthread_t thread;        /* the dumping thread */
    struct sigaction old;    /* the disposition to restore when the last user leaves */
} dumpsig;
/* What the handler sees: the write end (-1 once teardown began) and how many handlers are
 * between reading it and writing to it (teardown waits for them before closing it). */
static _Atomic int dump_wfd = -1;
static _Atomic int dump_inside;

static void recompute_log_max(void) {
    int max = 0;
    for (tide__runtime_link_t *l = tide__runtimes; l; l = l->next)
        if (l->rt->cfg.log_level > max) max = l->rt->cfg.log_level;
    tide__log_set_max(max);
}

static void on_dump_signal(int sig) {
    (void)sig;
    int saved = errno;
    atomic_fetch_add(&dump_inside, 1);
    int fd = atomic_load(&dump_wfd);
    if (fd >= 0) {
        ssize_t w = write(fd, "d", 1); /* full pipe: a dump is already due */
        (void)w;
    }
    atomic_fetch_sub(&dump_inside, 1);
    errno = saved;
}

static void *dump_main(void *arg) {
    int fd = (int)(intptr_t)arg;
    pthread_setname_np(pthread_self(), "tide-dump");
    /* Take nothing but the dump signal, so there is always a thread ready to run its handler
     * (writing the byte this thread then reads). */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    sigset_t one;
    sigemptyset(&one);
    pthread_mutex_lock(&registry_lock);
    sigaddset(&one, dumpsig.sig);
    pthread_mutex_unlock(&registry_lock);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    /* poll, then a non-blocking read: ThreadSanitizer runs a program's signal handler only
     * in a call it knows to block, and poll is one (a read restarted by SA_RESTART is not). */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        if (poll(&p, 1, -1) < 0) continue; /* EINTR: the handler ran here */
        char buf[64];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) continue; /* EAGAIN, EINTR */
        if (n == 0) break;   /* the write end was closed: the last runtime left */
        pthread_mutex_lock(&registry_lock);
        for (tide__runtime_link_t *l = tide__runtimes; l; l = l->next)
            if (l->rt->cfg.dump_signal > 0) tide_runtime_dump(l->rt, 2);
        pthread_mutex_unlock(&registry_lock);
    }
    return NULL;
}

/* Under registry_lock: install the dump signal for one more runtime. */
static int dumpsig_acquire(tide_runtime_t *rt, int sig) {
    if (dumpsig.users) {
        if (dumpsig.sig != sig) {
            TIDE__LOG(rt, TIDE_LOG_WARN,
                      "dump signal %d not installed: signal %d already dumps task lists", sig,
                      dumpsig.sig);
            return -EBUSY;
        }
        dumpsig.users++;
        return 0;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
    dumpsig.sig = sig;
    dumpsig.rfd = p[0];
    dumpsig.wfd = p[1];
    atomic_store(&dump_wfd, p[1]);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_dump_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    int r;
    if (sigaction(sig, &sa, &dumpsig.old) < 0) {
        r = -errno;
        goto error2;
    }
    if ((r = -pthread_create(&dumpsig.thread, NULL, dump_main, (void *)(intptr_t)p[0])) < 0)
        goto error3;
    dumpsig.users = 1;
    return 0;

error3:
    sigaction(sig, &dumpsig.old, NULL);
error2:
    atomic_store(&dump_wfd, -1);
    while (atomic_load(&dump_inside)) sched_yield();
    close(p[0]);
    close(p[1]);
    dumpsig.sig = 0;
    return r;
}

/* Under registry_lock: one runtime less; the last one restores the signal's disposition and
 * hands back the thread to join and the pipe to close (after the lock is dropped: the thread
 * takes it to dump). */
static bool dumpsig_release(pthread_t *thread, int *rfd, int *wfd) {
    if (--dumpsig.users) return false;
    sigaction(dumpsig.sig, &dumpsig.old, NULL);
    atomic_store(&dump_wfd, -1);
    while (atomic_load(&dump_inside)) sched_yield();
    *thread = dumpsig.thread;
    *rfd = dumpsig.rfd;
    *wfd = dumpsig.wfd;
    dumpsig.sig = 0;
    return true;
}

static int signal_parse(const char *s) {
    if (!s || !*s) return 0;
    char *end;
    long n = strtol(s, &end, 10);
    if (!*end) return n > 0 && n < NSIG ? (int)n : -1;
    if (strncasecmp(s, "SIG", 3) == 0) s += 3;
    for (int i = 1; i < NSIG; i++) {
        const char *abbrev = sigabbrev_np(i);
        if (abbrev && strcasecmp(abbrev, s) == 0) return i;
    }
    return -1;
}

static bool dump_signal_ok(int sig) {
    switch (sig) {
    /* Faults stay the runtime's (stack overflow) and the kernel's; KILL and STOP cannot be
     * caught. */
    case SIGKILL: case SIGSTOP: case SIGSEGV: case SIGBUS: case SIGILL: case SIGFPE:
    case SIGABRT: case SIGTRAP: case SIGSYS:
        return false;
    default:
        return sig > 0 && sig < NSIG;
    }
}

int tide__debug_resolve(tide_config_t *cfg) {
    tide__log_resolve(cfg);
    if (cfg->dump_signal > 0) return dump_signal_ok(cfg->dump_signal) ? 0 : -EINVAL;
    if (cfg->dump_signal < 0) {
        cfg->dump_signal = 0;
        return 0;
    }
    const char *env = getenv("TIDE_DUMP_SIGNAL");
    if (!env || !*env) return 0;
    int sig = signal_parse(env);
    if (sig > 0 && dump_signal_ok(sig)) cfg->dump_signal = sig;
    else /* a typo in the environment must not stop the program */
        fprintf(stderr, "tide warn: TIDE_DUMP_SIGNAL=%s is not a signal a dump can use\n", env);
    return 0;
}

void tide__debug_runtime_start(tide_runtime_t *rt) {
    tide__runtime_link_t *link = tide__new(tide__runtime_link_t);
    pthread_mutex_lock(&registry_lock);
    if (link) {
        link->rt = rt;
        link->next = tide__runtimes;
        tide__runtimes = link;
    }
    recompute_log_max();
    if (rt->cfg.dump_signal > 0) {
        int r = dumpsig_acquire(rt, rt->cfg.dump_signal);
        if (r < 0) {
            TIDE__LOG(rt, TIDE_LOG_WARN, "dump signal %d: %s", rt->cfg.dump_signal,
                      tide_strerror(r));
            rt->cfg.dump_signal = 0;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    if (!link)
        TIDE__LOG(rt, TIDE_LOG_WARN, "out of memory: runtime %llu is invisible to debuggers",
                  (unsigned long long)rt->serial);
    TIDE__LOG(rt, TIDE_LOG_INFO, "runtime %llu started: %u workers, %zu KiB stacks%s%s",
              (unsigned long long)rt->serial, rt->nworkers, rt->cfg.stack_size / 1024,
              rt->cfg.debug ? ", debug mode" : "",
              rt->cfg.dump_signal > 0 ? ", task dump on signal" : "");
}

void tide__debug_runtime_stop(tide_runtime_t *rt) {
    TIDE__LOG(rt, TIDE_LOG_INFO, "runtime %llu stopped after %.3f s: %llu tasks spawned",
              (unsigned long long)rt->serial, (double)(tide__now() - rt->origin) / 1e9,
              (unsigned long long)tide__spawned_tasks(rt));
    tide__runtime_link_t *found = NULL;
    pthread_t thread;
    int rfd = -1, wfd = -1;
    bool last = false;
    pthread_mutex_lock(&registry_lock);
    for (tide__runtime_link_t **l = &tide__runtimes; *l; l = &(*l)->next) {
        if ((*l)->rt == rt) {
            found = *l;
            *l = found->next;
            break;
        }
    }
    if (rt->cfg.dump_signal > 0) last = dumpsig_release(&thread, &rfd, &wfd);
    recompute_log_max();
    pthread_mutex_unlock(&registry_lock);
    if (found) tide__delete(found);
    if (last) {
        close(wfd); /* the thread reads end-of-file and leaves */
        pthread_join(thread, NULL);
        close(rfd);
    }
}
