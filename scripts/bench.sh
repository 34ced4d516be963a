#!/usr/bin/env bash
# The benchmark report: tide against its threaded baselines and its peers (tokio, Go, a
# one-thread epoll loop), all measured in this run, on this machine.
#
#   scripts/bench.sh [--quick] [--no-peers] [--rounds N] [--http-rounds N] [--out DIR]
#                    [--build DIR] [--workers N]
#
#   --quick     small sizes, one round, short HTTP runs: a smoke test of the pipeline
#               (~1-2 minutes once built); the figures of record come from a run without it
#               (~10 minutes: 6 on a quiet 2-CPU machine, 12 on a busy one)
#   --no-peers  only tide and the threaded baselines (no tokio, Go or epoll loop)
#   --rounds N  rounds of every workload and HTTP run (default 3; 5 takes ~16 minutes and
#               narrows the medians on a machine whose peers move +-30% between runs)
#   --http-rounds N  rounds of the HTTP and TLS runs alone (default: as --rounds): a server's
#               requests/s swings up to 2x between rounds here, so a 10% comparison wants
#               more of them (10 rounds add ~8 minutes)
#   --out DIR   results folder (default: results/<date>-<time>, plus a results/latest link)
#   --build DIR a release build to use, configured and built if needed (default: build/release)
#   --workers N runtime workers and pool threads (default: the number of CPUs)
#
# Installs missing Debian packages first (scripts/setup-deps.sh), builds tide-bench, the
# example servers and the peers (benches/peers/build.sh: a peer whose toolchain is missing is
# left out with a note in the report, not a failure). Then, in each of 3 rounds (--rounds; 1 with
# --quick), every workload runs on tide, threads, pool, tokio and Go one after the other (the
# order reversed every other round, so a drift in the machine's speed hits all of them), each
# program doing a warm-up and 3 repetitions; the report takes the median over the rounds.
# Then the HTTP servers (tide, threads, tokio, Go, the epoll loop) alternate under wrk
# (scripts/bench_http.py) for 3 rounds of 4 s per connection count, and https_hello against
# http_hello (scripts/bench_tls.py: keep-alive requests/s, handshakes/s), and the memory each
# HTTP server holds per idle keep-alive connection (scripts/idle_conns.py). results.json,
# results.md, chart.svg and chart.png go into the results folder. Progress goes to stderr.
# Exit status: 0, or 1 if a workload failed its own check, a server failed, or a peer whose
# toolchain is installed failed to build.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmdline="scripts/bench.sh${*:+ $*}"
quick=0
peers=1
rounds_opt=
http_rounds_opt=
out=""
build="$root/build/release"
workers=""

usage() { sed -n '2,20s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
# A round count option's value, 1-999; else exit with the option's message.
round_count() {
  [[ "$2" =~ ^[1-9][0-9]{0,2}$ ]] || { echo "bench.sh: $1 needs a number 1-999" >&2; exit 2; }
  echo "$2"
}

while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --no-peers) peers=0 ;;
    --out) out=${2:?--out needs a folder}; shift ;;
    --build) build=${2:?--build needs a folder}; shift ;;
    --workers) workers=${2:?--workers needs a number}; shift ;;
    --rounds) rounds_opt=$(round_count "$1" "${2-}"); shift ;;
    --http-rounds) http_rounds_opt=$(round_count "$1" "${2-}"); shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

say() { echo "[bench.sh] $*" >&2; }
# A fresh machine gets what it lacks (compiler, cmake, libraries, wrk, python3, the peers'
# toolchains); a machine that has everything is left alone.
"$root/scripts/setup-deps.sh" >&2

# ---- build ---------------------------------------------------------------------------------
jobs=$(nproc 2>/dev/null || echo 2)
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  say "configuring a release build in $build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
build=$(cd "$build" && pwd)
say "building tide-bench"
cmake --build "$build" --target tide-bench -j "$jobs" >/dev/null
bench="$build/benches/tide-bench"
http_note=""
if cmake --build "$build" --target http_hello http_hello_threads https_hello -j "$jobs" >/dev/null 2>&1; then
  say "built examples/http_hello, http_hello_threads and https_hello"
