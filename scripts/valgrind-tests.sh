#!/usr/bin/env bash
# Runs a subset of the tests under valgrind's memcheck, bounded to a few minutes: spawning,
# channels, mutexes, sleeps and TCP, the paths every server takes. Any memcheck error, or a
# definite leak, fails the run. Task stacks are registered with valgrind
# (VALGRIND_STACK_REGISTER in runtime/stack.c), so stack switches are understood; no
# suppressions are needed (none are used). Build without jemalloc so memcheck sees every heap
# block (scripts/test.sh valgrind does).
#
#   scripts/valgrind-tests.sh BUILD_DIR
set -euo pipefail
dir=${1:?usage: valgrind-tests.sh BUILD_DIR}
tests=$dir/tests
if ! command -v valgrind >/dev/null; then
  echo "valgrind-tests: valgrind missing (Debian: valgrind); skipped" >&2
  exit 77
fi

# name and Criterion filter (extglob) of each run: whole files where they take seconds, the
# quick tests of the others (valgrind runs one thread at a time, 20-50x slower), and never a
# test with a latency bound (sleep::never_early_and_not_late).
runs=(
  "test_spawn *"
  "test_chan chan/!(thousands_of_tasks*|mpmc_exactly_once*|deadlines_in_the_middle*)"
  "test_mutex *"
  "test_sleep sleep/@(zero_and_past*|deadline_scopes*|plain_thread*)"
  "test_tcp tcp/@(half_close|reset_by_peer|close_wakes_blocked_tasks|connection_served_from_plain_thread|read_times_out_without_losing_data|writev_many_entries)"
)

fail=0
for r in "${runs[@]}"; do
  name=${r%% *}
  filter=${r#* }
  start=$(date +%s)
  # --trace-children: Criterion runs each test in a child process. --fair-sched: workers spin
  # briefly before they park, which starves the others under valgrind's default lock.
  if valgrind --trace-children=yes --fair-sched=yes --error-exitcode=1 -q \
       --leak-check=full --errors-for-leak-kinds=definite \
       "$tests/$name" --jobs 1 --timeout 600 --filter "$filter" >"$dir/valgrind-$name.log" 2>&1; then
    echo "ok   $name ($filter): $(( $(date +%s) - start )) s"
  else
    echo "FAIL $name ($filter): $(( $(date +%s) - start )) s; its output:"
    cat "$dir/valgrind-$name.log"
    fail=1
  fi
done
exit $fail
