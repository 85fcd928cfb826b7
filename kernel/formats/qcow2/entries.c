// SPDX-License-Identifier: GPL-2.0
/*
 * entries.c - qcow2 on-disk metadata: the per-table encoding. L1 and L2
 * entries (standard and extended), subclusters, compressed cluster
 * descriptors, refcount blocks and refcount table entries, and the metadata
 * overlap check: what the request path decodes, encodes and checks for
 * every cluster it maps, allocates or frees. The image's structure (header,
 * extensions, snapshots, bitmaps), parsed when an image is opened, is in
 * format.c; the two share format.h and the helpers in format-priv.h.
 *
 * As in format.c: written from QEMU's specification, docs/interop/qcow2.txt,
 * and QEMU 7.2's observable behaviour, and never looser than QEMU. See
 * Documentation/qcow2-format.rst.
 */
#include "format.h"
#include "format-priv.h"

/* == L1 and L2 entries == */

int qcow2_l1_entry_decode(const struct qcow2_geometry *g, u64 entry,
			  u64 *l2_offset, bool *copied, const char **reason)
{
	u64 off = entry & QCOW2_L1E_OFFSET_MASK;

	if (entry & QCOW2_L1E_RESERVED)
		return qcow2_err(reason, "reserved bits set in an L1 entry",
				 -EUCLEAN);
	if (off & (g->cluster_size - 1))
		return qcow2_err(reason, "L2 table offset not cluster-aligned",
				 -EUCLEAN);
	*l2_offset = off;
	*copied = entry & QCOW2_OFLAG_COPIED;
	return 0;
}

u64 qcow2_l1_entry_encode(u64 l2_offset, bool copied)
{
	return (l2_offset & QCOW2_L1E_OFFSET_MASK) |
	       (copied ? QCOW2_OFLAG_COPIED : 0);
}

int qcow2_l1_table_check(const struct qcow2_geometry *g, const void *l1,
			 u32 nb_entries, u64 file_size, u32 *bad_index,
			 const char **reason)
{
	const u8 *p = l1;
	u32 i;

	for (i = 0; i < nb_entries; i++) {
		u64 off;
		bool copied;
		int ret;

		ret = qcow2_l1_entry_decode(g, get_unaligned_be64(p + 8 * (size_t)i),
					    &off, &copied, reason);
		if (!ret && off && (file_size < g->cluster_size ||
				    off > file_size - g->cluster_size))
			ret = qcow2_err(reason,
					"L2 table lies past the end of the file",
					-EUCLEAN);
		if (ret) {
			*bad_index = i;
			return ret;
		}
	}
	return 0;
}

void qcow2_compressed_decode(const struct qcow2_geometry *g, u64 entry,
			     u64 *host_offset, u32 *csectors)
{
	*host_offset = entry & g->coffset_mask;
	*csectors = (u32)((entry >> g->csize_shift) & g->csize_mask);
}

/* Host offset of an allocated standard cluster: aligned, below 2^56. */
static bool qcow2_host_offset_ok(const struct qcow2_geometry *g, u64 off)
{
	return !(off & ~QCOW2_L2E_OFFSET_MASK) &&
	       !(off & (g->cluster_size - 1));
}

