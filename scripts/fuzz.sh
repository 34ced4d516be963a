#!/usr/bin/env bash
# Builds the libFuzzer harnesses of fuzz/ with clang (-fsanitize=fuzzer,address,undefined)
# and runs each for a bounded time over its seed corpus (fuzz/corpus/NAME). New inputs found
# go to a scratch directory, not the tree; a crash leaves its input in build/fuzz/ and fails.
# Skipped (exit 0, with a note) where clang or its fuzzer runtime (libclang-rt-dev) is missing.
#
#   scripts/fuzz.sh [SECONDS]      (default 60 per harness)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
out=build/fuzz
mkdir -p "$out"

if ! command -v clang >/dev/null; then
  echo "fuzz: clang not found, skipped" >&2
  exit 0
fi
probe="$out/probe.c"
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' >"$probe"
if ! clang -fsanitize=fuzzer "$probe" -o "$out/probe" 2>/dev/null; then
  echo "fuzz: clang's libFuzzer runtime is missing (libclang-rt-dev), skipped" >&2
  exit 0
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
for name in http_parse; do
  bin="$out/fuzz_$name"
  # Coverage instrumentation on the code under test only: the harness's own loops would
  # otherwise feed libFuzzer noise and cost most of the time.
  san=(-fsanitize=address,undefined -fno-sanitize-recover=undefined)
  clang -g -O2 "${san[@]}" -fsanitize=fuzzer-no-link -Iexamples -c examples/$name.c \
    -o "$out/$name.o"
  extra=()
  [ -f "fuzz/${name}_ref.c" ] && extra=("fuzz/${name}_ref.c") # the reference it is checked against
  clang -g -O2 "${san[@]}" -fsanitize=fuzzer -Iexamples -Ifuzz fuzz/fuzz_$name.c "${extra[@]}" \
    "$out/$name.o" -o "$bin"
  scratch=$(mktemp -d)
  echo "=== fuzz: $name for ${secs}s" >&2
  # -max_len: the tiny limits (64-byte head) reach every size edge with short inputs; the
  # seeds past 2 KiB are replayed whole by the fuzz_http_parse_corpus ctest.
  "$bin" -max_total_time="$secs" -max_len=2048 -print_final_stats=1 -artifact_prefix="$out/" \
    "$scratch" "fuzz/corpus/$name" 2>"$out/$name.log" || {
      tail -50 "$out/$name.log" >&2
      rm -rf "$scratch"
      exit 1
    }
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)" \
    "$out/$name.log" >&2 || true
  rm -rf "$scratch"
done
