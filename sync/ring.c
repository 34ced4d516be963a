/* Element rings (see ring.h). */
#include "ring.h"

#define RING_FIRST_SLOTS 16

void tide__ring_init(tide__ring_t *r, size_t esize, size_t limit) {
    r->buf = NULL;
    r->slots = 0;
    r->head = 0;
    atomic_init(&r->len, 0);
    r->esize = esize;
    r->limit = limit;
}

void tide__ring_fini(tide__ring_t *r) {
    if (r->buf) tide__free(r->buf, r->slots * r->esize);
    r->buf = NULL;
    r->slots = 0;
}

int tide__ring_grow(tide__ring_t *r) {
    size_t slots = r->slots ? r->slots * 2 : RING_FIRST_SLOTS;
    if (slots < r->slots || slots > r->limit) slots = r->limit; /* overflow or past the cap */
    if (slots <= r->slots) return -ENOMEM;
    if (slots > SIZE_MAX / r->esize) return -ENOMEM;
    char *buf = tide__alloc(slots * r->esize);
    if (!buf) return -ENOMEM;
    /* Unwrap the old contents to the start of the new buffer. */
    size_t len = tide__ring_len(r);
    size_t first = r->slots - r->head < len ? r->slots - r->head : len;
    if (len) {
        memcpy(buf, r->buf + r->head * r->esize, first * r->esize);
        memcpy(buf + first * r->esize, r->buf, (len - first) * r->esize);
    }
    tide__ring_fini(r);
    r->buf = buf;
    r->slots = slots;
    r->head = 0;
    return 0;
}
