/* See taskset.h. */
#include "taskset.h"

#include "common.h"

int tide__taskset_init(tide__taskset_t *s, size_t n) {
    s->n = n;
    s->heap = NULL;
    s->heap_size = 0;
    if (n <= 8) {
        s->watches = s->small_watches;
        s->ended = s->small_ended;
    } else {
        if (n > SIZE_MAX / (sizeof(tide_watch_t) + 1)) return -ENOMEM;
        s->heap_size = n * (sizeof(tide_watch_t) + 1);
        s->heap = tide__alloc(s->heap_size);
        if (!s->heap) return -ENOMEM;
        s->watches = s->heap;
        s->ended = (uint8_t *)(s->watches + n);
    }
    memset(s->ended, 0, n);
    return 0;
}

void tide__taskset_fini(tide__taskset_t *s) {
    if (s->heap) tide__free(s->heap, s->heap_size);
    s->heap = NULL;
}

enum { WATCHING = 2 }; /* ended[i] while its watch is registered */

int tide__taskset_wait(tide__taskset_t *s, const tide_task_t *tasks) {
    tide_waker_t w = tide_park_prepare();
    int found = 0, err = 0;
    size_t i;
    for (i = 0; i < s->n; i++) {
        if (s->ended[i]) continue;
        int r = tide_task_watch(tasks[i], &s->watches[i], w);
        if (r == 0) {
            s->ended[i] = WATCHING;
            continue;
        }
        if (r == 1) {
            /* Ended already: no need to park (nor to watch the rest this round). */
            s->ended[i] = 1;
            found++;
        } else {
            err = r;
        }
        break;
    }
    int pr = 0;
    if (!found && !err) pr = tide_park_on("wait tasks");
    for (size_t j = 0; j < i && j < s->n; j++) {
        if (s->ended[j] != WATCHING) continue;
        tide_task_unwatch(tasks[j], &s->watches[j]);
        /* fired is written under the task's lock, which unwatch took: stable now */
        if (s->watches[j].fired) {
            s->ended[j] = 1;
            found++;
        } else {
            s->ended[j] = 0;
        }
    }
    if (found) return found;
    if (err) return err;
    return pr; /* 0: woken for nothing (cannot happen); the caller just asks again */
}
