/* gather_tasks: asyncio.gather of three tasks, their results in argument order
 * (seeds/002_cb5deb1ceb6c05fa.txt, "asyncio.gather and asyncio.wait").
 *
 *   async def task(number):
 *       print(f'Starting task {number}')
 *       await asyncio.sleep(1)
 *       print(f'Finished task {number}')
 *       return number
 *   async def main():
 *       results = await asyncio.gather(task(1), task(2), task(3))
 *       print(f'Task results: {results}')
 *   asyncio.run(main())
 *
 * The three sleep together: done in 1 second. Each task's `return number` is
 * tide_task_set_result; tide_gather_results hands the values back in argument order, like
 * the list gather returns. The three finish at the same instant: asyncio, on one thread,
 * prints them 1, 2, 3; tide runs them on several threads, so the "Finished" lines may come in
 * any order (the results never do). */
#include <stdio.h>

#include "tutorial.h"

static int task(void *arg) {
    intptr_t number = (intptr_t)arg;
    printf("Starting task %ld\n", (long)number);
    int r = tide_sleep(seconds(1));
    if (r < 0) return r;
    printf("Finished task %ld\n", (long)number);
    tide_task_set_result((void *)number);
    return 0;
}

static int main_task(void *arg) {
    tide_task_t tasks[3];
    size_t n = 0;
    int r = 0;
    for (intptr_t number = 1; number <= 3 && r == 0; number++)
        if ((r = tide_spawn(&tasks[n], task, (void *)number)) == 0) n++;
    void *results[3];
    int statuses[3];
    int g = tide_gather_results(tasks, n, statuses, results, TIDE_GATHER_FIRST_ERROR);
    for (size_t i = 0; g < 0 && i < n; i++)
        if (statuses[i] == -EINPROGRESS) tide_cancel(tasks[i]), tide_join(tasks[i], NULL);
    if (r < 0 || g < 0) return r < 0 ? r : g;
    printf("Task results: [%ld, %ld, %ld]\n", (long)(intptr_t)results[0],
           (long)(intptr_t)results[1], (long)(intptr_t)results[2]);
    return 0;
}

int main(void) {
    int r = tide_run(main_task, NULL);
    if (r < 0) fprintf(stderr, "gather_tasks: %s\n", tide_strerror(r));
    return r < 0;
}
