#!/usr/bin/env bash
# packaging/Dockerfile without a container engine (a fresh CI machine has
# none, and no registry to pull debian:12-slim from):
#  - .dockerignore keeps .git and build trees out of the context;
#  - the context it leaves (copied here by .dockerignore's rules) builds the
#    agent with the Dockerfile's own cmake flags, and that build makes the
#    agent and no test or benchmark;
#  - -j is bounded by ARG JOBS; two stages; the OCI labels are there;
#  - the runtime stage installs exactly the packages that provide what the
#    binary links and what its loader child dlopen()s (read from
#    src/kernel/bpf_loader.c), plus ca-certificates, tar and xz-utils, each
#    for its stated reason (on Debian 12, the image's base, where dpkg -S
#    can say which package ships each library).
#   dockerfile.sh SOURCE_DIR
set -euo pipefail
src=$1
df=$src/packaging/Dockerfile ign=$src/.dockerignore
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for p in .git build 'build-*'; do
	grep -qxF -- "$p" "$ign" || fail ".dockerignore lacks $p"
done
echo "ok: .dockerignore excludes .git and the build trees"

# The context, as the engine sends it: .dockerignore's patterns (Go's
# filepath.Match per path, ** for any directories; a directory's match
# excludes what is below it).
"$py" - "$src" "$ign" "$tmp/ctx" <<'PY'
import fnmatch, os, re, shutil, sys
src, ign, dst = sys.argv[1:]
pats = [l.strip() for l in open(ign) if l.strip() and not l.startswith("#")]
assert not any(p.startswith("!") for p in pats), "exceptions (!) are not modelled here"
def rx(p):
    return re.compile(fnmatch.translate(p).replace(".*.*/", "(?:.*/)?"))
rxs = [rx(p.strip("/")) for p in pats]
def excluded(rel):
    parts = rel.split("/")
    return any(r.match("/".join(parts[:i])) for r in rxs for i in range(1, len(parts) + 1))
n = 0
for root, dirs, files in os.walk(src):
    relroot = os.path.relpath(root, src)
    dirs[:] = [d for d in dirs if not excluded(os.path.normpath(os.path.join(relroot, d)))]
    for f in files:
        rel = os.path.normpath(os.path.join(relroot, f))
        if excluded(rel):
            continue
        os.makedirs(os.path.join(dst, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(os.path.join(src, rel), os.path.join(dst, rel))
        n += 1
print(f"context: {n} files")
PY
[ ! -e "$tmp/ctx/.git" ] && [ ! -e "$tmp/ctx/build" ] || fail "the context holds .git or build/"

# The build stage's cmake lines, run on that context.
grep -q -- '-DJCW_BUILD_TESTS=OFF' "$df" || fail "the image build does not set -DJCW_BUILD_TESTS=OFF"
grep -qE '^ARG JOBS=[0-9]+$' "$df" || fail "no ARG JOBS=N"
if grep -v '^ *#' "$df" | grep -E 'cmake --build|(^|[ ;&])make( |$)' | grep -vqE -- '-j "?\$\{?JOBS\}?"?'; then
	fail "a build step without -j \"\${JOBS}\" (unbounded or serial)"
fi
cmake -S "$tmp/ctx" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DJCW_BUILD_TESTS=OFF >/dev/null
cmake --build "$tmp/build" -j 2 >/dev/null
[ -x "$tmp/build/jcode-watcher" ] || fail "the context did not build the agent"
built=$(find "$tmp/build" -type f -executable -newer "$tmp/build/CMakeCache.txt" \
	! -path '*/CMakeFiles/*' -printf '%f\n' | sort | paste -sd' ')
[ "$built" = "jcode-watcher" ] || fail "the image build made more than the agent: $built"
echo "ok: the context builds exactly: $built"

[ "$(grep -c '^FROM ' "$df")" = 2 ] && grep -q '^FROM .* AS build$' "$df" || fail "not a two-stage build"
for l in title description version revision; do
	grep -q "org.opencontainers.image.$l=" "$df" || fail "no org.opencontainers.image.$l label"
done
echo "ok: two stages, bounded -j, OCI labels"

# The runtime stage's package list: the second FROM's apt-get install.
runtime=$(sed -n '/^FROM debian:12-slim$/,$p' "$df" | sed -n '/apt-get install/,/&&/p' |
	tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
	grep -vxE 'apt-get|install|rm|update' | sort -u | paste -sd' ')
echo "runtime packages: $runtime"
[ -n "$runtime" ] || fail "no runtime package list found"
if ! grep -q 'VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
	echo "note: not Debian 12, the image's base: the library-to-package check is skipped"
	exit 0
fi
bcc=$(sed -n 's/^#define LIBBCC "\(.*\)"/\1/p' "$src/src/kernel/bpf_loader.c")
[ -n "$bcc" ] || fail "no LIBBCC in bpf_loader.c"
libs="$(readelf -d "$tmp/build/jcode-watcher" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p') $bcc"
need=""
for lib in $libs; do
	# Whole outputs read (no early exit): pipefail would see a SIGPIPE.
	path=$(ldconfig -p | awk -v l="$lib" '$1 == l && !p { p = $NF } END { print p }')
	[ -n "$path" ] || fail "$lib: not installed here"
	pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | awk -F: 'NR == 1 { print $1 }') ||
		pkg=$(dpkg -S "$path" | awk -F: 'NR == 1 { print $1 }')
	[ "$pkg" = libc6 ] && continue		# in debian:12-slim
	need+=" $pkg"
done
want=$(echo "$need ca-certificates tar xz-utils" | tr ' ' '\n' | grep . | sort -u | paste -sd' ')
echo "the binary and its loader need: $want"
[ "$runtime" = "$want" ] || fail "the runtime stage installs '$runtime', the agent needs '$want'"
echo "ok: the runtime stage installs exactly what the agent loads"
