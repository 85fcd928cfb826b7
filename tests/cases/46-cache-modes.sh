#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# QEMU's cache modes on a node's image file (Documentation/architecture.rst,
# "Cache modes"), tried as a user would:
#  - a qcow2 chain on tmpfs (no O_DIRECT in 6.1): refused with the default
#    cache.direct=on, with one error line that names the file and
#    cache.direct=off; with cache.direct=off the chain reads and writes as
#    QEMU says (qemu-img compare, qemu-img check clean after removal);
#  - ext4 on dm-log-writes holds the images, replayed to marks as a power
#    cut at that moment would leave them (after journal recovery):
#    cache.direct=off: every write flushed before a mark is there, and
#    qemu-img check finds no corruption;
#    cache.writeback=off: the device says "write through", and a write that
#    was never flushed is there; the same write with writeback on is not
#    (the page cache holds it: this is what shows the test can fail);
#    cache.no-flush=on: a flushed write is not there (unsafe, as documented).
# timeout: 300
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
q_host && skip "the cache modes are the kernel's"
qcow2_begin
require_module dm-log-writes
require_cmd mkfs.ext4 e2fsck python3
make -s -C "$VS_REPO/tests/tools" BUILD="$VS_REPO/build" >/dev/null ||
	fail "cannot build replay-log"
PATH=$VS_REPO/build/bin:$PATH

M=$((1 << 20))
LW=vs46lw
mnts=()
# the nodes hold files on the mounts, and the mounts hold the log device
cleanup46() {
	local m
	for m in vs46t vs46c vs46w vs46b vs46n; do
		dmsetup remove --retry "$m" >/dev/null 2>&1 || true
	done
	for m in "${mnts[@]}"; do
		umount "$m" 2>/dev/null || true
	done
	qcow2_cleanup
}
trap cleanup46 EXIT

# --- tmpfs: no direct I/O ------------------------------------------------------
T=$D/tmpfs
mkdir "$T"
mount -t tmpfs -o size=256M vs46tmpfs "$T" || fail "cannot mount tmpfs"
mnts=("$T" "${mnts[@]}")
qemu-img create -q -f qcow2 "$T/base.qcow2" 32M
qio -c 'write -P 0x11 0 8M' "$T/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$T/top.qcow2" 32M
qio -c 'write -P 0x22 4M 2M' "$T/top.qcow2"

expect_error "$T/top\.qcow2.*direct I/O.*cache\.direct=off" \
	node add qcow2 node-name=vs46t file="$T/top.qcow2"
[ -z "$(q_auto_nodes)" ] && [ ! -e /dev/mapper/vs46t ] ||
	fail "a refused add left devices behind"

q_open vs46t "$T/top.qcow2" cache.direct=off
oracle_raw "$T/top.qcow2" "$D/top-before.raw"
q_read vs46t "$D/read.raw"
same_raw "$D/read.raw" "$D/top-before.raw" "the chain read through the node"
# writes: over the backing file's data, over the top's, and past both
printf '0x33 0 %d\n0x44 %d %d\n0x55 %d %d\n' $M $((5 * M)) $((2 * M)) \
	$((20 * M)) $((3 * M)) >"$D/list"
q_patterns vs46t write "$D/list"
q_flush vs46t
q_patterns vs46t check "$D/list"
q_close vs46t
img_check "$T/top.qcow2"
img_check "$T/base.qcow2"
io_pattern "$T/top.qcow2" 0x33 0 1M
io_pattern "$T/top.qcow2" 0x11 1M 3M
io_pattern "$T/top.qcow2" 0x22 4M 1M
io_pattern "$T/top.qcow2" 0x44 5M 2M
io_pattern "$T/top.qcow2" 0x55 20M 3M
io_pattern "$T/base.qcow2" 0x11 0 8M

# --- a file system on dm-log-writes: what reaches the disk, and when -------------
truncate -s 256M "$D/data.img"
truncate -s 1G "$D/log.img"
dataloop=$(loop_add "$D/data.img")
logloop=$(loop_add "$D/log.img")
echo "0 $(blockdev --getsz "$dataloop") log-writes $dataloop $logloop" |
	dmsetup create "$LW" || fail "cannot create the log-writes device"
track_dm "$LW"
wait_for_path "/dev/mapper/$LW" 10 -b || fail "/dev/mapper/$LW did not appear"
mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard \
	"/dev/mapper/$LW" >/dev/null || fail "mkfs.ext4"
F=$D/fs
mkdir "$F"
mount -t ext4 "/dev/mapper/$LW" "$F" || fail "mount"
mnts=("$F" "${mnts[@]}")
qemu-img create -q -f qcow2 "$F/base.qcow2" 32M
qio -c 'write -P 0x61 0 16M' "$F/base.qcow2"
for i in chain wt wb nf; do
	if [ $i = chain ]; then
		qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$F/$i.qcow2" 32M
	else
		qemu-img create -q -f qcow2 "$F/$i.qcow2" 32M
	fi
done
sync -f "$F"
dmsetup message "$LW" 0 mark created

