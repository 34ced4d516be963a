/* fn_await: awaiting a coroutine runs it to its end before going on
 * (seeds/003_f7f570a4c2326b92.txt, "Async Event Loop in Python").
 *
 *   async def fn():
 *       print("one")
 *       await asyncio.sleep(1)
 *       await fn2()
 *       print('four')
 *       await asyncio.sleep(1)
 *       print('five')
 *       await asyncio.sleep(1)
 *   async def fn2():
 *       await asyncio.sleep(1)
 *       print("two")
 *       await asyncio.sleep(1)
 *       print("three")
 *   asyncio.run(fn())
 *
 * Prints one, two, three, four, five, a second apart. `await fn2()` is a plain call in C:
 * fn2 runs inside fn's task. Compare fn_task.c, where fn2 becomes a task of its own. */
#include <stdio.h>

#include "tutorial.h"

static int fn2(void) {
    int r = tide_sleep(seconds(1));
    if (r < 0) return r;
    printf("two\n");
    if ((r = tide_sleep(seconds(1))) < 0) return r;
    printf("three\n");
    return 0;
}

static int fn(void *arg) {
    printf("one\n");
    int r = tide_sleep(seconds(1));
    if (r < 0 || (r = fn2()) < 0) return r;
    printf("four\n");
    if ((r = tide_sleep(seconds(1))) < 0) return r;
    printf("five\n");
    return tide_sleep(seconds(1));
}

int main(void) {
    int r = tide_run(fn, NULL);
    if (r < 0) fprintf(stderr, "fn_await: %s\n", tide_strerror(r));
    return r < 0;
}
