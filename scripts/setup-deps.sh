#!/usr/bin/env bash
# Installs the Debian packages tide builds, tests and benchmarks with, when they are missing.
# Idempotent: a machine that already has them is left alone (no apt-get call at all).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libuv1-dev libjemalloc-dev libck-dev libcriterion-dev libcurl4-openssl-dev
  wrk python3 clang libclang-rt-14-dev valgrind
  libssl-dev openssl # TLS streams (io/tls.c), their tests and the https_hello benchmark
  # JSON for the asyncio API-aggregator example (examples/asyncio/api_aggregator.c)
  libjansson-dev
  # the protocol models (tests/models/*.pml) are checked by spin
  spin
  # the AArch64 context switch is checked under emulation (scripts/check-ctx.sh)
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
  # the peers of the benchmark report (benches/peers/build.sh), built offline: tokio from
  # Debian's crate sources, Go from its standard library
  cargo rustc librust-tokio-dev golang-go
  # the report's chart (scripts/report.py)
  python3-matplotlib
  gdb # tests/test_gdb.sh drives the gdb extension (tools/gdb/tide-gdb.py) in batch mode
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup-deps: all packages present"
  exit 0
fi

echo "setup-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
