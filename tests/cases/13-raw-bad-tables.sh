#!/bin/bash
# Hostile table lines: each is refused, the kernel log names the problem,
# no device is left behind, no kernel warning.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../vstorage.sh"
vs_begin

img=$D/disk.img
truncate -s 8M "$img"
mkdir -p "$D/dir"
mkdir -p "$D/tmpfs" && mount -t tmpfs none "$D/tmpfs"
truncate -s 8M "$D/tmpfs/img"
sectors=$((8 << 11))

# LEN | PARAMS | expected kernel message (regex)
cases=(
	"$sectors||expected <node_name> <path>"
	"$sectors|bad0|expected <node_name> <path>"
	"$sectors|0bad $img|invalid node name"
	"$sectors|a\$b $img|invalid node name"
	"$sectors|abcdefghijabcdefghijabcdefghij012 $img|invalid node name"
	"$sectors|bad1 $D/missing|no such file or device"
	"$sectors|bad2 $D/dir|is a directory"
	"$sectors|bad3 relative/path|child path must be absolute"
	"$sectors|bad3b 999:999|cannot open block device"
	"$sectors|bad4 $img 1 bogus|unknown optional argument"
	"$sectors|bad5 $img 2 offset|invalid number of optional arguments|offset needs a value"
	"$sectors|bad6 $img 1 offset|offset needs a value"
	"$sectors|bad7 $img 2 offset x|offset needs a value"
	"$sectors|bad8 $img 2 offset -512|offset needs a value"
	"$sectors|bad9 $img 4 offset 0 offset 0|offset given more than once"
	"$sectors|bad10 $img 2 read-only read-only|read-only given more than once"
	"$sectors|bad11 $img 14 offset 0 size 1 read-only locking off x|invalid number of optional arguments"
	"$sectors|bad12 $img 9999999999|invalid number of optional arguments"
	"$sectors|bad13 $img 1|invalid number of optional arguments"
	"$sectors|bad14 $img 1 read-only extra|too many arguments"
	"$sectors|bad15 $img 2 offset 100|offset must be a multiple of 512"
	"$sectors|bad16 $img 2 size 0|size must be greater than zero"
	"$sectors|bad17 $img 2 size 4096|size does not match the target length"
	"$sectors|bad18 $img 2 offset $((8 << 20))|offset is beyond the end of the child"
	"$sectors|bad19 $img 2 offset 512|beyond the end of the child"
	"$((sectors + 8))|bad20 $img|beyond the end of the child"
	"$sectors|bad21 $D/tmpfs/img|does not support direct I/O"
	"$sectors|bad22 $img 2 offset 99999999999999999999999|offset needs a value"
	"$sectors|bad23 $img 1 locking|locking needs on or off"
	"$sectors|bad24 $img 2 locking maybe|locking needs on or off"
	"$sectors|bad25 $img 4 locking on locking off|locking given more than once"
)

for c in "${cases[@]}"; do
	IFS='|' read -r len params want want2 <<<"$c"
	tok=$(dmesg_mark bad-table)
	if printf '0 %s vstorage-raw %s\n' "$len" "$params" | dmsetup create vsbad >/dev/null 2>&1; then
		dmsetup remove vsbad
		fail "table accepted: $params"
	fi
	if dmsetup info vsbad >/dev/null 2>&1; then
		dmsetup remove vsbad >/dev/null 2>&1 || true
	fi
	re=$want
	[ -n "${want2:-}" ] && re="$want|$want2"
	kmsg_expect "$tok" "vstorage-raw: .*($re)"
	echo "refused: '$params' -> $(dmesg_since "$tok" | grep -o 'vstorage-raw: .*' | head -n 1)"
done

# a valid table for contrast, and `dmsetup table` round-trips it
printf '0 %s vstorage-raw good %s 5 offset 4096 size %s read-only\n' \
	$((sectors - 16)) "$img" $(((sectors - 16) * 512)) | dmsetup create --readonly vsgood
track_dm vsgood
got=$(dmsetup table vsgood | cut -d' ' -f3-)
[ "$got" = "vstorage-raw good $img 5 offset 4096 size $(((sectors - 16) * 512)) read-only" ] ||
	fail "dmsetup table does not round-trip: $got"
dmsetup status vsgood | grep -q "vstorage-raw good file " || fail "status line"

# the same node name on another device is refused
tok=$(dmesg_mark dup)
printf '0 8 vstorage-raw good %s\n' "$img" | dmsetup create vsdup 2>/dev/null &&
	{ dmsetup remove vsdup; fail "duplicate node name accepted"; }
kmsg_expect "$tok" "node name already in use"
dmsetup remove vsgood
umount "$D/tmpfs"
