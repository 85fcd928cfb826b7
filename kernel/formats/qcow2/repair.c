// SPDX-License-Identifier: GPL-2.0
/*
 * Rebuilding the refcounts of a dirty image (the dirty bit says refcount
 * updates were deferred by lazy refcounts and may be missing), before the
 * first write, as the specification requires.
 *
 * Every reference is counted the way qemu-img check counts it: the header
 * cluster, the L1 tables (active and of each snapshot), every L2 table once
 * per L1 that points to it, every data cluster once per L2 entry, the
 * refcount table and blocks, the snapshot table, the bitmap directory,
 * each bitmap's table and data clusters. The refcount blocks are then
 * rewritten from the counts; blocks that are missing go to the end of the
 * file. Only then is the dirty bit cleared.
 *
 * Bitmap clusters are counted although the first write clears the
 * bitmaps' autoclear bit (QEMU then ignores them and sees their clusters
 * as leaks): until that header update is on disk, QEMU trusts them, and a
 * zero refcount under a referenced cluster is corruption.
 *
 * Images whose refcount table would have to grow are left to qemu-img
 * check -r all.
 */
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "qcow2.h"

/* Files with more clusters than this are repaired by qemu-img instead. */
#define Q2_REPAIR_MAX_CLUSTERS	(64U << 20)

struct q2_counts {
	u32 *v;
	u64 nr;
	u64 max;
};

static int q2_count(struct q2 *q, struct q2_counts *c, u64 offset, u64 len)
{
	u64 first = offset >> q->g->cluster_bits;
	u64 last = (offset + max(len, 1ULL) - 1) >> q->g->cluster_bits;
	u64 i;

	if (last >= c->nr) {
		q2_err(q, "repair: a reference points past the end of the image");
		return -EUCLEAN;
	}
	for (i = first; i <= last; i++)
		c->v[i]++;
	return 0;
}

static int q2_count_l2(struct q2 *q, struct q2_counts *c, void *buf, u64 l2)
{
	u32 i, cs = q2_cluster_size(q);
	ssize_t n;
	int ret;

	ret = q2_count(q, c, l2, cs);
	if (ret)
		return ret;
	n = vs_backend_rw_kbuf(&q->be, ITER_DEST, buf, cs, l2);
	if (n < 0)
		return n;
	for (i = 0; i < (1U << q->g->l2_bits); i++) {
		struct qcow2_l2_info info;
		const char *reason = NULL;
		u64 entry, bitmap, start;
		u32 len;

		qcow2_l2_entry_get(q->g, buf, i, &entry, &bitmap);
		if (qcow2_l2_entry_decode(q->g, entry, bitmap, &info, &reason)) {
			q2_err(q, "repair: %s", reason);
			return -EUCLEAN;
		}
		switch (info.type) {
		case QCOW2_CLUSTER_NORMAL:
		case QCOW2_CLUSTER_ZERO_ALLOC:
			ret = q2_count(q, c, info.host_offset, cs);
			break;
		case QCOW2_CLUSTER_COMPRESSED:
			ret = qcow2_compressed_range(q->g, info.host_offset,
						     info.csectors,
						     c->nr << q->g->cluster_bits,
						     &start, &len, &reason);
			if (!ret)
				ret = q2_count(q, c, start, len);
			break;
		default:
			if (info.host_offset)	/* extended: unallocated, kept */
				ret = q2_count(q, c, info.host_offset, cs);
			break;
		}
		if (ret)
			return ret;
	}
	return 0;
}

/* Count one L1 table (given in memory, big-endian) and all it references. */
static int q2_count_l1(struct q2 *q, struct q2_counts *c, void *buf,
		       const __be64 *l1, u32 size)
{
	u32 i;
	int ret;

	for (i = 0; i < size; i++) {
		const char *reason = NULL;
		bool copied;
		u64 l2;

		if (qcow2_l1_entry_decode(q->g, be64_to_cpu(l1[i]), &l2, &copied,
					  &reason)) {
			q2_err(q, "repair: %s", reason);
			return -EUCLEAN;
		}
		if (!l2)
			continue;
		ret = q2_count_l2(q, c, buf, l2);
		if (ret)
			return ret;
	}
	return 0;
}

