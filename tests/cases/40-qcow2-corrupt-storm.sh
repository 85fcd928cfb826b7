#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 600
#
# Corrupt image storm (issue 4, hostile input): five rich seed images
# (versions 2 and 3; 512-byte, 4, 32 and 64 KiB clusters; extended L2; raw
# and qcow2 backing files; zlib and zstd compressed clusters; internal
# snapshots; a bitmap; a dirty lazy-refcounts image; refcounts of 1 to 64
# bits) and, with a fixed seed, 80 mutants of them: bytes flipped or
# overwritten in the header, the header extensions, the L1 and L2 tables,
# the refcount table and blocks, the snapshot table and its L1 tables
# (found by parsing the seeds). Each mutant is opened with `vstoragectl
# node add` (a quarter read-only) and either refused with one Error line,
# or served: read whole, written at a few places (in place and allocating)
# and flushed, then removed. I/O may fail (EIO) and the image may be marked
# corrupt (the node then is read-only, and a version 3 image has the
# corrupt bit set); a read-only node leaves its file unchanged; no device
# is left behind. Never an oops, a hang (every step runs under `timeout`)
# or another kernel report (the taint flags are checked after every
# mutant). The outcomes are counted, and the case fails if they show it
# degenerated. Each mutant's seed, mutations and changed bytes are logged;
# a mutant that fails is kept in $VS_RESULTS/40-qcow2-corrupt-storm/ with
# the seed images. VS_STORM_SEED, VS_STORM_COUNT and VS_STORM_ONLY="IDX..."
# (only those mutants) change the defaults.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source-path=SCRIPTDIR source=../vstorage.sh
. "$(dirname "$0")/../vstorage.sh"
# shellcheck source-path=SCRIPTDIR source=../qcow2.sh
. "$(dirname "$0")/../qcow2.sh"
q_host && skip "the storm needs the kernel target"
qcow2_begin
require_cmd timeout blockdev cmp

SEED=${VS_STORM_SEED:-40}
COUNT=${VS_STORM_COUNT:-80}
ONLY=${VS_STORM_ONLY:-}
KEEP=${VS_RESULTS:-$D}/40-qcow2-corrupt-storm
TMO=60			# bound of every step; more is a hang
M=$((1 << 20))
I=$D/img		# seeds, backing files and the current mutant
mkdir -p "$I"
echo "seed $SEED, $COUNT mutants${ONLY:+ (only $ONLY)}"

GEN=
storm_cleanup() {
	[ -z "$GEN" ] || kill "$GEN" 2>/dev/null || true
	qcow2_cleanup
}
trap storm_cleanup EXIT

# -- the seeds ------------------------------------------------------------------

info "[${SECONDS}s] making the seed images"
# (in $I: backing file names are relative to the image's directory)
mk() {
	(cd "$I" && qemu-img create -q -f qcow2 "$@") || fail "qemu-img create $*"
}
# version 2, 64 KiB clusters, a compressed cluster, a snapshot, COW after it
mk -o compat=0.10,cluster_size=64k s1-v2-64k.qcow2 16M
qio -c 'write -P 0x11 0 128k' -c 'write -c -P 0x12 1M 64k' -c 'write -P 0x13 5200k 8k' \
	-c 'write -P 0x14 15M 64k' -c 'write -z 8M 64k' "$I/s1-v2-64k.qcow2"
must qemu-img snapshot -c snap1 "$I/s1-v2-64k.qcow2"
qio -c 'write -P 0x21 64k 64k' -c 'write -P 0x22 1M 4k' -c 'write -P 0x23 12M 64k' \
	"$I/s1-v2-64k.qcow2"
# 4 KiB clusters, 8-bit refcounts, a raw backing file, compressed
# clusters, zero clusters, a snapshot, a persistent bitmap
pattern "$I/base.raw" 0x80 $((8 * M))
mk -o cluster_size=4k,refcount_bits=8 -b base.raw -F raw s2-4k-rc8-raw.qcow2 16M
qio -c 'write -P 0x31 0 4k' -c 'write -P 0x32 100k 20k' -c 'write -c -P 0x33 2M 16k' \
	-c 'write -P 0x34 6M 4k' -c 'write -z 7M 8k' -c 'write -P 0x35 9M 12k' \
	-c 'write -P 0x36 13M 4k' -c 'write -P 0x37 16380k 4k' "$I/s2-4k-rc8-raw.qcow2"
must qemu-img snapshot -c snap1 "$I/s2-4k-rc8-raw.qcow2"
qio -c 'write -P 0x41 0 4k' -c 'write -P 0x42 4M 4k' -c 'write -P 0x43 2M 4k' \
	"$I/s2-4k-rc8-raw.qcow2"