int qcow2_l2_entry_decode(const struct qcow2_geometry *g, u64 entry,
			  u64 bitmap, struct qcow2_l2_info *info,
			  const char **reason)
{
	u64 off;

	memset(info, 0, sizeof(*info));
	info->copied = entry & QCOW2_OFLAG_COPIED;

	if (entry & QCOW2_OFLAG_COMPRESSED) {
		if (g->data_file)
			return qcow2_err(reason,
					 "compressed cluster in an image with an external data file",
					 -EUCLEAN);
		if (info->copied)
			return qcow2_err(reason, "bit 63 set on a compressed cluster",
					 -EUCLEAN);
		if (g->extended_l2 && bitmap)
			return qcow2_err(reason,
					 "compressed cluster with a non-zero subcluster bitmap",
					 -EUCLEAN);
		qcow2_compressed_decode(g, entry, &info->host_offset,
					&info->csectors);
		if (info->host_offset >= QCOW2_MAX_HOST_OFFSET)
			return qcow2_err(reason,
					 "compressed cluster offset above 2^56",
					 -EUCLEAN);
		if (info->host_offset < g->cluster_size)
			return qcow2_err(reason,
					 "compressed cluster data in the header cluster",
					 -EUCLEAN);
		info->type = QCOW2_CLUSTER_COMPRESSED;
		return 0;
	}

	if (entry & QCOW2_L2E_STD_RESERVED)
		return qcow2_err(reason, "reserved bits set in an L2 entry",
				 -EUCLEAN);
	if ((entry & QCOW2_OFLAG_ZERO) && !g->zero_flag)
		return qcow2_err(reason,
				 "zero flag in a version 2 or extended L2 entry",
				 -EUCLEAN);
	off = entry & QCOW2_L2E_OFFSET_MASK;
	if (off & (g->cluster_size - 1))
		return qcow2_err(reason, "host cluster offset not cluster-aligned",
				 -EUCLEAN);
	info->host_offset = off;

	if (!g->extended_l2 && (entry & QCOW2_OFLAG_ZERO)) {
		info->type = off ? QCOW2_CLUSTER_ZERO_ALLOC
				 : QCOW2_CLUSTER_ZERO_PLAIN;
		info->zero = U32_MAX;
		return 0;
	}
	if (off || (g->data_file && info->copied)) {
		info->type = QCOW2_CLUSTER_NORMAL;
	} else if (info->copied) {
		return qcow2_err(reason,
				 "bit 63 set on an unallocated cluster",
				 -EUCLEAN);
	} else {
		info->type = QCOW2_CLUSTER_UNALLOCATED;
	}

	if (!g->extended_l2) {
		if (info->type == QCOW2_CLUSTER_NORMAL)
			info->alloc = U32_MAX;
		return 0;
	}
	info->alloc = (u32)bitmap;
	info->zero = (u32)(bitmap >> QCOW2_SC_ZERO_SHIFT);
	if (info->alloc & info->zero)
		return qcow2_err(reason,
				 "subcluster both allocated and reading as zero",
				 -EUCLEAN);
	if (info->type == QCOW2_CLUSTER_UNALLOCATED && info->alloc)
		return qcow2_err(reason,
				 "allocated subclusters without a host cluster",
				 -EUCLEAN);
	return 0;
}

int qcow2_l2_entry_encode(const struct qcow2_geometry *g,
			  const struct qcow2_l2_info *info, u64 *entry,
			  u64 *bitmap)
{
	u64 off = info->host_offset;
	u64 e = info->copied ? QCOW2_OFLAG_COPIED : 0;
	u64 bm = 0;

	switch (info->type) {
	case QCOW2_CLUSTER_UNALLOCATED:
		if (off || info->copied)
			return -EINVAL;
		if (g->extended_l2) {
			if (info->alloc)
				return -EINVAL;
			bm = (u64)info->zero << QCOW2_SC_ZERO_SHIFT;
		}
		break;
	case QCOW2_CLUSTER_ZERO_PLAIN:
	case QCOW2_CLUSTER_ZERO_ALLOC:
		if (!g->zero_flag)
			return -EINVAL;
		if (info->type == QCOW2_CLUSTER_ZERO_PLAIN ? off : !off)
			return -EINVAL;
		if (!qcow2_host_offset_ok(g, off))
			return -EINVAL;
		e |= off | QCOW2_OFLAG_ZERO;
		break;
	case QCOW2_CLUSTER_NORMAL:
		if (!qcow2_host_offset_ok(g, off))
			return -EINVAL;
		if (!off && !(g->data_file && info->copied))
			return -EINVAL;
		e |= off;
		if (g->extended_l2) {
			if (info->alloc & info->zero)
				return -EINVAL;
			bm = info->alloc |
			     (u64)info->zero << QCOW2_SC_ZERO_SHIFT;
		}
		break;
	case QCOW2_CLUSTER_COMPRESSED:
		if (info->copied || g->data_file ||
		    off >= QCOW2_MAX_HOST_OFFSET || off > g->coffset_mask ||
		    off < g->cluster_size || info->csectors > g->csize_mask)
			return -EINVAL;
		e = QCOW2_OFLAG_COMPRESSED | off |
		    (u64)info->csectors << g->csize_shift;
		break;
	default:
		return -EINVAL;
	}
	*entry = e;
	*bitmap = bm;
	return 0;
}

/* == Subclusters == */

/* Subclusters [first, first + count) as a mask; count 1..32. */
static u32 qcow2_sc_mask(u32 first, u32 count)
{
	return (u32)(((1ULL << count) - 1) << first);
}

enum qcow2_sc_state qcow2_sc_state(const struct qcow2_l2_info *info,
				   u32 idx)
{
	u32 bit = 1U << (idx & 31);

	if (info->type == QCOW2_CLUSTER_COMPRESSED)
		return QCOW2_SC_COMPRESSED;
	if (info->zero & bit)
		return QCOW2_SC_ZERO;
	if (info->alloc & bit)
		return QCOW2_SC_DATA;
	return QCOW2_SC_UNALLOCATED;
}

