// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz-qcow2-snapshots - the snapshot table and the bitmap directory.
 *
 * These tables lie past the first cluster, so a header that points at them
 * correctly is hard to reach by mutating whole images. This target builds
 * a valid header itself (qcow2_header_encode(), qcow2_ext_put()) from a
 * few parameters and feeds the rest of the input as the tables.
 *
 * Input (big-endian):
 *   0   version: 2 + (bit 0)
 *   1   cluster_bits: 9 + byte % 13
 *   2   bit 0: autoclear bit 0 (bitmaps), bit 1: extended L2 entries,
 *       bit 2: no bitmaps extension, bit 3: the L1 table after the
 *       snapshot table
 *   3   nb_snapshots (u32, bits 0-16)
 *   7   nb_bitmaps (u32, bits 0-16), for the bitmaps extension (version 3)
 *   11  virtual size (u64)
 *   19  file bytes past the tables (u64)
 *   27  snapshot table bytes (u32, at most what follows)
 *   31  the snapshot table, then the bitmap directory
 * Layout: header, refcount table, L1 table, snapshot table, bitmap
 * directory, each cluster-aligned (or the L1 and snapshot tables the other
 * way round); the tables read as zeroes past the input. Checks everything fuzz-qcow2-header does on the header, then
 * qcow2_snapshot_table_parse() and qcow2_bitmap_dir_parse() (common.c),
 * and the metadata ranges with the snapshots' L1 tables.
 */
#include <string.h>

#include "fuzz.h"

#define MAX_SNAP_RANGES	64

static u64 sat_add(u64 a, u64 b)
{
	return a + b < a ? U64_MAX : a + b;
}

