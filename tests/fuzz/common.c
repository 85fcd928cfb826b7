// SPDX-License-Identifier: GPL-2.0
/*
 * common.c - checks shared by the qcow2 fuzz targets (see fuzz.h).
 *
 * The invariants come from format.h's contracts: what a successful parse
 * guarantees about the fields it fills, that decoding and encoding are
 * inverse, that -ENODATA asks for strictly more bytes, that a parse does not
 * depend on bytes past what it needs, and that every error has a reason.
 */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"

_Noreturn void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
	fflush(stderr);
	abort();
}

void fuzz_image_init(struct fuzz_image *img, const u8 *data, size_t size)
{
	img->data = data;
	img->len = size;
	img->file_size = size;
	if (size >= FUZZ_TRAILER_LEN &&
	    !memcmp(data + size - FUZZ_TRAILER_LEN, FUZZ_TRAILER_MAGIC, 8)) {
		img->len = size - FUZZ_TRAILER_LEN;
		img->file_size = get_unaligned_be64(data + size - 8);
		if (img->file_size < img->len)
			img->len = (size_t)img->file_size;
	}
}

u8 *fuzz_dup(const u8 *src, size_t avail, size_t len)
{
	u8 *p;
	size_t n = avail < len ? avail : len;

	if (len > FUZZ_MAX_READ)
		return NULL;
	p = malloc(len ? len : 1);
	if (!p)
		abort();
	if (n)
		memcpy(p, src, n);
	memset(p + n, 0, len - n);
	return p;
}

u8 *fuzz_image_read(const struct fuzz_image *img, u64 off, size_t len)
{
	if (off >= img->len)
		return fuzz_dup(NULL, 0, len);
	return fuzz_dup(img->data + off, img->len - (size_t)off, len);
}

static u32 be32_zf(const u8 *p, size_t avail, u64 off)
{
	u32 v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v = v << 8 | (off + i < avail ? p[off + i] : 0);
	return v;
}

/* == Geometry == */

void fuzz_check_geometry(const struct qcow2_geometry *g)
{
	u32 cb = g->cluster_bits;

	FUZZ_ASSERT(g->version == 2 || g->version == 3);
	FUZZ_ASSERT(cb >= QCOW2_MIN_CLUSTER_BITS && cb <= QCOW2_MAX_CLUSTER_BITS);
	FUZZ_ASSERT(g->cluster_size == 1U << cb);
	FUZZ_ASSERT(g->l2_entry_size == (g->extended_l2 ? 16U : 8U));
	FUZZ_ASSERT((u64)g->l2_entry_size << g->l2_bits == g->cluster_size);
	FUZZ_ASSERT(g->subclusters == (g->extended_l2 ? 32U : 1U));
	FUZZ_ASSERT(g->subcluster_bits +
		    (g->extended_l2 ? QCOW2_SUBCLUSTER_BITS : 0) == cb);
	FUZZ_ASSERT(!g->extended_l2 || g->subcluster_bits >= 9);
	FUZZ_ASSERT(g->refcount_order <= QCOW2_MAX_REFCOUNT_ORDER);
	FUZZ_ASSERT(g->refblock_bits + g->refcount_order == cb + 3);
	FUZZ_ASSERT(g->csize_shift + (cb - 8) == 62);
	FUZZ_ASSERT(g->csize_mask == (1ULL << (cb - 8)) - 1);
	FUZZ_ASSERT(g->coffset_mask == (1ULL << g->csize_shift) - 1);
	FUZZ_ASSERT(g->zero_flag == (g->version >= 3 && !g->extended_l2));
	FUZZ_ASSERT(!g->data_file || g->version >= 3);
}

/* == L1 entries and tables == */

static bool l1_entry_bad(const struct qcow2_geometry *g, u64 entry)
{
	return (entry & QCOW2_L1E_RESERVED) ||
	       ((entry & QCOW2_L1E_OFFSET_MASK) & (g->cluster_size - 1));
}

int fuzz_l1_entry(const struct qcow2_geometry *g, u64 entry)
{
	const char *reason = NULL;
	u64 off = 0;
	bool copied = false;
	int ret;

	ret = qcow2_l1_entry_decode(g, entry, &off, &copied, &reason);
	FUZZ_ASSERT(!ret == !l1_entry_bad(g, entry));
	if (ret) {
		FUZZ_ASSERT(ret == -EUCLEAN && reason);
		return ret;
	}
	FUZZ_ASSERT(!(off & (g->cluster_size - 1)) && off < QCOW2_MAX_HOST_OFFSET);
	FUZZ_ASSERT(copied == !!(entry & QCOW2_OFLAG_COPIED));
	FUZZ_ASSERT(qcow2_l1_entry_encode(off, copied) == entry);
	return 0;
}

int fuzz_l1_table(const struct qcow2_geometry *g, const u8 *l1, u32 nb,
		  u64 file_size, u64 *l2s, u32 *nl2, u32 max_l2)
{
	const char *reason = NULL;
	u32 bad = U32_MAX, i, want_bad = U32_MAX;
	int ret, want = 0;

	for (i = 0; i < nb; i++) {
		u64 entry = get_unaligned_be64(l1 + 8 * (size_t)i);
		u64 off = entry & QCOW2_L1E_OFFSET_MASK;

		if (fuzz_l1_entry(g, entry)) {
			want = -EUCLEAN;
		} else if (off && (file_size < g->cluster_size ||
				   off > file_size - g->cluster_size)) {
			want = -EUCLEAN;
		} else {
			if (off && l2s && *nl2 < max_l2)
				l2s[(*nl2)++] = off;
			continue;
		}
		want_bad = i;
		break;
	}
	ret = qcow2_l1_table_check(g, l1, nb, file_size, &bad, &reason);
	FUZZ_ASSERT(ret == want);
	if (ret) {
		FUZZ_ASSERT(reason);
		FUZZ_ASSERT(bad == want_bad);
	}
	return ret;
}

/* == L2 entries, subclusters, compressed clusters == */

void fuzz_compressed_range(const struct qcow2_geometry *g, u64 off,
			   u32 csectors, u64 file_size)
{
	const char *reason = NULL;
	u64 start = 0, end;
	u32 len = 0;
	bool bad;
	int ret;

	ret = qcow2_compressed_range(g, off, csectors, file_size, &start, &len,
				     &reason);
	bad = off < g->cluster_size || off >= file_size ||
	      off >= QCOW2_MAX_HOST_OFFSET || csectors > g->csize_mask;
	FUZZ_ASSERT(!ret == !bad);
	if (ret) {
		FUZZ_ASSERT(ret == -EUCLEAN && reason);
		return;
	}
	end = (off & ~511ULL) + ((u64)csectors + 1) * 512;
	if (end > file_size)
		end = file_size;
	FUZZ_ASSERT(start == off);
	FUZZ_ASSERT(len >= 1);
	FUZZ_ASSERT((u64)len == end - off);
}

