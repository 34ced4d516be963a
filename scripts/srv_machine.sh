#!/usr/bin/env bash
# Where the whole machine's time goes, per request, while wrk drives HTTP hello servers: wrk and
# the server share the CPUs, so a server's own CPU per request does not explain its requests/s.
# Per request, over a window in the middle of each wrk run (all figures divided by the requests
# answered in the window, from wrk's requests/s):
#   cpus_us   the machine's capacity (CPUs x window / requests): the sum of the next four
#   srv_us    the server's CPU (all threads; schedstat run time)     srv_sys_us its system part
#   wrk_us    wrk's CPU (all threads)                                wrk_sys_us its system part
#   other_us  busy CPU of anything else (/proc/stat non-idle - server - wrk: other processes,
#             ksoftirqd; this kernel has no IRQ_TIME_ACCOUNTING, so softirq work done in a
#             process's context is in that process's time)
#   ksirqd_us the ksoftirqd threads' CPU (part of other_us: softirq work the kernel deferred)
#   idle_us   idle + iowait (/proc/stat)       sirq_us  softirq time (part of the above)
#   srv_wait_us, wrk_wait_us  time runnable but waiting for a CPU (schedstat field 2, all threads)
#   srv_nvcs, wrk_nvcs        involuntary context switches (preempted); srv_vcs voluntary (slept)
#   srv_sc, wrk_sc            system calls;  srv_epw, wrk_epw  epoll_wait calls
#   srv_wakes, wrk_wakes      threads woken by this process (sched_waking in its context: wrk's
#                             writes wake sleeping server threads, and the server wakes wrk and
#                             its own workers); each costs the waker try_to_wake_up, often an IPI
#   srv_migr, wrk_migr        moves of a thread from one CPU to the other (its caches stay behind)
#   srv_rpw, wrk_rpw          reads (read + recvfrom) per epoll_wait call: how many ready sockets
#                             one wait returns, near enough (wrk reads each ready socket once)
# then a line per server thread (in TID order; name, CPU, run-queue wait, involuntary switches
# per request), and at the end the median and range of each figure per server and connection count.
#
#   scripts/srv_machine.sh ROUNDS CONNS "LABEL=COMMAND" ["LABEL=COMMAND" ...]
#
# COMMAND is started as `COMMAND PORT WORKERS` (as in srv_stat.sh), e.g.
#   scripts/srv_machine.sh 3 100,1000 tide=build/rel/examples/http_hello \
#     "tokio=/work/main/build/release/peers/tide-peer-tokio http" \
#     epoll=/work/main/build/release/benches/tide-peer-epoll
# WORKERS (2), DURATION (5 s: the window from 0.8 s after wrk starts
# to 0.8 s before it ends), PORT (18092) from the
# environment; NICE=N runs the server and wrk at that nice level (e.g. -10 as root: on a machine
# shared with other work, they then get most of the CPUs, and their relative scheduling is
# unchanged, all being at one level); PERF=0 skips the system call counts (perf stat on both processes: tracepoints
# add a little to every system call, the same for every server).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/serverlib.sh"

server_args srv_machine "$@"
WORKERS=${WORKERS:-2}
DURATION=${DURATION:-5}
PORT=${PORT:-18092}
PERF=${PERF:-1}
NICE=${NICE:-}
prio=()
[ -z "$NICE" ] || prio=(nice -n "$NICE")
EVENTS=cpu-migrations,sched:sched_waking,raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom
awk -v d="$DURATION" 'BEGIN {exit !(d >= 3)}' || { echo "srv_machine: DURATION must be 3 s or more" >&2; exit 1; }
[ "$PERF" = 0 ] || need_perf srv_machine "PERF=0 skips it"