static void ranges_checks(const struct qcow2_header *h,
			  const struct qcow2_extensions *e,
			  const struct qcow2_snapshot *sns, u64 tl)
{
	struct qcow2_range r[MAX_SNAP_RANGES];
	struct qcow2_meta_ranges m;
	const char *reason = NULL;
	bool overlap = false;
	u32 i, n = 0;
	int ret;

	for (i = 0; sns && i < h->nb_snapshots && n < MAX_SNAP_RANGES; i++) {
		if (!sns[i].l1_size)
			continue;
		r[n].offset = sns[i].l1_table_offset;
		r[n].len = (u64)sns[i].l1_size * 8;
		n++;
	}
	qsort(r, n, sizeof(r[0]), fuzz_cmp_range);
	for (i = 1; i < n; i++)
		if (r[i].offset < r[i - 1].offset + r[i - 1].len)
			overlap = true;
	qcow2_meta_ranges_init(&m, h, e, tl);
	FUZZ_ASSERT(m.snapshot_table.len == (h->nb_snapshots ? tl : 0));
	m.inactive_l1 = r;
	m.nb_inactive_l1 = n;
	ret = qcow2_meta_ranges_check(&m, &reason);
	FUZZ_ASSERT(ret == (overlap ? -EINVAL : 0));
	if (ret) {
		FUZZ_ASSERT(reason);
		return;
	}
	fuzz_overlap_query(&m, h->snapshots_offset, 1, 0);
	fuzz_overlap_query(&m, h->snapshots_offset + tl, 1, 0);
	fuzz_overlap_query(&m, e->bitmap_directory_offset, 1, 0);
	fuzz_overlap_query(&m, e->bitmap_directory_offset,
			   e->bitmap_directory_size, QCOW2_OL_SNAPSHOT_TABLE);
	for (i = 0; i < n && i < 8; i++) {
		fuzz_overlap_query(&m, r[i].offset, 1, 0);
		fuzz_overlap_query(&m, r[i].offset + r[i].len - 1, 1,
				   QCOW2_OL_HEADER);
		fuzz_overlap_query(&m, r[i].offset + r[i].len, 1, 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qcow2_header hh;
	struct fuzz_image img;
	struct fuzz_parsed p;
	struct qcow2_snapshot *sns = NULL;
	struct qcow2_bitmap *bms = NULL;
	u32 version, cb, flags, nb_sn, nb_bm, split, pos, l2_bits, shift;
	u64 vsize, extra, cs, needed, l1_off, sn_off, dir_off, dir_size, sn_bytes;
	u64 file_size, tl = 0;
	const u8 *rest;
	size_t rlen;
	bool extl2;
	u8 *area;

	if (size < 31)
		return 0;
	version = 2 + (data[0] & 1);
	cb = 9 + data[1] % 13;
	flags = data[2];
	nb_sn = get_unaligned_be32(data + 3) & 0x1ffff;
	nb_bm = get_unaligned_be32(data + 7) & 0x1ffff;
	vsize = get_unaligned_be64(data + 11);
	extra = get_unaligned_be64(data + 19);
	split = get_unaligned_be32(data + 27);
	rest = data + 31;
	rlen = size - 31;
	if (split > rlen)
		split = (u32)rlen;

	cs = 1ULL << cb;
	extl2 = (flags & 2) && version >= 3 && cb >= QCOW2_EXTL2_MIN_CLUSTER_BITS;
	l2_bits = cb - (extl2 ? 4 : 3);
	shift = cb + l2_bits;
	needed = (vsize >> shift) + !!(vsize & ((1ULL << shift) - 1));
	if (needed > QCOW2_MAX_L1_ENTRIES)
		return 0;
	sn_bytes = (u64)nb_sn * QCOW2_SNAPSHOT_HDR_LEN;
	if (flags & 8) {
		/* the snapshot table first, the L1 table right after its
		 * nb_snapshots * 40 bytes: a longer table overlaps it */
		sn_off = 2 * cs;
		l1_off = sn_off + ALIGN(sn_bytes ? sn_bytes : 1, cs);
		dir_off = l1_off + ALIGN(needed ? needed * 8 : 1, cs);
	} else {
		l1_off = 2 * cs;
		sn_off = l1_off + ALIGN(needed * 8, cs);
		if (sn_bytes < split)
			sn_bytes = split;
		dir_off = sn_off + ALIGN(sn_bytes ? sn_bytes : 1, cs);
	}
	dir_size = rlen - split;
	if (dir_size < (u64)nb_bm * QCOW2_BITMAP_ENTRY_HDR_LEN)
		dir_size = (u64)nb_bm * QCOW2_BITMAP_ENTRY_HDR_LEN;
	file_size = sat_add(dir_off + ALIGN(dir_size ? dir_size : 1, cs), extra);

	memset(&hh, 0, sizeof(hh));
	hh.version = version;
	hh.header_length = version >= 3 ? QCOW2_V3_HEADER_MIN : QCOW2_V2_HEADER_LEN;
	hh.cluster_bits = cb;
	hh.size = vsize;
	hh.l1_size = (u32)needed;
	hh.l1_table_offset = l1_off;
	hh.refcount_table_offset = cs;
	hh.refcount_table_clusters = 1;
	hh.nb_snapshots = nb_sn;
	hh.snapshots_offset = sn_off;
	hh.refcount_order = 4;
	if (version >= 3) {
		hh.incompatible_features = extl2 ? QCOW2_INCOMPAT_EXTL2 : 0;
		hh.autoclear_features = flags & 1 ? QCOW2_AUTOCLEAR_BITMAPS : 0;
	}
	area = fuzz_dup(NULL, 0, (size_t)cs);
	FUZZ_ASSERT(area);
	FUZZ_ASSERT(qcow2_header_encode(&hh, area) ==
		    (version >= 3 ? QCOW2_V3_HEADER_MIN : QCOW2_V2_HEADER_LEN));
	pos = hh.header_length;
	if (version >= 3 && nb_bm && !(flags & 4)) {
		u8 ext[24];

		put_unaligned_be32(nb_bm, ext);
		put_unaligned_be32(0, ext + 4);
		put_unaligned_be64(dir_size, ext + 8);
		put_unaligned_be64(dir_off, ext + 16);
		FUZZ_ASSERT(!qcow2_ext_put(area, (u32)cs, &pos, QCOW2_EXT_BITMAPS,
					   ext, sizeof(ext)));
	}
	FUZZ_ASSERT(!qcow2_ext_put(area, (u32)cs, &pos, QCOW2_EXT_END, NULL, 0));

	img.data = area;
	img.len = (size_t)cs;
	img.file_size = file_size;
	if (fuzz_parse_header(&img, &p))
		goto out_area;
	if (p.ext_ret)
		goto out;
	FUZZ_ASSERT(p.h.nb_snapshots == nb_sn && p.h.snapshots_offset == sn_off);

	fuzz_snapshot_table(&p.h, file_size, rest, split, &sns, &tl);
	fuzz_bitmap_dir(&p.h, &p.e, file_size, rest + split, rlen - split, &bms);
	ranges_checks(&p.h, &p.e, sns, tl);
	free(sns);
	free(bms);
out:
	free(p.area);
out_area:
	free(area);
	return 0;
}
