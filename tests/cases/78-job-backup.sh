#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 600
#
# The backup job (QEMU's blockdev-backup) through the copy-before-write
# filter, while fio writes through the disk with crc32c verification. The
# reference of each point in time is taken with the workload stopped right
# before job start; fio starts again at once and writes during the job.
# - sync=full into a new qcow2 image: the image reads exactly as the disk
#   did at the start, although fio rewrote part of it during the job (the
#   filter copied old data before writes: its count is > 0);
# - sync=top into a new image backed by the disk's backing file: QEMU
#   reads that chain exactly as the disk was;
# - sync=none (image fleecing): the read-only view node <id>-view reads as
#   the disk at the start while fio writes; deleting the view ends the job
#   (the supervisor completes it) and removes the filter and the target
#   node; a write that races a read of the view (the overlay's backing
#   delayed by dm-delay) waits for it, so the view returns the old data,
#   where a plain read of the overlay returns the new (the control);
# - errors: a target smaller than the node, a second backup of one node,
#   and an I/O error under the target (dm-error) with on-error=report: the
#   job fails, fio's writes all complete and verify, the filter goes;
# - sync=bitmap: three incremental backups, each a qcow2 backed by the
#   previous, restore (qemu-img convert of the last) to the disk at each
#   start;
# - a bitmap QEMU made and QEMU's writes marked drives a sync=bitmap
#   backup that equals QEMU's own incremental backup (the bitmap's dirty
#   ranges exported by qemu-nbd, copied onto an overlay of the full
#   backup, as libvirt's pull mode does): same content, same clusters
#   allocated in the top layer;
# - qemu-img check is clean on every image.
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
require_module dm-vstorage-copy-before-write
jobs_begin

M=$((1 << 20))
ERRDEV=bk78err
DELAYDEV=bk78delay
LOOP=

