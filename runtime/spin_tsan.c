/* The spinlock (Concurrency Kit's fetch-and-store lock) and the free lists (ck_stack,
 * runtime/freelist.h) for ThreadSanitizer builds.
 *
 * This file is compiled without TSan's instrumentation (CMakeLists.txt): ck's lock word is
 * touched through volatile loads and stores and fences TSan does not model, so instrumented it
 * would be reported as racy on every contended acquire. Suppressing those reports is not free:
 * matching a suppression symbolizes the stack, and the first symbolization loads the debug
 * information of every linked library, which stalled the whole process for 0.4-0.7 s (timers
 * and wake-ups seemed to arrive that late; tests/test_spinlock.c checks it no longer happens).
 * Here TSan sees only the annotations: acquire after taking the lock, release before letting
 * go, so races on the data the lock guards are still found. The release build inlines the same
 * ck calls (runtime/platform.h). */
/* Uninstrumented, this file can use ck's own x86-64 atomics, as the release build does, rather
 * than the builtins the instrumented files need (CK_USE_CC_BUILTINS from CMakeLists.txt), which
 * lack the double-width compare-and-swap ck_stack_pop_mpmc is made of. */
#undef CK_USE_CC_BUILTINS
#define CK_USE_CC_BUILTINS 0

#include "platform.h"

#include <ck_spinlock.h>

#include "freelist.h"

#ifndef TIDE_TSAN
#error "runtime/spin_tsan.c belongs to ThreadSanitizer builds only (TIDE_TSAN from CMakeLists.txt)"
#endif

void tide__spin_init(tide__spin_t *l) { ck_spinlock_fas_init(&l->ck); }

void tide__spin_lock(tide__spin_t *l) {
    ck_spinlock_fas_lock(&l->ck);
    TIDE_TSAN_ACQUIRE(l);
}

bool tide__spin_trylock(tide__spin_t *l) {
    if (ck_spinlock_fas_locked(&l->ck) || !ck_spinlock_fas_trylock(&l->ck)) return false;
    TIDE_TSAN_ACQUIRE(l);
    return true;
}

void tide__spin_unlock(tide__spin_t *l) {
    TIDE_TSAN_RELEASE(l);
    ck_spinlock_fas_unlock(&l->ck);
}

/* ---- the free lists (freelist.h) ---- */

void tide__freelist_init(tide__freelist_t *f) { ck_stack_init(&f->ck); }

void tide__freelist_push(tide__freelist_t *f, ck_stack_entry_t *e) {
    TIDE_TSAN_RELEASE(f);
    ck_pr_fence_release();
    ck_stack_push_mpmc(&f->ck, e);
}

ck_stack_entry_t *tide__freelist_pop(tide__freelist_t *f) {
    ck_stack_entry_t *e = ck_stack_pop_mpmc(&f->ck);
    ck_pr_fence_acquire();
    if (e) TIDE_TSAN_ACQUIRE(f);
    return e;
}
