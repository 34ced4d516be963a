/* Waiting on several tasks at once (gather, wait): the core's completion watchers give one
 * wake-up per wait, so each round watches every unfinished task, parks, and withdraws. */
#ifndef TIDE_SYNC_TASKSET_H
#define TIDE_SYNC_TASKSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tide/core.h"
#include "tide/waker.h"

/* Scratch memory for n tasks: a watch and a flag each (on the stack when small). */
typedef struct tide__taskset {
    tide_watch_t *watches; /* one per task */
    uint8_t *ended;        /* 1 once the task is known to have ended */
    size_t n;
    void *heap;            /* the allocation behind both, or NULL when on the stack */
    size_t heap_size;
    tide_watch_t small_watches[8];
    uint8_t small_ended[8];
} tide__taskset_t;

int tide__taskset_init(tide__taskset_t *s, size_t n);
void tide__taskset_fini(tide__taskset_t *s);

/* Wait until at least one task not yet marked ended ends; marks every task found ended.
 * Returns how many were newly marked (>= 1), -ETIMEDOUT / -ECANCELED (caller's deadline or
 * cancellation, nothing newly ended), or -ESRCH (a released handle). */
int tide__taskset_wait(tide__taskset_t *s, const tide_task_t *tasks);



#endif
