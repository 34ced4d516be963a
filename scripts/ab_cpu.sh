#!/usr/bin/env bash
# CPU time per repetition of one workload for two tide-bench binaries, alternated: for each
# binary, task-clock of `--reps 9` minus that of `--reps 1`, over 8. Dropping the warm-up and
# the runtime's teardown (page faults, munmap) and counting CPU rather than wall-clock time
# makes the comparison usable on a shared machine, where wall-clock times vary 2-3x.
#   scripts/ab_cpu.sh A_BIN B_BIN ROUNDS WORKLOAD [WORKERS]
# A binary named *tide-peer-* (benches/peers) is run with the peer's options instead.
set -euo pipefail
a=$1 b=$2 rounds=$3 wl=$4 workers=${5:-2}
tc() {
  local bin=$1 reps=$2 impl=(--impl tide)
  [[ $bin == *tide-peer-* ]] && impl=()
  perf stat -x, -e task-clock "$bin" "$wl" "${impl[@]}" --workers "$workers" --reps "$reps" \
    2>&1 >/dev/null | awk -F, '/task-clock/ {print $1}'
}
for ((r = 1; r <= rounds; r++)); do
  for side in A B; do
    bin=$a; [[ $side == B ]] && bin=$b
    x1=$(tc "$bin" 1) x9=$(tc "$bin" 9)
    echo "$side $x1 $x9"
  done
done | python3 -c '
import statistics, sys
d = {}
for line in sys.stdin:
    side, x1, x9 = line.split()
    d.setdefault(side, []).append((float(x9) - float(x1)) / 8)
for side in sorted(d):
    v = d[side]
    print("%s: CPU per repetition median %.1f ms, range %.1f-%.1f (%s)" % (
        side, statistics.median(v), min(v), max(v), ", ".join("%.0f" % x for x in v)))
'