static void l2_info_equal(const struct qcow2_geometry *g,
			  const struct qcow2_l2_info *a,
			  const struct qcow2_l2_info *b)
{
	FUZZ_ASSERT(a->type == b->type);
	FUZZ_ASSERT(a->copied == b->copied);
	FUZZ_ASSERT(a->host_offset == b->host_offset);
	if (a->type == QCOW2_CLUSTER_COMPRESSED) {
		FUZZ_ASSERT(a->csectors == b->csectors);
	} else if (g->extended_l2) {
		FUZZ_ASSERT(a->alloc == b->alloc);
		FUZZ_ASSERT(a->zero == b->zero);
	}
}

static void l2_info_check(const struct qcow2_geometry *g,
			  const struct qcow2_l2_info *info)
{
	u64 off = info->host_offset;

	switch (info->type) {
	case QCOW2_CLUSTER_COMPRESSED:
		FUZZ_ASSERT(!info->copied && !g->data_file);
		FUZZ_ASSERT(off >= g->cluster_size && off < QCOW2_MAX_HOST_OFFSET);
		FUZZ_ASSERT(info->csectors <= g->csize_mask);
		FUZZ_ASSERT(!info->alloc && !info->zero);
		break;
	case QCOW2_CLUSTER_ZERO_PLAIN:
	case QCOW2_CLUSTER_ZERO_ALLOC:
		FUZZ_ASSERT(g->zero_flag);
		FUZZ_ASSERT((info->type == QCOW2_CLUSTER_ZERO_PLAIN) == !off);
		FUZZ_ASSERT(!(off & (g->cluster_size - 1)) &&
			    off < QCOW2_MAX_HOST_OFFSET);
		FUZZ_ASSERT(info->zero == U32_MAX && !info->alloc);
		break;
	case QCOW2_CLUSTER_NORMAL:
		FUZZ_ASSERT(!(off & (g->cluster_size - 1)) &&
			    off < QCOW2_MAX_HOST_OFFSET);
		FUZZ_ASSERT(off || (g->data_file && info->copied));
		if (g->extended_l2)
			FUZZ_ASSERT(!(info->alloc & info->zero));
		else
			FUZZ_ASSERT(info->alloc == U32_MAX && !info->zero);
		break;
	case QCOW2_CLUSTER_UNALLOCATED:
		FUZZ_ASSERT(!off && !info->copied && !info->alloc);
		if (!g->extended_l2)
			FUZZ_ASSERT(!info->zero);
		break;
	default:
		FUZZ_ASSERT(!"unknown cluster type");
	}
}

/* The state of subcluster @idx as the bits say; a reference for qcow2_sc_state(). */
static enum qcow2_sc_state sc_ref_state(const struct qcow2_l2_info *info,
					u32 idx)
{
	if (info->type == QCOW2_CLUSTER_COMPRESSED)
		return QCOW2_SC_COMPRESSED;
	if (info->zero & (1U << idx))
		return QCOW2_SC_ZERO;
	if (info->alloc & (1U << idx))
		return QCOW2_SC_DATA;
	return QCOW2_SC_UNALLOCATED;
}

static void sc_checks(const struct qcow2_geometry *g,
		      const struct qcow2_l2_info *info, u64 bitmap, u32 arg)
{
	struct qcow2_l2_info s;
	enum qcow2_sc_state st;
	u32 n = g->subclusters, first = arg % n, run, i, f2, cnt;
	u64 e2, b2, bm2;
	bool ok;
	int ret;

	for (i = 0; i < QCOW2_SUBCLUSTERS; i++)
		FUZZ_ASSERT(qcow2_sc_state(info, i) == sc_ref_state(info, i));
	run = qcow2_sc_run(g, info, first);
	FUZZ_ASSERT(run >= 1 && run <= n - first);
	st = qcow2_sc_state(info, first);
	for (i = first; i < first + run; i++)
		FUZZ_ASSERT(qcow2_sc_state(info, i) == st);
	if (first + run < n)
		FUZZ_ASSERT(qcow2_sc_state(info, first + run) != st);
	FUZZ_ASSERT(qcow2_sc_run(g, info, n) == 0);

	/* qcow2_sc_set(): only the range changes, to the state asked for */
	f2 = (arg >> 8) % QCOW2_SUBCLUSTERS;
	cnt = 1 + (arg >> 13) % (QCOW2_SUBCLUSTERS - f2);
	st = (enum qcow2_sc_state)((arg >> 20) % 4);
	s = *info;
	ret = qcow2_sc_set(&s, f2, cnt, st);
	ok = (info->type == QCOW2_CLUSTER_NORMAL ||
	      info->type == QCOW2_CLUSTER_UNALLOCATED) &&
	     st != QCOW2_SC_COMPRESSED &&
	     !(st == QCOW2_SC_DATA && info->type != QCOW2_CLUSTER_NORMAL);
	FUZZ_ASSERT(!ret == ok);
	if (ret) {
		FUZZ_ASSERT(ret == -EINVAL);
		FUZZ_ASSERT(!memcmp(&s, info, sizeof(s)));
	} else {
		for (i = 0; i < QCOW2_SUBCLUSTERS; i++) {
			if (i >= f2 && i < f2 + cnt)
				FUZZ_ASSERT(qcow2_sc_state(&s, i) == st);
			else
				FUZZ_ASSERT(qcow2_sc_state(&s, i) ==
					    qcow2_sc_state(info, i));
		}
		FUZZ_ASSERT(s.type == info->type &&
			    s.host_offset == info->host_offset &&
			    s.copied == info->copied);
		if (g->extended_l2) {
			struct qcow2_l2_info d;

			/* the raw bitmap helper agrees, and the result encodes */
			bm2 = qcow2_sc_bitmap_set(bitmap, f2, cnt, st);
			FUZZ_ASSERT((u32)bm2 == s.alloc);
			FUZZ_ASSERT((u32)(bm2 >> QCOW2_SC_ZERO_SHIFT) == s.zero);
			FUZZ_ASSERT(!qcow2_l2_entry_encode(g, &s, &e2, &b2));
			FUZZ_ASSERT(b2 == bm2);
			FUZZ_ASSERT(!qcow2_l2_entry_decode(g, e2, b2, &d, NULL));
			l2_info_equal(g, &d, &s);
		}
	}
	FUZZ_ASSERT(qcow2_sc_set(&s, f2, 0, QCOW2_SC_ZERO) == -EINVAL);
	FUZZ_ASSERT(qcow2_sc_set(&s, QCOW2_SUBCLUSTERS, 1, QCOW2_SC_ZERO) == -EINVAL);
	FUZZ_ASSERT(qcow2_sc_set(&s, f2, QCOW2_SUBCLUSTERS + 1 - f2,
				 QCOW2_SC_ZERO) == -EINVAL);
	FUZZ_ASSERT(qcow2_sc_bitmap_set(bitmap, f2, 0, st) == bitmap);
	FUZZ_ASSERT(qcow2_sc_bitmap_set(bitmap, QCOW2_SUBCLUSTERS, 1, st) == bitmap);
	FUZZ_ASSERT(qcow2_sc_bitmap_set(bitmap, f2, QCOW2_SUBCLUSTERS + 1 - f2,
					st) == bitmap);
}

