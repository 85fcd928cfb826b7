#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Faults from below: the storage under a qcow2 node fails. (1) The image's
# own device (qemu-img made the image on a dm device over a loop device)
# switched to dm-flakey error_writes, back, then to failing everything:
# reads, in-place and allocating writes and flushes fail with EIO, a read
# that succeeds returns the data, the node is removed while the device
# fails; once it works again, `qemu-img check` finds leaks at worst and
# every acknowledged range reads back (QEMU, a reopened node). (2) The
# device of the backing image fails: reads of what the overlay lacks and
# copy-on-write fail with EIO, the overlay's own data and writes that need
# no backing data still work, the overlay is intact. (3) ENOSPC on a 16 MiB
# ext4 holding a 64 MiB image. (4) Bad sectors (dm-dust, or error segments
# in a dm table) under a data cluster and under the L2 table. Every I/O has
# a deadline: a hang fails the case.
# timeout: 300
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
q_host && skip "needs the kernel (device-mapper fault targets)"
qcow2_begin
require_module dm-flakey
require_cmd dmsetup losetup mkfs.ext4 blockdev
# dm-dust (CONFIG_DM_DUST; Debian's 6.1 kernel lacks it): built in, loaded
# or loadable
DUST=0
modprobe dm-dust >/dev/null 2>&1 || true
t=$(dmsetup targets) || fail "dmsetup targets"
[[ $'\n'$t == *$'\n'"dust "* ]] && DUST=1

K=1024
M=$((1 << 20))

