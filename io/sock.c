/* Socket records, their waiters and closing: the type-stable records the reactor's epoll set
 * (poller.c) reports on, see net_internal.h for the scheme. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "reactor.h"

/* ---- records --------------------------------------------------------------------------- */

/* `listed` caches "waiters[dir] is not empty" in line 0, so that a wake reads line 1 only
 * when there is someone to take from it. It cannot be derived there without that read, so
 * it is written in one place: relist, called after every change to a list (open, link,
 * unlink, take), and read through has_listed, which checks the two agree in builds with
 * assertions. Lock held. */
static inline void relist(tide__sock_t *s, int dir) {
    if (tide__list_empty(&s->waiters[dir])) s->listed &= (uint8_t)~(1u << dir);
    else s->listed |= (uint8_t)(1u << dir);
}

static inline bool has_listed(const tide__sock_t *s, int dir) {
    bool on = (s->listed & 1u << dir) != 0;
    assert(on == !tide__list_empty(&s->waiters[dir]));
    return on;
}

static tide__sock_t *lookup(tide__reactor_t *r, uint32_t idx) {
    uint32_t c = idx >> CHUNK_SHIFT;
    if (c >= MAX_CHUNKS) return NULL;
    tide__sock_t *chunk = atomic_load_explicit(&r->chunks[c], memory_order_acquire);
    return chunk ? &chunk[idx & (CHUNK_SIZE - 1)] : NULL;
}

/* A chunk of fresh records, all closed, chained onto the free list. Reactor lock held. */
static int grow(tide__reactor_t *r) {
    if (r->nchunks == MAX_CHUNKS) return -ENOMEM;
    tide__sock_t *chunk = tide__alloc_aligned(CHUNK_SIZE * sizeof *chunk);
    if (!chunk) return -ENOMEM;
    uint32_t c = r->nchunks;
    for (uint32_t i = CHUNK_SIZE; i-- > 0;) {
        tide__sock_t *s = &chunk[i];
        atomic_init(&s->users, SOCK_CLOSED);
        for (int d = 0; d < NDIRS; d++) atomic_init(&s->seq[d], 0);
        atomic_init(&s->conns, 0);
        atomic_init(&s->drained, 0);
        atomic_init(&s->send_cap, 0);
        atomic_init(&s->hup, false);
        s->idx = c << CHUNK_SHIFT | i;
        s->fd = -1;
        s->reactor = r;
        s->next_free = r->free;
        r->free = s;
    }
    atomic_store_explicit(&r->chunks[c], chunk, memory_order_release);
    r->nchunks++;
    return 0;
}

static tide__sock_t *take(tide__reactor_t *r) {
    pthread_mutex_lock(&r->lock);
    if (!r->free && grow(r) < 0) {
        pthread_mutex_unlock(&r->lock);
        return NULL;
    }
    tide__sock_t *s = r->free;
    r->free = s->next_free;
    pthread_mutex_unlock(&r->lock);
    return s;
}

static void recycle(tide__sock_t *s) {
    tide__reactor_t *r = s->reactor;
    pthread_mutex_lock(&r->lock);
    s->next_free = r->free;
    r->free = s;
    pthread_mutex_unlock(&r->lock);
}

tide__sock_t *tide__sock_open(tide__reactor_t *r, int kind, int fd, uint32_t events, int *err) {
    tide__sock_t *s = take(r);
    if (!s) {
        *err = -ENOMEM;
        return NULL;
    }
    tide__spin_lock(&s->lock);
    s->gen++;
    uint32_t gen = s->gen;
    s->kind = (uint8_t)kind;
    s->fd = fd;
    for (int d = 0; d < NDIRS; d++) {
        tide__list_init(&s->waiters[d]);
        relist(s, d);
    }
    for (int d = 0; d < DIR_SLOT; d++) s->slot[d] = NULL;
    s->closer = (tide_waker_t){0};
    s->max_conns = 0;
    s->has_parent = false;
    atomic_store_explicit(&s->conns, 0, memory_order_relaxed);
    atomic_store_explicit(&s->drained, 0, memory_order_relaxed);
    atomic_store_explicit(&s->send_cap, 0, memory_order_relaxed);
    atomic_store_explicit(&s->hup, false, memory_order_relaxed);
    tide__spin_unlock(&s->lock);

    struct epoll_event ev = {.events = events | EPOLLET, .data.u64 = (uint64_t)gen << 32 | s->idx};
    if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        *err = -errno;
        s->fd = -1;
        s->kind = SOCK_FREE;
        recycle(s);
        return NULL;
    }
    tide__io_live_add(1);
    /* Open for business: clearing the bit (not storing 0) keeps the transient increments of
     * stale handles balanced. */
    atomic_fetch_and_explicit(&s->users, ~SOCK_CLOSED, memory_order_release);
    return s;
}

