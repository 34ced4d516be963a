/* Context switching between a worker's scheduler and task stacks.
 *
 * The switch is hand-written assembly (ctx_x86_64.S, ctx_aarch64.S): it saves the callee-saved
 * registers and the floating-point control state (MXCSR and the x87 control word; FPCR on
 * AArch64) on the old stack and restores them from the new one, so a switch costs a few
 * nanoseconds and no system call. ctx_ucontext.c is the portable fallback (TIDE_CTX_UCONTEXT),
 * which pays a sigprocmask system call per switch.
 *
 * The sanitizer builds must be told about every stack change, or ASan reports false stack
 * overflows and TSan loses track of which "thread" runs: tide__fiber_* below wrap the ASan and
 * TSan fiber-switch interfaces and compile to nothing in normal builds. */
#ifndef TIDE_RUNTIME_CTX_H
#define TIDE_RUNTIME_CTX_H

#include <stddef.h>

#include "sanitizer.h" /* TIDE_ASAN, TIDE_TSAN */

typedef struct tide__ctx {
    void *sp; /* saved stack pointer (assembly) or the saved ucontext (fallback) */
} tide__ctx_t;

/* Prepare ctx to run entry(arg) on the stack [lo, hi) at the next switch to it. entry must
 * never return; it leaves by switching away for the last time. */
void tide__ctx_make(tide__ctx_t *ctx, void *lo, void *hi, void (*entry)(void *), void *arg);

/* Save the current context in from and resume to. */
void tide__ctx_switch(tide__ctx_t *from, tide__ctx_t *to);

/* A thread that switches to tasks must call this once for the context it saves itself into
 * (the ucontext fallback needs storage; the assembly needs none). */
int tide__ctx_thread_init(tide__ctx_t *ctx);
void tide__ctx_thread_fini(tide__ctx_t *ctx);

/* ---- sanitizer fiber annotations ---- */

#ifdef TIDE_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
#endif
#ifdef TIDE_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

/* What a context needs the sanitizers to know about it. Zero-size in normal builds. */
typedef struct tide__fiber {
#ifdef TIDE_ASAN
    void *fake_stack;    /* ASan's fake stack of the context we left */
    const void *bottom;  /* lowest address of this context's stack */
    size_t size;         /* its size */
#endif
#ifdef TIDE_TSAN
    void *tsan;          /* TSan's fiber handle */
#endif
#if !defined(TIDE_ASAN) && !defined(TIDE_TSAN)
    char unused;
#endif
} tide__fiber_t;

/* Called on the old stack right before tide__ctx_switch to `to`. `dying`: the old context
 * will never run again (its ASan fake stack is released). */
static inline void tide__fiber_leave(tide__fiber_t *from, tide__fiber_t *to, int dying) {
    (void)from; (void)to; (void)dying;
#ifdef TIDE_ASAN
    __sanitizer_start_switch_fiber(dying ? NULL : &from->fake_stack, to->bottom, to->size);
#endif
#ifdef TIDE_TSAN
    __tsan_switch_to_fiber(to->tsan, 0);
#endif
}

/* Called on the new stack right after a switch arrived (and first thing in a new task). */
static inline void tide__fiber_arrive(tide__fiber_t *self) {
    (void)self;
#ifdef TIDE_ASAN
    __sanitizer_finish_switch_fiber(self->fake_stack, NULL, NULL);
#endif
}

/* First arrival on a brand-new context: there is no fake stack to restore. */
static inline void tide__fiber_arrive_new(void) {
#ifdef TIDE_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

#endif