/* Read [offset, offset + len) into a new buffer (kvfree it). */
static void *q2_read_range(struct q2 *q, u64 offset, size_t len)
{
	size_t bytes = round_up(max_t(size_t, len, 1), q->be.logical_block_size);
	void *buf = kvmalloc(bytes, GFP_KERNEL);
	ssize_t n;

	if (!buf)
		return ERR_PTR(-ENOMEM);
	n = vs_backend_rw_kbuf(&q->be, ITER_DEST, buf, bytes, offset);
	if (n < 0) {
		kvfree(buf);
		return ERR_PTR(n);
	}
	return buf;
}

static int q2_count_snapshots(struct q2 *q, struct q2_counts *c, void *buf)
{
	u32 i;
	int ret;

	if (q->h.nb_snapshots) {
		ret = q2_count(q, c, q->h.snapshots_offset,
			       q->snapshot_table_len);
		if (ret)
			return ret;
	}
	for (i = 0; i < q->nr_snap_l1; i++) {
		__be64 *l1;

		ret = q2_count(q, c, q->snap_l1[i].offset, q->snap_l1[i].len);
		if (ret)
			return ret;
		if (!q->snap_l1[i].len)
			continue;
		l1 = q2_read_range(q, q->snap_l1[i].offset, q->snap_l1[i].len);
		if (IS_ERR(l1))
			return PTR_ERR(l1);
		ret = q2_count_l1(q, c, buf, l1,
				  q->snap_l1[i].len / sizeof(u64));
		kvfree(l1);
		if (ret)
			return ret;
	}
	return 0;
}

/* A bitmap's table and data clusters; the table is read a cluster at a time. */
static int q2_count_bitmap_table(struct q2 *q, struct q2_counts *c, void *buf,
				 const struct qcow2_bitmap *bm)
{
	u32 cs = q2_cluster_size(q), per = cs / sizeof(u64);
	u64 bytes = (u64)bm->table_size * sizeof(u64);
	const __be64 *table = buf;
	u32 i;
	int ret;

	ret = q2_count(q, c, bm->table_offset, bytes);
	for (i = 0; i < bm->table_size && !ret; i++) {
		enum qcow2_bmt_kind kind;
		const char *reason = NULL;
		u64 off;

		if (i % per == 0) {
			ssize_t n = vs_backend_rw_kbuf(&q->be, ITER_DEST, buf, cs,
						       bm->table_offset +
						       (u64)i * sizeof(u64));
			if (n < 0)
				return n;
		}
		if (qcow2_bitmap_table_entry_decode(q->g, be64_to_cpu(table[i % per]),
						    &off, &kind, &reason)) {
			q2_err(q, "repair: bitmap table: %s", reason);
			ret = -EUCLEAN;
		} else if (kind == QCOW2_BMT_DATA) {
			ret = q2_count(q, c, off, cs);
		}
	}
	return ret;
}

static int q2_count_bitmaps(struct q2 *q, struct q2_counts *c, void *buf)
{
	u64 len = q->ext.bitmap_directory_size;
	struct qcow2_bitmap *bms;
	const char *reason = NULL;
	void *dir;
	u32 i;
	int ret;

	/* stale bitmaps (autoclear bit clear): QEMU ignores them too */
	if (!q->ext.nb_bitmaps || q->ext.bitmaps_stale)
		return 0;
	ret = q2_count(q, c, q->ext.bitmap_directory_offset, len);
	if (ret)
		return ret;
	bms = kvcalloc(q->ext.nb_bitmaps, sizeof(*bms), GFP_KERNEL);
	if (!bms)
		return -ENOMEM;
	dir = q2_read_range(q, q->ext.bitmap_directory_offset, len);
	if (IS_ERR(dir)) {
		ret = PTR_ERR(dir);
		goto out;
	}
	ret = qcow2_bitmap_dir_parse(&q->h, &q->ext,
				     vs_backend_current_size(&q->be), dir, len,
				     bms, &reason);
	kvfree(dir);
	if (ret) {
		q2_err(q, "repair: bitmap directory: %s", reason);
		goto out;
	}
	for (i = 0; i < q->ext.nb_bitmaps && !ret; i++)
		ret = q2_count_bitmap_table(q, c, buf, &bms[i]);
out:
	kvfree(bms);
	return ret;
}

