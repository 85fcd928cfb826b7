#!/bin/bash
# Discard punches holes in the file, write-zeroes reads back zeroes, FUA and
# flush reach the file, and a fresh reader sees the data after the node is
# removed.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../vstorage.sh"
vs_begin
require_cmd blkdiscard

img=$D/disk.img
truncate -s 32M "$img"
node_add raw node-name=rawd file="$img"
dev=/dev/vstorage/rawd

[ "$(cat /sys/block/"$(basename "$(readlink -f "$dev")")"/queue/discard_max_bytes)" != 0 ] ||
	fail "discard is not enabled on the device"

dd if=/dev/urandom of="$dev" bs=1M count=32 oflag=direct status=none
sync "$dev"
before=$(stat -c %b "$img")
[ "$before" -ge $((32 * 2048 * 9 / 10)) ] || fail "file not allocated after full write ($before blocks)"

blkdiscard -o $((8 << 20)) -l $((8 << 20)) "$dev"
after=$(stat -c %b "$img")
[ "$after" -le $((before - 8 * 2048 + 64)) ] ||
	fail "discard did not punch a hole: $before -> $after blocks"
cmp -n $((8 << 20)) <(dd if="$dev" bs=1M skip=8 count=8 iflag=direct status=none) /dev/zero ||
	fail "discarded range does not read as zeroes"

# write zeroes (BLKZEROOUT) without unmapping leaves the range allocated
blkdiscard -z -o $((20 << 20)) -l $((4 << 20)) "$dev"
cmp -n $((4 << 20)) <(dd if="$dev" bs=1M skip=20 count=4 iflag=direct status=none) /dev/zero ||
	fail "write-zeroes range does not read as zeroes"

# FUA writes, then a flush; a new reader after removal sees them
dd if=/dev/urandom of="$D/pattern" bs=64k count=16 status=none
dd if="$D/pattern" of="$dev" bs=64k seek=100 oflag=direct,dsync status=none
dd if="$D/pattern" of="$dev" bs=64k seek=300 oflag=direct conv=fsync status=none
j=$(vstoragectl -j node show rawd)
[ "$(json_get "$j" "j['stats']['flush-ios'] > 0")" = True ] || fail "no flush reached the node"
[ "$(json_get "$j" "j['stats']['discard-ios'] >= 2")" = True ] || fail "discards not counted"
node_del rawd
echo 3 >/proc/sys/vm/drop_caches
cmp "$D/pattern" <(dd if="$img" bs=64k skip=100 count=16 status=none) || fail "FUA data lost"
cmp "$D/pattern" <(dd if="$img" bs=64k skip=300 count=16 status=none) || fail "flushed data lost"
