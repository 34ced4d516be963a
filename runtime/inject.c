/* Vyukov's intrusive MPSC queue with try-locked, batched consumers (see inject.h). */
#include "inject.h"

void tide__inject_init(tide__inject_t *q) {
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->tail, &q->stub);
    atomic_init(&q->len, 0);
    atomic_init(&q->consumer.locked, 0);
    q->head = &q->stub;
}

void tide__inject_push_batch(tide__inject_t *q, tide__qnode_t *first, tide__qnode_t *last,
                             int64_t n) {
    atomic_store_explicit(&last->next, NULL, MO_RELAXED);
    /* Count first, so the length is never below the number of reachable items. */
    atomic_fetch_add_explicit(&q->len, n, MO_RELAXED);
    tide__qnode_t *prev = atomic_exchange_explicit(&q->tail, last, MO_ACQ_REL);
    /* Between the exchange and this store the chain is briefly cut: a consumer then sees the
     * queue as empty, which is safe because the producer notifies a worker after pushing. */
    atomic_store_explicit(&prev->next, first, MO_RELEASE);
}

/* One node, or NULL if empty or momentarily cut. Caller holds the consumer lock. */
static tide__qnode_t *pop_one(tide__inject_t *q) {
    tide__qnode_t *head = q->head;
    tide__qnode_t *next = atomic_load_explicit(&head->next, MO_ACQUIRE);
    if (head == &q->stub) {
        if (!next) return NULL;
        q->head = next;
        head = next;
        next = atomic_load_explicit(&head->next, MO_ACQUIRE);
    }
    if (next) {
        q->head = next;
        return head;
    }
    if (atomic_load_explicit(&q->tail, MO_ACQUIRE) != head) return NULL; /* push in flight */
    /* head is the last node: put the stub behind it so head can be detached. */
    tide__inject_push(q, &q->stub);
    atomic_fetch_sub_explicit(&q->len, 1, MO_RELAXED); /* the stub is not an item */
    next = atomic_load_explicit(&head->next, MO_ACQUIRE);
    if (next) {
        q->head = next;
        return head;
    }
    return NULL;
}

int tide__inject_pop_batch(tide__inject_t *q, tide__qnode_t **out, int max) {
    if (atomic_load_explicit(&q->len, MO_ACQUIRE) <= 0) return 0;
    if (!tide__spin_trylock(&q->consumer)) return 0;
    int n = 0;
    while (n < max) {
        tide__qnode_t *node = pop_one(q);
        if (!node) break;
        out[n++] = node;
    }
    tide__spin_unlock(&q->consumer);
    if (n) atomic_fetch_sub_explicit(&q->len, n, MO_RELAXED);
    return n;
}
