#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The KUnit suites of tests/kunit (vstorage-kunit.ko): loading the module
# runs them; each KUnit test case counts as one case of the suite's totals
# (written to $VS_SUBRESULTS as "ok|FAIL kunit.SUITE.CASE"). Only the debug
# kernel has KUnit (make check-debug); on Debian's kernel this case skips.
# timeout: 120
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"

require_vm
require_root
kunit=/sys/kernel/debug/kunit
[ -d "$kunit" ] || skip "this kernel has no KUnit (debugfs $kunit): run make check-debug"
modinfo vstorage-kunit >/dev/null 2>&1 || fail "vstorage-kunit.ko is missing (make modules-debug builds it)"

suites=(vstorage-qcow2-entries vstorage-qcow2-refcount vstorage-qcow2-cache vstorage-core
	vstorage-target vstorage-tgroup)
modprobe vstorage-kunit || fail "modprobe vstorage-kunit failed"
trap 'modprobe -r vstorage-kunit 2>/dev/null || true' EXIT
# a suite added to the module but not to the list above would go uncounted
for d in "$kunit"/vstorage-*; do
	[ -d "$d" ] || continue
	[[ " ${suites[*]} " == *" ${d##*/} "* ]] ||
		fail "suite ${d##*/} runs but is not in this case's list: add it"
done

out=${VS_SUBRESULTS:-/dev/null}
bad=0
total=0
for s in "${suites[@]}"; do
	r=$kunit/$s/results
	[ -r "$r" ] || fail "suite $s did not run (no $r)"
	info "--- $s"
	sed 's/^/    /' "$r" >&2
	n=0
	# KTAP, indented per test case: "ok 3 name", "not ok 3 name",
	# "ok 3 name # SKIP why" (older KUnit: "ok 3 - name")
	while read -r line; do
		if [[ $line =~ ^(not\ ok|ok)\ [0-9]+\ (-\ )?([A-Za-z0-9_]+)(\ #\ SKIP.*)?$ ]]; then
			n=$((n + 1))
			name=kunit.$s.${BASH_REMATCH[3]}
			if [ -n "${BASH_REMATCH[4]}" ]; then
				echo "skip $name (${BASH_REMATCH[4]#* # SKIP })" >>"$out"
			elif [ "${BASH_REMATCH[1]}" = ok ]; then
				echo "ok $name" >>"$out"
			else
				echo "FAIL $name" >>"$out"
				bad=$((bad + 1))
			fi
		fi
	done < <(grep -E '^[[:space:]]+(not ok|ok) [0-9]+ ' "$r")
	[ "$n" -gt 0 ] || fail "suite $s reported no test cases"
	total=$((total + n))
done
info "$total KUnit test cases, $bad failed"
[ "$bad" -eq 0 ] || fail "$bad KUnit test cases failed"
