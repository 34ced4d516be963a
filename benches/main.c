/* tide-bench: command line, warm-up and repetitions, medians, JSON lines or a table.
 *
 *   tide-bench [WORKLOAD ...] [--impl tide|threads|pool] [--workers N] [--reps R] [--json]
 *              [--quick]
 *
 * stdout carries results only (with --json exactly one line per workload); progress and
 * diagnostics go to stderr. Exit status: 0, 1 if a workload failed its own check, 2 for a
 * bad command line. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define MAX_REPS 1000

typedef struct options {
    const bench_impl_t *impl; /* --impl */
    bool selected[W_COUNT];   /* workloads named on the command line ... */
    bool any_selected;        /* ... if none, all of them */
    unsigned reps;            /* --reps: timed repetitions after the warm-up */
    bool json;                /* --json: one line per workload instead of a table */
    bool quick;               /* --quick: the small sizes */
    bench_cfg_t cfg;          /* what the implementations see */
} options_t;

/* The figures of one workload: medians over the repetitions, or why there are none. */
typedef struct outcome {
    bench_status_t status; /* OK, or why there are no figures */
    double seconds;        /* median */
    double min, max;       /* spread, for the table */
    double bytes_per_task; /* median; idle_many only */
    double p99_us, max_us; /* medians; hol_echo only */
    double round_trips;    /* median; hol_echo only */
    char reason[256];      /* skipped or failed: why */
} outcome_t;

static void usage(FILE *f) {
    fprintf(f,
            "usage: tide-bench [WORKLOAD ...] [--impl tide|threads|pool] [--workers N] "
            "[--reps R] [--json] [--quick]\n"
            "workloads:");
    for (int w = 0; w < W_COUNT; w++) fprintf(f, " %s", bench_workload_name(w));
    fprintf(f, "\n");
}

static int parse_unsigned(const char *s, unsigned max, unsigned *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > max) return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

static int parse_args(int argc, char **argv, options_t *o) {
    memset(o, 0, sizeof *o);
    o->impl = &bench_impl_tide;
    o->reps = 5;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    o->cfg.workers = cpus > 0 ? (unsigned)cpus : 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        if (!strcmp(a, "--impl") || !strcmp(a, "--workers") || !strcmp(a, "--reps")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tide-bench: %s needs a value\n", a);
                return -EINVAL;
            }
            val = argv[++i];
        }
        if (!strcmp(a, "--impl")) {
            if (!strcmp(val, "tide")) o->impl = &bench_impl_tide;
            else if (!strcmp(val, "threads")) o->impl = &bench_impl_threads;
            else if (!strcmp(val, "pool")) o->impl = &bench_impl_pool;
            else {
                fprintf(stderr, "tide-bench: unknown implementation '%s'\n", val);
                return -EINVAL;
            }
        } else if (!strcmp(a, "--workers")) {
            if (parse_unsigned(val, 1024, &o->cfg.workers) < 0) {
                fprintf(stderr, "tide-bench: --workers wants 1..1024, not '%s'\n", val);
                return -EINVAL;
            }
        } else if (!strcmp(a, "--reps")) {
            if (parse_unsigned(val, MAX_REPS, &o->reps) < 0) {
                fprintf(stderr, "tide-bench: --reps wants 1..%d, not '%s'\n", MAX_REPS, val);
                return -EINVAL;
            }
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--quick")) {
            o->quick = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else {
            int w = bench_workload_find(a);
            if (w < 0) {
                fprintf(stderr, "tide-bench: unknown workload or option '%s'\n", a);
                return -EINVAL;
            }
            o->selected[w] = true;
            o->any_selected = true;
        }
    }
    if (o->quick) bench_sizes_quick(&o->cfg.sizes);
    else bench_sizes_full(&o->cfg.sizes);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, unsigned n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Warm-up, then o->reps timed repetitions on one env (one runtime for tide). */
static void run_workload(const options_t *o, bench_workload_t w, outcome_t *res) {
    const bench_impl_t *impl = o->impl;
    const char *name = bench_workload_name(w);
    memset(res, 0, sizeof *res);
    char buf[256];
    const char *why = impl->skip(w, &o->cfg, buf, sizeof buf);
    if (why) {
        res->status = BENCH_SKIPPED;
        snprintf(res->reason, sizeof res->reason, "%s", why);
        bench_progress("%s (%s): skipped: %s", name, impl->name, why);
        return;
    }
    void *env = NULL;
    int r = impl->open(&env, w, &o->cfg, res->reason, sizeof res->reason);
    if (r < 0) {
        res->status = BENCH_FAILED;
        bench_progress("%s (%s): FAILED to start: %s", name, impl->name, res->reason);
        return;
    }
    double secs[MAX_REPS], bytes[MAX_REPS], p99[MAX_REPS], max[MAX_REPS], trips[MAX_REPS];
    for (unsigned rep = 0; rep <= o->reps; rep++) {
        bench_sample_t s;
        memset(&s, 0, sizeof s);
        bench_status_t st = impl->run(env, w, &o->cfg, rep, &s);
        if (st != BENCH_OK) {
            res->status = st;
            snprintf(res->reason, sizeof res->reason, "%s", s.reason);
            bench_progress("%s (%s): %s: %s", name, impl->name,
                           st == BENCH_SKIPPED ? "skipped" : "FAILED", s.reason);
            break;
        }
        if (rep == 0) {
            bench_progress("%s (%s): warm-up %.3f ms", name, impl->name, s.seconds * 1e3);
            continue;
        }
        secs[rep - 1] = s.seconds;
        bytes[rep - 1] = s.bytes_per_task;
        p99[rep - 1] = s.p99_us;
        max[rep - 1] = s.max_us;
        trips[rep - 1] = s.round_trips;
        bench_progress("%s (%s): rep %u/%u %.3f ms", name, impl->name, rep, o->reps,
                       s.seconds * 1e3);
    }
    impl->close(env, w);
    if (res->status != BENCH_OK) return;
    res->seconds = median(secs, o->reps);
    res->min = secs[0];
    res->max = secs[o->reps - 1];
    res->bytes_per_task = median(bytes, o->reps);
    /* hol_echo: the worst repetition (the longest round trip), not a median: a stall that
     * happens one time in three is a stall. */
    unsigned worst = 0;
    for (unsigned i = 1; i < o->reps; i++)
        if (max[i] > max[worst]) worst = i;
    res->p99_us = p99[worst];
    res->max_us = max[worst];
    res->round_trips = trips[worst];
}

