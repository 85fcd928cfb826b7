#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Writes through vstorage-qcow2, then QEMU as the judge: `qemu-img check`
# clean and `qemu-img compare` equal to a raw reference that received the
# same writes (plus qemu-io pattern reads). fio with crc32c verification on
# a fresh image (QD 16, 4k..64k); dd writes that copy on write from a
# backing image (partial clusters; a base that ends inside a cluster),
# subcluster writes with extended L2, writes over compressed and zero
# clusters, writes into an image with an internal snapshot (the snapshot
# keeps the old data: `qemu-img snapshot -a`), growth past the L1 table with
# `vstoragectl node resize`, and 512-byte clusters where the refcount table
# must grow.
# timeout: 420
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
qcow2_begin

K=1024
M=$((1 << 20))

# --- fio with verification on a fresh image -------------------------------
if ! q_host; then
	require_cmd fio
	qemu-img create -q -f qcow2 "$D/fio.qcow2" 64M
	q_open fio "$D/fio.qcow2"
	fio_verify "$(q_dev fio)" randwrite --rw=randwrite --bsrange=4k-64k \
		--iodepth=16 --size=32M --randrepeat=1
	fio_verify "$(q_dev fio)" randwrite-2jobs --rw=randwrite --bs=8k --iodepth=16 \
		--numjobs=2 --offset=32M --offset_increment=16M --size=16M
	q_read fio "$D/fio.dev"
	q_close fio
	img_check "$D/fio.qcow2"
	img_compare "$D/fio.qcow2" "$D/fio.dev"
	rm -f "$D/fio.qcow2" "$D/fio.dev"
fi

# start IMAGE NAME [PROPS...]: open it; REF = QEMU's view before the writes
start() {
	oracle_raw "$1" "$D/$2.ref"
	q_open "$2" "$1" "${@:3}"
}

# finish IMAGE NAME: close, check, compare with the reference
finish() {
	q_close "$2"
	img_check "$1"
	img_compare "$1" "$D/$2.ref"
}

# w NAME BYTE OFFSET LENGTH: pattern write to the node and its reference
w() {
	pattern "$D/pat" "$2" "$4"
	q_pwrite "$1" "$D/$1.ref" "$3" "$D/pat"
}

# --- copy on write from a backing image ------------------------------------
qemu-img create -q -f qcow2 "$D/base.qcow2" 8M
qio -c 'write -P 0x10 0 1M' -c 'write -c -P 0x11 1M 64k' -c 'write -P 0x10 1088k 7104k' "$D/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$D/cow.qcow2" 8M
start "$D/cow.qcow2" cow
w cow 0x20 $((4 * K)) $((4 * K))		# inside cluster 0
w cow 0x21 $((64 * K - 512)) $((1 * K))	# across clusters 0 and 1
w cow 0x22 $((1 * M + 8 * K)) $((8 * K))	# over a compressed base cluster
w cow 0x23 $((3 * M + 100)) 900		# unaligned (page cache + fsync)
w cow 0x24 $((5 * M)) $((64 * K))		# a whole cluster: no copy needed
w cow 0x25 $((8 * M - 512)) 512		# the last sector
finish "$D/cow.qcow2" cow
io_pattern "$D/cow.qcow2" 0x10 0 4k
io_pattern "$D/cow.qcow2" 0x20 4k 4k
io_pattern "$D/cow.qcow2" 0x10 8k 48k
io_pattern "$D/base.qcow2" 0x10 4k 4k		# the base is untouched
img_check "$D/base.qcow2"

# --- a base that ends inside a cluster: the copy reads up to its end -------
# The copy-on-write buffer is reused from one allocation to the next: the
# first write leaves the base's data in it, where the second must find
# zeroes past the base's end.
qemu-img create -q -f raw "$D/short.raw" $((M + 4 * K))
qio -f raw -c "write -P 0x30 0 $((M + 4 * K))" "$D/short.raw"
qemu-img create -q -f qcow2 -b short.raw -F raw "$D/over.qcow2" 2M
start "$D/over.qcow2" over
w over 0x32 $((M - 8 * K)) $((4 * K))	# in the base's last whole cluster
w over 0x31 $((M + 32 * K)) $((4 * K))	# in the cluster the base ends in
w over 0x33 $((M + 128 * K)) $((4 * K))	# wholly past the base
finish "$D/over.qcow2" over
io_pattern "$D/over.qcow2" 0x30 $((M)) 4k
io_pattern "$D/over.qcow2" 0x00 $((M + 4 * K)) 28k
io_pattern "$D/over.qcow2" 0x31 $((M + 32 * K)) 4k
rm -f "$D/over.qcow2" "$D/short.raw" "$D/over.ref"

# --- subclusters (extended L2, 64k clusters of 2k subclusters) --------------
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 -o extended_l2=on "$D/sc.qcow2" 8M
qio -c 'write -P 0x30 128k 2k' -c 'write -z 192k 4k' "$D/sc.qcow2"
start "$D/sc.qcow2" sc
w sc 0x31 $((2 * K)) $((2 * K))		# one subcluster, backing around it
w sc 0x32 $((6 * K + 512)) 512			# part of a subcluster
w sc 0x33 $((128 * K + 2 * K)) $((6 * K))	# next to an allocated subcluster
w sc 0x34 $((192 * K + 1 * K)) $((2 * K))	# over zero subclusters
w sc 0x35 $((256 * K - 2 * K)) $((4 * K))	# across two clusters
finish "$D/sc.qcow2" sc

