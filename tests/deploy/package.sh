#!/usr/bin/env bash
# The .deb as `make package` builds it: exact contents and control fields,
# /etc/default/jcode-watcher a conffile; then installed by dpkg into a
# scratch root (--root, scripts chrootless: the machine is untouched),
# the settings edited, the package reinstalled (edit kept), removed
# (settings kept), purged (gone).   package.sh BUILD_DIR
set -euo pipefail
build=$1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
(cd "$build" && cpack -G DEB -B "$d/out" >/dev/null) || fail "cpack"
deb=$(ls "$d"/out/jcode-watcher_*_"$(dpkg --print-architecture)".deb)
got=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $1, $2, $6}')
want="-rw-r--r-- root/root ./etc/default/jcode-watcher
-rw-r--r-- root/root ./usr/lib/systemd/system/jcode-watcher.service
-rwxr-xr-x root/root ./usr/sbin/jcode-watcher
-rw-r--r-- root/root ./usr/share/doc/jcode-watcher/README.md
-rw-r--r-- root/root ./usr/share/doc/jcode-watcher/jcode-watcher.env"
[ "$got" = "$want" ] || fail "contents: $got"
[ "$(dpkg-deb -f "$deb" Package)" = jcode-watcher ] || fail Package
grep -q '^libbpfcc (>= 0.26), ' <<<"$(dpkg-deb -f "$deb" Depends)" || fail "Depends: $(dpkg-deb -f "$deb" Depends)"
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = /etc/default/jcode-watcher ] || fail conffiles
mkdir -p "$d/x" && dpkg-deb -x "$deb" "$d/x"
grep -qx 'ExecStart=/usr/sbin/jcode-watcher' "$d/x/usr/lib/systemd/system/jcode-watcher.service" || fail "ExecStart"
cmp "$d/x/etc/default/jcode-watcher" "$(dirname "$0")/../../packaging/jcode-watcher.env" || fail "settings file"

root=$d/root
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info" && : > "$root/var/lib/dpkg/status"
dp() { dpkg --root="$root" --force-script-chrootless --force-depends --log=/dev/null "$@" >/dev/null 2>"$d/err" || fail "dpkg $*: $(cat "$d/err")"; }
dp -i "$deb"
[ -x "$root/usr/sbin/jcode-watcher" ] || fail "dpkg -i: no binary"
dpkg --root="$root" -s jcode-watcher | grep -q '^ /etc/default/jcode-watcher [0-9a-f]\{32\}$' || fail "status: no Conffiles entry"
echo 'API_SERVER=http://edited:8000' > "$root/etc/default/jcode-watcher"
dp -i "$deb"
[ "$(cat "$root/etc/default/jcode-watcher")" = 'API_SERVER=http://edited:8000' ] || fail "reinstall overwrote the settings"
dp -r jcode-watcher
[ ! -e "$root/usr/sbin/jcode-watcher" ] || fail "remove left the binary"
[ -e "$root/etc/default/jcode-watcher" ] || fail "remove deleted the settings"
dp -P jcode-watcher
[ ! -e "$root/etc/default/jcode-watcher" ] || fail "purge left the settings"
echo "ok: $(basename "$deb") contents, conffile, install/reinstall/remove/purge"
