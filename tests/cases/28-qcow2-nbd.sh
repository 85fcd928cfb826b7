#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# qcow2 over the network: a raw file on the scratch file system served by
# qemu-nbd over loopback TCP, attached with the kernel NBD client, holds a
# qcow2 image made by `qemu-img create` right on /dev/nbdN (a block device:
# fixed size). Through vstorage-qcow2: fio with crc32c verification (4k and
# 64k blocks, with fsyncs), targeted writes (partial, unaligned, across
# clusters, in place, the last sector) mirrored into a raw reference, the
# whole device read back equal to it; after closing, QEMU reads the device:
# `qemu-img check` clean and `qemu-img compare` equal to the reference, and
# a read-only reopen reads the same. Then a 64 MiB image on an 8 MiB NBD
# device: writing past what fits fails with an error (no hang, no oops),
# the data written before still reads back, in-place writes still work, the
# image is not marked corrupt, and `qemu-img check` finds leaks at worst.
# Skips if the nbd module, nbd-client or qemu-nbd is missing.
# timeout: 300
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
q_host && skip "needs the kernel NBD client (nothing to check without the kernel)"
qcow2_begin
require_cmd qemu-nbd nbd-client fio
modprobe nbd >/dev/null 2>&1 || skip "cannot load module nbd"

K=1024
M=$((1 << 20))