int fuzz_l2_entry(const struct qcow2_geometry *g, u64 entry, u64 bitmap,
		  u64 file_size, u32 arg)
{
	struct qcow2_l2_info info, info0;
	const char *reason = NULL;
	u64 bm = g->extended_l2 ? bitmap : 0, e2 = 0, b2 = 0;
	int ret, ret0;

	ret = qcow2_l2_entry_decode(g, entry, bitmap, &info, &reason);
	if (!g->extended_l2) {
		/* standard entries have no bitmap: whatever is passed is ignored */
		ret0 = qcow2_l2_entry_decode(g, entry, 0, &info0, NULL);
		FUZZ_ASSERT(ret0 == ret);
		if (!ret)
			FUZZ_ASSERT(!memcmp(&info0, &info, sizeof(info)));
	}
	if (ret) {
		FUZZ_ASSERT(ret == -EUCLEAN && reason);
		return ret;
	}
	l2_info_check(g, &info);

	/* encode(decode(x)) == x */
	FUZZ_ASSERT(!qcow2_l2_entry_encode(g, &info, &e2, &b2));
	FUZZ_ASSERT(e2 == entry);
	FUZZ_ASSERT(b2 == bm);

	sc_checks(g, &info, bm, arg);
	if (info.type == QCOW2_CLUSTER_COMPRESSED)
		fuzz_compressed_range(g, info.host_offset, info.csectors,
				      file_size);
	return 0;
}

/* == Header == */

static void header_check(const struct qcow2_header *h, u64 file_size)
{
	struct qcow2_geometry g;
	u64 cs = h->cluster_size, shift;

	FUZZ_ASSERT(h->version == 2 || h->version == 3);
	FUZZ_ASSERT(h->cluster_bits >= QCOW2_MIN_CLUSTER_BITS &&
		    h->cluster_bits <= QCOW2_MAX_CLUSTER_BITS);
	FUZZ_ASSERT(cs == 1ULL << h->cluster_bits);
	if (h->version == 2) {
		FUZZ_ASSERT(h->header_length == QCOW2_V2_HEADER_LEN);
		FUZZ_ASSERT(!h->incompatible_features && !h->compatible_features &&
			    !h->autoclear_features);
		FUZZ_ASSERT(h->refcount_order == 4 && !h->compression_type);
	} else {
		FUZZ_ASSERT(h->header_length >= QCOW2_V3_HEADER_MIN);
		FUZZ_ASSERT(h->header_length % 8 == 0);
		FUZZ_ASSERT(h->header_length <= cs);
	}
	FUZZ_ASSERT(h->header_length <= file_size);
	FUZZ_ASSERT(!(h->incompatible_features & ~QCOW2_INCOMPAT_KNOWN));
	FUZZ_ASSERT(!h->unknown_incompatible);
	FUZZ_ASSERT(h->unknown_compatible ==
		    (h->compatible_features & ~QCOW2_COMPAT_KNOWN));
	FUZZ_ASSERT(h->unknown_autoclear ==
		    (h->autoclear_features & ~QCOW2_AUTOCLEAR_KNOWN));
	FUZZ_ASSERT(h->dirty == !!(h->incompatible_features & QCOW2_INCOMPAT_DIRTY));
	FUZZ_ASSERT(h->corrupt == !!(h->incompatible_features & QCOW2_INCOMPAT_CORRUPT));
	FUZZ_ASSERT(h->data_file == !!(h->incompatible_features & QCOW2_INCOMPAT_DATA_FILE));
	FUZZ_ASSERT(h->extended_l2 == !!(h->incompatible_features & QCOW2_INCOMPAT_EXTL2));
	FUZZ_ASSERT(h->compression_type <= QCOW2_COMPRESSION_ZSTD);
	FUZZ_ASSERT(!h->compression_type ==
		    !(h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION));
	FUZZ_ASSERT(h->crypt_method <= QCOW2_CRYPT_LUKS);
	FUZZ_ASSERT(!h->data_file_raw || h->data_file);
	FUZZ_ASSERT(!h->data_file || !h->nb_snapshots);

	FUZZ_ASSERT(!qcow2_geometry_init(&g, h->version, h->cluster_bits,
					 h->refcount_order, h->extended_l2,
					 h->data_file));
	FUZZ_ASSERT(!memcmp(&g, &h->g, sizeof(g)));
	fuzz_check_geometry(&h->g);
	FUZZ_ASSERT(h->refcount_bits == 1U << h->refcount_order);

	/* backing file name and the extension area */
	FUZZ_ASSERT(h->ext_start == h->header_length);
	FUZZ_ASSERT(h->ext_start <= h->ext_end && h->ext_end <= cs);
	if (h->backing_file_offset) {
		FUZZ_ASSERT(h->ext_end == h->backing_file_offset);
		FUZZ_ASSERT(h->backing_file_size <= QCOW2_MAX_BACKING_NAME);
		FUZZ_ASSERT(h->backing_file_offset + h->backing_file_size <= cs);
		FUZZ_ASSERT(h->backing_file_offset + h->backing_file_size <=
			    file_size);
	} else {
		FUZZ_ASSERT(h->ext_end == cs && !h->has_backing);
	}
	FUZZ_ASSERT(h->has_backing ==
		    (h->backing_file_offset && h->backing_file_size));

	/* the tables */
	FUZZ_ASSERT(h->refcount_table_clusters >= 1);
	FUZZ_ASSERT(((u64)h->refcount_table_clusters << h->cluster_bits) <=
		    QCOW2_MAX_REFTABLE_BYTES);
	FUZZ_ASSERT(h->refcount_table_entries ==
		    ((u64)h->refcount_table_clusters << h->cluster_bits) / 8);
	FUZZ_ASSERT(!(h->refcount_table_offset & (cs - 1)));
	FUZZ_ASSERT(h->refcount_table_offset >= cs);
	FUZZ_ASSERT(h->refcount_table_offset <= file_size &&
		    h->refcount_table_entries * 8 <=
		    file_size - h->refcount_table_offset);

	FUZZ_ASSERT((u64)h->l1_size * 8 <= QCOW2_MAX_L1_BYTES);
	FUZZ_ASSERT(h->l1_size >= h->l1_needed);
	shift = h->cluster_bits + h->g.l2_bits;
	FUZZ_ASSERT(((u64)h->l1_needed << shift) >= h->size);
	FUZZ_ASSERT(!h->l1_needed || ((u64)(h->l1_needed - 1) << shift) < h->size);
	FUZZ_ASSERT(!(h->l1_table_offset & (cs - 1)));
	if (h->l1_size) {
		FUZZ_ASSERT(h->l1_table_offset >= cs);
		FUZZ_ASSERT(h->l1_table_offset <= file_size &&
			    (u64)h->l1_size * 8 <= file_size - h->l1_table_offset);
	}
	FUZZ_ASSERT(h->nb_snapshots <= QCOW2_MAX_SNAPSHOTS);
	FUZZ_ASSERT(!(h->snapshots_offset & (cs - 1)));
	if (h->nb_snapshots) {
		FUZZ_ASSERT(h->snapshots_offset >= cs);
		FUZZ_ASSERT(h->snapshots_offset <= file_size &&
			    (u64)h->nb_snapshots * QCOW2_SNAPSHOT_HDR_LEN <=
			    file_size - h->snapshots_offset);
	}
}

