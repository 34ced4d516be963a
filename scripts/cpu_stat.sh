#!/usr/bin/env bash
# One workload of tide-bench and the peers, alternated, with each run's process CPU time
# (perf stat task-clock: warm-up + reps) beside its ns/op. On a shared machine the wall time
# (ns/op) moves with the load far more than the CPU time does; compare CPU ms across programs
# run in the same rounds.
#
#   scripts/cpu_stat.sh ROUNDS WORKLOAD "LABEL=COMMAND" ["LABEL=COMMAND" ...]
#
# COMMAND is run as `COMMAND WORKLOAD --workers N --reps R --json`, e.g.
#   scripts/cpu_stat.sh 4 sleep_many "base=build/base/tide-bench --impl tide" \
#       "new=build/rel/benches/tide-bench --impl tide" "tokio=build/peers/tide-peer-tokio"
# WORKERS (2) and REPS (3) from the environment.
set -euo pipefail
rounds=${1:?usage: cpu_stat.sh ROUNDS WORKLOAD LABEL=COMMAND...}
workload=${2:?usage: cpu_stat.sh ROUNDS WORKLOAD LABEL=COMMAND...}
shift 2
progs=("$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((r = 1; r <= rounds; r++)); do
    n=${#progs[@]}
    for ((i = 0; i < n; i++)); do
        p=${progs[$(((i + r) % n))]}
        label=${p%%=*}
        # shellcheck disable=SC2086 # the command is meant to split into words
        out=$(perf stat -x, -e task-clock -o "$tmp/perf" ${p#*=} "$workload" \
            --workers "${WORKERS:-2}" --reps "${REPS:-3}" --json 2>/dev/null | head -n1)
        ns=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ns_per_op"])' "$out")
        cpu=$(awk -F, '$3 == "task-clock" {printf "%.0f", $1}' "$tmp/perf")
        printf '%-8s r%-2s %10.1f ns/op %7s ms CPU\n' "$label" "$r" "$ns" "$cpu"
        echo "$label $ns $cpu" >>"$tmp/all"
    done
done
echo "--- $workload, ranges over $rounds rounds (load: $(cut -d' ' -f1-3 /proc/loadavg))"
python3 - "$tmp/all" "${progs[@]%%=*}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for label in sys.argv[2:]:
    ns = sorted(float(r[1]) for r in rows if r[0] == label)
    cpu = sorted(float(r[2]) for r in rows if r[0] == label)
    if ns:
        print(f"{label:<8} ns/op median {statistics.median(ns):.1f} ({ns[0]:.1f}-{ns[-1]:.1f})"
              f"  CPU ms median {statistics.median(cpu):.0f} ({cpu[0]:.0f}-{cpu[-1]:.0f})")
PY
