# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/lib.sh - helpers for vstorage test cases (and for the harness itself).
#
# Source it from a case script:
#
#     #!/bin/bash
#     set -euo pipefail
#     . "$(dirname "$0")/../lib.sh"
#
# It does not change shell options. Everything here works under `set -eu`.
# See Documentation/testing.rst.

# Exit status a case uses to say "skipped" (automake convention).
VS_SKIP=77

# Extended regular expression (grep -E) matching a line of a kernel log that
# reports a kernel bug, a lockdep/RCU/sleep-in-atomic splat, a sanitizer hit,
# a hung task or a memory leak. Anything matching fails a case and a VM run.
# Notes:
#  - WARNING:/BUG: must not be preceded by a letter ("DEBUG:" is no report).
#  - kmemleak prints a banner at boot ("kmemleak: Kernel memory leak detector
#    initialized"); only its leak reports count.
#  - Beyond the obvious, RCU stalls and hard lockups count too.
VS_KERNEL_REPORT_RE='(^|[^[:alpha:]])(WARNING|BUG):|Oops|general protection|KASAN|UBSAN|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|sleeping function called from invalid context|hung task|blocked for more than|kmemleak:.*suspected memory leak|unreferenced object 0x|Kernel panic|self-detected stall|detected stalls on|hard LOCKUP'

# vs_kernel_reports [FILE...]: print the kernel-report lines of FILEs (or of
# stdin). Returns 0 if there was at least one, 1 if none, 2 on error.
# shellcheck disable=SC2120 # FILE arguments are optional
vs_kernel_reports() {
	grep -a -E -e "$VS_KERNEL_REPORT_RE" -- "$@"
}

# --- messages and results -------------------------------------------------

# info MSG...: progress message on stderr.
info() {
	printf '%s\n' "$*" >&2
}

# fail MSG...: print "FAIL: MSG" and end the case with status 1.
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

# skip REASON...: end the case as skipped. The reason is the last line of the
# case's output; the suite prints it as "skip NAME (REASON)".
skip() {
	printf '%s\n' "$*"
	exit "$VS_SKIP"
}

# require_cmd CMD...: skip the case unless every CMD is on PATH.
require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "command not found: $c"
	done
}

# require_root: skip unless running as root.
require_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
}

# require_vm: skip unless running inside the test VM (tests/vm/run).
require_vm() {
	if [ -z "${VS_SCRATCH:-}" ] || [ -z "${VS_KVER:-}" ]; then
		skip "needs the test VM (tests/vm/run)"
	fi
}

# require_module NAME...: modprobe each NAME, skip the case if one cannot be
# loaded.
require_module() {
	local m
	for m in "$@"; do
		modprobe "$m" >/dev/null 2>&1 || skip "cannot load module $m"
	done
}

# expect_fail CMD [ARG...]: run CMD, which must fail (non-zero exit). Fails
# the case if CMD succeeds. CMD's output is shown.
expect_fail() {
	local rc=0
	"$@" || rc=$?
	if [ "$rc" -eq 0 ]; then
		fail "expected failure, but succeeded: $*"
	fi
	info "expected failure (exit $rc): $*"
	return 0
}

# must CMD [ARG...]: run CMD, fail the case with the command line if it fails.
# Useful where `set -e` is suspended (inside `if`, `||`, functions called so).
must() {
	"$@" || fail "command failed (exit $?): $*"
}

# wait_for_path PATH [TIMEOUT_SEC=10] [TEST=-e]: wait until `test TEST PATH`
# holds, e.g. `wait_for_path /dev/mapper/foo 5 -b`. Returns 1 on timeout.
wait_for_path() {
	local path=$1 tmo=${2:-10} op=${3:--e} i
	for ((i = 0; i < tmo * 10; i++)); do
		# shellcheck disable=SC2086 # $op is a single test operator
		if test $op "$path"; then
			return 0
		fi
		sleep 0.1
	done
	# shellcheck disable=SC2086
	test $op "$path"
}

