#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Concurrent allocating writes. 32 threads write distinct 4 KiB blocks of
# the same few clusters at once (O_DIRECT, in a shuffled order), so that
# allocations of one guest cluster race with each other, with copy-on-write
# from a backing image, with subcluster allocation (extended L2) and with
# in-place writes to what another thread just allocated; a second pass
# rewrites every block while flushes run beside it and the next 4 MiB, all
# written in the first pass, is zeroed (BLKZEROOUT: write-zeroes, which
# waits for the allocations in flight) piece by piece. Afterwards the device
# and QEMU (qemu-img check, qemu-img compare against a raw reference) must
# both hold every block's last data, and the backing image's data where no
# block was written. The image file is grown ahead while the node is open
# and trimmed back to its last cluster when it closes. Last, table reloads
# and `node resize` (which moves the L1 table) while writes and discards
# run: each old instance must leave everything on disk (deferred refcount
# decrements too) before the new one reads the image, and never write it
# afterwards; qemu-img check must find not even a leak, and fio's data must
# verify. And with extended L2 and discard=unmap: random writes, random
# discards (which leave clusters with both allocated and zero subclusters,
# so one write is part in place, part allocation) and writes each followed
# by an fsync, at once on one range, must all end (a flush once waited for
# a write that waited for the flushing worker: a hang).
# timeout: 300
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
q_host && skip "concurrency needs the kernel target"
qcow2_begin

M=$((1 << 20))
AREA=$((4 * M))		# 64 clusters of 64 KiB: 16 blocks each

