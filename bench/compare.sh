#!/usr/bin/env bash
# Side by side, in one run on this machine: the agent built from git REF
# ("before", default: the release before the lean agent) and the agent in
# BUILD ("after", default build/).  Prints issue #10's table (bench_lean.c
# says how each figure is measured).  Root, idle machine; a few minutes.
#   bench/compare.sh [REF] [BUILD] [runs] [pairs: 9]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
ref=${1:-$(git -C "$here" rev-parse '130221c~1')}
build=${2:-$here/build}
wt=$(mktemp -d /tmp/jcw-before-XXXXXX)
trap 'git -C "$here" worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"' EXIT
git -C "$here" worktree add --detach "$wt" "$ref" >/dev/null
# Before is built as after was (RelWithDebInfo from `make build` is -O2,
# Release -O3): otherwise the compiler's flags are part of the difference.
type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null)
cmake -S "$wt" -B "$wt/build" -DCMAKE_BUILD_TYPE="${type:-RelWithDebInfo}" >/dev/null
cmake --build "$wt/build" -j"$(nproc)" --target jcode-watcher >/dev/null
cmake --build "$build" -j"$(nproc)" --target jcode-watcher bench_lean >/dev/null
echo "before: $(git -C "$here" log --oneline -1 "$ref")"
echo "after:  $(git -C "$here" log --oneline -1 HEAD) + working tree, $build"
"$build/bench/bench_lean" "$wt/build/jcode-watcher" "$build/jcode-watcher" "${3:-5000}" "${4:-9}"
