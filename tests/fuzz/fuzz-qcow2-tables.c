// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz-qcow2-tables - table entries under an arbitrary geometry.
 *
 * Input (big-endian):
 *   0   version: 2 + (bit 0); with bit 7 set, bits 0-6 as they are
 *   1   cluster_bits: 9 + (bits 0-6) % 13; bit 7: bits 0-6 as they are
 *   2   refcount_order: (bits 0-6) % 7; bit 7: bits 0-6 as they are
 *   3   bit 0: extended L2 entries, bit 1: external data file
 *   4   file size (u64)
 *   12  records of 16 bytes: an entry and a second word (the subcluster
 *       bitmap, an argument)
 * Geometries qcow2_geometry_init() refuses are checked against the rules
 * and end the input. Each record goes through the L1, L2, compressed,
 * refcount table, bitmap table decoders (with their encoders where there
 * are some: decode(encode(x)) == x both ways), subcluster runs and
 * updates, qcow2_refcount_adjust() against 128-bit arithmetic, and the
 * guest/host offset index helpers. The records as a whole are an L1
 * table, an L2 table (get/put) and a refcount block, read and written
 * with every refcount_order 0..6 against a bit-level reference, and they
 * make up metadata ranges anywhere in the 64-bit space (aux bits 0-2 say
 * which kind) for qcow2_meta_ranges_check() and qcow2_overlap_check().
 */
#include <string.h>

#include "fuzz.h"

#define MAX_REFBLOCK	(64U << 10)	/* refcount block bytes used, at most */
#define MAX_SETS	64		/* refcount writes per order */
#define MAX_OVERLAP_RECS 64		/* records made metadata ranges */

static void geometry_rules(u32 version, u32 cb, u32 order, bool extl2,
			   bool df, int ret)
{
	bool ok = version >= 2 && version <= 3 &&
		  cb >= QCOW2_MIN_CLUSTER_BITS && cb <= QCOW2_MAX_CLUSTER_BITS &&
		  order <= QCOW2_MAX_REFCOUNT_ORDER &&
		  !(extl2 && (version < 3 || cb < QCOW2_EXTL2_MIN_CLUSTER_BITS)) &&
		  !(df && version < 3);

	FUZZ_ASSERT(!ret == ok);
	FUZZ_ASSERT(!ret || ret == -EINVAL);
}

static void compressed_checks(const struct qcow2_geometry *g, u64 entry,
			      u64 aux, u64 file_size)
{
	struct qcow2_l2_info info;
	u64 off, ce = 0, doff = 0, nb;
	u32 nbytes, cs = 0;
	bool ok;
	int ret;

	/* any descriptor splits into fields that fit */
	qcow2_compressed_decode(g, entry, &doff, &cs);
	FUZZ_ASSERT(doff <= g->coffset_mask && cs <= g->csize_mask);
	fuzz_compressed_range(g, doff, cs, file_size);

	/* encode: offsets mostly below 2^56, sizes up to 4 MiB */
	off = aux & (aux >> 63 ? U64_MAX : QCOW2_MAX_HOST_OFFSET - 1);
	nbytes = (u32)entry & ((entry >> 32) & 1 ? U32_MAX : 0x3fffff);
	ok = nbytes && off < QCOW2_MAX_HOST_OFFSET && off <= g->coffset_mask &&
	     off >= g->cluster_size;
	nb = ok ? ((off + nbytes - 1) >> 9) - (off >> 9) : 0;
	ok = ok && nb <= g->csize_mask;
	ret = qcow2_compressed_encode(g, off, nbytes, &ce);
	FUZZ_ASSERT(!ret == ok);
	if (ret) {
		FUZZ_ASSERT(ret == -EINVAL);
		return;
	}
	FUZZ_ASSERT((ce & QCOW2_OFLAG_COMPRESSED) && !(ce & QCOW2_OFLAG_COPIED));
	qcow2_compressed_decode(g, ce, &doff, &cs);
	FUZZ_ASSERT(doff == off && cs == nb);
	/* the range read covers the compressed bytes that are in the file */
	if (off < file_size) {
		u64 start = 0;
		u32 len = 0;

		FUZZ_ASSERT(!qcow2_compressed_range(g, off, cs, file_size,
						    &start, &len, NULL));
		FUZZ_ASSERT(start + len >= (off + nbytes < file_size ?
					    off + nbytes : file_size));
	}
	ret = qcow2_l2_entry_decode(g, ce, 0, &info, NULL);
	if (g->data_file) {
		FUZZ_ASSERT(ret == -EUCLEAN);
	} else {
		FUZZ_ASSERT(!ret && info.type == QCOW2_CLUSTER_COMPRESSED);
		FUZZ_ASSERT(info.host_offset == off && info.csectors == cs);
	}
	fuzz_l2_entry(g, ce, 0, file_size, (u32)aux);
}

