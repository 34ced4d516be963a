/* my_coroutine: create_task lets the caller go on while the task runs
 * (seeds/002_cb5deb1ceb6c05fa.txt, "asyncio.create_task()").
 *
 *   async def my_coroutine():
 *       print('My Coroutine')
 *       await asyncio.sleep(1)
 *       return 'Coroutine Finished'
 *   async def main():
 *       task = asyncio.create_task(my_coroutine())
 *       print('Doing Other Stuff')
 *       result = await task
 *       print(result)
 *   asyncio.run(main())
 *
 * "Doing Other Stuff" comes first in asyncio because the task starts only when main awaits.
 * In tide it does too on one worker (TIDE_WORKERS=1); with more, an idle worker may start
 * the task at once and "My Coroutine" can come first. The task's string result travels as
 * its result value (a pointer: here to a string literal, so nobody frees it). */
#include <stdio.h>

#include "tutorial.h"

static int my_coroutine(void *arg) {
    printf("My Coroutine\n");
    int r = tide_sleep(seconds(1));
    if (r < 0) return r;
    tide_task_set_result("Coroutine Finished");
    return 0;
}

static int main_task(void *arg) {
    tide_task_t task;
    int r = tide_spawn(&task, my_coroutine, NULL);
    if (r < 0) return r;
    printf("Doing Other Stuff\n");
    int st;
    void *result;
    if ((r = tide_join_result(task, &st, &result)) < 0) return r;
    if (st < 0) return st;
    printf("%s\n", (const char *)result);
    return 0;
}

int main(void) {
    int r = tide_run(main_task, NULL);
    if (r < 0) fprintf(stderr, "my_coroutine: %s\n", tide_strerror(r));
    return r < 0;
}
