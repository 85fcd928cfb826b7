// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2 writes, from the worker (under meta_lock).
 *
 * A run of data subclusters that are ours alone is overwritten in place,
 * asynchronously. Any other run allocates: a new host cluster (or, with
 * extended L2, the missing subclusters of ours) is filled with the old
 * contents around the new data (copy-on-write) and written, and only then
 * does the L2 entry point at it (in the cache; the next commit makes it
 * durable).
 *
 * Allocating writes run in parallel. The worker plans one (reserving the
 * host cluster) and records its guest cluster as busy in alloc_hash; the
 * old contents, if the written part needs any, are read into the record's
 * buffer (asynchronously when they are the backing node's alone, else by a
 * kworker of alloc_wq); one submitter copies the new data in and writes
 * the buffers asynchronously, in batches (q2_alloc_submit_work);
 * once written, the worker points the L2 entry at it and completes the
 * bio, for all allocations written so far in one pass
 * (q2_alloc_done_work). Meanwhile, bios that would change the same L2
 * entry wait on the record, discards and write-zeroes wait until no
 * allocation is in flight, and map() may still read the old contents or
 * write in place to other subclusters: the allocation touches neither.
 * The old host cluster is released only when the entry has moved, so its
 * old contents stay readable while the copy is made.
 *
 * Compressed clusters (decompressed with the worker's buffer), and any
 * allocation when no record can be had, are done synchronously in the
 * worker with q->cow_buf instead.
 *
 * The worker's drain (q2_drain, before freed clusters become reusable)
 * must never wait for an allocation, which needs the worker to finish:
 * so a write's bio is not counted in q->inflight as a whole, only the I/O
 * it submits in place is (q2_inflight_uncount(), q2_inflight_count() and
 * the pieces q2_submit_data() counts).
 */
#include <linux/hashtable.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "qcow2.h"

/* An allocating write in flight, or an idle record with its buffer. */
struct q2_alloc {
	struct q2 *q;
	struct hlist_node hash;		/* in q->alloc_hash, by guest cluster */
	struct list_head idle;		/* in q->alloc_idle */
	struct work_struct data_work;	/* on alloc_wq: old contents, write */
	struct llist_node done;		/* in q->alloc_done */
	struct llist_node submit;	/* in q->alloc_submit */
	struct vs_kbuf_io kio;		/* its backing read, then its write */
	struct bio_list waiters;	/* bios for the same guest cluster */
	struct bio *bio;		/* what is written; NULL: zeroes */
	u64 cluster;			/* guest cluster index */
	u64 pos;			/* guest [pos, pos + len), one cluster */
	u32 len;
	u64 raw;			/* the L2 entry planned from */
	struct qcow2_l2_info info;
	u64 host;			/* host cluster written */
	bool reuse;			/* host is the entry's own cluster */
	u32 w_off;			/* what is written of the cluster */
	u32 w_len;
	int err;
	void *buf;			/* one cluster */
};

/* Idle records kept for reuse; the rest are freed when they finish. */
#define Q2_ALLOC_IDLE_MAX	32
/* Bounce buffers in flight per device, in bytes (at least two records). */
#define Q2_ALLOC_BUDGET		(8U << 20)
#define Q2_ALLOC_MAX		64

/*
 * Fill BUF[off, off + len) of the cluster at guest CSTART with what the
 * guest reads there now (INFO: the cluster's decoded L2 entry).
 */
static int q2_read_old(struct q2 *q, u64 cstart, const struct qcow2_l2_info *info,
		       u64 raw, void *buf, u32 off, u32 len)
{
	u32 scb = q->g->subcluster_bits;

	while (len) {
		u32 sc = off >> scb;
		u32 run = qcow2_sc_run(q->g, info, sc);
		u32 n = min_t(u32, len, ((sc + run) << scb) - off);
		u64 pos = cstart + off;
		ssize_t r = 0;
		int ret;

		switch (info->type == QCOW2_CLUSTER_COMPRESSED ?
			QCOW2_SC_COMPRESSED : qcow2_sc_state(info, sc)) {
		case QCOW2_SC_DATA:
			r = vs_backend_rw_kbuf(&q->be, ITER_DEST, buf + off, n,
					       info->host_offset + off);
			break;
		case QCOW2_SC_COMPRESSED:
			ret = q2_read_compressed(q, raw);
			if (ret)
				return ret;
			memcpy(buf + off, q->zbuf + off, n);
			break;
		case QCOW2_SC_ZERO:
			memset(buf + off, 0, n);
			break;
		default:
			if (!q->backing || pos >= q->backing_size) {
				memset(buf + off, 0, n);
				break;
			}
			{
				u32 m = min_t(u64, n, q->backing_size - pos);

				r = vs_backend_rw_kbuf(q->backing, ITER_DEST,
						       buf + off, m, pos);
				if (m < n)
					memset(buf + off + m, 0, n - m);
			}
			break;
		}
		if (r < 0)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * Before changing the L2 entry of guest POS: autoclear bits dealt with, the
 * L2 table writable (pinned in *ep), and the current entry decoded.
 */
static int q2_entry_for_write(struct q2 *q, u64 pos, struct q2_cache_entry **ep,
			      u32 *index, struct qcow2_l2_info *info, u64 *raw)
{
	const char *reason = NULL;
	u64 bitmap;
	int ret;

	ret = q2_write_prepare(q);
	if (ret)
		return ret;
	ret = q2_l2_for_write(q, pos, ep, index);
	if (ret)
		return ret;
	qcow2_l2_entry_get(q->g, (*ep)->buf, *index, raw, &bitmap);
	ret = qcow2_l2_entry_decode(q->g, *raw, bitmap, info, &reason);
	if (ret) {
		q2_cache_put(*ep);
		q2_mark_corrupt(q, reason);
		return -EIO;
	}
	return 0;
}

/*
 * The L2 entry INFO (raw value RAW) has been replaced: the host clusters it
 * referenced lose that reference after the next commit. Compressed data
 * runs from its 512-byte sector and may end in the next cluster.
 */
static void q2_unref_entry(struct q2 *q, const struct qcow2_l2_info *info,
			   u64 raw)
{
	u64 cmask = ~(u64)(q2_cluster_size(q) - 1);
	u64 start, last;

	switch (info->type) {
	case QCOW2_CLUSTER_NORMAL:
	case QCOW2_CLUSTER_ZERO_ALLOC:
		q2_refcount_dec_deferred(q, info->host_offset);
		break;
	case QCOW2_CLUSTER_COMPRESSED:
		start = info->host_offset &
			~(u64)(QCOW2_COMPRESSED_SECTOR - 1);
		last = start + ((u64)info->csectors + 1) *
		       QCOW2_COMPRESSED_SECTOR - 1;
		q2_refcount_dec_deferred(q, start & cmask);
		if ((last & cmask) != (start & cmask))
			q2_refcount_dec_deferred(q, last & cmask);
		break;
	default:
		break;
	}
	if (q->zbuf_entry == raw)
		q->zbuf_entry = 0;
}

/* A planned allocation failed: give back the host cluster it reserved. */
static void q2_alloc_release(struct q2 *q, struct q2_alloc *a)
{
	if (!a->reuse)
		q2_refcount_dec_deferred(q, a->host);
}

/*
 * Plan writing guest [pos, pos + len) (inside one cluster) by allocation:
 * the current entry, the host cluster (reserved here unless reused) and
 * which part of it to write: with subclusters, only the touched ones
 * (unless the old cluster's allocated data must move); else all of it.
 */
static int q2_alloc_plan(struct q2 *q, struct q2_alloc *a, u64 pos, u32 len)
{
	u32 cs = q2_cluster_size(q), scb = q->g->subcluster_bits;
	u32 off = pos & (cs - 1);
	struct q2_cache_entry *e;
	u32 index;
	int ret;

	ret = q2_entry_for_write(q, pos, &e, &index, &a->info, &a->raw);
	if (ret)
		return ret;
	q2_cache_put(e);

	a->pos = pos;
	a->len = len;
	a->cluster = pos >> q->g->cluster_bits;
	a->reuse = a->info.type == QCOW2_CLUSTER_NORMAL && a->info.copied;
	if (a->reuse) {
		a->host = a->info.host_offset;
	} else {
		ret = q2_alloc_cluster(q, &a->host);
		if (ret)
			return ret;
	}
	if (q->g->extended_l2 &&
	    (a->reuse || a->info.type == QCOW2_CLUSTER_UNALLOCATED)) {
		a->w_off = round_down(off, 1U << scb);
		a->w_len = round_up(off + len, 1U << scb) - a->w_off;
	} else {
		a->w_off = 0;
		a->w_len = cs;
	}
	ret = q2_check_overlap(q, a->host + a->w_off, a->w_len, 0);
	if (ret)
		q2_alloc_release(q, a);
	return ret;
}

/* Does the written part hold old contents around the new data? */
static bool q2_alloc_needs_old(struct q2 *q, const struct q2_alloc *a)
{
	u32 off = a->pos - q2_cluster_start(q, a->pos);

	return a->w_off < off || a->w_off + a->w_len > off + a->len;
}

/* Put the new data (the bio's, or zeroes) into a->buf. */
static void q2_alloc_copy_new(struct q2 *q, struct q2_alloc *a)
{
	u32 off = a->pos - q2_cluster_start(q, a->pos);

	if (a->bio)
		q2_copy_from_bio(a->bio, a->buf + off);
	else
		memset(a->buf + off, 0, a->len);
}

/*
 * Read the old contents of the written part into a->buf, if it has any
 * around the new data. Synchronous; needs meta_lock only for compressed
 * old contents.
 */
static int q2_alloc_read_old(struct q2 *q, struct q2_alloc *a)
{
	if (!q2_alloc_needs_old(q, a))
		return 0;
	return q2_read_old(q, q2_cluster_start(q, a->pos), &a->info, a->raw,
			   a->buf, a->w_off, a->w_len);
}

/* Build the written part and write it, synchronously. */
static int q2_alloc_write(struct q2 *q, struct q2_alloc *a)
{
	ssize_t n;
	int ret;

	ret = q2_alloc_read_old(q, a);
	if (ret)
		return ret;
	q2_alloc_copy_new(q, a);
	n = vs_backend_rw_kbuf(&q->be, ITER_SOURCE, a->buf + a->w_off,
			       a->w_len, a->host + a->w_off);
	return n < 0 ? n : 0;
}

/*
 * The data is written: point the entry at it. Nothing else changed the
 * entry meanwhile (see the top of this file); if it did, fail rather than
 * lose the other change.
 */
static int q2_alloc_commit(struct q2 *q, struct q2_alloc *a)
{
	u32 scb = q->g->subcluster_bits;
	struct qcow2_l2_info cur, newinfo = a->info;
	struct q2_cache_entry *e;
	u64 raw, entry, bitmap;
	u32 index;
	int ret;

	ret = q2_entry_for_write(q, a->pos, &e, &index, &cur, &raw);
	if (ret)
		return ret;
	if (raw != a->raw || cur.alloc != a->info.alloc ||
	    cur.zero != a->info.zero) {
		q2_err(q, "L2 entry of guest offset %llu changed during an allocating write",
		       a->pos);
		ret = -EIO;
		goto out;
	}
	newinfo.type = QCOW2_CLUSTER_NORMAL;
	newinfo.host_offset = a->host;
	newinfo.copied = true;
	newinfo.csectors = 0;
	if (q->g->extended_l2) {
		if (a->info.type != QCOW2_CLUSTER_UNALLOCATED && !a->reuse) {
			/* everything moved to the new cluster */
			newinfo.alloc = U32_MAX >> (32 - q->g->subclusters);
			newinfo.zero = 0;
		}
		ret = qcow2_sc_set(&newinfo, a->w_off >> scb, a->w_len >> scb,
				   QCOW2_SC_DATA);
		if (ret)
			goto out;
	}
	ret = qcow2_l2_entry_encode(q->g, &newinfo, &entry, &bitmap);
	if (ret)
		goto out;
	q2_l2_set(q, e, index, entry, bitmap);
	if (!a->reuse)
		q2_unref_entry(q, &a->info, a->raw);
out:
	q2_cache_put(e);
	return ret;
}

/*
 * Write [pos, pos + len), inside one cluster, with the data of SRC (NULL:
 * zeroes) by allocation, synchronously.
 */
int q2_write_alloc(struct q2 *q, u64 pos, u32 len, struct bio *src)
{
	struct q2_alloc a = {
		.bio = src,
		.buf = q->cow_buf,
	};
	int ret;

	ret = q2_alloc_plan(q, &a, pos, len);
	if (ret)
		return ret;
	ret = q2_alloc_write(q, &a) ?: q2_alloc_commit(q, &a);
	if (ret)
		q2_alloc_release(q, &a);
	return ret;
}

/* == Allocating writes in parallel == */

static struct q2_alloc *q2_alloc_busy(struct q2 *q, u64 cluster)
{
	struct q2_alloc *a;

	hash_for_each_possible(q->alloc_hash, a, hash, cluster)
		if (a->cluster == cluster)
			return a;
	return NULL;
}

static void q2_alloc_data_work(struct work_struct *work);

static void q2_alloc_free(struct q2_alloc *a)
{
	kvfree(a->kio.bv);
	kvfree(a->buf);
	kfree(a);
}

static struct q2_alloc *q2_alloc_get(struct q2 *q)
{
	struct q2_alloc *a;

	a = list_first_entry_or_null(&q->alloc_idle, struct q2_alloc, idle);
	if (a) {
		list_del(&a->idle);
		q->nr_alloc_idle--;
		return a;
	}
	if (q->nr_allocs >= clamp_t(u32, Q2_ALLOC_BUDGET / q2_cluster_size(q),
				    2, Q2_ALLOC_MAX))
		return NULL;
	/* the worker runs under memalloc_noio: no reclaim recursion */
	a = kzalloc(sizeof(*a), GFP_KERNEL | __GFP_NOWARN);
	if (!a)
		return NULL;
	a->buf = kvmalloc(q2_cluster_size(q), GFP_KERNEL | __GFP_NOWARN);
	a->kio.bv = kvmalloc_array(vs_kbuf_max_bvecs(q2_cluster_size(q)),
				   sizeof(*a->kio.bv), GFP_KERNEL | __GFP_NOWARN);
	if (!a->buf || !a->kio.bv) {
		q2_alloc_free(a);
		return NULL;
	}
	a->q = q;
	INIT_WORK(&a->data_work, q2_alloc_data_work);
	return a;
}

static void q2_alloc_put(struct q2 *q, struct q2_alloc *a)
{
	if (q->nr_alloc_idle >= Q2_ALLOC_IDLE_MAX) {
		q2_alloc_free(a);
		return;
	}
	list_add(&a->idle, &q->alloc_idle);
	q->nr_alloc_idle++;
}

static void q2_requeue(struct q2 *q, struct bio_list *bios)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios)))
		q2_queue_bio(q, bio);
}

