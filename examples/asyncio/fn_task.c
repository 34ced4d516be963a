/* fn_task: the same program with fn2 as a task (asyncio.create_task), so it runs while fn
 * sleeps (seeds/003_f7f570a4c2326b92.txt).
 *
 *   async def fn():
 *       task=asyncio.create_task(fn2())
 *       print("one")
 *       print('four')
 *       await asyncio.sleep(1)
 *       print('five')
 *       await asyncio.sleep(1)
 *   async def fn2():
 *       print("two")
 *       await asyncio.sleep(1)
 *       print("three")
 *   asyncio.run(fn())
 *
 * asyncio prints one, four, two, then a second later five and three. The new task starts
 * only when fn first waits; in tide that holds on one worker (TIDE_WORKERS=1, asyncio's one
 * thread). With more workers an idle one may start fn2 at once, so "two" can come before
 * "one" or "four", and "five"/"three", due at the same instant, come in either order: the
 * tasks really run in parallel.
 *
 * asyncio.run cancels the tasks still pending when main returns; tide_run cancels and waits
 * for every task still alive at shutdown too. Here fn joins its task (its status would carry
 * fn2's failure), which a C program should do for every task it spawns. */
#include <stdio.h>

#include "tutorial.h"

static int fn2(void *arg) {
    printf("two\n");
    int r = tide_sleep(seconds(1));
    if (r < 0) return r;
    printf("three\n");
    return 0;
}

static int fn(void *arg) {
    tide_task_t task;
    int r = tide_spawn(&task, fn2, NULL);
    if (r < 0) return r;
    printf("one\n");
    printf("four\n");
    r = tide_sleep(seconds(1));
    if (r == 0) printf("five\n");
    if (r == 0) r = tide_sleep(seconds(1));
    int st = 0;
    tide_join(task, &st);
    return r < 0 ? r : st;
}

int main(void) {
    int r = tide_run(fn, NULL);
    if (r < 0) fprintf(stderr, "fn_task: %s\n", tide_strerror(r));
    return r < 0;
}
