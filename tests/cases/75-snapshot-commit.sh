#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The classic live-backup dance while fio writes and verifies through the
# disk all along: a live external snapshot (node snapshot) freezes the
# disk's image, the frozen image is copied and checked as a backup would
# be, and an active commit (job start commit top=OVERLAY base=DISK's node,
# ready, complete) merges the overlay back. Afterwards the disk serves its
# original node again on the same device (dev_t unchanged), every write
# fio made verifies, qemu-img check is clean on every image, and qemu-img
# info --backing-chain shows the chain QEMU has after blockdev-snapshot-sync
# and block-commit: the original image over its base. The mirror filter's
# device is reloaded while the job is ready (the new instance must track
# writes too). Twice, so the second
# dance runs on what the first left.
# timeout: 600
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
# shellcheck source-path=SCRIPTDIR source=../jobs.sh
. "$(dirname "$0")/../jobs.sh"
q_host && skip "needs the kernel"
qcow2_begin
jobs_begin
require_cmd fio

M=$((1 << 20))
qemu-img create -q -f qcow2 "$D/base.qcow2" 64M
qio -c 'write -P 0x5a 0 32M' "$D/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$D/vm.qcow2" 64M
qio -c 'write -P 0x6b 16M 8M' "$D/vm.qcow2"
qemu-img convert -O raw "$D/vm.qcow2" "$D/expect.raw"
q_open vm "$D/vm.qcow2"
dev0=$(devt /dev/mapper/vm)

# fio rounds (each writes and verifies its own 8M) until $D/stop
fio_rounds() {
	local n=0
	while [ ! -e "$D/stop" ]; do
		fio --name=d --filename=/dev/mapper/vm --ioengine=libaio \
			--direct=1 --rw=randwrite --bs=4k --iodepth=8 \
			--offset=40M --size=8M --verify=crc32c --verify_fatal=1 \
			--verify_backlog=256 --do_verify=1 --randseed=$((75 + n)) \
			--rate_iops=200 >"$D/fio.out" 2>&1 || return 1
		grep -q "err= 0" "$D/fio.out" || return 1
		n=$((n + 1))
	done
}
fio_rounds &
fpid=$!

for round in 1 2; do
	snap=snap$round
	vstoragectl node snapshot vm overlay="$D/$snap.qcow2" node-name=$snap ||
		fail "round $round: node snapshot"
	[ "$(devt /dev/mapper/vm)" = "$dev0" ] || fail "round $round: the snapshot changed the disk's dev_t"
	[ "$(backing_of "$D/$snap.qcow2")" = "$D/vm.qcow2" ] ||
		[ "$(backing_of "$D/$snap.qcow2")" = vm.qcow2 ] ||
		fail "round $round: the overlay's backing is $(backing_of "$D/$snap.qcow2")"
	# the backup: the frozen image, read while the disk keeps writing
	cp --sparse=always "$D/vm.qcow2" "$D/backup$round.qcow2"
	qemu-img check -U "$D/backup$round.qcow2" >/dev/null ||
		fail "round $round: the frozen image copied during the snapshot does not check clean"
	sleep 1
	id=$(vstoragectl job start commit top=$snap base=vm) || fail "round $round: job start commit"
	wait_job_state "$id" ready 120
	# a reload of the disk's device (the mirror filter) under the job: the
	# new instance tracks the writes too (fio's writes after it would be
	# missing from the base after the pivot otherwise)
	dmsetup table vm >"$D/table.vm"
	dmsetup reload vm "$D/table.vm" || fail "round $round: reload of the filter"
	dmsetup suspend vm && dmsetup resume vm || fail "round $round: suspend/resume of the filter"
	sleep 2
	kill -0 "$fpid" 2>/dev/null || fail "round $round: fio stopped before complete"
	# waiting first: with auto-dismiss the job may be gone soon after
	vstoragectl job wait "$id" >"$D/wait.out" 2>&1 &
	wpid=$!
	sleep 1
	vstoragectl job complete "$id" || fail "round $round: job complete"
	wait "$wpid" || { cat "$D/wait.out"; fail "round $round: the commit did not conclude cleanly"; }
	[ "$(devt /dev/mapper/vm)" = "$dev0" ] || fail "round $round: the pivot changed the disk's dev_t"
	top=$(json_get "$(vstoragectl -j node show vm)" 'j["node-name"]') ||
		fail "round $round: node vm is gone after the commit"
	[ "$top" = vm ] || fail "round $round: the disk serves $top"
	vstoragectl -j node show "$snap" >/dev/null 2>&1 &&
		fail "round $round: the overlay node $snap is still there"
	chain=$(qemu-img info -U --backing-chain "$D/vm.qcow2" | grep -c '^image:')
	[ "$chain" = 2 ] || fail "round $round: vm.qcow2's chain has $chain images, QEMU's has 2"
	[ "$(backing_of "$D/vm.qcow2")" = base.qcow2 ] ||
		fail "round $round: vm.qcow2 names $(backing_of "$D/vm.qcow2") as backing"
	info "round $round: snapshot, backup, active commit done under fio"
done

touch "$D/stop"
wait "$fpid" || { cat "$D/fio.out"; fail "fio failed to verify what it wrote"; }
# outside fio's range the disk reads what it read at the start
cmp -n $((40 * M)) /dev/mapper/vm "$D/expect.raw" ||
	fail "the disk's data outside fio's range changed"
q_close vm
for img in base vm snap1 snap2 backup1 backup2; do
	qemu-img check "$D/$img.qcow2" >/dev/null || fail "qemu-img check $img.qcow2"
done
jobs_end
