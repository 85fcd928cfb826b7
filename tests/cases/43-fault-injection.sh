#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The kernel's fault injection against vstorage (debug kernel only: make
# check-debug). (1) Systematic allocation failures in the qcow2 and raw
# constructors: the table load of `vstoragectl node add` fails at its 1st,
# 2nd, ... fault site (failslab and fail_page_alloc through
# /proc/thread-self/fail-nth, armed by tests/tools/failnth.c right before
# the DM_TABLE_LOAD ioctl): each add fails cleanly or works, and leaves no
# device behind. (2) The same in the map path of reads and writes. (3)
# fail_make_request on the loop device under an image, 10% of its bios:
# errors reach the submitter, a read that succeeds returns what was last
# written there (or, for a failed write, what was there before), and once
# the device works again the image checks clean (leaks at most) and every
# acknowledged write reads back. kmemleak (scanned by the suite after each
# case) catches what an error path leaks.
# timeout: 400
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
q_host && skip "needs the kernel"
DBG=/sys/kernel/debug
if [ ! -d "$DBG/failslab" ] || [ ! -d "$DBG/fail_make_request" ] ||
	[ ! -e /proc/thread-self/fail-nth ]; then
	skip "this kernel has no fault injection (the debug kernel has: make check-debug)"
fi
qcow2_begin
require_cmd dd cmp losetup python3
SHIM=$VS_REPO/build/lib/failnth.so
# a dm device whose setup failed half-way may emit no event udev confirms
export VSTORAGECTL_UDEV_TIMEOUT=${VSTORAGECTL_UDEV_TIMEOUT:-30}
[ -f "$SHIM" ] || fail "$SHIM is missing (make user builds it)"

K=1024
M=$((1 << 20))
seed=${VS_FAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
ITER=${VS_FAULT_ITER:-10}	# fault sites tried per constructor, besides the first 3
NIO=${VS_FAULT_IO:-16}		# writes with a fault in the map path, and under the image
echo "seed $seed (VS_FAULT_SEED=$seed repeats the choices)"
RANDOM=$seed

# Fault sites fail whatever the allocation's flags (by default only
# allocations that cannot sleep would), and quietly: a backtrace per
# injected fault would bury the log.
fault_setup() {
	local f
	for f in failslab fail_page_alloc fail_make_request; do
		echo 0 >"$DBG/$f/verbose"
		echo 0 >"$DBG/$f/probability"
		echo 0 >"$DBG/$f/space"
		echo 1 >"$DBG/$f/interval"
		echo -1 >"$DBG/$f/times"
	done
	echo N >"$DBG/failslab/ignore-gfp-wait"
	echo N >"$DBG/fail_page_alloc/ignore-gfp-wait"
	echo N >"$DBG/fail_page_alloc/ignore-gfp-highmem"
	echo 0 >"$DBG/fail_page_alloc/min-order"
}
fault_off() {
	local f
	for f in failslab fail_page_alloc fail_make_request; do
		echo 0 >"$DBG/$f/probability" 2>/dev/null || true
	done
	for f in /sys/block/loop*/make-it-fail; do
		echo 0 >"$f" 2>/dev/null || true
	done
}
cleanup43() {
	fault_off
	qcow2_cleanup
}
trap cleanup43 EXIT
fault_setup

# check_leaks_ok IMAGE: qemu-img check finds no corruption (leaks allowed).
check_leaks_ok() {
	local rc=0
	qemu-img check "$1" >"$D/check.out" 2>&1 || rc=$?
	case $rc in
	0) info "qemu-img check $(basename "$1"): clean" ;;
	3) info "qemu-img check $(basename "$1"): leaks only: $(grep -c -i leak "$D/check.out") lines" ;;
	*) cat "$D/check.out" >&2; fail "qemu-img check $1: exit $rc" ;;
	esac
}

# The nodes a failed add may have left: NAME and the automatic backing nodes.
leftovers() {
	{
		dmsetup info "$1" >/dev/null 2>&1 && echo "$1"
		q_auto_nodes
	} | tr '\n' ' '
}

