#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Load and soak: fio with verification on four nodes at once (raw; qcow2
# over a two-image backing chain; two qcow2 overlays, one with extended L2,
# over one shared read-only base node) for VS_SOAK_SECONDS (default 45),
# while a fifth node over the same base is added, written, resized and
# removed again and again and the others are reloaded, or suspended and
# resumed, in turn. Then: no verify error, every node removable, qemu-img
# check clean on every image, the read-only images unchanged, and the
# kernel's memory (kmalloc caches, unreclaimable slab, vmalloc) back within
# bounds. VS_SOAK_SEED (random by default, printed) sets the I/O offsets
# and the order of the churn.
# timeout: 300
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
q_host && skip "the soak needs the kernel targets"
qcow2_begin
require_cmd fio dmsetup

SOAK=${VS_SOAK_SECONDS:-45}
SEED=${VS_SOAK_SEED:-$RANDOM}
SCALE=${VS_TIMEOUT_SCALE:-1}
M=$((1 << 20))
echo "seed $SEED (VS_SOAK_SEED=$SEED repeats the offsets and the churn's order), soak $SOAK s"

# phase MSG: progress with the case's elapsed time
phase() {
	echo "[$SECONDS s] $*"
}

# --- memory ------------------------------------------------------------------

# mem_sample NAME: settle (sync; a second for RCU callbacks and exited
# processes; then every slab cache shrunk: per-CPU slabs flushed, empty
# slabs freed, KASAN's quarantine of the cache emptied, so that slab
# memory is what is in use), save /proc/meminfo and /proc/slabinfo as
# $D/mem.NAME.*, and the metrics (see mem_kib) as $D/mem.NAME. Dropping
# the page cache would make every later command read its binary again
# over 9p: slow, and the metrics leave reclaimable memory out anyway.
mem_sample() {
	local f c k=0
	sync
	sleep 1
	for f in /sys/kernel/slab/*/shrink; do
		echo 1 >"$f" 2>/dev/null || true
	done
	for f in /proc/[0-9]*/comm; do
		read -r c 2>/dev/null <"$f" || continue
		[[ $c != kworker* ]] || k=$((k + 1))
	done
	cp /proc/meminfo "$D/mem.$1.meminfo"
	cp /proc/slabinfo "$D/mem.$1.slabinfo"
	awk -v kworkers="$k" '
		FNR == NR { m[$1] = $2; next }
		FNR > 2 {
			pages = $15 * $6 * 4
			all += pages
			if ($1 ~ /^(task_struct|signal_cache|sighand_cache|pid)$/)
				tasks += pages
			if ($1 ~ /^(dma-)?kmalloc-(cg-|rcl-)?[0-9]+k?$/)
				km += $2 * $4
		}
		END {
			print "SUnreclaim", m["SUnreclaim:"]
			print "tasks", tasks
			print "unrecl", m["SUnreclaim:"] - tasks
			print "kmalloc", int(km / 1024)
			print "large", m["Slab:"] - all
			print "vmalloc", m["VmallocUsed:"] - m["KernelStack:"]
			print "stacks", m["KernelStack:"]
			print "kworkers", kworkers
		}' "$D/mem.$1.meminfo" "$D/mem.$1.slabinfo" >"$D/mem.$1"
}

# mem_kib NAME WHAT: metric WHAT of sample NAME, in KiB: SUnreclaim
# (/proc/meminfo); tasks: the slabs of the caches that every task (kworkers
# too) takes (task_struct, signal, sighand, pid); unrecl: SUnreclaim less
# tasks; kmalloc: the active objects of the kmalloc-* caches; large: what
# Slab has beyond all caches' slabs (kmalloc_large pages, 64 KiB cluster
# buffers among them); vmalloc: VmallocUsed less KernelStack (every
# thread's stack is vmalloc'ed); stacks: KernelStack; kworkers: a count
mem_kib() {
	local k v
	while read -r k v; do
		[ "$k" != "$2" ] || { echo "$v"; return 0; }
	done <"$D/mem.$1"
	fail "no metric $2 in sample $1"
}

mem_show() {
	local w
	printf 'memory %-7s' "$1:"
	for w in SUnreclaim tasks unrecl kmalloc large vmalloc stacks; do
		printf ' %s %s' "$w" "$(mem_kib "$1" "$w")"
	done
	echo " KiB; $(mem_kib "$1" kworkers) kworkers"
}

