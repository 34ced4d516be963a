/* The stack depot on its own (runtime/stack.c): stacks given back through worker caches come
 * out again through other caches, each exactly once and none newly mapped, whatever the batch
 * sizes (a batch lists its members in its head stack's free memory, so a member handed out and
 * written over must never be read as a list again); a purge by decay gives every batch member
 * back to the kernel and the purged stacks are reused, zeroed, before any new mapping. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "stack.h"

enum { N = 1000 };

/* Every stack in got[] (n) distinct, and every one of want[] (m) among them. */
static void assert_all_once(tide__stack_t **got, unsigned n, tide__stack_t **want, unsigned m) {
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < i; j++) cr_assert_neq(got[i], got[j], "stack handed out twice");
    for (unsigned j = 0; j < m; j++) {
        bool found = false;
        for (unsigned i = 0; i < n && !found; i++) found = got[i] == want[j];
        cr_assert(found, "stack %u did not come back from the depot", j);
    }
}

/* Scribble over the whole top of a stack, where a batch keeps its list. */
static void scribble(tide__stack_t *st, int byte) {
    memset(st->hi - 4096, byte, 4096);
    memset(st->lo + TIDE_CANARY_BYTES, byte, 64);
}

/* Stacks owned: the pool's count and what the caches count (their gets less their puts). */
static uint64_t live(tide__stacks_t *s, tide__stack_cache_t *a, tide__stack_cache_t *b) {
    return tide__split_total(tide__split_part(&a->live) + tide__split_part(&b->live), &s->live);
}

static void run_depot(bool purge) {
    tt_leaks_t leaks;
    tt_leaks_begin(&leaks);
    tide__stacks_t *s = calloc(1, sizeof *s);
    cr_assert_eq(tide__stacks_init(s, 16 * 1024, TIDE_SEC(1)), 0);
    /* A big cache (its flushes exceed a batch's capacity), a small one, and none. */
    tide__stack_cache_t big, small;
    cr_assert_eq(tide__stack_cache_init(&big, 600), 0);
    cr_assert_eq(tide__stack_cache_init(&small, 6), 0);
    tide__stack_t **first = calloc(N, sizeof *first);

    for (unsigned i = 0; i < N; i++) {
        first[i] = tide__stack_get(s, i % 3 ? &big : NULL, 0);
        cr_assert_not_null(first[i]);
        scribble(first[i], 0x5a);
    }
    assert_all_once(first, N, first, N);
    unsigned mapped = (unsigned)atomic_load(&s->mapped);
    /* More than N: slabs hold 16 stacks, and a get without a cache maps a slab when the
     * free stacks sit in the big cache. The spares wait in the depot from the start. */
    cr_assert_geq(mapped, N);
    tide__stack_t **again = calloc(mapped, sizeof *again);
    cr_assert_eq(live(s, &big, &small), N);
    /* Back through the small cache (half-batches of 4), the big one and none. */
    for (unsigned i = 0; i < N; i++)
        tide__stack_put(s, i % 4 == 0 ? &small : i % 4 == 1 ? NULL : &big, first[i], 0);
    tide__stack_cache_flush(s, &big);
    tide__stack_cache_flush(s, &small);
    cr_assert_eq(atomic_load(&s->live), 0, "the flushes folded the caches' counts in");
    cr_assert_eq(live(s, &big, &small), 0);
    cr_assert_eq(atomic_load(&s->warm_count), mapped, "every stack waits in the depot");

    if (purge) {
        tide__stacks_decay(s, tide__now() + TIDE_SEC(2));
        cr_assert_eq(atomic_load(&s->warm_count), 0, "every batch was purged");
        cr_assert_eq(s->cold_count, mapped);
    }
    /* Out again, all of them, through one other cache (so none idles in a cache while a get
     * maps a slab): each stack once, none mapped anew. */
    for (unsigned i = 0; i < mapped; i++) {
        again[i] = tide__stack_get(s, &small, 0);
        cr_assert_not_null(again[i]);
        if (purge) {
            const char *top = again[i]->hi - 4096;
            for (unsigned b = 0; b < 4096; b += 512) cr_assert_eq(top[b], 0, "a purged stack reads zero");
        }
        scribble(again[i], 0xa5);
    }
    assert_all_once(again, mapped, first, N);
    cr_assert_eq(atomic_load(&s->mapped), mapped, "no stack was mapped anew");
    cr_assert_eq(live(s, &big, &small), mapped);

    for (unsigned i = 0; i < mapped; i++) tide__stack_put(s, &small, again[i], 0);
    tide__stack_cache_flush(s, &small);
    tide__stack_cache_destroy(&big);
    tide__stack_cache_destroy(&small);
    tide__stacks_destroy(s);
    free(first);
    free(again);
    free(s);
    tt_leaks_end(&leaks);
}

Test(stack_depot, stacks_come_back_once_through_any_cache) {
    run_depot(false);
}

Test(stack_depot, purged_batches_are_reused_zeroed_before_new_mappings) {
    run_depot(true);
}
