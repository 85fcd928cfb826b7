// SPDX-License-Identifier: GPL-2.0
/*
 * vstorage-cbw: QEMU's copy-before-write filter (block/copy-before-write.c)
 * as a device-mapper target (module dm-vstorage-copy-before-write). It
 * stands on the node a backup job copies and keeps the job's point in
 * time: before a workload write changes a chunk that the backup has not
 * copied yet, the chunk's old data is copied to the backup's target.
 *
 * The filter owns the backup's bitmap of chunks still to copy ("todo"),
 * as QEMU's filter owns the block-copy state: the job copies through the
 * filter (vs_cbw_ops.copy), so a chunk is copied once, by whoever comes
 * first, and never by both. Chunks are max(64 KiB, the target's cluster)
 * bytes (the table's granularity), so that a copy never writes part of a
 * target cluster (which would read the target's backing).
 *
 * Path of a bio:
 *  - reads and flushes go to the child at once;
 *  - a write (discard, write-zeroes) whose chunks are all done goes to the
 *    child at once, counted in flight;
 *  - any other write goes to the worker, which marks its chunks that are
 *    to copy and not being copied busy, starts their copies (dm-kcopyd
 *    from the child to the target; block status makes zero extents
 *    write-zeroes, and with top_only skips what the child's top layer
 *    does not allocate) and parks the write; when a copy ends, the chunks
 *    are done (todo cleared), and the parked writes go through the worker
 *    again. A write thus reaches the child only after the old data of
 *    each of its chunks reached the target.
 *
 * The snapshot-access face (snapshot_access.c) reads the point in time
 * from the target, whose backing is the node below: a read of a chunk
 * still to copy may reach the node below, so the writes to its chunks
 * wait until it completes (they take the worker's path, and park), as
 * QEMU's filter holds writes off the ranges its snapshot API reads.
 *
 * A copy before a write that fails must not fail the write (QEMU's
 * on-cbw-error=break-snapshot): the filter records the error, stops
 * copying (the backup is no point-in-time copy any more) and lets every
 * write through; the job fails on its next step with that error.
 *
 * The bitmaps and the parked writes are shared by the instances of one
 * node (a reload, e.g. of the disk's device when the node moves): the
 * first instance creates a struct cbw_state, a new instance with the same
 * name takes it over, and the last one frees it.
 */
#include <linux/dm-kcopyd.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "vstorage.h"
#include "cbw.h"

#define DM_MSG_PREFIX "vstorage-cbw"

#define CBW_MIN_SHIFT		16	/* 64 KiB */
#define CBW_MAX_SHIFT		24	/* 16 MiB: a qcow2 cluster is at most 2 */
/* a job's copy: at most this much at once */
#define CBW_JOB_MAX		(1U << 20)
/* extents of one copy (block status); the rest of it as one data copy */
#define CBW_MAX_EXTENTS		16

struct cbw_opts {
	const char *target;		/* points into argv until copied */
	u32 granularity;
};

struct cbw_state {
	struct list_head list;		/* cbw_states */
	char name[VSTORAGE_NODE_NAME_MAX + 1];
	refcount_t refs;		/* one per instance */
	dev_t child_dev, target_dev;
	struct block_device *child, *target;
	u32 shift;
	u64 size, nr;

	struct dm_kcopyd_client *kcopyd;
	struct workqueue_struct *wq;
	struct vs_bio_queue admit;	/* writes to check against todo */

	spinlock_t lock;		/* protects what follows */
	bool armed, frozen, top_only;
	int error;			/* of a copy before a write */
	unsigned int writes;		/* writes in flight to the child */
	unsigned long *todo;		/* chunks still to copy */
	unsigned long *busy;		/* chunks being copied */
	struct bio_list parked;		/* writes waiting for a copy or a thaw */
	struct list_head reads;		/* struct cbw_read: snapshot reads */
	bool parked_on_reads;		/* a read's end must requeue parked */
	wait_queue_head_t wait;		/* copies ended, writes drained */

	atomic64_t cbw_bytes, job_bytes, cbw_errors, held_writes;
};

struct cbw_target {
	struct vs_node node;
	struct dm_dev *child, *target_dev;
	char *path;
	struct cbw_opts opt;		/* .target: our copy */
	struct cbw_state *st;
	struct dm_target *ti;
};

/* Per bio (ti->per_io_data_size). */
struct cbw_io {
	bool counted;			/* in st->writes */
	bool held;			/* counted in held_writes */
};

