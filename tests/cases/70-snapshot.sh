#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vstoragectl node snapshot: QEMU's blockdev-snapshot-sync on live disks.
# A qcow2 disk gets two snapshots while fio writes through it with crc32c
# verification (a chain of 3): no I/O error, every write verified, the
# device's dev_t and /dev/vstorage link unchanged, the old images read-only
# (QEMU may read them, not write them), node list/show and graph show
# describe the chain, node del takes the whole chain down; qemu-img check
# is clean on every image, qemu-img info --backing-chain says what it says
# of the same chain made by qemu-img create -b -F, and QEMU reads back
# through the chain what fio wrote. A raw disk under a throttle filter gets
# a snapshot under the filter (a qcow2 overlay over a raw image), and the
# filter comes out again over the overlay. Refusals (no such node, a
# directory that does not exist, an existing overlay of another image or
# not qcow2, node-name taken, a node that is not a disk's top node: a
# backing node, an old layer, a filter) and failures injected half-way
# (VSTORAGECTL_FAULT_MOVE) give one line and change nothing.
# timeout: 480
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
modprobe dm-vstorage-throttle || fail "cannot load dm-vstorage-throttle"

qemu-img create -q -f qcow2 -o cluster_size=32k "$D/base.qcow2" 64M
qio -c 'write -P 0x5a 0 64M' "$D/base.qcow2"
truncate -s 16M "$D/raw.img"
qemu-img create -q -f qcow2 "$D/other.qcow2" 64M
qemu-img create -q -f qcow2 "$D/b2.qcow2" 16M
qemu-img create -q -f qcow2 -b b2.qcow2 -F qcow2 "$D/t2.qcow2" 16M

# node del of a disk removes what a snapshot made; if the case fails
# first, the cleanup removes these after the disks above them
for d in vm1-vm1 vm1-vm1-s1 vm0-vm0 vm0-vm0-s1 vm0-vm0-s2; do track_dm "$d"; done
q_open vm1 "$D/base.qcow2"
node_add raw node-name=vm0 file="$D/raw.img"
q_open vm2 "$D/t2.qcow2"

devt() { stat -L -c '%t:%T' "$1"; }
dev1=$(devt /dev/mapper/vm1)
link1=$(readlink -f /dev/vstorage/vm1)
table1=$(dmsetup table vm1)

# nothing changed: vm1 still serves node vm1 read-write, no overlay left
unchanged() {
	[ "$(dmsetup table vm1)" = "$table1" ] ||
		fail "vm1's table changed: $(dmsetup table vm1)"
	! dmsetup info vm1-vm1 >/dev/null 2>&1 || fail "device vm1-vm1 left behind"
	[ "$(json_get "$(vstoragectl -j node show vm1)" 'j["read-only"]')" = False ] ||
		fail "vm1 is read-only"
	[ ! -e "$D/s1.qcow2" ] || fail "overlay s1.qcow2 left behind"
}

# --- refusals ----------------------------------------------------------------
expect_error "no node" node snapshot nonode overlay="$D/s1.qcow2"
expect_error "directory $D/nodir: No such file" node snapshot vm1 overlay="$D/nodir/s1.qcow2"
qemu-img create -q -f qcow2 -b "$D/other.qcow2" -F qcow2 "$D/wrong.qcow2" 64M
expect_error "backing file $D/other.qcow2, not node 'vm1''s image" \
	node snapshot vm1 overlay="$D/wrong.qcow2"
qemu-img create -q -f qcow2 -b "$D/base.qcow2" -F raw "$D/wrongfmt.qcow2" 64M
expect_error "backing format raw, but node 'vm1' is qcow2" \
	node snapshot vm1 overlay="$D/wrongfmt.qcow2"
expect_error "not a usable qcow2 image" node snapshot vm1 overlay="$D/raw.img"
expect_error "own image" node snapshot vm1 overlay="$D/base.qcow2"
expect_error "node-name=vm0: a node or device-mapper device of that name already exists" \
	node snapshot vm1 overlay="$D/s1.qcow2" node-name=vm0
expect_error "node-name=vm2-b1: a node" node snapshot vm1 overlay="$D/s1.qcow2" node-name=vm2-b1
expect_error "node-name=-x:" node snapshot vm1 overlay="$D/s1.qcow2" node-name=-x
expect_error "backing node that node add opened" node snapshot vm2-b1 overlay="$D/s1.qcow2"
expect_error "unknown property 'file=x'" node snapshot vm1 overlay="$D/s1.qcow2" file=x
expect_error "overlay= given twice" node snapshot vm1 overlay="$D/s1.qcow2" overlay="$D/s2.qcow2"
tgroup_add snapgrp iops-total=100000
vstoragectl node insert-filter vm0 throttle node-name=vm0-thr throttle-group=snapgrp ||
	fail "insert-filter"