LOWER=()		# dm devices under the images, removed after the nodes
declare -A LOOP_OF=()	# lower dm device -> its loop device
declare -A SZ_OF=()	# lower dm device -> its size in sectors
MNT=
cleanup41() {
	local i n
	# the nodes hold the devices below them: nodes, automatic backing
	# nodes, then the lower devices, the mount, the loops
	for ((i = ${#VS_CASE_NODES[@]} - 1; i >= 0; i--)); do
		dmsetup remove --retry "${VS_CASE_NODES[i]}" >/dev/null 2>&1 || true
	done
	VS_CASE_NODES=()
	for _ in 1 2 3 4; do
		n=$(q_auto_nodes)
		[ -n "$n" ] || break
		for n in $n; do
			dmsetup remove "$n" >/dev/null 2>&1 || true
		done
	done
	for ((i = ${#LOWER[@]} - 1; i >= 0; i--)); do
		dmsetup remove --retry "${LOWER[i]}" >/dev/null 2>&1 || true
	done
	[ -z "$MNT" ] || umount "$MNT" 2>/dev/null || true
	qcow2_cleanup
}
trap cleanup41 EXIT

# --- I/O with a deadline ----------------------------------------------------

mkfifo "$D/.done"
exec {BFD}<>"$D/.done"

# bounded SEC ERRFILE CMD...: run CMD under `timeout SEC`, its stderr to
# ERRFILE, and return its status. If it has not ended 15 s after that (a
# task stuck in the kernel ignores the kill), the blocked tasks go to the
# kernel log and the case fails.
bounded() {
	local sec=$1 err=$2 st pid
	shift 2
	(
		rc=0
		timeout -k 5 "$sec" "$@" 2>"$err" || rc=$?
		echo "$rc" >&"$BFD"
	) &
	pid=$!
	if ! read -r -t $((sec + 15)) -u "$BFD" st; then
		echo w >/proc/sysrq-trigger 2>/dev/null || true
		fail "hung (no end after $((sec + 15)) s; blocked tasks in the kernel log): $*"
	fi
	wait "$pid" 2>/dev/null || true
	case $st in 124 | 137) fail "timed out after $sec s: $*" ;; esac
	return "$st"
}

# io NAME r OFFSET LENGTH: one O_DIRECT read of the node into $D/got
# io NAME w OFFSET LENGTH BYTE: one O_DIRECT write of the pattern BYTE
# io NAME f: a flush (fsync of the device)
# Returns the status; IOERR is the tool's message.
io() {
	local dev=/dev/mapper/$1 rc=0
	case $2 in
	r)
		bounded 60 "$D/io.err" dd if="$dev" of="$D/got" bs="$4" count=1 \
			iflag=direct,skip_bytes skip="$3" status=none || rc=$?
		;;
	w)
		mkpat "$D/pat" "$5" "$4"
		bounded 60 "$D/io.err" dd if="$D/pat" of="$dev" bs="$4" count=1 \
			oflag=direct,seek_bytes seek="$3" conv=notrunc status=none || rc=$?
		;;
	f)
		bounded 60 "$D/io.err" sync "$dev" || rc=$?
		;;
	esac
	IOERR=
	IFS= read -r -d '' IOERR <"$D/io.err" || true
	IOERR=${IOERR%$'\n'}
	return "$rc"
}

# mkpat FILE BYTE LENGTH: like pattern (LENGTH a multiple of 512, BYTE not
# 0), with builtins only: processes are expensive under TCG
mkpat() {
	local h s i n=9 bs=512 LC_ALL=C
	printf -v h '%02x' "$2"
	printf -v s '%b' "\\x$h"
	((($3 % 65536) != 0)) || { n=16; bs=65536; }
	for ((i = 0; i < n; i++)); do
		s+=$s
	done
	{
		for ((i = 0; i < $3 / bs; i++)); do
			printf '%s' "$s"
		done
	} >"$1"
}

# The expected contents of the current node: REF (a raw file), and ALT, the
# failed writes "OFFSET:LENGTH:BYTE": each 512-byte sector they touched may
# read as REF (old) or as BYTE (new), nothing else.
REF=
ALT=()

# same_as_ref FILE OFFSET LENGTH WHAT: FILE has LENGTH bytes, equal to REF's
# at OFFSET (ALT allowed)
same_as_ref() {
	cmp -s -n "$3" "$1" "$REF" 0 "$2" && return 0
	python3 - "$1" "$REF" "$2" "$3" "${ALT[@]}" <<'PY' || fail "$4: wrong data (above)"
import sys
got = open(sys.argv[1], 'rb').read()
base, length = int(sys.argv[3]), int(sys.argv[4])
with open(sys.argv[2], 'rb') as f:
    f.seek(base)
    exp = f.read(length)
if len(got) != length or len(exp) != length:
    print(f'read {len(got)} bytes at {base}, want {length} (reference: {len(exp)})',
          file=sys.stderr)
    sys.exit(1)
alt = {}
for a in sys.argv[5:]:
    off, ln, b = (int(x, 0) for x in a.split(':'))
    for s in range(off // 512, (off + ln + 511) // 512):
        alt.setdefault(s, set()).add(bytes([b]) * 512)
bad = 0
for i in range(0, len(exp), 512):
    g, e = got[i:i + 512], exp[i:i + 512]
    if g == e or g in alt.get((base + i) // 512, ()):
        continue
    if bad < 8:
        print(f'sector at {base + i}: {g[:8].hex()}..., want {e[:8].hex()}...', file=sys.stderr)
    bad += 1
if bad:
    print(f'{bad} wrong sectors of {len(exp) // 512} from {base}', file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

# ack NAME OFFSET LENGTH BYTE: a write that must succeed; into REF too
ack() {
	local a o l keep=()
	io "$1" w "$2" "$3" "$4" || fail "write of $3 bytes of $4 at $2 to $1 failed: $IOERR"
	dd if="$D/pat" of="$REF" bs=64k oflag=seek_bytes seek="$2" conv=notrunc status=none
	# failed writes it covers no longer matter
	for a in "${ALT[@]}"; do
		IFS=: read -r o l _ <<<"$a"
		((o >= $2 && o + l <= $2 + $3)) || keep+=("$a")
	done
	ALT=("${keep[@]}")
}

# want_data WHAT NAME OFFSET LENGTH: the read succeeds and returns REF
want_data() {
	io "$2" r "$3" "$4" || fail "$1: read of $4 bytes at $3 failed: $IOERR"
	same_as_ref "$D/got" "$3" "$4" "$1"
	echo "ok: $1"
}

# want_err MSG WHAT NAME OP ARGS...: the I/O fails with strerror MSG; a
# failed write joins ALT
want_err() {
	local msg=$1 what=$2 rc=0
	shift 2
	io "$@" || rc=$?
	[ "$rc" -ne 0 ] || fail "$what: succeeded, but the storage below fails it ($msg)"
	[[ $IOERR == *"$msg"* ]] || fail "$what: failed (exit $rc), but not with '$msg': $IOERR"
	[ "$2" != w ] || ALT+=("$3:$4:$5")
	echo "$msg, as expected: $what"
}
want_eio() {
	want_err "Input/output error" "$@"
}

# want_data_or_eio WHAT NAME OFFSET LENGTH: EIO, or REF
want_data_or_eio() {
	if io "$2" r "$3" "$4"; then
		same_as_ref "$D/got" "$3" "$4" "$1"
		echo "ok (served without the device): $1"
	else
		[[ $IOERR == *"Input/output error"* ]] || fail "$1: failed, but not with EIO: $IOERR"
		echo "Input/output error, as expected: $1"
	fi
}

want_flush() {
	io "$1" f || fail "flush of $1 failed: $IOERR"
}

# node_errors NAME: the node's error count; node_clean NAME WHAT [BEFORE]:
# the node did not mark its image corrupt (and counts more errors than BEFORE)
node_errors() {
	local f
	read -r -a f <<<"$(dmsetup status "$1")"
	echo "${f[15]}"
}
node_clean() {
	local f
	read -r -a f <<<"$(dmsetup status "$1")"
	info "status of $1 ($2): ${f[*]}"
	[ "${f[6]}" = clean ] || fail "$2: the node marked its image corrupt: ${f[*]}"
	[ -z "${3:-}" ] || [ "${f[15]}" -gt "$3" ] ||
		fail "$2: the failed requests were not counted as errors: ${f[*]}"
}

# del_node NAME: vstoragectl node del, with a deadline
del_node() {
	bounded 120 "$D/del.err" vstoragectl node del "$1" ||
		fail "node del $1 failed: $(<"$D/del.err")"
	local i
	for i in "${!VS_CASE_NODES[@]}"; do
		[ "${VS_CASE_NODES[i]}" = "$1" ] && unset 'VS_CASE_NODES[i]'
	done
	VS_CASE_NODES=("${VS_CASE_NODES[@]}")
	wait_for_gone "/dev/mapper/$1" 10 || fail "/dev/mapper/$1 still there after node del"
	echo "node $1 removed"
}

# --- the devices below ------------------------------------------------------

# new_loop FILE: LOOP = a new loop device over FILE (direct I/O), detached
# at exit (loop_add records it for the cleanup, which a $(...) would lose)
new_loop() {
	loop_add "$1" >"$D/.loop"
	LOOP=$(<"$D/.loop")
}

# lower_new NAME FILE: a loop device over FILE and dm device NAME (linear)
lower_new() {
	local loop
	new_loop "$2"
	loop=$LOOP
	LOOP_OF[$1]=$loop
	SZ_OF[$1]=$(blockdev --getsz "$loop")
	echo "0 ${SZ_OF[$1]} linear $loop 0" | dmsetup create "$1" ||
		fail "dmsetup create $1"
	LOWER+=("$1")
	wait_for_path "/dev/mapper/$1" 10 -b || fail "/dev/mapper/$1 did not appear"
}

# lower_table NAME TABLE: load TABLE into NAME and switch to it
lower_table() {
	printf '%s\n' "$2" | dmsetup load "$1" || fail "dmsetup load $1: $2"
	# resume suspends first; nothing waits for udev's look at the device
	bounded 60 "$D/dm.err" dmsetup resume --nolockfs --noudevsync "$1" ||
		fail "dmsetup resume $1: $(<"$D/dm.err")"
}

# lower_set NAME ok|wfail|fail|dust: linear; dm-flakey failing the writes
# (reads work); dm-flakey failing everything; dm-dust (bypassing until told)
lower_set() {
	local loop=${LOOP_OF[$1]} sz=${SZ_OF[$1]} t
	case $2 in
	ok) t="0 $sz linear $loop 0" ;;
	wfail) t="0 $sz flakey $loop 0 0 1 1 error_writes" ;;
	fail) t="0 $sz flakey $loop 0 0 1" ;;
	dust) t="0 $sz dust $loop 0 512" ;;
	esac
	lower_table "$1" "$t"
	info "$1 is now: $2"
}

# bad_on NAME SECTOR COUNT: these sectors of NAME fail (reads; with the
# error segments writes too); bad_off NAME: they work again
bad_on() {
	local loop=${LOOP_OF[$1]} sz=${SZ_OF[$1]} s
	if [ "$DUST" = 1 ]; then
		for ((s = $2; s < $2 + $3; s++)); do
			dmsetup message "$1" 0 addbadblock "$s" || fail "dust: addbadblock $s"
		done
		dmsetup message "$1" 0 enable || fail "dust: enable"
	else
		local t="$2 $3 error
$(($2 + $3)) $((sz - $2 - $3)) linear $loop $(($2 + $3))"
		[ "$2" -eq 0 ] || t="0 $2 linear $loop 0
$t"
		lower_table "$1" "$t"
	fi
	info "$1: sectors $2+$3 are bad"
}
bad_off() {
	if [ "$DUST" = 1 ]; then
		dmsetup message "$1" 0 disable || fail "dust: disable"
		dmsetup message "$1" 0 clearbadblocks >/dev/null || fail "dust: clearbadblocks"
	else
		lower_set "$1" ok
	fi
	info "$1: no bad sectors"
}

# img_sound IMAGE WHAT: QEMU finds no corruption (exit 0, or 3: leaks only),
# the image is not marked corrupt, and it reads as REF (ALT allowed)
img_sound() {
	local img=$1 rc=0
	[ -b "$img" ] && blockdev --flushbufs "$img"
	qemu-img check "$img" >"$D/check.out" 2>&1 || rc=$?
	case $rc in
	0) echo "qemu-img check ($2): clean" ;;
	3) echo "qemu-img check ($2): leaked clusters only (allowed)" ;;
	*) cat "$D/check.out" >&2; fail "qemu-img check ($2): exit $rc" ;;
	esac
	# incompatible feature bit 1, the corrupt bit (version 3)
	((($(od -An -t u1 -j 79 -N 1 "$img") & 2) == 0)) || fail "$2: the image is marked corrupt"
	oracle_raw "$img" "$D/qemu.raw"
	same_as_ref "$D/qemu.raw" 0 "$(stat -c %s "$REF")" "$2: QEMU's view"
	rm -f "$D/qemu.raw"
	echo "ok: $2: QEMU reads every acknowledged range"
}

