// SPDX-License-Identifier: GPL-2.0
/*
 * The qcow2 header: its fields rewritten in place (autoclear and dirty
 * bits, the corrupt bit, table moves, the size), and the header cluster
 * rebuilt (the backing file name here, the bitmaps extension for
 * bitmaps.c).
 *
 * Header changes are written in the first logical block and flushed
 * (Documentation/targets/qcow2.rst, "Write ordering and crash safety").
 *
 * Everything here runs under meta_lock.
 */
#include <linux/slab.h>

#include "qcow2.h"

/*
 * Rewrite the header fields vstorage may change, in place: they all lie in
 * the first 104 bytes, i.e. in one logical block, so the update is atomic
 * on any device that writes blocks atomically.
 */
static int q2_header_write(struct q2 *q)
{
	size_t len = q->be.logical_block_size;
	u8 *buf;
	ssize_t n;
	int ret = 0;

	buf = kvmalloc(len, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	n = vs_backend_rw_kbuf(&q->be, ITER_DEST, buf, len, 0);
	if (n < 0) {
		ret = n;
		goto out;
	}
	put_unaligned_be64(q->h.size, buf + QCOW2_HOFF_SIZE);
	put_unaligned_be32(q->h.l1_size, buf + QCOW2_HOFF_L1_SIZE);
	put_unaligned_be64(q->h.l1_table_offset, buf + QCOW2_HOFF_L1_OFFSET);
	put_unaligned_be64(q->h.refcount_table_offset,
			   buf + QCOW2_HOFF_REFTABLE_OFFSET);
	put_unaligned_be32(q->h.refcount_table_clusters,
			   buf + QCOW2_HOFF_REFTABLE_CLUSTERS);
	if (q->h.version >= 3) {
		put_unaligned_be64(q->h.incompatible_features,
				   buf + QCOW2_HOFF_INCOMPAT);
		put_unaligned_be64(q->h.compatible_features,
				   buf + QCOW2_HOFF_COMPAT);
		put_unaligned_be64(q->h.autoclear_features,
				   buf + QCOW2_HOFF_AUTOCLEAR);
	}
	n = vs_backend_rw_kbuf(&q->be, ITER_SOURCE, buf, len, 0);
	if (n < 0)
		ret = n;
out:
	kvfree(buf);
	return ret;
}

void q2_mark_corrupt(struct q2 *q, const char *reason)
{
	if (q->corrupt)
		return;
	q->corrupt = true;
	q->node.read_only = true;
	q2_err(q, "marking image as corrupt: %s; further writes are refused (repair with qemu-img check -r all)",
	       reason);
	if (q->h.version >= 3 && q->be.writable) {
		q->h.incompatible_features |= QCOW2_INCOMPAT_CORRUPT;
		q2_header_write_flush(q);
	}
	vs_node_notify_change(&q->node);
}

/*
 * Before the first change to the image: autoclear bits name features that
 * a writer which does not maintain them must clear (bitmaps: QEMU then
 * treats them as inconsistent instead of trusting stale bits). The
 * bitmaps bit stays when this instance keeps the bitmaps (bitmaps.c).
 */
int q2_write_prepare(struct q2 *q)
{
	/* bitmaps.c keeps the bitmaps extension up to date */
	u64 keep = q->bm_keep ? QCOW2_AUTOCLEAR_BITMAPS : 0;
	int ret;

	if (q->write_prepared)
		return 0;
	if (q->corrupt || !q->be.writable)
		return -EIO;
	if (q->h.version >= 3 &&
	    ((q->h.autoclear_features & ~keep) || (q->lazy && !q->h.dirty))) {
		q->h.autoclear_features &= keep;
		if (q->lazy) {
			/* refcounts on disk may lag from now on */
			q->h.incompatible_features |= QCOW2_INCOMPAT_DIRTY;
			q->h.dirty = true;
		}
		ret = q2_header_write_flush(q);
		if (ret)
			return ret;
	}
	q->write_prepared = true;
	return 0;
}

int q2_header_write_flush(struct q2 *q)
{
	int ret = q2_header_write(q);

	return ret ?: vs_backend_flush(&q->be);
}

/*
 * Lazy refcounts: write every refcount and clear the dirty bit, so that
 * the image is consistent while nobody writes (suspend, removal).
 */
int q2_mark_clean(struct q2 *q)
{
	bool lazy = q->lazy;
	int ret;

	if (!q->loaded || !q->h.dirty || q->corrupt || !q->be.writable)
		return 0;
	q->lazy = false;
	ret = q2_commit(q, false);
	q->lazy = lazy;
	if (ret)
		return ret;
	q->h.incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
	q->h.dirty = false;
	q->write_prepared = false;
	return q2_header_write_flush(q);
}

/*
 * Rewrite the header cluster: read it again and check it (the bytes of the
 * extensions are not kept in memory), let BUILD make the new one in OUT
 * from the current one in BUF (*USED: the bytes of OUT that count), write
 * it in one write (atomic when it fits in a logical block) and flush.
 * What the instance knows of the header's layout then follows the disk,
 * and *HDR holds the new header for the fields only the caller changes.
 *
 * The caller has made durable all that the new header names before, and
 * frees what it no longer names only after a return of 0. WHAT begins the
 * log line of a header that no longer parses.
 */
int q2_header_rewrite(struct q2 *q, const char *what, q2_header_build_t build,
		      void *arg, struct qcow2_header *hdr)
{
	u64 file_size = vs_backend_current_size(&q->be);
	struct qcow2_extensions ext;
	struct qcow2_header h;
	const char *reason = NULL;
	u32 len, used;
	u8 *buf, *out;
	ssize_t n;
	int ret;

	len = min_t(u64, q2_cluster_size(q), file_size);
	len = round_down(len, q->be.logical_block_size);
	buf = kvmalloc(len, GFP_KERNEL);
	out = kvmalloc(len, GFP_KERNEL);
	if (!buf || !out) {
		ret = -ENOMEM;
		goto out;
	}
	n = vs_backend_rw_kbuf(&q->be, ITER_DEST, buf, len, 0);
	if (n < 0) {
		ret = n;
		goto out;
	}
	ret = qcow2_header_parse(buf, len, file_size, &h, &reason) ?:
	      qcow2_extensions_parse(buf, len, file_size, &h, &ext, &reason);
	if (ret) {
		q2_err(q, "%s: the header no longer parses: %s", what,
		       reason ?: "?");
		goto out;
	}
	ret = build(q, buf, out, len, &h, &used, arg);
	if (ret)
		goto out;
	n = vs_backend_rw_kbuf(&q->be, ITER_SOURCE, out,
			       round_up(used, q->be.logical_block_size), 0);
	if (n < 0) {
		ret = n;
		goto out;
	}
	ret = vs_backend_flush(&q->be);
	if (ret)
		goto out;
	ret = qcow2_header_parse(out, len, file_size, &h, &reason) ?:
	      qcow2_extensions_parse(out, len, file_size, &h, &ext, &reason);
	if (ret)
		goto out;
	q->h.backing_file_offset = h.backing_file_offset;
	q->h.ext_end = h.ext_end;
	q->ext = ext;
	*hdr = h;
out:
	kvfree(buf);
	kvfree(out);
	return ret;
}

struct q2_backing {
	const char *name, *fmt;
};

static int q2_backing_build(struct q2 *q, const u8 *buf, u8 *out, u32 len,
			    const struct qcow2_header *h, u32 *used, void *arg)
{
	const struct q2_backing *b = arg;

	return qcow2_set_backing(buf, out, len, h, b->name,
				 b->name ? strlen(b->name) : 0, b->fmt,
				 b->fmt ? strlen(b->fmt) : 0, used);
}

/*
 * The header's backing file name and format (stream and commit finalize:
 * QEMU's qcow2_change_backing_file()). The data written so far is made
 * stable first, so that the image never names a backing file it does not
 * yet have all the data for; the header cluster is then read again,
 * checked, rebuilt and written back in one write. NAME NULL: none.
 */
int q2_set_backing(struct q2 *q, const char *name, const char *fmt)
{
	struct q2_backing b = { .name = name, .fmt = fmt };
	struct qcow2_header h;
	int ret;

	ret = q2_write_prepare(q) ?: q2_commit_all(q);
	if (ret)
		return ret;
	ret = q2_header_rewrite(q, "set-backing", q2_backing_build, &b, &h);
	if (ret)
		return ret;
	q->h.backing_file_size = h.backing_file_size;
	q->h.has_backing = h.has_backing;
	return 0;
}
