#!/usr/bin/env bash
# Builds tide and passes the whole test suite, three times over:
#   1. an optimised build with warnings as errors,
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer build,
#   3. a ThreadSanitizer build.
# The sanitizer builds know about tide's stack switches (fiber annotations), so their reports
# are real. Installs missing Debian packages first (scripts/setup-deps.sh).
#
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh release    only the named builds: release, asan, tsan, shake, valgrind (no fuzzing)
#
# shake: the release build's tests again under TIDE_SHAKE (random pauses at the scheduler's
# decision points, runtime/shake.h) with 1, 2 and 4 workers; CI runs the scheduler-heavy
# subset SHAKE_TESTS (SHAKE_TESTS=all: every test). valgrind: memcheck over a bounded subset
# (scripts/valgrind-tests.sh), in a build without jemalloc so memcheck sees every block.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-deps.sh

builds=("$@")
if ((${#builds[@]} == 0)); then builds=(release asan tsan shake valgrind); fi
jobs=$(nproc)

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

# The tests the shake pass runs by default: the scheduler's own, wakers and the primitives
# built on them, cancellation, I/O readiness; seconds each even when shaken.
shake_tests=${SHAKE_TESTS:-'test_(spawn|yield|placement|affinity|harvest|shake|cancel|select|sem|gather|group|wait|waitgroup|event|oneshot|barrier|notify|queue|fairness|shutdown|tcp|tcp_cancel|sleep|blocking)$'}

for b in "${builds[@]}"; do
  if [[ $b == shake ]]; then
    dir=build/test-release
    cmake -S . -B "$dir" -DTIDE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$dir" -j "$jobs"
    regex=$shake_tests
    [[ $regex == all ]] && regex=.
    for n in 1 2 4; do
      echo "=== shake: ctest with TIDE_WORKERS=$n" >&2
      start=$(date +%s)
      # Each pass shakes with its own seed (the seed picks the pauses, not the interleaving).
      TIDE_SHAKE=$((RANDOM + 1)) TIDE_WORKERS=$n ctest --test-dir "$dir" --output-on-failure \
        -j 1 --timeout 900 -R "$regex" -E 'test_soak|protocol_models'
      echo "=== shake, $n workers: passed in $(( $(date +%s) - start )) s" >&2
    done
    continue
  fi
  if [[ $b == valgrind ]]; then
    dir=build/test-valgrind
    cmake -S . -B "$dir" -DTIDE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DTIDE_WITH_JEMALLOC=OFF -DTIDE_BUILD_BENCHES=OFF -DTIDE_BUILD_EXAMPLES=OFF >/dev/null
    cmake --build "$dir" -j "$jobs" --target test_spawn test_chan test_mutex test_sleep test_tcp
    echo "=== valgrind: memcheck" >&2
    start=$(date +%s)
    scripts/valgrind-tests.sh "$dir"
    echo "=== valgrind: passed in $(( $(date +%s) - start )) s" >&2
    continue
  fi
  case "$b" in
    release) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIDE_SANITIZE=address) ;;
    tsan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTIDE_SANITIZE=thread) ;;
    *) echo "unknown build '$b' (release, asan, tsan, shake, valgrind)" >&2; exit 2 ;;
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