expect_error "is a throttle node" node snapshot vm0-thr overlay="$D/r1.qcow2"
[ ! -e "$D/r1.qcow2" ] || fail "an overlay was made for a refused snapshot"
unchanged

# --- snapshots under fio -------------------------------------------------------
fio_args=(--ioengine=libaio --direct=1 --rw=randwrite --bs=4k --iodepth=8
	--size=24M --verify=crc32c --verify_fatal=1 --verify_backlog=256
	--do_verify=1 --randseed=70)
fio --name=s --filename=/dev/mapper/vm1 "${fio_args[@]}" --rate_iops=150 >"$D/fio.out" 2>&1 &
fpid=$!
sleep 2

# failures half-way, under I/O, are undone and the overlay made goes again
for step in suspend create load resume; do
	faulty $step "cannot snapshot node 'vm1' to $D/s1.qcow2: injected fault at step '$step'" \
		node snapshot vm1 overlay="$D/s1.qcow2"
	unchanged
done

under_io=0
snap() {
	vstoragectl node snapshot "$@" || fail "node snapshot $*"
	! kill -0 "$fpid" 2>/dev/null || under_io=$((under_io + 1))
}
# fio_done OUT DISK: the fio $fpid ended without error, 2 snapshots under it
fio_done() {
	local rc=0
	touch "$D/stop"
	wait "$fpid" || rc=$?
	[ "$rc" -eq 0 ] || { cat "$1" >&2; fail "fio on $2 failed (exit $rc)"; }
	grep -q "err= 0" "$1" || { cat "$1" >&2; fail "fio on $2 reported errors"; }
	info "fio on $2 done, every write verified; $under_io snapshots finished while it ran"
	((under_io >= 2)) || fail "only $under_io snapshots of $2 happened under I/O"
}
snap vm1 overlay="$D/s1.qcow2"	# node-name: vm1-s1
sleep 3
# an existing overlay of the right image is used as it is
qemu-img create -q -f qcow2 -b "$D/s1.qcow2" -F qcow2 "$D/top.qcow2" 64M
snap vm1-s1 overlay="$D/top.qcow2" node-name=vm1-top

# the chain as the kernel and vstoragectl see it
j=$(vstoragectl -j node show vm1-top)
[ "$(json_get "$j" 'j["device"]')" = /dev/mapper/vm1 ] || fail "vm1-top is not on /dev/mapper/vm1: $j"
[ "$(json_get "$j" '[c["node-name"] for c in j["children"] if c["role"] == "backing"][0]')" = vm1-s1 ] ||
	fail "vm1-top's backing is not vm1-s1: $j"
j=$(vstoragectl -j node show vm1-s1)
[ "$(json_get "$j" 'j["read-only"]')" = True ] || fail "vm1-s1 is not read-only: $j"
[ "$(json_get "$j" '[c["node-name"] for c in j["children"] if c["role"] == "backing"][0]')" = vm1 ] ||
	fail "vm1-s1's backing is not vm1: $j"
[ "$(json_get "$(vstoragectl -j node show vm1)" 'j["read-only"]')" = True ] ||
	fail "vm1 is not read-only"
vstoragectl node list
vstoragectl graph show | tee "$D/graph.txt"
grep -q "vm1-top" "$D/graph.txt" && grep -q "vm1-s1" "$D/graph.txt" ||
	fail "graph show lacks the chain"
g=$(vstoragectl -j graph show)
json_get "$g" 'j' >/dev/null || fail "graph show -j is not JSON"
[ "$(dmsetup info -c --noheadings -o uuid vm1-vm1)" = VSTORAGE-node:vm1 ] ||
	fail "vm1-vm1 has the wrong UUID"
[ ! -e /dev/vstorage/vm1-vm1 ] || fail "the hidden device got a /dev/vstorage link"

# locks: QEMU may read the old images, not write them; the top is in use
qemu-io -r -c 'read 0 4k' "$D/base.qcow2" >/dev/null || fail "qemu-io -r on the old base refused"
if qemu-io -c 'write 0 4k' "$D/base.qcow2" >/dev/null 2>&1; then
	fail "qemu-io wrote into the old base under a live disk"
fi
if qemu-io -c 'write 0 4k' "$D/s1.qcow2" >/dev/null 2>&1; then
	fail "qemu-io wrote into the old overlay under a live disk"
