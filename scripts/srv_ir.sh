#!/usr/bin/env bash
# User-space instructions per request of an HTTP hello server, counted by valgrind's callgrind
# (this machine's VM has no hardware counters, and instruction counts do not move with the
# machine's load the way times do). The server runs under callgrind (one thread at a time, so
# the scheduling differs from a native run: compare builds with each other, not with native
# figures); counting is switched on only while wrk runs, then the totals are divided by wrk's
# request count. Prints "LABEL Ir/req N" and, with TOP=N, the N costliest functions.
#
#   scripts/srv_ir.sh LABEL "COMMAND" [CONNS] [SECONDS]
#
# COMMAND is started as `COMMAND PORT WORKERS` (leading NAME=VALUE words set its environment) (WORKERS, default 2, and PORT, default 18095,
# from the environment), e.g. scripts/srv_ir.sh base build/base/http_hello 100 5.
set -euo pipefail
label=${1:?usage: srv_ir.sh LABEL COMMAND [CONNS] [SECONDS]}
cmd=${2:?usage: srv_ir.sh LABEL COMMAND [CONNS] [SECONDS]}
conns=${3:-100}
secs=${4:-5}
port=${PORT:-18095}
workers=${WORKERS:-2}
command -v valgrind >/dev/null || { echo "srv_ir: valgrind missing" >&2; exit 1; }
dir=$(mktemp -d)
srv=
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$dir"' EXIT
# Leading NAME=VALUE words of the command go to the environment (valgrind follows no exec).
read -r -a words <<<"$cmd"
envs=()
while [[ ${words[0]} == *=* ]]; do envs+=("${words[0]}"); words=("${words[@]:1}"); done
env "${envs[@]}" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/cg.out" \
    "${words[@]}" "$port" "$workers" >/dev/null 2>"$dir/vg.err" &
srv=$!
for _ in $(seq 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
# /usr/bin/valgrind is a script that runs valgrind.bin as its child: talk to that.
vg=$(pgrep -P "$srv" valgrind || echo "$srv")
callgrind_control -i on "$vg" >/dev/null 2>&1
w=$(wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port/" 2>&1)
callgrind_control -i off "$vg" >/dev/null 2>&1
kill -INT "$vg"
wait "$srv" 2>/dev/null || true
srv=
reqs=$(awk '/requests in/ {print $1}' <<<"$w")
ir=$(callgrind_annotate "$dir"/cg.out* 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { echo "srv_ir: no requests" >&2; exit 1; }
awk -v l="$label" -v ir="$ir" -v n="$reqs" 'BEGIN {printf "%s Ir/req %.0f (%d requests)\n", l, ir / n, n}'
if [ -n "${TOP:-}" ]; then
    callgrind_annotate --inclusive=no "$dir"/cg.out* 2>/dev/null | sed -n '/^Ir/,$p' | head -n $((TOP + 3)) |
        awk -v n="$reqs" 'NR > 2 && $1 ~ /[0-9]/ {v = $1; gsub(",", "", v); printf "%8.1f  %s\n", v / n, $0; next} {print}'  || true
fi
