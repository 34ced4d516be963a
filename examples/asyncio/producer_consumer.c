/* producer_consumer: producers fetch URLs and put the pages on a queue; a consumer processes
 * them until a None sentinel (seeds/000_cac4ead8655fe9cd.txt).
 *
 *   async def fetch_data(url, queue):
 *       async with aiohttp.ClientSession() as session:
 *           async with session.get(url) as response:
 *               data = await response.text()
 *               print(f"Fetched data from {url} :{data[:100]}...")
 *               await queue.put(data)
 *   async def process_data(queue):
 *       while True:
 *           data = await queue.get()
 *           if data is None:
 *               break
 *           print(f"Processing data of length {len(data)}")
 *           queue.task_done()
 *   async def main():
 *       urls = [...]
 *       queue = asyncio.Queue()
 *       consumer = asyncio.create_task(process_data(queue))
 *       producers = [fetch_data(url, queue) for url in urls]
 *       await asyncio.gather(*producers)
 *       await queue.put(None)
 *       await consumer
 *   asyncio.run(main())
 *
 *   producer_consumer URL...
 *
 * The queue carries char pointers (elements are copied in and out by value, so a pointer is
 * an 8-byte element); NULL is the sentinel, and whoever takes a page frees it. See
 * producer_consumer_join.c for the same program ended by task_done/join instead. */
#include <stdio.h>

#include "tutorial.h"

/* fetch_data(url, queue), the gather of the producers and the queue with its consumer are
 * tutorial.h's fetch_data_to_queue, gather_producers and start_consumer (with
 * free_page_queue), shared with producer_consumer_join.c */

static int process_data(void *arg) {
    tide_queue_t *queue = arg;
    for (;;) {
        char *data;
        int r = tide_queue_get(queue, &data);
        if (r < 0) return r;
        if (data == NULL) break;
        printf("Processing data of length %zu\n", strlen(data));
        free(data);
        tide_queue_task_done(queue);
    }
    return 0;
}

static int main_task(void *arg) {
    args_t *a = arg;
    tide_queue_t *queue;
    tide_task_t consumer;
    int r = start_consumer(&queue, &consumer, process_data);
    if (r < 0) return r;
    int g;
    r = gather_producers(a, queue, &g); /* await asyncio.gather(*producers) */
    char *sentinel = NULL;
    if (g == 0) g = tide_queue_put(queue, &sentinel);
    if (g < 0) tide_cancel(consumer);
    int st;
    tide_join(consumer, &st);
    if (r == 0) r = g < 0 ? g : st;
    free_page_queue(queue);
    return r;
}

int main(int argc, char **argv) {
    return run_urls(argc, argv, "producer_consumer", main_task);
}
