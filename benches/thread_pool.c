/* See thread_pool.h. */
#include "thread_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define POOL_STACK ((size_t)256 * 1024)

static void *pool_main(void *arg) {
    thread_pool_t *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->len == 0 && !p->stop) {
            p->idle++;
            pthread_cond_wait(&p->work, &p->lock);
            p->idle--;
            if (p->signalled) p->signalled--;
        }
        if (p->len == 0) break; /* stopping, and nothing left */
        pool_job_t job = p->ring[p->head];
        if (++p->head == p->cap) p->head = 0;
        p->len--;
        pthread_mutex_unlock(&p->lock);
        job.fn(job.arg);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Double the ring (lock held), keeping the jobs in order. */
static int grow(thread_pool_t *p) {
    size_t cap = p->cap ? p->cap * 2 : 1024;
    pool_job_t *ring = malloc(cap * sizeof *ring);
    if (!ring) return -ENOMEM;
    size_t first = p->cap - p->head < p->len ? p->cap - p->head : p->len;
    if (p->len) {
        memcpy(ring, p->ring + p->head, first * sizeof *ring);
        memcpy(ring + first, p->ring, (p->len - first) * sizeof *ring);
    }
    free(p->ring);
    p->ring = ring;
    p->cap = cap;
    p->head = 0;
    return 0;
}

int thread_pool_submit(thread_pool_t *p, void (*fn)(void *), void *arg) {
    pthread_mutex_lock(&p->lock);
    if (p->len == p->cap && grow(p) < 0) {
        pthread_mutex_unlock(&p->lock);
        return -ENOMEM;
    }
    size_t tail = p->head + p->len;
    if (tail >= p->cap) tail -= p->cap;
    p->ring[tail] = (pool_job_t){fn, arg};
    p->len++;
    if (p->idle > p->signalled) {
        p->signalled++;
        pthread_cond_signal(&p->work);
    }
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int thread_pool_init(thread_pool_t *p, unsigned n) {
    memset(p, 0, sizeof *p);
    int r = -ENOMEM;
    p->threads = calloc(n, sizeof *p->threads);
    if (!p->threads) return r;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    if ((r = grow(p)) < 0) goto fail;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, POOL_STACK);
    for (; p->nthreads < n; p->nthreads++) {
        if (pthread_create(&p->threads[p->nthreads], &attr, pool_main, p) != 0) {
            pthread_attr_destroy(&attr);
            r = -EAGAIN;
            goto fail;
        }
    }
    pthread_attr_destroy(&attr);
    return 0;
fail:
    thread_pool_destroy(p);
    return r;
}

void thread_pool_destroy(thread_pool_t *p) {
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    free(p->ring);
    free(p->threads);
    memset(p, 0, sizeof *p);
}
