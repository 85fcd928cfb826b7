#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The copy-on-read filter over qcow2 chains:
# - reads through it return the chain's data byte for byte, and afterwards
#   node map (qemu-img map's answer) shows the ranges read in the top layer
#   (depth 0): data as data, the base's zero clusters as zeroes; after the
#   whole disk was read, qemu-img map shows all of top.qcow2 its own and it
#   reads alone as the chain did;
# - with base=, what the base (and below) has stays there: only the
#   layers above it are copied;
# - fio writes with crc32c verification while another job reads the same
#   ranges through the filter (populating them): no write is lost to a
#   populate;
# - copy-on-read inserted on a live disk with node insert-filter, and
#   taken out again;
# - refusals: a file that is not a node, a base not in the chain, a
#   read-only table; qemu-img check clean at the end.
# timeout: 420
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
q_host && skip "needs the kernel"
qcow2_begin
require_cmd fio
modprobe dm-vstorage-copy-on-read || fail "cannot load dm-vstorage-copy-on-read.ko"

M=$((1 << 20))
# base: 0x5a in [0, 24M), zero clusters in [24M, 32M); mid: 0x6b in
# [8M, 12M); top: 0x7c in [4M, 5M)
qemu-img create -q -f qcow2 "$D/base.qcow2" 64M
qio -c 'write -P 0x5a 0 24M' -c 'write -z 24M 8M' "$D/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$D/mid.qcow2" 64M
qio -c 'write -P 0x6b 8M 4M' "$D/mid.qcow2"
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "$D/top.qcow2" 64M
qio -c 'write -P 0x7c 4M 1M' "$D/top.qcow2"
# the reference of what every layer together reads as
qemu-img convert -O raw "$D/top.qcow2" "$D/expect.raw"

q_open vm1 "$D/top.qcow2"
[ "$(q_auto_nodes)" = "$(printf 'vm1-b1\nvm1-b2')" ] ||
	fail "expected the automatic nodes vm1-b1 (mid) and vm1-b2 (base): $(q_auto_nodes)"

# depth_at NODE OFFSET: the depth node map gives for the byte at OFFSET
depth_at() {
	local m
	m=$(vstoragectl -j node map "$1" offset="$2" length=512) || fail "node map $1"
	printf '%s\n' "$m" >>"$D/maps.log"
	json_get "$m" 'j[0]["depth"]'
}
zero_at() {
	json_get "$(vstoragectl -j node map "$1" offset="$2" length=512)" 'j[0]["zero"]'
}

# --- refusals ---------------------------------------------------------------
expect_error "stands on a node" node add copy-on-read node-name=c0 file="$D/expect.raw"
expect_error "base is not a backing node" node add copy-on-read node-name=c0 file=vm1 base=vm1
vstoragectl node show c0 >/dev/null 2>&1 && fail "a refused copy-on-read node exists"
mark=$(dmesg_mark ro)
dev=$(dmsetup info -c --noheadings -o major,minor --separator : vm1)
if dmsetup create c0ro --readonly --table "0 131072 vstorage-cor c0ro $dev" 2>/dev/null; then
	track_dm c0ro
	fail "a read-only copy-on-read table was accepted"
fi
kmsg_expect "$mark" "cannot be read-only"

# --- populating without a base ----------------------------------------------
# (udev's probes read a few places of a new device, and populate them:
# these offsets are away from where they look)
node_add copy-on-read node-name=c1 file=vm1
d=$(depth_at vm1 $((2 * M + 512 * 1024)))
[ "$d" = 2 ] || fail "before reading, 2.5M is at depth $d, not the base's: $(tail -1 "$D/maps.log")"
d=$(depth_at vm1 $((10 * M)))
[ "$d" = 1 ] || fail "before reading, 10M is at depth $d, not mid's: $(tail -1 "$D/maps.log")"
dd if=/dev/mapper/c1 of="$D/got.raw" bs=1M count=32 iflag=direct status=none ||
	fail "reading through c1"
cmp -n $((32 * M)) "$D/got.raw" "$D/expect.raw" || fail "c1 read other data than the chain has"
for off in 0 $((2 * M + 512 * 1024)) $((4 * M)) $((10 * M)) $((20 * M)) $((31 * M)); do
	[ "$(depth_at vm1 "$off")" = 0 ] || fail "after reading, offset $off is not in the top layer"
