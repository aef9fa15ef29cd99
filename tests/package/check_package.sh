#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_package.sh <mode> <alloy-source-dir> <alloy-build-dir>
#   install:      cmake --install to a temp prefix, then find_package consumer
#   pkgconfig:    cmake --install, then cc $(pkg-config ...) shared and --static
#   subdirectory: add_subdirectory(alloy) consumer; alloy's tests and install rules must stay out,
#                 the parent's build type is not changed, each source compiles once and only
#                 the linked libraries are built
#   make-install: `make install PREFIX=... DESTDIR=...` lands every file under DESTDIR/PREFIX
#   make-run:     `make run` on a built tree is quiet, labelled, ends with what next, < 30 s
#   no-libdw:     the library builds and runs with -DALLOY_WITH_LIBDW=OFF (no elfutils)
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
  for f in share/man/man3/alloy.3 share/doc/alloy/LICENSE share/doc/alloy/README.md \
           share/doc/alloy/docs/api.md share/doc/alloy/examples/quickstart.c \
           lib/pkgconfig/alloy.pc lib/pkgconfig/alloy-static.pc; do
    [ -f "$work/prefix/$f" ] || { echo "not installed: $f" >&2; exit 1; }
  done
  grep -q '^License: MIT$' "$work/prefix/lib/pkgconfig/alloy.pc" || { echo "alloy.pc names no licence" >&2; exit 1; }
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
  # the README's static line, with and without --static, beside the shared library
  cc "$here/consumer/main.c" -o "$work/static" $(pkg-config --cflags --libs alloy-static)
  cc "$here/consumer/main.c" -o "$work/static2" $(pkg-config --static --cflags --libs alloy-static)
  check_out "$work/shared"
  check_out "$work/static"
  check_out "$work/static2"
  for exe in static static2; do
    deps=$(ldd "$work/$exe")
    if grep -q 'liballoy' <<<"$deps"; then echo "$exe: pkg-config alloy-static links liballoy.so:" >&2; echo "$deps" >&2; exit 1; fi
  done
  deps=$(ldd "$work/shared")
  grep -q 'liballoy.so.0' <<<"$deps" || { echo "shared consumer does not use liballoy.so.0" >&2; exit 1; }
  ;;
subdirectory)
  # no build type given: alloy must not set one for its parent
  cmake -S "$here/consumer" -B "$work/c" -DALLOY_SOURCE_DIR="$src" >"$work/configure.log"
  cache_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$work/c/CMakeCache.txt")
  [ -z "$cache_type" ] || { echo "alloy set its parent's CMAKE_BUILD_TYPE to '$cache_type'" >&2; exit 1; }
  # a parent that links only the static library builds it alone, each source once
  cmake --build "$work/c" --target consumer_static >/dev/null
  [ -f "$work/c/alloy-build/liballoy.a" ] || { echo "liballoy.a not built" >&2; exit 1; }
  built=$(find "$work/c/alloy-build" -name 'liballoy*.so*' -o -name 'liballoy-override*')
  [ -z "$built" ] || { echo "building consumer_static also built: $built" >&2; exit 1; }
  objs=$(find "$work/c/alloy-build" -path '*/src/heap.c.o' | wc -l)
  [ "$objs" -eq 1 ] || { echo "src/heap.c compiled $objs times" >&2; exit 1; }
  cmake --build "$work/c" >/dev/null
  [ ! -e "$work/c/alloy-build/liballoy-override.so" ] || { echo "the unused override library was built" >&2; exit 1; }
  objs=$(find "$work/c/alloy-build" -path '*/src/heap.c.o' | wc -l)
  [ "$objs" -eq 1 ] || { echo "src/heap.c compiled $objs times for the shared and static libraries" >&2; exit 1; }
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
make-install)
  # the Makefile's install target: PREFIX honoured, everything staged under DESTDIR
  make -C "$src" install BUILD="$build" PREFIX=/opt/alloy-pkgtest DESTDIR="$work/stage" >"$work/install.log"
  [ ! -e /opt/alloy-pkgtest ] || { echo "make install wrote outside DESTDIR" >&2; exit 1; }
  root="$work/stage/opt/alloy-pkgtest"
  for f in include/alloy.h include/alloy/heap.h share/man/man3/alloy.3 share/doc/alloy/LICENSE; do
    [ -f "$root/$f" ] || { echo "make install: $f missing under $root" >&2; cat "$work/install.log" >&2; exit 1; }
  done
  pc=$(find "$root" -name alloy-static.pc)
  [ -n "$pc" ] || { echo "make install: no alloy-static.pc" >&2; exit 1; }
  lib=$(find "$root" -name 'liballoy.so.0')
  [ -n "$lib" ] || { echo "make install: no liballoy.so.0" >&2; exit 1; }
  export PKG_CONFIG_PATH=$(dirname "$pc")
  cc "$here/consumer/main.c" -o "$work/m" $(pkg-config --cflags --libs alloy) -Wl,-rpath,"$(dirname "$lib")"
  check_out "$work/m"
  ;;
