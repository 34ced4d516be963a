/* Guard-page faults and canary damage reported as stack overflows (see overflow.h). */
#include "overflow.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "scheduler.h"

#define ALTSTACK_SIZE (64 * 1024)

static struct sigaction old_segv, old_bus;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

void tide__overflow_die(tide__task_t *t) {
    char id[24], size[24], line[24];
    tide__utoa(atomic_load_explicit(&t->id, MO_RELAXED), id);
    tide__utoa(t->stack ? (uint64_t)(t->stack->hi - t->stack->lo) : 0, size);
    tide__utoa(t->spawn_line, line);
    tide__die_write("tide: stack overflow in task ", id, t->name[0] ? " '" : "",
                    t->name[0] ? t->name : "", t->name[0] ? "'" : "", " (spawned at ",
                    t->spawn_file ? t->spawn_file : "?", ":", line, "), stack size ", size,
                    " bytes; give it a larger stack_size in tide_spawn_opts_t\n", NULL);
    /* abort() with the default action, whatever the program installed. */
    signal(SIGABRT, SIG_DFL);
    abort();
}

static void chain(struct sigaction *old, int sig, siginfo_t *info, void *uctx) {
    if (old->sa_flags & SA_SIGINFO) {
        if (old->sa_sigaction) {
            old->sa_sigaction(sig, info, uctx);
            return;
        }
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
        return;
    }
    /* Default action: restore it and return; the faulting instruction runs again and the
     * kernel delivers the signal with its default (core dump). */
    signal(sig, SIG_DFL);
}

static char *fault_sp(void *uctx) {
    ucontext_t *uc = uctx;
#if defined(__x86_64__)
    return (char *)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (char *)uc->uc_mcontext.sp;
#else
    (void)uc;
    return NULL;
#endif
}

static void on_fault(int sig, siginfo_t *info, void *uctx) {
    tide__worker_t *w = tide__worker_current();
    tide__task_t *t = w ? w->current : NULL;
    if (t && t->stack) {
        char *addr = info->si_addr;
        char *sp = fault_sp(uctx);
        tide__stack_t *st = t->stack;
        /* A fault in the guard region below the stack, or any fault while the stack pointer
         * is below the usable stack (a canary stack that ran through its moat), is this task
         * running out of stack. */
        if (addr < st->lo && addr >= st->lo - TIDE_STACK_MOAT) tide__overflow_die(t);
        if (sp && sp < st->lo + TIDE_CANARY_BYTES && sp >= st->lo - ((size_t)1 << 30))
            tide__overflow_die(t);
    }
    chain(sig == SIGSEGV ? &old_segv : &old_bus, sig, info, uctx);
}

static void install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
}

void tide__overflow_install(void) {
    pthread_once(&install_once, install);
}

void tide__overflow_thread_init(tide__worker_t *w) {
    void *mem = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) return;
    stack_t ss = {.ss_sp = mem, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(mem, ALTSTACK_SIZE);
        return;
    }
    w->altstack = mem;
}

void tide__overflow_thread_fini(tide__worker_t *w) {
    if (!w->altstack) return;
    stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(w->altstack, ALTSTACK_SIZE);
    w->altstack = NULL;
}
