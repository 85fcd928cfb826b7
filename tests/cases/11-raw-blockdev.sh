#!/bin/bash
# A raw node over a block device (a loop device), and a raw node stacked on
# another raw node: bios are remapped; fio verify passes; the graph shows the
# edge between the two nodes.
# timeout: 600
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../vstorage.sh"
vs_begin

img=$D/disk.img
truncate -s 48M "$img"
loop=$(loop_add "$img")
node_add raw node-name=rawb file="$loop" offset=4096
node_add raw node-name=stacked file=rawb offset=1M size=32M

fio_verify /dev/vstorage/rawb rawb --rw=randwrite --bs=4k --iodepth=32 --size=8M
fio_verify /dev/vstorage/stacked stacked --rw=randwrite --bsrange=4k-128k \
	--iodepth=16 --size=32M

cmp <(dd if=/dev/vstorage/stacked bs=1M iflag=direct status=none) \
    <(dd if="$img" bs=4096 skip=$(((1 << 20) / 4096 + 1)) count=$((32 << 8)) status=none) ||
	fail "stacked node's data is not at offset 1M + 4096 of the file"

j=$(vstoragectl -j node show stacked)
[ "$(json_get "$j" "j['children'][0]['node-name']")" = rawb ] ||
	fail "stacked node does not show rawb as its child: $j"
[ "$(json_get "$j" "j['children'][0]['role']")" = file ] || fail "child role"
[ "$(json_get "$j" "j['size']")" = $((32 << 20)) ] || fail "size"

# rawb is in use by stacked
expect_fail vstoragectl node del rawb
node_del stacked
node_del rawb
