#!/bin/bash
# `make install DESTDIR=...` puts the modules (with a depmod index that
# knows them), vstoragectl, the udev rule, the man page and the systemd
# unit in place.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

make -s -C "$repo" install DESTDIR="$dest" >"$dest.log" 2>&1 || { cat "$dest.log"; rm -f "$dest.log"; exit 1; }
rm -f "$dest.log"
kver=$(basename "$(ls -d "$dest"/lib/modules/* | head -n 1)")
fail=0
for f in usr/local/sbin/vstoragectl usr/local/share/man/man8/vstoragectl.8 \
	 etc/udev/rules.d/60-vstorage.rules \
	 lib/systemd/system/vstorage-vhost-user@.service \
	 lib/systemd/system/vstorage-graph.service etc/vstorage/graph.d \
	 lib/modules/"$kver"/extra/vstorage/kernel/filters/dm-vstorage-throttle.ko \
	 lib/modules/"$kver"/extra/vstorage/kernel/filters/dm-vstorage-copy-on-read.ko \
	 lib/modules/"$kver"/extra/vstorage/kernel/vstorage.ko \
	 lib/modules/"$kver"/extra/vstorage/kernel/formats/dm-vstorage-raw.ko \
	 lib/modules/"$kver"/extra/vstorage/kernel/formats/qcow2/dm-vstorage-qcow2.ko; do
	if [ -e "$dest/$f" ]; then echo "ok $f"; else echo "FAIL missing $f"; fail=1; fi
done
for m in vstorage dm-vstorage-raw dm-vstorage-qcow2 dm-vstorage-throttle \
	 dm-vstorage-copy-on-read; do
	if grep -q "/$m.ko:" "$dest/lib/modules/$kver/modules.dep"; then
		echo "ok depmod knows $m"
	else
		echo "FAIL depmod does not know $m"; fail=1
	fi
done
grep -q "dm-vstorage-raw.ko: .*vstorage.ko" "$dest/lib/modules/$kver/modules.dep" ||
	{ echo "FAIL dm-vstorage-raw does not depend on vstorage"; fail=1; }
grep -q '^ExecStart=/usr/local/sbin/vstoragectl export vhost-user %i socket=' \
	"$dest/lib/systemd/system/vstorage-vhost-user@.service" ||
	{ echo "FAIL the unit does not run the installed vstoragectl"; fail=1; }
grep -q '^ExecStart=/usr/local/sbin/vstoragectl graph apply /etc/vstorage/graph.d$' \
	"$dest/lib/systemd/system/vstorage-graph.service" ||
	{ echo "FAIL vstorage-graph.service does not apply /etc/vstorage/graph.d"; fail=1; }
# the aliases device-mapper asks for when a table names the target
for a in dm-vstorage-thr dm-vstorage-cor; do
	grep -q "^alias $a " "$dest/lib/modules/$kver/modules.alias" ||
		{ echo "FAIL no module alias $a"; fail=1; }
done
if command -v systemd-analyze >/dev/null 2>&1; then
	systemd-analyze verify --man=no \
		"$dest/lib/systemd/system/vstorage-vhost-user@.service" \
		"$dest/lib/systemd/system/vstorage-graph.service" 2>&1 |
		grep -v "vstoragectl.*not executable\|Failed to prepare\|is not executable" | grep . &&
		{ echo "FAIL systemd-analyze verify complains"; fail=1; }
fi
man -l "$dest/usr/local/share/man/man8/vstoragectl.8" >/dev/null 2>&1 ||
	echo "note: man not available to render the page"
exit $fail
