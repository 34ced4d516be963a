#!/usr/bin/env bash
# The benchmark report: tide against its threaded baselines, on this machine.
#
#   scripts/bench.sh [--quick] [--out DIR] [--build DIR] [--workers N]
#
#   --quick     smaller sizes and short HTTP runs (a smoke test of the report, ~1 minute);
#               the figures of record come from a run without it (several minutes)
#   --out DIR   results folder (default: results/<date>-<time>, plus a results/latest link)
#   --build DIR a release build to use, configured and built if needed (default: build/release)
#   --workers N runtime workers and pool threads (default: the number of CPUs)
#
# Installs missing Debian packages first (scripts/setup-deps.sh). Runs every tide-bench workload with --impl tide, threads and pool (one after the other for
# each workload, so the three see the same machine), then examples/http_hello against
# examples/http_hello_threads under wrk (skipped with a note if they are not built), and writes
# results.json, results.md and chart.svg into the results folder. Progress goes to stderr.
# Exit status: 0, or 1 if a workload failed its own check or a server failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmdline="scripts/bench.sh${*:+ $*}"
quick=0
out=""
build="$root/build/release"
workers=""

usage() { sed -n '3,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=${2:?--out needs a folder}; shift ;;
    --build) build=${2:?--build needs a folder}; shift ;;
    --workers) workers=${2:?--workers needs a number}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

say() { echo "[bench.sh] $*" >&2; }
# A fresh machine gets what it lacks (compiler, cmake, libraries, wrk, python3); a machine
# that has everything is left alone.
"$root/scripts/setup-deps.sh" >&2

# ---- build ---------------------------------------------------------------------------------
jobs=$(nproc 2>/dev/null || echo 2)
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  say "configuring a release build in $build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
say "building tide-bench"
cmake --build "$build" --target tide-bench -j "$jobs" >/dev/null
bench="$build/benches/tide-bench"
http_note=""
if cmake --build "$build" --target http_hello http_hello_threads -j "$jobs" >/dev/null 2>&1; then
  say "built examples/http_hello and examples/http_hello_threads"
else
  http_note="examples/http_hello and examples/http_hello_threads could not be built"
  say "HTTP servers not available: $http_note"
fi

# ---- results folder ------------------------------------------------------------------------
stamp=$(date -u +%Y-%m-%d-%H%M%S)
link_latest=0
if [[ -z "$out" ]]; then
  out="$root/results/$stamp"
  link_latest=1
fi
mkdir -p "$out/raw"
: >"$out/raw/bench.jsonl"
: >"$out/raw/http.jsonl"

bench_args=(--json)
if ((quick)); then bench_args+=(--quick); fi
if [[ -n "$workers" ]]; then bench_args+=(--workers "$workers"); fi
nworkers=${workers:-$jobs}
reps=5

# What the report says about where and how it was made.
TIDE_OUT="$out" TIDE_ROOT="$root" TIDE_QUICK=$quick TIDE_WORKERS=$nworkers TIDE_REPS=$reps \
TIDE_HTTP_NOTE="$http_note" TIDE_BUILD="$build" TIDE_CMD="$cmdline" python3 - <<'EOF'
import json, os, platform, subprocess, time
root = os.environ["TIDE_ROOT"]
def sh(*cmd):
    try:
        return subprocess.run(cmd, cwd=root, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""
commit = sh("git", "rev-parse", "--short", "HEAD") or "unknown"
if sh("git", "status", "--porcelain", "--untracked-files=no"):
    commit += " (with uncommitted changes)"
cpu = "unknown CPU"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
build_type = ""
try:
    for line in open(os.path.join(os.environ["TIDE_BUILD"], "CMakeCache.txt")):
        if line.startswith("CMAKE_BUILD_TYPE:"):
            build_type = line.split("=", 1)[1].strip()
except OSError:
    pass
meta = {
    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "commit": commit,
    "cpu": cpu,
    "cpus": os.cpu_count(),
    "kernel": platform.release(),
    "workers": int(os.environ["TIDE_WORKERS"]),
    "reps": int(os.environ["TIDE_REPS"]),
    "quick": os.environ["TIDE_QUICK"] == "1",
    "build_type": build_type,
    "command": os.environ["TIDE_CMD"],
    "wrk": "wrk -t1 -c100 / -c1000 -d%ss --latency" % ("2" if os.environ["TIDE_QUICK"] == "1" else "5"),
}
if os.environ.get("TIDE_HTTP_NOTE"):
    meta["http_note"] = os.environ["TIDE_HTTP_NOTE"]
json.dump(meta, open(os.path.join(os.environ["TIDE_OUT"], "raw", "meta.json"), "w"), indent=1)
EOF

# ---- workloads -----------------------------------------------------------------------------
mapfile -t workloads < <("$bench" --help | sed -n 's/^workloads: //p' | tr ' ' '\n')
if ((${#workloads[@]} == 0)); then
  echo "bench.sh: $bench --help lists no workloads" >&2
  exit 1
fi
failed=0
total=$((${#workloads[@]} * 3))
n=0
start=$(date +%s)
for w in "${workloads[@]}"; do
  for impl in tide threads pool; do
    n=$((n + 1))
    say "($n/$total, $(($(date +%s) - start)) s) $w on $impl"
    tmp="$out/raw/.last.jsonl"
    status=0
    "$bench" "$w" --impl "$impl" "${bench_args[@]}" >"$tmp" || status=$?
    if [[ -s "$tmp" ]]; then
      cat "$tmp" >>"$out/raw/bench.jsonl"
    else
      # It died without a word (a crash): say so in the results rather than lose the row.
      printf '{"impl":"%s","workload":"%s","error":"tide-bench exited with status %d"}\n' \
        "$impl" "$w" "$status" >>"$out/raw/bench.jsonl"
    fi
    rm -f "$tmp"
    if ((status != 0)); then
      failed=1
      say "$w on $impl FAILED (exit status $status)"
    fi
  done
done

# ---- HTTP ----------------------------------------------------------------------------------
if [[ -z "$http_note" ]]; then
  http_args=(--build "$build" --out "$out/raw/http.jsonl")
  if ((quick)); then http_args+=(--duration 2 --rounds 1); else http_args+=(--duration 5 --rounds 3); fi
  if [[ -n "$workers" ]]; then http_args+=(--workers "$workers"); fi
  say "HTTP servers under wrk"
  python3 "$root/scripts/bench_http.py" "${http_args[@]}" || failed=1
fi

# ---- report --------------------------------------------------------------------------------
python3 "$root/scripts/report.py" --dir "$out"
if ((link_latest)); then ln -sfn "$stamp" "$root/results/latest"; fi
say "done in $(($(date +%s) - start)) s: $out/results.md, $out/chart.svg, $out/results.json"
cat "$out/results.md"
exit $failed
