/* The intrusive doubly-linked list every layer uses for its waiters and registries.
 *
 * Intrusive, because the things listed are mostly parked tasks' wait nodes living on their
 * own stacks (a sync/ waiter, a socket waiter, a join's watch): linking one must not allocate
 * (a wait cannot fail with -ENOMEM, and must not cost a malloc), and a node unlinks itself in
 * O(1) when its wait ends early (timeout, cancel) without searching the list. The node is a
 * field of the listed struct; tide__list_entry (container_of) gets the struct back.
 *
 * The head is one pointer, so that a zero-filled list is a valid empty one (embeddable in
 * public structs such as tide_mutex_t) and heads cost no more than the hand-written lists
 * they replace (a task record's watcher list must not grow its cache line). The tail is
 * still O(1): the first node's prev points to the last node (prev is circular, next ends in
 * NULL), so push_back, push_front, pop_front and remove are all O(1) and FIFO order is
 * exact. Walk forward only (next); a node's prev is internal.
 *
 * No locking: each list is guarded by its owner's lock. The types are in tide/core.h because
 * public structs embed them; the operations are internal. */
#ifndef TIDE_BASE_LIST_H
#define TIDE_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "tide/core.h"

/* The struct of type `type` whose field `member` is at ptr. */
#define tide__container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
/* The struct a (non-NULL) node is the `member` of. */
#define tide__list_entry(node, type, member) tide__container_of(node, type, member)

/* Every node of l, first to last; `node` must not be unlinked inside the loop (see _safe). */
#define tide__list_for_each(node, l) for (tide__list_node_t *node = (l)->first; node; node = node->next)
/* Same, but the loop body may unlink (or free) `node`. */
#define tide__list_for_each_safe(node, l)                                                      \
    for (tide__list_node_t *node = (l)->first, *node##_next = node ? node->next : NULL; node;  \
         node = node##_next, node##_next = node ? node->next : NULL)

static inline void tide__list_init(tide__list_t *l) { l->first = NULL; }

static inline bool tide__list_empty(const tide__list_t *l) { return l->first == NULL; }

/* The first (oldest, with push_back) node, or NULL. */
static inline tide__list_node_t *tide__list_first(const tide__list_t *l) { return l->first; }

/* Append n (FIFO order: it comes out of pop_front after every node already linked). */
static inline void tide__list_push_back(tide__list_t *l, tide__list_node_t *n) {
    tide__list_node_t *f = l->first;
    n->next = NULL;
    if (!f) {
        n->prev = n;
        l->first = n;
        return;
    }
    n->prev = f->prev;
    f->prev->next = n;
    f->prev = n;
}

/* Prepend n (it comes out first). */
static inline void tide__list_push_front(tide__list_t *l, tide__list_node_t *n) {
    tide__list_node_t *f = l->first;
    n->next = f;
    if (f) {
        n->prev = f->prev;
        f->prev = n;
    } else {
        n->prev = n;
    }
    l->first = n;
}

/* Unlink n, which must be on l. Its links are cleared. */
static inline void tide__list_remove(tide__list_t *l, tide__list_node_t *n) {
    tide__list_node_t *f = l->first;
    if (n == f) {
        l->first = n->next;
        if (n->next) n->next->prev = n->prev; /* the new first inherits the tail pointer */
    } else {
        n->prev->next = n->next;
        if (n->next) n->next->prev = n->prev;
        else f->prev = n->prev; /* n was the last */
    }
    n->next = n->prev = NULL;
}

/* Unlink and return the first node, or NULL. */
static inline tide__list_node_t *tide__list_pop_front(tide__list_t *l) {
    tide__list_node_t *n = l->first;
    if (n) tide__list_remove(l, n);
    return n;
}

#endif
