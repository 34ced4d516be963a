/* Observability: task dumps, and debug mode's reports of slow tasks and of failures nobody
 * joined (asyncio's debug mode, for C). */
#include <stdio.h>
#include <string.h>

#include "scheduler.h"

static const char *state_name(uint32_t s) {
    switch (s) {
    case TASK_RUNNING: case TASK_RESUMED: return "running";
    case TASK_WAITING: return "waiting";
    case TASK_NOTIFIED: return "waking";
    case TASK_RUNNABLE: return "runnable";
    case TASK_DONE: return "done";
    default: return "?";
    }
}

/* A consistent copy of what a dump shows, taken under the task's lock. */
typedef struct snapshot {
    uint64_t id;
    char name[32];
    const char *state;
    const char *waiting_on;
    const char *file;
    unsigned line;
    int worker;
    int status;
    bool cancelled;
} snapshot_t;

static bool snap(tide__task_t *t, snapshot_t *s) {
    tide__task_lock(t);
    s->id = atomic_load_explicit(&t->id, MO_RELAXED);
    if (!s->id) {
        tide__task_unlock(t);
        return false;
    }
    memcpy(s->name, t->name, sizeof s->name);
    uint32_t flags = atomic_load_explicit(&t->flags, MO_RELAXED);
    uint64_t st = atomic_load_explicit(&t->state, MO_RELAXED);
    s->state = (flags & TF_DONE) ? "done" : state_name(ST_STATE(st));
    s->waiting_on = atomic_load_explicit(&t->waiting_on, MO_RELAXED);
    s->file = t->spawn_file;
    s->line = t->spawn_line;
    s->worker = (ST_STATE(st) == TASK_RUNNING || ST_STATE(st) == TASK_RESUMED) && t->worker
                    ? (int)t->worker->index : -1;
    s->status = t->status;
    s->cancelled = flags & TF_CANCELLED;
    tide__task_unlock(t);
    return true;
}

typedef struct dump_ctx {
    int fd;
    unsigned count;
} dump_ctx_t;

static void dump_one(tide__task_t *t, void *arg) {
    dump_ctx_t *d = arg;
    snapshot_t s;
    if (!snap(t, &s)) return;
    d->count++;
    dprintf(d->fd, "  task %llu%s%s%s %s", (unsigned long long)s.id, s.name[0] ? " '" : "",
            s.name, s.name[0] ? "'" : "", s.state);
    if (s.worker >= 0) dprintf(d->fd, " on worker %d", s.worker);
    if (s.waiting_on && strcmp(s.state, "waiting") == 0) dprintf(d->fd, " on %s", s.waiting_on);
    if (strcmp(s.state, "done") == 0) dprintf(d->fd, " (status %d, not joined)", s.status);
    if (s.cancelled) dprintf(d->fd, " [cancelled]");
    dprintf(d->fd, "  spawned at %s:%u\n", s.file ? s.file : "?", s.line);
}

int tide_runtime_dump(tide_runtime_t *rt, int fd) {
    if (!rt || fd < 0) return -EINVAL;
    dprintf(fd, "tide: task dump (%u workers, global queue %lld)\n", rt->nworkers,
            (long long)tide__inject_len(&rt->inject));
    dump_ctx_t d = {fd, 0};
    tide__task_foreach(&rt->tasks, dump_one, &d);
    dprintf(fd, "tide: %u tasks\n", d.count);
    return (int)d.count;
}

void tide__debug_slow(tide__task_t *t, int64_t ran_ns) {
    fprintf(stderr,
            "tide debug: task %llu%s%s%s (spawned at %s:%u) ran %.1f ms without yielding\n",
            (unsigned long long)atomic_load_explicit(&t->id, MO_RELAXED), t->name[0] ? " '" : "",
            t->name, t->name[0] ? "'" : "", t->spawn_file ? t->spawn_file : "?",
            t->spawn_line, (double)ran_ns / 1e6);
}

void tide__debug_unjoined(tide__task_t *t) {
    fprintf(stderr,
            "tide debug: task %llu%s%s%s (spawned at %s:%u) failed with %d (%s) and nobody "
            "joined it\n",
            (unsigned long long)atomic_load_explicit(&t->id, MO_RELAXED), t->name[0] ? " '" : "",
            t->name, t->name[0] ? "'" : "", t->spawn_file ? t->spawn_file : "?",
            t->spawn_line, t->status, tide_strerror(t->status));
}