fi
if qemu-io -r -c 'read 0 4k' "$D/top.qcow2" >/dev/null 2>&1; then
	fail "qemu-io -r opened the active layer that a read-write node holds"
fi

# refusals on the chain
expect_error "node 'vm1' is not the top node of disk 'vm1' \(node 'vm1-top' is\)" \
	node snapshot vm1 overlay="$D/x.qcow2"
expect_error "not the top node" node snapshot vm1-s1 overlay="$D/x.qcow2"
expect_error "layer of disk 'vm1': delete the disk with node del vm1" node del vm1-top
[ ! -e "$D/x.qcow2" ] || fail "x.qcow2 was made"

fio_done "$D/fio.out" vm1
[ "$(devt /dev/mapper/vm1)" = "$dev1" ] || fail "/dev/mapper/vm1 changed its device number"
[ "$(readlink -f /dev/vstorage/vm1)" = "$link1" ] || fail "/dev/vstorage/vm1 moved"
e=$(json_get "$(vstoragectl -j node show vm1-top)" 'j["stats"]["errors"]')
[ "$e" = 0 ] || fail "vm1-top counted $e errors"
fio --name=s --filename=/dev/mapper/vm1 "${fio_args[@]}" --verify_only=1 \
	>"$D/fio-v.out" 2>&1 || { cat "$D/fio-v.out" >&2; fail "verify through the device"; }

# --- a raw disk under a throttle filter ----------------------------------------
# the snapshot goes under the filter: vm0-thr on vm0, then vm0-s1 on
# vm0-vm0-s1 over vm0 on vm0-vm0 (read-only)
pattern "$D/p1" 0x11 1048576
q_write vm0 0 "$D/p1" || fail "write to vm0"
# fio verifies writes past the first 2 MiB throughout
fio0_args=(--ioengine=libaio --direct=1 --rw=randwrite --bs=4k --iodepth=4
	--offset=2M --size=14M --verify=crc32c --verify_fatal=1
	--verify_backlog=128 --do_verify=1 --randseed=71)
# rounds (the same writes each time) until $D/stop: every change below
# happens under I/O, however slow the machine
fio0_rounds() {
	while [ ! -e "$D/stop" ]; do
		fio --name=r --filename=/dev/mapper/vm0 "${fio0_args[@]}" \
			--rate_iops=100 >"$D/fio0.out" 2>&1 || return 1
		grep -q "err= 0" "$D/fio0.out" || return 1
	done
}
rm -f "$D/stop"	# fio_done of vm1 made it
fio0_rounds &
fpid=$!
under_io=0
sleep 2
table0=$(dmsetup table vm0)
tablen=$(dmsetup table vm0-vm0)
for step in suspend reload create load; do
	faulty $step "cannot snapshot node 'vm0' to $D/r1.qcow2: injected fault at step '$step'" \
		node snapshot vm0 overlay="$D/r1.qcow2"
	[ "$(dmsetup table vm0)" = "$table0" ] || fail "vm0's table changed: $(dmsetup table vm0)"
	[ "$(dmsetup table vm0-vm0)" = "$tablen" ] || fail "vm0-vm0's table changed: $(dmsetup table vm0-vm0)"
	! dmsetup info vm0-vm0-s1 >/dev/null 2>&1 || fail "vm0-vm0-s1 left behind"
	[ ! -e "$D/r1.qcow2" ] || fail "r1.qcow2 left behind"
	q_write vm0 0 "$D/p1" || fail "write to vm0 after a failed snapshot"
done
snap vm0 overlay="$D/r1.qcow2"
dmsetup table vm0 | grep -q " vstorage-thr vm0-thr " || fail "the filter left the top: $(dmsetup table vm0)"
dmsetup table vm0-vm0-s1 | grep -q " vstorage-qcow2 vm0-s1 .* backing " ||
	fail "vm0-vm0-s1 is not the overlay: $(dmsetup table vm0-vm0-s1)"
[ "$(dmsetup info -c --noheadings -o uuid vm0-vm0-s1)" = VSTORAGE-node:vm0-s1 ] ||
	fail "vm0-vm0-s1 has the wrong UUID"
[ "$(json_get "$(vstoragectl -j node show vm0)" 'j["read-only"]')" = True ] ||
	fail "vm0 is not read-only"
[ "$(json_get "$(vstoragectl -j node show vm0-s1)" 'j["device"]')" = /dev/mapper/vm0 ] ||
	fail "vm0-s1 is not on disk vm0"
