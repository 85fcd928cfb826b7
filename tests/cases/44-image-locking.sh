#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Image locks (Documentation/locking-images.rst): a second read-write node
# on an image, or a read-write node on an image that read-only nodes hold
# (a backing image), is refused with one error line and leaves nothing
# behind; read-only twice works; on a block device child (a loop device)
# too. On image files the nodes hold QEMU 7.2's lock bytes (read-write:
# 100 101 103 201 203, read-only: 100 201 203): qemu-io cannot write an
# image a node has open, a node cannot have an image that a qemu-io
# process writes (or, read-write, one it reads), `qemu-img info -U` always
# works. A table reload (node resize) keeps the locks, `locking off` takes
# none, and after every node is gone qemu-io writes again.
# timeout: 180
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
q_host && skip "nothing to check without the kernel"
qcow2_begin

RW_BYTES="100 101 103 201 203"
RO_BYTES="100 201 203"

# qemu_locks IMAGE: the QEMU lock bytes (100-103, 200-203) that some open
# file description holds, as F_OFD_GETLK sees them from a new one.
qemu_locks() {
	python3 - "$1" <<'PY'
import fcntl, os, struct, sys
fmt = "hhxxxxqqixxxx"			# struct flock, x86-64
fd = os.open(sys.argv[1], os.O_RDONLY)
held = []
for b in list(range(100, 104)) + list(range(200, 204)):
    r = fcntl.fcntl(fd, 36, struct.pack(fmt, fcntl.F_WRLCK, 0, b, 1, 0))	# F_OFD_GETLK
    if struct.unpack(fmt, r)[0] != fcntl.F_UNLCK:
        held.append(str(b))
print(" ".join(held))
PY
}

# want_locks IMAGE "BYTES" WHAT [TRIES]: the bytes held on IMAGE are BYTES
# (retried every 0.2 s, for a background qemu-io still opening)
want_locks() {
	local got i
	for ((i = 0; i < ${4:-1}; i++)); do
		got=$(qemu_locks "$1")
		[ "$got" = "$2" ] && break
		sleep 0.2
	done
	[ "$got" = "$2" ] || fail "$3: lock bytes on $(basename "$1") are '$got', want '$2'"
	echo "$3: $(basename "$1") lock bytes '${got}'"
}

# qemu_refused REGEX ARGS... IMAGE: qemu-io refuses to open IMAGE saying REGEX
qemu_refused() {
	local re=$1 rc=0 out
	shift
	out=$(qemu-io "$@" 2>&1) || rc=$?
	[ "$rc" -ne 0 ] || fail "qemu-io $* was allowed"
	grep -E -q -e "$re" <<<"$out" || fail "qemu-io $*: no /$re/: $out"
	echo "qemu-io $* refused: $(head -n 1 <<<"$out")"
}

# qemu_ok ARGS... IMAGE: qemu-io opens IMAGE and runs its commands
qemu_ok() {
	qemu-io "$@" >"$D/.qio" 2>&1 || { cat "$D/.qio" >&2; fail "qemu-io $* failed"; }
	! grep -q -i "failed\|error" "$D/.qio" || { cat "$D/.qio" >&2; fail "qemu-io $*: a command failed"; }
	echo "qemu-io $*: ok"
}

info_u() {
	qemu-img info -U "$1" >/dev/null || fail "qemu-img info -U $1 failed"
}

# gone NAME: a refused add left no device or node behind
gone() {
	[ ! -e "/dev/mapper/$1" ] || fail "refused add left /dev/mapper/$1 behind"
	! dmsetup info "$1" >/dev/null 2>&1 || fail "refused add left dm device $1 behind"
	[ -z "$(q_auto_nodes)" ] || [ -n "${2:-}" ] || fail "refused add left $(q_auto_nodes)"
}

raw=$D/a.raw
truncate -s 16M "$raw"
qcow=$D/a.qcow2
qemu-img create -q -f qcow2 "$qcow" 16M
want_locks "$raw" "" "before any node"