backup_cleanup() {
	jobs_cleanup
	dmsetup remove --retry "$ERRDEV" >/dev/null 2>&1 || true
	dmsetup remove --retry "$DELAYDEV-raw" >/dev/null 2>&1 || true
	dmsetup remove --retry "$DELAYDEV" >/dev/null 2>&1 || true
	[ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null || true
}
trap backup_cleanup EXIT

# bytes BYTE LENGTH: LENGTH bytes of value BYTE (0xNN) on stdout
bytes() {
	head -c "$2" /dev/zero | tr '\0' "\\$(printf '%03o' "$1")"
}

# cbw_bytes: what the filter on vm1 copied before writes so far
cbw_bytes() {
	dmsetup status vm1 | awk '$3 == "vstorage-cbw" { print $13 }'
}

job_chain "$D/a" 48M
q_open vm1 "$D/a/top.qcow2"
dev1=$(devt /dev/mapper/vm1)
fio_again /dev/mapper/vm1 $((40 * M)) $((4 * M))
sleep 2

# --- refusals -------------------------------------------------------------------
qemu-img create -q -f qcow2 "$D/small.qcow2" 16M
expect_error "smaller than node 'vm1'" job start backup node=vm1 target="$D/small.qcow2" sync=full
expect_error "no node named 'nonode'" job start backup node=nonode target="$D/x.qcow2" sync=full
expect_error "no such node" job start backup node=vm1 target=nonode sync=full
[ -e "$D/x.qcow2" ] && fail "a refused backup created its target"
vstoragectl job start backup node=vm1 job-id=b1 target="$D/f1.qcow2" sync=none >/dev/null ||
	fail "job start backup sync=none"
expect_error "in use by job b1" job start backup node=vm1 job-id=b2 target="$D/f2.qcow2" sync=full
vstoragectl job cancel b1 || fail "job cancel b1"
wait_job_state b1 gone 60
wait_nodes_gone b1-cbw b1-view b1-target
dmsetup table vm1 | grep -q vstorage-cbw && fail "the filter stayed after a cancel: $(dmsetup table vm1)"

# --- sync=full under fio -----------------------------------------------------------
start_point full
vstoragectl job start backup node=vm1 target="$D/full.qcow2" sync=full speed=8M >/dev/null ||
	fail "job start backup sync=full"
# paused until fio has rewritten a chunk the job has not copied: the
# filter must copy it first (on a loaded host the job could finish first)
vstoragectl job pause vm1 || fail "job pause vm1"
fio_again /dev/mapper/vm1 $((40 * M)) $((4 * M))
dmsetup table vm1 | grep -q " vstorage-cbw vm1-cbw " ||
	fail "no copy-before-write filter on the disk: $(dmsetup table vm1)"
[ "$(job_field vm1 target)" = vm1-target ] || fail "the job's target: $(job_field vm1 target)"
[ "$(job_field vm1 granularity)" = 65536 ] || fail "granularity $(job_field vm1 granularity)"
expect_error "in use by job vm1" node del vm1
# fio rewrites chunks the job has not reached: the filter copies them first
for ((i = 0; i < 600; i++)); do
	c=$(cbw_bytes)
	[ -n "$c" ] && [ "$c" -gt 0 ] && break
	sleep 0.1
done
[ -n "$c" ] && [ "$c" -gt 0 ] || fail "the filter copied nothing before writes: $(dmsetup status vm1)"
vstoragectl job resume vm1 || fail "job resume vm1"
vstoragectl job wait vm1 || fail "job wait: the backup failed"
info "copied before writes: $c bytes (at least)"
wait_nodes_gone vm1-cbw vm1-target
[ "$(devt /dev/mapper/vm1)" = "$dev1" ] || fail "the disk's dev_t changed"
fio_end
img_check "$D/full.qcow2"
[ "$(backing_of "$D/full.qcow2")" = none ] || fail "a full backup has a backing file"
oracle_raw "$D/full.qcow2" "$D/full-got.raw"
same_raw "$D/full.raw" "$D/full-got.raw" "the full backup and the disk at its start"
cmp -s "$D/full.raw" <(dd if=/dev/mapper/vm1 bs=1M iflag=direct status=none) &&
	fail "fio changed nothing during the backup: the test proves nothing"
fio_again /dev/mapper/vm1 $((40 * M)) $((4 * M))

# --- sync=top: the top layer, backed by the disk's backing file ----------------------
start_point top
vstoragectl job start backup node=vm1 target="$D/a/topbk.qcow2" sync=top >/dev/null ||
	fail "job start backup sync=top"
fio_again /dev/mapper/vm1 $((40 * M)) $((4 * M))
vstoragectl job wait vm1 || fail "job wait: the top backup failed"
wait_nodes_gone vm1-cbw vm1-target
img_check "$D/a/topbk.qcow2"
[ "$(backing_of "$D/a/topbk.qcow2")" = mid.qcow2 ] ||
	fail "the top backup's backing file: $(backing_of "$D/a/topbk.qcow2")"
oracle_raw "$D/a/topbk.qcow2" "$D/top-got.raw"
same_raw "$D/top.raw" "$D/top-got.raw" "the top backup over the disk's backing chain and the disk at its start"
# only the top layer's data: far less than the full backup
tsz=$(stat -c %s "$D/a/topbk.qcow2")
fsz=$(stat -c %s "$D/full.qcow2")
[ "$tsz" -lt "$fsz" ] || fail "the top backup ($tsz bytes) is not smaller than the full one ($fsz)"

# --- sync=none: image fleecing ----------------------------------------------------
start_point fleece
vstoragectl job start backup node=vm1 target="$D/fleece.qcow2" sync=none >/dev/null ||
	fail "job start backup sync=none"
fio_again /dev/mapper/vm1 $((40 * M)) $((4 * M))
wait_job_state vm1 ready 30
[ "$(json_get "$(vstoragectl -j node show vm1-view)" 'j["read-only"]')" = True ] ||
	fail "the fleecing view is not read-only"
sleep 2
# read the view while fio writes the disk
dd if=/dev/mapper/vm1-view of="$D/fleece-got.raw" bs=1M iflag=direct status=none ||
	fail "cannot read the fleecing view"
same_raw "$D/fleece.raw" "$D/fleece-got.raw" "the fleecing view, read under fio, and the disk at the start"
c=$(cbw_bytes)
[ "$c" -gt 0 ] || fail "no copy before a write during fleecing"
# deleting the view ends the job
vstoragectl node del vm1-view || fail "node del of the view"
wait_job_state vm1 gone 30
wait_nodes_gone vm1-cbw vm1-target
# (checked at the end: its backing file is the disk's image, in use)
fio_end
fio_again /dev/mapper/vm1 $((40 * M)) $((4 * M))

# --- the view holds off a write to what it is reading ------------------------------
# The overlay reads what was not copied from the live node (its backing).
# That read goes through dm-delay (3 s) here, so a write to the same
# chunk starts while it is on its way: the view must return the old data
# (the filter holds the write until the read ended), where a plain read
# of the overlay returns the new one. Chunks at 46M+: fio writes 40M-44M.
fio_end
bytes 0xa1 $((128 << 10)) | dd of=/dev/mapper/vm1 bs=64K seek=$((46 * 16)) count=2 iflag=fullblock oflag=direct status=none
vstoragectl job start backup node=vm1 target="$D/fleece2.qcow2" sync=none >/dev/null ||
	fail "job start backup sync=none (2)"
wait_job_state vm1 ready 30
dmsetup table vm1-view | grep -q " vstorage-access vm1-view " ||
	fail "the view is no snapshot-access node: $(dmsetup table vm1-view)"
dd if=/dev/zero of=/dev/mapper/vm1-view bs=4k count=1 oflag=direct status=none 2>/dev/null &&
	fail "a write to the fleecing view succeeded"
expect_error "snapshot-access stands on a copy-before-write node" \
	node add snapshot-access node-name=v78 file=vm1-target
dmsetup create bk78rw --table "0 8 vstorage-access v78 /dev/mapper/vm1" 2>/dev/null &&
	fail "a writable snapshot-access table was accepted"
dmesg | grep -q "snapshot-access is read-only: the table must be read-only" ||
	fail "no clear error for a writable snapshot-access table"
dmsetup remove bk78rw 2>/dev/null || true
ttab=$(dmsetup table vm1-target)
below=$(awk '{ for (i = 1; i < NF; i++) if ($i == "backing") print $(i + 1) }' <<<"$ttab")
[ -b "$below" ] || fail "the overlay's backing is no device: $ttab"
sectors=$(blockdev --getsz "$below")
# only the two chunks read here are delayed: udev's blkid probes every new
# device (this one, and the control's below) at both ends, and a delay
# there held each dmsetup create for 100 s
win=$((46 * 2048)) winlen=256
dmsetup create "$DELAYDEV" --table "0 $win linear $below 0
$win $winlen delay $below $win 3000 $below $win 0
$((win + winlen)) $((sectors - win - winlen)) linear $below $((win + winlen))" ||
	fail "dmsetup create $DELAYDEV"
dmsetup reload vm1-target --table "${ttab/ backing $below/ backing /dev/mapper/$DELAYDEV}"
dmsetup resume vm1-target
# delayed_reads: the reads dm-delay holds now (its status: reads writes
# flushes)
delayed_reads() {
	dmsetup status "$DELAYDEV" | awk '$3 == "delay" { print $4 }'
}
# read_then_write WHAT CHUNK BYTE: WHAT's chunk read while a write of BYTE
# starts once the read waits in dm-delay; the read's data into
# $D/win-CHUNK.bin
read_then_write() {
	local what=$1 chunk=$2 byte=$3 rpid i
	dd if="$what" of="$D/win-$chunk.bin" bs=64K skip=$((46 * 16 + chunk)) count=1 \
		iflag=direct status=none &
	rpid=$!
	# the read is on its way to the live node before the write: dm-delay's
	# status counts the reads it holds
	for ((i = 0; i < 100; i++)); do
		[ "$(delayed_reads)" -gt 0 ] && break
		sleep 0.1
	done
	[ "$(delayed_reads)" -gt 0 ] ||
		fail "the read of $what did not reach the overlay's backing: $(dmsetup status "$DELAYDEV")"
	bytes "$byte" 65536 | dd of=/dev/mapper/vm1 bs=64K seek=$((46 * 16 + chunk)) count=1 iflag=fullblock \
		oflag=direct status=none || fail "write under the view"
	wait "$rpid" || fail "read of $what"
}
read_then_write /dev/mapper/vm1-view 0 0xb2
cmp -s "$D/win-0.bin" <(bytes 0xa1 65536) ||
	fail "the view read the write it raced (not the point in time): $(od -An -tx1 -N4 "$D/win-0.bin")"
held=$(dmsetup status vm1-view | awk '{ print $NF }')
[ "$held" -gt 0 ] || fail "no write waited for the view's read: $(dmsetup status vm1-view)"
# the control: the overlay read directly has the window the view closes
dmsetup create "$DELAYDEV-raw" --readonly --table "0 $sectors linear /dev/mapper/vm1-target 0" ||
	fail "dmsetup create $DELAYDEV-raw"
read_then_write "/dev/mapper/$DELAYDEV-raw" 1 0xc3
cmp -s "$D/win-1.bin" <(bytes 0xc3 65536) ||
	fail "control: the plain overlay read did not see the raced write, so the test proves nothing"
dmsetup remove "$DELAYDEV-raw"
info "the view held $held write(s) off its read; a plain overlay read saw the new data"
dmsetup reload vm1-target --table "$ttab"
dmsetup resume vm1-target
dmsetup remove --retry "$DELAYDEV" || fail "dmsetup remove $DELAYDEV"
vstoragectl node del vm1-view || fail "node del of the view (2)"
wait_job_state vm1 gone 30
wait_nodes_gone vm1-cbw vm1-target
fio_again /dev/mapper/vm1 $((40 * M)) $((4 * M))

# --- an I/O error under the target: on-error=report --------------------------------
truncate -s 80M "$D/err.img"
LOOP=$(losetup -f --show "$D/err.img")
dmsetup create "$ERRDEV" --table "0 $((80 * 2048)) linear $LOOP 0" || fail "dmsetup create"
vstoragectl job start backup node=vm1 target=/dev/mapper/$ERRDEV sync=full speed=2M \
	on-error=report auto-dismiss=off >/dev/null || fail "job start backup to a device"
sleep 1
dmsetup suspend "$ERRDEV"
dmsetup load "$ERRDEV" --table "0 $((80 * 2048)) error"
dmsetup resume "$ERRDEV"
wait_job_state vm1 concluded 120
err=$(job_field vm1 error)
[ -n "$err" ] || fail "the backup onto a failing device succeeded"
info "backup onto a failing device: $err"
vstoragectl job dismiss vm1 || fail "job dismiss"
wait_nodes_gone vm1-cbw vm1-target
dmsetup table vm1 | grep -q vstorage-cbw && fail "the filter stayed after the failure"
sleep 1
fio_end
dmsetup remove --retry "$ERRDEV" || fail "dmsetup remove $ERRDEV"
losetup -d "$LOOP"
LOOP=
# the error log of the supervisor is the failure's: not a case failure
: >"$VSTORAGECTL_JOB_LOG"

# --- sync=bitmap: a chain of three incremental backups ------------------------------
{
	fio_again /dev/mapper/vm1 $((40 * M)) $((4 * M))
	start_point inc0
	vstoragectl bitmap add vm1 b0 || fail "bitmap add"
	vstoragectl job start backup node=vm1 target="$D/inc0.qcow2" sync=full >/dev/null ||
		fail "the full backup the chain starts with"
	fio_again /dev/mapper/vm1 $((40 * M)) $((4 * M))
	vstoragectl job wait vm1 || fail "the full backup failed"
	prev=$D/inc0.qcow2
	for k in 1 2 3; do
		sleep 2
		start_point "inc$k"
		qemu-img create -q -f qcow2 -b "$prev" -F qcow2 "$D/inc$k.qcow2" 64M
		vstoragectl job start backup node=vm1 target="$D/inc$k.qcow2" sync=bitmap \
			bitmap=b0 >/dev/null || fail "incremental backup $k"
		fio_again /dev/mapper/vm1 $((40 * M)) $((4 * M))
		vstoragectl job wait vm1 || fail "incremental backup $k failed"
		wait_nodes_gone vm1-cbw vm1-target
		img_check "$D/inc$k.qcow2"
		oracle_raw "$D/inc$k.qcow2" "$D/inc$k-got.raw"
		same_raw "$D/inc$k.raw" "$D/inc$k-got.raw" "incremental $k restored and the disk at its start"
		prev=$D/inc$k.qcow2
	done
	fio_end
	vstoragectl bitmap del vm1 b0 || fail "bitmap del"
}

# --- a bitmap QEMU made drives a backup equal to QEMU's own incremental --------------
qemu-img create -q -f qcow2 "$D/q.qcow2" 64M
qemu-io -f qcow2 -c "write -P 0x11 0 64M" "$D/q.qcow2" >/dev/null
qemu-img convert -f qcow2 -O qcow2 "$D/q.qcow2" "$D/qfull.qcow2"
qemu-img bitmap --add "$D/q.qcow2" qb || fail "qemu-img bitmap --add"
qemu-io -f qcow2 -c "write -P 0x5a 1M 64k" -c "write -P 0x33 10M 200k" \
	-c "write -z 20M 128k" -c "discard 30M 64k" -c "write -P 0x77 63M 4k" \
	"$D/q.qcow2" >/dev/null || fail "qemu-io writes with bitmap qb"
# QEMU's incremental: the dirty ranges as qemu-nbd exports the bitmap
rm -f "$D/q.sock"
qemu-nbd -r -t -k "$D/q.sock" -f qcow2 -B qb "$D/q.qcow2" >"$D/q-nbd.log" 2>&1 &
qpid=$!
wait_for_path "$D/q.sock" 20 -S || fail "qemu-nbd did not start: $(cat "$D/q-nbd.log")"
qmap=$(qemu-img map --output=json --image-opts \
	"driver=nbd,server.type=unix,server.path=$D/q.sock,x-dirty-bitmap=qemu:dirty-bitmap:qb") ||
	fail "qemu-img map of bitmap qb"
kill "$qpid"
wait "$qpid" 2>/dev/null || true
dirty=$(json_get "$qmap" "' '.join('%d+%d' % (e['start'], e['length']) for e in j if not e['data'])")
[ -n "$dirty" ] || fail "QEMU's bitmap qb has no dirty range"
oracle_raw "$D/q.qcow2" "$D/q.raw"
qemu-img create -q -f qcow2 -b "$D/qfull.qcow2" -F qcow2 "$D/qinc-qemu.qcow2" 64M
for r in $dirty; do
	dd if="$D/q.raw" of="$D/q.ext" bs=64k skip=$((${r%+*} / 65536)) \
		count=$((${r#*+} / 65536)) status=none
	qemu-io -f qcow2 -c "write -s $D/q.ext ${r%+*} ${r#*+}" "$D/qinc-qemu.qcow2" >/dev/null ||
		fail "copying dirty range $r"
done
# vstorage's, from the bitmap as it loaded from the image
q_open vq "$D/q.qcow2"
vstoragectl -j bitmap list vq | grep -q '"qb"' || fail "bitmap qb did not load: $(vstoragectl bitmap list vq)"
qemu-img create -q -f qcow2 -b "$D/qfull.qcow2" -F qcow2 "$D/qinc-vs.qcow2" 64M
vstoragectl job start backup node=vq target="$D/qinc-vs.qcow2" sync=bitmap bitmap=qb >/dev/null ||
	fail "backup sync=bitmap with QEMU's bitmap"
vstoragectl job wait vq || fail "backup sync=bitmap with QEMU's bitmap failed"
q_close vq
img_check "$D/q.qcow2"
img_check "$D/qinc-vs.qcow2"
qemu-img compare -q "$D/qinc-vs.qcow2" "$D/qinc-qemu.qcow2" ||
	fail "vstorage's incremental backup and QEMU's differ"
qemu-img compare -q "$D/qinc-vs.qcow2" "$D/q.qcow2" ||
	fail "vstorage's incremental backup and the image differ"
# the same clusters in the top layer (QEMU writes zero ranges as data: compare coverage)
top_ranges() {
	local m
	m=$(qemu-img map --output=json "$1") || fail "qemu-img map $1"
	python3 -c '
import json, sys
r = []
for e in json.loads(sys.argv[1]):
    if e["depth"] != 0:
        continue
    if r and r[-1][0] + r[-1][1] == e["start"]:
        r[-1][1] += e["length"]
    else:
        r.append([e["start"], e["length"]])
print(" ".join("%d+%d" % (a, b) for a, b in r))' "$m"
}
[ "$(top_ranges "$D/qinc-vs.qcow2")" = "$(top_ranges "$D/qinc-qemu.qcow2")" ] ||
	fail "the incremental backups allocate different ranges: vstorage $(top_ranges "$D/qinc-vs.qcow2"), QEMU $(top_ranges "$D/qinc-qemu.qcow2")"
echo "QEMU's bitmap qb ($dirty) drove a backup equal to QEMU's own incremental"

q_close vm1
for i in top mid base; do img_check "$D/a/$i.qcow2"; done
img_check "$D/fleece.qcow2"
img_check "$D/fleece2.qcow2"
[ "$(readlink -f "$(backing_of "$D/fleece.qcow2")")" = "$(readlink -f "$D/a/top.qcow2")" ] ||
	fail "the fleecing overlay's backing file: $(backing_of "$D/fleece.qcow2")"
jobs_end
