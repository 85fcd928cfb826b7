#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/unit/vstoragectl-qcow2.sh - `vstoragectl node add qcow2` against
# images made by qemu-img, without a kernel: VSTORAGECTL_DRY_RUN=1 prints
# the table lines (bottom-up, "DM-NAME: TABLE") instead of creating devices.
# Backing chains of depth 3 with relative and absolute names, a raw base,
# probed backing formats, backing=none, and the refusals (missing backing
# file, LUKS, corrupt image read-write, bad property values): one Error line.
#
# Runs on the host (no module loaded: no nodes exist). Prints "ok NAME" or
# "FAIL NAME: ..." per check; exits 1 on any failure, 77 without qemu-img.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CTL=${VSTORAGECTL:-$ROOT/build/bin/vstoragectl}

for c in qemu-img qemu-io; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "skip: command not found: $c"
		exit 77
	fi
done
if [ ! -x "$CTL" ]; then
	echo "skip: $CTL not built (make user)"
	exit 77
fi
if [ -e /sys/module/vstorage ]; then
	echo "skip: the vstorage module is loaded here (its nodes would change the plans)"
	exit 77
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/vstoragectl-qcow2.XXXXXX")
trap 'rm -rf "$T"' EXIT
T=$(realpath "$T")
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

export VSTORAGECTL_DRY_RUN=1

