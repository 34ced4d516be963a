/* What the asyncio tutorial programs in C share: the tutorial's seconds, scaled.
 *
 * Each program's header quotes the Python it mirrors and names its tutorial as seeds/<file>:
 * the four tutorial texts kept in ../shared/seeds/ beside the repository (issue 10).
 *
 * Every program here sleeps what its Python twin sleeps. TIDE_EXAMPLE_TIME_SCALE multiplies
 * those durations (default 1: the tutorial's timings; the tests run them at 0.05), and the
 * programs that print how long they took print it in tutorial seconds, so the output reads
 * the same at any scale. */
#ifndef TIDE_EXAMPLES_TUTORIAL_H
#define TIDE_EXAMPLES_TUTORIAL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tide.h"

static inline double tutorial_scale(void) {
    const char *s = getenv("TIDE_EXAMPLE_TIME_SCALE");
    double v = s ? strtod(s, NULL) : 1.0;
    return v > 0 ? v : 1.0;
}

/* The tutorial's `seconds`, as a tide duration (ns). */
static inline int64_t seconds(double s) {
    return (int64_t)(s * tutorial_scale() * 1e9);
}

/* time.perf_counter(), in tutorial seconds. */
static inline double perf_counter(void) {
    return (double)tide_now() / 1e9 / tutorial_scale();
}

/* aiohttp's `async with session.get(url) as response: data = await response.text()`: the
 * body as a NUL-terminated string the caller frees, or a negative errno. As with aiohttp, a
 * 404 is not an error: its page is the text. */
static inline int fetch_text(const char *url, char **data, size_t *len) {
    tide_http_response_t res;
    int r = tide_http_get(url, &res);
    if (r < 0) return r;
    *data = malloc(res.body_len + 1);
    if (*data) {
        memcpy(*data, res.body, res.body_len + 1);
        if (len) *len = res.body_len;
    }
    tide_http_response_free(&res);
    return *data ? 0 : -ENOMEM;
}

#endif
