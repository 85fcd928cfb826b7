// SPDX-License-Identifier: GPL-2.0
/*
 * format.c - qcow2 on-disk metadata: the image's structure. Geometry, the
 * header, header extensions, the snapshot table and the bitmap directory:
 * what the target reads once, when it opens an image, to learn its layout
 * and where its tables lie. The encoding of the tables' entries (L1/L2,
 * subclusters, compressed clusters, refcounts) and the overlap check, which
 * the request path uses for every cluster, are in entries.c; the two share
 * format.h and the helpers in format-priv.h.
 *
 * Written from QEMU's specification, docs/interop/qcow2.txt, and QEMU 7.2's
 * observable behaviour. Where QEMU is more lenient than the specification
 * (it accepts tables past the end of the file, reading zeroes; it does not
 * check that header_length is a multiple of 8; it accepts duplicate
 * extensions), we refuse: the writer built on this must never be looser
 * than QEMU. See Documentation/qcow2-format.rst.
 */
#include "format.h"
#include "format-priv.h"

/* [offset, offset + len) and [o2, o2 + l2) intersect; lengths may be 0. */
static bool qcow2_ranges_intersect(u64 offset, u64 len, u64 o2, u64 l2)
{
	if (!len || !l2)
		return false;
	return offset < qcow2_range_end(o2, l2) &&
	       o2 < qcow2_range_end(offset, len);
}

/*
 * QEMU's qcow2_validate_table(): entries * entry_len at most max_bytes, and
 * offset + size below INT64_MAX (no wrap), cluster-aligned offset.
 */
static int qcow2_check_table(u64 offset, u64 entries, u32 entry_len,
			     u64 max_bytes, u32 cluster_bits,
			     const char *too_large, const char *bad_offset,
			     const char **reason)
{
	u64 bytes;

	/* entries < 2^32, entry_len <= 2^21: no overflow, no division */
	bytes = entries * entry_len;
	if (bytes > max_bytes)
		return qcow2_err(reason, too_large, -EFBIG);
	if (offset > S64_MAX - bytes ||
	    (offset & ((1ULL << cluster_bits) - 1)))
		return qcow2_err(reason, bad_offset, -EINVAL);
	return 0;
}

