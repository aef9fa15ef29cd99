#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_symbols.sh <liballoy.so>: what the shared library links to.
# - No global-dynamic TLS: every thread-local of liballoy is initial-exec, so
#   the counting layer's hot path never calls __tls_get_addr (about 7 ns per
#   malloc+free here); the counters (alloy__tc) are in the TLS segment.
set -euo pipefail
lib=$1
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
if [ "$counters" != 1 ] || [ "$has_tls" != 1 ]; then
  echo "FAIL: the per-thread counters alloy__tc are not TLS in $lib" >&2
  exit 1
fi
echo "ok: no __tls_get_addr; TLS segment=$has_tls; counters=$counters"