/* Parse the header as a reader does: 72 bytes, then what -ENODATA asks for. */
static int header_parse_grow(const struct fuzz_image *img,
			     struct qcow2_header *h, size_t *used)
{
	const char *reason;
	size_t want = QCOW2_V2_HEADER_LEN;
	int ret, rounds = 0;
	u8 *buf;

	/* fewer bytes than any header: always -ENODATA (if the file is not) */
	if (img->file_size >= QCOW2_V2_HEADER_LEN) {
		buf = fuzz_image_read(img, 0, QCOW2_V2_HEADER_LEN - 1);
		FUZZ_ASSERT(qcow2_header_parse(buf, QCOW2_V2_HEADER_LEN - 1,
					       img->file_size, h, NULL) ==
			    -ENODATA);
		FUZZ_ASSERT(h->header_length == QCOW2_V2_HEADER_LEN);
		free(buf);
	}
	for (;;) {
		buf = fuzz_image_read(img, 0, want);
		FUZZ_ASSERT(buf);
		reason = NULL;
		ret = qcow2_header_parse(buf, want, img->file_size, h, &reason);
		free(buf);
		if (ret)
			FUZZ_ASSERT(reason);
		if (ret != -ENODATA)
			break;
		/* asks for strictly more, and at most twice (104, header_length) */
		FUZZ_ASSERT(h->header_length > want);
		FUZZ_ASSERT(++rounds <= 2);
		want = h->header_length;
	}
	*used = want;
	return ret;
}

static void ext_span_check(const struct qcow2_header *h, u32 area_len,
			   const struct qcow2_span *s)
{
	FUZZ_ASSERT(s->offset >= h->ext_start + 8);
	FUZZ_ASSERT(s->offset <= area_len && s->len <= area_len - s->offset);
	FUZZ_ASSERT(s->offset + s->len <= h->ext_end);
}

static void extensions_check(const struct fuzz_parsed *p, u64 file_size)
{
	const struct qcow2_header *h = &p->h;
	const struct qcow2_extensions *e = &p->e;
	u32 i;

	FUZZ_ASSERT(e->end >= h->ext_start && e->end <= h->ext_end);
	if (e->present & QCOW2_EXTF_BACKING_FORMAT) {
		ext_span_check(h, p->area_len, &e->backing_format);
		FUZZ_ASSERT(e->backing_format.len <= QCOW2_MAX_BACKING_FMT);
	}
	if (e->present & QCOW2_EXTF_FEATURE_TABLE)
		ext_span_check(h, p->area_len, &e->feature_table);
	if (e->present & QCOW2_EXTF_DATA_FILE)
		ext_span_check(h, p->area_len, &e->data_file);
	FUZZ_ASSERT(e->nb_unknown <= QCOW2_MAX_UNKNOWN_EXTS);
	for (i = 0; i < e->nb_unknown; i++) {
		struct qcow2_span s = {
			.offset = e->unknown[i].offset,
			.len = e->unknown[i].len,
		};

		ext_span_check(h, p->area_len, &s);
		FUZZ_ASSERT(e->unknown[i].type != QCOW2_EXT_END);
	}
	if (h->has_backing) {
		FUZZ_ASSERT(e->backing_file.offset == h->backing_file_offset);
		FUZZ_ASSERT(e->backing_file.len == h->backing_file_size);
		FUZZ_ASSERT(e->backing_file.offset + e->backing_file.len <=
			    p->area_len);
	} else {
		FUZZ_ASSERT(!e->backing_file.offset && !e->backing_file.len);
	}

	FUZZ_ASSERT(e->bitmaps_stale ==
		    ((e->present & QCOW2_EXTF_BITMAPS) && !h->bitmaps_autoclear));
	FUZZ_ASSERT(e->bitmaps_missing ==
		    (h->bitmaps_autoclear && !(e->present & QCOW2_EXTF_BITMAPS)));
	if ((e->present & QCOW2_EXTF_BITMAPS) && !e->bitmaps_stale) {
		u64 off = e->bitmap_directory_offset;
		u64 size = e->bitmap_directory_size;

		FUZZ_ASSERT(e->nb_bitmaps >= 1 && e->nb_bitmaps <= QCOW2_MAX_BITMAPS);
		FUZZ_ASSERT(size <= QCOW2_MAX_BITMAP_DIR_BYTES);
		FUZZ_ASSERT(size >= (u64)e->nb_bitmaps * QCOW2_BITMAP_ENTRY_HDR_LEN);
		FUZZ_ASSERT(!(off & (h->cluster_size - 1)) && off >= h->cluster_size);
		FUZZ_ASSERT(off <= file_size && size <= file_size - off);
	}
	FUZZ_ASSERT(!(e->present & QCOW2_EXTF_CRYPTO) ||
		    h->crypt_method == QCOW2_CRYPT_LUKS);
	if (h->crypt_method == QCOW2_CRYPT_LUKS) {
		FUZZ_ASSERT(e->present & QCOW2_EXTF_CRYPTO);
		FUZZ_ASSERT(!(e->crypto_offset & (h->cluster_size - 1)));
		FUZZ_ASSERT(e->crypto_offset >= h->cluster_size);
		FUZZ_ASSERT(e->crypto_offset <= file_size &&
			    e->crypto_length <= file_size - e->crypto_offset);
	}
}

