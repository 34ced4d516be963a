/* What survives a context switch: callee-saved registers (by construction of the compiler's
 * use of them across tide calls), the floating-point control state (rounding mode) of each
 * task, and each task's errno, even when tasks move between workers. */
#include <errno.h>
#include <fenv.h>
#include <math.h>
#include <stdatomic.h>

#include "testutil.h"

static const int modes[4] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};

static int fp_task(void *arg) {
    int mode = modes[(intptr_t)arg % 4];
    fesetround(mode);
    for (int i = 0; i < 2000; i++) {
        tt_random_yields(1);
        tide_sleep(i % 100 == 0 ? TIDE_MSEC(1) : 0);
        cr_assert_eq(fegetround(), mode, "rounding mode lost across a switch");
    }
    return 0;
}

/* errno is read and written in functions of their own: within one function the compiler may
 * keep &errno across the switch (glibc declares __errno_location const), which is a limit of
 * C under M:N scheduling that docs/api.md spells out. What tide guarantees is that each task
 * finds its own errno after a switch, whichever thread it then runs on. */
static __attribute__((noinline)) void set_errno(int v) {
    errno = v;
}

static __attribute__((noinline)) int get_errno(void) {
    return errno;
}

static int errno_task(void *arg) {
    int mine = 1000 + (int)(intptr_t)arg;
    for (int i = 0; i < 2000; i++) {
        set_errno(mine);
        tt_random_yields(1);
        if (i % 200 == 0) tide_sleep(TIDE_MSEC(1));
        cr_assert_eq(get_errno(), mine, "errno changed across a switch");
    }
    return 0;
}

static double accumulate(int n) {
    /* Callee-saved registers hold these across the yields. */
    double a = 1.0, b = 2.0, c = 3.0;
    long x = 7, y = 11, z = 13;
    for (int i = 0; i < n; i++) {
        a += 0.5; b *= 1.0000001; c -= 0.25;
        x += 3; y ^= x; z += y & 0xff;
        tide_yield();
    }
    return a + b + c + (double)(x + y + z);
}

static int regs_task(void *arg) {
    double expect;
    {
        double a = 1.0, b = 2.0, c = 3.0;
        long x = 7, y = 11, z = 13;
        for (int i = 0; i < 500; i++) {
            a += 0.5; b *= 1.0000001; c -= 0.25;
            x += 3; y ^= x; z += y & 0xff;
        }
        expect = a + b + c + (double)(x + y + z);
    }
    cr_assert_eq(accumulate(500), expect);
    return 0;
}

static int context_main(void *arg) {
    tide_task_t ts[48];
    for (intptr_t i = 0; i < 16; i++) cr_assert_eq(tide_spawn(&ts[i], fp_task, (void *)i), 0);
    for (intptr_t i = 16; i < 32; i++) cr_assert_eq(tide_spawn(&ts[i], errno_task, (void *)i), 0);
    for (intptr_t i = 32; i < 48; i++) cr_assert_eq(tide_spawn(&ts[i], regs_task, (void *)i), 0);
    for (int i = 0; i < 48; i++) cr_assert_eq(tide_join(ts[i], NULL), 0);
    return 0;
}

Test(context, fp_state_errno_and_registers_survive_switches) {
    tt_leaks_t l;
    tt_leaks_begin(&l);
    cr_assert_eq(tide_run(context_main, NULL), 0);
    tt_leaks_end(&l);
}
