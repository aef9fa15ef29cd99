#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# spdx.sh [--check] [dir]: give every tracked source file of the alloy
# checkout in <dir> (default: this script's checkout) an SPDX licence line
# as its first line (second after a #! line), in the comment form of its
# language. Idempotent: a file that has the line is left as it is.
#   --check  change nothing; list the files without the line, exit 1 if any.
set -euo pipefail
check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
if [ $# -gt 1 ] || [[ "${1:-}" == -* ]]; then
  echo "usage: spdx.sh [--check] [checkout-dir]" >&2
  exit 2
fi
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || {
  echo "spdx.sh: $root is not a git checkout (the tracked files are read with git ls-files)" >&2
  exit 2
}
tag="SPDX-License-Identifier: MIT"

# The licence line for a path, or nothing when the path is not a source file.
line_for() {
  case $1 in
  .ci/*) ;; # the CI runner is not part of the project
  *.c | *.h | *.cc | *.cpp | *.h.in) echo "/* $tag */" ;;
  *.toml) echo "# $tag" ;;
  *.cocci) echo "// $tag" ;; # Coccinelle semantic patches take C++-style comments
  *.sh | *.py | *.cmake | *.cmake.in | *.pc.in | */CMakeLists.txt | CMakeLists.txt | Makefile) echo "# $tag" ;;
  *.[1-9]) echo ".\\\" $tag" ;;
  esac
}

missing=0
while IFS= read -r -d '' f; do
  want=$(line_for "$f")
  [ -n "$want" ] && [ -f "$f" ] || continue
  # Present in the first line, or the second after a #! line: nothing to do.
  first=$(head -n 1 -- "$f")
  if [[ $first == "#!"* ]]; then
    head -n 2 -- "$f" | tail -n +2 | grep -qF "$tag" && continue
  else
    grep -qF "$tag" <<<"$first" && continue
  fi
  missing=$((missing + 1))
  if [ $check = 1 ]; then
    echo "no SPDX line: $f"
    continue
  fi
  tmp=$(mktemp "$f.spdx.XXXXXX")
  if [[ $first == "#!"* ]]; then
    { printf '%s\n%s\n' "$first" "$want"; tail -n +2 -- "$f"; } >"$tmp"
  else
    { printf '%s\n' "$want"; cat -- "$f"; } >"$tmp"
  fi
  chmod --reference="$f" "$tmp"
  mv -- "$tmp" "$f"
  echo "added: $f"
done < <(git ls-files -z)

if [ $check = 1 ] && [ $missing -gt 0 ]; then
  echo "spdx.sh: $missing tracked source file(s) lack '$tag'; run scripts/spdx.sh" >&2
  exit 1
fi
exit 0
