/* Stack slabs, caches, depot and decay (see stack.h). */
#include "stack.h"

#include "ctx.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TIDE_HAVE_VALGRIND 1
#endif
#endif

#define STACKS_PER_SLAB 16

static size_t page_size(void) {
    static size_t ps;
    if (!ps) ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

static size_t round_page(size_t n) {
    size_t ps = page_size();
    return (n + ps - 1) & ~(ps - 1);
}

/* Guard pages left for the whole process. Each guarded stack costs about two mappings; keep
 * well clear of the limit so the rest of the program (malloc arenas, libraries) has room. */
static _Atomic long guard_budget = -1;

long tide__guard_budget(void) {
    long b = atomic_load(&guard_budget);
    if (b >= 0) return b;
    long max_maps = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &max_maps) != 1) max_maps = 65530;
        fclose(f);
    }
    long want = (max_maps - 20000) / 3;
    if (want < 0) want = 0;
    if (want > 1L << 20) want = 1L << 20;
    long expected = -1;
    atomic_compare_exchange_strong(&guard_budget, &expected, want);
    return atomic_load(&guard_budget);
}

static bool take_guards(long n) {
    tide__guard_budget();
    long b = atomic_load(&guard_budget);
    while (b >= n) {
        if (atomic_compare_exchange_weak(&guard_budget, &b, b - n)) return true;
    }
    return false;
}

static void give_guards(long n) {
    atomic_fetch_add(&guard_budget, n);
}

/* Linux 6.13+: guard pages as page-table markers, without splitting the mapping, so every
 * stack can have one whatever vm.max_map_count says. Older kernels answer EINVAL. */
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

/* How stacks are protected, decided once per process: marker guards when the kernel has
 * them, else mprotect guards within the mapping budget, then canaries. TIDE_STACK_GUARD
 * (marker, mprotect, canary) forces one, for tests. */
enum { GUARD_UNKNOWN, GUARD_MARKER, GUARD_MPROTECT, GUARD_CANARY };
static _Atomic int guard_mode = GUARD_UNKNOWN;
_Atomic bool tide__stacks_all_guarded = false;

static int forced_mode(void) {
    const char *v = getenv("TIDE_STACK_GUARD");
    if (!v) return GUARD_UNKNOWN;
    if (!strcmp(v, "marker")) return GUARD_MARKER;
    if (!strcmp(v, "mprotect")) return GUARD_MPROTECT;
    if (!strcmp(v, "canary")) return GUARD_CANARY;
    return GUARD_UNKNOWN;
}

/* Decide once per process how stacks are guarded (probing the kernel on a scratch page). */
static int decide_mode(void) {
    int mode = atomic_load_explicit(&guard_mode, MO_RELAXED);
    if (mode != GUARD_UNKNOWN) return mode;
    mode = forced_mode();
    if (mode == GUARD_UNKNOWN || mode == GUARD_MARKER) {
        size_t ps = page_size();
        void *probe = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        bool marker = probe != MAP_FAILED && madvise(probe, ps, MADV_GUARD_INSTALL) == 0;
        if (probe != MAP_FAILED) munmap(probe, 2 * ps);
        mode = marker ? GUARD_MARKER : GUARD_MPROTECT;
    }
    if (mode == GUARD_MARKER) atomic_store_explicit(&tide__stacks_all_guarded, true, MO_RELAXED);
    atomic_store_explicit(&guard_mode, mode, MO_RELAXED);
    return mode;
}

int tide__stacks_init(tide__stacks_t *s, size_t stack_size, int64_t decay_ns) {
    memset(s, 0, sizeof *s);
    s->stack_size = round_page(stack_size);
    s->decay_ns = decay_ns;
    tide__freelist_init(&s->warm);
    if (pthread_mutex_init(&s->lock, NULL)) return -ENOMEM;
    return 0;
}

static void stack_register(tide__stack_t *st) {
#ifdef TIDE_HAVE_VALGRIND
    st->valgrind_id = VALGRIND_STACK_REGISTER(st->lo, st->hi) & 0x3fffffff;
#else
    (void)st;
#endif
}

static void stack_deregister(tide__stack_t *st) {
#ifdef TIDE_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(st->valgrind_id);
#else
    (void)st;
#endif
}

/* Map a slab of `count` stacks of `size` usable bytes. Called without the lock held.
 * Every slot has a gap below its stack: one guard page, or, for canary stacks, a moat of
 * untouched memory big enough to swallow a moderate overflow (address space only). */
