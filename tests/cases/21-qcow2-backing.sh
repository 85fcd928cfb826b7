#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Backing chains: qcow2 over qcow2 over raw (depth 3), the raw base smaller
# than the images above it (reads past its end are zeroes), data written
# into every layer by qemu-io before opening. `node add qcow2` without
# backing= builds the chain itself (read-only nodes top-b1, top-b2 with DM
# UUID VSTORAGE-auto-...); the device equals `qemu-img convert`, `node map`
# equals `qemu-img map`; a second overlay shares the base nodes; backing=none
# hides the chain; a user-made base node is used and left alone; `node del`
# removes the automatic nodes nothing else uses.
# timeout: 240
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
qcow2_begin

M=$((1 << 20))
mkdir -p "$D/sub"
# base.raw 24M < mid.qcow2 40M < top.qcow2 48M; mid in a subdirectory and
# named by top relatively, base named by mid absolutely
qemu-img create -q -f raw "$D/base.raw" 24M
qio -f raw -c 'write -P 0x01 0 24M' -c 'write -P 0x02 1M 64k' \
	-c 'write -z 3M 1M' "$D/base.raw"
qemu-img create -q -f qcow2 -b "$D/base.raw" -F raw "$D/sub/mid.qcow2" 40M
qio -c 'write -P 0x11 2M 2M' -c "write -P 0x12 $((5 * M + 4096)) 4k" \
	-c 'write -z 6M 128k' -c 'write -c -P 0x13 8M 64k' -c 'write -P 0x14 30M 1M' \
	"$D/sub/mid.qcow2"
qemu-img create -q -f qcow2 -b sub/mid.qcow2 -F qcow2 -o cluster_size=16k "$D/top.qcow2" 48M
qio -c 'write -P 0x21 0 16k' -c "write -P 0x22 $((2 * M + 512)) 1k" \
	-c 'write -z 1M 32k' -c 'discard 2M 16k' -c 'write -P 0x23 23M 2M' \
	-c 'write -P 0x24 44M 16k' "$D/top.qcow2"
for i in base.raw sub/mid.qcow2 top.qcow2; do
	[ "$i" = base.raw ] || qemu-img check -q "$D/$i" || fail "QEMU finds $i inconsistent"
done

# check_dev NAME IMAGE [QEMU-OPTS]: the device equals qemu-img convert
check_dev() {
	q_read "$1" "$D/dev.raw" || fail "reading node $1 failed"
	oracle_raw "$2" "$D/qemu.raw"
	same_raw "$D/dev.raw" "$D/qemu.raw" "node $1 vs qemu-img convert $(basename "$2")"
	rm -f "$D/dev.raw" "$D/qemu.raw"
}

# --- the automatic chain --------------------------------------------------
q_open top "$D/top.qcow2"
check_dev top "$D/top.qcow2"
# past the raw base's end (24M..40M) mid's unwritten parts read as zeroes
q_read top "$D/tail" $((25 * M)) $((4 * M))
cmp -n $((4 * M)) "$D/tail" /dev/zero || fail "reads past the end of the base are not zeroes"
echo "reads past the base's end are zeroes"

if ! q_host; then
	autos=$(q_auto_nodes | tr '\n' ' ')
	[ "$autos" = "top-b1 top-b2 " ] || fail "automatic nodes: '$autos', want 'top-b1 top-b2'"
	for n in top-b1 top-b2; do
		[ "$(dmsetup info -c --noheadings -o uuid "$n")" = "VSTORAGE-auto-$n" ] ||
			fail "$n: wrong DM UUID"
		[ "$(blockdev --getro "/dev/mapper/$n")" = 1 ] || fail "$n is not read-only"
	done
	j=$(q_show top)
	[ "$(json_get "$j" "[c['node-name'] for c in j['children'] if c['role'] == 'backing'][0]")" = top-b1 ] ||
		fail "top's backing child is not top-b1: $j"
	j=$(q_show top-b1)
	[ "$(json_get "$j" "j['driver']")" = qcow2 ] || fail "top-b1 is not qcow2"
	[ "$(json_get "$j" "j['read-only']")" = True ] || fail "top-b1 is not read-only"
	[ "$(json_get "$j" "[c['path'] for c in j['children'] if c['role'] == 'file'][0]")" = "$(realpath "$D/sub/mid.qcow2")" ] ||
		fail "top-b1 does not serve sub/mid.qcow2: $j"
	[ "$(json_get "$(q_show top-b2)" "j['driver']")" = raw ] || fail "top-b2 is not raw"
	# the automatic nodes are in use
	expect_error "in use|busy" node del top-b1

	# node map == qemu-img map
	vstoragectl -j node map top >"$D/map.vs" || fail "node map top failed"
	qemu-img map -U --output=json "$D/top.qcow2" >"$D/map.qemu"
	python3 - "$D/map.vs" "$D/map.qemu" <<'EOF' || fail "node map differs from qemu-img map"
