# SPDX-License-Identifier: MIT
# Run by bash under LD_PRELOAD=liballoy-override.so: arrays, pipes, subshells.
words=()
for i in $(seq 1 2000); do words+=("w$i"); done
pipe=$(seq 1 1000 | awk '{s += $1} END {print s}')
n=0
for i in $(seq 1 10); do ( exit 0 ) && n=$((n + 1)); done
declare -A assoc
for i in $(seq 1 300); do assoc["k$i"]=$(printf '%05d' "$i"); done
echo "words ${#words[@]} pipe $pipe subshells $n assoc ${#assoc[@]}"
