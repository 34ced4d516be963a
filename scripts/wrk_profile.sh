#!/usr/bin/env bash
# Where wrk's own CPU goes while it drives each HTTP hello server: wrk's one thread is the
# bottleneck of the HTTP benchmark on a 2-CPU machine (docs/benchmarks.md), so a server can
# only win by what it makes wrk's work per request cost. Samples wrk (perf record -e
# cpu-clock -g, WINDOW seconds in the middle of a wrk run) and prints, per server, the TOP
# functions by self time (kernel ones marked [k]), then the inclusive share of the kernel
# paths that a server's behaviour can move (loopback delivery into the server's socket runs
# in wrk's write; waking a server thread costs wrk try_to_wake_up).
#
#   scripts/wrk_profile.sh CONNS "LABEL=COMMAND" ["LABEL=COMMAND" ...]
#
# COMMAND is started as `COMMAND PORT WORKERS` (as in srv_stat.sh). WORKERS (2), DURATION
# (6 s), WINDOW (3 s), TOP (20), PORT (18089) from the environment. Sampling slows wrk, so
# the requests/s printed are not the server's figures; compare shares, not rates.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/serverlib.sh"

CONN=${1:?usage: wrk_profile.sh CONNS LABEL=COMMAND...}
shift
WORKERS=${WORKERS:-2}
DURATION=${DURATION:-6}
WINDOW=${WINDOW:-3}
TOP=${TOP:-20}
PORT=${PORT:-18089}
PATHS=(net_rx_action tcp_v4_rcv tcp_rcv_established sock_def_readable ep_poll_callback
    try_to_wake_up tcp_sendmsg tcp_recvmsg do_epoll_wait do_epoll_ctl schedule)
need_wrk wrk_profile
need_perf wrk_profile

tmp=$(mktemp -d)
srv=''
trap 'rm -rf "$tmp"; stop_server' EXIT

for s in "$@"; do
    label=${s%%=*}
    start_server "${s#*=}"
    wrk -t1 -c"$CONN" -d"${DURATION}s" "http://127.0.0.1:$PORT/" >"$tmp/wrk" 2>&1 &
    wpid=$!
    sleep 1
    perf record -q -e cpu-clock -g -p "$wpid" -o "$tmp/$label.data" -- sleep "$WINDOW" 2>/dev/null
    wait "$wpid" || true
    stop_server
    echo "== $label -c$CONN ($(awk '/Requests\/sec/ {print $2}' "$tmp/wrk") req/s while sampled)"
    perf report -i "$tmp/$label.data" --no-children --stdio --sort sym -g none 2>/dev/null |
        awk -v top="$TOP" '/^ +[0-9.]+%/ && n < top { $1 = $1; print "   " $0; n++ }'
    printf '   inclusive:'
    perf report -i "$tmp/$label.data" --children --stdio --sort sym -g none 2>/dev/null >"$tmp/children"
    for p in "${PATHS[@]}"; do
        awk -v p="$p" '$NF == p || $NF ~ "^" p "\\." { printf " %s %s", p, $1; found = 1; exit }
            END { if (!found) printf " %s -", p }' "$tmp/children"
    done
    echo
done