# hammer DEV REF SEED: every other 4 KiB block of the area (the rest keeps
# what it had), by 32 threads at once, twice (the second pass in place,
# with fsyncs beside it); the same data goes to REF.
hammer() {
	python3 - "$1" "$2" "$3" "$AREA" <<'PY'
import fcntl, mmap, os, random, struct, sys, threading
dev, ref, seed, area = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
BS = 4096
blocks = list(range(0, area // BS, 2))
# the next area: written whole first, then zeroed while the first is hammered
zone = list(range(area // BS, 2 * area // BS))
BLKZEROOUT = 0x127F
rnd = random.Random(seed)
fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
rfd = os.open(ref, os.O_RDWR)
errors = []

def data(block, gen):
    b = bytes([(block * 7 + gen * 13 + seed) % 251 + 1]) * BS
    buf = mmap.mmap(-1, BS)
    buf.write(b)
    return buf, b

def run(part, gen):
    try:
        for block in part:
            buf, b = data(block, gen)
            if os.pwritev(fd, [buf], block * BS) != BS:
                raise OSError("short write")
            os.pwrite(rfd, b, block * BS)
    except OSError as e:
        errors.append("block write: %s" % e)

def flusher(stop):
    while not stop.is_set():
        os.fsync(fd)

def zeroer():
    chunks = list(range(area, 2 * area, 128 * 1024))
    rnd.shuffle(chunks)
    try:
        for c in chunks:
            fcntl.ioctl(fd, BLKZEROOUT, struct.pack("QQ", c, 128 * 1024))
            os.pwrite(rfd, bytes(128 * 1024), c)
    except OSError as e:
        errors.append("zeroout: %s" % e)

for gen in (1, 2):
    todo = blocks + zone if gen == 1 else blocks[:]
    rnd.shuffle(todo)
    parts = [todo[i::32] for i in range(32)]
    stop = threading.Event()
    f = threading.Thread(target=flusher, args=(stop,))
    if gen == 2:
        f.start()
    ts = [threading.Thread(target=run, args=(p, gen)) for p in parts]
    if gen == 2:
        ts.append(threading.Thread(target=zeroer))
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    stop.set()
    if gen == 2:
        f.join()
os.fsync(fd)
if errors:
    sys.exit("\n".join(errors[:5]))
PY
}

# image_end IMAGE: where QEMU says the image's last cluster ends
image_end() {
	qemu-img check -U --output=json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["image-end-offset"])'
}

# one IMAGE-OPTIONS...: a 16 MiB overlay of a patterned backing image
one() {
	local name=$1 seed=$2
	shift 2
	qemu-img create -q -f qcow2 "$D/$name-base.qcow2" 16M
	qio -c "write -P 0x5a 0 16M" "$D/$name-base.qcow2"
	qemu-img create -q -f qcow2 -b "$D/$name-base.qcow2" -F qcow2 "$@" \
		"$D/$name.qcow2" 16M
	oracle_raw "$D/$name.qcow2" "$D/$name.ref"
	q_open "$name" "$D/$name.qcow2"
	hammer "$(q_dev "$name")" "$D/$name.ref" "$seed" ||
		fail "$name: concurrent writes failed"
	q_read "$name" "$D/$name.dev"
	cmp "$D/$name.dev" "$D/$name.ref" ||
		fail "$name: the device does not hold the last writes"
	open_size=$(stat -c %s "$D/$name.qcow2")
	[ "$open_size" -gt "$(image_end "$D/$name.qcow2")" ] ||
		fail "$name: the open image was not grown ahead of its allocations"
	q_close "$name"
	img_check "$D/$name.qcow2"
	# trimmed back at close, to the end of the last cluster ever allocated
	# (zeroing may have freed the last ones since: not below QEMU's end)
	size=$(stat -c %s "$D/$name.qcow2")
	if [ "$size" -ge "$open_size" ] || [ "$size" -lt "$(image_end "$D/$name.qcow2")" ] ||
		[ $((size % 16384)) -ne 0 ]; then
		fail "$name: file size $size after close ($open_size open), image end $(image_end "$D/$name.qcow2")"
	fi
	img_compare "$D/$name.qcow2" "$D/$name.ref"
	info "$name: ok"
}

one plain 1
one xl2 2 -o extended_l2=on,cluster_size=64k
one small 3 -o cluster_size=16k

# --- reloads and resizes under I/O ------------------------------------------
require_cmd fio
for cs in 16k 512; do
	name=rl$cs
	qemu-img create -q -f qcow2 -o cluster_size=$cs "$D/$name.qcow2" 32M
	q_open "$name" "$D/$name.qcow2" discard=unmap
	dev=$(q_dev "$name")
	fio --name=trim --filename="$dev" --direct=1 --ioengine=libaio --rw=randtrim \
		--bs=16k --iodepth=4 --size=16M --time_based --runtime=600 \
		--output=/dev/null &
	trim=$!
	fio --name=wr --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite \
		--bs=4k --iodepth=8 --offset=16M --size=16M --time_based --runtime=600 \
		--output=/dev/null &
	wr=$!
	size=32
	for ((i = 0; i < 6; i++)); do
		sleep 0.3
		if ((i % 2)); then
			size=$((size + 1))
			vstoragectl node resize "$name" ${size}M || fail "$name: resize to ${size}M under I/O"
		else
			dmsetup table "$name" >"$D/table"
			dmsetup reload "$name" "$D/table" || fail "$name: reload"
			dmsetup resume "$name" || fail "$name: resume after reload"
		fi
	done
	kill "$trim" "$wr"
	wait "$trim" "$wr" 2>/dev/null || true
	# what the writers left, read back after one more reload and a close
	fio_verify "$dev" "$name" --rw=write --bs=64k --offset=16M --size=4M
	q_close "$name"
	img_check "$D/$name.qcow2"
	vsize=$(qemu-img info --output=json "$D/$name.qcow2" | json_get "$(cat)" "j['virtual-size']")
	[ "$vsize" = $((size << 20)) ] || fail "$name: virtual size after the resizes: $vsize"
	info "$name: 3 reloads and 3 resizes under writes and discards: image clean"
done

# --- extended L2: mixed writes, discards and flushes --------------------------
name=mix
qemu-img create -q -f qcow2 -o extended_l2=on "$D/$name.qcow2" 16M
q_open "$name" "$D/$name.qcow2" discard=unmap
RUNTIME=25
fio --filename="$(q_dev "$name")" --ioengine=libaio --direct=1 --size=8M \
	--time_based --runtime=$RUNTIME --output="$D/$name.fio" \
	--name=w --rw=randwrite --bsrange=4k-32k --iodepth=8 \
	--name=trim --rw=randtrim --bsrange=4k-128k --iodepth=4 \
	--name=sync --rw=randwrite --bs=64k --iodepth=1 --fsync=1 &
mix=$!
start=$SECONDS
wait_or_hang $((RUNTIME + 60 * ${VS_TIMEOUT_SCALE:-1})) "$mix" ||
	fail "$name: fio still running $((SECONDS - start - RUNTIME)) s after its $RUNTIME s: hung (blocked tasks in the kernel log)"
wait "$mix" || fail "$name: fio failed: $(grep -h 'err=' "$D/$name.fio" | tr '\n' ' ')"
# the third job's writes, each followed by an fsync
flushes=$(awk -F'total=' '/issued rwts:/ && ++n == 3 { split($2, f, ","); print f[2] }' "$D/$name.fio")
((${flushes:-0} > 0)) || fail "$name: no fsync ran: $(cat "$D/$name.fio")"
info "$name: writes, discards and $flushes fsyncs ran $RUNTIME s and ended"
fio_verify "$(q_dev "$name")" "$name" --rw=randwrite --bs=4k --size=8M --io_size=2M
q_close "$name"
img_check "$D/$name.qcow2"