/* A copy of chunks [first, first + nr), for writes or for a job. */
struct cbw_copy {
	struct cbw_state *st;
	u64 first, nr;
	atomic_t pending;
	bool read_failed, write_failed;
	bool for_job;
	struct completion *done;	/* the job's, or NULL */
	u64 bytes;
};

static LIST_HEAD(cbw_states);
static DEFINE_MUTEX(cbw_states_mutex);

static void cbw_range_chunks(struct cbw_state *st, u64 start, u64 length,
			     u64 *first, u64 *last)
{
	u64 end = start + max(length, 1ULL) - 1;

	*first = start >> st->shift;
	*last = min(end >> st->shift, st->nr - 1);
}

static void cbw_chunks(struct cbw_state *st, struct bio *bio, u64 *first,
		       u64 *last)
{
	cbw_range_chunks(st, (u64)bio->bi_iter.bi_sector << SECTOR_SHIFT,
			 bio->bi_iter.bi_size, first, last);
}

/* Whether a snapshot read in flight covers one of chunks [first, last]. */
static bool cbw_reads_overlap_locked(struct cbw_state *st, u64 first,
				     u64 last)
{
	struct cbw_read *rd;

	list_for_each_entry(rd, &st->reads, entry)
		if (rd->first <= last && first <= rd->last)
			return true;
	return false;
}

/*
 * Whether WRITE may go to the child now (then it is counted in flight).
 * Otherwise it is parked and *start, *nr say which chunks (busy now) the
 * caller must start copying (nr 0: none, another copy covers them).
 * Called with st->lock held.
 */
static bool cbw_admit_locked(struct cbw_state *st, struct bio *bio,
			     u64 *start, u64 *nr)
{
	struct cbw_io *io = dm_per_bio_data(bio, sizeof(struct cbw_io));
	u64 first, last, c;
	bool wait = false;

	*nr = 0;
	if (st->frozen) {
		bio_list_add(&st->parked, bio);
		return false;
	}
	cbw_chunks(st, bio, &first, &last);
	if (st->armed) {
		for (c = first; c <= last; c++) {
			if (!test_bit(c, st->todo))
				continue;
			wait = true;
			if (test_bit(c, st->busy))
				continue;
			/* one run of chunks per write: the first free run */
			if (*nr && *start + *nr != c)
				continue;
			if (!*nr)
				*start = c;
			(*nr)++;
		}
		if (wait) {
			for (c = *start; c < *start + *nr; c++)
				set_bit(c, st->busy);
			bio_list_add(&st->parked, bio);
			return false;
		}
	}
	/* copied, but a snapshot read may still reach the old data below */
	if (cbw_reads_overlap_locked(st, first, last)) {
		if (!io->held) {
			io->held = true;
			atomic64_inc(&st->held_writes);
		}
		st->parked_on_reads = true;
		bio_list_add(&st->parked, bio);
		return false;
	}
	io->counted = true;
	st->writes++;
	return true;
}

static void cbw_copy_start(struct cbw_state *st, u64 first, u64 nr);

static void cbw_handle_admit(struct vs_bio_queue *bq, struct bio *bio)
{
	struct cbw_state *st = container_of(bq, struct cbw_state, admit);
	unsigned long flags;
	u64 start = 0, nr;
	bool go;

	spin_lock_irqsave(&st->lock, flags);
	go = cbw_admit_locked(st, bio, &start, &nr);
	spin_unlock_irqrestore(&st->lock, flags);
	if (go)
		dm_submit_bio_remap(bio, NULL);
	else if (nr)
		cbw_copy_start(st, start, nr);
}

static void cbw_admit_work(struct work_struct *work)
{
	vs_bio_queue_run(container_of(work, struct vs_bio_queue, work),
			 cbw_handle_admit);
}

/* Parked writes go through admission again (in the worker). */
static void cbw_requeue(struct cbw_state *st, struct bio_list *bios)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios)))
		vs_bio_queue_add(&st->admit, bio, st->wq);
}

/*
 * Chunks [first, first + nr) are copied (FAILED: not): not busy any more,
 * done unless failed; a failed copy before a write breaks the snapshot.
 */
