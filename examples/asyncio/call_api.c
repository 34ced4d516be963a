/* call_api: two create_task calls that each "call an API" for 3 seconds, awaited for their
 * results (seeds/001_c015a9f95c8d5fc6.txt).
 *
 *   async def call_api(message, result=1000, delay=3):
 *       print(message)
 *       await asyncio.sleep(delay)
 *       return result
 *   async def main():
 *       start = time.perf_counter()
 *       task_1 = asyncio.create_task(call_api('Get stock price of GOOG...', 300))
 *       task_2 = asyncio.create_task(call_api('Get stock price of APPL...', 300))
 *       price = await task_1
 *       print(price)
 *       price = await task_2
 *       print(price)
 *       end = time.perf_counter()
 *       print(f'It took {round(end-start,0)} second(s) to complete.')
 *   asyncio.run(main())
 *
 * Both calls sleep at the same time, so it takes 3 seconds, not 6. A task's `return result`
 * is tide_task_set_result plus the return of its status; `await task` is tide_join_result. */
#include <stdio.h>

#include "tutorial.h"

typedef struct call {
    const char *message;
    intptr_t result; /* 1000 in Python's default */
    double delay;    /* seconds; 3 by default */
} call_t;

static int call_api(void *arg) {
    call_t *c = arg;
    printf("%s\n", c->message);
    int r = tide_sleep(seconds(c->delay));
    if (r < 0) return r;
    tide_task_set_result((void *)c->result);
    return 0;
}

static int main_task(void *arg) {
    double start = perf_counter();
    call_t goog = {"Get stock price of GOOG...", 300, 3}, appl = {"Get stock price of APPL...", 300, 3};
    tide_task_t task_1, task_2;
    int r = tide_spawn(&task_1, call_api, &goog);
    if (r < 0) return r;
    if ((r = tide_spawn(&task_2, call_api, &appl)) < 0) {
        tide_cancel(task_1);
        tide_join(task_1, NULL);
        return r;
    }
    int st1, st2;
    void *price;
    tide_join_result(task_1, &st1, &price);
    if (st1 == 0) printf("%ld\n", (long)(intptr_t)price);
    tide_join_result(task_2, &st2, &price);
    if (st2 == 0) printf("%ld\n", (long)(intptr_t)price);
    double end = perf_counter();
    printf("It took %.1f second(s) to complete.\n", (double)(long)(end - start + 0.5));
    return st1 < 0 ? st1 : st2;
}

int main(void) {
    int r = tide_run(main_task, NULL);
    if (r < 0) fprintf(stderr, "call_api: %s\n", tide_strerror(r));
    return r < 0;
}
