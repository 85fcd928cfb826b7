#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The backup job's errors and the copy-before-write filter's reloads, while
# fio writes through the disk with crc32c verification (as 78-job-backup:
# the reference of each point in time is taken with fio stopped right
# before job start; fio starts again at once and writes during the job).
# The target of the error jobs is a dm linear device that is reloaded to
# `error` once the job has copied the chunks fio writes (a copy before a
# write that fails breaks the snapshot whatever on-error says: 78 and the
# documentation), and back to linear later.
# - on-error=stop: the job pauses (state paused, no job error) with a
#   job-io-error event (operation write, action stop), as QEMU's job does;
#   the filter stays armed; after the repair `job resume` retries and the
#   job completes;
# - on-error=ignore: as QEMU's backup, the job retries the chunk (more than
#   one job-io-error event, action ignore, the job running and without an
#   error) until the device works again, then completes without an error
#   (a backup that skipped the chunk would be no point-in-time copy);
# - sync=full while the graph around the filter changes on the live disk:
#   dmsetup suspend/resume of the disk, a reload of the disk's device with
#   its own table, a throttle filter inserted between the filter and the
#   disk's node (refused with one line: the filter's child cannot change),
#   and one inserted above the filter and removed (the filter moves to a
#   device of its own and back). The filter's counters (copied before
#   writes, copied by the job, chunks to copy) go on across each change:
#   a write ahead of the job after each is copied before it lands;
# each backup reads as the disk at its job's start, fio's data verifies.
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
q_host && skip "needs the kernel"
qcow2_begin
require_cmd fio
require_module dm-vstorage-copy-before-write
require_module dm-vstorage-throttle
jobs_begin

M=$((1 << 20))
ERRDEV=bk80err
LOOP=
mpid=

