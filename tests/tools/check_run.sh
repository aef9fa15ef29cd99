#!/bin/sh
# SPDX-License-Identifier: MIT
# alloy run: environment given to the child, exit statuses, usage errors, --help.
# usage: check_run.sh ALLOY_BINARY
set -u
alloy=$1
fails=0
check() { # check NAME EXPECTED ACTUAL
    if [ "$2" != "$3" ]; then echo "FAIL $1: expected '$2', got '$3'"; fails=$((fails + 1)); else echo "ok   $1"; fi
}
"$alloy" run --help >/dev/null; check help-status 0 $?
"$alloy" run --help | grep -q -- '--backend NAME'; check help-text 0 $?
"$alloy" help run | grep -q 'usage: alloy run'; check help-cmd 0 $?
"$alloy" run >/dev/null 2>&1; check no-command 2 $?
"$alloy" run --frobnicate -- true 2>/dev/null; check bad-option 2 $?
n=$("$alloy" run --bogus -- true 2>&1 | wc -l); check usage-one-line 1 "$n"
"$alloy" run --backend nope -- true 2>/dev/null; check bad-backend 2 $?
"$alloy" run --backend 2>/dev/null; check backend-no-name 2 $?
"$alloy" run -- sh -c 'exit 7'; check exit-status 7 $?
"$alloy" run -- sh -c 'kill -TERM $$'; check signal-status 143 $?
"$alloy" run -- /nonexistent/program 2>/dev/null; check not-found 127 $?
# The environment: the library first in LD_PRELOAD, other tunables kept, ours replaced.
out=$(LD_PRELOAD= GLIBC_TUNABLES=glibc.malloc.check=0:glibc.rtld.optional_static_tls=16 \
      "$alloy" run -- sh -c 'echo "$GLIBC_TUNABLES"')
check tunables "glibc.malloc.check=0:glibc.rtld.optional_static_tls=4096" "$out"
out=$("$alloy" run -- sh -c 'echo "$LD_PRELOAD"' | grep -c 'liballoy-override.so')
check preload 1 "$out"
out=$("$alloy" run --debug --stats -- sh -c 'echo "$ALLOY_DEBUG$ALLOY_STATS"')
check debug-stats 11 "$out"
# The backend really serves the child (jemalloc needs the static TLS room).
for be in libc jemalloc tcmalloc mimalloc; do
    err=$("$alloy" run --backend $be -- python3 -c 'print(sum(range(10**5)))' 2>&1 >/dev/null)
    check "backend-$be-quiet" "" "$err"
done
[ $fails -eq 0 ] || exit 1
