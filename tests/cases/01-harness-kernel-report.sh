#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The harness notices kernel reports, without a real one: the pattern of
# tests/lib.sh against synthetic log lines, and tests/vm/suite run on
# synthetic cases against a fake kernel log (VS_KMSG/VS_DMESG). Also checks
# the suite's per-case verdicts, skip reasons and timeouts. Runs anywhere
# (no root or VM needed).
# timeout: 120
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"

repo=$(realpath "$(dirname "$0")/../..")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vs-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# 1. The pattern: every report is found, ordinary lines are not.
reports=(
	'[   12.345678] WARNING: CPU: 1 PID: 317 at drivers/md/dm-vstorage.c:42 vs_map+0x1f/0x30 [dm_vstorage]'
	'[   12.345678] BUG: kernel NULL pointer dereference, address: 0000000000000008'
	'[   12.345678] BUG: unable to handle page fault for address: ffffc90000123000'
	'[   12.345678] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [kworker/0:1:33]'
	'[   12.345678] Oops: 0002 [#1] PREEMPT SMP NOPTI'
	'[   12.345678] general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1]'
	'[   12.345678] BUG: KASAN: slab-use-after-free in vs_endio+0x2a/0x40'
	'[   12.345678] UBSAN: shift-out-of-bounds in drivers/md/dm-vstorage.c:77:12'
	'[   12.345678] WARNING: possible circular locking dependency detected'
	'[   12.345678] WARNING: possible recursive locking detected'
	'[   12.345678] WARNING: inconsistent lock state'
	'[   12.345678] WARNING: suspicious RCU usage'
	'[   12.345678] BUG: sleeping function called from invalid context at kernel/locking/mutex.c:580'
	'[  245.000000] INFO: task kworker/u4:2:88 blocked for more than 120 seconds.'
	'[  245.000000] hung task detected: dmsetup:412'
	'[  600.000000] kmemleak: 3 new suspected memory leaks (see /sys/kernel/debug/kmemleak)'
	'unreferenced object 0xffff888004a1c000 (size 64):'
	'[   12.345678] Kernel panic - not syncing: Fatal exception'
	'[   80.000000] rcu: INFO: rcu_preempt self-detected stall on CPU'
	'[   80.000000] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:'
	'[   80.000000] watchdog: Watchdog detected hard LOCKUP on cpu 1'
	'  inconsistent lock state'
	'sleeping function called from invalid context'
	'suspicious RCU usage'
)
benign=(
	'[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)'
	'[    0.123456] kmemleak: Kernel memory leak detector initialized (mem pool available: 15682)'
	'[    0.123456] kmemleak: Automatic memory scanning thread started'
	'[    0.123456] KernelAddressSanitizer initialized (generic)'
	'[    1.000000] DEBUG: vstorage: this is a debug message'
	'[    1.000000] device-mapper: ioctl: 4.47.0-ioctl (2022-07-28) initialised: dm-devel@redhat.com'
	'[    1.000000] EXT4-fs (vda): mounted filesystem with ordered data mode. Quota mode: none.'
	'[    1.000000] vstorage-mark:case-01-warning-test:123:456'
	'[    1.000000] hung_task: tunable changed'
	'[    2.000000] random: crng init done'
)
# One log of both kinds: exactly the report lines come out, in order.
printf '%s\n' "${reports[@]}" >"$tmp/want"
printf '%s\n' "${benign[@]}" "${reports[@]}" "${benign[@]}" >"$tmp/log"
vs_kernel_reports "$tmp/log" >"$tmp/found" || true
if ! cmp -s "$tmp/want" "$tmp/found"; then
	diff "$tmp/want" "$tmp/found" | sed -n 's/^< /not detected: /p; s/^> /wrongly detected: /p' >&2
	fail "vs_kernel_reports is wrong (lines above)"
fi
printf '%s\n' "${benign[@]}" >"$tmp/clean"
if vs_kernel_reports "$tmp/clean" >/dev/null; then
	fail "vs_kernel_reports found a report in a clean log"
