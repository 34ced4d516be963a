/* greet: the first program of the asyncio tutorials (seeds/000_cac4ead8655fe9cd.txt;
 * 001_... and 002_... open with the same "hello", a second's sleep, "world").
 *
 *   import asyncio;
 *   async def greet():
 *       print("hello");
 *       await asyncio.sleep(1);
 *       print("world");
 *   async def main():
 *       await greet()
 *   asyncio.run(main())
 *
 * An `async def` is a plain C function that runs inside a task; `await greet()` is a call;
 * asyncio.run is tide_run, which starts the runtime, runs main as its first task and shuts
 * down when it returns. tide_sleep suspends the task, never the worker thread. */
#include <stdio.h>

#include "tutorial.h"

static int greet(void) {
    printf("hello\n");
    int r = tide_sleep(seconds(1));
    if (r < 0) return r; /* a failure is the task's status: C's exception */
    printf("world\n");
    return 0;
}

static int main_task(void *arg) {
    return greet();
}

int main(void) {
    int r = tide_run(main_task, NULL);
    if (r < 0) fprintf(stderr, "greet: %s\n", tide_strerror(r));
    return r < 0;
}
