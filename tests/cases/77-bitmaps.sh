#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Dirty bitmaps (Documentation/bitmaps.rst):
# - bitmap add/list/clear/enable/disable/merge/del on a raw node: counts
#   are the bytes written rounded out to the granularity; writes, discards
#   and write-zeroes count; a disabled bitmap does not grow; merge of
#   bitmaps of different granularities; a throttle filter's bitmaps see
#   the writes through it, the node below its own;
# - fio with verification writes while bitmaps record: every chunk it
#   wrote is dirty, nothing else is;
# - bitmaps survive a table reload (the new instance takes them over) and
#   go with node del unless persistent;
# - hostile CLI and netlink input is refused with one clear line / extack;
#   unprivileged changes are refused;
# - persistent bitmaps in qcow2: see the second half.
# timeout: 400
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
q_host && skip "needs the kernel"
qcow2_begin
require_cmd fio
require_cmd nlprobe
modprobe dm-vstorage-throttle || fail "cannot load dm-vstorage-throttle.ko"

K=1024
M=$((1 << 20))

# bm NODE NAME KEY: a field of bitmap NAME in `bitmap list NODE`
bm() {
	local out
	out=$(vstoragectl -j bitmap list "$1") || fail "bitmap list $1"
	json_get "$out" "[b for b in j if b['name'] == '$2'][0]['$3']"
}
# expect_count NODE NAME BYTES WHAT
expect_count() {
	local c
	c=$(bm "$1" "$2" count)
	[ "$c" = "$3" ] || fail "$4: bitmap $2 of $1 counts $c bytes, want $3"
}
# wr DEV OFFSET LENGTH: one direct write
wr() {
	dd if=/dev/zero of="$1" bs="$3" count=1 seek="$2" oflag=direct,seek_bytes conv=notrunc status=none ||
		fail "writing $3 bytes at $2 of $1"
}

# --- a raw node -----------------------------------------------------------------
truncate -s 64M "$D/r0.img"
node_add raw node-name=r0 file="$D/r0.img"
dev=/dev/mapper/r0
wait_for_path "$dev" 10 -b || fail "$dev did not appear"

[ "$(vstoragectl -j bitmap list r0)" = "[]" ] || fail "a new node has bitmaps"
vstoragectl bitmap add r0 b0 || fail "bitmap add r0 b0"
[ "$(bm r0 b0 granularity)" = 65536 ] || fail "default granularity is not 64K"
[ "$(bm r0 b0 enabled)" = True ] || fail "a new bitmap is not enabled"
[ "$(bm r0 b0 persistent)" = False ] || fail "a bitmap is persistent without persistent=on"
[ "$(bm r0 b0 in-use)" = False ] || fail "a new bitmap is in use"
expect_count r0 b0 0 "new bitmap"
vstoragectl bitmap list r0

wr "$dev" $((1 * M)) 4096
expect_count r0 b0 $((64 * K)) "4K written at 1M"
# 128K at 2M+32K touches the chunks at 2M, 2M+64K and 2M+128K
wr "$dev" $((2 * M + 32 * K)) $((128 * K))
expect_count r0 b0 $((4 * 64 * K)) "128K at 2M+32K"
# reads do not count
dd if="$dev" of=/dev/null bs=1M count=8 iflag=direct status=none
expect_count r0 b0 $((4 * 64 * K)) "after reads"

vstoragectl bitmap add r0 b1 granularity=4096 disabled=on || fail "bitmap add b1"
[ "$(bm r0 b1 enabled)" = False ] || fail "disabled=on bitmap is enabled"
wr "$dev" $((8 * M)) 8192
expect_count r0 b1 0 "a disabled bitmap grew"
expect_count r0 b0 $((5 * 64 * K)) "8K at 8M"
vstoragectl bitmap enable r0 b1 || fail "bitmap enable"
wr "$dev" $((10 * M)) 8192
expect_count r0 b1 8192 "8K at 10M with granularity 4K"
# discard and write-zeroes are writes
blkdiscard -o $((20 * M)) -l $((1 * M)) "$dev" || fail "blkdiscard"
expect_count r0 b1 $((8192 + M)) "a 1M discard"
blkdiscard -z -o $((30 * M)) -l $((64 * K)) "$dev" || fail "blkdiscard -z"
expect_count r0 b1 $((8192 + M + 64 * K)) "64K of write-zeroes"
expect_count r0 b0 $((6 * 64 * K + M + 64 * K)) "b0 after discard and write-zeroes"

