#!/usr/bin/env bash
# Every series the PrometheusRule and the Grafana dashboard in k8s/ use is
# in a real scrape of the agent (series_check.py), so renaming a metric or
# a label value breaks this test.  The agent runs filemon only (no probes:
# no lock, no root needed; procmon's series exist from start-up all the
# same), its API a closed loopback port, and one student saves a file, so
# the series that appear with the first request (api_requests_total, the
# latency histogram) are there too.  Broken copies of the rules and the
# dashboard must fail.
#   series.sh AGENT K8S_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
agent=$1 base=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
render() { "$py" "$here/k8s_validate.py" --crds "$here/crds" --dump "$2" "$1" >/dev/null; }
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$tmp"/{codes,snapshots,spool,state}
port=$(free_port) api_port=$(free_port)
MONITORS=filemon WATCH_ROOT="$tmp/codes" SNAPSHOT_BASE="$tmp/snapshots" SPOOL_DIR="$tmp/spool" \
	STATE_DIR="$tmp/state" METRICS_ADDR=127.0.0.1 METRICS_PORT=$port TRACE_SOCKET= \
	API_SERVER=http://127.0.0.1:$api_port "$agent" >"$tmp/agent.out" 2>"$tmp/agent.err" &
pid=$!
url=http://127.0.0.1:$port
wait_for() {	# wait_for WHAT COMMAND...: up to 15 s
	local what=$1; shift
	for _ in $(seq 150); do "$@" && return 0; sleep 0.1; done
	cat "$tmp/agent.err"; echo "FAIL: $what"; exit 1
}
wait_for "the agent is not ready" curl -sf -o /dev/null "$url/readyz"
mkdir -p "$tmp/codes/os-1-202012345/hw1"
echo 'int main(void) { return 0; }' >"$tmp/codes/os-1-202012345/hw1/main.c"
has_request() { curl -sf "$url/metrics" >"$tmp/scrape.txt" && grep -q '^api_requests_total{' "$tmp/scrape.txt"; }
wait_for "no API request counted after a student's save" has_request
kill "$pid"; wait "$pid" || { echo "FAIL: the agent did not exit 0 on SIGTERM"; exit 1; }
pid=
echo "scraped $(grep -vc '^#' "$tmp/scrape.txt") samples"

render "$base" "$tmp/objects.json"
out=$("$py" "$here/series_check.py" "$tmp/objects.json" "$tmp/scrape.txt") || { echo "$out"; exit 1; }
echo "$out"
alerts=$(grep -c -- '- alert:' "$base/prometheusrule.yaml")
panels=$("$py" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["panels"]))' "$base/dashboard.json")
grep -qF "($alerts rules, $panels panels)" <<<"$out" ||
	{ echo "FAIL: expected all $alerts rules and $panels panels checked"; exit 1; }

check_copy() {
	render "$1" "$tmp/$2.json" && "$py" "$here/series_check.py" "$tmp/$2.json" "$tmp/scrape.txt"
}
. "$here/broken_copy.sh"
broken renamed-metric prometheusrule.yaml 's/spool_oldest_age_seconds > 600/spool_oldest_age_secs > 600/' \
	'spool_oldest_age_secs: not in the agent'
broken wrong-label-value prometheusrule.yaml 's/reason="limit"/reason="limits"/' \
	"filemon_unwatched_dirs_current{reason='limits'}: no series"
broken wrong-grouping dashboard.json 's/sum by (result)/sum by (outcome)/' \
	'by/without (outcome): no series of this expression has that label'
broken dashboard-metric dashboard.json 's/process_resident_memory_bytes/process_rss_bytes/' \
	'process_rss_bytes: not in the agent'
echo "ok: every series of the rules and the dashboard is in the agent's /metrics"
