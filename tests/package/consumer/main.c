/* An outside program: spawns tasks that talk over a channel, so a link that only resolves
 * symbols is not enough — the runtime must start, switch stacks and shut down. It also uses
 * the public extension API (tide/waker.h) the way a primitive of its own would. */
#include <stdint.h>
#include <stdio.h>
#include <tide.h>
#include <tide/waker.h>

static int producer(void *arg) {
    tide_chan_t *ch = arg;
    for (uint64_t i = 1; i <= 100; i++)
        if (tide_chan_send(ch, &i) < 0) return -1;
    tide_chan_close(ch);
    return 0;
}

static int main_task(void *arg) {
    (void)arg;
    tide_chan_t *ch;
    if (tide_chan_new(&ch, sizeof(uint64_t), 4) < 0) return -1;
    tide_task_t t;
    if (tide_spawn(&t, producer, ch) < 0) return -1;
    uint64_t v, sum = 0;
    while (tide_chan_recv(ch, &v) == 0) sum += v;
    int st = -1;
    tide_join(t, &st);
    tide_chan_free(ch);
    /* A wake that comes before the park is not lost: the park returns at once. */
    tide_waker_t w = tide_park_prepare();
    tide_wake(w);
    if (tide_park_on("consumer") != 0) return -1;
    printf("sum %llu\n", (unsigned long long)sum);
    return sum == 5050 && st == 0 ? 0 : -1;
}

int main(void) { return tide_run(main_task, NULL) == 0 ? 0 : 1; }