# inject_ctr NAME ARGS...: node add NAME with the N-th fault site of its
# table loads failing, for N = 1, 2, ... up to all sites (every one while
# few, then a random sample); each add must fail or work, leave nothing
# behind when it fails, and serve correct data when it works.
inject_ctr() {
	local name=$1 total n ns=() rep=$D/failnth.rep left tried=0 failed=0 i lo hi
	shift
	# how many fault sites one add reaches
	rm -f "$rep"
	LD_PRELOAD=$SHIM ASAN_OPTIONS=verify_asan_link_order=0 FAILNTH_CALL=table-load \
		FAILNTH_N=1000000 FAILNTH_REPORT=$rep vstoragectl node add "$@" >/dev/null ||
		fail "node add $* failed with nothing injected"
	node_del "$name"
	total=$(awk '$1 == "reached" { r = 1000000 - $2; if (r > m) m = r } END { print m + 0 }' "$rep")
	[ "$total" -gt 0 ] || fail "no fault site reached by the table load (report: $(cat "$rep"))"
	# the first sites, then one random site in each of ITER equal slices
	# of the rest (each add costs seconds on the debug kernel under TCG)
	for ((n = 1; n <= total && n <= 3; n++)); do ns+=("$n"); done
	for ((i = 0; i < ITER && total > 3; i++)); do
		lo=$((4 + (total - 3) * i / ITER))
		hi=$((4 + (total - 3) * (i + 1) / ITER))
		[ "$hi" -gt "$lo" ] || continue
		ns+=($((lo + RANDOM % (hi - lo))))
	done
	for n in "${ns[@]}"; do
		tried=$((tried + 1))
		if LD_PRELOAD=$SHIM ASAN_OPTIONS=verify_asan_link_order=0 FAILNTH_CALL=table-load \
			FAILNTH_N=$n vstoragectl node add "$@" >"$D/add.out" 2>&1; then
			VS_CASE_NODES+=("$name")
			dd if="$(q_dev "$name")" of="$D/got" bs=64k count=16 iflag=direct status=none ||
				fail "fault site $n: the node was added but a read fails"
			cmp -s "$D/got" "$D/expect" || fail "fault site $n: the node was added but reads wrong data"
			node_del "$name"
		else
			failed=$((failed + 1))
			[ "$(wc -l <"$D/add.out")" -ge 1 ] || fail "fault site $n: node add failed without a message"
		fi
		left=$(leftovers "$name")
		[ -z "$left" ] || fail "fault site $n: the failed add left devices behind: $left ($(cat "$D/add.out"))"
	done
	info "$name: $total fault sites per add; $tried tried, $failed adds failed cleanly"
}

# --- (1) constructors ------------------------------------------------------

qemu-img create -q -f qcow2 "$D/base.qcow2" 4M
qemu-io -f qcow2 -c "write -P 0x5a 0 1M" "$D/base.qcow2" >/dev/null
qemu-img create -q -f qcow2 -b "$D/base.qcow2" -F qcow2 "$D/top.qcow2" 4M
qemu-io -f qcow2 -c "write -P 0xa5 64k 128k" "$D/top.qcow2" >/dev/null
qemu-img convert -O raw "$D/top.qcow2" "$D/top.raw"
head -c $((M)) "$D/top.raw" >"$D/expect"
inject_ctr vs43q qcow2 node-name=vs43q file="$D/top.qcow2"
img_check "$D/top.qcow2"
cp "$D/top.raw" "$D/raw.img"
inject_ctr vs43r raw node-name=vs43r file="$D/raw.img"

# --- (2) the map path --------------------------------------------------------

q_open vs43q "$D/top.qcow2"
dev=$(q_dev vs43q)
cp "$D/top.raw" "$D/ref.raw"
errs=0
for ((i = 0; i < NIO; i++)); do
	off=$(((RANDOM % 60) * 64 * K + (RANDOM % 16) * 4 * K))
	len=$((4 * K * (1 + RANDOM % 8)))
	[ $((off + len)) -le $((4 * M)) ] || continue
	head -c "$len" /dev/urandom >"$D/chunk"
	if LD_PRELOAD=$SHIM ASAN_OPTIONS=verify_asan_link_order=0 FAILNTH_CALL=blkio \
		FAILNTH_N=$((1 + RANDOM % 12)) dd if="$D/chunk" of="$dev" bs="$len" count=1 \
		seek="$off" oflag=direct,seek_bytes status=none 2>/dev/null; then
		dd if="$D/chunk" of="$D/ref.raw" bs="$len" count=1 seek="$off" \
			oflag=seek_bytes conv=notrunc status=none
	else
		errs=$((errs + 1))
		# the range is undefined now: take what the node says as reference
		dd if="$dev" of="$D/ref.raw" bs="$len" count=1 skip="$off" seek="$off" \
			iflag=direct,skip_bytes oflag=seek_bytes conv=notrunc status=none ||
			fail "read after a failed write fails with faults off"
	fi
	# reads through the map path, with a fault somewhere in them
	if LD_PRELOAD=$SHIM ASAN_OPTIONS=verify_asan_link_order=0 FAILNTH_CALL=blkio \
		FAILNTH_N=$((1 + RANDOM % 12)) dd if="$dev" of="$D/rd" bs=64k count=4 \
		skip=$(((off / (64 * K)) * 64 * K)) iflag=direct,skip_bytes status=none 2>/dev/null; then
		cmp -s "$D/rd" <(dd if="$D/ref.raw" bs=64k count=4 skip=$(((off / (64 * K)) * 64 * K)) \
			iflag=skip_bytes status=none) || fail "a read with a fault injected returned wrong data"
	fi