/* An arbitrary qcow2_l2_info: if it encodes, it decodes to itself. */
static void l2_encode_checks(const struct qcow2_geometry *g, u64 entry,
			     u64 aux)
{
	struct qcow2_l2_info info, d;
	u64 e = 0, b = 0;
	int ret;

	memset(&info, 0, sizeof(info));
	info.type = (enum qcow2_cluster_type)((entry >> 56) % 5);
	info.copied = (entry >> 62) & 1;
	info.host_offset = entry & ((entry >> 61) & 1 ? U64_MAX >> 8 :
				    QCOW2_L2E_OFFSET_MASK);
	if (info.type == QCOW2_CLUSTER_COMPRESSED)
		info.host_offset = entry & g->coffset_mask;
	info.csectors = (u32)(aux >> 40);
	info.alloc = (u32)aux;
	info.zero = (u32)(aux >> 32) & ((aux >> 31) & 1 ? U32_MAX : ~(u32)aux);
	ret = qcow2_l2_entry_encode(g, &info, &e, &b);
	if (ret) {
		FUZZ_ASSERT(ret == -EINVAL);
		return;
	}
	FUZZ_ASSERT(g->extended_l2 || !b);
	FUZZ_ASSERT(!qcow2_l2_entry_decode(g, e, b, &d, NULL));
	FUZZ_ASSERT(d.type == info.type && d.copied == info.copied &&
		    d.host_offset == info.host_offset);
	if (info.type == QCOW2_CLUSTER_COMPRESSED)
		FUZZ_ASSERT(d.csectors == info.csectors);
	else if (g->extended_l2)
		FUZZ_ASSERT(d.alloc == info.alloc && d.zero == info.zero);

	/* no such type, no such subcluster state */
	info.type = (enum qcow2_cluster_type)(QCOW2_CLUSTER_COMPRESSED + 1);
	FUZZ_ASSERT(qcow2_l2_entry_encode(g, &info, &e, &b) == -EINVAL);
	FUZZ_ASSERT(qcow2_sc_bitmap_set(aux, 0, 32,
					(enum qcow2_sc_state)(QCOW2_SC_COMPRESSED +
							      1)) == aux);
	FUZZ_ASSERT(qcow2_sc_bitmap_set(aux, 0, 32, QCOW2_SC_COMPRESSED) == aux);
}