# --- one read-write node -----------------------------------------------------
node_add raw node-name=rw1 file="$raw"
want_locks "$raw" "$RW_BYTES" "read-write node"
mark=$(dmesg_mark second-writer)
expect_error "open read-write by another node" node add raw node-name=rw2 file="$raw"
gone rw2
kmsg_expect "$mark" "node 'rw2': image .*a\.raw is open read-write by node 'rw1'"
expect_error "open read-write by another node" node add raw node-name=ro2 file="$raw" read-only=on
gone ro2
qemu_refused 'Failed to get "write" lock' -f raw -c 'write 0 4k' "$raw"
# QEMU's raw reader shares writing (qemu-io -r against qemu-io gives the same)
qemu_ok -f raw -r -c 'read 0 4k' "$raw"
info_u "$raw"
node_del rw1
want_locks "$raw" "" "read-write node deleted"
qemu_ok -f raw -c 'write -P 0x5a 0 4k' "$raw"

# --- read-only twice, then no writer ---------------------------------------
node_add raw node-name=ro1 file="$raw" read-only=on
node_add raw node-name=ro2 file="$raw" read-only=on
want_locks "$raw" "$RO_BYTES" "two read-only nodes"
cmp <(head -c 4096 /dev/mapper/ro2) <(head -c 4096 "$raw") || fail "ro2 reads other data"
mark=$(dmesg_mark writer-over-readers)
expect_error "open read-only by another node" node add raw node-name=rw3 file="$raw"
gone rw3
kmsg_expect "$mark" "node 'rw3': image .*a\.raw is open read-only by node 'ro[12]'"
qemu_refused 'Failed to get "write" lock' -f raw -c 'write 0 4k' "$raw"
qemu_ok -f raw -r -c 'read -P 0x5a 0 4k' "$raw"
node_del ro1
want_locks "$raw" "$RO_BYTES" "one read-only node left"
node_del ro2
want_locks "$raw" "" "read-only nodes deleted"

# --- a backing image ---------------------------------------------------------
qemu-img create -q -f qcow2 "$D/base.qcow2" 16M
qio -c 'write -P 0x42 0 64k' "$D/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$D/top.qcow2" 16M
q_open top "$D/top.qcow2"
[ -b /dev/mapper/top-b1 ] || fail "no backing node top-b1: $(q_auto_nodes)"
want_locks "$D/top.qcow2" "$RW_BYTES" "overlay"
want_locks "$D/base.qcow2" "$RO_BYTES" "backing image"
mark=$(dmesg_mark backing)
expect_error "backing of another node" node add qcow2 node-name=bw file="$D/base.qcow2"
gone bw auto
expect_error "backing of another node" node add raw node-name=bw file="$D/base.qcow2"
gone bw auto
kmsg_expect "$mark" "node 'bw': image .*base\.qcow2 is the backing of node 'top' \(open read-only by node 'top-b1'\)"
# another read-only user of the backing image is fine
node_add qcow2 node-name=bro file="$D/base.qcow2" read-only=on
node_del bro
qemu_refused 'Failed to get "write" lock' -c 'write 0 4k' "$D/base.qcow2"
qemu_ok -r -c 'read -P 0x42 0 64k' "$D/base.qcow2"
qemu-img check -q "$D/base.qcow2" || fail "qemu-img check of the backing image (read-only) refused"
qemu_refused 'Failed to get shared "write" lock' -r -c 'read 0 4k' "$D/top.qcow2"
info_u "$D/top.qcow2"

# a table reload (node resize reloads) keeps the locks: same-name holders
vstoragectl node resize top 32M || fail "node resize top (a reload) failed"
[ "$(blockdev --getsize64 /dev/mapper/top)" = $((32 << 20)) ] || fail "top did not grow"
want_locks "$D/top.qcow2" "$RW_BYTES" "overlay after a reload"
qemu_refused 'Failed to get "write" lock' -c 'write 0 4k' "$D/top.qcow2"
q_close top
want_locks "$D/top.qcow2" "" "overlay deleted"
want_locks "$D/base.qcow2" "" "backing node deleted"
img_check "$D/top.qcow2"