static void cbw_chunks_end(struct cbw_state *st, u64 first, u64 nr,
			   bool failed, bool write_failed, bool for_job)
{
	struct bio_list parked;
	unsigned long flags;
	u64 c;

	spin_lock_irqsave(&st->lock, flags);
	for (c = first; c < first + nr; c++) {
		clear_bit(c, st->busy);
		if (!failed)
			clear_bit(c, st->todo);
	}
	if (failed && !for_job) {
		/* break the snapshot, not the workload's write */
		if (!st->error)
			st->error = write_failed ? -EIO : -EREMOTEIO;
		st->armed = false;
	}
	parked = st->parked;
	bio_list_init(&st->parked);
	spin_unlock_irqrestore(&st->lock, flags);
	if (failed && !for_job)
		atomic64_inc(&st->cbw_errors);
	/* parked writes of other chunks check again too: cheap, and simple */
	cbw_requeue(st, &parked);
	wake_up_all(&st->wait);
}

static void cbw_copy_end(struct cbw_copy *cp)
{
	bool failed = cp->read_failed || cp->write_failed;

	if (!failed)
		atomic64_add(cp->bytes, cp->for_job ? &cp->st->job_bytes :
						      &cp->st->cbw_bytes);
	cbw_chunks_end(cp->st, cp->first, cp->nr, failed, cp->write_failed,
		       cp->for_job);
	/* the job waits on done and frees its copy itself */
	if (cp->done)
		complete(cp->done);
	else
		kfree(cp);
}

static void cbw_kcopyd_done(int read_err, unsigned long write_err, void *ctx)
{
	struct cbw_copy *cp = ctx;

	if (read_err)
		cp->read_failed = true;
	if (write_err)
		cp->write_failed = true;
	if (atomic_dec_and_test(&cp->pending))
		cbw_copy_end(cp);
}

/*
 * Copy [off, end) (bytes) from the child to the target: zero extents as
 * write-zeroes, data as data; with top_only, what the child's top layer
 * does not allocate not at all. Returns the bytes written.
 */
static u64 cbw_copy_extents(struct cbw_state *st, struct cbw_copy *cp,
			    u64 off, u64 end, bool top_only)
{
	struct vs_node *child = vs_node_get_by_dev(st->child_dev);
	u64 written = 0;
	int nr = 0;

	while (off < end) {
		struct vs_extent e = { .length = end - off };
		struct vs_node *host;
		struct dm_io_region from, to;
		bool zero = false, skip = false;
		u32 depth = 0;

		/* a plain device, or too many extents: the rest as data */
		if (child && nr < CBW_MAX_EXTENTS) {
			if (vs_block_status(child, off, end - off, &e, &depth,
					    &host)) {
				e.length = end - off;
				e.flags = 0;
			} else {
				vs_node_put(host);
			}
			zero = e.flags & VS_EXT_ZERO;
			skip = top_only && (depth > 0 ||
					    !(e.flags & VS_EXT_ALLOCATED));
		}
		e.length = min(e.length, end - off);
		if (!skip) {
			from = (struct dm_io_region) {
				.bdev = st->child, .sector = off >> SECTOR_SHIFT,
				.count = e.length >> SECTOR_SHIFT,
			};
			to = from;
			to.bdev = st->target;
			atomic_inc(&cp->pending);
			if (zero)
				dm_kcopyd_zero(st->kcopyd, 1, &to, 0,
					       cbw_kcopyd_done, cp);
			else
				dm_kcopyd_copy(st->kcopyd, &from, 1, &to, 0,
					       cbw_kcopyd_done, cp);
			written += e.length;
			nr++;
		}
		off += e.length;
	}
	if (child)
		vs_node_put(child);
	return written;
}

/*
 * Copy chunks [first, first + nr) before the writes parked on them; the
 * caller marked them busy.
 */
static void cbw_copy_start(struct cbw_state *st, u64 first, u64 nr)
{
	struct cbw_copy *cp = kmalloc(sizeof(*cp), GFP_NOIO);

	if (!cp) {
		/* cannot copy: break the snapshot, keep the write */
		cbw_chunks_end(st, first, nr, true, true, false);
		return;
	}
	*cp = (struct cbw_copy) { .st = st, .first = first, .nr = nr };
	/* one extra count, dropped below, so no copy ends it early */
	atomic_set(&cp->pending, 1);
	cp->bytes = cbw_copy_extents(st, cp, first << st->shift,
				     min((first + nr) << st->shift, st->size),
				     READ_ONCE(st->top_only));
	cbw_kcopyd_done(0, 0, cp);
}

/* ---- the backup job's side (struct vs_cbw_ops) ---- */

static struct cbw_state *cbw_state_of(struct vs_node *node)
{
	return container_of(node, struct cbw_target, node)->st;
}

