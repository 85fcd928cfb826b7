// SPDX-License-Identifier: GPL-2.0
/*
 * The qcow2 request path.
 *
 * map() serves on its own what the cached metadata describes as one run:
 * reads or in-place writes of clusters of one kind that are contiguous on
 * the host, however many (q2_map_fast), accepting only that run of a
 * longer bio (dm_accept_partial_bio; the rest comes back as a new bio).
 * Everything else is cut at the first cluster boundary and queued to one
 * ordered worker per device, so every bio the worker sees lies inside one
 * guest cluster; the worker looks each up under meta_lock and then:
 *
 *  - reads of allocated data, and writes to clusters that are allocated,
 *    not shared and whose subclusters are all allocated, go to the image
 *    asynchronously (direct I/O on a file, a remapped bio on a device);
 *  - reads of unallocated ranges go to the backing node (remapped bio), or
 *    read as zeroes; zero clusters and subclusters read as zeroes;
 *  - compressed clusters are decompressed in the worker and copied out;
 *  - every other write allocates: the worker builds the new cluster (or
 *    the touched subclusters) in a bounce buffer from the old contents and
 *    the bio, writes it synchronously, and only then points the L2 entry at
 *    it (in the cache; the next commit makes it durable);
 *  - REQ_PREFLUSH commits metadata; REQ_FUA on an allocating write commits
 *    before the bio completes.
 *
 * A bio whose cluster has ranges of different kinds (extended L2) is split
 * into runs with bio_split(); the pieces complete into the parent.
 *
 * Because one worker orders all lookups and metadata changes of a device,
 * no cluster is ever allocated twice; asynchronous data I/O in flight is
 * protected by deferring refcount decrements to a commit that first waits
 * for it (q2_commit with drain).
 */
#include <linux/blkdev.h>
#include <linux/slab.h>

#include "qcow2.h"

static struct q2_io *q2_io_of(struct bio *bio)
{
	return dm_per_bio_data(bio, sizeof(struct q2_io));
}

/* Guest byte offset of BIO, which may be a piece split off a dm bio. */
u64 q2_bio_pos(struct q2 *q, struct bio *bio)
{
	return (u64)dm_target_offset(q->ti, bio->bi_iter.bi_sector)
		<< SECTOR_SHIFT;
}

void q2_queue_bio(struct q2 *q, struct bio *bio)
{
	vs_bio_queue_add(&q->mq, bio, q->wq);
}

/* == Pieces of a bio == */

void q2_end(struct bio *bio, int err)
{
	if (err && !bio->bi_status)
		bio->bi_status = errno_to_blk_status(err);
	bio_endio(bio);
}

static void q2_piece_endio(struct bio *piece)
{
	struct bio *parent = piece->bi_private;

	if (piece->bi_status && !parent->bi_status)
		parent->bi_status = piece->bi_status;
	bio_put(piece);
	bio_endio(parent);
}

/*
 * Split off the first LEN bytes of BIO to handle separately; the parent
 * completes only when the piece has. LEN may be all that is left of BIO:
 * the piece is then a clone that takes over the parent's own completion.
 */
struct bio *q2_split(struct q2 *q, struct bio *bio, u64 len)
{
	struct bio *piece;

	q2_io_of(bio)->split = true;
	if (len < bio->bi_iter.bi_size) {
		piece = bio_split(bio, len >> SECTOR_SHIFT, GFP_NOIO, &q->bs);
		bio_inc_remaining(bio);
	} else {
		piece = bio_alloc_clone(bio->bi_bdev, bio, GFP_NOIO, &q->bs);
	}
	piece->bi_private = bio;
	piece->bi_end_io = q2_piece_endio;
	return piece;
}

/*
 * Whether BIO's completion also waits for pieces split off it, some of
 * which may be allocations that only the worker finishes.
 */
bool q2_has_pieces(struct bio *bio)
{
	return q2_io_of(bio)->split;
}

static void q2_inflight_dec(struct q2 *q)
{
	if (atomic_dec_and_test(&q->inflight))
		wake_up(&q->inflight_wait);
}

/* A piece whose data I/O the worker started, counted on its own. */
static void q2_piece_data_endio(struct bio *piece)
{
	q2_inflight_dec(q2_io_of(piece->bi_private)->q);
	q2_piece_endio(piece);
}

/* Count BIO, handled by the worker, until its end_io (see q2_drain). */
void q2_inflight_count(struct q2 *q, struct bio *bio)
{
	struct q2_io *io;

	/* a piece has no per-bio data; q2_submit_data() counts it */
	if (bio->bi_end_io == q2_piece_endio)
		return;
	io = q2_io_of(bio);
	if (io->counted != Q2_UNCOUNTED)
		return;
	io->counted = Q2_COUNTED_WORKER;
	atomic_inc(&q->inflight);
}

