#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Resource limits: a 16 TiB qcow2 image (64 KiB clusters, 32768 L2 tables)
# and an 8 TiB one with 4 KiB clusters (the largest L1 QEMU allows, 32 MiB),
# each opened with an L2 cache of 4 tables and a refcount cache of 4 blocks.
# Patterns written with O_DIRECT at hundreds of offsets spread over the whole
# disk (every one in its own L2 table) and at the boundaries (4 GiB, 2^31,
# 2^32 and 2^33 sectors, L2 and L1-cluster boundaries, the last clusters and
# the last sector) read back through the device, untouched ranges read
# zeroes, and QEMU agrees after closing (`qemu-img check` clean, qemu-io
# reads every pattern). The cache stays bounded: the node reports the
# configured cache size, reading the tables back misses about once per table
# (so tables were evicted and reloaded), and the unreclaimable kernel memory
# (SUnreclaim + VmallocUsed) grows by less than the caches plus 8 MiB while
# the tables touched would take several times that; opening the 4 KiB image
# holds its 32 MiB L1 once, and closing gives the memory back. Reads at and
# past the end return nothing, writes there fail (ENOSPC), a write across the
# end is cut at the end; the node counts no I/O error.
# timeout: 300
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
qcow2_begin

K=1024
M=$((1 << 20))
G=$((1 << 30))
T=$((1 << 40))
SLACK=$((8 * M))	# unrelated kernel memory that may come and go

# st NAME FIELD: a field of `dmsetup status` (after "start length target"):
# 1 node, 2 version, 3 cluster size, 4 clean|corrupt, 5 ro|rw, 6 L2 hits,
# 7 L2 misses, 8 refcount hits, 9 refcount misses, 10 reads, 11 writes,
# 12 flushes, 13 errors, 14 L2 tables cached, 15 most L2 tables cached,
# 16 refcount blocks cached, 17 most refcount blocks cached
st() {
	local s
	s=$(dmsetup status "$1") || fail "dmsetup status $1 failed"
	awk -v f="$2" '{ print $(f + 3) }' <<<"$s"
}

# mem_now: kmem_kib in bytes (after a sync: no dirty state in flight)
mem_now() {
	sync
	echo $(($(kmem_kib) * K))
}

# mklists SIZE CLUSTER N: pattern lists for an image of SIZE bytes:
#   $D/edge.list  ranges across the boundaries and at the end
#   $D/spread.list  N ranges spread over the disk, each in its own L2 table
#   $D/zero.list  untouched ranges (in an L2 table in use, and in tables
#                 never allocated) and the neighbours of the edge ranges
mklists() {
	local size=$1 cl=$2 n=$3 l2cov stride i base off len
	l2cov=$((cl * cl / 8))
	stride=$((size / n))
	[ "$stride" -ge $((4 * l2cov)) ] || fail "mklists: $n ranges do not fit in distinct L2 tables"
	{
		echo "0x01 0 4096"				# the first sector
		echo "0x02 $((4 * G - 2 * K)) 4096"		# across 4 GiB (and an L2 table)
		echo "0x03 $((T - 512)) 1024"			# across 2^31 sectors
		echo "0x04 $((2 * T - 4 * K)) 8192"		# across 2^32 sectors
		echo "0x05 $((4 * T - 512)) 1024"		# across 2^33 sectors
		echo "0x06 $((size * 3 / 4 - cl)) $((2 * cl))"	# two whole clusters at 3/4
		echo "0x07 $((size - 2 * cl)) 2048"		# the last L2 table
		echo "0x08 $((size - 4 * K)) 3584"		# up to the last sector
	} >"$D/edge.list"
	{
		echo "0x00 4096 4096"
		echo "0x00 $((4 * G + 2 * K)) 4096"
		echo "0x00 $((2 * T + 4 * K)) 4096"
		echo "0x00 $((size - 2 * cl + 2 * K)) 2048"
		echo "0x00 $((size - 3 * cl)) 4096"
	} >"$D/zero.list"
	for ((i = 0; i < n; i++)); do
		base=$((i * stride / l2cov * l2cov))
		case $((i % 4)) in
		0) len=4096 ;;
		1) len=512 ;;
		2) len=12288 ;;	# across clusters when they are 4 KiB
		3) len=$cl ;;
		esac
		off=$((base + l2cov / 2 + (i % 8) * cl + (i % 4) * K))
		printf '0x%02x %d %d\n' $((1 + i * 37 % 254)) "$off" "$len" >&3
		# the same L2 table, a cluster never written
		echo "0x00 $((base + l2cov / 4)) 4096" >&4
		# an L2 table never allocated
		if ((i % 8 == 0)); then
			echo "0x00 $(((i * stride + stride / 2) / l2cov * l2cov + l2cov / 4)) 4096" >&4
		fi
	done 3>"$D/spread.list" 4>>"$D/zero.list"
}