static int cbw_arm(struct vs_node *node, bool top_only,
		   int (*fill)(void *ctx, unsigned long *todo, u64 nr,
			       u32 shift),
		   void *ctx)
{
	struct cbw_state *st = cbw_state_of(node);
	struct bio_list parked;
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&st->lock, flags);
	if (st->armed || st->frozen || st->error ||
	    !bitmap_empty(st->busy, st->nr)) {
		ret = st->error ? -EIO : -EBUSY;
		spin_unlock_irqrestore(&st->lock, flags);
		return ret;
	}
	st->frozen = true;
	spin_unlock_irqrestore(&st->lock, flags);

	/* every write that completed before the point in time is in place */
	wait_event(st->wait, !READ_ONCE(st->writes));
	bitmap_zero(st->todo, st->nr);
	if (fill)
		ret = fill(ctx, st->todo, st->nr, st->shift);
	else
		bitmap_fill(st->todo, st->nr);

	spin_lock_irqsave(&st->lock, flags);
	st->frozen = false;
	st->top_only = top_only;
	st->armed = !ret;
	parked = st->parked;
	bio_list_init(&st->parked);
	spin_unlock_irqrestore(&st->lock, flags);
	cbw_requeue(st, &parked);
	return ret;
}

static int cbw_job_copy(struct vs_node *node, u64 offset, u64 length,
			u64 *copied, int *operation)
{
	struct cbw_state *st = cbw_state_of(node);
	struct completion done;
	u64 first, last, c, start = 0, nr = 0;
	unsigned long flags;
	bool busy = false;
	struct cbw_copy *cp;
	int ret = 0;

	*copied = 0;
	if (!length || length > CBW_JOB_MAX || offset + length > st->size)
		return -EINVAL;
	first = offset >> st->shift;
	last = (offset + length - 1) >> st->shift;

	spin_lock_irqsave(&st->lock, flags);
	if (st->error || !st->armed) {
		ret = st->error ?: -EINVAL;
		spin_unlock_irqrestore(&st->lock, flags);
		return ret;
	}
	for (c = first; c <= last; c++) {
		if (!test_bit(c, st->todo))
			continue;
		if (test_bit(c, st->busy)) {
			busy = true;
			continue;
		}
		/* the first run of free chunks; the rest next time */
		if (nr && start + nr != c) {
			busy = true;
			break;
		}
		if (!nr)
			start = c;
		nr++;
	}
	for (c = start; c < start + nr; c++)
		set_bit(c, st->busy);
	spin_unlock_irqrestore(&st->lock, flags);
	if (!nr)
		return busy ? -EAGAIN : 0;

	cp = kmalloc(sizeof(*cp), GFP_NOIO);
	if (!cp) {
		cbw_chunks_end(st, start, nr, true, true, true);
		return -ENOMEM;
	}
	init_completion(&done);
	*cp = (struct cbw_copy) {
		.st = st, .first = start, .nr = nr, .for_job = true,
		.done = &done,
	};
	atomic_set(&cp->pending, 1);
	cp->bytes = cbw_copy_extents(st, cp, start << st->shift,
				     min((start + nr) << st->shift, st->size),
				     READ_ONCE(st->top_only));
	cbw_kcopyd_done(0, 0, cp);
	wait_for_completion(&done);
	if (cp->read_failed || cp->write_failed) {
		*operation = cp->write_failed;
		ret = -EIO;
	} else {
		*copied = cp->bytes;
	}
	kfree(cp);
	return ret ?: busy ? -EAGAIN : 0;
}

static int cbw_check(struct vs_node *node)
{
	return READ_ONCE(cbw_state_of(node)->error);
}

static void cbw_progress(struct vs_node *node, u32 *chunk, u64 *todo)
{
	struct cbw_state *st = cbw_state_of(node);

	*chunk = 1U << st->shift;
	*todo = min((u64)bitmap_weight(st->todo, st->nr) << st->shift,
		    st->size);
}

static void cbw_disarm(struct vs_node *node)
{
	struct cbw_state *st = cbw_state_of(node);
	struct bio_list parked;
	unsigned long flags;

	spin_lock_irqsave(&st->lock, flags);
	st->armed = false;
	parked = st->parked;
	bio_list_init(&st->parked);
	spin_unlock_irqrestore(&st->lock, flags);
	cbw_requeue(st, &parked);
	/* copies under way end on their own; a new arm waits for them */
	wait_event(st->wait, bitmap_empty(st->busy, st->nr));
}