# mem_top A B: the slab caches that changed most (more than 16 KiB) from
# sample A to sample B
mem_top() {
	awk 'FNR > 2 { kib = $2 * $4 / 1024 }
		FNR > 2 && FILENAME == ARGV[1] { a[$1] = kib }
		FNR > 2 && FILENAME == ARGV[2] { d = kib - a[$1]; if (d > 16 || d < -16) print (d < 0 ? -d : d), d, $1 }' \
		"$D/mem.$1.slabinfo" "$D/mem.$2.slabinfo" | sort -g -r | head -n 8 |
		awk '{ printf "    %-24s %+6.0f KiB\n", $3, $2 }'
}

# mem_check A B WHAT BOUND: WHAT grew by at most BOUND KiB from A to B
mem_check() {
	local a b
	a=$(mem_kib "$1" "$3")
	b=$(mem_kib "$2" "$3")
	printf '%-7s %s -> %s: %6d -> %6d KiB (%+5d KiB, bound %d KiB)\n' \
		"$3" "$1" "$2" "$a" "$b" $((b - a)) "$4"
	((b - a > $4)) || return 0
	echo "  slab caches (active objects) that changed from $1 to $2:"
	mem_top "$1" "$2"
	fail "$3 grew by $((b - a)) KiB from $1 to $2 (bound $4 KiB)"
}

# --- images --------------------------------------------------------------------
# Every node is 64 MiB. fio writes below 48 MiB; [48M, 64M) is never
# written and must read 0x5a ('Z'), which the file, the chain (the middle
# image one half, the base the other) or the shared base holds there; the
# shared base has 0x5a in [40M, 48M) too, for copy on write.

phase "images"
truncate -s 48M "$D/raw.img"
head -c 16M /dev/zero | tr '\0' Z >>"$D/raw.img"
# chain.qcow2 -> mid.qcow2 -> base.raw
truncate -s 56M "$D/base.raw"
head -c 8M /dev/zero | tr '\0' Z >>"$D/base.raw"
qemu-img create -q -f qcow2 -b base.raw -F raw "$D/mid.qcow2" 64M
qio -c 'write -P 0x5a 48M 8M' "$D/mid.qcow2"
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "$D/chain.qcow2" 64M
# shared.qcow2 under ov1.qcow2, ov2.qcow2 and churn.qcow2
qemu-img create -q -f qcow2 "$D/shared.qcow2" 64M
qio -c 'write -P 0x5a 40M 24M' "$D/shared.qcow2"
qemu-img create -q -f qcow2 -b shared.qcow2 -F qcow2 "$D/ov1.qcow2" 64M
qemu-img create -q -f qcow2 -b shared.qcow2 -F qcow2 -o extended_l2=on "$D/ov2.qcow2" 64M
qemu-img create -q -f qcow2 -b shared.qcow2 -F qcow2 -o cluster_size=16k "$D/churn.qcow2" 64M
shared_sum=$(md5sum <"$D/shared.qcow2")
mid_sum=$(md5sum <"$D/mid.qcow2")

# --- fio -------------------------------------------------------------------------

