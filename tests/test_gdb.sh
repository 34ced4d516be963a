#!/bin/sh
# The gdb extension (tools/gdb/tide-gdb.py) on a stopped program: `tide tasks` lists the
# tasks of tests/gdb_target.c by name, state, what they wait on and spawn site; `tide bt`
# prints the backtrace of a parked task through the function it parked in; the selected
# thread's registers are restored afterwards and the program then finishes normally.
# Usage: test_gdb.sh GDB_TARGET TIDE_GDB_PY. Exit 77 (skipped) without gdb or ptrace.
target=$1
ext=$2
command -v gdb >/dev/null 2>&1 || { echo "SKIP: gdb is not installed"; exit 77; }
# LeakSanitizer cannot run under ptrace: the ASan build's target skips its leak check here.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
timeout 120 gdb -nx -batch \
    -ex 'set pagination off' -ex 'set confirm off' -ex 'set width 0' \
    -ex 'break gdb_target_ready' -ex run \
    -ex "source $ext" -ex up \
    -ex 'echo ==== tasks\n' -ex 'tide tasks' \
    -ex 'echo ==== bt waiter\n' -ex 'tide bt waiter' \
    -ex 'echo ==== bt sleepy\n' -ex 'tide bt sleepy' \
    -ex 'echo ==== bt spinner\n' -ex 'tide bt spinner' \
    -ex 'echo ==== bt here\n' -ex 'frame' -ex 'bt 1' \
    -ex 'echo ==== continue\n' -ex continue \
    "$target" >"$out" 2>&1
cat "$out"
if grep -q "ptrace: Operation not permitted\|Could not trace the inferior" "$out"; then
    echo "SKIP: this machine does not allow ptrace"
    exit 77
fi
fail=0
check() { # check SECTION REGEX WHAT
    if ! sed -n "/^==== $1\$/,/^====/p" "$out" | grep -Eq "$2"; then
        echo "FAIL: $3 (section '$1' lacks /$2/)"
        fail=1
    fi
}
check tasks "^runtime [0-9]+ .*: 2 workers, 4 tasks" "tide tasks names the runtime and counts its tasks"
check tasks "[0-9]+ +spinner +running +[01] +- +.*gdb_target\.c:[0-9]+" "the running task and its worker"
check tasks "[0-9]+ +sleepy +waiting +- +sleep +.*gdb_target\.c:[0-9]+" "the sleeping task, its wait and spawn site"
check tasks "[0-9]+ +waiter +waiting +- +gdb test +.*gdb_target\.c:[0-9]+" "a waiting task"
check "bt waiter" "task [0-9]+ 'waiter', waiting on gdb test" "tide bt names the task"
check "bt waiter" "#[0-9]+ .*gdb_target_wait_here \(depth=[^)]*0\)" "the function a waiter parked in"
check "bt waiter" "#[0-9]+ .*gdb_target_wait_here \(depth=[^)]*2\)" "its callers on the task's stack"
check "bt waiter" "#[0-9]+ .*waiter \(" "the task's body"
check "bt waiter" "tide_park_on" "the park itself"
check "bt sleepy" "#[0-9]+ .*gdb_target_sleep_leaf" "the function the sleeper parked in"
check "bt sleepy" "#[0-9]+ .*tide_sleep" "the sleep itself"
check "bt spinner" "task [0-9]+ 'spinner' is running on worker [01]" "a running task is shown on its worker thread"
check "bt spinner" "#[0-9]+ .*gdb_target_spin" "the function it runs"
check "bt here" "#1 .* main \(" "the frame selected before (main, after 'up') is selected again"
check "bt here" "#0 .*gdb_target_ready" "the stopped thread's own registers are back"
check continue "gdb_target: done" "the program finished its work after the inspection"
check continue "exited normally" "and exited normally"
if [ "$(sed -n '/^==== bt waiter$/,/^====/p' "$out" | grep -c "^task .*'waiter'")" != 2 ]; then
    echo "FAIL: tide bt NAME shows every task of that name"
    fail=1
fi
[ $fail = 0 ] && echo "PASS"
exit $fail
