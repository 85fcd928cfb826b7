#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Changing a live graph: node insert-filter / remove-filter on a qcow2
# disk with a backing chain while fio writes through it with crc32c
# verification. Filters go in on the user-visible device, below another
# filter and above it, come out from the top and from the middle; the
# workload's device keeps its dev_t and /dev/vstorage link, fio sees no
# error, qemu-img check is clean. graph show (text and -j) describes each
# stage; I/O goes through the group of an inserted throttle filter; taking
# a filter out while a tiny limit holds a deep queue back returns at once;
# failures injected half-way are undone; refusals name the problem; node
# reopen of the qcow2 node's cache options under fio, of a throttle node's
# group, read-only <-> read-write of a raw node; copy-on-read inserted
# under a throttle filter in the round trips; node del of the disk removes
# every device under it; node del of a filter in the stack is refused.
# timeout: 420
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
q_host && skip "needs the kernel"
qcow2_begin
require_cmd fio
modprobe dm-vstorage-throttle || fail "cannot load dm-vstorage-throttle.ko"

qemu-img create -q -f qcow2 "$D/base.qcow2" 64M
qio -c 'write -P 0x5a 0 64M' "$D/base.qcow2"
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$D/top.qcow2" 64M
truncate -s 16M "$D/raw.img"

# removed at exit after vm1 (in reverse order): the devices under it
for d in vm1-vm1 vm1-thr2 vm1-thr1 vm1-cor1; do track_dm "$d"; done
q_open vm1 "$D/top.qcow2"
node_add raw node-name=r0 file="$D/raw.img"
tgroup_add g1
tgroup_add g2 iops-total=100000

devt() { stat -L -c '%t:%T' "$1"; }
dev0=$(devt /dev/mapper/vm1)
link0=$(readlink -f /dev/vstorage/vm1)

# the disk's device is unchanged and carries TABLE-TARGET; node vm1 is on
# device HOLDER
check_disk() {
	local target=$1 holder=$2 j
	[ "$(devt /dev/mapper/vm1)" = "$dev0" ] || fail "/dev/mapper/vm1 changed its device number"
	[ "$(readlink -f /dev/vstorage/vm1)" = "$link0" ] ||
		fail "/dev/vstorage/vm1 moved: $(ls -l /dev/vstorage/ /dev/mapper/ 2>&1 | tr '\n' ' ')"
	dmsetup table vm1 | grep -q "^0 [0-9]* $target " ||
		fail "vm1's table is not $target: $(dmsetup table vm1)"
	j=$(vstoragectl -j node show vm1) || fail "node show vm1"
	[ "$(json_get "$j" 'j["node-dm-name"]')" = "$holder" ] ||
		fail "node show vm1: node-dm-name is not $holder: $j"
	[ "$(json_get "$j" 'j["device"]')" = /dev/mapper/vm1 ] ||
		fail "node show vm1: device is not /dev/mapper/vm1: $j"
}

# the chain of drivers and node names from the top node of device vm1
# down its "file" children, from graph show -j
chain() {
	json_get "$(vstoragectl -j graph show)" '" ".join("%s:%s" % (n["driver"], n["node-name"]) for n in (lambda d: (lambda f: f(f, d))(lambda f, x: [x] + (f(f, x["file"]) if isinstance(x.get("file"), dict) and "node-name" in x["file"] else [])))([d for d in j["devices"] if d["dm-name"] == "vm1"][0]["node"]))'
}

check_disk vstorage-qcow2 vm1
[ "$(chain)" = "qcow2:vm1" ] || fail "graph: $(chain)"

# --- refusals: nothing changes ---------------------------------------------
expect_error "not a filter" node insert-filter vm1 raw node-name=x
expect_error "no file= here" node insert-filter vm1 throttle node-name=x throttle-group=g1 file=r0
expect_error "unknown driver" node insert-filter vm1 nodriver node-name=x
expect_error "missing node-name" node insert-filter vm1 throttle throttle-group=g1
expect_error "node 'r0' already exists" node insert-filter vm1 throttle node-name=r0 throttle-group=g1
expect_error "no such node|no node" node insert-filter nonode throttle node-name=x throttle-group=g1
expect_error "automatic backing node" node insert-filter vm1-b1 throttle node-name=x throttle-group=g1
expect_error "not a filter" node remove-filter vm1
expect_error "no node" node remove-filter nonode
node_add throttle node-name=t0 file=r0 throttle-group=g1
expect_error "insert-filter did not make" node remove-filter t0
node_del t0
# the kernel refuses a group that does not exist: the move is undone
expect_error "cannot insert filter 'thr1' over node 'vm1': no such throttle group" node insert-filter vm1 throttle node-name=thr1 throttle-group=nogroup
check_disk vstorage-qcow2 vm1
vstoragectl node show thr1 >/dev/null 2>&1 && fail "thr1 exists after a refused insert"

