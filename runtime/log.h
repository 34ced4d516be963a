/* The runtime's log: leveled messages (warn, info, debug) about what the runtime does, off by
 * default. Writers use TIDE__LOG from tide/ext.h (so io/ and sync/ can log without including
 * runtime/): when every runtime's log is off it costs one predictable branch on a read-mostly
 * global, and the arguments are not evaluated. This header is what the runtime itself adds:
 * resolving the configured level and keeping the global in step with the live runtimes. */
#ifndef TIDE_RUNTIME_LOG_H
#define TIDE_RUNTIME_LOG_H

#include "tide/core.h"
#include "tide/ext.h"

/* Fill cfg->log_level from $TIDE_LOG when the config leaves it 0 (negative: off, whatever
 * the environment says); debug mode raises it to at least TIDE_LOG_WARN, since its reports
 * are warnings. */
void tide__log_resolve(tide_config_t *cfg);

/* Parse a level name ("warn", "info", "debug", "off"/"0"): the level, 0 for off, -1 unknown. */
int tide__log_parse(const char *s);

/* The global gate: the highest level of any live runtime (0 while none logs). Recomputed by
 * the runtime registry (debug.c) when a runtime starts or stops, under its lock. */
void tide__log_set_max(int level);

#endif
