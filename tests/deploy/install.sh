#!/usr/bin/env bash
# `cmake --install` (what `make install` runs) into a DESTDIR with another
# prefix: every file lands under DESTDIR at its exact path, the unit's
# ExecStart follows the prefix, and a second install keeps an edited
# settings file.   install.sh BUILD_DIR
set -euo pipefail
build=$1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
DESTDIR=$d cmake --install "$build" --prefix /opt/jcw >/dev/null
got=$(cd "$d" && find . -type f | sort)
want="./etc/default/jcode-watcher
./opt/jcw/lib/systemd/system/jcode-watcher.service
./opt/jcw/sbin/jcode-watcher
./opt/jcw/share/doc/jcode-watcher/README.md
./opt/jcw/share/doc/jcode-watcher/jcode-watcher.env"
[ "$got" = "$want" ] || fail "installed files: $got"
unit=$d/opt/jcw/lib/systemd/system/jcode-watcher.service
grep -qx 'ExecStart=/opt/jcw/sbin/jcode-watcher' "$unit" || fail "ExecStart: $(grep ExecStart "$unit")"
grep -qx 'EnvironmentFile=-/etc/default/jcode-watcher' "$unit" || fail "EnvironmentFile"
grep -q '@[A-Z_]*@' "$unit" && fail "unsubstituted @VAR@ in $unit"
echo 'API_SERVER=http://edited:8000' > "$d/etc/default/jcode-watcher"
out=$(DESTDIR=$d cmake --install "$build" --prefix /opt/jcw)
[ "$(cat "$d/etc/default/jcode-watcher")" = 'API_SERVER=http://edited:8000' ] ||
	fail "the second install overwrote the settings file"
grep -q "Kept: $d/etc/default/jcode-watcher" <<<"$out" || fail "no 'Kept:' line: $out"
echo "ok: DESTDIR install, prefix /opt/jcw, settings kept"
