#!/usr/bin/env bash
# The PrometheusRule's groups, as kustomize renders them, through promtool:
# `check rules` (PromQL syntax, templates) and `test rules` with
# rules.test.yaml (each alert fires on its failure after its `for`, with
# the exact labels and annotations).  A rule with broken PromQL, which
# the CRD schema cannot see, must fail the check.
#   rules.sh K8S_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=$1
py=/usr/bin/python3
command -v promtool >/dev/null || { echo "FAIL: no promtool (Debian's prometheus; scripts/install-deps.sh --test)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# rules_of BASE OUT: the rendered PrometheusRule's spec as a rule file.
rules_of() {
	"$py" "$here/k8s_validate.py" --crds "$here/crds" --dump "$tmp/objects.json" "$1" >/dev/null
	"$py" -c '
import json, sys, yaml
rules = [o for o in json.load(open(sys.argv[1])) if o["kind"] == "PrometheusRule"]
assert len(rules) == 1, "expected one PrometheusRule"
yaml.safe_dump({"groups": rules[0]["spec"]["groups"]}, open(sys.argv[2], "w"), sort_keys=False)
' "$tmp/objects.json" "$2"
}
rules_of "$base" "$tmp/rules.yaml"
alerts=$(grep -c -- '- alert:' "$base/prometheusrule.yaml")
out=$(promtool check rules "$tmp/rules.yaml" 2>&1) || { echo "$out"; echo "FAIL: promtool check rules"; exit 1; }
echo "$out"
grep -qF "SUCCESS: $alerts rules found" <<<"$out" || { echo "FAIL: expected $alerts rules"; exit 1; }
cp "$here/rules.test.yaml" "$tmp/"
tested=$(grep -o 'alertname: Jcode[A-Za-z]*' "$here/rules.test.yaml" | sort -u | wc -l)
[ "$tested" = "$alerts" ] || { echo "FAIL: rules.test.yaml tests $tested of the $alerts alerts"; exit 1; }
promtool test rules "$tmp/rules.test.yaml" || { echo "FAIL: promtool test rules"; exit 1; }

mkdir "$tmp/broken"
cp -r "$base" "$tmp/broken/k8s"
sed -i 's/expr: spool_oldest_age_seconds > 600/expr: rate(spool_oldest_age_seconds[5m] > 600/' \
	"$tmp/broken/k8s/prometheusrule.yaml"
rules_of "$tmp/broken/k8s" "$tmp/broken/rules.yaml"
if out=$(promtool check rules "$tmp/broken/rules.yaml" 2>&1); then
	echo "FAIL: a rule with broken PromQL passed promtool check rules"; exit 1
fi
grep -q 'unclosed left parenthesis' <<<"$out" || { echo "$out"; echo "FAIL: not the expected error"; exit 1; }
echo "ok: broken PromQL rejected by promtool"
echo "ok: $alerts alerts checked and unit-tested"
