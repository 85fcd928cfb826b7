// SPDX-License-Identifier: GPL-2.0
/*
 * bitmaps.c - persistent dirty bitmaps in the qcow2 bitmaps extension, as
 * QEMU keeps them (docs/interop/qcow2.txt, "Bitmaps extension"; QEMU's
 * block/qcow2-bitmap.c for the behaviour). The bitmaps themselves live in
 * the core module (kernel/bitmap.c), per node name; this file moves them
 * between the image and the core. Documentation/bitmaps.rst.
 *
 * Open read-write (the constructor, or preresume for a reload's new
 * instance): the directory and every table are validated as hostile input
 * (format.c checks each entry against the header; here: each cluster lies
 * in the file, overlaps no other metadata, no two bitmaps share one, and
 * each has refcount 1, so that freeing them later cannot free anything
 * else). The first instance of a name loads the bits; a bitmap flagged
 * in_use is inconsistent (an unclean shutdown), one without "auto" is
 * disabled.
 *
 * While the device runs, the image says every bitmap is in_use (written at
 * preresume), so a crash leaves them inconsistent, never stale. At
 * postsuspend (and so before node del) and at removal without a clean
 * suspend they are written back without in_use.
 *
 * Crash-safe order of a store: the new data clusters, tables and directory
 * are allocated from the refcounts and written; a commit makes them and
 * their refcounts durable; then the header area with the new extension is
 * written and flushed; only then are the old clusters freed. A crash at
 * any point leaves a clean image that may leak clusters.
 *
 * Everything here runs under meta_lock with no data I/O in flight.
 */
#include <linux/log2.h>
#include <linux/sort.h>

#include "qcow2.h"

/* Read [off, off + len) into a new zeroed buffer of whole logical blocks. */
static void *q2_bm_read(struct q2 *q, u64 off, size_t len)
{
	size_t bytes = round_up(max_t(size_t, len, 1), q->be.logical_block_size);
	void *buf = kvzalloc(bytes, GFP_KERNEL);
	ssize_t n;

	if (!buf)
		return ERR_PTR(-ENOMEM);
	n = vs_backend_rw_kbuf(&q->be, ITER_DEST, buf, bytes, off);
	if (n < 0) {
		kvfree(buf);
		return ERR_PTR(n);
	}
	return buf;
}

/* Write LEN bytes (a multiple of the logical block size) at OFF. */
static int q2_bm_write(struct q2 *q, u64 off, void *buf, size_t len)
{
	ssize_t n;
	int ret;

	ret = q2_check_overlap(q, off, len, 0);
	if (ret)
		return ret;
	n = vs_backend_rw_kbuf(&q->be, ITER_SOURCE, buf, len, off);
	return n < 0 ? n : 0;
}

/* The clusters the bitmaps on disk take: freed after the next store. */
struct q2_bm_clusters {
	u64 *v;
	u32 nr, max;
};

static int q2_bm_add(struct q2_bm_clusters *c, u64 off, u64 len, u32 bits)
{
	u64 end = off + len, o;

	for (o = off >> bits << bits; o < end; o += 1ULL << bits) {
		if (c->nr == c->max) {
			u32 max = max(c->max * 2, 64U);
			u64 *v = kvrealloc(c->v, c->max * sizeof(u64),
					   max * sizeof(u64), GFP_KERNEL);

			if (!v)
				return -ENOMEM;
			c->v = v;
			c->max = max;
		}
		c->v[c->nr++] = o;
	}
	return 0;
}