# merge: b2 = b0 | b1 at 64K
vstoragectl bitmap add r0 b2 disabled=on || fail "bitmap add b2"
vstoragectl bitmap merge r0 b2 b0 b1 || fail "bitmap merge"
expect_count r0 b2 "$(bm r0 b0 count)" "b0 | b1 (b1 is inside b0)"
vstoragectl bitmap disable r0 b0 || fail "bitmap disable"
vstoragectl bitmap clear r0 b0 || fail "bitmap clear"
expect_count r0 b0 0 "after clear"
wr "$dev" $((40 * M)) 4096
expect_count r0 b0 0 "a disabled bitmap after a write"
expect_count r0 b1 $((8192 + M + 64 * K + 4096)) "b1 after 4K at 40M"
vstoragectl bitmap merge r0 b0 b1 || fail "bitmap merge b1 into b0"
expect_count r0 b0 $((3 * 64 * K + M)) \
	"b1 (8K at 10M, 1M at 20M, 64K at 30M, 4K at 40M) at 64K"
vstoragectl bitmap del r0 b1 || fail "bitmap del"
[ "$(json_get "$(vstoragectl -j bitmap list r0)" "[b['name'] for b in j]")" = "['b0', 'b2']" ] ||
	fail "after del: $(vstoragectl -j bitmap list r0)"

# --- a filter and the node below ------------------------------------------------
tgroup_add g77
node_add throttle node-name=t0 file=r0 throttle-group=g77
wait_for_path /dev/mapper/t0 10 -b || fail "/dev/mapper/t0 did not appear"
vstoragectl bitmap add t0 tb granularity=1M || fail "bitmap add on a throttle node"
vstoragectl bitmap add r0 rb granularity=1M || fail "bitmap add rb"
wr /dev/mapper/t0 $((5 * M)) 4096
expect_count t0 tb $M "a write through the filter"
expect_count r0 rb $M "the filter's write on the node below"
wr "$dev" $((6 * M)) 4096
expect_count t0 tb $M "a write under the filter"
expect_count r0 rb $((2 * M)) "a write to the node below"
node_del t0

# --- fio with verification ---------------------------------------------------
vstoragectl bitmap add r0 f granularity=64K || fail "bitmap add f"
fio_verify "$dev" bm --rw=randwrite --bs=4k --iodepth=16 --offset=48M --size=8M
expect_count r0 f $((8 * M)) "fio wrote every 4K of [48M, 56M)"

# --- a table reload keeps the bitmaps ---------------------------------------
before=$(vstoragectl -j bitmap list r0)
dmsetup table r0 | dmsetup reload r0 || fail "dmsetup reload r0"
dmsetup resume r0 || fail "dmsetup resume r0"
[ "$(vstoragectl -j bitmap list r0)" = "$before" ] ||
	fail "a reload changed the bitmaps: $before -> $(vstoragectl -j bitmap list r0)"
wr "$dev" $((60 * M)) 4096
expect_count r0 f $((8 * M + 64 * K)) "a write after the reload"

# --- hostile command lines ---------------------------------------------------
expect_error "no such node" bitmap add nosuch b0
expect_error "invalid node name" bitmap add 9x b0
expect_error "invalid bitmap name.*empty" bitmap add r0 ""
expect_error "control" bitmap add r0 "$(printf 'a\tb')"
expect_error "1023" bitmap add r0 "$(printf 'x%.0s' $(seq 1024))"
expect_error "power of 2" bitmap add r0 x granularity=1000
expect_error "power of 2" bitmap add r0 x granularity=256
expect_error "power of 2" bitmap add r0 x granularity=4G
expect_error "more than once" bitmap add r0 x granularity=4K granularity=8K
expect_error "unknown option" bitmap add r0 x size=4K
expect_error "already" bitmap add r0 b0
expect_error "only qcow2|cannot store" bitmap add r0 p persistent=on
expect_error "no such bitmap" bitmap del r0 nosuch
expect_error "no such bitmap" bitmap clear r0 nosuch
expect_error "no such bitmap" bitmap enable r0 nosuch
expect_error "no such source" bitmap merge r0 b0 nosuch
expect_error "no such bitmap" bitmap merge r0 nosuch b0
vstoragectl bitmap >/dev/null 2>&1 && fail "bitmap without a command accepted"
rc=0; vstoragectl bitmap frob r0 b0 >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "unknown bitmap command: exit $rc, want 2"
rc=0; vstoragectl bitmap del r0 >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "bitmap del without NAME: exit $rc, want 2"
# a read-only node takes no bitmaps
truncate -s 8M "$D/ro.img"
node_add raw node-name=ro0 file="$D/ro.img" read-only=on
expect_error "read-only" bitmap add ro0 b0

