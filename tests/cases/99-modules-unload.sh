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

for t in vstorage-raw vstorage-qcow2; do
	left=$(dmsetup ls --target $t 2>/dev/null | grep -v 'No devices found' || true)
	[ -z "$left" ] || fail "earlier cases left $t devices behind: $left"
done
if lsmod | grep -q '^dm_vstorage_qcow2'; then
	modprobe -r dm-vstorage-qcow2 || fail "cannot unload dm-vstorage-qcow2"
fi
modprobe -r dm-vstorage-raw || fail "cannot unload dm-vstorage-raw"
modprobe -r vstorage || fail "cannot unload vstorage"
! lsmod | grep -q '^vstorage' || fail "vstorage still loaded"
# and it comes back
modprobe vstorage && modprobe -r vstorage
