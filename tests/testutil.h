/* Shared test helpers: the leak check every test ends with, and small utilities. */
#ifndef TIDE_TESTUTIL_H
#define TIDE_TESTUTIL_H

#include <criterion/criterion.h>
#include <stdint.h>

#include "tide.h"
#include "tide/ext.h"

/* What a test must give back: open descriptors and tide's heap. */
typedef struct tt_leaks {
    int fds;         /* open file descriptors at the start */
    int64_t heap;    /* tide's live heap bytes at the start */
} tt_leaks_t;

int tt_open_fds(void);
void tt_leaks_begin(tt_leaks_t *l);
/* Assert that nothing leaked since tt_leaks_begin (call after every runtime is freed). */
void tt_leaks_end(const tt_leaks_t *l);
/* Assert rt has no live task records or stacks (call before tide_runtime_free). */
void tt_runtime_quiet(tide_runtime_t *rt);

/* A runtime with n workers (0: default), asserting success. */
tide_runtime_t *tt_runtime(unsigned workers);

/* Cheap thread-safe random numbers for adversarial interleavings. */
uint32_t tt_rand(void);
/* Yield a random number of times (0..max) when inside a task. */
void tt_random_yields(unsigned max);

#endif
