#!/usr/bin/env bash
# Instructions of one tide-bench rep, start-up excluded: callgrind runs WORKLOAD with --reps 1
# and --reps 2 and prints the difference (divide by the workload's ops for a per-op figure).
# Deterministic, so usable on a shared machine where times are not. Build with
# -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O3 -DNDEBUG -g".
#   scripts/cg_per_op.sh BIN WORKLOAD [WORKERS]     e.g. build/release/benches/tide-bench ping_pong 1
set -euo pipefail
bin=$1 workload=$2 workers=${3:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for r in 1 2; do
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$r" "$bin" "$workload" --impl tide \
    --workers "$workers" --reps "$r" >/dev/null 2>"$tmp/err.$r"
  grep -o "Collected : [0-9]*" "$tmp/err.$r" | awk '{print $3}' >"$tmp/n.$r"
done
echo "$bin $workload workers=$workers rep_instructions=$(( $(cat "$tmp/n.2") - $(cat "$tmp/n.1") ))"