static void misc_entry_checks(const struct qcow2_geometry *g, u64 entry,
			      u64 aux)
{
	const char *reason = NULL;
	u64 off = U64_MAX, bo, ti = 0, l1, recon;
	enum qcow2_bmt_kind kind = QCOW2_BMT_DATA;
	u32 bi = 0, l2, sc;
	bool bad;
	int ret;

	/* refcount table entry */
	bad = (entry & QCOW2_REFT_RESERVED) || (entry & (g->cluster_size - 1)) ||
	      (entry & BIT_ULL(63));
	ret = qcow2_reftable_entry_decode(g, entry, &off, &reason);
	FUZZ_ASSERT(!ret == !bad);
	FUZZ_ASSERT(ret ? ret == -EUCLEAN && reason : off == entry);

	/* bitmap table entry */
	bo = entry & QCOW2_BMT_OFFSET_MASK;
	bad = (entry & QCOW2_BMT_RESERVED) || (bo & (g->cluster_size - 1)) ||
	      (bo && (entry & QCOW2_BMT_ALL_ONES));
	reason = NULL;
	ret = qcow2_bitmap_table_entry_decode(g, entry, &off, &kind, &reason);
	FUZZ_ASSERT(!ret == !bad);
	if (ret) {
		FUZZ_ASSERT(ret == -EUCLEAN && reason);
	} else {
		FUZZ_ASSERT(off == bo);
		FUZZ_ASSERT(kind == (bo ? QCOW2_BMT_DATA :
				     entry ? QCOW2_BMT_ONES : QCOW2_BMT_ZEROES));
	}

	/* where a host cluster's refcount lives */
	qcow2_refcount_index(g, aux, &ti, &bi);
	FUZZ_ASSERT(bi < 1ULL << g->refblock_bits);
	FUZZ_ASSERT(((ti << g->refblock_bits) | bi) == aux >> g->cluster_bits);

	/* guest offset -> L1, L2, subcluster index */
	l1 = qcow2_l1_index(g, entry);
	l2 = qcow2_l2_index(g, entry);
	sc = qcow2_sc_index(g, entry);
	FUZZ_ASSERT(l2 < 1U << g->l2_bits && sc < g->subclusters);
	recon = (l1 << (g->cluster_bits + g->l2_bits)) |
		((u64)l2 << g->cluster_bits) | ((u64)sc << g->subcluster_bits);
	FUZZ_ASSERT(recon == (entry & ~((1ULL << g->subcluster_bits) - 1)));
}

static void refcount_adjust_checks(u64 entry, u64 aux)
{
	u32 order = (u32)(aux >> 61) + ((aux >> 60) & 1);	/* 0..8 */
	u64 max = qcow2_refcount_max(order > 6 ? 6 : order);
	u64 cur = (aux >> 59) & 1 ? entry : entry & max, out = 0;
	s64 delta = (s64)(aux << 4) >> ((aux >> 56) & 15) * 4;
	__int128 r = (__int128)cur + delta;
	bool ok = order <= 6 && cur <= max && r >= 0 && r <= (__int128)max;
	int ret;

	ret = qcow2_refcount_adjust(order, cur, delta, &out);
	FUZZ_ASSERT(!ret == ok);
	FUZZ_ASSERT(ret ? ret == -ERANGE : out == (u64)r);
}

/* Refcount @idx of width 1 << @order, as the specification packs them. */
static u64 refblock_ref_get(const u8 *p, u32 order, u32 idx)
{
	u32 w = 1U << order, k;
	u64 bit = (u64)idx * w, v = 0;

	if (w < 8)
		return (p[bit / 8] >> (bit % 8)) & ((1U << w) - 1);
	for (k = 0; k < w / 8; k++)
		v = v << 8 | p[bit / 8 + k];
	return v;
}

static void refblock_checks(const struct qcow2_geometry *g, const u8 *recs,
			    size_t nrec, const u8 *bytes, size_t avail)
{
	size_t blen = g->cluster_size < MAX_REFBLOCK ? g->cluster_size
						     : MAX_REFBLOCK;
	u32 order, i;

	for (order = 0; order <= QCOW2_MAX_REFCOUNT_ORDER; order++) {
		u8 *blk = fuzz_dup(bytes, avail, blen);
		u8 *orig = fuzz_dup(bytes, avail, blen);
		u32 entries = (u32)((blen * 8) >> order);
		u64 max = qcow2_refcount_max(order);

		FUZZ_ASSERT(blk && orig && entries);
		for (i = 0; i < nrec && i < MAX_SETS; i++) {
			u64 e = get_unaligned_be64(recs + 16 * i);
			u64 a = get_unaligned_be64(recs + 16 * i + 8);
			u32 idx = (u32)a & (entries - 1);
			u64 old = qcow2_refblock_get(blk, order, idx);
			u64 v = (a >> 63) ? e : e & max;
			int ret;

			FUZZ_ASSERT(old <= max);
			FUZZ_ASSERT(old == refblock_ref_get(blk, order, idx));
			ret = qcow2_refblock_set(blk, order, idx, v);
			if (v > max) {
				FUZZ_ASSERT(ret == -ERANGE);
				FUZZ_ASSERT(qcow2_refblock_get(blk, order, idx) == old);
				continue;
			}
			FUZZ_ASSERT(!ret);
			FUZZ_ASSERT(qcow2_refblock_get(blk, order, idx) == v);
			FUZZ_ASSERT(refblock_ref_get(blk, order, idx) == v);
			/* the neighbours are untouched */
			if (idx)
				FUZZ_ASSERT(qcow2_refblock_get(blk, order, idx - 1) ==
					    refblock_ref_get(orig, order, idx - 1));
			if (idx + 1 < entries)
				FUZZ_ASSERT(qcow2_refblock_get(blk, order, idx + 1) ==
					    refblock_ref_get(orig, order, idx + 1));
			/* adjusting by the difference gives old back */
			if ((old > v ? old - v : v - old) <= (u64)S64_MAX) {
				u64 back = ~old;

				FUZZ_ASSERT(!qcow2_refcount_adjust(order, v,
								   (s64)(old - v),
								   &back));
				FUZZ_ASSERT(back == old);
			}
			FUZZ_ASSERT(!qcow2_refblock_set(blk, order, idx, old));
		}
		/* everything set was restored: not a bit elsewhere changed */
		FUZZ_ASSERT(!memcmp(blk, orig, blen));
		FUZZ_ASSERT(qcow2_refblock_set(blk, order, 0, max) == 0);
		if (order < 6)
			FUZZ_ASSERT(qcow2_refblock_set(blk, order, 0, max + 1) ==
				    -ERANGE);
		FUZZ_ASSERT(qcow2_refblock_set(blk, order + 7, 0, 0) == -ERANGE);
		free(blk);
		free(orig);
	}
}

