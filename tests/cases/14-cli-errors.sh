#!/bin/bash
# vstoragectl refuses bad requests with one line "Error: ..." on stderr and a
# non-zero exit, and leaves no device behind; removing a node in use fails.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../vstorage.sh"
vs_begin

img=$D/disk.img
truncate -s 8M "$img"
mkdir "$D/dir"

# expect_error REGEX ARGS...: vstoragectl ARGS fails with one Error line
expect_error() {
	local re=$1 rc=0 err
	shift
	err=$(vstoragectl "$@" 2>&1 >/dev/null) || rc=$?
	[ "$rc" -ne 0 ] || fail "accepted: vstoragectl $*"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "not one line for '$*': $err"
	[[ $err == Error:* ]] || fail "no 'Error:' prefix for '$*': $err"
	printf '%s\n' "$err" | grep -E -q -i -e "$re" || fail "message for '$*' lacks '$re': $err"
	echo "vstoragectl $* -> $err"
}

expect_error "driver" node add bogus node-name=x file="$img"
expect_error "node-name" node add raw file="$img"
expect_error "file" node add raw node-name=x
expect_error "node.name|invalid" node add raw node-name=9x file="$img"
expect_error "node.name|invalid" node add raw node-name=abcdefghijabcdefghijabcdefghij012 file="$img"
expect_error "directory" node add raw node-name=x file="$D/dir"
expect_error "no such|not exist|not found" node add raw node-name=x file="$D/none"
expect_error "offset" node add raw node-name=x file="$img" offset=100
expect_error "offset|beyond|size" node add raw node-name=x file="$img" offset=16M
expect_error "size" node add raw node-name=x file="$img" size=0
expect_error "size|beyond" node add raw node-name=x file="$img" size=9M
expect_error "size" node add raw node-name=x file="$img" size=12junk
expect_error "unknown|property" node add raw node-name=x file="$img" colour=blue
expect_error "twice|repeated|more than once|duplicate" node add raw node-name=x file="$img" offset=0 offset=0
expect_error "read-only" node add raw node-name=x file="$img" read-only=maybe
expect_error "no node|not found|no such" node show nonode
expect_error "no node|not found|no such|not a vstorage" node del nonode
[ ! -e /dev/mapper/x ] || fail "a failed add left /dev/mapper/x behind"

node_add raw node-name=one file="$img"
expect_error "exists|in use|already" node add raw node-name=one file="$img"

# a node held open cannot be removed, and stays usable
exec 3<"/dev/vstorage/one"
expect_error "in use|busy" node del one
exec 3<&-
[ -b /dev/vstorage/one ] || fail "node vanished after a refused del"
node_del one
wait_for_gone /dev/vstorage/one 10 || fail "/dev/vstorage/one still exists after del"

# a dm device that is not a vstorage node is not ours to remove
dmsetup create notours --table "0 8 zero"
track_dm notours
expect_error "not a vstorage|vstorage" node del notours
dmsetup remove notours