done
sync "$dev" 2>/dev/null || blockdev --flushbufs "$dev"
q_read vs43q "$D/now.raw"
cmp "$D/now.raw" "$D/ref.raw" || fail "the node's data differs from the reference after the map-path faults"
q_close vs43q
check_leaks_ok "$D/top.qcow2"
qemu-img compare -q "$D/top.qcow2" "$D/ref.raw" || fail "qemu-img compare after the map-path faults"
info "map path: $errs of $NIO writes failed under injection; data and image intact"

# --- (3) fail_make_request under the image ------------------------------------

truncate -s 16M "$D/dev.img"
loop=$(loop_add "$D/dev.img")
qemu-img create -q -f qcow2 -o cluster_size=64k -b "$D/base.qcow2" -F qcow2 "$loop" 4M
q_open vs43b "$loop"
dev=$(q_dev vs43b)
qemu-img convert -O raw "$D/base.qcow2" "$D/ref.raw"
python3 - "$D/ref.raw" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.truncate(4 << 20)
EOF
mif=/sys/block/${loop#/dev/}/make-it-fail
echo 10 >"$DBG/fail_make_request/probability"
echo 1 >"$mif"
acked=0
flushes=0
for ((i = 0; i < 2 * NIO; i++)); do
	off=$(((RANDOM % 64) * 64 * K + (RANDOM % 4) * 16 * K))
	head -c $((16 * K)) /dev/urandom >"$D/c"
	if dd if="$D/c" of="$dev" bs=16k count=1 seek="$off" oflag=direct,seek_bytes \
		status=none 2>/dev/null; then
		acked=$((acked + 1))
		dd if="$D/c" of="$D/ref.raw" bs=16k count=1 seek="$off" oflag=seek_bytes \
			conv=notrunc status=none
	else
		# a failed write leaves old or new bytes: look with the
		# device working, and expect that from now on
		echo 0 >"$mif"
		dd if="$dev" of="$D/rd" bs=16k count=1 skip="$off" iflag=direct,skip_bytes \
			status=none || fail "read after a failed write fails with the device working"
		python3 - "$D/rd" "$D/ref.raw" "$D/c" "$off" <<'PY' ||
import sys
rd = open(sys.argv[1], "rb").read()
off = int(sys.argv[4])
old = open(sys.argv[2], "rb").read()[off:off + len(rd)]
new = open(sys.argv[3], "rb").read()
sys.exit(0 if all(b in (o, n) for b, o, n in zip(rd, old, new)) else 1)
PY
			fail "a failed write at $off left bytes that were never written there"
		dd if="$D/rd" of="$D/ref.raw" bs=16k count=1 seek="$off" oflag=seek_bytes \
			conv=notrunc status=none
		echo 1 >"$mif"
	fi
	# a read that succeeds returns exactly what is there
	if dd if="$dev" of="$D/rd" bs=64k count=1 skip=$(((off / (64 * K)) * 64 * K)) \
		iflag=direct,skip_bytes status=none 2>/dev/null; then
		cmp -s "$D/rd" <(dd if="$D/ref.raw" bs=64k count=1 skip=$(((off / (64 * K)) * 64 * K)) \
			iflag=skip_bytes status=none) ||
			fail "a read under fail_make_request returned wrong data at $off"
	fi
	if [ $((i % 6)) -eq 5 ]; then
		sync "$dev" 2>/dev/null && flushes=$((flushes + 1))
	fi
done
fault_off
sync "$dev" || fail "a flush fails with the device working again"
info "fail_make_request: $acked of $((2 * NIO)) writes and $flushes of $((2 * NIO / 6)) flushes succeeded"
q_read vs43b "$D/now.raw"
cmp "$D/now.raw" "$D/ref.raw" || fail "the node's data differs from the reference"
q_close vs43b
check_leaks_ok "$loop"
q_open vs43b "$loop"
q_read vs43b "$D/now.raw"
cmp "$D/now.raw" "$D/ref.raw" || fail "reopened, the image lost acknowledged writes"
q_close vs43b
info "every acknowledged write survived; the image checks clean"
