/* The shared depots behind the per-worker caches, on Concurrency Kit's ck_stack
 * (runtime/freelist.h): the bare list, the stack depot and the task record pool, each hammered
 * by threads that pop, hold and push back, and finally the runtime using both at once.
 * Every test checks that nothing is handed to two owners at once (the failure ABA would cause:
 * a popper whose stale compare-and-swap succeeds hands out an entry that is in use) and that
 * nothing is lost. Under ThreadSanitizer, ck's own code is uninstrumented (spin_tsan.c) and the
 * hand-over annotations are what lets TSan check the payloads the entries carry. */
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>

#include "testutil.h"

#include "freelist.h"
#include "stack.h"
#include "task.h"
#include "task_alloc.h"

#define THREADS 4

/* ---- the bare list ---- */

#define ENTRIES 16 /* few entries, so the same ones come round again and again (ABA's setting) */
#define LIST_ROUNDS TT_SCALE(200000)

typedef struct item {
    ck_stack_entry_t link; /* in the list while free */
    _Atomic int owner;     /* 0 while free; the holder's number while held */
    uint64_t payload;      /* written by each holder, checked by the next (plain on purpose) */
} item_t;

typedef struct list_run {
    tide__freelist_t list;
    item_t items[ENTRIES];
    _Atomic int next_id;
    _Atomic uint64_t double_owned; /* pops that found the item held: must stay 0 */
    _Atomic uint64_t pops;
} list_run_t;

static void *list_hammer(void *arg) {
    list_run_t *r = arg;
    int me = atomic_fetch_add(&r->next_id, 1) + 1;
    for (int i = 0; i < LIST_ROUNDS; i++) {
        ck_stack_entry_t *e = tide__freelist_pop(&r->list);
        if (!e) {
            sched_yield();
            continue;
        }
        item_t *it = (item_t *)(void *)((char *)e - offsetof(item_t, link));
        int prev = 0;
        if (!atomic_compare_exchange_strong(&it->owner, &prev, me)) atomic_fetch_add(&r->double_owned, 1);
        it->payload = it->payload * 31 + (uint64_t)me;
        if (tt_rand() % 512 == 0) sched_yield(); /* hold it across a preemption */
        atomic_store(&it->owner, 0);
        tide__freelist_push(&r->list, &it->link);
        atomic_fetch_add_explicit(&r->pops, 1, memory_order_relaxed);
    }
    return NULL;
}

Test(freelist, no_entry_handed_out_twice_or_lost) {
    list_run_t *r = NULL;
    cr_assert_eq(posix_memalign((void **)&r, 64, sizeof *r), 0);
    memset(r, 0, sizeof *r);
    tide__freelist_init(&r->list);
    cr_assert(tide__freelist_empty(&r->list));
    cr_assert_null(tide__freelist_pop(&r->list), "an empty list pops nothing");
    for (int i = 0; i < ENTRIES; i++) tide__freelist_push(&r->list, &r->items[i].link);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, list_hammer, r);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&r->double_owned), 0, "an entry was popped while held");
    cr_assert_gt(atomic_load(&r->pops), (uint64_t)LIST_ROUNDS, "the threads hardly ran");
    /* Every entry is back exactly once. */
    int seen[ENTRIES] = {0}, n = 0;
    ck_stack_entry_t *e;
    while ((e = tide__freelist_pop(&r->list))) {
        item_t *it = (item_t *)(void *)((char *)e - offsetof(item_t, link));
        cr_assert_eq(atomic_load(&it->owner), 0);
        seen[it - r->items]++;
        n++;
        cr_assert_leq(n, ENTRIES, "more entries came back than went in (a cycle)");
    }
    cr_assert_eq(n, ENTRIES, "entries lost: %d of %d came back", n, ENTRIES);
    for (int i = 0; i < ENTRIES; i++) cr_assert_eq(seen[i], 1);
    free(r);
}

