#!/bin/sh
# SPDX-License-Identifier: MIT
# bench/callgrind_pairs.sh - instructions per malloc(64)+free pair under
# valgrind --tool=callgrind, for each backend: its own entry points (direct),
# alloy with no layer, with the counting layer, the zmalloc-style peer,
# alloy_alloc over alloy_current(), unsized and sized free (bench_heap
# --pairs), and whole programs under LD_PRELOAD of the backend's own library
# (raw) and of alloy's override library (bench_override --work pairs).
#
#   bench/callgrind_pairs.sh [BUILD_DIR] [N]      (default: build, 100000)
#
# Each figure is (Ir of 2N pairs - Ir of N pairs) / N: start-up cancels.
# Instruction counts do not drift with the machine's load.
#
#   bench/callgrind_pairs.sh --per-op N FUNCTION [NAME=VALUE...] PROGRAM [ARG...]
#
# prints one such figure for any program (bench_profile uses it): the
# instructions executed inside FUNCTION (--toggle-collect, summed over the
# processes PROGRAM execs) per unit of @N@ in the arguments. The NAME=VALUE
# pairs are set by env(1) under valgrind, so the wrapper shell does not see
# them; valgrind's launcher for the program does (it runs with the
# environment the program is exec'd with).
set -eu

if [ "${1:-}" = "--per-op" ]; then
  [ $# -ge 4 ] || { echo "usage: callgrind_pairs.sh --per-op N FUNCTION [NAME=VALUE...] PROGRAM [ARG...]" >&2; exit 2; }
  n=$2 fn=$3
  shift 3
  command -v valgrind >/dev/null || { echo "callgrind_pairs.sh: valgrind not found" >&2; exit 2; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # ir_fn COUNT CMD...: Ir inside fn of one run with @N@ = COUNT, every process summed
  ir_fn() {
    c=$1
    shift
    i=$#
    while [ "$i" -gt 0 ]; do
      a=$1
      shift
      set -- "$@" "$(printf '%s' "$a" | sed "s/@N@/$c/g")"
      i=$((i - 1))
    done
    rm -f "$tmp"/cg.*
    valgrind --tool=callgrind --trace-children=yes --toggle-collect="$fn" \
      --callgrind-out-file="$tmp/cg.%p" env "$@" >/dev/null 2>"$tmp/err" ||
      { cat "$tmp/err" >&2; exit 1; }
    total=0
    for f in "$tmp"/cg.*; do
      v=$(sed -n 's/^summary: *//p; s/^totals: *//p' "$f" | head -1 | cut -d' ' -f1)
      total=$((total + ${v:-0}))
    done
    echo "$total"
  }
  a=$(ir_fn "$n" "$@")
  b=$(ir_fn "$((2 * n))" "$@")
  echo $(((b - a + n / 2) / n))
  exit 0
fi
build=${1:-build}
n=${2:-100000}
heap=$build/bench/bench_heap
over=$build/bench/bench_override
for f in "$heap" "$over"; do
  [ -x "$f" ] || { echo "callgrind_pairs.sh: $f not built" >&2; exit 2; }
done
command -v valgrind >/dev/null || { echo "callgrind_pairs.sh: valgrind not found" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export GLIBC_TUNABLES=glibc.rtld.optional_static_tls=4096
unset ALLOY_STATS ALLOY_LEAK_CHECK ALLOY_DEBUG ALLOY_PROFILE || true

# ir PAIRS CMD...: total instructions of one run
ir() {
  pairs=$1
  shift
  out=$tmp/cg.out
  valgrind --tool=callgrind --callgrind-out-file="$out" "$@" >/dev/null 2>"$tmp/cg.err" ||
    { cat "$tmp/cg.err" >&2; exit 1; }
  sed -n 's/^summary: *//p; s/^totals: *//p' "$out" | head -1 | cut -d' ' -f1
}

# per_pair CMD-WITH-@N@: (Ir(2N) - Ir(N)) / N
per_pair() {
  a=$(ir "$n" $(echo "$@" | sed "s/@N@/$n/g"))
  b=$(ir "$((2 * n))" $(echo "$@" | sed "s/@N@/$((2 * n))/g"))
  echo $(((b - a + n / 2) / n))
}

# preload LIB BACKEND: per pair of bench_override under LD_PRELOAD=LIB (ALLOY_BACKEND=BACKEND)
preload() {
  if [ -n "$1" ]; then
    LD_PRELOAD=$1 ALLOY_BACKEND=$2 per_pair "$over" --work pairs --pairs @N@
  else
    ALLOY_BACKEND=$2 per_pair "$over" --work pairs --pairs @N@
  fi
}

# The libraries the build found (bench_override --libs): "NAME PATH" lines, "-" for none.
libs=$("$over" --libs)
lib_of() {
  echo "$libs" | awk -v b="$1" '$1 == b && $2 != "-" { print $2 }'
}
override=$(lib_of override)
backends=$(echo "$libs" | awk '$1 != "override" { printf "%s ", $1 }')

echo "instructions per malloc(64)+free pair, valgrind --tool=callgrind, (Ir(2N) - Ir(N)) / N, N = $n"
echo "commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown), $build"
echo
echo "| backend | direct | alloy | count | peer | current | direct sized | alloy sized | count sized | peer sized | preload raw | preload alloy |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for b in $backends; do
  row="| $b"
  for v in direct alloy count peer current; do
    row="$row | $(ALLOY_BACKEND=$b per_pair "$heap" --pairs @N@ --variant $v)"
  done
  for v in direct alloy count peer; do
    row="$row | $(ALLOY_BACKEND=$b per_pair "$heap" --pairs @N@ --variant $v --sized)"
  done
  row="$row | $(preload "$(lib_of "$b")" "$b") | $(preload "$override" "$b") |"
  echo "$row"
done
