#!/bin/bash
# What an administrator sees: lsblk shows the node's device, udev made
# /dev/vstorage/NAME, the DM UUID carries the vstorage prefix, node list/show
# JSON is complete, and node map agrees with `qemu-img map` on the same file.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../vstorage.sh"
vs_begin
require_cmd qemu-img lsblk

img=$D/sparse.img
truncate -s 16M "$img"
dd if=/dev/urandom of="$img" bs=64k count=2 conv=notrunc status=none
dd if=/dev/urandom of="$img" bs=64k seek=40 count=3 conv=notrunc status=none
dd if=/dev/urandom of="$img" bs=4k seek=1000 count=1 conv=notrunc status=none
sync "$img"

node_add raw node-name=vis0 file="$img" read-only=on
wait_for_path /dev/vstorage/vis0 10 -b || fail "/dev/vstorage/vis0 missing"
[ "$(readlink -f /dev/vstorage/vis0)" = "$(readlink -f /dev/mapper/vis0)" ] ||
	fail "/dev/vstorage/vis0 and /dev/mapper/vis0 differ"

lsblk -o NAME,TYPE,SIZE,RO | tee "$D/lsblk"
# lsblk names the type after the DM UUID prefix, as it does for LVM and CRYPT
grep -E -q '^vis0 +vstorage +16M +1$' "$D/lsblk" || fail "lsblk does not show vis0 as a read-only 16M vstorage device"
[[ $(dmsetup info -c --noheadings -o uuid vis0) == VSTORAGE-* ]] || fail "DM UUID lacks the VSTORAGE- prefix"

j=$(vstoragectl -j node show vis0)
echo "$j"
python3 - "$j" "$img" <<'PY' || fail "node show JSON is wrong"
import json, os, sys
j = json.loads(sys.argv[1])
img = sys.argv[2]
st = os.stat("/dev/mapper/vis0")
want = {"node-name": "vis0", "driver": "raw", "size": 16 << 20, "read-only": True,
        "device": "/dev/mapper/vis0", "dm-name": "vis0",
        "dev": "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))}
for k, v in want.items():
    assert j[k] == v, (k, j[k], v)
assert j["children"] == [{"role": "file", "path": img}], j["children"]
assert j["info"]["format"] == "raw" and j["info"]["offset"] == 0
for k in ("rd-ios", "rd-bytes", "wr-ios", "wr-bytes", "flush-ios", "discard-ios", "errors"):
    assert isinstance(j["stats"][k], int)
PY

l=$(vstoragectl -j node list)
[ "$(json_get "$l" "[n['node-name'] for n in j].count('vis0')")" = 1 ] || fail "node list: $l"
vstoragectl node list | grep -q '^vis0 ' || fail "human node list lacks vis0"

# writes to a read-only node fail
if dd if=/dev/zero of=/dev/vstorage/vis0 bs=4k count=1 oflag=direct status=none 2>/dev/null; then
	fail "write to a read-only node succeeded"
fi

qemu-img map --output=json -f raw "$img" >"$D/qemu.json"
vstoragectl -j node map vis0 >"$D/vs.json"
python3 - "$D/qemu.json" "$D/vs.json" <<'PY' || fail "node map differs from qemu-img map"
import json, sys
q = json.load(open(sys.argv[1])); v = json.load(open(sys.argv[2]))
print("qemu-img:", q); print("vstorage:", v)
assert q == v
PY
node_del vis0
