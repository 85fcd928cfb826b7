#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vstoragectl and qcow2: refusals (one "Error:" line, nothing left behind:
# missing backing file, bad property values, LUKS, a raw file, a corrupt
# image opened read-write, a table without the backing argument the image
# needs), the node object's info fields (format, version, cluster size,
# virtual size, dirty, corrupt, cache size, extended L2, compression,
# refcount bits, lazy refcounts, backing node), read-only nodes, node
# resize errors, a dry run that finds a live base node.
# timeout: 180
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
q_host && skip "nothing to check without the kernel (see tests/unit/vstoragectl-qcow2.sh)"
qcow2_begin

M=$((1 << 20))
img=$D/good.qcow2
qemu-img create -q -f qcow2 "$img" 64M
qio -c 'write -P 0x42 0 1M' "$img"
qemu-img create -q -f qcow2 -u -b nothere.qcow2 -F qcow2 "$D/orphan.qcow2" 64M
"$(dirname "$0")/../tools/mk-luks-qcow2" "$D/luks.qcow2" 16M
cp "$img" "$D/corrupt.qcow2"
poke "$D/corrupt.qcow2" 79 '\x02'
truncate -s 16M "$D/plain.raw"
mkdir "$D/dir"

# --- refusals --------------------------------------------------------------
expect_error "backing file .*nothere\.qcow2.*(no such file|not exist)" \
	node add qcow2 node-name=x file="$D/orphan.qcow2"
expect_error "encrypt" node add qcow2 node-name=x file="$D/luks.qcow2"
expect_error "magic|not a qcow2" node add qcow2 node-name=x file="$D/plain.raw"
expect_error "directory" node add qcow2 node-name=x file="$D/dir"
expect_error "corrupt" node add qcow2 node-name=x file="$D/corrupt.qcow2"
expect_error "overlap-check" node add qcow2 node-name=x file="$img" overlap-check=some
expect_error "discard" node add qcow2 node-name=x file="$img" discard=yes-please
expect_error "l2-cache-size" node add qcow2 node-name=x file="$img" l2-cache-size=lots
expect_error "refcount-cache-size" node add qcow2 node-name=x file="$img" refcount-cache-size=-4k
expect_error "cache-clean-interval" node add qcow2 node-name=x file="$img" cache-clean-interval=-1
expect_error "lazy-refcounts" node add qcow2 node-name=x file="$img" lazy-refcounts=sometimes
expect_error "read-only" node add qcow2 node-name=x file="$img" read-only=2
expect_error "backing" node add qcow2 node-name=x file="$img" backing=9x
expect_error "backing=nonode: no such node" node add qcow2 node-name=x file="$img" backing=nonode
expect_error "unknown property 'size'" node add qcow2 node-name=x file="$img" size=1M
if [ -e /dev/mapper/x ] || [ -n "$(q_auto_nodes)" ]; then
	fail "a refused add left devices behind"
fi

# the target refuses an image with a backing file but no backing argument
qemu-img create -q -f qcow2 "$D/b.qcow2" 64M
qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 "$D/o.qcow2" 64M
mark=$(dmesg_mark no-backing-arg)
if dmsetup create nobk --uuid VSTORAGE-nobk --table "0 131072 vstorage-qcow2 nobk $D/o.qcow2" 2>/dev/null; then
	track_dm nobk
	fail "the target accepted an image with a backing file and no backing argument"
fi
dmsetup remove nobk >/dev/null 2>&1 || true
kmsg_expect "$mark" 'vstorage-qcow2: .*backing'
echo "target refuses a missing backing argument: $(dmesg_since "$mark" | grep -E -o 'vstorage-qcow2: .*' | head -1)"

# --- info fields ----------------------------------------------------------
# want NAME PYEXPR...: each expression over the node object j is True
want() {
	local name=$1 e j
	shift
	j=$(q_show "$name")
	for e in "$@"; do
		[ "$(json_get "$j" "$e")" = True ] || fail "node $name: not ($e): $j"
	done
	echo "node $name: $*"
}

q_open good "$img" l2-cache-size=1M
want good "j['driver'] == 'qcow2'" "j['size'] == 64 << 20" "j['read-only'] is False" \
	"j['info']['format'] == 'qcow2'" "j['info']['version'] == 3" \
	"j['info']['cluster-size'] == 65536" "j['info']['virtual-size'] == 64 << 20" \
	"j['info']['dirty'] is False" "j['info']['corrupt'] is False" \
	"j['info']['cache-size'] > 0" "j['info']['extended-l2'] is False" \
	"j['info']['compression'] == 'zlib'" "j['info']['refcount-bits'] == 16" \
	"j['info']['lazy-refcounts'] is False" \
	"[c['path'] for c in j['children'] if c['role'] == 'file'] == ['$(realpath "$img")']" \
	"'backing' not in [c['role'] for c in j['children']]"