# jobfile NODE TAG ROUND KIB TRIM: one round of fio on NODE, its jobs at
# once; KIB sets how much they do. Each round writes a pattern of its own
# (TAG) with each block's offset in it (%o), so that stale data of an
# earlier round, data at the wrong place and garbage all fail the
# verification. The offsets depend on the seed and the round only (a
# shift, and randseed), so a round can be verified again later
# (--verify_only). TRIM 1: a job discards in a MiB nobody verifies this
# round.
jobfile() {
	local node=$1 tag=$2 r=$3 kib=$4 shift
	shift=$(((SEED + r) * 37 % 512 * 4096))
	cat <<EOF
[global]
filename=/dev/mapper/$node
ioengine=libaio
direct=1
verify=pattern
verify_pattern=$(printf '0x%08x' "$tag")%o
verify_fatal=1
verify_backlog=16
randrepeat=1
randseed=$((SEED * 1000 + r))

; random writes of 4-32 KiB, queue depth 8
[rand]
rw=randwrite
bsrange=4k-32k
iodepth=8
offset=$shift
size=14M
io_size=${kib}k

; sequential 64 KiB writes, an fsync every 4
[seq]
rw=write
bs=64k
iodepth=4
offset=$((16 * M + r % 15 * M))
size=${kib}k
fsync=4

; 4 KiB writes: mostly partial clusters, copied on write from the
; backing node; an fdatasync every 16
[small]
rw=randwrite
bs=4k
iodepth=4
offset=$((32 * M + shift))
size=14M
io_size=$((kib / 2))k
fdatasync=16

; the range nobody writes: the backing data (or the file's)
[backing]
rw=randread
bsrange=4k-64k
iodepth=4
offset=48M
size=16M
io_size=$((kib / 2))k
verify_pattern=0x5a
EOF
	[ "$5" = 1 ] || return 0
	cat <<EOF

; discards of 4-128 KiB (whole clusters freed, partial ones zeroed or
; ignored) in a MiB of the sequential job's range that it does not write
[trim]
rw=randtrim
bsrange=4k-128k
iodepth=4
offset=$((16 * M + (r + 7) % 15 * M))
size=1M
io_size=$((kib / 2))k
verify=0
EOF
}

declare -A TRIM=()	# node -> 1: opened with discard=unmap, trimmed too

# fio_round NODE TAG ROUND KIB [--verify_only]: run a round; on failure,
# keep its job file and output in $VS_RESULTS and print the errors
FIO_PID=
fio_round() {
	local node=$1 tag=$2 r=$3 kib=$4 rc=0 keep f trim=${TRIM[$1]:-0}
	shift 4
	[ $# -eq 0 ] || trim=0
	jobfile "$node" "$tag" "$r" "$kib" "$trim" >"$D/$node.fio"
	fio --output="$D/$node.out" "$@" "$D/$node.fio" 2>"$D/$node.err" &
	FIO_PID=$!
	wait "$FIO_PID" || rc=$?
	FIO_PID=
	[ "$rc" -ne 0 ] || return 0
	keep=$VS_RESULTS/42-soak
	mkdir -p "$keep"
	for f in fio out err; do
		cp "$D/$node.$f" "$keep/$node.$r.$f" 2>/dev/null || true
	done
	head -n 20 "$D/$node.err" >&2
	grep -h 'err=' "$D/$node.out" >&2 || true
	info "fio round $r on $node $* failed (exit $rc); kept in $keep"
	return 1
}

# on_term: in a background job, a SIGTERM ends its fio too
on_term() {
	trap '[ -z "$FIO_PID" ] || kill "$FIO_PID" 2>/dev/null; exit 143' TERM
}

# soak NODE TAG FIRST: (in the background) rounds FIRST, FIRST + 1... of
# fio on NODE (KIB 512), at least one, until END; the number of rounds
# goes to $D/NODE.rounds
soak() {
	local node=$1 tag=$2 r=$3
	on_term
	while :; do
		fio_round "$node" $((tag << 16 | r)) "$r" 512 || exit 1
		r=$((r + 1))
		((EPOCHSECONDS < END)) || break
	done
	echo $((r - $3)) >"$D/$node.rounds"
}

BG=()	# background jobs, stopped at exit
stop_bg() {
	local p
	for p in "${BG[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${BG[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	BG=()
}
trap 'stop_bg; qcow2_cleanup' EXIT

# wait_bg SEC PID...: wait for background jobs; fail the case if one is
# still running after SEC seconds (blocked tasks go to the kernel log), or
# if one failed
wait_bg() {
	local p bad=0 rc
	wait_or_hang "$@" ||
		fail "fio still running after $1 s: hung? (blocked tasks in the kernel log)"
	shift
	for p in "$@"; do
		rc=0
		wait "$p" || rc=$?
		[ "$rc" -eq 0 ] || bad=1
	done
	return "$bad"
}

# --- helpers for the churn -------------------------------------------------------

# reload NODE: load the node's own table again while it is live, and resume
reload() {
	local ro=()
	[[ $(dmsetup info -c --noheadings -o attr "$1") == *r ]] && ro=(--readonly)
	dmsetup table "$1" >"$D/table" || fail "dmsetup table $1"
	dmsetup reload "${ro[@]}" "$1" "$D/table" || fail "dmsetup reload $1: $(cat "$D/table")"
	dmsetup resume "$1" || fail "dmsetup resume $1 after the reload"
}

# bounce NODE: suspend (I/O queues up meanwhile) and resume
bounce() {
	dmsetup suspend "$1" || fail "dmsetup suspend $1"
	sleep 0.3
	dmsetup resume "$1" || fail "dmsetup resume $1"
}

# uses_base NODE: NODE's backing child is sk-base (a python3 per call is
# slow under TCG: the compact JSON is searched instead)
uses_base() {
	q_show "$1" | grep -q -F '"role":"backing","node-name":"sk-base"'
}

# --- the nodes -------------------------------------------------------------------

phase "memory before"
mem_sample empty0
mem_show empty0

phase "nodes"
node_add raw node-name=sk-raw file="$D/raw.img"
wait_for_path /dev/mapper/sk-raw 10 -b || fail "/dev/mapper/sk-raw did not appear"
q_open sk-chain "$D/chain.qcow2" discard=unmap
q_open sk-base "$D/shared.qcow2" read-only=on
q_open sk-ov1 "$D/ov1.qcow2"
q_open sk-ov2 "$D/ov2.qcow2" discard=unmap
TRIM=([sk-chain]=1 [sk-ov2]=1 [sk-churn]=1)
for n in sk-chain-b1 sk-chain-b2; do
	[ -b "/dev/mapper/$n" ] || fail "automatic node $n missing: $(q_auto_nodes | tr '\n' ' ')"
done
for n in sk-ov1 sk-ov2; do
	uses_base "$n" || fail "$n does not share sk-base: $(q_show "$n")"
done
LIVE=(sk-raw sk-chain sk-ov1 sk-ov2)
echo "nodes: $(vstoragectl node list | awk 'NR > 1 { printf "%s%s", s, $1; s = " " } END { print "" }')"

# start_soaks FIRST: soak every live node in the background from round
# FIRST (tags 1, 2, ... in LIVE's order); their PIDs in pids
start_soaks() {
	local n i=1
	pids=()
	for n in "${LIVE[@]}"; do
		soak "$n" "$i" "$1" &
		pids+=($!)
		BG+=($!)
		i=$((i + 1))
	done
}

# warm-up: one round on each node (caches filled, images grown)
END=0
start_soaks 0
wait_bg $((120 * SCALE)) "${pids[@]}" || fail "fio verification failed in the warm-up round"
BG=()
phase "memory with the nodes"
mem_sample nodes0
mem_show nodes0

# --- the soak ----------------------------------------------------------------------

START=$EPOCHSECONDS
END=$((START + SOAK))
start_soaks 1
phase "soak: fio on ${LIVE[*]} for $SOAK s"

# The churn: churn.qcow2 over the shared base (16 KiB clusters) is opened,
# the round written before it was last closed is verified, a new round
# written while the image grows by 1 MiB and one of the other nodes is
# reloaded or suspended and resumed, and it is closed; again and again
# until the soak ends, and at least 6 times (each of the 6 operations
# once). Every other time it names its backing node itself.
CHURN_TAG=9
c=0
ops=()
while ((EPOCHSECONDS < END || c < 6)); do
	if ((c % 2)); then
		q_open sk-churn "$D/churn.qcow2" backing=sk-base discard=unmap
	else
		q_open sk-churn "$D/churn.qcow2" discard=unmap
	fi
	uses_base sk-churn || fail "sk-churn does not use sk-base: $(q_show sk-churn)"
	if ((c > 0)); then
		fio_round sk-churn $((CHURN_TAG << 16 | (c - 1))) $((c - 1)) 256 --verify_only ||
			fail "sk-churn lost what round $((c - 1)) wrote before it was closed"
	fi
	(on_term && fio_round sk-churn $((CHURN_TAG << 16 | c)) "$c" 256) &
	churn_fio=$!
	BG+=("$churn_fio")
	vstoragectl node resize sk-churn $(((64 + c + 1) * M)) || fail "node resize sk-churn"
	case $(((c + SEED) % 6)) in
	0) op="suspend/resume sk-ov1"; bounce sk-ov1 ;;
	1) op="reload sk-chain"; reload sk-chain ;;
	2) op="suspend/resume sk-base (under both overlays)"; bounce sk-base ;;
	3) op="reload sk-raw"; reload sk-raw ;;
	4) op="reload sk-ov2"; reload sk-ov2 ;;
	5) op="reload sk-chain-b1 (read-only, automatic)"; reload sk-chain-b1 ;;
	esac
	ops+=("$op")
	vstoragectl -j node list >/dev/null || fail "node list during the soak"
	vstoragectl -j node map sk-ov2 >/dev/null || fail "node map sk-ov2 during the soak"
	if ((c == 1)); then
		expect_error 'in use' node del sk-base
	fi
	wait_bg $((120 * SCALE)) "$churn_fio" || fail "fio round $c on sk-churn failed"
	unset 'BG[-1]'
	q_close sk-churn
	c=$((c + 1))
