#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A real guest on vhost-blk: QEMU (nested, TCG) with a vhost-user-blk-pci
# disk of two queues served by `vstoragectl export vhost-user` on a throttle
# node over a qcow2 node over a raw backing file. The guest's virtio-blk
# driver (two CPUs, two queues) reads data the host wrote and writes its own
# with a flush; the host sees exactly that data on the node. The throttle
# group limits reads only: the guest's direct writes (the control) must be
# at least twice as fast as the limit, its direct reads within it.
# timeout: 600
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
vs_begin
modprobe dm-vstorage-qcow2 || fail "cannot load dm-vstorage-qcow2.ko"
modprobe dm-vstorage-throttle || fail "cannot load dm-vstorage-throttle.ko"
require_cmd qemu-system-x86_64 qemu-img cpio
modprobe vhost || skip "no vhost.ko in this kernel"
top=$(cd "$(dirname "$0")/../.." && pwd)
# the guest boots the VM's kernel; the debug kernel has no image in /boot
# (and a KASAN guest under nested TCG would take most of an hour): then
# Debian's, whose initramfs an earlier VM run of tests/vm/run left
gkver=$VS_KVER
if [ ! -r "$top/build/vm/vmlinux-$gkver" ] && [ ! -r "/boot/vmlinuz-$gkver" ]; then
	gkver=$(find "$top/build/vm" -maxdepth 1 -name 'initramfs-*-amd64.cpio' -printf '%f\n' |
		sed 's/^initramfs-//; s/\.cpio$//' | sort -V | tail -n 1)
	[ -n "$gkver" ] || skip "no initramfs of Debian's kernel for the guest (run a case on it first)"
fi
kernel=$top/build/vm/vmlinux-$gkver
initrd=$top/build/vm/initramfs-$gkver.cpio
[ -r "$kernel" ] || kernel=/boot/vmlinuz-$gkver
[ -r "$initrd" ] || skip "no $initrd (tests/vm/run makes it)"

export_pid=
trap '[ -z "$export_pid" ] || kill "$export_pid" 2>/dev/null; vs_cleanup' EXIT

qemu-img create -q -f raw "$D/base.raw" 32M
qemu-io -f raw -c 'write -P 0x33 0 32M' "$D/base.raw" >/dev/null
qemu-img create -q -f qcow2 -b "$D/base.raw" -F raw "$D/top.qcow2" 32M
node_add qcow2 node-name=vg file="$D/top.qcow2"
wait_for_path /dev/vstorage/vg 10 -b || fail "no /dev/vstorage/vg"
# the host's data at 1 MiB, in the top image
head -c 65536 /dev/urandom >"$D/host.bin"
dd if="$D/host.bin" of=/dev/vstorage/vg bs=4096 seek=256 oflag=direct status=none
want=$(md5sum <"$D/host.bin" | cut -d' ' -f1)

# reads only: 128 KiB/s (the unlimited writes, about 2 MiB/s alone, must
# stay twice as fast with another VM on the CPUs: in a one-vCPU test VM
# they were 300 KB/s); the guest reads 2 MiB
limit=131072
tgroup_add gg bps-read=$limit
node_add throttle node-name=vgt file=vg throttle-group=gg
wait_for_path /dev/mapper/vgt 10 -b || fail "no /dev/mapper/vgt"

vstoragectl export vhost-user vgt socket="$D/vg.sock" num-queues=2 &
export_pid=$!
wait_for_path "$D/vg.sock" 10 -S || fail "the export did not create its socket"

# the guest's /init replaces the harness initramfs's
mkdir -p "$D/ovl"
cp "$top/tests/vhost/guest/init" "$D/ovl/init"
(cd "$D/ovl" && echo init | cpio -o -H newc -R 0:0 --quiet) >"$D/ovl.cpio"
cat "$initrd" "$D/ovl.cpio" >"$D/guest.cpio"

timeout 480 qemu-system-x86_64 -nodefaults -accel tcg -cpu max -smp 2 -m 256 \
	-object memory-backend-memfd,id=mem,size=256M,share=on -machine memory-backend=mem \
	-no-reboot -display none -serial "file:$D/guest.log" \
	-kernel "$kernel" -initrd "$D/guest.cpio" \
	-append "console=ttyS0 panic=-1 loglevel=4" \
	-chardev "socket,id=vu,path=$D/vg.sock" \
	-device vhost-user-blk-pci,chardev=vu,num-queues=2 ||
	{ tail -n 30 "$D/guest.log"; fail "the guest did not finish"; }
grep '^GUEST-' "$D/guest.log" || true
grep -q '^GUEST-DONE' "$D/guest.log" || fail "the guest did not run to the end"
grep -q "^GUEST-SIZE $((32 << 11))" "$D/guest.log" || fail "the guest sees the wrong size"
grep -q "^GUEST-READ $want" "$D/guest.log" || fail "the guest read other data than the host wrote"
grep -q '^GUEST-WROTE' "$D/guest.log" || fail "the guest's write failed"
grep -q '^GUEST-QUEUES 2[[:space:]]*$' "$D/guest.log" || fail "the guest's disk does not have two queues"
wcs=$(sed -n 's/^GUEST-WRITE-CS \([0-9]*\).*/\1/p' "$D/guest.log")
rcs=$(sed -n 's/^GUEST-READ-CS \([0-9]*\).*/\1/p' "$D/guest.log")
{ [ -n "$wcs" ] && [ -n "$rcs" ]; } || fail "the guest's timed direct I/O failed"
# bytes/s of 2 MiB in centiseconds (at least one)
wrate=$((2097152 * 100 / (wcs > 0 ? wcs : 1)))
rrate=$((2097152 * 100 / (rcs > 0 ? rcs : 1)))
info "guest: direct writes $wrate B/s (no limit), direct reads $rrate B/s (limit $limit)"
((wrate >= 2 * limit)) ||
	fail "the guest's unlimited writes ($wrate B/s) are too slow to tell the read limit ($limit B/s)"
# loose bounds under nested TCG: the bucket's burst is a tenth of a second
((rrate * 100 <= limit * 115 && rrate * 2 >= limit)) ||
	fail "the guest read at $rrate B/s through a throttle group limited to $limit B/s"
# udev's blkid probes vgt when the export closes it: not at 128 KiB/s
vstoragectl throttle-group set gg bps-read=0 || fail "lifting the limit"
kill -TERM "$export_pid"
wait "$export_pid" || fail "the export exited with an error"
export_pid=
udevadm settle
node_del vgt
got=$(dd if=/dev/vstorage/vg bs=4096 skip=2048 count=16 iflag=direct status=none | md5sum | cut -d' ' -f1)
[ "$got" = "$(yes GUESTDATA | head -c 65536 | md5sum | cut -d' ' -f1)" ] ||
	fail "the node does not hold what the guest wrote"
node_del vg
qemu-img check -q "$D/top.qcow2" || fail "qemu-img check finds top.qcow2 inconsistent"
echo "done"
