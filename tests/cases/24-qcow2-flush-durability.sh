#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What a flush promises: after dd conv=fsync, O_SYNC (FUA) writes and fio
# --fsync, a copy of the image file taken while the node is still open is
# consistent for QEMU (`qemu-img check`: clean, or leaked clusters only) and
# holds the data; after the node is removed the image is clean and qemu-io
# reads every pattern; reopened through vstorage, the data is still there
# (fio --verify_only with the same job).
# timeout: 240
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
qcow2_begin
q_host || require_cmd fio

K=1024
M=$((1 << 20))

# check_copy IMAGE: `qemu-img check` of IMAGE is clean or reports leaks only
check_copy() {
	local rc=0 out
	out=$(qemu-img check "$1" 2>&1) || rc=$?
	case $rc in
	0) echo "copy of the open image: clean" ;;
	3) echo "copy of the open image: leaked clusters only (allowed)" ;;
	*) printf '%s\n' "$out" >&2; fail "copy of the open image: qemu-img check exit $rc" ;;
	esac
}

for cs in 64k 4k; do
	img=$D/dur-$cs.qcow2
	qemu-img create -q -f qcow2 -o cluster_size=$cs "$img" 64M
	q_open dur "$img"
	dev=$(q_dev dur)

	# dd conv=fsync: the data and the metadata pointing at it are durable
	pattern "$D/p1" 0xd1 $((1 * M))
	pattern "$D/p2" 0xd2 $((12 * K))
	pattern "$D/p3" 0xd3 $((64 * K))
	if q_host; then
		q_write dur 0 "$D/p1"
		q_write dur $((5 * M + 4 * K)) "$D/p2"
		q_write dur $((9 * M)) "$D/p3"
	else
		dd if="$D/p1" of="$dev" bs=64k conv=fsync,notrunc status=none || fail "dd conv=fsync failed"
		dd if="$D/p2" of="$dev" bs=4k seek=$(((5 * M + 4 * K) / 4096)) conv=fsync,notrunc \
			status=none || fail "dd conv=fsync at 5M+4k failed"
		# O_DIRECT|O_SYNC: FUA writes
		dd if="$D/p3" of="$dev" bs=64k seek=$((9 * M / 65536)) oflag=direct,sync \
			conv=notrunc status=none || fail "dd oflag=direct,sync failed"
	fi

	if ! q_host; then
		# fio with an fsync every 8 writes, verified later from a new node
		fio --name=durable --filename="$dev" --ioengine=libaio --direct=1 \
			--rw=randwrite --bsrange=4k-32k --iodepth=16 --offset=16M --size=16M \
			--fsync=8 --randseed=4242 --verify=crc32c --do_verify=0 \
			--output-format=terse --minimal >"$D/fio.out" 2>&1 ||
			{ cat "$D/fio.out" >&2; fail "fio --fsync=8 failed"; }
		sync "$dev" 2>/dev/null || blockdev --flushbufs "$dev"
		j=$(q_show dur)
		[ "$(json_get "$j" "j['stats']['flush-ios'] > 0")" = True ] || fail "no flushes counted: $j"

		# the file as another reader sees it, while the node is open
		cp --sparse=always "$img" "$D/copy.qcow2"
		check_copy "$D/copy.qcow2"
		io_pattern "$D/copy.qcow2" 0xd1 0 1M
		io_pattern "$D/copy.qcow2" 0xd2 $((5 * M + 4 * K)) 12k
		io_pattern "$D/copy.qcow2" 0xd3 9M 64k
		rm -f "$D/copy.qcow2"
	fi
	q_close dur

	img_check "$img"
	io_pattern "$img" 0xd1 0 1M
	io_pattern "$img" 0x00 1M 4M
	io_pattern "$img" 0xd2 $((5 * M + 4 * K)) 12k
	io_pattern "$img" 0xd3 9M 64k

	# reopen: the same data through vstorage
	q_open dur2 "$img"
	q_read dur2 "$D/r" 0 $((1 * M))
	same_raw "$D/r" "$D/p1" "reopened $cs: 1M at 0"
	q_read dur2 "$D/r" $((5 * M + 4 * K)) $((12 * K))
	same_raw "$D/r" "$D/p2" "reopened $cs: 12k at 5M+4k"
	q_read dur2 "$D/r" $((9 * M)) $((64 * K))
	same_raw "$D/r" "$D/p3" "reopened $cs: 64k at 9M"
	if ! q_host; then
		fio --name=durable --filename="$(q_dev dur2)" --ioengine=libaio --direct=1 \
			--rw=randwrite --bsrange=4k-32k --iodepth=16 --offset=16M --size=16M \
			--randseed=4242 --verify=crc32c --verify_only=1 --verify_fatal=1 \
			--output-format=terse --minimal >"$D/fio.out" 2>&1 ||
			{ cat "$D/fio.out" >&2; fail "fio --verify_only after reopening failed"; }
		echo "fio --verify_only after reopening: ok"
	fi
	q_close dur2
	img_check "$img"
	rm -f "$img"
done
echo "flushed data is durable"
