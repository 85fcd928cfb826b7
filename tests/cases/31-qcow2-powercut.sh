#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# "Power cuts" without dm-log-writes: while qemu-io batches (writes, then a
# flush) and fio (--fsync=8) run, the device under the qcow2 node is
# switched at a random moment to dm-flakey drop_writes (writes vanish, as
# after a power loss) or to dm-error; five times on the same image. After
# each cut `qemu-img check` finds no corruption (exit 0 or 3), every batch
# whose flush returned before the cut reads back, and nothing else changed.
# See Documentation/crash-consistency.rst.
# timeout: 360
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
vs_begin
modprobe dm-vstorage-qcow2 || fail "cannot load dm-vstorage-qcow2.ko"
require_module dm-flakey
require_cmd qemu-img qemu-io fio python3

M=$((1 << 20))
VSIZE=$((64 * M))	# virtual disk
BSIZE=$((24 * M))	# backing file: [0, 24M)
WLO=0			# batches write in [WLO, WHI)
WHI=$((40 * M))
FLO=$((40 * M))		# fio writes in [FLO, FHI)
FHI=$((56 * M))
ROUNDS=${VS_POWERCUT_ROUNDS:-5}
PC=vs31pc		# the device that loses power
Q=vs31q			# the qcow2 node
seed=${VS_CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "seed $seed (set VS_CRASH_SEED=$seed to repeat the workload and cut times)"
RANDOM=$seed

writer_pid=
fio_pid=
cleanup31() {
	touch "$D/stop" 2>/dev/null || true
	[ -z "$writer_pid" ] || kill "$writer_pid" 2>/dev/null || true
	[ -z "$fio_pid" ] || kill "$fio_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	vs_cleanup
}
trap cleanup31 EXIT

# the image lives on a loop device (256 MiB, room to grow) over a file
img=$D/disk.img
truncate -s 256M "$img"
python3 - "$D/base.raw" "$BSIZE" <<'EOF'
import sys
with open(sys.argv[1], 'wb') as f:
    for i in range(int(sys.argv[2]) // 4096):
        f.write(bytes([0x80 | (i % 127)]) * 4096)
EOF
loop=$(loop_add "$img")
baseloop=$(losetup -r -f --show "$D/base.raw") || fail "losetup -r base.raw"
VS_CASE_LOOPS+=("$baseloop")
# 64 KiB clusters with 2 KiB subclusters
qemu-img create -q -f qcow2 -o cluster_size=65536,extended_l2=on \
	-b "$D/base.raw" -F raw "$loop" "$VSIZE" || fail "qemu-img create"
sz=$(blockdev --getsz "$loop")
track_dm "$Q"
track_dm "$PC"

qemu-img convert -f qcow2 -O raw "$img" "$D/base.view" || fail "qemu-img convert"

# writer ROUND: until $D/stop exists, batches of 1-6 writes (0.5-16 KiB,
# 512-aligned), write-zeroes and discards, each batch followed by a flush;
# "f" in the journal once the flush has returned.
writer() {
	local b=0 i n pos len pat args
	RANDOM=$((seed + $1))
	while [ ! -e "$D/stop" ]; do
		b=$((b + 1))
		args=()
		n=$((RANDOM % 6 + 1))
		for ((i = 0; i < n; i++)); do
			len=$(((RANDOM % 32 + 1) * 512))
			pos=$((WLO + (RANDOM * 32768 + RANDOM) % ((WHI - WLO - len) / 512) * 512))
			pat=$((RANDOM % 127 + 1))
			case $((RANDOM % 16)) in
			0)
				args+=(-c "write -z $pos $len")
				echo "w $pos $len 0" >>"$J"
				;;
			1)
				pos=$((pos / 65536 * 65536))
				len=$(((RANDOM % 4 + 1) * 65536))
				args+=(-c "discard $pos $len")
				echo "d $pos $len" >>"$J"
				;;
			*)
				args+=(-c "write -P $pat $pos $len")
				echo "w $pos $len $pat" >>"$J"
				;;
			esac
		done
		if qemu-io -f raw -t none -d unmap "${args[@]}" -c flush "$dev" \
			>"$D/qio.out" 2>&1 && ! grep -q -i -e error -e failed "$D/qio.out"; then
			echo "f $b" >>"$J"
		else
			echo "x $b" >>"$J"
		fi
	done
}

