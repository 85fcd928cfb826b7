#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Hostile images: bytes poked into fresh images (header fields as QEMU's
# iotests 060/080 and tests/unit/qcow2-format.sh do, L2 entries past the end
# of the file or into the L1 table and header, compressed descriptors that
# overrun the file or hold garbage, a refcount table pointing at itself, a
# huge L1 size, an L2 table referenced twice). Each is either refused at
# `node add` with one Error line (and, through dmsetup directly, by the
# target itself), or served with reads that complete or fail cleanly (EIO);
# a write that would land on metadata fails, sets the corrupt bit and turns
# the node read-only; a corrupt image then opens read-only only. Never an
# oops or a hang (the suite fails the case on any kernel report). At the end
# the module unloads.
# timeout: 300
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
qcow2_begin

# The template: 64 MiB, 64 KiB clusters. Refcount table at 0x10000, its
# block at 0x20000, L1 at 0x30000, L2 at 0x40000, cluster 0's data at
# 0x50000, cluster 1 compressed at 0x60000.
L1=$((0x30000))
L2=$((0x40000))
RT=$((0x10000))
qemu-img create -q -f qcow2 "$D/t.qcow2" 64M
qio -c 'write -P 0xab 0 64k' -c 'write -c -P 0xcd 64k 64k' -c 'write -P 0xef 1M 64k' "$D/t.qcow2"
[ "$(be64 "$D/t.qcow2" $L1) $(be64 "$D/t.qcow2" $L2) $(be64 "$D/t.qcow2" $((L2 + 8)))" = \
	"0x8000000000040000 0x8000000000050000 0x4000000000060000" ] ||
	fail "unexpected template layout: L1[0] $(be64 "$D/t.qcow2" $L1), L2[0..1] $(be64 "$D/t.qcow2" $L2) $(be64 "$D/t.qcow2" $((L2 + 8)))"

fresh() {
	cp "$D/t.qcow2" "$D/h.qcow2"
}

SECTORS=$((64 << 20 >> 9))
OUTCOME=
BAD=()
nref=0
nserved=0

# add_outcome NAME PROPS...: node add NAME on h.qcow2; OUTCOME=refused (one
# Error line) or served; fails on anything else.
add_outcome() {
	local name=$1 err rc=0
	shift
	err=$(vstoragectl node add qcow2 node-name="$name" file="$D/h.qcow2" "$@" 2>&1 >/dev/null) || rc=$?
	if [ "$rc" -eq 0 ]; then
		VS_CASE_NODES+=("$name")
		wait_for_path "/dev/mapper/$name" 10 -b || fail "/dev/mapper/$name did not appear"
		OUTCOME=served
		return 0
	fi
	[ "$rc" -eq 1 ] || fail "$name: node add exit $rc: $err"
	if [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] || [[ $err != Error:* ]]; then
		fail "$name: not one Error line: $err"
	fi
	if [ -n "$(q_auto_nodes)" ] || [ -e "/dev/mapper/$name" ]; then
		fail "$name: a refused node add left devices behind"
	fi
	info "$name: refused: $err"
	OUTCOME=refused
}

# direct NAME [OPTS...]: the target itself, bypassing vstoragectl's checks;
# OUTCOME=refused or served (and removed again)
direct() {
	local name=$1 rc=0 mark err
	shift
	mark=$(dmesg_mark "direct-$name")
	err=$(dmsetup create "$name" --readonly --uuid "VSTORAGE-$name" \
		--table "0 $SECTORS vstorage-qcow2 $name $D/h.qcow2 $(($# + 1)) read-only $*" 2>&1) || rc=$?
	if [ "$rc" -eq 0 ]; then
		track_dm "$name"
		timeout 60 dd if="/dev/mapper/$name" of=/dev/null bs=64k count=32 iflag=direct status=none ||
			info "$name (direct): reads fail (allowed)"
		dmsetup remove --retry "$name" || fail "$name: dmsetup remove failed"
		OUTCOME=served
		return 0
	fi
	dmsetup remove "$name" >/dev/null 2>&1 || true
	info "$name (direct): refused: $(dmesg_since "$mark" | grep -E -o 'vstorage-qcow2: .*' | head -1)"
	OUTCOME=refused
}

# read_all NAME: read the first 2 MiB; completing or EIO are fine, a hang
# is not
read_all() {
	local rc=0
	timeout 120 dd if="/dev/mapper/$1" of=/dev/null bs=64k count=32 iflag=direct status=none || rc=$?
	[ "$rc" -ne 124 ] || fail "$1: reads hang"
	if [ "$rc" -eq 0 ]; then
		echo "$1: reads complete"
	else
		echo "$1: reads fail cleanly (exit $rc)"
	fi
}