/*
 * Point the entry of written allocation A at its cluster, or give the
 * cluster back; under meta_lock. Its bio goes on DONE; bios that waited for
 * it, on AGAIN.
 */
static void q2_alloc_finish(struct q2 *q, struct q2_alloc *a,
			    struct bio_list *done, struct bio_list *again)
{
	struct bio *bio = a->bio;
	int ret = a->err;

	if (!ret && (q->corrupt || q->node.read_only))
		ret = -EIO;
	if (!ret)
		ret = q2_alloc_commit(q, a);
	if (ret)
		q2_alloc_release(q, a);
	if (!ret && (bio->bi_opf & REQ_FUA))
		ret = q2_commit(q, false);
	/* q2_end() after meta_lock is dropped; the status goes with the bio */
	if (ret && !bio->bi_status)
		bio->bi_status = errno_to_blk_status(ret);
	bio_list_add(done, bio);

	hash_del(&a->hash);
	q->nr_allocs--;
	/* discards first: they waited for this moment (see q2_write) */
	if (!q->nr_allocs) {
		bio_list_merge(again, &q->alloc_barrier);
		bio_list_init(&q->alloc_barrier);
	}
	bio_list_merge(again, &a->waiters);
	bio_list_merge(again, &q->alloc_parked);
	bio_list_init(&q->alloc_parked);
	q2_alloc_put(q, a);
}

