/* Soak: everything at once, for a while. Each round runs, concurrently, a channel pipeline
 * (producers, consumers, every message counted and checksummed per producer), a spawn tree
 * (every node counted), a ring of tasks that cancel each other while they block (on sleeps,
 * channels and sockets), and TCP echo clients over 127.0.0.1 (every byte checked against a
 * position-dependent pattern), plus detached tasks that sleep and signal a wait group. Rounds
 * repeat until the time is up; after a warm-up the resident set size and the open descriptors
 * are measured, and again at the end: RSS must stay flat (within a generous bound) and no
 * descriptor may be left behind. tt_run then checks that the runtime leaked nothing.
 *
 * Length: 60 s in optimised builds, 10 s under sanitizers; TIDE_SOAK_SECONDS overrides (a long
 * run: TIDE_SOAK_SECONDS=3600 test_soak --timeout 4000). Every blocking call runs under a deadline
 * scope ending well after the planned end, so a hang fails the test instead of stalling CI. */
#include "testutil.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRODUCERS 4
#define CONSUMERS 3
#define RING 24          /* tasks that cancel each other */
#define CLIENTS 6        /* TCP echo clients per round */
#define DETACHED 64      /* detached sleepers per round */
#define TREE_DEPTH 7     /* 2^8 - 1 = 255 tasks per tree */

#ifdef TT_SANITIZED
#define DEFAULT_SECONDS 10
#define MSGS 500         /* per producer per round */
#define CLIENT_BYTES 16384
#if defined(__SANITIZE_THREAD__)
/* TSan's own memory (shadow, sync objects, access history) grows with every address it sees
 * (about 25 MB/s here): RSS says nothing about tide, so it is reported, not checked. */
#define RSS_GROWTH_MAX LONG_MAX
#else
/* ASan keeps freed blocks in a quarantine (256 MB by default) and maps shadow memory as the
 * heap is touched: only a gross leak shows. */
#define RSS_GROWTH_MAX (400L << 20)
#endif
#else
#define DEFAULT_SECONDS 60
#define MSGS 2000
#define CLIENT_BYTES 65536
/* Generous: allocator caches and the stack pool settle during the warm-up; a leak of one
 * small block per message, task or connection would pass this within a few seconds. */
#define RSS_GROWTH_MAX (32L << 20)
#endif

/* ---- shared state ---------------------------------------------------------------------- */

typedef struct soak {
    int64_t hard_deadline;      /* every blocking call ends by then (hang guard) */
    uint16_t port;              /* the echo listener */
    tide_tcp_t *listener;
    tide_waitgroup_t conns;     /* echo tasks alive */
    tide_waitgroup_t sleepers;  /* detached sleepers alive */
    _Atomic uint64_t tasks;     /* spawned, all kinds */
    _Atomic uint64_t msgs;      /* channel messages delivered and checked */
    _Atomic uint64_t bytes;     /* TCP bytes echoed and checked (each way) */
    _Atomic uint64_t cancels;   /* blocking calls ended by a peer's cancel */
    _Atomic uint64_t conns_made;/* TCP connections opened */
    _Atomic uint64_t accepted;  /* TCP connections accepted (and counted in conns) */
    _Atomic uint64_t echo_errors; /* echo tasks that ended on an unexpected error */
} soak_t;

static soak_t S;

static void hard_scope(tide_scope_t *sc) {
    tide_deadline_begin(sc, S.hard_deadline);
}

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t x = (a + 1) * 0x9E3779B97F4A7C15ULL ^ (b + 7) * 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 31;
    return x * 0x94d049bb133111ebULL;
}

static int spawn_counted(tide_task_t *out, int (*fn)(void *), void *arg) {
    int r = tide_spawn(out, fn, arg);
    if (r == 0) atomic_fetch_add_explicit(&S.tasks, 1, memory_order_relaxed);
    return r;
}

/* ---- channel pipeline ------------------------------------------------------------------ */

typedef struct msg {
    uint32_t producer;
    uint32_t seq;
    uint64_t val;   /* mix(producer, seq): a corrupted copy shows */
} msg_t;

typedef struct prod {
    tide_chan_t *ch; /* where it sends */
    uint32_t id;     /* its index: the producer field of its messages */
} prod_t;

typedef struct cons {
    tide_chan_t *ch;            /* where it receives */
    uint64_t count[PRODUCERS];  /* messages received per producer */
    uint64_t seqsum[PRODUCERS]; /* sum of their sequence numbers */
    uint64_t bad;               /* messages whose value did not match */
} cons_t;

