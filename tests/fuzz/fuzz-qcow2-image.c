// SPDX-License-Identifier: GPL-2.0
/*
 * fuzz-qcow2-image - everything an open walks, over a whole image.
 *
 * Input: the image from offset 0, optionally followed by the file size
 * trailer (fuzz.h); bytes past the input read as zeroes. After the header
 * and extensions (as fuzz-qcow2-header), walks what the target reads when
 * it opens and maps an image: the active L1 table
 * (qcow2_l1_table_check()), the refcount table entries, the L2 tables
 * that lie in the input (every entry decoded, re-encoded, subclusters,
 * compressed ranges), refcount blocks (every refcount_order the header can
 * name), the snapshot table and each snapshot's L1 table, the bitmap
 * directory and bitmap tables, and finally qcow2_meta_ranges_check() and
 * qcow2_overlap_check() over all of it against a plain reference.
 */
#include <string.h>

#include "fuzz.h"

#define MAX_TABLES	32	/* L2 tables, refcount blocks, snapshots, bitmaps */
#define MAX_ARRAY	1024	/* offsets kept per metadata kind */
#define MAX_ENTRIES	8192	/* table entries decoded per kind */

/* How many of @nb entries of @entry_len bytes at @off the input holds. */
static u64 in_input(const struct fuzz_image *img, u64 off, u64 nb,
		    u32 entry_len)
{
	u64 avail;

	if (off >= img->len)
		return 0;
	avail = (img->len - off) / entry_len;
	return nb < avail ? nb : avail;
}

static const u8 *at(const struct fuzz_image *img, u64 off, size_t *avail)
{
	if (off >= img->len) {
		*avail = 0;
		return img->data;
	}
	*avail = img->len - (size_t)off;
	return img->data + off;
}

struct walk {
	const struct fuzz_image *img;
	const struct qcow2_header *h;
	u64 active_l2[MAX_ARRAY], refblocks[MAX_ARRAY], inactive_l2[MAX_ARRAY];
	u32 nb_active_l2, nb_refblocks, nb_inactive_l2;
	struct qcow2_range inactive_l1[MAX_TABLES];
	u32 nb_inactive_l1;
	u64 sn_table_len;
	struct qcow2_snapshot *sns;
	struct qcow2_bitmap *bms;
};

static void walk_l1(struct walk *w)
{
	const struct qcow2_header *h = w->h;
	u64 nb = in_input(w->img, h->l1_table_offset, h->l1_size, 8);
	u8 *buf = fuzz_image_read(w->img, h->l1_table_offset, nb * 8);

	FUZZ_ASSERT(buf);
	fuzz_l1_table(&h->g, buf, (u32)nb, w->img->file_size, w->active_l2,
		      &w->nb_active_l2, MAX_ARRAY);
	free(buf);
}

static void walk_reftable(struct walk *w)
{
	const struct qcow2_header *h = w->h;
	u64 nb = in_input(w->img, h->refcount_table_offset,
			  h->refcount_table_entries, 8), i;

	for (i = 0; i < nb && i < MAX_ENTRIES; i++) {
		const u8 *p = w->img->data + h->refcount_table_offset + 8 * i;
		u64 entry = get_unaligned_be64(p), off = U64_MAX;
		const char *reason = NULL;
		bool bad = (entry & QCOW2_REFT_RESERVED) ||
			   (entry & (h->cluster_size - 1)) ||
			   (entry & BIT_ULL(63));
		int ret;

		ret = qcow2_reftable_entry_decode(&h->g, entry, &off, &reason);
		FUZZ_ASSERT(!ret == !bad);
		if (ret) {
			FUZZ_ASSERT(ret == -EUCLEAN && reason);
			break;
		}
		FUZZ_ASSERT(off == entry);
		if (off && w->nb_refblocks < MAX_ARRAY)
			w->refblocks[w->nb_refblocks++] = off;
	}
}