/*
 * Finish every allocation written so far in one pass: under load, one
 * work item and one meta_lock hold serve many, not one each.
 */
static void q2_alloc_done_work(struct work_struct *work)
{
	struct q2 *q = container_of(work, struct q2, alloc_done_work);
	struct llist_node *list = llist_reverse_order(llist_del_all(&q->alloc_done));
	struct q2_alloc *a, *next;
	struct bio_list done, again;
	struct bio *bio;

	bio_list_init(&done);
	bio_list_init(&again);
	mutex_lock(&q->meta_lock);
	llist_for_each_entry_safe(a, next, list, done)
		q2_alloc_finish(q, a, &done, &again);
	mutex_unlock(&q->meta_lock);

	while ((bio = bio_list_pop(&done)))
		bio_endio(bio);
	q2_requeue(q, &again);
}

/* A's data is written (or failed with a->err): queue its finish. */
static void q2_alloc_written_done(struct q2_alloc *a)
{
	struct q2 *q = a->q;

	if (llist_add(&a->done, &q->alloc_done))
		queue_work(q->wq, &q->alloc_done_work);
}

static void q2_alloc_written(struct vs_kbuf_io *kio, int err)
{
	struct q2_alloc *a = container_of(kio, struct q2_alloc, kio);

	a->err = err;
	q2_alloc_written_done(a);
}