static const struct vs_cbw_ops cbw_ops = {
	.arm = cbw_arm,
	.copy = cbw_job_copy,
	.check = cbw_check,
	.progress = cbw_progress,
	.disarm = cbw_disarm,
};

/* ---- the shared state ---- */

void cbw_state_put(struct cbw_state *st)
{
	mutex_lock(&cbw_states_mutex);
	if (!refcount_dec_and_test(&st->refs)) {
		mutex_unlock(&cbw_states_mutex);
		return;
	}
	list_del(&st->list);
	mutex_unlock(&cbw_states_mutex);
	/* no instance is left, so no bio is parked and no copy runs */
	destroy_workqueue(st->wq);
	dm_kcopyd_client_destroy(st->kcopyd);
	blkdev_put(st->child, FMODE_READ);
	blkdev_put(st->target, FMODE_READ | FMODE_WRITE);
	bitmap_free(st->busy);
	kvfree(st->todo);
	kfree(st);
}

static struct cbw_state *cbw_state_new(struct cbw_target *ct, u32 shift,
				       u64 size, char **error)
{
	struct cbw_state *st;

	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		goto nomem;
	strscpy(st->name, ct->node.name, sizeof(st->name));
	refcount_set(&st->refs, 1);
	st->child_dev = ct->child->bdev->bd_dev;
	st->target_dev = ct->target_dev->bdev->bd_dev;
	st->shift = shift;
	st->size = size;
	st->nr = DIV_ROUND_UP_ULL(size, 1ULL << shift);
	spin_lock_init(&st->lock);
	bio_list_init(&st->parked);
	INIT_LIST_HEAD(&st->reads);
	init_waitqueue_head(&st->wait);
	vs_bio_queue_init(&st->admit, cbw_admit_work);
	st->todo = kvcalloc(BITS_TO_LONGS(st->nr), sizeof(long), GFP_KERNEL);
	st->busy = bitmap_zalloc(st->nr, GFP_KERNEL);
	if (!st->todo || !st->busy)
		goto nomem;
	/* the state's own references: instances come and go under it */
	st->child = blkdev_get_by_dev(st->child_dev, FMODE_READ, st);
	if (IS_ERR(st->child)) {
		st->child = NULL;
		*error = "cannot open the child device";
		goto fail;
	}
	st->target = blkdev_get_by_dev(st->target_dev,
				       FMODE_READ | FMODE_WRITE, st);
	if (IS_ERR(st->target)) {
		st->target = NULL;
		*error = "cannot open the target device";
		goto fail;
	}
	st->kcopyd = dm_kcopyd_client_create(NULL);
	if (IS_ERR(st->kcopyd)) {
		st->kcopyd = NULL;
		*error = "cannot create the dm-kcopyd client";
		goto fail;
	}
	st->wq = alloc_workqueue("vs-cbw/%s", WQ_MEM_RECLAIM | WQ_UNBOUND, 0,
				 st->name);
	if (!st->wq) {
		*error = "cannot allocate the workqueue";
		goto fail;
	}
	return st;
nomem:
	*error = "cannot allocate target";
fail:
	if (st) {
		if (st->kcopyd)
			dm_kcopyd_client_destroy(st->kcopyd);
		if (st->target)
			blkdev_put(st->target, FMODE_READ | FMODE_WRITE);
		if (st->child)
			blkdev_put(st->child, FMODE_READ);
		bitmap_free(st->busy);
		kvfree(st->todo);
		kfree(st);
	}
	return NULL;
}

/* The live instance's state (a reload), or a new one. */
static int cbw_state_get(struct cbw_target *ct, u32 shift, u64 size,
			 char **error)
{
	struct cbw_state *st;

	mutex_lock(&cbw_states_mutex);
	list_for_each_entry(st, &cbw_states, list) {
		if (strcmp(st->name, ct->node.name))
			continue;
		if (st->child_dev != ct->child->bdev->bd_dev ||
		    st->target_dev != ct->target_dev->bdev->bd_dev ||
		    st->shift != shift || st->size != size) {
			mutex_unlock(&cbw_states_mutex);
			*error = "a reload cannot change the child, target, granularity or size";
			return -EINVAL;
		}
		refcount_inc(&st->refs);
		ct->st = st;
		mutex_unlock(&cbw_states_mutex);
		return 0;
	}
	st = cbw_state_new(ct, shift, size, error);
	if (!st) {
		mutex_unlock(&cbw_states_mutex);
		return -ENOMEM;
	}
	list_add(&st->list, &cbw_states);
	ct->st = st;
	mutex_unlock(&cbw_states_mutex);
	return 0;
}

