#!/usr/bin/env bash
# A/B of two HTTP hello servers under wrk, alternating them in every round (the machine is
# noisy: compare only figures from the same session). Prints one line per wrk run: requests/s,
# p99 latency, and the server's CPU time (user + system, all threads, from /proc/PID/stat)
# per request, then the range of each over the rounds.
#
#   scripts/ab_http.sh "A command" "B command" [ROUNDS] [CONNS...]
#
# A command is a server started as `A command PORT`, e.g. "build/base/examples/http_hello" or
# "env TIDE_SPIN_NS=-1 build/rel/examples/http_hello" (env execs, so the PID is the server's).
# Defaults: 3 rounds, connections 1 100 1000. WORKERS (default 2), DURATION (default 5 s) and
# PORT (default 18080) from the environment.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/serverlib.sh"

A=${1:?usage: ab_http.sh "A command" "B command" [ROUNDS] [CONNS...]}
B=${2:?usage: ab_http.sh "A command" "B command" [ROUNDS] [CONNS...]}
ROUNDS=${3:-3}
shift $(($# < 3 ? $# : 3))
CONNS=("$@")
[ ${#CONNS[@]} -eq 0 ] && CONNS=(1 100 1000)
WORKERS=${WORKERS:-2}
DURATION=${DURATION:-5}
PORT=${PORT:-18080}
TICK=$(getconf CLK_TCK)
need_wrk ab_http

out=$(mktemp)
trap 'rm -f "$out"; stop_server' EXIT

cpu_ticks() { # user + system clock ticks of a process, all its threads
    awk '{print $14 + $15}' "/proc/$1/stat"
}

run_one() { # label command conns round
    local label=$1 cmd=$2 c=$3 r=$4
    start_server "$cmd"
    local t0 w
    t0=$(cpu_ticks "$srv")
    w=$(wrk -t1 -c"$c" -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/" 2>&1)
    local t1
    t1=$(cpu_ticks "$srv")
    stop_server
    local reqs rps p99
    reqs=$(awk '/requests in/ {print $1}' <<<"$w")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$w")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$w")
    if [ -z "$reqs" ] || [ "$reqs" -eq 0 ]; then
        echo "ab_http: $label -c$c round $r: no requests" >&2
        return
    fi
    local us
    us=$(awk -v t="$((t1 - t0))" -v hz="$TICK" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
    printf '%-2s c%-5s round %s  %10.0f req/s  p99 %-9s  %6s us CPU/req\n' "$label" "$c" "$r" "$rps" "$p99" "$us"
    echo "$label $c $rps $p99 $us" >>"$out"
}

for r in $(seq "$ROUNDS"); do
    for c in "${CONNS[@]}"; do
        # Alternate which goes first, so neither always runs right after the other.
        if [ $((r % 2)) -eq 1 ]; then
            run_one A "$A" "$c" "$r"; run_one B "$B" "$c" "$r"
        else
            run_one B "$B" "$c" "$r"; run_one A "$A" "$c" "$r"
        fi
    done
done

echo "--- ranges over $ROUNDS rounds (A: $A, B: $B)"
for c in "${CONNS[@]}"; do
    for label in A B; do
        awk -v l="$label" -v c="$c" '
            function ms(s) { if (s ~ /us$/) return s / 1000; if (s ~ /ms$/) return s + 0; return s * 1000 }
            $1 == l && $2 == c {
                n++; r = $3; p = ms($4); u = $5
                if (n == 1 || r < rmin) rmin = r; if (n == 1 || r > rmax) rmax = r
                if (n == 1 || p < pmin) pmin = p; if (n == 1 || p > pmax) pmax = p
                if (n == 1 || u < umin) umin = u; if (n == 1 || u > umax) umax = u
            }
            END { if (n) printf "%s c%-5s %7.0f-%7.0f req/s  p99 %.3f-%.3f ms  %.2f-%.2f us CPU/req\n", l, c, rmin, rmax, pmin, pmax, umin, umax }' "$out"
    done
done