# header NAME OFFSET BYTES...: a poked header is refused by vstoragectl
# and by the target
header() {
	local name=$1
	shift
	fresh
	while [ $# -ge 2 ]; do
		poke "$D/h.qcow2" "$1" "$2"
		shift 2
	done
	if q_host; then
		qemu-img info -f qcow2 "$D/h.qcow2" >/dev/null 2>&1 && info "$name: QEMU opens it"
		return 0
	fi
	add_outcome "$name" read-only=on
	[ "$OUTCOME" = refused ] || fail "$name: vstoragectl accepted a bad header"
	direct "$name"
	[ "$OUTCOME" = refused ] || fail "$name: the target accepted a bad header"
	echo "$name: refused by vstoragectl and by the target"
	nref=$((nref + 1))
}

header bad-magic 3 '\xfa'
header version-4 7 '\x04'
header cluster-bits-22 23 '\x16'
header cluster-bits-8 23 '\x08'
header header-length-100 100 '\x00\x00\x00\x64'
header header-length-huge 100 '\x7f\xff\xff\xff'
header incompatible-bit-5 79 '\x20'
header refcount-order-7 99 '\x07'
header l1-size-ffffffff 36 '\xff\xff\xff\xff'
header l1-size-huge-valid 36 '\x00\x40\x00\x01'
header l1-misaligned 40 '\x00\x00\x00\x00\x00\x03\x00\x08'
header l1-past-eof 40 '\x00\x00\x00\x00\x01\x00\x00\x00'
header l1-overlaps-refcount-table 40 '\x00\x00\x00\x00\x00\x01\x00\x00'
header refcount-table-clusters-0 56 '\x00\x00\x00\x00'
header refcount-table-huge 56 '\xff\xff\xff\xff'
header snapshots-ffffffff 60 '\xff\xff\xff\xff'
header backing-name-past-cluster 8 '\x00\x00\x00\x00\x00\x01\x00\x01' 16 '\x00\x00\x00\x04'
header huge-extension 112 '\x12\x34\x56\x78' 116 '\x7f\xff\xff\xff'
header crypt-method-3 35 '\x03'
header compression-type-2 79 '\x08' 104 '\x02'

# entry NAME OFFSET VALUE [ro|rw]: poke a 64-bit table entry; serve the
# image (or see it refused), read it; with rw also write cluster 0 and 1
entry() {
	local name=$1 off=$2 val=$3 mode=${4:-ro}
	fresh
	poke64 "$D/h.qcow2" "$off" "$val"
	if q_host; then
		qemu-img check "$D/h.qcow2" >/dev/null 2>&1 || info "$name: qemu-img check exit $? (corruption seen by QEMU)"
		return 0
	fi
	add_outcome "$name" read-only=on
	if [ "$OUTCOME" = served ]; then
		read_all "$name"
		node_del "$name"
		nserved=$((nserved + 1))
	else
		nref=$((nref + 1))
	fi
	[ "$mode" = rw ] || return 0
	fresh
	poke64 "$D/h.qcow2" "$off" "$val"
	add_outcome "$name" discard=unmap
	[ "$OUTCOME" = served ] || return 0
	pattern "$D/p" 0x5a 65536
	for c in 0 1 16; do
		if timeout 120 dd if="$D/p" of="/dev/mapper/$name" bs=64k seek=$c count=1 \
			oflag=direct conv=notrunc status=none; then
			echo "$name: write to cluster $c completed"
		else
			[ $? -ne 124 ] || fail "$name: a write hangs"
			echo "$name: write to cluster $c failed cleanly"
		fi
	done
	read_all "$name"
	node_del "$name"
}

# data clusters past the end of the file
entry l2-past-eof $L2 $(((1 << 63) | 0x10000000)) rw
# compressed descriptors: offset past the end, sector count overrunning
# the file (64 KiB clusters: the count is bits 54..61)
entry compressed-past-eof $((L2 + 8)) $(((1 << 62) | 0x700000))
entry compressed-overrun $((L2 + 8)) $(((1 << 62) | (0xff << 54) | 0x60000))
entry l2-reserved-bits $L2 $(((1 << 63) | 0x50000 | 0x2))
entry l1-past-eof $L1 $(((1 << 63) | 0x40000000))
# compressed data that is not deflate
fresh
poke "$D/h.qcow2" $((0x60000)) '\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff'
if ! q_host; then
	add_outcome garbage-deflate read-only=on
	if [ "$OUTCOME" = served ]; then
		rc=0
		dd if=/dev/mapper/garbage-deflate of=/dev/null bs=64k skip=1 count=1 iflag=direct status=none || rc=$?
		[ "$rc" -ne 0 ] || fail "garbage-deflate: a cluster of garbage decompressed without an error"
		echo "garbage-deflate: the read fails cleanly"
		node_del garbage-deflate
	fi
fi
# an L2 table referenced twice (a 1 GiB image: L1[1] = L1[0])
qemu-img create -q -f qcow2 "$D/t2.qcow2" 1G
qio -c 'write -P 0xab 0 64k' "$D/t2.qcow2"
cp "$D/t2.qcow2" "$D/t.qcow2"
entry l2-twice $((L1 + 8)) "$(be64 "$D/t.qcow2" $L1)" rw
qemu-img create -q -f qcow2 "$D/t.qcow2" 64M
qio -c 'write -P 0xab 0 64k' -c 'write -c -P 0xcd 64k 64k' -c 'write -P 0xef 1M 64k' "$D/t.qcow2"
# the refcount table's first entry points at the table itself
entry refcount-table-self $RT $RT rw

# writes onto metadata: an L2 entry pointing into the L1 table, the
# refcount table and the header cluster: the write fails, the image is
# marked corrupt, the node goes read-only
overlap() {
	local name=$1 target=$2 rc=0 j byte
	fresh
	poke64 "$D/h.qcow2" $L2 $(((1 << 63) | target))
	if q_host; then
		qemu-io -c 'write -P 0x5a 0 4k' "$D/h.qcow2" 2>&1 | head -1 || true
		byte=$(header_byte "$D/h.qcow2" 79)
		[ $((byte & 2)) -ne 0 ] || fail "$name: QEMU did not mark the image corrupt"
		echo "$name: QEMU marks it corrupt too"
		return 0
	fi
	add_outcome "$name"
	[ "$OUTCOME" = served ] || { nref=$((nref + 1)); return 0; }
	pattern "$D/p" 0x5a 4096
	timeout 120 dd if="$D/p" of="/dev/mapper/$name" bs=4k count=1 oflag=direct \
		conv=notrunc status=none || rc=$?
	[ "$rc" -ne 124 ] || fail "$name: the write hangs"
	if [ "$rc" -eq 0 ]; then
		# keep going, to see the other cases; the case fails at the end
		info "FAILED: $name: a write onto metadata succeeded"
		BAD+=("$name: a write onto metadata succeeded")
		node_del "$name"
		return 0
	fi
	j=$(q_show "$name")
	if [ "$(json_get "$j" "j.get('info', {}).get('corrupt')")" != True ] &&
	   [ "$(json_get "$j" "j['read-only']")" != True ]; then
		fail "$name: node neither corrupt nor read-only after the overlap: $j"
	fi
	rc=0
	dd if="$D/p" of="/dev/mapper/$name" bs=4k seek=256 count=1 oflag=direct \
		conv=notrunc status=none || rc=$?
	[ "$rc" -ne 0 ] || fail "$name: writes still succeed after the image was marked corrupt"
	read_all "$name"
	node_del "$name"
	byte=$(header_byte "$D/h.qcow2" 79)
	[ $((byte & 2)) -ne 0 ] || fail "$name: the corrupt bit is not set (byte 79 = $byte)"
	echo "$name: write failed, corrupt bit set, later writes refused"
	expect_error "corrupt" node add qcow2 node-name="$name" file="$D/h.qcow2"
	node_add qcow2 node-name="$name" file="$D/h.qcow2" read-only=on
	read_all "$name"
	node_del "$name"
	# QEMU agrees the image needs repair, and can repair it
	rc=0
	qemu-img check "$D/h.qcow2" >/dev/null 2>&1 || rc=$?
	echo "$name: qemu-img check exit $rc"
}
overlap overlap-l1 $L1
overlap overlap-refcount-table $RT
overlap overlap-refcount-block $((0x20000))

if ! q_host; then
	echo "refused: $nref, served: $nserved"
	[ -z "$(q_auto_nodes)" ] || fail "automatic nodes left: $(q_auto_nodes)"
	for n in $(dmsetup info -c --noheadings -o name,uuid --separator ' ' 2>/dev/null |
		awk '$2 ~ /^VSTORAGE-/ { print $1 }'); do
		fail "node left behind: $n"
	done
	modprobe -r dm-vstorage-qcow2 || fail "dm-vstorage-qcow2 does not unload"
	echo "dm-vstorage-qcow2 unloaded"
fi
[ ${#BAD[@]} -eq 0 ] || fail "$(printf '%s; ' "${BAD[@]}")"
echo "hostile images handled"
