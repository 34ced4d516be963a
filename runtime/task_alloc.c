/* Chunked, type-stable task records (see task_alloc.h). */
#include "task_alloc.h"

#include <errno.h>
#include <string.h>

#include "task.h"

#define CHUNK_TASKS 256
#define CACHE_MAX 128   /* a worker keeps at most this many free records */
#define CACHE_BATCH 64  /* ...and moves this many at a time to or from the pool */
#define ID_BLOCK 1024   /* ids reserved per cache refill, so spawns do not share a counter */

int tide__task_pool_init(tide__task_pool_t *p) {
    memset(p, 0, sizeof *p);
    if (pthread_mutex_init(&p->lock, NULL)) return -ENOMEM;
    atomic_init(&p->chunks, NULL);
    atomic_init(&p->next_id, 1);
    atomic_init(&p->records_live, 0);
    return 0;
}

void tide__task_pool_destroy(tide__task_pool_t *p) {
    tide__task_chunk_t *c = atomic_load(&p->chunks);
    while (c) {
        tide__task_chunk_t *next = c->next;
        tide__free(c->tasks, sizeof(tide__task_t) * c->count);
        tide__free(c, sizeof *c);
        c = next;
    }
    atomic_store(&p->chunks, NULL);
    pthread_mutex_destroy(&p->lock);
}

/* Map a new chunk; its records (all but the one returned) join the shared free list. */
static tide__task_t *chunk_new(tide__task_pool_t *p) {
    tide__task_chunk_t *c = tide__alloc(sizeof *c);
    if (!c) return NULL;
    c->tasks = tide__calloc(sizeof(tide__task_t) * CHUNK_TASKS);
    if (!c->tasks) {
        tide__free(c, sizeof *c);
        return NULL;
    }
    c->count = CHUNK_TASKS;
    for (unsigned i = 0; i < CHUNK_TASKS; i++) {
        tide__task_t *t = &c->tasks[i];
        atomic_init(&t->state, ST_MAKE(0, 0, TASK_DONE));
        atomic_init(&t->id, 0);
        atomic_init(&t->flags, 0);
        atomic_init(&t->lock.locked, 0);
        atomic_init(&t->timer.wheel, NULL);
        atomic_init(&t->waiting_on, NULL);
        atomic_init(&t->qnode.next, NULL);
    }
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 1; i < CHUNK_TASKS; i++) {
        c->tasks[i].next_free = p->free;
        p->free = &c->tasks[i];
        p->nfree++;
    }
    c->next = atomic_load_explicit(&p->chunks, relaxed);
    atomic_store_explicit(&p->chunks, c, release);
    pthread_mutex_unlock(&p->lock);
    return &c->tasks[0];
}

static uint64_t next_id(tide__task_pool_t *p, tide__task_cache_t *cache) {
    if (!cache) return atomic_fetch_add_explicit(&p->next_id, 1, relaxed);
    if (cache->next_id == cache->id_end) {
        cache->next_id = atomic_fetch_add_explicit(&p->next_id, ID_BLOCK, relaxed);
        cache->id_end = cache->next_id + ID_BLOCK;
    }
    return cache->next_id++;
}

tide__task_t *tide__task_alloc(tide__task_pool_t *p, tide__task_cache_t *cache) {
    tide__task_t *t = NULL;
    if (cache && cache->head) {
        t = cache->head;
        cache->head = t->next_free;
        cache->count--;
    } else {
        pthread_mutex_lock(&p->lock);
        if (p->free) {
            t = p->free;
            p->free = t->next_free;
            p->nfree--;
            /* Refill the cache too, so the next spawns skip the lock. */
            while (cache && p->free && cache->count < CACHE_BATCH) {
                tide__task_t *x = p->free;
                p->free = x->next_free;
                p->nfree--;
                x->next_free = cache->head;
                cache->head = x;
                cache->count++;
            }
        }
        pthread_mutex_unlock(&p->lock);
        if (!t) t = chunk_new(p);
        if (!t) return NULL;
    }
    /* Keep the wait sequence growing across incarnations: a waker of the record's previous
     * task must never match a wait of the new one. */
    uint64_t seq = ST_SEQ(atomic_load_explicit(&t->state, relaxed)) + 1;
    atomic_store_explicit(&t->state, ST_MAKE(seq, 0, TASK_RUNNABLE), relaxed);
    atomic_store_explicit(&t->flags, 0, relaxed);
    atomic_store_explicit(&t->qnode.next, NULL, relaxed);
    atomic_store_explicit(&t->timer.wheel, NULL, relaxed);
    atomic_store_explicit(&t->waiting_on, NULL, relaxed);
    t->ctx.sp = NULL;
    t->stack = NULL;
    t->worker = NULL;
    t->status = 0;
    t->saved_errno = 0;
    t->shield = 0;
    t->deadline = TIDE_FOREVER;
    t->watchers = NULL;
    t->stack_size = 0;
    t->spawn_line = 0;
    t->spawn_file = NULL;
    t->run_started = 0;
    t->next_free = NULL;
    t->name[0] = 0;
    memset(&t->fiber, 0, sizeof t->fiber);
    atomic_fetch_add_explicit(&p->records_live, 1, relaxed);
    /* Publish the id last: a handle check that sees it sees an initialised record. */
    atomic_store_explicit(&t->id, next_id(p, cache), release);
    return t;
}

void tide__task_recycle(tide__task_pool_t *p, tide__task_cache_t *cache, tide__task_t *t) {
    atomic_store_explicit(&t->id, 0, release);
    atomic_fetch_sub_explicit(&p->records_live, 1, relaxed);
    if (cache) {
        t->next_free = cache->head;
        cache->head = t;
        if (++cache->count <= CACHE_MAX) return;
        /* Too many: hand a batch back to the pool for other workers and threads. */
        pthread_mutex_lock(&p->lock);
        while (cache->count > CACHE_MAX - CACHE_BATCH) {
            tide__task_t *x = cache->head;
            cache->head = x->next_free;
            cache->count--;
            x->next_free = p->free;
            p->free = x;
            p->nfree++;
        }
        pthread_mutex_unlock(&p->lock);
        return;
    }
    pthread_mutex_lock(&p->lock);
    t->next_free = p->free;
    p->free = t;
    p->nfree++;
    pthread_mutex_unlock(&p->lock);
}

void tide__task_cache_flush(tide__task_pool_t *p, tide__task_cache_t *cache) {
    pthread_mutex_lock(&p->lock);
    while (cache->head) {
        tide__task_t *x = cache->head;
        cache->head = x->next_free;
        x->next_free = p->free;
        p->free = x;
        p->nfree++;
    }
    cache->count = 0;
    pthread_mutex_unlock(&p->lock);
}

void tide__task_foreach(tide__task_pool_t *p, void (*fn)(tide__task_t *t, void *arg), void *arg) {
    for (tide__task_chunk_t *c = atomic_load_explicit(&p->chunks, acquire); c; c = c->next) {
        for (unsigned i = 0; i < c->count; i++) {
            tide__task_t *t = &c->tasks[i];
            if (atomic_load_explicit(&t->id, acquire) != 0) fn(t, arg);
        }
    }
}
