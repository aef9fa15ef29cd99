#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_licence.sh <alloy-source-dir>: LICENSE is MIT, and every tracked source
# file starts with the SPDX line (scripts/spdx.sh --check).
set -euo pipefail
src=$1
if ! git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "SKIP: $src is not a git checkout; the tracked files cannot be listed"
  exit 77
fi
[ -f "$src/LICENSE" ] || { echo "FAIL: no LICENSE file" >&2; exit 1; }
grep -q '^MIT License' "$src/LICENSE" || { echo "FAIL: LICENSE is not the MIT licence" >&2; exit 1; }
grep -q '^Copyright (c) 2026 the alloy authors' "$src/LICENSE" || { echo "FAIL: LICENSE lacks the copyright line" >&2; exit 1; }
exec "$src/scripts/spdx.sh" --check "$src"
