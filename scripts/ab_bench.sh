#!/usr/bin/env bash
# Side-by-side comparison of two tide-bench binaries (e.g. a branch against the commit before):
# they run alternately, ROUNDS times each, on the named workloads, and the medians and ranges of
# ns/op are printed per workload.
#   [PEER=PEER_BIN] scripts/ab_bench.sh A_BIN B_BIN ROUNDS WORKLOAD... [-- tide-bench options]
# Example: scripts/ab_bench.sh /tmp/base/tide-bench build/release/benches/tide-bench 5 spawn_remote
# PEER (e.g. build/release/peers/tide-peer-tokio) runs third in each round, with the same
# options but no --impl, and its median and B/PEER are printed too.
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
  if [[ -n "${PEER:-}" ]]; then
    "$PEER" "${workloads[@]}" --workers 2 --reps 3 --json "${extra[@]}" >>"$tmp/p" 2>/dev/null
  fi
done
touch "$tmp/p"
python3 - "$tmp/a" "$tmp/b" "$tmp/p" <<'PY'
import json, statistics, sys
def load(p):
    d = {}
    for line in open(p):
        j = json.loads(line)
        if "ns_per_op" in j: d.setdefault(j["workload"], []).append(j["ns_per_op"])
    return d
a, b, p = load(sys.argv[1]), load(sys.argv[2]), load(sys.argv[3])
peer = f" {'P median':>9} {'P range':>17} {'B/P':>6}" if p else ""
print(f"{'workload':<14} {'A median':>9} {'A range':>17} {'B median':>9} {'B range':>17} {'B/A':>6}{peer}")
for w in a:
    ma, mb = statistics.median(a[w]), statistics.median(b[w])
    line = f"{w:<14} {ma:9.1f} {min(a[w]):8.1f}-{max(a[w]):<8.1f} {mb:9.1f} {min(b[w]):8.1f}-{max(b[w]):<8.1f} {mb/ma:6.2f}"
    if w in p:
        mp = statistics.median(p[w])
        line += f" {mp:9.1f} {min(p[w]):8.1f}-{max(p[w]):<8.1f} {mb/mp:6.2f}"
    print(line)
PY
