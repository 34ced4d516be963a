/* The threaded baselines' primitives: what a C programmer writes with pthread mutexes and
 * condition variables. Each signals a condition variable only when someone waits on it, so
 * an uncontended operation costs a lock and an unlock and no system call. */
#ifndef TIDE_BENCH_PT_SYNC_H
#define TIDE_BENCH_PT_SYNC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A one-shot event (the "signal" of spawn_many, the release of idle_many). */
typedef struct pt_event {
    pthread_mutex_t lock; /* guards set and waiters */
    pthread_cond_t cond;  /* waiters sleep here */
    bool set;         /* once set, stays set */
    unsigned waiters; /* threads in pthread_cond_wait (broadcast only if any) */
} pt_event_t;

int pt_event_init(pt_event_t *e);
void pt_event_destroy(pt_event_t *e);
void pt_event_set(pt_event_t *e);
void pt_event_wait(pt_event_t *e);

/* Counts n completions; the one that brings the count to n sets the event (the signal of
 * spawn_many, sleep_many...). */
typedef struct pt_countdown {
    _Atomic uint64_t count; /* completions so far */
    uint64_t n;             /* completions expected */
    pt_event_t done;        /* set by the n-th */
} pt_countdown_t;

int pt_countdown_init(pt_countdown_t *c, uint64_t n);
void pt_countdown_destroy(pt_countdown_t *c);
/* Count one completion. After it returns the caller no longer touches c, unless it was the
 * n-th (then until pt_event_set returns). */
void pt_countdown_one(pt_countdown_t *c);

/* A bounded FIFO channel of uint64_t (ping_pong, channel_mpsc). */
typedef struct pt_chan {
    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t not_empty;  /* receivers wait here */
    pthread_cond_t not_full;   /* senders wait here */
    uint64_t *buf;             /* ring of cap slots */
    size_t cap;                /* capacity */
    size_t head;               /* next slot to receive from */
    size_t len;                /* values buffered */
    unsigned recv_waiting;     /* receivers asleep on not_empty */
    unsigned send_waiting;     /* senders asleep on not_full */
    bool closed;               /* set when a workload is abandoned: nobody blocks any more */
} pt_chan_t;

/* 0 or -ENOMEM. */
int pt_chan_init(pt_chan_t *c, size_t cap);
void pt_chan_destroy(pt_chan_t *c);
/* true, or false once the channel is closed (nothing is then sent or received). */
bool pt_chan_send(pt_chan_t *c, uint64_t v);
bool pt_chan_recv(pt_chan_t *c, uint64_t *v);
/* Wake everyone blocked on c; later calls fail. For tearing down a half-started workload. */
void pt_chan_close(pt_chan_t *c);

#endif