else
  http_note="examples/http_hello, http_hello_threads or https_hello could not be built"
  say "HTTP servers not available: $http_note"
fi

failed=0
impls=(tide threads pool)
peer_notes=()
if ((peers)); then
  cmake --build "$build" --target tide-peer-epoll -j "$jobs" >/dev/null 2>&1 ||
    peer_notes+=("epoll: tide-peer-epoll could not be built")
  say "building the peers (benches/peers/build.sh)"
  "$root/benches/peers/build.sh" "$build" || failed=1
  for p in tokio go; do
    if [[ -x "$build/peers/tide-peer-$p" ]]; then
      impls+=("$p")
    else
      peer_notes+=("$p: not built, its toolchain is missing (scripts/setup-deps.sh installs it; see benches/peers/build.sh)")
    fi
  done
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

common=(--json --reps 3)
if ((quick)); then common+=(--quick); fi
if [[ -n "$workers" ]]; then common+=(--workers "$workers"); fi
nworkers=${workers:-$jobs}
reps=3
rounds=3
http_rounds=3
http_duration=4
if ((quick)); then rounds=1 http_rounds=1 http_duration=2; fi
if [[ -n "$rounds_opt" ]]; then rounds=$rounds_opt http_rounds=$rounds_opt; fi
if [[ -n "$http_rounds_opt" ]]; then http_rounds=$http_rounds_opt; fi

# What the report says about where and how it was made.
TIDE_OUT="$out" TIDE_ROOT="$root" TIDE_QUICK=$quick TIDE_WORKERS=$nworkers TIDE_REPS=$reps \
TIDE_ROUNDS=$rounds TIDE_HTTP_ROUNDS=$http_rounds TIDE_HTTP_DURATION=$http_duration \
TIDE_HTTP_NOTE="$http_note" TIDE_BUILD="$build" TIDE_CMD="$cmdline" TIDE_IMPLS="${impls[*]}" \
TIDE_PEERS=$peers TIDE_PEER_NOTES="$(printf '%s\n' "${peer_notes[@]+"${peer_notes[@]}"}")" \
python3 - <<'EOF'
import glob, json, os, platform, re, subprocess, time
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
impls = os.environ["TIDE_IMPLS"].split()
versions = {}
if "tokio" in impls:
    toks = sorted(glob.glob("/usr/share/cargo/registry/tokio-1.*"))
    rustc = "/usr/bin/rustc" if os.path.exists("/usr/bin/rustc") else "rustc"
    rv = sh(rustc, "--version").split()
    versions["tokio"] = ("tokio " + toks[-1].rsplit("-", 1)[1] if toks else "tokio") + \
        (f" (rustc {rv[1]})" if len(rv) > 1 else "")
if "go" in impls:
    m = re.search(r"go(\d[\d.]*)", sh("go", "version"))
    versions["go"] = "Go " + (m.group(1) if m else "?")