done
phase "churn: $c cycles; meanwhile $(printf '%s\n' "${ops[@]}" | sort | uniq -c |
	awk '{ n = $1; $1 = ""; printf "%s%dx%s", s, n, $0; s = "," } END { print "" }')"

# the workers end after the round they are in
wait_bg $((120 * SCALE)) "${pids[@]}" || fail "fio verification failed during the soak"
BG=()
total=0
for n in "${LIVE[@]}"; do
	r=$(<"$D/$n.rounds")
	total=$((total + r))
	echo "$n: $r rounds"
done
phase "soak: $((EPOCHSECONDS - START)) s, $total rounds on ${#LIVE[@]} nodes and $c on sk-churn, no verify errors"

# no node counted an error or is marked corrupt. IOS: the I/Os of the
# nodes fio used (sk-churn's are gone); CAP: what the idle allocation
# records of the writable qcow2 nodes may hold (32 clusters each, see
# Q2_ALLOC_IDLE_MAX), in KiB
vstoragectl -j node list >"$D/list.json" || fail "node list"
read -r IOS CAP < <(python3 - "$D/list.json" "${LIVE[@]}" <<'PY'
import json, sys
ios = cap = 0
for n in json.load(open(sys.argv[1])):
    st, info = n.get('stats', {}), n.get('info', {})
    if st.get('errors', 0) or info.get('corrupt'):
        sys.exit('%s: errors or corrupt: %s' % (n['node-name'], json.dumps(n)))
    if n['node-name'] in sys.argv[2:]:
        ios += st['rd-ios'] + st['wr-ios']
    if n['driver'] == 'qcow2' and not n['read-only']:
        cap += 32 * info['cluster-size'] // 1024
print(ios, cap)
PY
) || fail "a node has errors"
[ -n "${IOS:-}" ] || fail "no I/O statistics in: $(cat "$D/list.json")"
echo "nodes: no errors, $IOS I/Os on ${LIVE[*]}"

