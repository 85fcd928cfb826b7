#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The mirror job (QEMU's drive-mirror) while fio writes through the disk
# with crc32c verification, on a qcow2 disk over a qcow2 backing file:
# - each sync mode (full, top, none) with each copy-mode (background,
#   write-blocking) across the runs, each mode ended both ways:
#   * complete: the disk (same dev_t) serves the target's node, the
#     source's node is gone (sync=full: its backing nodes too; top: the
#     target stands on them; none: on the source), every write fio made
#     before, during and after the pivot verifies, and QEMU reads the
#     target's chain exactly as the disk read;
#   * cancel when ready (after fio stopped): the job completes (job wait
#     succeeds; QEMU's complete without pivot; a cancel before ready is a
#     cancel), the disk is back on its own node, the target node is gone
#     and its image reads as the disk did at the cancel;
#   the target made for sync=top is backed by the source's backing file,
#   the one for sync=none by the source's image, the one for full by
#   nothing; format=raw makes a raw file; qemu-img check is clean on
#   every image written; with write-blocking the filter sends writes and
#   write-zeroes to both sides (its status counts them), in background
#   none;
# - refusals: a smaller target, a second mirror (or a commit) on the
#   node, the node's own image or name as target, bad keys;
# - an I/O error under the target (dm-error) honours on-error: report
#   fails the job, stop pauses it until resume (after the fault is gone),
#   ignore retries the failed ranges (QEMU dirties them again): the job
#   runs on without an error and never gets ready until the fault is gone,
#   then copies what it could not, and its target equals the disk.
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

# src DIR: DIR/top.qcow2 (0x33 in [4M, 6M)) over DIR/base.qcow2 (0x11
# in [0, 4M)), 16M each; fio writes [8M, 12M)
src() {
	mkdir -p "$1"
	qemu-img create -q -f qcow2 "$1/base.qcow2" 16M
	qio -c 'write -P 0x11 0 4M' "$1/base.qcow2"
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$1/top.qcow2" 16M
	qio -c 'write -P 0x33 4M 2M' "$1/top.qcow2"
}

