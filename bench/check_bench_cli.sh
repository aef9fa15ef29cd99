#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_bench_cli.sh help <program>: --help prints usage and exits 0 without
#   running the benchmark; an unknown option exits 2.
# check_bench_cli.sh interrupt <bench_debug>: SIGINT in the middle of a run
#   leaves nothing behind in $TMPDIR.
set -euo pipefail
mode=$1 prog=$2
case $mode in
help)
  out=$("$prog" --help)
  case $out in usage:*) ;; *) echo "FAIL: $prog --help printed: $out" >&2; exit 1 ;; esac
  [ "$(wc -l <<<"$out")" -le 8 ] || { echo "FAIL: $prog --help ran more than the usage" >&2; exit 1; }
  rc=0
  "$prog" --no-such-option >/dev/null 2>&1 || rc=$?
  [ "$rc" = 2 ] || { echo "FAIL: $prog --no-such-option exited $rc, not 2" >&2; exit 1; }
  echo "ok: $(head -n 1 <<<"$out")"
  ;;
interrupt)
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  TMPDIR=$tmp "$prog" --quick >/dev/null 2>&1 &
  pid=$!
  # until a run's output file exists in its directory (or the program has ended), 30 s at most;
  # each file lives only while its run does, so what was seen is remembered, not looked up again
  seen=
  for _ in $(seq 300); do
    [ -n "$(find "$tmp" -mindepth 2 -type f 2>/dev/null)" ] && { seen=1; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$seen" ] || { echo "FAIL: $prog wrote no file under TMPDIR" >&2; exit 1; }
  kill -INT "$pid"
  rc=0
  wait "$pid" || rc=$?
  left=$(ls -A "$tmp")
  [ -z "$left" ] || { echo "FAIL: after SIGINT, $prog left: $left" >&2; exit 1; }
  [ "$rc" = 130 ] || { echo "FAIL: $prog exited $rc after SIGINT, not 130 (killed by SIGINT)" >&2; exit 1; }
  echo "ok: interrupted, nothing left in TMPDIR"
  ;;
*) echo "usage: check_bench_cli.sh help|interrupt PROGRAM" >&2; exit 2 ;;
esac