# plan NAME WANT ARGS...: the dry run of `node add qcow2 ARGS` prints WANT
# ($T written as T).
plan() {
	local name=$1 want=$2 got rc=0
	shift 2
	got=$("$CTL" node add qcow2 "$@" 2>&1) || rc=$?
	got=${got//$T/T}
	if [ "$rc" -ne 0 ]; then
		bad "$name" "exit $rc: $got"
	elif [ "$got" != "$want" ]; then
		bad "$name" "$(printf 'got:\n%s\nwant:\n%s' "$got" "$want")"
	else
		ok "$name"
	fi
}

# refuse NAME REGEX ARGS...: `node add qcow2 ARGS` fails with exit 1 and one
# line "Error: ..." matching REGEX, and prints nothing on stdout.
refuse() {
	local name=$1 re=$2 out err rc=0
	shift 2
	out=$("$CTL" node add qcow2 "$@" 2>"$T/err") || rc=$?
	err=$(<"$T/err")
	err=${err//$T/T}
	if [ "$rc" -ne 1 ]; then
		bad "$name" "exit $rc (want 1): $err"
	elif [ -n "$out" ]; then
		bad "$name" "printed a table: $out"
	elif [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] || [[ $err != Error:* ]]; then
		bad "$name" "not one Error line: $err"
	elif ! grep -E -q -e "$re" <<<"$err"; then
		bad "$name" "message lacks /$re/: $err"
	else
		ok "$name ($err)"
	fi
}

mk() {
	qemu-img create -q -f qcow2 "$@"
}

# --- images ---------------------------------------------------------------

mkdir -p sub dir2
qemu-img create -q -f raw base.raw 64M
mk -b base.raw -F raw mid.qcow2 64M
mk -b mid.qcow2 -F qcow2 top.qcow2 128M
# absolute names, the base in another directory
qemu-img create -q -f raw dir2/base.raw 32M
mk -b "$T/dir2/base.raw" -F raw sub/mid.qcow2 32M
mk -b "$T/sub/mid.qcow2" -F qcow2 abs.qcow2 32M
# relative names through directories: sub/top -> ../mid.qcow2 -> base.raw
mk -b ../mid.qcow2 -F qcow2 sub/rel.qcow2 64M
# qcow2 base (depth 3 all qcow2) with data
mk qbase.qcow2 16M
qemu-io -c 'write -P 0x11 0 1M' qbase.qcow2 >/dev/null
mk -b qbase.qcow2 -F qcow2 qmid.qcow2 16M
mk -b qmid.qcow2 -F qcow2 qtop.qcow2 16M
# backing format extension absent: probed (qcow2 magic -> qcow2, else raw)
mk -b mid.qcow2 -F qcow2 probe.qcow2 64M
mk -b base.raw -F raw probe-raw.qcow2 64M
# qemu-img 7.2 refuses to create without -F; drop the extension by
# rewriting the backing file name with qemu-img rebase -u ... -F is needed
# too, so poke the extension type to an unknown one instead (ignored).
noext() {
	local off
	off=$(od -An -t x1 -v -j 112 -N 64 "$1" | tr -d ' \n' | grep -bo 'e2792aca' | head -1 | cut -d: -f1)
	[ -n "$off" ] || { echo "no backing format extension in $1" >&2; return 1; }
	printf '\x12\x34\x56\x78' | dd of="$1" bs=1 seek=$((112 + off / 2)) conv=notrunc status=none
}
noext probe.qcow2
noext probe-raw.qcow2
# odd virtual size (qemu-img rounds up; poke 1000000): rounded down
mk odd.qcow2 1000000
printf '\x00\x0f\x42\x40' | dd of=odd.qcow2 bs=1 seek=28 conv=notrunc status=none
# v2 image
mk -o compat=0.10 -b base.raw -F raw v2.qcow2 64M
# refusals
mk -u -b nothere.qcow2 -F qcow2 missing.qcow2 64M
mk -u -b ../nothere.raw -F raw sub/missing-deep.qcow2 64M
mk -u -b sub/missing-deep.qcow2 -F qcow2 missing2.qcow2 64M
"$ROOT/tests/tools/mk-luks-qcow2" luks.qcow2 64M
MK_LUKS_FORGE=1 "$ROOT/tests/tools/mk-luks-qcow2" luks-forged.qcow2 64M
mk corrupt.qcow2 64M
printf '\x02' | dd of=corrupt.qcow2 bs=1 seek=79 conv=notrunc status=none
mk -u -b luks.qcow2 -F qcow2 over-luks.qcow2 64M
mk -u -b base.raw -F vmdk vmdk-fmt.qcow2 64M
mk loop1.qcow2 64M
mk -b loop1.qcow2 -F qcow2 loop2.qcow2 64M
qemu-img rebase -q -u -b loop2.qcow2 -F qcow2 loop1.qcow2

# --- plans ----------------------------------------------------------------

plan "no backing file" \
"n: 0 32768 vstorage-qcow2 n T/qbase.qcow2" \
	node-name=n file=qbase.qcow2
plan "chain depth 3, relative names, raw base" \
"top-b2: 0 131072 vstorage-raw top-b2 T/base.raw 1 read-only
top-b1: 0 131072 vstorage-qcow2 top-b1 T/mid.qcow2 3 backing /dev/mapper/top-b2 read-only
top: 0 262144 vstorage-qcow2 top T/top.qcow2 2 backing /dev/mapper/top-b1" \
	node-name=top file=top.qcow2
plan "chain depth 3, absolute names" \
"a-b2: 0 65536 vstorage-raw a-b2 T/dir2/base.raw 1 read-only
a-b1: 0 65536 vstorage-qcow2 a-b1 T/sub/mid.qcow2 3 backing /dev/mapper/a-b2 read-only
a: 0 65536 vstorage-qcow2 a T/abs.qcow2 2 backing /dev/mapper/a-b1" \
	node-name=a file="$T/abs.qcow2"
plan "chain through directories (../mid.qcow2 -> base.raw)" \
"r-b2: 0 131072 vstorage-raw r-b2 T/base.raw 1 read-only
r-b1: 0 131072 vstorage-qcow2 r-b1 T/mid.qcow2 3 backing /dev/mapper/r-b2 read-only
r: 0 131072 vstorage-qcow2 r T/sub/rel.qcow2 2 backing /dev/mapper/r-b1" \
	node-name=r file=sub/rel.qcow2
plan "chain depth 3, all qcow2" \
"q-b2: 0 32768 vstorage-qcow2 q-b2 T/qbase.qcow2 1 read-only
q-b1: 0 32768 vstorage-qcow2 q-b1 T/qmid.qcow2 3 backing /dev/mapper/q-b2 read-only
q: 0 32768 vstorage-qcow2 q T/qtop.qcow2 2 backing /dev/mapper/q-b1" \
	node-name=q file=qtop.qcow2
plan "cache options, inherited by the backing chain" \
"c-b2: 0 131072 vstorage-raw c-b2 T/base.raw 5 read-only cache.direct off locking off
c-b1: 0 131072 vstorage-qcow2 c-b1 T/mid.qcow2 7 backing /dev/mapper/c-b2 read-only cache.direct off locking off
c: 0 262144 vstorage-qcow2 c T/top.qcow2 6 backing /dev/mapper/c-b1 cache.direct off locking off" \
	node-name=c file=top.qcow2 cache.direct=off locking=off
plan "cache.writeback=off, cache.no-flush=on, defaults given" \
"w: 0 32768 vstorage-qcow2 w T/qbase.qcow2 4 cache.no-flush on cache.writeback off" \
	node-name=w file=qbase.qcow2 cache.no-flush=on cache.writeback=off \
	cache.direct=on locking=on
plan "backing format probed: qcow2" \
"p-b2: 0 131072 vstorage-raw p-b2 T/base.raw 1 read-only
p-b1: 0 131072 vstorage-qcow2 p-b1 T/mid.qcow2 3 backing /dev/mapper/p-b2 read-only
p: 0 131072 vstorage-qcow2 p T/probe.qcow2 2 backing /dev/mapper/p-b1" \
	node-name=p file=probe.qcow2
plan "backing format probed: raw" \
"p-b1: 0 131072 vstorage-raw p-b1 T/base.raw 1 read-only
p: 0 131072 vstorage-qcow2 p T/probe-raw.qcow2 2 backing /dev/mapper/p-b1" \
	node-name=p file=probe-raw.qcow2
plan "backing=none" \
"top: 0 262144 vstorage-qcow2 top T/top.qcow2 2 backing none" \
	node-name=top file=top.qcow2 backing=none
plan "read-only, every option (order of the table, not of the command)" \
"top: 0 262144 vstorage-qcow2 top T/top.qcow2 15 backing none read-only l2-cache-size 1048576 refcount-cache-size 65536 cache-clean-interval 30 lazy-refcounts on discard unmap overlap-check all" \
	node-name=top file=top.qcow2 overlap-check=all discard=on lazy-refcounts=yes \
	cache-clean-interval=30 refcount-cache-size=64k l2-cache-size=1M read-only=on backing=none
plan "discard=off is ignore, lazy-refcounts=off" \
"n: 0 32768 vstorage-qcow2 n T/qbase.qcow2 4 lazy-refcounts off discard ignore" \
	node-name=n file=qbase.qcow2 discard=off lazy-refcounts=off
plan "odd virtual size rounded down" \
"n: 0 1953 vstorage-qcow2 n T/odd.qcow2" \
	node-name=n file=odd.qcow2
plan "version 2 image" \
"v-b1: 0 131072 vstorage-raw v-b1 T/base.raw 1 read-only
v: 0 131072 vstorage-qcow2 v T/v2.qcow2 2 backing /dev/mapper/v-b1" \
	node-name=v file=v2.qcow2
plan "long node name truncated for the chain" \
"abcdefghijabcdefghijabcdefgh-b2: 0 131072 vstorage-raw abcdefghijabcdefghijabcdefgh-b2 T/base.raw 1 read-only
abcdefghijabcdefghijabcdefgh-b1: 0 131072 vstorage-qcow2 abcdefghijabcdefghijabcdefgh-b1 T/mid.qcow2 3 backing /dev/mapper/abcdefghijabcdefghijabcdefgh-b2 read-only
abcdefghijabcdefghijabcdefghij0: 0 262144 vstorage-qcow2 abcdefghijabcdefghijabcdefghij0 T/top.qcow2 2 backing /dev/mapper/abcdefghijabcdefghijabcdefgh-b1" \
	node-name=abcdefghijabcdefghijabcdefghij0 file=top.qcow2
plan "corrupt image read-only" \
"c: 0 131072 vstorage-qcow2 c T/corrupt.qcow2 1 read-only" \
	node-name=c file=corrupt.qcow2 read-only=on

refuse "missing backing file" "backing file T/nothere.qcow2: No such file" \
	node-name=m file=missing.qcow2
refuse "missing backing file at depth 2" \
	"file=missing2.qcow2: backing file T/sub/../nothere.raw \(of T/sub/missing-deep.qcow2\): No such file" \
	node-name=m file=missing2.qcow2
refuse "LUKS image" "file=luks.qcow2: .*encrypt.*LUKS" node-name=l file=luks.qcow2
refuse "LUKS header (forged)" "file=luks-forged.qcow2: .*encrypt.*LUKS" \
	node-name=l file=luks-forged.qcow2
refuse "LUKS image as a backing file" "backing file T/luks.qcow2: .*encrypt" \
	node-name=l file=over-luks.qcow2
refuse "corrupt image read-write" "file=corrupt.qcow2: .*corrupt" \
	node-name=c file=corrupt.qcow2
refuse "backing chain loop" "loop" node-name=l file=loop1.qcow2
refuse "unsupported backing format" "format 'vmdk'" node-name=v file=vmdk-fmt.qcow2
refuse "raw file as qcow2" "file=base.raw: .*magic" node-name=x file=base.raw
refuse "backing=unknown node" "backing=nobody: no such node" \
	node-name=x file=top.qcow2 backing=nobody
refuse "backing=bad name" "backing=1x" node-name=x file=top.qcow2 backing=1x
refuse "bad overlap-check" "overlap-check=some: expected one of none, constant, cached, all" \
	node-name=x file=top.qcow2 overlap-check=some
refuse "bad discard" "discard=trim" node-name=x file=top.qcow2 discard=trim
refuse "bad lazy-refcounts" "lazy-refcounts=maybe" node-name=x file=top.qcow2 lazy-refcounts=maybe
refuse "bad l2-cache-size" "l2-cache-size=1X" node-name=x file=top.qcow2 l2-cache-size=1X
refuse "bad refcount-cache-size" "refcount-cache-size=-1" node-name=x file=top.qcow2 refcount-cache-size=-1
refuse "bad cache-clean-interval" "cache-clean-interval=1.5" node-name=x file=top.qcow2 cache-clean-interval=1.5
refuse "cache-clean-interval too big" "cache-clean-interval=4294967296" \
	node-name=x file=top.qcow2 cache-clean-interval=4294967296
refuse "bad read-only" "read-only=perhaps" node-name=x file=top.qcow2 read-only=perhaps
refuse "bad cache.direct" "cache.direct=sometimes: expected on or off" \
	node-name=x file=top.qcow2 cache.direct=sometimes
refuse "bad cache.writeback" "cache.writeback=1x" node-name=x file=top.qcow2 cache.writeback=1x
refuse "bad cache.no-flush" "cache.no-flush=" node-name=x file=top.qcow2 cache.no-flush=
refuse "bad locking" "locking=auto: expected on or off" node-name=x file=top.qcow2 locking=auto
refuse "cache.direct twice" "'cache.direct' given more than once" \
	node-name=x file=top.qcow2 cache.direct=on cache.direct=off
refuse "unknown property" "unknown property 'offset' for driver qcow2" \
	node-name=x file=top.qcow2 offset=0

echo "$nok passed, $nfail failed"
[ "$nfail" -eq 0 ]
