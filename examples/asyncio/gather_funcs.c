/* gather_funcs: three simulated I/O-bound functions sleeping 2, 3 and 1 seconds, gathered
 * (seeds/003_f7f570a4c2326b92.txt, "I/O-bound tasks using asyncio.sleep()").
 *
 *   async def func1():
 *       print("Function 1 started..")
 *       await asyncio.sleep(2)
 *       print("Function 1 Ended")
 *   (func2: 3 seconds, func3: 1 second)
 *   async def main():
 *       L = await asyncio.gather(func1(), func2(), func3())
 *       print("Main Ended..")
 *   asyncio.run(main())
 *
 * All three start together; they end after 1, 2 and 3 seconds (3, 1, 2), and main after 3,
 * not 6. asyncio.gather wraps each coroutine in a task: in C, spawn each and gather the
 * handles. L, the list of their results (None each), is the statuses array. */
#include <stdio.h>

#include "tutorial.h"

typedef struct func {
    int number;     /* 1, 2, 3 */
    double seconds; /* how long its "I/O" takes */
} func_t;

static int func(void *arg) {
    func_t *f = arg;
    printf("Function %d started..\n", f->number);
    int r = tide_sleep(seconds(f->seconds));
    if (r < 0) return r;
    printf("Function %d Ended\n", f->number);
    return 0;
}

static int main_task(void *arg) {
    static func_t funcs[3] = {{1, 2}, {2, 3}, {3, 1}};
    tide_task_t tasks[3];
    int L[3];
    for (int i = 0; i < 3; i++) {
        int r = tide_spawn(&tasks[i], func, &funcs[i]);
        if (r < 0) {
            tide_gather(tasks, (size_t)i, NULL, 0); /* (a real program would cancel them) */
            return r;
        }
    }
    int r = tide_gather(tasks, 3, L, TIDE_GATHER_FIRST_ERROR);
    for (int i = 0; r < 0 && i < 3; i++) /* the others run on: stop them, as the program ends */
        if (L[i] == -EINPROGRESS) tide_cancel(tasks[i]), tide_join(tasks[i], NULL);
    if (r < 0) return r;
    printf("Main Ended..\n");
    return 0;
}

int main(void) {
    int r = tide_run(main_task, NULL);
    if (r < 0) fprintf(stderr, "gather_funcs: %s\n", tide_strerror(r));
    return r < 0;
}