# --- changes under fio -------------------------------------------------------
# fio rounds (each writes and verifies) until $D/stop: every change below
# happens under I/O, however slow the kernel
fio_rounds() {
	local n=0
	while [ ! -e "$D/stop" ]; do
		fio --name=g --filename=/dev/mapper/vm1 --ioengine=libaio \
			--direct=1 --rw=randwrite --bs=4k --iodepth=8 --size=8M \
			--verify=crc32c --verify_fatal=1 --verify_backlog=256 \
			--do_verify=1 --randseed=$((62 + n)) --rate_iops=100 \
			>"$D/fio.out" 2>&1 || return 1
		grep -q "err= 0" "$D/fio.out" || return 1
		n=$((n + 1))
		echo "$n" >"$D/fio.rounds"
	done
}
fio_rounds &
fpid=$!
sleep 2
under_io=0
step() {
	info "node $*"
	vstoragectl node "$@" || fail "node $* failed"
	kill -0 "$fpid" 2>/dev/null && under_io=$((under_io + 1))
	return 0
}

# injected failures half-way are undone while fio runs
for f in create load resume; do
	VSTORAGECTL_FAULT_MOVE=$f expect_error "injected fault at step '$f'" \
		node insert-filter vm1 throttle node-name=thr1 throttle-group=g1
	check_disk vstorage-qcow2 vm1
done

step insert-filter vm1 throttle node-name=thr1 throttle-group=g1
check_disk vstorage-thr vm1-vm1
[ "$(chain)" = "throttle:thr1 qcow2:vm1" ] || fail "graph after insert: $(chain)"
[ ! -e /dev/vstorage/vm1-vm1 ] || fail "the device under vm1 took a /dev/vstorage link"
[ "$(dmsetup info -c --noheadings -o uuid vm1-vm1)" = VSTORAGE-node:vm1 ] ||
	fail "vm1-vm1 has the wrong UUID"
sleep 1
ops=$(json_get "$(vstoragectl -j throttle-group show g1)" 'j["stats"]["wr-ops"]')
((ops > 0)) || fail "no write went through group g1 after the insert"

# below the filter (thr2 between thr1 and vm1), and above it (thr3)
step insert-filter vm1 throttle node-name=thr2 throttle-group=g2
check_disk vstorage-thr vm1-vm1
[ "$(chain)" = "throttle:thr1 throttle:thr2 qcow2:vm1" ] || fail "graph: $(chain)"
step insert-filter thr1 throttle node-name=thr3 throttle-group=g1
check_disk vstorage-thr vm1-vm1
[ "$(chain)" = "throttle:thr3 throttle:thr1 throttle:thr2 qcow2:vm1" ] ||
	fail "graph: $(chain)"
vstoragectl graph show >"$D/graph.txt" || fail "graph show"
cat "$D/graph.txt"
grep -q "^/dev/mapper/vm1 " "$D/graph.txt" || fail "graph show does not name /dev/mapper/vm1"
grep -q "backing: vm1-b1 (qcow2)" "$D/graph.txt" || fail "graph show lacks the backing node"
grep -q "file: $D/base.qcow2" "$D/graph.txt" || fail "graph show lacks the base image"
grep -q "^throttle-group g2: iops-total=100000" "$D/graph.txt" || fail "graph show lacks group g2"
j=$(vstoragectl -j graph show)
[ "$(json_get "$j" '[g for g in j["throttle-groups"] if g["id"] == "g2"][0]["limits"]["iops-total"]')" = 100000 ] ||
	fail "graph show -j: group g2: $j"
[ "$(json_get "$j" '[d for d in j["devices"] if d["dm-name"] == "vm1"][0]["node"]["throttle-group"]')" = g1 ] ||
	fail "graph show -j: thr3's group: $j"
expect_error "filter in the graph of device 'vm1'" node del thr2
expect_error "filter in the graph of device 'vm1'" node del thr3

# out of the middle, then from the top
step remove-filter thr1
[ "$(chain)" = "throttle:thr3 throttle:thr2 qcow2:vm1" ] || fail "graph: $(chain)"
VSTORAGECTL_FAULT_MOVE=back-resume expect_error "injected fault at step 'back-resume'" \
	node remove-filter thr3
[ "$(chain)" = "throttle:thr3 throttle:thr2 qcow2:vm1" ] || fail "graph after a failed remove: $(chain)"
step remove-filter thr3
[ "$(chain)" = "throttle:thr2 qcow2:vm1" ] || fail "graph: $(chain)"
step remove-filter thr2
check_disk vstorage-qcow2 vm1
[ "$(chain)" = "qcow2:vm1" ] || fail "graph: $(chain)"

# a deep queue behind a tiny limit does not hold a remove back
step insert-filter vm1 throttle node-name=thr1 throttle-group=g1
vstoragectl throttle-group set g1 iops-total=2 || fail "throttle-group set"
fio --name=deep --filename=/dev/mapper/vm1 --ioengine=libaio --direct=1 \
	--rw=randread --bs=4k --iodepth=16 --time_based --runtime=30 \
	--size=16M >/dev/null 2>&1 &
