/* A minimal stand-in for Criterion, used only in ThreadSanitizer builds.
 *
 * Criterion 2.4 cannot start under TSan: its shared "inheritable arena" is mapped at a random
 * fixed address in the range TSan reserves for its shadow memory, and it aborts with "Could
 * not initialize inheritable arena" (Snaipe/Criterion issue #274, open). The test files stay
 * ordinary Criterion tests; under TSan they compile against this header instead, which
 * implements the part of Criterion's API the suite uses with the same meaning: one forked
 * process per test, expected signals and exit codes, timeouts, fatal cr_assert_* and
 * non-fatal cr_expect_*. See runner.c. */
#ifndef TIDE_CRSHIM_CRITERION_H
#define TIDE_CRSHIM_CRITERION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

struct crshim_test {
    const char *suite;        /* Test(suite, name) */
    const char *name;
    void (*fn)(void);         /* the body */
    int signal;               /* .signal: the test passes only if killed by this signal */
    int exit_code;            /* .exit_code: the test passes only with this exit status */
    double timeout;           /* .timeout in seconds (0: the runner's default) */
    void (*init)(void);       /* .init: run before the body, in the test's process */
    void (*fini)(void);       /* .fini: run after the body */
    bool disabled;            /* .disabled */
    const char *description;  /* .description (ignored) */
    struct crshim_test *next; /* registration list */
};

void crshim_register(struct crshim_test *t);

#define CRSHIM_CAT_(a, b) a##b
#define CRSHIM_CAT(a, b) CRSHIM_CAT_(a, b)

#define Test(Suite, Name, ...)                                                             \
    static void CRSHIM_CAT(Suite, CRSHIM_CAT(_crshim_fn_, Name))(void);                     \
    static struct crshim_test CRSHIM_CAT(Suite, CRSHIM_CAT(_crshim_desc_, Name)) = {       \
        .suite = #Suite, .name = #Name,                                                    \
        .fn = CRSHIM_CAT(Suite, CRSHIM_CAT(_crshim_fn_, Name)), ##__VA_ARGS__};            \
    __attribute__((constructor)) static void CRSHIM_CAT(Suite, CRSHIM_CAT(_crshim_reg_, Name))(void) { \
        crshim_register(&CRSHIM_CAT(Suite, CRSHIM_CAT(_crshim_desc_, Name)));              \
    }                                                                                      \
    static void CRSHIM_CAT(Suite, CRSHIM_CAT(_crshim_fn_, Name))(void)

/* A failed check prints where and what, then the optional printf-style message given after
 * the checked values ("" glues onto it, so an absent message is an empty string). */
void crshim_begin(const char *file, int line, const char *what, int fatal);
void crshim_msg(const char *fmt, ...);
void crshim_end(int fatal);
#define CRSHIM_CHECK(fatal, cond, what, ...)                                               \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            crshim_begin(__FILE__, __LINE__, what, fatal);                                 \
            crshim_msg("" __VA_ARGS__);                                                    \
            crshim_end(fatal);                                                             \
        }                                                                                  \
    } while (0)

#define CRSHIM_CMP(fatal, a, op, b, ...) \
    CRSHIM_CHECK(fatal, (a) op (b), "expected " #a " " #op " " #b, ##__VA_ARGS__)

#define cr_assert(cond, ...) CRSHIM_CHECK(1, (cond), "assertion failed: " #cond, ##__VA_ARGS__)
#define cr_assert_not(cond, ...) CRSHIM_CHECK(1, !(cond), "assertion failed: !(" #cond ")", ##__VA_ARGS__)
#define cr_assert_eq(a, b, ...) CRSHIM_CMP(1, a, ==, b, ##__VA_ARGS__)
#define cr_assert_neq(a, b, ...) CRSHIM_CMP(1, a, !=, b, ##__VA_ARGS__)
#define cr_assert_lt(a, b, ...) CRSHIM_CMP(1, a, <, b, ##__VA_ARGS__)
#define cr_assert_leq(a, b, ...) CRSHIM_CMP(1, a, <=, b, ##__VA_ARGS__)
#define cr_assert_gt(a, b, ...) CRSHIM_CMP(1, a, >, b, ##__VA_ARGS__)
#define cr_assert_geq(a, b, ...) CRSHIM_CMP(1, a, >=, b, ##__VA_ARGS__)
#define cr_assert_null(p, ...) CRSHIM_CHECK(1, (p) == NULL, "expected " #p " to be NULL", ##__VA_ARGS__)
#define cr_assert_not_null(p, ...) CRSHIM_CHECK(1, (p) != NULL, "expected " #p " not NULL", ##__VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) CRSHIM_CHECK(1, strcmp((a), (b)) == 0, "expected " #a " == " #b " (strings)", ##__VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) CRSHIM_CHECK(1, strcmp((a), (b)) != 0, "expected " #a " != " #b " (strings)", ##__VA_ARGS__)
#define cr_assert_str_empty(a, ...) CRSHIM_CHECK(1, (a)[0] == 0, "expected " #a " empty", ##__VA_ARGS__)
#define cr_assert_str_not_empty(a, ...) CRSHIM_CHECK(1, (a)[0] != 0, "expected " #a " not empty", ##__VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...) CRSHIM_CHECK(1, memcmp((a), (b), (n)) == 0, "expected arrays " #a " and " #b " equal", ##__VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...) CRSHIM_CHECK(1, ((a) - (b)) <= (eps) && ((b) - (a)) <= (eps), "expected " #a " ~= " #b, ##__VA_ARGS__)
#define cr_assert_fail(...) CRSHIM_CHECK(1, 0, "failure", ##__VA_ARGS__)

#define cr_expect(cond, ...) CRSHIM_CHECK(0, (cond), "expectation failed: " #cond, ##__VA_ARGS__)
#define cr_expect_not(cond, ...) CRSHIM_CHECK(0, !(cond), "expectation failed: !(" #cond ")", ##__VA_ARGS__)
#define cr_expect_eq(a, b, ...) CRSHIM_CMP(0, a, ==, b, ##__VA_ARGS__)
#define cr_expect_neq(a, b, ...) CRSHIM_CMP(0, a, !=, b, ##__VA_ARGS__)
#define cr_expect_lt(a, b, ...) CRSHIM_CMP(0, a, <, b, ##__VA_ARGS__)
#define cr_expect_leq(a, b, ...) CRSHIM_CMP(0, a, <=, b, ##__VA_ARGS__)
#define cr_expect_gt(a, b, ...) CRSHIM_CMP(0, a, >, b, ##__VA_ARGS__)
#define cr_expect_geq(a, b, ...) CRSHIM_CMP(0, a, >=, b, ##__VA_ARGS__)
#define cr_expect_null(p, ...) CRSHIM_CHECK(0, (p) == NULL, "expected " #p " to be NULL", ##__VA_ARGS__)
#define cr_expect_not_null(p, ...) CRSHIM_CHECK(0, (p) != NULL, "expected " #p " not NULL", ##__VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) CRSHIM_CHECK(0, strcmp((a), (b)) == 0, "expected " #a " == " #b " (strings)", ##__VA_ARGS__)

#define cr_log_info(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))
#define cr_log_warn(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))
#define cr_log_error(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr))
#define cr_skip_test(...) crshim_skip(__VA_ARGS__)
__attribute__((noreturn)) void crshim_skip(const char *fmt, ...);

#ifdef __cplusplus
}
#endif
#endif
