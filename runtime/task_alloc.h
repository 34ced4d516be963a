/* Task records: carved from chunks owned by the runtime, recycled through per-worker caches
 * and a shared pool, and only freed with the runtime. Type-stable memory is what makes stale
 * wakers and released handles detectable (see task.h). Walking the chunks lists every live
 * task, which is how task dumps and shutdown find them without a list to maintain. */
#ifndef TIDE_RUNTIME_TASK_ALLOC_H
#define TIDE_RUNTIME_TASK_ALLOC_H

#include <pthread.h>

#include "freelist.h"
#include "platform.h"
#include "split_count.h"

struct tide__task;

typedef struct tide__task_cache {
    struct tide__task *head; /* free records (LIFO) */
    unsigned count;
    uint64_t next_id;        /* ids reserved for this cache: [next_id, id_end) */
    uint64_t id_end;
    _Atomic int64_t live;    /* records allocated through it less those recycled through it:
                                its part of the pool's records_live (split_count.h); a
                                foreign cache's stays 0 (foreign threads count in the pool) */
} tide__task_cache_t;

typedef struct tide__task_chunk {
    struct tide__task_chunk *next; /* published list: read without the lock by walkers */
    unsigned count;                /* records in it */
    struct tide__task *tasks;      /* the records */
} tide__task_chunk_t;

typedef struct tide__task_pool {
    TIDE_ALIGNED tide__freelist_t batches; /* free batches (see task_alloc.c), lock-free:
                                              its own cache line, as every refill and
                                              overflow of a cache swaps it */
    TIDE_ALIGNED pthread_mutex_t grow_lock; /* chunk list growth */
    _Atomic(tide__task_chunk_t *) chunks;  /* every chunk, newest first */
    _Atomic uint64_t next_id;              /* id blocks are handed out from here */
    _Atomic uint64_t records_live;         /* records holding tasks: the shared part of a
                                              split count whose other parts are the workers'
                                              caches' (split_count.h) */
    uint64_t serial;                       /* the runtime's serial: keys threads' caches */
} tide__task_pool_t;

int tide__task_pool_init(tide__task_pool_t *p, uint64_t serial);
void tide__task_pool_destroy(tide__task_pool_t *p);

/* A fresh record (fields reset, a new id, state RUNNABLE with a new wait sequence).
 * cache NULL means a thread outside the runtime: it then uses a cache of its own, kept in
 * thread-local storage and tied to this runtime's serial (a cache left over from a runtime
 * that has been freed is dropped, never touched). NULL: out of memory. */
struct tide__task *tide__task_alloc(tide__task_pool_t *p, tide__task_cache_t *cache);
/* Recycle a record whose task has ended and whose handle was released. */
void tide__task_recycle(tide__task_pool_t *p, tide__task_cache_t *cache, struct tide__task *t);
/* Return a cache's records to the pool (worker exit), and fold its count in. */
void tide__task_cache_flush(tide__task_pool_t *p, tide__task_cache_t *cache);

/* Call fn on every record that currently holds a task (id != 0). Records may change while
 * they are visited: fn must validate what it reads (take the task's lock, check the id). */
void tide__task_foreach(tide__task_pool_t *p, void (*fn)(struct tide__task *t, void *arg),
                        void *arg);

#endif