void q2_inflight_uncount(struct q2 *q, struct bio *bio)
{
	struct q2_io *io = q2_io_of(bio);

	if (io->counted != Q2_COUNTED_WORKER)
		return;
	io->counted = Q2_UNCOUNTED;
	q2_inflight_dec(q);
}

/*
 * Read or write BIO at HOST in the image, asynchronously, from the worker.
 * A piece (no per-bio data of its own) is counted in q->inflight until it
 * completes.
 */
void q2_submit_data(struct q2 *q, struct bio *bio, u64 host)
{
	struct vs_backend_io *io = NULL;

	if (bio->bi_end_io == q2_piece_endio) {
		atomic_inc(&q->inflight);
		bio->bi_end_io = q2_piece_data_endio;
	} else {
		io = &q2_io_of(bio)->child_io;
	}
	vs_backend_submit(&q->be, bio, host, io);
}

/* Called from end_io for every dm bio. */
void q2_io_done(struct q2 *q, struct bio *bio)
{
	struct q2_io *io = q2_io_of(bio);

	switch (io->counted) {
	case Q2_COUNTED_WORKER:
		q2_inflight_dec(q);
		break;
	case Q2_COUNTED_FAST:
		this_cpu_dec(*q->fast_inflight);
		break;
	default:
		break;
	}
	io->counted = Q2_UNCOUNTED;
}

/*
 * The longest run from POS (up to LEN bytes) that the cached metadata
 * describes as one kind, and for data as one host extent with one
 * "copied" state: a 1 MiB read of freshly written sequential data is
 * then one host I/O, not one per cluster. Under map_lock (read).
 */
static bool q2_lookup_fast_run(struct q2 *q, u64 pos, u64 len,
			       struct q2_map *map)
{
	struct q2_map next;

	if (!q2_lookup_fast(q, pos, len, map))
		return false;
	while (map->len < len &&
	       q2_lookup_fast(q, pos + map->len, len - map->len, &next) &&
	       next.type == map->type &&
	       (map->type != Q2_MAP_DATA ||
		(next.host_offset == map->host_offset + map->len &&
		 next.copied == map->copied)))
		map->len += next.len;
	return true;
}

/*
 * The fast path, from map(): a read or an in-place write whose range, or a
 * leading run of it, the cached metadata describes as allocated data (or,
 * for reads, as backing or zero) is sent on here, on the submitting CPU,
 * without the worker. Returns a DM_MAPIO_* value, or -1 for the worker,
 * which takes one cluster at a time: BIO is then cut at the first cluster
 * boundary.
 */
int q2_map_fast(struct q2 *q, struct bio *bio)
{
	struct q2_io *io = q2_io_of(bio);
	bool write = op_is_write(bio_op(bio));
	u64 pos = q2_bio_pos(q, bio);
	struct q2_map map;
	u64 to_boundary;
	bool ok;

	if (write && !READ_ONCE(q->write_prepared))
		goto cut;

	this_cpu_inc(*q->fast_inflight);
	io->counted = Q2_COUNTED_FAST;
	/* the count is visible before the lookup: pairs with q2_drain() */
	smp_mb();

	/* a write onto metadata goes to the worker, which marks it corrupt */
	read_lock(&q->map_lock);
	ok = q2_lookup_fast_run(q, pos, bio->bi_iter.bi_size, &map);
	if (ok && write && map.type == Q2_MAP_DATA &&
	    qcow2_overlap_check(&q->ranges, map.host_offset, map.len,
				q2_overlap_ignore(q)))
		ok = false;
	read_unlock(&q->map_lock);
	if (!ok || (write && (map.type != Q2_MAP_DATA || !map.copied)))
		goto slow;
	if (map.len < bio->bi_iter.bi_size)
		dm_accept_partial_bio(bio, map.len >> SECTOR_SHIFT);
	/* now, with the size accepted: a remapped bio's ends up consumed */
	vs_node_account(&q->node, bio);

	switch (map.type) {
	case Q2_MAP_DATA:
		return vs_backend_map(&q->be, bio, map.host_offset,
				      &io->child_io);
	case Q2_MAP_BACKING:
		return vs_backend_map(q->backing, bio, pos, NULL);
	case Q2_MAP_ZERO:
		zero_fill_bio(bio);
		bio_endio(bio);
		return DM_MAPIO_SUBMITTED;
	default:
		break;
	}
slow:
	io->counted = Q2_UNCOUNTED;
	this_cpu_dec(*q->fast_inflight);
cut:
	to_boundary = q2_cluster_size(q) - (pos & (q2_cluster_size(q) - 1));
	if (bio->bi_iter.bi_size > to_boundary)
		dm_accept_partial_bio(bio, to_boundary >> SECTOR_SHIFT);
	return -1;
}

static void q2_copy_to_bio(struct bio *bio, const void *src)
{
	struct bvec_iter iter;
	struct bio_vec bv;
	size_t done = 0;

	bio_for_each_segment(bv, bio, iter) {
		memcpy_to_bvec(&bv, src + done);
		done += bv.bv_len;
	}
}

