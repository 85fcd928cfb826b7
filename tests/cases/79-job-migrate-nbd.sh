#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Storage migration (Documentation/jobs.rst, "Storage migration"): a live
# qcow2 disk (over a backing file) moves to another "host" while fio
# writes and verifies through it. The other host is a second network
# namespace inside the VM, joined by a veth pair with private addresses:
# qemu-nbd serves a new qcow2 image there, the kernel NBD client attaches
# it here as /dev/nbdN, and `job start mirror node=vm target=/dev/nbdN
# sync=full` copies the disk onto it; `job complete` switches the disk
# (same dev_t) to the NBD device with no write lost. Then the disk is
# closed, the client detached, the server stopped, and the copy is checked
# on the server's side: `qemu-img check` of its image is clean and QEMU
# reads it exactly as the disk read before it was closed. Skips if the
# nbd or veth module, nbd-client, qemu-nbd or ip netns is missing.
# timeout: 300
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
# shellcheck source-path=SCRIPTDIR source=../jobs.sh
. "$(dirname "$0")/../jobs.sh"
q_host && skip "needs the kernel NBD client and network namespaces"
qcow2_begin
require_cmd qemu-nbd nbd-client fio ip
modprobe nbd >/dev/null 2>&1 || skip "cannot load module nbd"
modprobe veth >/dev/null 2>&1 || skip "cannot load module veth"
jobs_begin

M=$((1 << 20))
NS=vsmig$$
HERE=10.199.77.1
THERE=10.199.77.2
PORT=10810
NBD=
NBD_PID=

mig_cleanup() {
	local i
	vs_kill_jobs
	# the target's node holds the NBD device open: the nodes go first
	for ((i = ${#VS_CASE_NODES[@]} - 1; i >= 0; i--)); do
		dmsetup remove --retry "${VS_CASE_NODES[i]}" >/dev/null 2>&1 || true
	done
	dmsetup remove --retry vm >/dev/null 2>&1 || true
	[ -z "$NBD" ] || nbd-client -d "$NBD" >/dev/null 2>&1 || true
	[ -z "$NBD_PID" ] || kill "$NBD_PID" 2>/dev/null || true
	ip link del vsm$$a >/dev/null 2>&1 || true
	ip netns del "$NS" >/dev/null 2>&1 || true
	jobs_cleanup
}
trap mig_cleanup EXIT

# --- the other host: a namespace behind a veth pair -----------------------------
ip netns add "$NS" || skip "cannot create a network namespace"
ip link add vsm$$a type veth peer name vsm$$b || fail "cannot create a veth pair"
ip link set vsm$$b netns "$NS" || fail "cannot move the veth peer"
ip addr add "$HERE/24" dev vsm$$a
ip link set vsm$$a up
ip netns exec "$NS" ip addr add "$THERE/24" dev vsm$$b
ip netns exec "$NS" ip link set vsm$$b up
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip -br addr show dev vsm$$b | grep -q "$THERE/24" ||
	fail "the namespace's end has no address: $(ip netns exec "$NS" ip addr)"

# the remote image: new, qcow2, the disk's size, served from the namespace only
mkdir -p "$D/remote"
qemu-img create -q -f qcow2 "$D/remote/disk.qcow2" 16M
ip netns exec "$NS" qemu-nbd -f qcow2 --cache=none -b "$THERE" -p "$PORT" -t -x mig \
	--fork --pid-file="$D/qemu-nbd.pid" "$D/remote/disk.qcow2" 2>"$D/qemu-nbd.err" ||
	{ cat "$D/qemu-nbd.err" >&2; fail "qemu-nbd did not start in the namespace"; }
NBD_PID=$(cat "$D/qemu-nbd.pid")
# nothing listens here: the export is only reachable through the veth pair
qemu-nbd -L -b 127.0.0.1 -p "$PORT" >/dev/null 2>&1 && fail "the export is reachable on this host's loopback"
for s in /sys/block/nbd*; do
	[ -e "$s/pid" ] && continue
	[ "$(cat "$s/size")" = 0 ] || continue
	NBD=/dev/${s##*/}
	break
done
[ -n "$NBD" ] || fail "no free nbd device"
nbd-client "$THERE" "$PORT" "$NBD" -N mig >"$D/nbd-client.out" 2>&1 ||
	{ cat "$D/nbd-client.out" >&2; fail "nbd-client could not attach $NBD over the veth pair"; }
for _ in $(seq 50); do
	[ "$(blockdev --getsize64 "$NBD" 2>/dev/null)" = $((16 * M)) ] && break
	sleep 0.2
done
[ "$(blockdev --getsize64 "$NBD")" = $((16 * M)) ] || fail "$NBD has $(blockdev --getsize64 "$NBD") bytes"
info "$NBD: $D/remote/disk.qcow2 over qemu-nbd on $THERE:$PORT in namespace $NS"

# --- the disk, and its migration under fio ----------------------------------------
qemu-img create -q -f qcow2 "$D/base.qcow2" 16M
qio -c 'write -P 0x11 0 4M' "$D/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$D/vm.qcow2" 16M
qio -c 'write -P 0x33 4M 2M' "$D/vm.qcow2"
q_open vm "$D/vm.qcow2"
dev=$(devt /dev/mapper/vm)
fio_rounds /dev/mapper/vm $((8 * M)) $((4 * M)) &
fpid=$!
sleep 1
vstoragectl job start mirror node=vm target="$NBD" sync=full >/dev/null ||
	fail "job start mirror onto $NBD"
[ "$(json_get "$(vstoragectl -j node show vm-target)" 'j["driver"]')" = raw ] ||
	fail "the NBD device is not a raw node"
wait_job_state vm ready 120
sleep 1
vstoragectl job wait vm >"$D/wait.out" 2>&1 &
wpid=$!
sleep 0.5
vstoragectl job complete vm || fail "job complete"
wait "$wpid" || fail "job wait: the migration failed: $(cat "$D/wait.out")"
sleep 1
fio_stop "$fpid"
fio_verify_only /dev/mapper/vm $((8 * M)) $((4 * M))
[ "$(devt /dev/mapper/vm)" = "$dev" ] || fail "the disk's dev_t changed at the pivot"
dmsetup table vm | grep -q " vstorage-raw vm-target " ||
	fail "the disk does not write to $NBD: $(dmsetup table vm)"
vstoragectl node show vm-b1 >/dev/null 2>&1 && fail "the old backing node stayed"
dd if=/dev/mapper/vm of="$D/got.raw" bs=1M iflag=direct status=none
vstoragectl node del vm-target || fail "node del of the migrated disk"
dmsetup info vm >/dev/null 2>&1 && fail "the disk's device stayed"

# --- the other side's copy ------------------------------------------------------
nbd-client -d "$NBD" >/dev/null 2>&1 || fail "nbd-client -d $NBD"
NBD=
kill "$NBD_PID"
for _ in $(seq 50); do
	kill -0 "$NBD_PID" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$NBD_PID" 2>/dev/null && fail "qemu-nbd did not stop"
NBD_PID=
img_check "$D/remote/disk.qcow2"
img_compare "$D/remote/disk.qcow2" "$D/got.raw"
for i in vm base; do img_check "$D/$i.qcow2"; done
jobs_end
