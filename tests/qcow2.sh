# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/qcow2.sh - helpers for the qcow2 VM cases (tests/cases/2?-qcow2-*.sh).
# Source after tests/lib.sh and tests/vstorage.sh, then call qcow2_begin
# (instead of vs_begin). QEMU's tools are the oracle.
#
# Device operations go through q_* helpers that take a node name, so that a
# case also runs on the host without a kernel (VS_QCOW2_HOST=1
# bash tests/cases/NN-qcow2-x.sh): there, a "node" is the image itself and
# its I/O is done by qemu-io, which checks the case's QEMU side (the oracle
# commands, the expected contents). Kernel-only steps are guarded with
# `q_host ||` or `if ! q_host`.

# q_host: true in host mode.
q_host() {
	[ -n "${VS_QCOW2_HOST:-}" ]
}

declare -A Q_SPEC=()	# host mode: node -> qemu-io/qemu-img image spec

# qcow2_begin: vs_begin plus the qcow2 module (a failure to load it fails
# the case) and QEMU's tools; $D is the case's scratch directory.
qcow2_begin() {
	if q_host; then
		require_cmd qemu-img qemu-io python3
		D=$(mktemp -d "${TMPDIR:-/var/tmp}/$(vs_case_name "$0").XXXXXX")
		# shellcheck disable=SC2034 # vs_cleanup removes it
		VS_CASE_DIR=$D
		trap vs_cleanup EXIT
		info "host mode: the QEMU side only, in $D"
		return 0
	fi
	vs_begin
	modprobe dm-vstorage-qcow2 || fail "cannot load dm-vstorage-qcow2.ko"
	require_cmd qemu-img qemu-io python3
	trap qcow2_cleanup EXIT
}

# q_auto_nodes: the dm devices whose UUID starts with VSTORAGE-auto-.
q_auto_nodes() {
	dmsetup info -c --noheadings -o name,uuid --separator ' ' 2>/dev/null |
		awk '$2 ~ /^VSTORAGE-auto-/ { print $1 }' | LC_ALL=C sort
}

