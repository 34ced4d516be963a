/* x86-64 System V context switch (see ctx.h).
 *
 * Frame saved on the stack of the context being left, lowest address first:
 *   [sp+0]  MXCSR (4 bytes), x87 control word (2 bytes), padding
 *   [sp+8]  r15, r14, r13, r12, rbx, rbp
 *   [sp+56] return address
 * Everything else is caller-saved, so the compiler has already spilled what it needs. */
#if defined(__x86_64__) && !defined(TIDE_CTX_UCONTEXT)

    .text
    .p2align 4
    .globl tide__ctx_switch
    .hidden tide__ctx_switch
    .type tide__ctx_switch, @function
/* void tide__ctx_switch(tide__ctx_t *from /rdi/, tide__ctx_t *to /rsi/) */
tide__ctx_switch:
    .cfi_startproc
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    pushq %r12
    .cfi_adjust_cfa_offset 8
    pushq %r13
    .cfi_adjust_cfa_offset 8
    pushq %r14
    .cfi_adjust_cfa_offset 8
    pushq %r15
    .cfi_adjust_cfa_offset 8
    subq $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    /* Load the control words only when they differ from the ones in force: ldmxcsr and
     * fldcw cost ~2 ns a switch here, and tasks rarely change their rounding mode. */
    movl (%rsp), %ecx
    movzwl 4(%rsp), %edx
    movq %rsp, (%rdi)
    movq (%rsi), %rsp
    cmpl (%rsp), %ecx
    je 1f
    ldmxcsr (%rsp)
1:  cmpw 4(%rsp), %dx
    je 2f
    fldcw 4(%rsp)
2:  addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq %r15
    .cfi_adjust_cfa_offset -8
    popq %r14
    .cfi_adjust_cfa_offset -8
    popq %r13
    .cfi_adjust_cfa_offset -8
    popq %r12
    .cfi_adjust_cfa_offset -8
    popq %rbx
    .cfi_adjust_cfa_offset -8
    popq %rbp
    .cfi_adjust_cfa_offset -8
    ret
    .cfi_endproc
    .size tide__ctx_switch, .-tide__ctx_switch

/* First code a new context runs: r12 = arg, r13 = entry (placed there by tide__ctx_make).
 * The CFI marks the end of the call chain so debuggers stop unwinding here. */
    .p2align 4
    .globl tide__ctx_start
    .hidden tide__ctx_start
    .type tide__ctx_start, @function
tide__ctx_start:
    .cfi_startproc
    .cfi_undefined rip
    movq %r12, %rdi
    callq *%r13
    ud2
    .cfi_endproc
    .size tide__ctx_start, .-tide__ctx_start

#endif
    .section .note.GNU-stack,"",@progbits