/* Every entry of the feature table is found (first match), inside the table. */
static void feature_names_check(const struct fuzz_parsed *p)
{
	const struct qcow2_extensions *e = &p->e;
	const u8 *t = p->area + e->feature_table.offset;
	u32 n = e->feature_table.len / QCOW2_FEATURE_ENTRY_LEN, i, j, nl;
	const char *name;
	int ret;

	for (i = 0; i < 3 * 64; i++) {
		name = NULL;
		nl = U32_MAX;
		ret = qcow2_feature_name(p->area, e, (u8)(i / 64), (u8)(i % 64),
					 &name, &nl);
		if (ret) {
			FUZZ_ASSERT(ret == -ENOENT);
			continue;
		}
		FUZZ_ASSERT(e->present & QCOW2_EXTF_FEATURE_TABLE);
		FUZZ_ASSERT(nl <= QCOW2_FEATURE_NAME_LEN);
		FUZZ_ASSERT((const u8 *)name >= t + 2);
		FUZZ_ASSERT((const u8 *)name + nl <= t + e->feature_table.len);
		FUZZ_ASSERT(!memchr(name, 0, nl));
	}
	if (!(e->present & QCOW2_EXTF_FEATURE_TABLE))
		return;
	for (i = 0; i < n && i < 256; i++) {
		const u8 *ent = t + (size_t)i * QCOW2_FEATURE_ENTRY_LEN;

		name = NULL;
		FUZZ_ASSERT(!qcow2_feature_name(p->area, e, ent[0], ent[1],
						&name, &nl));
		for (j = 0; j <= i; j++) {
			const u8 *f = t + (size_t)j * QCOW2_FEATURE_ENTRY_LEN;

			if (f[0] == ent[0] && f[1] == ent[1])
				break;
		}
		FUZZ_ASSERT((const u8 *)name == t + (size_t)j * QCOW2_FEATURE_ENTRY_LEN + 2);
	}
}

static void check_open_check(const struct qcow2_header *h,
			     const struct qcow2_extensions *e)
{
	unsigned int flags;
	const char *reason;
	int ret, want;

	for (flags = 0; flags < 4; flags++) {
		if (h->crypt_method == QCOW2_CRYPT_AES)
			want = -EOPNOTSUPP;
		else if (h->crypt_method == QCOW2_CRYPT_LUKS ||
			 (e && (e->present & QCOW2_EXTF_CRYPTO)))
			want = -EOPNOTSUPP;
		else if (h->data_file && !(flags & QCOW2_OPEN_ALLOW_DATA_FILE))
			want = -EOPNOTSUPP;
		else if ((flags & QCOW2_OPEN_WRITE) && h->corrupt)
			want = -EROFS;
		else
			want = 0;
		reason = NULL;
		ret = qcow2_check_open(h, e, flags, &reason);
		FUZZ_ASSERT(ret == want);
		FUZZ_ASSERT(!ret || reason);
	}
}

/*
 * Write the extensions again with qcow2_ext_put() where they were, over
 * zeroes (so padding becomes zero); the bytes written must be the same and
 * parsing the result must give the same thing.
 */
static void extensions_rebuild_check(const struct fuzz_parsed *p)
{
	const struct qcow2_header *h = &p->h;
	struct qcow2_extensions e2;
	const char *reason = NULL;
	u32 limit = h->ext_end < p->area_len ? h->ext_end : p->area_len;
	u32 off = h->ext_start, pos = h->ext_start, type, len, zend;
	u8 *copy;
	int ret;

	if (h->ext_start > limit)
		return;
	copy = fuzz_dup(p->area, p->area_len, p->area_len);
	FUZZ_ASSERT(copy);
	zend = p->e.end < limit ? p->e.end : limit;
	memset(copy + h->ext_start, 0, zend - h->ext_start);
	while (off < h->ext_end) {
		type = be32_zf(p->area, p->area_len, off);
		len = be32_zf(p->area, p->area_len, (u64)off + 4);
		ret = qcow2_ext_put(copy, limit, &pos, type,
				    type ? p->area + off + 8 : NULL,
				    type ? len : 0);
		if (ret) {
			/* only where the padding (or marker) passes the end */
			FUZZ_ASSERT(ret == -ENOSPC);
			FUZZ_ASSERT((u64)off + 8 + (type ? ALIGN((u64)len, 8) : 0) >
				    limit);
			goto out;
		}
		/* (the end marker's length field is not looked at) */
		FUZZ_ASSERT(!memcmp(copy + off, p->area + off, type ? 8 + len : 4));
		if (!type)
			break;
		FUZZ_ASSERT(pos == off + 8 + ALIGN(len, 8));
		off = pos;
	}
	ret = qcow2_extensions_parse(copy, p->area_len, p->file_size, h, &e2,
				     &reason);
	FUZZ_ASSERT(!ret);
	FUZZ_ASSERT(!memcmp(&e2, &p->e, sizeof(e2)));
out:
	free(copy);
}

/*
 * qcow2_set_bitmaps_ext() on the parsed area: removing the extension (and
 * adding one) gives an area that parses, with the same other extensions,
 * backing file name and header fields but autoclear bit 0.
 */
static void bitmaps_ext_check(const struct fuzz_parsed *p)
{
	const struct qcow2_header *h = &p->h;
	struct qcow2_extensions e2;
	struct qcow2_header h2;
	u32 len = p->area_len, used, nb;
	u8 *out;
	int ret;

	if (h->version < 3)
		return;
	out = malloc(len ? len : 1);
	FUZZ_ASSERT(out);
	for (nb = 0; nb < 2; nb++) {
		ret = qcow2_set_bitmaps_ext(p->area, out, len, h, nb,
					    nb ? 32 : 0, nb ? h->cluster_size : 0,
					    &used);
		FUZZ_ASSERT(!ret || ret == -ENOSPC || ret == -EINVAL);
		if (ret)
			continue;
		FUZZ_ASSERT(used <= len);
		FUZZ_ASSERT(!qcow2_header_parse(out, len, p->file_size, &h2, NULL));
		FUZZ_ASSERT(h2.bitmaps_autoclear == !!nb);
		FUZZ_ASSERT(h2.size == h->size && h2.l1_table_offset == h->l1_table_offset &&
			    h2.backing_file_size == (h->has_backing ? h->backing_file_size : 0));
		if (h2.has_backing)
			FUZZ_ASSERT(!memcmp(out + h2.backing_file_offset,
					    p->area + h->backing_file_offset,
					    h2.backing_file_size));
		/* a directory at cluster 1 may be refused; removal never is */
		ret = qcow2_extensions_parse(out, len, p->file_size, &h2, &e2, NULL);
		if (nb)
			continue;
		FUZZ_ASSERT(!ret);
		FUZZ_ASSERT(!(e2.present & QCOW2_EXTF_BITMAPS));
		FUZZ_ASSERT(e2.nb_unknown == p->e.nb_unknown);
		FUZZ_ASSERT((e2.present | QCOW2_EXTF_BITMAPS) ==
			    (p->e.present | QCOW2_EXTF_BITMAPS));
	}
	free(out);
}

