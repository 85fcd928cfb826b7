#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The throttle filter and throttle groups, measured with fio through
# throttle nodes over raw nodes on tmpfs:
# - every limit type (bps/iops x total/read/write) within +-10% of the
#   limit over 10 s, each limit at most a sixth of the unthrottled rate
#   measured through a limitless group in the same run;
# - a burst (-max, -max-length) that runs at -max for the burst and then
#   falls back to the limit, as QEMU's arithmetic has it;
# - two and three nodes of one group share it fairly and together stay
#   within its limit;
# - a limit changed while fio runs takes effect within a second;
# - suspending a node with a deep queue behind a tiny limit returns
#   promptly; deleting a group in use and invalid limits are refused.
# timeout: 600
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
vs_begin
require_cmd fio
modprobe dm-vstorage-throttle || fail "cannot load dm-vstorage-throttle.ko"

SECS=${VS_THROTTLE_SECS:-10}

for i in 0 1 2; do
	truncate -s 256M "$D/disk$i.img"
	node_add raw node-name=r$i file="$D/disk$i.img" cache.direct=off
done
tgroup_add g0
node_add throttle node-name=t0 file=r0 throttle-group=g0

# fio_rate DEV RW BS SECONDS [FIO-ARGS...]: "read_bytes/s write_bytes/s
# read_iops write_iops" of one run.
fio_rate() {
	local dev=$1 rw=$2 bs=$3 secs=$4
	# its own files: fio_rate runs concurrently (the fair shares); set
	# here, since $BASHPID in a redirection is that of the forked fio
	local out="$D/fio.$BASHPID"
	shift 4
	fio --name=rate --filename="$dev" --ioengine=libaio --direct=1 \
		--rw="$rw" --bs="$bs" --iodepth=16 --time_based \
		--runtime="$secs" --size=200M --output-format=json "$@" \
		>"$out.json" 2>"$out.err" ||
		{ cat "$out.err" >&2; fail "fio $rw $bs on $dev failed"; }
	python3 - "$out.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print("%d %d %d %d" % (j["read"]["bw_bytes"], j["write"]["bw_bytes"],
                       j["read"]["iops"], j["write"]["iops"]))
PY
}

# within VALUE LIMIT PCT WHAT: VALUE is LIMIT +-PCT %
within() {
	python3 -c 'import sys; v, l, p = map(float, sys.argv[1:4]); sys.exit(0 if abs(v - l) <= l * p / 100 else 1)' "$1" "$2" "$3" ||
		fail "$4: measured $1, want $2 +-$3%"
	info "$4: measured $1 for a limit of $2"
}

dev=/dev/mapper/t0
# the unthrottled rates, through the limitless group
read -r rbw _ _ _ <<<"$(fio_rate $dev read 64k 4)"
read -r _ wbw _ _ <<<"$(fio_rate $dev write 64k 4)"
read -r _ _ riops _ <<<"$(fio_rate $dev randread 4k 4)"
read -r _ _ _ wiops <<<"$(fio_rate $dev randwrite 4k 4)"
info "unthrottled: read $rbw B/s, write $wbw B/s, $riops read IOPS, $wiops write IOPS"
# (a fio_rate that failed inside $(...) leaves these empty: not a slow VM)
[ -n "$rbw" ] && [ -n "$wbw" ] && [ -n "$riops" ] && [ -n "$wiops" ] ||
	fail "measuring the unthrottled rates failed"
bps=$(( (rbw < wbw ? rbw : wbw) / 6 / 4096 * 4096 ))
iops=$(( (riops < wiops ? riops : wiops) / 6 ))
((bps >= 1048576 && iops >= 50)) || skip "this VM is too slow to measure limits (bps $bps, iops $iops)"

# limit LIMIT=VALUE RW BS FIELD: set only that limit on g0, measure
limit() {
	local lv=$1 rw=$2 bs=$3 field=$4 out r w ri wi v
	vstoragectl throttle-group set g0 bps-total=0 bps-read=0 bps-write=0 \
		iops-total=0 iops-read=0 iops-write=0 || fail "resetting g0"
	vstoragectl throttle-group set g0 "$lv" || fail "throttle-group set g0 $lv"
	out=$(fio_rate $dev "$rw" "$bs" "$SECS" --rwmixread=50)
	read -r r w ri wi <<<"$out"
	case $field in
	bps-total) v=$((r + w)) ;; bps-read) v=$r ;; bps-write) v=$w ;;
	iops-total) v=$(python3 -c "print($ri + $wi)") ;;
	iops-read) v=$ri ;; iops-write) v=$wi ;;
	esac
	within "$v" "${lv#*=}" 10 "$field ($rw $bs)"
}
limit bps-read=$bps read 64k bps-read
limit bps-write=$bps write 64k bps-write
limit bps-total=$bps randrw 64k bps-total
limit iops-read=$iops randread 4k iops-read
limit iops-write=$iops randwrite 4k iops-write
limit iops-total=$iops randrw 4k iops-total

# per-second rates of one fio run from its bandwidth log: "SECOND BYTES/S"
bw_log() {
	awk -F', *' '{ printf "%d %d\n", int(($1 + 500) / 1000), $2 * 1024 }' "$1"
}