NBD_DEVS=()
NBD_PIDS=()
nbd_cleanup() {
	local i
	# the qcow2 nodes hold the NBD devices open: remove them first
	for ((i = ${#VS_CASE_NODES[@]} - 1; i >= 0; i--)); do
		dmsetup remove --retry "${VS_CASE_NODES[i]}" >/dev/null 2>&1 || true
	done
	for i in "${NBD_DEVS[@]}"; do
		nbd-client -d "$i" >/dev/null 2>&1 || true
	done
	for i in "${NBD_PIDS[@]}"; do
		kill "$i" 2>/dev/null || true
	done
	for i in "${NBD_PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$i" 2>/dev/null || break
			sleep 0.2
		done
	done
	qcow2_cleanup
}
trap nbd_cleanup EXIT

# nbd_attach FILE PORT: serve FILE (raw) with qemu-nbd on 127.0.0.1:PORT,
# connect a free /dev/nbdN to it; sets NBD (the device)
nbd_attach() {
	local file=$1 port=$2 pid s size
	qemu-nbd -f raw --cache=none -b 127.0.0.1 -p "$port" -t -x exp --fork \
		--pid-file="$D/qemu-nbd-$port.pid" "$file" 2>"$D/qemu-nbd-$port.err" ||
		{ cat "$D/qemu-nbd-$port.err" >&2; fail "qemu-nbd on port $port did not start"; }
	pid=$(cat "$D/qemu-nbd-$port.pid") || fail "qemu-nbd wrote no pid file"
	NBD_PIDS+=("$pid")
	NBD=
	for s in /sys/block/nbd*; do
		[ -e "$s/pid" ] && continue
		[ "$(cat "$s/size")" = 0 ] || continue
		NBD=/dev/${s##*/}
		break
	done
	[ -n "$NBD" ] || fail "no free nbd device: $(ls /sys/block)"
	wait_for_path "$NBD" 10 -b || fail "$NBD did not appear"
	nbd-client 127.0.0.1 "$port" "$NBD" -N exp >"$D/nbd-client.out" 2>&1 ||
		{ cat "$D/nbd-client.out" >&2; fail "nbd-client could not connect $NBD to port $port"; }
	NBD_DEVS+=("$NBD")
	size=$(stat -c %s "$file")
	for _ in $(seq 50); do
		[ "$(blockdev --getsize64 "$NBD" 2>/dev/null)" = "$size" ] && break
		sleep 0.2
	done
	[ "$(blockdev --getsize64 "$NBD")" = "$size" ] ||
		fail "$NBD has $(blockdev --getsize64 "$NBD") bytes, the export $size"
	info "$NBD: $file over qemu-nbd on 127.0.0.1:$port (pid $pid)"
}

# w NAME BYTE OFFSET LENGTH: pattern write to the node and to $D/ref.raw
w() {
	pattern "$D/pat" "$2" "$4"
	q_pwrite "$1" "$D/ref.raw" "$3" "$D/pat"
}

# --- a qcow2 image made on the NBD device ------------------------------------
truncate -s 64M "$D/disk.raw"
nbd_attach "$D/disk.raw" 10809
dev=$NBD
qemu-img create -q -f qcow2 "$dev" 48M || fail "qemu-img create on $dev failed"
# the node writes with bios under the device's page cache: start without one
blockdev --flushbufs "$dev"
q_open nb "$dev"
[ "$(q_size nb)" = $((48 * M)) ] || fail "device size $(q_size nb), want 48 MiB"
info "[${SECONDS}s] open"

fio_verify "$(q_dev nb)" nbd-4k --rw=randwrite --bs=4k --iodepth=8 --offset=0 \
	--size=8M --fsync=32 --randrepeat=1
fio_verify "$(q_dev nb)" nbd-64k --rw=randwrite --bs=64k --iodepth=4 --offset=8M \
	--size=16M --fsync=4 --randrepeat=1
j=$(q_show nb)
[ "$(json_get "$j" "j['stats']['flush-ios'] > 0 and j['stats']['errors'] == 0")" = True ] ||
	fail "no flushes counted, or errors: $j"
info "[${SECONDS}s] fio done"

# the reference: what fio left, then targeted writes
truncate -s 48M "$D/ref.raw"
q_read nb "$D/fio.part" 0 $((24 * M))
dd if="$D/fio.part" of="$D/ref.raw" bs=1M conv=notrunc status=none
w nb 0x31 $((24 * M + 4 * K)) $((4 * K))		# inside a new cluster
w nb 0x32 $((24 * M + 64 * K - 512)) $((1 * K))	# across two new clusters
w nb 0x33 $((30 * M + 100)) 900			# unaligned (page cache + fsync)
w nb 0x34 $((40 * M)) $((64 * K))			# a whole cluster
w nb 0x35 $((1 * M + 512)) 512				# in place, over fio's data
w nb 0x36 $((20 * M - 2 * K)) $((4 * K))		# in place, across clusters
w nb 0x37 $((48 * M - 512)) 512			# the last sector
q_flush nb
q_read nb "$D/dev.raw"
same_raw "$D/dev.raw" "$D/ref.raw" "the node read back"
q_close nb
info "[${SECONDS}s] closed"

blockdev --flushbufs "$dev"
img_check "$dev"
img_compare "$dev" "$D/ref.raw"
io_pattern "$dev" 0x37 $((48 * M - 512)) 512

q_open nbro "$dev" read-only=on
q_read nbro "$D/dev.raw"
same_raw "$D/dev.raw" "$D/ref.raw" "a read-only reopen"
q_close nbro
rm -f "$D/dev.raw" "$D/fio.part"
info "[${SECONDS}s] reopened"

# --- ENOSPC: a 64 MiB image on an 8 MiB device --------------------------------
# the qcow2 image is made in the file that is then exported (raw) as it is
qemu-img create -q -f qcow2 "$D/small.raw" 64M
truncate -s 8M "$D/small.raw"
nbd_attach "$D/small.raw" 10810
sdev=$NBD
q_open ns "$sdev"
pattern "$D/p1m" 0x5a $M
k=
for ((i = 0; i < 16; i++)); do
	rc=0
	timeout 120 dd if="$D/p1m" of="$(q_dev ns)" bs=1M seek=$i oflag=direct conv=notrunc \
		status=none 2>"$D/dd.err" || rc=$?
	[ "$rc" -ne 124 ] || fail "a write at $i MiB of an image that no longer fits hung"
	if [ "$rc" -ne 0 ]; then
		k=$i
		break
	fi
done
[ -n "$k" ] || fail "16 MiB of data fit on an 8 MiB device"
info "write at $k MiB failed: $(cat "$D/dd.err")"
grep -q -E "No space left on device|Input/output error" "$D/dd.err" ||
	fail "the write at $k MiB failed without ENOSPC or EIO: $(cat "$D/dd.err")"
[ "$k" -ge 4 ] || fail "only $k MiB fit on the 8 MiB device"
# it keeps failing, and cleanly
rc=0
timeout 120 dd if="$D/p1m" of="$(q_dev ns)" bs=1M seek=$((k + 2)) oflag=direct conv=notrunc \
	status=none 2>"$D/dd.err" || rc=$?
[ "$rc" -ne 124 ] || fail "a second write past the space hung"
[ "$rc" -ne 0 ] || fail "a write at $((k + 2)) MiB succeeded after the device was full"
# what was written is there, in-place writes still work, the image is intact
{
	echo "0x5b 0 $M"
	echo "0x5a $M $(((k - 1) * M))"
} >"$D/ns.list"
pattern "$D/p1m" 0x5b $M
q_write ns 0 "$D/p1m" || fail "an in-place write after ENOSPC failed"
q_flush ns || fail "a flush after ENOSPC failed"
q_patterns ns check "$D/ns.list"
s=$(dmsetup status ns)
info "after ENOSPC: $s"
[ "$(awk '{ print $7, $8 }' <<<"$s")" = "clean rw" ] || fail "the node changed state after ENOSPC: $s"
[ "$(awk '{ print $16 }' <<<"$s")" -gt 0 ] || fail "the failed writes were not counted as errors: $s"
q_close ns
info "[${SECONDS}s] closed the full image"

blockdev --flushbufs "$sdev"
rc=0
out=$(qemu-img check "$sdev" 2>&1) || rc=$?
case $rc in
0) echo "qemu-img check after ENOSPC: clean" ;;
3) echo "qemu-img check after ENOSPC: leaked clusters only (allowed)" ;;
*) printf '%s\n' "$out" >&2; fail "qemu-img check after ENOSPC: exit $rc" ;;
esac
echo "0x00 $(((k + 3) * M)) $(((61 - k) * M))" >>"$D/ns.list"
io_patterns "$sdev" "$D/ns.list"

echo "qcow2 over NBD: data right, ENOSPC clean"