# --- QEMU holds the image ------------------------------------------------------
qemu-io -c 'sleep 600000' "$qcow" >/dev/null 2>&1 &
qw=$!
want_locks "$qcow" "$RW_BYTES" "qemu-io writer" 50
mark=$(dmesg_mark qemu-writer)
expect_error 'in use by another process: failed to get "write" lock' \
	node add qcow2 node-name=qw file="$qcow"
gone qw
kmsg_expect "$mark" "node 'qw': image .*a\.qcow2: image is in use by another process"
expect_error 'in use by another process: failed to get shared "write" lock' \
	node add qcow2 node-name=qw file="$qcow" read-only=on
gone qw
info_u "$qcow"
kill "$qw"
wait "$qw" 2>/dev/null || true
want_locks "$qcow" "" "qemu-io writer gone"

qemu-io -r -c 'sleep 600000' "$qcow" >/dev/null 2>&1 &
qr=$!
want_locks "$qcow" "$RO_BYTES" "qemu-io reader" 50
expect_error 'in use by another process: failed to get "write" lock' \
	node add qcow2 node-name=qw file="$qcow"
gone qw
node_add qcow2 node-name=qr file="$qcow" read-only=on
node_del qr
kill "$qr"
wait "$qr" 2>/dev/null || true

# --- a block device child: the node rule only ----------------------------------
truncate -s 16M "$D/dev.raw"
loop=$(loop_add "$D/dev.raw")
node_add raw node-name=lw file="$loop"
mark=$(dmesg_mark blockdev)
expect_error "open read-write by another node" node add raw node-name=lw2 file="$loop"
gone lw2
kmsg_expect "$mark" "node 'lw2': block device $(lsblk -dno MAJ:MIN "$loop" | tr -d ' ') is open read-write by node 'lw'"
node_del lw
node_add raw node-name=lr1 file="$loop" read-only=on
node_add raw node-name=lr2 file="$loop" read-only=on
expect_error "open read-only by another node" node add raw node-name=lw2 file="$loop"
gone lw2
node_del lr1
node_del lr2
node_add raw node-name=lw file="$loop"
node_del lw

# --- locking off ---------------------------------------------------------------
# The table option; the CLI's locking=off comes with the option parser.
for n in off1 off2; do
	dmsetup create "$n" --uuid "VSTORAGE-$n" \
		--table "0 32768 vstorage-raw $n $raw 2 locking off" ||
		fail "dmsetup create $n with locking off failed"
	track_dm "$n"
done
want_locks "$raw" "" "two read-write nodes with locking off"
[ "$(dmsetup table off1 | cut -d' ' -f3-)" = "vstorage-raw off1 $raw 2 locking off" ] ||
	fail "dmsetup table does not round-trip locking off: $(dmsetup table off1)"
qemu_ok -f raw -c 'write 0 4k' "$raw"
dmsetup remove off1 off2 || fail "dmsetup remove off1 off2"
if vstoragectl node add raw node-name=clioff file="$raw" locking=off 2>"$D/cli.err"; then
	VS_CASE_NODES+=(clioff)
	node_add raw node-name=clioff2 file="$raw" locking=off
	node_add qcow2 node-name=cliq file="$qcow" locking=off
	node_add qcow2 node-name=cliq2 file="$qcow" locking=off read-only=on
	want_locks "$qcow" "" "qcow2 nodes with locking=off"
	node_del cliq2
	node_del cliq
	node_del clioff2
	node_del clioff
	echo "vstoragectl locking=off: two read-write nodes on one image"
else
	grep -q "unknown property 'locking'" "$D/cli.err" || { cat "$D/cli.err" >&2; fail "locking=off refused"; }
	echo "vstoragectl has no locking=off yet: the table option was tested with dmsetup"
fi

# --- everything released -------------------------------------------------------
for f in "$raw" "$qcow" "$D/base.qcow2" "$D/top.qcow2"; do
	want_locks "$f" "" "all nodes deleted"
done
qemu_ok -c 'write 0 4k' "$qcow"
qemu_ok -c 'write 0 4k' "$D/base.qcow2"
qemu_ok -f raw -c 'write 0 4k' "$raw"
[ "$(vstoragectl -j node list)" = "[]" ] || fail "nodes left: $(vstoragectl -j node list)"