/* qcow2_overlap_check() on the fixed ranges: each hits itself. */
static void fixed_ranges_check(const struct qcow2_header *h,
			       const struct qcow2_extensions *e)
{
	struct qcow2_meta_ranges m;
	const struct qcow2_range *r[] = {
		&m.header, &m.active_l1, NULL, &m.refcount_table, NULL,
		&m.snapshot_table, NULL, NULL, &m.bitmap_directory,
	};
	const char *reason = NULL;
	unsigned int bit;
	u64 cs = h->cluster_size;

	qcow2_meta_ranges_init(&m, h, e,
			       (u64)h->nb_snapshots * QCOW2_SNAPSHOT_HDR_LEN);
	FUZZ_ASSERT(!qcow2_meta_ranges_check(&m, &reason));
	FUZZ_ASSERT(m.cluster_bits == h->cluster_bits);
	FUZZ_ASSERT(m.header.offset == 0 && m.header.len == cs);
	FUZZ_ASSERT(qcow2_overlap_check(&m, 0, 1, 0) == QCOW2_OL_HEADER);
	FUZZ_ASSERT(!qcow2_overlap_check(&m, 0, 0, 0));
	for (bit = 0; bit < ARRAY_SIZE(r); bit++) {
		if (!r[bit] || !r[bit]->len)
			continue;
		FUZZ_ASSERT(qcow2_overlap_check(&m, r[bit]->offset, 1,
						QCOW2_OL_ALL & ~(1U << bit)) ==
			    1U << bit);
		fuzz_overlap_query(&m, r[bit]->offset, r[bit]->len, 0);
		fuzz_overlap_query(&m, r[bit]->offset + r[bit]->len - 1, 1,
				   QCOW2_OL_HEADER);
		fuzz_overlap_query(&m, r[bit]->offset - 1, 2, 0);
	}
	fuzz_overlap_query(&m, cs, cs, 0);
	fuzz_overlap_query(&m, cs - 1, U64_MAX, 0);
	fuzz_overlap_query(&m, h->size, h->size, QCOW2_OL_HEADER);
	fuzz_meta_ranges_negative(&m);
}

int fuzz_parse_header(const struct fuzz_image *img, struct fuzz_parsed *p)
{
	struct qcow2_header h2;
	struct qcow2_header *h = &p->h;
	const char *reason = NULL;
	size_t used = 0, n;
	u8 *orig, *buf;
	u32 enc;
	int ret, ret2;

	memset(p, 0, sizeof(*p));
	p->file_size = img->file_size;
	ret = header_parse_grow(img, h, &used);

	/* More bytes than needed change nothing. */
	buf = fuzz_image_read(img, 0, used + 4096);
	ret2 = qcow2_header_parse(buf, used + 4096, img->file_size, &h2, NULL);
	free(buf);
	FUZZ_ASSERT(ret2 == ret);
	FUZZ_ASSERT(!memcmp(&h2, h, sizeof(h2)));
	if (ret)
		return ret;
	header_check(h, img->file_size);

	/* Encoding gives the bytes back, and parses to the same header. */
	n = h->version >= 3 ? h->header_length : QCOW2_V2_HEADER_LEN;
	orig = fuzz_image_read(img, 0, n);
	buf = fuzz_dup(orig, n, n);
	FUZZ_ASSERT(orig && buf);
	enc = qcow2_header_encode(h, buf);
	FUZZ_ASSERT(enc <= n);
	FUZZ_ASSERT(enc == (h->version < 3 ? 72U :
			    h->header_length > 104 ? 105U : 104U));
	FUZZ_ASSERT(!memcmp(buf, orig, n));
	memset(buf, 0, n);
	FUZZ_ASSERT(qcow2_header_encode(h, buf) == enc);
	FUZZ_ASSERT(!qcow2_header_parse(buf, n, img->file_size, &h2, NULL));
	FUZZ_ASSERT(!memcmp(&h2, h, sizeof(h2)));
	free(buf);
	free(orig);

	/* Extensions: one byte short asks for more; then parse. */
	p->area_len = qcow2_header_area_size(h, img->file_size);
	p->area = fuzz_image_read(img, 0, p->area_len);
	FUZZ_ASSERT(p->area);
	if (p->area_len)
		FUZZ_ASSERT(qcow2_extensions_parse(p->area, p->area_len - 1,
						   img->file_size, h, &p->e,
						   NULL) == -ENODATA);
	p->ext_ret = qcow2_extensions_parse(p->area, p->area_len,
					    img->file_size, h, &p->e, &reason);
	check_open_check(h, NULL);
	if (p->ext_ret) {
		FUZZ_ASSERT(reason);
		return 0;
	}
	extensions_check(p, img->file_size);
	feature_names_check(p);
	check_open_check(h, &p->e);
	extensions_rebuild_check(p);
	bitmaps_ext_check(p);
	fixed_ranges_check(h, &p->e);
	return 0;
}

/* == Snapshot table == */

int fuzz_snapshot_table(const struct qcow2_header *h, u64 file_size,
			const u8 *tab, size_t avail,
			struct qcow2_snapshot **out, u64 *table_len)
{
	struct qcow2_snapshot *sns, *sns2;
	const char *reason;
	u64 want, tl = 0, tl2, off;
	u32 i, rounds = 0, nb = h->nb_snapshots;
	u8 *buf;
	int ret;