/* A JSON string literal of s (the reasons are ours, but may quote strerror text). */
static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void print_json(const options_t *o, bench_workload_t w, const outcome_t *res) {
    const char *impl = o->impl->name, *name = bench_workload_name(w);
    if (res->status == BENCH_SKIPPED) {
        printf("{\"impl\":\"%s\",\"workload\":\"%s\",\"skipped\":", impl, name);
        json_string(stdout, res->reason);
        printf("}\n");
    } else if (res->status == BENCH_FAILED) {
        printf("{\"impl\":\"%s\",\"workload\":\"%s\",\"error\":", impl, name);
        json_string(stdout, res->reason);
        printf("}\n");
    } else if (w == W_HOL_ECHO) {
        printf("{\"impl\":\"%s\",\"workload\":\"%s\",\"workers\":%d,\"seconds\":%.6f,"
               "\"round_trips\":%.0f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
               impl, name, BENCH_HOL_WORKERS, res->seconds, res->round_trips, res->p99_us,
               res->max_us);
    } else {
        uint64_t ops = bench_ops(w, &o->cfg.sizes);
        printf("{\"impl\":\"%s\",\"workload\":\"%s\",\"workers\":%u,\"ops\":%llu,"
               "\"seconds\":%.6f,\"ns_per_op\":%.1f",
               impl, name, o->cfg.workers, (unsigned long long)ops, res->seconds,
               res->seconds * 1e9 / (double)ops);
        if (w == W_IDLE_MANY) printf(",\"bytes_per_task\":%.1f", res->bytes_per_task);
        printf("}\n");
    }
    fflush(stdout);
}

static void print_table_head(const options_t *o) {
    printf("tide-bench: impl %s, %u workers, %s sizes, median of %u reps after a warm-up\n\n",
           o->impl->name, o->cfg.workers, o->quick ? "quick" : "full", o->reps);
    printf("%-14s %10s %12s %12s %21s %10s\n", "workload", "ops", "median ms", "ns/op",
           "spread (min-max ms)", "bytes/task");
    fflush(stdout);
}

static void print_table_row(const options_t *o, bench_workload_t w, const outcome_t *res) {
    const char *name = bench_workload_name(w);
    if (res->status != BENCH_OK) {
        printf("%-14s %s: %s\n", name, res->status == BENCH_SKIPPED ? "skipped" : "FAILED",
               res->reason);
    } else if (w == W_HOL_ECHO) {
        printf("%-14s busy %.0f ms on %d workers: %.0f round trips, p99 %.1f us, max %.1f us\n",
               name, res->seconds * 1e3, BENCH_HOL_WORKERS, res->round_trips, res->p99_us,
               res->max_us);
    } else {
        uint64_t ops = bench_ops(w, &o->cfg.sizes);
        char spread[32], bytes[24] = "";
        snprintf(spread, sizeof spread, "%.2f-%.2f", res->min * 1e3, res->max * 1e3);
        if (w == W_IDLE_MANY) snprintf(bytes, sizeof bytes, "%.0f", res->bytes_per_task);
        printf("%-14s %10llu %12.2f %12.1f %21s %10s\n", name, (unsigned long long)ops,
               res->seconds * 1e3, res->seconds * 1e9 / (double)ops, spread, bytes);
    }
    fflush(stdout);
}

int main(int argc, char **argv) {
    options_t o;
    if (parse_args(argc, argv, &o) < 0) {
        usage(stderr);
        return 2;
    }
    if (!o.json) print_table_head(&o);
    int failed = 0;
    for (int w = 0; w < W_COUNT; w++) {
        if (o.any_selected && !o.selected[w]) continue;
        outcome_t res;
        run_workload(&o, (bench_workload_t)w, &res);
        if (res.status == BENCH_FAILED) failed++;
        if (o.json) print_json(&o, (bench_workload_t)w, &res);
        else print_table_row(&o, (bench_workload_t)w, &res);
    }
    if (failed) bench_progress("%d workload(s) FAILED", failed);
    return failed ? 1 : 0;
}
