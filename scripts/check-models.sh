#!/usr/bin/env bash
# Checks the Promela models of tide's protocols (tests/models/*.pml) exhaustively with spin:
# each real model must hold (errors: 0), and each mutant (the model with one safeguard of the
# C code removed, -DMUTANT...) must produce a counterexample, which shows the check can fail.
# Exits 77 (skipped) when spin or a C compiler is missing. Prints the states explored.
#
#   scripts/check-models.sh            all models
#   KEEP=1 scripts/check-models.sh     keep the work directory (pan, trails) and print it
set -euo pipefail
cd "$(dirname "$0")/.."
models=$PWD/tests/models

if ! command -v spin >/dev/null || ! command -v cc >/dev/null; then
  echo "check-models: spin or cc missing (Debian: spin); skipped" >&2
  exit 77
fi

work=$(mktemp -d)
if [[ -z ${KEEP:-} ]]; then trap 'rm -rf "$work"' EXIT; else echo "work directory: $work"; fi
fail=0

# check MODEL EXPECT PATTERN [SPIN_DEFINES...]: EXPECT is "hold", or "fail" with a violation
# whose message matches the extended regex PATTERN (a mutant must break the property it is for).
check() {
  local model=$1 expect=$2 pattern=$3; shift 3
  local name
  name="$(basename "$model" .pml)${*:+ $*}"
  local dir
  dir=$(mktemp -d "$work/run.XXXX")
  (cd "$dir" && spin "$@" -a "$models/$model" >spin.log 2>&1) || {
    echo "FAIL $name: spin -a failed"; cat "$dir/spin.log"; fail=1; return; }
  # COLLAPSE: compressed state vectors (the idle model stores ~2M states).
  (cd "$dir" && cc -O2 -DCOLLAPSE -DVECTORSZ=2048 -o pan pan.c >cc.log 2>&1) || {
    echo "FAIL $name: pan.c does not compile"; cat "$dir/cc.log"; fail=1; return; }
  # -a: acceptance cycles (the LTL property), -f: weak fairness; assertions always.
  (cd "$dir" && ./pan -a -f -m2000000 >pan.log 2>&1) || true
  # A mutant whose first error is another one: search on past errors (-c0 -e) for its own.
  if [[ $expect == fail ]] && ! grep -qE "$pattern" "$dir/pan.log"; then
    (cd "$dir" && ./pan -a -f -m2000000 -c0 -e >pan.log 2>&1) || true
  fi
  local errors states
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/pan.log" | head -1)
  states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' "$dir/pan.log" | head -1)
  if [[ -z $errors ]]; then
    echo "FAIL $name: no verdict from pan"; cat "$dir/pan.log"; fail=1; return
  fi
  if grep -q "max search depth too small" "$dir/pan.log"; then
    echo "FAIL $name: search depth exceeded (the check was not exhaustive)"; fail=1; return
  fi
  local what
  what=$(grep -m1 -E "$pattern" "$dir/pan.log" || true)
  if [[ $expect == hold && $errors == 0 ]]; then
    echo "ok   $name: holds, $states states explored"
  elif [[ $expect == fail && $errors != 0 && -n $what ]]; then
    echo "ok   $name: counterexample found as expected ($what), $states states"
  else
    echo "FAIL $name: expected the model to $expect, pan says errors: $errors ${what}"
    sed -n '1,40p' "$dir/pan.log"
    fail=1
  fi
}

lost='assertion violated (done|\(pdone&&\(ran==made\)\))|acceptance cycle'
check waker.pml hold ''
# park stores WAITING blindly: a wake that came while the task was on its CPU is lost
check waker.pml fail "$lost" -DMUTANT
# a wake checks the state, then stores: two wakes of one wait queue the task twice
check waker.pml fail 'assertion violated \(runq==0\)' -DMUTANT_DOUBLE
check idle.pml hold ''
# park does not look at the queues again after announcing its sleep: work is stranded
check idle.pml fail "$lost" -DMUTANT
check lifo.pml hold ''
# the watcher takes the slot without membarrier: the owner's section is not seen, a task runs twice
check lifo.pml fail 'assertion violated \(ran\[t\]==0\)' -DMUTANT
# the owner does not look for a thief: the same
check lifo.pml fail 'assertion violated \(ran\[t\]==0\)' -DMUTANT_NOWAIT
exit $fail
