/* fn: a coroutine that sleeps between prints (seeds/003_f7f570a4c2326b92.txt).
 *
 *   async def fn():
 *       print('This is ')
 *       await asyncio.sleep(1)
 *       print('asynchronous programming')
 *       await asyncio.sleep(1)
 *       print('and not multi-threading')
 *   asyncio.run(fn())
 *
 * (tide does run on several threads, but each task is as sequential as this coroutine.) */
#include <stdio.h>

#include "tutorial.h"

static int fn(void *arg) {
    printf("This is \n");
    int r = tide_sleep(seconds(1));
    if (r < 0) return r;
    printf("asynchronous programming\n");
    if ((r = tide_sleep(seconds(1))) < 0) return r;
    printf("and not multi-threading\n");
    return 0;
}

int main(void) {
    int r = tide_run(fn, NULL);
    if (r < 0) fprintf(stderr, "fn: %s\n", tide_strerror(r));
    return r < 0;
}
