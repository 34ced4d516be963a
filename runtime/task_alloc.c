/* Chunked, type-stable task records (see task_alloc.h). */
#include "task_alloc.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "task.h"

#define CHUNK_TASKS 256
#define CACHE_MAX 128   /* a worker keeps at most this many free records */
#define BATCH 64        /* ...and moves this many at a time to or from the pool */
#define ID_BLOCK 1024   /* ids reserved per cache refill, so spawns do not share a counter */

/* A batch is a list of free records linked through next_free; its first record also
 * carries the batch's length and the pool's link to the next batch (a ck_stack entry), in
 * fields a free record does not otherwise use (all in the record's first two cache lines,
 * which a spawn writes anyway). The entry overlays `arg`, a pointer-sized field. */
#define BATCH_LINK(t) ((ck_stack_entry_t *)(void *)&(t)->arg)
#define BATCH_OF(e) ((tide__task_t *)(void *)((char *)(e) - offsetof(tide__task_t, arg)))
#define BATCH_LEN(t) ((t)->status)
_Static_assert(sizeof(ck_stack_entry_t) == sizeof(void *), "the batch link overlays arg");

/* Threads outside the runtime (spawn_remote, joins from main) keep a cache too. */
static __thread struct {
    uint64_t serial;         /* the runtime (pool) it belongs to; 0: none */
    tide__task_cache_t cache;
} foreign;

static tide__task_cache_t *foreign_cache(tide__task_pool_t *p) {
    if (foreign.serial != p->serial) {
        foreign.serial = p->serial;
        memset(&foreign.cache, 0, sizeof foreign.cache);
    }
    return &foreign.cache;
}

int tide__task_pool_init(tide__task_pool_t *p, uint64_t serial) {
    memset(p, 0, sizeof *p);
    p->serial = serial;
    if (pthread_mutex_init(&p->grow_lock, NULL)) return -ENOMEM;
    tide__freelist_init(&p->batches);
    atomic_init(&p->chunks, NULL);
    atomic_init(&p->next_id, 1);
    atomic_init(&p->records_live, 0);
    return 0;
}

void tide__task_pool_destroy(tide__task_pool_t *p) {
    tide__task_chunk_t *c = atomic_load(&p->chunks);
    while (c) {
        tide__task_chunk_t *next = c->next;
        tide__free_aligned(c->tasks, sizeof(tide__task_t) * c->count);
        tide__delete(c);
        c = next;
    }
    atomic_store(&p->chunks, NULL);
    pthread_mutex_destroy(&p->grow_lock);
}

static void push_batch(tide__task_pool_t *p, tide__task_t *first, int len) {
    BATCH_LEN(first) = len;
    tide__freelist_push(&p->batches, BATCH_LINK(first));
}

static tide__task_t *pop_batch(tide__task_pool_t *p) {
    ck_stack_entry_t *e = tide__freelist_pop(&p->batches);
    return e ? BATCH_OF(e) : NULL;
}

/* Map a new chunk; returns it as one list of CHUNK_TASKS free records. */
static tide__task_t *chunk_new(tide__task_pool_t *p) {
    tide__task_chunk_t *c = tide__new(tide__task_chunk_t);
    if (!c) return NULL;
    c->tasks = tide__alloc_aligned(sizeof(tide__task_t) * CHUNK_TASKS); /* zeroed, 64-aligned */
    if (!c->tasks) {
        tide__delete(c);
        return NULL;
    }
    c->count = CHUNK_TASKS;
    for (unsigned i = 0; i < CHUNK_TASKS; i++) {
        tide__task_t *t = &c->tasks[i];
        atomic_init(&t->state, ST_MAKE(0, 0, TASK_DONE));
        atomic_init(&t->id, 0);
        atomic_init(&t->flags, 0);
        tide__spin_init(&t->lock);
        atomic_init(&t->timer.wheel, NULL);
        atomic_init(&t->waiting_on, NULL);
        atomic_init(&t->qnode.next, NULL);
        t->next_free = i + 1 < CHUNK_TASKS ? &c->tasks[i + 1] : NULL;
    }
    pthread_mutex_lock(&p->grow_lock);
    c->next = atomic_load_explicit(&p->chunks, MO_RELAXED);
    atomic_store_explicit(&p->chunks, c, MO_RELEASE);
    pthread_mutex_unlock(&p->grow_lock);
    return &c->tasks[0];
}

static uint64_t next_id(tide__task_pool_t *p, tide__task_cache_t *cache) {
    if (cache->next_id == cache->id_end) {
        cache->next_id = atomic_fetch_add_explicit(&p->next_id, ID_BLOCK, MO_RELAXED);
        cache->id_end = cache->next_id + ID_BLOCK;
    }
    return cache->next_id++;
}

