#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Case 30's dm-log-writes method with ext4 on top: ext4 (-o discard, fstrim)
# on a qcow2 node whose image has a backing file, tests/tools/fs-workload
# (fsstress-like); replayed to every fsync/fdatasync/syncfs mark and to random
# points: qemu-img check exits 0 or 3, e2fsck -fn is clean after journal
# recovery, durable files read back with their md5. crash-consistency.rst.
# timeout: 420
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
vs_begin
modprobe dm-vstorage-qcow2 || fail "cannot load dm-vstorage-qcow2.ko"
require_module dm-log-writes
require_cmd qemu-img python3 mkfs.ext4 e2fsck fstrim replay-log

M=$((1 << 20))
VSIZE=$((64 * M))	# virtual disk = the backing file = the file system
LW=vs32lw		# dm-log-writes device
Q=vs32q			# the qcow2 node (dm name = node name)
WORKLOAD=$(dirname "$0")/../tools/fs-workload
seed=${VS_CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
OPS=${VS_FS_OPS:-250}		# operations of the workload
SYNCS=${VS_FS_SYNCS:-8}	# its durability points (marks)
RANDPTS=${VS_CRASH_RANDOM:-3}	# random replay points between marks
echo "seed $seed (set VS_CRASH_SEED=$seed to repeat this run's workload and choices)"

SHM=/dev/shm/vs32.$$
mkdir -p "$SHM"
mnt=$D/mnt
mkdir -p "$mnt" "$SHM/mnt"
cleanup32() {
	local m
	for m in "$mnt" "$SHM/mnt"; do
		if mountpoint -q "$m"; then
			umount "$m" || umount -l "$m" || true
		fi
	done
	vs_cleanup
	rm -rf "$SHM"
}
trap cleanup32 EXIT

t0=$SECONDS
tp=$SECONDS
phase() {
	echo "phase $1: $((SECONDS - tp)) s"
	tp=$SECONDS
}

# -- devices -----------------------------------------------------------------

# the backing file: an ext4 with 60 files in 7 directories (about 4 MiB)
mkdir "$D/base"
python3 "$WORKLOAD" populate --seed "$seed" "$D/base" || fail "fs-workload populate"
mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=0,lazy_journal_init=0,nodiscard \
	-d "$D/base" "$D/base.raw" $((VSIZE / M))M >/dev/null || fail "mkfs.ext4 -d"
# 8 KiB clusters: every first write of a 4 KiB ext4 block over the backing
# file copies the other half; an L2 cache of 4 of the 8 tables: evicting a
# dirty table commits too
logwrites_qcow2 128M "$D/base.raw" 8192 32768
phase setup

# -- the workload --------------------------------------------------------------

mount -t ext4 -o discard "$dev" "$mnt" || fail "cannot mount the file system on $dev"
python3 "$WORKLOAD" run --seed "$seed" --ops "$OPS" --syncs "$SYNCS" --trims 1 \
	--journal "$D/journal" --mark "dmsetup message $LW 0 mark" "$mnt" ||
	fail "the workload failed (seed $seed)"
umount "$mnt" || fail "umount"
# clean removal: the destructor commits what is left
dmsetup remove "$Q" || fail "cannot remove the qcow2 node"
dmsetup message "$LW" 0 mark removed
dmsetup remove "$LW" || fail "cannot remove the log-writes device"
phase workload

# -- replay and check ----------------------------------------------------------

cat >"$D/verify.py" <<'EOF'
# Replays the log to each chosen state and checks it; see the case's header.
import hashlib, json, os, random, re, subprocess, sys, time
sys.path.insert(0, os.environ['VS_REPO'] + '/tests/tools')
from logreplay import Failures, Replayer, inspect, list_log, run

(log, target, journal, seed, rand_pts, data_img, shm, results) = sys.argv[1:9]
rng = random.Random(int(seed) ^ 0x32)
cur = os.path.join(shm, 'cur.raw')
mnt = os.path.join(shm, 'mnt')
t_start = time.time()

# -- the journal: what must be there at each mark, and between marks
recs = [json.loads(l) for l in open(journal)]
start = recs[0]
end = recs[-1]
if start['t'] != 'start' or end['t'] != 'end':
    sys.exit('the journal is incomplete')
names = ['created']
must = {'created': (start['manifest']['files'], start['manifest'])}
before = {}             # mark -> what must be there anywhere since the previous one
for r in recs:
    if r['t'] == 'mark':
        names.append(r['name'])
        must[r['name']] = (r['pinned'], r['exact'])
        before[r['name']] = r['pre']
names.append('removed')
must['removed'] = (end['manifest']['files'], end['manifest'])
before['removed'] = end['pre']
ops = {r['i']: r['op'] for r in recs if r['t'] == 'op'}

# -- the log
E = list_log(log)   # (index, log offset, flags, pos, len, mark text)
# (dm-log-writes adds a mark of its own when it is removed)
log_marks = [(e[0], e[5]) for e in E if 'MARK' in e[2] and e[5] != 'dm-log-writes-end']
if [m for _, m in log_marks] != names:
    sys.exit('the log\'s marks %s are not the journal\'s %s'
             % ([m for _, m in log_marks], names))
first, last = log_marks[0][0], log_marks[-1][0]
print('log: %d entries, %d flush, %d FUA, %d discard, %d marks'
      % (len(E), sum('FLUSH' in e[2] for e in E), sum('FUA' in e[2] for e in E),
         sum('DISCARD' in e[2] for e in E), len(log_marks)))

# -- the states: every mark, and random entries between the first and the last
marked = {i for i, _ in log_marks}
between = [e[0] for e in E[first + 1:last] if e[0] not in marked]
points = sorted(marked | set(rng.sample(between, min(int(rand_pts), len(between)))))

def expectation(p):
    """(name, files that must read back, exact tree or None) at entry p."""
    for i, name in log_marks:
        if i == p:
            return name, must[name][0], must[name][1]
        if i > p:
            return 'before ' + name, before[name], None

def walk(root):
    files, dirs, odd = {}, [''], []
    for top, dnames, fnames in os.walk(root):
        rel = os.path.relpath(top, root)
        rel = '' if rel == '.' else rel
        dirs += [os.path.join(rel, d) for d in dnames]
        for f in fnames:
            p = os.path.join(rel, f)
            if not os.path.isfile(os.path.join(root, p)) or os.path.islink(os.path.join(root, p)):
                odd.append(p)
                continue
            with open(os.path.join(root, p), 'rb') as fh:
                b = fh.read()
            files[p] = [len(b), hashlib.md5(b).hexdigest()]
    return files, set(dirs), odd

def compare(req, exact, files, dirs, odd):
    bad = []
    for p, (size, md5) in sorted(req.items()):
        if p not in files:
            bad.append('%s: missing (durable: %d bytes, md5 %s)' % (p, size, md5))
        elif files[p] != [size, md5]:
            bad.append('%s: %d bytes, md5 %s; durable: %d bytes, md5 %s'
                       % (p, files[p][0], files[p][1], size, md5))
    if exact:
        want = set(exact['dirs'])
        for d in sorted(dirs ^ want):
            bad.append('directory %s: %s' % (d, 'unexpected' if d in dirs else 'missing'))
        for p in sorted(set(files) - set(exact['files'])):
            bad.append('%s: unexpected (%d bytes)' % (p, files[p][0]))
        bad += ['%s: not a regular file' % p for p in odd]
    return bad

# -- replaying
R = Replayer(log, target, E)
replay = R.replay
failures = Failures(target, results, '32-qcow2-crash-fs.first-failure.qcow2', head=20)
fail_state = failures.state
leaky = 0

def check_state(p):
    global leaky
    name, req, exact = expectation(p)
    e = E[p]
    what = 'entry %d (%s), %s' % (p, '|'.join(sorted(e[2])), name)
    t = time.time()
    # qemu-img check and convert: QEMU reads the image, not the target
    rc, out, cv_err = inspect(target, cur)
    if rc not in (0, 3) or (name == 'removed' and rc != 0):
        return fail_state(what, 'qemu-img check exit %d%s:\n%s'
                          % (rc, ' (0 expected after a clean removal)'
                             if rc == 3 else '', out))
    leaky += rc == 3
    if cv_err is not None:
        return fail_state(what, 'qemu-img convert failed:\n' + cv_err)
    # mounting recovers the journal and the orphans, as after a crash
    r = run(['mount', '-t', 'ext4', '-o', 'loop', cur, mnt])
    if r.returncode:
        d = run(['dmesg']).stdout.splitlines()[-10:]
        return fail_state(what, 'mount failed:\n%s\n%s' % (r.stdout, '\n'.join(d)))
    try:
        files, dirs, odd = walk(mnt)
    finally:
        r = run(['umount', mnt])
        if r.returncode:
            sys.exit('umount %s failed:\n%s' % (mnt, r.stdout))
    fsck = run(['e2fsck', '-fn', cur])
    bad = compare(req, exact, files, dirs, odd)
    if bad:
        bad = ['of %d durable files, some do not read back as recorded%s:'
               % (len(req), ', or the tree differs' if exact else '')] + bad[:20]
    if fsck.returncode:
        bad += ['e2fsck -fn exit %d after mounting:' % fsck.returncode,
                fsck.stdout]
    if bad:
        fail_state(what, '\n'.join(bad))
    print('%-44s qemu-img check %d, %3d files (%3d required%s), %.1f s'
          % (what, rc, len(files), len(req), ', exact' if exact else '',
             time.time() - t))

for p in points:
    if len(failures) >= 5:
        print('stopping after %d failed states' % len(failures))
        break
    replay(p)
    check_state(p)

if len(failures) < 5:
    if R.nxt < len(E):
        replay(len(E) - 1)
    if run(['cmp', target, data_img]).returncode:
        failures.append('full replay')
        print('FAILED: the full replay differs from the logged device')
    # the discards (mount -o discard, fstrim) reached the image: zero clusters
    r = run(['qemu-img', 'map', '--output=json', '-f', 'qcow2', target])
    zeroes = sum(m['length'] for m in json.loads(r.stdout) if m['depth'] == 0
                 and m['zero'] and not m['data']) if r.returncode == 0 else 0
    print('the final image has %d KiB of zero clusters (discarded)' % (zeroes >> 10))
    if not zeroes:
        failures.append('discards')
        print('FAILED: no zero clusters in the final image: the discards did not '
              'reach it\n' + r.stdout[-2000:])
print('checked %d states in %.0f s: %d with leaked clusters only, %d failed'
      % (len(points), time.time() - t_start, leaky, len(failures)))
sys.exit(1 if failures else 0)
EOF

truncate -s "$(stat -c %s "$D/data.img")" "$SHM/replay.img"
if ! python3 -u "$D/verify.py" "$D/log.img" "$SHM/replay.img" "$D/journal" "$seed" \
	"$RANDPTS" "$D/data.img" "$SHM" "${VS_RESULTS:-}"; then
	if [ -n "${VS_RESULTS:-}" ]; then
		# enough to replay any state on the host: replay-log --log ... --end N
		for f in log.img journal base.raw; do
			cp --sparse=always "$D/$f" "$VS_RESULTS/32-qcow2-crash-fs.$f" || true
		done
		echo "log, journal and backing file kept in $VS_RESULTS/32-qcow2-crash-fs.*"
	fi
	fail "crash states failed the checks (seed $seed; lines above)"
fi
phase replay-check
echo "done in $((SECONDS - t0)) s"
