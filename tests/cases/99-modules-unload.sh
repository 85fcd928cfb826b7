#!/bin/bash
# Module lifecycle: a module in use refuses to unload; with no node left
# everything unloads cleanly (runs last in the suite).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../vstorage.sh"
vs_begin

img=$D/disk.img
truncate -s 4M "$img"
node_add raw node-name=last file="$img"
expect_fail modprobe -r dm-vstorage-raw
expect_fail rmmod vstorage
node_del last

for t in vstorage-raw vstorage-qcow2 vstorage-thr vstorage-cor; do
	left=$(dmsetup ls --target $t 2>/dev/null | grep -v 'No devices found' || true)
	[ -z "$left" ] || fail "earlier cases left $t devices behind: $left"
done
groups=$(vstoragectl -j throttle-group list)
[ "$(json_get "$groups" 'len(j)')" = 0 ] || fail "earlier cases left throttle groups behind: $groups"
# a group without members does not hold the module: its exit frees it
vstoragectl throttle-group add last-g bps-total=1M || fail "throttle-group add failed"
# the format and filter targets first: they hold vstorage.ko
for m in $(lsmod | awk '$1 ~ /^(dm_vstorage_|vhost_blk)/ { print $1 }'); do
	modprobe -r "$m" || fail "cannot unload $m"
done
modprobe -r vstorage || fail "cannot unload vstorage"
! lsmod | grep -q '^vstorage' || fail "vstorage still loaded"
# and it comes back
modprobe vstorage && modprobe -r vstorage