done
[ "$(zero_at vm1 $((25 * M)))" = True ] || fail "the base's zero clusters did not come up as zeroes"
populated=$(json_get "$(vstoragectl -j node show c1)" 'j["info"]["populated-bytes"]')
info "c1 copied $populated bytes up"
((populated >= 30 * M)) || fail "c1 says it copied only $populated bytes"
# read again: the same data, nothing more copied
dd if=/dev/mapper/c1 of="$D/got2.raw" bs=1M count=32 iflag=direct status=none
cmp -n $((32 * M)) "$D/got2.raw" "$D/expect.raw" || fail "the second read differs"
again=$(json_get "$(vstoragectl -j node show c1)" 'j["info"]["populated-bytes"]')
[ "$again" = "$populated" ] || fail "a second read copied again ($populated -> $again)"

# --- writes racing populates ------------------------------------------------
# [32M, 64M) is the base's unallocated tail: every first read there populates
fio --name=w --filename=/dev/mapper/c1 --ioengine=libaio --direct=1 \
	--rw=randwrite --bs=4k --iodepth=8 --offset=32M --size=16M \
	--verify=crc32c --verify_fatal=1 --do_verify=1 --randseed=61 \
	--name=r --filename=/dev/mapper/c1 --ioengine=libaio --direct=1 \
	--rw=randread --bs=64k --iodepth=8 --offset=32M --size=16M \
	--time_based --runtime=15 >"$D/fio.out" 2>&1 ||
	{ cat "$D/fio.out" >&2; fail "fio with populates racing writes failed"; }
grep -q "err= 0" "$D/fio.out" || { cat "$D/fio.out" >&2; fail "fio reported errors"; }
# the whole disk read through the filter: all of it in the top layer now
dd if=/dev/mapper/c1 of=/dev/null bs=1M iflag=direct status=none || fail "reading all of c1"
deep=$(json_get "$(vstoragectl -j node map vm1)" '[e for e in j if e["depth"] != 0]')
[ "$deep" = "[]" ] || fail "after reading all of c1, vm1 still has extents below its top: $deep"
status=$(dmsetup status c1)
info "c1: $status"
node_del c1

# --- base= keeps the base's data where it is ---------------------------------
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "$D/top2.qcow2" 64M
track_dm vm2-vm2
q_open vm2 "$D/top2.qcow2"
# vm2 shares vm1's automatic nodes: vm1-b1 (mid) and vm1-b2 (base)
[ "$(json_get "$(vstoragectl -j node show vm2)" 'j["info"]["backing-node"]')" = vm1-b1 ] ||
	fail "vm2 does not share vm1's automatic node of mid.qcow2"
node_add copy-on-read node-name=c2 file=vm2 base=vm1-b2
[ "$(json_get "$(vstoragectl -j node show c2)" 'j["info"]["base"]')" = vm1-b2 ] ||
	fail "node show c2 does not name the base"
dd if=/dev/mapper/c2 of="$D/got3.raw" bs=1M count=16 iflag=direct status=none
[ "$(depth_at vm2 $((10 * M)))" = 0 ] || fail "base=: mid's data was not copied"
[ "$(depth_at vm2 $((2 * M + 512 * 1024)))" = 2 ] || fail "base=: the base's data was copied"

# --- inserted on a live disk --------------------------------------------------
node_del c2
vstoragectl node insert-filter vm2 copy-on-read node-name=c3 || fail "insert-filter copy-on-read"
dd if=/dev/mapper/vm2 of=/dev/null bs=1M skip=16 count=8 iflag=direct status=none
[ "$(depth_at vm2 $((17 * M)))" = 0 ] || fail "reads through the inserted filter did not populate"
vstoragectl node remove-filter c3 || fail "remove-filter c3"
dmsetup table vm2 | grep -q ' vstorage-qcow2 ' || fail "vm2 does not serve the qcow2 node again"

node_del vm2
node_del vm1
# QEMU's own answer: every byte of top.qcow2 is its own
deep=$(qemu-img map --output=json "$D/top.qcow2" |
	python3 -c 'import json, sys; print([e for e in json.load(sys.stdin) if e["depth"] != 0])')
[ "$deep" = "[]" ] || fail "qemu-img map: top.qcow2 has extents below it: $deep"
qemu-img convert -O raw \
	"json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"$D/top.qcow2\"},\"backing\":null}" \
	"$D/alone.raw" || fail "qemu-img convert of top.qcow2 without its backing"
cmp -n $((32 * M)) "$D/alone.raw" "$D/expect.raw" ||
	fail "top.qcow2 alone does not read as the chain did"
for img in top top2 mid base; do
	qemu-img check "$D/$img.qcow2" >"$D/check.out" 2>&1 ||
		{ cat "$D/check.out" >&2; fail "qemu-img check $img.qcow2"; }
done
# what QEMU reads in the populated image is what the chain had
qemu-img compare -q "$D/top2.qcow2" "$D/mid.qcow2" || fail "top2 no longer reads as its chain"
info "ok"
