#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The test VM provides what Documentation/testing.rst promises: an ext4
# scratch file system with O_DIRECT, udev, /run/lock, the tools, device-mapper
# with working udev synchronisation, and the project's modules known to
# depmod.
# timeout: 120
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"

require_vm
require_root

# Environment.
[ "$(pwd)" = "$VS_REPO" ] || fail "cwd is $(pwd), not VS_REPO=$VS_REPO"
if [ ! -d "$VS_RESULTS" ] || [ ! -w "$VS_RESULTS" ]; then
	fail "VS_RESULTS=$VS_RESULTS is not a writable directory"
fi
case ":$PATH:" in
:"$VS_REPO/build/bin:"*) ;;
*) fail "PATH does not start with $VS_REPO/build/bin: $PATH" ;;
esac
[ -d "/lib/modules/$VS_KVER" ] || fail "no /lib/modules/$VS_KVER"
[ "$(uname -r)" = "$VS_KVER" ] || fail "running kernel $(uname -r), VS_KVER=$VS_KVER"
if [ "$(findmnt -n -o TARGET --target /tmp)" = /tmp ]; then
	fail "/tmp is a mount of its own: it hides the host's /tmp"
fi
info "environment ok"

# Scratch file system: ext4, O_DIRECT works.
[ "$(findmnt -n -o TARGET --target "$VS_SCRATCH")" = "$VS_SCRATCH" ] || fail "$VS_SCRATCH is not a mount point"
fstype=$(findmnt -n -o FSTYPE --target "$VS_SCRATCH")
[ "$fstype" = ext4 ] || fail "$VS_SCRATCH is $fstype, not ext4"
f=$VS_SCRATCH/selftest-odirect
dd if=/dev/urandom of="$f.src" bs=64k count=16 status=none
dd if="$f.src" of="$f" bs=64k oflag=direct status=none || fail "O_DIRECT write on $VS_SCRATCH failed"
dd if="$f" of="$f.back" bs=64k iflag=direct status=none || fail "O_DIRECT read on $VS_SCRATCH failed"
cmp -s "$f.src" "$f.back" || fail "O_DIRECT round trip on $VS_SCRATCH changed the data"
rm -f "$f" "$f.src" "$f.back"
info "scratch ext4 + O_DIRECT ok"

# Services and tools.
[ -d /run/lock ] || fail "/run/lock does not exist"
pgrep -x systemd-udevd >/dev/null || fail "systemd-udevd is not running"
timeout 10 udevadm control --ping || fail "systemd-udevd does not answer"
for t in qemu-img qemu-io qemu-nbd fio dmsetup losetup mkfs.ext4; do
	command -v "$t" >/dev/null || fail "$t is not on PATH"
done
info "udev, /run/lock, tools ok"

# device-mapper with udev synchronisation (SysV semaphores): create and
# remove a linear device over a loop device on the scratch fs.
modprobe dm-mod || fail "modprobe dm-mod failed"
wait_for_path /dev/mapper/control 10 -c || fail "no /dev/mapper/control"
img=$VS_SCRATCH/selftest-dm.img
name=vs-selftest-$$
loop=
cleanup() {
	dmsetup remove "$name" >/dev/null 2>&1 || true
	[ -z "$loop" ] || losetup -d "$loop" 2>/dev/null || true
	rm -f "$img"
}
trap cleanup EXIT
truncate -s 64M "$img"
loop=$(losetup -f --show --direct-io=on "$img") || fail "losetup failed"
sectors=$(blockdev --getsz "$loop")
timeout 60 dmsetup create "$name" --table "0 $sectors linear $loop 0" ||
	fail "dmsetup create failed or hung (exit $?)"
wait_for_path "/dev/mapper/$name" 10 -b || fail "/dev/mapper/$name did not appear"
[ -L "/dev/mapper/$name" ] || fail "/dev/mapper/$name is not udev's symlink (no udev sync?)"
dd if=/dev/zero of="/dev/mapper/$name" bs=64k count=4 oflag=direct status=none ||
	fail "I/O to /dev/mapper/$name failed"
timeout 60 dmsetup remove "$name" || fail "dmsetup remove failed or hung (exit $?)"
wait_for_gone "/dev/mapper/$name" 10 || fail "/dev/mapper/$name still there after remove"
cookies=$(dmsetup udevcookies | tail -n +2)
[ -z "$cookies" ] || fail "udev cookies left behind: $cookies"
losetup -d "$loop"
loop=
info "dmsetup create/remove with udev sync ok"

# The project's modules are installed and known to depmod.
moddir=/lib/modules/$VS_KVER/extra/vstorage
[ -d "$moddir" ] || fail "no $moddir"
mapfile -t kos < <(find "${VS_KODIR:-$VS_REPO/kernel}" -name '*.ko' -type f | sort)
for ko in "${kos[@]}"; do
	m=$(basename "$ko" .ko)
	[ -f "$moddir/$m.ko" ] || fail "$m.ko is not installed in $moddir"
	cmp -s "$ko" "$moddir/$m.ko" || fail "$moddir/$m.ko differs from $ko"
	file=$(modinfo -k "$VS_KVER" -F filename "$m") || fail "modinfo does not know $m"
	[ "$file" = "$moddir/$m.ko" ] || fail "modinfo $m gives $file, not $moddir/$m.ko"
	modprobe -n "$m" || fail "modprobe --dry-run $m failed"
done
if [ ${#kos[@]} -eq 0 ]; then
	info "note: no modules built under ${VS_KODIR:-$VS_REPO/kernel}, nothing to check in $moddir"
else
	info "${#kos[@]} module(s) installed and known to depmod"
fi
echo "harness selftest passed"