# stats_written NAME: the statistics count each byte asked for once: 1 MiB
# in place (map's fast path, the pattern the image has there) and 256 KiB
# into clusters not yet allocated (the worker, which splits bios and
# completes them itself); also when the image is a block device (a bio
# remapped to it comes back consumed)
stats_written() {
	local s0 s1 wr
	s0=$(q_show "$1")
	pattern "$D/p42" 0x42 1M
	pattern "$D/p43" 0x43 256K
	q_write "$1" 0 "$D/p42" || fail "write to $1 failed"
	q_write "$1" $((8 * M)) "$D/p43" || fail "write to $1 at 8M failed"
	s1=$(q_show "$1")
	wr=$(($(json_get "$s1" "j['stats']['wr-bytes']") - $(json_get "$s0" "j['stats']['wr-bytes']")))
	[ "$wr" = $((M + 256 * 1024)) ] || fail "node $1 counted $wr bytes written for 1310720: $s1"
	echo "node $1: stats count $wr bytes written"
}
stats_written good
cp --sparse=always "$img" "$D/ondev.qcow2"
q_open ondev "$(loop_add "$D/ondev.qcow2")"
stats_written ondev
q_close ondev
vstoragectl node show good | grep -q '^ *format: qcow2$' || fail "human node show lacks 'format: qcow2'"
vstoragectl node list | grep -q '^good  *qcow2 ' || fail "node list lacks good"
expect_error "exists|already" node add qcow2 node-name=good file="$img"
# resize errors
expect_error "512" node resize good 1000
expect_error "size" node resize good lots
node_add raw node-name=rawn file="$D/plain.raw"
expect_error "qcow2" node resize rawn 32M
node_del rawn
# shrinking below the data: refused with one line, or done consistently
rc=0
err=$(vstoragectl node resize good 32M 2>&1) || rc=$?
if [ "$rc" -eq 0 ]; then
	[ "$(blockdev --getsize64 /dev/mapper/good)" = $((32 * M)) ] || fail "shrunk, but the device size is wrong"
	echo "node resize good 32M: shrunk"
else
	if [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] || [[ $err != Error:* ]]; then
		fail "resize refusal not one Error line: $err"
	fi
	[ "$(blockdev --getsize64 /dev/mapper/good)" = $((64 * M)) ] || fail "refused, but the device size changed"
	echo "node resize good 32M: refused: $err"
fi
q_close good
img_check "$img"
io_pattern "$img" 0x42 0 1M

for spec in "v2:-o compat=0.10:j['info']['version'] == 2" \
	"extl2:-o extended_l2=on:j['info']['extended-l2'] is True" \
	"zstd:-o compression_type=zstd:j['info']['compression'] == 'zstd'" \
	"rb64:-o refcount_bits=64:j['info']['refcount-bits'] == 64" \
	"c4k:-o cluster_size=4k:j['info']['cluster-size'] == 4096" \
	"lazy:-o lazy_refcounts=on:j['info']['lazy-refcounts'] is True"; do
	n=${spec%%:*}
	rest=${spec#*:}
	# shellcheck disable=SC2086 # options are words
	qemu-img create -q -f qcow2 ${rest%%:*} "$D/$n.qcow2" 32M
	q_open "$n" "$D/$n.qcow2"
	want "$n" "${rest#*:}" "j['info']['virtual-size'] == 32 << 20"
	q_close "$n"
done

# read-only
q_open ro "$img" read-only=on
want ro "j['read-only'] is True"
[ "$(blockdev --getro /dev/mapper/ro)" = 1 ] || fail "read-only node: device is writable"
expect_fail dd if=/dev/zero of=/dev/mapper/ro bs=4k count=1 oflag=direct status=none
expect_error "resize|read-only|refus|denied|permission" node resize ro 128M
[ "$(blockdev --getsize64 /dev/mapper/ro)" = $((64 * M)) ] || fail "a refused resize changed the size"
q_close ro
# a corrupt image opens read-only
q_open cro "$D/corrupt.qcow2" read-only=on
want cro "j['info']['corrupt'] is True" "j['read-only'] is True"
q_close cro

# --- chains: backing-node info, auto nodes in use, dry run finds the base --
q_open top "$D/o.qcow2"
want top "j['info'].get('backing-node', 'top-b1') == 'top-b1'" \
	"[c['node-name'] for c in j['children'] if c['role'] == 'backing'] == ['top-b1']"
vstoragectl node list | grep -q '^top-b1 ' || fail "node list lacks top-b1"
expect_error "in use|busy" node del top-b1
qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 "$D/o2.qcow2" 64M
plan=$(VSTORAGECTL_DRY_RUN=1 vstoragectl node add qcow2 node-name=top2 file="$D/o2.qcow2") ||
	fail "dry run failed"
[ "$plan" = "top2: 0 131072 vstorage-qcow2 top2 $(realpath "$D/o2.qcow2") 2 backing /dev/mapper/top-b1" ] ||
	fail "dry run with a live base: $plan"
echo "dry run uses the live base: $plan"
[ ! -e /dev/mapper/top2 ] || fail "dry run created a device"
q_close top
[ -z "$(q_auto_nodes)" ] || fail "automatic nodes left: $(q_auto_nodes)"
echo "qcow2 CLI checks passed"
