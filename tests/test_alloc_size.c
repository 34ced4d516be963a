/* Sized frees (base/platform.h): a free always takes the size its allocation was asked for,
 * the allocator owns any rounding (the cache-line rounding of the aligned pair), and the
 * typed pairs take the size from the pointer's type. Checked: the live-heap counter goes up
 * by what was asked (the aligned size for aligned blocks) and back to where it was after
 * the frees, for sizes around the rounding boundaries; in checked builds (TIDE_ALLOC_CHECK:
 * the sanitizer and Debug builds) a free with the wrong size aborts instead of corrupting
 * the allocator or the leak counter. */
#include <signal.h>

#include "testutil.h"

#include "platform.h"

typedef struct odd {
    char bytes[100]; /* not a multiple of the cache line */
} odd_t;

static const size_t sizes[] = {1, 7, 63, 64, 65, 100, 127, 128, 129, 4000, 4096, 70000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

Test(alloc_size, variable_blocks_are_freed_with_the_size_asked) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    void *p[NSIZES], *q[NSIZES], *a[NSIZES];
    int64_t start = tide__mem_live(), expect = start;
    for (size_t i = 0; i < NSIZES; i++) {
        p[i] = tide__alloc(sizes[i]);
        q[i] = tide__calloc(sizes[i]);
        a[i] = tide__alloc_aligned(sizes[i]);
        cr_assert(p[i] && q[i] && a[i]);
        cr_assert_eq((uintptr_t)a[i] % 64, 0, "aligned block at a cache line");
        for (size_t b = 0; b < sizes[i]; b++) cr_assert_eq(((char *)a[i])[b], 0, "zeroed");
        expect += (int64_t)(2 * sizes[i] + ((sizes[i] + 63) & ~(size_t)63));
    }
    cr_assert_eq(tide__mem_live(), expect, "the counter holds what was asked (aligned: rounded)");
    for (size_t i = 0; i < NSIZES; i++) {
        tide__free(p[i], sizes[i]);
        tide__free(q[i], sizes[i]);
        tide__free_aligned(a[i], sizes[i]); /* the size asked, not the rounded one */
    }
    cr_assert_eq(tide__mem_live(), start);
    tt_leaks_end(&l);
}

Test(alloc_size, typed_pairs_take_the_size_from_the_type) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    int64_t start = tide__mem_live();
    odd_t *o = tide__new(odd_t);
    cr_assert_not_null(o);
    cr_assert_eq(o->bytes[99], 0, "new zeroes");
    cr_assert_eq(tide__mem_live(), start + (int64_t)sizeof(odd_t));
    odd_t *al = tide__new_aligned(odd_t);
    cr_assert_not_null(al);
    cr_assert_eq((uintptr_t)al % 64, 0);
    cr_assert_eq(tide__mem_live(), start + (int64_t)sizeof(odd_t) + 128);
    tide__delete(o);
    tide__delete_aligned(al);
    cr_assert_eq(tide__mem_live(), start);
    tt_leaks_end(&l);
}

#ifdef TIDE_ALLOC_CHECK
Test(alloc_size, a_wrong_size_aborts, .signal = SIGABRT) {
    char *p = tide__alloc(100);
    cr_assert_not_null(p);
    tide__free(p, 50);
}

Test(alloc_size, an_aligned_block_freed_as_plain_aborts, .signal = SIGABRT) {
    /* 100 asked, 128 held: freeing it as a plain 100-byte block is the caller's rounding
     * mistake this API exists to prevent. */
    char *p = tide__alloc_aligned(100);
    cr_assert_not_null(p);
    tide__free(p, 100);
}
#endif