# wait_for_gone PATH [TIMEOUT_SEC=10]: wait until PATH does not exist.
wait_for_gone() {
	local path=$1 tmo=${2:-10} i
	for ((i = 0; i < tmo * 10; i++)); do
		[ -e "$path" ] || return 0
		sleep 0.1
	done
	[ ! -e "$path" ]
}

# --- kernel log -----------------------------------------------------------

# Where marks are written and how the log is read. Only the harness selftest
# changes these (to run the suite against a synthetic log).
: "${VS_KMSG:=/dev/kmsg}"
: "${VS_DMESG:=dmesg}"

# dmesg_mark [LABEL]: write a unique mark into the kernel log and print its
# token (use it with dmesg_since).
dmesg_mark() {
	local token
	token="vstorage-mark:${1:-mark}:$$:${RANDOM}${RANDOM}"
	printf '%s\n' "$token" >>"$VS_KMSG"
	printf '%s\n' "$token"
}

# dmesg_since TOKEN: print the kernel log lines after the mark TOKEN. If the
# mark is no longer in the log buffer (it wrapped), print the whole log.
dmesg_since() {
	# shellcheck disable=SC2086 # VS_DMESG is a command line
	$VS_DMESG | awk -v t="$1" '{ l[NR] = $0 } index($0, t) { m = NR }
		END { for (i = m + 1; i <= NR; i++) print l[i] }'
}

# dmesg_check_since TOKEN: fail the case if kernel-report lines appeared
# after TOKEN.
dmesg_check_since() {
	local hits
	hits=$(dmesg_since "$1" | vs_kernel_reports) || return 0
	printf '%s\n' "$hits" >&2
	fail "kernel reported a problem (lines above)"
}

# vs_kernel_reports_in TEXT: like vs_kernel_reports on the string TEXT, but
# without running grep when there is nothing to find (cheaper in the VM).
vs_kernel_reports_in() {
	[[ $1 =~ $VS_KERNEL_REPORT_RE ]] || return 1
	vs_kernel_reports <<<"$1"
}

# --- the harness ----------------------------------------------------------

# vs_case_name PATH: the name of a case (its file name less .sh).
vs_case_name() {
	local n=${1##*/}
	printf '%s\n' "${n%.sh}"
}

# vs_resolve_cases REPO [CASE...]: print the absolute paths of the cases to
# run, one a line. With no CASE: every REPO/tests/cases/*.sh, sorted. A CASE
# is a path to a file, or a name: tests/cases/CASE or tests/cases/CASE.sh.
# Returns 1 (with a message) if a CASE is not found.
vs_resolve_cases() {
	local repo=$1 c f
	shift
	if [ $# -eq 0 ]; then
		LC_ALL=C find "$repo/tests/cases" -maxdepth 1 -name '*.sh' -type f 2>/dev/null | LC_ALL=C sort
		return 0
	fi
	for c in "$@"; do
		for f in "$c" "$repo/tests/cases/$c" "$repo/tests/cases/$c.sh"; do
			if [ -f "$f" ]; then
				case "$f" in
				/*) printf '%s\n' "$f" ;;
				*) printf '%s\n' "$PWD/${f#./}" ;;
				esac
				continue 2
			fi
		done
		printf 'error: no such test case: %s\n' "$c" >&2
		return 1
	done
}

# vs_case_timeout FILE [DEFAULT=300]: the "# timeout: N" a case declares in its
# first 30 lines, else DEFAULT.
vs_case_timeout() {
	local line n=0 t='' re='^#[[:space:]]*timeout:[[:space:]]*([0-9]+)[[:space:]]*$'
	while [ "$n" -lt 30 ] && IFS= read -r line; do
		n=$((n + 1))
		if [[ $line =~ $re ]]; then
			t=${BASH_REMATCH[1]}
			break
		fi
	done <"$1"
	t=${t:-${2:-300}}
	# VS_TIMEOUT_SCALE: the debug kernel (KASAN, lockdep) runs slower
	printf '%s\n' "$((t * ${VS_TIMEOUT_SCALE:-1}))"
}
