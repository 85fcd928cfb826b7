// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2 metadata: loading and validating the image, looking up guest
 * offsets, allocating clusters from the refcounts, and committing.
 *
 * Write ordering (see Documentation/targets/qcow2.rst):
 *  - a cluster's data is written before the L2 entry that points to it is
 *    updated, even in memory;
 *  - refcount blocks (and the refcount table) are written and flushed
 *    before any L2 table or L1 entry that may reference what they count;
 *  - refcount decrements wait until the references they drop are on disk
 *    (they are applied after a commit), so a freed cluster is never reused
 *    while a durable reference to it may remain.
 * A crash therefore leaves leaked clusters at worst.
 *
 * Everything here runs under meta_lock.
 */
#include <linux/delay.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/vmalloc.h>

#include "qcow2.h"

#define Q2_DIRTY_UNREPAIRED \
	"image is dirty and its refcounts could not be rebuilt: repair it with qemu-img check -r all, or open it read-only"
#define Q2_DEFAULT_L2_CACHE_MAX	(32ULL << 20)
#define Q2_MIN_REFBLOCK_CACHE	4
#define Q2_MAX_PENDING_DEC	4096
/* grow an image file at least this much at a time */
/*
 * The image file grows ahead of allocation by an eighth of its size, within
 * these bounds (as QEMU's preallocate filter does), and is trimmed back to
 * what is in use when the device is suspended or removed. Each growth waits
 * for all direct I/O in flight on the file (inode_dio_wait), so growing a
 * megabyte at a time stalled parallel allocating writes every 16 clusters.
 */
#define Q2_GROW_STEP		(1ULL << 20)
#define Q2_GROW_STEP_MAX	(64ULL << 20)

static size_t q2_block_round(struct q2 *q, size_t bytes)
{
	return round_up(max_t(size_t, bytes, 1), q->be.logical_block_size);
}

/* == Sorted offset arrays for the overlap check == */

static void q2_ranges_refresh(struct q2 *q);