# mirror_run VM SYNC COPY-MODE complete|cancel [FORMAT]
mirror_run() {
	local vm=$1 sync=$2 mode=$3 end=$4 fmt=${5:-qcow2} dir=$D/$1 dev id fpid b i t0 t1 dual
	local tgt=$dir/tgt.$fmt
	info "--- mirror sync=$sync copy-mode=$mode format=$fmt, then $end"
	t0=$SECONDS
	src "$dir"
	q_open "$vm" "$dir/top.qcow2"
	dev=$(devt "/dev/mapper/$vm")
	fio_rounds "/dev/mapper/$vm" $((8 * M)) $((4 * M)) &
	fpid=$!
	sleep 1
	id=$(vstoragectl job start mirror node="$vm" target="$tgt" sync="$sync" \
		copy-mode="$mode" format="$fmt") || fail "job start mirror"
	[ "$id" = "$vm" ] || fail "the job's id is '$id', not the node's name"
	[ "$(job_field "$vm" target)" = "$vm-target" ] || fail "target: $(job_field "$vm" target)"
	[ "$(job_field "$vm" sync)" = "$sync" ] || fail "sync: $(job_field "$vm" sync)"
	[ "$(job_field "$vm" copy-mode)" = "$mode" ] || fail "copy-mode: $(job_field "$vm" copy-mode)"
	[ "$(job_field "$vm" granularity)" = 65536 ] || fail "granularity: $(job_field "$vm" granularity)"
	dmsetup table "$vm" | grep -q " vstorage-mirror $vm-mirror " ||
		fail "no mirror filter on the disk: $(dmsetup table "$vm")"
	if [ "$fmt" = qcow2 ]; then
		case $sync in
		full) [ "$(backing_of "$tgt")" = none ] || fail "full: target backed by $(backing_of "$tgt")" ;;
		top) same_path "$(backing_of "$tgt")" "$dir/base.qcow2" "top: the target's backing" ;;
		none) same_path "$(backing_of "$tgt")" "$dir/top.qcow2" "none: the target's backing" ;;
		esac
	else
		[ "$(json_get "$(qemu-img info --output=json "$tgt")" 'j["format"]')" = raw ] ||
			fail "format=raw made a $(qemu-img info "$tgt")"
	fi
	if [ "$vm" = m1 ]; then
		expect_error "in use by job $vm" job start mirror node="$vm" target="$dir/t2.qcow2" sync=full job-id=second
		expect_error "in use by job $vm" job start commit top="$vm" job-id=c2
	fi
	t1=$SECONDS
	wait_job_state "$vm" ready 120
	info "ready after $((SECONDS - t1)) s"
	# still ready under writes: the job follows the workload
	sleep 1
	[ "$(job_field "$vm" state)" = ready ] || fail "job left ready by itself: $(job_field "$vm" state)"
	# the filter's last status field: writes it sent to both sides
	dual=$(dmsetup status "$vm" | awk '{ print $NF }')
	if [ "$mode" = write-blocking ]; then
		[ "$dual" -gt 0 ] || fail "write-blocking: no write went to both sides"
	else
		[ "$dual" = 0 ] || fail "background: $dual writes went to both sides"
	fi
	info "writes to both sides: $dual"
	if [ "$end" = complete ]; then
		job_verb_wait "$vm" complete || fail "job wait: the mirror failed: $(cat "$D/wait.out")"
		# writes after the pivot too
		sleep 1
		fio_stop "$fpid"
		fio_verify_only "/dev/mapper/$vm" $((8 * M)) $((4 * M))
		[ "$(devt "/dev/mapper/$vm")" = "$dev" ] || fail "the disk's dev_t changed at the pivot"
		dmsetup table "$vm" | grep -q " vstorage-$fmt $vm-target " ||
			fail "the disk does not serve the target: $(dmsetup table "$vm")"
		vstoragectl node show "$vm-mirror" >/dev/null 2>&1 && fail "the filter is still there"
		case $sync in
		full)
			vstoragectl node show "$vm" >/dev/null 2>&1 && fail "the source node is still there"
			vstoragectl node show "$vm-b1" >/dev/null 2>&1 && fail "the source's backing node is still there"
			;;
		top)
			vstoragectl node show "$vm" >/dev/null 2>&1 && fail "the source node is still there"
			b=$(json_get "$(vstoragectl -j node show "$vm-target")" '[c.get("node-name") for c in j["children"] if c["role"] == "backing"][0]')
			[ "$b" = "$vm-b1" ] || fail "the target's backing node is '$b', not $vm-b1"
			;;
		none)
			b=$(json_get "$(vstoragectl -j node show "$vm-target")" '[c.get("node-name") for c in j["children"] if c["role"] == "backing"][0]')
			[ "$b" = "$vm" ] || fail "the target's backing node is '$b', not the source $vm"
			;;
		esac
		dd if="/dev/mapper/$vm" of="$dir/got.raw" bs=1M iflag=direct status=none
		# with sync=none the disk's layers are the target over the source
		if [ "$sync" = none ]; then
			vstoragectl node del "$vm" || fail "node del of the disk"
		else
			vstoragectl node del "$vm-target" || fail "node del of the mirrored disk"
		fi
		dmsetup info "$vm" >/dev/null 2>&1 && fail "the disk's device stayed"
	else
		# the moment of the cancel: nothing writes any more
		fio_stop "$fpid"
		if [ "$mode" = write-blocking ]; then
			# write-zeroes to a copied range reaches both sides too
			dual=$(dmsetup status "$vm" | awk '{ print $NF }')
			blkdiscard -z -o $((13 * M)) -l $((M)) "/dev/mapper/$vm" || fail "blkdiscard -z"
			b=$(dmsetup status "$vm" | awk '{ print $NF }')
			((b > dual)) || fail "write-blocking: write-zeroes did not go to both sides ($b dual writes, $dual before)"
		fi
		dd if="/dev/mapper/$vm" of="$dir/got.raw" bs=1M iflag=direct status=none
		# QEMU: a cancel when ready completes the job, without the pivot
		job_verb_wait "$vm" cancel || fail "job wait: a cancel when ready did not complete the mirror: $(cat "$D/wait.out")"
		wait_job_state "$vm" gone 60
		wait_target "$vm" vstorage-qcow2
		[ "$(devt "/dev/mapper/$vm")" = "$dev" ] || fail "the disk's dev_t changed at the cancel"
		for ((i = 0; i < 50; i++)); do
			vstoragectl node show "$vm-target" >/dev/null 2>&1 || break
			sleep 0.1
		done
		vstoragectl node show "$vm-target" >/dev/null 2>&1 && fail "the target node stayed after the cancel"
		[ -f "$tgt" ] || fail "the cancel removed the target's image"
		fio_verify_only "/dev/mapper/$vm" $((8 * M)) $((4 * M))
		q_close "$vm"
	fi
	# base.qcow2 is only ever read (the backing file): top and the target
	img_check "$dir/top.qcow2"
	if [ "$fmt" = qcow2 ]; then
		img_check "$tgt"
		img_compare "$tgt" "$dir/got.raw"
	else
		same_raw "$tgt" "$dir/got.raw" "the raw target and the disk"
	fi
	[ -z "$(q_auto_nodes)" ] || fail "automatic nodes left: $(q_auto_nodes)"
	info "done after $((SECONDS - t0)) s"
}