static void walk_l2_tables(struct walk *w)
{
	const struct qcow2_geometry *g = &w->h->g;
	u64 prev = 0, prev_bitmap = 0;
	u32 t, j, done = 0;

	for (t = 0; t < w->nb_active_l2 && t < MAX_TABLES; t++) {
		u64 off = w->active_l2[t];
		u32 n = (u32)in_input(w->img, off, 1ULL << g->l2_bits,
				      g->l2_entry_size);
		u8 *buf = fuzz_image_read(w->img, off,
					  (size_t)n * g->l2_entry_size);

		FUZZ_ASSERT(buf);
		for (j = 0; j < n && done < MAX_ENTRIES; j++) {
			u64 entry, bitmap;

			qcow2_l2_entry_get(g, buf, j, &entry, &bitmap);
			/* runs of equal entries (zeroes mostly): decode one */
			if (j && entry == prev && bitmap == prev_bitmap)
				continue;
			prev = entry;
			prev_bitmap = bitmap;
			done++;
			fuzz_l2_entry(g, entry, bitmap, w->img->file_size,
				      j * 0x9e3779b9U ^ (u32)(entry >> 9));
		}
		free(buf);
	}
}

static void walk_refblocks(struct walk *w)
{
	const struct qcow2_header *h = w->h;
	u32 order = h->refcount_order, t, j, done = 0;
	u64 max = qcow2_refcount_max(order);

	for (t = 0; t < w->nb_refblocks && t < MAX_TABLES; t++) {
		u64 off = w->refblocks[t];
		size_t bytes = (size_t)in_input(w->img, off, h->cluster_size, 1);
		u32 n = (u32)((bytes * 8) >> order);
		u8 *buf = fuzz_image_read(w->img, off, bytes);

		FUZZ_ASSERT(buf);
		for (j = 0; j < n && done < MAX_ENTRIES; j++, done++)
			FUZZ_ASSERT(qcow2_refblock_get(buf, order, j) <= max);
		free(buf);
	}
}

static void walk_snapshots(struct walk *w)
{
	const struct qcow2_header *h = w->h;
	const u8 *tab;
	size_t avail;
	u32 i;

	tab = at(w->img, h->snapshots_offset, &avail);
	if (fuzz_snapshot_table(h, w->img->file_size, tab, avail, &w->sns,
				&w->sn_table_len) || !w->sns)
		return;
	for (i = 0; i < h->nb_snapshots && i < MAX_TABLES; i++) {
		const struct qcow2_snapshot *sn = &w->sns[i];
		u64 nb = in_input(w->img, sn->l1_table_offset, sn->l1_size, 8);
		u8 *buf = fuzz_image_read(w->img, sn->l1_table_offset, nb * 8);

		FUZZ_ASSERT(buf);
		fuzz_l1_table(&h->g, buf, (u32)nb, w->img->file_size,
			      w->inactive_l2, &w->nb_inactive_l2, MAX_ARRAY);
		free(buf);
		if (sn->l1_size) {
			w->inactive_l1[w->nb_inactive_l1].offset = sn->l1_table_offset;
			w->inactive_l1[w->nb_inactive_l1].len = (u64)sn->l1_size * 8;
			w->nb_inactive_l1++;
		}
	}
}

static void walk_bitmaps(struct walk *w, const struct qcow2_extensions *e)
{
	const struct qcow2_header *h = w->h;
	const u8 *dir;
	size_t avail;
	u32 i, done = 0;

	dir = at(w->img, e->bitmap_directory_offset, &avail);
	if (fuzz_bitmap_dir(h, e, w->img->file_size, dir, avail, &w->bms))
		return;
	for (i = 0; i < e->nb_bitmaps && i < MAX_TABLES; i++) {
		const struct qcow2_bitmap *b = &w->bms[i];
		u64 nb = in_input(w->img, b->table_offset, b->table_size, 8), j;

		for (j = 0; j < nb && done < MAX_ENTRIES; j++, done++) {
			const u8 *p = w->img->data + b->table_offset + 8 * j;
			u64 entry = get_unaligned_be64(p);
			u64 off = entry & QCOW2_BMT_OFFSET_MASK, got = U64_MAX;
			enum qcow2_bmt_kind kind = QCOW2_BMT_DATA;
			const char *reason = NULL;
			bool bad = (entry & QCOW2_BMT_RESERVED) ||
				   (off & (h->cluster_size - 1)) ||
				   (off && (entry & QCOW2_BMT_ALL_ONES));
			int ret;

			ret = qcow2_bitmap_table_entry_decode(&h->g, entry, &got,
							      &kind, &reason);
			FUZZ_ASSERT(!ret == !bad);
			if (ret) {
				FUZZ_ASSERT(ret == -EUCLEAN && reason);
				break;
			}
			FUZZ_ASSERT(got == off);
			FUZZ_ASSERT(kind == (off ? QCOW2_BMT_DATA :
					     entry ? QCOW2_BMT_ONES :
					     QCOW2_BMT_ZEROES));
		}
	}
}

