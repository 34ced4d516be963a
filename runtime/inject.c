/* The ring (Vyukov's bounded MPMC queue, with batched claims) and the overflow list
 * (Vyukov's intrusive MPSC queue with try-locked, batched consumers): see inject.h. */
#include "inject.h"
#include "shake.h"

int tide__inject_init(tide__inject_t *q) {
    q->cells = tide__alloc_aligned(sizeof(tide__inject_cell_t) * TIDE_INJECT_RING);
    if (!q->cells) return -1;
    for (uint64_t i = 0; i < TIDE_INJECT_RING; i++) atomic_init(&q->cells[i].seq, i);
    atomic_init(&q->enqueue_pos, 0);
    atomic_init(&q->dequeue_pos, 0);
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->tail, &q->stub);
    atomic_init(&q->len, 0);
    tide__spin_init(&q->consumer);
    q->head = &q->stub;
    return 0;
}

void tide__inject_destroy(tide__inject_t *q) {
    tide__free_aligned(q->cells, sizeof(tide__inject_cell_t) * TIDE_INJECT_RING);
    q->cells = NULL;
}

static bool ring_push(tide__inject_t *q, tide__qnode_t *n) {
    uint64_t pos = atomic_load_explicit(&q->enqueue_pos, MO_RELAXED);
    for (;;) {
        tide__inject_cell_t *c = &q->cells[pos & (TIDE_INJECT_RING - 1)];
        uint64_t seq = atomic_load_explicit(&c->seq, MO_ACQUIRE);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->enqueue_pos, &pos, pos + 1,
                                                      MO_RELAXED, MO_RELAXED)) {
                tide__shake_point(SHAKE_INJECT_PUSH);
                c->node = n;
                atomic_store_explicit(&c->seq, pos + 1, MO_RELEASE);
                return true;
            }
        } else if (dif < 0) {
            return false; /* full */
        } else {
            pos = atomic_load_explicit(&q->enqueue_pos, MO_RELAXED);
        }
    }
}

/* Claim up to max ready cells in one compare-and-swap. */
static int ring_pop(tide__inject_t *q, tide__qnode_t **out, int max) {
    uint64_t pos = atomic_load_explicit(&q->dequeue_pos, MO_RELAXED);
    for (;;) {
        int n = 0;
        while (n < max) {
            tide__inject_cell_t *c = &q->cells[(pos + (uint64_t)n) & (TIDE_INJECT_RING - 1)];
            if (atomic_load_explicit(&c->seq, MO_ACQUIRE) != pos + (uint64_t)n + 1) break;
            n++;
        }
        if (n == 0) {
            uint64_t now = atomic_load_explicit(&q->dequeue_pos, MO_RELAXED);
            if (now == pos) return 0; /* empty, or the next cell is still being filled */
            pos = now;
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&q->dequeue_pos, &pos, pos + (uint64_t)n,
                                                  MO_RELAXED, MO_RELAXED)) {
            for (int i = 0; i < n; i++) {
                tide__inject_cell_t *c = &q->cells[(pos + (uint64_t)i) & (TIDE_INJECT_RING - 1)];
                out[i] = c->node;
                atomic_store_explicit(&c->seq, pos + (uint64_t)i + TIDE_INJECT_RING, MO_RELEASE);
            }
            return n;
        }
    }
}

static void list_push(tide__inject_t *q, tide__qnode_t *first, tide__qnode_t *last, int64_t n) {
    atomic_store_explicit(&last->next, NULL, MO_RELAXED);
    /* Count first, so the length is never below the number of reachable items. */
    atomic_fetch_add_explicit(&q->len, n, MO_RELAXED);
    tide__qnode_t *prev = atomic_exchange_explicit(&q->tail, last, MO_ACQ_REL);
    /* Between the exchange and this store the chain is briefly cut: a consumer then sees the
     * queue as empty, which is safe because the producer notifies a worker after pushing. */
    tide__shake_point(SHAKE_INJECT_PUSH);
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
    if (ring_push(q, n)) return;
    atomic_store_explicit(&n->next, NULL, MO_RELAXED);
    list_push(q, n, n, 1);
}

int tide__inject_pop_batch(tide__inject_t *q, tide__qnode_t **out, int max) {
    tide__shake_point(SHAKE_INJECT_POP);
    int n = ring_pop(q, out, max);
    if (n == max || atomic_load_explicit(&q->len, MO_ACQUIRE) <= 0) return n;
    if (!tide__spin_trylock(&q->consumer)) return n;
    int from_list = 0;
    while (n < max) {
        tide__qnode_t *node = pop_one(q);
        if (!node) break;
        out[n++] = node;
        from_list++;
    }
    tide__spin_unlock(&q->consumer);
    if (from_list) atomic_fetch_sub_explicit(&q->len, from_list, MO_RELAXED);
    return n;
}