# ref_put OFFSET LENGTH BYTE: REF holds these bytes (data written by QEMU)
ref_put() {
	mkpat "$D/p" "$3" "$2"
	dd if="$D/p" of="$REF" bs=64k oflag=seek_bytes seek="$1" conv=notrunc status=none
}

# new_ref SIZE: a fresh REF of SIZE zeroes, no failed writes yet
new_ref() {
	REF=$D/ref.raw
	rm -f "$REF"
	truncate -s "$1" "$REF"
	ALT=()
}

# === 1. the image's own device fails =========================================
info "[${SECONDS}s] 1: the image's device fails"
# the part of the device where clusters are allocated holds 0xee, so that a
# cluster linked without its data reads as neither old nor new data
mkpat "$D/s1.raw" 0xee $((6 * M))
truncate -s 16M "$D/s1.raw"
lower_new vs41lo "$D/s1.raw"
lo=/dev/mapper/vs41lo
qemu-img create -q -f qcow2 "$lo" 8M || fail "qemu-img create on $lo"
qio -f qcow2 -t none -c "write -P 0xa1 0 1M" -c "write -P 0xa2 4M 64k" "$lo"
blockdev --flushbufs "$lo"
new_ref 8M
ref_put 0 $M 0xa1
ref_put $((4 * M)) $((64 * K)) 0xa2

