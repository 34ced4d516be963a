#!/usr/bin/env bash
# Cross-checks the AArch64 context switch: builds tests/ctx/ctx_check.c with
# runtime/ctx_aarch64.S for arm64 and runs it under qemu-aarch64. Needs the Debian packages
# gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user; exits 77 (skipped) without them.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  echo "check-ctx: aarch64 cross compiler or qemu-aarch64 not installed; skipped" >&2
  exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
aarch64-linux-gnu-gcc -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -Iruntime -Ibase \
  tests/ctx/ctx_check.c runtime/ctx_make.c runtime/ctx_aarch64.S -o "$out/ctx_check" -lm
qemu-aarch64 -L /usr/aarch64-linux-gnu "$out/ctx_check"
