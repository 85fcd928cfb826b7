#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vstoragectl node move: a qcow2 node with a backing chain and a raw node
# move to new devices under their user-visible devices and back, over and
# over, while fio writes through the user-visible devices with crc32c
# verification: no I/O error, every write verified, qemu-img check clean,
# the user-visible device's dev_t and /dev/vstorage link unchanged, the new
# device without a /dev/vstorage link, node show/list report both devices;
# resize of a moved node; node del of a moved node leaves no device behind.
# Refusals (dm-name taken or invalid, an automatic backing node, a node in
# use as another node's child, a moved node to a third device) and failures
# injected half-way (VSTORAGECTL_FAULT_MOVE) that must be undone under I/O.
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

M=$((1 << 20))
qemu-img create -q -f qcow2 "$D/base.qcow2" 64M
qio -c 'write -P 0x5a 0 64M' "$D/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$D/top.qcow2" 64M
truncate -s 64M "$D/raw.img"

q_open vm1 "$D/top.qcow2"
node_add raw node-name=vm0 file="$D/raw.img"
track_dm vm1-real
track_dm vm0-inner
[ "$(q_auto_nodes)" = vm1-b1 ] || fail "expected the automatic backing node vm1-b1: $(q_auto_nodes)"

devt() { stat -L -c '%t:%T' "$1"; }
declare -A dev0 link0
for n in vm1 vm0; do
	dev0[$n]=$(devt /dev/mapper/$n)
	link0[$n]=$(readlink -f /dev/vstorage/$n)
done

# user-visible device NAME unchanged, node on device HOLDER
check_stack() {
	local name=$1 holder=$2 j
	[ "$(devt "/dev/mapper/$name")" = "${dev0[$name]}" ] ||
		fail "/dev/mapper/$name changed its device number"
	[ "$(readlink -f "/dev/vstorage/$name")" = "${link0[$name]}" ] ||
		fail "/dev/vstorage/$name moved: $(readlink -f "/dev/vstorage/$name")"
	j=$(vstoragectl -j node show "$name") || fail "node show $name"
	[ "$(json_get "$j" 'j["device"]')" = "/dev/mapper/$name" ] ||
		fail "node show $name: device is not /dev/mapper/$name: $j"
	[ "$(json_get "$j" 'j["node-dm-name"]')" = "$holder" ] ||
		fail "node show $name: node-dm-name is not $holder: $j"
	[ "$(json_get "$j" 'j["node-dev"]')" = "$(dmsetup info -c --noheadings -o major,minor --separator : "$holder")" ] ||
		fail "node show $name: node-dev is not that of $holder: $j"
	if [ "$holder" != "$name" ]; then
		[ ! -e "/dev/vstorage/$holder" ] ||
			fail "/dev/vstorage/$holder exists: the holder took a vstorage link"
		dmsetup table "$name" | grep -q "^0 [0-9]* linear " ||
			fail "$name is not a pass-through: $(dmsetup table "$name")"
		[ "$(dmsetup info -c --noheadings -o uuid "$holder")" = "VSTORAGE-node:$name" ] ||
			fail "$holder has the wrong UUID"
	else
		dmsetup table "$name" | grep -q " vstorage-" ||
			fail "$name does not hold the node: $(dmsetup table "$name")"
		if dmsetup info "${name}-real" >/dev/null 2>&1 ||
			dmsetup info "${name}-inner" >/dev/null 2>&1; then
			fail "a holder of $name was left behind"
		fi
	fi
}

# --- refusals (nothing changes) -------------------------------------------
expect_error "already exists" node move vm0 dm-name=vm1-b1
expect_error "already exists" node move vm0 dm-name=vm1
expect_error "invalid device-mapper name" node move vm0 dm-name=a/b
expect_error "invalid device-mapper name" node move vm0 dm-name=
expect_error "invalid device-mapper name" node move vm0 dm-name=-x
expect_error "automatic backing node" node move vm1-b1 dm-name=b1-real
expect_error "already on device 'vm0'" node move vm0 dm-name=vm0
expect_error "no node" node move nonode dm-name=x
expect_error "unknown property" node move vm0 name=x
node_add raw node-name=part file=vm0 offset=1M size=1M
expect_error "in use by device 'part'" node move vm0 dm-name=vm0-inner
node_del part
# a table the kernel refuses half-way (the image was renamed since node
# add): the new device goes, the user-visible one serves again
mv "$D/raw.img" "$D/raw-renamed.img"
expect_error "cannot move node 'vm0' to 'vm0-inner': .*(no such file|cannot open)" \
	node move vm0 dm-name=vm0-inner
mv "$D/raw-renamed.img" "$D/raw.img"
# the core refuses a live name from a device that is not suspended
mark=$(dmesg_mark dup-name)
if dmsetup create vm0dup --table "0 131072 vstorage-raw vm0 $D/raw.img" 2>/dev/null; then
	track_dm vm0dup
	fail "the core accepted a live node name from another running device"
fi
kmsg_expect "$mark" "suspend that device to move the node"
check_stack vm1 vm1
check_stack vm0 vm0

# --- moves under fio --------------------------------------------------------
fio_args=(--ioengine=libaio --direct=1 --rw=randwrite --bs=4k --iodepth=8
	--size=16M --verify=crc32c --verify_fatal=1 --verify_backlog=256
	--do_verify=1 --randseed=45)