q_open vs41q "$lo"
ack vs41q $((2 * M)) $M 0xb1			# allocating, whole clusters
ack vs41q $((4 * M + 4 * K)) $((4 * K)) 0xb2	# in place, over qemu-io's data
ack vs41q $((6 * M + 512)) $K 0xb3		# allocating, part of a cluster
want_flush vs41q
want_data "1: the whole disk, before any fault" vs41q 0 $((8 * M))

# A: writes fail, reads work
e0=$(node_errors vs41q)
lower_set vs41lo wfail
want_data "1A: read of acknowledged data while writes fail" vs41q $((2 * M)) $M
want_eio "1A: in-place write" vs41q w $((2 * M + 64 * K)) $((4 * K)) 0xc1
want_eio "1A: allocating write of a whole cluster" vs41q w $((5 * M)) $((64 * K)) 0xc2
want_eio "1A: allocating write of part of a cluster" vs41q w $((5 * M + 256 * K + 4 * K)) \
	$((4 * K)) 0xc3
want_eio "1A: flush after failed writes" vs41q f
want_data "1A: read where the writes failed" vs41q $((2 * M)) $((4 * M))
node_clean vs41q "1A" "$e0"

# the device works again: so does the node
lower_set vs41lo ok
want_data "1: the whole disk once the device works again" vs41q 0 $((8 * M))
ack vs41q $((7 * M)) $((64 * K)) 0xb4
ack vs41q $((2 * M + 64 * K)) $((4 * K)) 0xb5
want_flush vs41q
want_data "1: writes after the device recovered" vs41q 0 $((8 * M))

