/* The spill queue (see spill.h). The lock is only held to link or unlink a chunk and to copy
 * pointers out of it, never while touching a task. */
#include "spill.h"

#include <string.h>

void tide__spill_init(tide__spill_t *q) {
    tide__spin_init(&q->lock);
    q->head = q->tail = q->free = NULL;
    atomic_init(&q->len, 0);
}

void tide__spill_destroy(tide__spill_t *q) {
    tide__spill_chunk_t *lists[2] = {q->head, q->free};
    for (int i = 0; i < 2; i++) {
        for (tide__spill_chunk_t *c = lists[i]; c;) {
            tide__spill_chunk_t *next = c->next;
            tide__delete(c);
            c = next;
        }
    }
    q->head = q->tail = q->free = NULL;
}

tide__spill_chunk_t *tide__spill_chunk_get(tide__spill_t *q) {
    tide__spin_lock(&q->lock);
    tide__spill_chunk_t *c = q->free;
    if (c) q->free = c->next;
    tide__spin_unlock(&q->lock);
    if (!c) c = tide__alloc(sizeof *c);
    if (c) {
        c->next = NULL;
        c->head = c->count = 0;
    }
    return c;
}

void tide__spill_push(tide__spill_t *q, tide__spill_chunk_t *c) {
    c->next = NULL;
    tide__spin_lock(&q->lock);
    if (q->tail) q->tail->next = c; else q->head = c;
    q->tail = c;
    atomic_fetch_add_explicit(&q->len, c->count - c->head, MO_RELAXED);
    tide__spin_unlock(&q->lock);
}

int tide__spill_pop(tide__spill_t *q, struct tide__task **out, int max) {
    if (tide__spill_len(q) <= 0 || !tide__spin_trylock(&q->lock)) return 0;
    int n = 0;
    tide__spill_chunk_t *c = q->head;
    if (c) {
        uint32_t avail = c->count - c->head;
        n = (int)avail < max ? (int)avail : max;
        memcpy(out, &c->tasks[c->head], sizeof(struct tide__task *) * (size_t)n);
        c->head += (uint32_t)n;
        if (c->head == c->count) {
            q->head = c->next;
            if (!q->head) q->tail = NULL;
            c->next = q->free;
            q->free = c;
        }
        atomic_fetch_sub_explicit(&q->len, n, MO_RELAXED);
    }
    tide__spin_unlock(&q->lock);
    return n;
}
