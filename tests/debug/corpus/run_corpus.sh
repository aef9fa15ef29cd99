#!/bin/sh
# SPDX-License-Identifier: MIT
# run_corpus.sh <program> <expect> [preload-library]
# Runs one corpus program with ALLOY_DEBUG=1 (under LD_PRELOAD when a library is given) and
# checks its report: <expect> is "clean" (no alloy debug report, exit 0), "leaks:N:B" (exit 0,
# exactly N leaked blocks and B bytes) or an error name (report names it, program aborted).
prog=$1 expect=$2 preload=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if [ -n "$preload" ]; then
  env ALLOY_DEBUG=1 LD_PRELOAD="$preload" "$prog" >/dev/null 2>"$out"
else
  env ALLOY_DEBUG=1 "$prog" >/dev/null 2>"$out"
fi
rc=$?
fail() { echo "FAIL: $prog ($expect): $1 (exit $rc)"; cat "$out"; exit 1; }
case $expect in
clean)
  [ $rc -eq 0 ] || fail "fixed twin did not exit 0"
  grep -q "alloy debug" "$out" && fail "fixed twin was reported"
  ;;
leaks:*)
  n=${expect#leaks:}; b=${n#*:}; n=${n%%:*}
  [ $rc -eq 0 ] || fail "leaks program did not exit 0"
  grep -q "SUMMARY: alloy debug: $b bytes leaked in $n blocks" "$out" || fail "expected $n blocks, $b bytes"
  grep -q "ERROR: alloy debug" "$out" && fail "unexpected error report"
  for site in leak_three leak_one thread_body corpus_lib_make corpus_lib.c: leaks.c:; do
    grep -q "$site" "$out" || fail "leak site $site not in the report"
  done
  ;;
*)
  [ $rc -ne 0 ] || fail "bad program was not stopped"
  grep -q "ERROR: alloy debug (ALLOY_DEBUG): $expect" "$out" || fail "report does not name $expect"
  [ "$(grep -c 'ERROR: alloy debug' "$out")" -eq 1 ] || fail "more than one report"
  ;;
esac
echo "ok: $prog $expect"
