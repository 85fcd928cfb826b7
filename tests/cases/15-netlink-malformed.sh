#!/bin/bash
# Malformed netlink messages to the vstorage family get errors with extack
# messages; mutating/IO-triggering commands need CAP_NET_ADMIN; the device
# node and sysfs files are not open to other users.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../vstorage.sh"
vs_begin
require_cmd nlprobe

img=$D/disk.img
truncate -s 8M "$img"
node_add raw node-name=nl0 file="$img"

# probe_expect WANT-REGEX ARGS...: nlprobe output must match
probe_expect() {
	local want=$1 out
	shift
	out=$(nlprobe "$@" 2>&1) || true
	printf 'nlprobe %s -> %s\n' "$*" "$out"
	printf '%s\n' "$out" | grep -E -q -e "$want" || fail "nlprobe $* gave '$out', want /$want/"
}

# attribute numbers, read from the uapi header so the test cannot drift
attr() {
	python3 - "$VS_REPO/uapi/linux/vstorage.h" "$1" <<'PY'
import re, sys
body = re.search(r"enum vstorage_attr \{(.*?)\};", open(sys.argv[1]).read(), re.S).group(1)
names = [l.strip().split(",")[0] for l in body.splitlines()
         if l.strip().startswith("VSTORAGE_A_") and "=" not in l]
print(names.index(sys.argv[2]))
PY
}
A_NAME=$(attr VSTORAGE_A_NODE_NAME) A_SIZE=$(attr VSTORAGE_A_NODE_SIZE)
A_MAJOR=$(attr VSTORAGE_A_NODE_DEV_MAJOR) A_MINOR=$(attr VSTORAGE_A_NODE_DEV_MINOR)
A_OFFSET=$(attr VSTORAGE_A_OFFSET) A_LENGTH=$(attr VSTORAGE_A_LENGTH)
A_MAX=$(attr VSTORAGE_A_MAX_EXTENTS) A_BOGUS=200
[ "$A_NAME" = 2 ] || fail "attribute numbering changed: NODE_NAME is $A_NAME"

probe_expect '^ok' node-get $A_NAME:strz:nl0
probe_expect '^ok' --dump node-get
probe_expect '^error ENOENT .+' node-get $A_NAME:strz:nosuch
probe_expect '^error EINVAL .+' node-get
probe_expect '^error (EINVAL|ERANGE) .*' node-get $A_NAME:u32:7
probe_expect '^error (EINVAL|ERANGE) .*' node-get $A_NAME:strz:abcdefghijabcdefghijabcdefghij0123456789
probe_expect '^error EINVAL .*' node-get $A_NAME:str:nl0
probe_expect '^error EINVAL .*' node-get $A_BOGUS:u32:1
probe_expect '^error EINVAL .*' node-get $A_SIZE:u64:1
probe_expect '^error EINVAL .+' node-get $A_MAJOR:u32:253
probe_expect '^error (EINVAL|ERANGE) .*' node-get $A_MAJOR:u8:1 $A_MINOR:u8:1
probe_expect '^error ENOENT .*' node-get $A_MAJOR:u32:1 $A_MINOR:u32:3
probe_expect '^error EINVAL .+' node-get $A_NAME:strz:nl0 $A_MAJOR:u32:1 $A_MINOR:u32:3
probe_expect '^error EINVAL .*' node-get $A_NAME:raw-len:4000
probe_expect '^error (EINVAL|EOPNOTSUPP)' 250
probe_expect '^ok' block-status $A_NAME:strz:nl0 $A_OFFSET:u64:0
probe_expect '^error EINVAL .+' block-status $A_NAME:strz:nl0
probe_expect '^error EINVAL .+' block-status $A_NAME:strz:nl0 $A_OFFSET:u64:$((1 << 40))
probe_expect '^error (EINVAL|ERANGE) .*' block-status $A_NAME:strz:nl0 $A_OFFSET:u64:0 $A_LENGTH:u64:0
probe_expect '^error (EINVAL|ERANGE) .*' block-status $A_NAME:strz:nl0 $A_OFFSET:u64:0 $A_MAX:u32:0
probe_expect '^error (EINVAL|ERANGE) .*' block-status $A_NAME:strz:nl0 $A_OFFSET:u64:0 $A_MAX:u32:5000
probe_expect '^error EINVAL .*' block-status $A_NAME:strz:nl0 $A_OFFSET:u32:0
probe_expect '^error EINVAL .*' block-status $A_NAME:nest-empty:0 $A_OFFSET:u64:0

# unprivileged: listing is allowed, block status (it does I/O) is not
if command -v setpriv >/dev/null; then
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups nlprobe --dump node-get 2>&1) || true
	[[ $out == ok* ]] || fail "unprivileged node-get dump refused: $out"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups nlprobe block-status $A_NAME:strz:nl0 $A_OFFSET:u64:0 2>&1) || true
	[[ $out == "error EPERM"* ]] || fail "unprivileged block-status allowed: $out"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups vstoragectl node add raw node-name=np file="$img" 2>&1) && fail "unprivileged node add worked"
	echo "unprivileged node add -> $out"
	[[ $out == Error:*ermission* ]] || fail "unprivileged node add: unclear error: $out"
	# the device is the disk group's, like any disk: nobody else opens it
	dev=$(readlink -f /dev/mapper/nl0)
	perm=$(stat -c '%a %U %G' "$dev")
	[[ $perm == "660 root disk" ]] || fail "$dev: mode, owner, group $perm, want 660 root disk"
	setpriv --reuid=65534 --regid=65534 --clear-groups dd if="$dev" of=/dev/null count=1 status=none 2>/dev/null &&
		fail "an unprivileged user read $dev"
	# no world-writable file in its sysfs directory or the modules'
	ww=$(find "/sys/block/${dev##*/}/" /sys/module/vstorage/ /sys/module/dm_vstorage_raw/ \
		-perm -o+w ! -type l 2>/dev/null | head -5)
	[ -z "$ww" ] || fail "world-writable sysfs files: $ww"
fi

# the node still works after all that
vstoragectl node show nl0 >/dev/null || fail "node lost"
node_del nl0
