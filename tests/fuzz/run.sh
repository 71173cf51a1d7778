#!/bin/sh
# run.sh BUILD_DIR [SECONDS]: build the libFuzzer harnesses with clang into
# BUILD_DIR, then run each for SECONDS (default 20) on a scratch copy of its
# seed corpus (tests/fuzz/corpus/NAME).  Exit 1 on any crash, leak, timeout
# or broken invariant (the reproducer is left as BUILD_DIR/NAME-crash-*);
# exit 77 (skip) when clang or its libFuzzer runtime is missing.
# Reproduce: BUILD_DIR/tests/fuzz/fuzz_NAME BUILD_DIR/fuzz_NAME-crash-...
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
secs=${2:-20}
cc=${FUZZ_CC:-clang}

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "skipping the fuzz harnesses: $cc is not installed (apt-get install clang)"
	exit 77
fi
probe=$(mktemp -d)
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' > "$probe/p.c"
if ! "$cc" -fsanitize=fuzzer "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
	rm -rf "$probe"
	echo "skipping the fuzz harnesses: $cc has no libFuzzer runtime (libclang-rt)"
	exit 77
fi
rm -rf "$probe"

mkdir -p "$build"
build=$(cd "$build" && pwd)
if ! cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER="$cc" -DJCW_FUZZ=ON \
	-DCMAKE_BUILD_TYPE=Debug >"$build/configure.log" 2>&1; then
	cat "$build/configure.log"
	exit 1
fi
if ! cmake --build "$build" --target fuzz_all -j "$(nproc 2>/dev/null || echo 2)" \
	>"$build/build.log" 2>&1; then
	grep -E 'error|warning' "$build/build.log" || tail -40 "$build/build.log"
	exit 1
fi

fail=0
for h in "$build"/tests/fuzz/fuzz_*; do
	[ -x "$h" ] || continue
	name=$(basename "$h")
	work=$(mktemp -d)
	cp "$here/corpus/${name#fuzz_}"/* "$work"/ 2>/dev/null
	# Kernel records are ~10 KiB, spool segments hold several.
	case $name in
	fuzz_decoder|fuzz_spool) max_len=-max_len=32768 ;;
	*) max_len=-max_len=4096 ;;
	esac
	if "$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		$max_len -artifact_prefix="$build/$name-" "$work" >"$build/$name.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/$name.log")
		echo "ok   $name: ${runs:-?} runs in ${secs} s"
	else
		echo "FAIL $name (log: $build/$name.log)"
		grep -E -A30 'ERROR|invariant broken|runtime error|deadly signal' \
			"$build/$name.log" | head -60
		fail=1
	fi
	rm -rf "$work"
done
exit $fail
