#!/usr/bin/env bash
# Side-by-side comparison of two tide-bench binaries (e.g. a branch against the commit before):
# they run alternately, ROUNDS times each, on the named workloads, and the medians and ranges of
# ns/op are printed per workload.
#   scripts/ab_bench.sh A_BIN B_BIN ROUNDS WORKLOAD... [-- tide-bench options]
# Example: scripts/ab_bench.sh /tmp/base/tide-bench build/release/benches/tide-bench 5 spawn_remote
set -euo pipefail
a=$1 b=$2 rounds=$3
shift 3
workloads=() extra=()
while (($#)); do
  if [[ $1 == -- ]]; then shift; extra=("$@"); break; fi
  workloads+=("$1"); shift
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((r = 1; r <= rounds; r++)); do
  for side in a b; do
    bin=$a; [[ $side == b ]] && bin=$b
    "$bin" "${workloads[@]}" --impl tide --workers 2 --reps 3 --json "${extra[@]}" >>"$tmp/$side" 2>/dev/null
  done
done
python3 - "$tmp/a" "$tmp/b" <<'PY'
import json, statistics, sys
def load(p):
    d = {}
    for line in open(p):
        j = json.loads(line)
        if "ns_per_op" in j: d.setdefault(j["workload"], []).append(j["ns_per_op"])
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
print(f"{'workload':<14} {'A median':>9} {'A range':>17} {'B median':>9} {'B range':>17} {'B/A':>6}")
for w in a:
    ma, mb = statistics.median(a[w]), statistics.median(b[w])
    print(f"{w:<14} {ma:9.1f} {min(a[w]):8.1f}-{max(a[w]):<8.1f} {mb:9.1f} {min(b[w]):8.1f}-{max(b[w]):<8.1f} {mb/ma:6.2f}")
PY
