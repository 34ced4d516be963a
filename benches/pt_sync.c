/* See pt_sync.h. */
#include "pt_sync.h"

#include <errno.h>
#include <stdlib.h>

int pt_event_init(pt_event_t *e) {
    e->set = false;
    e->waiters = 0;
    if (pthread_mutex_init(&e->lock, NULL) != 0) return -ENOMEM;
    if (pthread_cond_init(&e->cond, NULL) != 0) {
        pthread_mutex_destroy(&e->lock);
        return -ENOMEM;
    }
    return 0;
}

void pt_event_destroy(pt_event_t *e) {
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->lock);
}

void pt_event_set(pt_event_t *e) {
    pthread_mutex_lock(&e->lock);
    e->set = true;
    if (e->waiters) pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->lock);
}

void pt_event_wait(pt_event_t *e) {
    pthread_mutex_lock(&e->lock);
    while (!e->set) {
        e->waiters++;
        pthread_cond_wait(&e->cond, &e->lock);
        e->waiters--;
    }
    pthread_mutex_unlock(&e->lock);
}

int pt_countdown_init(pt_countdown_t *c, uint64_t n) {
    atomic_init(&c->count, 0);
    c->n = n;
    return pt_event_init(&c->done);
}

void pt_countdown_destroy(pt_countdown_t *c) {
    pt_event_destroy(&c->done);
}

void pt_countdown_one(pt_countdown_t *c) {
    uint64_t n = c->n; /* read before counting: once counted, c may be freed by its owner */
    if (atomic_fetch_add_explicit(&c->count, 1, memory_order_acq_rel) + 1 == n)
        pt_event_set(&c->done);
}

int pt_chan_init(pt_chan_t *c, size_t cap) {
    c->buf = malloc(cap * sizeof *c->buf);
    if (!c->buf) return -ENOMEM;
    c->cap = cap;
    c->head = c->len = 0;
    c->recv_waiting = c->send_waiting = 0;
    c->closed = false;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->not_empty, NULL);
    pthread_cond_init(&c->not_full, NULL);
    return 0;
}

void pt_chan_destroy(pt_chan_t *c) {
    pthread_cond_destroy(&c->not_full);
    pthread_cond_destroy(&c->not_empty);
    pthread_mutex_destroy(&c->lock);
    free(c->buf);
}

bool pt_chan_send(pt_chan_t *c, uint64_t v) {
    pthread_mutex_lock(&c->lock);
    while (c->len == c->cap && !c->closed) {
        c->send_waiting++;
        pthread_cond_wait(&c->not_full, &c->lock);
        c->send_waiting--;
    }
    if (c->closed) {
        pthread_mutex_unlock(&c->lock);
        return false;
    }
    size_t tail = c->head + c->len;
    if (tail >= c->cap) tail -= c->cap;
    c->buf[tail] = v;
    c->len++;
    if (c->recv_waiting) pthread_cond_signal(&c->not_empty);
    pthread_mutex_unlock(&c->lock);
    return true;
}

bool pt_chan_recv(pt_chan_t *c, uint64_t *v) {
    pthread_mutex_lock(&c->lock);
    while (c->len == 0 && !c->closed) {
        c->recv_waiting++;
        pthread_cond_wait(&c->not_empty, &c->lock);
        c->recv_waiting--;
    }
    if (c->closed) {
        pthread_mutex_unlock(&c->lock);
        return false;
    }
    *v = c->buf[c->head];
    if (++c->head == c->cap) c->head = 0;
    c->len--;
    if (c->send_waiting) pthread_cond_signal(&c->not_full);
    pthread_mutex_unlock(&c->lock);
    return true;
}

void pt_chan_close(pt_chan_t *c) {
    pthread_mutex_lock(&c->lock);
    c->closed = true;
    pthread_cond_broadcast(&c->not_empty);
    pthread_cond_broadcast(&c->not_full);
    pthread_mutex_unlock(&c->lock);
}