fi
# The suite's cheaper variant (a bash regex pre-check, then grep) agrees.
vs_kernel_reports_in "$(cat "$tmp/log")" | cmp -s "$tmp/want" - || fail "vs_kernel_reports_in differs from vs_kernel_reports"
if vs_kernel_reports_in "$(cat "$tmp/clean")" >/dev/null; then
	fail "vs_kernel_reports_in found a report in a clean log"
fi
info "pattern ok: ${#reports[@]} reports found, ${#benign[@]} ordinary lines passed"

# 2. dmesg_mark/dmesg_since on a fake log.
export VS_KMSG=$tmp/kmsg VS_DMESG="cat $tmp/kmsg"
echo "old line before the mark" >"$VS_KMSG"
tok=$(dmesg_mark test)
echo "new line after the mark" >>"$VS_KMSG"
[ "$(dmesg_since "$tok")" = "new line after the mark" ] || fail "dmesg_since: wrong lines: $(dmesg_since "$tok")"
[ "$(dmesg_since no-such-mark | wc -l)" -eq 3 ] || fail "dmesg_since of a lost mark should print the whole log"
info "dmesg_mark/dmesg_since ok"

# 3. The suite, on synthetic cases against the fake log.
mkdir -p "$tmp/cases" "$tmp/results"
echo "[    1.000000] WARNING: CPU: 0 PID: 1 at boot (before the suite: no case's)" >"$VS_KMSG"
cat >"$tmp/cases/a-clean.sh" <<'EOF'
echo "all good"
EOF
cat >"$tmp/cases/b-warns.sh" <<'EOF'
echo "[   99.000000] WARNING: CPU: 1 PID: 42 at fake.c:1 fake_fn+0x0/0x10" >>"$VS_KMSG"
echo "the case itself passes"
EOF
cat >"$tmp/cases/c-skips.sh" <<'EOF'
echo "some output"
echo "needs a unicorn"
exit 77
EOF
cat >"$tmp/cases/d-fails.sh" <<'EOF'
echo "this went wrong"
exit 3
EOF
cat >"$tmp/cases/e-slow.sh" <<'EOF'
# timeout: 2
sleep 60
EOF
cat >"$tmp/cases/f-after.sh" <<'EOF'
echo "[  100.000000] vstorage: ordinary message" >>"$VS_KMSG"
EOF
rc=0
VS_RESULTS=$tmp/results "$repo/tests/vm/suite" "$tmp"/cases/*.sh >"$tmp/out" 2>&1 || rc=$?
sed 's/^/  | /' "$tmp/out"
[ "$rc" -eq 1 ] || fail "suite exit status $rc, expected 1"
got=$(grep -E '^(ok|FAIL|skip) |^VSTORAGE-SUITE:' "$tmp/out")
want='ok a-clean
FAIL b-warns
skip c-skips (needs a unicorn)
FAIL d-fails
FAIL e-slow
ok f-after
VSTORAGE-SUITE: 2 passed, 3 failed, 1 skipped'
[ "$got" = "$want" ] || fail "suite result lines differ: got:
$got
want:
$want"
[ "$(cat "$tmp/results/suite-counts")" = "2 3 1" ] || fail "suite-counts: $(cat "$tmp/results/suite-counts")"
grep -q 'fake.c:1' "$tmp/results/kernel-report-claimed.txt" || fail "the report was not claimed"
[ "$(wc -l <"$tmp/results/kernel-report-claimed.txt")" -eq 1 ] || fail "claimed more than the case's report"
grep -q 'TIMEOUT' "$tmp/results/cases/e-slow.log" || fail "no TIMEOUT note in the slow case's log"
grep -q 'fake.c:1' <(sed -n '/^FAIL b-warns/,/^[a-zA-Z]/p' "$tmp/out") || fail "the report lines are not printed with FAIL b-warns"
for n in a-clean b-warns c-skips d-fails e-slow f-after; do
	[ -f "$tmp/results/cases/$n.log" ] || fail "no log for case $n"
done
info "suite verdicts ok"
echo "kernel report detection works"
