/* Stack slabs, caches, depot and decay (see stack.h). */
#include "stack.h"

#include "ctx.h"

#include <errno.h>
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
    return cache->items ? 0 : -ENOMEM;
}

void tide__stack_cache_destroy(tide__stack_cache_t *cache) {
    tide__free(cache->items, sizeof(tide__stack_t *) * cache->cap);
    cache->items = NULL;
    cache->count = cache->cap = 0;
}

/* ---- the depot ring (under s->lock) ---- */

static tide__depot_entry_t *ring_at(tide__stacks_t *s, size_t i) {
    return &s->ring[(s->ring_bottom + i) & (s->ring_cap - 1)];
}

static bool ring_push(tide__stacks_t *s, tide__stack_t *st, int64_t now) {
    size_t n = atomic_load_explicit(&s->warm_count, MO_RELAXED);
    if (n == s->ring_cap) {
        size_t cap = s->ring_cap ? s->ring_cap * 2 : 1024;
        tide__depot_entry_t *r = tide__alloc(sizeof *r * cap);
        if (!r) return false;
        for (size_t i = 0; i < n; i++) r[i] = *ring_at(s, i);
        tide__free(s->ring, sizeof *r * s->ring_cap);
        s->ring = r;
        s->ring_cap = cap;
        s->ring_bottom = 0;
    }
    *ring_at(s, n) = (tide__depot_entry_t){st, now};
    tide__count(s->warm_count, 1);
    return true;
}

static tide__stack_t *ring_pop_newest(tide__stacks_t *s) {
    size_t n = atomic_load_explicit(&s->warm_count, MO_RELAXED);
    if (!n) return NULL;
    tide__count(s->warm_count, -1);
    return ring_at(s, n - 1)->st;
}

/* Refill a cache with up to half its capacity from the depot, or map a new slab. */
static tide__stack_t *depot_get(tide__stacks_t *s, tide__stack_cache_t *cache) {
    unsigned want = cache ? (cache->cap / 2 ? cache->cap / 2 : 1) : 1;
    tide__stack_t *first = NULL;
    pthread_mutex_lock(&s->lock);
    while (want > 0) {
        tide__stack_t *st = ring_pop_newest(s);
        if (!st && s->cold) {
            st = s->cold;
            s->cold = st->next;
            s->cold_count--;
            st->purged = 0;
        }
        if (!st) break;
        if (!first) first = st;
        else cache->items[cache->count++] = st;
        want--;
    }
    pthread_mutex_unlock(&s->lock);
    if (first) return first;

    tide__slab_t *slab = slab_new(s, s->stack_size, STACKS_PER_SLAB, false);
    atomic_store_explicit(&s->starved, slab == NULL, MO_RELAXED);
    if (!slab) return NULL;
    pthread_mutex_lock(&s->lock);
    slab->next = s->slabs;
    s->slabs = slab;
    /* Stacks other than the first go to the cache up to its capacity, the rest to the depot. */
    int64_t now = tide__now();
    for (unsigned i = 1; i < slab->count; i++) {
        tide__stack_t *st = &slab->stacks[i];
        if (cache && cache->count < cache->cap) cache->items[cache->count++] = st;
        else if (!ring_push(s, st, now)) {
            st->next = s->cold; /* no memory for the ring: keep it on the cold list */
            s->cold = st;
            s->cold_count++;
        }
    }
    pthread_mutex_unlock(&s->lock);
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
    atomic_fetch_add_explicit(&s->live, 1, MO_RELAXED);
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

/* Into the depot ring, or the cold list if the ring cannot grow (under the lock). */
static void to_depot(tide__stacks_t *s, tide__stack_t *st, int64_t now) {
    if (ring_push(s, st, now)) return;
    st->next = s->cold;
    s->cold = st;
    s->cold_count++;
}

void tide__stack_put(tide__stacks_t *s, tide__stack_cache_t *cache, tide__stack_t *st,
                     size_t size) {
    atomic_fetch_sub_explicit(&s->live, 1, MO_RELAXED);
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
    /* Cache full: its older half, then this one, go to the depot in one locked batch. */
    int64_t now = tide__now();
    pthread_mutex_lock(&s->lock);
    unsigned move = cache ? cache->count / 2 : 0;
    for (unsigned i = 0; i < move; i++) to_depot(s, cache->items[i], now);
    to_depot(s, st, now);
    pthread_mutex_unlock(&s->lock);
    if (move) {
        memmove(cache->items, cache->items + move, sizeof(tide__stack_t *) * (cache->count - move));
        cache->count -= move;
    }
}

void tide__stack_cache_flush(tide__stacks_t *s, tide__stack_cache_t *cache) {
    int64_t now = tide__now();
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < cache->count; i++) to_depot(s, cache->items[i], now);
    cache->count = 0;
    pthread_mutex_unlock(&s->lock);
}

void tide__stacks_decay(tide__stacks_t *s, int64_t now) {
    /* Look at most ten times per decay period; a purge pass is cheap to skip. */
    if (now - atomic_load_explicit(&s->last_purge, MO_RELAXED) < s->decay_ns / 10) return;
    if (pthread_mutex_trylock(&s->lock) != 0) return;
    atomic_store_explicit(&s->last_purge, now, MO_RELAXED);
    int purged = 0;
    while (atomic_load_explicit(&s->warm_count, MO_RELAXED) && purged < 4096 &&
           now - ring_at(s, 0)->freed_at >= s->decay_ns) {
        tide__stack_t *st = ring_at(s, 0)->st;
        s->ring_bottom = (s->ring_bottom + 1) & (s->ring_cap - 1);
        tide__count(s->warm_count, -1);
        /* The descriptor lives off the stack, so the whole stack can go. */
        madvise(st->lo, (size_t)(st->hi - st->lo), MADV_DONTNEED);
        st->purged = 1;
        st->next = s->cold;
        s->cold = st;
        s->cold_count++;
        purged++;
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
    tide__free(s->ring, sizeof *s->ring * s->ring_cap);
    s->ring = NULL;
    s->ring_cap = 0;
    atomic_store(&s->warm_count, 0);
    s->cold = NULL;
    pthread_mutex_destroy(&s->lock);
}