/*
 * The write is asynchronous: on a file, a synchronous direct write into
 * unwritten extents or a hole holds the inode lock exclusively until the
 * I/O ends (ext4 in 6.1), which serialized every allocation and every
 * other I/O on the image; an asynchronous one holds it while submitting.
 */
static void q2_alloc_submit(struct q2 *q, struct q2_alloc *a)
{
	vs_backend_rw_kbuf_async(&q->be, &a->kio, ITER_SOURCE,
				 a->buf + a->w_off, a->w_len,
				 a->host + a->w_off, q2_alloc_written);
}

/*
 * One submitter copies the new data of every allocation whose old contents
 * are in and writes them, in batches under one plug: the file system takes
 * its inode lock exclusively for each of them anyway, so kworkers
 * submitting side by side only queued on it, and the worker no longer
 * spends its time in the file system (measured: 4K allocating writes with
 * extended L2 +14%, the others at less CPU).
 */
static void q2_alloc_submit_work(struct work_struct *work)
{
	struct q2 *q = container_of(work, struct q2, alloc_submit_work);
	struct llist_node *list = llist_del_all(&q->alloc_submit);
	unsigned int noio = memalloc_noio_save();
	struct q2_alloc *a, *next;
	struct blk_plug plug;

	blk_start_plug(&plug);
	llist_for_each_entry_safe(a, next, llist_reverse_order(list), submit) {
		if (a->err) {
			q2_alloc_written_done(a);
			continue;
		}
		q2_alloc_copy_new(q, a);
		q2_alloc_submit(q, a);
	}
	blk_finish_plug(&plug);
	memalloc_noio_restore(noio);
}

