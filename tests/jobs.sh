# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/jobs.sh - helpers for the block job cases (tests/cases/7?-job-*.sh).
# Source after tests/lib.sh, tests/vstorage.sh and tests/qcow2.sh, then call
# jobs_begin after qcow2_begin.

# jobs_begin: the supervisors write their errors to $D/supervisor.log
# (checked by jobs_end), their lock files go to $D/run.
jobs_begin() {
	export VSTORAGECTL_JOB_LOG=$D/supervisor.log
	export VSTORAGE_RUN_DIR=$D/run
	: >"$VSTORAGECTL_JOB_LOG"
	trap jobs_cleanup EXIT
}

# Cancels and dismisses what a failed case left, then the qcow2 cleanup.
jobs_cleanup() {
	local id
	if [ -s "${VSTORAGECTL_JOB_LOG:-}" ]; then
		echo "supervisor log:" >&2
		cat "$VSTORAGECTL_JOB_LOG" >&2
	fi
	for id in $(vs_list_ids job); do
		vstoragectl job cancel "$id" >/dev/null 2>&1 || true
		sleep 0.5
		vstoragectl job dismiss "$id" >/dev/null 2>&1 || true
	done
	qcow2_cleanup
}

# jobs_end: no job left, no supervisor error, no lock file left.
jobs_end() {
	local left
	left=$(vstoragectl -j job list) || fail "job list"
	[ "$left" = "[]" ] || fail "jobs left at the end: $left"
	if [ -s "$VSTORAGECTL_JOB_LOG" ]; then
		cat "$VSTORAGECTL_JOB_LOG" >&2
		fail "the supervisors reported errors"
	fi
	left=$(ls "$VSTORAGE_RUN_DIR" 2>/dev/null || true)
	[ -z "$left" ] || fail "lock files left in $VSTORAGE_RUN_DIR: $left"
}

# job_chain DIR BASE_LEN [TOP_AT]: DIR/top.qcow2 -> mid.qcow2 ->
# base.qcow2, 64M each: base 0x11 in [0, BASE_LEN), mid 0x22 in [16M,
# 24M), top 0x33 in [TOP_AT, TOP_AT + 2M) (default 24M); DIR/expect.raw is
# what the chain reads as, DIR/orig/ is made for copies
job_chain() {
	mkdir -p "$1/orig"
	qemu-img create -q -f qcow2 "$1/base.qcow2" 64M
	qio -c "write -P 0x11 0 $2" "$1/base.qcow2"
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$1/mid.qcow2" 64M
	qio -c 'write -P 0x22 16M 8M' "$1/mid.qcow2"
	qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "$1/top.qcow2" 64M
	qio -c "write -P 0x33 ${3:-24M} 2M" "$1/top.qcow2"
	qemu-img convert -O raw "$1/top.qcow2" "$1/expect.raw"
}

# same_path A B WHAT: A and B name the same file.
same_path() {
	[ "$(readlink -f "$1")" = "$(readlink -f "$2")" ] || fail "$3: '$1', not '$2'"
}

devt() {
	stat -L -c '%t:%T' "$1"
}

# job_verb_wait ID VERB: `job VERB ID` while `job wait ID` waits (started
# first, so it sees how the job ends); returns job wait's status, its
# output in $D/wait.out.
job_verb_wait() {
	local wpid
	vstoragectl job wait "$1" >"$D/wait.out" 2>&1 &
	wpid=$!
	sleep 0.5
	vstoragectl job "$2" "$1" || fail "job $2 $1"
	wait "$wpid"
}

# job_field ID KEY: a field of job show -j ("" when the job is gone).
job_field() {
	local j
	j=$(vstoragectl -j job show "$1" 2>/dev/null) || return 0
	json_get "$j" "j[\"$2\"]"
}

# wait_nodes_gone NODE...: until none of them exists
wait_nodes_gone() {
	local n i
	for n in "$@"; do
		for ((i = 0; i < 100; i++)); do
			vstoragectl node show "$n" >/dev/null 2>&1 || break
			sleep 0.1
		done
		vstoragectl node show "$n" >/dev/null 2>&1 && fail "node $n is still there"
	done
	return 0
}

# wait_job_state ID STATE [TIMEOUT=60]: until job show says STATE
# ("gone": until the job no longer exists).
wait_job_state() {
	local id=$1 want=$2 tmo=${3:-60} i s
	for ((i = 0; i < tmo * 10; i++)); do
		s=$(job_field "$id" state)
		[ -n "$s" ] || s=gone
		# gone: and the supervisor's graph changes done (its record removed)
		[ "$s" = gone ] && [ -e "${VSTORAGE_RUN_DIR:-/run/vstorage}/job-$id.lock" ] && s=settling
		[ "$s" = "$want" ] && return 0
		sleep 0.1
	done
	fail "job $id is '$s', not '$want' after ${tmo}s: $(vstoragectl job show "$id" 2>&1 | tr '\n' ' ')"
}

