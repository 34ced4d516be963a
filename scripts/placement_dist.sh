#!/usr/bin/env bash
# Distribution of the message-passing workloads over many runs, tide and the peers alternating,
# with tide's per-repetition worker counters (TIDE_BENCH_STATS): which runs kept their tasks on
# one worker, and what that was worth. See docs/benchmarks.md, "Where woken tasks run".
#   scripts/placement_dist.sh TIDE_BENCH ROUNDS [OUTDIR] [PEER_DIR]
# PEER_DIR (default build/release/peers) holds tide-peer-go and tide-peer-tokio; a missing peer
# is skipped. Each round runs every implementation once (--workers 2 --reps 3).
set -euo pipefail
bench=$1 rounds=$2 out=${3:-$(mktemp -d)} peers=${4:-build/release/peers}
workloads=(mutex channel_mpsc ping_pong)
mkdir -p "$out"
for ((r = 1; r <= rounds; r++)); do
  TIDE_BENCH_STATS=1 "$bench" "${workloads[@]}" --workers 2 --reps 3 --json \
    >>"$out/tide.json" 2>>"$out/tide.stats"
  for p in go tokio; do
    bin=$peers/tide-peer-$p
    [[ -x $bin ]] && "$bin" "${workloads[@]}" --workers 2 --reps 3 --json >>"$out/$p.json" 2>/dev/null
  done
done
python3 - "$out" <<'PY'
import json, os, re, statistics, sys
d = sys.argv[1]
print(f"{'impl':6} {'workload':13} {'n':>3} {'min':>7} {'p25':>7} {'median':>7} {'p75':>7} {'max':>7}  (ns/op, medians of 3 reps)")
for f in sorted(x for x in os.listdir(d) if x.endswith(".json")):
    runs = {}
    for line in open(os.path.join(d, f)):
        try: j = json.loads(line)
        except ValueError: continue
        if "ns_per_op" in j: runs.setdefault(j["workload"], []).append(j["ns_per_op"])
    for w, x in sorted(runs.items()):
        x.sort(); q = lambda p: x[min(len(x) - 1, int(p * len(x)))]
        print(f"{f[:-5]:6} {w:13} {len(x):3} {x[0]:7.1f} {q(.25):7.1f} {statistics.median(x):7.1f} {q(.75):7.1f} {x[-1]:7.1f}")
# Every repetition (warm-ups included): did one worker run (nearly) all the tasks?
reps = {}
for line in open(os.path.join(d, "tide.stats")):
    m = re.match(r"stats (\S+) ns/op=([\d.]+)(.*)", line)
    if not m: continue
    rest = m.group(3)
    num = lambda k: [int(v) for v in re.findall(k + r"=(\d+)", rest)]
    run = num("run")
    one = min(run) * 20 < max(run)
    reps.setdefault(m.group(1), []).append((float(m.group(2)), sum(num("steal")), sum(num("park")), one))
print("\ntide repetitions: tasks kept on one worker (the other ran < 5%) vs spread over both")
for w, r in sorted(reps.items()):
    def s(a):
        if not a: return "n=0"
        med = lambda i: statistics.median(x[i] for x in a)
        return f"n={len(a):3} ns/op {med(0):6.1f} steals {med(1):5.0f} parks {med(2):5.0f}"
    print(f"  {w:13} one worker: {s([x for x in r if x[3]])} | both: {s([x for x in r if not x[3]])}")
PY
