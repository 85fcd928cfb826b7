// SPDX-License-Identifier: GPL-2.0
/*
 * Reading compressed clusters: raw deflate (no zlib header) or a zstd frame,
 * each holding exactly one cluster. The compressed bytes run to the end of
 * their last 512-byte sector, so a decoder must stop after one cluster and
 * ignore what follows. Decompressed data is kept for the last cluster read,
 * since sequential reads of a compressed image hit it many times.
 *
 * Runs in the worker under meta_lock; buffers are allocated on first use.
 */
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/zlib.h>
#include <linux/zstd.h>

#include "qcow2.h"

void q2_compress_free(struct q2 *q)
{
	kvfree(q->zbuf);
	kvfree(q->cbuf);
	kvfree(q->zworkspace);
	q->zbuf = NULL;
	q->cbuf = NULL;
	q->zworkspace = NULL;
	q->zbuf_entry = 0;
}

static int q2_compress_alloc(struct q2 *q)
{
	size_t cs = q2_cluster_size(q);
	size_t ws;

	if (q->zbuf)
		return 0;
	if (q->h.compression_type == QCOW2_COMPRESSION_ZSTD)
		ws = zstd_dstream_workspace_bound(cs);
	else
		ws = zlib_inflate_workspacesize();
	q->zbuf = kvmalloc(cs, GFP_KERNEL);
	q->cbuf = kvmalloc(2 * cs + 2 * PAGE_SIZE, GFP_KERNEL);
	q->zworkspace = kvmalloc(ws, GFP_KERNEL);
	q->zworkspace_size = ws;
	if (!q->zbuf || !q->cbuf || !q->zworkspace) {
		q2_compress_free(q);
		return -ENOMEM;
	}
	return 0;
}

static int q2_inflate(struct q2 *q, const void *in, u32 in_len)
{
	struct z_stream_s s = {
		.workspace = q->zworkspace,
		.next_in = in,
		.avail_in = in_len,
		.next_out = q->zbuf,
		.avail_out = q2_cluster_size(q),
	};
	int ret;

	if (zlib_inflateInit2(&s, -MAX_WBITS) != Z_OK)
		return -EIO;
	ret = zlib_inflate(&s, Z_FINISH);
	zlib_inflateEnd(&s);
	/* a full cluster out, whether or not the stream says it ended */
	if ((ret != Z_STREAM_END && ret != Z_BUF_ERROR && ret != Z_OK) ||
	    s.avail_out)
		return -EIO;
	return 0;
}

static int q2_unzstd(struct q2 *q, const void *in, u32 in_len)
{
	zstd_in_buffer input = { .src = in, .size = in_len, .pos = 0 };
	zstd_out_buffer output = {
		.dst = q->zbuf, .size = q2_cluster_size(q), .pos = 0,
	};
	zstd_dstream *ds;
	size_t ret;

	ds = zstd_init_dstream(q2_cluster_size(q), q->zworkspace,
			       q->zworkspace_size);
	if (!ds)
		return -EIO;
	/* stream decoding stops at the frame's end; padding follows it */
	while (output.pos < output.size && input.pos < input.size) {
		ret = zstd_decompress_stream(ds, &output, &input);
		if (zstd_is_error(ret))
			return -EIO;
		if (!ret)
			break;
	}
	return output.pos == output.size ? 0 : -EIO;
}

/* Fill q->zbuf with the cluster that L2_ENTRY describes. */
int q2_read_compressed(struct q2 *q, u64 l2_entry)
{
	unsigned int lbs = q->be.logical_block_size;
	const char *reason = NULL;
	u64 host, start, rstart;
	u32 csectors, len;
	size_t rlen;
	ssize_t n;
	int ret;

	if (q->zbuf && q->zbuf_entry == l2_entry)
		return 0;
	ret = q2_compress_alloc(q);
	if (ret)
		return ret;

	qcow2_compressed_decode(q->g, l2_entry, &host, &csectors);
	ret = qcow2_compressed_range(q->g, host, csectors,
				     vs_backend_current_size(&q->be), &start,
				     &len, &reason);
	if (ret) {
		q2_err(q, "compressed cluster at %llu: %s", host, reason);
		return -EIO;
	}
	/* direct I/O reads whole logical blocks */
	rstart = round_down(start, lbs);
	rlen = round_up(start + len, lbs) - rstart;
	if (rlen > 2 * q2_cluster_size(q) + 2 * PAGE_SIZE)
		return -EIO;
	n = vs_backend_rw_kbuf(&q->be, ITER_DEST, q->cbuf, rlen, rstart);
	if (n < 0)
		return n;

	q->zbuf_entry = 0;
	if (q->h.compression_type == QCOW2_COMPRESSION_ZSTD)
		ret = q2_unzstd(q, q->cbuf + (start - rstart), len);
	else
		ret = q2_inflate(q, q->cbuf + (start - rstart), len);
	if (ret) {
		q2_err(q, "cannot decompress the cluster at host offset %llu",
		       host);
		return ret;
	}
	q->zbuf_entry = l2_entry;
	return 0;
}
