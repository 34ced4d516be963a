#!/usr/bin/env bash
# Builds tide and passes the whole test suite, three times over:
#   1. an optimised build with warnings as errors,
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer build,
#   3. a ThreadSanitizer build.
# The sanitizer builds know about tide's stack switches (fiber annotations), so their reports
# are real. Installs missing Debian packages first (scripts/setup-deps.sh).
#
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh release    only the named builds: release, asan, tsan (no fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-deps.sh

builds=("$@")
if ((${#builds[@]} == 0)); then builds=(release asan tsan); fi
jobs=$(nproc)

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

for b in "${builds[@]}"; do
  case "$b" in
    release) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIDE_SANITIZE=address) ;;
    tsan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIDE_SANITIZE=thread) ;;
    *) echo "unknown build '$b' (release, asan, tsan)" >&2; exit 2 ;;
  esac
  dir="build/test-$b"
  echo "=== $b: configure and build ($dir)" >&2
  cmake -S . -B "$dir" -DTIDE_WERROR=ON "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "=== $b: ctest" >&2
  start=$(date +%s)
  # One test program at a time: they start their own threads, and this machine may have two
  # CPUs. Each test program prints its failures in full.
  ctest --test-dir "$dir" --output-on-failure -j 1 --timeout 900
  echo "=== $b: passed in $(( $(date +%s) - start )) s" >&2
done

# The HTTP request parser under libFuzzer for a bounded time (clang; skipped without it).
if ((${#@} == 0)); then scripts/fuzz.sh "${TIDE_FUZZ_SECONDS:-60}"; fi
