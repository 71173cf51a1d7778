#!/usr/bin/env bash
# Stands in for the agent binary in an e2e test (e2e_procmon PIDNS.SH):
# runs $JCW_PIDNS_AGENT in a PID namespace of its own with its own /proc,
# as in a pod without hostPID, so the procmon e2e test proves the
# DaemonSet needs no host PID view (the kernel reports global pids either
# way).  unshare --fork ignores SIGTERM, so this script forwards it to the
# agent and exits with the agent's status.
set -uo pipefail
unshare --pid --fork --mount-proc "$JCW_PIDNS_AGENT" "$@" &
u=$!
forward() { kill -TERM "$(pgrep -P "$u")" 2>/dev/null; }
trap forward TERM INT
while :; do
	wait "$u"
	rc=$?
	kill -0 "$u" 2>/dev/null || exit "$rc"
done
