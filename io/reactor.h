/* Internal to io/sock.c and io/poller.c: the reactor, which is the runtime's edge-triggered
 * epoll set (poller.c: the set, harvesting it, the workers' park hook) together with the
 * table of type-stable socket records registered in it (sock.c: records, their waiters,
 * closing). See net_internal.h for the scheme; the rest of io/ sees only that header. */
#ifndef TIDE_IO_REACTOR_H
#define TIDE_IO_REACTOR_H

#include <pthread.h>

#include "net_internal.h"
#include "tide/ext.h"

#define CHUNK_SHIFT 8
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define MAX_CHUNKS 16384 /* 4M sockets per runtime */

struct tide__reactor {
    int epfd;                                  /* the runtime's epoll set */
    uv_poll_t poll;                            /* the driver loop's watch on epfd (when the
                                                  workers do not poll it themselves) */
    tide__park_hook_t hook;                    /* the workers' poll of epfd, if installed */
    bool hooked;                               /* hook installed in the runtime */
    tide__io_t *io;                            /* the driver this reactor belongs to */
    pthread_mutex_t lock;                      /* free list and chunk growth */
    tide__sock_t *free;                        /* recycled records */
    uint32_t nchunks;                          /* chunks allocated */
    _Atomic(tide__sock_t *) chunks[MAX_CHUNKS]; /* records, by idx >> CHUNK_SHIFT */
};

/* sock.c, for the poller: an epoll event for the record tagged `tag` (gen << 32 | idx) is
 * ready in the directions `dirs` (a bit per DIR_*), with a hang-up or error if `hup`. Bumps
 * those directions' counters and wakes their waiters; an event of an earlier life of the
 * record is ignored. */
void tide__sock_ready(tide__reactor_t *r, uint64_t tag, unsigned dirs, bool hup);

/* sock.c, for the poller: close the descriptors of records still open and free every chunk,
 * once nothing can touch a record any more (see tide__reactor_free). */
void tide__sock_free_all(tide__reactor_t *r);

#endif
