#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install the Debian packages alloy builds, tests and benchmarks with.
# Idempotent: does nothing when every package is already installed.
# Only apt-get is used; nothing else is fetched from the network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t lines < <(grep -Ev '^\s*(#|$)' "$here/packages.txt")

# A line is a package name, optionally "NAME | cmd:COMMAND": then an existing
# COMMAND on PATH also satisfies it (a tool installed another way, e.g. npm
# inside a NodeSource nodejs, which conflicts with Debian's npm package).
missing=()
for line in "${lines[@]}"; do
  p=${line%%|*}
  p=${p//[[:space:]]/}
  alt=""
  [[ $line == *"| cmd:"* ]] && alt=${line##*cmd:} && alt=${alt//[[:space:]]/}
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' && continue
  [ -n "$alt" ] && command -v "$alt" >/dev/null 2>&1 && continue
  missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 2; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