must qemu-img bitmap --add "$I/s2-4k-rc8-raw.qcow2" b0
# 32 KiB clusters with extended L2 (1 KiB subclusters), 1-bit refcounts,
# a qcow2 backing file (with compressed clusters of its own)
mk -o cluster_size=64k base.qcow2 16M
qio -c 'write -P 0x90 0 4M' -c 'write -c -P 0x91 10M 1M' "$I/base.qcow2"
mk -o cluster_size=32k,extended_l2=on,refcount_bits=1 -b base.qcow2 -F qcow2 \
	s3-32k-xl2-rc1.qcow2 16M
qio -c 'write -P 0x51 1k 2k' -c 'write -P 0x52 3M 33k' -c 'write -z 10M 4k' \
	-c 'write -P 0x53 11M 1k' -c 'write -P 0x54 15M 64k' -c 'write -z 12M 32k' \
	"$I/s3-32k-xl2-rc1.qcow2"
# 64 KiB clusters, zstd, 64-bit refcounts, lazy refcounts, two snapshots;
# then the dirty bit (opened read-write, it is repaired first)
mk -o cluster_size=64k,refcount_bits=64,compression_type=zstd,lazy_refcounts=on \
	s4-64k-zstd-rc64-dirty.qcow2 16M
qio -c 'write -c -P 0x61 0 256k' -c 'write -P 0x62 3M 64k' -c 'write -c -P 0x63 9M 128k' \
	-c 'write -P 0x64 14M 192k' "$I/s4-64k-zstd-rc64-dirty.qcow2"
must qemu-img snapshot -c a "$I/s4-64k-zstd-rc64-dirty.qcow2"
qio -c 'write -P 0x71 3M 4k' -c 'write -P 0x72 0 64k' "$I/s4-64k-zstd-rc64-dirty.qcow2"
must qemu-img snapshot -c b "$I/s4-64k-zstd-rc64-dirty.qcow2"
b=$(header_byte "$I/s4-64k-zstd-rc64-dirty.qcow2" 79)
[ "$b" -eq 8 ] || fail "s4: incompatible features byte is $b, not 8 (zstd)"
poke "$I/s4-64k-zstd-rc64-dirty.qcow2" 79 '\x09'
# 512-byte clusters (hundreds of tables), 4-bit refcounts, compressed, a
# snapshot
mk -o cluster_size=512,refcount_bits=4 s5-512-rc4.qcow2 4M
qio -c 'write -P 0xa1 0 4k' -c 'write -P 0xa2 40k 1k' -c 'write -c -P 0xa3 100k 2k' \
	-c 'write -P 0xa4 1M 512' -c 'write -P 0xa5 2100k 3k' -c 'write -z 3M 4k' \
	-c 'write -P 0xa6 4095k 1k' "$I/s5-512-rc4.qcow2"
must qemu-img snapshot -c s "$I/s5-512-rc4.qcow2"
qio -c 'write -P 0xb1 0 1k' -c 'write -P 0xb2 2M 1k' "$I/s5-512-rc4.qcow2"
SEEDS=("$I"/s[1-5]-*.qcow2)

# -- the mutant generator -------------------------------------------------------

cat >"$D/gen.py" <<'PY'
import random, struct, sys

# gen.py SEED IMAGE...: the mutant server. For each line "IDX PATH..." on
# stdin, writes mutant IDX (random.Random(SEED * 100000 + IDX), the same
# mutant whatever was asked before) to every PATH and prints one line:
# IDX MUTANT-SEED IMAGE ro|rw WRITES PATCHES WHAT
# WRITES: OFFSET:LENGTH,... to do through the node; PATCHES: OFFSET=HEX,...
# the bytes that differ from IMAGE; WHAT: the mutations, '; '-separated.

MASK = 0x00fffffffffffe00           # L1/L2 offset bits 9..55
EXT_NAMES = {0xe2792aca: 'backing-format', 0x6803f857: 'feature-table',
             0x23852875: 'bitmaps', 0x0537be77: 'crypto', 0x44415441: 'data-file'}


def be(b, off, n):
    return int.from_bytes(b[off:off + n], 'big')


