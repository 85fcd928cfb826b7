#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The stream job over a qcow2 chain of three (top -> mid -> base) while
# fio writes through the disk with crc32c verification:
# - stream base=<base's node>: mid's data comes up into top, base's stays
#   in base; top's header names base (its path and format, as QEMU's
#   block-stream writes it), the disk's table stands on base's device, the
#   automatic node of mid is gone, the copy-on-read filter too;
# - stream without base: top stands alone (no backing file), every
#   automatic node is gone;
# - fio's verify passes during and after (a workload write is never
#   overwritten by backing data), the ranges fio did not touch read as the
#   original chain did, QEMU reads the final images exactly as the disk
#   did, qemu-img check is clean on every image, the disk keeps its dev_t;
# - reloads of the filter's and the node's devices during the stream do
#   not disturb it;
# - a cancelled stream leaves the chain as it was (header, tables,
#   automatic nodes, contents), and job wait says it was cancelled;
# - job start's refusals: no node, a base not in the chain, a raw node.
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
modprobe dm-vstorage-copy-on-read || fail "cannot load dm-vstorage-copy-on-read.ko"
jobs_begin

M=$((1 << 20))

# region FILE OFFSET_M LEN_M OUT: a slice of FILE, in MiB
region() {
	dd if="$1" of="$4" bs=1M skip="$2" count="$3" iflag=direct status=none 2>/dev/null ||
		dd if="$1" of="$4" bs=1M skip="$2" count="$3" status=none
}

# untouched DIR DISK: what fio did not write ([0, 12M) and [20M, 64M))
# reads as the original chain did
untouched() {
	local m
	for m in "0 12" "20 44"; do
		# shellcheck disable=SC2086 # two words: offset and length
		region "$2" $m "$D/got.part"
		# shellcheck disable=SC2086
		region "$1/expect.raw" $m "$D/want.part"
		same_raw "$D/got.part" "$D/want.part" "$(basename "$2") at ${m% *}M"
	done
}

# --- refusals: nothing is left behind ----------------------------------------
job_chain "$D/a" 16M
q_open vm1 "$D/a/top.qcow2"
[ "$(q_auto_nodes)" = "$(printf 'vm1-b1\nvm1-b2')" ] ||
	fail "expected the automatic nodes vm1-b1 (mid) and vm1-b2 (base): $(q_auto_nodes)"
dev0=$(devt /dev/mapper/vm1)
expect_error "no node named 'nonode'" job start stream node=nonode
expect_error "the base is the node itself" job start stream node=vm1 base=vm1
expect_error "not in the backing chain" job start stream node=vm1 base=nonode
truncate -s 16M "$D/raw.img"
node_add raw node-name=r0 file="$D/raw.img"
expect_error "not in the backing chain" job start stream node=vm1 base=r0
expect_error "raw node" job start stream node=r0
dmsetup table vm1 | grep -q " vstorage-qcow2 " || fail "a refused job left a filter: $(dmsetup table vm1)"
[ "$(vstoragectl -j job list)" = "[]" ] || fail "a refused job exists: $(vstoragectl job list)"

# --- stream with a base, under fio ---------------------------------------------
fio_rounds /dev/mapper/vm1 $((12 * M)) $((8 * M)) &
fpid=$!
sleep 2
# slow for the checks that want it running, unlimited after them
id=$(vstoragectl job start stream node=vm1 base=vm1-b2 speed="$(job_speed $((64 << 10)))") || fail "job start stream"
[ "$id" = vm1 ] || fail "the job's id is '$id', not the node's name (QEMU's default)"
[ "$(job_field vm1 type)" = stream ] || fail "job show: type $(job_field vm1 type)"
[ "$(job_field vm1 base)" = vm1-b2 ] || fail "job show: base $(job_field vm1 base)"
dmsetup table vm1 | grep -q " vstorage-cor vm1-cor " ||
	fail "no copy-on-read filter on the disk during the stream: $(dmsetup table vm1)"
expect_error "in use by job vm1" node del vm1
expect_error "in use by job vm1" node remove-filter vm1-cor
# a reload of the devices the job works through (the filter's, the node's),
# as any table change under a job does, does not disturb it
for dm in vm1 vm1-vm1; do
	dmsetup table "$dm" >"$D/table.$dm"
	dmsetup reload "$dm" "$D/table.$dm" || fail "reload of $dm under the stream"
	dmsetup suspend "$dm" || fail "suspend of $dm under the stream"
	dmsetup resume "$dm" || fail "resume of $dm under the stream"
done
[ "$(job_field vm1 state)" = running ] ||
	fail "the stream is '$(job_field vm1 state)' after reloads of its devices"
vstoragectl job set-speed vm1 0 || fail "job set-speed vm1 0"
vstoragectl job wait vm1 || fail "job wait: the stream failed"
fio_stop "$fpid"
fio_verify_only /dev/mapper/vm1 $((12 * M)) $((8 * M))