tmp=$(mktemp -d)
srv='' wpid='' perfs=()
cleanup() {
    for p in "${perfs[@]}" $wpid $srv; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# One snapshot: the machine's /proc/stat cpu line, then a line per thread of each PID given:
# TAG TID COMM utime stime (ticks) run_ns wait_ns (schedstat) voluntary nonvoluntary switches.
snap() { # file tag=pid...
    local f=$1 tp tag pid d st sched comm k v vcs nvcs
    shift
    {
        head -n1 /proc/stat
        for tp in "$@"; do
            tag=${tp%%=*} pid=${tp#*=}
            for d in /proc/"$pid"/task/*; do
                { read -r st <"$d/stat" && read -r sched <"$d/schedstat" && read -r comm <"$d/comm"; } 2>/dev/null || continue
                vcs='' nvcs=''
                while read -r k v _; do
                    case $k in
                    voluntary_ctxt_switches:) vcs=$v ;;
                    nonvoluntary_ctxt_switches:) nvcs=$v ;;
                    esac
                done 2>/dev/null <"$d/status" || true
                [ -n "$nvcs" ] || continue # the thread ended meanwhile
                # Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
                read -r -a st <<<"${st##*) }"
                echo "$tag ${d##*/} ${comm// /_} ${st[11]} ${st[12]} $sched $vcs $nvcs"
            done
        done
    } >"$f"
}

run_one() { # label command conns round
    local label=$1 cmd=$2 c=$3 r=$4
    start_server "${prio[*]} $cmd"
    local start=$EPOCHREALTIME
    "${prio[@]}" wrk -t1 -c"$c" -d"${DURATION}s" "http://127.0.0.1:$PORT/" >"$tmp/wrk" 2>&1 &
    wpid=$!
    sleep 0.5 # connections made, caches warm
    perfs=()
    if [ "$PERF" != 0 ]; then
        perf stat -x, -e "$EVENTS" -p "$srv" -o "$tmp/perf.srv" 2>/dev/null &
        perfs+=($!)
        perf stat -x, -e "$EVENTS" -p "$wpid" -o "$tmp/perf.wrk" 2>/dev/null &
        perfs+=($!)
    fi
    sleep 0.3 # perf started
    local t0 t1
    t0=$EPOCHREALTIME
    local ks=()
    for p in $(pgrep '^ksoftirqd/'); do ks+=(ksirqd="$p"); done
    snap "$tmp/a" srv="$srv" wrk="$wpid" "${ks[@]}"
    # The window ends 0.8 s before wrk does, however long the steps above took.
    sleep "$(awk -v s="$start" -v n="$EPOCHREALTIME" -v d="$DURATION" 'BEGIN {print s + d - 0.8 - n}')"
    snap "$tmp/b" srv="$srv" wrk="$wpid" "${ks[@]}"
    t1=$EPOCHREALTIME
    for p in "${perfs[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${perfs[@]}"; do wait "$p" 2>/dev/null || true; done
    perfs=()
    wait "$wpid" 2>/dev/null || true
    wpid=
    stop_server
    local rps
    rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk")
    if [ -z "$rps" ]; then
        echo "srv_machine: $label -c$c round $r: no requests" >&2
        return
    fi
    python3 - "$label" "$c" "$r" "$rps" "$t0" "$t1" "$(nproc)" "$(getconf CLK_TCK)" "$tmp" <<'PY' | tee -a "$tmp/all.log"
import sys
label, conns, rnd, rps, t0, t1, ncpu, hz, tmp = sys.argv[1:]
rps, win, ncpu, hz = float(rps), float(t1) - float(t0), int(ncpu), int(hz)
n = rps * win  # requests answered in the window
def load(f):
    lines = open(f).read().split("\n")
    cpu = [int(x) for x in lines[0].split()[1:]]
    th = {}
    for l in lines[1:]:
        p = l.split()
        if len(p) == 10:  # else a thread that ended while it was read
            th[(p[0], p[1])] = [p[2]] + [int(x) for x in p[3:]]
    return cpu, th
(ca, ta), (cb, tb) = load(tmp + "/a"), load(tmp + "/b")
d = [b - a for a, b in zip(ca, cb)]  # user nice system idle iowait irq softirq steal ...
tick_us = 1e6 / hz
idle = (d[3] + d[4]) * tick_us
busy = (sum(d[:8]) - d[3] - d[4]) * tick_us
sirq = d[6] * tick_us
threads = {"srv": [], "wrk": [], "ksirqd": []}
for k, b in sorted(tb.items(), key=lambda kv: (kv[0][0], int(kv[0][1]))):
    a = ta.get(k, [b[0]] + [0] * (len(b) - 1))
    # utime stime run_ns wait_ns slices vcs nvcs
    threads[k[0]].append([b[0]] + [y - x for x, y in zip(a[1:], b[1:])])
def tot(tag, i):
    return sum(t[i] for t in threads[tag])
def perf(tag):
    c = {}
    try:
        for l in open(f"{tmp}/perf.{tag}"):
            p = l.split(",")
            if len(p) > 2 and not l.startswith("#") and p[0].strip().isdigit():
                c[p[2].split(":")[-1]] = int(p[0])
    except OSError:
        pass
    return c
f = {"rps": rps, "cpus_us": ncpu * win * 1e6 / n}
for tag in ("srv", "wrk"):
    run = tot(tag, 3) / 1e3  # schedstat run time, us
    f[tag + "_us"] = run / n
    ticks = tot(tag, 1) + tot(tag, 2)
    f[tag + "_sys_us"] = run * tot(tag, 2) / ticks / n if ticks else 0.0
f["other_us"] = busy / n - f["srv_us"] - f["wrk_us"]
f["ksirqd_us"] = tot("ksirqd", 3) / 1e3 / n
f["idle_us"] = idle / n
f["sirq_us"] = sirq / n
for tag in ("srv", "wrk"):
    f[tag + "_wait_us"] = tot(tag, 4) / 1e3 / n
    f[tag + "_nvcs"] = tot(tag, 7) / n
f["srv_vcs"] = tot("srv", 6) / n
for tag in ("srv", "wrk"):
    c = perf(tag)
    if c:
        ep = c.get("sys_enter_epoll_wait", 0)
        f[tag + "_sc"] = c.get("sys_enter", 0) / n
        f[tag + "_epw"] = ep / n
        f[tag + "_migr"] = c.get("cpu-migrations", 0) / n
        f[tag + "_wakes"] = c.get("sched_waking", 0) / n
        f[tag + "_rpw"] = (c.get("sys_enter_read", 0) + c.get("sys_enter_recvfrom", 0)) / ep if ep else 0.0
def fmt(k, v):
    return f"{k}={v:.0f}" if k == "rps" else f"{k}={v:.2f}" if k.endswith("_us") else f"{k}={v:.3f}"
print(f"{label} {conns} " + " ".join(fmt(k, v) for k, v in f.items()))
th = []
for i, t in enumerate(threads["srv"]):
    if t[3] > 0:
        th.append(f"{i}:{t[0][:15]} {t[3] / 1e3 / n:.2f}/{t[4] / 1e3 / n:.2f}/{t[7] / n:.3f}")
print(f"#   {label} c{conns} r{rnd} threads (CPU us/wait us/nvcs per request): " + " | ".join(th))
PY
}

alternate_servers "$ROUNDS"

grep -v '^#' "$tmp/all.log" >"$tmp/all" || true
echo "--- medians (ranges) over $ROUNDS rounds, per request (machine load: $(cut -d' ' -f1-3 /proc/loadavg))"
print_ranges "$tmp/all"
