/* Initial frames for the assembly context switch: a new context "returns" from
 * tide__ctx_switch into tide__ctx_start, which calls entry(arg). */
#include "ctx.h"

#include <stdint.h>
#include <string.h>

#if !defined(TIDE_CTX_UCONTEXT)

void tide__ctx_start(void);

#if defined(__x86_64__)

void tide__ctx_make(tide__ctx_t *ctx, void *lo, void *hi, void (*entry)(void *), void *arg) {
    (void)lo;
    /* After the final `ret`, rsp must be 16-byte aligned so that the `call` in
     * tide__ctx_start leaves the callee with the ABI's entry alignment. */
    uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
    uint64_t *frame = (uint64_t *)(top - 64);
    uint32_t mxcsr = 0x1F80; /* all exceptions masked, round to nearest: the ABI default */
    uint16_t fpucw = 0x037F; /* x87: all exceptions masked, extended precision */
    memset(frame, 0, 64);
    memcpy(&frame[0], &mxcsr, 4);
    memcpy((char *)&frame[0] + 4, &fpucw, 2);
    frame[1] = 0;                           /* r15 */
    frame[2] = 0;                           /* r14 */
    frame[3] = (uint64_t)(uintptr_t)entry;  /* r13 */
    frame[4] = (uint64_t)(uintptr_t)arg;    /* r12 */
    frame[5] = 0;                           /* rbx */
    frame[6] = 0;                           /* rbp: ends the frame-pointer chain */
    frame[7] = (uint64_t)(uintptr_t)&tide__ctx_start;
    ctx->sp = frame;
}

#elif defined(__aarch64__)

void tide__ctx_make(tide__ctx_t *ctx, void *lo, void *hi, void (*entry)(void *), void *arg) {
    (void)lo;
    uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
    uint64_t *frame = (uint64_t *)(top - 176);
    memset(frame, 0, 176);
    frame[0] = (uint64_t)(uintptr_t)arg;    /* x19 */
    frame[1] = (uint64_t)(uintptr_t)entry;  /* x20 */
    frame[10] = 0;                          /* x29: ends the frame chain */
    frame[11] = (uint64_t)(uintptr_t)&tide__ctx_start; /* x30 */
    frame[20] = 0;                          /* FPCR: round to nearest, no traps */
    ctx->sp = frame;
}

#else
#error "no assembly context switch for this CPU: configure with -DTIDE_CTX_UCONTEXT=ON"
#endif

int tide__ctx_thread_init(tide__ctx_t *ctx) {
    ctx->sp = NULL;
    return 0;
}

void tide__ctx_thread_fini(tide__ctx_t *ctx) {
    (void)ctx;
}

#endif