/* ---- device-mapper ---- */

static int cbw_map(struct dm_target *ti, struct bio *bio)
{
	struct cbw_target *ct = ti->private;
	struct cbw_state *st = ct->st;
	struct cbw_io *io = dm_per_bio_data(bio, sizeof(struct cbw_io));
	unsigned long flags;
	bool go = true;
	u64 first, last;

	io->counted = false;
	io->held = false;
	vs_bitmap_map(ti, bio);
	bio_set_dev(bio, st->child);
	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	vs_node_account(&ct->node, bio);
	if (!op_is_write(bio_op(bio)) || !bio->bi_iter.bi_size)
		return DM_MAPIO_REMAPPED;

	cbw_chunks(st, bio, &first, &last);
	spin_lock_irqsave(&st->lock, flags);
	if (st->frozen ||
	    (st->armed && find_next_bit(st->todo, last + 1, first) <= last) ||
	    cbw_reads_overlap_locked(st, first, last))
		go = false;
	if (go) {
		io->counted = true;
		st->writes++;
	}
	spin_unlock_irqrestore(&st->lock, flags);
	if (go)
		return DM_MAPIO_REMAPPED;
	/* the worker copies first, or parks it until the thaw */
	vs_bio_queue_add(&st->admit, bio, st->wq);
	return DM_MAPIO_SUBMITTED;
}

static int cbw_end_io(struct dm_target *ti, struct bio *bio,
		      blk_status_t *error)
{
	struct cbw_target *ct = ti->private;
	struct cbw_state *st = ct->st;
	struct cbw_io *io = dm_per_bio_data(bio, sizeof(struct cbw_io));
	unsigned long flags;
	bool wake;

	vs_node_account_error(&ct->node, bio, *error);
	vs_bitmap_end_io(&ct->node, bio);
	if (!io->counted)
		return DM_ENDIO_DONE;
	io->counted = false;
	spin_lock_irqsave(&st->lock, flags);
	wake = !--st->writes;
	spin_unlock_irqrestore(&st->lock, flags);
	if (wake)
		wake_up_all(&st->wait);
	return DM_ENDIO_DONE;
}

/*
 * Table line (Documentation/targets/copy-before-write.rst):
 *
 *   <node_name> <child> <#opt_args> target <device> [granularity <bytes>]
 *
 *   child:       the block device of the node below (the backup's source)
 *   target:      the block device the old data is copied to
 *   granularity: the chunk size, a power of two of 64 KiB to 16 MiB
 */
static const struct vs_opt cbw_opt_defs[] = {
	VS_OPT_DEF_STR("target", struct cbw_opts, target,
		       "target needs a device",
		       "target given more than once",
		       "the block device the old data is copied to (required)"),
	VS_OPT_DEF_U32("granularity", struct cbw_opts, granularity,
		       1U << CBW_MIN_SHIFT, 1U << CBW_MAX_SHIFT,
		       1U << CBW_MIN_SHIFT,
		       "granularity must be a power of two of 65536 to 16777216",
		       "granularity given more than once",
		       "chunk size in bytes: max(64 KiB, the target's cluster size)"),
};

static const struct vs_opt_set cbw_opt_set = {
	.opts = cbw_opt_defs,
	.nr = ARRAY_SIZE(cbw_opt_defs),
};

static const struct vs_node_ops cbw_node_ops;