import json, sys
a = json.load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))
print(f"node map: {len(a)} extents, qemu-img map: {len(b)} extents")
if a != b:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            print(f"first difference at entry {i}:\n  vstorage {x}\n  qemu-img {y}")
            break
    else:
        print("one list is longer")
    sys.exit(1)
EOF
	vstoragectl -j node map top offset=2M length=8M >"$D/map.vs"
	qemu-img map -U --output=json --start-offset=2M --max-length=8M "$D/top.qcow2" >"$D/map.qemu"
	python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
		"$D/map.vs" "$D/map.qemu" || fail "node map offset=2M length=8M differs from qemu-img map"
	echo "node map equals qemu-img map (whole and a window)"
fi

# --- a second overlay shares the base nodes -------------------------------
qemu-img create -q -f qcow2 -b sub/mid.qcow2 -F qcow2 "$D/top2.qcow2" 40M
qio -c 'write -P 0x31 4M 1M' "$D/top2.qcow2"
q_open top2 "$D/top2.qcow2"
check_dev top2 "$D/top2.qcow2"
if ! q_host; then
	autos=$(q_auto_nodes | tr '\n' ' ')
	[ "$autos" = "top-b1 top-b2 " ] || fail "top2 made its own nodes: '$autos'"
	[ "$(json_get "$(q_show top2)" "[c['node-name'] for c in j['children'] if c['role'] == 'backing'][0]")" = top-b1 ] ||
		fail "top2 does not use top-b1"
	echo "top2 shares top-b1 and top-b2"
fi
q_close top
if ! q_host; then
	[ "$(q_auto_nodes | tr '\n' ' ')" = "top-b1 top-b2 " ] ||
		fail "node del top removed nodes top2 still uses"
fi
check_dev top2 "$D/top2.qcow2"
q_close top2
if ! q_host; then
	[ -z "$(q_auto_nodes)" ] || fail "automatic nodes left after the last del: $(q_auto_nodes)"
	[ ! -e /dev/mapper/top-b1 ] || fail "/dev/mapper/top-b1 still exists"
	echo "node del removed the automatic chain"
fi

# --- backing=none: the chain is hidden ------------------------------------
q_open alone "$D/top.qcow2" backing=none read-only=on
q_read alone "$D/dev.raw"
oracle_raw "json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"$D/top.qcow2\"},\"backing\":null}" "$D/qemu.raw"
same_raw "$D/dev.raw" "$D/qemu.raw" "top.qcow2 with backing=none"
q_close alone
q_host || [ -z "$(q_auto_nodes)" ] || fail "backing=none made automatic nodes"

if ! q_host; then
	# --- a user-made node serves the base: used, and left alone -----------
	node_add raw node-name=ubase file="$D/base.raw" read-only=on
	q_open top "$D/top.qcow2"
	[ "$(q_auto_nodes | tr '\n' ' ')" = "top-b1 " ] ||
		fail "with ubase serving base.raw, automatic nodes: '$(q_auto_nodes | tr '\n' ' ')'"
	[ "$(json_get "$(q_show top-b1)" "[c['node-name'] for c in j['children'] if c['role'] == 'backing'][0]")" = ubase ] ||
		fail "top-b1 does not use ubase"
	check_dev top "$D/top.qcow2"
	q_close top
	[ -z "$(q_auto_nodes)" ] || fail "automatic nodes left: $(q_auto_nodes)"
	[ -b /dev/mapper/ubase ] || fail "node del top removed the user's node ubase"
	node_del ubase

	# --- backing=NODE ------------------------------------------------------
	node_add raw node-name=ubase file="$D/base.raw" read-only=on
	node_add qcow2 node-name=umid file="$D/sub/mid.qcow2" backing=ubase read-only=on
	q_open top "$D/top.qcow2" backing=umid
	[ -z "$(q_auto_nodes)" ] || fail "backing=umid made automatic nodes"
	check_dev top "$D/top.qcow2"
	q_close top
	node_del umid
	node_del ubase

	# --- a name in the way: the letter ------------------------------------
	truncate -s 1M "$D/other.raw"
	node_add raw node-name=top-b1 file="$D/other.raw" read-only=on
	q_open top "$D/top.qcow2"
	[ "$(q_auto_nodes | tr '\n' ' ')" = "top-b1a top-b2 " ] ||
		fail "with top-b1 taken, automatic nodes: '$(q_auto_nodes | tr '\n' ' ')'"
	check_dev top "$D/top.qcow2"
	q_close top
	node_del top-b1
	[ -z "$(q_auto_nodes)" ] || fail "automatic nodes left: $(q_auto_nodes)"
fi
echo "backing chains agree with QEMU"