static int q2_u64_cmp(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * Every cluster once, inside the file, refcount 1, and not another kind
 * of metadata (the directory is allowed where the extension put it).
 */
static int q2_bm_check_clusters(struct q2 *q, struct q2_bm_clusters *c,
				u64 file_size, const char **reason)
{
	u64 cs = q2_cluster_size(q);
	u32 i;
	int ret;

	sort(c->v, c->nr, sizeof(u64), q2_u64_cmp, NULL);
	for (i = 0; i < c->nr; i++) {
		u64 rc;

		if (i && c->v[i] == c->v[i - 1]) {
			*reason = "bitmaps: a cluster is used twice by the bitmaps";
			return -EUCLEAN;
		}
		if (c->v[i] >= file_size) {
			*reason = "bitmaps: a bitmap cluster lies past the end of the file";
			return -EUCLEAN;
		}
		if (qcow2_overlap_check(&q->ranges, c->v[i], cs,
					QCOW2_OL_BITMAP_DIRECTORY)) {
			*reason = "bitmaps: a bitmap cluster overlaps other metadata";
			return -EUCLEAN;
		}
		ret = q2_refcount_get(q, c->v[i], &rc);
		if (ret) {
			*reason = "bitmaps: cannot read the refcount of a bitmap cluster";
			return ret;
		}
		if (rc != 1) {
			*reason = "bitmaps: a bitmap cluster's refcount is not 1";
			return -EUCLEAN;
		}
	}
	return 0;
}

/* Serialized bitmap bytes [pos, pos + len) into the core's bits (LE). */
static void q2_bm_unpack(unsigned long *bits, u64 nr, u64 pos, const u8 *src,
			 size_t len, bool ones)
{
	u64 total = DIV_ROUND_UP(nr, 8), i;

	if (pos >= total)
		return;
	len = min_t(u64, len, total - pos);
	for (i = 0; i < len; i++) {
		u8 b = ones ? 0xff : src[i];
		unsigned int k;

		if (!b)
			continue;
		for (k = 0; k < 8; k++)
			if (b & (1U << k) && (pos + i) * 8 + k < nr)
				__set_bit((pos + i) * 8 + k, bits);
	}
}

/* The core's bits [pos * 8, (pos + len) * 8) serialized; false if all 0. */
static bool q2_bm_pack(const unsigned long *bits, u64 nr, u64 pos, u8 *dst,
		       size_t len)
{
	u64 first = pos * 8, end = min_t(u64, (pos + len) * 8, nr), i;
	bool any = false;

	memset(dst, 0, len);
	if (first >= nr)
		return false;
	for (i = find_next_bit(bits, end, first); i < end;
	     i = find_next_bit(bits, end, i + 1)) {
		dst[(i - first) / 8] |= 1U << ((i - first) % 8);
		any = true;
	}
	return any;
}

/* Read bitmap B's table, check its entries, note its clusters, and load it. */
static int q2_bm_table(struct q2 *q, const struct qcow2_bitmap *b,
		       const char *name, struct q2_bm_clusters *c, bool load,
		       u64 file_size, const char **reason)
{
	u64 cs = q2_cluster_size(q), table_bytes = (u64)b->table_size * 8;
	unsigned long *bits = NULL;
	bool inconsistent = b->flags & QCOW2_BITMAP_IN_USE;
	u64 nr = qcow2_bitmap_bits(q->h.size, b->granularity_bits);
	__be64 *table;
	void *data = NULL;
	u32 i;
	int ret;

	ret = q2_bm_add(c, b->table_offset, table_bytes, q->g->cluster_bits);
	if (ret)
		return ret;
	table = q2_bm_read(q, b->table_offset, table_bytes);
	if (IS_ERR(table)) {
		*reason = "bitmaps: cannot read a bitmap table";
		return PTR_ERR(table);
	}
	if (load && !inconsistent) {
		bits = vs_bitmap_bits_alloc(nr);
		data = kvmalloc(cs, GFP_KERNEL);
		if (!bits || !data) {
			*reason = "bitmaps: a bitmap is too large to load";
			ret = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < b->table_size; i++) {
		enum qcow2_bmt_kind kind;
		u64 off;
		ssize_t n;

		ret = qcow2_bitmap_table_entry_decode(q->g, be64_to_cpu(table[i]),
						      &off, &kind, reason);
		if (ret)
			goto out;
		if (kind == QCOW2_BMT_DATA) {
			if (off >= file_size || cs > file_size - off) {
				*reason = "bitmaps: bitmap data lies past the end of the file";
				ret = -EUCLEAN;
				goto out;
			}
			ret = q2_bm_add(c, off, cs, q->g->cluster_bits);
			if (ret)
				goto out;
		}
		if (!bits || kind == QCOW2_BMT_ZEROES)
			continue;
		if (kind == QCOW2_BMT_DATA) {
			n = vs_backend_rw_kbuf(&q->be, ITER_DEST, data, cs, off);
			if (n < 0) {
				*reason = "bitmaps: cannot read bitmap data";
				ret = n;
				goto out;
			}
		}
		q2_bm_unpack(bits, nr, (u64)i * cs, data, cs,
			     kind == QCOW2_BMT_ONES);
		cond_resched();
	}
	if (load) {
		ret = vs_bitmap_load(&q->node, name, 1U << b->granularity_bits,
				     b->flags & QCOW2_BITMAP_AUTO, inconsistent,
				     bits, reason);
		bits = NULL;	/* taken over */
	}
out:
	vs_bitmap_bits_free(bits);
	kvfree(data);
	kvfree(table);
	return ret;
}

static void q2_bm_set_old(struct q2 *q, struct q2_bm_clusters *c)
{
	kvfree(q->bm_old);
	q->bm_old = c->v;
	q->nr_bm_old = c->nr;
	c->v = NULL;
	c->nr = 0;
	c->max = 0;
}

int q2_bitmaps_open(struct q2 *q, char **error)
{
	u64 file_size = vs_backend_current_size(&q->be);
	struct q2_bm_clusters c = { 0 };
	struct qcow2_bitmap *bms = NULL;
	const char *reason = NULL;
	bool load;
	void *dir = NULL;
	u32 i;
	int ret = 0;

	if (!q->be.writable || q->corrupt || q->h.version < 3 ||
	    !q->node.persistent_bitmaps)
		return 0;
	q->bm_keep = true;
	load = !vs_bitmaps_loaded(&q->node);
	/* bit 0 clear: a program without bitmap support wrote; QEMU ignores them */
	if (!(q->ext.present & QCOW2_EXTF_BITMAPS) || q->ext.bitmaps_stale ||
	    !q->ext.nb_bitmaps)
		goto done;

	bms = kvcalloc(q->ext.nb_bitmaps, sizeof(*bms), GFP_KERNEL);
	dir = bms ? q2_bm_read(q, q->ext.bitmap_directory_offset,
			       q->ext.bitmap_directory_size) : NULL;
	if (!bms || IS_ERR(dir)) {
		ret = bms ? PTR_ERR(dir) : -ENOMEM;
		dir = NULL;
		reason = "bitmaps: cannot read the bitmap directory";
		goto out;
	}
	ret = qcow2_bitmap_dir_parse(&q->h, &q->ext, file_size, dir,
				     q->ext.bitmap_directory_size, bms, &reason);
	if (ret)
		goto out;
	ret = q2_bm_add(&c, q->ext.bitmap_directory_offset,
			q->ext.bitmap_directory_size, q->g->cluster_bits);
	for (i = 0; i < q->ext.nb_bitmaps && !ret; i++) {
		char *name = kmemdup_nul((char *)dir + bms[i].name_offset,
					 bms[i].name_len, GFP_KERNEL);

		if (!name) {
			ret = -ENOMEM;
			break;
		}
		if (strlen(name) != bms[i].name_len) {
			reason = "bitmaps: a bitmap name contains a NUL byte";
			ret = -EUCLEAN;
		} else {
			ret = q2_bm_table(q, &bms[i], name, &c, load,
					  file_size, &reason);
		}
		kfree(name);
	}
	if (!ret)
		ret = q2_bm_check_clusters(q, &c, file_size, &reason);
	if (ret)
		goto out;
	q2_bm_set_old(q, &c);
done:
	if (load)
		vs_bitmaps_set_loaded(&q->node);
out:
	if (ret) {
		q->bm_keep = false;
		*error = (char *)(reason ?: "bitmaps: cannot load the bitmaps");
		q2_err(q, "%s", *error);
	}
	kvfree(c.v);
	kvfree(dir);
	kvfree(bms);
	return ret;
}

/* One bitmap's table and data: *table_off, or an error (leaks at worst). */
static int q2_bm_store_one(struct q2 *q, const struct vs_bitmap_stored *s,
			   bool empty, u32 table_size, u64 *table_off,
			   struct q2_bm_clusters *c)
{
	u64 cs = q2_cluster_size(q), bytes = (u64)table_size * 8;
	u64 nclusters = DIV_ROUND_UP(bytes, cs);
	__be64 *table;
	u8 *data = NULL;
	u32 i;
	int ret;

	table = kvzalloc(nclusters * cs, GFP_KERNEL);
	if (!table)
		return -ENOMEM;
	ret = nclusters == 1 ? q2_alloc_cluster(q, table_off) :
			       q2_alloc_run(q, nclusters, table_off);
	if (ret)
		goto out;
	ret = q2_bm_add(c, *table_off, nclusters * cs, q->g->cluster_bits);
	if (ret)
		goto out;
	if (!empty) {
		data = kvmalloc(cs, GFP_KERNEL);
		if (!data) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; data && i < table_size; i++) {
		u64 off;

		if (!q2_bm_pack(s->bits, s->nr, (u64)i * cs, data, cs))
			continue;	/* all zeroes: no cluster */
		ret = q2_alloc_cluster(q, &off);
		if (!ret)
			ret = q2_bm_add(c, off, cs, q->g->cluster_bits);
		if (!ret)
			ret = q2_bm_write(q, off, data, cs);
		if (ret)
			goto out;
		table[i] = cpu_to_be64(off);
		cond_resched();
	}
	ret = q2_bm_write(q, *table_off, table, nclusters * cs);
out:
	kvfree(data);
	kvfree(table);
	return ret;
}

struct q2_bm_ext {
	u32 nb;
	u64 dir_size, dir_off;
};

static int q2_bm_header_build(struct q2 *q, const u8 *buf, u8 *out, u32 len,
			      const struct qcow2_header *h, u32 *used,
			      void *arg)
{
	const struct q2_bm_ext *e = arg;
	int ret;

	ret = qcow2_set_bitmaps_ext(buf, out, len, h, e->nb, e->dir_size,
				    e->dir_off, used);
	if (ret) {
		q2_err(q, "bitmaps: no room for the bitmaps extension in the header cluster");
		return ret;
	}
	/* the fields the instance may have changed since (all in memory) */
	put_unaligned_be64(q->h.incompatible_features, out + QCOW2_HOFF_INCOMPAT);
	put_unaligned_be64(q->h.compatible_features, out + QCOW2_HOFF_COMPAT);
	return 0;
}

/*
 * The first cluster's header area with the new extension, written and
 * flushed; what the instance knows of the header follows.
 */
static int q2_bm_header(struct q2 *q, u32 nb, u64 dir_size, u64 dir_off)
{
	struct q2_bm_ext e = { .nb = nb, .dir_size = dir_size,
			       .dir_off = dir_off };
	struct qcow2_header h;
	unsigned long flags;
	int ret;

	ret = q2_header_rewrite(q, "bitmaps", q2_bm_header_build, &e, &h);
	if (ret)
		return ret;
	q->h.autoclear_features = h.autoclear_features;
	q->h.bitmaps_autoclear = h.bitmaps_autoclear;
	write_lock_irqsave(&q->map_lock, flags);
	q->ranges.bitmap_directory.offset = nb ? dir_off : 0;
	q->ranges.bitmap_directory.len = nb ? dir_size : 0;
	write_unlock_irqrestore(&q->map_lock, flags);
	return 0;
}

int q2_bitmaps_store(struct q2 *q, bool in_use)
{
	u64 cs = q2_cluster_size(q), dir_size = 0, dir_off = 0;
	struct q2_bm_clusters c = { 0 };
	struct vs_bitmap_stored *arr;
	unsigned int nr, i;
	u64 *tables = NULL;
	u8 *dir = NULL;
	bool on_disk;
	u32 pos = 0;
	int ret;

	if (!q->bm_keep || !q->loaded || q->corrupt || !q->be.writable ||
	    !q->node.bitmaps)
		return 0;
	ret = vs_bitmap_persisted(&q->node, &arr, &nr);
	if (ret)
		return ret;
	on_disk = (q->ext.present & QCOW2_EXTF_BITMAPS) && !q->ext.bitmaps_stale;
	if (!nr && !on_disk)
		goto out;
	ret = q2_write_prepare(q);
	if (ret)
		goto out;
	if (nr) {
		tables = kvcalloc(nr, sizeof(*tables), GFP_KERNEL);
		if (!tables) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < nr; i++) {
		const struct vs_bitmap_stored *s = &arr[i];
		u32 gbits = ilog2(s->granularity);
		u64 ts = qcow2_bitmap_table_size(q->h.size, gbits,
						 q->g->cluster_bits);

		if (ts > QCOW2_MAX_BITMAP_TABLE) {
			q2_err(q, "bitmaps: bitmap %s is too large for a qcow2 table",
			       s->name);
			ret = -EFBIG;
			goto out;
		}
		/* in use: the bits are not trusted, so none are written */
		ret = q2_bm_store_one(q, s, in_use || s->inconsistent, (u32)ts,
				      &tables[i], &c);
		if (ret)
			goto out;
		dir_size += qcow2_bitmap_entry_len(strlen(s->name));
	}
	if (nr) {
		u64 n = DIV_ROUND_UP(dir_size, cs);

		dir = kvzalloc(n * cs, GFP_KERNEL);
		ret = dir ? (n == 1 ? q2_alloc_cluster(q, &dir_off) :
				      q2_alloc_run(q, n, &dir_off)) : -ENOMEM;
		if (!ret)
			ret = q2_bm_add(&c, dir_off, n * cs, q->g->cluster_bits);
		if (ret)
			goto out;
		for (i = 0; i < nr; i++) {
			const struct vs_bitmap_stored *s = &arr[i];
			u32 flags = 0;

			if (s->enabled)
				flags |= QCOW2_BITMAP_AUTO;
			if (in_use || s->inconsistent)
				flags |= QCOW2_BITMAP_IN_USE;
			pos += qcow2_bitmap_entry_encode(dir + pos, tables[i],
				(u32)qcow2_bitmap_table_size(q->h.size,
							     ilog2(s->granularity),
							     q->g->cluster_bits),
				flags, ilog2(s->granularity), s->name,
				strlen(s->name));
		}
		ret = q2_bm_write(q, dir_off, dir,
				  round_up(dir_size, q->be.logical_block_size));
		if (ret)
			goto out;
	}
	/* new clusters and their refcounts durable before the header names them */
	ret = q2_commit(q, false);
	if (!ret)
		ret = q2_bm_header(q, nr, dir_size, dir_off);
	if (ret)
		goto out;
	/* the header no longer names the old ones: free them */
	for (i = 0; i < q->nr_bm_old; i++)
		q2_refcount_dec_deferred(q, q->bm_old[i]);
	q2_bm_set_old(q, &c);
	ret = q2_commit_all(q);
	q->bm_in_use = in_use && nr;
out:
	if (ret)
		q2_err(q, "bitmaps could not be stored: %d (clusters may leak)",
		       ret);
	kvfree(c.v);
	kvfree(dir);
	kvfree(tables);
	vs_bitmap_persisted_free(arr, nr);
	return ret;
}

void q2_bitmaps_free(struct q2 *q)
{
	kvfree(q->bm_old);
	q->bm_old = NULL;
	q->nr_bm_old = 0;
}
