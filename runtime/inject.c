/* The ring (Concurrency Kit's ck_ring, many producers, one consumer at a time) and the overflow
 * list (Vyukov's intrusive MPSC queue), drained in batches under one try-lock: see inject.h. */
#include "inject.h"

int tide__inject_init(tide__inject_t *q) {
    q->slots = tide__alloc_aligned(sizeof(ck_ring_buffer_t) * TIDE_INJECT_RING);
    if (!q->slots) return -1;
    ck_ring_init(&q->ring, TIDE_INJECT_RING);
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->tail, &q->stub);
    atomic_init(&q->len, 0);
    tide__spin_init(&q->consumer);
    q->head = &q->stub;
    return 0;
}

void tide__inject_destroy(tide__inject_t *q) {
    tide__free(q->slots, sizeof(ck_ring_buffer_t) * TIDE_INJECT_RING);
    q->slots = NULL;
}

static void list_push(tide__inject_t *q, tide__qnode_t *first, tide__qnode_t *last, int64_t n) {
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
    atomic_store_explicit(&q->stub.next, NULL, MO_RELAXED);
    list_push(q, &q->stub, &q->stub, 1);
    atomic_fetch_sub_explicit(&q->len, 1, MO_RELAXED); /* the stub is not an item */
    next = atomic_load_explicit(&head->next, MO_ACQUIRE);
    if (next) {
        q->head = next;
        return head;
    }
    return NULL;
}

void tide__inject_push(tide__inject_t *q, tide__qnode_t *n) {
    TIDE_TSAN_RELEASE(n); /* the task record travels through ck_ring: see platform.h */
    if (ck_ring_enqueue_mpsc(&q->ring, q->slots, n)) return;
    atomic_store_explicit(&n->next, NULL, MO_RELAXED);
    list_push(q, n, n, 1);
}

int tide__inject_pop_batch(tide__inject_t *q, tide__qnode_t **out, int max) {
    if (tide__inject_len(q) <= 0 || !tide__spin_trylock(&q->consumer)) return 0;
    int n = 0;
    while (n < max && ck_ring_dequeue_mpsc(&q->ring, q->slots, &out[n])) {
        TIDE_TSAN_ACQUIRE(out[n]);
        n++;
    }
    int from_list = 0;
    if (n < max && atomic_load_explicit(&q->len, MO_ACQUIRE) > 0) {
        while (n < max) {
            tide__qnode_t *node = pop_one(q);
            if (!node) break;
            out[n++] = node;
            from_list++;
        }
    }
    tide__spin_unlock(&q->consumer);
    if (from_list) atomic_fetch_sub_explicit(&q->len, from_list, MO_RELAXED);
    return n;
}