phase "memory after the soak"
mem_sample nodes1
mem_show nodes1

# --- every node goes ---------------------------------------------------------------

phase "removal"
for n in sk-ov1 sk-ov2 sk-chain sk-raw sk-base; do
	q_close "$n"
done
left=$(vstoragectl -j node list) || fail "node list"
[ "$left" = "[]" ] || fail "nodes left after removing all: $left"
[ -z "$(q_auto_nodes)" ] || fail "automatic nodes left: $(q_auto_nodes)"
[ -z "$(dmsetup ls | grep '^sk-' || true)" ] || fail "dm devices left: $(dmsetup ls)"
echo "all nodes removed"

for f in chain mid shared ov1 ov2 churn; do
	img_check "$D/$f.qcow2"
done
[ "$(md5sum <"$D/shared.qcow2")" = "$shared_sum" ] || fail "the read-only shared base changed"
[ "$(md5sum <"$D/mid.qcow2")" = "$mid_sum" ] || fail "the read-only middle of the chain changed"

phase "memory after the removal"
mem_sample empty1
mem_show empty1

# The bounds. Noise (kworkers come and go, per-CPU slabs, RCU) measured
# in this VM: the kmalloc caches move by up to about 150 KiB, SUnreclaim
# less the task caches by up to about 500 KiB. Growth that scales with the
# work shows above that: over the $IOS I/Os and $c churn cycles, a leak of
# one 128-byte object per I/O, or of one 64 KiB cluster buffer per node
# opened, reloaded or resized, would. With the nodes still open, their
# bounded caches may have grown since the warm-up: the allocation records
# (CAP), the L2 and refcount tables (one each covers these disks).
KM=${VS_SOAK_MEM_SLACK:-1024}
for w in nodes0:nodes1 empty0:empty1; do
	echo "slab caches (active objects) that changed from ${w%:*} to ${w#*:}:"
	mem_top "${w%:*}" "${w#*:}"
done
mem_check nodes0 nodes1 kmalloc "$KM"
mem_check nodes0 nodes1 unrecl $((2 * KM + CAP))
mem_check nodes0 nodes1 vmalloc "$KM"
mem_check empty0 empty1 kmalloc "$KM"
mem_check empty0 empty1 unrecl $((2 * KM))
mem_check empty0 empty1 vmalloc "$KM"
echo "per I/O, the bounds allow $((KM * 1024 / IOS)) bytes (kmalloc), $((2 * KM * 1024 / IOS)) bytes (unreclaimable)"
phase "done"