# --- refusals ------------------------------------------------------------------
src "$D/r"
q_open vr "$D/r/top.qcow2"
qemu-img create -q -f qcow2 "$D/r/small.qcow2" 8M
expect_error "smaller than node 'vr'" job start mirror node=vr target="$D/r/small.qcow2" sync=full
expect_error "no node named 'nonode'" job start mirror node=nonode target="$D/r/x.qcow2" sync=full
expect_error "the target is the node itself" job start mirror node=vr target=vr sync=full
expect_error "the node's own image" job start mirror node=vr target="$D/r/top.qcow2" sync=full
expect_error "missing sync" job start mirror node=vr target="$D/r/x.qcow2"
expect_error "missing target" job start mirror node=vr sync=full
expect_error "sync is one of full, top, none" job start mirror node=vr target="$D/r/x.qcow2" sync=bitmap
expect_error "copy-mode is background or write-blocking" job start mirror node=vr target="$D/r/x.qcow2" sync=full copy-mode=active
expect_error "granularity is a power of two" job start mirror node=vr target="$D/r/x.qcow2" sync=full granularity=1000
expect_error "format is qcow2 or raw" job start mirror node=vr target="$D/r/x.qcow2" sync=full format=vmdk
expect_error "unknown key 'base'" job start mirror node=vr target="$D/r/x.qcow2" sync=full base=vr-b1
[ ! -e "$D/r/x.qcow2" ] || fail "a refused mirror left its target image"
[ "$(vstoragectl -j job list)" = "[]" ] || fail "a refused job exists: $(vstoragectl job list)"
dmsetup table vr | grep -q " vstorage-qcow2 vr " || fail "a refused mirror left a filter: $(dmsetup table vr)"
# an existing node as target, used as is; then one node, two mirrors
qemu-img create -q -f qcow2 "$D/r/t1.qcow2" 16M
node_add qcow2 node-name=t1 file="$D/r/t1.qcow2"
vstoragectl job start mirror node=vr target=t1 sync=full speed=256K >/dev/null || fail "mirror to a node"
expect_error "in use by job vr" job start mirror node=vr target="$D/r/t2.qcow2" sync=full job-id=two
expect_error "in use by job vr" job start mirror node=t1 target="$D/r/t3.qcow2" sync=full job-id=three
# before ready a cancel is a cancel
job_verb_wait vr cancel && fail "job wait succeeded for a mirror cancelled before ready"
grep -q "job vr was cancelled" "$D/wait.out" || fail "job wait after a cancel before ready: $(cat "$D/wait.out")"
wait_job_state vr gone 60
wait_target vr vstorage-qcow2
vstoragectl node show t1 >/dev/null || fail "a node given as target was removed at the cancel"
node_del t1
q_close vr

# --- the modes --------------------------------------------------------------------
mirror_run m1 full background complete
mirror_run m2 full write-blocking cancel raw
mirror_run m3 top write-blocking complete
mirror_run m4 top background cancel
mirror_run m5 none background complete
mirror_run m6 none write-blocking cancel

