#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/unit/qcow2-format.sh - the qcow2 metadata library against QEMU.
#
# 1. Images made by qemu-img (every version, cluster size, refcount width,
#    extended L2, zstd, lazy refcounts, preallocation, backing file,
#    snapshots, bitmaps, data file, LUKS): qcow2-inspect must accept them
#    (LUKS: refuse, naming encryption) and report what `qemu-img info` does.
# 2. Fresh images with header fields poked as QEMU's iotest 080 does (and
#    more): qcow2-inspect must refuse each with a reason. Where QEMU refuses
#    too, that is checked; where QEMU is more lenient the line says so
#    (being stricter is the rule: never looser than QEMU).
#
# Prints "ok NAME" or "FAIL NAME: ..." per check; exits 1 on any failure,
# 77 (skip) without qemu-img, qemu-io or jq.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
INSPECT=${QCOW2_INSPECT:-$ROOT/build/bin/qcow2-inspect}

for c in qemu-img qemu-io jq; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "skip: command not found: $c"
		exit 77
	fi
done
# Bring the tool up to date unless the caller names one (SANITIZE=1 in the
# environment keeps a sanitizer build).
if [ -z "${QCOW2_INSPECT:-}" ]; then
	make -s -C "$ROOT/tests/unit" "$INSPECT" >&2
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/qcow2-format.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"

nfail=0
nok=0
ok() {
	echo "ok $1"
	nok=$((nok + 1))
}
bad() {
	echo "FAIL $1: $2"
	nfail=$((nfail + 1))
}