	*out = NULL;
	*table_len = 0;
	if (!nb) {
		u8 dummy = 0;

		FUZZ_ASSERT(!qcow2_snapshot_table_parse(h, file_size, &dummy, 0,
							NULL, &tl, NULL));
		FUZZ_ASSERT(!tl);
		return 0;
	}
	sns = calloc(nb, sizeof(*sns));
	FUZZ_ASSERT(sns);
	/*
	 * First what the input holds (at least 40 bytes an entry), then what
	 * -ENODATA asks for: exactly for a few rounds, then at least half as
	 * much again (a reader that grew by one entry a round would read
	 * O(n^2) bytes).
	 */
	want = (u64)nb * QCOW2_SNAPSHOT_HDR_LEN;
	if (want < avail)
		want = avail < FUZZ_MAX_READ ? avail : FUZZ_MAX_READ;
	for (;;) {
		if (want > FUZZ_MAX_READ) {
			free(sns);
			return 1;
		}
		buf = fuzz_dup(tab, avail, (size_t)want);
		reason = NULL;
		ret = qcow2_snapshot_table_parse(h, file_size, buf, (size_t)want,
						 sns, &tl, &reason);
		free(buf);
		if (ret)
			FUZZ_ASSERT(reason);
		if (ret != -ENODATA)
			break;
		/* strictly more, within QEMU's limit, at most two reads an entry */
		FUZZ_ASSERT(tl > want);
		FUZZ_ASSERT(tl <= QCOW2_MAX_SNAPSHOT_TABLE_BYTES);
		FUZZ_ASSERT(++rounds <= 2 * nb + 1);
		if (rounds > 4 && tl < want + want / 2)
			want += want / 2;
		else
			want = tl;
	}
	if (ret) {
		free(sns);
		return ret;
	}

	FUZZ_ASSERT(tl <= want && tl <= QCOW2_MAX_SNAPSHOT_TABLE_BYTES);
	FUZZ_ASSERT(h->snapshots_offset + tl <= file_size);
	off = 0;
	for (i = 0; i < nb; i++) {
		const struct qcow2_snapshot *sn = &sns[i];
		u32 extra = sn->extra_data_size;
		u64 l1_bytes = (u64)sn->l1_size * 8;

		FUZZ_ASSERT(sn->entry_offset == off);
		FUZZ_ASSERT(extra <= QCOW2_MAX_SNAPSHOT_EXTRA);
		FUZZ_ASSERT(h->version < 3 || extra >= QCOW2_SNAPSHOT_EXTRA_V3_MIN);
		FUZZ_ASSERT(sn->id_offset == off + QCOW2_SNAPSHOT_HDR_LEN + extra);
		FUZZ_ASSERT(sn->name_offset == sn->id_offset + sn->id_len);
		FUZZ_ASSERT(sn->entry_len ==
			    ALIGN(sn->name_offset + sn->name_len - off, 8));
		FUZZ_ASSERT((u64)sn->name_offset + sn->name_len <= tl);
		FUZZ_ASSERT(sn->has_disk_size == (extra >= 16));
		FUZZ_ASSERT(sn->has_icount == (extra >= 24));
		FUZZ_ASSERT(l1_bytes <= QCOW2_MAX_L1_BYTES);
		FUZZ_ASSERT(!(sn->l1_table_offset & (h->cluster_size - 1)));
		if (l1_bytes) {
			FUZZ_ASSERT(sn->l1_table_offset >= h->cluster_size);
			FUZZ_ASSERT(sn->l1_table_offset <= file_size &&
				    l1_bytes <= file_size - sn->l1_table_offset);
		}
		if (i + 1 == nb)
			FUZZ_ASSERT((u64)sn->name_offset + sn->name_len == tl);
		off += sn->entry_len;
	}

	/* Exactly the table's bytes suffice (no padding after the last
	 * entry), one fewer does not, and the result is the same. */
	sns2 = calloc(nb, sizeof(*sns2));
	FUZZ_ASSERT(sns2);
	buf = fuzz_dup(tab, avail, (size_t)tl);
	FUZZ_ASSERT(!qcow2_snapshot_table_parse(h, file_size, buf, (size_t)tl,
						sns2, &tl2, NULL));
	FUZZ_ASSERT(tl2 == tl);
	FUZZ_ASSERT(!memcmp(sns2, sns, nb * sizeof(*sns)));
	FUZZ_ASSERT(qcow2_snapshot_table_parse(h, file_size, buf, (size_t)tl - 1,
					       sns2, &tl2, NULL) == -ENODATA);
	FUZZ_ASSERT(tl2 == tl);
	free(buf);
	free(sns2);

	*out = sns;
	*table_len = tl;
	return 0;
}

/* == Bitmap directory == */

int fuzz_bitmap_dir(const struct qcow2_header *h,
		    const struct qcow2_extensions *e, u64 file_size,
		    const u8 *dir, size_t avail, struct qcow2_bitmap **out)
{
	struct qcow2_bitmap *bms;
	const char *reason = NULL;
	u64 size = e->bitmap_directory_size, off = 0;
	u32 i;
	u8 *buf;
	int ret;

	*out = NULL;
	if (!(e->present & QCOW2_EXTF_BITMAPS) || e->bitmaps_stale) {
		u8 dummy = 0;

		FUZZ_ASSERT(qcow2_bitmap_dir_parse(h, e, file_size, &dummy, 0,
						   NULL, &reason) == -EINVAL);
		FUZZ_ASSERT(reason);
		return 1;
	}
	if (size > FUZZ_MAX_READ)
		return 1;
	buf = fuzz_dup(dir, avail, (size_t)size);
	bms = calloc(e->nb_bitmaps, sizeof(*bms));
	FUZZ_ASSERT(buf && bms);
	if (size)
		FUZZ_ASSERT(qcow2_bitmap_dir_parse(h, e, file_size, buf,
						   (size_t)size - 1, bms,
						   NULL) == -ENODATA);
	ret = qcow2_bitmap_dir_parse(h, e, file_size, buf, (size_t)size, bms,
				     &reason);
	free(buf);
	if (ret) {
		FUZZ_ASSERT(reason);
		free(bms);
		return ret;
	}
	for (i = 0; i < e->nb_bitmaps; i++) {
		const struct qcow2_bitmap *b = &bms[i];
		u64 used = QCOW2_BITMAP_ENTRY_HDR_LEN + (u64)b->extra_data_size +
			   b->name_len;

		FUZZ_ASSERT(b->entry_offset == off);
		FUZZ_ASSERT(b->entry_len == ALIGN(used, 8));
		FUZZ_ASSERT(b->name_offset ==
			    off + QCOW2_BITMAP_ENTRY_HDR_LEN + b->extra_data_size);
		FUZZ_ASSERT((u64)b->name_offset + b->name_len <= size);
		FUZZ_ASSERT(!b->extra_data_size);
		FUZZ_ASSERT(!(b->flags & ~QCOW2_BITMAP_FLAGS_KNOWN));
		FUZZ_ASSERT(b->type == QCOW2_BITMAP_TYPE_DIRTY);
		FUZZ_ASSERT(b->granularity_bits >= QCOW2_BITMAP_MIN_GRANULARITY &&
			    b->granularity_bits <= QCOW2_BITMAP_MAX_GRANULARITY);
		FUZZ_ASSERT(b->name_len >= 1 && b->name_len <= QCOW2_MAX_BITMAP_NAME);
		FUZZ_ASSERT(b->table_size >= 1 &&
			    b->table_size <= QCOW2_MAX_BITMAP_TABLE);
		FUZZ_ASSERT(b->table_offset &&
			    !(b->table_offset & (h->cluster_size - 1)));
		FUZZ_ASSERT(b->table_offset <= file_size &&
			    (u64)b->table_size * 8 <= file_size - b->table_offset);
		off += b->entry_len;
	}
	FUZZ_ASSERT(off == size);
	*out = bms;
	return 0;
}

