/* api_aggregator: several JSON API calls at once, then statistics over the results
 * (seeds/002_cb5deb1ceb6c05fa.txt, the closing exercise: "make at least
 * three different API calls ... aggregate the results and calculate the average or any other
 * statistic"). The tutorial leaves the body to the reader; this is the Python it mirrors:
 *
 *   from collections import Counter
 *   from statistics import mean
 *
 *   async def fetch_api_data(session, url):
 *       async with session.get(url) as response:
 *           return await response.json()
 *   async def main(urls):
 *       async with aiohttp.ClientSession() as session:
 *           async with asyncio.TaskGroup() as tg:
 *               tasks = [tg.create_task(fetch_api_data(session, url)) for url in urls]
 *       posts = []
 *       for task in tasks:
 *           data = task.result()
 *           posts += data if isinstance(data, list) else [data]
 *       print(f"Fetched {len(posts)} posts from {len(urls)} API calls")
 *       print(f"Average title length: {mean(len(p['title']) for p in posts):.1f}")
 *       print(f"Average body length: {mean(len(p['body']) for p in posts):.1f}")
 *       users = Counter(p['userId'] for p in posts)
 *       print("Posts per user: " + ", ".join(f"{u}: {n}" for u, n in sorted(users.items())))
 *
 *   api_aggregator URL...   (each answering a JSONPlaceholder-style post, or a list of them)
 *
 * The TaskGroup is a tide_group: tide_group_spawn_task gives each child's handle, whose
 * result (the parsed document, a json_t*) is read after the group's wait, like
 * task.result(). If one call fails, the group cancels the others and the wait reports it.
 * JSON is parsed by jansson (libjansson-dev). */
#include <jansson.h>
#include <stdio.h>

#include "tutorial.h"

static int fetch_api_data(void *arg) {
    char *text;
    int r = fetch_text(arg, &text, NULL);
    if (r < 0) return r;
    json_error_t err;
    json_t *doc = json_loads(text, 0, &err);
    free(text);
    if (!doc) {
        fprintf(stderr, "%s: not JSON: %s (line %d)\n", (const char *)arg, err.text, err.line);
        return -EPROTO;
    }
    tide_task_set_result(doc);
    return 0;
}

/* len() of a str: code points, not bytes. */
static size_t utf8_len(const char *s) {
    size_t n = 0;
    for (; s && *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

typedef struct stats {
    size_t posts;
    double title_chars, body_chars;
    json_int_t users[64]; /* distinct userIds seen, in first-seen order */
    size_t counts[64];    /* posts of each */
    size_t nusers;
} stats_t;

static void add_post(stats_t *s, json_t *post) {
    s->posts++;
    s->title_chars += (double)utf8_len(json_string_value(json_object_get(post, "title")));
    s->body_chars += (double)utf8_len(json_string_value(json_object_get(post, "body")));
    json_int_t user = json_integer_value(json_object_get(post, "userId"));
    size_t i = 0;
    while (i < s->nusers && s->users[i] != user) i++;
    if (i == s->nusers) {
        if (s->nusers == 64) return; /* enough for a tutorial */
        s->users[s->nusers++] = user;
    }
    s->counts[i]++;
}

static void print_stats(stats_t *s, int calls) {
    printf("Fetched %zu posts from %d API calls\n", s->posts, calls);
    double n = s->posts ? (double)s->posts : 1;
    printf("Average title length: %.1f\n", s->title_chars / n);
    printf("Average body length: %.1f\n", s->body_chars / n);
    /* sorted(users.items()): a few users, so a selection sort will do */
    printf("Posts per user: ");
    for (size_t k = 0; k < s->nusers; k++) {
        size_t min = k;
        for (size_t j = k + 1; j < s->nusers; j++)
            if (s->users[j] < s->users[min]) min = j;
        json_int_t u = s->users[min];
        size_t c = s->counts[min];
        s->users[min] = s->users[k], s->counts[min] = s->counts[k];
        s->users[k] = u, s->counts[k] = c;
        printf("%s%" JSON_INTEGER_FORMAT ": %zu", k ? ", " : "", u, c);
    }
    printf("\n");
}

static int main_task(void *arg) {
    args_t *a = arg;
    tide_task_t *tasks = calloc((size_t)a->n, sizeof *tasks);
    if (!tasks) return -ENOMEM;
    tide_group_t *tg;
    int r = tide_group_new(&tg);
    if (r < 0) goto out_tasks;
    int spawned = 0;
    for (; spawned < a->n; spawned++)
        if ((r = tide_group_spawn_task(tg, &tasks[spawned], fetch_api_data, a->urls[spawned],
                                       NULL)) < 0) {
            tide_group_cancel(tg);
            break;
        }
    int w = tide_group_wait(tg); /* the end of `async with asyncio.TaskGroup()` */
    if (r == 0) r = w;
    stats_t stats = {0};
    for (int i = 0; i < spawned; i++) {
        int st;
        void *doc = NULL;
        tide_join_result(tasks[i], &st, &doc); /* task.result() */
        if (st < 0 || r < 0) {
            json_decref(doc);
            continue;
        }
        json_t *data = doc, *post;
        size_t k;
        if (json_is_array(data)) json_array_foreach(data, k, post) add_post(&stats, post);
        else add_post(&stats, data);
        json_decref(data);
    }
    if (r == 0) print_stats(&stats, a->n);
    tide_group_free(tg);
out_tasks:
    free(tasks);
    return r;
}

int main(int argc, char **argv) {
    return run_urls(argc, argv, "api_aggregator", main_task);
}