qcow2_cleanup() {
	local i a
	vs_kill_jobs
	for ((i = ${#VS_CASE_NODES[@]} - 1; i >= 0; i--)); do
		dmsetup remove --retry "${VS_CASE_NODES[i]}" >/dev/null 2>&1 || true
	done
	VS_CASE_NODES=()
	# automatic backing nodes, top-down: repeat while some go
	for _ in 1 2 3 4 5 6 7 8; do
		a=$(q_auto_nodes)
		[ -n "$a" ] || break
		for i in $a; do
			dmsetup remove "$i" >/dev/null 2>&1 || true
		done
	done
	vs_cleanup
}

# q_open NAME IMAGE [PROPERTY=VALUE...]: node add qcow2 (failing the case
# if refused); the device is q_dev NAME.
q_open() {
	local name=$1 img=$2 p spec
	shift 2
	if q_host; then
		spec=$img
		for p in "$@"; do
			if [ "$p" = backing=none ]; then
				spec="json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"$img\"},\"backing\":null}"
			fi
		done
		Q_SPEC[$name]=$spec
		return 0
	fi
	node_add qcow2 node-name="$name" file="$img" "$@"
	wait_for_path "/dev/mapper/$name" 10 -b || fail "/dev/mapper/$name did not appear"
}

# q_close NAME: node del (also removes its automatic backing nodes).
q_close() {
	if q_host; then
		unset 'Q_SPEC[$1]'
		return 0
	fi
	node_del "$1"
}

q_dev() {
	printf '/dev/mapper/%s\n' "$1"
}

# q_qemu_io NAME ARGS...: qemu-io on the node's image (host mode).
q_qemu_io() {
	local name=$1
	shift
	qemu-io "$@" "${Q_SPEC[$name]}" >/dev/null || return 1
}

# q_size NAME: the device size in bytes.
q_size() {
	if q_host; then
		qemu-img info --output=json "${Q_SPEC[$1]}" |
			python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])'
		return
	fi
	blockdev --getsize64 "$(q_dev "$1")"
}

# q_read NAME OUT [OFFSET LENGTH]: copy the device (or a range) to OUT.
q_read() {
	local name=$1 out=$2 off=${3:-0} len=${4:-}
	if q_host; then
		qemu-img convert -O raw "${Q_SPEC[$name]}" "$D/.q_read.raw" || return 1
		[ -n "$len" ] || len=$(($(stat -c %s "$D/.q_read.raw") - off))
		dd if="$D/.q_read.raw" of="$out" bs=64k iflag=skip_bytes,count_bytes \
			skip="$off" count="$len" status=none || return 1
		rm -f "$D/.q_read.raw"
		return 0
	fi
	[ -n "$len" ] || len=$(($(q_size "$name") - off))
	dd if="$(q_dev "$name")" of="$out" bs=1M iflag=direct,skip_bytes,count_bytes \
		skip="$off" count="$len" status=none
}

# q_write NAME OFFSET FILE: write FILE's bytes at OFFSET (direct I/O when
# OFFSET and the size are multiples of 512, else through the page cache and
# fsync).
q_write() {
	local name=$1 off=$2 f=$3 len
	len=$(stat -c %s "$f")
	if q_host; then
		q_qemu_io "$name" -c "write -s $f $off $len"
		return
	fi
	if (((off | len) % 512 == 0)); then
		dd if="$f" of="$(q_dev "$name")" bs=1M oflag=direct,seek_bytes \
			seek="$off" conv=notrunc status=none
	else
		dd if="$f" of="$(q_dev "$name")" bs=1M oflag=seek_bytes \
			seek="$off" conv=notrunc,fsync status=none
	fi
}

# pattern FILE BYTE LENGTH: FILE holds LENGTH bytes of value BYTE (0xNN).
pattern() {
	head -c "$3" /dev/zero | tr '\0' "\\$(printf '%03o' "$2")" >"$1"
}

# randfile FILE LENGTH: LENGTH random bytes.
randfile() {
	head -c "$2" /dev/urandom >"$1"
}

# q_pwrite NAME REF OFFSET FILE: write FILE at OFFSET into the node and into
# the raw reference REF.
q_pwrite() {
	q_write "$1" "$3" "$4" || fail "write of $4 at $3 to node $1 failed"
	dd if="$4" of="$2" bs=64k oflag=seek_bytes seek="$3" conv=notrunc status=none
}

# q_zero NAME OFFSET LENGTH: write zeroes (BLKZEROOUT, may unmap).
q_zero() {
	if q_host; then
		q_qemu_io "$1" -c "write -z -u $2 $3"
		return
	fi
	blkdiscard -z -o "$2" -l "$3" "$(q_dev "$1")"
}

# q_discard NAME OFFSET LENGTH: discard (BLKDISCARD).
q_discard() {
	if q_host; then
		q_qemu_io "$1" -c "discard $2 $3"
		return
	fi
	blkdiscard -o "$2" -l "$3" "$(q_dev "$1")"
}

# q_flush NAME: a cache flush of the device (fsync(2) of it: blockdev
# --flushbufs writes the page cache back but sends no flush).
q_flush() {
	q_host && return 0
	sync "$(q_dev "$1")"
}

# q_show NAME: `vstoragectl -j node show NAME` (fails the case otherwise).
q_show() {
	vstoragectl -j node show "$1" || fail "node show $1 failed"
}

# expect_error REGEX ARGS...: `vstoragectl ARGS` fails with exactly one
# line "Error: ..." on stderr matching REGEX (grep -E -i) and exit 1.
expect_error() {
	local re=$1 rc=0 err
	shift
	err=$(vstoragectl "$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" -ne 0 ] || fail "accepted: vstoragectl $*"
	[ "$rc" -eq 1 ] || fail "exit $rc (want 1) for '$*': $err"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "not one line for '$*': $err"
	[[ $err == Error:* ]] || fail "no 'Error:' prefix for '$*': $err"
	printf '%s\n' "$err" | grep -E -q -i -e "$re" || fail "message for '$*' lacks /$re/: $err"
	echo "refused as expected: vstoragectl $* -> $err"
}

# same_raw A B WHAT: cmp two raw files, failing the case with WHAT.
same_raw() {
	if ! cmp "$1" "$2" >"$D/.cmp" 2>&1; then
		cat "$D/.cmp" >&2
		fail "$3: contents differ"
	fi
	echo "same: $3 ($(stat -c %s "$1") bytes)"
}

# oracle_raw IMAGE OUT [OPTS...]: QEMU's view of IMAGE as raw.
oracle_raw() {
	local img=$1 out=$2
	shift 2
	qemu-img convert -U "$@" -O raw "$img" "$out" || fail "qemu-img convert $img failed"
}

# faulty STEP REGEX ARGS...: vstoragectl ARGS fails at STEP of a graph
# change (VSTORAGECTL_FAULT_MOVE), as expect_error
faulty() {
	local step=$1
	shift
	export VSTORAGECTL_FAULT_MOVE=$step
	expect_error "$@"
	unset VSTORAGECTL_FAULT_MOVE
}

# img_check IMAGE: `qemu-img check` must exit 0 (clean).
img_check() {
	local rc=0 out
	out=$(qemu-img check "$1" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out" >&2
		fail "qemu-img check $1: exit $rc"
	fi
	echo "qemu-img check $(basename "$1"): clean"
}

# img_compare IMAGE RAW: QEMU reads IMAGE exactly as the raw file RAW.
img_compare() {
	local rc=0 out
	out=$(qemu-img compare -f qcow2 -F raw "$1" "$2" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out" >&2
		fail "qemu-img compare $1 $2: exit $rc"
	fi
	echo "qemu-img compare $(basename "$1") $(basename "$2"): identical"
}

# io_pattern IMAGE BYTE OFFSET LENGTH: qemu-io reads the pattern there.
io_pattern() {
	local out
	out=$(qemu-io -r -U -c "read -P $2 $3 $4" "$1" 2>&1) ||
		{ printf '%s\n' "$out" >&2; fail "qemu-io read -P $2 $3 $4 on $1 failed"; }
	if grep -q -i "pattern verification failed\|error\|failed" <<<"$out"; then
		printf '%s\n' "$out" >&2
		fail "qemu-io: pattern $2 not found at $3+$4 in $1"
	fi
	echo "qemu-io: $1 has pattern $2 at $3+$4"
}

# header_byte IMAGE OFFSET: one byte of the file, as a decimal number.
header_byte() {
	od -An -t u1 -j "$2" -N 1 "$1" | tr -d ' '
}

# poke FILE OFFSET BYTES (printf escapes)
poke() {
	# shellcheck disable=SC2059 # the bytes are printf escapes
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# be64 FILE OFFSET: a big-endian 64-bit number of the file, as 0x...
be64() {
	printf '0x%s\n' "$(od -An -t x8 --endian=big -j "$2" -N 8 "$1" | tr -d ' ')"
}

# poke64 FILE OFFSET VALUE: store a big-endian 64-bit number.
poke64() {
	local v=$3 s='' i
	for ((i = 7; i >= 0; i--)); do
		s+=$(printf '\\x%02x' $(((v >> (i * 8)) & 255)))
	done
	poke "$1" "$2" "$s"
}

# qio ARGS... IMAGE: qemu-io, failing the case (with its messages) if a
# command fails.
qio() {
	local img=${*: -1}
	qemu-io "$@" >/dev/null 2>"$D/.qio" ||
		{ cat "$D/.qio" >&2; fail "qemu-io on $img failed: $*"; }
}

# --- pattern lists (cases 27, 28) --------------------------------------------
# A pattern list is a file of lines "BYTE OFFSET LENGTH": LENGTH bytes of
# value BYTE (0x00 = zeroes) at OFFSET, both multiples of 512 (for O_DIRECT);
# '#' starts a comment. One process does all the I/O of a list, which under
# TCG is much cheaper than a dd per range.

# q_patterns NAME write|check LIST...: write every range of the LISTs through
# the node with O_DIRECT (pwrite, no flush), or read every range back with
# O_DIRECT and compare. Fails the case on a failed or short transfer or a
# mismatch (the first few are printed).
q_patterns() {
	local name=$1 mode=$2 rc=0
	shift 2
	if q_host; then
		local cmd=write ro=()
		[ "$mode" = check ] && { cmd="read"; ro=(-r -U); }
		sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$@" |
			awk -v c="$cmd" '{ print c " -P " $1 " " $2 " " $3 }' |
			qemu-io "${ro[@]}" "${Q_SPEC[$name]}" >"$D/.qpat" 2>&1 || rc=$?
		if [ "$rc" -ne 0 ] || grep -q -i "verification failed\|error" "$D/.qpat"; then
			grep -i "verification failed\|error" "$D/.qpat" | head -n 10 >&2
			fail "q_patterns $mode $* on $name failed"
		fi
		return 0
	fi
	python3 - "$(q_dev "$name")" "$mode" "$@" <<'PY' || rc=$?
import mmap, os, sys
dev, mode, lists = sys.argv[1], sys.argv[2], sys.argv[3:]
fd = os.open(dev, (os.O_RDWR if mode == 'write' else os.O_RDONLY) | os.O_DIRECT)
bufs, bad, n = {}, 0, 0
for line in (l for f in lists for l in open(f)):
    f = line.split('#')[0].split()
    if not f:
        continue
    b, off, ln = int(f[0], 0), int(f[1], 0), int(f[2], 0)
    if ln not in bufs:
        bufs[ln] = mmap.mmap(-1, ln)
    buf, want = bufs[ln], bytes([b]) * ln
    n += 1
    try:
        if mode == 'write':
            buf[:] = want
            got = os.pwrite(fd, buf, off)
        else:
            got = os.preadv(fd, [buf], off)
    except OSError as e:
        print(f'{mode} {ln} bytes at {off}: {e.strerror}', file=sys.stderr)
        bad += 1
        continue
    if got != ln:
        print(f'{mode} {ln} bytes at {off}: short transfer ({got})', file=sys.stderr)
        bad += 1
    elif mode == 'check' and buf[:] != want:
        i = next(i for i in range(ln) if buf[i] != b)
        if bad < 10:
            print(f'mismatch at {off + i}: 0x{buf[i]:02x}, want 0x{b:02x} ({ln} bytes at {off})',
                  file=sys.stderr)
        bad += 1
os.close(fd)
print(f'{mode}: {n} ranges, {bad} bad')
sys.exit(1 if bad else 0)
PY
	[ "$rc" -eq 0 ] || fail "q_patterns $mode $* on node $name failed"
}

# io_patterns IMAGE LIST... : QEMU reads every range of the LISTs (read -P,
# one qemu-io process); fails the case on any mismatch.
io_patterns() {
	local img=$1 rc=0 n
	shift
	n=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$@" | wc -l)
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$@" |
		awk '{ print "read -P " $1 " " $2 " " $3 }' |
		qemu-io -r -U "$img" >"$D/.iopat" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ] || grep -q -i "verification failed\|error" "$D/.iopat"; then
		grep -i "verification failed\|error" "$D/.iopat" | head -n 10 >&2
		fail "qemu-io: $img does not hold the patterns of $* (exit $rc)"
	fi
	echo "qemu-io: $(basename "$img") holds all $n ranges"
}

# kmem_kib: unreclaimable slab (kmalloc, including large kmalloc pages) plus
# vmalloc in use, in KiB: where a target's caches and tables live.
kmem_kib() {
	awk '/^SUnreclaim:/ { s = $2 } /^VmallocUsed:/ { v = $2 }
		END { print s + v }' /proc/meminfo
}