/* ABA, deterministically: the stress test above can hardly hit the few instructions between
 * a popper's read of head->next and its compare-and-swap. So look at what that CAS compares:
 * after X is popped, Y is popped and X is pushed back, the head is X again, and a popper
 * that read (X, X->next == Y) before must not succeed. Its CAS compares the generation too. */
Test(freelist, head_popped_and_pushed_back_no_longer_matches) {
    tide__freelist_t *f = NULL;
    cr_assert_eq(posix_memalign((void **)&f, 64, sizeof *f), 0);
    tide__freelist_init(f);
    item_t items[3] = {0};
    for (int i = 0; i < 3; i++) tide__freelist_push(f, &items[i].link);
    ck_stack_t before = f->ck; /* what a stalled popper read: head X, X->next == Y */
    cr_assert_eq(before.head, &items[2].link);
    cr_assert_eq(before.head->next, &items[1].link);
    ck_stack_entry_t *x = tide__freelist_pop(f), *y = tide__freelist_pop(f);
    tide__freelist_push(f, x);
    cr_assert_eq(f->ck.head, before.head, "the head is X again (the ABA setting)");
    cr_assert_neq(f->ck.generation, before.generation,
                  "the stalled popper's compare-and-swap would succeed and hand out Y twice");
    tide__freelist_push(f, y);
    free(f);
}

/* ---- the stack depot ---- */

#define STACK_ROUNDS TT_SCALE(20000)
#define STACK_SIZE (16 * 1024)
#define CACHE_CAP 6 /* small: caches spill to and refill from the depot all the time */

typedef struct stack_run {
    tide__stacks_t stacks;
    _Atomic int next_id;
    _Atomic bool stop_decay;
    _Atomic uint64_t clobbered; /* stacks whose mark another thread overwrote: must stay 0 */
    _Atomic uint64_t failed;    /* gets that found no memory: must stay 0 */
} stack_run_t;

static void *stack_hammer(void *arg) {
    stack_run_t *r = arg;
    uint64_t me = (uint64_t)atomic_fetch_add(&r->next_id, 1) + 1;
    tide__stack_cache_t cache;
    if (tide__stack_cache_init(&cache, CACHE_CAP) < 0) {
        atomic_fetch_add(&r->failed, 1); /* threads count failures; the test asserts */
        return NULL;
    }
    tide__stack_t *held[24];
    for (int i = 0; i < STACK_ROUNDS; i++) {
        unsigned n = 1 + tt_rand() % 24;
        bool cached = tt_rand() % 8 != 0; /* now and then as a thread without a cache */
        for (unsigned k = 0; k < n; k++) {
            held[k] = tide__stack_get(&r->stacks, cached ? &cache : NULL, 0);
            if (!held[k]) {
                atomic_fetch_add(&r->failed, 1);
                held[k] = tide__stack_get(&r->stacks, NULL, 0); /* the assert will fail anyway */
                if (!held[k]) abort();
            }
            /* Mark the stack's top word (as a task's frames would write it). */
            *(volatile uint64_t *)(void *)(held[k]->hi - 8) = me << 32 | k;
        }
        if (tt_rand() % 64 == 0) sched_yield();
        for (unsigned k = 0; k < n; k++) {
            if (*(volatile uint64_t *)(void *)(held[k]->hi - 8) != (me << 32 | k))
                atomic_fetch_add(&r->clobbered, 1);
            tide__stack_put(&r->stacks, cached ? &cache : NULL, held[k], 0);
        }
    }
    tide__stack_cache_flush(&r->stacks, &cache);
    tide__stack_cache_destroy(&cache);
    return NULL;
}

/* Purges run all along (decay 1 µs): each takes every batch off the depot and puts the young
 * ones back, while the others pop and push. */
static void *stack_decayer(void *arg) {
    stack_run_t *r = arg;
    while (!atomic_load(&r->stop_decay)) {
        atomic_store(&r->stacks.last_purge, 0);
        tide__stacks_decay(&r->stacks, tide__now());
        sched_yield();
    }
    return NULL;
}