# B: everything fails
e0=$(node_errors vs41q)
lower_set vs41lo fail
want_eio "1B: read of data written through the node" vs41q r $((2 * M)) $M
want_eio "1B: read of data written by qemu-io" vs41q r $((4 * M)) $((64 * K))
want_data_or_eio "1B: read of an unallocated range" vs41q $((7 * M + 512 * K)) $((64 * K))
want_eio "1B: in-place write" vs41q w 0 $((4 * K)) 0xc4
want_eio "1B: allocating write" vs41q w $((3 * M + 512 * K)) $((64 * K)) 0xc5
want_eio "1B: flush" vs41q f
node_clean vs41q "1B" "$e0"
del_node vs41q

lower_set vs41lo ok
img_sound "$lo" "1: the image after the faults"
q_open vs41r "$lo"
want_data "1: the whole disk through a reopened node" vs41r 0 $((8 * M))
ack vs41r $((6 * M + 512 * K)) $((64 * K)) 0xb6
want_flush vs41r
q_close vs41r
img_sound "$lo" "1: the image after reopening"
info "[${SECONDS}s] 1 done"

# === 2. the backing image's device fails ====================================
info "[${SECONDS}s] 2: the backing image's device fails"
truncate -s 8M "$D/s2.raw"
lower_new vs41blo "$D/s2.raw"
blo=/dev/mapper/vs41blo
qemu-img create -q -f qcow2 "$blo" 4M || fail "qemu-img create on $blo"
qio -f qcow2 -t none -c "write -P 0x51 0 4M" "$blo"
blockdev --flushbufs "$blo"
qemu-img create -q -f qcow2 -b "$blo" -F qcow2 "$D/ov.qcow2" 8M
qio -c "write -P 0x61 1M 64k" "$D/ov.qcow2"
new_ref 8M
ref_put 0 $((4 * M)) 0x51
ref_put $M $((64 * K)) 0x61

