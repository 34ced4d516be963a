/* The pool baseline's executor: a fixed set of threads taking jobs from one FIFO queue under
 * one mutex — the thread pool a C programmer writes when tasks must not cost a thread each.
 * Idle threads sleep on a condition variable; a submit signals one only when a thread sleeps
 * that has not been signalled yet, so a busy pool makes no system calls. */
#ifndef TIDE_BENCH_THREAD_POOL_H
#define TIDE_BENCH_THREAD_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct pool_job {
    void (*fn)(void *); /* runs fn(arg) on a pool thread */
    void *arg;          /* its argument */
} pool_job_t;

typedef struct thread_pool {
    pthread_mutex_t lock; /* guards everything but threads */
    pthread_cond_t work;  /* idle threads wait here */
    pool_job_t *ring;     /* the queue: a growable ring buffer, guarded by lock */
    size_t cap;           /* slots in ring */
    size_t head;          /* oldest job */
    size_t len;           /* jobs queued */
    unsigned idle;        /* threads waiting on `work` */
    unsigned signalled;   /* of those, already signalled and not yet back */
    bool stop;            /* threads exit once the queue is empty */
    pthread_t *threads;   /* the pool's threads ... */
    unsigned nthreads;    /* ... started so far */
} thread_pool_t;

/* Start n threads. 0, -ENOMEM, or -EAGAIN (thread creation; none are left running). */
int thread_pool_init(thread_pool_t *p, unsigned n);
/* Run every queued job, then stop and join the threads. */
void thread_pool_destroy(thread_pool_t *p);
/* Queue fn(arg). 0 or -ENOMEM. */
int thread_pool_submit(thread_pool_t *p, void (*fn)(void *), void *arg);

#endif