static int q2_u64_cmp(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * Room for NR offsets. map() may be reading the array (overlap check of
 * in-place writes): a new array replaces the old one under map_lock, and
 * the old one is freed afterwards.
 */
static int q2_offsets_reserve(struct q2 *q, struct q2_offsets *o, u32 nr)
{
	unsigned long flags;
	u64 *v, *old;
	u32 max;

	if (nr <= o->max)
		return 0;
	max = max(nr, o->max * 2);
	max = max(max, 16U);
	v = kvmalloc_array(max, sizeof(u64), GFP_KERNEL);
	if (!v)
		return -ENOMEM;
	write_lock_irqsave(&q->map_lock, flags);
	old = o->v;
	if (o->nr)
		memcpy(v, old, o->nr * sizeof(u64));
	o->v = v;
	o->max = max;
	q2_ranges_refresh(q);
	write_unlock_irqrestore(&q->map_lock, flags);
	kvfree(old);
	return 0;
}

static int q2_offsets_insert(struct q2 *q, struct q2_offsets *o, u64 off)
{
	u32 lo = 0, hi = o->nr;
	unsigned long flags;
	int ret;

	ret = q2_offsets_reserve(q, o, o->nr + 1);
	if (ret)
		return ret;
	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		if (o->v[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < o->nr && o->v[lo] == off)
		return 0;
	write_lock_irqsave(&q->map_lock, flags);
	memmove(&o->v[lo + 1], &o->v[lo], (o->nr - lo) * sizeof(u64));
	o->v[lo] = off;
	o->nr++;
	q2_ranges_refresh(q);
	write_unlock_irqrestore(&q->map_lock, flags);
	return 0;
}

static void q2_offsets_remove(struct q2 *q, struct q2_offsets *o, u64 off)
{
	unsigned long flags;
	u32 i;

	write_lock_irqsave(&q->map_lock, flags);
	for (i = 0; i < o->nr; i++) {
		if (o->v[i] == off) {
			memmove(&o->v[i], &o->v[i + 1],
				(o->nr - i - 1) * sizeof(u64));
			o->nr--;
			break;
		}
	}
	q2_ranges_refresh(q);
	write_unlock_irqrestore(&q->map_lock, flags);
}

/* Sort and refuse duplicates: two references to one table is corruption. */
static int q2_offsets_finish(struct q2_offsets *o)
{
	u32 i;

	sort(o->v, o->nr, sizeof(u64), q2_u64_cmp, NULL);
	for (i = 1; i < o->nr; i++)
		if (o->v[i] == o->v[i - 1])
			return -EUCLEAN;
	return 0;
}

static void q2_ranges_refresh(struct q2 *q)
{
	q->ranges.active_l2 = q->l2_offsets.v;
	q->ranges.nb_active_l2 = q->l2_offsets.nr;
	q->ranges.refcount_blocks = q->rb_offsets.v;
	q->ranges.nb_refcount_blocks = q->rb_offsets.nr;
	q->ranges.inactive_l1 = q->snap_l1;
	q->ranges.nb_inactive_l1 = q->nr_snap_l1;
	q->ranges.active_l1.offset = q->h.l1_table_offset;
	q->ranges.active_l1.len = (u64)q->l1_size * sizeof(u64);
	q->ranges.refcount_table.offset = q->h.refcount_table_offset;
	q->ranges.refcount_table.len = q->reftable_entries * sizeof(u64);
}

/* Publish table moves (L1, refcount table) to map()'s overlap check. */
void q2_ranges_update(struct q2 *q)
{
	unsigned long flags;

	write_lock_irqsave(&q->map_lock, flags);
	q2_ranges_refresh(q);
	write_unlock_irqrestore(&q->map_lock, flags);
}

/* Which overlap kinds the overlap-check option leaves out. */
unsigned int q2_overlap_ignore(struct q2 *q)
{
	switch (q->opt.overlap) {
	case Q2_OVERLAP_NONE:
		return QCOW2_OL_ALL;
	case Q2_OVERLAP_CONSTANT:
		return QCOW2_OL_ACTIVE_L2 | QCOW2_OL_REFCOUNT_BLOCK |
		       QCOW2_OL_INACTIVE_L1 | QCOW2_OL_INACTIVE_L2;
	default:
		return 0;
	}
}

static const char *q2_overlap_name(unsigned int kind)
{
	switch (kind) {
	case QCOW2_OL_HEADER: return "the header";
	case QCOW2_OL_ACTIVE_L1: return "the active L1 table";
	case QCOW2_OL_ACTIVE_L2: return "an active L2 table";
	case QCOW2_OL_REFCOUNT_TABLE: return "the refcount table";
	case QCOW2_OL_REFCOUNT_BLOCK: return "a refcount block";
	case QCOW2_OL_SNAPSHOT_TABLE: return "the snapshot table";
	case QCOW2_OL_INACTIVE_L1: return "a snapshot's L1 table";
	case QCOW2_OL_INACTIVE_L2: return "a snapshot's L2 table";
	case QCOW2_OL_BITMAP_DIRECTORY: return "the bitmap directory";
	default: return "metadata";
	}
}

/*
 * Before writing [offset, offset + len): it must not overlap metadata of
 * another kind. On overlap the image is marked corrupt (it can only be
 * an allocator fed with bad refcounts, or a hostile image).
 */
int q2_check_overlap(struct q2 *q, u64 offset, u64 len, unsigned int ignore)
{
	unsigned int hit;

	if (q->opt.overlap == Q2_OVERLAP_NONE)
		return 0;
	ignore |= q2_overlap_ignore(q);
	q2_ranges_update(q);
	hit = qcow2_overlap_check(&q->ranges, offset, len, ignore);
	if (!hit)
		return 0;
	q2_err(q, "write at %llu+%llu would overwrite %s", offset, len,
	       q2_overlap_name(hit));
	q2_mark_corrupt(q, "metadata overlap");
	return -EIO;
}

/* == Loading == */

static int q2_read_table(struct q2 *q, u64 offset, size_t bytes, void **out,
			 size_t *alloc)
{
	size_t len = q2_block_round(q, bytes);
	void *buf;
	ssize_t n;

	buf = kvzalloc(len, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	if (bytes) {
		n = vs_backend_rw_kbuf(&q->be, ITER_DEST, buf, len, offset);
		if (n < 0) {
			kvfree(buf);
			return n;
		}
	}
	*out = buf;
	*alloc = len;
	return 0;
}

static int q2_load_l1(struct q2 *q, u64 file_size, char **error)
{
	const char *reason = NULL;
	size_t alloc;
	u32 i, bad;
	int ret;

	q->l1_size = q->h.l1_size;
	ret = q2_read_table(q, q->h.l1_table_offset,
			    (size_t)q->l1_size * sizeof(u64), (void **)&q->l1,
			    &alloc);
	if (ret) {
		*error = "cannot read the L1 table";
		return ret;
	}
	q->l1_bytes = alloc;
	q->l1_dirty = bitmap_zalloc(alloc / q->be.logical_block_size,
				    GFP_KERNEL);
	if (!q->l1_dirty)
		return -ENOMEM;

	ret = qcow2_l1_table_check(q->g, q->l1, q->l1_size, file_size, &bad,
				   &reason);
	if (ret) {
		*error = (char *)(reason ?: "corrupt L1 table");
		return ret;
	}
	for (i = 0; i < q->l1_size; i++) {
		u64 l2;
		bool copied;

		ret = qcow2_l1_entry_decode(q->g, be64_to_cpu(q->l1[i]), &l2,
					    &copied, &reason);
		if (ret) {
			*error = (char *)reason;
			return ret;
		}
		if (!l2)
			continue;
		ret = q2_offsets_reserve(q, &q->l2_offsets, q->l2_offsets.nr + 1);
		if (ret)
			return ret;
		q->l2_offsets.v[q->l2_offsets.nr++] = l2;
	}
	if (q2_offsets_finish(&q->l2_offsets)) {
		*error = "an L2 table is referenced twice by the L1 table";
		return -EUCLEAN;
	}
	return 0;
}

static int q2_collect_refblocks(struct q2 *q, char **error)
{
	const char *reason = NULL;
	u64 i;
	int ret;

	q->rb_offsets.nr = 0;
	for (i = 0; i < q->reftable_entries; i++) {
		u64 rb;

		ret = qcow2_reftable_entry_decode(q->g,
						  be64_to_cpu(q->reftable[i]),
						  &rb, &reason);
		if (ret) {
			*error = (char *)reason;
			return ret;
		}
		if (!rb)
			continue;
		ret = q2_offsets_reserve(q, &q->rb_offsets, q->rb_offsets.nr + 1);
		if (ret)
			return ret;
		q->rb_offsets.v[q->rb_offsets.nr++] = rb;
	}
	if (q2_offsets_finish(&q->rb_offsets)) {
		*error = "a refcount block is referenced twice";
		return -EUCLEAN;
	}
	return 0;
}

static int q2_load_reftable(struct q2 *q, char **error)
{
	size_t alloc;
	int ret;

	q->reftable_entries = (u64)q->h.refcount_table_clusters *
			      q2_cluster_size(q) / sizeof(u64);
	ret = q2_read_table(q, q->h.refcount_table_offset,
			    q->reftable_entries * sizeof(u64),
			    (void **)&q->reftable, &alloc);
	if (ret) {
		*error = "cannot read the refcount table";
		return ret;
	}
	q->reftable_bytes = alloc;
	q->reftable_dirty = bitmap_zalloc(alloc / q->be.logical_block_size,
					  GFP_KERNEL);
	if (!q->reftable_dirty)
		return -ENOMEM;

	return q2_collect_refblocks(q, error);
}

static int q2_range_cmp(const void *a, const void *b)
{
	const struct qcow2_range *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int q2_load_snapshots(struct q2 *q, u64 file_size, char **error)
{
	const char *reason = NULL;
	struct qcow2_snapshot *sns;
	size_t alloc, bytes;
	void *buf;
	u32 i;
	int ret;

	if (!q->h.nb_snapshots)
		return 0;

	/* QEMU bounds the table at 64 MiB; read at most that */
	bytes = min_t(u64, file_size - q->h.snapshots_offset, 64ULL << 20);
	ret = q2_read_table(q, q->h.snapshots_offset, bytes, &buf, &alloc);
	if (ret) {
		*error = "cannot read the snapshot table";
		return ret;
	}
	sns = kvcalloc(q->h.nb_snapshots, sizeof(*sns), GFP_KERNEL);
	q->snap_l1 = kvcalloc(q->h.nb_snapshots, sizeof(*q->snap_l1),
			      GFP_KERNEL);
	if (!sns || !q->snap_l1) {
		ret = -ENOMEM;
		goto out;
	}
	ret = qcow2_snapshot_table_parse(&q->h, file_size, buf, bytes, sns,
					 &q->snapshot_table_len, &reason);
	if (ret) {
		*error = (char *)(reason ?: "corrupt snapshot table");
		goto out;
	}
	for (i = 0; i < q->h.nb_snapshots; i++) {
		q->snap_l1[i].offset = sns[i].l1_table_offset;
		q->snap_l1[i].len = (u64)sns[i].l1_size * sizeof(u64);
	}
	q->nr_snap_l1 = q->h.nb_snapshots;
	sort(q->snap_l1, q->nr_snap_l1, sizeof(*q->snap_l1), q2_range_cmp,
	     NULL);
out:
	kvfree(sns);
	kvfree(buf);
	return ret;
}

static unsigned int q2_cache_entries(struct q2 *q, u64 bytes, u64 dflt)
{
	u64 n = (bytes ?: dflt) >> q->g->cluster_bits;

	return clamp_t(u64, n, 2, 1U << 20);
}

/*
 * Read the whole metadata of the image. Runs in preresume: an earlier table
 * of the same device is suspended by then and has committed everything.
 */
int q2_meta_load(struct q2 *q, char **error)
{
	u64 file_size = vs_backend_current_size(&q->be);
	u64 l2_default;
	int ret;

	q->file_end = file_size;
	q->used_end = file_size;
	ret = q2_load_l1(q, file_size, error);
	if (ret)
		return ret;
	ret = q2_load_reftable(q, error);
	if (ret)
		return ret;
	ret = q2_load_snapshots(q, file_size, error);
	if (ret)
		return ret;

	qcow2_meta_ranges_init(&q->ranges, &q->h, &q->ext,
			       q->snapshot_table_len);
	q2_ranges_refresh(q);
	{
		const char *reason = NULL;

		ret = qcow2_meta_ranges_check(&q->ranges, &reason);
		if (ret) {
			*error = (char *)(reason ?: "metadata tables overlap");
			return ret;
		}
	}

	/* like QEMU: by default, enough L2 cache for the whole disk */
	l2_default = min_t(u64, Q2_DEFAULT_L2_CACHE_MAX,
			   (u64)max(q->l1_size, 1U) << q->g->cluster_bits);
	ret = q2_cache_init(&q->l2_cache, "L2", QCOW2_OL_ACTIVE_L2,
			    q2_cache_entries(q, q->opt.l2_cache_size,
					     l2_default));
	if (ret)
		return ret;
	ret = q2_cache_init(&q->rb_cache, "refcount", QCOW2_OL_REFCOUNT_BLOCK,
			    max(q2_cache_entries(q, q->opt.refcount_cache_size,
						 l2_default / 4),
				(unsigned int)Q2_MIN_REFBLOCK_CACHE));
	if (ret)
		return ret;

	q->cow_buf = kvmalloc(q2_cluster_size(q), GFP_KERNEL);
	if (!q->cow_buf)
		return -ENOMEM;
	q->loaded = true;

	if (q->h.dirty && q->be.writable) {
		ret = q2_repair_refcounts(q);
		if (!ret)
			ret = q2_collect_refblocks(q, error);
		if (ret) {
			*error = Q2_DIRTY_UNREPAIRED;
			q->loaded = false;
			return ret;
		}
	}
	return 0;
}

void q2_meta_free(struct q2 *q)
{
	q2_cache_destroy(q, &q->l2_cache);
	q2_cache_destroy(q, &q->rb_cache);
	kvfree(q->l1);
	bitmap_free(q->l1_dirty);
	kvfree(q->reftable);
	bitmap_free(q->reftable_dirty);
	kvfree(q->l2_offsets.v);
	kvfree(q->rb_offsets.v);
	kvfree(q->snap_l1);
	kvfree(q->pending_dec);
	kvfree(q->cow_buf);
	q2_compress_free(q);
	q->loaded = false;
}

/* == Lookup == */

static int q2_l2_entry(struct q2 *q, u64 pos, struct q2_cache_entry **ep,
		       u32 *index, bool *copied)
{
	const char *reason = NULL;
	u64 l1_index = qcow2_l1_index(q->g, pos);
	u64 l2;
	int ret;

	*ep = NULL;
	if (l1_index >= q->l1_size)
		return 0;
	ret = qcow2_l1_entry_decode(q->g, be64_to_cpu(q->l1[l1_index]), &l2,
				    copied, &reason);
	if (ret) {
		q2_mark_corrupt(q, reason);
		return -EIO;
	}
	if (!l2)
		return 0;
	ret = q2_cache_get(q, &q->l2_cache, l2, false, ep);
	if (ret)
		return ret;
	*index = qcow2_l2_index(q->g, pos);
	return 0;
}

static int q2_decode(struct q2 *q, struct q2_cache_entry *e, u32 index,
		     struct qcow2_l2_info *info, u64 *raw)
{
	const char *reason = NULL;
	u64 entry, bitmap;
	int ret;

	qcow2_l2_entry_get(q->g, e->buf, index, &entry, &bitmap);
	ret = qcow2_l2_entry_decode(q->g, entry, bitmap, info, &reason);
	if (ret) {
		q2_err(q, "corrupt L2 entry %u of the table at %llu: %s",
		       index, e->offset, reason);
		q2_mark_corrupt(q, reason);
		return -EIO;
	}
	if (raw)
		*raw = entry;
	return 0;
}

/* An unallocated range: the backing node's, or zeroes (QEMU). */
static void q2_map_unallocated(struct q2 *q, u64 pos, struct q2_map *map)
{
	if (!q->backing || pos >= q->backing_size) {
		map->type = Q2_MAP_ZERO;
	} else {
		map->type = Q2_MAP_BACKING;
		map->len = min(map->len, q->backing_size - pos);
	}
}

/* Fill MAP for POS from its decoded L2 entry; map->len is set by the caller. */
static void q2_map_entry(struct q2 *q, u64 pos, const struct qcow2_l2_info *info,
			 u64 raw, bool l1_copied, struct q2_map *map)
{
	u64 in_cluster = pos & (q2_cluster_size(q) - 1);
	u32 sc, run;

	if (info->type == QCOW2_CLUSTER_COMPRESSED) {
		map->type = Q2_MAP_COMPRESSED;
		map->l2_entry = raw;
		map->allocated = true;
		return;
	}
	sc = (u32)(in_cluster >> q->g->subcluster_bits);
	run = qcow2_sc_run(q->g, info, sc);
	map->len = min(map->len, ((u64)(sc + run) << q->g->subcluster_bits) -
				 in_cluster);
	if (info->host_offset) {
		map->offset_valid = true;
		map->host_offset = info->host_offset + in_cluster;
	}
	switch (qcow2_sc_state(info, sc)) {
	case QCOW2_SC_DATA:
		map->type = Q2_MAP_DATA;
		map->allocated = true;
		map->copied = l1_copied && info->copied;
		return;
	case QCOW2_SC_ZERO:
		map->type = Q2_MAP_ZERO;
		map->allocated = true;
		return;
	default:
		q2_map_unallocated(q, pos, map);
	}
}

/*
 * How the guest range [pos, pos + len) is served: map->len bytes from pos
 * share map->type. The answer never crosses a cluster boundary, except for
 * a range without an L2 table, which is answered up to the table's end.
 */
int q2_lookup(struct q2 *q, u64 pos, u64 len, struct q2_map *map)
{
	u64 per_l2 = 1ULL << (q->g->cluster_bits + q->g->l2_bits);
	struct qcow2_l2_info info;
	struct q2_cache_entry *e;
	bool l1_copied;
	u32 index;
	u64 raw;
	int ret;

	memset(map, 0, sizeof(*map));
	ret = q2_l2_entry(q, pos, &e, &index, &l1_copied);
	if (ret)
		return ret;
	if (!e) {
		map->len = min(len, round_down(pos, per_l2) + per_l2 - pos);
		q2_map_unallocated(q, pos, map);
		return 0;
	}
	map->len = min(len, q2_cluster_size(q) - (pos & (q2_cluster_size(q) - 1)));
	ret = q2_decode(q, e, index, &info, &raw);
	q2_cache_put(e);
	if (ret)
		return ret;
	q2_map_entry(q, pos, &info, raw, l1_copied, map);
	return 0;
}

/*
 * q2_lookup() for map(), under map_lock (read): answers only from what is
 * in memory, and leaves every doubt (a cache miss, a bad entry, compressed
 * data) to the worker.
 */
bool q2_lookup_fast(struct q2 *q, u64 pos, u64 len, struct q2_map *map)
{
	u64 l1_index = qcow2_l1_index(q->g, pos);
	struct qcow2_l2_info info;
	const char *reason = NULL;
	struct q2_cache_entry *e;
	u64 l2, raw, bitmap;
	bool l1_copied;

	memset(map, 0, sizeof(*map));
	map->len = min(len, q2_cluster_size(q) - (pos & (q2_cluster_size(q) - 1)));
	if (l1_index >= q->l1_size)
		return false;
	if (qcow2_l1_entry_decode(q->g, be64_to_cpu(q->l1[l1_index]), &l2,
				  &l1_copied, &reason))
		return false;
	if (!l2) {
		q2_map_unallocated(q, pos, map);
		return true;
	}
	e = q2_cache_peek(&q->l2_cache, l2);
	if (!e)
		return false;
	/* per CPU: a shared counter would bounce between submitting CPUs */
	this_cpu_inc(*q->l2_fast_hits);
	qcow2_l2_entry_get(q->g, e->buf, qcow2_l2_index(q->g, pos), &raw,
			   &bitmap);
	if (qcow2_l2_entry_decode(q->g, raw, bitmap, &info, &reason))
		return false;
	q2_map_entry(q, pos, &info, raw, l1_copied, map);
	return map->type != Q2_MAP_COMPRESSED;
}

/* All L2 cache hits: the worker's and map()'s. */
u64 q2_l2_hits(struct q2 *q)
{
	u64 sum = READ_ONCE(q->l2_cache.hits);
	int cpu;

	if (q->l2_fast_hits)
		for_each_possible_cpu(cpu)
			sum += READ_ONCE(*per_cpu_ptr(q->l2_fast_hits, cpu));
	return sum;
}

static s64 q2_fast_inflight(struct q2 *q)
{
	s64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(*per_cpu_ptr(q->fast_inflight, cpu));
	return sum;
}

/*
 * Wait until no data I/O is in flight: what the worker started, and what
 * map() started on its own (counted per CPU; a bio counted before its lookup
 * saw the old mapping is seen here, since that lookup came before our
 * metadata change under map_lock).
 */
void q2_drain(struct q2 *q)
{
	wait_event(q->inflight_wait, !atomic_read(&q->inflight));
	while (q2_fast_inflight(q))
		usleep_range(50, 500);
}

/* == Refcounts and allocation == */

static int q2_refblock(struct q2 *q, u64 cluster, bool create,
		       struct q2_cache_entry **ep, u32 *index);

static int q2_refcount_add(struct q2 *q, u64 cluster, s64 delta)
{
	struct q2_cache_entry *e;
	u64 cur, val;
	u32 index;
	int ret;

	ret = q2_refblock(q, cluster, delta > 0, &e, &index);
	if (ret)
		return ret;
	if (!e) {
		q2_mark_corrupt(q, "refcount of an unaccounted cluster dropped below zero");
		return -EIO;
	}
	cur = qcow2_refblock_get(e->buf, q->g->refcount_order, index);
	ret = qcow2_refcount_adjust(q->g->refcount_order, cur, delta, &val);
	if (ret) {
		q2_cache_put(e);
		if (delta < 0)
			q2_mark_corrupt(q, "refcount dropped below zero");
		return -EIO;
	}
	qcow2_refblock_set(e->buf, q->g->refcount_order, index, val);
	e->dirty = true;
	q2_cache_put(e);
	if (!val && cluster < q->free_cursor)
		q->free_cursor = cluster;
	return 0;
}

static void q2_reftable_set(struct q2 *q, u64 index, u64 value)
{
	q->reftable[index] = cpu_to_be64(value);
	set_bit(index * sizeof(u64) / q->be.logical_block_size,
		q->reftable_dirty);
}

/* Make sure the image file covers [0, end). */
static int q2_grow_file(struct q2 *q, u64 end)
{
	u64 align = max_t(u64, Q2_GROW_STEP, q2_cluster_size(q));
	u64 new_end;
	int ret;

	if (end > q->file_end) {
		u64 cap = vs_backend_capacity(&q->be);

		if (end > cap)
			return -ENOSPC;
		new_end = min(round_up(end + clamp(q->file_end / 8,
						   Q2_GROW_STEP,
						   Q2_GROW_STEP_MAX), align), cap);
		ret = vs_backend_grow(&q->be, new_end);
		if (ret) {
			/* a nearly full file system: only what is needed */
			new_end = min(round_up(end, align), cap);
			ret = vs_backend_grow(&q->be, new_end);
		}
		if (ret)
			return ret;
		q->file_end = new_end;
	}
	q->used_end = max(q->used_end, end);
	return 0;
}

/* Give back what the file was grown ahead of use (a committed image). */
void q2_trim_file(struct q2 *q)
{
	u64 end = round_up(q->used_end, q2_cluster_size(q));

	if (q->node.read_only || q->file_end <= end)
		return;
	if (vs_backend_shrink(&q->be, end))
		return;
	q->file_end = end;
}

/*
 * Give the refcount table room for at least MIN_ENTRIES entries. Every
 * cluster below the table's coverage is in use (that is why we are here), so
 * the new structures go right after it: one refcount block that counts
 * itself and the new table, then the table. They are written and flushed
 * before the header points at them; the old table is freed afterwards.
 */
static int q2_grow_reftable(struct q2 *q, u64 min_entries)
{
	u32 cs = q2_cluster_size(q), bits = q->g->refblock_bits;
	u64 entries = max(min_entries, q->reftable_entries * 2);
	u64 c0 = q->reftable_entries << bits;
	u64 nclusters, i, old_off = q->h.refcount_table_offset;
	u32 old_clusters = q->h.refcount_table_clusters;
	unsigned long *dirty;
	size_t alloc;
	void *rb;
	__be64 *t;
	ssize_t n;
	int ret;

	nclusters = DIV_ROUND_UP(entries * sizeof(u64), cs);
	entries = nclusters * cs / sizeof(u64);
	if (nclusters + 1 > (1ULL << bits) || nclusters > U32_MAX ||
	    nclusters * cs > (8ULL << 20)) {
		q2_err(q, "refcount table cannot grow further");
		return -ENOSPC;
	}
	ret = q2_check_overlap(q, c0 << q->g->cluster_bits,
			       (nclusters + 1) * cs, 0);
	if (ret)
		return ret;
	ret = q2_grow_file(q, (c0 + 1 + nclusters) << q->g->cluster_bits);
	if (ret)
		return ret;

	alloc = q2_block_round(q, nclusters * cs);
	t = kvzalloc(alloc, GFP_KERNEL);
	rb = kvzalloc(cs, GFP_KERNEL);
	dirty = bitmap_zalloc(alloc / q->be.logical_block_size, GFP_KERNEL);
	if (!t || !rb || !dirty) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(t, q->reftable, q->reftable_entries * sizeof(u64));
	t[c0 >> bits] = cpu_to_be64(c0 << q->g->cluster_bits);
	for (i = 0; i <= nclusters; i++)
		qcow2_refblock_set(rb, q->g->refcount_order,
				   (u32)((c0 + i) & ((1ULL << bits) - 1)), 1);

	/* what the new table references must be on disk before it */
	ret = q2_cache_flush(q, &q->rb_cache);
	if (ret)
		goto out;
	n = vs_backend_rw_kbuf(&q->be, ITER_SOURCE, rb, cs,
			       c0 << q->g->cluster_bits);
	if (n >= 0)
		n = vs_backend_rw_kbuf(&q->be, ITER_SOURCE, t, alloc,
				       (c0 + 1) << q->g->cluster_bits);
	if (n >= 0)
		n = vs_backend_flush(&q->be);
	if (n < 0) {
		ret = n;
		goto out;
	}

	q->h.refcount_table_offset = (c0 + 1) << q->g->cluster_bits;
	q->h.refcount_table_clusters = nclusters;
	ret = q2_header_write_flush(q);
	if (ret) {
		/* the old table stays valid on disk; keep using it */
		q->h.refcount_table_offset = old_off;
		q->h.refcount_table_clusters = old_clusters;
		goto out;
	}

	ret = q2_offsets_insert(q, &q->rb_offsets, c0 << q->g->cluster_bits);
	kvfree(q->reftable);
	bitmap_free(q->reftable_dirty);
	q->reftable = t;
	q->reftable_dirty = dirty;
	q->reftable_bytes = alloc;
	q->reftable_entries = entries;
	t = NULL;
	dirty = NULL;
	for (i = 0; i < old_clusters; i++)
		q2_refcount_dec_deferred(q, old_off + i * cs);
	q2_ranges_update(q);
out:
	kvfree(t);
	kvfree(rb);
	bitmap_free(dirty);
	return ret;
}

int q2_grow_file_to(struct q2 *q, u64 end)
{
	return q2_grow_file(q, end);
}

/*
 * The refcount block covering host CLUSTER. With CREATE, a missing block is
 * made: it is placed in the first cluster it covers, which is free (the
 * whole block range is unaccounted), and counts itself.
 */
static int q2_refblock(struct q2 *q, u64 cluster, bool create,
		       struct q2_cache_entry **ep, u32 *index)
{
	u32 bits = q->g->refblock_bits;
	u64 rt_index = cluster >> bits;
	const char *reason = NULL;
	u64 rb, self;
	int ret;

	*ep = NULL;
	*index = (u32)(cluster & ((1ULL << bits) - 1));
	if (rt_index >= q->reftable_entries) {
		if (!create)
			return 0;
		ret = q2_grow_reftable(q, rt_index + 1);
		if (ret)
			return ret;
		/* the allocator restarts: the new structures took clusters */
		return -EAGAIN;
	}
	ret = qcow2_reftable_entry_decode(q->g,
					  be64_to_cpu(q->reftable[rt_index]),
					  &rb, &reason);
	if (ret) {
		q2_mark_corrupt(q, reason);
		return -EIO;
	}
	if (rb)
		return q2_cache_get(q, &q->rb_cache, rb, false, ep);
	if (!create)
		return 0;

	self = rt_index << bits;
	rb = self << q->g->cluster_bits;
	ret = q2_check_overlap(q, rb, q2_cluster_size(q), 0);
	if (ret)
		return ret;
	ret = q2_grow_file(q, rb + q2_cluster_size(q));
	if (ret)
		return ret;
	ret = q2_cache_get(q, &q->rb_cache, rb, true, ep);
	if (ret)
		return ret;
	qcow2_refblock_set((*ep)->buf, q->g->refcount_order, 0, 1);
	ret = q2_offsets_insert(q, &q->rb_offsets, rb);
	if (ret) {
		q2_cache_put(*ep);
		return ret;
	}
	q2_reftable_set(q, rt_index, rb);
	if (self == cluster) {
		/* the caller wanted the cluster the block now occupies */
		q2_cache_put(*ep);
		*ep = NULL;
		return -EAGAIN;
	}
	return 0;
}

/* Find a free host cluster, give it refcount 1, return its offset. */
int q2_alloc_cluster(struct q2 *q, u64 *host)
{
	u64 cluster = max(q->free_cursor, 1ULL);
	u64 limit = vs_backend_capacity(&q->be) >> q->g->cluster_bits;
	int ret;

	for (; cluster < limit; cluster++) {
		struct q2_cache_entry *e;
		u64 off = cluster << q->g->cluster_bits;
		u32 index;

		ret = q2_refblock(q, cluster, true, &e, &index);
		if (ret == -EAGAIN)
			continue;
		if (ret)
			return ret;
		if (qcow2_refblock_get(e->buf, q->g->refcount_order, index)) {
			q2_cache_put(e);
			continue;
		}
		/* a refcount of zero on metadata means the refcounts lie */
		ret = q2_check_overlap(q, off, q2_cluster_size(q), 0);
		if (ret) {
			q2_cache_put(e);
			return ret;
		}
		ret = q2_grow_file(q, off + q2_cluster_size(q));
		if (ret) {
			q2_cache_put(e);
			return ret;
		}
		qcow2_refblock_set(e->buf, q->g->refcount_order, index, 1);
		e->dirty = true;
		q2_cache_put(e);
		q->free_cursor = cluster + 1;
		*host = off;
		return 0;
	}
	return -ENOSPC;
}

/* The refcount of host cluster HOST (0 where no refcount block is). */
int q2_refcount_get(struct q2 *q, u64 host, u64 *refcount)
{
	struct q2_cache_entry *e;
	u32 index;
	int ret;

	*refcount = 0;
	ret = q2_refblock(q, host >> q->g->cluster_bits, false, &e, &index);
	if (ret || !e)
		return ret;
	*refcount = qcow2_refblock_get(e->buf, q->g->refcount_order, index);
	q2_cache_put(e);
	return 0;
}

/* Drop one reference to host cluster HOST once the next commit is done. */
int q2_refcount_dec_deferred(struct q2 *q, u64 host)
{
	if (q->nr_pending_dec == q->max_pending_dec) {
		u32 max = max(q->max_pending_dec * 2, 64U);
		u64 *v = kvrealloc(q->pending_dec,
				   q->max_pending_dec * sizeof(u64),
				   max * sizeof(u64), GFP_KERNEL);

		if (!v)
			return -ENOMEM;	/* a leak, never corruption */
		q->pending_dec = v;
		q->max_pending_dec = max;
	}
	q->pending_dec[q->nr_pending_dec++] = host >> q->g->cluster_bits;
	return 0;
}

/* == L2 tables for writing == */

static void q2_l1_set(struct q2 *q, u64 index, u64 entry)
{
	unsigned long flags;

	write_lock_irqsave(&q->map_lock, flags);
	q->l1[index] = cpu_to_be64(entry);
	write_unlock_irqrestore(&q->map_lock, flags);
	set_bit(index * sizeof(u64) / q->be.logical_block_size, q->l1_dirty);
}

/*
 * The L2 table for guest POS, ready to be modified: allocated if missing,
 * copied if shared with a snapshot (L1 entry without "copied").
 */
int q2_l2_for_write(struct q2 *q, u64 pos, struct q2_cache_entry **ep,
		    u32 *index)
{
	u64 l1_index = qcow2_l1_index(q->g, pos);
	struct q2_cache_entry *old = NULL, *e;
	const char *reason = NULL;
	u64 l2, host;
	bool copied;
	int ret;

	if (l1_index >= q->l1_size)
		return -EIO;
	ret = qcow2_l1_entry_decode(q->g, be64_to_cpu(q->l1[l1_index]), &l2,
				    &copied, &reason);
	if (ret) {
		q2_mark_corrupt(q, reason);
		return -EIO;
	}
	*index = qcow2_l2_index(q->g, pos);
	if (l2 && copied)
		return q2_cache_get(q, &q->l2_cache, l2, false, ep);

	if (l2) {
		ret = q2_cache_get(q, &q->l2_cache, l2, false, &old);
		if (ret)
			return ret;
	}
	ret = q2_alloc_cluster(q, &host);
	if (ret)
		goto out;
	ret = q2_cache_get(q, &q->l2_cache, host, true, &e);
	if (ret)
		goto out;
	if (old)
		memcpy(e->buf, old->buf, q2_cluster_size(q));
	ret = q2_offsets_insert(q, &q->l2_offsets, host);
	if (ret) {
		q2_cache_put(e);
		goto out;
	}
	q2_l1_set(q, l1_index, qcow2_l1_entry_encode(host, true));
	if (old) {
		/* the snapshot keeps the old table */
		q2_offsets_remove(q, &q->l2_offsets, l2);
		ret = q2_refcount_dec_deferred(q, l2);
	}
	*ep = e;
out:
	if (old)
		q2_cache_put(old);
	return ret;
}

/* == Commit == */

static int q2_write_dirty_blocks(struct q2 *q, void *table, size_t bytes,
				 unsigned long *dirty, u64 offset,
				 unsigned int kind)
{
	unsigned int lbs = q->be.logical_block_size;
	unsigned long bit;
	ssize_t n;
	int ret;

	for_each_set_bit(bit, dirty, bytes / lbs) {
		u64 off = offset + (u64)bit * lbs;

		ret = q2_check_overlap(q, off, lbs, kind);
		if (ret)
			return ret;
		n = vs_backend_rw_kbuf(&q->be, ITER_SOURCE, table + bit * lbs,
				       lbs, off);
		if (n < 0)
			return n;
		clear_bit(bit, dirty);
	}
	return 0;
}

static bool q2_blocks_dirty(struct q2 *q, unsigned long *dirty, size_t bytes)
{
	return !bitmap_empty(dirty, bytes / q->be.logical_block_size);
}

/*
 * Refcount blocks, then (after a flush, so that a new block is durable
 * before the table entry that points to it) the refcount table. Lazy
 * refcounts skip both: the dirty bit stands for them.
 */
static int q2_commit_refcounts(struct q2 *q)
{
	int ret;

	if (q->lazy)
		return 0;
	ret = q2_cache_flush(q, &q->rb_cache);
	if (ret || !q2_blocks_dirty(q, q->reftable_dirty, q->reftable_bytes))
		return ret;
	ret = vs_backend_flush(&q->be);
	if (ret)
		return ret;
	return q2_write_dirty_blocks(q, q->reftable, q->reftable_bytes,
				     q->reftable_dirty,
				     q->h.refcount_table_offset,
				     QCOW2_OL_REFCOUNT_TABLE);
}

static bool q2_any_dirty(struct q2 *q)
{
	struct q2_cache_entry *e;

	if (!bitmap_empty(q->l1_dirty, q->l1_bytes / q->be.logical_block_size) ||
	    !bitmap_empty(q->reftable_dirty,
			  q->reftable_bytes / q->be.logical_block_size))
		return true;
	list_for_each_entry(e, &q->l2_cache.lru, lru)
		if (e->dirty)
			return true;
	list_for_each_entry(e, &q->rb_cache.lru, lru)
		if (e->dirty)
			return true;
	return false;
}

static int q2_apply_pending(struct q2 *q)
{
	int ret = 0;
	u32 i;

	for (i = 0; i < q->nr_pending_dec && !ret; i++)
		ret = q2_refcount_add(q, q->pending_dec[i], -1);
	q->nr_pending_dec = 0;
	return ret;
}

/*
 * Make everything done so far durable: refcounts, flush, L2 tables and L1,
 * flush. DRAIN: no data I/O is in flight (the caller waited), so deferred
 * refcount decrements may be applied; they reach the disk with the next
 * commit.
 */
int q2_commit(struct q2 *q, bool drain)
{
	int ret;

	/* opened read-only: nothing of ours to make durable */
	if (!q->loaded || !q->be.writable)
		return 0;
	if (q2_any_dirty(q)) {
		if (q->corrupt)
			return -EIO;
		ret = q2_commit_refcounts(q);
		if (!ret)
			ret = vs_backend_flush(&q->be);
		if (!ret)
			ret = q2_cache_flush(q, &q->l2_cache);
		/* a new L2 table must be durable before the L1 entry to it */
		if (!ret && q2_blocks_dirty(q, q->l1_dirty, q->l1_bytes)) {
			ret = vs_backend_flush(&q->be);
			if (!ret)
				ret = q2_write_dirty_blocks(q, q->l1, q->l1_bytes,
							    q->l1_dirty,
							    q->h.l1_table_offset,
							    QCOW2_OL_ACTIVE_L1);
		}
		if (ret) {
			q2_err(q, "metadata commit failed: %d", ret);
			return ret;
		}
	}
	ret = vs_backend_flush(&q->be);
	if (ret)
		return ret;
	if (drain && q->nr_pending_dec)
		ret = q2_apply_pending(q);
	return ret;
}

/*
 * Commit, apply the deferred refcount decrements, and write those too:
 * afterwards the disk holds everything and nothing waits in memory (at
 * suspend, when another instance may take over the image).
 */
int q2_commit_all(struct q2 *q)
{
	int ret = q2_commit(q, true);

	if (!ret && q->loaded && q->be.writable && q2_any_dirty(q))
		ret = q2_commit(q, false);
	return ret;
}

/* == Resize == */

/*
 * N contiguous clusters after the used part of the file (a new L1 table).
 * Something else may take a cluster on the way (a new refcount block):
 * give back what was taken and start again after it.
 */
int q2_alloc_run(struct q2 *q, u64 n, u64 *first)
{
	u32 bits = q->g->cluster_bits;
	int tries, ret = -EIO;

	for (tries = 0; tries < 8; tries++) {
		u64 off = round_up(q->used_end, q2_cluster_size(q)), i, host;

		for (i = 0; i < n; i++) {
			q->free_cursor = (off >> bits) + i;
			ret = q2_alloc_cluster(q, &host);
			if (ret)
				break;
			if (host != off + (i << bits)) {
				q2_refcount_dec_deferred(q, host);
				ret = -EAGAIN;
				break;
			}
		}
		if (!ret) {
			*first = off;
			return 0;
		}
		while (i--)
			q2_refcount_dec_deferred(q, off + (i << bits));
		if (ret != -EAGAIN)
			return ret;
	}
	return -EIO;
}

/* Grow the virtual size; the L1 table moves if it must grow. */
int q2_resize(struct q2 *q, u64 new_size)
{
	u64 per_l1 = 1ULL << (q->g->cluster_bits + q->g->l2_bits);
	u64 need = DIV_ROUND_UP(new_size, per_l1);
	size_t bytes, alloc;
	__be64 *l1;
	unsigned long *dirty;
	u64 off, old_off = q->h.l1_table_offset, i, nclusters;
	u32 old_size = q->l1_size;
	int ret;

	if (new_size < q->virtual_size)
		return -EOPNOTSUPP;
	if (need > (32ULL << 20) / sizeof(u64))
		return -EFBIG;
	ret = q2_write_prepare(q);
	if (ret)
		return ret;

	if (need > q->l1_size) {
		bytes = need * sizeof(u64);
		nclusters = DIV_ROUND_UP(bytes, q2_cluster_size(q));
		alloc = q2_block_round(q, nclusters * q2_cluster_size(q));
		l1 = kvzalloc(alloc, GFP_KERNEL);
		dirty = bitmap_zalloc(alloc / q->be.logical_block_size,
				      GFP_KERNEL);
		if (!l1 || !dirty) {
			kvfree(l1);
			bitmap_free(dirty);
			return -ENOMEM;
		}
		memcpy(l1, q->l1, (size_t)q->l1_size * sizeof(u64));
		/* the new table takes contiguous clusters at the file's end */
		ret = q2_alloc_run(q, nclusters, &off);
		if (ret) {
			kvfree(l1);
			bitmap_free(dirty);
			return ret;
		}
		ret = q2_commit(q, false);
		if (!ret) {
			ssize_t n = vs_backend_rw_kbuf(&q->be, ITER_SOURCE, l1,
						       alloc, off);

			ret = n < 0 ? n : vs_backend_flush(&q->be);
		}
		if (ret) {
			for (i = 0; i < nclusters; i++)
				q2_refcount_dec_deferred(q, off + (i << q->g->cluster_bits));
			kvfree(l1);
			bitmap_free(dirty);
			return ret;
		}
		{
			unsigned long flags;
			__be64 *old_l1 = q->l1;

			write_lock_irqsave(&q->map_lock, flags);
			q->l1 = l1;
			q->l1_size = need;
			write_unlock_irqrestore(&q->map_lock, flags);
			kvfree(old_l1);
		}
		bitmap_free(q->l1_dirty);
		q->l1_dirty = dirty;
		q->l1_bytes = alloc;
		q->h.l1_size = need;
		q->h.l1_table_offset = off;
	}
	q->h.size = new_size;
	ret = q2_header_write_flush(q);
	if (ret)
		return ret;
	q->virtual_size = new_size;
	q2_ranges_update(q);
	if (q->l1_size != old_size) {
		nclusters = DIV_ROUND_UP((u64)old_size * sizeof(u64),
					 q2_cluster_size(q));
		for (i = 0; i < nclusters && old_size; i++)
			q2_refcount_dec_deferred(q, old_off +
						 (i << q->g->cluster_bits));
	}
	return 0;
}

u64 q2_allocated_bytes(struct q2 *q)
{
	return vs_backend_allocated_bytes(&q->be);
}