q_open vs41ov "$D/ov.qcow2"
[ -b /dev/mapper/vs41ov-b1 ] || fail "no automatic backing node vs41ov-b1: $(q_auto_nodes)"
want_data "2: the whole disk, before any fault" vs41ov 0 $((8 * M))
ack vs41ov $((2 * M + 4 * K)) $((4 * K)) 0x62	# copy-on-write
want_flush vs41ov
e0=$(node_errors vs41ov)

lower_set vs41blo fail
want_eio "2: read of a range only the backing image has" vs41ov r 0 $((64 * K))
want_eio "2: read from overlay data into backing data" vs41ov r $M $((128 * K))
want_data "2: read of the overlay's data" vs41ov $M $((64 * K))
want_data "2: read of the copied-on-write cluster" vs41ov $((2 * M)) $((64 * K))
want_data "2: read past the backing image's end" vs41ov $((6 * M)) $((64 * K))
want_eio "2: copy-on-write write" vs41ov w $((3 * M + 4 * K)) $((4 * K)) 0x63
want_eio "2: read where the copy-on-write failed" vs41ov r $((3 * M)) $((64 * K))
ack vs41ov $((M + 4 * K)) $((4 * K)) 0x64		# in place in the overlay
ack vs41ov $((5 * M)) $((64 * K)) 0x65		# allocating, past the backing's end
want_flush vs41ov
want_data "2: the overlay's writes while the backing device fails" vs41ov $M $((64 * K))
node_clean vs41ov "2" "$e0"
del_node vs41ov
wait_for_gone /dev/mapper/vs41ov-b1 10 || fail "node del left the backing node vs41ov-b1"

lower_set vs41blo ok
blockdev --flushbufs "$blo"
img_check "$blo"
img_sound "$D/ov.qcow2" "2: the overlay after the faults"
info "[${SECONDS}s] 2 done"

# === 3. ENOSPC on the file system holding the image ==========================
info "[${SECONDS}s] 3: the image's file system fills up"
truncate -s 16M "$D/fs.raw"
new_loop "$D/fs.raw"
fsloop=$LOOP
mkfs.ext4 -q -F -b 4096 "$fsloop" || fail "mkfs.ext4 $fsloop"
mkdir -p "$D/mnt"
mount "$fsloop" "$D/mnt" || fail "mount $fsloop"
MNT=$D/mnt
qemu-img create -q -f qcow2 "$MNT/e.qcow2" 64M
new_ref 64M
q_open vs41e "$MNT/e.qcow2"
e0=$(node_errors vs41e)
k=
for ((i = 0; i < 48; i++)); do
	if ! io vs41e w $((i * M)) $M $((0x10 + i)); then
		k=$i
		break
	fi
	dd if="$D/pat" of="$REF" bs=1M seek="$i" conv=notrunc status=none
done
[ -n "$k" ] || fail "48 MiB of data fit on a 16 MiB file system"
info "the write at $k MiB failed: $IOERR ($(df -k "$MNT" | tail -n 1))"
[[ $IOERR == *"No space left on device"* ]] || fail "the write at $k MiB failed without ENOSPC: $IOERR"
[ "$k" -ge 6 ] || fail "only $k MiB fit on a 16 MiB file system"
ALT+=("$((k * M)):$M:$((0x10 + k))")
want_err "No space left on device" "3: another allocating write" vs41e w $((60 * M)) $((64 * K)) 0x70
want_err "No space left on device" "3: an allocating write of one sector" vs41e w $((62 * M + 512)) 512 0x71
want_flush vs41e
want_data "3: everything written before the file system filled up" vs41e 0 $(((k + 1) * M))
ack vs41e $((4 * K)) $((4 * K)) 0x72		# in place
want_flush vs41e
want_data "3: an in-place write on the full file system" vs41e 0 $((64 * K))
node_clean vs41e "3" "$e0"
del_node vs41e
img_sound "$MNT/e.qcow2" "3: the image after ENOSPC"
umount "$MNT" || fail "umount $MNT"
MNT=
info "[${SECONDS}s] 3 done"

