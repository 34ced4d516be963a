/* Stand-alone check of the context switch, with no runtime around it, so it can be
 * cross-compiled and run under an emulator for the other architecture (scripts/check-ctx.sh
 * runs the AArch64 build under qemu-aarch64). Checks: a new context runs entry(arg); values
 * in callee-saved registers (integer and floating point) survive switches; each context keeps
 * its own floating-point rounding mode; thousands of round trips. Exits 0 on success. */
#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "ctx.h"

#define STACK (256 * 1024)
#define ROUNDS 100000

static tide__ctx_t main_ctx, co_ctx;
static volatile long co_sum;
static int failures;

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "ctx_check: %s:%d: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static __attribute__((noinline)) void yield_to_main(void) {
    tide__ctx_switch(&co_ctx, &main_ctx);
}

static void coroutine(void *arg) {
    CHECK(arg == (void *)0x1234);
    fesetround(FE_UPWARD);
    /* Live across every switch: the compiler keeps them in callee-saved registers. */
    long a = 1, b = 2, c = 3, d = 4, e = 5, f = 6;
    double x = 1.5, y = 2.5, z = 3.5;
    for (int i = 0; i < ROUNDS; i++) {
        a += b; b ^= c; c += d; d += e; e ^= f; f += 1;
        x *= 1.0000001; y += 0.5; z -= 0.25;
        yield_to_main();
        CHECK(fegetround() == FE_UPWARD);
    }
    co_sum = a + b + c + d + e + f + (long)(x + y + z);
    tide__ctx_switch(&co_ctx, &main_ctx);
    abort(); /* never resumed */
}

int main(void) {
    char *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(stack != MAP_FAILED);
    tide__ctx_thread_init(&main_ctx);
    tide__ctx_make(&co_ctx, stack, stack + STACK, coroutine, (void *)0x1234);
    fesetround(FE_TOWARDZERO);
    long a = 10, b = 20, c = 30, d = 40, e = 50, f = 60;
    double x = 0.5, y = 0.25, z = 0.125;
    for (int i = 0; i <= ROUNDS; i++) {
        a += 1; b += 2; c ^= 3; d += 4; e += 5; f ^= 6;
        x += 1.0; y *= 1.5; z -= 1.0;
        tide__ctx_switch(&main_ctx, &co_ctx);
        if (fegetround() != FE_TOWARDZERO) {
            CHECK(fegetround() == FE_TOWARDZERO);
            break;
        }
    }
    /* Recompute both sides' results without switches and compare. */
    long ea = 10, eb = 20, ec = 30, ed = 40, ee = 50, ef = 60;
    double ex = 0.5, ey = 0.25, ez = 0.125;
    for (int i = 0; i <= ROUNDS; i++) {
        ea += 1; eb += 2; ec ^= 3; ed += 4; ee += 5; ef ^= 6;
        ex += 1.0; ey *= 1.5; ez -= 1.0;
    }
    CHECK(a == ea && b == eb && c == ec && d == ed && e == ee && f == ef);
    CHECK(x == ex && y == ey && z == ez);
    fesetround(FE_UPWARD);
    long ca = 1, cb = 2, cc = 3, cd = 4, ce = 5, cf = 6;
    double cx = 1.5, cy = 2.5, cz = 3.5;
    for (int i = 0; i < ROUNDS; i++) {
        ca += cb; cb ^= cc; cc += cd; cd += ce; ce ^= cf; cf += 1;
        cx *= 1.0000001; cy += 0.5; cz -= 0.25;
    }
    CHECK(co_sum == ca + cb + cc + cd + ce + cf + (long)(cx + cy + cz));
    tide__ctx_thread_fini(&main_ctx);
    munmap(stack, STACK);
    if (failures) return 1;
    printf("ctx_check: %d round trips, registers and rounding modes intact\n", ROUNDS);
    return 0;
}
