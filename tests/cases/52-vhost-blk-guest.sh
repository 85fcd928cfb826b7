#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A real guest on vhost-blk: QEMU (nested, TCG) with a vhost-user-blk-pci
# disk served by `vstoragectl export vhost-user` on a qcow2 node over a raw
# backing file. The guest's virtio-blk driver reads data the host wrote and
# writes its own with a flush; the host sees exactly that data on the node.
# timeout: 600
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
vs_begin
modprobe dm-vstorage-qcow2 || fail "cannot load dm-vstorage-qcow2.ko"
require_cmd qemu-system-x86_64 qemu-img cpio
modprobe vhost || skip "no vhost.ko in this kernel"
top=$(cd "$(dirname "$0")/../.." && pwd)
kernel=$top/build/vm/vmlinux-$VS_KVER
initrd=$top/build/vm/initramfs-$VS_KVER.cpio
[ -r "$kernel" ] || kernel=/boot/vmlinuz-$VS_KVER
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

vstoragectl export vhost-user vg socket="$D/vg.sock" &
export_pid=$!
wait_for_path "$D/vg.sock" 10 -S || fail "the export did not create its socket"

# the guest's /init replaces the harness initramfs's
mkdir -p "$D/ovl"
cp "$top/tests/vhost/guest/init" "$D/ovl/init"
(cd "$D/ovl" && echo init | cpio -o -H newc -R 0:0 --quiet) >"$D/ovl.cpio"
cat "$initrd" "$D/ovl.cpio" >"$D/guest.cpio"

timeout 480 qemu-system-x86_64 -nodefaults -accel tcg -cpu max -smp 1 -m 256 \
	-object memory-backend-memfd,id=mem,size=256M,share=on -machine memory-backend=mem \
	-no-reboot -display none -serial "file:$D/guest.log" \
	-kernel "$kernel" -initrd "$D/guest.cpio" \
	-append "console=ttyS0 panic=-1 loglevel=4" \
	-chardev "socket,id=vu,path=$D/vg.sock" \
	-device vhost-user-blk-pci,chardev=vu,num-queues=1 ||
	{ tail -n 30 "$D/guest.log"; fail "the guest did not finish"; }
grep '^GUEST-' "$D/guest.log" || true
grep -q '^GUEST-DONE' "$D/guest.log" || fail "the guest did not run to the end"
grep -q "^GUEST-SIZE $((32 << 11))" "$D/guest.log" || fail "the guest sees the wrong size"
grep -q "^GUEST-READ $want" "$D/guest.log" || fail "the guest read other data than the host wrote"
grep -q '^GUEST-WROTE' "$D/guest.log" || fail "the guest's write failed"
kill -TERM "$export_pid"
wait "$export_pid" || fail "the export exited with an error"
export_pid=
got=$(dd if=/dev/vstorage/vg bs=4096 skip=2048 count=16 iflag=direct status=none | md5sum | cut -d' ' -f1)
[ "$got" = "$(yes GUESTDATA | head -c 65536 | md5sum | cut -d' ' -f1)" ] ||
	fail "the node does not hold what the guest wrote"
node_del vg
qemu-img check -q "$D/top.qcow2" || fail "qemu-img check finds top.qcow2 inconsistent"
echo "done"
