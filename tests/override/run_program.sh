#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run_program.sh <liballoy-override.so> <program>: run a real program with
# every malloc of the process sent to alloy, check its output, and check that
# alloy really served it (ALLOY_LEAK_CHECK reports the blocks it counted).
set -euo pipefail
lib=$1 prog=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

run() { env LD_PRELOAD="$lib" ALLOY_LEAK_CHECK=1 "$@" 2>>"$work/stderr"; }
# The oracle for deterministic programs: the same command without alloy.
plain() { "$@" 2>&1; }

case $prog in
python)
  out=$(run /usr/bin/python3 "$here/threads.py")
  want=$(plain /usr/bin/python3 "$here/threads.py")
  case $want in "threads 4 sum 1800060000 fork 41 dlopen 3."*" sqlite 5000050000") ;; *) want="bad oracle: $want" ;; esac
  ;;
git)
  export GIT_CONFIG_NOSYSTEM=1 HOME=$work
  run git init -q repo
  cd repo
  for i in $(seq 1 30); do seq 1 $((i * 100)) >"file$i.txt"; done
  run git -c user.name=t -c user.email=t@example.invalid add .
  run git -c user.name=t -c user.email=t@example.invalid commit -qm first
  echo change >>file7.txt
  run git -c user.name=t -c user.email=t@example.invalid commit -qam second
  run git gc -q
  out="$(run git log --oneline | wc -l) $(run git diff --stat HEAD~1 | tail -1 | tr -s ' ') $(run git ls-files | wc -l)"
  want="2  1 file changed, 1 insertion(+) 30"
  ;;
gcc)
  printf '#include <stdio.h>\nint main(void){ printf("built %%d\\n", 6 * 7); return 0; }\n' >hello.c
  run gcc -O2 -o hello hello.c
  out=$(run ./hello)
  want="built 42"
  ;;
sqlite3)
  sql="create table t(x integer, s text);
    with recursive c(i) as (select 1 union all select i + 1 from c where i < 200000)
    insert into t select i, printf('row-%d', i) from c;
    create index ix on t(s);
    select count(*), sum(x), max(s) from t where x % 3 = 0;"
  out=$(run sqlite3 :memory: "$sql")
  want="66666|6666633333|row-99999"
  [ "$(plain sqlite3 :memory: "$sql")" = "$want" ] || want="bad oracle"
  ;;
bash)
  out=$(run bash "$here/script.sh")
  want="words 2000 pipe 500500 subshells 10 assoc 300"
  ;;
*)
  echo "unknown program $prog" >&2
  exit 2
  ;;
esac

if [ "$out" != "$want" ]; then
  echo "FAIL $prog: got '$out', want '$want'" >&2
  cat "$work/stderr" >&2
  exit 1
fi
# every process printed its leak check: alloy served it, and counted blocks
evidence='alloy: leak check \([a-z]+\): [0-9]+ of [1-9][0-9]* blocks'
if ! grep -Eq "$evidence" "$work/stderr"; then
  echo "FAIL $prog: no evidence that alloy served its allocations" >&2
  cat "$work/stderr" >&2
  exit 1
fi
unexpected=$(grep -Ev "$evidence" "$work/stderr" || true)
if [ -n "$unexpected" ]; then
  echo "FAIL $prog: unexpected stderr" >&2
  cat "$work/stderr" >&2
  exit 1
fi
backend=$(grep -Eo 'leak check \([a-z]+\)' "$work/stderr" | sort -u | tr '\n' ' ' || true)
echo "ok $prog: $out [$backend]"
