#!/usr/bin/env bash
# What the kernel's TCP stack did per request while wrk drove each HTTP hello server: the
# deltas of the kernel's SNMP counters (nstat) over one wrk run, divided by wrk's request
# count. Tells whether servers differ in segments, pure ACKs, delayed ACKs, slow-path
# receives, backlog queueing or retransmits (on loopback each segment costs the sender a
# delivery into the receiver's socket), or only in what the same work costs.
#
#   scripts/srv_tcpstat.sh ROUNDS CONNS "LABEL=COMMAND" ["LABEL=COMMAND" ...]
#
# COMMAND is started as `COMMAND PORT WORKERS` (as in srv_stat.sh). Counters that moved by
# less than MIN (0.001) per request are left out. WORKERS (2), DURATION (4 s), PORT (18091)
# from the environment. Needs nstat (iproute2) and wrk; other traffic on the machine counts too.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/serverlib.sh"

server_args srv_tcpstat "$@"
WORKERS=${WORKERS:-2}
DURATION=${DURATION:-4}
PORT=${PORT:-18091}
MIN=${MIN:-0.001}
command -v nstat >/dev/null || { echo "srv_tcpstat: nstat not installed (iproute2)" >&2; exit 1; }

hist=$(mktemp)
srv=
trap 'rm -f "$hist"; stop_server' EXIT
export NSTAT_HISTORY=$hist # our own history file: other nstat users keep theirs

run_one() { # label command conns round
    local label=$1 cmd=$2 c=$3 r=$4 w reqs rps
    start_server "$cmd"
    nstat -n >/dev/null
    w=$(wrk -t1 -c"$c" -d"${DURATION}s" "http://127.0.0.1:$PORT/" 2>&1)
    stop_server
    reqs=$(awk '/requests in/ {print $1}' <<<"$w")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$w")
    if [ -z "$reqs" ] || [ "$reqs" -eq 0 ]; then
        echo "srv_tcpstat: $label -c$c round $r: no requests" >&2
        return
    fi
    printf '%-8s c%-5s r%s %9.0f req/s\n' "$label" "$c" "$r" "$rps"
    nstat 2>/dev/null | awk -v n="$reqs" -v min="$MIN" '
        NR > 1 && $2 / n >= min { printf "    %-30s %9.4f\n", $1, $2 / n }'
}

alternate_servers "$ROUNDS"
