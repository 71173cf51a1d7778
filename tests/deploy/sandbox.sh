#!/usr/bin/env bash
# Stands in for the agent binary in an e2e test (e2e_procmon SANDBOX.SH):
# runs $JCW_SANDBOX_AGENT under the restrictions of $JCW_SANDBOX_UNIT that
# can be applied without systemd, read from the unit so a change there
# changes the test: CapabilityBoundingSet (also the effective set of root),
# NoNewPrivileges, and in a private mount namespace ProtectSystem=strict
# (/ read-only but the StateDirectory, RuntimeDirectory and ReadWritePaths),
# ProtectKernelTunables (/sys read-only), and through seccomp_exec.py
# SystemCallFilter, SystemCallErrorNumber, SystemCallArchitectures,
# RestrictAddressFamilies and RestrictNamespaces.  Not emulated:
# MemoryDenyWriteExecute, PrivateDevices,
# PrivateTmp, ProtectProc, DevicePolicy (README, Lab servers).  exec all the
# way, so the test's pid is the agent's.
set -euo pipefail
unit=$JCW_SANDBOX_UNIT agent=$JCW_SANDBOX_AGENT
val() { sed -n "s/^$1=//p" "$unit" | tail -1; }
caps=$(val CapabilityBoundingSet | tr 'A-Z' 'a-z' | sed 's/cap_//g; s/ \+/,+/g; s/^/+/')
[ "$(val NoNewPrivileges)" = yes ] && nnp=--nnp || nnp=
mounts=""
if [ "$(val ProtectSystem)" = strict ]; then
	rw="/var/lib/$(val StateDirectory) /run/$(val RuntimeDirectory) $(val ReadWritePaths | tr -d -)"
	mkdir -p "/var/lib/$(val StateDirectory)" "/run/$(val RuntimeDirectory)"
	mounts+="mount --rbind / / 2>/dev/null || true; mount -o remount,bind,ro /;"
	for p in $rw; do [ -d "$p" ] && mounts+="mount --bind $p $p; mount -o remount,bind,rw $p;"; done
	# The test's own scratch space and its student namespaces stay as they are.
	mounts+="mount --bind /tmp /tmp; mount -o remount,bind,rw /tmp;"
fi
# systemd makes the tree read-only recursively: tracefs and debugfs too.
if [ "$(val ProtectKernelTunables)" = yes ]; then
	mounts+="mount --rbind /sys /sys; mount -o remount,bind,ro /sys;"
	for p in /sys/kernel/debug /sys/kernel/debug/tracing /sys/kernel/tracing; do
		mountpoint -q "$p" && mounts+="mount -o remount,bind,ro $p;"
	done
fi
# LeakSanitizer stops the process with ptrace to scan it, which the filter
# (rightly) refuses: a sanitizer build checks leaks in the other e2e runs.
if ldd "$agent" 2>/dev/null | grep -q libasan; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
fi
# Last, the system call filter (seccomp_exec.py), so the agent's own start is
# under it, and its loader child's after it.
filter="/usr/bin/python3 $(dirname "$0")/seccomp_exec.py $unit"
exec unshare --mount --propagation slave sh -ec "$mounts exec setpriv $nnp --inh-caps=-all --bounding-set=-all,$caps $filter \"\$0\" \"\$@\"" "$agent" "$@"
