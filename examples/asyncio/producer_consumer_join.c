/* producer_consumer_join: the producer/consumer program ended with task_done/join instead of
 * a sentinel (seeds/000_cac4ead8655fe9cd.txt describes the queue;
 * asyncio.Queue's documented pattern).
 *
 *   async def process_data(queue):
 *       while True:
 *           data = await queue.get()
 *           print(f"Processing data of length {len(data)}")
 *           queue.task_done()
 *   async def main():
 *       queue = asyncio.Queue()
 *       consumer = asyncio.create_task(process_data(queue))
 *       await asyncio.gather(*[fetch_data(url, queue) for url in urls])
 *       await queue.join()        # every page put has been processed
 *       consumer.cancel()
 *       print("All data processed.")
 *
 *   producer_consumer_join URL...
 *
 * A cancelled tide task is not interrupted at any point: its next blocking call (here
 * tide_queue_get) returns -ECANCELED, and it unwinds by returning. Unlike asyncio, the
 * cancellation stays set: every later blocking call of that task fails the same way. */
#include <stdio.h>

#include "tutorial.h"

/* fetch_data(url, queue), the gather of the producers and the queue with its consumer are
 * tutorial.h's fetch_data_to_queue, gather_producers and start_consumer (with
 * free_page_queue), shared with producer_consumer.c */

static int process_data(void *arg) {
    tide_queue_t *queue = arg;
    for (;;) {
        char *data;
        int r = tide_queue_get(queue, &data);
        if (r < 0) return r; /* -ECANCELED: main is done with us */
        printf("Processing data of length %zu\n", strlen(data));
        free(data);
        tide_queue_task_done(queue);
    }
}

static int main_task(void *arg) {
    args_t *a = arg;
    tide_queue_t *queue;
    tide_task_t consumer;
    int r = start_consumer(&queue, &consumer, process_data);
    if (r < 0) return r;
    int g;
    r = gather_producers(a, queue, &g);
    if (g == 0) g = tide_queue_join(queue);
    tide_cancel(consumer);
    int st;
    tide_join(consumer, &st); /* -ECANCELED: as asked */
    if (r == 0) r = g;
    if (r == 0) printf("All data processed.\n");
    free_page_queue(queue);
    return r;
}

int main(int argc, char **argv) {
    return run_urls(argc, argv, "producer_consumer_join", main_task);
}
