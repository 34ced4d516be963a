/* fetch_page: one aiohttp GET, the first 100 characters printed
 * (seeds/002_cb5deb1ceb6c05fa.txt).
 *
 *   async def fetch_page(url):
 *       async with aiohttp.ClientSession() as session:
 *           async with session.get(url) as response:
 *               return await response.text()
 *   async def main():
 *       html = await fetch_page('https://google.com')
 *       print(html[:100])
 *   asyncio.run(main())
 *
 *   fetch_page URL */
#include <stdio.h>

#include "tutorial.h"

static int main_task(void *arg) {
    char *html;
    int r = fetch_text(arg, &html, NULL); /* `await fetch_page(url)`: a call */
    if (r < 0) return r;
    printf("%.100s\n", html);
    free(html);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fetch_page URL\n");
        return 2;
    }
    int r = tide_run(main_task, argv[1]);
    if (r < 0) fprintf(stderr, "fetch_page: %s\n", tide_strerror(r));
    return r < 0;
}