Test(freelist, stack_depot_under_contention_and_decay) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    stack_run_t *r = NULL;
    cr_assert_eq(posix_memalign((void **)&r, 64, sizeof *r), 0);
    memset(r, 0, sizeof *r);
    cr_assert_eq(tide__stacks_init(&r->stacks, STACK_SIZE, 1000), 0);
    pthread_t th[THREADS], decayer;
    pthread_create(&decayer, NULL, stack_decayer, r);
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, stack_hammer, r);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    atomic_store(&r->stop_decay, true);
    pthread_join(decayer, NULL);
    cr_assert_eq(atomic_load(&r->failed), 0);
    cr_assert_eq(atomic_load(&r->clobbered), 0, "a stack was given to two holders at once");
    cr_assert_eq(atomic_load(&r->stacks.live), 0);
    /* Every mapped stack is free again, warm in the depot or purged on the cold list; none twice. */
    uint64_t mapped = atomic_load(&r->stacks.mapped);
    cr_assert_eq(atomic_load(&r->stacks.warm_count) + r->stacks.cold_count, mapped,
                 "warm %zu + cold %zu != mapped %llu", atomic_load(&r->stacks.warm_count),
                 r->stacks.cold_count, (unsigned long long)mapped);
    /* The 4 threads never hold more than 4 * (24 + 6) stacks: the depot must have been reused,
     * not bypassed by fresh slabs. */
    cr_assert_leq(mapped, (uint64_t)THREADS * (24 + CACHE_CAP) + 16 * THREADS,
                  "%llu stacks mapped", (unsigned long long)mapped);
    /* And each is handed out once more, all distinct. */
    uint64_t got = 0;
    tide__stack_t **all = calloc(mapped + 1, sizeof *all);
    for (; got <= mapped; got++) {
        if (!atomic_load(&r->stacks.warm_count) && !r->stacks.cold_count) break;
        all[got] = tide__stack_get(&r->stacks, NULL, 0);
        for (uint64_t j = 0; j < got; j++) cr_assert_neq(all[j], all[got], "a stack twice");
    }
    cr_assert_eq(got, mapped);
    for (uint64_t j = 0; j < got; j++) tide__stack_put(&r->stacks, NULL, all[j], 0);
    free(all);
    tide__stacks_destroy(&r->stacks);
    free(r);
    tt_leaks_end(&l);
}

/* ---- the task record pool ---- */

#define TASK_ROUNDS TT_SCALE(20000)

typedef struct pool_run {
    tide__task_pool_t pool;
    _Atomic int next_id;
    _Atomic uint64_t clobbered; /* records whose mark another thread overwrote: must stay 0 */
    _Atomic uint64_t failed;    /* allocations that found no memory: must stay 0 */
} pool_run_t;

static void *pool_hammer(void *arg) {
    pool_run_t *r = arg;
    uintptr_t me = (uintptr_t)atomic_fetch_add(&r->next_id, 1) + 1;
    tide__task_cache_t cache = {0};
    tide__task_t *held[300]; /* past CACHE_MAX (128): recycling pushes batches to the pool */
    for (int i = 0; i < TASK_ROUNDS; i++) {
        unsigned n = 1 + tt_rand() % (tt_rand() % 16 == 0 ? 300 : 40);
        bool cached = tt_rand() % 8 != 0; /* else the thread's foreign cache */
        for (unsigned k = 0; k < n; k++) {
            held[k] = tide__task_alloc(&r->pool, cached ? &cache : NULL);
            if (!held[k]) {
                atomic_fetch_add(&r->failed, 1);
                n = k;
                break;
            }
            held[k]->arg = (void *)(me << 16 | k);
        }
        if (tt_rand() % 64 == 0) sched_yield();
        for (unsigned k = 0; k < n; k++) {
            if (held[k]->arg != (void *)(me << 16 | k)) atomic_fetch_add(&r->clobbered, 1);
            tide__task_recycle(&r->pool, cached ? &cache : NULL, held[k]);
        }
    }
    tide__task_cache_flush(&r->pool, &cache);
    return NULL;
}

