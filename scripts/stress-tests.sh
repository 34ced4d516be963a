#!/usr/bin/env bash
# Runs the timing-sensitive tests (those that wait on timers, deadlines or a busy machine) N
# times each under extra CPU load, and counts failures per test program: how a test that may
# flake on a loaded CI machine is found before CI finds it (docs/benchmarks.md, "Tests that a
# loaded machine cannot fail").
#   scripts/stress-tests.sh BUILD_DIR N [LOAD]
# LOAD (default 2): busy-loop processes run alongside, killed at the end. Filters are plain
# globs, which both Criterion and the TSan stand-in (tests/crshim) take. A run that does not
# end within 180 s counts as a failure (a hang). Exit status 1 if anything failed.
set -uo pipefail
dir=${1:?usage: stress-tests.sh BUILD_DIR N [LOAD]}
n=${2:?usage: stress-tests.sh BUILD_DIR N [LOAD]}
load=${3:-2}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
suspects=(
  "test_tcp_pressure tcp_pressure/[ew]*"
  "test_serve serve/[eihd]*"
  "test_sleep sleep/[nd]*"
  "test_mutex mutex/foreign*"
  "test_fs fs/[rw]*"
  "test_wait wait/sets*"
  "test_http_hello http_hello/c*"
)
pids=()
for ((i = 0; i < load; i++)); do sh -c 'while :; do :; done' & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
declare -A fails
for ((k = 0; k < n; k++)); do
  for s in "${suspects[@]}"; do
    bin=${s%% *} filter=${s#* }
    if ! out=$(timeout 180 "$dir/tests/$bin" --jobs 1 --filter "$filter" 2>&1) ||
       ! grep -q 'Failing: 0 ' <<<"$out"; then
      fails[$bin]=$((${fails[$bin]:-0} + 1))
      echo "FAIL $bin (run $((k + 1))):"
      grep -E 'Assertion|expected|FAIL|Synthesis' <<<"$out" | head -8
    fi
  done
done
status=0
for s in "${suspects[@]}"; do
  bin=${s%% *}
  echo "$bin: ${fails[$bin]:-0} of $n runs failed"
  ((${fails[$bin]:-0} == 0)) || status=1
done
exit $status
