/* sequential_vs_tasks: call_api awaited one after the other, then as two tasks, timed
 * (seeds/001_c015a9f95c8d5fc6.txt: "to run the routines simultaneously, we
 * need to define the tasks").
 *
 *   async def main():
 *       start = time.perf_counter()
 *       price = await call_api('Get stock price of GOOG...', 300)   # one after
 *       price = await call_api('Get stock price of APPL...', 300)   # the other
 *       print(f'Sequential: {round(time.perf_counter()-start,0)} second(s).')
 *       start = time.perf_counter()
 *       task_1 = asyncio.create_task(call_api('Get stock price of GOOG...', 300))
 *       task_2 = asyncio.create_task(call_api('Get stock price of APPL...', 300))
 *       await task_1; await task_2
 *       print(f'Tasks: {round(time.perf_counter()-start,0)} second(s).')
 *
 * Awaiting a coroutine (a plain call in C) waits for it before the next starts: 6 seconds.
 * As tasks, both wait at once: 3 seconds. */
#include <stdio.h>

#include "tutorial.h"

static int call_api(const char *message, intptr_t result, intptr_t *out) {
    printf("%s\n", message);
    int r = tide_sleep(seconds(3));
    if (r < 0) return r;
    *out = result;
    return 0;
}

typedef struct call {
    const char *message;
    intptr_t result;
} call_t;

/* The same coroutine as a task body: its result goes back through tide_task_set_result. */
static int call_api_task(void *arg) {
    call_t *c = arg;
    intptr_t price;
    int r = call_api(c->message, c->result, &price);
    if (r == 0) tide_task_set_result((void *)price);
    return r;
}

static double rounded(double s) {
    return (double)(long)(s + 0.5);
}

static int main_task(void *arg) {
    intptr_t price;
    double start = perf_counter();
    int r = call_api("Get stock price of GOOG...", 300, &price);
    if (r == 0) printf("%ld\n", (long)price);
    if (r == 0 && (r = call_api("Get stock price of APPL...", 300, &price)) == 0)
        printf("%ld\n", (long)price);
    if (r < 0) return r;
    printf("Sequential: %.1f second(s).\n", rounded(perf_counter() - start));

    start = perf_counter();
    call_t calls[2] = {{"Get stock price of GOOG...", 300}, {"Get stock price of APPL...", 300}};
    tide_task_t tasks[2];
    int statuses[2];
    void *prices[2];
    for (int i = 0; i < 2; i++)
        if ((r = tide_spawn(&tasks[i], call_api_task, &calls[i])) < 0) {
            if (i == 1) tide_cancel(tasks[0]), tide_join(tasks[0], NULL);
            return r;
        }
    if ((r = tide_gather_results(tasks, 2, statuses, prices, TIDE_GATHER_FAIL_FAST)) < 0)
        return r;
    for (int i = 0; i < 2; i++) printf("%ld\n", (long)(intptr_t)prices[i]);
    printf("Tasks: %.1f second(s).\n", rounded(perf_counter() - start));
    return 0;
}

int main(void) {
    int r = tide_run(main_task, NULL);
    if (r < 0) fprintf(stderr, "sequential_vs_tasks: %s\n", tide_strerror(r));
    return r < 0;
}
