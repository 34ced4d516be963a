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
 * they replace (a task record's watcher list must not grow its cache line). It points to the
 * LAST node, whose next is the first (next is circular, prev ends in NULL at the first), so
 * both ends are O(1) and push_back touches only the head and the node it follows, as a
 * head/tail pair would: a wait queue filled by tasks on two workers must not bounce its
 * first waiter's cache line between them on every push (an earlier form, first node's prev
 * pointing to the last, did: idle_many, a million tasks parking on one event, ran 7% slower).
 * push_back, push_front, pop_front and remove are O(1) and FIFO order is exact. Walk forward
 * only (tide__list_for_each); a node's links are internal.
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

/* The first node of l (NULL when empty), and the node after `n` (NULL after the last). */
static inline tide__list_node_t *tide__list_first(const tide__list_t *l) {
    return l->last ? l->last->next : NULL;
}
static inline tide__list_node_t *tide__list_next(const tide__list_t *l, const tide__list_node_t *n) {
    return n == l->last ? NULL : n->next;
}

/* Every node of l, first to last; `node` must not be unlinked inside the loop (see _safe). */
#define tide__list_for_each(node, l)                                                          \
    for (tide__list_node_t *node = tide__list_first(l); node; node = tide__list_next(l, node))
/* Same, but the loop body may unlink (or free) `node`: its successor is read before. */
#define tide__list_for_each_safe(node, l)                                                     \
    for (tide__list_node_t *node = tide__list_first(l),                                       \
                           *node##_next = node ? tide__list_next(l, node) : NULL;             \
         node; node = node##_next, node##_next = node ? tide__list_next(l, node) : NULL)

static inline void tide__list_init(tide__list_t *l) { l->last = NULL; }

static inline bool tide__list_empty(const tide__list_t *l) { return l->last == NULL; }

/* Append n (FIFO order: it comes out of pop_front after every node already linked). */
static inline void tide__list_push_back(tide__list_t *l, tide__list_node_t *n) {
    tide__list_node_t *last = l->last;
    if (!last) {
        n->next = n;
        n->prev = NULL;
    } else {
        n->next = last->next; /* the first */
        n->prev = last;
        last->next = n;
    }
    l->last = n;
}

/* Prepend n (it comes out first). */
static inline void tide__list_push_front(tide__list_t *l, tide__list_node_t *n) {
    tide__list_node_t *last = l->last;
    n->prev = NULL;
    if (!last) {
        n->next = n;
        l->last = n;
        return;
    }
    tide__list_node_t *first = last->next;
    n->next = first;
    first->prev = n;
    last->next = n;
}

/* Unlink n, which must be on l. Its links are cleared. */
static inline void tide__list_remove(tide__list_t *l, tide__list_node_t *n) {
    tide__list_node_t *last = l->last;
    if (n == last) {
        if (!n->prev) {
            l->last = NULL; /* the only node */
        } else {
            n->prev->next = n->next; /* the new last points to the first */
            l->last = n->prev;
        }
    } else {
        if (n->prev) n->prev->next = n->next;
        else last->next = n->next; /* n was the first */
        n->next->prev = n->prev;
    }
    n->next = n->prev = NULL;
}

/* Unlink and return the first node, or NULL. */
static inline tide__list_node_t *tide__list_pop_front(tide__list_t *l) {
    tide__list_node_t *n = tide__list_first(l);
    if (n) tide__list_remove(l, n);
    return n;
}

#endif
