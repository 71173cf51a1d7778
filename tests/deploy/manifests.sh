#!/usr/bin/env bash
# Every object of the k8s/ kustomize base, validated strictly
# (k8s_validate.py: the Kubernetes API's models from python3-kubernetes,
# the prometheus-operator CRD schemas in crds/), the rendering compared with
# `kubectl kustomize` where kubectl exists, and broken copies of the
# manifests that must fail, each with its own error, so the validator is
# shown to bite.
#   manifests.sh K8S_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=$1
py=/usr/bin/python3
if ! "$py" -c 'import kubernetes, jsonschema, yaml' 2>/dev/null; then
	echo "FAIL: python3-kubernetes, python3-jsonschema or python3-yaml missing (scripts/install-deps.sh --test)"
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
validate() { "$py" "$here/k8s_validate.py" --crds "$here/crds" "$@"; }

out=$(validate --dump "$tmp/objects.json" "$base") || { echo "$out"; echo "FAIL: k8s/ does not validate"; exit 1; }
echo "$out"
want="ok Namespace jcode-system
ok ServiceAccount jcode-watcher
ok PriorityClass jcode-watcher-node-critical
ok DaemonSet jcode-watcher
ok Service jcode-watcher
ok ServiceMonitor jcode-watcher
ok PrometheusRule jcode-watcher
ok ConfigMap jcode-watcher-dashboard"
[ "$out" = "$want" ] || { echo "FAIL: expected exactly these objects:"; echo "$want"; exit 1; }

# deploy.sandbox_procmon, deploy.pidns_procmon and e2e_filemon_scope prove
# the pod as it is here: hostPID for filemon's view of the node's student
# containers, nothing more; another host namespace or privileged added later
# is not proven by them.
"$py" - "$tmp/objects.json" <<'PY' || exit 1
import json, sys
ds = next(o for o in json.load(open(sys.argv[1])) if o["kind"] == "DaemonSet")
pod = ds["spec"]["template"]["spec"]
bad = [k for k in ("hostNetwork", "hostIPC") if pod.get(k)]
if pod.get("hostPID") is not True:
    sys.exit("FAIL: the DaemonSet lacks hostPID: true, filemon's view of this node's students")
bad += [c["name"] + ".privileged" for c in pod["containers"]
        if (c.get("securityContext") or {}).get("privileged")]
if bad:
    sys.exit("FAIL: the DaemonSet asks for " + ", ".join(bad) + ", which no test proves it needs")
print("ok: hostPID only, not privileged")
PY

if command -v kubectl >/dev/null && kubectl kustomize "$base" >"$tmp/kubectl.yaml" 2>"$tmp/kubectl.err"; then
	validate --compare "$tmp/kubectl.yaml" "$base" >/dev/null ||
		{ validate --compare "$tmp/kubectl.yaml" "$base" | head -3; echo "FAIL: kubectl kustomize renders k8s/ differently"; exit 1; }
	echo "ok: kubectl kustomize renders the same $(grep -c '^kind:' "$tmp/kubectl.yaml") objects"
else
	echo "note: no working kubectl here; the base was rendered by k8s_validate.py alone"
fi

# A copy of the base with one change must fail validation with its error.
check_copy() { validate "$1" 2>&1; }
. "$here/broken_copy.sh"
broken unknown-field daemonset.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFileSystem: true/' \
	'securityContext.readOnlyRootFileSystem: unknown field'
broken wrong-type daemonset.yaml 's/terminationGracePeriodSeconds: 30/terminationGracePeriodSeconds: "30"/' \
	"terminationGracePeriodSeconds: expected int, got str '30'"
broken missing-required daemonset.yaml 's/- name: watcher/- stdin: false/' \
	'V1Container: Invalid value for `name`, must not be `None`'
broken wrong-apiversion daemonset.yaml 's|^apiVersion: apps/v1$|apiVersion: apps/v1beta2|' \
	"no schema for apiVersion 'apps/v1beta2' kind 'DaemonSet'"
broken crd-unknown-field servicemonitor.yaml 's/interval: 30s/intervall: 30s/' \
	"('intervall' was unexpected)"
broken crd-wrong-type prometheusrule.yaml '0,/for: 5m/s//for: [5m]/' \
	"for: ['5m'] is not of type 'string'"
broken crd-metadata prometheusrule.yaml '0,/  name: jcode-watcher/s//  nmae: jcode-watcher/' \
	'metadata.nmae: unknown field'
broken kustomization-field kustomization.yaml 's/^resources:/resourcez:/' \
	'fields this renderer does not implement: resourcez'
echo "ok: every manifest validates, and every broken copy fails"
