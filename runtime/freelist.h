/* A lock-free LIFO of free things shared between threads: Concurrency Kit's ck_stack, for the
 * shared depots behind the per-worker caches of task records (task_alloc.c) and stacks
 * (stack.c). An entry is usually a whole batch, so a worker moves dozens of items in one push
 * or pop.
 *
 * Why ck_stack_push_mpmc / ck_stack_pop_mpmc and not the cheaper _upmc pop: any thread may pop
 * and push again at once, so a plain compare-and-swap on the head meets ABA (a popper reads
 * head X and X->next Y; others pop X and Y and push X back; the popper's CAS X -> Y succeeds
 * and hands out Y twice). pop_mpmc swaps the head together with a generation counter that every
 * pop increments (cmpxchg16b), so a head that was popped and pushed back no longer matches.
 * Push needs no generation: its CAS only has to find the head it linked below the new entry.
 * The one read the generation cannot protect, a popper's load of head->next for an entry some
 * other thread has just popped, is safe because the entries are type-stable: task records and
 * stack descriptors are freed only with the runtime (the value read may be stale; the CAS then
 * fails). Never take everything with ck_stack_batch_pop_*: it empties the head without counting
 * a pop, which reopens the ABA window for a concurrent pop_mpmc.
 *
 * Under ThreadSanitizer these calls are out of line in runtime/spin_tsan.c, compiled without
 * instrumentation and with ck's own x86-64 atomics (as in release): TSan sees only the
 * annotations (a release before every push, an acquire after a pop), which order what the
 * pusher wrote into the entry's batch before whoever pops it reads it. */
#ifndef TIDE_RUNTIME_FREELIST_H
#define TIDE_RUNTIME_FREELIST_H

#include <ck_stack.h>

#include "platform.h"

typedef struct tide__freelist {
    ck_stack_t ck; /* head and pop generation, swapped together (16-byte aligned for cmpxchg16b) */
} __attribute__((aligned(16))) tide__freelist_t;

#ifdef TIDE_TSAN
void tide__freelist_init(tide__freelist_t *f);
void tide__freelist_push(tide__freelist_t *f, ck_stack_entry_t *e);
ck_stack_entry_t *tide__freelist_pop(tide__freelist_t *f);
#else
#if !defined(CK_F_STACK_POP_MPMC)
#error "ck_stack_pop_mpmc needs a double-width compare-and-swap (x86-64, AArch64)"
#endif
static inline void tide__freelist_init(tide__freelist_t *f) { ck_stack_init(&f->ck); }
/* The fences order the batch an entry heads (written before the push) before whoever pops it
 * reads it; on x86-64 both are compiler barriers only (the CAS is a full fence). */
static inline void tide__freelist_push(tide__freelist_t *f, ck_stack_entry_t *e) {
    ck_pr_fence_release();
    ck_stack_push_mpmc(&f->ck, e);
}
static inline ck_stack_entry_t *tide__freelist_pop(tide__freelist_t *f) {
    ck_stack_entry_t *e = ck_stack_pop_mpmc(&f->ck);
    ck_pr_fence_acquire();
    return e;
}
#endif

/* An unlocked look (it may be stale at once): is the list empty? */
static inline bool tide__freelist_empty(tide__freelist_t *f) {
    return ck_pr_load_ptr(&f->ck.head) == NULL;
}

#endif
