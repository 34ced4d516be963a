#!/usr/bin/env bash
# ThreadSanitizer builds: the given test programs run without TSan matching a single
# suppression. A suppressed report is not free: matching it symbolizes the stacks, and the
# first symbolization loads the debug information of every linked library, which held the
# whole process for 0.4-0.7 s — timers and wake-ups looked that late to the tests (found as
# "late wake-ups" in test_group and test_serve; runtime/spin_tsan.c). So code of tide's that
# runs in every test, the spinlock above all, must give TSan nothing to suppress.
#   check_tsan_silent.sh PROGRAM [ARGS...] [-- PROGRAM [ARGS...]]...
set -uo pipefail
status=0
run() {
  local out
  out=$(TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}print_suppressions=1" "$@" 2>&1)
  local rc=$?
  if ((rc != 0)); then
    printf '%s\n' "$out" | tail -30
    echo "FAIL: $* exited with $rc" >&2
    status=1
  elif grep -q "ThreadSanitizer: Matched" <<<"$out"; then
    grep -A10 "ThreadSanitizer: Matched" <<<"$out"
    echo "FAIL: $* made TSan match suppressions (each match stalls the process)" >&2
    status=1
  else
    echo "ok: $*"
  fi
}
cmd=()
for a in "$@"; do
  if [[ $a == -- ]]; then run "${cmd[@]}"; cmd=(); else cmd+=("$a"); fi
done
((${#cmd[@]})) && run "${cmd[@]}"
exit $status