for ((round = 1; round <= ROUNDS; round++)); do
	J=$D/journal.$round
	: >"$J"
	rm -f "$D/stop"
	echo "0 $sz linear $loop 0" | dmsetup create "$PC" || fail "dmsetup create $PC"
	wait_for_path "/dev/mapper/$PC" 10 -b || fail "/dev/mapper/$PC did not appear"
	echo "0 $((VSIZE / 512)) vstorage-qcow2 $Q /dev/mapper/$PC 4 backing $baseloop discard unmap" |
		dmsetup create "$Q" || fail "round $round: the qcow2 node does not open the image"
	dev=/dev/mapper/$Q
	wait_for_path "$dev" 10 -b || fail "$dev did not appear"

	cut=$((RANDOM % 5000 + 4000))	# ms after the workload starts
	if ((round % 2)); then
		how="flakey drop_writes"
		table="0 $sz flakey $loop 0 0 1 1 drop_writes"
	else
		how="error"
		table="0 $sz error"
	fi
	fpat=$((0x40 + round))
	writer "$round" &
	writer_pid=$!
	fio --name=pc$round --filename="$dev" --rw=randwrite --bsrange=2k-64k \
		--offset=$FLO --size=$((FHI - FLO)) --ioengine=libaio --iodepth=4 \
		--direct=1 --fsync=8 --buffer_pattern="0x$(printf %02x "$fpat")" --scramble_buffers=0 \
		--time_based --runtime=$((cut / 1000 + 3)) --randseed=$((seed + round)) \
		--output="$D/fio.$round" >/dev/null 2>&1 &
	fio_pid=$!

	sleep "$((cut / 1000)).$(printf %03d $((cut % 1000)))"
	# the cut: whatever the journal says was flushed is now required
	cp "$J" "$J.cut"
	echo "$table" | dmsetup load "$PC" || fail "dmsetup load $PC"
	dmsetup suspend --nolockfs "$PC" || fail "dmsetup suspend $PC"
	dmsetup resume "$PC" || fail "dmsetup resume $PC"
	info "round $round: $how after $cut ms ($(grep -c '^f' "$J.cut") batches flushed)"

	sleep 1
	touch "$D/stop"
	wait "$writer_pid" || true
	writer_pid=
	wait "$fio_pid" || true
	fio_pid=
	dmsetup remove --retry "$Q" || fail "cannot remove the qcow2 node"
	dmsetup remove --retry "$PC" || fail "cannot remove $PC"

	# the image as the power cut left it
	rc=0
	qemu-img check "$img" >"$D/check.$round" 2>&1 || rc=$?
	if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
		cat "$D/check.$round"
		cp --sparse=always "$img" "${VS_RESULTS:-$D}/31-qcow2-powercut.round$round.img" || true
		fail "round $round ($how after $cut ms): qemu-img check exit $rc (image kept in results)"
	fi
	info "round $round: qemu-img check exit $rc$( ((rc == 3)) && echo " ($(grep -o '[0-9]* leaked clusters' "$D/check.$round"))")"
	qemu-img convert -f qcow2 -O raw "$img" "$D/view.$round" || fail "qemu-img convert"
	python3 - "$D/base.view" "$D/view.$round" "$J.cut" "$J" "$FLO" "$FHI" "$fpat" <<'EOF' ||
import sys
base, view, jcut, jall = sys.argv[1:5]
flo, fhi, fpat = map(int, sys.argv[5:8])
S = 512
exp = bytearray(open(base, 'rb').read())
data = open(view, 'rb').read()
if len(data) != len(exp):
    sys.exit('the image reads %d bytes, expected %d' % (len(data), len(exp)))

def ops(path):
    out = []
    for line in open(path):
        f = line.split()
        out.append((f[0], *map(int, f[1:])))
    return out

cut, full = ops(jcut), ops(jall)
last_f = max([i for i, o in enumerate(cut) if o[0] == 'f'], default=-1)
alt = {}
flux = {}
for i, o in enumerate(full):
    if o[0] not in 'wd':
        continue
    kind, pos, ln = o[0], o[1], o[2]
    v = o[3] if kind == 'w' else 0
    secs = range(pos // S, (pos + ln) // S)
    if i < last_f:                  # flushed before the cut: required
        if kind == 'w':
            exp[pos:pos + ln] = bytes([v]) * ln
            for s in secs:
                alt.pop(s, None)
                flux.pop(s, None)
        else:
            for s in secs:
                alt.setdefault(s, set()).add(0)
    else:                           # not flushed (or after the cut): either
        for s in secs:
            flux.setdefault(s, set()).add(v)
for s in range(flo // S, fhi // S):
    flux.setdefault(s, set()).add(fpat)

bad = []
for c in range(0, len(exp), 65536):
    if data[c:c + 65536] == exp[c:c + 65536]:
        continue
    for s in range(c // S, (c + 65536) // S):
        blk = data[s * S:(s + 1) * S]
        if blk == exp[s * S:(s + 1) * S]:
            continue
        v = blk[0]
        if blk == bytes([v]) * S and (v in alt.get(s, ()) or v in flux.get(s, ())):
            continue
        bad.append('guest sector %d (byte %d): reads %s, expected 0x%02x%s'
                   % (s, s * S, ('0x%02x' % v) if blk == bytes([v]) * S else 'mixed bytes',
                      exp[s * S], ' or one of %s' % sorted(alt.get(s, set()) | flux.get(s, set()))
                      if s in alt or s in flux else ''))
print('%d writes required (flushed before the cut), %d sectors in flux'
      % (sum(1 for o in cut[:max(last_f, 0)] if o[0] == 'w'), len(flux)))
if bad:
    print('\n'.join(bad[:20]))
    sys.exit('%d sectors hold data that must not be there (flushed data lost, or garbage)'
             % len(bad))
EOF
		{
			cp --sparse=always "$img" "${VS_RESULTS:-$D}/31-qcow2-powercut.round$round.img" || true
			fail "round $round ($how after $cut ms): the data check failed (image kept in results)"
		}
	# what this round left is the next round's starting point
	mv "$D/view.$round" "$D/base.view"
done
echo "$ROUNDS power cuts: no corruption, no flushed data lost"
