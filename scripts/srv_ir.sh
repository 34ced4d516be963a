#!/usr/bin/env bash
# User-space instructions (and, with CACHE=1, simulated data-cache misses) per request of an
# HTTP hello server, counted by valgrind's callgrind (this machine's VM has no hardware
# counters, and instruction counts do not move with the machine's load the way times do). The
# server runs under callgrind (one thread at a time, so the scheduling differs from a native
# run: compare servers with each other, not with native figures); counting is switched on only
# while wrk runs, then the totals are divided by wrk's request count.
#
#   scripts/srv_ir.sh LABEL "COMMAND" [CONNS] [SECONDS]
#
# COMMAND is started as `COMMAND PORT WORKERS` (WORKERS, default 2, and PORT, default 18095,
# from the environment; leading NAME=VALUE words of COMMAND set its environment), e.g.
# scripts/srv_ir.sh base build/base/http_hello 100 5, or
# scripts/srv_ir.sh tokio "build/release/peers/tide-peer-tokio http" 1000 4.
# Prints "LABEL Ir/req N" and, with TOP=N, the N costliest functions.
# CACHE=1 (scripts/srv_cache.sh): --cache-sim=yes, this CPU's D1 and LL geometry, ONE cache for
# all threads, user space only (the kernel's own accesses and the lines it evicts are not
# simulated); prints "LABEL Ir/req D1mr/req D1mw/req DLmr/req DLmw/req" and, with TOP=N, the N
# functions with the most D1 read misses per request (a miss at a function's closing brace is
# its epilogue reloading a stack frame the wait evicted). KEEP=FILE keeps the callgrind output.
# The server is dumped (callgrind_control -d) and killed, not stopped with a signal: tokio's
# peer does not exit on SIGINT under valgrind.
set -euo pipefail
me=$(basename "$0" .sh)
label=${1:?usage: $me.sh LABEL COMMAND [CONNS] [SECONDS]}
cmd=${2:?usage: $me.sh LABEL COMMAND [CONNS] [SECONDS]}
conns=${3:-100}
secs=${4:-5}
port=${PORT:-18095}
workers=${WORKERS:-2}
cache=${CACHE:-0}
command -v valgrind >/dev/null || { echo "$me: valgrind missing" >&2; exit 1; }
command -v wrk >/dev/null || { echo "$me: wrk missing" >&2; exit 1; }
dir=$(mktemp -d)
srv=
vg=
cleanup() {
    [ -n "$vg" ] && kill -KILL "$vg" 2>/dev/null
    [ -n "$srv" ] && kill -KILL "$srv" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
# Leading NAME=VALUE words of the command go to the environment (valgrind follows no exec).
read -r -a words <<<"$cmd"
envs=()
while [[ ${words[0]} == *=* ]]; do envs+=("${words[0]}"); words=("${words[@]:1}"); done
sim=()
[ "$cache" = 1 ] && sim=(--cache-sim=yes)
env "${envs[@]}" valgrind --tool=callgrind "${sim[@]}" --instr-atstart=no \
    --callgrind-out-file="$dir/cg.out" "${words[@]}" "$port" "$workers" >/dev/null 2>"$dir/vg.err" &
srv=$!
for _ in $(seq 400); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
# /usr/bin/valgrind may be a script that runs valgrind.bin as its child: talk to that.
vg=$(pgrep -P "$srv" valgrind || echo "$srv")
callgrind_control -i on "$vg" >/dev/null 2>&1
w=$(wrk -t1 -c"$conns" -d"${secs}s" "http://127.0.0.1:$port/" 2>&1)
callgrind_control -i off "$vg" >/dev/null 2>&1
callgrind_control -d "$vg" >/dev/null 2>&1
# The dump is written asynchronously: wait for it (a loaded machine takes seconds).
for _ in $(seq 100); do
    [ -s "$dir/cg.out.1" ] && break
    sleep 0.1
done
sleep 0.5
kill -KILL "$vg" 2>/dev/null || true
wait "$srv" 2>/dev/null || true
srv=
vg=
out="$dir/cg.out.1" # the dump (cg.out itself stays empty: the server is killed)
[ -s "$out" ] || { echo "$me: no callgrind dump" >&2; exit 1; }
reqs=$(awk '/requests in/ {print $1}' <<<"$w")
[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { echo "$me: no requests" >&2; exit 1; }
if [ -n "${KEEP:-}" ]; then cp "$out" "$KEEP"; fi
if [ "$cache" != 1 ]; then
    ir=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
    awk -v l="$label" -v ir="$ir" -v n="$reqs" 'BEGIN {printf "%s Ir/req %.0f (%d requests)\n", l, ir / n, n}'
    if [ -n "${TOP:-}" ]; then
        callgrind_annotate --inclusive=no "$out" 2>/dev/null | sed -n '/^Ir/,$p' | head -n $((TOP + 3)) |
            awk -v n="$reqs" 'NR > 2 && $1 ~ /[0-9]/ {v = $1; gsub(",", "", v); printf "%8.1f  %s\n", v / n, $0; next} {print}' || true
    fi
    exit 0
fi
callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !d { print; d = 1 }' | sed 's/([^)]*)//g' |
    awk -v l="$label" -v n="$reqs" '{
        split("Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw", nm, " ")
        for (i = 1; i <= 9; i++) { v = $i; gsub(",", "", v); x[nm[i]] = v / n }
        printf "%s Ir/req %.0f D1mr/req %.2f D1mw/req %.2f DLmr/req %.2f DLmw/req %.2f (%d requests)\n",
               l, x["Ir"], x["D1mr"], x["D1mw"], x["DLmr"], x["DLmw"], n }'
if [ -n "${TOP:-}" ]; then
    callgrind_annotate --inclusive=no --show=D1mr,D1mw --sort=D1mr "$out" 2>/dev/null |
        sed 's/([^)]*)//g' | awk -v n="$reqs" '
            /file:function/ { go = 1; next }
            go && NF >= 3 && $3 ~ /:/ {
                d = $1; w = $2; gsub(",", "", d); gsub(",", "", w)
                printf "%7.2f %7.2f  %s\n", d / n, w / n, $3 }' | head -n "$TOP" || true
fi