class Seed:
    def __init__(self, path):
        self.path = path
        self.cache = {}
        self.name = path.rsplit('/', 1)[-1]
        b = self.b = bytearray(open(path, 'rb').read())
        self.flen = len(b)
        self.version = be(b, 4, 4)
        self.cbits = be(b, 20, 4)
        self.cs = cs = 1 << self.cbits
        self.vsize = be(b, 24, 8)
        self.regions = {}       # kind -> [(start, length, what)]
        self.meta = [0]         # metadata offsets (for entries pointing there)
        self.guest = []         # allocated guest offsets
        if self.version >= 3:
            self.incompat = be(b, 72, 8)
            self.rorder = be(b, 96, 4)
            hlen = be(b, 100, 4)
        else:
            self.incompat, self.rorder, hlen = 0, 4, 72
        self.xl2 = bool(self.incompat & 16)
        self.fields = [(4, 4, 'version'), (8, 8, 'backing_file_offset'),
                       (16, 4, 'backing_file_size'), (20, 4, 'cluster_bits'),
                       (24, 8, 'size'), (32, 4, 'crypt_method'),
                       (36, 4, 'l1_size'), (40, 8, 'l1_table_offset'),
                       (48, 8, 'refcount_table_offset'),
                       (56, 4, 'refcount_table_clusters'),
                       (60, 4, 'nb_snapshots'), (64, 8, 'snapshots_offset')]
        if self.version >= 3:
            self.fields += [(72, 8, 'incompatible_features'),
                            (80, 8, 'compatible_features'),
                            (88, 8, 'autoclear_features'),
                            (96, 4, 'refcount_order'), (100, 4, 'header_length'),
                            (104, 1, 'compression_type')]
        self.add('header', 0, hlen, 'header')
        # header extensions
        off, exts = hlen, []
        while off + 8 <= cs:
            t, n = be(b, off, 4), be(b, off + 4, 4)
            exts.append((off, t, n))
            if t == 0:
                break
            if t == 0x23852875:     # bitmaps: directory and its tables
                nb, dsize, doff = be(b, off + 8, 4), be(b, off + 16, 8), be(b, off + 24, 8)
                self.add('bitmaps', doff, dsize, 'bitmap directory')
                p = doff
                for _ in range(nb):
                    toff, tsize = be(b, p, 8), be(b, p + 8, 4)
                    self.add('bitmaps', toff, tsize * 8, 'bitmap table')
                    for i in range(tsize):
                        e = be(b, toff + 8 * i, 8) & MASK
                        if e:
                            self.add('bitmaps', e, cs, 'bitmap data')
                    p += (24 + be(b, p + 20, 2) + be(b, p + 16, 4) + 7) & ~7
            off += 8 + ((n + 7) & ~7)
        self.exts = exts
        self.add('extensions', hlen, off + 8 - hlen, 'extensions')
        bo, bs = be(b, 8, 8), be(b, 16, 4)
        if bo:
            self.add('backing-name', bo, bs, 'backing file name')
        # refcount table and blocks
        rto, rtc = be(b, 48, 8), be(b, 56, 4)
        self.add('refcount-table', rto, rtc * cs, 'refcount table')
        for i in range(rtc * cs // 8):
            e = be(b, rto + 8 * i, 8) & ~0x1ff
            if e:
                self.add('refcount-block', e, cs, f'refcount block {i}')
        # active L1 and L2
        self.l1 = (be(b, 40, 8), be(b, 36, 4))
        self.add('l1', self.l1[0], self.l1[1] * 8, 'L1 table')
        self.walk_l1(*self.l1, 'l2', True)
        # snapshots
        so, sn = be(b, 64, 8), be(b, 60, 4)
        p = so
        for i in range(sn):
            l1o, l1n = be(b, p, 8), be(b, p + 8, 4)
            idl, nl, extra = be(b, p + 12, 2), be(b, p + 14, 2), be(b, p + 36, 4)
            # fixed dates: the same mutants in every run
            b[p + 16:p + 32] = struct.pack('>IIQ', 0x5f000000 + i, 0, 1000000000 * i)
            self.add('snapshot-l1', l1o, l1n * 8, f'snapshot {i} L1 table')
            self.walk_l1(l1o, l1n, 'snapshot-l2', False)
            p += (40 + extra + idl + nl + 7) & ~7
        if sn:
            self.add('snapshot-table', so, p - so, 'snapshot table')
        self.snap_entries = sn

    def used(self, start, length, esz):
        """Indexes of the seed's non-zero entries (esz bytes; -bits: refcounts)."""
        key = (start, length, esz)
        if key not in self.cache:
            t, u = self.b[start:start + length], set()
            bits = -esz if esz < 0 else esz * 8
            nz = [k for k in range(0, length, 8) if t[k:k + 8] != bytes(8)]
            for k in nz:
                for m in range(k, k + 8):
                    if not t[m]:
                        continue
                    if bits >= 8:
                        u.add(m * 8 // bits)
                    else:
                        for j in range(8 // bits):
                            if (t[m] >> (j * bits)) & ((1 << bits) - 1):
                                u.add(m * 8 // bits + j)
            self.cache[key] = sorted(u)
        return self.cache[key]

    def add(self, kind, start, length, what):
        if length <= 0 or start + length > self.flen:
            return
        self.regions.setdefault(kind, []).append((start, length, what))
        self.meta.append(start)

    def walk_l1(self, l1o, l1n, kind, active):
        b, cs = self.b, self.cs
        esz = 16 if self.xl2 else 8
        for i in range(l1n):
            l2 = be(b, l1o + 8 * i, 8) & MASK
            if not l2:
                continue
            if any(r[0] == l2 for r in self.regions.get('l2', [])):
                continue
            self.add(kind, l2, cs, f'L2 table {i}')
            if not active:
                continue
            for j in range(cs // esz):
                e = be(b, l2 + esz * j, 8)
                g = (i * (cs // esz) + j) * cs
                if e & (1 << 62):
                    x = 62 - (self.cbits - 8)
                    host = e & ((1 << x) - 1)
                    n = ((e >> x) & ((1 << (self.cbits - 8)) - 1)) + 1
                    self.add('compressed', host, min(n * 512 - (host & 511), self.flen - host),
                             f'compressed cluster of guest {g:#x}')
                    self.guest.append(g)
                elif e & MASK or (esz == 16 and be(b, l2 + esz * j + 8, 4)):
                    self.guest.append(g)


def interesting(r, width, cur, s):
    top = (1 << (8 * width)) - 1
    c = [0, 1, 2, 3, 7, 8, 9, 16, 64, 255, 256, 511, 512, 4096, 65535, 65536,
         top, top >> 1, (top >> 1) + 1, cur + 1, cur - 1, cur << 1, cur >> 1,
         cur ^ (1 << r.randrange(8 * width)), s.flen, s.flen + s.cs, s.cs,
         s.cs - 8, r.choice(s.meta), r.randrange(top + 1)]
    return r.choice(c) & top


def put(b, off, width, v):
    b[off:off + width] = v.to_bytes(width, 'big')


def mut_bytes(r, b, start, length, what):
    """Untargeted: a bit flip, a random byte or a run of random bytes."""
    op = r.randrange(3)
    off = start + r.randrange(length)
    if op == 0:
        bit = r.randrange(8)
        b[off] ^= 1 << bit
        return f'{what}: flip bit {bit} of byte {off:#x}'
    n = 1 if op == 1 else min(r.randint(2, 8), start + length - off)
    b[off:off + n] = bytes(r.randrange(256) for _ in range(n))
    return f'{what}: {n} random byte(s) at {off:#x}'


def mut_entry(r, s, b, start, length, what, kind):
    """A 64-bit table entry: offset, flags, reserved bits, another entry."""
    esz = 16 if kind in ('l2', 'snapshot-l2') and s.xl2 else 8
    n = length // esz
    if n == 0:
        return mut_bytes(r, b, start, length, what)
    used = s.used(start, length, esz)
    i = r.choice(used) if used and r.random() < 0.8 else r.randrange(n)
    off = start + i * esz
    if esz == 16 and r.random() < 0.35:     # the subcluster bitmap
        bm = be(b, off + 8, 8)
        v = r.choice([bm ^ (1 << r.randrange(64)), 0xffffffffffffffff,
                      (bm & 0xffffffff) << 32 | (bm & 0xffffffff), 0xffffffff,
                      0xffffffff00000000, r.getrandbits(64), 0])
        put(b, off + 8, 8, v)
        return f'{what}: subcluster bitmap {i} at {off + 8:#x}: {bm:#x} -> {v:#x}'
    e = be(b, off, 8)
    op = r.randrange(6)
    if kind in ('refcount-table',):
        mask = ~0x1ff & 0xffffffffffffffff
    else:
        mask = MASK
    if op == 0:
        v = e ^ (1 << r.randrange(64))
    elif op == 1:       # the offset somewhere interesting, flags kept
        o = r.choice([0, s.flen, s.flen + s.cs, 1 << r.randint(30, 55),
                      (e & mask) + 512, (e & mask) + s.cs, (e & mask) - s.cs,
                      r.choice(s.meta), r.choice(s.meta) + 512,
                      r.randrange(max(s.flen, 1)) & ~511])
        v = (e & ~mask) | (o & mask)
    elif op == 2:       # flags: copied, compressed, zero, reserved
        v = e ^ r.choice([1 << 63, 1 << 62, 1, 2, 1 << 8, 1 << 56, 1 << 61, 3 << 62])
    elif op == 3:       # another entry of the same kind
        srcs = [x for x in s.regions.get(kind, []) + s.regions.get(
            'snapshot-l2' if kind == 'l2' else 'l2', [])]
        st, ln, _ = r.choice(srcs) if srcs else (start, length, '')
        v = be(b, st + r.randrange(max(ln // esz, 1)) * esz, 8)
    elif op == 4:
        v = r.choice([0, 0xffffffffffffffff, r.getrandbits(64), 1 << 63])
    else:               # clear: unallocated
        v = 0 if e else (1 << 63) | (r.choice(s.meta) & mask)
    put(b, off, 8, v)
    return f'{what}: entry {i} at {off:#x}: {e:#x} -> {v:#x}'


def mut_refcount(r, s, b, start, length, what):
    bits = 1 << s.rorder
    n = length * 8 // bits
    used = s.used(start, length, -bits)
    i = r.choice(used) if used and r.random() < 0.7 else r.randrange(n)
    top = (1 << bits) - 1
    if bits >= 8:
        off, w = start + i * bits // 8, bits // 8
        old = be(b, off, w)
        v = r.choice([0, 1, 2, top, top - 1, old + 1, old - 1, r.randrange(top + 1)]) & top
        put(b, off, w, v)
    else:
        off, sh = start + i * bits // 8, i * bits % 8
        old = (b[off] >> sh) & top
        v = r.choice([0, 1, top, old ^ 1, r.randrange(top + 1)]) & top
        b[off] = (b[off] & ~(top << sh)) | (v << sh)
    return f'{what}: refcount {i} ({bits} bits, byte {off:#x}): {old} -> {v}'


def mut_header(r, s, b):
    if r.random() < 0.2:
        return mut_bytes(r, b, 0, s.regions['header'][0][1], 'header')
    off, w, name = r.choice(s.fields)
    old = be(b, off, w)
    v = interesting(r, w, old, s)
    if name.endswith('features') and r.random() < 0.7:
        v = old ^ (1 << r.randrange(8 if r.random() < 0.7 else 64))
    put(b, off, w, v)
    return f'header {name} at {off}: {old:#x} -> {v:#x}'


def mut_ext(r, s, b):
    exts = s.exts
    if r.random() < 0.5 and exts:
        off, t, n = r.choice(exts)
        op = r.randrange(3)
        if op == 0:
            v = interesting(r, 4, n, s)
            put(b, off + 4, 4, v)
            return f'extension {EXT_NAMES.get(t, hex(t))} at {off:#x}: length {n} -> {v}'
        if op == 1:
            v = r.choice(list(EXT_NAMES) + [0, r.getrandbits(32)])
            put(b, off, 4, v)
            return f'extension at {off:#x}: type {t:#x} -> {v:#x}'
        if n:
            p = off + 8 + r.randrange(n) // 8 * 8
            w = min(8, off + 8 + n - p)
            old = be(b, p, w)
            v = interesting(r, w, old, s)
            put(b, p, w, v)
            return f'extension {EXT_NAMES.get(t, hex(t))} field at {p:#x}: {old:#x} -> {v:#x}'
    st, ln, what = s.regions['extensions'][0]
    return mut_bytes(r, b, st, ln, what)


def mut_snapshot(r, s, b, start, length):
    if r.random() < 0.4:
        return mut_bytes(r, b, start, length, 'snapshot table')
    p, i = start, 0
    k = r.randrange(s.snap_entries)
    for i in range(k):
        p += (40 + be(b, p + 36, 4) + be(b, p + 12, 2) + be(b, p + 14, 2) + 7) & ~7
    off, w, name = r.choice([(0, 8, 'l1_table_offset'), (8, 4, 'l1_size'),
                             (12, 2, 'id_str_size'), (14, 2, 'name_size'),
                             (32, 4, 'vm_state_size'), (36, 4, 'extra_data_size'),
                             (40, 8, 'vm_state_size_large'), (48, 8, 'disk_size')])
    old = be(b, p + off, w)
    v = interesting(r, w, old, s)
    put(b, p + off, w, v)
    return f'snapshot {k} {name} at {p + off:#x}: {old:#x} -> {v:#x}'


WEIGHTS = [('header', 18), ('extensions', 9), ('backing-name', 3), ('l1', 13),
           ('l2', 22), ('refcount-table', 8), ('refcount-block', 12),
           ('snapshot-table', 9), ('snapshot-l1', 3), ('snapshot-l2', 2),
           ('bitmaps', 2), ('compressed', 3)]


def mutant(seeds, base, idx):
    mseed = base * 100000 + idx
    r = random.Random(mseed)
    s = r.choice(seeds)
    b = bytearray(s.b)
    kinds = [(k, w) for k, w in WEIGHTS if k in s.regions]
    what = []
    n = r.choices([1, 2, 3, 4], [55, 30, 10, 5])[0]
    while len(what) < n:
        prev = bytes(b)
        k = r.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        st, ln, w = r.choice(s.regions[k])
        if k == 'header':
            d = mut_header(r, s, b)
        elif k == 'extensions':
            d = mut_ext(r, s, b)
        elif k in ('l1', 'l2', 'refcount-table', 'snapshot-l1', 'snapshot-l2'):
            d = mut_entry(r, s, b, st, ln, w, k)
        elif k == 'refcount-block':
            d = mut_refcount(r, s, b, st, ln, w)
        elif k == 'snapshot-table':
            d = mut_snapshot(r, s, b, st, ln)
        else:
            d = mut_bytes(r, b, st, ln, w)
        if b != prev:
            what.append(d)
    mode = 'ro' if r.random() < 0.25 else 'rw'
    g = s.guest or [0]
    writes = [(r.choice(g) + r.randrange(0, s.cs, 512) // 4096 * 4096, 4096),
              (r.randrange(s.vsize // 4096) * 4096, r.choice([4096, 8192, 65536]))]
    if r.random() < 0.5:
        writes.append((r.randrange(s.vsize // 512) * 512, 512))
    # the changed bytes, for the log
    patches, m, o = [], memoryview(b), memoryview(s.b)
    for blk in range(0, len(b), 4096):
        if m[blk:blk + 4096] == o[blk:blk + 4096]:
            continue
        for i in range(blk, min(blk + 4096, len(b))):
            if b[i] == s.b[i]:
                continue
            if patches and patches[-1][1] == i:
                patches[-1][1] = i + 1
            else:
                patches.append([i, i + 1])
    patches = [f'{i:#x}={b[i:j].hex()}' for i, j in patches]
    return s, b, mode, writes, patches, what, mseed


def main():
    base = int(sys.argv[1])
    seeds = [Seed(p) for p in sys.argv[2:]]
    for s in seeds:         # the normalised seeds (fixed snapshot dates)
        with open(s.path, 'wb') as f:
            f.write(s.b)
    for line in sys.stdin:
        a = line.split()
        if not a:
            continue
        idx = int(a[0])
        s, b, mode, writes, patches, what, mseed = mutant(seeds, base, idx)
        for p in a[1:]:
            with open(p, 'wb') as f:
                f.write(b)
        print(idx, mseed, s.name, mode, ','.join(f'{o}:{n}' for o, n in writes),
              ','.join(patches), '; '.join(what), flush=True)


main()
PY

coproc GENP { exec python3 "$D/gen.py" "$SEED" "${SEEDS[@]}"; }
GEN=$GENP_PID
GEN_IN=${GENP[1]}
GEN_OUT=${GENP[0]}

# gen IDX PATH...: write mutant IDX to the PATHs; LINE = its description
gen() {
	printf '%s\n' "$*" >&"$GEN_IN"
	IFS= read -r -t 300 LINE <&"$GEN_OUT" || fail "the mutant generator died"
}

# -- the storm ------------------------------------------------------------------

pattern "$D/pat" 0x5a 65536
read -r TAINT0 </proc/sys/kernel/tainted
declare -A N=([refused]=0 [clean]=0 [errors]=0 [corrupt]=0)
BAD=()
KEPT_SEEDS=
MARK=
IDX=

# keep WHY: keep the current mutant (as generated) and, once, the seeds and
# backing files, in $KEEP
keep() {
	local line=$LINE
	mkdir -p "$KEEP"
	gen "$IDX" "$KEEP/m$IDX.qcow2"
	if [ -z "$KEPT_SEEDS" ]; then
		cp --sparse=always "${SEEDS[@]}" "$I/base.raw" "$I/base.qcow2" "$KEEP/" || true
		KEPT_SEEDS=1
	fi
	LINE=$line
	echo "m$IDX: $1; kept as $KEEP/m$IDX.qcow2 (seed images beside it)"
}

# bad WHY: a wrong outcome; keep going, the case fails at the end
bad() {
	info "FAILED: m$IDX: $1"
	BAD+=("m$IDX: $1")
	keep "$1"
}

# die WHY: a hang or a kernel report: stop here
die() {
	info "FAILED: m$IDX: $1"
	dmesg_since "$MARK" | tail -n 60 >&2
	keep "$1"
	fail "m$IDX: $1 (mutant line: $LINE)"
}

# step WHAT CMD...: run CMD (under timeout); a timeout is a hang, another
# failure an I/O error (IOERR+1, allowed)
step() {
	local what=$1 rc=0
	shift
	timeout -k 5 "$TMO" "$@" 2>"$D/step.err" || rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		die "$what hangs (more than $TMO s)"
	fi
	if [ "$rc" -ne 0 ]; then
		IOERR=$((IOERR + 1))
		echo "  $what: exit $rc: $(head -c 200 "$D/step.err" | head -n 1)"
	fi
	return 0
}

# elapsed: ELAPSED = milliseconds since the mutant's start (no subshell)
elapsed() {
	ELAPSED=$(((${EPOCHREALTIME/[.,]/} - T0) / 1000))
}

# storm_one IDX: generate, open, use, close and classify mutant IDX
storm_one() {
	local name=cs$1 img=$I/cur.qcow2 mseed seed mode writes patches what
	local rc=0 err dev w off len st f props=() outcome
	IDX=$1
	T0=${EPOCHREALTIME/[.,]/}
	gen "$IDX" "$img" "$I/orig.qcow2"
	read -r _ mseed seed mode writes patches what <<<"$LINE"
	echo "m$IDX seed $mseed: $seed $mode: $what (patches $patches)"
	MARK=$(dmesg_mark "storm-m$IDX")
	[ "$mode" = ro ] && props=(read-only=on)
	err=$(timeout -k 5 "$TMO" vstoragectl node add qcow2 node-name="$name" file="$img" \
		"${props[@]}" 2>&1 >/dev/null) || rc=$?
	if [ "$rc" -ne 0 ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			die "node add hangs (more than $TMO s)"
		fi
		elapsed
		echo "  refused ($ELAPSED ms): $err"
		N[refused]=$((N[refused] + 1))
		OUTCOME=refused
		if [ "$rc" -ne 1 ] || [[ $err != Error:* ]] || [[ $err == *$'\n'* ]]; then
			bad "refused without one Error line (exit $rc)"
		fi
		if [ -e "/dev/mapper/$name" ] || compgen -G "/dev/mapper/$name-b*" >/dev/null; then
			bad "a refused node add left devices behind"
			storm_remove_nodes "$name"
		fi
		return 0
	fi
	VS_CASE_NODES=("$name")
	dev=/dev/mapper/$name
	wait_for_path "$dev" 10 -b || die "$dev did not appear"
	IOERR=0
	# the whole device (at most 64 MiB: a mutated size may be huge)
	step "read" dd if="$dev" of=/dev/null bs=1M count=64 iflag=direct conv=noerror status=none
	if [ "$mode" = rw ]; then
		for w in ${writes//,/ }; do
			off=${w%:*} len=${w#*:}
			step "write $len at $off" dd if="$D/pat" of="$dev" bs="$len" count=1 \
				oflag=direct,seek_bytes seek="$off" conv=notrunc status=none
		done
		step "flush" blockdev --flushbufs "$dev"
	fi
	st=$(timeout -k 5 "$TMO" dmsetup status "$name") || die "dmsetup status fails or hangs"
	read -r -a f <<<"$st"
	[ "${#f[@]}" -ge 16 ] || bad "unexpected status: $st"
	if [ "${f[6]:-}" = corrupt ]; then
		outcome=corrupt
		[ "${f[7]:-}" = ro ] || bad "marked corrupt but still read-write: $st"
	elif [ "$IOERR" -gt 0 ] || [ "${f[15]:-0}" != 0 ]; then
		outcome=errors
	else
		outcome=clean
	fi
	rc=0
	timeout -k 5 "$TMO" vstoragectl node del "$name" || rc=$?
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		die "node del hangs (more than $TMO s)"
	fi
	if [ "$rc" -ne 0 ]; then
		bad "node del failed (exit $rc)"
		storm_remove_nodes "$name"
	fi
	VS_CASE_NODES=()
	wait_for_gone "$dev" 10 || bad "$dev is still there after node del"
	if compgen -G "/dev/mapper/$name-b*" >/dev/null; then
		bad "backing nodes left after node del"
		storm_remove_nodes "$name"
	fi
	if [ "$mode" = ro ]; then
		cmp -s "$img" "$I/orig.qcow2" || bad "a read-only node changed the image"
	elif ! cmp -s -n 8 "$img" "$I/orig.qcow2"; then
		bad "the magic or the version in the header was overwritten"
	elif [ "$outcome" = corrupt ] && [ "${f[4]:-0}" -ge 3 ] &&
	     [ $(($(header_byte "$img" 79) & 2)) -eq 0 ]; then
		# (version 2 has no feature bits: QEMU only logs it too)
		bad "marked corrupt, but the corrupt bit is not set in the file"
	fi
	elapsed
	echo "  served ($outcome, $ELAPSED ms): $IOERR failed steps, status: ${f[*]:4}"
	N[$outcome]=$((N[$outcome] + 1))
	OUTCOME=$outcome
}

# storm_remove_nodes NAME: remove NAME and its automatic backing nodes
storm_remove_nodes() {
	local n
	for n in "/dev/mapper/$1" /dev/mapper/"$1"-b*; do
		[ -e "$n" ] && dmsetup remove --retry "${n#/dev/mapper/}" >/dev/null 2>&1
	done
	return 0
}

if [ -n "$ONLY" ]; then
	read -r -a IDXS <<<"$ONLY"
else
	mapfile -t IDXS < <(seq 0 $((COUNT - 1)))
	# mutants that once found bugs run every time: 82 and 265 (seed 40)
	# had a refcount table entry past 2^63, a negative file offset
	[ "$SEED" != 40 ] || IDXS+=(82 265)
fi
MARK0=$(dmesg_mark storm-start)
info "[${SECONDS}s] the storm: ${#IDXS[@]} mutants"
declare -A MS=([refused]=0 [clean]=0 [errors]=0 [corrupt]=0)
for i in "${IDXS[@]}"; do
	storm_one "$i"
	MS[$OUTCOME]=$((MS[$OUTCOME] + ELAPSED))
	read -r t </proc/sys/kernel/tainted
	[ "$t" = "$TAINT0" ] || die "the kernel is tainted now ($TAINT0 -> $t): a kernel report"
	if [ $((i % 50)) -eq 49 ]; then
		info "[${SECONDS}s] $((i + 1)) mutants: refused ${N[refused]}, served clean ${N[clean]}," \
			"served with errors ${N[errors]}, marked corrupt ${N[corrupt]}"
	fi
done
info "[${SECONDS}s] done; milliseconds per mutant: refused $((MS[refused] / (N[refused] + 1)))," \
	"served $(((MS[clean] + MS[errors] + MS[corrupt]) / (N[clean] + N[errors] + N[corrupt] + 1)))"

# kernel reports that do not taint (lockdep, hung tasks...): by mutant
reports=$(dmesg_since "$MARK0" | grep -a -E -e "$VS_KERNEL_REPORT_RE" -e 'vstorage-mark:storm-m' |
	awk '/vstorage-mark:storm-m/ { split($0, a, ":"); m = a[2]; next } { print m ": " $0 }') || true
if [ -n "$reports" ]; then
	printf '%s\n' "$reports" >&2
	for m in $(printf '%s\n' "$reports" | awk -F: '{ print $1 }' | sort -u); do
		IDX=${m#storm-m}
		keep "kernel report"
	done
	fail "kernel reports while mutants were served (lines above)"
fi

[ -z "$(q_auto_nodes)" ] || fail "automatic nodes left: $(q_auto_nodes)"
left=$(dmsetup info -c --noheadings -o name,uuid --separator ' ' 2>/dev/null |
	awk '$2 ~ /^VSTORAGE-/ { print $1 }')
[ -z "$left" ] || fail "nodes left behind: $left"
kill "$GEN" 2>/dev/null || true
GEN=
modprobe -r dm-vstorage-qcow2 || fail "dm-vstorage-qcow2 does not unload"
echo "dm-vstorage-qcow2 unloaded"

n=${#IDXS[@]}
opened=$((N[clean] + N[errors] + N[corrupt]))
info "outcomes of $n mutants (seed $SEED): refused ${N[refused]}, served clean ${N[clean]}," \
	"served with errors ${N[errors]}, marked corrupt ${N[corrupt]}; ${SECONDS}s"
[ ${#BAD[@]} -eq 0 ] || fail "${#BAD[@]} wrong outcome(s): $(printf '%s; ' "${BAD[@]}")"
if [ -z "$ONLY" ]; then
	# a storm that opens almost nothing, or refuses nothing, or never hits
	# an error, no longer tests anything
	[ $((opened * 10)) -ge "$n" ] || fail "degenerate: fewer than 10% of the mutants opened"
	[ $((N[refused] * 10)) -ge "$n" ] || fail "degenerate: fewer than 10% of the mutants refused"
	[ $(((N[errors] + N[corrupt]) * 100)) -ge $((n * 3)) ] ||
		fail "degenerate: fewer than 3% of the mutants served with errors or marked corrupt"
fi
echo "corrupt image storm weathered"