# past_end NAME SIZE: I/O at and past the end of the device (pread/pwrite:
# dd cannot even seek there): reads return nothing, writes fail with ENOSPC,
# a read or write across the end is cut at the end
past_end() {
	python3 - "$(q_dev "$1")" "$2" <<'PY' || fail "I/O at the end of $1 misbehaved"
import errno, mmap, os, sys
dev, size = sys.argv[1], int(sys.argv[2])
fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
bad = 0
def expect(what, fn, want):
    global bad
    try:
        got = fn()
    except OSError as e:
        got = errno.errorcode.get(e.errno, e.errno)
    print(f'{what}: {got}' + ('' if got == want else f' (want {want})'))
    bad += got != want
expect('read at the end', lambda: os.preadv(fd, [buf], size), 0)
expect('read 1 MiB past the end', lambda: os.preadv(fd, [buf], size + (1 << 20)), 0)
expect('read across the end', lambda: os.preadv(fd, [buf], size - 512), 512)
buf[:] = b'\xee' * 4096
expect('write at the end', lambda: os.pwrite(fd, buf, size), 'ENOSPC')
expect('write 1 MiB past the end', lambda: os.pwrite(fd, buf, size + (1 << 20)), 'ENOSPC')
expect('write across the end', lambda: os.pwrite(fd, buf, size - 512), 512)
buf[:] = bytes(4096)
expect('the last sector reads back', lambda: os.preadv(fd, [buf], size - 512) == 512
       and buf[:512] == b'\xee' * 512, True)
os.close(fd)
sys.exit(1 if bad else 0)
PY
	echo "0xee $(($2 - 512)) 512" >"$D/last.list"
}

# cache_ok NAME L2BYTES CLUSTER RCBYTES: the node reports the configured L2
# cache size and cluster size and the same L2 misses as `dmsetup status`,
# whose cache limits match the sizes and which holds no more than them
cache_ok() {
	local j got want
	j=$(q_show "$1")
	want="$2 $3 $(st "$1" 7)"
	got=$(json_get "$j" "'%d %d %d' % (j['info']['cache-size'], j['info']['cluster-size'], j['info']['cache-misses'])")
	[ "$got" = "$want" ] ||
		fail "node $1: L2 cache size, cluster size, misses: $got, want $want ($j)"
	got="$(st "$1" 15) $(st "$1" 17)"
	want="$(($2 / $3)) $(($4 / $3))"
	[ "$got" = "$want" ] ||
		fail "node $1: most L2 and refcount tables cached: $got, want $want"
	if [ "$(st "$1" 14)" -gt "$(st "$1" 15)" ] || [ "$(st "$1" 16)" -gt "$(st "$1" 17)" ]; then
		fail "node $1: a cache holds more than its size: $(dmsetup status "$1")"
	fi
}

# finish NAME IMAGE SIZE: the edges and untouched ranges read right, I/O
# past the end fails, the node is clean; closing it gives back the kernel
# memory it took; QEMU finds the image clean and every pattern in it.
finish() {
	local name=$1 img=$2 size=$3 mem2
	q_patterns "$name" check "$D/edge.list" "$D/zero.list"
	if ! q_host; then
		past_end "$name" "$size"
		[ "$(st "$name" 4) $(st "$name" 5) $(st "$name" 13)" = "clean rw 0" ] ||
			fail "node $name after the I/O: $(dmsetup status "$name")"
	fi
	info "[${SECONDS}s] closing"
	q_close "$name"
	if ! q_host; then
		mem2=$(mem_now)
		info "kernel memory after closing: $(((mem2 - mem_pre) / K)) KiB from before opening"
		[ $((mem2 - mem_pre)) -lt "$SLACK" ] ||
			fail "closing the node left $(((mem2 - mem_pre) / K)) KiB of kernel memory in use"
	fi
	img_check "$img"
	q_host || cat "$D/last.list" >>"$D/edge.list"
	io_patterns "$img" "$D/edge.list" "$D/spread.list" "$D/zero.list"
}

