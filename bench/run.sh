#!/usr/bin/env bash
# Runs every benchmark against the agent built in $1 (default build/).
# Figures are printed; nothing is asserted about speed here.
set -euo pipefail
build=${1:-build}
echo "== procmon: 2,000 runs back to back (burst) =="
"$build/bench/bench_procmon" "$build/jcode-watcher" 2000 0
echo "== procmon: 3,000 runs paced at 1,000/s (exit -> receiver delay) =="
"$build/bench/bench_procmon" "$build/jcode-watcher" 3000 1000
for b in "$build"/bench/bench_*; do
	case "$b" in */bench_procmon) continue ;; esac
	echo "== $(basename "$b") =="
	"$b" "$build/jcode-watcher"
done
