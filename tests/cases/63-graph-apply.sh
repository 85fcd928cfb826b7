#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# graph show -j / graph apply: a graph of two qcow2 overlays on one base
# image (automatic backing nodes), a throttle group over both disks
# (inserted filters), copy-on-read under one of them, a raw disk with a
# throttle node made by node add over it. graph show -j is saved, applied
# to the live graph (nothing changes), everything torn down, applied again:
# the rebuilt graph's graph show -j equals the saved one (device numbers
# aside) and fio verifies data through it; applying twice changes nothing.
# Files with an error (JSON syntax, unknown driver, missing image, a cycle,
# a name described twice, a node that fails half-way) build nothing and
# name the problem; a device that exists but differs is refused. The
# directory form applies every *.json.
# timeout: 300
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
modprobe dm-vstorage-copy-on-read || fail "cannot load dm-vstorage-copy-on-read.ko"

qemu-img create -q -f qcow2 "$D/base.qcow2" 64M
qio -c 'write -P 0x5a 0 16M' "$D/base.qcow2"
for v in vm1 vm2; do
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$D/$v.qcow2" 64M
done
truncate -s 16M "$D/r0.img"

# every device this case may make, removed at exit after the disks
for d in vm1-vm1 vm2-vm2 vm2-cor2 t0 r0; do track_dm "$d"; done

build() {
	tgroup_add g1 bps-total=100M iops-total=20000
	q_open vm1 "$D/vm1.qcow2"
	q_open vm2 "$D/vm2.qcow2" l2-cache-size=1M
	vstoragectl node insert-filter vm1 throttle node-name=thr1 throttle-group=g1
	vstoragectl node insert-filter vm2 copy-on-read node-name=cor2
	vstoragectl node insert-filter cor2 throttle node-name=thr2 throttle-group=g1
	node_add raw node-name=r0 file="$D/r0.img" cache.direct=off
	node_add throttle node-name=t0 file=r0 throttle-group=g1
}

# the graph without device numbers, canonical
canon() {
	python3 -c 'import json, sys
j = json.load(sys.stdin)
for d in j["devices"]:
    d.pop("major"); d.pop("minor")
print(json.dumps(j, sort_keys=True))'
}

teardown() {
	local n
	for n in vm1 vm2 t0 r0; do
		vstoragectl node del "$n" || fail "node del $n"
	done
	vstoragectl throttle-group del g1 || fail "throttle-group del g1"
	[ "$(vstoragectl -j graph show | canon)" = '{"devices": [], "throttle-groups": []}' ] ||
		fail "not everything is gone: $(vstoragectl -j graph show)"
}

build
vstoragectl graph show
vstoragectl -j -p graph show >"$D/graph.json"
canon <"$D/graph.json" >"$D/want"
[ "$(json_get "$(cat "$D/graph.json")" '[(d["node"]["driver"], d["node"]["file"]["driver"]) for d in j["devices"] if d["dm-name"] == "vm2"][0]')" = "('throttle', 'copy-on-read')" ] ||
	fail "vm2's top is not thr2 over cor2: $(cat "$D/graph.json")"

# applied to the live graph it is: nothing to do
out=$(vstoragectl graph apply "$D/graph.json") || fail "graph apply of the live graph"
[ -z "$out" ] || fail "graph apply of the live graph built something: $out"

# --- errors build nothing -----------------------------------------------------
teardown
# bad FILE-CONTENT REGEX
bad() {
	printf '%s\n' "$1" >"$D/bad.json"
	expect_error "$2" graph apply "$D/bad.json"
	[ "$(vstoragectl -j graph show | canon)" = '{"devices": [], "throttle-groups": []}' ] ||
		fail "a bad file built something: $(vstoragectl -j graph show)"
}
img=$D/vm1.qcow2
bad '{"devices": [}' 'line 1: unexpected character'
bad '{"devices": [{"dm-name": "x1", "node": {"driver": "vmdk", "node-name": "x1", "file": {"driver": "file", "filename": "'"$img"'"}}}]}' \
	"node 'x1': unknown driver 'vmdk'"
bad '{"devices": [{"dm-name": "x1", "node": {"driver": "qcow2", "node-name": "x1", "file": {"driver": "file", "filename": "'"$D"'/nope.qcow2"}}}]}' \
	"node 'x1': image .*nope.qcow2: No such file"
bad '{"devices": [{"dm-name": "x1", "node": {"driver": "qcow2", "node-name": "x1", "backing": "x1", "file": {"driver": "file", "filename": "'"$img"'"}}}]}' \
	"cycle"
bad '{"devices": [{"dm-name": "x1", "node": {"driver": "raw", "node-name": "x1", "file": {"driver": "file", "filename": "'"$D"'/r0.img"}}}, {"dm-name": "x1", "node": {"driver": "raw", "node-name": "x1", "file": {"driver": "file", "filename": "'"$D"'/r0.img"}}}]}' \
	"node 'x1' is described twice"
bad '{"throttle-groups": [{"qom-type": "throttle-group", "id": "gx", "limits": {"bps-total": 1, "bps-read": 1}}]}' \
	"bps-total"
# the second device fails when built: the group and the first go again
bad '{"throttle-groups": [{"qom-type": "throttle-group", "id": "gx", "limits": {}}], "devices": [{"dm-name": "x1", "node": {"driver": "raw", "node-name": "x1", "file": {"driver": "file", "filename": "'"$D"'/r0.img"}}}, {"dm-name": "x2", "node": {"driver": "qcow2", "node-name": "x2", "file": {"driver": "file", "filename": "'"$D"'/r0.img"}}}]}' \
	"node 'x2'"

# --- rebuilt from the file ------------------------------------------------------
vstoragectl graph apply "$D/graph.json" || fail "graph apply after the teardown"
vstoragectl -j graph show | canon >"$D/got"
diff "$D/want" "$D/got" || fail "the rebuilt graph differs"
out=$(vstoragectl graph apply "$D/graph.json") || fail "graph apply a second time"
[ -z "$out" ] || fail "graph apply a second time built something: $out"
fio_verify /dev/mapper/vm2 rebuilt --rw=randwrite --bs=4k --iodepth=8 --size=8M
[ "$(dmsetup table vm2 | awk '{print $3}')" = vstorage-thr ] || fail "vm2 is not served by thr2"

# a device that exists but differs is refused
vstoragectl node remove-filter thr1 || fail "remove-filter thr1"
expect_error "device 'vm1' exists and is not what the file describes" graph apply "$D/graph.json"

# the directory form, as vstorage-graph.service runs it
teardown
mkdir "$D/graph.d"
cp "$D/graph.json" "$D/graph.d/10-host.json"
printf 'not json\n' >"$D/graph.d/README"
vstoragectl graph apply "$D/graph.d" || fail "graph apply DIR"
vstoragectl -j graph show | canon >"$D/got2"
diff "$D/want" "$D/got2" || fail "the graph applied from a directory differs"
teardown
info "ok"