# --- 16 TiB, 64 KiB clusters ------------------------------------------------
size=$((16 * T))
cl=$((64 * K))
l2c=$((4 * cl))		# 4 L2 tables of 32768
rcc=$((4 * cl))
n=480			# L2 tables touched: 120 times what the cache holds
img=$D/big.qcow2
qemu-img create -q -f qcow2 "$img" 16T
mklists $size $cl $n

mem_pre=0
q_host || mem_pre=$(mem_now)
q_open big "$img" l2-cache-size=$l2c refcount-cache-size=$rcc
[ "$(q_size big)" = "$size" ] || fail "device size $(q_size big), want $size"
q_host || cache_ok big $l2c $cl $rcc

q_patterns big write "$D/edge.list"	# fills both caches
q_flush big
q_host || mem0=$(mem_now)
info "[${SECONDS}s] writing $n ranges"
q_patterns big write "$D/spread.list"
q_flush big
info "[${SECONDS}s] written"
if ! q_host; then
	misses_w=$(st big 7)
	q_patterns big check "$D/spread.list"
	misses_r=$(($(st big 7) - misses_w))
	mem1=$(mem_now)
	info "L2 misses: $misses_w while writing, $misses_r while reading $n tables back"
	# 4 tables fit: at least n - 4 of the n reads must have missed
	[ "$misses_r" -ge $((n - l2c / cl)) ] ||
		fail "reading $n L2 tables back through a cache of $((l2c / cl)) missed only $misses_r times"
	grow=$((mem1 - mem0))
	bound=$((l2c + rcc + SLACK))
	info "kernel memory change: $((grow / K)) KiB while touching $n L2 tables ($((n * cl / K)) KiB of tables; bound $((bound / K)) KiB)"
	[ $((n * cl)) -ge $((3 * bound)) ] || fail "test defect: $n tables cannot show an unbounded cache"
	[ "$grow" -lt "$bound" ] ||
		fail "kernel memory grew by $((grow / K)) KiB with an L2 cache of $((l2c / K)) KiB (bound $((bound / K)) KiB)"
	cache_ok big $l2c $cl $rcc
fi
finish big "$img" $size
rm -f "$img"
info "[${SECONDS}s] 16 TiB image done"

# --- 8 TiB, 4 KiB clusters: a 32 MiB L1 table ---------------------------------
size=$((8 * T))
cl=$((4 * K))
l2c=$((4 * cl))
rcc=$((4 * cl))
n=200
img=$D/l1.qcow2
qemu-img create -q -f qcow2 -o cluster_size=4k "$img" 8T
l1=$(($(od -An -t u4 --endian=big -j 36 -N 4 "$img" | tr -d ' ') * 8))
[ "$l1" -eq $((32 * M)) ] || fail "expected a 32 MiB L1 table, the image has $l1 bytes"
mklists $size $cl $n

q_host || mem_pre=$(mem_now)
q_open l1 "$img" l2-cache-size=$l2c refcount-cache-size=$rcc
[ "$(q_size l1)" = "$size" ] || fail "device size $(q_size l1), want $size"
if ! q_host; then
	cache_ok l1 $l2c $cl $rcc
	mem0=$(mem_now)
	info "kernel memory change: $(((mem0 - mem_pre) / K)) KiB for opening (L1 $((l1 / K)) KiB)"
	[ $((mem0 - mem_pre)) -lt $((l1 + SLACK)) ] ||
		fail "opening took $(((mem0 - mem_pre) / K)) KiB of kernel memory for a $((l1 / K)) KiB L1"
fi
info "[${SECONDS}s] 8 TiB image open"
q_patterns l1 write "$D/edge.list"
q_patterns l1 write "$D/spread.list"
q_flush l1
if ! q_host; then
	misses_w=$(st l1 7)
	q_patterns l1 check "$D/spread.list"
	misses_r=$(($(st l1 7) - misses_w))
	info "L2 misses: $misses_w while writing, $misses_r while reading $n tables back"
	[ "$misses_r" -ge $((n - l2c / cl)) ] ||
		fail "reading $n L2 tables back through a cache of $((l2c / cl)) missed only $misses_r times"
	cache_ok l1 $l2c $cl $rcc
fi
finish l1 "$img" $size

echo "16 TiB and 32 MiB-L1 images: data right, caches and memory bounded"
