#!/usr/bin/env bash
# Packages tide as a .deb with CPack, unpacks it into a scratch root (dpkg -x, no root needed,
# nothing installed on the machine) and builds an outside program against it three ways:
# find_package + the static archive, find_package + libtide.so, and pkg-config.
#   check_package.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
for tool in cpack dpkg-deb pkg-config cc; do
  command -v "$tool" >/dev/null || { echo "check_package: $tool missing; skipped"; exit 77; }
done
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

(cd "$build" && cpack -G DEB -B "$scratch/out" >"$scratch/cpack.log" 2>&1) ||
  { cat "$scratch/cpack.log"; echo "check_package: cpack failed"; exit 1; }
deb=$(ls "$scratch"/out/libtide-dev_*.deb)
echo "package: $(basename "$deb")"

fail() { echo "check_package: $*"; exit 1; }
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for dep in libuv1 libcurl4 libuv1-dev; do
  grep -qw "$dep" <<<"$depends" || fail "Depends lacks $dep"
done

root="$scratch/root"
dpkg-deb -x "$deb" "$root"
usr="$root/usr"
libdir=$(dirname "$(find "$usr" -name libtide.a | head -1)")
[ -f "$libdir/libtide.a" ] || fail "no libtide.a in the package"
soname=$(objdump -p "$libdir"/libtide.so.*.*.* | awk '/SONAME/ {print $2}')
[[ "$soname" == libtide.so.* ]] || fail "libtide.so has no soname"
[ -L "$libdir/$soname" ] && [ -L "$libdir/libtide.so" ] || fail "soname links missing"
[ -f "$usr/include/tide.h" ] || fail "no tide.h"
[ -f "$usr/include/tide/waker.h" ] || fail "no tide/waker.h (the public extension API)"
[ ! -e "$usr/include/tide/ext.h" ] || fail "tide/ext.h is internal, yet installed"
[ -f "$libdir/pkgconfig/tide.pc" ] || fail "no tide.pc"
[ -f "$libdir/cmake/tide/tideConfig.cmake" ] || fail "no CMake package"

# 1, 2: CMake's find_package, static and shared
for shared in OFF ON; do
  b="$scratch/consumer-$shared"
  cmake -S "$src/tests/package/consumer" -B "$b" -DCMAKE_PREFIX_PATH="$usr" \
    -DTIDE_CONSUMER_SHARED=$shared >"$b.log" 2>&1 || { cat "$b.log"; fail "configure ($shared)"; }
  cmake --build "$b" >>"$b.log" 2>&1 || { cat "$b.log"; fail "build ($shared)"; }
  out=$(LD_LIBRARY_PATH="$libdir" "$b/consumer")
  [ "$out" = "sum 5050" ] || fail "consumer ($shared) printed '$out'"
  # ldd's whole output into a variable, then the match: `ldd | grep -q` under pipefail fails
  # when grep exits early and ldd dies of SIGPIPE (seen once).
  deps=$(LD_LIBRARY_PATH="$libdir" ldd "$b/consumer")
  if [ $shared = ON ]; then
    grep -qF "$libdir/$soname" <<<"$deps" || fail "shared consumer does not load $soname"
  else
    ! grep -q libtide <<<"$deps" || fail "static consumer loads libtide.so"
  fi
  echo "find_package, shared=$shared: $out"
done

# 3: pkg-config (links libtide.so, as -ltide does when both are installed)
export PKG_CONFIG_PATH="$libdir/pkgconfig"
flags=$(pkg-config --cflags --libs tide) || fail "pkg-config tide"
cc "$src/tests/package/consumer/main.c" $flags -o "$scratch/consumer-pc"
out=$(LD_LIBRARY_PATH="$libdir" "$scratch/consumer-pc")
[ "$out" = "sum 5050" ] || fail "pkg-config consumer printed '$out'"
echo "pkg-config ($flags): $out"
echo "check_package: ok"