tide__sock_t *tide__sock_lock_gen(tide__reactor_t *r, uint32_t idx, uint32_t gen) {
    tide__sock_t *s = lookup(r, idx);
    if (!s) return NULL;
    tide__spin_lock(&s->lock);
    if (s->gen != gen) {
        tide__spin_unlock(&s->lock);
        return NULL;
    }
    return s;
}

/* ---- waiting and waking ---------------------------------------------------------------- */

static void link_waiter(tide__sock_t *s, int dir, tide__sock_waiter_t *w) {
    tide__list_push_front(&s->waiters[dir], &w->link);
    relist(s, dir);
    w->linked = true;
}

static void unlink_waiter(tide__sock_t *s, int dir, tide__sock_waiter_t *w) {
    tide__list_remove(&s->waiters[dir], &w->link);
    relist(s, dir);
    w->linked = false;
}

/* Take up to max waiters of dir (its slot first) and copy their wakers out, to be woken after
 * the lock is dropped (a wake may make a system call; nobody must spin on this lock
 * meanwhile). A waker is a value: it stays safe to use after its task has moved on. Lock
 * held. */
#define WAKE_BATCH 16
static int take_waiters(tide__sock_t *s, int dir, tide_waker_t *out, int max) {
    int n = 0;
    if (dir < DIR_SLOT && s->slot[dir] && max > 0) {
        /* Its seq now, under the lock it withdraws under: still the wait it published. */
        out[n++] = tide__waker_current(s->slot[dir]);
        s->slot[dir] = NULL;
    }
    if (!has_listed(s, dir)) return n;
    tide__list_node_t *node;
    while (n < max && (node = tide__list_pop_front(&s->waiters[dir])) != NULL) {
        tide__sock_waiter_t *w = tide__list_entry(node, tide__sock_waiter_t, link);
        w->linked = false;
        out[n++] = w->waker;
    }
    relist(s, dir);
    return n;
}

static void wake_n(const tide_waker_t *w, int n) {
    for (int i = 0; i < n; i++) tide_wake(w[i]);
}

/* The rare wait: a direction whose slot is taken (a second reader or writer) or that has none
 * (DIR_SLOT). The node lives on this frame, kept off the common path's. Lock held, dropped. */
static TIDE_NOINLINE int wait_listed(tide__sock_t *s, int dir, tide_waker_t waker,
                                     const char *what, int64_t deadline) {
    tide__sock_waiter_t w;
    w.waker = waker;
    link_waiter(s, dir, &w);
    tide__spin_unlock(&s->lock);
    int r = tide__park_self_until(waker.task, what, deadline);
    tide__spin_lock(&s->lock);
    if (w.linked) unlink_waiter(s, dir, &w);
    tide__spin_unlock(&s->lock);
    return r;
}

void tide__sock_leave_slot(tide__sock_t *s, int dir, struct tide__task *self) {
    tide__spin_lock(&s->lock);
    if (s->slot[dir] == self) s->slot[dir] = NULL;
    tide__spin_unlock(&s->lock);
}

int tide__sock_wait_other(tide__sock_t *s, int dir, uint32_t seen, tide_waker_t w,
                          const char *what, int64_t deadline) {
    if (atomic_load_explicit(&s->users, memory_order_relaxed) & SOCK_CLOSED) {
        tide__spin_unlock(&s->lock);
        return -EBADF;
    }
    if (atomic_load_explicit(&s->seq[dir], memory_order_relaxed) != seen) {
        tide__spin_unlock(&s->lock);
        return 0; /* an event came after the caller's system call: try again */
    }
    return wait_listed(s, dir, w, what, deadline);
}

/* Wake the waiters of the directions in `dirs` (a bit per DIR_*) and drop s's lock, which the
 * caller holds. */
static void wake_unlock(tide__sock_t *s, unsigned dirs) {
    for (;;) {
        tide_waker_t w[WAKE_BATCH];
        int n = 0;
        bool more = false;
        for (int d = 0; d < NDIRS; d++) {
            if (!(dirs & 1u << d)) continue;
            n += take_waiters(s, d, w + n, WAKE_BATCH - n);
            more |= (d < DIR_SLOT && s->slot[d]) || has_listed(s, d);
        }
        tide__spin_unlock(&s->lock);
        wake_n(w, n);
        if (!more) return;
        tide__spin_lock(&s->lock);
    }
}

/* Count an event in direction dir. Every write of a seq is made under s's lock, so a load and
 * a release store do (no locked read-modify-write, two per readiness event); lock held. */
static void bump(tide__sock_t *s, int dir) {
    uint32_t v = atomic_load_explicit(&s->seq[dir], memory_order_relaxed);
    atomic_store_explicit(&s->seq[dir], v + 1, memory_order_release);
}

