/* fetch: the aiohttp program of the asyncio tutorials, in C. Every URL is fetched by a task
 * of its own, all at once; gather waits for them all, under one overall timeout (asyncio's
 * `async with asyncio.timeout(...)`), and each line reports a status and a size, or why not.
 *
 *   fetch [URL ...]      (default: a few well-known pages)
 *
 * The requests share the runtime's connection pool, driven by its I/O thread. */
#include <stdio.h>
#include <stdlib.h>

#include "tide.h"

typedef struct job {
    const char *url; /* what to fetch */
    int status;      /* HTTP status (0: no response) */
    size_t size;     /* body bytes */
    int64_t took;    /* ns */
} job_t;

static int fetch(void *arg) {
    job_t *j = arg;
    int64_t t0 = tide_now();
    tide_http_request_t req = {.url = j->url, .timeout_ns = TIDE_SEC(10), .max_redirects = 5};
    tide_http_response_t res;
    int r = tide_http_fetch(&req, &res);
    j->took = tide_now() - t0;
    if (r < 0) return r; /* the task's status: an error travels like an exception */
    j->status = res.status;
    j->size = res.body_len;
    tide_http_response_free(&res);
    return 0;
}

static const char *defaults[] = {"http://example.com/", "https://www.python.org/",
                                 "https://curl.se/", "http://neverssl.com/"};

typedef struct args {
    int n;
    const char **urls;
} args_t;

static int main_task(void *arg) {
    args_t *a = arg;
    job_t *jobs = calloc((size_t)a->n, sizeof *jobs);
    tide_task_t *tasks = calloc((size_t)a->n, sizeof *tasks);
    int *statuses = calloc((size_t)a->n, sizeof *statuses);
    if (!jobs || !tasks || !statuses) return -ENOMEM;
    int spawned = 0, r = 0;
    for (; spawned < a->n; spawned++) {
        jobs[spawned].url = a->urls[spawned];
        r = tide_spawn(&tasks[spawned], fetch, &jobs[spawned]);
        if (r < 0) break;
    }
    /* gather: wait for all, at most 15 s in total; on the deadline the unfinished fetches are
     * cancelled (and their statuses say so). */
    int g = TIDE_WITH_TIMEOUT(TIDE_SEC(15), tide_gather(tasks, (size_t)spawned, statuses, 0));
    if (g < 0) printf("gather: %s\n", tide_strerror(g));
    for (int i = 0; i < spawned; i++) {
        if (statuses[i] == 0)
            printf("%3d %9zu bytes %6.0f ms  %s\n", jobs[i].status, jobs[i].size,
                   (double)jobs[i].took / 1e6, jobs[i].url);
        else
            printf("ERR %-30s %s\n",
                   statuses[i] == -ENOENT ? "unknown host" : tide_strerror(statuses[i]),
                   jobs[i].url);
    }
    free(statuses);
    free(tasks);
    free(jobs);
    return r < 0 ? r : g;
}

int main(int argc, char **argv) {
    args_t a = {argc - 1, (const char **)argv + 1};
    if (a.n == 0) {
        a.n = sizeof defaults / sizeof defaults[0];
        a.urls = defaults;
    }
    int r = tide_run(main_task, &a);
    if (r < 0) fprintf(stderr, "fetch: %s\n", tide_strerror(r));
    return r < 0;
}