fio --name=q --filename=/dev/mapper/vm1 "${fio_args[@]}" --rate_iops=200 >"$D/fio-q.out" 2>&1 &
fq=$!
fio --name=r --filename=/dev/mapper/vm0 "${fio_args[@]}" --rate_iops=200 >"$D/fio-r.out" 2>&1 &
fr=$!
sleep 2

# move NAME DM-NAME: node move, counting the moves while fio still runs
under_io=0
move() {
	vstoragectl node move "$1" dm-name="$2" || fail "node move $1 dm-name=$2"
	if kill -0 "$fq" 2>/dev/null || kill -0 "$fr" 2>/dev/null; then
		under_io=$((under_io + 1))
	fi
}

move vm1 vm1-real
move vm0 vm0-inner
move vm1 vm1
move vm0 vm0

move vm1 vm1-real
check_stack vm1 vm1-real
move vm0 vm0-inner
check_stack vm0 vm0-inner
list=$(vstoragectl node list)
printf '%s\n' "$list"
grep -q "/dev/mapper/vm1>vm1-real" <<<"$list" || fail "node list does not show vm1's two devices"
j=$(vstoragectl -j node list)
[ "$(json_get "$j" '[n["node-dm-name"] for n in j if n["node-name"] == "vm0"][0]')" = vm0-inner ] ||
	fail "node list -j: vm0 is not on vm0-inner: $j"
vstoragectl node show vm1 | grep -q "^node-device: /dev/mapper/vm1-real$" ||
	fail "node show does not name the holder"

expect_error "move it back first \(dm-name=vm1\)" node move vm1 dm-name=vm1-other
expect_error "already on device 'vm1-real'" node move vm1 dm-name=vm1-real

# failures half-way are undone; the workload goes on
faulty back-resume "injected fault at step 'back-resume'" node move vm1 dm-name=vm1
check_stack vm1 vm1-real
faulty back-load "injected fault" node move vm0 dm-name=vm0
check_stack vm0 vm0-inner

move vm1 vm1
check_stack vm1 vm1
move vm0 vm0
check_stack vm0 vm0

faulty load "injected fault at step 'load'" node move vm1 dm-name=vm1-real
check_stack vm1 vm1
faulty resume "injected fault" node move vm0 dm-name=vm0-inner
check_stack vm0 vm0
faulty create "injected fault" node move vm1 dm-name=vm1-real
check_stack vm1 vm1

# round trips until fio ends
trips=0
while kill -0 "$fq" 2>/dev/null || kill -0 "$fr" 2>/dev/null; do
	move vm1 vm1-real
	move vm0 vm0-inner
	sleep 1
	move vm1 vm1
	move vm0 vm0
	trips=$((trips + 1))
	((trips < 100)) || fail "fio does not end"
done
rc=0
wait "$fq" || rc=$?
[ "$rc" -eq 0 ] || { cat "$D/fio-q.out" >&2; fail "fio on vm1 failed (exit $rc)"; }
wait "$fr" || rc=$?
[ "$rc" -eq 0 ] || { cat "$D/fio-r.out" >&2; fail "fio on vm0 failed (exit $rc)"; }
grep -q "err= 0" "$D/fio-q.out" && grep -q "err= 0" "$D/fio-r.out" ||
	{ cat "$D/fio-q.out" "$D/fio-r.out" >&2; fail "fio reported errors"; }
info "fio done, every write verified; $under_io moves finished while fio ran"
((under_io >= 4)) || fail "only $under_io moves happened under I/O"
check_stack vm1 vm1
check_stack vm0 vm0
for n in vm1 vm0; do
	e=$(json_get "$(vstoragectl -j node show $n)" 'j["stats"]["errors"]')
	[ "$e" = 0 ] || fail "node $n counted $e errors"
done

# --- map and resize of a moved node ----------------------------------------
vstoragectl -j node map vm1 >"$D/map-before.json" || fail "node map vm1"
vstoragectl node move vm1 dm-name=vm1-real || fail "move vm1"
vstoragectl -j node map vm1 >"$D/map-moved.json" || fail "node map of a moved node"
cmp -s "$D/map-before.json" "$D/map-moved.json" ||
	fail "node map differs after the move: $(cat "$D/map-before.json" "$D/map-moved.json")"
vstoragectl node resize vm1 80M || fail "resize of a moved node"
[ "$(blockdev --getsize64 /dev/mapper/vm1)" -eq $((80 * M)) ] ||
	fail "vm1 is $(blockdev --getsize64 /dev/mapper/vm1) bytes after resize"
[ "$(blockdev --getsize64 /dev/mapper/vm1-real)" -eq $((80 * M)) ] ||
	fail "vm1-real was not resized"
check_stack vm1 vm1-real

# --- node del of a moved node removes the stack ----------------------------
vstoragectl node move vm0 dm-name=vm0-inner || fail "move vm0"
node_del vm1
node_del vm0
left=$(dmsetup ls | grep -E "^(vm|part)" || true)
[ -z "$left" ] || fail "devices left behind: $left"
[ ! -e /dev/vstorage/vm1 ] && [ ! -e /dev/vstorage/vm0 ] || fail "links left behind"
img_check "$D/top.qcow2"
img_check "$D/base.qcow2"

# what fio wrote is in the images (QEMU reads it through the chain)
qemu-img convert -O raw "$D/top.qcow2" "$D/top.raw"
for f in "$D/top.raw" "$D/raw.img"; do
	fio --name=v --filename="$f" "${fio_args[@]}" --verify_only=1 \
		>"$D/fio-v.out" 2>&1 || { cat "$D/fio-v.out" >&2; fail "verify of $f"; }
done
echo "PASS: node move"