/* == Overlap check == */

typedef unsigned __int128 u128;

/* [o, o + l) meets the cluster-rounded query [qs, qe), exactly. */
static bool ref_meets(u64 o, u64 l, u128 qs, u128 qe)
{
	return l && o < qe && qs < (u128)o + l;
}

static bool ref_clusters(const u64 *a, u32 n, u64 cs, u128 qs, u128 qe)
{
	u32 i;

	for (i = 0; i < n; i++)
		if (ref_meets(a[i], cs, qs, qe))
			return true;
	return false;
}

void fuzz_meta_ranges_negative(const struct qcow2_meta_ranges *m)
{
	struct qcow2_meta_ranges b = *m;
	struct qcow2_range r[2];
	const char *reason = NULL;
	u64 a[2];

	FUZZ_ASSERT(!qcow2_meta_ranges_check(m, &reason));
	b.cluster_bits = m->cluster_bits + 13;
	FUZZ_ASSERT(qcow2_meta_ranges_check(&b, &reason) == -EINVAL && reason);
	b.cluster_bits = QCOW2_MIN_CLUSTER_BITS - 1;
	FUZZ_ASSERT(qcow2_meta_ranges_check(&b, &reason) == -EINVAL && reason);

	/* each array: misaligned, equal, descending */
	a[0] = 1ULL << m->cluster_bits;
	a[1] = a[0] + 1;
	b = *m;
	b.active_l2 = a;
	b.nb_active_l2 = 2;
	FUZZ_ASSERT(qcow2_meta_ranges_check(&b, NULL) == -EINVAL);
	a[1] = a[0];
	b = *m;
	b.refcount_blocks = a;
	b.nb_refcount_blocks = 2;
	FUZZ_ASSERT(qcow2_meta_ranges_check(&b, NULL) == -EINVAL);
	a[1] = 0;
	b = *m;
	b.inactive_l2 = a;
	b.nb_inactive_l2 = 2;
	FUZZ_ASSERT(qcow2_meta_ranges_check(&b, NULL) == -EINVAL);

	/* inactive L1 ranges: empty, wrapping, overlapping */
	b = *m;
	b.inactive_l1 = r;
	b.nb_inactive_l1 = 1;
	r[0].offset = 1ULL << m->cluster_bits;
	r[0].len = 0;
	FUZZ_ASSERT(qcow2_meta_ranges_check(&b, NULL) == -EINVAL);
	r[0].len = U64_MAX;
	FUZZ_ASSERT(qcow2_meta_ranges_check(&b, NULL) == -EINVAL);
	r[0].len = 16;
	r[1].offset = r[0].offset + 8;
	r[1].len = 8;
	b.nb_inactive_l1 = 2;
	FUZZ_ASSERT(qcow2_meta_ranges_check(&b, NULL) == -EINVAL);
	r[1].offset = r[0].offset + 16;
	FUZZ_ASSERT(!qcow2_meta_ranges_check(&b, NULL));
}

void fuzz_overlap_query(const struct qcow2_meta_ranges *m, u64 offset,
			u64 len, unsigned int ignore)
{
	u64 cs = 1ULL << m->cluster_bits;
	u128 qs = offset & ~(cs - 1);
	u128 qe = ((u128)offset + len + cs - 1) & ~(u128)(cs - 1);
	unsigned int hits = 0, want, got;
	u32 i;

	if (ref_meets(m->header.offset, m->header.len, qs, qe))
		hits |= QCOW2_OL_HEADER;
	if (ref_meets(m->active_l1.offset, m->active_l1.len, qs, qe))
		hits |= QCOW2_OL_ACTIVE_L1;
	if (ref_clusters(m->active_l2, m->nb_active_l2, cs, qs, qe))
		hits |= QCOW2_OL_ACTIVE_L2;
	if (ref_meets(m->refcount_table.offset, m->refcount_table.len, qs, qe))
		hits |= QCOW2_OL_REFCOUNT_TABLE;
	if (ref_clusters(m->refcount_blocks, m->nb_refcount_blocks, cs, qs, qe))
		hits |= QCOW2_OL_REFCOUNT_BLOCK;
	if (ref_meets(m->snapshot_table.offset, m->snapshot_table.len, qs, qe))
		hits |= QCOW2_OL_SNAPSHOT_TABLE;
	for (i = 0; i < m->nb_inactive_l1; i++)
		if (ref_meets(m->inactive_l1[i].offset, m->inactive_l1[i].len,
			      qs, qe))
			hits |= QCOW2_OL_INACTIVE_L1;
	if (ref_clusters(m->inactive_l2, m->nb_inactive_l2, cs, qs, qe))
		hits |= QCOW2_OL_INACTIVE_L2;
	if (ref_meets(m->bitmap_directory.offset, m->bitmap_directory.len,
		      qs, qe))
		hits |= QCOW2_OL_BITMAP_DIRECTORY;

	hits &= ~ignore;
	want = len ? hits & -hits : 0;	/* the lowest kind hit */
	got = qcow2_overlap_check(m, offset, len, ignore);
	if (got != want) {
		fprintf(stderr,
			"overlap_check(offset 0x%llx, len 0x%llx, ignore 0x%x): got 0x%x, want 0x%x\n",
			(unsigned long long)offset, (unsigned long long)len,
			ignore, got, want);
		FUZZ_ASSERT(got == want);
	}
}

int fuzz_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

int fuzz_cmp_range(const void *a, const void *b)
{
	return fuzz_cmp_u64(&((const struct qcow2_range *)a)->offset,
		       &((const struct qcow2_range *)b)->offset);
}

u32 fuzz_sort_unique(u64 *a, u32 n)
{
	u32 i, k = 0;

	qsort(a, n, sizeof(*a), fuzz_cmp_u64);
	for (i = 0; i < n; i++)
		if (!k || a[i] != a[k - 1])
			a[k++] = a[i];
	return k;
}
