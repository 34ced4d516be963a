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
#include <stdio.h>
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

/* The tutorial's fetch_data(url): fetch the page and print its first 100 characters; the
 * page is the caller's to free. */
static inline int fetch_data_text(const char *url, char **data) {
    int r = fetch_text(url, data, NULL);
    if (r < 0) return r;
    printf("Fetched data from %s :%.100s...\n", url, *data);
    return 0;
}

/* The URLs a fetching program was given: its command line after the program name. */
typedef struct args {
    int n;       /* how many */
    char **urls; /* argv + 1 */
} args_t;

/* main() of a program run as `name URL...`: asyncio.run(main(urls)), with main_task given
 * the args_t. Exit status 2 for a usage error, 1 when main_task failed (reported). */
static inline int run_urls(int argc, char **argv, const char *name, int (*main_task)(void *)) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL...\n", name);
        return 2;
    }
    args_t a = {argc - 1, argv + 1};
    int r = tide_run(main_task, &a);
    if (r < 0) fprintf(stderr, "%s: %s\n", name, tide_strerror(r));
    return r < 0;
}

/* Spawn fn(arg_i) for each i and gather (asyncio's default: stop at the first failure, and
 * here cancel what is left). values may be NULL. */
static inline int spawn_gather(int n, int (*fn)(void *), void **args, void **values) {
    tide_task_t *tasks = calloc((size_t)n, sizeof *tasks);
    int *st = calloc((size_t)n, sizeof *st);
    int r = tasks && st ? 0 : -ENOMEM, spawned = 0;
    for (; r == 0 && spawned < n; spawned++)
        if ((r = tide_spawn(&tasks[spawned], fn, args[spawned])) < 0) break;
    int g = tide_gather_results(tasks, (size_t)spawned, st, values, TIDE_GATHER_FIRST_ERROR);
    for (int i = 0; i < spawned; i++) {
        if (st[i] == -EINPROGRESS) {
            tide_cancel(tasks[i]);
            tide_join_result(tasks[i], &st[i], values ? &values[i] : NULL);
        }
        if (st[i] < 0 && values) values[i] = NULL; /* a failed fetch set no page */
    }
    free(tasks);
    free(st);
    return r < 0 ? r : g;
}

/* A producer of the producer/consumer programs: fetch_data(url, queue). */
typedef struct producer {
    const char *url;      /* the page to fetch */
    tide_queue_t *queue;  /* where the page goes (a char *, freed by whoever takes it) */
} producer_t;

static inline int fetch_data_to_queue(void *arg) {
    producer_t *p = arg;
    char *data;
    int r = fetch_data_text(p->url, &data);
    if (r < 0) return r;
    if ((r = tide_queue_put(p->queue, &data)) < 0) free(data);
    return r;
}

/* `await asyncio.gather(*[fetch_data(url, queue) for url in urls])`, return_exceptions=True
 * style: wait for all, a failed fetch just puts nothing. Returns 0 or the error that stopped
 * the spawning; *gathered is what tide_gather said of those spawned. */
static inline int gather_producers(const args_t *a, tide_queue_t *queue, int *gathered) {
    producer_t *producers = calloc((size_t)a->n, sizeof *producers);
    tide_task_t *tasks = calloc((size_t)a->n, sizeof *tasks);
    int n = 0;
    int r = producers && tasks ? 0 : -ENOMEM;
    for (; r == 0 && n < a->n; n++) {
        producers[n] = (producer_t){a->urls[n], queue};
        if ((r = tide_spawn(&tasks[n], fetch_data_to_queue, &producers[n])) < 0) break;
    }
    *gathered = tide_gather(tasks, (size_t)n, NULL, 0);
    free(producers);
    free(tasks);
    return r;
}

/* `queue = asyncio.Queue(); consumer = asyncio.create_task(process_data(queue))`: a queue of
 * pages (char *) and the consumer task `process` started on it. 0 or a negative errno (then
 * nothing is left to free). */
static inline int start_consumer(tide_queue_t **queue, tide_task_t *consumer,
                                 int (*process)(void *)) {
    int r = tide_queue_new(queue, sizeof(char *), 0);
    if (r < 0) return r;
    if ((r = tide_spawn(consumer, process, *queue)) < 0) tide_queue_free(*queue);
    return r;
}

/* Free the queue of pages with whatever pages a failed or cancelled run left in it (the
 * consumer joined: nobody else takes them now). */
static inline void free_page_queue(tide_queue_t *queue) {
    for (char *left; tide_queue_try_get(queue, &left) == 0;) free(left);
    tide_queue_free(queue);
}

#endif
