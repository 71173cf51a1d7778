#!/usr/bin/env bash
# The systemd unit as systemd itself reads it: `systemd-analyze verify`
# on a copy whose ExecStart is the binary just built (verify checks that
# the executable exists).  Then what the unit promises: Type=notify and no
# restart on exit 2.  Skips (77) only where systemd-analyze is absent.
#   systemd_unit.sh UNIT BINARY   (UNIT: the unit as installed)
set -euo pipefail
unit=$1 bin=$2
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze is not installed"
	exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|^ExecStart=.*|ExecStart=$bin|" "$unit" > "$dir/jcode-watcher.service"
out=$(systemd-analyze verify "$dir/jcode-watcher.service" 2>&1) || {
	echo "FAIL: systemd-analyze verify: $out"
	exit 1
}
# verify prints warnings without failing: none are expected.
if [ -n "$out" ]; then
	echo "FAIL: systemd-analyze verify warned: $out"
	exit 1
fi
for want in '^Type=notify$' '^NotifyAccess=main$' '^RestartPreventExitStatus=2$' '^Restart=on-failure$'; do
	grep -q "$want" "$unit" || { echo "FAIL: $unit lacks $want"; exit 1; }
done
# The hardening, as systemd scores it (README: at most 4.0; 7.4 before).
score=$(systemd-analyze security --offline=true "$dir/jcode-watcher.service" 2>&1 |
	sed -n 's/^→ Overall exposure level for jcode-watcher.service: \([0-9.]*\) .*/\1/p')
[ -n "$score" ] || { echo "FAIL: no exposure score"; exit 1; }
awk -v s="$score" 'BEGIN { exit !(s <= 4.0) }' || { echo "FAIL: exposure $score > 4.0"; exit 1; }
echo "ok: $unit verified, exposure $score"
