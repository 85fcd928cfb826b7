#!/bin/bash
# fio with crc32c verification through a raw node over a file, at an offset,
# random and sequential, several block sizes, QD >= 16; the device's bytes
# must equal the file's bytes at that offset (cmp).
# timeout: 600
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../vstorage.sh"
vs_begin

img=$D/disk.img
truncate -s 66M "$img"
node_add raw node-name=rawf file="$img" offset=1M size=64M
dev=/dev/vstorage/rawf
wait_for_path "$dev" 10 -b || fail "$dev did not appear"

[ "$(blockdev --getsize64 "$dev")" = $((64 << 20)) ] || fail "wrong device size"

fio_verify "$dev" randwrite-4k --rw=randwrite --bs=4k --iodepth=32 --size=16M
fio_verify "$dev" randrw-mixed --rw=randwrite --bsrange=512-64k --iodepth=16 \
	--offset=16M --size=16M
fio_verify "$dev" seqwrite-1m --rw=write --bs=1M --iodepth=16 --offset=32M --size=32M
fio_verify "$dev" randwrite-2jobs --rw=randwrite --bs=8k --iodepth=16 --numjobs=2 \
	--offset=48M --offset_increment=8M --size=8M

# the file holds exactly what the device shows, at the offset
cmp <(dd if="$dev" bs=1M iflag=direct status=none) \
    <(dd if="$img" bs=1M skip=1 count=64 status=none) ||
	fail "device contents differ from the file at offset 1M"
# and nothing outside [offset, offset + size) was touched
cmp -n $((1 << 20)) "$img" /dev/zero || fail "bytes before the offset were written"
cmp -i $((65 << 20)) -n $((1 << 20)) "$img" /dev/zero ||
	fail "bytes after offset + size were written"

st=$(vstoragectl -j node show rawf)
[ "$(json_get "$st" "j['stats']['errors']")" = 0 ] || fail "node reports errors"
[ "$(json_get "$st" "j['stats']['wr-ios'] > 0")" = True ] || fail "no writes counted"
node_del rawf