vstoragectl graph show
pattern "$D/p2" 0x22 1048576
q_write vm0 1048576 "$D/p2" || fail "write to vm0 after the snapshot"
cmp -n 1048576 "$D/p1" /dev/mapper/vm0 || fail "vm0 lost what was written before the snapshot"
dd if="$D/raw.img" bs=1M skip=1 count=1 status=none | cmp -s -n 1048576 - /dev/zero ||
	fail "the write after the snapshot reached the raw image"
# the filter comes out; the overlay node goes up onto the disk's device
vstoragectl node remove-filter vm0-thr || fail "remove-filter over a snapshot"
dmsetup table vm0 | grep -q " vstorage-qcow2 vm0-s1 " || fail "vm0-s1 is not on vm0: $(dmsetup table vm0)"
! dmsetup info vm0-vm0-s1 >/dev/null 2>&1 || fail "vm0-vm0-s1 left behind"
cmp -n 1048576 -i 0:1048576 "$D/p2" /dev/mapper/vm0 || fail "vm0 lost the write after the snapshot"
# and a second snapshot under a filter again: a chain of 3 under it
vstoragectl node insert-filter vm0-s1 throttle node-name=vm0-thr throttle-group=snapgrp ||
	fail "insert-filter over the overlay"
snap vm0-s1 overlay="$D/r2.qcow2"
dmsetup table vm0-vm0-s2 | grep -q " vstorage-qcow2 vm0-s2 .* backing " ||
	fail "vm0-vm0-s2 is not the overlay: $(dmsetup table vm0-vm0-s2)"
fio_done "$D/fio0.out" vm0
fio --name=r --filename=/dev/mapper/vm0 "${fio0_args[@]}" --verify_only=1 \
	>"$D/fio0-v.out" 2>&1 || { cat "$D/fio0-v.out" >&2; fail "verify through vm0"; }
vstoragectl graph show

# --- node del takes each chain down --------------------------------------------
node_del vm1
node_del vm0
node_del vm2
left=$(dmsetup ls | grep -E "^vm" || true)
[ -z "$left" ] || fail "devices left behind: $left"
[ ! -e /dev/vstorage/vm1 ] || fail "/dev/vstorage/vm1 left behind"
for f in base.qcow2 s1.qcow2 top.qcow2 r1.qcow2 r2.qcow2; do
	img_check "$D/$f"
done

# qemu-img info --backing-chain: what qemu-img create -b -F makes (as QEMU's
# blockdev-snapshot-sync would: backing file name and format, cluster size)
mkdir "$D/ref"
qemu-img create -q -f qcow2 -o cluster_size=32k "$D/ref/base.qcow2" 64M
qemu-img create -q -f qcow2 -o cluster_size=32k -b "$D/ref/base.qcow2" -F qcow2 "$D/ref/s1.qcow2" 64M
qemu-img create -q -f qcow2 -b "$D/ref/s1.qcow2" -F qcow2 "$D/ref/top.qcow2" 64M
truncate -s 16M "$D/ref/raw.img"
qemu-img create -q -f qcow2 -b "$D/ref/raw.img" -F raw "$D/ref/r1.qcow2" 16M
qemu-img create -q -f qcow2 -b "$D/ref/r1.qcow2" -F qcow2 "$D/ref/r2.qcow2" 16M
chain() {
	qemu-img info --backing-chain "$1" | grep -v -e '^disk size:' -e '^Image end offset' |
		sed "s|$2|DIR|g"
}
for f in top.qcow2 r2.qcow2; do
	diff <(chain "$D/$f" "$D") <(chain "$D/ref/$f" "$D/ref") ||
		fail "qemu-img info --backing-chain of $f differs from qemu-img create's"
done
chain "$D/top.qcow2" "$D"

# what fio wrote is in the chain (QEMU reads it)
qemu-img convert -O raw "$D/top.qcow2" "$D/top.raw"
fio --name=s --filename="$D/top.raw" "${fio_args[@]}" --verify_only=1 \
	>"$D/fio-q.out" 2>&1 || { cat "$D/fio-q.out" >&2; fail "verify of the chain by QEMU"; }
qemu-img convert -O raw "$D/r2.qcow2" "$D/r2.raw"
cmp -n 1048576 "$D/p1" "$D/r2.raw" && cmp -n 1048576 -i 0:1048576 "$D/p2" "$D/r2.raw" ||
	fail "the raw disk's chain lost data"
fio --name=r --filename="$D/r2.raw" "${fio0_args[@]}" --verify_only=1 \
	>"$D/fio0-q.out" 2>&1 || { cat "$D/fio0-q.out" >&2; fail "verify of vm0's chain by QEMU"; }
echo "PASS: node snapshot"
