#!/usr/bin/env bash
# Where an HTTP server's threads run beside wrk, from the scheduler's own record: on two CPUs
# shared by wrk and the server, a server thread on wrk's CPU takes time from the benchmark's
# bottleneck (wrk's one thread), while the server's other CPU may sit idle. Per run, over a
# WINDOW-second `perf sched record` in the middle of the wrk run (wrk's CPU being the one it
# runs on at each instant: it moves now and then), per second:
#   rps              wrk's requests/s over the whole run
#   on_wrk_ms        milliseconds the server's threads ran on wrk's CPU
#   on_wrk_runs      times a server thread was switched in on wrk's CPU
#   own_idle_ms      milliseconds the other CPU (the server's) was idle
#   wrk_ms           milliseconds wrk ran (1000: it never waited)
#   wrk_runs         times wrk was switched in (a wrk that keeps its CPU has few)
#   wrk_moves        times wrk moved to the other CPU
# then, per server and connection count, the median and range of each over the rounds.
#
#   scripts/srv_sched.sh ROUNDS CONNS "LABEL=COMMAND" ["LABEL=COMMAND" ...]
#
# COMMAND is started as `COMMAND PORT WORKERS` (as in srv_machine.sh), e.g.
#   scripts/srv_sched.sh 3 1000 tide=build/release/examples/http_hello \
#     "one=scripts/with_workers.sh 1 build/release/examples/http_hello" \
#     epoll=build/release/benches/tide-peer-epoll
# WORKERS (2), DURATION (6 s), WINDOW (2 s, starting 2.5 s into the run), PORT (18094) from
# the environment. Needs perf (linux-perf) and root, or kernel.perf_event_paranoid <= -1.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/serverlib.sh"
WORKERS=${WORKERS:-2} DURATION=${DURATION:-6} WINDOW=${WINDOW:-2} PORT=${PORT:-18094}
server_args srv_sched "$@"
need_perf srv_sched
tmp=$(mktemp -d)
srv=
trap 'stop_server; rm -rf "$tmp"' EXIT

# timehist's slices (lines: time [cpu] comm[tid/pid] wait delay run, in ms) -> the run's line.
# A slice is the interval [time - run, time] on its CPU; wrk's CPU at an instant is the CPU of
# the wrk slice around it, else of wrk's last slice before it.
SLICES='
import bisect, sys
label, conns, rps, srv, win = sys.argv[1:6]
win = float(win)
wrk, other = [], []
first = None  # the window opens at the first event: slices that began before it are clipped
for line in sys.stdin:
    f = line.split()
    if len(f) < 6 or not f[1].startswith("["):
        continue
    try:
        end, cpu, run = float(f[0]), int(f[1].strip("[]")), float(f[-1]) / 1e3
    except ValueError:
        continue
    if first is None:
        first = end
    begin, comm = max(end - run, first), f[2]
    if comm.startswith("wrk["):
        wrk.append((begin, end, cpu))
    elif comm.endswith("/" + srv + "]") or comm.endswith("[" + srv + "]"):
        other.append(("srv", begin, end, cpu))
    elif comm.startswith("<idle>"):
        other.append(("idle", begin, end, cpu))
wrk.sort()
starts = [w[0] for w in wrk]
def wrk_cpu(t):
    i = bisect.bisect_right(starts, t) - 1
    return wrk[i][2] if i >= 0 else (wrk[0][2] if wrk else 0)
on_ms = on_n = idle_ms = 0.0
for kind, a, b, cpu in other:
    mine = wrk_cpu((a + b) / 2) == cpu
    if kind == "srv" and mine:
        on_ms += (b - a) * 1e3
        on_n += 1
    elif kind == "idle" and not mine:
        idle_ms += (b - a) * 1e3
moves = sum(1 for x, y in zip(wrk, wrk[1:]) if x[2] != y[2])
busy = sum(b - a for a, b, _ in wrk) * 1e3
print(f"{label} {conns} rps={rps} on_wrk_ms={on_ms / win:.1f} on_wrk_runs={on_n / win:.0f} "
      f"own_idle_ms={idle_ms / win:.1f} wrk_ms={busy / win:.0f} wrk_runs={len(wrk) / win:.0f} "
      f"wrk_moves={moves / win:.1f}")
'

# One run: LABEL COMMAND CONNS ROUND -> a `LABEL CONNS key=value...` line in $tmp/runs.
run_one() {
    local label=$1 cmd=$2 conns=$3 wrk_pid rps # $4, the round, is not needed
    start_server "$cmd"
    wrk -t1 -c"$conns" -d"${DURATION}s" "http://127.0.0.1:$PORT/" >"$tmp/wrk" 2>&1 &
    wrk_pid=$!
    sleep 2.5
    perf sched record -o "$tmp/sched.data" -- sleep "$WINDOW" >/dev/null 2>&1
    wait "$wrk_pid"
    rps=$(awk '/Requests\/sec/ { print $2 }' "$tmp/wrk")
    perf sched timehist -i "$tmp/sched.data" 2>/dev/null |
        python3 -c "$SLICES" "$label" "$conns" "$rps" "$srv" "$WINDOW" | tee -a "$tmp/runs"
    stop_server
    rm -f "$tmp/sched.data"
    sleep 1
}

alternate_servers "$ROUNDS"
echo "--- medians (ranges) over $ROUNDS rounds, per second of the window"
print_ranges "$tmp/runs"