/*
 * Metadata ranges made of the records (aux bits 0-2 say where an entry
 * goes: a fixed range, one of the cluster arrays, an inactive L1 range),
 * cluster-aligned but anywhere in the 64-bit space; then every record is
 * a query too. (Ranges start on clusters: one starting at byte U64_MAX
 * would be missed, as the check's end saturates at U64_MAX.)
 */
static void overlap_checks(const struct qcow2_geometry *g, const u8 *recs,
			   size_t nrec)
{
	struct qcow2_range *fixed[5], inactive_l1[MAX_OVERLAP_RECS];
	u64 arr[3][MAX_OVERLAP_RECS], cs = g->cluster_size;
	u32 narr[3] = { 0, 0, 0 }, nl1 = 0, i;
	struct qcow2_meta_ranges m;
	const char *reason = NULL;
	bool bad = false;
	int ret;

	memset(&m, 0, sizeof(m));
	m.cluster_bits = g->cluster_bits;
	fixed[0] = &m.header;
	fixed[1] = &m.active_l1;
	fixed[2] = &m.refcount_table;
	fixed[3] = &m.snapshot_table;
	fixed[4] = &m.bitmap_directory;
	for (i = 0; i < nrec && i < MAX_OVERLAP_RECS; i++) {
		u64 e = get_unaligned_be64(recs + 16 * i);
		u64 x = get_unaligned_be64(recs + 16 * i + 8);
		u64 len = x >> 16;

		/* tables start on a cluster, as every header offset must */
		e &= ~(cs - 1);

		switch (x & 7) {
		case 0:
		case 1:
			fixed[(x >> 3) % 5]->offset = e;
			fixed[(x >> 3) % 5]->len = len;
			break;
		case 2:
		case 3:
		case 4:
			arr[(x & 7) - 2][narr[(x & 7) - 2]++] = e & ~(cs - 1);
			break;
		default:
			inactive_l1[nl1].offset = e;
			inactive_l1[nl1].len = len;
			if (!len || e + len < e)
				bad = true;
			nl1++;
			break;
		}
	}
	m.active_l2 = arr[0];
	m.nb_active_l2 = fuzz_sort_unique(arr[0], narr[0]);
	m.refcount_blocks = arr[1];
	m.nb_refcount_blocks = fuzz_sort_unique(arr[1], narr[1]);
	m.inactive_l2 = arr[2];
	m.nb_inactive_l2 = fuzz_sort_unique(arr[2], narr[2]);
	qsort(inactive_l1, nl1, sizeof(inactive_l1[0]), fuzz_cmp_range);
	for (i = 1; i < nl1; i++)
		if (inactive_l1[i].offset - inactive_l1[i - 1].offset <
		    inactive_l1[i - 1].len)
			bad = true;
	m.inactive_l1 = inactive_l1;
	m.nb_inactive_l1 = nl1;
	ret = qcow2_meta_ranges_check(&m, &reason);
	FUZZ_ASSERT(ret == (bad ? -EINVAL : 0));
	if (ret) {
		FUZZ_ASSERT(reason);
		return;
	}
	fuzz_meta_ranges_negative(&m);
	for (i = 0; i < nrec && i < MAX_OVERLAP_RECS; i++) {
		u64 e = get_unaligned_be64(recs + 16 * i);
		u64 x = get_unaligned_be64(recs + 16 * i + 8);
		unsigned int ignore = (unsigned int)(x >> 3) & QCOW2_OL_ALL;

		fuzz_overlap_query(&m, e, 1, 0);
		fuzz_overlap_query(&m, e - 1, 1, 0);
		fuzz_overlap_query(&m, e, x >> 16, ignore);
		fuzz_overlap_query(&m, x, e, ignore);
	}
}

