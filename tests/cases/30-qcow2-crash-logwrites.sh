#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Crash consistency of vstorage-qcow2 the dm-log-writes way (fstests'
# method): every write the target sends to its image is logged, then the
# log is replayed onto a fresh device up to every flush/FUA, to random
# points between them, and into "torn" states (only some of the writes
# since the last flush); at each state `qemu-img check` must find no
# corruption (exit 0, or 3: leaks only) and everything the test flushed
# must read back through QEMU. See Documentation/crash-consistency.rst.
# timeout: 420
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
vs_begin
modprobe dm-vstorage-qcow2 || fail "cannot load dm-vstorage-qcow2.ko"
require_module dm-log-writes
require_cmd qemu-img qemu-io fio python3 blkdiscard replay-log md5sum

M=$((1 << 20))
VSIZE=$((16 * M))	# virtual disk: 8 L2 tables of 4 KiB clusters
BSIZE=$((6 * M))	# the backing file covers [0, 6M)
LW=vs30lw		# dm-log-writes device
Q=vs30q			# the qcow2 node (dm name = node name)
seed=${VS_CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
# torn states to try, random points between flushes
TORN=${VS_CRASH_TORN:-8}
RANDPTS=${VS_CRASH_RANDOM:-8}
# 0: do not tear root updates (L1, refcount table) from their tables
ROOTS=${VS_CRASH_ROOTS:-1}
echo "seed $seed (set VS_CRASH_SEED=$seed to repeat this run's workload and choices)"
RANDOM=$seed

SHM=/dev/shm/vs30.$$
mkdir -p "$SHM"
cleanup30() {
	vs_cleanup
	rm -rf "$SHM"
}
trap cleanup30 EXIT

J=$D/journal		# what the test did: w POS LEN BYTE | d POS LEN | m NAME MD5
: >"$J"

# -- devices -----------------------------------------------------------------

# backing file: every 4 KiB block filled with 0x80 | (block % 127)
python3 - "$D/base.raw" "$BSIZE" <<'EOF'
import sys
with open(sys.argv[1], 'wb') as f:
    for i in range(int(sys.argv[2]) // 4096):
        f.write(bytes([0x80 | (i % 127)]) * 4096)
EOF
# 4 KiB clusters; a small L2 cache (4 of the 8 tables): evicting a dirty
# table commits too
logwrites_qcow2 256M "$D/base.raw" 4096 16384
echo "m created -" >>"$J"

# -- the workload --------------------------------------------------------------

# mark NAME [sum]: right after a flush the test issued and waited for: a
# mark in the log; with "sum", the journal also gets the checksum of what
# the device reads now (a cross-check of the verifier's model).
mark() {
	local sum=-
	dmsetup message "$LW" 0 mark "$1" || fail "dmsetup message mark $1"
	if [ "${2:-}" = sum ]; then
		sum=$(dd if="$dev" bs=1M iflag=direct status=none | md5sum) ||
			fail "cannot read $dev"
	fi
	echo "m $1 ${sum%% *}" >>"$J"
}

# batch NAME LO HI N [sum]: N writes of 0.5-12 KiB, 512-aligned, at random places
# in [LO, HI), each with its own byte, then a flush (qemu-io, O_DIRECT).
batch() {
	local name=$1 lo=$2 hi=$3 n=$4 i pos len pat args=()
	for ((i = 0; i < n; i++)); do
		len=$(((RANDOM % 24 + 1) * 512))
		pos=$((lo + (RANDOM * 32768 + RANDOM) % ((hi - lo - len) / 512 + 1) * 512))
		pat=$((RANDOM % 127 + 1))
		args+=(-c "write -P $pat $pos $len")
		echo "w $pos $len $pat" >>"$J"
	done
	qemu-io -f raw -t none "${args[@]}" -c flush "$dev" >"$D/qio.out" 2>&1 ||
		{ cat "$D/qio.out"; fail "qemu-io batch $name failed"; }
	mark "$name" "${5:-}"
}

t0=$SECONDS
tp=$SECONDS
phase() {
	echo "phase $1: $((SECONDS - tp)) s"
	tp=$SECONDS
}
# 1. random small writes over the backing file (copy-on-write of partial
#    clusters) and past its end, a flush after every 8
for b in 1 2 3 4 5 6; do
	if ((b % 3)); then
		batch "b$b" 0 $((4 * M)) 8
	else
		batch "b$b" $((12 * M)) $((16 * M)) 8 sum
	fi
done
phase batches

# 2. fio randwrite, 2-32 KiB at 2 KiB alignment, fsync every 8 writes,
#    every byte 0x5a; random map: it covers its 2 MiB exactly once
fio --name=crash --filename="$dev" --rw=randwrite --bsrange=2k-32k \
	--offset=$((4 * M)) --size=$((2 * M)) --ioengine=libaio --iodepth=4 \
	--direct=1 --fsync=8 --buffer_pattern=0x5a --scramble_buffers=0 \
	--randseed="$seed" --output="$D/fio.out" ||
	{ cat "$D/fio.out"; fail "fio failed"; }
echo "w $((4 * M)) $((2 * M)) 90" >>"$J"
sync "$dev"
cmp <(dd if="$dev" bs=1M skip=4 count=2 iflag=direct status=none) \
	<(head -c $((2 * M)) /dev/zero | tr '\0' '\132') ||
	fail "fio's region does not read back as 0x5a everywhere"
mark fio sum
phase fio

# 3. O_DIRECT|O_DSYNC writes (FUA, then a flush), one by one
for i in 1 2; do
	len=$(((RANDOM % 16 + 1) * 1024))
	pos=$((13 * M + (RANDOM * 32768 + RANDOM) % ((1 * M - len) / 512) * 512))
	pat=$((RANDOM % 127 + 1))
	echo "w $pos $len $pat" >>"$J"
	head -c "$len" /dev/zero | tr '\0' "\\$(printf %03o "$pat")" |
		dd of="$dev" bs="$len" count=1 seek="$pos" iflag=fullblock \
			oflag=direct,dsync,seek_bytes status=none ||
		fail "dsync write at $pos failed"
	mark "dsync$i"
done
phase dsync

# 4. discard=unmap frees clusters, write-zeroes too; two flushes make the
#    refcount decrements durable; then new L2 tables and data land in the
#    freed clusters
batch d1 $((6 * M)) $((10 * M)) 12
batch d2 $((6 * M)) $((10 * M)) 12
discard() { # POS LEN [-z]
	local z=()
	[ -z "${3:-}" ] || z=(-z)
	blkdiscard "${z[@]}" -o "$1" -l "$2" "$dev" || fail "blkdiscard ${3:-} $1 $2"
	if [ -n "${3:-}" ]; then
		echo "w $1 $2 0" >>"$J"
	else
		echo "d $1 $2" >>"$J"
	fi
}
discard $((6 * M)) $((1 * M))
discard $((8 * M)) $((1 * M))
discard $((9 * M + 1536)) $((40 << 10))
discard $((2 * M + 1024)) $((70 << 10)) -z
discard $((7 * M)) $((256 << 10)) -z
sync "$dev"
mark disc1
sync "$dev"
mark disc2 sum
batch r1 $((10 * M)) $((12 * M)) 12
batch r2 $((10 * M)) $((12 * M)) 12
batch r3 $((6 * M)) $((10 * M)) 12 sum
phase discard-reuse

# 5. clean removal: the destructor commits what is left
dmsetup remove "$Q" || fail "cannot remove the qcow2 node"
dmsetup message "$LW" 0 mark removed
echo "m removed -" >>"$J"
dmsetup remove "$LW" || fail "cannot remove the log-writes device"
echo "workload done in $((SECONDS - t0)) s"

# -- replay and check ----------------------------------------------------------

cat >"$D/verify.py" <<'EOF'
# Replays the log state by state and checks each; see the case's header.
import hashlib, os, random, re, struct, subprocess, sys, time
sys.path.insert(0, os.environ['VS_REPO'] + '/tests/tools')
from logreplay import Failures, Replayer, inspect as qemu_inspect, list_log, run

(log, target, journal, vsize, bsize, seed, torn_max, rand_pts, data_img,
 shm, results, tear_roots) = sys.argv[1:13]
vsize, bsize, torn_max, rand_pts = int(vsize), int(bsize), int(torn_max), int(rand_pts)
rng = random.Random(int(seed))
S = 512
CH = 65536
PAT = [bytes([v]) * S for v in range(256)]
cur_raw = os.path.join(shm, 'cur.raw')
undo = os.path.join(shm, 'undo')
t_start = time.time()

# -- the journal: what the test did between its marks
marks = []      # (name, md5 or '-', ops before it)
ops = []
for line in open(journal):
    f = line.split()
    if f[0] == 'm':
        marks.append((f[1], f[2], ops))
        ops = []
    elif f[0] == 'w':
        ops.append(('w', int(f[1]), int(f[2]), int(f[3])))
    elif f[0] == 'd':
        ops.append(('d', int(f[1]), int(f[2]), 0))
if ops:
    sys.exit('the journal ends without a mark')
mark_no = {m[0]: i for i, m in enumerate(marks)}

# -- the log
E = list_log(log)   # (index, log offset, flags, pos, len, mark text)
log_marks = {e[0]: mark_no[e[5]] for e in E if 'MARK' in e[2] and e[5] in mark_no}
if sorted(log_marks.values()) != list(range(len(marks))):
    sys.exit('the log does not hold the journal\'s marks in order')
first = min(log_marks)          # "created": the image is complete from here on

def is_write(e):
    return e[4] > 0 and 'MARK' not in e[2]

print('log: %d entries, %d flush, %d FUA, %d writes, %d marks'
      % (len(E), sum('FLUSH' in e[2] for e in E), sum('FUA' in e[2] for e in E),
         sum(is_write(e) for e in E), len(log_marks)))

# -- which states to check
points = {first, len(E) - 1}
for e in E[first:]:
    if e[2] & {'FLUSH', 'FUA', 'MARK'}:
        points.add(e[0])
plain = [e[0] for e in E[first:] if is_write(e) and e[0] not in points]
randoms = set(rng.sample(plain, min(rand_pts, len(plain))))
points = sorted(points | randoms)
# torn states: at a flush, only some of the (non-FUA) writes since the
# previous state. Every epoch that updates a root (the header, the L1 table,
# the refcount table) along with other tables is torn the worst way (the
# roots only: what they point to must have been flushed before); a random
# selection of the other epochs in random ways.
cands, prev = [], first
for p in points:
    if 'FLUSH' in E[p][2] and sum(is_write(e) and 'FUA' not in e[2]
                                  for e in E[prev + 1:p]) >= 2:
        cands.append(p)
    prev = p
tear = set(rng.sample(cands, min(torn_max, len(cands))))
print('checking %d states (%d random between flushes), %s, and %d other torn states'
      % (len(points), len(randoms), 'every flush epoch that updates a root with its '
         'tables torn' if tear_roots == '1' else 'roots not torn', len(tear)))

def roots():
    """Byte ranges of the header, L1 table and refcount table now."""
    with open(target, 'rb') as f:
        h = f.read(72)
    if h[:4] != b'QFI\xfb':
        return []
    l1_size, l1_off, rt_off, rt_clusters = struct.unpack('>IQQI', h[36:60])
    cs = 1 << struct.unpack('>I', h[20:24])[0]
    return [(0, cs), (l1_off, l1_off + 8 * l1_size), (rt_off, rt_off + cs * rt_clusters)]

def hits(e, ranges):
    return any(e[3] < b and a < e[3] + e[4] for a, b in ranges)

# -- the guest view the model expects
exp = bytearray()
for blk in range(vsize // 4096):
    pos = blk * 4096
    exp += PAT[0x80 | (blk % 127) if pos < bsize else 0] * 8
alt = {}        # sector -> other values also allowed (discarded: 0)
flux = {}       # sector -> values the writes since the last mark may leave
stable = -1     # the last mark the model has applied

def advance_model(p):
    """The model for log index p: everything up to the last mark at or
    before p is required; the writes after that mark may or may not be
    there, sector by sector."""
    global stable, flux
    k = max([m for i, m in log_marks.items() if i <= p], default=-1)
    while stable < k:
        stable += 1
        for kind, pos, ln, v in marks[stable][2]:
            if kind == 'w':
                exp[pos:pos + ln] = PAT[v] * (ln // S)
                for s in range(pos // S, (pos + ln) // S):
                    alt.pop(s, None)
            else:
                for s in range(pos // S, (pos + ln) // S):
                    alt.setdefault(s, set()).add(0)
        flux = {}
        if stable + 1 < len(marks):
            for kind, pos, ln, v in marks[stable + 1][2]:
                for s in range(pos // S, (pos + ln) // S):
                    flux.setdefault(s, set()).add(v)

def check_data(data):
    if len(data) != vsize:
        return ['the image reads %d bytes, not %d' % (len(data), vsize)]
    if data == exp:
        return []
    bad = []
    for c in range(0, vsize, CH):
        if data[c:c + CH] == exp[c:c + CH]:
            continue
        for s in range(c // S, (c + CH) // S):
            blk = data[s * S:(s + 1) * S]
            want = exp[s * S]
            if blk == PAT[want]:
                continue
            v = blk[0]
            if blk == PAT[v] and (v in alt.get(s, ()) or v in flux.get(s, ())):
                continue
            got = ('0x%02x' % v) if blk == PAT[v] else 'mixed bytes'
            ok = sorted({want} | alt.get(s, set()) | flux.get(s, set()))
            if bad and bad[-1][1] == s and bad[-1][2:] == [got, ok]:
                bad[-1][1] = s + 1
            else:
                bad.append([s, s + 1, got, ok])
    return ['guest bytes [%d, %d) read %s; allowed: %s'
            % (a * S, b * S, g, ' '.join('0x%02x' % x for x in ok))
            for a, b, g, ok in bad]

# -- replaying
R = Replayer(log, target, E)
replay = R.replay

failures = Failures(target, results, '30-qcow2-crash-logwrites.first-failure.img')
fail_state = failures.state
leaky = 0
last = None     # (qemu-img check exit, output, data) of the state replayed last

def inspect():
    """qemu-img check and the data QEMU reads (None if it cannot)."""
    rc, out, cv_err = qemu_inspect(target, cur_raw)
    data = None
    if cv_err is None:
        with open(cur_raw, 'rb') as f:
            data = f.read()
    else:
        out += '\nqemu-img convert failed:\n' + cv_err
    return rc, out, data

def check_state(what, fresh=True, md5=None):
    global leaky, last
    if fresh or last is None:
        last = inspect()
    rc, out, data = last
    if rc not in (0, 3) or data is None:
        fail_state(what, 'qemu-img check exit %d:\n%s' % (rc, out))
        return
    if fresh and rc == 3:
        leaky += 1
    bad = check_data(data)
    if bad:
        fail_state(what, 'flushed data does not read back, or data that was never '
                   'written appears (model: mark "%s"):\n%s'
                   % (marks[stable][0] if stable >= 0 else '-', '\n'.join(bad[:12])))
    elif md5 and md5 != '-' and hashlib.md5(data).hexdigest() != md5:
        fail_state(what, 'the image differs from what the device read at this mark')

checked = torn_done = root_epochs = 0
strategies = ['last', 'random', 'drop-first', 'suffix']
for p in points:
    if len(failures) >= 5:
        print('stopping after %d failed states' % len(failures))
        break
    ws = [e[0] for e in E[R.nxt:p] if is_write(e) and 'FUA' not in e[2]]
    rws = []
    if tear_roots == '1' and 'FLUSH' in E[p][2] and len(ws) >= 2:
        rr = roots()
        rws = [w for w in ws if hits(E[w], rr)]
        if len(rws) == len(ws):
            rws = []
    if rws or p in tear:
        how = strategies[torn_done % len(strategies)]
        if rws:
            how = 'roots only'
            drop = [w for w in ws if w not in rws]
        elif how == 'last':
            drop = ws[:-1]
        elif how == 'drop-first':
            drop = ws[:1]
        elif how == 'suffix':
            drop = ws[:rng.randrange(1, len(ws))]
        else:
            drop = [w for w in ws if rng.random() < 0.5] or ws[:1]
        advance_model(p)
        replay(p, exclude=drop, undo_file=undo)
        check_state('torn: entries %d..%d replayed without %s (%s), before the flush '
                    'at entry %d' % (R.nxt, p - 1, ','.join(map(str, drop)), how, p))
        last = None
        r = run(['replay-log', '--replay', target, '--apply-undo', undo])
        if r.returncode:
            sys.exit('replay-log --apply-undo failed:\n' + r.stdout)
        torn_done += 1
        if rws:
            root_epochs += 1
    fresh = last is None or any(is_write(e) for e in E[R.nxt:p + 1])
    replay(p)
    advance_model(p)
    e = E[p]
    check_state('replay up to entry %d (%s%s)' % (p, '|'.join(sorted(e[2])),
                                                    ' ' + e[5] if e[5] else ''),
                fresh, marks[log_marks[p]][1] if p in log_marks else None)
    checked += 1
    if checked % 25 == 0:
        print('  %d states, %d torn, %.0f s' % (checked, torn_done, time.time() - t_start))

if len(failures) < 5:
    if R.nxt < len(E):
        replay(len(E) - 1)
    if run(['cmp', target, data_img]).returncode:
        failures.append('full replay')
        print('FAILED: the full replay differs from the logged device')
    # after the clean removal the image must be clean, without leaks
    rc, out, data = inspect()
    if rc != 0:
        fail_state('the image after a clean removal',
                   'qemu-img check exit %d (0 expected):\n%s' % (rc, out))
print('checked %d states and %d torn ones (%d tearing a root update from its '
      'tables) in %.0f s: %d with leaked clusters only, %d failed'
      % (checked, torn_done, root_epochs, time.time() - t_start, leaky, len(failures)))
sys.exit(1 if failures else 0)
EOF

truncate -s "$(stat -c %s "$D/data.img")" "$SHM/replay.img"
t1=$SECONDS
if ! python3 -u "$D/verify.py" "$D/log.img" "$SHM/replay.img" "$J" "$VSIZE" "$BSIZE" \
	"$seed" "$TORN" "$RANDPTS" "$D/data.img" "$SHM" "${VS_RESULTS:-}" "$ROOTS"; then
	if [ -n "${VS_RESULTS:-}" ]; then
		# enough to replay any state on the host: replay-log --log ... --end N
		for f in log.img journal base.raw; do
			cp --sparse=always "$D/$f" "$VS_RESULTS/30-qcow2-crash-logwrites.$f" || true
		done
		echo "log, journal and backing file kept in $VS_RESULTS/30-qcow2-crash-logwrites.*"
	fi
	fail "crash states failed the checks (seed $seed; lines above)"
fi
echo "replay and checks took $((SECONDS - t1)) s"
