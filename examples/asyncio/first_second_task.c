/* first_second_task: tasks end in the order their waits end, not the order they were created
 * (seeds/002_cb5deb1ceb6c05fa.txt).
 *
 *   async def first_task():
 *       print('First Task Start')
 *       await asyncio.sleep(2)
 *       print('First Task End')
 *   async def second_task():
 *       print('Second Task Start')
 *       await asyncio.sleep(1)
 *       print('Second Task End')
 *   async def main():
 *       asyncio.create_task(first_task())
 *       asyncio.create_task(second_task())
 *       await asyncio.sleep(3)   # Wait a bit for all tasks to finish
 *   asyncio.run(main())
 *
 * The second task ends first. Python keeps no reference to the tasks; the C form of that is
 * a detached task (nobody joins it; debug mode reports it if it fails). The two "Start"
 * lines come in creation order on one worker (TIDE_WORKERS=1), as in asyncio; with more
 * workers the two tasks start in parallel and those two lines may swap. */
#include <stdio.h>

#include "tutorial.h"

static int first_task(void *arg) {
    printf("First Task Start\n");
    int r = tide_sleep(seconds(2));
    if (r < 0) return r;
    printf("First Task End\n");
    return 0;
}

static int second_task(void *arg) {
    printf("Second Task Start\n");
    int r = tide_sleep(seconds(1));
    if (r < 0) return r;
    printf("Second Task End\n");
    return 0;
}

static int main_task(void *arg) {
    tide_spawn_opts_t detached = {.detached = 1};
    int r = tide_spawn_opts(NULL, first_task, NULL, &detached);
    if (r == 0) r = tide_spawn_opts(NULL, second_task, NULL, &detached);
    if (r < 0) return r;
    return tide_sleep(seconds(3));
}

int main(void) {
    int r = tide_run(main_task, NULL);
    if (r < 0) fprintf(stderr, "first_second_task: %s\n", tide_strerror(r));
    return r < 0;
}
