# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/vstorage.sh - vstorage-specific helpers for VM test cases. Source it
# after tests/lib.sh. A case calls vs_begin once; everything it creates
# through these helpers is removed when it exits, pass or fail.

VS_CASE_NODES=()
VS_CASE_GROUPS=()
VS_CASE_LOOPS=()
VS_CASE_DIR=

# vs_kill_jobs: a case that failed half-way may leave fio holding a device
# open; cleanups stop its background jobs before removing devices.
vs_kill_jobs() {
	local i
	for i in $(jobs -p); do
		kill "$i" 2>/dev/null || true
	done
	wait 2>/dev/null || true
}

vs_cleanup() {
	local i
	vs_kill_jobs
	for ((i = ${#VS_CASE_NODES[@]} - 1; i >= 0; i--)); do
		dmsetup remove --retry "${VS_CASE_NODES[i]}" >/dev/null 2>&1 || true
	done
	for i in "${VS_CASE_GROUPS[@]}"; do
		vstoragectl throttle-group del "$i" >/dev/null 2>&1 || true
	done
	# loop_add also writes them down: it is usually run in a $(...)
	if [ -n "$VS_CASE_DIR" ] && [ -f "$VS_CASE_DIR/.loops" ]; then
		mapfile -t -O "${#VS_CASE_LOOPS[@]}" VS_CASE_LOOPS <"$VS_CASE_DIR/.loops"
	fi
	for i in "${VS_CASE_LOOPS[@]}"; do
		losetup -d "$i" 2>/dev/null || true
	done
	[ -n "$VS_CASE_DIR" ] && rm -rf "$VS_CASE_DIR"
	return 0
}

# vs_begin: require the VM, load the modules (a failure to load is a test
# failure, not a skip), make a scratch directory $D for this case.
vs_begin() {
	require_vm
	modprobe vstorage || fail "cannot load vstorage.ko"
	modprobe dm-vstorage-raw || fail "cannot load dm-vstorage-raw.ko"
	VS_CASE_DIR=$VS_SCRATCH/$(vs_case_name "$0").$$
	mkdir -p "$VS_CASE_DIR"
	D=$VS_CASE_DIR
	trap vs_cleanup EXIT
}

# node_add DRIVER node-name=NAME ...: vstoragectl node add, remembered for
# cleanup.
node_add() {
	local a name=
	for a in "$@"; do
		case $a in node-name=*) name=${a#node-name=} ;; esac
	done
	vstoragectl node add "$@" || fail "node add failed: $*"
	VS_CASE_NODES+=("$name")
}

# tgroup_add NAME [LIMIT=VALUE...]: a throttle group, deleted at exit
# (after the nodes).
tgroup_add() {
	vstoragectl throttle-group add "$@" || fail "throttle-group add failed: $*"
	VS_CASE_GROUPS+=("$1")
}

# node_del NAME
node_del() {
	vstoragectl node del "$1" || fail "node del $1 failed"
	local i
	for i in "${!VS_CASE_NODES[@]}"; do
		[ "${VS_CASE_NODES[i]}" = "$1" ] && unset 'VS_CASE_NODES[i]'
	done
	VS_CASE_NODES=("${VS_CASE_NODES[@]}")
}

# track_dm NAME: remove dm device NAME at exit (for devices made by dmsetup).
track_dm() {
	VS_CASE_NODES+=("$1")
}

# loop_add FILE: print a new loop device over FILE (direct I/O), removed at exit.
loop_add() {
	local dev
	modprobe loop 2>/dev/null || true
	dev=$(losetup --direct-io=on -f --show "$1") || fail "losetup $1"
	VS_CASE_LOOPS+=("$dev")
	[ -z "$VS_CASE_DIR" ] || printf '%s\n' "$dev" >>"$VS_CASE_DIR/.loops"
	printf '%s\n' "$dev"
}

# logwrites_qcow2 DATA_SIZE BASE_RAW CLUSTER_SIZE L2_CACHE: for the crash
# cases, a qcow2 image on the dm-log-writes device $LW (over loop devices
# on $D/data.img, DATA_SIZE, and a 1 GiB $D/log.img): made by qemu-img
# create after the log began, so that a replay starts from zeroes, with
# 64-bit refcounts (a refcount block covers 2 MiB at 4 KiB clusters: the
# image outgrows it) and BASE_RAW as its raw backing file on a read-only
# loop device; a mark "created"; then the node $Q, $VSIZE bytes, with
# discard unmap and an L2 cache of L2_CACHE bytes. Sets dataloop, logloop,
# baseloop, lwdev and dev.
logwrites_qcow2() {
	truncate -s "$1" "$D/data.img"
	truncate -s 1G "$D/log.img"
	dataloop=$(loop_add "$D/data.img")
	logloop=$(loop_add "$D/log.img")
	baseloop=$(losetup -r -f --show "$2") || fail "losetup -r $2"
	VS_CASE_LOOPS+=("$baseloop")

	echo "0 $(blockdev --getsz "$dataloop") log-writes $dataloop $logloop" |
		dmsetup create "$LW" || fail "cannot create the log-writes device"
	track_dm "$LW"
	lwdev=/dev/mapper/$LW
	wait_for_path "$lwdev" 10 -b || fail "$lwdev did not appear"

	qemu-img create -q -f qcow2 -o cluster_size="$3",refcount_bits=64 \
		-b "$2" -F raw "$lwdev" "$VSIZE" || fail "qemu-img create on $lwdev"
	dmsetup message "$LW" 0 mark created

	echo "0 $((VSIZE / 512)) vstorage-qcow2 $Q $lwdev 6 backing $baseloop discard unmap l2-cache-size $4" |
		dmsetup create "$Q" || fail "cannot create the qcow2 node"
	track_dm "$Q"
	dev=/dev/mapper/$Q
	wait_for_path "$dev" 10 -b || fail "$dev did not appear"
}

# wait_or_hang SEC PID...: wait up to SEC seconds in all for the PIDs to
# exit (not reaped: `wait` them for their status). Return 1 if one still
# runs then, after writing the blocked tasks to the kernel log (sysrq-w).
wait_or_hang() {
	local deadline=$((EPOCHSECONDS + $1)) p
	shift
	for p in "$@"; do
		while kill -0 "$p" 2>/dev/null && ((EPOCHSECONDS < deadline)); do
			sleep 0.5
		done
		if kill -0 "$p" 2>/dev/null; then
			echo w >/proc/sysrq-trigger
			return 1
		fi
	done
}

# json_get JSON PYEXPR: evaluate PYEXPR with `j` bound to the parsed JSON.
# The common form, j["key"][N]... naming a string, an integer, a boolean or
# null, is answered by jq, which starts in a fraction of python's time under
# TCG (python took 0.7 s a call, a fifth of some job cases); every other
# expression, and a key or index that is not there, goes to python, for its
# exact output and failure. (One difference: jq prints a float 2.0 as 2;
# vstoragectl's JSON has no floats.)
json_get() {
	local out
	# j["a"][0] -> the JSON path ["a",0] (keys hold no "][")
	if [[ $2 =~ ^j((\[(\"[A-Za-z0-9_.-]+\"|[0-9]+)\])+)$ ]] &&
		out=$(jq -r --argjson p "${BASH_REMATCH[1]//][/,}" '
			reduce $p[] as $k (.;
				if ($k | type) == "number" and type == "array" and length > $k
				or ($k | type) == "string" and type == "object" and has($k)
				then .[$k] else error end)
			# python spelling; jq doubles are exact integers below 2^53
			| if type == "null" then "None"
			elif type == "boolean" then (if . then "True" else "False" end)
			elif type == "string" then .
			elif type == "number" and . == floor and fabs < 9007199254740992 then .
			else error end' <<<"$1" 2>/dev/null); then
		printf '%s\n' "$out"
		return 0
	fi
	python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

# vs_list_ids OBJECT: the ids `vstoragectl -j OBJECT list` lists (job,
# throttle-group), blank-separated; none when it fails.
vs_list_ids() {
	vstoragectl -j "$1" list 2>/dev/null |
		jq -r '[.[].id] | join(" ")' 2>/dev/null || true
}

# kmsg_expect TOKEN REGEX: the kernel log since TOKEN must match REGEX.
kmsg_expect() {
	dmesg_since "$1" | grep -E -q -e "$2" ||
		fail "kernel log has no line matching '$2'"
}

# fio_verify DEV NAME [FIO-ARGS...]: write with crc32c verification and
# read back; fails the case on any verify error.
fio_verify() {
	local dev=$1 name=$2
	shift 2
	fio --name="$name" --filename="$dev" --ioengine=libaio --direct=1 \
		--verify=crc32c --verify_fatal=1 --verify_backlog=256 \
		--do_verify=1 --output-format=terse --terse-version=3 \
		--minimal "$@" >"$D/fio-$name.out" 2>&1 ||
		{ cat "$D/fio-$name.out" >&2; fail "fio $name failed"; }
}
