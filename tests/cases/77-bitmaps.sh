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
# expect_count NODE NAME BYTES WHAT (the human listing: no python, fast)
expect_count() {
	local c
	c=$(vstoragectl bitmap list "$1" | awk -v n="$2:" '$1 == n { print $5 }')
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
info "[${SECONDS}s] fio"
fio_verify "$dev" bm --rw=randwrite --bs=4k --iodepth=16 --offset=48M --size=2M
expect_count r0 f $((2 * M)) "fio wrote every 4K of [48M, 50M)"

# --- a table reload keeps the bitmaps ---------------------------------------
before=$(vstoragectl -j bitmap list r0)
dmsetup table r0 | dmsetup reload r0 || fail "dmsetup reload r0"
dmsetup resume r0 || fail "dmsetup resume r0"
[ "$(vstoragectl -j bitmap list r0)" = "$before" ] ||
	fail "a reload changed the bitmaps: $before -> $(vstoragectl -j bitmap list r0)"
wr "$dev" $((60 * M)) 4096
expect_count r0 f $((2 * M + 64 * K)) "a write after the reload"

# --- hostile command lines ---------------------------------------------------
info "[${SECONDS}s] hostile input"
expect_error "no such node" bitmap add nosuch b0
expect_error "invalid node name" bitmap add 9x b0
expect_error "invalid bitmap name.*empty" bitmap add r0 ""
expect_error "control" bitmap add r0 "$(printf 'a\tb')"
expect_error "1023" bitmap add r0 "$(printf 'x%.0s' $(seq 1024))"
expect_error "power of 2" bitmap add r0 x granularity=1000
expect_error "power of 2" bitmap add r0 x granularity=4G
expect_error "more than once" bitmap add r0 x granularity=4K granularity=8K
expect_error "unknown option" bitmap add r0 x size=4K
expect_error "already" bitmap add r0 b0
expect_error "only qcow2|cannot store" bitmap add r0 p persistent=on
expect_error "no such bitmap" bitmap del r0 nosuch
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
node_del ro0

# --- hostile netlink -------------------------------------------------------------
# numbers from the uapi header, so the test cannot drift (one python run:
# python starts slowly under TCG)
eval "$(python3 - "$VS_REPO/uapi/linux/vstorage.h" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
def index(enum, name):
    body = re.search(r"enum %s \{(.*?)\};" % enum, src, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    names = [l.strip().split(",")[0] for l in body.splitlines() if l.strip().startswith("VSTORAGE_")]
    return names.index(name)
for var, enum, name in [
        ("C_ADD", "vstorage_cmd", "VSTORAGE_CMD_BITMAP_ADD"),
        ("C_DEL", "vstorage_cmd", "VSTORAGE_CMD_BITMAP_DEL"),
        ("C_MERGE", "vstorage_cmd", "VSTORAGE_CMD_BITMAP_MERGE"),
        ("C_GET", "vstorage_cmd", "VSTORAGE_CMD_BITMAP_GET"),
        ("A_NAME", "vstorage_attr", "VSTORAGE_A_NODE_NAME"),
        ("A_BM", "vstorage_attr", "VSTORAGE_A_BITMAP"),
        ("B_NAME", "vstorage_bitmap_attr", "VSTORAGE_BITMAP_NAME"),
        ("B_GRAN", "vstorage_bitmap_attr", "VSTORAGE_BITMAP_GRANULARITY"),
        ("B_SRC", "vstorage_bitmap_attr", "VSTORAGE_BITMAP_SOURCE"),
        ("B_COUNT", "vstorage_bitmap_attr", "VSTORAGE_BITMAP_COUNT"),
        ("B_PERS", "vstorage_bitmap_attr", "VSTORAGE_BITMAP_PERSISTENT")]:
    print("%s=%d" % (var, index(enum, name)))
PY
)" || fail "reading the uapi header"
A_BM=$((A_BM | 0x8000))
# le N BYTES VALUE: VALUE as N little-endian bytes in hex
le() {
	local i out=
	for ((i = 0; i < $1; i++)); do
		out+=$(printf '%02x' $((($2 >> (8 * i)) & 255)))
	done
	printf '%s' "$out"
}
# nest TYPE=KIND:VALUE...: the hex payload of a nest (nlprobe's bin)
nest() {
	local a t kind v p out=
	for a in "$@"; do
		t=${a%%=*} kind=${a#*=} v=${kind#*:} kind=${kind%%:*}
		case $kind in
		strz) p=$(printf '%s' "$v" | od -An -tx1 | tr -d ' \n')00 ;;
		str) p=$(printf '%s' "$v" | od -An -tx1 | tr -d ' \n') ;;
		u8) p=$(le 1 "$v") ;;
		u32) p=$(le 4 "$v") ;;
		u64) p=$(le 8 "$v") ;;
		esac
		out+=$(le 2 $((4 + ${#p} / 2)))$(le 2 "$t")$p
		while ((${#out} % 8)); do out+=00; done
	done
	printf '%s\n' "$out"
}
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
probe '^error EINVAL .*' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n2 $B_GRAN=u8:16)"
probe '^error EINVAL .*' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=str:n2)"
probe '^error EINVAL .+' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:)"
probe '^error (EINVAL|ERANGE) .*' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n2 $B_PERS=u8:2)"
probe '^error EINVAL .*' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n2 $B_COUNT=u64:5)"
probe '^error EINVAL .*' "$C_ADD" $A_NAME:strz:r0 $A_BM:bin:"$(nest $B_NAME=strz:n2)"00
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

# === persistent bitmaps in qcow2 ================================================
info "[${SECONDS}s] persistent bitmaps"
# qemu_bitmaps IMG: "name:granularity:flags" of every bitmap qemu-img info
# lists, space-separated
qemu_bitmaps() {
	local out
	out=$(qemu-img info -U --output=json "$1") || fail "qemu-img info $1"
	json_get "$out" "' '.join('%s:%s:%s' % (b['name'], b['granularity'], ','.join(sorted(b['flags']))) for b in j.get('format-specific', {}).get('data', {}).get('bitmaps', []))"
}
# file_dirty IMG NAME: the dirty ranges of bitmap NAME, "start+length"
# words, read from the file by the specification (docs/interop/qcow2.txt)
file_dirty() {
	python3 - "$1" "$2" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb")
h = f.read(4096)
cb = struct.unpack(">I", h[20:24])[0]
cs = 1 << cb
size = struct.unpack(">Q", h[24:32])[0]
hl = struct.unpack(">I", h[100:104])[0]
off = hl
while True:
    t, l = struct.unpack(">II", h[off:off + 8])
    if t == 0:
        sys.exit("no bitmaps extension")
    if t == 0x23852875:
        nb, _, dsz, doff = struct.unpack(">IIQQ", h[off + 8:off + 32])
        break
    off += 8 + (l + 7) // 8 * 8
f.seek(doff)
d = f.read(dsz)
p = 0
for _ in range(nb):
    toff, tsz, flags, typ, gb, nl, ex = struct.unpack(">QIIBBHI", d[p:p + 24])
    name = d[p + 24 + ex:p + 24 + ex + nl].decode()
    p += (24 + ex + nl + 7) // 8 * 8
    if name != sys.argv[2]:
        continue
    f.seek(toff)
    tab = struct.unpack(">%dQ" % tsz, f.read(8 * tsz))
    data = b""
    for e in tab:
        if e & ~1 & ((1 << 56) - 1):
            f.seek(e & 0x00fffffffffffe00)
            data += f.read(cs)
        else:
            data += (b"\xff" if e & 1 else b"\0") * cs
    g = 1 << gb
    runs, start = [], None
    for i in range((size + g - 1) // g):
        bit = data[i // 8] >> (i % 8) & 1
        if bit and start is None:
            start = i
        if not bit and start is not None:
            runs.append((start, i)); start = None
    if start is not None:
        runs.append((start, (size + g - 1) // g))
    print(" ".join("%d+%d" % (a * g, min((b - a) * g, size - a * g)) for a, b in runs))
    sys.exit(0)
sys.exit("no bitmap " + sys.argv[2])
PY
}
# qemu_dirty IMG NAME: the same ranges as QEMU reports them (qemu-nbd
# exporting the bitmap; x-dirty-bitmap shows dirty ranges as "data": false)
HAVE_NBD=0
command -v qemu-nbd >/dev/null && HAVE_NBD=1
qemu_dirty() {
	local sock=$D/nbd.sock pid out
	rm -f "$sock"
	qemu-nbd -r -t -k "$sock" -f qcow2 -B "$2" "$1" >"$D/qemu-nbd.log" 2>&1 &
	pid=$!
	wait_for_path "$sock" 20 -S || { cat "$D/qemu-nbd.log" >&2; fail "qemu-nbd did not start"; }
	out=$(qemu-img map --output=json --image-opts \
		"driver=nbd,server.type=unix,server.path=$sock,x-dirty-bitmap=qemu:dirty-bitmap:$2") ||
		fail "qemu-img map of bitmap $2"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	json_get "$out" "' '.join('%d+%d' % (e['start'], e['length']) for e in j if not e['data'])"
}
# expect_dirty IMG NAME RANGES WHAT: the file and QEMU agree with RANGES
expect_dirty() {
	local got
	got=$(file_dirty "$1" "$2") || fail "reading bitmap $2 of $1"
	[ "$got" = "$3" ] || fail "$4: bitmap $2 in the file: '$got', want '$3'"
	if [ "$HAVE_NBD" = 1 ]; then
		got=$(qemu_dirty "$1" "$2")
		[ "$got" = "$3" ] || fail "$4: QEMU's view of bitmap $2: '$got', want '$3'"
	fi
}

# --- vstorage's bitmap, read by QEMU --------------------------------------------
qemu-img create -q -f qcow2 "$D/p.qcow2" 64M
q_open p0 "$D/p.qcow2"
vstoragectl bitmap add p0 pb persistent=on || fail "bitmap add persistent"
vstoragectl bitmap add p0 p4k granularity=4K persistent=on disabled=on || fail "bitmap add p4k"
vstoragectl bitmap add p0 tmp || fail "bitmap add tmp"
[ "$(bm p0 pb persistent)" = True ] || fail "persistent=on bitmap is not persistent"
wr /dev/mapper/p0 $((1 * M)) 4096
wr /dev/mapper/p0 $((3 * M + 64 * K)) $((128 * K))
fio_verify /dev/mapper/p0 qbm --rw=randwrite --bs=4k --iodepth=16 --offset=32M --size=2M
expect_count p0 pb $((64 * K + 128 * K + 2 * M)) "writes to the qcow2 node"
# new persistent bitmaps reach the image when the device is suspended
# (as QEMU stores new ones at close); resumed, the image says they are in
# use, so that a crash leaves them inconsistent
dmsetup suspend p0 || fail "dmsetup suspend p0"
[ "$(qemu_bitmaps "$D/p.qcow2")" = "pb:65536:auto p4k:4096:" ] ||
	fail "while suspended: qemu-img info says $(qemu_bitmaps "$D/p.qcow2")"
# (qemu-nbd cannot open it now: the node holds QEMU's image locks)
got=$(file_dirty "$D/p.qcow2" pb) || fail "reading pb while suspended"
[ "$got" = "$((1 * M))+$((64 * K)) $((3 * M + 64 * K))+$((128 * K)) $((32 * M))+$((2 * M))" ] ||
	fail "stored at suspend: pb in the file is '$got'"
dmsetup resume p0 || fail "dmsetup resume p0"
[ "$(qemu_bitmaps "$D/p.qcow2")" = "pb:65536:auto,in-use p4k:4096:in-use" ] ||
	fail "while open: qemu-img info says $(qemu_bitmaps "$D/p.qcow2")"
# a copy now is what an unclean shutdown leaves
cp "$D/p.qcow2" "$D/unclean.qcow2"
q_close p0
[ "$(qemu_bitmaps "$D/p.qcow2")" = "pb:65536:auto p4k:4096:" ] ||
	fail "after node del: qemu-img info says $(qemu_bitmaps "$D/p.qcow2")"
img_check "$D/p.qcow2"
want="$((1 * M))+$((64 * K)) $((3 * M + 64 * K))+$((128 * K)) $((32 * M))+$((2 * M))"
expect_dirty "$D/p.qcow2" pb "$want" "vstorage's writes"
# qemu-img bitmap --merge into a scratch image: the same ranges
qemu-img create -q -f qcow2 "$D/scratch.qcow2" 64M
qemu-img bitmap --add "$D/scratch.qcow2" m || fail "qemu-img bitmap --add"
qemu-img bitmap --merge pb -b "$D/p.qcow2" -F qcow2 "$D/scratch.qcow2" m ||
	fail "qemu-img bitmap --merge of vstorage's bitmap"
expect_dirty "$D/scratch.qcow2" m "$want" "merged by qemu-img"
img_check "$D/scratch.qcow2"

# --- survives node del + node add and a module reload ------------------------
info "[${SECONDS}s] node del + add, module reload"
q_open p0 "$D/p.qcow2"
[ "$(json_get "$(vstoragectl -j bitmap list p0)" "[b['name'] for b in j]")" = "['p4k', 'pb']" ] ||
	fail "after node add: $(vstoragectl -j bitmap list p0)"
expect_count p0 pb $((64 * K + 128 * K + 2 * M)) "pb after node del + add"
[ "$(bm p0 p4k enabled)" = False ] || fail "p4k came back enabled"
wr /dev/mapper/p0 $((20 * M)) 4096
q_close p0
for m in $(lsmod | awk '$1 ~ /^(dm_vstorage_|vhost_blk)/ { print $1 }'); do
	modprobe -r "$m" || fail "cannot unload $m"
done
modprobe -r vstorage || fail "cannot unload vstorage"
modprobe vstorage && modprobe dm-vstorage-raw && modprobe dm-vstorage-qcow2 ||
	fail "cannot load the modules again"
q_open p0 "$D/p.qcow2"
expect_count p0 pb $((64 * K + 128 * K + 2 * M + 64 * K)) "pb after a module reload"
# a reload of the node's table keeps them and the image stays right
dmsetup table p0 | dmsetup reload p0 || fail "dmsetup reload p0"
dmsetup resume p0 || fail "dmsetup resume p0"
wr /dev/mapper/p0 $((21 * M)) 4096
expect_count p0 pb $((64 * K + 128 * K + 2 * M + 2 * 64 * K)) "pb after a table reload"
vstoragectl bitmap del p0 p4k || fail "bitmap del p4k"
q_close p0
img_check "$D/p.qcow2"
[ "$(qemu_bitmaps "$D/p.qcow2")" = "pb:65536:auto" ] ||
	fail "after del of p4k: qemu-img info says $(qemu_bitmaps "$D/p.qcow2")"

# --- QEMU's bitmap, loaded by vstorage -----------------------------------------
info "[${SECONDS}s] QEMU's bitmaps"
qemu-img create -q -f qcow2 "$D/q.qcow2" 64M
qemu-img bitmap --add "$D/q.qcow2" qb || fail "qemu-img bitmap --add qb"
qemu-img bitmap --add --granularity 4096 --disable "$D/q.qcow2" qd || fail "qemu-img bitmap --add qd"
qemu-io -c "write -P 0x11 $((1 * M)) 4k" -c "write -P 0x22 $((8 * M)) 128k" "$D/q.qcow2" >/dev/null ||
	fail "qemu-io writes"
expect_dirty "$D/q.qcow2" qb "$((1 * M))+$((64 * K)) $((8 * M))+$((128 * K))" "QEMU's writes"
q_open q0 "$D/q.qcow2"
expect_count q0 qb $((3 * 64 * K)) "QEMU's bitmap as vstorage loads it"
[ "$(bm q0 qb enabled)" = True ] || fail "QEMU's auto bitmap is not enabled"
[ "$(bm q0 qd enabled)" = False ] || fail "QEMU's disabled bitmap is enabled"
[ "$(bm q0 qd granularity)" = 4096 ] || fail "qd's granularity is $(bm q0 qd granularity)"
expect_count q0 qd 0 "QEMU's disabled bitmap"
wr /dev/mapper/q0 $((20 * M)) 4096
q_close q0
img_check "$D/q.qcow2"
expect_dirty "$D/q.qcow2" qb "$((1 * M))+$((64 * K)) $((8 * M))+$((128 * K)) $((20 * M))+$((64 * K))" \
	"QEMU's and vstorage's writes"
[ "$(qemu_bitmaps "$D/q.qcow2")" = "qb:65536:auto qd:4096:" ] ||
	fail "QEMU's bitmaps after vstorage: $(qemu_bitmaps "$D/q.qcow2")"
# and QEMU writes to it again
qemu-io -c "write -P 0x33 $((30 * M)) 4k" "$D/q.qcow2" >/dev/null || fail "qemu-io after vstorage"
expect_dirty "$D/q.qcow2" qb "$((1 * M))+$((64 * K)) $((8 * M))+$((128 * K)) $((20 * M))+$((64 * K)) $((30 * M))+$((64 * K))" \
	"QEMU's writes after vstorage"

# --- an unclean shutdown: in_use at open -> inconsistent -------------------------
info "[${SECONDS}s] unclean shutdown"
[ "$(qemu_bitmaps "$D/unclean.qcow2")" = "pb:65536:auto,in-use p4k:4096:in-use" ] ||
	fail "the copy: $(qemu_bitmaps "$D/unclean.qcow2")"
q_open u0 "$D/unclean.qcow2"
[ "$(bm u0 pb inconsistent)" = True ] || fail "an in_use bitmap is not inconsistent"
[ "$(bm u0 pb enabled)" = False ] || fail "an inconsistent bitmap is enabled"
expect_error "inconsistent" bitmap clear u0 pb
expect_error "inconsistent" bitmap enable u0 pb
expect_error "inconsistent" bitmap merge u0 pb p4k
vstoragectl bitmap add u0 x || fail "bitmap add x"
expect_error "inconsistent" bitmap merge u0 x pb
vstoragectl bitmap del u0 pb || fail "an inconsistent bitmap cannot be deleted"
q_close u0
# p4k stays inconsistent, as in QEMU
[ "$(qemu_bitmaps "$D/unclean.qcow2")" = "p4k:4096:in-use" ] ||
	fail "the copy after del: $(qemu_bitmaps "$D/unclean.qcow2")"
img_check "$D/unclean.qcow2"

# --- hostile bitmap extensions ---------------------------------------------------
# poke_bm IMG WHAT: damage the first bitmap of IMG
poke_bm() {
	python3 - "$1" "$2" <<'PY'
import struct, sys
img, what = sys.argv[1], sys.argv[2]
f = open(img, "r+b")
h = bytearray(f.read(65536))
size = f.seek(0, 2)
hl = struct.unpack(">I", h[100:104])[0]
off = hl
while True:
    t, l = struct.unpack(">II", h[off:off + 8])
    if t == 0x23852875:
        break
    off += 8 + (l + 7) // 8 * 8
nb, _, dsz, doff = struct.unpack(">IIQQ", h[off + 8:off + 32])
f.seek(doff)
d = bytearray(f.read(dsz))
toff = struct.unpack(">Q", d[0:8])[0]
if what == "huge-dir":
    h[off + 16:off + 24] = struct.pack(">Q", 1 << 40); f.seek(0); f.write(h)
elif what == "many":
    h[off + 8:off + 12] = struct.pack(">I", 70000); f.seek(0); f.write(h)
elif what == "dir-type":
    d[16] = 7; f.seek(doff); f.write(d)
elif what == "dir-name":
    d[18:20] = struct.pack(">H", 60000); f.seek(doff); f.write(d)
elif what == "table-eof":
    d[0:8] = struct.pack(">Q", (size + 65536) // 65536 * 65536); f.seek(doff); f.write(d)
elif what == "data-eof":
    f.seek(toff); f.write(struct.pack(">Q", (size + 10 * 65536) // 65536 * 65536))
elif what == "data-l1":
    l1 = struct.unpack(">Q", h[40:48])[0]
    f.seek(toff); f.write(struct.pack(">Q", l1))
elif what == "data-header":
    f.seek(toff); f.write(struct.pack(">Q", 0))  # placeholder: zero entry is valid
    f.seek(toff); f.write(struct.pack(">Q", 1 << 9))  # misaligned
elif what == "table-reserved":
    f.seek(toff); f.write(struct.pack(">Q", (1 << 60) | 65536 * 3))
PY
}
info "[${SECONDS}s] hostile bitmap extensions"
qemu-img create -q -f qcow2 "$D/hbase.qcow2" 16M
qemu-img bitmap --add "$D/hbase.qcow2" hb
qemu-io -c "write 0 64k" "$D/hbase.qcow2" >/dev/null
for what in huge-dir many dir-type dir-name table-eof data-eof data-l1 data-header table-reserved; do
	cp "$D/hbase.qcow2" "$D/h.qcow2"
	poke_bm "$D/h.qcow2" "$what" || fail "poke $what"
	expect_error "bitmap|extension|directory" node add qcow2 node-name=h0 file="$D/h.qcow2"
	if vstoragectl node show h0 >/dev/null 2>&1; then
		fail "$what: a refused node exists"
	fi
done
# the undamaged image opens, and its bitmap is QEMU's
q_open h0 "$D/hbase.qcow2"
expect_count h0 hb $((64 * K)) "the undamaged image's bitmap"
q_close h0
img_check "$D/hbase.qcow2"
# --- a resize keeps the bitmaps, at the new size ------------------------------
info "[${SECONDS}s] resize"
q_open p0 "$D/p.qcow2"
before=$(vstoragectl bitmap list p0 | awk '$1 == "pb:" { print $5 }')
vstoragectl node resize p0 96M || fail "node resize p0 96M"
expect_count p0 pb "$before" "pb after a resize"
wr /dev/mapper/p0 $((80 * M)) 4096
expect_count p0 pb $((before + 64 * K)) "a write past the old end"
q_close p0
img_check "$D/p.qcow2"
got=$(file_dirty "$D/p.qcow2" pb) || fail "reading pb after the resize"
[[ $got == *" $((80 * M))+$((64 * K))" ]] || fail "after the resize, pb in the file is '$got'"
info "[${SECONDS}s] done"
