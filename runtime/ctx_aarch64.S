/* AArch64 (AAPCS64) context switch (see ctx.h).
 *
 * Frame saved on the stack of the context being left (176 bytes, 16-aligned):
 *   [sp+0]   x19..x28        callee-saved general registers
 *   [sp+80]  x29 (fp), x30 (lr: where the switch returns)
 *   [sp+96]  d8..d15         callee-saved low halves of v8..v15
 *   [sp+160] FPCR            rounding mode and floating-point traps */
#if defined(__aarch64__) && !defined(TIDE_CTX_UCONTEXT)

    .text
    .p2align 4
    .globl tide__ctx_switch
    .hidden tide__ctx_switch
    .type tide__ctx_switch, %function
/* void tide__ctx_switch(tide__ctx_t *from /x0/, tide__ctx_t *to /x1/) */
tide__ctx_switch:
    .cfi_startproc
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    ldr x9, [x1]
    mov sp, x9
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldr x9, [sp, #160]
    msr fpcr, x9
    add sp, sp, #176
    ret
    .cfi_endproc
    .size tide__ctx_switch, .-tide__ctx_switch

/* First code a new context runs: x19 = arg, x20 = entry. */
    .p2align 4
    .globl tide__ctx_start
    .hidden tide__ctx_start
    .type tide__ctx_start, %function
tide__ctx_start:
    .cfi_startproc
    .cfi_undefined x30
    mov x0, x19
    blr x20
    brk #0
    .cfi_endproc
    .size tide__ctx_start, .-tide__ctx_start

#endif
    .section .note.GNU-stack,"",%progbits
