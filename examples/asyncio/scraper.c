/* scraper: fetch several URLs concurrently and save each page to a file with the async file
 * API (seeds/002_cb5deb1ceb6c05fa.txt, the aiohttp + aiofiles exercise).
 *
 *   async def fetch_url(session, url):
 *       async with session.get(url) as response:
 *           content = await response.text()
 *           return content
 *   async def save_content(filename, content):
 *       async with aiofiles.open(filename, 'w') as file:
 *           await file.write(content)
 *   async def main(urls):
 *       async with aiohttp.ClientSession() as session:
 *           tasks = [fetch_url(session, url) for url in urls]
 *           contents = await asyncio.gather(*tasks)
 *           save_tasks = [save_content(f'file_{i}.html', content)
 *                         for i, content in enumerate(contents)]
 *           await asyncio.gather(*save_tasks)
 *   asyncio.run(main(urls))
 *
 *   scraper URL...       (writes file_0.html, file_1.html, ... in the current directory)
 *
 * Like the Python, it prints nothing when all goes well: the files are the output. The
 * session is the runtime's HTTP client (its connection pool is shared by every task). */
#include <stdio.h>

#include "tutorial.h"

static int fetch_url(void *arg) {
    char *content;
    int r = fetch_text(arg, &content, NULL);
    if (r == 0) tide_task_set_result(content);
    return r;
}

typedef struct save {
    char filename[32]; /* file_<i>.html */
    const char *content;
} save_t;

static int save_content(void *arg) {
    save_t *s = arg;
    int fd = tide_fs_open(s->filename, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return fd;
    ssize_t n = tide_fs_write(fd, s->content, strlen(s->content));
    int c = tide_fs_close(fd);
    return n < 0 ? (int)n : c;
}

static int main_task(void *arg) {
    args_t *a = arg;
    void **urls = calloc((size_t)a->n, sizeof *urls);
    void **contents = calloc((size_t)a->n, sizeof *contents);
    save_t *saves = calloc((size_t)a->n, sizeof *saves);
    void **save_args = calloc((size_t)a->n, sizeof *save_args);
    int r = urls && contents && saves && save_args ? 0 : -ENOMEM;
    if (r == 0) {
        for (int i = 0; i < a->n; i++) urls[i] = a->urls[i];
        r = spawn_gather(a->n, fetch_url, urls, contents);
    }
    if (r == 0) {
        for (int i = 0; i < a->n; i++) {
            snprintf(saves[i].filename, sizeof saves[i].filename, "file_%d.html", i);
            saves[i].content = contents[i];
            save_args[i] = &saves[i];
        }
        r = spawn_gather(a->n, save_content, save_args, NULL);
    }
    for (int i = 0; contents && i < a->n; i++) free(contents[i]);
    free(urls);
    free(contents);
    free(saves);
    free(save_args);
    return r;
}

int main(int argc, char **argv) {
    return run_urls(argc, argv, "scraper", main_task);
}