static tide__slab_t *slab_new(tide__stacks_t *s, size_t size, unsigned count, bool custom) {
    int mode = decide_mode();
    if (mode == GUARD_MPROTECT && !take_guards(count)) mode = GUARD_CANARY;
    /* The gap is the same for every kind: guard stacks protect all of it, so a large frame
     * cannot jump over a single guard page into the neighbour below. */
    size_t gap = TIDE_STACK_MOAT;
    size_t slot = gap + size;
    size_t len = slot * count;
    tide__slab_t *slab = tide__calloc(sizeof *slab + count * sizeof(tide__stack_t));
    if (!slab) goto error1;
    char *map = MAP_FAILED;
    if (!tide__alloc_fault()) /* the fault hook covers stack mappings too */
        map = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) goto error2;
    slab->map = map;
    slab->map_len = len;
    slab->count = count;
    slab->custom = custom;
    unsigned guarded = 0;
    for (unsigned i = 0; i < count; i++) {
        char *base = map + (size_t)i * slot;
        tide__stack_t *st = &slab->stacks[i];
        st->lo = base + gap;
        st->hi = base + slot;
        st->slab = slab;
        if (mode == GUARD_MARKER) {
            st->guarded = madvise(base, gap, MADV_GUARD_INSTALL) == 0;
            if (!st->guarded) atomic_store_explicit(&tide__stacks_all_guarded, false, MO_RELAXED);
        } else if (mode == GUARD_MPROTECT) {
            st->guarded = mprotect(base, gap, PROT_NONE) == 0;
            st->mprotected = st->guarded;
            if (!st->guarded) give_guards(1);
        }
        guarded += st->guarded;
        stack_register(st);
    }
    atomic_fetch_add(&s->mapped, count);
    atomic_fetch_add(&s->guarded, guarded);
    return slab;
error2:
    tide__free(slab, sizeof *slab + count * sizeof(tide__stack_t));
error1:
    if (mode == GUARD_MPROTECT) give_guards(count);
    return NULL;
}

static void slab_unmap(tide__stacks_t *s, tide__slab_t *slab) {
    unsigned guarded = 0, mprotected = 0;
    for (unsigned i = 0; i < slab->count; i++) {
        stack_deregister(&slab->stacks[i]);
#if defined(__SANITIZE_THREAD__)
        if (slab->stacks[i].tsan_fiber) __tsan_destroy_fiber(slab->stacks[i].tsan_fiber);
#endif
        guarded += slab->stacks[i].guarded;
        mprotected += slab->stacks[i].mprotected;
    }
    munmap(slab->map, slab->map_len);
    if (mprotected) give_guards(mprotected);
    atomic_fetch_sub(&s->mapped, slab->count);
    atomic_fetch_sub(&s->guarded, guarded);
    tide__free(slab, sizeof *slab + slab->count * sizeof(tide__stack_t));
}

int tide__stack_cache_init(tide__stack_cache_t *cache, unsigned cap) {
    cache->items = tide__calloc(sizeof(tide__stack_t *) * (cap ? cap : 1));
    cache->count = 0;
    cache->cap = cap ? cap : 1;
    atomic_init(&cache->live, 0);
    return cache->items ? 0 : -ENOMEM;
}

void tide__stack_cache_destroy(tide__stack_cache_t *cache) {
    tide__free(cache->items, sizeof(tide__stack_t *) * cache->cap);
    cache->items = NULL;
    cache->count = cache->cap = 0;
}

/* ---- the depot: batches of warm stacks on a lock-free list (freelist.h) ----
 *
 * A batch is headed by one stack's descriptor (its `batch` entry, batch_len, freed_at); the
 * other members are listed in an array at the top of the head stack's own memory, free while
 * the batch waits. With many tasks alive every descriptor is a cache miss, and a batch linked
 * through the members' descriptors cost one miss per stack, one after the other (each `next`
 * read depends on the last), when it was built and again when it was taken apart: about 4% of
 * sleep_many's CPU. The array is a few lines of one page, read and written in a row; the
 * members' descriptors are touched only when a task gets the stack (and reads lo and hi). */

#define BATCH_OF(e) ((tide__stack_t *)(void *)((char *)(e) - offsetof(tide__stack_t, batch)))
#define BATCH_MAX 128u /* members besides the head: 1 KiB at the top of the head's stack */

#ifdef TIDE_ASAN
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#endif

/* The array of a batch's other members, at the top of the head stack. A task that ended
 * there may have left ASan's poison on its frames (its last frame never returns): the array
 * is plain memory now. */
static tide__stack_t **batch_rest(tide__stack_t *head) {
    tide__stack_t **rest = (tide__stack_t **)(void *)(head->hi - BATCH_MAX * sizeof *rest);
#ifdef TIDE_ASAN
    __asan_unpoison_memory_region(rest, BATCH_MAX * sizeof *rest);
#endif
    return rest;
}