static int producer(void *arg) {
    prod_t *p = arg;
    tide_scope_t sc;
    hard_scope(&sc);
    int r = 0;
    for (uint32_t i = 0; i < MSGS && r == 0; i++) {
        msg_t m = {p->id, i, mix(p->id, i)};
        r = tide_chan_send(p->ch, &m);
        if (r == 0 && (tt_rand() & 255) == 0) r = tide_sleep((int64_t)(tt_rand() % 200) * 1000);
        else if (r == 0 && (tt_rand() & 63) == 0) r = tide_yield();
    }
    tide_scope_end(&sc);
    return r;
}

static int consumer(void *arg) {
    cons_t *c = arg;
    tide_scope_t sc;
    hard_scope(&sc);
    msg_t m;
    int r;
    while ((r = tide_chan_recv(c->ch, &m)) == 0) {
        if (m.producer >= PRODUCERS || m.val != mix(m.producer, m.seq)) {
            c->bad++;
            continue;
        }
        c->count[m.producer]++;
        c->seqsum[m.producer] += m.seq;
    }
    tide_scope_end(&sc);
    return r == -EPIPE ? 0 : r; /* closed and drained: the normal end */
}

static int pipeline(void *unused) {
    tide_chan_t *ch;
    int r = tide_chan_new(&ch, sizeof(msg_t), 16);
    if (r) return r;
    prod_t prods[PRODUCERS];
    cons_t cons[CONSUMERS];
    tide_task_t pt[PRODUCERS], ct[CONSUMERS];
    memset(cons, 0, sizeof cons);
    for (int i = 0; i < CONSUMERS; i++) {
        cons[i].ch = ch;
        cr_assert_eq(spawn_counted(&ct[i], consumer, &cons[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        prods[i] = (prod_t){ch, (uint32_t)i};
        cr_assert_eq(spawn_counted(&pt[i], producer, &prods[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++) {
        int st = -1;
        cr_assert_eq(tide_join(pt[i], &st), 0);
        cr_assert_eq(st, 0, "producer %d: %s", i, tide_strerror(st));
    }
    cr_assert_eq(tide_chan_close(ch), 0);
    for (int i = 0; i < CONSUMERS; i++) {
        int st = -1;
        cr_assert_eq(tide_join(ct[i], &st), 0);
        cr_assert_eq(st, 0, "consumer %d: %s", i, tide_strerror(st));
        cr_assert_eq(cons[i].bad, 0, "consumer %d got %llu corrupt messages", i,
                     (unsigned long long)cons[i].bad);
    }
    tide_chan_free(ch);
    /* Every message exactly once: per producer, the count and the sum of sequence numbers. */
    for (int p = 0; p < PRODUCERS; p++) {
        uint64_t n = 0, sum = 0;
        for (int i = 0; i < CONSUMERS; i++) {
            n += cons[i].count[p];
            sum += cons[i].seqsum[p];
        }
        cr_assert_eq(n, MSGS, "producer %d: %llu of %d messages arrived", p,
                     (unsigned long long)n, MSGS);
        cr_assert_eq(sum, (uint64_t)MSGS * (MSGS - 1) / 2, "producer %d: sequence sum", p);
    }
    atomic_fetch_add_explicit(&S.msgs, (uint64_t)PRODUCERS * MSGS, memory_order_relaxed);
    return 0;
}

/* ---- spawn tree ------------------------------------------------------------------------ */

typedef struct node {
    int depth;
    uint64_t nodes; /* out: tasks in this subtree */
} node_t;

static int tree(void *arg) {
    node_t *n = arg;
    n->nodes = 1;
    if (n->depth == 0) return (tt_rand() & 7) == 0 ? tide_yield() : 0;
    node_t kids[2] = {{n->depth - 1, 0}, {n->depth - 1, 0}};
    tide_task_t t[2];
    for (int i = 0; i < 2; i++) cr_assert_eq(spawn_counted(&t[i], tree, &kids[i]), 0);
    int ret = 0;
    for (int i = 0; i < 2; i++) {
        int st = -1;
        cr_assert_eq(tide_join(t[i], &st), 0);
        if (st) ret = st;
        n->nodes += kids[i].nodes;
    }
    return ret;
}

static int spawn_tree(void *unused) {
    node_t root = {TREE_DEPTH, 0};
    int r = tree(&root);
    cr_assert_eq(r, 0, "tree: %s", tide_strerror(r));
    cr_assert_eq(root.nodes, (1u << (TREE_DEPTH + 1)) - 1, "tree: %llu nodes ran",
                 (unsigned long long)root.nodes);
    return 0;
}

/* ---- detached sleepers ----------------------------------------------------------------- */

static int sleeper(void *unused) {
    tide_sleep((int64_t)(tt_rand() % 2000) * 1000);
    tide_waitgroup_done(&S.sleepers);
    return 0;
}

static int sleepers(void *unused) {
    tide_spawn_opts_t o = {.detached = true};
    for (int i = 0; i < DETACHED; i++) {
        cr_assert_eq(tide_waitgroup_add(&S.sleepers, 1), 0);
        cr_assert_eq(tide_spawn_opts(NULL, sleeper, NULL, &o), 0);
        atomic_fetch_add_explicit(&S.tasks, 1, memory_order_relaxed);
    }
    return 0;
}

/* ---- TCP echo -------------------------------------------------------------------------- */

static int echo(void *arg) {
    tide_tcp_t *c = arg;
    tide_scope_t sc;
    hard_scope(&sc);
    char buf[4096];
    ssize_t n;
    int r = 0;
    while ((n = tide_tcp_read(c, buf, sizeof buf)) > 0) {
        if (tide_tcp_write_all(c, buf, (size_t)n, NULL) != n) break;
    }
    /* A peer that was cancelled mid-read closes without reading our echo: a reset is normal. */
    if (n < 0 && n != -ECONNRESET) r = (int)n;
    tide_scope_end(&sc);
    tide_tcp_close(c);
    if (r) {
        fprintf(stderr, "soak: echo ended with %s\n", tide_strerror(r));
        atomic_fetch_add_explicit(&S.echo_errors, 1, memory_order_relaxed);
    }
    tide_waitgroup_done(&S.conns);
    return 0;
}

static int acceptor(void *unused) {
    tide_spawn_opts_t o = {.detached = true};
    for (;;) {
        tide_tcp_t *c;
        int r = tide_tcp_accept(S.listener, &c, NULL);
        if (r == -ECANCELED) return 0; /* the soak is over */
        cr_assert_eq(r, 0, "accept: %s", tide_strerror(r));
        cr_assert_eq(tide_waitgroup_add(&S.conns, 1), 0);
        atomic_fetch_add_explicit(&S.accepted, 1, memory_order_relaxed);
        cr_assert_eq(tide_spawn_opts(NULL, echo, c, &o), 0);
        atomic_fetch_add_explicit(&S.tasks, 1, memory_order_relaxed);
    }
}

static uint8_t pat(uint64_t k, uint64_t i) {
    return (uint8_t)(mix(k, i) >> 56);
}

typedef struct client {
    tide_tcp_t *c; /* the connection, read here and written by client_writer */
    uint64_t key;  /* pattern of this connection */
} client_t;

static int client_writer(void *arg) {
    client_t *cl = arg;
    tide_scope_t sc;
    hard_scope(&sc);
    uint8_t buf[8192];
    uint64_t at = 0;
    int r = 0;
    while (at < CLIENT_BYTES && r == 0) {
        size_t n = 1 + tt_rand() % sizeof buf; /* chunks of every size: splits everywhere */
        if (n > CLIENT_BYTES - at) n = CLIENT_BYTES - at;
        for (size_t i = 0; i < n; i++) buf[i] = pat(cl->key, at + i);
        ssize_t w = tide_tcp_write_all(cl->c, buf, n, NULL);
        if (w != (ssize_t)n) r = w < 0 ? (int)w : -EIO;
        at += n;
    }
    if (r == 0) r = tide_tcp_shutdown(cl->c);
    tide_scope_end(&sc);
    return r;
}

static int client(void *arg) {
    uint64_t key = (uint64_t)(uintptr_t)arg;
    tide_scope_t sc;
    hard_scope(&sc);
    client_t cl = {NULL, key};
    int r = tide_tcp_connect(&cl.c, "127.0.0.1", S.port);
    cr_assert_eq(r, 0, "connect: %s", tide_strerror(r));
    atomic_fetch_add_explicit(&S.conns_made, 1, memory_order_relaxed);
    tide_task_t w;
    cr_assert_eq(spawn_counted(&w, client_writer, &cl), 0);
    uint8_t buf[4096];
    uint64_t at = 0;
    ssize_t n;
    while ((n = tide_tcp_read(cl.c, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            cr_assert_eq(buf[i], pat(key, at + (uint64_t)i), "byte %llu of stream %llu",
                         (unsigned long long)(at + (uint64_t)i), (unsigned long long)key);
        at += (uint64_t)n;
    }
    cr_assert_eq(n, 0, "client read: %s", tide_strerror((int)n));
    int st = -1;
    cr_assert_eq(tide_join(w, &st), 0);
    cr_assert_eq(st, 0, "client writer: %s", tide_strerror(st));
    cr_assert_eq(at, CLIENT_BYTES, "echoed %llu of %d bytes", (unsigned long long)at,
                 CLIENT_BYTES);
    cr_assert_eq(tide_tcp_close(cl.c), 0);
    tide_scope_end(&sc);
    atomic_fetch_add_explicit(&S.bytes, CLIENT_BYTES, memory_order_relaxed);
    return 0;
}

static _Atomic uint64_t stream_keys;

static int clients(void *unused) {
    tide_task_t t[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        uint64_t key = atomic_fetch_add_explicit(&stream_keys, 1, memory_order_relaxed);
        cr_assert_eq(spawn_counted(&t[i], client, (void *)(uintptr_t)key), 0);
    }
    for (int i = 0; i < CLIENTS; i++) {
        int st = -1;
        cr_assert_eq(tide_join(t[i], &st), 0);
        cr_assert_eq(st, 0);
    }
    return 0;
}

/* ---- a ring of tasks cancelling each other --------------------------------------------- */

typedef struct ring {
    tt_gate_t start;         /* opens once every handle is written */
    tide_task_t t[RING];     /* the peers */
    tide_chan_t *never;      /* nobody sends on it */
} ring_t;

typedef struct peer {
    ring_t *ring; /* the ring it belongs to */
    int i;        /* its place: it cancels i + 1, and blocks in the way i % 3 picks */
} peer_t;

static int peer(void *arg) {
    peer_t *p = arg;
    ring_t *ring = p->ring;
    /* Shielded: a cancel arriving before the start must not skip the wait, or we would read
     * handles not yet written. */
    tide_shield_t sh;
    tide_shield_begin(&sh);
    tt_gate_wait(&ring->start);
    tide_shield_end(&sh);
    tide_scope_t sc;
    hard_scope(&sc);
    tide_sleep((int64_t)(tt_rand() % 300) * 1000); /* may itself be cut short by a cancel */
    tide_cancel(ring->t[(p->i + 1) % RING]);
    /* Then block until cancelled (our predecessor always cancels us). */
    int r;
    switch (p->i % 3) {
    case 0:
        r = tide_sleep(TIDE_SEC(3600));
        break;
    case 1: {
        uint64_t x;
        r = tide_chan_recv(ring->never, &x);
        break;
    }
    default: {
        tide_tcp_t *c = NULL;
        r = tide_tcp_connect(&c, "127.0.0.1", S.port);
        if (r == 0) {
            atomic_fetch_add_explicit(&S.conns_made, 1, memory_order_relaxed);
            char b;
            r = (int)tide_tcp_read(c, &b, 1); /* the echo server has nothing to send */
            tide_tcp_close(c);
        }
        break;
    }
    }
    tide_scope_end(&sc);
    if (r == -ECANCELED) atomic_fetch_add_explicit(&S.cancels, 1, memory_order_relaxed);
    return r;
}

static int cancel_ring(void *unused) {
    ring_t ring;
    peer_t peers[RING];
    tt_gate_init(&ring.start);
    cr_assert_eq(tide_chan_new(&ring.never, sizeof(uint64_t), 1), 0);
    for (int i = 0; i < RING; i++) {
        peers[i] = (peer_t){&ring, i};
        cr_assert_eq(spawn_counted(&ring.t[i], peer, &peers[i]), 0);
    }
    tt_gate_open(&ring.start);
    for (int i = 0; i < RING; i++) {
        int st = 0;
        cr_assert_eq(tide_join(ring.t[i], &st), 0);
        cr_assert_eq(st, -ECANCELED, "peer %d ended with %s, not cancelled", i, tide_strerror(st));
    }
    tide_chan_free(ring.never);
    pthread_mutex_destroy(&ring.start.lock);
    return 0;
}

/* ---- the soak -------------------------------------------------------------------------- */

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    cr_assert_gt(kb, 0);
    return kb;
}

/* Let every connection made so far be accepted and served to its end. */
static void settle(void) {
    int64_t limit = tide_now() + TT_SLACK(TIDE_SEC(10));
    while (atomic_load(&S.accepted) < atomic_load(&S.conns_made) && tide_now() < limit)
        tide_sleep(TIDE_MSEC(1));
    cr_assert_eq(atomic_load(&S.accepted), atomic_load(&S.conns_made), "connections not accepted");
    cr_assert_eq(tide_waitgroup_wait(&S.conns), 0);
    cr_assert_eq(tide_waitgroup_wait(&S.sleepers), 0);
}

static int round_once(void) {
    int (*parts[])(void *) = {pipeline, spawn_tree, cancel_ring, clients, sleepers};
    enum { NPARTS = sizeof parts / sizeof parts[0] };
    tide_task_t t[NPARTS];
    for (int i = 0; i < NPARTS; i++) cr_assert_eq(spawn_counted(&t[i], parts[i], NULL), 0);
    for (int i = 0; i < NPARTS; i++) {
        int st = -1;
        cr_assert_eq(tide_join(t[i], &st), 0);
        cr_assert_eq(st, 0, "part %d: %s", i, tide_strerror(st));
    }
    return 0;
}

static int soak_main(void *arg) {
    int64_t seconds = *(int64_t *)arg;
    int64_t start = tide_now();
    int64_t end = start + TIDE_SEC(seconds);
    int64_t warm_end = start + TIDE_SEC(seconds) / 10;
    if (warm_end < start + TIDE_SEC(1)) warm_end = start + TIDE_SEC(1);
    S.hard_deadline = end + TIDE_SEC(60) + TT_SLACK(TIDE_SEC(2));
    cr_assert_eq(tide_waitgroup_init(&S.conns), 0);
    cr_assert_eq(tide_waitgroup_init(&S.sleepers), 0);
    cr_assert_eq(tide_tcp_listen(&S.listener, "127.0.0.1", 0, NULL), 0);
    tide_addr_t a;
    cr_assert_eq(tide_tcp_local_addr(S.listener, &a), 0);
    S.port = tide_addr_port(&a);
    tide_task_t acc;
    cr_assert_eq(spawn_counted(&acc, acceptor, NULL), 0);

    long rss0 = 0, rss_max = 0;
    int fds0 = -1;
    uint64_t rounds = 0;
    while (tide_now() < end) {
        round_once();
        rounds++;
        if (fds0 < 0 && tide_now() >= warm_end) {
            /* Warm: the echo tasks and sleepers of past rounds have gone, caches are full. */
            settle();
            rss0 = rss_kb();
            fds0 = tt_open_fds();
        }
        long r = rss_kb();
        if (r > rss_max) rss_max = r;
    }
    cr_assert_geq(fds0, 0, "the soak ended before its warm-up did");
    settle();
    long rss1 = rss_kb();
    int fds1 = tt_open_fds();

    cr_assert_eq(tide_cancel(acc), 0);
    int st = -1;
    cr_assert_eq(tide_join(acc, &st), 0);
    cr_assert_eq(st, 0);
    cr_assert_eq(tide_tcp_close(S.listener), 0);
    tide_waitgroup_destroy(&S.conns);
    tide_waitgroup_destroy(&S.sleepers);

    double secs = (double)(tide_now() - start) / 1e9;
    fprintf(stderr,
            "soak: %.1f s, %llu rounds: %llu tasks, %llu messages, %llu TCP bytes echoed over "
            "%llu connections, %llu blocking calls cancelled by peers; RSS %ld kB after "
            "warm-up, %ld kB at the end (peak %ld kB); %d descriptors after warm-up, %d at the "
            "end\n",
            secs, (unsigned long long)rounds, (unsigned long long)S.tasks,
            (unsigned long long)S.msgs, (unsigned long long)S.bytes,
            (unsigned long long)S.conns_made, (unsigned long long)S.cancels, rss0, rss1,
            rss_max, fds0, fds1);
    cr_assert_eq(fds1, fds0, "descriptors: %d after warm-up, %d at the end", fds0, fds1);
    cr_assert_lt((rss1 - rss0) * 1024L, RSS_GROWTH_MAX, "RSS grew from %ld kB to %ld kB", rss0,
                 rss1);
    cr_assert_eq(S.cancels, rounds * RING);
    cr_assert_eq(S.echo_errors, 0);
    return 0;
}

static int64_t soak_seconds(void) {
    const char *v = getenv("TIDE_SOAK_SECONDS");
    if (v && *v) {
        long long n = strtoll(v, NULL, 10);
        if (n > 0) return n;
    }
    return DEFAULT_SECONDS;
}

Test(soak, everything_at_once_nothing_lost) {
    int64_t seconds = soak_seconds();
    tt_run(soak_main, &seconds, 0);
}