# cache.direct=off, writes flushed batch by batch
q_open vs46c "$F/chain.qcow2" cache.direct=off
printf '0x71 0 %d\n0x72 %d %d\n' $M $((3 * M)) $((M / 2)) >"$D/b1"
printf '0x73 %d %d\n0x74 0 65536\n' $((8 * M)) $((2 * M)) >"$D/b2"
q_patterns vs46c write "$D/b1"
q_flush vs46c
dmsetup message "$LW" 0 mark b1
q_patterns vs46c write "$D/b2"
q_flush vs46c
dmsetup message "$LW" 0 mark b2

# cache.writeback=off: durable when complete, no flush needed
q_open vs46w "$F/wt.qcow2" cache.direct=off cache.writeback=off
wc=$(cat "/sys/block/$(basename "$(readlink -f /dev/mapper/vs46w)")/queue/write_cache")
[ "$wc" = "write through" ] || fail "cache.writeback=off: the device says '$wc'"
wc=$(cat "/sys/block/$(basename "$(readlink -f /dev/mapper/vs46c)")/queue/write_cache")
[ "$wc" = "write back" ] || fail "cache.writeback=on: the device says '$wc'"
printf '0x57 %d %d\n' $M $M >"$D/w"
q_patterns vs46w write "$D/w"
dmsetup message "$LW" 0 mark wt

# the control: writeback on, no flush
q_open vs46b "$F/wb.qcow2" cache.direct=off
printf '0x43 %d %d\n' $M $M >"$D/c"
q_patterns vs46b write "$D/c"
dmsetup message "$LW" 0 mark wb

# cache.no-flush=on: the flush reaches nothing
q_open vs46n "$F/nf.qcow2" cache.direct=off cache.no-flush=on
printf '0x4e %d %d\n' $M $M >"$D/n"
q_patterns vs46n write "$D/n"
q_flush vs46n
dmsetup message "$LW" 0 mark nf

for n in vs46c vs46w vs46b vs46n; do
	q_close "$n"
done
umount "$F"
mnts=("${mnts[@]:1}")
dmsetup remove "$LW" || fail "cannot remove the log-writes device"

# --- replay to each mark ---------------------------------------------------------
cat >"$D/verify.py" <<'EOF'
import os, subprocess, sys
sys.path.insert(0, os.environ['VS_REPO'] + '/tests/tools')
from logreplay import Replayer, list_log, run

log, target, work, mnt = sys.argv[1:5]
E = list_log(log)
marks = {e[5]: e[0] for e in E if 'MARK' in e[2]}
# what must (True) or must not (False) read back at each mark:
# (image, byte, offset, length)
C = ('chain.qcow2', True)
checks = {
    'b1': [(C, 0x71, 0, 1 << 20), (C, 0x72, 3 << 20, 512 << 10),
           (C, 0x61, 1 << 20, 2 << 20)],
    'b2': [(C, 0x74, 0, 64 << 10), (C, 0x71, 64 << 10, 960 << 10),
           (C, 0x73, 8 << 20, 2 << 20), (C, 0x61, 10 << 20, 6 << 20)],
    'wt': [(('wt.qcow2', True), 0x57, 1 << 20, 1 << 20)],
    'wb': [(('wb.qcow2', False), 0x43, 1 << 20, 1 << 20)],
    'nf': [(('nf.qcow2', False), 0x4e, 1 << 20, 1 << 20)],
}
bad = 0
R = Replayer(log, target, E)
for name in ['created', 'b1', 'b2', 'wt', 'wb', 'nf']:
    if name not in marks:
        sys.exit('mark %s is not in the log' % name)
    R.replay(marks[name])
    # mounting recovers ext4's journal, as after a power cut; on a copy, so
    # that the replay goes on from the logged state
    if run(['cp', '--sparse=always', target, work]).returncode:
        sys.exit('cp failed')
    r = run(['mount', '-t', 'ext4', '-o', 'loop', work, mnt])
    if r.returncode:
        sys.exit('state %s: mount failed: %s' % (name, r.stdout))
    try:
        for img in ['chain.qcow2', 'wt.qcow2', 'wb.qcow2', 'nf.qcow2']:
            r = run(['qemu-img', 'check', os.path.join(mnt, img)])
            if r.returncode not in (0, 3):
                print('FAILED state %s: qemu-img check %s exit %d\n%s'
                      % (name, img, r.returncode, r.stdout))
                bad += 1
        for (img, want), byte, off, ln in checks.get(name, []):
            r = run(['qemu-io', '-r', '-U', '-c', 'read -P 0x%x %d %d'
                     % (byte, off, ln), os.path.join(mnt, img)])
            there = r.returncode == 0 and 'failed' not in r.stdout.lower()
            ok = there == want
            print('state %-7s %-11s 0x%02x at %8d+%-8d %s (%s)'
                  % (name, img, byte, off, ln,
                     'there' if there else 'not there', 'ok' if ok else 'WRONG'))
            bad += not ok
    finally:
        run(['umount', mnt])
sys.exit(1 if bad else 0)
EOF
mkdir "$D/mnt"
truncate -s 256M "$D/target.img"
VS_REPO=$VS_REPO python3 "$D/verify.py" "$logloop" "$D/target.img" "$D/work.img" "$D/mnt" ||
	fail "a replayed state is wrong (see above)"
echo "cache modes: ok"