static void l2_table_checks(const struct qcow2_geometry *g, const u8 *bytes,
			    size_t avail)
{
	u32 n = 1U << g->l2_bits, i;
	size_t len;
	u8 *tab, *out;

	if (avail / g->l2_entry_size < n)
		n = (u32)(avail / g->l2_entry_size);
	if (!n)
		return;
	len = (size_t)n * g->l2_entry_size;
	tab = fuzz_dup(bytes, avail, len);
	out = fuzz_dup(NULL, 0, len);
	FUZZ_ASSERT(tab && out);
	for (i = 0; i < n; i++) {
		u64 e, b;

		qcow2_l2_entry_get(g, tab, i, &e, &b);
		FUZZ_ASSERT(e == get_unaligned_be64(bytes + (size_t)i * g->l2_entry_size));
		FUZZ_ASSERT(g->extended_l2 ?
			    b == get_unaligned_be64(bytes + (size_t)i * 16 + 8) :
			    !b);
		qcow2_l2_entry_put(g, out, i, e, b);
	}
	FUZZ_ASSERT(!memcmp(out, tab, (size_t)n * g->l2_entry_size));
	free(tab);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qcow2_geometry g;
	u32 version, cb, order;
	bool extl2, df;
	u64 file_size;
	const u8 *recs;
	size_t nrec, rlen, i;
	int ret;

	if (size < 12)
		return 0;
	version = data[0] & 0x80 ? data[0] & 0x7fU : 2U + (data[0] & 1);
	cb = data[1] & 0x80 ? data[1] & 0x7fU : 9U + (data[1] & 0x7fU) % 13;
	order = data[2] & 0x80 ? data[2] & 0x7fU : (data[2] & 0x7fU) % 7;
	extl2 = data[3] & 1;
	df = data[3] & 2;
	file_size = get_unaligned_be64(data + 4);
	memset(&g, 0xa5, sizeof(g));
	ret = qcow2_geometry_init(&g, version, cb, order, extl2, df);
	geometry_rules(version, cb, order, extl2, df, ret);
	if (ret)
		return 0;
	fuzz_check_geometry(&g);
	FUZZ_ASSERT(g.version == version && g.cluster_bits == cb &&
		    g.refcount_order == order && g.extended_l2 == extl2 &&
		    g.data_file == df);

	recs = data + 12;
	rlen = size - 12;
	nrec = rlen / 16;
	for (i = 0; i < nrec; i++) {
		u64 entry = get_unaligned_be64(recs + 16 * i);
		u64 aux = get_unaligned_be64(recs + 16 * i + 8);

		fuzz_l1_entry(&g, entry);
		fuzz_l2_entry(&g, entry, aux, file_size, (u32)(aux >> 17) ^ (u32)i);
		l2_encode_checks(&g, entry, aux);
		compressed_checks(&g, entry, aux, file_size);
		misc_entry_checks(&g, entry, aux);
		refcount_adjust_checks(entry, aux);
	}
	fuzz_l1_table(&g, recs, (u32)(rlen / 8), file_size, NULL, NULL, 0);
	l2_table_checks(&g, recs, rlen);
	refblock_checks(&g, recs, nrec, recs, rlen);
	overlap_checks(&g, recs, nrec);
	return 0;
}
