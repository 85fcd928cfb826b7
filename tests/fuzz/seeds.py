#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""seeds.py OUTDIR [IMAGE...]: seed inputs for the qcow2 fuzz targets.

For each qcow2 IMAGE (made by mkcorpus with qemu-img) writes, in the input
format of each target (see the comments at the top of tests/fuzz/fuzz-*.c):

  qcow2-header/     the first cluster, trailing zeroes cut, + size trailer
  qcow2-image/      the first 512 KiB, trailing zeroes cut, + size trailer
  qcow2-tables/     the image's geometry + L1, L2, refcount table entries
  qcow2-snapshots/  geometry + the snapshot table + the bitmap directory

and, with or without images, a few synthetic inputs for each target.
"""
import hashlib
import os
import struct
import sys

TRAILER = b"QCFZSIZE"
IMAGE_MAX = 512 << 10
EXT_BITMAPS = 0x23852875
EXT_FEATURES = 0x6803F857
EXT_BACKING_FMT = 0xE2792ACA
EXT_DATA_FILE = 0x44415441


def be32(b, o):
    return struct.unpack_from(">I", b, o)[0]


def be64(b, o):
    return struct.unpack_from(">Q", b, o)[0]


def trailer(size):
    return TRAILER + struct.pack(">Q", size)


class Out:
    def __init__(self, root):
        self.root = root
        self.n = 0

    def put(self, target, name, data):
        d = os.path.join(self.root, target)
        os.makedirs(d, exist_ok=True)
        tag = hashlib.sha1(data).hexdigest()[:12]
        with open(os.path.join(d, "%s-%s" % (name, tag)), "wb") as f:
            f.write(data)
        self.n += 1


def header(img):
    h = {
        "version": be32(img, 4),
        "backing_offset": be64(img, 8),
        "backing_size": be32(img, 16),
        "cb": be32(img, 20),
        "size": be64(img, 24),
        "l1_size": be32(img, 36),
        "l1_offset": be64(img, 40),
        "rt_offset": be64(img, 48),
        "rt_clusters": be32(img, 56),
        "nb_sn": be32(img, 60),
        "sn_offset": be64(img, 64),
        "incompat": 0, "autoclear": 0, "order": 4, "hlen": 72,
    }
    if h["version"] >= 3:
        h["incompat"] = be64(img, 72)
        h["autoclear"] = be64(img, 88)
        h["order"] = be32(img, 96)
        h["hlen"] = be32(img, 100)
    h["cs"] = 1 << h["cb"]
    h["extl2"] = bool(h["incompat"] & 16)
    h["df"] = bool(h["incompat"] & 4)
    return h


def extensions(img, h):
    """{type: (offset, len)} of the header extensions."""
    exts = {}
    off = h["hlen"]
    end = h["backing_offset"] or h["cs"]
    while off + 8 <= min(end, len(img)):
        t, n = be32(img, off), be32(img, off + 4)
        if t == 0:
            break
        exts[t] = (off + 8, n)
        off += 8 + ((n + 7) & ~7)
    return exts


def snapshot_table_len(img, h):
    off = h["sn_offset"]
    end = off
    for _ in range(h["nb_sn"]):
        id_len, name_len = struct.unpack_from(">HH", img, off + 12)
        extra = be32(img, off + 36)
        end = off + 40 + extra + id_len + name_len
        off = (end + 7) & ~7
    return end - h["sn_offset"]


def geometry_bytes(h):
    flags = (1 if h["extl2"] else 0) | (2 if h["df"] else 0)
    return bytes([h["version"] - 2, h["cb"] - 9, h["order"], flags])


def table_records(img, h, limit=48):
    """(entry, aux) pairs: L1, L2 and refcount table entries of the image."""
    recs = []
    esz = 16 if h["extl2"] else 8

    def aux(i):
        return (i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF

    l1 = [be64(img, h["l1_offset"] + 8 * i) for i in range(h["l1_size"])
          if h["l1_offset"] + 8 * i + 8 <= len(img)]
    for e in [e for e in l1 if e][:8]:
        recs.append((e, aux(len(recs))))
    for e in l1:
        l2 = e & 0x00FFFFFFFFFFFE00
        if not l2:
            continue
        for i in range(h["cs"] // esz):
            o = l2 + i * esz
            if o + esz > len(img) or len(recs) >= limit - 8:
                break
            ent = be64(img, o)
            if ent:
                recs.append((ent, be64(img, o + 8) if h["extl2"] else aux(i)))
    rt = [be64(img, h["rt_offset"] + 8 * i) for i in range(64)
          if h["rt_offset"] + 8 * i + 8 <= len(img)]
    for e in [e for e in rt if e][:4]:
        recs.append((e, e))
    return b"".join(struct.pack(">QQ", a, b) for a, b in recs[:limit])


def from_image(out, path):
    with open(path, "rb") as f:
        img = f.read()
    fsize = len(img)
    if fsize < 72 or img[:4] != b"QFI\xfb":
        return
    h = header(img)
    if not 9 <= h["cb"] <= 21:
        return
    name = os.path.splitext(os.path.basename(path))[0]
    first = img[:min(h["cs"], fsize)].rstrip(b"\0")
    out.put("qcow2-header", name, first + trailer(fsize))
    out.put("qcow2-image", name, img[:IMAGE_MAX].rstrip(b"\0") + trailer(fsize))
    if h["version"] in (2, 3) and h["order"] <= 6:
        out.put("qcow2-tables", name,
                geometry_bytes(h) + struct.pack(">Q", fsize) +
                table_records(img, h))

    exts = extensions(img, h)
    nb_bm, dir_bytes = 0, b""
    if EXT_BITMAPS in exts:
        o, n = exts[EXT_BITMAPS]
        if n == 24:
            nb_bm = be32(img, o)
            size, doff = be64(img, o + 8), be64(img, o + 16)
            dir_bytes = img[doff:doff + size]
    if h["nb_sn"] or nb_bm:
        sn = b""
        if h["nb_sn"]:
            sn = img[h["sn_offset"]:h["sn_offset"] + snapshot_table_len(img, h)]
        flags = (1 if h["autoclear"] & 1 else 0) | (2 if h["extl2"] else 0)
        params = bytes([h["version"] - 2, h["cb"] - 9, flags])
        params += struct.pack(">IIQQI", h["nb_sn"], nb_bm, h["size"], fsize,
                              len(sn))
        out.put("qcow2-snapshots", name, params + sn + dir_bytes)


# -- synthetic inputs (no qemu-img needed) -------------------------------------

def ext(t, data):
    return struct.pack(">II", t, len(data)) + data + b"\0" * (-len(data) % 8)


def v3_header(cb=16, size=64 << 20, l1_size=1, incompat=0, autoclear=0,
              order=4, hlen=112, backing=(0, 0), nb_sn=0, sn_off=0):
    cs = 1 << cb
    h = struct.pack(">4sIQIIQIIQQIIQ", b"QFI\xfb", 3, backing[0], backing[1],
                    cb, size, 0, l1_size, 3 * cs, cs, 1, nb_sn, sn_off)
    h += struct.pack(">QQQII", incompat, 0, autoclear, order, hlen)
    return h + b"\0" * (hlen - len(h))


def synthetic(out):
    cs = 1 << 16
    fsize = 8 * cs
    exts = (ext(EXT_BACKING_FMT, b"qcow2") +
            ext(EXT_FEATURES, struct.pack(">BB46s", 0, 0, b"dirty bit") +
                struct.pack(">BB46s", 1, 0, b"lazy refcounts") +
                struct.pack(">BB46s", 2, 1, b"raw external data")) +
            ext(0x12345678, b"unknown") + ext(0, b""))
    out.put("qcow2-header", "synthetic-v3-exts",
            v3_header() + exts + trailer(fsize))
    name = b"base.qcow2"
    hdr = v3_header(backing=(0x200, len(name))) + ext(0, b"")
    hdr += b"\0" * (0x200 - len(hdr)) + name
    out.put("qcow2-header", "synthetic-v3-backing", hdr + trailer(fsize))
    v2 = struct.pack(">4sIQIIQIIQQIIQ", b"QFI\xfb", 2, 0, 0, 12, 16 << 20, 0,
                     1, 3 << 12, 1 << 12, 1, 0, 0)
    out.put("qcow2-header", "synthetic-v2", v2 + trailer(1 << 16))
    # an image: header, refcount table, refcount block, L1, L2 with one of
    # each kind of entry
    img = bytearray(6 * cs)
    img[:112] = v3_header()
    img[112:120] = ext(0, b"")
    struct.pack_into(">Q", img, cs, 2 * cs)
    for i in range(6):
        struct.pack_into(">H", img, 2 * cs + 2 * i, 1)
    struct.pack_into(">Q", img, 3 * cs, (1 << 63) | 4 * cs)
    struct.pack_into(">QQQQ", img, 4 * cs, (1 << 63) | 5 * cs, 1,
                     (1 << 62) | (5 * cs + 100), 5 * cs | 1)
    out.put("qcow2-image", "synthetic-v3", bytes(img).rstrip(b"\0") +
            trailer(len(img)))

    # tables: a geometry per version, cluster size, refcount order, L2 kind
    recs = struct.pack(">QQ", (1 << 63) | 0x50000, 0xFFFF)
    recs += struct.pack(">QQ", 0x50000 | 1, 0xFFFF0000)
    recs += struct.pack(">QQ", (1 << 62) | 0x30200 | (3 << 54), 0)
    recs += struct.pack(">QQ", 0, 0xFFFFFFFF00000000)
    recs += struct.pack(">QQ", 0x70000, 0x0000FFFF0000FFFF)
    for v in (2, 3):
        for cb in (9, 12, 14, 16, 21):
            for extl2 in ((0, 1) if v == 3 and cb >= 14 else (0,)):
                for order in (0, 4, 6):
                    geo = bytes([v - 2, cb - 9, order, extl2])
                    out.put("qcow2-tables", "synthetic-v%d-%d-%d-%d" %
                            (v, cb, order, extl2),
                            geo + struct.pack(">Q", 1 << 30) + recs)

    # a snapshot table entry (version 3: 16 bytes of extra data) and a
    # bitmap directory entry for a 64 MiB disk with 64 KiB granularity
    sn = struct.pack(">QIHHIIQII", 4 << 16, 1, 1, 4, 0, 0, 0, 0, 16)
    sn += struct.pack(">QQ", 0, 64 << 20) + b"1" + b"snap"
    bm = struct.pack(">QIIBBHI", 6 << 16, 1, 2, 1, 16, 2, 0) + b"b0"
    bm += b"\0" * (-len(bm) % 8)
    params = bytes([1, 16 - 9, 1]) + struct.pack(">IIQQI", 1, 1, 64 << 20,
                                                 1 << 20, len(sn))
    out.put("qcow2-snapshots", "synthetic-v3", params + sn + bm)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = Out(sys.argv[1])
    for path in sys.argv[2:]:
        from_image(out, path)
    synthetic(out)
    print("seeds.py: %d inputs in %s" % (out.n, sys.argv[1]))


if __name__ == "__main__":
    main()
