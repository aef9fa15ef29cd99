#!/usr/bin/env bash
# check_package.sh <mode> <alloy-source-dir> <alloy-build-dir>
#   install:      cmake --install to a temp prefix, then find_package consumer
#   pkgconfig:    cmake --install, then cc $(pkg-config ...) shared and --static
#   subdirectory: add_subdirectory(alloy) consumer; alloy's tests and install rules must stay out
set -euo pipefail
mode=$1 src=$2 build=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here=$(cd "$(dirname "$0")" && pwd)
want="consumer uses $(ALLOY_BACKEND= "$build/examples/quickstart" | sed -n 's/^alloy on \([a-z]*\) .*/\1/p')"
[ "$want" != "consumer uses " ] || { echo "could not read the default backend" >&2; exit 1; }

install_alloy() {
  cmake --install "$build" --prefix "$work/prefix" >/dev/null
  test -f "$work/prefix/include/alloy.h"
  test -f "$work/prefix/include/alloy/config.h"
  # (outputs are captured before grep: with pipefail, `cmd | grep -q` can pass on SIGPIPE)
  dyn=$(readelf -d "$work/prefix/lib/liballoy.so")
  grep -q 'SONAME.*liballoy.so.0' <<<"$dyn"
  # every exported symbol is alloy's and declared in an installed header (alloy__
  # names are the out-of-line halves of inline fast paths); nothing else leaks
  exported=$(nm -D --defined-only "$work/prefix/lib/liballoy.so" | awk '$2 ~ /[TDBWRV]/ {print $3}')
  headers=$(cat "$work/prefix/include/alloy.h" "$work/prefix/include/alloy/"*.h)
  stray=""
  for sym in $exported; do
    case $sym in alloy_*) grep -qw "$sym" <<<"$headers" && continue ;; esac
    stray+=" $sym"
  done
  if [ -n "$stray" ]; then
    echo "liballoy.so exports symbols no installed header declares:$stray" >&2
    exit 1
  fi
}

check_out() { # <program>
  local got
  got=$("$@")
  [ "$got" = "$want" ] || { echo "FAIL: '$got' != '$want'" >&2; exit 1; }
}

case $mode in
install)
  install_alloy
  cmake -S "$here/consumer" -B "$work/c" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
  cmake --build "$work/c" >/dev/null
  check_out "$work/c/consumer_shared"
  check_out "$work/c/consumer_static"
  ;;
pkgconfig)
  install_alloy
  export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
  cc "$here/consumer/main.c" -o "$work/shared" $(pkg-config --cflags --libs alloy) -Wl,-rpath,"$work/prefix/lib"
  static_libs=$(pkg-config --static --libs alloy)
  cc "$here/consumer/main.c" -o "$work/static" $(pkg-config --cflags alloy) ${static_libs/-lalloy/-l:liballoy.a}
  check_out "$work/shared"
  check_out "$work/static"
  dyn=$(readelf -d "$work/static")
  if grep -q 'liballoy.so' <<<"$dyn"; then echo "static consumer needs liballoy.so" >&2; exit 1; fi
  ;;
subdirectory)
  cmake -S "$here/consumer" -B "$work/c" -DALLOY_SOURCE_DIR="$src" >"$work/configure.log"
  cmake --build "$work/c" >/dev/null
  check_out "$work/c/consumer_shared"
  check_out "$work/c/consumer_static"
  # not top level: no alloy tests, benchmarks or install rules
  registered=$(find "$work/c/alloy-build" -name CTestTestfile.cmake -exec grep -l add_test {} + || true)
  if [ -n "$registered" ]; then echo "alloy registered tests as a subproject" >&2; exit 1; fi
  [ ! -d "$work/c/alloy-build/bench" ] || { echo "alloy built its benchmarks as a subproject" >&2; exit 1; }
  if grep -q 'liballoy\|alloyTargets' "$work/c/alloy-build/cmake_install.cmake"; then
    echo "alloy added install rules as a subproject" >&2
    exit 1
  fi
  ;;
override-on)
  # liballoy itself built with ALLOY_OVERRIDE=ON replaces malloc for its users
  cmake -S "$src" -B "$work/b" -DALLOY_OVERRIDE=ON -DALLOY_BUILD_TESTS=OFF -DALLOY_BUILD_BENCH=OFF \
        -DALLOY_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$work/b" --target alloy >/dev/null
  grep -q '#define ALLOY_OVERRIDE 1' "$work/b/include/alloy/config.h" || { echo "config.h lacks ALLOY_OVERRIDE 1" >&2; exit 1; }
  cc "$here/consumer/override_on.c" -o "$work/on" -I"$src/include" -I"$work/b/include" \
     -L"$work/b" -lalloy -Wl,-rpath,"$work/b"
  out=$("$work/on")
  case $out in "override on: malloc served by "*) ;; *) echo "FAIL: $out" >&2; exit 1 ;; esac
  echo "ok $mode: $out"
  exit 0
  ;;
*) echo "usage: check_package.sh install|pkgconfig|subdirectory|override-on SRC BUILD" >&2; exit 2 ;;
esac
echo "ok $mode: $want"
