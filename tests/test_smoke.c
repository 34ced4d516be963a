/* The basics end to end: run a task, spawn and join children, statuses come back. */
#include "testutil.h"

static int child(void *arg) {
    return (int)(intptr_t)arg * 2;
}

static int main_task(void *arg) {
    int *sum = arg;
    tide_task_t ts[100];
    for (int i = 0; i < 100; i++) cr_assert_eq(tide_spawn(&ts[i], child, (void *)(intptr_t)i), 0);
    for (int i = 0; i < 100; i++) {
        int st;
        cr_assert_eq(tide_join(ts[i], &st), 0);
        *sum += st;
    }
    return 7;
}

Test(smoke, run_spawn_join) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    int sum = 0;
    cr_assert_eq(tide_run(main_task, &sum), 7);
    cr_assert_eq(sum, 2 * 4950);
    tt_leaks_end(&l);
}
