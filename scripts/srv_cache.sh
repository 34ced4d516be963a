#!/usr/bin/env bash
# Data-cache footprint per request of an HTTP hello server, without hardware counters: the
# server runs under callgrind's cache simulator (--cache-sim=yes: this CPU's D1 and LL
# geometry, ONE cache for all threads, user space only: the kernel's own accesses and the lines
# it evicts are not simulated), counting only while wrk runs; the totals are divided by wrk's
# request count. Prints "LABEL Ir/req D1mr/req D1mw/req DLmr/req DLmw/req" and, with TOP=N, the
# N functions with the most D1 read misses per request (a miss at a function's closing brace is
# its epilogue reloading a stack frame the wait evicted). Compare servers with each other, not
# with native figures (valgrind runs one thread at a time).
#
#   scripts/srv_cache.sh LABEL "COMMAND" [CONNS] [SECONDS]
#
# COMMAND is started as `COMMAND PORT WORKERS` (WORKERS, default 2, and PORT, default 18096,
# from the environment), e.g. scripts/srv_cache.sh tide build/rel/examples/http_hello 1000 4 or
# scripts/srv_cache.sh tokio "build/peers/tide-peer-tokio http" 1000 4. The server is dumped
# (callgrind_control -d) and killed, not stopped with a signal: tokio's peer does not exit on
# SIGINT under valgrind. KEEP=FILE keeps the callgrind output for callgrind_annotate.
set -euo pipefail
label=${1:?usage: srv_cache.sh LABEL COMMAND [CONNS] [SECONDS]}
cmd=${2:?usage: srv_cache.sh LABEL COMMAND [CONNS] [SECONDS]}
conns=${3:-100}
secs=${4:-4}
port=${PORT:-18096}
workers=${WORKERS:-2}
command -v valgrind >/dev/null || { echo "srv_cache: valgrind missing" >&2; exit 1; }
command -v wrk >/dev/null || { echo "srv_cache: wrk missing" >&2; exit 1; }
dir=$(mktemp -d)
srv=
vg=
cleanup() {
    [ -n "$vg" ] && kill -KILL "$vg" 2>/dev/null
    [ -n "$srv" ] && kill -KILL "$srv" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
read -r -a words <<<"$cmd"
valgrind --tool=callgrind --cache-sim=yes --instr-atstart=no \
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
sleep 1
kill -KILL "$vg" 2>/dev/null || true
wait "$srv" 2>/dev/null || true
srv=
vg=
out="$dir/cg.out.1"
[ -s "$out" ] || { echo "srv_cache: no callgrind dump" >&2; exit 1; }
reqs=$(awk '/requests in/ {print $1}' <<<"$w")
[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { echo "srv_cache: no requests" >&2; exit 1; }
if [ -n "${KEEP:-}" ]; then cp "$out" "$KEEP"; fi
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
