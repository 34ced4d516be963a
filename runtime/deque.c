/* See deque.h: the operations are inline for the scheduler's hot path. */
#include "deque.h"

void tide__deque_init(tide__deque_t *q) {
    atomic_init(&q->top, 0);
    atomic_init(&q->bottom, 0);
    for (int i = 0; i < TIDE_DEQUE_CAP; i++) atomic_init(&q->slots[i], NULL);
}