static int cbw_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	const char *node_name, *path;
	struct cbw_target *ct;
	struct cbw_opts opt;
	int ret;

	ret = vs_target_parse(ti, argc, argv, &cbw_opt_set, &opt, &node_name,
			      &path);
	if (ret)
		return ret;
	if (!opt.target) {
		ti->error = "copy-before-write needs a target (target <device>)";
		return -EINVAL;
	}
	if (!is_power_of_2(opt.granularity)) {
		ti->error = "granularity must be a power of two of 65536 to 16777216";
		return -EINVAL;
	}
	if (!(dm_table_get_mode(ti->table) & FMODE_WRITE)) {
		ti->error = "copy-before-write passes writes: the table cannot be read-only";
		return -EINVAL;
	}
	ct = kzalloc(sizeof(*ct), GFP_KERNEL);
	if (!ct) {
		ti->error = "cannot allocate target";
		return -ENOMEM;
	}
	ct->ti = ti;
	strscpy(ct->node.name, node_name, sizeof(ct->node.name));
	ct->path = kstrdup(path, GFP_KERNEL);
	ct->opt.target = kstrdup(opt.target, GFP_KERNEL);
	ct->opt.granularity = opt.granularity;
	if (!ct->path || !ct->opt.target) {
		ti->error = "cannot allocate target";
		ret = -ENOMEM;
		goto out_free;
	}
	ret = dm_get_device(ti, ct->path, dm_table_get_mode(ti->table),
			    &ct->child);
	if (ret) {
		ti->error = "cannot open the child device";
		goto out_free;
	}
	ret = dm_get_device(ti, ct->opt.target, FMODE_READ | FMODE_WRITE,
			    &ct->target_dev);
	if (ret) {
		ti->error = "cannot open the target device";
		goto out_put_child;
	}
	if (ti->len > bdev_nr_sectors(ct->child->bdev)) {
		ti->error = "the target is longer than the child device";
		ret = -EINVAL;
		goto out_put_target;
	}
	if (bdev_nr_sectors(ct->target_dev->bdev) < ti->len) {
		ti->error = "the backup target is smaller than the node";
		ret = -EINVAL;
		goto out_put_target;
	}
	if (ct->target_dev->bdev->bd_dev == ct->child->bdev->bd_dev ||
	    bdev_read_only(ct->target_dev->bdev)) {
		ti->error = "the backup target must be another, writable device";
		ret = -EINVAL;
		goto out_put_target;
	}
	ret = cbw_state_get(ct, ilog2(opt.granularity),
			    (u64)ti->len << SECTOR_SHIFT, &ti->error);
	if (ret)
		goto out_put_target;

	ct->node.driver = "copy-before-write";
	ct->node.ops = &cbw_node_ops;
	ct->node.children[0] = (struct vs_child) {
		.role = "file",
		.path = ct->path,
		.dev = ct->child->bdev->bd_dev,
	};
	/* the target is no child: nothing reads through it */
	ct->node.nr_children = 1;
	ret = vs_node_register(&ct->node, ti, &ti->error);
	if (ret)
		goto out_put_state;

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = VS_NODE_IO_SIZE(sizeof(struct cbw_io));
	/* parked writes go down with dm_submit_bio_remap() */
	ti->accounts_remapped_io = true;
	ti->private = ct;
	return 0;

out_put_state:
	cbw_state_put(ct->st);
out_put_target:
	dm_put_device(ti, ct->target_dev);
out_put_child:
	dm_put_device(ti, ct->child);
out_free:
	kfree(ct->opt.target);
	kfree(ct->path);
	kfree(ct);
	return ret;
}

static void cbw_dtr(struct dm_target *ti)
{
	struct cbw_target *ct = ti->private;

	vs_node_unregister(&ct->node);
	cbw_state_put(ct->st);
	dm_put_device(ti, ct->target_dev);
	dm_put_device(ti, ct->child);
	kfree(ct->opt.target);
	kfree(ct->path);
	kfree(ct);
}

static int cbw_preresume(struct dm_target *ti)
{
	struct cbw_target *ct = ti->private;

	return vs_node_may_resume(&ct->node);
}

static void cbw_resume(struct dm_target *ti)
{
	struct cbw_target *ct = ti->private;

	vs_node_activate(&ct->node);
}

/*
 * Status (INFO):
 *   <node_name> <idle|armed|broken> <read_ios> <read_bytes> <write_ios>
 *   <write_bytes> <flush_ios> <discard_ios> <errors> <cbw_bytes>
 *   <job_bytes> <cbw_errors> <todo_bytes>
 */
static void cbw_status(struct dm_target *ti, status_type_t type,
		       unsigned int status_flags, char *result,
		       unsigned int maxlen)
{
	struct cbw_target *ct = ti->private;
	struct cbw_state *st = ct->st;
	unsigned int sz = 0;
	struct vs_stats s;
	u32 chunk;
	u64 todo;

	switch (type) {
	case STATUSTYPE_INFO:
		vs_node_stats_sum(&ct->node, &s);
		cbw_progress(&ct->node, &chunk, &todo);
		DMEMIT("%s %s %llu %llu %llu %llu %llu %llu %llu %lld %lld %lld %llu",
		       ct->node.name, READ_ONCE(st->error) ? "broken" :
		       READ_ONCE(st->armed) ? "armed" : "idle",
		       s.rd_ios, s.rd_bytes, s.wr_ios, s.wr_bytes, s.flush_ios,
		       s.discard_ios, s.errors,
		       (long long)atomic64_read(&st->cbw_bytes),
		       (long long)atomic64_read(&st->job_bytes),
		       (long long)atomic64_read(&st->cbw_errors),
		       READ_ONCE(st->armed) ? todo : 0);
		break;
	case STATUSTYPE_TABLE:
		vs_target_emit_table(ct->node.name, ct->path, &cbw_opt_set,
				     &ct->opt, result, &sz, maxlen);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",node_name=%s;", ct->node.name);
		break;
	}
}