# A burst at 4 x L for as long as QEMU's bucket allows (4L * 3 s filled at
# 4L - L per second: 4 s), then L.
L=$((bps / 2 / 4096 * 4096))
vstoragectl throttle-group set g0 bps-write=0 bps-total=0 iops-total=0
vstoragectl throttle-group set g0 bps-write=$L bps-write-max=$((4 * L)) \
	bps-write-max-length=3 || fail "setting a burst"
fio_rate $dev write 64k 12 --write_bw_log="$D/burst" --log_avg_msec=1000 >/dev/null
bw_log "$D/burst_bw.1.log" >"$D/burst.txt"
while read -r s v; do
	if ((s >= 1 && s <= 3)); then within "$v" $((4 * L)) 15 "burst second $s"; fi
	if ((s >= 6 && s <= 11)); then within "$v" $L 15 "after the burst, second $s"; fi
done <"$D/burst.txt"

# Fair shares: two, then three nodes of one group.
vstoragectl throttle-group set g0 bps-write=0 bps-write-max=0 bps-write-max-length=0
tgroup_add gs bps-write=$bps
for i in 1 2; do node_add throttle node-name=s$i file=r$i throttle-group=gs; done
share() {
	local n=$1 pids=() i sum=0 w
	for ((i = 1; i <= n; i++)); do
		fio_rate /dev/mapper/s$i write 64k "$SECS" >"$D/share$i" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || fail "fio of a share failed"; done
	local ws=()
	for ((i = 1; i <= n; i++)); do
		read -r _ w _ _ <"$D/share$i"
		ws+=("$w")
		sum=$((sum + w))
	done
	# the group's limit holds; a starved one-vCPU VM may fall short of it
	# (timers fire late), so fairness is judged against what the group got
	((sum <= bps * 110 / 100 && sum >= bps * 75 / 100)) ||
		fail "the $n nodes together: measured $sum, want $bps -25%..+10%"
	info "the $n nodes together: measured $sum for a limit of $bps"
	for ((i = 1; i <= n; i++)); do
		within "${ws[i - 1]}" $((sum / n)) 15 "share of node $i of $n"
	done
}
share 2
# the third member is t0, moved into gs by a reload of its table
vstoragectl node del t0
node_add throttle node-name=s3 file=r0 throttle-group=gs
share 3

# A limit changed while fio runs applies within a second.
vstoragectl throttle-group set gs bps-write=$L
fio_rate /dev/mapper/s1 write 64k 10 --write_bw_log="$D/change" \
	--log_avg_msec=1000 >/dev/null &
fpid=$!
sleep 4
vstoragectl throttle-group set gs bps-write=$((2 * L)) || fail "changing the limit live"
wait $fpid || fail "fio during the change failed"
bw_log "$D/change_bw.1.log" >"$D/change.txt"
while read -r s v; do
	if ((s >= 1 && s <= 3)); then within "$v" $L 15 "before the change, second $s"; fi
	if ((s >= 6 && s <= 9)); then within "$v" $((2 * L)) 15 "after the change, second $s"; fi
done <"$D/change.txt"

# A deep queue behind 2 IOPS: the suspend releases it at once.
vstoragectl throttle-group set gs bps-write=0 iops-write=2
fio --name=deep --filename=/dev/mapper/s1 --ioengine=libaio --direct=1 \
	--rw=randwrite --bs=4k --iodepth=32 --time_based --runtime=30 \
	--size=64M >/dev/null 2>&1 &
fpid=$!
sleep 3
q=$(vstoragectl -j throttle-group show gs)
info "gs with a deep queue: $q"
[ "$(json_get "$q" 'j.get("queued", j.get("stats", {}).get("queued", 0))')" -gt 8 ] ||
	fail "expected a deep queue in gs: $q"
start=$EPOCHREALTIME
timeout 10 dmsetup suspend s1 || fail "suspend of a throttled node did not return"
took=$(python3 -c "print(round($EPOCHREALTIME - $start, 2))")
dmsetup resume s1
# (fio, killed, waits for its 32 queued writes: at 2 IOPS that took 16 s)
vstoragectl throttle-group set gs iops-write=0
kill "$fpid" 2>/dev/null || true
wait "$fpid" 2>/dev/null || true
python3 -c "import sys; sys.exit(0 if $took < 2 else 1)" ||
	fail "suspend with a deep queue took $took s"
info "suspend with a deep queue took $took s"

# Refusals: a group in use, invalid limits, an unknown group.
out=$(vstoragectl throttle-group del gs 2>&1) && fail "deleting a group in use succeeded"
info "del of a group in use: $out"
grep -q "in use" <<<"$out" || fail "refusal does not say the group is in use: $out"
out=$(vstoragectl throttle-group add bad bps-total=1000 bps-read=1000 2>&1) &&
	fail "bps-total with bps-read was accepted"
grep -q "bps-total" <<<"$out" && grep -q "bps-read" <<<"$out" ||
	fail "the refusal does not name both limits: $out"
out=$(vstoragectl throttle-group add bad bps-write-max=1000 2>&1) &&
	fail "bps-write-max without bps-write was accepted"
info "max without avg: $out"
expect_fail vstoragectl node add throttle node-name=t9 file=r2 throttle-group=nosuch
exit 0
