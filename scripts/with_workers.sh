#!/usr/bin/env bash
# Run a server command with another worker count than the A/B server scripts pass: they start
# every server as `COMMAND PORT WORKERS`; this runs `COMMAND PORT N` instead, so one run can
# alternate the same server at two worker counts, e.g.
#   scripts/srv_machine.sh 6 1000,100 two=build/release/examples/http_hello \
#     "one=scripts/with_workers.sh 1 build/release/examples/http_hello"
#
#   scripts/with_workers.sh N COMMAND... PORT WORKERS
set -euo pipefail
n=${1:?usage: with_workers.sh N COMMAND... PORT WORKERS}
shift
[ $# -ge 3 ] || { echo "usage: with_workers.sh N COMMAND... PORT WORKERS" >&2; exit 2; }
args=("$@")
exec "${args[@]:0:$#-1}" "$n"