u32 qcow2_sc_run(const struct qcow2_geometry *g,
		 const struct qcow2_l2_info *info, u32 first)
{
	u32 same, n;

	if (first >= g->subclusters)
		return 0;
	switch (qcow2_sc_state(info, first)) {
	case QCOW2_SC_ZERO:
		same = info->zero;
		break;
	case QCOW2_SC_DATA:
		same = info->alloc & ~info->zero;
		break;
	case QCOW2_SC_UNALLOCATED:
		same = ~(info->alloc | info->zero);
		break;
	default:
		same = U32_MAX;
		break;
	}
	same = ~(same >> first);	/* bit k clear: first + k is the same */
	n = same ? (u32)__ffs(same) : 32 - first;
	return n < g->subclusters - first ? n : g->subclusters - first;
}

int qcow2_sc_set(struct qcow2_l2_info *info, u32 first, u32 count,
		 enum qcow2_sc_state state)
{
	u32 mask;

	if (!count || first >= QCOW2_SUBCLUSTERS ||
	    count > QCOW2_SUBCLUSTERS - first)
		return -EINVAL;
	if (info->type != QCOW2_CLUSTER_NORMAL &&
	    info->type != QCOW2_CLUSTER_UNALLOCATED)
		return -EINVAL;
	mask = qcow2_sc_mask(first, count);
	switch (state) {
	case QCOW2_SC_UNALLOCATED:
		info->alloc &= ~mask;
		info->zero &= ~mask;
		break;
	case QCOW2_SC_ZERO:
		info->alloc &= ~mask;
		info->zero |= mask;
		break;
	case QCOW2_SC_DATA:
		if (info->type != QCOW2_CLUSTER_NORMAL)
			return -EINVAL;
		info->zero &= ~mask;
		info->alloc |= mask;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

u64 qcow2_sc_bitmap_set(u64 bitmap, u32 first, u32 count,
			enum qcow2_sc_state state)
{
	u64 mask;

	if (!count || first >= QCOW2_SUBCLUSTERS ||
	    count > QCOW2_SUBCLUSTERS - first)
		return bitmap;
	mask = qcow2_sc_mask(first, count);
	switch (state) {
	case QCOW2_SC_UNALLOCATED:
		bitmap &= ~(mask | mask << QCOW2_SC_ZERO_SHIFT);
		break;
	case QCOW2_SC_ZERO:
		bitmap &= ~mask;
		bitmap |= mask << QCOW2_SC_ZERO_SHIFT;
		break;
	case QCOW2_SC_DATA:
		bitmap &= ~(mask << QCOW2_SC_ZERO_SHIFT);
		bitmap |= mask;
		break;
	default:
		break;
	}
	return bitmap;
}

/* == Compressed clusters == */

int qcow2_compressed_encode(const struct qcow2_geometry *g, u64 host_offset,
			    u32 nbytes, u64 *entry)
{
	u64 nb;

	if (!nbytes || host_offset >= QCOW2_MAX_HOST_OFFSET ||
	    host_offset > g->coffset_mask || host_offset < g->cluster_size)
		return -EINVAL;
	nb = ((host_offset + nbytes - 1) >> 9) - (host_offset >> 9);
	if (nb > g->csize_mask)
		return -EINVAL;
	*entry = QCOW2_OFLAG_COMPRESSED | host_offset | nb << g->csize_shift;
	return 0;
}

int qcow2_compressed_range(const struct qcow2_geometry *g, u64 host_offset,
			   u32 csectors, u64 file_size, u64 *start, u32 *len,
			   const char **reason)
{
	u64 end;

	if (host_offset < g->cluster_size)
		return qcow2_err(reason,
				 "compressed cluster data in the header cluster",
				 -EUCLEAN);
	if (host_offset >= file_size || host_offset >= QCOW2_MAX_HOST_OFFSET ||
	    csectors > g->csize_mask)
		return qcow2_err(reason,
				 "compressed cluster data past the end of the file",
				 -EUCLEAN);
	end = (host_offset & ~(u64)(QCOW2_COMPRESSED_SECTOR - 1)) +
	      ((u64)csectors + 1) * QCOW2_COMPRESSED_SECTOR;
	if (end > file_size)
		end = file_size;
	*start = host_offset;
	*len = (u32)(end - host_offset);
	return 0;
}

/* == Refcounts == */

u64 qcow2_refblock_get(const void *block, u32 order, u32 index)
{
	const u8 *p = block;
	u32 shift;

	switch (order) {
	case 0:
	case 1:
	case 2:
		shift = (index & ((8U >> order) - 1)) << order;
		return ((u32)p[index >> (3 - order)] >> shift) &
		       ((1U << (1U << order)) - 1);
	case 3:
		return p[index];
	case 4:
		return get_unaligned_be16(p + 2 * (size_t)index);
	case 5:
		return get_unaligned_be32(p + 4 * (size_t)index);
	default:
		return get_unaligned_be64(p + 8 * (size_t)index);
	}
}

int qcow2_refblock_set(void *block, u32 order, u32 index, u64 value)
{
	u8 *p = block;
	u32 shift, mask;

	if (order > QCOW2_MAX_REFCOUNT_ORDER || value > qcow2_refcount_max(order))
		return -ERANGE;
	switch (order) {
	case 0:
	case 1:
	case 2:
		shift = (index & ((8U >> order) - 1)) << order;
		mask = ((1U << (1U << order)) - 1) << shift;
		p += index >> (3 - order);
		*p = (u8)((*p & ~mask) | ((u32)value << shift));
		break;
	case 3:
		p[index] = (u8)value;
		break;
	case 4:
		put_unaligned_be16((u16)value, p + 2 * (size_t)index);
		break;
	case 5:
		put_unaligned_be32((u32)value, p + 4 * (size_t)index);
		break;
	default:
		put_unaligned_be64(value, p + 8 * (size_t)index);
		break;
	}
	return 0;
}

int qcow2_refcount_adjust(u32 order, u64 cur, s64 delta, u64 *out)
{
	u64 max = qcow2_refcount_max(order);
	u64 mag;

	if (order > QCOW2_MAX_REFCOUNT_ORDER || cur > max)
		return -ERANGE;
	if (delta < 0) {
		mag = (u64)(-(delta + 1)) + 1;
		if (mag > cur)
			return -ERANGE;
		*out = cur - mag;
		return 0;
	}
	if ((u64)delta > max - cur)
		return -ERANGE;
	*out = cur + (u64)delta;
	return 0;
}

int qcow2_reftable_entry_decode(const struct qcow2_geometry *g, u64 entry,
				u64 *block_offset, const char **reason)
{
	if (entry & QCOW2_REFT_RESERVED)
		return qcow2_err(reason,
				 "reserved bits set in a refcount table entry",
				 -EUCLEAN);
	if (entry & (g->cluster_size - 1))
		return qcow2_err(reason, "refcount block offset not cluster-aligned",
				 -EUCLEAN);
	/*
	 * The specification allows bits 9-63, but no file reaches past 2^63
	 * (loff_t): such an offset is corruption, not a block to read.
	 */
	if (entry & BIT_ULL(63))
		return qcow2_err(reason, "refcount block offset out of range",
				 -EUCLEAN);
	*block_offset = entry & QCOW2_REFT_OFFSET_MASK;
	return 0;
}

/* == Metadata overlap check == */

static bool qcow2_range_hit(const struct qcow2_range *r, u64 start, u64 end)
{
	return r->len && r->offset < end && start < qcow2_range_end(r->offset, r->len);
}

/* Any cluster of the sorted array @a within [start, end)? */
static bool qcow2_clusters_hit(const u64 *a, u32 n, u32 cluster_bits,
			       u64 start, u64 end)
{
	u32 lo = 0, hi = n;

	/* First cluster not wholly below start. */
	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		if (qcow2_range_end(a[mid], 1ULL << cluster_bits) <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && a[lo] < end;
}

/* Same for sorted, non-overlapping, non-empty ranges. */
static bool qcow2_ranges_hit(const struct qcow2_range *r, u32 n, u64 start,
			     u64 end)
{
	u32 lo = 0, hi = n;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		if (qcow2_range_end(r[mid].offset, r[mid].len) <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && r[lo].offset < end;
}

unsigned int qcow2_overlap_check(const struct qcow2_meta_ranges *m,
				 u64 offset, u64 len,
				 unsigned int ignore_mask)
{
	u64 cs = 1ULL << m->cluster_bits;
	u64 start, end;

	if (!len)
		return 0;
	/*
	 * Like QEMU, a write anywhere in a metadata cluster overlaps it: round
	 * out to clusters. An end that would round up past 2^64 becomes
	 * U64_MAX (rounding the saturated sum down lost the last cluster).
	 */
	start = offset & ~(cs - 1);
	end = qcow2_range_end(offset, len);
	end = end > U64_MAX - (cs - 1) ? U64_MAX : ALIGN(end, cs);

	if (!(ignore_mask & QCOW2_OL_HEADER) &&
	    qcow2_range_hit(&m->header, start, end))
		return QCOW2_OL_HEADER;
	if (!(ignore_mask & QCOW2_OL_ACTIVE_L1) &&
	    qcow2_range_hit(&m->active_l1, start, end))
		return QCOW2_OL_ACTIVE_L1;
	if (!(ignore_mask & QCOW2_OL_ACTIVE_L2) &&
	    qcow2_clusters_hit(m->active_l2, m->nb_active_l2, m->cluster_bits,
			       start, end))
		return QCOW2_OL_ACTIVE_L2;
	if (!(ignore_mask & QCOW2_OL_REFCOUNT_TABLE) &&
	    qcow2_range_hit(&m->refcount_table, start, end))
		return QCOW2_OL_REFCOUNT_TABLE;
	if (!(ignore_mask & QCOW2_OL_REFCOUNT_BLOCK) &&
	    qcow2_clusters_hit(m->refcount_blocks, m->nb_refcount_blocks,
			       m->cluster_bits, start, end))
		return QCOW2_OL_REFCOUNT_BLOCK;
	if (!(ignore_mask & QCOW2_OL_SNAPSHOT_TABLE) &&
	    qcow2_range_hit(&m->snapshot_table, start, end))
		return QCOW2_OL_SNAPSHOT_TABLE;
	if (!(ignore_mask & QCOW2_OL_INACTIVE_L1) &&
	    qcow2_ranges_hit(m->inactive_l1, m->nb_inactive_l1, start, end))
		return QCOW2_OL_INACTIVE_L1;
	if (!(ignore_mask & QCOW2_OL_INACTIVE_L2) &&
	    qcow2_clusters_hit(m->inactive_l2, m->nb_inactive_l2,
			       m->cluster_bits, start, end))
		return QCOW2_OL_INACTIVE_L2;
	if (!(ignore_mask & QCOW2_OL_BITMAP_DIRECTORY) &&
	    qcow2_range_hit(&m->bitmap_directory, start, end))
		return QCOW2_OL_BITMAP_DIRECTORY;
	return 0;
}

static int qcow2_sorted_clusters(const u64 *a, u32 n, u32 cluster_bits)
{
	u32 i;

	for (i = 0; i < n; i++) {
		if (a[i] & ((1ULL << cluster_bits) - 1))
			return -EINVAL;
		if (i && a[i] <= a[i - 1])
			return -EINVAL;
	}
	return 0;
}

int qcow2_meta_ranges_check(const struct qcow2_meta_ranges *m,
			    const char **reason)
{
	u32 i;

	if (m->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    m->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return qcow2_err(reason, "bad cluster_bits", -EINVAL);
	if (qcow2_sorted_clusters(m->active_l2, m->nb_active_l2,
				  m->cluster_bits) ||
	    qcow2_sorted_clusters(m->refcount_blocks, m->nb_refcount_blocks,
				  m->cluster_bits) ||
	    qcow2_sorted_clusters(m->inactive_l2, m->nb_inactive_l2,
				  m->cluster_bits))
		return qcow2_err(reason,
				 "cluster offsets not aligned or not strictly ascending",
				 -EINVAL);
	for (i = 0; i < m->nb_inactive_l1; i++) {
		const struct qcow2_range *r = &m->inactive_l1[i];
		u64 end;

		if (!r->len || check_add_overflow(r->offset, r->len, &end))
			return qcow2_err(reason, "empty or wrapping range",
					 -EINVAL);
		if (i && r->offset < qcow2_range_end(r[-1].offset, r[-1].len))
			return qcow2_err(reason,
					 "ranges not sorted or overlapping",
					 -EINVAL);
	}
	return 0;
}

void qcow2_meta_ranges_init(struct qcow2_meta_ranges *m,
			    const struct qcow2_header *h,
			    const struct qcow2_extensions *e,
			    u64 snapshot_table_len)
{
	memset(m, 0, sizeof(*m));
	m->cluster_bits = h->cluster_bits;
	m->header.offset = 0;
	m->header.len = h->cluster_size;
	m->active_l1.offset = h->l1_table_offset;
	m->active_l1.len = (u64)h->l1_size * 8;
	m->refcount_table.offset = h->refcount_table_offset;
	m->refcount_table.len = h->refcount_table_entries * 8;
	if (h->nb_snapshots) {
		m->snapshot_table.offset = h->snapshots_offset;
		m->snapshot_table.len = snapshot_table_len;
	}
	if (e && (e->present & QCOW2_EXTF_BITMAPS) && !e->bitmaps_stale) {
		m->bitmap_directory.offset = e->bitmap_directory_offset;
		m->bitmap_directory.len = e->bitmap_directory_size;
	}
}