quick = os.environ["TIDE_QUICK"] == "1"
meta = {
    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "commit": commit,
    "cpu": cpu,
    "cpus": os.cpu_count(),
    "kernel": platform.release(),
    "workers": int(os.environ["TIDE_WORKERS"]),
    "reps": int(os.environ["TIDE_REPS"]),
    "rounds": int(os.environ["TIDE_ROUNDS"]),
    "quick": quick,
    "build_type": build_type,
    "command": os.environ["TIDE_CMD"],
    "impls": impls,
    "peers": os.environ["TIDE_PEERS"] == "1",
    "peer_versions": versions,
    "peer_notes": [n for n in os.environ.get("TIDE_PEER_NOTES", "").split("\n") if n],
    "wrk": "wrk -t1 -c100 / -c1000 -d%ss --latency, %s round(s)"
           % (os.environ["TIDE_HTTP_DURATION"], os.environ["TIDE_HTTP_ROUNDS"]),
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
total=$((${#workloads[@]} * ${#impls[@]} * rounds))
n=0
start=$(date +%s)
for ((round = 1; round <= rounds; round++)); do
  order=("${impls[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#impls[@]} - 1; i >= 0; i--)); do order+=("${impls[i]}"); done
  fi
  for w in "${workloads[@]}"; do
    for impl in "${order[@]}"; do
      n=$((n + 1))
      say "($n/$total, $(($(date +%s) - start)) s) round $round/$rounds: $w on $impl"
      tmp="$out/raw/.last.jsonl"
      status=0
      case "$impl" in
        tide | threads | pool) cmd=("$bench" --impl "$impl") ;;
        *) cmd=("$build/peers/tide-peer-$impl") ;;
      esac
      "${cmd[@]}" "$w" "${common[@]}" >"$tmp" || status=$?
      if [[ -s "$tmp" ]]; then
        sed "s/^{/{\"round\":$round,/" "$tmp" >>"$out/raw/bench.jsonl"
      else
        # It died without a word (a crash): say so in the results rather than lose the row.
        printf '{"round":%d,"impl":"%s","workload":"%s","error":"exited with status %d"}\n' \
          "$round" "$impl" "$w" "$status" >>"$out/raw/bench.jsonl"
      fi
      rm -f "$tmp"
      if ((status != 0)); then
        failed=1
        say "$w on $impl FAILED (exit status $status)"
      fi
    done
  done
done

# ---- HTTP ----------------------------------------------------------------------------------
if [[ -z "$http_note" ]]; then
  http_args=(--build "$build" --out "$out/raw/http.jsonl" --duration "$http_duration"
             --rounds "$http_rounds")
  if [[ -n "$workers" ]]; then http_args+=(--workers "$workers"); fi
  if ((!peers)); then http_args+=(--no-peers); fi
  say "HTTP servers under wrk"
  python3 "$root/scripts/bench_http.py" "${http_args[@]}" || failed=1
fi

# ---- TLS: https_hello against the same server without TLS ---------------------------------
: >"$out/raw/tls.jsonl"
if [[ -z "$http_note" ]]; then
  tls_args=(--build "$build" --out "$out/raw/tls.jsonl" --duration "$http_duration"
            --rounds "$http_rounds")
  if [[ -n "$workers" ]]; then tls_args+=(--workers "$workers"); fi
  say "TLS: keep-alive requests/s and handshakes/s (scripts/bench_tls.py)"
  python3 "$root/scripts/bench_tls.py" "${tls_args[@]}" >/dev/null || failed=1
fi

# ---- idle connections: what each server holds per idle keep-alive connection -------------
# Memory, not time: it barely moves between rounds, so two rounds (one with --quick) do.
: >"$out/raw/idle.jsonl"
if [[ -z "$http_note" ]]; then
  idle_args=(--build "$build" --out "$out/raw/idle.jsonl")
  if ((quick)); then idle_args+=(--rounds 1 -n 500); else idle_args+=(--rounds 2 -n 3000); fi
  if [[ -n "$workers" ]]; then idle_args+=(--workers "$workers"); fi
  if ((!peers)); then idle_args+=(--no-peers); fi
  say "memory per idle keep-alive connection (scripts/idle_conns.py)"
  python3 "$root/scripts/idle_conns.py" "${idle_args[@]}" >/dev/null || failed=1
fi

# ---- report --------------------------------------------------------------------------------
python3 "$root/scripts/report.py" --dir "$out"
if ((link_latest)); then ln -sfn "$stamp" "$root/results/latest"; fi
say "done in $(($(date +%s) - start)) s: $out/results.md, $out/chart.svg, $out/chart.png, $out/results.json"
cat "$out/results.md"
exit $failed