# --- hostile netlink -------------------------------------------------------------
# numbers from the uapi header, so the test cannot drift
enum_index() {
	python3 - "$VS_REPO/uapi/linux/vstorage.h" "$1" "$2" <<'PY'
import re, sys
body = re.search(r"enum %s \{(.*?)\};" % sys.argv[2], open(sys.argv[1]).read(), re.S).group(1)
body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
names = [l.strip().split(",")[0] for l in body.splitlines() if l.strip().startswith("VSTORAGE_")]
print(names.index(sys.argv[3]))
PY
}
# nest ATTR=TYPE:VALUE...: the hex payload of a nest (nlprobe's bin)
nest() {
	python3 - "$@" <<'PY'
import struct, sys
out = b""
for a in sys.argv[1:]:
    t, rest = a.split("=", 1)
    kind, val = rest.split(":", 1)
    p = {"u8": lambda v: struct.pack("B", int(v)), "u32": lambda v: struct.pack("I", int(v)),
         "u64": lambda v: struct.pack("Q", int(v)), "strz": lambda v: v.encode() + b"\0",
         "str": lambda v: v.encode()}[kind](val)
    attr = struct.pack("HH", 4 + len(p), int(t)) + p
    out += attr + b"\0" * (-len(attr) % 4)
print(out.hex())
PY
}
C_ADD=$(enum_index vstorage_cmd VSTORAGE_CMD_BITMAP_ADD)
C_DEL=$(enum_index vstorage_cmd VSTORAGE_CMD_BITMAP_DEL)
C_MERGE=$(enum_index vstorage_cmd VSTORAGE_CMD_BITMAP_MERGE)
C_GET=$(enum_index vstorage_cmd VSTORAGE_CMD_BITMAP_GET)
A_NAME=$(enum_index vstorage_attr VSTORAGE_A_NODE_NAME)
A_BM=$(($(enum_index vstorage_attr VSTORAGE_A_BITMAP) | 0x8000))
B_NAME=$(enum_index vstorage_bitmap_attr VSTORAGE_BITMAP_NAME)
B_GRAN=$(enum_index vstorage_bitmap_attr VSTORAGE_BITMAP_GRANULARITY)
B_SRC=$(enum_index vstorage_bitmap_attr VSTORAGE_BITMAP_SOURCE)
B_COUNT=$(enum_index vstorage_bitmap_attr VSTORAGE_BITMAP_COUNT)
B_PERS=$(enum_index vstorage_bitmap_attr VSTORAGE_BITMAP_PERSISTENT)
probe() {
	local want=$1 out
	shift
	out=$(nlprobe "$@" 2>&1) || true
	printf 'nlprobe %s -> %s\n' "$*" "$out"
	printf '%s\n' "$out" | grep -E -q -e "$want" || fail "nlprobe $* gave '$out', want /$want/"
}
probe '^ok' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n1)"
probe '^error EEXIST .+' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n1)"
probe '^error EINVAL .+' "$C_ADD" $A_NAME:strz:r0
probe '^error EINVAL .+' "$C_ADD" $A_BM:bin:"$(nest $B_NAME=strz:n2)"
probe '^error EINVAL .+' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_GRAN=u32:65536)"
probe '^error EINVAL .+' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n2 $B_GRAN=u32:1000)"
probe '^error EINVAL .+' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n2 $B_GRAN=u32:256)"
probe '^error EINVAL .*' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n2 $B_GRAN=u8:16)"
probe '^error EINVAL .*' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=str:n2)"
probe '^error EINVAL .+' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:)"
probe '^error (EINVAL|ERANGE) .*' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n2 $B_PERS=u8:2)"
probe '^error EINVAL .*' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n2 $B_COUNT=u64:5)"
probe '^error EINVAL .*' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n2 77=u32:5)"
probe '^error EINVAL .*' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n2)"00
probe '^error EINVAL .*' "$C_ADD" $A_NAME:strz:r0 $A_BM:raw-len:4000
probe '^error EINVAL .+' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n2 $B_SRC=strz:b0)"
probe '^error EINVAL .+' "$C_DEL" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n1 $B_GRAN=u32:4096)"
probe '^error EINVAL .+' "$C_MERGE" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n1)"
probe '^ok' "$C_MERGE" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n1 $B_SRC=strz:b0 $B_SRC=strz:b2)"
probe '^error ENODEV .+' "$C_DEL" $A_NAME:strz:nosuch $A_BM:bin:"$(nest $B_NAME=strz:n1)"
probe '^error ENOENT .+' "$C_GET" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:nosuch)"
probe '^ok 1' "$C_GET" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n1)"
probe '^error EINVAL .*' --dump "$C_GET"
probe '^ok' "$C_DEL" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n1)"
# 65 sources: more than a merge takes
srcs=()
for i in $(seq 65); do srcs+=("$B_SRC=strz:b0"); done
probe '^error E2BIG .+' "$C_MERGE" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:b2 "${srcs[@]}")"
if command -v setpriv >/dev/null; then
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups vstoragectl bitmap add r0 np 2>&1) &&
		fail "unprivileged bitmap add worked"
	printf 'unprivileged: %s\n' "$out"
	setpriv --reuid=65534 --regid=65534 --clear-groups vstoragectl -j bitmap list r0 >/dev/null ||
		fail "unprivileged bitmap list refused"
fi

# --- node del takes non-persistent bitmaps along ----------------------------
node_del r0
node_add raw node-name=r0 file="$D/r0.img"
[ "$(vstoragectl -j bitmap list r0)" = "[]" ] || fail "bitmaps outlived node del"
node_del r0