static void q2_alloc_queue_submit(struct q2 *q, struct q2_alloc *a)
{
	if (llist_add(&a->submit, &q->alloc_submit))
		queue_work(q->alloc_wq, &q->alloc_submit_work);
}

static void q2_alloc_old_read(struct vs_kbuf_io *kio, int err)
{
	struct q2_alloc *a = container_of(kio, struct q2_alloc, kio);

	if (err)
		a->err = err;
	q2_alloc_queue_submit(a->q, a);
}

/*
 * A write to an unallocated cluster without extended L2 copies the rest of
 * the cluster from the backing node: read it asynchronously, from the
 * worker, and let the submitter copy the new data in, so that no kworker
 * sleeps on the read (one per allocation in flight).
 */
static bool q2_alloc_read_backing(struct q2 *q, struct q2_alloc *a)
{
	u64 pos = q2_cluster_start(q, a->pos) + a->w_off;
	u32 len;

	if (!q->backing || q->g->extended_l2 ||
	    a->info.type != QCOW2_CLUSTER_UNALLOCATED ||
	    pos >= q->backing_size)
		return false;
	len = min_t(u64, a->w_len, q->backing_size - pos);
	/* past the end of a smaller backing node: zeroes */
	memset(a->buf + a->w_off + len, 0, a->w_len - len);
	vs_backend_rw_kbuf_async(q->backing, &a->kio, ITER_DEST,
				 a->buf + a->w_off, len, pos,
				 q2_alloc_old_read);
	return true;
}

