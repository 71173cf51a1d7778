#!/usr/bin/env bash
# Installs what jcode-watcher needs to build, run and test on Debian 12 / Ubuntu 24.04.
# Idempotent; run as root.  Usage: scripts/install-deps.sh [--test]
#   --test also installs what the test suite drives (compilers, python3, util-linux,
#   the deploy tests' validators and promtool).
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get, mount)" >&2
	exit 1
fi

pkgs=(build-essential cmake pkg-config libbpfcc-dev libbpf-dev libjansson-dev
      libmicrohttpd-dev libcurl4-openssl-dev ca-certificates tar xz-utils kmod)
[ "$want_test" = 1 ] && pkgs+=(gcc g++ clang python3 python3-venv util-linux procps curl systemd dpkg-dev python3-seccomp
                               python3-kubernetes python3-jsonschema python3-yaml valgrind)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# libFuzzer (make fuzz, tests/fuzz) ships in clang's runtime package, which
# clang only recommends: libclang-rt-14-dev on Debian 12, -18- on Ubuntu 24.04.
if [ "$want_test" = 1 ]; then
	rt="libclang-rt-$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p')-dev"
	dpkg-query -W -f='${Status}' "$rt" 2>/dev/null | grep -q "install ok installed" ||
		apt-get install -y -qq --no-install-recommends "$rt"
fi

# promtool (tests/deploy/rules.sh) ships only in Debian's prometheus server
# package: install it without starting a server on :9090 (policy-rc.d says
# no to every start during the install) and without enabling one at boot.
if [ "$want_test" = 1 ] && ! command -v promtool >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends prometheus
	[ -d /run/systemd/system ] && systemctl disable prometheus >/dev/null 2>&1 || true
fi

# libbcc needs some kernel headers.  jcode-watcher finds them itself (its own
# kernel's, else the closest linux-headers-* under /usr/src, assembled under
# STATE_DIR; see `jcode-watcher check`), so nothing is linked into
# /lib/modules here: just make sure /usr/src holds a headers package.
kver=$(uname -r)
if [ ! -e "/lib/modules/$kver/build/include/linux/kconfig.h" ] &&
   ! ls -d /usr/src/linux-headers-*/include/generated >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	if [ -r /etc/os-release ] && grep -q '^ID=ubuntu' /etc/os-release; then
		apt-get install -y -qq "linux-headers-$kver" || apt-get install -y -qq linux-headers-generic
	else
		apt-get install -y -qq "linux-headers-$kver" 2>/dev/null ||
			apt-get install -y -qq linux-headers-cloud-amd64 ||
			apt-get install -y -qq linux-headers-amd64
	fi
fi

# libbcc 0.26 attaches tracepoints through /sys/kernel/debug/tracing.
if ! mountpoint -q /sys/kernel/debug 2>/dev/null; then
	mount -t debugfs none /sys/kernel/debug 2>/dev/null || echo "install-deps: could not mount debugfs (jcode-watcher check will say more)" >&2
fi
echo "install-deps: ok"
