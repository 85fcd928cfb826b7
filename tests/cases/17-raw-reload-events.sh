#!/bin/bash
# A live table reload keeps the node (one entry, new properties), dmsetup
# status reports counters, and the events group announces new, change and
# del.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../vstorage.sh"
vs_begin

img=$D/disk.img
truncate -s 8M "$img"
vstoragectl -j monitor >"$D/events" 2>&1 &
mon=$!
sleep 1

node_add raw node-name=rel0 file="$img"
dd if=/dev/urandom of="$D/pat" bs=4k count=16 status=none
dd if="$D/pat" of=/dev/vstorage/rel0 bs=4k seek=8 oflag=direct status=none

# reload with a different offset while the device is live
printf '0 %s vstorage-raw rel0 %s 2 offset 32768\n' $(((8 << 11) - 64)) "$img" |
	dmsetup reload rel0
dmsetup resume rel0
n=$(vstoragectl -j node list | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin) if n["node-name"]=="rel0"))')
[ "$n" = 1 ] || fail "node listed $n times after reload"
[ "$(json_get "$(vstoragectl -j node show rel0)" "j['info']['offset']")" = 32768 ] ||
	fail "reloaded table not live"
cmp "$D/pat" <(dd if=/dev/vstorage/rel0 bs=4k count=16 iflag=direct status=none) ||
	fail "data at the new offset is wrong"

status=$(dmsetup status rel0)
echo "status: $status"
read -r _ _ _ name kind rd_ios _ <<<"$status"
[ "$name" = rel0 ] && [ "$kind" = file ] && [ "$rd_ios" -ge 1 ] || fail "status line: $status"

node_del rel0
sleep 1
kill "$mon" 2>/dev/null || true
wait "$mon" 2>/dev/null || true
cat "$D/events"
grep -q '"new"' "$D/events" || fail "no new event"
grep -q '"change"' "$D/events" || fail "no change event after reload"
grep -q '"del"' "$D/events" || fail "no del event"