static void q2_alloc_data_work(struct work_struct *work)
{
	struct q2_alloc *a = container_of(work, struct q2_alloc, data_work);
	unsigned int noio = memalloc_noio_save();
	struct q2 *q = a->q;

	a->err = q2_alloc_read_old(q, a);
	q2_alloc_queue_submit(q, a);
	memalloc_noio_restore(noio);
}

static void q2_alloc_start(struct q2 *q, struct q2_alloc *a, struct bio *bio,
			   u64 pos, u32 len)
{
	int ret;

	a->bio = bio;
	ret = q2_alloc_plan(q, a, pos, len);
	/* q2_write() keeps compressed clusters (q->zbuf) in the worker */
	if (!ret && WARN_ON_ONCE(a->info.type == QCOW2_CLUSTER_COMPRESSED)) {
		q2_alloc_release(q, a);
		ret = -EIO;
	}
	if (ret) {
		q2_alloc_put(q, a);
		q2_end(bio, ret);
		return;
	}
	a->err = 0;
	bio_list_init(&a->waiters);
	hash_add(q->alloc_hash, &a->hash, a->cluster);
	q->nr_allocs++;
	/* no kworker needed to wait for a read: see q2_alloc_read_backing */
	if (!q2_alloc_needs_old(q, a)) {
		q2_alloc_queue_submit(q, a);
		return;
	}
	if (q2_alloc_read_backing(q, a))
		return;
	queue_work(q->alloc_wq, &a->data_work);
}

/* == Writes == */

/*
 * Writes go in runs: a run of data subclusters that are ours alone is
 * overwritten in place, asynchronously; any other run is allocated.
 * Splitting first keeps an allocating write's read-modify-write away from
 * data that an in-place write may be changing at the same time.
 */
void q2_write(struct q2 *q, struct bio *bio)
{
	u64 pos = q2_bio_pos(q, bio);
	int ret;

	q2_inflight_uncount(q, bio);
	if (q->corrupt || q->node.read_only) {
		q2_end(bio, -EIO);
		return;
	}
	ret = q2_write_prepare(q);
	if (ret) {
		q2_end(bio, ret);
		return;
	}
	for (;;) {
		u64 len = bio->bi_iter.bi_size;
		struct q2_alloc *a = NULL, *busy;
		struct bio *piece = bio;
		struct q2_map map;
		bool in_place;

		ret = q2_lookup(q, pos, len, &map);
		if (ret) {
			q2_end(bio, ret);
			return;
		}
		in_place = map.type == Q2_MAP_DATA && map.copied;
		if (!in_place) {
			busy = q2_alloc_busy(q, pos >> q->g->cluster_bits);
			if (busy) {
				bio_list_add(&busy->waiters, bio);
				return;
			}
			/*
			 * A discard waiting for the allocations in flight to
			 * end would wait forever if new ones kept starting.
			 */
			if (!bio_list_empty(&q->alloc_barrier)) {
				bio_list_add(&q->alloc_parked, bio);
				return;
			}
			if (map.type != Q2_MAP_COMPRESSED) {
				a = q2_alloc_get(q);
				if (!a && q->nr_allocs) {
					/* a record comes back soon */
					bio_list_add(&q->alloc_parked, bio);
					return;
				}
			}
		}
		/*
		 * In-place I/O is waited for by the worker's drain, so it is
		 * counted as a piece of its own when the bio's completion
		 * may also wait for an allocation (only the worker ends that).
		 */
		if (map.len < len || (in_place && q2_has_pieces(bio)))
			piece = q2_split(q, bio, map.len);
		if (in_place) {
			/* like QEMU, every data write is checked, not only new ones */
			ret = q2_check_overlap(q, map.host_offset, map.len, 0);
			if (ret) {
				q2_end(piece, ret);
			} else {
				q2_inflight_count(q, piece);
				q2_submit_data(q, piece, map.host_offset);
			}
		} else if (a) {
			q2_alloc_start(q, a, piece, pos, map.len);
		} else {
			ret = q2_write_alloc(q, pos, map.len, piece);
			if (!ret && (bio->bi_opf & REQ_FUA))
				ret = q2_commit(q, false);
			q2_end(piece, ret);
		}
		/* the last piece may have been a clone: BIO may be gone now */
		if (map.len >= len)
			return;
		pos += map.len;
	}
}

/* == Discard and write-zeroes == */