# === 4. bad sectors ===========================================================
if [ "$DUST" = 1 ]; then
	info "[${SECONDS}s] 4: bad sectors (dm-dust)"
else
	info "[${SECONDS}s] 4: bad sectors (no dm-dust in this kernel: error segments in a dm table)"
fi
# 4 KiB clusters: an L2 table maps 2 MiB, so the second one lies beyond the
# first 2 MiB of the image (older versions read all of those at open)
truncate -s 8M "$D/s4.raw"
lower_new vs41bd "$D/s4.raw"
[ "$DUST" = 0 ] || lower_set vs41bd dust
bd=/dev/mapper/vs41bd
qemu-img create -q -f qcow2 -o cluster_size=4k "$bd" 4M || fail "qemu-img create on $bd"
qio -f qcow2 -t none -c "write -P 0x41 0 2M" -c "write -P 0x42 3M 1M" "$bd"
blockdev --flushbufs "$bd"
l1=$(be64 "$bd" 40)
l2a=$(($(be64 "$bd" "$l1") & 0x00fffffffffffe00))
l2b=$(($(be64 "$bd" $((l1 + 8))) & 0x00fffffffffffe00))
host0=$(($(be64 "$bd" "$l2a") & 0x00fffffffffffe00))
info "guest cluster 0 at $host0, the L2 table of [2M, 4M) at $l2b"
[ "$l2b" -ge $((2 * M)) ] || fail "test setup: the second L2 table is at $l2b, within the first 2 MiB"
new_ref 4M
ref_put 0 $((2 * M)) 0x41
ref_put $((3 * M)) $M 0x42

# A: 1 KiB of guest cluster 0
q_open vs41d "$bd"
bad_on vs41bd $(((host0 + K) / 512)) 2
want_data "4A: read beside the bad sectors" vs41d 0 $K
want_eio "4A: read of the bad sectors" vs41d r $K $K
want_eio "4A: read across the bad sectors" vs41d r 0 $((64 * K))
want_data "4A: the next clusters" vs41d $((4 * K)) $((M - 4 * K))
want_data "4A: another L2 table's data" vs41d $((3 * M)) $M
bad_off vs41bd
want_data "4A: after the bad sectors are gone" vs41d 0 $((4 * M))
q_close vs41d

# B: the second L2 table
bad_on vs41bd $((l2b / 512)) 8
q_open vs41d2 "$bd"
e0=$(node_errors vs41d2)
want_eio "4B: read through an unreadable L2 table" vs41d2 r $((3 * M)) $((64 * K))
want_data "4B: read through the other L2 table" vs41d2 0 $M
want_eio "4B: allocating write through an unreadable L2 table" vs41d2 w $((2 * M + 512 * K)) $((4 * K)) 0x43
want_eio "4B: the same read again" vs41d2 r $((3 * M)) $((64 * K))
node_clean vs41d2 "4B" "$e0"
bad_off vs41bd
want_data "4B: the whole disk once the L2 table reads again" vs41d2 0 $((4 * M))
q_close vs41d2

# C: the node reads only the header cluster when it opens the image: a bad
# data sector right after it does not stop the open; a bad header refuses
# the open with one clear error and leaves nothing behind
bad_on vs41bd $(((host0 + K) / 512)) 2
q_open vs41d3 "$bd"
want_data "4C: opened with a bad sector in the first data cluster" vs41d3 $((4 * K)) $((M - 4 * K))
want_eio "4C: read of the bad sectors" vs41d3 r $K $K
q_close vs41d3
bad_off vs41bd
bad_on vs41bd 0 1
VS_CASE_NODES+=(vs41d4)
expect_error "read|input/output" node add qcow2 node-name=vs41d4 file="$bd"
! dmsetup info vs41d4 >/dev/null 2>&1 || fail "4C: the failed add left vs41d4 behind"
bad_off vs41bd
img_sound "$bd" "4: the image after bad sectors"
info "[${SECONDS}s] 4 done"

echo "faults from below: EIO and ENOSPC reported, no wrong data, images sound"
