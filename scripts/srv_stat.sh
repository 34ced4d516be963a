#!/usr/bin/env bash
# Per-request cost of HTTP hello servers, measured with counters that the machine's noise moves
# far less than it moves times: `perf stat` on the server process during a wrk run, divided by
# wrk's request count. The servers alternate in every round (so they share the machine's load
# evenly); each line is one run, then the median and range of each figure per server and connection count.
#
#   scripts/srv_stat.sh ROUNDS CONNS "LABEL=COMMAND" ["LABEL=COMMAND" ...]
#
# COMMAND is started as `COMMAND PORT WORKERS`, e.g. base=build/base/http_hello,
# new=build/rel/examples/http_hello, "tokio=build/peers/tide-peer-tokio http". CONNS is a
# comma-separated list (1,100,1000). WORKERS (2), DURATION (4 s), PORT (18090), EVENTS (the perf
# events: task-clock, context-switches, cpu-migrations, every syscall, and epoll_wait, futex,
# epoll_ctl separately) from the environment. Per request: task-clock in us, the rest as counts.
# Needs perf with tracepoint access (root, or kernel.perf_event_paranoid <= 1) and wrk.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/serverlib.sh"

server_args srv_stat "$@"
WORKERS=${WORKERS:-2}
DURATION=${DURATION:-4}
PORT=${PORT:-18090}
EVENTS=${EVENTS:-task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_ctl}
need_perf srv_stat

out=$(mktemp)
srv=
trap 'rm -f "$out" "$out.perf"; stop_server' EXIT

run_one() { # label command conns round
    local label=$1 cmd=$2 c=$3 r=$4
    start_server "$cmd"
    perf stat -x, -e "$EVENTS" -p "$srv" -o "$out.perf" &
    local ps=$!
    sleep 0.2
    local w
    w=$(wrk -t1 -c"$c" -d"${DURATION}s" "http://127.0.0.1:$PORT/" 2>&1)
    kill -INT "$ps" 2>/dev/null || true
    wait "$ps" 2>/dev/null || true
    stop_server
    local reqs rps
    reqs=$(awk '/requests in/ {print $1}' <<<"$w")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$w")
    if [ -z "$reqs" ] || [ "$reqs" -eq 0 ]; then
        echo "srv_stat: $label -c$c round $r: no requests" >&2
        return
    fi
    # perf -x, lines: value,unit,event,...; task-clock is in ms.
    local line
    line=$(awk -F, -v n="$reqs" '
        /^#/ || NF < 3 { next }
        { v = $1; e = $3; sub(/^syscalls:sys_enter_/, "", e); sub(/^raw_syscalls:sys_enter/, "syscalls", e)
          if (e == "task-clock") printf " cpu_us=%.2f", v * 1000 / n
          else printf " %s=%.4f", e, v / n }' "$out.perf")
    printf '%-8s c%-5s r%s %9.0f req/s%s\n' "$label" "$c" "$r" "$rps" "$line"
    echo "$label $c rps=$rps$line" >>"$out"
}

alternate_servers "$ROUNDS"

echo "--- medians (ranges) over $ROUNDS rounds, per request (machine load: $(cut -d' ' -f1-3 /proc/loadavg))"
print_ranges "$out"
