#!/usr/bin/env bash
# Installs what jcode-watcher needs to build, run and test on Debian 12 / Ubuntu 24.04.
# Idempotent; run as root.  Usage: scripts/install-deps.sh [--test]
#   --test also installs what the test suite drives (compilers, python3, util-linux).
set -euo pipefail

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get, /lib/modules)" >&2
	exit 1
fi

pkgs=(build-essential cmake pkg-config libbpfcc-dev libbpf-dev libjansson-dev
      libmicrohttpd-dev libcurl4-openssl-dev ca-certificates)
[ "$want_test" = 1 ] && pkgs+=(gcc g++ clang python3 python3-venv util-linux procps curl)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# libbcc compiles the BPF text against kernel headers found through
# /lib/modules/$(uname -r)/{build,source}.  Struct offsets come from BTF, so
# headers of a nearby version are enough; link the closest installed ones.
kver=$(uname -r)
moddir=/lib/modules/$kver
if [ ! -e "$moddir/build/include/linux/kconfig.h" ] && [ ! -e "$moddir/build/include/generated/autoconf.h" ]; then
	ls -d /usr/src/linux-headers-*-common >/dev/null 2>&1 || ls -d /usr/src/linux-headers-*/include >/dev/null 2>&1 || {
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		if [ -r /etc/os-release ] && grep -q '^ID=ubuntu' /etc/os-release; then
			apt-get install -y -qq "linux-headers-$kver" || apt-get install -y -qq linux-headers-generic
		else
			apt-get install -y -qq "linux-headers-$kver" 2>/dev/null ||
				apt-get install -y -qq linux-headers-cloud-amd64 ||
				apt-get install -y -qq linux-headers-amd64
		fi
	}
	if [ ! -e "$moddir/build/include/generated/autoconf.h" ]; then
		# Debian splits headers: arch part "-cloud-amd64"/"-amd64" and shared "-common".
		arch_dir=$(ls -d /usr/src/linux-headers-*-cloud-amd64 /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1 || true)
		[ -n "$arch_dir" ] || arch_dir=$(ls -d /usr/src/linux-headers-* | grep -v -- -common | sort -V | tail -n 1)
		common_dir=$(ls -d "${arch_dir%-*amd64}"-common 2>/dev/null || true)
		case "$arch_dir" in *-cloud-amd64) common_dir=$(ls -d "${arch_dir%-cloud-amd64}-common" 2>/dev/null || true) ;; esac
		[ -n "$common_dir" ] || common_dir=$arch_dir
		mkdir -p "$moddir"
		ln -sfn "$arch_dir" "$moddir/build"
		ln -sfn "$common_dir" "$moddir/source"
		echo "install-deps: linked $moddir/build -> $arch_dir, source -> $common_dir"
	fi
fi

# libbcc 0.26 attaches tracepoints through /sys/kernel/debug/tracing.
if ! mountpoint -q /sys/kernel/debug 2>/dev/null; then
	mount -t debugfs none /sys/kernel/debug 2>/dev/null || echo "install-deps: could not mount debugfs (jcode-watcher check will say more)" >&2
fi
echo "install-deps: ok"