# --- I/O errors under the target ------------------------------------------------
src "$D/e"
q_open ve "$D/e/top.qcow2"
truncate -s 16M "$D/e/t.raw"
lo=$(loop_add "$D/e/t.raw")
# the second half of the target fails every write
printf '0 16384 linear %s 0\n16384 16384 error\n' "$lo" | dmsetup create merr ||
	fail "cannot create the faulty target"
track_dm merr
wait_for_path /dev/mapper/merr 10 -b || fail "/dev/mapper/merr did not appear"
fio_rounds /dev/mapper/ve $((8 * M)) $((4 * M)) &
fpid=$!
sleep 1

info "--- on-error=report"
vstoragectl job start mirror node=ve target=/dev/mapper/merr sync=full on-error=report \
	auto-dismiss=off >/dev/null || fail "job start mirror to the faulty target"
wait_job_state ve concluded 120
[ -n "$(job_field ve error)" ] || fail "on-error=report: the job did not fail"
vstoragectl job dismiss ve
wait_target ve vstorage-qcow2
for ((i = 0; i < 50; i++)); do
	vstoragectl node show ve-target >/dev/null 2>&1 || break
	sleep 0.1
done
vstoragectl node show ve-target >/dev/null 2>&1 && fail "the target node stayed after the failure"

info "--- on-error=ignore: the failed ranges are retried (QEMU's mirror dirties them again)"
vstoragectl job start mirror node=ve target=/dev/mapper/merr sync=full on-error=ignore \
	auto-dismiss=off >/dev/null || fail "job start mirror, on-error=ignore"
wait_offset ve $((6 * M)) 120
sleep 2
st=$(job_field ve state)
[ "$st" = running ] ||
	fail "on-error=ignore: the job is $st while half its target fails (want running: ready means nothing is left to copy)"
[ "$(job_field ve error)" = None ] || fail "on-error=ignore: the job has an error: $(job_field ve error)"
off=$(job_field ve offset)
((off <= 8 * M)) || fail "on-error=ignore: the offset ($off) passed the failing half of the target"
printf '0 32768 linear %s 0\n' "$lo" | dmsetup load merr || fail "dmsetup load"
dmsetup resume merr || fail "dmsetup resume"
wait_job_state ve ready 120
fio_stop "$fpid"
dd if=/dev/mapper/ve of="$D/e/got.raw" bs=1M iflag=direct status=none
vstoragectl job cancel ve || fail "job cancel"
wait_job_state ve concluded 60
[ "$(job_field ve error)" = None ] ||
	fail "on-error=ignore: the job failed after its target healed: $(job_field ve error)"
vstoragectl job dismiss ve
wait_target ve vstorage-qcow2
fio_verify_only /dev/mapper/ve $((8 * M)) $((4 * M))
same_raw "$D/e/t.raw" "$D/e/got.raw" "the target after ignored errors, a repair and cancel"
# the second half fails again, for on-error=stop
printf '0 16384 linear %s 0\n16384 16384 error\n' "$lo" | dmsetup load merr || fail "dmsetup load"
dmsetup resume merr || fail "dmsetup resume"
fio_rounds /dev/mapper/ve $((8 * M)) $((4 * M)) &
fpid=$!
sleep 1

info "--- on-error=stop"
vstoragectl job start mirror node=ve target=/dev/mapper/merr sync=full on-error=stop \
	>/dev/null || fail "job start mirror, on-error=stop"
wait_job_state ve paused 120
sleep 1
[ "$(job_field ve state)" = paused ] || fail "on-error=stop: the job went on: $(job_field ve state)"
# the fault is repaired; resume retries
printf '0 32768 linear %s 0\n' "$lo" | dmsetup load merr || fail "dmsetup load"
dmsetup resume merr || fail "dmsetup resume"
vstoragectl job resume ve || fail "job resume"
wait_job_state ve ready 120
fio_stop "$fpid"
dd if=/dev/mapper/ve of="$D/e/got.raw" bs=1M iflag=direct status=none
vstoragectl job cancel ve || fail "job cancel"
wait_job_state ve gone 60
wait_target ve vstorage-qcow2
fio_verify_only /dev/mapper/ve $((8 * M)) $((4 * M))
same_raw "$D/e/t.raw" "$D/e/got.raw" "the target after a stop, a repair, resume and cancel"
q_close ve
for i in top base; do img_check "$D/e/$i.qcow2"; done
jobs_end
