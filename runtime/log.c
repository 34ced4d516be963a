/* The runtime's log (see log.h and tide/ext.h). A message is formatted once into a line on
 * the stack and handed whole to the runtime's callback, or written to stderr with a single
 * write(2), so lines from several threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "scheduler.h"

#define LINE_MAX_BYTES 1024

/* Written under the runtime registry's lock, read everywhere with one relaxed load. */
int tide__log_max;

static const char *level_name(int level) {
    switch (level) {
    case TIDE_LOG_WARN: return "warn";
    case TIDE_LOG_INFO: return "info";
    case TIDE_LOG_DEBUG: return "debug";
    default: return "?";
    }
}

int tide__log_parse(const char *s) {
    if (!s || !*s || strcmp(s, "0") == 0 || strcasecmp(s, "off") == 0 ||
        strcasecmp(s, "none") == 0)
        return 0;
    if (strcasecmp(s, "warn") == 0 || strcasecmp(s, "warning") == 0 || strcmp(s, "1") == 0)
        return TIDE_LOG_WARN;
    if (strcasecmp(s, "info") == 0 || strcmp(s, "2") == 0) return TIDE_LOG_INFO;
    if (strcasecmp(s, "debug") == 0 || strcmp(s, "3") == 0) return TIDE_LOG_DEBUG;
    return -1;
}

void tide__log_resolve(tide_config_t *cfg) {
    if (cfg->log_level == 0) {
        int l = tide__log_parse(getenv("TIDE_LOG"));
        cfg->log_level = l > 0 ? l : 0;
    } else if (cfg->log_level < 0) {
        cfg->log_level = 0;
    } else if (cfg->log_level > TIDE_LOG_DEBUG) {
        cfg->log_level = TIDE_LOG_DEBUG;
    }
    if (cfg->debug && cfg->log_level < TIDE_LOG_WARN) cfg->log_level = TIDE_LOG_WARN;
}

void tide__log_set_max(int level) {
    __atomic_store_n(&tide__log_max, level, __ATOMIC_RELAXED);
}

void tide__log(tide_runtime_t *rt, int level, const char *fmt, ...) {
    /* The gate let us in because some runtime logs at this level; this one may not. */
    if (rt && rt->cfg.log_level < level) return;
    char line[LINE_MAX_BYTES];
    int prefix = 0;
    if (!rt || !rt->cfg.log_fn) prefix = snprintf(line, sizeof line, "tide %s: ", level_name(level));
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + prefix, sizeof line - (size_t)prefix, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = (size_t)prefix + (size_t)n;
    if (len > sizeof line - 2) len = sizeof line - 2; /* truncated: keep room for "\n" */
    if (rt && rt->cfg.log_fn) {
        line[len] = 0;
        rt->cfg.log_fn(rt->cfg.log_arg, level, line);
        return;
    }
    line[len++] = '\n';
    ssize_t w = write(2, line, len); /* best effort: a log line is not worth an error */
    (void)w;
}
