#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Reads through vstorage-qcow2 equal QEMU's reads (`qemu-img convert -O
# raw`), byte for byte, over a matrix of images made by qemu-img: compat
# 0.10 and 1.1, cluster sizes 512..2M, refcount widths 1/16/64, extended L2
# (64k, 2M), zlib and zstd compression, every preallocation mode (and a
# read-only open leaves the file's bytes alone); filled by
# qemu-io with patterns, zero writes, compressed writes, discards, partial
# cluster, subcluster and unaligned writes. Also: a sparse 8 GiB image
# written past 4 GiB (touched regions and samples compared), an internal
# snapshot (the active layer is served), a persistent bitmap (still fine in
# `qemu-img info` after vstorage opened the image, also read-write), and a
# two-image chain. Every node is read-only except where said.
# timeout: 300
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
qcow2_begin

# to_bytes 64k -> 65536
to_bytes() {
	local v=$1
	case $v in
	*k) echo $((${v%k} << 10)) ;;
	*M) echo $((${v%M} << 20)) ;;
	*) echo "$v" ;;
	esac
}

# fill IMAGE CLUSTER SIZE [C]: the standard mix of writes, scaled to
# clusters; C="" leaves out compression (QEMU cannot compress into
# preallocated clusters).
fill() {
	local img=$1 cs=$2 size=$3 c=${4--c} sc
	sc=$((cs >= 16384 ? cs / 32 : 512))
	qio -c "write -P 0x11 0 $((2 * cs))" \
		-c "write -P 0x22 $((2 * cs + 512)) 1536" \
		-c "write -P 0x23 $((3 * cs + 1000)) 77" \
		-c "write -z $((4 * cs)) $((2 * cs))" \
		-c "write -P 0x33 $((6 * cs)) $((2 * cs))" \
		-c "write -z $((6 * cs + cs / 2)) $((cs / 2))" \
		-c "write $c -P 0x44 $((8 * cs)) $cs" \
		-c "write $c $((9 * cs)) $cs" \
		-c "write -P 0x55 $((10 * cs)) $((3 * cs))" \
		-c "discard $((11 * cs)) $cs" \
		-c "write -P 0x66 $((13 * cs + sc)) $sc" \
		-c "write -P 0x67 $((13 * cs + 5 * sc)) $((3 * sc))" \
		-c "write -P 0x77 $((size - 4096)) 4096" \
		"$img"
}

# serve NAME IMAGE [PROPS...]: open read-only, read it all, compare with
# QEMU's raw view.
serve() {
	local name=$1 img=$2
	shift 2
	q_open "$name" "$img" read-only=on "$@"
	q_read "$name" "$D/dev.raw" || fail "reading node $name failed"
	q_close "$name"
	if [ "${1:-}" = backing=none ]; then
		oracle_raw "json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"$img\"},\"backing\":null}" "$D/qemu.raw"
	else
		oracle_raw "$img" "$D/qemu.raw"
	fi
	same_raw "$D/dev.raw" "$D/qemu.raw" "$(basename "$img") through vstorage vs qemu-img convert"
	rm -f "$D/dev.raw" "$D/qemu.raw"
}

n=0
# matrix NAME CLUSTER OPTIONS
matrix() {
	local name=$1 cs=$2 opts=$3 csb size img sum
	csb=$(to_bytes "$cs")
	size=$((csb * 16 > 8 << 20 ? csb * 16 : 8 << 20))
	img=$D/$name.qcow2
	qemu-img create -q -f qcow2 -o "cluster_size=$cs${opts:+,$opts}" "$img" "$size" ||
		fail "qemu-img create $name ($opts) failed"
	case $opts in
	*preallocation=*) fill "$img" "$csb" "$size" "" ;;
	*) fill "$img" "$csb" "$size" ;;
	esac
	sum=$(sha1sum <"$img")
	n=$((n + 1))
	serve "m$n" "$img" backing=none
	# a read-only open does not change a byte of the file
	[ "$(sha1sum <"$img")" = "$sum" ] || fail "$name: a read-only open changed the file"
	rm -f "$img"
}

matrix v2 64k compat=0.10
matrix v3 64k compat=1.1
matrix c512 512 ""
matrix c4k 4k ""
matrix c2M 2M ""
matrix rb1 4k refcount_bits=1
matrix rb64 64k refcount_bits=64
matrix extl2-64k 64k extended_l2=on
matrix extl2-2M 2M extended_l2=on
matrix zstd 64k compression_type=zstd
matrix prealloc-metadata 64k preallocation=metadata
matrix prealloc-falloc 4k preallocation=falloc
matrix prealloc-full 64k preallocation=full