/* Refill an empty cache with a pooled batch, or a new chunk. */
static bool refill(tide__task_pool_t *p, tide__task_cache_t *cache) {
    tide__task_t *b = pop_batch(p);
    unsigned len;
    if (b) {
        len = (unsigned)BATCH_LEN(b);
    } else {
        b = chunk_new(p);
        if (!b) return false;
        len = CHUNK_TASKS;
    }
    cache->head = b;
    cache->count = len;
    return true;
}

tide__task_t *tide__task_alloc(tide__task_pool_t *p, tide__task_cache_t *cache) {
    /* A thread outside the runtime (no cache) counts in the pool, not in its foreign cache. */
    _Atomic int64_t *part = cache ? &cache->live : NULL;
    if (!cache) cache = foreign_cache(p);
    if (!cache->head && !refill(p, cache)) return NULL;
    tide__split_add(part, &p->records_live, 1);
    tide__task_t *t = cache->head;
    cache->head = t->next_free;
    cache->count--;
    /* The next spawn's record was probably freed on another CPU: start fetching it. */
    if (cache->head) __builtin_prefetch(cache->head, 1, 3);
    /* Keep the wait sequence growing across incarnations: a waker of the record's previous
     * task must never match a wait of the new one. */
    uint64_t seq = ST_SEQ(atomic_load_explicit(&t->state, MO_RELAXED)) + 1;
    atomic_store_explicit(&t->state, ST_MAKE(seq, 0, TASK_RUNNABLE), MO_RELAXED);
    /* Lines 0 and 1 only: the timer, waiting_on, watchers and name were left clean when the
     * record's previous task ended (see tide__task_recycle). */
    atomic_store_explicit(&t->flags, 0, MO_RELAXED);
    atomic_store_explicit(&t->qnode.next, NULL, MO_RELAXED);
    t->ctx.sp = NULL;
    t->stack = NULL;
    t->worker = NULL;
    t->status = 0;
    t->saved_errno = 0;
    t->shield = 0;
    t->deadline = TIDE_FOREVER;
    t->scope_depth = 0;
    t->stack_size = 0;
    t->spawn_line = 0;
    t->spawn_file = NULL;
#if defined(TIDE_ASAN) || defined(TIDE_TSAN)
    memset(TIDE__TASK_FIBER(t), 0, sizeof t->fiber);
#endif
    /* Publish the id last: a handle check that sees it sees an initialised record. */
    atomic_store_explicit(&t->id, next_id(p, cache), MO_RELEASE);
    return t;
}

void tide__task_recycle(tide__task_pool_t *p, tide__task_cache_t *cache, tide__task_t *t) {
    t->name[0] = 0; /* while the record is still warm here, not when it is next spawned */
    atomic_store_explicit(&t->id, 0, MO_RELEASE);
    tide__split_add(cache ? &cache->live : NULL, &p->records_live, -1);
    if (!cache) cache = foreign_cache(p);
    t->next_free = cache->head;
    cache->head = t;
    if (++cache->count < CACHE_MAX) return;
    /* Too many: hand everything but the newest CACHE_MAX - BATCH back as one batch (the
     * records just freed, at the head, stay here warm). A cache refilled from a whole chunk
     * can hold more than CACHE_MAX, so the batch is whatever is beyond the kept part. */
    unsigned keep = CACHE_MAX - BATCH;
    tide__task_t *last_kept = cache->head;
    for (unsigned i = 1; i < keep; i++) last_kept = last_kept->next_free;
    tide__task_t *batch = last_kept->next_free;
    last_kept->next_free = NULL;
    push_batch(p, batch, (int)(cache->count - keep));
    cache->count = keep;
}

void tide__task_cache_flush(tide__task_pool_t *p, tide__task_cache_t *cache) {
    tide__split_fold(&cache->live, &p->records_live);
    if (cache->head) push_batch(p, cache->head, (int)cache->count);
    cache->head = NULL;
    cache->count = 0;
}

void tide__task_foreach(tide__task_pool_t *p, void (*fn)(tide__task_t *t, void *arg), void *arg) {
    for (tide__task_chunk_t *c = atomic_load_explicit(&p->chunks, MO_ACQUIRE); c; c = c->next) {
        for (unsigned i = 0; i < c->count; i++) {
            tide__task_t *t = &c->tasks[i];
            if (atomic_load_explicit(&t->id, MO_ACQUIRE) != 0) fn(t, arg);
        }
    }
}
