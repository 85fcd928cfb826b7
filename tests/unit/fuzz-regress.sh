#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tests/unit/fuzz-regress.sh - replay the qcow2 fuzz corpus on every run.
#
# Builds each tests/fuzz/fuzz-*.c target WITHOUT libFuzzer: with
# tests/fuzz/replay-main.c, a plain main that feeds files to
# LLVMFuzzerTestOneInput(), under ASan and UBSan with $CC (gcc by default;
# clang is only needed for `make fuzz`), from the module's own
# kernel/formats/qcow2/format.c and entries.c. Then runs each target over its seed corpus
# (tests/fuzz/mkcorpus: qemu-img images, cached in build/fuzz/corpus/) and
# over tests/fuzz/regress/TARGET/ (inputs that once crashed, and others
# worth keeping). Any sanitizer report or violated invariant fails.
#
# Prints "ok TARGET (N inputs)" or "FAIL TARGET" per target; exits 1 on a
# failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ=$ROOT/tests/fuzz
OUT=$ROOT/build/fuzz

make -s -C "$FUZZ" BUILD="$ROOT/build" replay corpus >&2

nfail=0
for src in "$FUZZ"/fuzz-*.c; do
	t=$(basename "$src" .c)
	t=${t#fuzz-}
	dirs=()
	for d in "$OUT/corpus/$t" "$FUZZ/regress/$t"; do
		[ -d "$d" ] && dirs+=("$d")
	done
	if [ ${#dirs[@]} -eq 0 ]; then
		echo "ok $t (no inputs)"
		continue
	fi
	if res=$("$OUT/replay/fuzz-$t" "${dirs[@]}"); then
		echo "ok $t (${res##*: })"
	else
		echo "FAIL $t"
		nfail=$((nfail + 1))
	fi
done
[ "$nfail" -eq 0 ] || exit 1