make-run)
  # `make run` on a built tree: quiet build, three labelled programs, three "what next" lines, < 30 s
  [ -x "$build/bench/bench_heap" ] || { echo "SKIP: this build has no bench_heap (ALLOY_BUILD_BENCH=OFF)"; exit 77; }
  load=$(cut -d' ' -f1 /proc/loadavg)
  start=$(date +%s)
  (cd "$src" && make run BUILD="$build") >"$work/run.log" 2>&1 || { cat "$work/run.log" >&2; exit 1; }
  took=$(( $(date +%s) - start ))
  if grep -q 'Entering directory\|Leaving directory' "$work/run.log"; then echo "make run printed make's directory lines" >&2; exit 1; fi
  for label in '== 1/3 ' '== 2/3 ' '== 3/3 ' 'What next:' '  link it: ' '  read: ' '  debug: '; do
    grep -q "^$label" "$work/run.log" || { echo "make run output lacks '$label'" >&2; cat "$work/run.log" >&2; exit 1; }
  done
  [ "$(tail -n 3 "$work/run.log" | grep -c '^  ')" = 3 ] || { echo "make run does not end with the three next steps" >&2; exit 1; }
  # The 30 s limit holds on a machine that is not busy; under load (more runnable
  # work than cores before the run) the time is reported, not judged.
  if awk -v l="$load" -v c="$(nproc)" 'BEGIN { exit !(l < c) }'; then
    [ "$took" -lt 30 ] || { echo "make run took $took s on a built tree (limit 30, load $load)" >&2; exit 1; }
  else
    echo "note: load $load on $(nproc) cores before the run; $took s not judged against the 30 s limit"
  fi
  echo "ok $mode: $(wc -l <"$work/run.log") lines in $took s"
  exit 0
  ;;
no-libdw)
  # the library without elfutils: -DALLOY_WITH_LIBDW=OFF compiles symbols.c with ALLOY_HAVE_LIBDW=0
  cmake -S "$src" -B "$work/b" -DALLOY_WITH_LIBDW=OFF -DALLOY_BACKEND=libc -DALLOY_BUILD_TESTS=OFF \
        -DALLOY_BUILD_BENCH=OFF -DALLOY_BUILD_EXAMPLES=OFF -DALLOY_BUILD_TOOLS=OFF >"$work/configure.log"
  grep -q 'libdw headers not used' "$work/configure.log" || { echo "configure did not say libdw is off" >&2; exit 1; }
  cmake --build "$work/b" --target alloy >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
  strs=$(strings "$work/b/liballoy.so")
  if grep -q 'dwfl_begin' <<<"$strs"; then echo "liballoy built without libdw still names dwfl_begin" >&2; exit 1; fi
  cc "$here/consumer/main.c" -o "$work/n" -I"$src/include" -I"$work/b/include" -L"$work/b" -lalloy -Wl,-rpath,"$work/b"
  out=$("$work/n")
  [ "$out" = "consumer uses libc" ] || { echo "FAIL: $out" >&2; exit 1; }
  echo "ok $mode: $out"
  exit 0
  ;;
override-on)
  # liballoy itself built with ALLOY_OVERRIDE=ON replaces malloc for its users
  cmake -S "$src" -B "$work/b" -DALLOY_OVERRIDE=ON -DALLOY_BUILD_TESTS=OFF -DALLOY_BUILD_BENCH=OFF \
        -DALLOY_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$work/b" --target alloy >/dev/null
  grep -q '#define ALLOY_OVERRIDE 1' "$work/b/include/alloy/config.h" || { echo "config.h lacks ALLOY_OVERRIDE 1" >&2; exit 1; }
  cc "$here/consumer/override_on.c" -o "$work/on" -I"$src/include" -I"$work/b/include" \
     -L"$work/b" -lalloy -Wl,-rpath,"$work/b"
  out=$(ALLOY_STATS=1 "$work/on") # counting is a layer, off unless asked for
  case $out in "override on: malloc served by "*) ;; *) echo "FAIL: $out" >&2; exit 1 ;; esac
  echo "ok $mode: $out"
  exit 0
  ;;
*) echo "usage: check_package.sh install|pkgconfig|subdirectory|make-install|make-run|no-libdw|override-on SRC BUILD" >&2; exit 2 ;;
esac
echo "ok $mode: $want"