deep=$!
# (fio takes a while to start on a debug kernel)
for _ in $(seq 30); do
	q=$(json_get "$(vstoragectl -j throttle-group show g1)" 'j["stats"]["queued"]')
	((q < 8)) || break
	sleep 1
done
((q >= 8)) || fail "only $q bios queued behind iops-total=2"
t0=$(date +%s%N)
step remove-filter thr1
ms=$((($(date +%s%N) - t0) / 1000000))
info "remove-filter with $q bios queued behind the limit took $ms ms"
# waiting on the limit would take q / 2 s; the graph change alone took up
# to 3 s in a one-vCPU VM under this fio
max=$((q * 250 > 3000 ? q * 250 : 3000))
((ms < max * ${VS_TIMEOUT_SCALE:-1})) || fail "remove-filter waited on the limit ($ms ms for $q bios at 2 IOPS)"
vstoragectl throttle-group set g1 iops-total=0 || fail "throttle-group set"
kill "$deep" 2>/dev/null || true
wait "$deep" 2>/dev/null || true
check_disk vstorage-qcow2 vm1

# options of the live qcow2 node, under fio
step reopen vm1 l2-cache-size=2M discard=unmap cache-clean-interval=30
dmsetup table vm1-vm1 >/dev/null 2>&1 && fail "vm1-vm1 is left after the removes"
t=$(dmsetup table vm1)
[[ $t == *" l2-cache-size 2097152"* && $t == *" discard unmap"* && $t == *" cache-clean-interval 30"* ]] ||
	fail "reopen did not change vm1's table: $t"
check_disk vstorage-qcow2 vm1
expect_error "property 'backing' cannot be changed on a live node" node reopen vm1 backing=none
expect_error "property 'size' cannot be changed" node reopen r0 size=1M
expect_error "discard=sometimes: invalid value" node reopen vm1 discard=sometimes
expect_error "no node" node reopen nonode discard=unmap

# round trips: a throttle filter, copy-on-read under it
for _ in 1 2 3; do
	step insert-filter vm1 throttle node-name=thr1 throttle-group=g1
	step insert-filter vm1 copy-on-read node-name=cor1
	step reopen thr1 throttle-group=g2
	step remove-filter thr1
	step remove-filter cor1
done
kill -0 "$fpid" 2>/dev/null || { cat "$D/fio.out" >&2; fail "fio stopped early"; }
touch "$D/stop"
rc=0
wait "$fpid" || rc=$?
[ "$rc" -eq 0 ] || { cat "$D/fio.out" >&2; fail "fio failed (exit $rc)"; }
info "fio done, $(cat "$D/fio.rounds" 2>/dev/null || echo 0) rounds, every write verified; $under_io graph changes under I/O"
[ -s "$D/fio.rounds" ] || fail "not one fio round finished"
((under_io >= 20)) || fail "only $under_io graph changes happened under I/O"
check_disk vstorage-qcow2 vm1

# read-only <-> read-write of a live raw node, while fio reads back and
# verifies what it wrote before
r0fio=(--rw=randwrite --bs=4k --iodepth=8 --size=8M --randseed=620)
fio_verify /dev/mapper/r0 r0w "${r0fio[@]}"
step reopen r0 read-only=on
[ "$(blockdev --getro /dev/mapper/r0)" = 1 ] || fail "r0 is not read-only after reopen"
dd if=/dev/zero of=/dev/mapper/r0 bs=4k count=1 seek=3000 oflag=direct status=none 2>/dev/null &&
	fail "a write to read-only r0 succeeded"
fio --name=r0v --filename=/dev/mapper/r0 --ioengine=libaio --direct=1 \
	--verify=crc32c --verify_fatal=1 --verify_only --loops=4 "${r0fio[@]}" \
	>"$D/fio-r0v.out" 2>&1 &
r0v=$!
sleep 1
step reopen r0 read-only=off
[ "$(blockdev --getro /dev/mapper/r0)" = 0 ] || fail "r0 is still read-only"
kill -0 "$r0v" 2>/dev/null || info "(the verifying read of r0 ended before the reopen finished)"
wait "$r0v" || { cat "$D/fio-r0v.out" >&2; fail "verifying r0 across the reopen failed"; }
fio_verify /dev/mapper/r0 r0rw "${r0fio[@]}" --randseed=621

# node del of the disk takes every device under it away
step insert-filter vm1 throttle node-name=thr1 throttle-group=g1
step insert-filter vm1 throttle node-name=thr2 throttle-group=g2
node_del vm1
for d in vm1 vm1-vm1 vm1-thr2; do
	dmsetup info "$d" >/dev/null 2>&1 && fail "device $d is left after node del vm1"
done
for n in vm1 thr1 thr2; do
	vstoragectl node show "$n" >/dev/null 2>&1 && fail "node $n is left after node del vm1"
done
[ -z "$(q_auto_nodes)" ] || fail "automatic nodes left: $(q_auto_nodes)"
qemu-img check "$D/top.qcow2" >"$D/check.out" 2>&1 ||
	{ cat "$D/check.out" >&2; fail "qemu-img check after the graph changes"; }
info "ok"