/* Rewrite every refcount block from the counts; add missing ones. */
static int q2_write_refcounts(struct q2 *q, struct q2_counts *c, void *buf)
{
	u32 cs = q2_cluster_size(q), bits = q->g->refblock_bits;
	u64 max = qcow2_refcount_max(q->g->refcount_order);
	u64 rt, i, blocks;
	bool added;
	int ret;

	/* new blocks take clusters at the end, which may need blocks too */
	do {
		added = false;
		blocks = DIV_ROUND_UP(c->nr, 1ULL << bits);
		if (blocks > q->reftable_entries) {
			q2_err(q, "repair: the refcount table would have to grow; use qemu-img check -r all");
			return -ENOSPC;
		}
		for (rt = 0; rt < blocks; rt++) {
			u64 first = rt << bits, last = min(c->nr, first + (1ULL << bits));
			bool used = false;

			if (q->reftable[rt])
				continue;
			for (i = first; i < last && !used; i++)
				used = c->v[i];
			if (!used)
				continue;
			if (c->nr == c->max) {
				q2_err(q, "repair: no room for new refcount blocks");
				return -ENOSPC;
			}
			q->reftable[rt] = cpu_to_be64(c->nr << q->g->cluster_bits);
			set_bit(rt * sizeof(u64) / q->be.logical_block_size,
				q->reftable_dirty);
			c->v[c->nr++] = 1;
			added = true;
		}
	} while (added);

	for (rt = 0; rt < q->reftable_entries; rt++) {
		u64 off = be64_to_cpu(q->reftable[rt]) & QCOW2_REFT_OFFSET_MASK;
		u64 first = rt << bits;
		ssize_t n;

		if (!off)
			continue;
		memset(buf, 0, cs);
		for (i = first; i < min(c->nr, first + (1ULL << bits)); i++) {
			if (c->v[i] > max) {
				q2_err(q, "repair: refcount overflow");
				return -EUCLEAN;
			}
			qcow2_refblock_set(buf, q->g->refcount_order,
					   (u32)(i - first), c->v[i]);
		}
		ret = q2_grow_file_to(q, off + cs);
		if (ret)
			return ret;
		n = vs_backend_rw_kbuf(&q->be, ITER_SOURCE, buf, cs, off);
		if (n < 0)
			return n;
	}
	return 0;
}

int q2_repair_refcounts(struct q2 *q)
{
	u64 file_clusters = DIV_ROUND_UP(vs_backend_current_size(&q->be),
					 q2_cluster_size(q));
	struct q2_counts c = { };
	void *buf;
	u64 i;
	int ret;

	if (file_clusters > Q2_REPAIR_MAX_CLUSTERS)
		return -EFBIG;
	/* room for new refcount blocks after the end of the file */
	c.nr = file_clusters;
	c.max = file_clusters + DIV_ROUND_UP(file_clusters,
					     1ULL << q->g->refblock_bits) + 8;
	c.v = kvcalloc(c.max, sizeof(u32), GFP_KERNEL);
	buf = kvmalloc(q2_cluster_size(q), GFP_KERNEL);
	if (!c.v || !buf) {
		ret = -ENOMEM;
		goto out;
	}

	ret = q2_count(q, &c, 0, q2_cluster_size(q));
	if (!ret)
		ret = q2_count(q, &c, q->h.l1_table_offset,
			       (u64)q->l1_size * sizeof(u64));
	if (!ret)
		ret = q2_count_l1(q, &c, buf, q->l1, q->l1_size);
	if (!ret)
		ret = q2_count(q, &c, q->h.refcount_table_offset,
			       q->reftable_entries * sizeof(u64));
	for (i = 0; !ret && i < q->reftable_entries; i++) {
		u64 off = be64_to_cpu(q->reftable[i]) & QCOW2_REFT_OFFSET_MASK;

		if (off)
			ret = q2_count(q, &c, off, q2_cluster_size(q));
	}
	if (!ret)
		ret = q2_count_snapshots(q, &c, buf);
	if (!ret)
		ret = q2_count_bitmaps(q, &c, buf);
	if (!ret)
		ret = q2_write_refcounts(q, &c, buf);
	if (!ret)
		ret = vs_backend_flush(&q->be);
	if (ret)
		goto out;

	/* the refcount table (new block entries) before the clean header */
	ret = q2_commit(q, false);
	if (ret)
		goto out;
	q->h.incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
	q->h.dirty = false;
	ret = q2_header_write_flush(q);
	if (!ret)
		pr_info("vstorage-qcow2 %s: refcounts of the dirty image rebuilt\n",
			q->node.name);
out:
	kvfree(c.v);
	kvfree(buf);
	return ret;
}
