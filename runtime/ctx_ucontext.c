/* Portable fallback context switch on ucontext (TIDE_CTX_UCONTEXT). Correct everywhere glibc
 * runs, but swapcontext saves and restores the signal mask with a system call on every switch,
 * which makes it ~100x slower than the assembly. The ucontext itself lives at the top of the
 * task's stack (it is large, and the task record must stay small). */
#if defined(TIDE_CTX_UCONTEXT)
#include "ctx.h"

#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

typedef struct uctx {
    ucontext_t uc;             /* the saved machine context */
    void (*entry)(void *);     /* first function to run (new contexts) */
    void *arg;                 /* its argument */
} uctx_t;

static void uctx_start(unsigned hi, unsigned lo) {
    uctx_t *u = (uctx_t *)(((uintptr_t)hi << 32) | (uintptr_t)lo);
    u->entry(u->arg);
    abort(); /* entry never returns */
}

void tide__ctx_make(tide__ctx_t *ctx, void *lo, void *hi, void (*entry)(void *), void *arg) {
    uintptr_t top = ((uintptr_t)hi - sizeof(uctx_t)) & ~(uintptr_t)63;
    uctx_t *u = (uctx_t *)top;
    getcontext(&u->uc);
    u->uc.uc_stack.ss_sp = lo;
    u->uc.uc_stack.ss_size = (size_t)(top - (uintptr_t)lo);
    u->uc.uc_link = NULL;
    u->entry = entry;
    u->arg = arg;
    uintptr_t p = (uintptr_t)u;
    makecontext(&u->uc, (void (*)(void))uctx_start, 2, (unsigned)(p >> 32), (unsigned)p);
    ctx->sp = u;
}

void tide__ctx_switch(tide__ctx_t *from, tide__ctx_t *to) {
    swapcontext(&((uctx_t *)from->sp)->uc, &((uctx_t *)to->sp)->uc);
}

int tide__ctx_thread_init(tide__ctx_t *ctx) {
    ctx->sp = calloc(1, sizeof(uctx_t));
    return ctx->sp ? 0 : -1;
}

void tide__ctx_thread_fini(tide__ctx_t *ctx) {
    free(ctx->sp);
    ctx->sp = NULL;
}

#endif