int qcow2_geometry_init(struct qcow2_geometry *g, u32 version,
			u32 cluster_bits, u32 refcount_order, bool extended_l2,
			bool data_file)
{
	if (version < 2 || version > 3)
		return -EINVAL;
	if (cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return -EINVAL;
	if (refcount_order > QCOW2_MAX_REFCOUNT_ORDER)
		return -EINVAL;
	if (extended_l2 &&
	    (version < 3 || cluster_bits < QCOW2_EXTL2_MIN_CLUSTER_BITS))
		return -EINVAL;
	if (data_file && version < 3)
		return -EINVAL;

	memset(g, 0, sizeof(*g));
	g->version = version;
	g->cluster_bits = cluster_bits;
	g->cluster_size = 1U << cluster_bits;
	g->extended_l2 = extended_l2;
	g->data_file = data_file;
	g->zero_flag = version >= 3 && !extended_l2;
	g->l2_entry_size = extended_l2 ? 16 : 8;
	g->l2_bits = cluster_bits - (extended_l2 ? 4 : 3);
	g->subclusters = extended_l2 ? QCOW2_SUBCLUSTERS : 1;
	g->subcluster_bits = extended_l2 ? cluster_bits - QCOW2_SUBCLUSTER_BITS
					 : cluster_bits;
	g->refcount_order = refcount_order;
	g->refblock_bits = cluster_bits + 3 - refcount_order;
	g->csize_shift = 62 - (cluster_bits - 8);
	g->csize_mask = (1ULL << (cluster_bits - 8)) - 1;
	g->coffset_mask = (1ULL << g->csize_shift) - 1;
	return 0;
}

/* == Header == */

/* Reasons naming each unknown incompatible feature bit (5..63). */
static const char * const qcow2_unknown_incompat[64] = {
	NULL, NULL, NULL, NULL, NULL,
	"unknown incompatible feature bit 5",
	"unknown incompatible feature bit 6",
	"unknown incompatible feature bit 7",
	"unknown incompatible feature bit 8",
	"unknown incompatible feature bit 9",
	"unknown incompatible feature bit 10",
	"unknown incompatible feature bit 11",
	"unknown incompatible feature bit 12",
	"unknown incompatible feature bit 13",
	"unknown incompatible feature bit 14",
	"unknown incompatible feature bit 15",
	"unknown incompatible feature bit 16",
	"unknown incompatible feature bit 17",
	"unknown incompatible feature bit 18",
	"unknown incompatible feature bit 19",
	"unknown incompatible feature bit 20",
	"unknown incompatible feature bit 21",
	"unknown incompatible feature bit 22",
	"unknown incompatible feature bit 23",
	"unknown incompatible feature bit 24",
	"unknown incompatible feature bit 25",
	"unknown incompatible feature bit 26",
	"unknown incompatible feature bit 27",
	"unknown incompatible feature bit 28",
	"unknown incompatible feature bit 29",
	"unknown incompatible feature bit 30",
	"unknown incompatible feature bit 31",
	"unknown incompatible feature bit 32",
	"unknown incompatible feature bit 33",
	"unknown incompatible feature bit 34",
	"unknown incompatible feature bit 35",
	"unknown incompatible feature bit 36",
	"unknown incompatible feature bit 37",
	"unknown incompatible feature bit 38",
	"unknown incompatible feature bit 39",
	"unknown incompatible feature bit 40",
	"unknown incompatible feature bit 41",
	"unknown incompatible feature bit 42",
	"unknown incompatible feature bit 43",
	"unknown incompatible feature bit 44",
	"unknown incompatible feature bit 45",
	"unknown incompatible feature bit 46",
	"unknown incompatible feature bit 47",
	"unknown incompatible feature bit 48",
	"unknown incompatible feature bit 49",
	"unknown incompatible feature bit 50",
	"unknown incompatible feature bit 51",
	"unknown incompatible feature bit 52",
	"unknown incompatible feature bit 53",
	"unknown incompatible feature bit 54",
	"unknown incompatible feature bit 55",
	"unknown incompatible feature bit 56",
	"unknown incompatible feature bit 57",
	"unknown incompatible feature bit 58",
	"unknown incompatible feature bit 59",
	"unknown incompatible feature bit 60",
	"unknown incompatible feature bit 61",
	"unknown incompatible feature bit 62",
	"unknown incompatible feature bit 63",
};

/* The fixed tables the header points at: sizes, offsets, overlaps. */
static int qcow2_header_check_tables(struct qcow2_header *h, u64 file_size,
				     const char **reason)
{
	u32 cb = h->cluster_bits;
	u64 cs = h->cluster_size;
	u64 rt_bytes, l1_bytes, sn_bytes, shift, needed;
	int ret;

	/* Refcount table */
	if (!h->refcount_table_clusters)
		return qcow2_err(reason, "image has no refcount table",
				 -EINVAL);
	ret = qcow2_check_table(h->refcount_table_offset,
				h->refcount_table_clusters, h->cluster_size,
				QCOW2_MAX_REFTABLE_BYTES, cb,
				"refcount table too large (QEMU's limit is 8 MiB)",
				"invalid refcount table offset (misaligned or too large)",
				reason);
	if (ret)
		return ret;
	rt_bytes = (u64)h->refcount_table_clusters << cb;
	h->refcount_table_entries = rt_bytes / 8;
	if (h->refcount_table_offset < cs)
		return qcow2_err(reason, "refcount table overlaps the header cluster",
				 -EINVAL);
	if (h->refcount_table_offset + rt_bytes > file_size)
		return qcow2_err(reason, "refcount table lies past the end of the file",
				 -EINVAL);

	/* Active L1 table and the virtual size */
	ret = qcow2_check_table(h->l1_table_offset, h->l1_size, 8,
				QCOW2_MAX_L1_BYTES, cb,
				"active L1 table too large (QEMU's limit is 32 MiB)",
				"invalid L1 table offset (misaligned or too large)",
				reason);
	if (ret)
		return ret;
	l1_bytes = (u64)h->l1_size * 8;
	shift = cb + h->g.l2_bits;
	needed = h->size >> shift;
	if (h->size & ((1ULL << shift) - 1))
		needed++;
	if (needed > QCOW2_MAX_L1_ENTRIES)
		return qcow2_err(reason,
				 "virtual size too large (needs an L1 table above 32 MiB)",
				 -EFBIG);
	h->l1_needed = (u32)needed;
	if (h->l1_size < h->l1_needed)
		return qcow2_err(reason, "L1 table too small for the virtual size",
				 -EINVAL);
	if (l1_bytes) {
		if (h->l1_table_offset < cs)
			return qcow2_err(reason, "L1 table overlaps the header cluster",
					 -EINVAL);
		if (h->l1_table_offset + l1_bytes > file_size)
			return qcow2_err(reason, "L1 table lies past the end of the file",
					 -EINVAL);
	}

	/* Snapshot table: at least 40 bytes an entry */
	if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return qcow2_err(reason, "too many snapshots (QEMU's limit is 65536)",
				 -EFBIG);
	ret = qcow2_check_table(h->snapshots_offset, h->nb_snapshots,
				QCOW2_SNAPSHOT_HDR_LEN,
				(u64)QCOW2_SNAPSHOT_HDR_LEN * QCOW2_MAX_SNAPSHOTS,
				cb, "snapshot table too large",
				"invalid snapshot table offset (misaligned or too large)",
				reason);
	if (ret)
		return ret;
	sn_bytes = (u64)h->nb_snapshots * QCOW2_SNAPSHOT_HDR_LEN;
	if (sn_bytes) {
		if (h->snapshots_offset < cs)
			return qcow2_err(reason, "snapshot table overlaps the header cluster",
					 -EINVAL);
		if (h->snapshots_offset + sn_bytes > file_size)
			return qcow2_err(reason, "snapshot table lies past the end of the file",
					 -EINVAL);
	}

	if (qcow2_ranges_intersect(h->l1_table_offset, l1_bytes,
				   h->refcount_table_offset, rt_bytes) ||
	    qcow2_ranges_intersect(h->l1_table_offset, l1_bytes,
				   h->snapshots_offset, sn_bytes) ||
	    qcow2_ranges_intersect(h->refcount_table_offset, rt_bytes,
				   h->snapshots_offset, sn_bytes))
		return qcow2_err(reason,
				 "L1, refcount and snapshot tables overlap each other",
				 -EINVAL);
	return 0;
}

static int qcow2_header_check_backing(struct qcow2_header *h, u64 file_size,
				      const char **reason)
{
	u64 off = h->backing_file_offset;

	h->ext_start = h->header_length;
	h->ext_end = h->cluster_size;
	if (!off)
		return 0;
	if (off > h->cluster_size)
		return qcow2_err(reason,
				 "invalid backing file name offset (past the first cluster)",
				 -EINVAL);
	if (off < h->header_length)
		return qcow2_err(reason, "backing file name overlaps the header",
				 -EINVAL);
	if (h->backing_file_size > QCOW2_MAX_BACKING_NAME ||
	    h->backing_file_size > h->cluster_size - off)
		return qcow2_err(reason, "backing file name too long", -EINVAL);
	if (off + h->backing_file_size > file_size)
		return qcow2_err(reason,
				 "backing file name lies past the end of the file",
				 -EINVAL);
	h->ext_end = (u32)off;
	h->has_backing = h->backing_file_size > 0;
	return 0;
}

static int qcow2_header_check_features(struct qcow2_header *h,
				       const char **reason)
{
	u64 unknown = h->incompatible_features & ~QCOW2_INCOMPAT_KNOWN;

	if (unknown) {
		h->unknown_incompatible = unknown;
		return qcow2_err(reason, qcow2_unknown_incompat[__ffs64(unknown)],
				 -EOPNOTSUPP);
	}
	h->dirty = h->incompatible_features & QCOW2_INCOMPAT_DIRTY;
	h->corrupt = h->incompatible_features & QCOW2_INCOMPAT_CORRUPT;
	h->data_file = h->incompatible_features & QCOW2_INCOMPAT_DATA_FILE;
	h->extended_l2 = h->incompatible_features & QCOW2_INCOMPAT_EXTL2;
	h->lazy_refcounts = h->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS;
	h->bitmaps_autoclear = h->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS;
	h->data_file_raw = h->autoclear_features & QCOW2_AUTOCLEAR_DATA_FILE_RAW;
	h->unknown_compatible = h->compatible_features & ~QCOW2_COMPAT_KNOWN;
	h->unknown_autoclear = h->autoclear_features & ~QCOW2_AUTOCLEAR_KNOWN;

	if (h->refcount_order > QCOW2_MAX_REFCOUNT_ORDER)
		return qcow2_err(reason, "refcount_order above 6 (64-bit refcounts)",
				 -EINVAL);
	if (h->extended_l2 && h->cluster_bits < QCOW2_EXTL2_MIN_CLUSTER_BITS)
		return qcow2_err(reason,
				 "extended L2 entries need clusters of at least 16 KiB",
				 -EINVAL);
	if (h->compression_type > QCOW2_COMPRESSION_ZSTD)
		return qcow2_err(reason, "unknown compression type", -EOPNOTSUPP);
	if (h->compression_type != QCOW2_COMPRESSION_ZLIB &&
	    !(h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION))
		return qcow2_err(reason,
				 "non-zlib compression type without the compression type feature bit",
				 -EINVAL);
	if (h->compression_type == QCOW2_COMPRESSION_ZLIB &&
	    (h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION))
		return qcow2_err(reason,
				 "compression type feature bit set but the type is zlib",
				 -EINVAL);
	if (h->crypt_method > QCOW2_CRYPT_LUKS)
		return qcow2_err(reason, "unknown encryption method", -EOPNOTSUPP);
	if (h->data_file_raw && !h->data_file)
		return qcow2_err(reason,
				 "raw external data bit set without an external data file",
				 -EINVAL);
	if (h->data_file_raw && h->backing_file_offset &&
	    h->backing_file_size)
		return qcow2_err(reason,
				 "raw external data file with a backing file",
				 -EINVAL);
	if (h->data_file && h->nb_snapshots)
		return qcow2_err(reason,
				 "internal snapshots in an image with an external data file",
				 -EINVAL);
	return 0;
}

int qcow2_header_parse(const void *buf, size_t len, u64 file_size,
		       struct qcow2_header *h, const char **reason)
{
	const u8 *p = buf;
	int ret;

	memset(h, 0, sizeof(*h));
	if (file_size < QCOW2_V2_HEADER_LEN)
		return qcow2_err(reason, "file too small for a qcow2 header",
				 -EINVAL);
	h->header_length = QCOW2_V2_HEADER_LEN;
	if (len < QCOW2_V2_HEADER_LEN)
		return qcow2_err(reason, "header buffer too short", -ENODATA);
	if (get_unaligned_be32(p + QCOW2_HOFF_MAGIC) != QCOW2_MAGIC)
		return qcow2_err(reason, "not a qcow2 image (bad magic)",
				 -EINVAL);

	h->version = get_unaligned_be32(p + QCOW2_HOFF_VERSION);
	h->backing_file_offset = get_unaligned_be64(p + QCOW2_HOFF_BACKING_OFFSET);
	h->backing_file_size = get_unaligned_be32(p + QCOW2_HOFF_BACKING_SIZE);
	h->cluster_bits = get_unaligned_be32(p + QCOW2_HOFF_CLUSTER_BITS);
	h->size = get_unaligned_be64(p + QCOW2_HOFF_SIZE);
	h->crypt_method = get_unaligned_be32(p + QCOW2_HOFF_CRYPT_METHOD);
	h->l1_size = get_unaligned_be32(p + QCOW2_HOFF_L1_SIZE);
	h->l1_table_offset = get_unaligned_be64(p + QCOW2_HOFF_L1_OFFSET);
	h->refcount_table_offset =
		get_unaligned_be64(p + QCOW2_HOFF_REFTABLE_OFFSET);
	h->refcount_table_clusters =
		get_unaligned_be32(p + QCOW2_HOFF_REFTABLE_CLUSTERS);
	h->nb_snapshots = get_unaligned_be32(p + QCOW2_HOFF_NB_SNAPSHOTS);
	h->snapshots_offset = get_unaligned_be64(p + QCOW2_HOFF_SNAPSHOTS_OFFSET);
	h->refcount_order = 4;

	if (h->version < 2 || h->version > 3)
		return qcow2_err(reason, "unsupported qcow2 version (not 2 or 3)",
				 -EOPNOTSUPP);
	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return qcow2_err(reason,
				 "unsupported cluster size (cluster_bits not 9..21)",
				 -EINVAL);
	h->cluster_size = 1U << h->cluster_bits;

	if (h->version >= 3) {
		h->header_length = QCOW2_V3_HEADER_MIN;
		if (file_size < QCOW2_V3_HEADER_MIN)
			return qcow2_err(reason, "file ends inside the header",
					 -EINVAL);
		if (len < QCOW2_V3_HEADER_MIN)
			return qcow2_err(reason, "header buffer too short",
					 -ENODATA);
		h->header_length =
			get_unaligned_be32(p + QCOW2_HOFF_HEADER_LENGTH);
		if (h->header_length < QCOW2_V3_HEADER_MIN)
			return qcow2_err(reason, "header_length below 104 in a version 3 image",
					 -EINVAL);
		if (h->header_length > h->cluster_size)
			return qcow2_err(reason, "header exceeds the cluster size",
					 -EINVAL);
		if (h->header_length % 8)
			return qcow2_err(reason, "header_length not a multiple of 8",
					 -EINVAL);
		if (file_size < h->header_length)
			return qcow2_err(reason, "file ends inside the header",
					 -EINVAL);
		if (len < h->header_length)
			return qcow2_err(reason, "header buffer too short",
					 -ENODATA);
		h->incompatible_features =
			get_unaligned_be64(p + QCOW2_HOFF_INCOMPAT);
		h->compatible_features = get_unaligned_be64(p + QCOW2_HOFF_COMPAT);
		h->autoclear_features =
			get_unaligned_be64(p + QCOW2_HOFF_AUTOCLEAR);
		h->refcount_order =
			get_unaligned_be32(p + QCOW2_HOFF_REFCOUNT_ORDER);
		if (h->header_length > QCOW2_HOFF_COMPRESSION_TYPE)
			h->compression_type = p[QCOW2_HOFF_COMPRESSION_TYPE];
	}

	ret = qcow2_header_check_features(h, reason);
	if (ret)
		return ret;
	if (qcow2_geometry_init(&h->g, h->version, h->cluster_bits,
				h->refcount_order, h->extended_l2, h->data_file))
		return qcow2_err(reason, "inconsistent geometry", -EINVAL);
	h->refcount_bits = qcow2_refcount_bits(h->refcount_order);

	ret = qcow2_header_check_backing(h, file_size, reason);
	if (ret)
		return ret;
	return qcow2_header_check_tables(h, file_size, reason);
}

u32 qcow2_header_encode(const struct qcow2_header *h, void *buf)
{
	u8 *p = buf;
	u32 n = QCOW2_V2_HEADER_LEN;

	put_unaligned_be32(QCOW2_MAGIC, p + QCOW2_HOFF_MAGIC);
	put_unaligned_be32(h->version, p + QCOW2_HOFF_VERSION);
	put_unaligned_be64(h->backing_file_offset, p + QCOW2_HOFF_BACKING_OFFSET);
	put_unaligned_be32(h->backing_file_size, p + QCOW2_HOFF_BACKING_SIZE);
	put_unaligned_be32(h->cluster_bits, p + QCOW2_HOFF_CLUSTER_BITS);
	put_unaligned_be64(h->size, p + QCOW2_HOFF_SIZE);
	put_unaligned_be32(h->crypt_method, p + QCOW2_HOFF_CRYPT_METHOD);
	put_unaligned_be32(h->l1_size, p + QCOW2_HOFF_L1_SIZE);
	put_unaligned_be64(h->l1_table_offset, p + QCOW2_HOFF_L1_OFFSET);
	put_unaligned_be64(h->refcount_table_offset,
			   p + QCOW2_HOFF_REFTABLE_OFFSET);
	put_unaligned_be32(h->refcount_table_clusters,
			   p + QCOW2_HOFF_REFTABLE_CLUSTERS);
	put_unaligned_be32(h->nb_snapshots, p + QCOW2_HOFF_NB_SNAPSHOTS);
	put_unaligned_be64(h->snapshots_offset, p + QCOW2_HOFF_SNAPSHOTS_OFFSET);
	if (h->version < 3)
		return n;

	put_unaligned_be64(h->incompatible_features, p + QCOW2_HOFF_INCOMPAT);
	put_unaligned_be64(h->compatible_features, p + QCOW2_HOFF_COMPAT);
	put_unaligned_be64(h->autoclear_features, p + QCOW2_HOFF_AUTOCLEAR);
	put_unaligned_be32(h->refcount_order, p + QCOW2_HOFF_REFCOUNT_ORDER);
	put_unaligned_be32(h->header_length, p + QCOW2_HOFF_HEADER_LENGTH);
	n = QCOW2_V3_HEADER_MIN;
	if (h->header_length > QCOW2_HOFF_COMPRESSION_TYPE) {
		p[QCOW2_HOFF_COMPRESSION_TYPE] = h->compression_type;
		n++;
	}
	return n;
}

/* == Header extensions == */

/* A big-endian u32 at @off of the first @avail bytes; zeroes past them. */
static u32 qcow2_be32_zf(const u8 *p, u32 avail, u32 off)
{
	u32 v = 0;
	u32 i;

	for (i = 0; i < 4; i++)
		v = v << 8 | (off + i < avail ? p[off + i] : 0);
	return v;
}

static int qcow2_ext_bitmaps(const struct qcow2_header *h, u64 file_size,
			     const u8 *d, u32 len, struct qcow2_extensions *e,
			     const char **reason)
{
	u64 off, size;

	if (len != 24)
		return qcow2_err(reason, "bitmaps extension has the wrong length",
				 -EINVAL);
	e->nb_bitmaps = get_unaligned_be32(d);
	e->bitmap_directory_size = get_unaligned_be64(d + 8);
	e->bitmap_directory_offset = get_unaligned_be64(d + 16);
	if (!h->bitmaps_autoclear) {
		/* Modified by a program without bitmap support: stale. */
		e->bitmaps_stale = true;
		return 0;
	}
	off = e->bitmap_directory_offset;
	size = e->bitmap_directory_size;
	if (get_unaligned_be32(d + 4))
		return qcow2_err(reason, "bitmaps extension: reserved field not zero",
				 -EINVAL);
	if (e->nb_bitmaps > QCOW2_MAX_BITMAPS)
		return qcow2_err(reason, "bitmaps extension: too many bitmaps",
				 -EFBIG);
	if (!e->nb_bitmaps)
		return qcow2_err(reason, "bitmaps extension with zero bitmaps",
				 -EINVAL);
	if (off & (h->cluster_size - 1))
		return qcow2_err(reason,
				 "bitmaps extension: directory offset not cluster-aligned",
				 -EINVAL);
	if (size > QCOW2_MAX_BITMAP_DIR_BYTES)
		return qcow2_err(reason, "bitmaps extension: directory too large",
				 -EFBIG);
	if (size < (u64)e->nb_bitmaps * QCOW2_BITMAP_ENTRY_HDR_LEN)
		return qcow2_err(reason,
				 "bitmaps extension: directory too small for its bitmaps",
				 -EINVAL);
	if (off < h->cluster_size || off > S64_MAX - size)
		return qcow2_err(reason, "bitmaps extension: invalid directory offset",
				 -EINVAL);
	if (off + size > file_size)
		return qcow2_err(reason,
				 "bitmap directory lies past the end of the file",
				 -EINVAL);
	return 0;
}

static int qcow2_ext_crypto(const struct qcow2_header *h, u64 file_size,
			    const u8 *d, u32 len, struct qcow2_extensions *e,
			    const char **reason)
{
	if (h->crypt_method != QCOW2_CRYPT_LUKS)
		return qcow2_err(reason,
				 "encryption header extension without LUKS encryption",
				 -EINVAL);
	if (len != 16)
		return qcow2_err(reason,
				 "encryption header extension has the wrong length",
				 -EINVAL);
	e->crypto_offset = get_unaligned_be64(d);
	e->crypto_length = get_unaligned_be64(d + 8);
	if (e->crypto_offset & (h->cluster_size - 1))
		return qcow2_err(reason,
				 "encryption header offset not cluster-aligned",
				 -EINVAL);
	if (e->crypto_offset < h->cluster_size ||
	    e->crypto_length > S64_MAX ||
	    e->crypto_offset > S64_MAX - e->crypto_length ||
	    e->crypto_offset + e->crypto_length > file_size)
		return qcow2_err(reason, "invalid encryption header offset or length",
				 -EINVAL);
	return 0;
}

static int qcow2_ext_once(struct qcow2_extensions *e, u32 flag,
			  const char **reason)
{
	if (e->present & flag)
		return qcow2_err(reason, "duplicate header extension", -EINVAL);
	e->present |= flag;
	return 0;
}

int qcow2_extensions_parse(const void *buf, size_t len, u64 file_size,
			   const struct qcow2_header *h,
			   struct qcow2_extensions *e, const char **reason)
{
	const u8 *p = buf;
	u32 avail = qcow2_header_area_size(h, file_size);
	u32 off = h->ext_start;
	u32 end = h->ext_end;
	int ret;

	memset(e, 0, sizeof(*e));
	if (len < avail)
		return qcow2_err(reason, "header buffer too short", -ENODATA);

	while (off < end) {
		u32 type, elen;
		const u8 *d;

		if (end - off < 8)
			return qcow2_err(reason, "header extension too large",
					 -EINVAL);
		/* QEMU reads zeroes past the end of a short file */
		type = qcow2_be32_zf(p, avail, off);
		elen = qcow2_be32_zf(p, avail, off + 4);
		off += 8;
		if (type == QCOW2_EXT_END) {
			e->end_marker = true;
			break;
		}
		if (elen > end - off)
			return qcow2_err(reason, "header extension too large",
					 -EINVAL);
		if (off > avail || elen > avail - off)
			return qcow2_err(reason,
					 "header extension lies past the end of the file",
					 -EINVAL);
		d = p + off;

		switch (type) {
		case QCOW2_EXT_BACKING_FORMAT:
			ret = qcow2_ext_once(e, QCOW2_EXTF_BACKING_FORMAT, reason);
			if (ret)
				return ret;
			if (elen > QCOW2_MAX_BACKING_FMT)
				return qcow2_err(reason, "backing format name too long",
						 -EINVAL);
			e->backing_format.offset = off;
			e->backing_format.len = elen;
			break;
		case QCOW2_EXT_FEATURE_TABLE:
			ret = qcow2_ext_once(e, QCOW2_EXTF_FEATURE_TABLE, reason);
			if (ret)
				return ret;
			e->feature_table.offset = off;
			e->feature_table.len = elen;
			break;
		case QCOW2_EXT_BITMAPS:
			ret = qcow2_ext_once(e, QCOW2_EXTF_BITMAPS, reason);
			if (!ret)
				ret = qcow2_ext_bitmaps(h, file_size, d, elen, e,
							reason);
			if (ret)
				return ret;
			break;
		case QCOW2_EXT_CRYPTO:
			ret = qcow2_ext_once(e, QCOW2_EXTF_CRYPTO, reason);
			if (!ret)
				ret = qcow2_ext_crypto(h, file_size, d, elen, e,
						       reason);
			if (ret)
				return ret;
			break;
		case QCOW2_EXT_DATA_FILE:
			ret = qcow2_ext_once(e, QCOW2_EXTF_DATA_FILE, reason);
			if (ret)
				return ret;
			e->data_file.offset = off;
			e->data_file.len = elen;
			break;
		default:
			if (e->nb_unknown >= QCOW2_MAX_UNKNOWN_EXTS)
				return qcow2_err(reason,
						 "too many unknown header extensions",
						 -EOPNOTSUPP);
			e->unknown[e->nb_unknown].type = type;
			e->unknown[e->nb_unknown].offset = off;
			e->unknown[e->nb_unknown].len = elen;
			e->nb_unknown++;
			break;
		}
		off += ALIGN(elen, 8);
	}
	e->end = off < end ? off : end;

	if (h->crypt_method == QCOW2_CRYPT_LUKS &&
	    !(e->present & QCOW2_EXTF_CRYPTO))
		return qcow2_err(reason,
				 "LUKS encryption without an encryption header extension",
				 -EINVAL);
	e->bitmaps_missing = h->bitmaps_autoclear &&
			     !(e->present & QCOW2_EXTF_BITMAPS);
	if (h->has_backing) {
		e->backing_file.offset = (u32)h->backing_file_offset;
		e->backing_file.len = h->backing_file_size;
	}
	return 0;
}

int qcow2_feature_name(const void *buf, const struct qcow2_extensions *e,
		       u8 type, u8 bit, const char **name, u32 *name_len)
{
	const u8 *t = (const u8 *)buf + e->feature_table.offset;
	u32 n = e->feature_table.len / QCOW2_FEATURE_ENTRY_LEN;
	u32 i, l;

	if (!(e->present & QCOW2_EXTF_FEATURE_TABLE))
		return -ENOENT;
	for (i = 0; i < n; i++, t += QCOW2_FEATURE_ENTRY_LEN) {
		if (t[0] != type || t[1] != bit)
			continue;
		for (l = 0; l < QCOW2_FEATURE_NAME_LEN && t[2 + l]; l++)
			;
		*name = (const char *)t + 2;
		*name_len = l;
		return 0;
	}
	return -ENOENT;
}

int qcow2_ext_put(void *buf, u32 area_end, u32 *pos, u32 type,
		  const void *data, u32 len)
{
	u8 *p = (u8 *)buf + *pos;
	u32 padded = ALIGN(len, 8);

	if (*pos % 8 || *pos > area_end || area_end - *pos < 8 ||
	    len > area_end - *pos - 8 || padded > area_end - *pos - 8)
		return -ENOSPC;
	put_unaligned_be32(type, p);
	put_unaligned_be32(len, p + 4);
	if (len)
		memcpy(p + 8, data, len);
	memset(p + 8 + len, 0, padded - len);
	*pos += 8 + padded;
	return 0;
}

int qcow2_set_backing(const void *buf, void *out, u32 len,
		      const struct qcow2_header *h, const char *name,
		      u32 name_len, const char *fmt, u32 fmt_len, u32 *used)
{
	const u8 *in = buf;
	u32 off = h->ext_start, pos = h->ext_start;
	int ret;

	if (name_len > QCOW2_MAX_BACKING_NAME || (!name_len && fmt_len) ||
	    h->ext_start > len || h->ext_end > len || pos % 8)
		return -EINVAL;
	memset(out, 0, len);
	memcpy(out, in, h->ext_start);
	/* keep every extension but the backing format, in its order */
	while (off + 8 <= h->ext_end) {
		u32 type = get_unaligned_be32(in + off);
		u32 elen = get_unaligned_be32(in + off + 4);

		if (type == QCOW2_EXT_END)
			break;
		if (elen > h->ext_end - off - 8)
			return -EINVAL;
		if (type != QCOW2_EXT_BACKING_FORMAT) {
			ret = qcow2_ext_put(out, len, &pos, type,
					    in + off + 8, elen);
			if (ret)
				return ret;
		}
		if (ALIGN(elen, 8) > h->ext_end - off - 8)
			break;
		off += 8 + ALIGN(elen, 8);
	}
	if (fmt_len) {
		ret = qcow2_ext_put(out, len, &pos, QCOW2_EXT_BACKING_FORMAT,
				    fmt, fmt_len);
		if (ret)
			return ret;
	}
	ret = qcow2_ext_put(out, len, &pos, QCOW2_EXT_END, NULL, 0);
	if (ret)
		return ret;
	if (name_len > len - pos)
		return -ENOSPC;
	if (name_len)
		memcpy((u8 *)out + pos, name, name_len);
	put_unaligned_be64(name_len ? pos : 0,
			   (u8 *)out + QCOW2_HOFF_BACKING_OFFSET);
	put_unaligned_be32(name_len, (u8 *)out + QCOW2_HOFF_BACKING_SIZE);
	*used = pos + name_len;
	return 0;
}

int qcow2_check_open(const struct qcow2_header *h,
		     const struct qcow2_extensions *e, unsigned int flags,
		     const char **reason)
{
	if (h->crypt_method == QCOW2_CRYPT_AES)
		return qcow2_err(reason,
				 "encrypted image (AES) is not supported",
				 -EOPNOTSUPP);
	if (h->crypt_method == QCOW2_CRYPT_LUKS ||
	    (e && (e->present & QCOW2_EXTF_CRYPTO)))
		return qcow2_err(reason,
				 "encrypted image (LUKS) is not supported",
				 -EOPNOTSUPP);
	if (h->data_file && !(flags & QCOW2_OPEN_ALLOW_DATA_FILE))
		return qcow2_err(reason,
				 "images with an external data file are not supported",
				 -EOPNOTSUPP);
	if ((flags & QCOW2_OPEN_WRITE) && h->corrupt)
		return qcow2_err(reason,
				 "image is marked corrupt: read-only access only",
				 -EROFS);
	return 0;
}

/* == Snapshots == */

int qcow2_snapshot_entry_parse(const struct qcow2_header *h, u64 file_size,
			       const void *buf, size_t len,
			       struct qcow2_snapshot *sn, const char **reason)
{
	const u8 *p = buf;
	u64 l1_bytes;
	u32 extra;
	int ret;

	memset(sn, 0, sizeof(*sn));
	sn->entry_len = QCOW2_SNAPSHOT_HDR_LEN;
	sn->name_offset = QCOW2_SNAPSHOT_HDR_LEN;
	if (len < QCOW2_SNAPSHOT_HDR_LEN)
		return qcow2_err(reason, "snapshot table buffer too short",
				 -ENODATA);
	sn->l1_table_offset = get_unaligned_be64(p);
	sn->l1_size = get_unaligned_be32(p + 8);
	sn->id_len = get_unaligned_be16(p + 12);
	sn->name_len = get_unaligned_be16(p + 14);
	sn->date_sec = get_unaligned_be32(p + 16);
	sn->date_nsec = get_unaligned_be32(p + 20);
	sn->vm_clock_nsec = get_unaligned_be64(p + 24);
	sn->vm_state_size = get_unaligned_be32(p + 32);
	sn->extra_data_size = get_unaligned_be32(p + 36);
	extra = sn->extra_data_size;

	if (extra > QCOW2_MAX_SNAPSHOT_EXTRA)
		return qcow2_err(reason,
				 "too much extra data in a snapshot table entry",
				 -EFBIG);
	if (h->version >= 3 && extra < QCOW2_SNAPSHOT_EXTRA_V3_MIN)
		return qcow2_err(reason,
				 "snapshot table entry lacks the extra data version 3 requires",
				 -EINVAL);
	sn->id_offset = QCOW2_SNAPSHOT_HDR_LEN + extra;
	sn->name_offset = sn->id_offset + sn->id_len;
	sn->entry_len = ALIGN(sn->name_offset + sn->name_len, 8);
	/* QEMU does not write the padding after the last entry */
	if (len < sn->name_offset + sn->name_len)
		return qcow2_err(reason, "snapshot table buffer too short",
				 -ENODATA);

	if (extra >= 8)
		sn->vm_state_size = get_unaligned_be64(p + 40);
	if (extra >= 16) {
		sn->has_disk_size = true;
		sn->disk_size = get_unaligned_be64(p + 48);
	}
	if (extra >= 24) {
		sn->has_icount = true;
		sn->icount = get_unaligned_be64(p + 56);
	}

	ret = qcow2_check_table(sn->l1_table_offset, sn->l1_size, 8,
				QCOW2_MAX_L1_BYTES, h->cluster_bits,
				"snapshot L1 table too large",
				"invalid snapshot L1 table offset (misaligned or too large)",
				reason);
	if (ret)
		return ret;
	l1_bytes = (u64)sn->l1_size * 8;
	if (l1_bytes && sn->l1_table_offset < h->cluster_size)
		return qcow2_err(reason,
				 "snapshot L1 table overlaps the header cluster",
				 -EINVAL);
	if (l1_bytes && sn->l1_table_offset + l1_bytes > file_size)
		return qcow2_err(reason,
				 "snapshot L1 table lies past the end of the file",
				 -EINVAL);
	return 0;
}

int qcow2_snapshot_table_parse(const struct qcow2_header *h, u64 file_size,
			       const void *buf, size_t len,
			       struct qcow2_snapshot *sns, u64 *table_len,
			       const char **reason)
{
	const u8 *p = buf;
	u64 off = 0, end = 0;
	u32 i;
	int ret;

	*table_len = 0;
	for (i = 0; i < h->nb_snapshots; i++) {
		struct qcow2_snapshot *sn = &sns[i];
		size_t at = off < len ? (size_t)off : len;
		u64 used;

		ret = qcow2_snapshot_entry_parse(h, file_size, p + at, len - at,
						 sn, reason);
		if (ret && ret != -ENODATA)
			return ret;
		/* The entry without its padding: QEMU's table size */
		used = off + sn->name_offset + sn->name_len;
		if (used > QCOW2_MAX_SNAPSHOT_TABLE_BYTES)
			return qcow2_err(reason,
					 "snapshot table too large (QEMU's limit is 64 MiB)",
					 -EFBIG);
		if (h->snapshots_offset + used > file_size)
			return qcow2_err(reason,
					 "snapshot table lies past the end of the file",
					 -EINVAL);
		if (ret) {
			*table_len = used;
			return ret;
		}
		sn->entry_offset = (u32)off;
		sn->id_offset += (u32)off;
		sn->name_offset += (u32)off;
		end = used;
		off += sn->entry_len;
	}

	if (qcow2_ranges_intersect(h->snapshots_offset, end,
				   h->l1_table_offset, (u64)h->l1_size * 8) ||
	    qcow2_ranges_intersect(h->snapshots_offset, end,
				   h->refcount_table_offset,
				   h->refcount_table_entries * 8))
		return qcow2_err(reason,
				 "snapshot table overlaps the L1 or refcount table",
				 -EINVAL);
	*table_len = end;
	return 0;
}

/* == Bitmaps == */

static int qcow2_bitmap_entry_check(const struct qcow2_header *h,
				    u64 file_size, const struct qcow2_bitmap *b,
				    const char **reason)
{
	u64 bits, clusters, table_bytes;
	u32 g = b->granularity_bits;

	if (b->extra_data_size)
		return qcow2_err(reason, "bitmap extra data is not supported",
				 -EOPNOTSUPP);
	if (b->flags & ~QCOW2_BITMAP_FLAGS_KNOWN)
		return qcow2_err(reason, "reserved bitmap flags set", -EINVAL);
	if (b->type != QCOW2_BITMAP_TYPE_DIRTY)
		return qcow2_err(reason, "unknown bitmap type", -EINVAL);
	if (g < QCOW2_BITMAP_MIN_GRANULARITY || g > QCOW2_BITMAP_MAX_GRANULARITY)
		return qcow2_err(reason, "bitmap granularity out of range (2^9..2^31)",
				 -EINVAL);
	if (!b->name_len || b->name_len > QCOW2_MAX_BITMAP_NAME)
		return qcow2_err(reason, "bitmap name empty or too long", -EINVAL);
	if (!b->table_size || b->table_size > QCOW2_MAX_BITMAP_TABLE)
		return qcow2_err(reason, "bitmap table size out of range", -EINVAL);
	if (!b->table_offset || (b->table_offset & (h->cluster_size - 1)))
		return qcow2_err(reason, "bitmap table offset invalid", -EINVAL);
	if ((u64)b->table_size << h->cluster_bits > file_size)
		return qcow2_err(reason, "bitmap data larger than the file",
				 -EINVAL);
	table_bytes = (u64)b->table_size * 8;
	if (b->table_offset > file_size ||
	    table_bytes > file_size - b->table_offset)
		return qcow2_err(reason, "bitmap table lies past the end of the file",
				 -EINVAL);
	if (b->flags & QCOW2_BITMAP_IN_USE)
		return 0;
	/* One bit per granule, packed in bytes, in whole clusters. */
	bits = (h->size >> g) + !!(h->size & ((1ULL << g) - 1));
	clusters = (bits + ((u64)h->cluster_size * 8 - 1)) >> (h->cluster_bits + 3);
	if (clusters != b->table_size)
		return qcow2_err(reason,
				 "bitmap table size does not match the virtual size",
				 -EINVAL);
	return 0;
}

int qcow2_bitmap_dir_parse(const struct qcow2_header *h,
			   const struct qcow2_extensions *e, u64 file_size,
			   const void *dir, size_t len,
			   struct qcow2_bitmap *bms, const char **reason)
{
	const u8 *p = dir;
	u64 size = e->bitmap_directory_size;
	u64 off = 0;
	u32 n = 0;
	int ret;

	if (!(e->present & QCOW2_EXTF_BITMAPS) || e->bitmaps_stale)
		return qcow2_err(reason, "no consistent bitmaps extension",
				 -EINVAL);
	if (len < size)
		return qcow2_err(reason, "bitmap directory buffer too short",
				 -ENODATA);

	while (off < size) {
		struct qcow2_bitmap *b;
		const u8 *q = p + off;
		u64 used, elen;

		if (size - off < QCOW2_BITMAP_ENTRY_HDR_LEN)
			return qcow2_err(reason, "bitmap directory entry truncated",
					 -EINVAL);
		if (n >= e->nb_bitmaps)
			return qcow2_err(reason,
					 "more bitmaps in the directory than in the extension",
					 -EINVAL);
		b = &bms[n];
		memset(b, 0, sizeof(*b));
		b->table_offset = get_unaligned_be64(q);
		b->table_size = get_unaligned_be32(q + 8);
		b->flags = get_unaligned_be32(q + 12);
		b->type = q[16];
		b->granularity_bits = q[17];
		b->name_len = get_unaligned_be16(q + 18);
		b->extra_data_size = get_unaligned_be32(q + 20);
		used = (u64)QCOW2_BITMAP_ENTRY_HDR_LEN + b->extra_data_size +
		       b->name_len;
		elen = ALIGN(used, 8);
		if (elen > size - off)
			return qcow2_err(reason, "bitmap directory entry truncated",
					 -EINVAL);
		ret = qcow2_bitmap_entry_check(h, file_size, b, reason);
		if (ret)
			return ret;
		for (; used < elen; used++)
			if (q[used])
				return qcow2_err(reason,
						 "bitmap directory entry padding not zero",
						 -EINVAL);
		b->entry_offset = (u32)off;
		b->entry_len = (u32)elen;
		b->name_offset = (u32)off + QCOW2_BITMAP_ENTRY_HDR_LEN +
				 b->extra_data_size;
		off += elen;
		n++;
	}
	if (n != e->nb_bitmaps)
		return qcow2_err(reason,
				 "fewer bitmaps in the directory than in the extension",
				 -EINVAL);
	return 0;
}

int qcow2_bitmap_table_entry_decode(const struct qcow2_geometry *g, u64 entry,
				    u64 *offset, enum qcow2_bmt_kind *kind,
				    const char **reason)
{
	u64 off = entry & QCOW2_BMT_OFFSET_MASK;

	if (entry & QCOW2_BMT_RESERVED)
		return qcow2_err(reason, "reserved bits set in a bitmap table entry",
				 -EUCLEAN);
	if (off & (g->cluster_size - 1))
		return qcow2_err(reason, "bitmap data offset not cluster-aligned",
				 -EUCLEAN);
	if (off && (entry & QCOW2_BMT_ALL_ONES))
		return qcow2_err(reason,
				 "bitmap table entry with an offset and bit 0 set",
				 -EUCLEAN);
	*offset = off;
	if (off)
		*kind = QCOW2_BMT_DATA;
	else if (entry & QCOW2_BMT_ALL_ONES)
		*kind = QCOW2_BMT_ONES;
	else
		*kind = QCOW2_BMT_ZEROES;
	return 0;
}

u32 qcow2_bitmap_entry_encode(void *buf, u64 table_offset, u32 table_size,
			      u32 flags, u8 granularity_bits, const char *name,
			      u16 name_len)
{
	u32 len = qcow2_bitmap_entry_len(name_len);
	u8 *p = buf;

	memset(p, 0, len);
	put_unaligned_be64(table_offset, p);
	put_unaligned_be32(table_size, p + 8);
	put_unaligned_be32(flags, p + 12);
	p[16] = QCOW2_BITMAP_TYPE_DIRTY;
	p[17] = granularity_bits;
	put_unaligned_be16(name_len, p + 18);
	/* extra_data_size (p + 20) stays 0 */
	memcpy(p + QCOW2_BITMAP_ENTRY_HDR_LEN, name, name_len);
	return len;
}

int qcow2_set_bitmaps_ext(const void *buf, void *out, u32 len,
			  const struct qcow2_header *h, u32 nb, u64 dir_size,
			  u64 dir_offset, u32 *used)
{
	const u8 *in = buf;
	u32 off = h->ext_start, pos = h->ext_start;
	u32 name_len = h->has_backing ? h->backing_file_size : 0;
	u64 autoclear;
	u8 ext[24];
	int ret;

	if (h->version < 3 || h->ext_start > len || h->ext_end > len ||
	    pos % 8 || (name_len && (h->backing_file_offset > len ||
				     name_len > len - h->backing_file_offset)))
		return -EINVAL;
	memset(out, 0, len);
	memcpy(out, in, h->ext_start);
	if (nb) {
		memset(ext, 0, sizeof(ext));
		put_unaligned_be32(nb, ext);
		put_unaligned_be64(dir_size, ext + 8);
		put_unaligned_be64(dir_offset, ext + 16);
		ret = qcow2_ext_put(out, len, &pos, QCOW2_EXT_BITMAPS, ext,
				    sizeof(ext));
		if (ret)
			return ret;
	}
	/* keep every extension but the old bitmaps one, in its order */
	while (off + 8 <= h->ext_end) {
		u32 type = get_unaligned_be32(in + off);
		u32 elen = get_unaligned_be32(in + off + 4);

		if (type == QCOW2_EXT_END)
			break;
		if (elen > h->ext_end - off - 8)
			return -EINVAL;
		if (type != QCOW2_EXT_BITMAPS) {
			ret = qcow2_ext_put(out, len, &pos, type,
					    in + off + 8, elen);
			if (ret)
				return ret;
		}
		if (ALIGN(elen, 8) > h->ext_end - off - 8)
			break;
		off += 8 + ALIGN(elen, 8);
	}
	ret = qcow2_ext_put(out, len, &pos, QCOW2_EXT_END, NULL, 0);
	if (ret)
		return ret;
	if (name_len > len - pos)
		return -ENOSPC;
	if (name_len)
		memcpy((u8 *)out + pos, in + h->backing_file_offset, name_len);
	put_unaligned_be64(name_len ? pos : 0,
			   (u8 *)out + QCOW2_HOFF_BACKING_OFFSET);
	put_unaligned_be32(name_len, (u8 *)out + QCOW2_HOFF_BACKING_SIZE);
	autoclear = get_unaligned_be64(in + QCOW2_HOFF_AUTOCLEAR);
	if (nb)
		autoclear |= QCOW2_AUTOCLEAR_BITMAPS;
	else
		autoclear &= ~QCOW2_AUTOCLEAR_BITMAPS;
	put_unaligned_be64(autoclear, (u8 *)out + QCOW2_HOFF_AUTOCLEAR);
	*used = pos + name_len;
	return 0;
}