/* Put a batch (back) on the depot, members and age as recorded in its head. */
static void depot_relink(tide__stacks_t *s, tide__stack_t *head) {
    /* Counted before it is visible, so a popper never takes the count below zero. */
    atomic_fetch_add_explicit(&s->warm_count, head->batch_len, MO_RELAXED);
    tide__freelist_push(&s->warm, &head->batch);
}

/* Give the depot a batch: head, and nrest (<= BATCH_MAX) others. */
static void depot_push(tide__stacks_t *s, tide__stack_t *head, tide__stack_t *const *rest,
                       unsigned nrest, int64_t freed_at) {
    if (nrest) memcpy(batch_rest(head), rest, nrest * sizeof *rest);
    head->batch_len = nrest + 1;
    head->freed_at = freed_at;
    depot_relink(s, head);
}

/* Give the depot n stacks (any number), in batches headed by the last of each run. */
static void depot_push_all(tide__stacks_t *s, tide__stack_t *const *items, unsigned n,
                           int64_t freed_at) {
    while (n) {
        unsigned take = n - 1 < BATCH_MAX ? n - 1 : BATCH_MAX;
        depot_push(s, items[n - 1], items + (n - 1 - take), take, freed_at);
        n -= take + 1;
    }
}

static tide__stack_t *depot_pop(tide__stacks_t *s) {
    ck_stack_entry_t *e = tide__freelist_pop(&s->warm);
    if (!e) return NULL;
    tide__stack_t *head = BATCH_OF(e);
    atomic_fetch_sub_explicit(&s->warm_count, head->batch_len, MO_RELAXED);
    return head;
}

/* Purged stacks to reuse before mapping more: up to `want` of them (under the lock). */
static unsigned cold_take(tide__stacks_t *s, tide__stack_t **out, unsigned want) {
    unsigned n = 0;
    while (s->cold && n < want) {
        tide__stack_t *st = s->cold;
        s->cold = st->next;
        s->cold_count--;
        st->purged = 0;
        st->next = NULL;
        out[n++] = st;
    }
    return n;
}

/* Refill a cache from a depot batch (or purged stacks), or map a new slab. */
static tide__stack_t *depot_get(tide__stacks_t *s, tide__stack_cache_t *cache) {
    tide__stack_t *got[BATCH_MAX + 1]; /* got[n - 1] is handed out, the rest go to the cache */
    unsigned n = 0;
    int64_t freed_at = 0;
    tide__stack_t *head = depot_pop(s);
    if (!head) {
        /* Empty, or a decay pass has the batches off for a moment: the lock waits for it. */
        unsigned want = cache ? (cache->cap / 2 ? cache->cap / 2 : 1) : 1;
        if (want > BATCH_MAX + 1) want = BATCH_MAX + 1;
        pthread_mutex_lock(&s->lock);
        head = depot_pop(s);
        if (!head) {
            n = cold_take(s, got, want);
            freed_at = tide__now();
        }
        pthread_mutex_unlock(&s->lock);
    }
    if (head) {
        n = head->batch_len;
        freed_at = head->freed_at;
        memcpy(got, batch_rest(head), (n - 1) * sizeof *got);
        got[n - 1] = head;
    }
    if (n) {
        /* The rest to the cache, in order; what does not fit goes back, as old as it was
         * (a getter without a cache takes one stack). */
        unsigned i = 0;
        for (; i + 1 < n && cache && cache->count < cache->cap; i++)
            cache->items[cache->count++] = got[i];
        if (i + 1 < n) depot_push_all(s, got + i, n - 1 - i, freed_at);
        return got[n - 1];
    }

    tide__slab_t *slab = slab_new(s, s->stack_size, STACKS_PER_SLAB, false);
    atomic_store_explicit(&s->starved, slab == NULL, MO_RELAXED);
    if (!slab) return NULL;
    pthread_mutex_lock(&s->lock);
    slab->next = s->slabs;
    s->slabs = slab;
    pthread_mutex_unlock(&s->lock);
    /* Stacks other than the first go to the cache up to its capacity, the rest to the depot. */
    tide__stack_t *rest[STACKS_PER_SLAB];
    unsigned nrest = 0;
    /* In address order, so the cache hands out the highest first (as before ck_stack): a
     * runaway overflow then runs through unused neighbours into the slab's end (test_stack's
     * canary case under ASan reports it as an overflow, not as a poisoned frame below). */
    for (unsigned i = 1; i < slab->count; i++) {
        tide__stack_t *st = &slab->stacks[i];
        if (cache && cache->count < cache->cap) cache->items[cache->count++] = st;
        else rest[nrest++] = st;
    }
    if (nrest) depot_push_all(s, rest, nrest, tide__now());
    return &slab->stacks[0];
}

