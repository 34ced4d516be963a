#!/usr/bin/env bash
# Data-cache footprint per request of an HTTP hello server, without hardware counters:
# scripts/srv_ir.sh's CACHE=1 mode (callgrind's cache simulator; see there).
#
#   scripts/srv_cache.sh LABEL "COMMAND" [CONNS] [SECONDS]
#
# e.g. scripts/srv_cache.sh tide build/rel/examples/http_hello 1000 4, or
# scripts/srv_cache.sh tokio "build/release/peers/tide-peer-tokio http" 1000 4 (PORT defaults to
# 18096, SECONDS to 4; TOP=N and KEEP=FILE as in srv_ir.sh).
set -euo pipefail
export CACHE=1 PORT=${PORT:-18096}
exec "$(dirname "$0")/srv_ir.sh" "${1:?usage: srv_cache.sh LABEL COMMAND [CONNS] [SECONDS]}" "${2:?usage: srv_cache.sh LABEL COMMAND [CONNS] [SECONDS]}" "${3:-100}" "${4:-4}"
