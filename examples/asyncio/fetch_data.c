/* fetch_data: fetch several URLs at once and gather the pages
 * (seeds/000_cac4ead8655fe9cd.txt).
 *
 *   async def fetch_data(url):
 *       async with aiohttp.ClientSession() as session:
 *           async with session.get(url) as response:
 *               data = await response.text()
 *               print(f"Fetched data from {url} :{data[:100]}...")
 *               return data
 *   async def main():
 *       urls = ["http://jsonplaceholder.typicode.com/posts/1", ...]
 *       tasks = [fetch_data(url) for url in urls]
 *       results = await asyncio.gather(*tasks)
 *       print("Fetched all data.")
 *   asyncio.run(main())
 *
 *   fetch_data URL...
 *
 * One task per URL, all fetching at once over the runtime's HTTP client (libcurl driven by
 * the I/O thread); each hands its page back as its result (the caller frees it). gather here
 * is asyncio's default: the first failure (say, a refused connection) is reported at once. */
#include <stdio.h>

#include "tutorial.h"

static int fetch_data(void *arg) {
    const char *url = arg;
    char *data;
    int r = fetch_text(url, &data, NULL);
    if (r < 0) return r;
    printf("Fetched data from %s :%.100s...\n", url, data);
    tide_task_set_result(data);
    return 0;
}

typedef struct args {
    int n;
    char **urls;
} args_t;

static int main_task(void *arg) {
    args_t *a = arg;
    tide_task_t *tasks = calloc((size_t)a->n, sizeof *tasks);
    int *statuses = calloc((size_t)a->n, sizeof *statuses);
    void **results = calloc((size_t)a->n, sizeof *results);
    int r = tasks && statuses && results ? 0 : -ENOMEM;
    int n = 0;
    for (; r == 0 && n < a->n; n++)
        if ((r = tide_spawn(&tasks[n], fetch_data, a->urls[n])) < 0) break;
    int g = tide_gather_results(tasks, (size_t)n, statuses, results, TIDE_GATHER_FIRST_ERROR);
    if (g < 0) {
        /* The others ran on; a real program might wait for them. This one stops them. */
        for (int i = 0; i < n; i++)
            if (statuses[i] == -EINPROGRESS) tide_cancel(tasks[i]), tide_join(tasks[i], NULL);
    }
    for (int i = 0; i < n; i++)
        if (statuses[i] == 0) free(results[i]);
    if (r == 0 && g == 0) printf("Fetched all data.\n");
    free(tasks);
    free(statuses);
    free(results);
    return r < 0 ? r : g;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: fetch_data URL...\n");
        return 2;
    }
    args_t a = {argc - 1, argv + 1};
    int r = tide_run(main_task, &a);
    if (r < 0) fprintf(stderr, "fetch_data: %s\n", tide_strerror(r));
    return r < 0;
}
