#!/usr/bin/env bash
# Instructions the agent executes per student run, before and after, counted
# by callgrind: exact where CPU time on a shared 2-core machine moves by
# ±15 % (and this machine has no hardware counters for perf).  Only what
# runs inside loop_run() is counted: start-up (and the old agent's in-process
# BPF compile) is left out.  Root; valgrind (Debian's `valgrind`); minutes.
#   bench/instructions.sh [REF] [BUILD] [runs: 2000]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ref=${1:-$(git -C "$here" rev-parse '130221c~1')}
build=${2:-$here/build}
runs=${3:-2000}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
tmp=$(mktemp -d /tmp/jcw-instr-XXXXXX)
wt=$tmp/before
trap 'git -C "$here" worktree remove --force "$wt" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
git -C "$here" worktree add --detach "$wt" "$ref" >/dev/null
# Before is built as after was (RelWithDebInfo from `make build` is -O2,
# Release -O3): otherwise the compiler's flags are part of the difference.
type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null)
cmake -S "$wt" -B "$wt/build" -DCMAKE_BUILD_TYPE="${type:-RelWithDebInfo}" >/dev/null
cmake --build "$wt/build" -j"$(nproc)" --target jcode-watcher >/dev/null
cmake --build "$build" -j"$(nproc)" --target jcode-watcher bench_lean >/dev/null

# The agent under callgrind; its loader child (after) runs natively.
wrap() {	# name binary
	cat >"$tmp/$1.sh" <<WRAP
#!/bin/sh
export JCW_LOADER_EXE=$2
exec valgrind -q --tool=callgrind --toggle-collect=loop_run \
	--callgrind-out-file=$tmp/$1.cg.%p $2 "\$@"
WRAP
	chmod +x "$tmp/$1.sh"
}
wrap before "$wt/build/jcode-watcher"
wrap after "$build/jcode-watcher"
"$build/bench/bench_lean" "$tmp/before.sh" "$tmp/after.sh" "$runs" 1 "$runs" >"$tmp/lean.out"
grep -q "| 0 | 0 |" <(grep '^| lost' "$tmp/lean.out") ||
	echo "warning: records were lost under valgrind; per-run figures undercount" >&2

total() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }
# Files in start order: the stdout-mode pair first, then the spool + HTTP rounds.
per_run() {	# name -> "stdout http-median"
	local files=() f n=0 http=()
	mapfile -t files < <(ls -tr "$tmp"/$1.cg.*)
	for f in "${files[@]:1}"; do http+=("$(( $(total "$f") / runs ))"); done
	printf '%s %s\n' "$(( $(total "${files[0]}") / runs ))" \
		"$(printf '%s\n' "${http[@]}" | sort -n | sed -n "$(( (${#http[@]} + 1) / 2 ))p")"
}
read -r b_out b_http < <(per_run before)
read -r a_out a_http < <(per_run after)
echo "before: $(git -C "$here" log --oneline -1 "$ref")"
echo "after:  $(git -C "$here" log --oneline -1 HEAD) + working tree, $build"
echo "| instructions per run (callgrind, inside loop_run) | before | after |"
echo "|---|---|---|"
echo "| JSON to stdout | $b_out | $a_out |"
echo "| spool + HTTP to a loopback receiver (median of 3 rounds) | $b_http | $a_http |"