static void walk_ranges(struct walk *w, const struct qcow2_extensions *e)
{
	const struct qcow2_header *h = w->h;
	struct qcow2_meta_ranges m;
	const char *reason = NULL;
	u64 cs = h->cluster_size, q[64], lens[3];
	bool overlap = false;
	u32 i, j, nq = 0;
	int ret;

	qcow2_meta_ranges_init(&m, h, e, w->sn_table_len);
	m.active_l2 = w->active_l2;
	m.nb_active_l2 = fuzz_sort_unique(w->active_l2, w->nb_active_l2);
	m.refcount_blocks = w->refblocks;
	m.nb_refcount_blocks = fuzz_sort_unique(w->refblocks, w->nb_refblocks);
	m.inactive_l2 = w->inactive_l2;
	m.nb_inactive_l2 = fuzz_sort_unique(w->inactive_l2, w->nb_inactive_l2);
	qsort(w->inactive_l1, w->nb_inactive_l1, sizeof(w->inactive_l1[0]),
	      fuzz_cmp_range);
	m.inactive_l1 = w->inactive_l1;
	m.nb_inactive_l1 = w->nb_inactive_l1;
	for (i = 1; i < w->nb_inactive_l1; i++)
		if (w->inactive_l1[i].offset <
		    w->inactive_l1[i - 1].offset + w->inactive_l1[i - 1].len)
			overlap = true;
	ret = qcow2_meta_ranges_check(&m, &reason);
	FUZZ_ASSERT(ret == (overlap ? -EINVAL : 0));
	if (ret) {
		FUZZ_ASSERT(reason);
		return;
	}

	q[nq++] = 0;
	q[nq++] = h->l1_table_offset;
	q[nq++] = h->refcount_table_offset;
	q[nq++] = h->snapshots_offset;
	q[nq++] = e->bitmap_directory_offset;
	q[nq++] = w->img->file_size;
	q[nq++] = U64_MAX - cs;
	/* each kind's first and last clusters: their first and last bytes,
	 * and the byte before */
	for (i = 0; i < 2; i++) {
		const u64 *arr[3] = { m.active_l2, m.refcount_blocks, m.inactive_l2 };
		u32 nb[3] = { m.nb_active_l2, m.nb_refcount_blocks, m.nb_inactive_l2 };

		for (j = 0; j < 3; j++) {
			u64 c;

			if (!nb[j])
				continue;
			c = arr[j][i ? nb[j] - 1 : 0];
			q[nq++] = c;
			q[nq++] = c - 1;
			q[nq++] = c + cs - 1;
		}
	}
	for (i = 0; i < 4 && i < m.nb_inactive_l1; i++)
		q[nq++] = m.inactive_l1[i].offset + m.inactive_l1[i].len;
	/* and a few offsets named by the input's last bytes */
	for (i = 0; i < 8 && w->img->len >= 8 * (i + 1); i++)
		q[nq++] = get_unaligned_be64(w->img->data + w->img->len -
					     8 * (i + 1));
	lens[0] = 1;
	lens[1] = cs;
	lens[2] = 3 * cs + 1;
	for (i = 0; i < nq; i++) {
		for (j = 0; j < 3; j++) {
			unsigned int got = qcow2_overlap_check(&m, q[i], lens[j], 0);

			fuzz_overlap_query(&m, q[i], lens[j], 0);
			if (got)
				fuzz_overlap_query(&m, q[i], lens[j], got);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_image img;
	struct fuzz_parsed p;
	struct walk *w;

	fuzz_image_init(&img, data, size);
	if (fuzz_parse_header(&img, &p))
		return 0;
	if (p.ext_ret)
		goto out;
	w = calloc(1, sizeof(*w));
	FUZZ_ASSERT(w);
	w->img = &img;
	w->h = &p.h;
	walk_l1(w);
	walk_reftable(w);
	walk_l2_tables(w);
	walk_refblocks(w);
	walk_snapshots(w);
	walk_bitmaps(w, &p.e);
	walk_ranges(w, &p.e);
	free(w->sns);
	free(w->bms);
	free(w);
out:
	free(p.area);
	return 0;
}