# The fields both tools report, normalised.
qemu_fields() {
	jq -S '{
		"virtual-size": ."virtual-size",
		"cluster-size": ."cluster-size",
		compat: ."format-specific".data.compat,
		"refcount-bits": ."format-specific".data."refcount-bits",
		"extended-l2": (."format-specific".data."extended-l2" // false),
		"compression-type": (."format-specific".data."compression-type" // "zlib"),
		"lazy-refcounts": (."format-specific".data."lazy-refcounts" // false),
		corrupt: (."format-specific".data.corrupt // false),
		"dirty-flag": ."dirty-flag",
		"backing-filename": (."backing-filename" // null),
		"backing-filename-format": (."backing-filename-format" // null),
		"data-file": (."format-specific".data."data-file" // null),
		"data-file-raw": (."format-specific".data."data-file-raw" // false),
		snapshots: [(.snapshots // [])[] | {id, name, "vm-state-size", "date-sec", "date-nsec"}],
		bitmaps: [(."format-specific".data.bitmaps // [])[] |
			  {name, granularity, flags: (.flags | sort)}]
	}'
}

our_fields() {
	jq -S '{
		"virtual-size": ."virtual-size",
		"cluster-size": ."cluster-size",
		compat,
		"refcount-bits": ."refcount-bits",
		"extended-l2": ."extended-l2",
		"compression-type": ."compression-type",
		"lazy-refcounts": ."lazy-refcounts",
		corrupt,
		"dirty-flag": ."dirty-flag",
		"backing-filename": (."backing-filename" // null),
		"backing-filename-format": (."backing-filename-format" // null),
		"data-file": (."data-file" // null),
		"data-file-raw": (."data-file-raw" // false),
		snapshots: [.snapshots[] | {id, name, "vm-state-size", "date-sec", "date-nsec"}],
		bitmaps: [.bitmaps[] | {name, granularity, flags: (.flags | sort)}]
	}'
}

# compare NAME IMAGE: qcow2-inspect accepts IMAGE and agrees with qemu-img.
compare() {
	local name=$1 img=$2 ours theirs
	if ! ours=$("$INSPECT" "$img" 2>&1); then
		bad "accepts-$name" "qcow2-inspect refused: $ours"
		return
	fi
	if ! theirs=$(qemu-img info -U --output=json "$img" 2>&1); then
		bad "accepts-$name" "qemu-img info failed: $theirs"
		return
	fi
	ours=$(our_fields <<<"$ours")
	theirs=$(qemu_fields <<<"$theirs")
	if [ "$ours" = "$theirs" ]; then
		ok "accepts-$name"
	else
		bad "accepts-$name" "differs from qemu-img info: $(diff <(echo "$theirs") <(echo "$ours") | tr '\n' ' ')"
	fi
}

mk() {
	qemu-img create -q -f qcow2 "$@"
}

# --- 1. images made by qemu-img --------------------------------------------

for cs in 512 4k 64k 2M; do
	mk -o compat=1.1,cluster_size=$cs v3-$cs.qcow2 1G
	compare "v3-cluster-$cs" v3-$cs.qcow2
	mk -o compat=0.10,cluster_size=$cs v2-$cs.qcow2 1G
	compare "v2-cluster-$cs" v2-$cs.qcow2
done
for rb in 1 2 4 8 16 32 64; do
	mk -o refcount_bits=$rb,cluster_size=4k rb$rb.qcow2 256M
	qemu-io -c 'write -P 0x11 0 1M' rb$rb.qcow2 >/dev/null
	compare "refcount-bits-$rb" rb$rb.qcow2
	mk -o refcount_bits=$rb,cluster_size=512 rb$rb-512.qcow2 16M
	compare "refcount-bits-$rb-cluster-512" rb$rb-512.qcow2
done
for cs in 16k 64k 2M; do
	mk -o extended_l2=on,cluster_size=$cs extl2-$cs.qcow2 1G
	qemu-io -c 'write -P 0x22 4k 4k' -c 'write -z 1M 64k' extl2-$cs.qcow2 >/dev/null
	compare "extended-l2-$cs" extl2-$cs.qcow2
done
mk -o compression_type=zstd zstd.qcow2 64M
qemu-io -c 'write -c -P 0x33 0 64k' zstd.qcow2 >/dev/null
compare compression-zstd zstd.qcow2
mk -o lazy_refcounts=on lazy.qcow2 64M
compare lazy-refcounts lazy.qcow2
# a crash with lazy refcounts leaves the dirty bit set
{ qemu-io -c "write 0 64k" -c abort lazy.qcow2; } >/dev/null 2>&1 || true
compare lazy-refcounts-dirty lazy.qcow2
for cs in 512 4k 64k 2M; do
	mk -o preallocation=metadata,cluster_size=$cs prealloc-$cs.qcow2 256M
	compare "preallocation-metadata-$cs" prealloc-$cs.qcow2
done
mk -o compat=0.10,preallocation=metadata prealloc-v2.qcow2 256M
compare preallocation-metadata-v2 prealloc-v2.qcow2
mk base.qcow2 64M
mk -b base.qcow2 -F qcow2 top.qcow2
compare backing-file top.qcow2
mk -o compat=0.10 -b base.qcow2 -F qcow2 top-v2.qcow2
compare backing-file-v2 top-v2.qcow2
mk -b "$T/base.qcow2" -F qcow2 -o extended_l2=on top-extl2.qcow2
compare backing-file-extended-l2 top-extl2.qcow2
mk data.qcow2 64M
qemu-io -c 'write -P 0xab 0 64k' -c 'write -z 1M 64k' -c 'write -c 2M 64k' \
	-c 'discard 3M 64k' data.qcow2 >/dev/null
compare data-written data.qcow2
mk -o cluster_size=512 size0.qcow2 0
compare size-0 size0.qcow2
mk big.qcow2 256T
compare size-256T big.qcow2
mk snap.qcow2 64M
qemu-io -c 'write -P 0x44 0 128k' snap.qcow2 >/dev/null
qemu-img snapshot -c first snap.qcow2
qemu-io -c 'write -P 0x55 64k 128k' snap.qcow2 >/dev/null
qemu-img snapshot -c "second snapshot" snap.qcow2
compare internal-snapshots snap.qcow2
mk -o compat=0.10 snap-v2.qcow2 64M
qemu-img snapshot -c s snap-v2.qcow2
compare internal-snapshot-v2 snap-v2.qcow2
mk bitmap.qcow2 64M
qemu-img bitmap --add bitmap.qcow2 b0
qemu-img bitmap --add -g 1M --disable bitmap.qcow2 b1
qemu-img bitmap --add -g 512 bitmap.qcow2 fine
compare bitmaps bitmap.qcow2
qemu-img create -q -f raw ext.raw 64M
mk -o data_file=ext.raw df.qcow2 64M
compare data-file df.qcow2
mk -o data_file=ext.raw,data_file_raw=on dfraw.qcow2 64M
compare data-file-raw dfraw.qcow2

# LUKS: parsed, but refused with a reason that names encryption
"$ROOT/tests/tools/mk-luks-qcow2" luks.qcow2 64M
if out=$("$INSPECT" luks.qcow2 2>&1); then
	bad refuses-luks "accepted an encrypted image"
elif grep -q '^Error: .*encrypt' <<<"$out"; then
	ok refuses-luks
else
	bad refuses-luks "reason does not name encryption: $out"
fi
if out=$("$INSPECT" --allow-encryption luks.qcow2 2>&1) &&
   [ "$(jq -r .encryption <<<"$out")" = luks ]; then
	ok parses-luks-header
else
	bad parses-luks-header "$out"
fi

# --- 2. poked headers -------------------------------------------------------

# poke FILE OFFSET BYTES (printf escapes)
poke() {
	# shellcheck disable=SC2059 # the bytes are printf escapes
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# refuse NAME QEMU IMG: qcow2-inspect must refuse IMG with a reason.
# QEMU: "refuses" (qemu-img info must fail too), "check" (qemu-img check
# must report corruption), "lenient" (QEMU opens it; we are stricter).
refuse() {
	local name=$1 qemu=$2 img=$3 out rc=0 what
	out=$("$INSPECT" "$img" 2>&1) || rc=$?
	if [ "$rc" -ne 1 ] || ! grep -qE '^Error: .{8,}' <<<"$out" ||
	   [ "$(wc -l <<<"$out")" -ne 1 ]; then
		bad "refuses-$name" "qcow2-inspect exit $rc: $out"
		return
	fi
	case $qemu in
	refuses)
		# (QEMU 7.2 crashes on some: keep the shell quiet about it)
		if { qemu-img info -f qcow2 "$img"; } >/dev/null 2>&1; then
			bad "refuses-$name" "qemu-img opens it but we expected QEMU to refuse"
			return
		fi
		what="QEMU refuses too" ;;
	check)
		rc=0
		qemu-img check -f qcow2 "$img" >/dev/null 2>&1 || rc=$?
		if [ "$rc" -ne 2 ]; then
			bad "refuses-$name" "qemu-img check exit $rc, expected 2 (corruption)"
			return
		fi
		what="qemu-img check reports corruption" ;;
	lenient)
		what="QEMU opens it; we are stricter" ;;
	esac
	ok "refuses-$name (${out#Error: }; $what)"
}

# fresh NAME: a new 64 MiB image (64 KiB clusters: reftable at 0x10000,
# L1 at 0x30000, header extensions from 112)
fresh() {
	mk "$1" 64M
}

# case NAME QEMU OFFSET BYTES [OFFSET BYTES...]: poke a fresh image.
case_poke() {
	local name=$1 qemu=$2
	shift 2
	fresh p.qcow2
	while [ $# -ge 2 ]; do
		poke p.qcow2 "$1" "$2"
		shift 2
	done
	refuse "$name" "$qemu" p.qcow2
}

# QEMU's iotest 080, field by field (it assumes a 104-byte header; ours
# has 112, so the extension pokes move by 8)
case_poke header-length-ffffffff refuses 100 '\xff\xff\xff\xff'
case_poke header-length-7fffffff refuses 100 '\x7f\xff\xff\xff'
case_poke huge-ext-backing-offset-ffff refuses \
	8 '\xff\xff\xff\xff\xff\xff\xff\xff' 112 '\x12\x34\x56\x78' \
	116 '\x7f\xff\xff\xff'
case_poke huge-ext-backing-offset-116 refuses \
	8 '\x00\x00\x00\x00\x00\x00\x00\x74' 112 '\x12\x34\x56\x78' \
	116 '\x7f\xff\xff\xff'
case_poke huge-unknown-extension refuses 112 '\x12\x34\x56\x78' \
	116 '\x7f\xff\xff\xff'
case_poke refcount-table-clusters-ffffffff refuses 56 '\xff\xff\xff\xff'
case_poke refcount-table-clusters-00020001 refuses 56 '\x00\x02\x00\x01'
case_poke refcount-table-misaligned refuses 48 '\x12\x34\x56\x78\x90\xab\xcd\xef'
case_poke refcount-table-huge-offset refuses \
	48 '\xff\xff\xff\xff\xff\xff\x00\x00' 56 '\x00\x00\x00\x7f'
case_poke nb-snapshots-ffffffff refuses 60 '\xff\xff\xff\xff'
case_poke nb-snapshots-7fffffff refuses 60 '\x7f\xff\xff\xff'
case_poke snapshots-huge-offset refuses \
	64 '\xff\xff\xff\xff\xff\xff\x00\x00' 60 '\x00\x00\xff\xff'
case_poke snapshots-misaligned refuses \
	64 '\x12\x34\x56\x78\x90\xab\xcd\xef' 60 '\x00\x00\x00\x00'
case_poke l1-size-ffffffff refuses 36 '\xff\xff\xff\xff'
case_poke l1-size-7fffffff refuses 36 '\x7f\xff\xff\xff'
case_poke l1-huge-offset refuses \
	40 '\x7f\xff\xff\xff\xff\xff\x00\x00' 36 '\x00\x00\xff\xff'
case_poke l1-misaligned refuses \
	40 '\x12\x34\x56\x78\x90\xab\xcd\xef' 36 '\x00\x00\x00\x01'
case_poke l1-size-0 refuses 36 '\x00\x00\x00\x00'
case_poke backing-file-size-ffffffff refuses \
	8 '\x00\x00\x00\x00\x00\x00\x10\x00' 16 '\xff\xff\xff\xff'
# more header fields
case_poke bad-magic refuses 3 '\xfa'
case_poke version-1 refuses 7 '\x01'
case_poke version-4 refuses 7 '\x04'
case_poke cluster-bits-8 refuses 23 '\x08'
case_poke cluster-bits-22 refuses 23 '\x16'
case_poke cluster-bits-0 refuses 23 '\x00'
case_poke header-length-100 refuses 100 '\x00\x00\x00\x64'
case_poke header-length-108 refuses 100 '\x00\x00\x00\x6c'
case_poke header-length-above-cluster refuses 100 '\x00\x01\x00\x08'
case_poke incompatible-bit-5 refuses 79 '\x20'
case_poke incompatible-bit-63 refuses 72 '\x80'
case_poke refcount-order-7 refuses 99 '\x07'
case_poke zstd-without-feature-bit refuses 104 '\x01'
case_poke compression-bit-with-zlib refuses 79 '\x08'
case_poke compression-type-2 refuses 79 '\x08' 104 '\x02'
case_poke crypt-method-3 refuses 35 '\x03'
case_poke refcount-table-clusters-0 refuses 56 '\x00\x00\x00\x00'
case_poke refcount-table-above-8MiB refuses 56 '\x00\x00\x00\x81'
case_poke l1-above-32MiB refuses 36 '\x00\x40\x00\x01'
case_poke backing-offset-past-cluster refuses \
	8 '\x00\x00\x00\x00\x00\x01\x00\x01' 16 '\x00\x00\x00\x04'
case_poke backing-name-crosses-cluster refuses \
	8 '\x00\x00\x00\x00\x00\x00\xff\xfe' 16 '\x00\x00\x00\x04'
case_poke backing-name-1024 refuses \
	8 '\x00\x00\x00\x00\x00\x00\x10\x00' 16 '\x00\x00\x04\x00'
case_poke virtual-size-too-large refuses 24 '\x40\x00\x00\x00\x00\x00\x00\x00'
case_poke luks-without-header-extension refuses 35 '\x02'
# stricter than QEMU
case_poke l1-past-eof lenient 40 '\x00\x00\x00\x00\x01\x00\x00\x00'
case_poke refcount-table-past-eof lenient 48 '\x00\x00\x00\x00\x01\x00\x00\x00'
case_poke snapshot-table-past-eof lenient \
	60 '\x00\x00\x00\x01' 64 '\x00\x00\x00\x00\x01\x00\x00\x00'
case_poke l1-overlaps-refcount-table lenient 40 '\x00\x00\x00\x00\x00\x01\x00\x00'
case_poke refcount-table-at-0 lenient 48 '\x00\x00\x00\x00\x00\x00\x00\x00'
case_poke backing-name-in-header lenient \
	8 '\x00\x00\x00\x00\x00\x00\x00\x40' 16 '\x00\x00\x00\x04'
case_poke raw-data-bit-without-data-file lenient 95 '\x02'
# a second feature name table where the end marker was (after the first)
case_poke duplicate-extension lenient 504 '\x68\x03\xf8\x57\x00\x00\x00\x00'

# extended L2 needs 16 KiB clusters
mk -o extended_l2=on,cluster_size=16k p.qcow2 64M
poke p.qcow2 23 '\x0d'
refuse extended-l2-cluster-8k refuses p.qcow2

# table entries: an L1 entry with reserved bits, or past the end of the file
mk w.qcow2 64M
qemu-io -c 'write -P 0xab 0 64k' w.qcow2 >/dev/null
cp w.qcow2 p.qcow2
poke p.qcow2 $((0x30007)) '\x01'
refuse l1-entry-reserved-bit check p.qcow2
cp w.qcow2 p.qcow2
poke p.qcow2 $((0x30000)) '\x80\x00\x00\x00\x10\x00\x00\x00'
refuse l1-entry-past-eof check p.qcow2
cp w.qcow2 p.qcow2
poke p.qcow2 $((0x30006)) '\x02'
refuse l1-entry-misaligned check p.qcow2
cp w.qcow2 p.qcow2
poke p.qcow2 $((0x10007)) '\x01'
refuse refcount-table-entry-reserved-bit check p.qcow2

# snapshot table entries (iotest 080 "Invalid snapshot L1 table ...")
mk s.qcow2 64M
qemu-io -c 'write 0 512' s.qcow2 >/dev/null
qemu-img snapshot -c test s.qcow2
snoff=$("$INSPECT" s.qcow2 | jq '.snapshots[0] | ."l1-table-offset"')
sntab=$(od -An -t u8 --endian=big -j 64 -N 8 s.qcow2 | tr -d ' ')
if [ -z "$snoff" ] || [ "$sntab" -eq 0 ]; then
	bad snapshot-setup "no snapshot table (offset $sntab)"
else
	cp s.qcow2 p.qcow2
	poke p.qcow2 "$sntab" '\x00\x00\x00\x00\x00\x40\x02\x00'
	refuse snapshot-l1-offset-misaligned check p.qcow2
	cp s.qcow2 p.qcow2
	poke p.qcow2 $((sntab + 8)) '\x10\x00\x00\x00'
	refuse snapshot-l1-size-huge check p.qcow2
	cp s.qcow2 p.qcow2
	poke p.qcow2 $((sntab + 36)) '\x00\x00\x04\x01'
	refuse snapshot-extra-data-1025 refuses p.qcow2
	cp s.qcow2 p.qcow2
	poke p.qcow2 $((sntab + 36)) '\x00\x00\x00\x08'
	refuse snapshot-v3-extra-data-8 check p.qcow2
fi

# bitmap directory entries
mk b.qcow2 64M
qemu-img bitmap --add b.qcow2 b0
dir=$(od -An -t x1 -j 112 -N 512 b.qcow2 | tr -d ' \n' |
	grep -o '23852875000000180000000100000000[0-9a-f]\{32\}' | tail -c 17)
if [ -z "$dir" ]; then
	bad bitmap-setup "no bitmaps extension found"
else
	dir=$((16#$dir))
	cp b.qcow2 p.qcow2
	poke p.qcow2 $((dir + 17)) '\x08'	# granularity 2^8
	refuse bitmap-granularity-8 refuses p.qcow2
	cp b.qcow2 p.qcow2
	poke p.qcow2 $((dir + 16)) '\x02'	# type 2
	refuse bitmap-type-2 refuses p.qcow2
	cp b.qcow2 p.qcow2
	poke p.qcow2 $((dir + 15)) '\x04'	# reserved flag bit 2
	refuse bitmap-reserved-flag refuses p.qcow2
fi

echo "$nok passed, $nfail failed"
[ "$nfail" -eq 0 ]
