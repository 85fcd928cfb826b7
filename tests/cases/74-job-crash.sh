#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Power cuts in the middle of stream and commit jobs. The three images of
# a chain (base <- mid <- top) each live on a loop device behind a
# device-mapper device that loses power: at a random moment all three are
# suspended and come back as dm-flakey drop_writes (writes vanish, as
# after a power loss). The job goes on against the dead devices, may even
# finalize (its header rewrite then vanishes too). Afterwards, on the
# devices as the cut left them:
# - qemu-img check finds no corruption in any image (exit 0, or 3 for
#   leaked clusters);
# - the chain as QEMU opens it reads exactly what it read before the job:
#   a job never changes what the guest sees, at any moment (nothing else
#   writes during these rounds, so everything the guest wrote was
#   flushed).
# Rounds alternate stream (node=top base=base) and non-active commit
# (top=mid base=base); VS_CRASH_SEED repeats the cut times.
# timeout: 600
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
vs_begin
modprobe dm-vstorage-qcow2 || fail "cannot load dm-vstorage-qcow2.ko"
modprobe dm-vstorage-copy-on-read || fail "cannot load dm-vstorage-copy-on-read.ko"
require_module dm-flakey
require_cmd qemu-img qemu-io python3

M=$((1 << 20))
ROUNDS=${VS_JOB_CRASH_ROUNDS:-4}
seed=${VS_CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "seed $seed (set VS_CRASH_SEED=$seed to repeat the cut times)"
RANDOM=$seed
LAYERS=(base mid top)

declare -A LOOP=()
for l in "${LAYERS[@]}"; do
	truncate -s 128M "$D/$l.img"
	LOOP[$l]=$(loop_add "$D/$l.img")
done

# pc_table LAYER healthy|cut
pc_table() {
	local sz
	sz=$(blockdev --getsz "${LOOP[$1]}")
	if [ "$2" = healthy ]; then
		echo "0 $sz linear ${LOOP[$1]} 0"
	else
		echo "0 $sz flakey ${LOOP[$1]} 0 0 1 1 drop_writes"
	fi
}

pc_up() {
	local l
	for l in "${LAYERS[@]}"; do
		pc_table "$l" healthy | dmsetup create "vs74$l" || fail "dmsetup create vs74$l"
		track_dm "vs74$l"
		wait_for_path "/dev/mapper/vs74$l" 10 -b || fail "/dev/mapper/vs74$l did not appear"
	done
}

pc_down() {
	local l
	for l in "${LAYERS[@]}"; do
		dmsetup remove --retry "vs74$l" >/dev/null 2>&1 || true
	done
}

# the cut: all three at once (suspended together, then back without writes)
pc_cut() {
	local l
	for l in "${LAYERS[@]}"; do
		dmsetup suspend --nolockfs "vs74$l" || fail "suspend vs74$l"
	done
	for l in "${LAYERS[@]}"; do
		pc_table "$l" cut | dmsetup load "vs74$l" || fail "load vs74$l"
	done
	for l in "${LAYERS[@]}"; do
		dmsetup resume "vs74$l" || fail "resume vs74$l"
	done
}

# a fresh chain on the three devices, and what it reads
make_chain() {
	qemu-img create -q -f qcow2 /dev/mapper/vs74base 64M
	qemu-io -c 'write -P 0x5a 0 24M' -c 'write -z 24M 8M' /dev/mapper/vs74base >/dev/null
	qemu-img create -q -f qcow2 -b /dev/mapper/vs74base -F qcow2 /dev/mapper/vs74mid 64M
	qemu-io -c 'write -P 0x6b 4M 16M' /dev/mapper/vs74mid >/dev/null
	qemu-img create -q -f qcow2 -b /dev/mapper/vs74mid -F qcow2 /dev/mapper/vs74top 64M
	qemu-io -c 'write -P 0x7c 6M 2M' /dev/mapper/vs74top >/dev/null
	qemu-img convert -O raw /dev/mapper/vs74top "$D/expect.raw"
}

for ((round = 1; round <= ROUNDS; round++)); do
	pc_up
	make_chain
	vstoragectl node add qcow2 node-name=vm file=/dev/mapper/vs74top ||
		fail "round $round: node add"
	wait_for_path /dev/mapper/vm 10 -b || fail "round $round: /dev/mapper/vm did not appear"
	if ((round % 2)); then
		what=stream
		id=$(vstoragectl job start stream node=vm base=vm-b2 speed=$((8 * M))) ||
			fail "round $round: job start stream"
	else
		what=commit
		id=$(vstoragectl job start commit top=vm-b1 base=vm-b2 speed=$((8 * M))) ||
			fail "round $round: job start commit"
	fi
	cut=$((RANDOM % 2500 + 200))
	sleep "$((cut / 1000)).$(printf %03d $((cut % 1000)))"
	state=$(vstoragectl -j job show "$id" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>/dev/null || echo gone)
	pc_cut
	info "round $round: $what, power cut after $cut ms (job $state)"
	# the job goes on against the dead devices, or has ended already
	timeout 120 vstoragectl job wait "$id" >/dev/null 2>&1 || true
	vstoragectl node del vm || fail "round $round: node del after the cut"
	pc_down
	# the devices as the cut left them
	pc_up
	for l in "${LAYERS[@]}"; do
		rc=0
		qemu-img check "/dev/mapper/vs74$l" >"$D/check.$round.$l" 2>&1 || rc=$?
		if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
			cat "$D/check.$round.$l"
			fail "round $round ($what, cut after $cut ms): qemu-img check $l exit $rc"
		fi
	done
	qemu-img info --backing-chain /dev/mapper/vs74top >"$D/chain.$round" 2>&1 || true
	qemu-img compare -f qcow2 -F raw /dev/mapper/vs74top "$D/expect.raw" >"$D/cmp.$round" 2>&1 || {
		cat "$D/chain.$round" "$D/cmp.$round"
		fail "round $round ($what, cut after $cut ms): the chain reads differently after the cut"
	}
	info "round $round: check clean, the chain reads as before ($(grep -c '^image:' "$D/chain.$round") images in the chain)"
	pc_down
done
