/* Hooks for tide's own layers above the scheduler (io/ keeps its driver in a runtime slot).
 * Not part of the user API: names start with tide__ and may change. */
#ifndef TIDE_EXT_H
#define TIDE_EXT_H

#include "tide/core.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TIDE__EXT_IO = 0, /* the I/O driver (io/driver.c) */
    TIDE__EXT_HTTP = 1,
};

/* The object in slot `slot` of rt, made by create(rt) on first use (under a lock, once);
 * destroy(obj) runs at tide_runtime_free after every task has ended and before the workers
 * stop. Returns NULL if create failed (it is tried again next time). */
void *tide__ext_get(tide_runtime_t *rt, int slot, void *(*create)(tide_runtime_t *),
                    void (*destroy)(void *));

/* Live-object counters for leak checks in tests: tasks, stacks and (from io/) open handles. */
typedef struct tide__leaks {
    uint64_t tasks_live;  /* spawned tasks whose record is not yet recycled */
    uint64_t stacks_live; /* stacks owned by tasks */
} tide__leaks_t;
void tide__runtime_leaks(tide_runtime_t *rt, tide__leaks_t *out);
/* Bytes of heap tide holds right now, over all runtimes (zero-sum over a runtime's life). */
int64_t tide__heap_live(void);

#ifdef __cplusplus
}
#endif
#endif