tide__stack_t *tide__stack_get(tide__stacks_t *s, tide__stack_cache_t *cache, size_t size) {
    tide__stack_t *st;
    if (size == 0 || round_page(size) == s->stack_size) {
        if (cache && cache->count) {
            st = cache->items[--cache->count];
        } else {
            st = depot_get(s, cache);
            if (!st) return NULL;
        }
    } else {
        tide__slab_t *slab = slab_new(s, round_page(size), 1, true);
        if (!slab) return NULL;
        pthread_mutex_lock(&s->lock);
        slab->next = s->slabs;
        s->slabs = slab;
        pthread_mutex_unlock(&s->lock);
        st = &slab->stacks[0];
    }
    st->next = NULL;
    tide__split_add(cache ? &cache->live : NULL, &s->live, 1);
    return st;
}

static void slab_remove(tide__stacks_t *s, tide__slab_t *slab) {
    for (tide__slab_t **pp = &s->slabs; *pp; pp = &(*pp)->next) {
        if (*pp == slab) {
            *pp = slab->next;
            return;
        }
    }
}

void tide__stack_put(tide__stacks_t *s, tide__stack_cache_t *cache, tide__stack_t *st,
                     size_t size) {
    tide__split_add(cache ? &cache->live : NULL, &s->live, -1);
    if (size != 0 && round_page(size) != s->stack_size) { /* a dedicated stack (see _get) */
        pthread_mutex_lock(&s->lock);
        slab_remove(s, st->slab);
        pthread_mutex_unlock(&s->lock);
        slab_unmap(s, st->slab);
        return;
    }
    if (cache && cache->count < cache->cap) {
        cache->items[cache->count++] = st;
        return;
    }
    /* Cache full (or none): its older half goes to the depot as one batch, headed by this
     * stack (just freed, so its top page, where the list of the others goes, is warm). */
    unsigned move = cache ? cache->count / 2 : 0;
    if (move > BATCH_MAX) move = BATCH_MAX;
    depot_push(s, st, move ? cache->items : NULL, move, tide__now());
    if (move) {
        memmove(cache->items, cache->items + move, sizeof(tide__stack_t *) * (cache->count - move));
        cache->count -= move;
    }
}

void tide__stack_cache_flush(tide__stacks_t *s, tide__stack_cache_t *cache) {
    tide__split_fold(&cache->live, &s->live);
    if (!cache->count) return;
    depot_push_all(s, cache->items, cache->count, tide__now());
    cache->count = 0;
}

void tide__stacks_decay(tide__stacks_t *s, int64_t now) {
    /* Look at most ten times per decay period; a purge pass is cheap to skip. */
    if (now - atomic_load_explicit(&s->last_purge, MO_RELAXED) < s->decay_ns / 10) return;
    if (pthread_mutex_trylock(&s->lock) != 0) return;
    atomic_store_explicit(&s->last_purge, now, MO_RELAXED);
    /* Every batch comes off (pop by pop, see freelist.h), those idle long enough are purged,
     * the others go back oldest first, so the newest is on top again (batches given back
     * meanwhile end up below them: at worst a slightly older batch is reused first). A getter
     * that finds the depot empty meanwhile waits for the lock and looks again (depot_get). */
    ck_stack_entry_t *kept = NULL; /* popped newest first, so this list runs oldest first */
    int purged = 0;
    tide__stack_t *first;
    while ((first = depot_pop(s))) {
        if (purged >= 4096 || now - first->freed_at < s->decay_ns) {
            first->batch.next = kept;
            kept = &first->batch;
            continue;
        }
        /* The list of the others lives in the head's memory: read it before the purge. */
        unsigned n = first->batch_len;
        tide__stack_t *got[BATCH_MAX + 1];
        memcpy(got, batch_rest(first), (n - 1) * sizeof *got);
        got[n - 1] = first;
        for (unsigned i = 0; i < n; i++) {
            tide__stack_t *st = got[i];
            /* The descriptor lives off the stack, so the whole stack can go. */
            madvise(st->lo, (size_t)(st->hi - st->lo), MADV_DONTNEED);
            st->purged = 1;
            st->next = s->cold;
            s->cold = st;
            s->cold_count++;
            purged++;
        }
    }
    while (kept) {
        first = BATCH_OF(kept);
        kept = kept->next;
        depot_relink(s, first);
    }
    pthread_mutex_unlock(&s->lock);
}

void tide__stacks_destroy(tide__stacks_t *s) {
    tide__slab_t *slab = s->slabs;
    while (slab) {
        tide__slab_t *next = slab->next;
        slab_unmap(s, slab);
        slab = next;
    }
    s->slabs = NULL;
    tide__freelist_init(&s->warm);
    atomic_store(&s->warm_count, 0);
    s->cold = NULL;
    pthread_mutex_destroy(&s->lock);
}