# a sparse 8 GiB image written past 4 GiB: touched regions and samples
big=$D/big.qcow2
qemu-img create -q -f qcow2 "$big" 8G
G=$((1 << 30))
qio -c "write -P 0x81 0 64k" -c "write -P 0x82 $((4 * G - 32768)) 64k" \
	-c "write -P 0x83 $((4 * G + 65536 + 512)) 4k" -c "write -c -P 0x84 $((6 * G)) 64k" \
	-c "write -P 0x85 $((8 * G - 65536)) 65536" "$big"
q_open big "$big" read-only=on
[ "$(q_size big)" = $((8 * G)) ] || fail "big: device size $(q_size big), want $((8 * G))"
oracle_raw "$big" "$D/big.raw" -S 64k
for r in 0:1M $((4 * G - 1048576)):2M $((4 * G + 1048576)):1M $((6 * G)):1M \
	$((8 * G - 1048576)):1M $((2 * G)):1M $((5 * G + 12345 * 512)):64k $((7 * G)):1M; do
	off=${r%%:*}
	len=$(to_bytes "${r#*:}")
	q_read big "$D/r.dev" "$off" "$len" || fail "big: read at $off failed"
	dd if="$D/big.raw" of="$D/r.qemu" bs=64k iflag=skip_bytes,count_bytes \
		skip="$off" count="$len" status=none
	same_raw "$D/r.dev" "$D/r.qemu" "big.qcow2 [$off, +$len)"
done
q_close big
rm -f "$D/big.raw" "$D/r.dev" "$D/r.qemu" "$big"

# internal snapshot: the active layer is served, not the snapshot
snap=$D/snap.qcow2
qemu-img create -q -f qcow2 "$snap" 16M
qio -c 'write -P 0x91 0 1M' -c 'write -c -P 0x92 2M 64k' "$snap"
qemu-img snapshot -c s1 "$snap"
qio -c 'write -P 0x93 512k 1M' -c 'write -z 2M 64k' -c 'discard 0 64k' "$snap"
serve snap "$snap"
io_pattern "$snap" 0x93 512k 1M

# persistent bitmaps: served read-only, then read-write with a write;
# qemu-img info and check must still be happy
bm=$D/bitmap.qcow2
qemu-img create -q -f qcow2 "$bm" 16M
qio -c 'write -P 0xa1 0 1M' "$bm"
qemu-img bitmap --add "$bm" b0
qemu-img bitmap --add -g 1M --disable "$bm" b1
serve bm "$bm"
qemu-img info --output=json "$bm" >"$D/info.json" || fail "qemu-img info after a read-only open failed"
python3 - "$D/info.json" <<'EOF' || fail "bitmaps changed by a read-only open"
import json, sys
j = json.load(open(sys.argv[1]))
bms = {b["name"]: sorted(b["flags"]) for b in j["format-specific"]["data"]["bitmaps"]}
print("bitmaps:", bms)
assert bms == {"b0": ["auto"], "b1": []}, bms
EOF
q_open bmw "$bm"
pattern "$D/p" 0xa2 65536
q_write bmw 1048576 "$D/p" || fail "write to the bitmap image failed"
q_close bmw
qemu-img info "$bm" >/dev/null || fail "qemu-img info fails after vstorage wrote the image"
# a writer without bitmap support clears autoclear bit 0: QEMU then sees
# the bitmaps as stale and their clusters as leaked (harmless), or the
# writer kept them consistent: clean
rc=0
qemu-img check "$bm" >"$D/check.out" 2>&1 || rc=$?
case $rc in
0) echo "qemu-img check bitmap.qcow2 after a write: clean" ;;
3) echo "qemu-img check bitmap.qcow2 after a write: leaked clusters only (stale bitmaps)" ;;
*) cat "$D/check.out" >&2; fail "qemu-img check bitmap.qcow2 after a write: exit $rc" ;;
esac
io_pattern "$bm" 0xa2 1M 64k
io_pattern "$bm" 0xa1 0 1M
qemu-img info --output=json "$bm" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print("after a write:", [(b["name"], b["flags"]) for b in j["format-specific"]["data"].get("bitmaps", [])])'

# a chain of two qcow2 images (automatic backing node)
qemu-img create -q -f qcow2 "$D/cbase.qcow2" 16M
qio -c 'write -P 0xb1 0 4M' -c 'write -c -P 0xb2 8M 1M' "$D/cbase.qcow2"
qemu-img create -q -f qcow2 -b cbase.qcow2 -F qcow2 -o cluster_size=4k "$D/ctop.qcow2" 20M
qio -c 'write -P 0xb3 1M 8k' -c 'write -z 2M 64k' -c 'write -P 0xb4 17M 1M' "$D/ctop.qcow2"
serve chain "$D/ctop.qcow2"

echo "read matrix: $n configurations and the special images agree with QEMU"
