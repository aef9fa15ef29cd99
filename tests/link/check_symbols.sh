#!/usr/bin/env bash
# check_symbols.sh <liballoy.so> <stats 0|1>: what the shared library links to.
# - No global-dynamic TLS: every thread-local of liballoy is initial-exec, so
#   the hot path never calls __tls_get_addr (about 7 ns per malloc+free here).
# - With ALLOY_STATS=OFF the counters are compiled out: no per-thread counter
#   block exists in the library at all.
set -euo pipefail
lib=$1 stats=$2
# Capture first: with pipefail, `nm | grep -q` can lose to SIGPIPE and pass.
dynsyms=$(nm -D "$lib")
if grep -q '__tls_get_addr' <<<"$dynsyms"; then
  echo "FAIL: $lib calls __tls_get_addr (global-dynamic TLS); use ALLOY_TLS (initial-exec)" >&2
  exit 1
fi
segments=$(readelf -lW "$lib")
if grep -q ' TLS ' <<<"$segments"; then has_tls=1; else has_tls=0; fi
allsyms=$(nm "$lib")
counters=$(grep -c ' alloy__tc$' <<<"$allsyms" || true)
if [ "$stats" = 1 ] && [ "$counters" != 1 ]; then
  echo "FAIL: counters compiled in but alloy__tc not found" >&2
  exit 1
fi
if [ "$stats" = 0 ] && [ "$counters" != 0 ]; then
  echo "FAIL: ALLOY_STATS=OFF but the per-thread counters are still in $lib" >&2
  exit 1
fi
echo "ok: no __tls_get_addr; TLS segment=$has_tls; counters=$counters"