[ "$(devt /dev/mapper/vm1)" = "$dev0" ] || fail "the disk's dev_t changed"
dmsetup table vm1 | grep -q " vstorage-qcow2 vm1 " || fail "the filter stayed: $(dmsetup table vm1)"
vstoragectl node show vm1-cor >/dev/null 2>&1 && fail "the copy-on-read node stayed"
[ "$(q_auto_nodes)" = vm1-b2 ] || fail "automatic nodes after the stream: $(q_auto_nodes)"
b=$(json_get "$(vstoragectl -j node show vm1)" '[c.get("node-name") for c in j["children"] if c["role"] == "backing"][0]')
[ "$b" = vm1-b2 ] || fail "vm1's backing is '$b', not vm1-b2"
same_path "$(backing_of "$D/a/top.qcow2")" "$D/a/base.qcow2" "top's backing file after stream base="
[ "$(backing_fmt_of "$D/a/top.qcow2")" = qcow2 ] || fail "top's backing format: $(backing_fmt_of "$D/a/top.qcow2")"
untouched "$D/a" /dev/mapper/vm1
# base's data stayed in base: top has no data at 0
d=$(json_get "$(qemu-img map -U --output=json "$D/a/top.qcow2")" '[e["depth"] for e in j if e["start"] == 0][0]')
[ "$d" = 1 ] || fail "stream base= copied base's data at 0 into top (depth $d)"
# mid's data above fio's range came up into top
d=$(json_get "$(qemu-img map -U --output=json "$D/a/top.qcow2")" '[e["depth"] for e in j if e["start"] <= 22 * 2**20 < e["start"] + e["length"]][0]')
[ "$d" = 0 ] || fail "stream left mid's data at 22M below top (depth $d)"
# --- stream without a base, under fio -----------------------------------------
fio_rounds /dev/mapper/vm1 $((12 * M)) $((8 * M)) &
fpid=$!
sleep 2
j=$(vstoragectl -j job start stream node=vm1 job-id=s2 speed=16M) || fail "job start -j stream"
[ "$(json_get "$j" 'j["id"]')" = s2 ] || fail "job start -j printed $j"
vstoragectl job wait s2 || fail "job wait: the stream without base failed"
fio_stop "$fpid"
fio_verify_only /dev/mapper/vm1 $((12 * M)) $((8 * M))
[ "$(devt /dev/mapper/vm1)" = "$dev0" ] || fail "the disk's dev_t changed"
[ -z "$(q_auto_nodes)" ] || fail "automatic nodes after a stream without base: $(q_auto_nodes)"
[ "$(backing_of "$D/a/top.qcow2")" = none ] || fail "top still has a backing file: $(backing_of "$D/a/top.qcow2")"
b=$(json_get "$(vstoragectl -j node show vm1)" '[c["role"] for c in j["children"] if c["role"] == "backing"]')
[ "$b" = "[]" ] || fail "vm1 keeps a backing child: $(vstoragectl node show vm1)"
untouched "$D/a" /dev/mapper/vm1
dd if=/dev/mapper/vm1 of="$D/a/got.raw" bs=1M iflag=direct status=none
q_close vm1
[ "$(chain_files "$D/a/top.qcow2")" = "$D/a/top.qcow2" ] ||
	fail "QEMU's backing chain of top: $(chain_files "$D/a/top.qcow2")"
for i in top mid base; do img_check "$D/a/$i.qcow2"; done
oracle_raw "$D/a/top.qcow2" "$D/a/qemu.raw"
same_raw "$D/a/qemu.raw" "$D/a/got.raw" "QEMU's reading of the streamed top"

# --- cancel: the chain stays as it was ----------------------------------------
job_chain "$D/c" 16M
q_open vm2 "$D/c/top.qcow2"
dev2=$(devt /dev/mapper/vm2)
table2=$(dmsetup table vm2)
vstoragectl job start stream node=vm2 base=vm2-b2 speed="$(job_speed $((256 << 10)))" >/dev/null || fail "job start"
wait_offset vm2 $((1 * M))
vstoragectl job wait vm2 >"$D/wait.out" 2>&1 &
wpid=$!
sleep 1
vstoragectl job cancel vm2 || fail "job cancel"
wait "$wpid" && fail "job wait succeeded for a cancelled job"
grep -q "^Error: job vm2 was cancelled$" "$D/wait.out" || fail "job wait after cancel said: $(cat "$D/wait.out")"
wait_job_state vm2 gone
# the supervisor undoes the filter once the job concluded
wait_target vm2 vstorage-qcow2
[ "$(dmsetup table vm2)" = "$table2" ] || fail "vm2's table after cancel: $(dmsetup table vm2), was $table2"
[ "$(devt /dev/mapper/vm2)" = "$dev2" ] || fail "vm2's dev_t changed"
[ "$(q_auto_nodes)" = "$(printf 'vm2-b1\nvm2-b2')" ] || fail "automatic nodes after cancel: $(q_auto_nodes)"
[ "$(backing_of "$D/c/top.qcow2")" = mid.qcow2 ] || fail "top's backing after cancel: $(backing_of "$D/c/top.qcow2")"
dd if=/dev/mapper/vm2 of="$D/c/got.raw" bs=1M iflag=direct status=none
same_raw "$D/c/got.raw" "$D/c/expect.raw" "vm2 after a cancelled stream"
q_close vm2
for i in top mid base; do img_check "$D/c/$i.qcow2"; done
oracle_raw "$D/c/top.qcow2" "$D/c/qemu.raw"
same_raw "$D/c/qemu.raw" "$D/c/expect.raw" "QEMU's reading after a cancelled stream"
jobs_end
