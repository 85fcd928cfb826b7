#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vhost-blk behind vhost-user: `vstoragectl export vhost-user` serves a raw
# node, a throttle node over it and a qcow2 node with a backing chain;
# tests/vhost/vmm speaks the
# vhost-user protocol to it in its functional (checked against the node
# read directly), hostile and load modes, connecting again for every
# hostile case; the throttle node's IOPS limit holds for the harness's load
# within 10%; a read-only export serves reads and fails writes. SIGTERM
# ends the export with status 0 and removes the socket; vhost_blk unloads
# afterwards.
# timeout: 900
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
vs_begin
modprobe dm-vstorage-qcow2 || fail "cannot load dm-vstorage-qcow2.ko"
modprobe dm-vstorage-throttle || fail "cannot load dm-vstorage-throttle.ko"
require_cmd qemu-img
modprobe vhost || skip "no vhost.ko in this kernel"
vmm=$(dirname "$0")/../vhost/vmm
[ -x "$(dirname "$0")/../../build/bin/vhost-vmm" ] || fail "vhost-vmm is not built (make user)"

export_pid=
stop_export() {
	[ -n "$export_pid" ] || return 0
	kill -TERM "$export_pid"
	local rc=0
	wait "$export_pid" || rc=$?
	export_pid=
	[ "$rc" = 0 ] || fail "the export exited with status $rc after SIGTERM"
}
trap 'stop_export || true; vs_cleanup' EXIT

# start_export NODE ARGS...
start_export() {
	sock=$D/$1.sock
	vstoragectl export vhost-user "$@" socket="$sock" &
	export_pid=$!
	wait_for_path "$sock" 10 -S || fail "the export did not create $sock"
}

run_vmm() {
	local label=$1 out
	shift
	out=$D/vmm.$label.log
	if ! timeout 300 "$vmm" "$@" >"$out" 2>&1; then
		tail -n 40 "$out"
		fail "vmm $label failed: $*"
	fi
	tail -n 1 "$out"
}

mark=$(dmesg_mark vhost-user-raw)
truncate -s 64M "$D/raw.img"
node_add raw node-name=vuraw file="$D/raw.img"
wait_for_path /dev/vstorage/vuraw 10 -b || fail "no /dev/vstorage/vuraw"
start_export vuraw num-queues=4
run_vmm raw-functional --vhost-user "$sock" --verify /dev/vstorage/vuraw \
	--mode functional --queues 4
run_vmm raw-hostile --vhost-user "$sock" --verify /dev/vstorage/vuraw --mode hostile
run_vmm raw-load --vhost-user "$sock" --mode load --queues 2 --qd 16 --seconds 3 \
	--rw randwrite
stop_export
[ ! -e "$sock" ] || fail "the export left its socket behind"
# read-only=on: reads are served, writes fail
start_export vuraw num-queues=1 read-only=on
run_vmm raw-ro-read --vhost-user "$sock" --mode load --queues 1 --qd 4 --seconds 2 \
	--rw randread
expect_fail timeout 60 "$vmm" --vhost-user "$sock" --mode load --queues 1 --qd 4 \
	--seconds 2 --rw randwrite
stop_export
dmesg_check_since "$mark"

# a throttle node over the raw node, exported: every mode through the
# filter, then the group's IOPS limit (a sixth of the rate measured through
# the same export while the group has none) holds within 10%
mark=$(dmesg_mark vhost-user-throttle)
tgroup_add gvu
node_add throttle node-name=vuthr file=vuraw throttle-group=gvu
wait_for_path /dev/mapper/vuthr 10 -b || fail "no /dev/mapper/vuthr"
start_export vuthr num-queues=2
run_vmm thr-functional --vhost-user "$sock" --verify /dev/mapper/vuthr \
	--mode functional --queues 2
run_vmm thr-hostile --vhost-user "$sock" --verify /dev/mapper/vuthr --mode hostile
free=$(run_vmm thr-free --vhost-user "$sock" --mode load --queues 2 --qd 16 \
	--seconds 3 --rw randwrite | sed -n 's/.*: \([0-9]*\) IOPS.*/\1/p')
[ -n "$free" ] || fail "no IOPS from the unthrottled load"
limit=$((free / 6))
if ((limit < 50)) && [ "${VS_TIMEOUT_SCALE:-1}" -gt 1 ]; then
	# the debug kernel: far too slow; Debian's kernel measures the limit
	info "throttle: $free IOPS unthrottled on this kernel, too few to measure a limit"
elif ((limit < 50)); then
	fail "the unthrottled load made $free IOPS: too few to measure a limit"
else
	vstoragectl throttle-group set gvu iops-total=$limit || fail "cannot set iops-total"
	got=$(run_vmm thr-limited --vhost-user "$sock" --mode load --queues 2 --qd 16 \
		--seconds 6 --rw randwrite | sed -n 's/.*: \([0-9]*\) IOPS.*/\1/p')
	[ -n "$got" ] || fail "no IOPS from the throttled load"
	((got * 10 >= limit * 9 && got * 10 <= limit * 11)) ||
		fail "$got IOPS through an export of a throttle node limited to $limit (unthrottled: $free)"
	info "throttle: $got IOPS for a limit of $limit (unthrottled $free)"
fi
stop_export
dmesg_check_since "$mark"
node_del vuthr
node_del vuraw

mark=$(dmesg_mark vhost-user-qcow2)
qemu-img create -q -f raw "$D/base.raw" 48M
qemu-io -f raw -c 'write -P 0x5a 0 48M' "$D/base.raw" >/dev/null
qemu-img create -q -f qcow2 -b "$D/base.raw" -F raw "$D/top.qcow2" 64M
node_add qcow2 node-name=vuq file="$D/top.qcow2"
wait_for_path /dev/vstorage/vuq 10 -b || fail "no /dev/vstorage/vuq"
start_export vuq num-queues=2
run_vmm qcow2-functional --vhost-user "$sock" --verify /dev/vstorage/vuq \
	--mode functional --queues 2
stop_export
dmesg_check_since "$mark"
node_del vuq
qemu-img check -q "$D/top.qcow2" || fail "qemu-img check finds top.qcow2 inconsistent"

# a wrong option is refused before anything is served
expect_fail vstoragectl export vhost-user vuq socket="$D/x.sock" num-queues=99
modprobe -r vhost_blk || fail "cannot unload vhost_blk"
echo "done"
