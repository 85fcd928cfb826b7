#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# blkdiscard and `blkdiscard -z` (write zeroes) through vstorage-qcow2 with
# discard=unmap and discard=ignore, on images without and with a backing
# file (version 3, version 2, extended L2). Zeroed ranges read as zeroes,
# never as backing data; discarded ranges follow QEMU: with discard=ignore
# nothing changes, with discard=unmap they read as zeroes, except in a
# version 2 image with a backing file, where QEMU keeps the data (version 2
# has no zero flag, and unallocating would show the backing file's data). Afterwards `qemu-img check` is
# clean, QEMU reads what the device read, and `qemu-img map` shows the
# zeroed clusters of version 3 images as zero.
# timeout: 240
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
qcow2_begin
q_host || require_cmd blkdiscard

K=1024
M=$((1 << 20))
qemu-img create -q -f qcow2 "$D/base.qcow2" 16M
qio -c 'write -P 0x22 0 16M' "$D/base.qcow2"
oracle_raw "$D/base.qcow2" "$D/base.raw"

# zero ranges (any 512-aligned range) and discard ranges (whole clusters)
ZERO="$((3 * M)):$((256 * K)) $((5 * M + 4 * K)):$((8 * K)) $((7 * M + 60 * K)):$((136 * K)) $((10 * M + 512)):512"
DISCARD="$((1 * M)):$((1 * M)) $((12 * M)):$((64 * K))"

# zero_map_ok IMAGE OFF:LEN...: qemu-img map says zero for the whole
# clusters of each range (one python run: it is slow under TCG)
zero_map_ok() {
	local img=$1
	shift
	qemu-img map --output=json "$img" | python3 -c '
import json, sys
cs = 65536
m = json.load(sys.stdin)
for r in sys.argv[1:]:
    off, ln = map(int, r.split(":"))
    lo, hi = -(-off // cs) * cs, (off + ln) // cs * cs
    bad = [e for e in m if e["start"] < hi and e["start"] + e["length"] > lo and not e["zero"]]
    if hi > lo and bad:
        print(f"[{off}, +{ln}) not zero in qemu-img map:", bad)
        sys.exit(1)
' "$@"
}

# run NAME CREATE-OPTS DISCARD-MODE
run() {
	local name=$1 opts=$2 mode=$3 img r off len ok v3=1 backing=0
	img=$D/$name.qcow2
	# shellcheck disable=SC2086 # options are words
	qemu-img create -q -f qcow2 $opts "$img" 16M
	case $opts in *compat=0.10*) v3=0 ;; esac
	case $opts in *-b\ *) backing=1 ;; esac
	qio -c 'write -P 0x11 0 2M' -c 'write -P 0x12 3M 1M' -c 'write -c -P 0x13 5M 64k' \
		-c 'write -P 0x14 7M 1M' -c 'write -P 0x15 10M 64k' -c 'write -P 0x16 12M 64k' "$img"
	oracle_raw "$img" "$D/ref.raw"
	q_open "$name" "$img" discard="$mode"

	for r in $ZERO; do
		off=${r%:*} len=${r#*:}
		q_zero "$name" "$off" "$len" || fail "$name: blkdiscard -z $off+$len failed"
		dd if=/dev/zero of="$D/ref.raw" bs=512 oflag=seek_bytes seek="$off" \
			count=$((len / 512)) conv=notrunc status=none
	done
	for r in $DISCARD; do
		off=${r%:*} len=${r#*:}
		ok=1
		if [ "$mode" = ignore ] && q_host; then
			continue	# qemu-io cannot ignore discards
		fi
		q_discard "$name" "$off" "$len" || ok=0
		if [ "$mode" = ignore ]; then
			echo "$name: discard $off+$len with discard=ignore: $([ $ok = 1 ] && echo accepted || echo refused), data kept"
			continue
		fi
		[ $ok = 1 ] || fail "$name: blkdiscard $off+$len failed with discard=unmap"
		if [ $v3 = 0 ] && [ $backing = 1 ]; then
			# version 2 cannot say "zero" over a backing file: QEMU
			# keeps the data (unallocating would show the backing's)
			:
		else
			dd if=/dev/zero of="$D/ref.raw" bs=64k oflag=seek_bytes seek="$off" \
				count=$((len / 65536)) conv=notrunc status=none
		fi
	done
	q_flush "$name"
	q_read "$name" "$D/dev.raw" || fail "$name: read failed"
	same_raw "$D/dev.raw" "$D/ref.raw" "$name (discard=$mode) device after zero/discard vs expected"
	q_close "$name"
	img_check "$img"
	img_compare "$img" "$D/ref.raw"
	if [ $v3 = 1 ]; then
		if [ "$mode" = unmap ]; then
			# shellcheck disable=SC2086 # lists of OFF:LEN
			zero_map_ok "$img" $ZERO $DISCARD || fail "$name: qemu-img map: ranges not zero"
		else
			# shellcheck disable=SC2086
			zero_map_ok "$img" $ZERO || fail "$name: qemu-img map: zeroed ranges not zero"
		fi
		echo "$name: qemu-img map shows the zeroed clusters as zero"
	fi
	rm -f "$img" "$D/ref.raw" "$D/dev.raw"
}

run v3-unmap "" unmap
run v3-backing-unmap "-b base.qcow2 -F qcow2" unmap
run v2-backing-unmap "-o compat=0.10 -b base.qcow2 -F qcow2" unmap
run extl2-backing-unmap "-o extended_l2=on -b base.qcow2 -F qcow2" unmap
run v2-unmap "-o compat=0.10" unmap
run v3-backing-ignore "-b base.qcow2 -F qcow2" ignore
run v2-backing-ignore "-o compat=0.10 -b base.qcow2 -F qcow2" ignore

if ! q_host; then
	# the discards were counted
	qemu-img create -q -f qcow2 "$D/st.qcow2" 16M
	q_open st "$D/st.qcow2" discard=unmap
	q_zero st 0 $((1 * M))
	q_discard st $((1 * M)) $((1 * M))
	j=$(q_show st)
	[ "$(json_get "$j" "j['stats']['discard-ios'] > 0")" = True ] || fail "no discards counted: $j"
	[ "$(json_get "$j" "j['stats']['errors']")" = 0 ] || fail "errors counted: $j"
	q_close st
fi
echo "discard and write zeroes agree with QEMU"
