#!/usr/bin/env bash
# The DaemonSet's container must add exactly the capabilities the systemd
# unit bounds the agent to: deploy.sandbox_procmon runs the whole procmon
# e2e test under the unit's set, so that run is the proof for the pod too.
#   pod_caps.sh DAEMONSET.yaml UNIT.service.in
set -euo pipefail
ds=$1 unit=$2
pod=$(sed -n 's/^ *add: *\[\(.*\)\].*/\1/p' "$ds" | tr -d ' ' | tr ',' '\n' | sort | paste -sd,)
sysd=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tail -1 | tr ' ' '\n' | sed 's/^CAP_//' |
       sort | paste -sd,)
echo "pod adds:   $pod"
echo "unit bounds: $sysd"
[ -n "$sysd" ] || { echo "FAIL: no CapabilityBoundingSet in $unit"; exit 1; }
[ "$pod" = "$sysd" ] || { echo "FAIL: the DaemonSet's capabilities differ from the unit's"; exit 1; }
grep -q '^ *drop: *\[ALL\]' "$ds" || { echo "FAIL: the DaemonSet does not drop ALL first"; exit 1; }
echo "ok: the pod and the unit grant the same capabilities"
