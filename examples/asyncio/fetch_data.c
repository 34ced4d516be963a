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
    int r = fetch_data_text(url, &data);
    if (r < 0) return r;
    tide_task_set_result(data);
    return 0;
}

static int main_task(void *arg) {
    args_t *a = arg;
    void **urls = calloc((size_t)a->n, sizeof *urls);
    void **results = calloc((size_t)a->n, sizeof *results);
    int r = urls && results ? 0 : -ENOMEM;
    if (r == 0) {
        for (int i = 0; i < a->n; i++) urls[i] = a->urls[i];
        r = spawn_gather(a->n, fetch_data, urls, results); /* await asyncio.gather(*tasks) */
    }
    for (int i = 0; results && i < a->n; i++) free(results[i]);
    if (r == 0) printf("Fetched all data.\n");
    free(urls);
    free(results);
    return r;
}

int main(int argc, char **argv) {
    return run_urls(argc, argv, "fetch_data", main_task);
}