errors_cleanup() {
	[ -z "$mpid" ] || kill "$mpid" 2>/dev/null || true
	jobs_cleanup
	dmsetup remove --retry "$ERRDEV" >/dev/null 2>&1 || true
	[ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null || true
}
trap errors_cleanup EXIT

# cbw_field N: field N of the filter's status line (5 the state, 13 bytes
# copied before writes, 14 by the job, 15 failed copies before writes, 16
# bytes still to copy), on whichever device holds it (insert-filter moves
# it); `dmsetup status` of all devices puts the name first
cbw_field() {
	dmsetup status | awk -v n="$1" '$4 == "vstorage-cbw" { print $(n + 1) }'
}

# io_errors ID ACTION: the job-io-error events of job ID with ACTION
# (operation write) that monitor received
io_errors() {
	python3 - "$D/monitor.json" "$1" "$2" <<'EOF'
import json, sys
n = 0
for l in open(sys.argv[1]):
    if not l.strip():
        continue
    e = json.loads(l)
    if e.get("event") != "job-io-error" or e["job"]["id"] != sys.argv[2]:
        continue
    if e["job"]["action"] != sys.argv[3] or e["job"]["operation"] != "write":
        sys.exit("unexpected event: " + l.strip())
    n += 1
print(n)
EOF
}

# set_errdev linear|error: the target device works or fails
set_errdev() {
	local t="0 $((64 * 2048)) linear $LOOP 0"

	[ "$1" = error ] && t="0 $((64 * 2048)) error"
	dmsetup suspend "$ERRDEV" || fail "dmsetup suspend $ERRDEV"
	dmsetup load "$ERRDEV" --table "$t" || fail "dmsetup load $ERRDEV $1"
	dmsetup resume "$ERRDEV" || fail "dmsetup resume $ERRDEV"
}

# job_error ID: the job's error, "" when it has none
job_error() {
	local e
	e=$(job_field "$1" error)
	[ "$e" = None ] || printf '%s' "$e"
}

# backup_equal NAME FILE: the backup in FILE (raw) is the disk at the start
# of job NAME, which fio changed since
backup_equal() {
	dd if="$2" of="$D/$1-got.raw" bs=1M count=64 iflag=direct status=none
	same_raw "$D/$1.raw" "$D/$1-got.raw" "backup $1 and the disk at its start"
	cmp -s "$D/$1.raw" <(dd if=/dev/mapper/vm1 bs=1M iflag=direct status=none) &&
		fail "$1: the disk did not change during the backup: the test proves nothing"
	return 0
}

job_chain "$D/a" 48M
q_open vm1 "$D/a/top.qcow2"
vstoragectl -j monitor >"$D/monitor.json" 2>"$D/monitor.err" &
mpid=$!
truncate -s 64M "$D/err.img"
LOOP=$(losetup -f --show "$D/err.img")
dmsetup create "$ERRDEV" --table "0 $((64 * 2048)) linear $LOOP 0" || fail "dmsetup create"
# fio writes [0, 4M): the job copies it first, so that no copy before a
# write meets the failing device
fio_again /dev/mapper/vm1 0 $((4 * M))
sleep 1

info "--- on-error=stop (at ${SECONDS}s)"
# --- on-error=stop --------------------------------------------------------------
start_point bstop
vstoragectl job start backup node=vm1 job-id=bstop target=/dev/mapper/$ERRDEV sync=full \
	speed=4M on-error=stop >/dev/null || fail "job start backup on-error=stop"
fio_again /dev/mapper/vm1 0 $((4 * M))
wait_offset bstop $((8 * M)) 30
set_errdev error
wait_job_state bstop paused 30
o=$(job_field bstop offset)
sleep 1
[ "$(job_field bstop state)" = paused ] || fail "on-error=stop: the job went on: $(job_field bstop state)"
[ "$(job_field bstop offset)" = "$o" ] || fail "a paused job copied: $o, then $(job_field bstop offset)"
[ -z "$(job_error bstop)" ] || fail "a stopped job has an error: $(job_error bstop)"
[ "$(cbw_field 5)" = armed ] || fail "the filter is not armed after a stop: $(dmsetup status vm1)"
n=$(io_errors bstop stop) || fail "job-io-error events of bstop: $n"
[ "$n" -ge 1 ] || fail "no job-io-error event (write, stop) for bstop"
info "on-error=stop: paused at $o bytes after $n job-io-error event(s)"
set_errdev linear
vstoragectl job resume bstop || fail "job resume bstop"
vstoragectl job set-speed bstop 0 || fail "job set-speed bstop"
vstoragectl job wait bstop || fail "on-error=stop: the resumed backup failed"
wait_nodes_gone bstop-cbw bstop-target
[ "$(io_errors bstop stop)" = "$n" ] || fail "job-io-error events after the repair"
fio_end
backup_equal bstop /dev/mapper/$ERRDEV
fio_again /dev/mapper/vm1 0 $((4 * M))

info "--- on-error=ignore (at ${SECONDS}s)"
# --- on-error=ignore: the chunk is retried ----------------------------------------
start_point bign
vstoragectl job start backup node=vm1 job-id=bign target=/dev/mapper/$ERRDEV sync=full \
	speed=4M on-error=ignore auto-dismiss=off >/dev/null || fail "job start backup on-error=ignore"
fio_again /dev/mapper/vm1 0 $((4 * M))
wait_offset bign $((8 * M)) 30
set_errdev error
for ((i = 0; i < 100; i++)); do
	n=$(io_errors bign ignore) || fail "job-io-error events of bign: $n"
	[ "$n" -ge 3 ] && break
	sleep 0.1
done
[ "$n" -ge 3 ] || fail "on-error=ignore: $n job-io-error events (write, ignore), not a retry"
o=$(job_field bign offset)
sleep 1
[ "$(job_field bign state)" = running ] || fail "on-error=ignore: the job is $(job_field bign state)"
[ "$(job_field bign offset)" = "$o" ] ||
	fail "on-error=ignore: the job went past the failed chunk: $o, then $(job_field bign offset)"
[ -z "$(job_error bign)" ] || fail "on-error=ignore: the job has an error: $(job_error bign)"
[ "$(cbw_field 5)" = armed ] || fail "the filter is not armed while retrying: $(dmsetup status vm1)"
n=$(io_errors bign ignore)
info "on-error=ignore: retrying at $o bytes, $n job-io-error events"
set_errdev linear
vstoragectl job set-speed bign 0 || fail "job set-speed bign"
wait_job_state bign concluded 60
[ -z "$(job_error bign)" ] ||
	fail "on-error=ignore: the job failed after the device healed: $(job_error bign)"
vstoragectl job dismiss bign || fail "job dismiss bign"
wait_nodes_gone bign-cbw bign-target
fio_end
backup_equal bign /dev/mapper/$ERRDEV
dmsetup remove --retry "$ERRDEV" || fail "dmsetup remove $ERRDEV"
losetup -d "$LOOP"
LOOP=

info "--- the graph changes (at ${SECONDS}s)"
# --- the graph around the filter changes during the backup -------------------------
vstoragectl throttle-group add g80 iops-total=100000 || fail "throttle-group add"
# fio writes [0, 8M) and the job copies slowly: the writes ahead of it
# (63M, 62M, ...) land on chunks it has not copied yet
fio_again /dev/mapper/vm1 0 $((8 * M))
start_point brl
# (job_speed: on the debug kernel the checks below took two minutes, and
# at 512K/s the job had passed the chunks they write by the last one)
vstoragectl job start backup node=vm1 job-id=brl target="$D/brl.qcow2" sync=full \
	speed="$(job_speed $((512 << 10)))" >/dev/null || fail "job start backup brl"
fio_again /dev/mapper/vm1 0 $((8 * M))
dev1=$(devt /dev/mapper/vm1)
prev="0 0 0"
ahead=63
# counters CHANGE: after CHANGE, a 4k write ahead of the job is copied
# first, and neither counter went back: each grew
counters() {
	local c j t p

	dd if=/dev/urandom of=/dev/mapper/vm1 bs=4k count=1 seek=$((ahead * 256)) \
		oflag=direct conv=notrunc status=none || fail "$1: a write to the disk failed"
	ahead=$((ahead - 1))
	c=$(cbw_field 13) j=$(cbw_field 14) t=$(cbw_field 16)
	read -r -a p <<<"$prev"
	[ "$c" -gt "${p[0]}" ] || fail "$1: the filter's copies before writes: ${p[0]}, then $c"
	[ "$(cbw_field 5)" = armed ] || fail "$1: the filter is not armed: $(dmsetup status vm1)"
	[ "$(cbw_field 15)" = 0 ] || fail "$1: a copy before a write failed: $(dmsetup status vm1)"
	sleep 0.5
	j=$(cbw_field 14)
	[ "$j" -gt "${p[1]}" ] || fail "$1: the job's copies: ${p[1]}, then $j"
	[ "${p[2]}" = 0 ] || [ "$t" -lt "${p[2]}" ] || fail "$1: bytes to copy: ${p[2]}, then $t"
	info "$1: copied before writes $c, by the job $j, to copy $t"
	prev="$c $j $t"
}
sleep 1
counters "at the start"
dmsetup suspend vm1 || fail "dmsetup suspend vm1"
sleep 0.3
dmsetup resume vm1 || fail "dmsetup resume vm1"
counters "after a suspend and resume of vm1"
dmsetup table vm1 | dmsetup reload vm1 || fail "reloading vm1 with its own table"
dmsetup resume vm1 || fail "dmsetup resume vm1 after the reload"
dmsetup table vm1 | grep -q " vstorage-cbw brl-cbw " || fail "the filter left vm1: $(dmsetup table vm1)"
counters "after a reload of vm1 with its own table"
expect_error "cannot insert filter 'thr80'" node insert-filter vm1 throttle node-name=thr80 throttle-group=g80
counters "after a refused insert-filter under the filter"
vstoragectl node insert-filter brl-cbw throttle node-name=thr80 throttle-group=g80 ||
	fail "insert-filter above the copy-before-write filter"
dmsetup table vm1 | grep -q " vstorage-thr thr80 " || fail "no throttle filter on vm1: $(dmsetup table vm1)"
counters "after insert-filter above the filter"
vstoragectl node remove-filter thr80 || fail "remove-filter thr80"
dmsetup table vm1 | grep -q " vstorage-cbw brl-cbw " || fail "the filter is not back on vm1: $(dmsetup table vm1)"
counters "after remove-filter"
[ "$(devt /dev/mapper/vm1)" = "$dev1" ] || fail "the disk's dev_t changed"
vstoragectl job set-speed brl 0 || fail "job set-speed brl"
vstoragectl job wait brl || fail "the backup failed after the graph changes"
wait_nodes_gone brl-cbw brl-target
fio_end
img_check "$D/brl.qcow2"
oracle_raw "$D/brl.qcow2" "$D/brl-img.raw"
backup_equal brl "$D/brl-img.raw"
vstoragectl throttle-group del g80 || fail "throttle-group del"

kill "$mpid"
wait "$mpid" 2>/dev/null || true
mpid=
[ ! -s "$D/monitor.err" ] || fail "monitor: $(cat "$D/monitor.err")"
q_close vm1
for i in top mid base; do img_check "$D/a/$i.qcow2"; done
jobs_end
info "done at ${SECONDS}s"
