#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The commit job over a qcow2 chain of three (top -> mid -> base) while
# fio writes through the disk with crc32c verification:
# - non-active (top=mid's node, base=base's node): mid's data goes down
#   into base, which reads as QEMU's `qemu-img commit` of the same chain
#   makes it; top's header then names base (path and format), the disk's
#   table stands on base's device, mid's automatic node is gone, base's
#   node is read-only again;
# - active (top=the disk's own node, base defaulting to the bottom): the
#   job gets ready, complete pivots: the disk (same dev_t) serves base's
#   node read-write, the top node, mid's and base's old devices are gone,
#   and no write fio made before, during or after the pivot is lost;
#   base.qcow2 alone reads as the disk did;
# - active, cancelled when ready: the job completes without the pivot
#   (QEMU's block-job-cancel of a ready commit): the disk stays on top,
#   base is read-only again and alone reads as the disk did at the cancel;
# - qemu-img check is clean on every image; QEMU reads the final chains
#   exactly as the disks did;
# - refusals: a top without backing, a base not below top, top = base, a
#   base that another overlay shares.
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
require_cmd fio
jobs_begin

M=$((1 << 20))

# --- refusals -----------------------------------------------------------------
job_chain "$D/a" 16M
cp "$D"/a/*.qcow2 "$D/a/orig/"
q_open vm1 "$D/a/top.qcow2"
dev1=$(devt /dev/mapper/vm1)
expect_error "no node named 'nonode'" job start commit top=nonode
expect_error "no backing node" job start commit top=vm1-b2
expect_error "not in the backing chain" job start commit top=vm1-b1 base=vm1
expect_error "the base is the top itself" job start commit top=vm1 base=vm1
# a base with two overlays
qemu-img create -q -f qcow2 "$D/sb.qcow2" 16M
qemu-img create -q -f qcow2 -b "$D/sb.qcow2" -F qcow2 "$D/o1.qcow2" 16M
qemu-img create -q -f qcow2 -b "$D/sb.qcow2" -F qcow2 "$D/o2.qcow2" 16M
node_add qcow2 node-name=sb file="$D/sb.qcow2" read-only=on
node_add qcow2 node-name=o1 file="$D/o1.qcow2" backing=sb
node_add qcow2 node-name=o2 file="$D/o2.qcow2" backing=sb
expect_error "base sb is shared by another overlay \((o1|o2)\)" job start commit top=o1
[ "$(json_get "$(vstoragectl -j node show sb)" 'j["read-only"]')" = True ] ||
	fail "a refused commit left the base writable"
for n in o2 o1 sb; do node_del "$n"; done
[ "$(vstoragectl -j job list)" = "[]" ] || fail "a refused job exists: $(vstoragectl job list)"

# --- non-active commit of mid into base, under fio -------------------------------
fio_rounds /dev/mapper/vm1 $((12 * M)) $((8 * M)) &
fpid=$!
sleep 2
# slow for the checks that want it running, unlimited after them
id=$(vstoragectl job start commit top=vm1-b1 base=vm1-b2 speed="$(job_speed $((256 << 10)))") || fail "job start commit"
[ "$id" = vm1-b1 ] || fail "the job's id is '$id', not top's name"
[ "$(job_field vm1-b1 active)" = False ] || fail "a commit under an overlay is active"
expect_error "in use by job vm1-b1" node del vm1
vstoragectl job set-speed vm1-b1 0 || fail "job set-speed vm1-b1 0"
vstoragectl job wait vm1-b1 || fail "job wait: the commit failed"
fio_stop "$fpid"
fio_verify_only /dev/mapper/vm1 $((12 * M)) $((8 * M))
[ "$(devt /dev/mapper/vm1)" = "$dev1" ] || fail "the disk's dev_t changed"
# mid's device goes once the job let it go
for ((i = 0; i < 50; i++)); do
	[ "$(q_auto_nodes)" = vm1-b2 ] && break
	sleep 0.1
done
[ "$(q_auto_nodes)" = vm1-b2 ] || fail "automatic nodes after the commit: $(q_auto_nodes)"
b=$(json_get "$(vstoragectl -j node show vm1)" '[c.get("node-name") for c in j["children"] if c["role"] == "backing"][0]')
[ "$b" = vm1-b2 ] || fail "vm1's backing is '$b', not vm1-b2"
[ "$(json_get "$(vstoragectl -j node show vm1-b2)" 'j["read-only"]')" = True ] ||
	fail "base stayed writable after the commit"
same_path "$(backing_of "$D/a/top.qcow2")" "$D/a/base.qcow2" "top's backing file after the commit"
[ "$(backing_fmt_of "$D/a/top.qcow2")" = qcow2 ] || fail "top's backing format: $(backing_fmt_of "$D/a/top.qcow2")"
dd if=/dev/mapper/vm1 of="$D/a/got.raw" bs=1M iflag=direct status=none
q_close vm1
# QEMU's commit of the same chain, for base alone
qemu-img commit -q -b "$D/a/orig/base.qcow2" "$D/a/orig/mid.qcow2" || fail "qemu-img commit"
qemu-img compare -q "$D/a/base.qcow2" "$D/a/orig/base.qcow2" ||
	fail "base after the commit differs from QEMU's commit of mid into base"
[ "$(chain_files "$D/a/top.qcow2")" = "$D/a/top.qcow2 $(readlink -f "$D/a/base.qcow2")" ] ||
	[ "$(chain_files "$D/a/top.qcow2")" = "$D/a/top.qcow2 $D/a/base.qcow2" ] ||
	fail "QEMU's backing chain of top: $(chain_files "$D/a/top.qcow2")"
for i in top mid base; do img_check "$D/a/$i.qcow2"; done
oracle_raw "$D/a/top.qcow2" "$D/a/qemu.raw"
same_raw "$D/a/qemu.raw" "$D/a/got.raw" "QEMU's reading of top over the committed base"

# --- active commit into the bottom, under fio ---------------------------------------
job_chain "$D/b" 16M
q_open vm2 "$D/b/top.qcow2"
dev2=$(devt /dev/mapper/vm2)
fio_rounds /dev/mapper/vm2 $((12 * M)) $((8 * M)) &
fpid=$!
sleep 2
vstoragectl job start commit top=vm2 speed=8M >/dev/null || fail "job start active commit"
[ "$(job_field vm2 active)" = True ] || fail "the commit of the disk's own node is not active"
[ "$(job_field vm2 base)" = vm2-b2 ] || fail "base did not default to the bottom: $(job_field vm2 base)"
dmsetup table vm2 | grep -q " vstorage-mirror vm2-mirror " ||
	fail "no mirror filter on the disk: $(dmsetup table vm2)"
wait_job_state vm2 ready 120
# still ready under writes: the workload keeps dirtying, the job follows
sleep 2
[ "$(job_field vm2 state)" = ready ] || fail "job left ready by itself: $(job_field vm2 state)"
job_verb_wait vm2 complete || fail "job wait: the active commit failed: $(cat "$D/wait.out")"
# writes after the pivot too
sleep 2
fio_stop "$fpid"
fio_verify_only /dev/mapper/vm2 $((12 * M)) $((8 * M))
[ "$(devt /dev/mapper/vm2)" = "$dev2" ] || fail "the disk's dev_t changed at the pivot"
dmsetup table vm2 | grep -q " vstorage-qcow2 vm2-b2 " ||
	fail "the disk does not serve base's node: $(dmsetup table vm2)"
vstoragectl node show vm2 >/dev/null 2>&1 && fail "the old top node is still there"
vstoragectl node show vm2-mirror >/dev/null 2>&1 && fail "the mirror filter is still there"
for d in vm2-vm2 vm2-b1 vm2-b2; do
	dmsetup info "$d" >/dev/null 2>&1 && fail "device $d is still there"
done
[ "$(json_get "$(vstoragectl -j node show vm2-b2)" 'j["read-only"]')" = False ] ||
	fail "the disk serves base read-only"
dd if=/dev/mapper/vm2 of="$D/b/got.raw" bs=1M iflag=direct status=none
vstoragectl node del vm2-b2 || fail "node del of the committed disk"
for i in top mid base; do img_check "$D/b/$i.qcow2"; done
oracle_raw "$D/b/base.qcow2" "$D/b/qemu.raw"
same_raw "$D/b/qemu.raw" "$D/b/got.raw" "QEMU's reading of base after the active commit"
# QEMU's active commit leaves top and mid as they were
[ "$(backing_of "$D/b/top.qcow2")" = mid.qcow2 ] || fail "top's header changed: $(backing_of "$D/b/top.qcow2")"

# --- active commit cancelled when ready: it completes without the pivot ---------------
job_chain "$D/c" 16M
q_open vm3 "$D/c/top.qcow2"
table3=$(dmsetup table vm3)
fio_rounds /dev/mapper/vm3 $((12 * M)) $((4 * M)) &
fpid=$!
sleep 1
vstoragectl job start commit top=vm3 >/dev/null || fail "job start active commit (vm3)"
wait_job_state vm3 ready 120
fio_stop "$fpid"
dd if=/dev/mapper/vm3 of="$D/c/got.raw" bs=1M iflag=direct status=none
job_verb_wait vm3 cancel || fail "job wait: a cancel when ready did not complete the commit: $(cat "$D/wait.out")"
[ "$(dmsetup table vm3)" = "$table3" ] || fail "the disk moved at a cancel when ready: $(dmsetup table vm3)"
[ "$(json_get "$(vstoragectl -j node show vm3-b2)" 'j["read-only"]')" = True ] ||
	fail "base stayed writable after the cancel"
fio_verify_only /dev/mapper/vm3 $((12 * M)) $((4 * M))
q_close vm3
for i in top mid base; do img_check "$D/c/$i.qcow2"; done
# base alone is the disk at the moment of the cancel
oracle_raw "$D/c/base.qcow2" "$D/c/qemu.raw"
same_raw "$D/c/qemu.raw" "$D/c/got.raw" "QEMU's reading of base after a cancel when ready"
jobs_end