/* Record an event in direction dir and wake its waiters; s's lock is held and dropped. */
static void bump_unlock(tide__sock_t *s, int dir) {
    bump(s, dir);
    wake_unlock(s, 1u << dir);
}

void tide__sock_notify(tide__sock_t *s, int dir) {
    tide__spin_lock(&s->lock);
    bump_unlock(s, dir);
}

void tide__sock_ready(tide__reactor_t *r, uint64_t tag, unsigned dirs, bool hup) {
    tide__sock_t *s = tide__sock_lock_gen(r, (uint32_t)tag, (uint32_t)(tag >> 32));
    if (!s) return; /* closed since: an event of an earlier life */
    /* Before the seq bump (release): a reader that sees the new seq sees this too. */
    if (hup) atomic_store_explicit(&s->hup, true, memory_order_relaxed);
    for (int d = 0; d < DIR_SLOT; d++)
        if (dirs & 1u << d) bump(s, d);
    wake_unlock(s, dirs);
}

int tide__net_check_slow(void) {
    /* A wait that is already woken: park returns at once with whatever a deadline or cancel
     * says, shields included. */
    tide_waker_t w = tide_park_prepare();
    tide_wake(w);
    return tide_park_on("net check");
}

/* ---- closing --------------------------------------------------------------------------- */

void tide__sock_wake_closer(tide__sock_t *s) {
    tide__spin_lock(&s->lock);
    tide_waker_t w = s->closer;
    tide__spin_unlock(&s->lock);
    tide_wake(w);
}

/* An accepted connection is gone: give its listener the slot back. */
static void release_slot(tide__sock_t *s) {
    tide__sock_t *l = tide__sock_lock_gen(s->reactor, s->parent_idx, s->parent_gen);
    if (!l) return; /* the listener was closed first */
    atomic_fetch_sub_explicit(&l->conns, 1, memory_order_relaxed);
    bump_unlock(l, DIR_SLOT);
}

static void finish(tide__sock_t *s) {
    int fd = s->fd;
    bool child = s->has_parent;
    /* close() takes fd out of the epoll set; events already harvested carry the old gen. */
    while (close(fd) < 0 && errno == EINTR) {
    }
    if (child) release_slot(s);
    tide__spin_lock(&s->lock);
    s->fd = -1;
    s->kind = SOCK_FREE;
    tide__spin_unlock(&s->lock);
    tide__io_live_add(-1);
    recycle(s);
}

int tide__sock_close(tide__sock_t *s) {
    tide__spin_lock(&s->lock);
    uint32_t u = atomic_fetch_or_explicit(&s->users, SOCK_CLOSED, memory_order_acq_rel);
    if (u & SOCK_CLOSED) {
        tide__spin_unlock(&s->lock);
        return -EBADF;
    }
    s->gen++; /* from now on the harvester leaves it alone */
    /* Wake everyone: they find SOCK_CLOSED and leave. Nobody can link a new waiter now. */
    wake_unlock(s, (1u << NDIRS) - 1);

    /* Wait for the tasks inside operations to see the close and leave. They are awake (we
     * just woke them) or about to find SOCK_CLOSED, so this is short; it must not be cut
     * short by our own deadline or cancel, or the descriptor would be closed under them. */
    tide_shield_t shield;
    tide_shield_begin(&shield);
    for (;;) {
        tide__spin_lock(&s->lock);
        if ((atomic_load_explicit(&s->users, memory_order_acquire) & ~SOCK_CLOSED) == 0) {
            tide__spin_unlock(&s->lock);
            break;
        }
        s->closer = tide_park_prepare();
        tide__spin_unlock(&s->lock);
        tide_park_on("socket close");
    }
    tide_shield_end(&shield);
    finish(s);
    return 0;
}

void tide__sock_discard(tide__sock_t *s) {
    tide__spin_lock(&s->lock);
    atomic_fetch_or_explicit(&s->users, SOCK_CLOSED, memory_order_acq_rel);
    s->gen++;
    tide__spin_unlock(&s->lock);
    finish(s);
}

/* ---- freeing --------------------------------------------------------------------------- */

void tide__sock_free_all(tide__reactor_t *r) {
    for (uint32_t c = 0; c < r->nchunks; c++) {
        tide__sock_t *chunk = atomic_load(&r->chunks[c]);
        for (uint32_t i = 0; i < CHUNK_SIZE; i++) {
            tide__sock_t *s = &chunk[i];
            /* Never closed by its owner: release the descriptor (no task can use it now) but
             * leave it counted in tide__io_live, which is how the leak shows in tests. */
            if (!(atomic_load(&s->users) & SOCK_CLOSED)) close(s->fd);
        }
        tide__free_aligned(chunk, CHUNK_SIZE * sizeof *chunk);
    }
}