# wait_offset ID BYTES [TIMEOUT=60]: until the job has copied BYTES.
wait_offset() {
	local id=$1 want=$2 tmo=${3:-60} i o
	for ((i = 0; i < tmo * 10; i++)); do
		o=$(job_field "$id" offset)
		[ -n "$o" ] && [ "$o" -ge "$want" ] && return 0
		sleep 0.1
	done
	fail "job $id copied ${o:-?} bytes, not $want, after ${tmo}s"
}

# backing_of IMAGE: the backing file name in IMAGE's header, or "none".
backing_of() {
	json_get "$(qemu-img info -U --output=json "$1")" 'j.get("backing-filename", "none")'
}

# backing_fmt_of IMAGE: the backing format in IMAGE's header, or "none".
backing_fmt_of() {
	json_get "$(qemu-img info -U --output=json "$1")" 'j.get("backing-filename-format", "none")'
}

# chain_files IMAGE: the files of `qemu-img info --backing-chain`, top-down.
chain_files() {
	qemu-img info -U --backing-chain --output=json "$1" |
		python3 -c 'import json,sys; print(" ".join(i["filename"] for i in json.load(sys.stdin)))'
}

# fio_rounds DEV OFFSET SIZE: fio rounds writing [OFFSET, OFFSET + SIZE)
# with crc32c verification, each the same (fixed seed), until $D/stop
# exists; counts them in $D/fio.rounds. fio_verify_only checks afterwards
# that the data of the last round is still there.
fio_rounds() {
	local dev=$1 off=$2 size=$3 n=0
	rm -f "$D/stop" "$D/fio.rounds"
	while [ ! -e "$D/stop" ]; do
		# a seed per round: a write lost at a graph change would leave
		# the previous round's (different) data, which verify catches
		echo $((71 + n)) >"$D/fio.seed"
		fio --name=w --filename="$dev" --ioengine=libaio --direct=1 \
			--rw=randwrite --bs=4k --iodepth=8 --offset="$off" \
			--size="$size" --verify=crc32c --verify_fatal=1 \
			--verify_backlog=256 --do_verify=1 --randseed=$((71 + n)) \
			--rate_iops=500 >"$D/fio.out" 2>&1 || return 1
		grep -q "err= 0" "$D/fio.out" || return 1
		n=$((n + 1))
		echo "$n" >"$D/fio.rounds"
	done
}

# fio_stop PID: ends the rounds after the current one; fails the case if
# a round failed, or none ran.
fio_stop() {
	touch "$D/stop"
	wait "$1" || { cat "$D/fio.out" >&2; fail "fio (verify) failed under the job"; }
	[ -s "$D/fio.rounds" ] || fail "no fio round finished"
	info "fio: $(cat "$D/fio.rounds") verified rounds"
}

fio_verify_only() {
	local dev=$1 off=$2 size=$3
	fio --name=w --filename="$dev" --ioengine=libaio --direct=1 \
		--rw=randwrite --bs=4k --iodepth=8 --offset="$off" \
		--size="$size" --verify=crc32c --verify_fatal=1 \
		--verify_only --randseed="$(cat "$D/fio.seed")" >"$D/fio-verify.out" 2>&1 ||
		{ cat "$D/fio-verify.out" >&2; fail "fio's data is not what it wrote"; }
}

# fio_again DEV OFFSET SIZE: fio rounds through DEV's [OFFSET, OFFSET + SIZE)
# once more, in the background (FIO_PID); fio_end stops them.
fio_again() {
	rm -f "$D/fio.rounds"
	FIO_DEV=$1 FIO_OFF=$2 FIO_SIZE=$3
	fio_rounds "$@" &
	FIO_PID=$!
}

# fio_end: stops the rounds fio_again started once one of them ended (each
# removes the previous rounds' stop file as it starts: a stop file made
# before that would be lost), then verifies the last round's data.
fio_end() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ -s "$D/fio.rounds" ] && break
		sleep 0.1
	done
	fio_stop "$FIO_PID"
	fio_verify_only "$FIO_DEV" "$FIO_OFF" "$FIO_SIZE"
}

# start_point NAME: fio stopped (fio_end), the device's content in
# $D/NAME.raw: what a backup started now must hold
start_point() {
	fio_end
	dd if="$FIO_DEV" of="$D/$1.raw" bs=1M iflag=direct status=none
}

# job_speed BYTES: a job's speed= for a copy whose checks must see it
# running: BYTES on Debian's kernel, divided by VS_TIMEOUT_SCALE on the
# debug kernel, which runs the checks that much slower (a copy that ended
# before them left "no job" behind)
job_speed() {
	echo $(($1 / ${VS_TIMEOUT_SCALE:-1}))
}

# wait_target DM TARGET [TIMEOUT=10]: until device DM's table is TARGET's
# (the supervisor puts a filter back after the job concluded).
wait_target() {
	local i
	for ((i = 0; i < ${3:-10} * 10; i++)); do
		dmsetup table "$1" 2>/dev/null | grep -q "^0 [0-9]* $2 " && return 0
		sleep 0.1
	done
	fail "device $1 is not $2: $(dmsetup table "$1" 2>&1)"
}