/* Turn the whole cluster at POS into a zero cluster. */
static int q2_zero_cluster(struct q2 *q, u64 pos)
{
	struct qcow2_l2_info info, newinfo;
	struct q2_cache_entry *e;
	u64 raw, bitmap, entry;
	u32 index;
	int ret;

	ret = q2_entry_for_write(q, pos, &e, &index, &info, &raw);
	if (ret)
		return ret;

	memset(&newinfo, 0, sizeof(newinfo));
	if (q->g->extended_l2) {
		newinfo.type = QCOW2_CLUSTER_UNALLOCATED;
		newinfo.zero = U32_MAX >> (32 - q->g->subclusters);
	} else if (q->g->zero_flag) {
		newinfo.type = QCOW2_CLUSTER_ZERO_PLAIN;
	} else {
		newinfo.type = QCOW2_CLUSTER_UNALLOCATED;
	}
	ret = qcow2_l2_entry_encode(q->g, &newinfo, &entry, &bitmap);
	if (!ret) {
		q2_l2_set(q, e, index, entry, bitmap);
		q2_unref_entry(q, &info, raw);
	}
	q2_cache_put(e);
	return ret;
}

/*
 * Device-mapper does not split discards at max_io_len, so walk the clusters.
 * Whole clusters become zero clusters (version 2 without a backing node:
 * unallocated, which reads as zero); partial clusters of write-zeroes are
 * written as data unless they read as zero already. Discard follows QEMU:
 * ignored unless discard=unmap, and only for whole clusters.
 */
void q2_discard_zero(struct q2 *q, struct bio *bio)
{
	bool discard = bio_op(bio) == REQ_OP_DISCARD;
	bool can_zero = q->g->zero_flag || q->g->extended_l2 || !q->backing;
	u64 pos = q2_bio_pos(q, bio);
	u64 end = pos + bio->bi_iter.bi_size;
	u32 cs = q2_cluster_size(q);
	int ret = 0;

	if (q->corrupt || q->node.read_only) {
		q2_end(bio, -EIO);
		return;
	}
	if (discard && q->opt.discard != Q2_DISCARD_UNMAP) {
		bio_endio(bio);
		return;
	}
	/* it may change any cluster: wait for the allocations in flight */
	if (q->nr_allocs) {
		q2_inflight_uncount(q, bio);
		bio_list_add(&q->alloc_barrier, bio);
		return;
	}
	while (pos < end && !ret) {
		u64 chunk = min(q2_cluster_start(q, pos) + cs, end) - pos;
		struct q2_map map;

		if (chunk == cs && can_zero) {
			ret = q2_zero_cluster(q, pos);
		} else if (!discard) {
			ret = q2_lookup(q, pos, chunk, &map);
			if (!ret && (map.type != Q2_MAP_ZERO || map.len < chunk))
				ret = q2_write_alloc(q, pos, chunk, NULL);
		}
		pos += chunk;
	}
	if (!ret && (bio->bi_opf & REQ_FUA))
		ret = q2_commit(q, false);
	q2_end(bio, ret);
}

/* == Set-up == */

int q2_write_init(struct q2 *q)
{
	hash_init(q->alloc_hash);
	INIT_LIST_HEAD(&q->alloc_idle);
	bio_list_init(&q->alloc_parked);
	bio_list_init(&q->alloc_barrier);
	init_llist_head(&q->alloc_done);
	INIT_WORK(&q->alloc_done_work, q2_alloc_done_work);
	init_llist_head(&q->alloc_submit);
	INIT_WORK(&q->alloc_submit_work, q2_alloc_submit_work);
	q->alloc_wq = alloc_workqueue("vstorage-qcow2-alloc/%s",
				      WQ_UNBOUND | WQ_MEM_RECLAIM, 0,
				      q->node.name);
	return q->alloc_wq ? 0 : -ENOMEM;
}

/* Once no bio is in flight. */
void q2_write_exit(struct q2 *q)
{
	struct q2_alloc *a, *next;

	if (q->alloc_wq)
		destroy_workqueue(q->alloc_wq);
	q->alloc_wq = NULL;
	list_for_each_entry_safe(a, next, &q->alloc_idle, idle)
		q2_alloc_free(a);
	INIT_LIST_HEAD(&q->alloc_idle);
	q->nr_alloc_idle = 0;
}
