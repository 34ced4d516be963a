/* The blocking pool: tide_spawn_blocking runs a call that would block a worker (a legacy
 * library, a CPU-heavy hash) on a separate, bounded set of threads, and suspends only the
 * calling task. Threads start on demand and leave after BLOCKING_IDLE_NS without work. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "scheduler.h"

#define BLOCKING_IDLE_NS TIDE_SEC(10)
#define BLOCKING_MAX_DEFAULT 64

int tide__blocking_init(tide__blocking_pool_t *p) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&p->lock, NULL) || pthread_cond_init(&p->cond, &attr) ||
        pthread_cond_init(&p->exited, NULL)) {
        pthread_condattr_destroy(&attr);
        return -ENOMEM;
    }
    pthread_condattr_destroy(&attr);
    p->head = p->tail = NULL;
    p->threads = p->idle = 0;
    p->stop = false;
    const char *env = getenv("TIDE_BLOCKING_THREADS");
    long n = env ? strtol(env, NULL, 10) : 0;
    p->max_threads = n > 0 && n <= 4096 ? (unsigned)n : BLOCKING_MAX_DEFAULT;
    return 0;
}

static void *blocking_main(void *arg) {
    tide__blocking_pool_t *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += BLOCKING_IDLE_NS / 1000000000;
            p->idle++;
            int r = pthread_cond_timedwait(&p->cond, &p->lock, &ts);
            p->idle--;
            if (r == ETIMEDOUT && !p->head) goto leave;
        }
        if (!p->head) break; /* stopping and nothing left */
        tide__blocking_job_t *job = p->head;
        p->head = job->next;
        if (!p->head) p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        int status = job->fn(job->arg);
        pthread_mutex_lock(&p->lock);
        job->status = status;
        atomic_store_explicit(&job->done, 1, MO_RELEASE);
        tide_waker_t w = job->waker; /* the job may vanish once we unlock */
        pthread_mutex_unlock(&p->lock);
        tide_wake(w);
        pthread_mutex_lock(&p->lock);
    }
leave:
    p->threads--;
    pthread_cond_broadcast(&p->exited);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int tide_spawn_blocking(int (*fn)(void *), void *arg) {
    if (!fn) return -EINVAL;
    tide__worker_t *w = tide__worker_current();
    if (!w || !w->current) return fn(arg); /* a plain thread may block: run it here */
    tide__blocking_pool_t *p = &w->rt->blocking;
    if (w->current->shield == 0 && tide_cancelled()) return -ECANCELED;

    tide__blocking_job_t job = {.fn = fn, .arg = arg};
    atomic_init(&job.done, 0);
    pthread_mutex_lock(&p->lock);
    if (p->stop) {
        pthread_mutex_unlock(&p->lock);
        return -ESHUTDOWN;
    }
    job.waker = tide_park_prepare();
    if (p->tail) p->tail->next = &job; else p->head = &job;
    p->tail = &job;
    if (p->idle == 0 && p->threads < p->max_threads) {
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int e = pthread_create(&th, &attr, blocking_main, p);
        pthread_attr_destroy(&attr);
        if (e == 0) {
            p->threads++;
            TIDE__LOG(w->rt, TIDE_LOG_DEBUG, "blocking pool grew to %u threads", p->threads);
        } else {
            TIDE__LOG(w->rt, TIDE_LOG_WARN, "blocking pool cannot grow past %u threads: %s",
                      p->threads, tide_strerror(-e));
        }
    }
    if (p->threads == 0) {
        /* Could not start any thread: take the job back and run it inline. */
        p->head = p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        return fn(arg);
    }
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);

    /* The job lives on this stack and fn cannot be interrupted: wait for it whatever the
     * deadline or cancellation says. */
    tide__task_t *self = tide__self();
    tide_shield_t shield;
    tide_shield_begin(&shield);
    for (;;) {
        tide__park(self, "spawn_blocking");
        pthread_mutex_lock(&p->lock);
        bool done = atomic_load_explicit(&job.done, MO_ACQUIRE);
        if (!done) job.waker = tide_park_prepare();
        pthread_mutex_unlock(&p->lock);
        if (done) break;
    }
    tide_shield_end(&shield);
    return job.status;
}

void tide__blocking_shutdown(tide__blocking_pool_t *p) {
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    while (p->threads > 0) pthread_cond_wait(&p->exited, &p->lock);
    pthread_mutex_unlock(&p->lock);
    pthread_cond_destroy(&p->cond);
    pthread_cond_destroy(&p->exited);
    pthread_mutex_destroy(&p->lock);
}
