#!/usr/bin/env bash
# Builds the peer programs of benches/peers/ into BUILD_DIR/peers/, offline, from Debian's
# packages only:
#
#   benches/peers/build.sh BUILD_DIR
#
#   BUILD_DIR/peers/tide-peer-tokio   cargo + rustc + librust-tokio-dev (the crate sources
#                                     Debian installs under /usr/share/cargo/registry, used
#                                     as a directory source: see tokio/.cargo/config.toml)
#   BUILD_DIR/peers/tide-peer-go      golang-go, standard library only, no module download
#
# (tide-peer-epoll, plain C, is a CMake target of benches/.) A peer whose toolchain is missing
# gets a note on stderr and no binary; that is not a failure. Exit status 1 only if a
# toolchain is there and the build fails. Every output (cargo's target dir, Cargo.lock, Go's
# caches) stays under BUILD_DIR/peers/. The first tokio build takes ~1 minute of CPU (2-3
# minutes on a busy 2-CPU machine); later ones are incremental.
set -uo pipefail

if (($# != 1)); then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1/peers"
out=$(cd "$1/peers" && pwd)
say() { echo "[peers/build.sh] $*" >&2; }
status=0

# ---- tokio ---------------------------------------------------------------------------------
# Debian's cargo and rustc (/usr/bin) match Debian's crate sources; a rustup toolchain earlier
# in PATH is used only when Debian's is absent.
cargo=""
rustc=""
if [[ -x /usr/bin/cargo && -x /usr/bin/rustc ]]; then
  cargo=/usr/bin/cargo rustc=/usr/bin/rustc
elif command -v cargo >/dev/null && command -v rustc >/dev/null; then
  cargo=$(command -v cargo) rustc=$(command -v rustc)
fi
registry=/usr/share/cargo/registry
if [[ -z "$cargo" ]]; then
  say "note: no cargo/rustc: the tokio peer is not built (scripts/setup-deps.sh installs cargo, rustc, librust-tokio-dev)"
elif ! compgen -G "$registry/tokio-1.*" >/dev/null; then
  say "note: no tokio sources in $registry: the tokio peer is not built (install librust-tokio-dev)"
else
  # cargo writes Cargo.lock next to Cargo.toml: build from a copy so the source tree stays clean.
  src="$out/tokio-src"
  mkdir -p "$src/src" "$src/.cargo"
  cp "$here/tokio/Cargo.toml" "$src/"
  cp "$here/tokio/.cargo/config.toml" "$src/.cargo/"
  for f in "$here"/tokio/src/*.rs; do cmp -s "$f" "$src/src/${f##*/}" || cp "$f" "$src/src/"; done
  say "building the tokio peer ($cargo, $("$rustc" --version))"
  start=$(date +%s)
  if (cd "$src" && CARGO_HOME="$out/cargo-home" CARGO_TARGET_DIR="$out/tokio-target" \
        RUSTC="$rustc" "$cargo" build --release --offline -q); then
    cp "$out/tokio-target/release/tide-peer-tokio" "$out/tide-peer-tokio"
    say "built $out/tide-peer-tokio in $(($(date +%s) - start)) s"
  else
    say "the tokio peer FAILED to build"
    status=1
  fi
fi

# ---- Go ------------------------------------------------------------------------------------
gobin=""
if command -v go >/dev/null; then gobin=$(command -v go); elif [[ -x /usr/lib/go/bin/go ]]; then gobin=/usr/lib/go/bin/go; fi
if [[ -z "$gobin" ]]; then
  say "note: no go: the Go peer is not built (scripts/setup-deps.sh installs golang-go)"
else
  say "building the Go peer ($("$gobin" version))"
  start=$(date +%s)
  if (cd "$here/go" && GOTOOLCHAIN=local GOPROXY=off GOFLAGS= GOCACHE="$out/go-cache" \
        GOPATH="$out/go-path" "$gobin" build -o "$out/tide-peer-go" .); then
    say "built $out/tide-peer-go in $(($(date +%s) - start)) s"
  else
    say "the Go peer FAILED to build"
    status=1
  fi
fi
exit $status
