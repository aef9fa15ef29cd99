# SPDX-License-Identifier: MIT
# alloy and alloy migrate on the command line: help, version, usage errors (exit 2, one line
# on stderr), the report file's safety, --exclude, and the dry run writing nothing.
# usage: cli.sh ALLOY CORPUS_DIR
set -u
alloy=$1
corpus=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0

check() { # check NAME WANT_STATUS WANT_STDERR_LINES command...
    name=$1 want=$2 lines=$3
    shift 3
    "$@" >"$work/out" 2>"$work/err"
    got=$?
    n=$(wc -l <"$work/err")
    if [ "$got" != "$want" ] || { [ "$lines" != "-" ] && [ "$n" != "$lines" ]; }; then
        echo "FAIL: $name: status $got (want $want), $n stderr lines (want $lines)"
        cat "$work/err"
        fails=$((fails + 1))
    fi
}

check "alloy --help" 0 0 "$alloy" --help
grep -q "migrate" "$work/out" || { echo "FAIL: --help does not list migrate"; fails=$((fails + 1)); }
check "alloy --version" 0 0 "$alloy" --version
grep -q "^alloy [0-9]" "$work/out" || { echo "FAIL: --version"; fails=$((fails + 1)); }
check "alloy (no command)" 2 1 "$alloy"
check "alloy bogus" 2 1 "$alloy" bogus
check "alloy --bogus" 2 1 "$alloy" --bogus
check "alloy help migrate" 0 0 "$alloy" help migrate
grep -q "usage: alloy migrate" "$work/out" || { echo "FAIL: help migrate"; fails=$((fails + 1)); }
check "alloy help bogus" 2 1 "$alloy" help bogus
check "migrate --help" 0 0 "$alloy" migrate --help
check "migrate (no path)" 2 1 "$alloy" migrate
check "migrate --bogus" 2 1 "$alloy" migrate --bogus "$corpus"
check "migrate missing path" 2 1 "$alloy" migrate "$work/does-not-exist"
check "migrate --report (no value)" 2 1 "$alloy" migrate --report
check "migrate --jobs 0" 2 1 "$alloy" migrate --jobs 0 "$corpus"

mkdir "$work/src" "$work/src/vendor"
cp "$corpus/basic.c" "$work/src/"
cp "$corpus/casts.c" "$work/src/vendor/"
before=$(cat "$work/src/basic.c")
NO_COLOR=1 check "migrate --exclude" 0 - "$alloy" migrate --exclude vendor "$work/src"
grep -q "vendor" "$work/out" && { echo "FAIL: --exclude vendor still migrated it"; fails=$((fails + 1)); }
grep -q "^+++ $work/src/basic.c" "$work/out" || { echo "FAIL: no diff for basic.c"; fails=$((fails + 1)); }
grep -q "$(printf '\033')" "$work/err" && { echo "FAIL: colour with NO_COLOR"; fails=$((fails + 1)); }
[ "$(cat "$work/src/basic.c")" = "$before" ] || { echo "FAIL: the dry run wrote"; fails=$((fails + 1)); }

# The report is never written through a symbolic link, nor over a file without --force.
ln -s "$work/target" "$work/link"
check "report through a symlink" 1 1 "$alloy" migrate --report "$work/link" "$work/src/basic.c"
[ -e "$work/target" ] && { echo "FAIL: wrote through the link"; fails=$((fails + 1)); }
echo keep >"$work/old"
check "report exists" 1 1 "$alloy" migrate --report "$work/old" "$work/src/basic.c"
[ "$(cat "$work/old")" = keep ] || { echo "FAIL: clobbered the report"; fails=$((fails + 1)); }
check "report --force" 0 - "$alloy" migrate --force --report "$work/old" "$work/src/basic.c"
grep -q "^# alloy migrate report" "$work/old" || { echo "FAIL: --force report"; fails=$((fails + 1)); }

[ "$fails" = 0 ] && echo "ok: alloy CLI"
exit "$fails"
