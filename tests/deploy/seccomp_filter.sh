#!/usr/bin/env bash
# deploy.seccomp_filter UNIT: seccomp_exec.py's filter bites as the unit
# says, so the sandbox test passing means something.  Under it: an allowed
# call works; a denied group's call (mount, @mount), a namespace (setns,
# unshare CLONE_NEWUTS) and a socket family outside RestrictAddressFamilies
# (AF_PACKET) fail with the errno systemd would give.
set -euo pipefail
unit=$1 here=$(dirname "$0")
probe=$(cat <<'PY'
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def err(rc):
    return "ok" if rc == 0 else errno.errorcode[ctypes.get_errno()]
print("getpid", "ok" if os.getpid() > 0 else "bad")
print("mount", err(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)))
print("unshare_uts", err(libc.unshare(0x04000000)))
print("setns", err(libc.setns(os.open("/proc/self/ns/uts", os.O_RDONLY), 0)))
for fam in ("AF_INET", "AF_UNIX", "AF_PACKET"):
    try:
        socket.socket(getattr(socket, fam), socket.SOCK_DGRAM).close()
        print(fam, "ok")
    except OSError as e:
        print(fam, errno.errorcode[e.errno])
PY
)
got=$(setpriv --nnp /usr/bin/python3 "$here/seccomp_exec.py" "$unit" /usr/bin/python3 -c "$probe" 2>/dev/null)
want="getpid ok
mount EPERM
unshare_uts EPERM
setns EPERM
AF_INET ok
AF_UNIX ok
AF_PACKET EAFNOSUPPORT"
if [ "$got" != "$want" ]; then
	printf 'under the filter:\n%s\nwanted:\n%s\n' "$got" "$want" >&2
	exit 1
fi
# And without the filter the same calls get past seccomp (root: mount works
# on a private tmpfs), so the differences above are the filter's.
nofilter=$(unshare --mount /usr/bin/python3 -c "$probe" | sed -n 2p)
[ "$nofilter" = "mount ok" ] || { echo "without the filter: $nofilter" >&2; exit 1; }
echo "seccomp filter of $unit: 7 of 7 as the unit says"