Test(freelist, task_pool_under_contention) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    pool_run_t *r = NULL;
    cr_assert_eq(posix_memalign((void **)&r, 64, sizeof *r), 0);
    memset(r, 0, sizeof *r);
    cr_assert_eq(tide__task_pool_init(&r->pool, 0x7e57), 0);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, pool_hammer, r);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&r->failed), 0);
    cr_assert_eq(atomic_load(&r->clobbered), 0, "a record was given to two holders at once");
    cr_assert_eq(atomic_load(&r->pool.records_live), 0);
    /* Nothing lost: every record of every chunk is in exactly one batch of the pool, or in
     * the threads' foreign caches (dropped with the pool: the serial keys them). */
    unsigned records = 0, pooled = 0;
    for (tide__task_chunk_t *c = atomic_load(&r->pool.chunks); c; c = c->next) records += c->count;
    ck_stack_entry_t *e;
    while ((e = tide__freelist_pop(&r->pool.batches))) {
        tide__task_t *first = (tide__task_t *)(void *)((char *)e - offsetof(tide__task_t, arg));
        unsigned len = 0;
        for (tide__task_t *t = first; t; t = t->next_free) len++;
        cr_assert_eq(len, (unsigned)first->status, "a batch's length is off");
        pooled += len;
    }
    cr_assert_leq(pooled, records);
    cr_assert_geq(pooled + THREADS * 300u, records, "records lost: %u pooled of %u", pooled, records);
    tide__task_pool_destroy(&r->pool);
    free(r);
    tt_leaks_end(&l);
}

/* ---- both, inside the runtime ---- */

#define SPAWNS TT_LIVE(20000)

static int leaf(void *arg) {
    (void)arg;
    if (tt_rand() % 4 == 0) tide_yield();
    return 0;
}

/* Spawn waves of tasks that live a little (so stacks pile up past the caches and go to the
 * depot), joined from the other side, while a plain thread spawns into the runtime too. */
static int waves(void *arg) {
    (void)arg;
    tide_task_t t[200];
    for (int done = 0; done < SPAWNS; done += 200) {
        for (int i = 0; i < 200; i++) cr_assert_eq(tide_spawn(&t[i], leaf, NULL), 0);
        for (int i = 0; i < 200; i++) cr_assert_eq(tide_join(t[i], NULL), 0);
    }
    return 0;
}

static _Atomic int remote_failed;

static void *remote_spawner(void *arg) {
    tide_runtime_t *rt = arg;
    tide_task_t t[100];
    for (int done = 0; done < SPAWNS; done += 100) {
        int n = 0;
        for (; n < 100; n++) {
            if (tide_runtime_spawn(rt, &t[n], leaf, NULL, NULL) != 0) {
                atomic_fetch_add(&remote_failed, 1);
                break;
            }
        }
        for (int i = 0; i < n; i++)
            if (tide_join(t[i], NULL) != 0) atomic_fetch_add(&remote_failed, 1);
    }
    return NULL;
}

Test(freelist, runtime_spawns_through_both_depots) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    tide_config_t cfg;
    tide_config_init(&cfg);
    cfg.workers = 2;
    cfg.stack_cache = 4; /* every wave overflows the caches into the depot */
    tide_runtime_t *rt = NULL;
    cr_assert_eq(tide_runtime_new(&rt, &cfg), 0);
    pthread_t th;
    pthread_create(&th, NULL, remote_spawner, rt);
    cr_assert_eq(tide_runtime_block_on(rt, waves, NULL), 0);
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&remote_failed), 0, "spawns or joins from the plain thread failed");
    tt_runtime_quiet(rt);
    tide_runtime_close(rt);
    tt_leaks_end(&l);
}