# --- over compressed and zero clusters (no backing) -------------------------
qemu-img create -q -f qcow2 "$D/cz.qcow2" 8M
qio -c 'write -c -P 0x40 0 64k' -c 'write -c -P 0x41 64k 64k' -c 'write -z 1M 256k' \
	-c 'write -P 0x42 2M 64k' -c 'write -z 2M 64k' "$D/cz.qcow2"
start "$D/cz.qcow2" cz
w cz 0x43 $((4 * K)) $((4 * K))		# into a compressed cluster
w cz 0x44 $((64 * K)) $((64 * K))		# a whole compressed cluster
w cz 0x45 $((1 * M + 60 * K)) $((8 * K))	# into zero clusters
w cz 0x46 $((2 * M + 512)) 512			# into a zero cluster with an allocation
finish "$D/cz.qcow2" cz

# --- an internal snapshot: shared clusters are copied ---------------------
qemu-img create -q -f qcow2 "$D/snap.qcow2" 8M
qio -c 'write -P 0x50 0 2M' -c 'write -c -P 0x51 4M 64k' "$D/snap.qcow2"
qemu-img snapshot -c s1 "$D/snap.qcow2"
oracle_raw "$D/snap.qcow2" "$D/snap.s1"
start "$D/snap.qcow2" snap
w snap 0x52 $((8 * K)) $((4 * K))
w snap 0x53 $((1 * M)) $((128 * K))
w snap 0x54 $((4 * M + 512)) 512
w snap 0x55 $((6 * M)) $((64 * K))
finish "$D/snap.qcow2" snap
qemu-img snapshot -a s1 "$D/snap.qcow2" || fail "qemu-img snapshot -a s1 failed"
img_check "$D/snap.qcow2"
img_compare "$D/snap.qcow2" "$D/snap.s1"
io_pattern "$D/snap.qcow2" 0x50 0 2M

# --- growth past the L1 table: node resize --------------------------------
# 512-byte clusters: one L1 cluster (64 entries) maps 2 MiB; 16 MiB needs 8
qemu-img create -q -f qcow2 -o cluster_size=512 "$D/grow.qcow2" 1M
qio -c 'write -P 0x60 0 1M' "$D/grow.qcow2"
start "$D/grow.qcow2" grow
if q_host; then
	qemu-img resize -q "$D/grow.qcow2" 16M
else
	vstoragectl node resize grow 16M || fail "node resize grow 16M failed"
	[ "$(q_size grow)" = $((16 * M)) ] || fail "device size after resize: $(q_size grow)"
	j=$(q_show grow)
	[ "$(json_get "$j" "j['size']")" = $((16 * M)) ] || fail "node size after resize: $j"
fi
truncate -s 16M "$D/grow.ref"
w grow 0x61 $((1 * M - 512)) $((2 * K))
w grow 0x62 $((9 * M)) $((64 * K))
w grow 0x63 $((16 * M - 4 * K)) $((4 * K))
finish "$D/grow.qcow2" grow
[ "$(qemu-img info --output=json "$D/grow.qcow2" | json_get "$(cat)" "j['virtual-size']")" = $((16 * M)) ] ||
	fail "qemu-img sees the wrong size after resize"
io_pattern "$D/grow.qcow2" 0x62 9M 64k

# --- 512-byte clusters: the refcount table grows --------------------------
# 16-bit refcounts: a block covers 256 clusters, one table cluster 64
# blocks = 8 MiB of file; writing 10 MiB of data needs more
qemu-img create -q -f qcow2 -o cluster_size=512 "$D/rt.qcow2" 16M
start "$D/rt.qcow2" rt
randfile "$D/rnd" $((10 * M))
q_pwrite rt "$D/rt.ref" $((3 * M)) "$D/rnd"
w rt 0x70 $((15 * M)) $((256 * K))
finish "$D/rt.qcow2" rt
rtc=$(qemu-img info --output=json "$D/rt.qcow2" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["actual-size"])')
echo "rt.qcow2: $rtc bytes allocated"
reft=$(od -An -t u4 --endian=big -j 56 -N 4 "$D/rt.qcow2" | tr -d ' ')
echo "refcount table: $reft cluster(s)"
[ "$reft" -gt 1 ] || fail "the refcount table did not grow (1 cluster cannot cover $rtc bytes)"

# --- a dirty lazy-refcounts image with persistent bitmaps -----------------
# Opened read-write, its refcounts are rebuilt first, counting the bitmap
# directory, tables and data; the bitmaps stay valid until the first write
# (qemu-img check is clean before it, leaks at most after it).
if ! q_host; then
	qemu-img create -q -f qcow2 -o lazy_refcounts=on,cluster_size=4k "$D/bm.qcow2" 8M
	qemu-img bitmap --add -g 4k "$D/bm.qcow2" b0
	qio -c 'write -P 0x81 0 1M' -c 'write -P 0x82 3M 512k' "$D/bm.qcow2"
	# the bitmap now has a data cluster; set the dirty bit
	b=$(header_byte "$D/bm.qcow2" 79)
	poke "$D/bm.qcow2" 79 "$(printf '\\x%02x' $((b | 1)))"
	tok=$(dmesg_mark repair)
	q_open bm "$D/bm.qcow2"
	q_close bm
	kmsg_expect "$tok" 'refcounts of the dirty image rebuilt'
	img_check "$D/bm.qcow2"
	qemu-img info --output=json "$D/bm.qcow2" | python3 -c '
import json, sys
j = json.load(sys.stdin)["format-specific"]["data"]
assert not j.get("corrupt"), j
assert [b["name"] for b in j["bitmaps"]] == ["b0"], j
' || fail "the bitmap did not survive the repair"
	io_pattern "$D/bm.qcow2" 0x82 3M 512k
fi

echo "writes agree with QEMU"