static int cbw_iterate_devices(struct dm_target *ti,
			       iterate_devices_callout_fn fn, void *data)
{
	struct cbw_target *ct = ti->private;

	return fn(ti, ct->child, 0, ti->len, data);
}

/* A filter has no data of its own: every query goes to the node below. */
static int cbw_block_status(struct vs_node *node, u64 offset, u64 length,
			    struct vs_extent *ext)
{
	struct cbw_target *ct = container_of(node, struct cbw_target, node);

	return vs_extent_below(ext, ct->child->bdev->bd_dev, offset, length);
}

static const struct vs_node_ops cbw_node_ops = {
	.block_status = cbw_block_status,
	.cbw = &cbw_ops,
};

/* ---- the snapshot-access face (cbw.h) ---- */

struct cbw_state *cbw_state_hold(struct vs_node *node)
{
	struct cbw_state *st;

	if (node->ops != &cbw_node_ops)
		return NULL;
	st = cbw_state_of(node);
	/* the caller holds NODE, whose instance holds st: never from 0 */
	refcount_inc(&st->refs);
	return st;
}

dev_t cbw_state_target_dev(const struct cbw_state *st)
{
	return st->target_dev;
}

u64 cbw_state_size(const struct cbw_state *st)
{
	return st->size;
}

u64 cbw_state_held_writes(const struct cbw_state *st)
{
	return atomic64_read(&st->held_writes);
}

bool cbw_read_begin(struct cbw_state *st, struct cbw_read *rd, u64 offset,
		    u64 length)
{
	unsigned long flags;
	bool hold;

	cbw_range_chunks(st, offset, length, &rd->first, &rd->last);
	spin_lock_irqsave(&st->lock, flags);
	/*
	 * A chunk still to copy is read from the node below (the target's
	 * backing); a copied one from the target alone. While the job arms
	 * the filter, todo is being filled: any chunk may be one to copy.
	 */
	hold = st->frozen ||
	       (st->armed &&
		find_next_bit(st->todo, rd->last + 1, rd->first) <= rd->last);
	if (hold)
		list_add_tail(&rd->entry, &st->reads);
	spin_unlock_irqrestore(&st->lock, flags);
	return hold;
}

void cbw_read_end(struct cbw_state *st, struct cbw_read *rd)
{
	struct bio_list parked;
	unsigned long flags;

	bio_list_init(&parked);
	spin_lock_irqsave(&st->lock, flags);
	list_del(&rd->entry);
	/* the parked writes that still overlap a read park again */
	if (st->parked_on_reads) {
		st->parked_on_reads = false;
		parked = st->parked;
		bio_list_init(&st->parked);
	}
	spin_unlock_irqrestore(&st->lock, flags);
	cbw_requeue(st, &parked);
}

static struct target_type cbw_target_type = {
	.name = VSTORAGE_DM_TARGET_PREFIX "cbw",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = cbw_ctr,
	.dtr = cbw_dtr,
	.map = cbw_map,
	.end_io = cbw_end_io,
	.preresume = cbw_preresume,
	.resume = cbw_resume,
	.status = cbw_status,
	.iterate_devices = cbw_iterate_devices,
};

static int __init cbw_init(void)
{
	int ret = dm_register_target(&cbw_target_type);

	if (ret)
		return ret;
	ret = snapshot_access_register();
	if (ret)
		dm_unregister_target(&cbw_target_type);
	return ret;
}

static void __exit cbw_exit(void)
{
	snapshot_access_unregister();
	dm_unregister_target(&cbw_target_type);
}

module_init(cbw_init);
module_exit(cbw_exit);

MODULE_DESCRIPTION("vstorage copy-before-write filter and snapshot access: old data goes to a backup target before a write changes it, as QEMU's copy-before-write and snapshot-access drivers");
MODULE_AUTHOR("vstorage developers");
MODULE_LICENSE("GPL");
MODULE_ALIAS("dm-vstorage-copy-before-write");
/* what device-mapper asks for when a table names the target */
MODULE_ALIAS("dm-vstorage-cbw");
MODULE_ALIAS("dm-vstorage-access");