void q2_copy_from_bio(struct bio *bio, void *dst)
{
	struct bvec_iter iter;
	struct bio_vec bv;
	size_t done = 0;

	bio_for_each_segment(bv, bio, iter) {
		memcpy_from_bvec(dst + done, &bv);
		done += bv.bv_len;
	}
}

/* Change an L2 entry that map() may be reading. */
void q2_l2_set(struct q2 *q, struct q2_cache_entry *e, u32 index,
	       u64 entry, u64 bitmap)
{
	unsigned long flags;

	write_lock_irqsave(&q->map_lock, flags);
	qcow2_l2_entry_put(q->g, e->buf, index, entry, bitmap);
	write_unlock_irqrestore(&q->map_lock, flags);
	e->dirty = true;
}

/* == Reads == */

static void q2_read(struct q2 *q, struct bio *bio)
{
	u64 pos = q2_bio_pos(q, bio);

	for (;;) {
		u64 len = bio->bi_iter.bi_size;
		struct bio *piece = bio;
		struct q2_map map;
		int ret;

		ret = q2_lookup(q, pos, len, &map);
		if (ret) {
			q2_end(bio, ret);
			return;
		}
		if (map.len < len)
			piece = q2_split(q, bio, map.len);

		switch (map.type) {
		case Q2_MAP_DATA:
			q2_submit_data(q, piece, map.host_offset);
			break;
		case Q2_MAP_BACKING:
			vs_backend_submit(q->backing, piece, pos, NULL);
			break;
		case Q2_MAP_ZERO:
			zero_fill_bio(piece);
			bio_endio(piece);
			break;
		case Q2_MAP_COMPRESSED:
			ret = q2_read_compressed(q, map.l2_entry);
			if (!ret)
				q2_copy_to_bio(piece, q->zbuf +
					       (pos & (q2_cluster_size(q) - 1)));
			q2_end(piece, ret);
			break;
		}
		if (piece == bio)
			return;
		pos += map.len;
	}
}

/* == The worker == */

static int q2_flush(struct q2 *q)
{
	bool drain = q->nr_pending_dec;

	/* freed clusters become reusable once no I/O can still reach them */
	if (drain)
		q2_drain(q);
	return q2_commit(q, drain);
}

static void q2_handle(struct q2 *q, struct bio *bio)
{
	struct q2_io *io = q2_io_of(bio);

	if (bio_op(bio) == REQ_OP_WRITE && (bio->bi_opf & REQ_PREFLUSH) &&
	    !bio->bi_iter.bi_size) {
		mutex_lock(&q->meta_lock);
		q2_end(bio, q2_flush(q));
		mutex_unlock(&q->meta_lock);
		return;
	}

	io->q = q;
	q2_inflight_count(q, bio);

	mutex_lock(&q->meta_lock);
	switch (bio_op(bio)) {
	case REQ_OP_READ:
		q2_read(q, bio);
		break;
	case REQ_OP_WRITE:
		q2_write(q, bio);
		break;
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		q2_discard_zero(q, bio);
		break;
	default:
		q2_end(bio, -EOPNOTSUPP);
	}
	/* deferred decrements pile up without flushes: drain now and then */
	if (q->nr_pending_dec > 4096) {
		q2_drain(q);
		q2_commit(q, true);
	}
	mutex_unlock(&q->meta_lock);
}

static void q2_handle_queued(struct vs_bio_queue *bq, struct bio *bio)
{
	q2_handle(container_of(bq, struct q2, mq), bio);
}

void q2_work(struct work_struct *work)
{
	vs_bio_queue_run(container_of(work, struct vs_bio_queue, work),
			 q2_handle_queued);
}

int q2_io_init(struct q2 *q)
{
	int ret;

	vs_bio_queue_init(&q->mq, q2_work);
	atomic_set(&q->inflight, 0);
	init_waitqueue_head(&q->inflight_wait);
	ret = bioset_init(&q->bs, BIO_POOL_SIZE, 0, 0);
	if (ret)
		return ret;
	ret = q2_write_init(q);
	q->wq = alloc_ordered_workqueue("vstorage-qcow2/%s", WQ_MEM_RECLAIM,
					q->node.name);
	q->fast_inflight = alloc_percpu(int);
	q->l2_fast_hits = alloc_percpu(u64);
	if (ret || !q->wq || !q->fast_inflight || !q->l2_fast_hits) {
		q2_io_exit(q);
		return -ENOMEM;
	}
	return 0;
}

/* Also undoes a partial q2_io_init(). */
void q2_io_exit(struct q2 *q)
{
	q2_write_exit(q);
	if (q->wq)
		destroy_workqueue(q->wq);
	free_percpu(q->l2_fast_hits);
	free_percpu(q->fast_inflight);
	q->wq = NULL;
	q->l2_fast_hits = NULL;
	q->fast_inflight = NULL;
	bioset_exit(&q->bs);
}
