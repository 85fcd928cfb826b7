// SPDX-License-Identifier: GPL-2.0
/*
 * vstorage-mirror: the filter an active commit (and later a mirror) puts
 * above the node it copies from, like QEMU's mirror_top node. Its target
 * lives in the core module, next to the jobs that drive it.
 *
 * Path of a bio: map() remaps it to the current child: the node below
 * until the pivot, the job's target device after it. While a job tracks
 * the filter, a write, discard or write-zeroes keeps its range in per-bio
 * data, and end_io() marks that range in the job's dirty bitmap: a range
 * is dirty once the write has reached the child, so a copy that read it
 * earlier is done again. (The bitmap is set at completion, not at map,
 * because a copy running between the two would read the old data and
 * clear the bit.)
 *
 * Write-blocking (a mirror's copy-mode=write-blocking, QEMU's active
 * mirroring): a write or write-zeroes to a range the job has copied
 * already (its bits clear, no copy of it under way) goes to the source
 * and to the job's target at once through dm-io, as dm-raid1 writes its
 * legs, and completes when both did. It is not marked dirty, unless the
 * target's half failed (a target without write-zeroes fails it with
 * NOTSUPP) or a copy of an overlapping range began meanwhile (that copy
 * may have read the source before the write). A write to a range not yet
 * copied takes the usual path and is only marked dirty.
 *
 * The pivot (FINALIZE of an active commit) freezes the filter: new bios
 * wait in a list, the writes in flight drain, the job copies what is
 * still dirty, flushes the target, and the filter switches its child and
 * lets the held bios go. A reload of a pivoted filter keeps the pivot:
 * the new instance takes it over from the live one with the same name.
 */
#include <linux/dm-io.h>
#include <linux/slab.h>

#include "job.h"
#include "mirror_top.h"

#define DM_MSG_PREFIX "vstorage-mirror"

struct mt_target {
	struct vs_node node;
	struct dm_dev *child;
	char *path;
	struct dm_target *ti;

	spinlock_t lock;		/* protects what follows */
	struct vs_dirty *dirty;		/* the tracking job's bitmap */
	bool frozen;
	struct bio_list held;		/* bios that arrived while frozen */
	unsigned int writes;		/* tracked writes in flight */
	wait_queue_head_t drained;	/* writes reached 0, or thawed */
	struct block_device *pivot;	/* the child since the pivot */
	struct dm_io_client *io_client;	/* write-blocking writes */
	atomic64_t dual_ios;		/* writes sent to both sides */
};

/* Per bio (ti->per_io_data_size): the range a tracked write covers. */
struct mt_io {
	sector_t sector;
	unsigned int sectors;
	bool tracked;
	bool dual;		/* write-blocking: written to the target too */
	bool dual_failed;	/* and the target's write failed */
	struct vs_dirty *d;	/* dual: pinned by d->dual_writes */
	u64 seq;		/* dual: d->copy_seq at map */
};

static LIST_HEAD(mt_trackers);		/* struct vs_dirty, by filter name */
static DEFINE_MUTEX(mt_trackers_mutex);

void vs_dirty_mark(struct vs_dirty *d, sector_t sector, unsigned int sectors)
{
	u64 first, last;

	if (!sectors)
		return;
	first = (sector << SECTOR_SHIFT) >> d->shift;
	last = (((sector + sectors) << SECTOR_SHIFT) - 1) >> d->shift;
	if (last >= d->nr)
		last = d->nr - 1;
	for (; first <= last; first++)
		set_bit(first, d->bits);
}

static struct vs_dirty *mt_tracker_find(const char *filter)
{
	struct vs_dirty *d;

	list_for_each_entry(d, &mt_trackers, list)
		if (!strcmp(d->filter, filter))
			return d;
	return NULL;
}

static void mt_dirty_put(struct vs_dirty *d)
{
	if (d && refcount_dec_and_test(&d->refs)) {
		bitmap_free(d->bits);
		kfree(d);
	}
}

/* The live filter instance called FILTER; a reference the caller puts. */
static struct mt_target *mt_get(const char *filter);

struct vs_dirty *vs_dirty_track(const char *filter, u64 size, u32 shift,
				bool fill, const char **error)
{
	struct vs_dirty *d;
	struct mt_target *mt;
	unsigned long flags;

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return ERR_PTR(-ENOMEM);
	d->nr = DIV_ROUND_UP_ULL(size, 1ULL << shift);
	d->shift = shift;
	refcount_set(&d->refs, 1);
	spin_lock_init(&d->lock);
	atomic_set(&d->dual_writes, 0);
	init_waitqueue_head(&d->dual_wait);
	strscpy(d->filter, filter, sizeof(d->filter));
	d->bits = bitmap_zalloc(d->nr, GFP_KERNEL);
	if (!d->bits) {
		kfree(d);
		return ERR_PTR(-ENOMEM);
	}
	/* everything is to copy at first; the copy skips what base has */
	if (fill)
		bitmap_fill(d->bits, d->nr);

	mutex_lock(&mt_trackers_mutex);
	mt = mt_get(filter);
	if (!mt || mt_tracker_find(filter)) {
		mutex_unlock(&mt_trackers_mutex);
		if (mt)
			vs_node_put(&mt->node);
		*error = mt ? "the filter is tracked by another job" :
			      "the filter is not a vstorage-mirror node";
		mt_dirty_put(d);
		return ERR_PTR(mt ? -EBUSY : -EINVAL);
	}
	list_add(&d->list, &mt_trackers);
	refcount_inc(&d->refs);
	spin_lock_irqsave(&mt->lock, flags);
	mt->dirty = d;
	spin_unlock_irqrestore(&mt->lock, flags);
	mutex_unlock(&mt_trackers_mutex);
	vs_node_put(&mt->node);
	return d;
}

void vs_dirty_untrack(struct vs_dirty *d)
{
	struct mt_target *mt;
	unsigned long flags;

	vs_dirty_set_blocking(d, NULL);
	mutex_lock(&mt_trackers_mutex);
	list_del(&d->list);
	mt = mt_get(d->filter);
	if (mt) {
		spin_lock_irqsave(&mt->lock, flags);
		if (mt->dirty == d) {
			mt->dirty = NULL;
			mt_dirty_put(d);
		}
		spin_unlock_irqrestore(&mt->lock, flags);
		vs_node_put(&mt->node);
	}
	mutex_unlock(&mt_trackers_mutex);
	mt_dirty_put(d);
}

void vs_dirty_set_blocking(struct vs_dirty *d, struct block_device *to)
{
	unsigned long flags;

	spin_lock_irqsave(&d->lock, flags);
	d->to = to;
	spin_unlock_irqrestore(&d->lock, flags);
	/* the writes that took the old target finish before it goes */
	if (!to)
		wait_event(d->dual_wait, !atomic_read(&d->dual_writes));
}

void vs_dirty_copy_begin(struct vs_dirty *d, u64 offset, u64 len)
{
	unsigned long flags;

	spin_lock_irqsave(&d->lock, flags);
	d->copy_seq++;
	d->copy_start = offset;
	d->copy_end = offset + len;
	d->copying = true;
	spin_unlock_irqrestore(&d->lock, flags);
}

void vs_dirty_copy_end(struct vs_dirty *d)
{
	unsigned long flags;

	spin_lock_irqsave(&d->lock, flags);
	d->copying = false;
	spin_unlock_irqrestore(&d->lock, flags);
}

static bool mt_overlaps_copy(struct vs_dirty *d, const struct mt_io *io)
{
	u64 start = (u64)io->sector << SECTOR_SHIFT;
	u64 end = start + ((u64)io->sectors << SECTOR_SHIFT);

	return start < d->copy_end && d->copy_start < end;
}

/*
 * Under mt->lock: whether the write IO (range set) goes to the target too:
 * write-blocking is on, the range is clean and no copy of it is under way.
 * Then IO pins D until mt_end_io().
 */
static bool mt_dual_start(struct vs_dirty *d, struct mt_io *io)
{
	u64 first = ((u64)io->sector << SECTOR_SHIFT) >> d->shift;
	u64 last = (((u64)(io->sector + io->sectors) << SECTOR_SHIFT) - 1) >>
		   d->shift;
	bool dual = false;

	spin_lock(&d->lock);
	if (d->to && last < d->nr && !(d->copying && mt_overlaps_copy(d, io)) &&
	    find_next_bit(d->bits, last + 1, first) > last) {
		dual = true;
		io->d = d;
		io->seq = d->copy_seq;
		io->dual_failed = false;
		atomic_inc(&d->dual_writes);
	}
	spin_unlock(&d->lock);
	return dual;
}

/*
 * A dual write completed (IO, with ERROR from the source): whether its
 * range must be copied again, and D unpinned.
 */
static bool mt_dual_end(struct mt_io *io, blk_status_t error)
{
	struct vs_dirty *d = io->d;
	unsigned long flags;
	bool mark;

	spin_lock_irqsave(&d->lock, flags);
	mark = error || io->dual_failed || d->copy_seq - io->seq > 1 ||
	       (d->copy_seq != io->seq && mt_overlaps_copy(d, io));
	spin_unlock_irqrestore(&d->lock, flags);
	io->dual = false;
	if (atomic_dec_and_test(&d->dual_writes))
		wake_up_all(&d->dual_wait);
	return mark;
}

static struct block_device *mt_child_bdev(struct mt_target *mt)
{
	return mt->pivot ?: mt->child->bdev;
}

/* dm-io's callback: region 0 is the source, region 1 the target. */
static void mt_dual_done(unsigned long error, void *context)
{
	struct bio *bio = context;
	struct mt_io *io = dm_per_bio_data(bio, sizeof(struct mt_io));

	if (error & 2)
		io->dual_failed = true;
	if (error & 1)
		bio->bi_status = BLK_STS_IOERR;
	bio_endio(bio);		/* to mt_end_io() */
}

static void mt_dual_submit(struct mt_target *mt, struct bio *bio,
			   struct block_device *source)
{
	struct mt_io *io = dm_per_bio_data(bio, sizeof(struct mt_io));
	struct dm_io_region where[2] = {
		{ .bdev = source, .sector = bio->bi_iter.bi_sector,
		  .count = bio_sectors(bio) },
		{ .bdev = io->d->to, .sector = bio->bi_iter.bi_sector,
		  .count = bio_sectors(bio) },
	};
	struct dm_io_request req = {
		.bi_opf = bio->bi_opf,
		.mem.type = DM_IO_BIO,
		.mem.ptr.bio = bio,
		.notify.fn = mt_dual_done,
		.notify.context = bio,
		.client = mt->io_client,
	};

	atomic64_inc(&mt->dual_ios);
	if (dm_io(&req, 2, where, NULL, bio_prio(bio))) {
		bio->bi_status = BLK_STS_IOERR;
		bio_endio(bio);
	}
}

static int mt_map(struct dm_target *ti, struct bio *bio)
{
	struct mt_target *mt = ti->private;
	struct mt_io *io = dm_per_bio_data(bio, sizeof(struct mt_io));
	struct block_device *child;
	unsigned long flags;
	bool dual = false;

	io->tracked = false;
	io->dual = false;
	vs_bitmap_map(ti, bio);
	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	vs_node_account(&mt->node, bio);

	spin_lock_irqsave(&mt->lock, flags);
	if (mt->frozen) {
		bio_list_add(&mt->held, bio);
		spin_unlock_irqrestore(&mt->lock, flags);
		return DM_MAPIO_SUBMITTED;
	}
	if (mt->dirty && op_is_write(bio_op(bio)) && bio_sectors(bio)) {
		io->sector = bio->bi_iter.bi_sector;
		io->sectors = bio_sectors(bio);
		io->tracked = true;
		mt->writes++;
		/*
		 * Data and write-zeroes: a discard leaves each side's
		 * contents to that side (qcow2's discard=ignore drops it,
		 * partial clusters stay), so the job copies what the
		 * source reads after it.
		 */
		if ((bio_op(bio) == REQ_OP_WRITE ||
		     bio_op(bio) == REQ_OP_WRITE_ZEROES) && !mt->pivot)
			dual = mt_dual_start(mt->dirty, io);
	}
	io->dual = dual;
	child = mt_child_bdev(mt);
	spin_unlock_irqrestore(&mt->lock, flags);
	if (dual) {
		mt_dual_submit(mt, bio, child);
		return DM_MAPIO_SUBMITTED;
	}
	bio_set_dev(bio, child);
	return DM_MAPIO_REMAPPED;
}

static int mt_end_io(struct dm_target *ti, struct bio *bio,
		     blk_status_t *error)
{
	struct mt_target *mt = ti->private;
	struct mt_io *io = dm_per_bio_data(bio, sizeof(struct mt_io));
	unsigned long flags;
	bool mark;

	vs_node_account_error(&mt->node, bio, *error);
	vs_bitmap_end_io(&mt->node, bio);
	if (!io->tracked)
		return DM_ENDIO_DONE;
	io->tracked = false;
	/* a dual write that nothing raced with is on the target already */
	mark = !io->dual || mt_dual_end(io, *error);
	spin_lock_irqsave(&mt->lock, flags);
	/* a failed write may have changed part of the range: copy it again */
	if (mt->dirty && mark)
		vs_dirty_mark(mt->dirty, io->sector, io->sectors);
	if (!--mt->writes)
		wake_up_all(&mt->drained);
	spin_unlock_irqrestore(&mt->lock, flags);
	return DM_ENDIO_DONE;
}

static int mt_freeze(struct mt_target *mt)
{
	unsigned long flags;

	spin_lock_irqsave(&mt->lock, flags);
	mt->frozen = true;
	spin_unlock_irqrestore(&mt->lock, flags);
	return wait_event_killable(mt->drained, !READ_ONCE(mt->writes));
}

/* Let the held bios go, to the new child when TO is given. */
static void mt_thaw(struct mt_target *mt, struct block_device *to)
{
	struct bio_list held;
	unsigned long flags;
	struct bio *bio;

	spin_lock_irqsave(&mt->lock, flags);
	if (to && !mt->pivot)
		mt->pivot = to;
	else if (to)
		blkdev_put(to, FMODE_READ | FMODE_WRITE);
	mt->frozen = false;
	held = mt->held;
	bio_list_init(&mt->held);
	spin_unlock_irqrestore(&mt->lock, flags);
	wake_up_all(&mt->drained);

	while ((bio = bio_list_pop(&held))) {
		struct mt_io *io = dm_per_bio_data(bio, sizeof(struct mt_io));

		/* tracked no more: the job has finished with this filter */
		io->tracked = false;
		io->dual = false;
		bio_set_dev(bio, mt_child_bdev(mt));
		dm_submit_bio_remap(bio, NULL);
	}
}

int vs_mirror_top_freeze(const char *filter)
{
	struct mt_target *mt = mt_get(filter);
	int ret;

	if (!mt)
		return -ENODEV;
	ret = mt_freeze(mt);
	if (ret)
		mt_thaw(mt, NULL);
	vs_node_put(&mt->node);
	return ret;
}

int vs_mirror_top_thaw(const char *filter, dev_t to)
{
	struct block_device *bdev = NULL;
	struct mt_target *mt;

	if (to) {
		bdev = blkdev_get_by_dev(to, FMODE_READ | FMODE_WRITE, NULL);
		if (IS_ERR(bdev))
			bdev = NULL;
	}
	mt = mt_get(filter);
	if (!mt) {
		if (bdev)
			blkdev_put(bdev, FMODE_READ | FMODE_WRITE);
		return -ENODEV;
	}
	mt_thaw(mt, bdev);
	vs_node_put(&mt->node);
	return to && !bdev ? -ENODEV : 0;
}

/*
 * Table line (Documentation/targets/mirror.rst):
 *
 *   <node_name> <child>
 */
static const struct vs_opt_set mt_opt_set = { .nr = 0 };

static const struct vs_node_ops mt_node_ops;

static struct mt_target *mt_get(const char *filter)
{
	struct vs_node *node = vs_node_get_by_name(filter);

	if (!node)
		return NULL;
	if (node->ops != &mt_node_ops) {
		vs_node_put(node);
		return NULL;
	}
	return container_of(node, struct mt_target, node);
}

/* A reload of a tracked or pivoted filter carries both over. */
static int mt_take_over(struct mt_target *mt)
{
	struct mt_target *live = mt_get(mt->node.name);
	dev_t pivot = 0;

	mutex_lock(&mt_trackers_mutex);
	mt->dirty = mt_tracker_find(mt->node.name);
	if (mt->dirty)
		refcount_inc(&mt->dirty->refs);
	mutex_unlock(&mt_trackers_mutex);
	if (live) {
		if (live->pivot)
			pivot = live->pivot->bd_dev;
		vs_node_put(&live->node);
	}
	if (pivot) {
		mt->pivot = blkdev_get_by_dev(pivot, FMODE_READ | FMODE_WRITE,
					      NULL);
		if (IS_ERR(mt->pivot)) {
			mt->pivot = NULL;
			return -ENODEV;
		}
	}
	return 0;
}

static int mt_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	const char *node_name, *path;
	struct mt_target *mt;
	int ret;

	ret = vs_target_parse(ti, argc, argv, &mt_opt_set, NULL, &node_name,
			      &path);
	if (ret)
		return ret;
	if (!(dm_table_get_mode(ti->table) & FMODE_WRITE)) {
		ti->error = "a mirror filter cannot be read-only";
		return -EINVAL;
	}
	mt = kzalloc(sizeof(*mt), GFP_KERNEL);
	if (!mt) {
		ti->error = "cannot allocate target";
		return -ENOMEM;
	}
	mt->ti = ti;
	spin_lock_init(&mt->lock);
	bio_list_init(&mt->held);
	init_waitqueue_head(&mt->drained);
	strscpy(mt->node.name, node_name, sizeof(mt->node.name));
	mt->path = kstrdup(path, GFP_KERNEL);
	if (!mt->path) {
		ti->error = "cannot allocate target";
		ret = -ENOMEM;
		goto out_free;
	}
	ret = dm_get_device(ti, mt->path, dm_table_get_mode(ti->table),
			    &mt->child);
	if (ret) {
		ti->error = "cannot open the child device";
		goto out_free;
	}
	if (ti->len > bdev_nr_sectors(mt->child->bdev)) {
		ti->error = "the target is longer than the child device";
		ret = -EINVAL;
		goto out_put_dev;
	}
	mt->io_client = dm_io_client_create();
	if (IS_ERR(mt->io_client)) {
		ti->error = "cannot create the dm-io client";
		ret = PTR_ERR(mt->io_client);
		mt->io_client = NULL;
		goto out_put_dev;
	}
	ret = mt_take_over(mt);
	if (ret) {
		ti->error = "cannot open the device the live instance pivoted to";
		goto out_untrack;
	}

	mt->node.driver = "mirror-top";
	mt->node.ops = &mt_node_ops;
	mt->node.children[0] = (struct vs_child) {
		.role = "file",
		.path = mt->path,
		.dev = mt->child->bdev->bd_dev,
	};
	mt->node.nr_children = 1;
	ret = vs_node_register(&mt->node, ti, &ti->error);
	if (ret)
		goto out_untrack;

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = VS_NODE_IO_SIZE(sizeof(struct mt_io));
	/* held bios go down with dm_submit_bio_remap() */
	ti->accounts_remapped_io = true;
	ti->private = mt;
	return 0;

out_untrack:
	if (mt->pivot)
		blkdev_put(mt->pivot, FMODE_READ | FMODE_WRITE);
	mt_dirty_put(mt->dirty);
	dm_io_client_destroy(mt->io_client);
out_put_dev:
	dm_put_device(ti, mt->child);
out_free:
	kfree(mt->path);
	kfree(mt);
	return ret;
}

static void mt_dtr(struct dm_target *ti)
{
	struct mt_target *mt = ti->private;

	vs_node_unregister(&mt->node);
	if (mt->pivot)
		blkdev_put(mt->pivot, FMODE_READ | FMODE_WRITE);
	mt_dirty_put(mt->dirty);
	dm_io_client_destroy(mt->io_client);
	dm_put_device(ti, mt->child);
	kfree(mt->path);
	kfree(mt);
}

/* A suspend waits for a pivot under way: it holds bios only briefly. */
static void mt_presuspend(struct dm_target *ti)
{
	struct mt_target *mt = ti->private;

	wait_event(mt->drained, !READ_ONCE(mt->frozen));
}

static int mt_preresume(struct dm_target *ti)
{
	struct mt_target *mt = ti->private;

	return vs_node_may_resume(&mt->node);
}

static void mt_resume(struct dm_target *ti)
{
	struct mt_target *mt = ti->private;

	vs_node_activate(&mt->node);
}

/*
 * Status (INFO):
 *   <node_name> <tracking|idle> <child|pivoted MAJ:MIN> <read_ios>
 *   <read_bytes> <write_ios> <write_bytes> <flush_ios> <discard_ios>
 *   <errors> <blocking_writes>
 */
static void mt_status(struct dm_target *ti, status_type_t type,
		      unsigned int status_flags, char *result,
		      unsigned int maxlen)
{
	struct mt_target *mt = ti->private;
	unsigned int sz = 0;
	struct vs_stats s;

	switch (type) {
	case STATUSTYPE_INFO:
		vs_node_stats_sum(&mt->node, &s);
		DMEMIT("%s %s ", mt->node.name, mt->dirty ? "tracking" : "idle");
		if (mt->pivot)
			DMEMIT("pivoted %u:%u", MAJOR(mt->pivot->bd_dev),
			       MINOR(mt->pivot->bd_dev));
		else
			DMEMIT("child");
		DMEMIT(" %llu %llu %llu %llu %llu %llu %llu %lld", s.rd_ios,
		       s.rd_bytes, s.wr_ios, s.wr_bytes, s.flush_ios,
		       s.discard_ios, s.errors,
		       (long long)atomic64_read(&mt->dual_ios));
		break;
	case STATUSTYPE_TABLE:
		vs_target_emit_table(mt->node.name, mt->path, &mt_opt_set,
				     NULL, result, &sz, maxlen);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",node_name=%s;", mt->node.name);
		break;
	}
}

static int mt_iterate_devices(struct dm_target *ti,
			      iterate_devices_callout_fn fn, void *data)
{
	struct mt_target *mt = ti->private;

	return fn(ti, mt->child, 0, ti->len, data);
}

/* A filter has no data of its own: every query goes to the node below. */
static int mt_block_status(struct vs_node *node, u64 offset, u64 length,
			   struct vs_extent *ext)
{
	struct mt_target *mt = container_of(node, struct mt_target, node);

	return vs_extent_below(ext, mt_child_bdev(mt)->bd_dev, offset, length);
}

static const struct vs_node_ops mt_node_ops = {
	.block_status = mt_block_status,
};

static struct target_type mt_target_type = {
	.name = VSTORAGE_DM_TARGET_PREFIX "mirror",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = mt_ctr,
	.dtr = mt_dtr,
	.map = mt_map,
	.end_io = mt_end_io,
	.presuspend = mt_presuspend,
	.preresume = mt_preresume,
	.resume = mt_resume,
	.status = mt_status,
	.iterate_devices = mt_iterate_devices,
};

int __init vs_mirror_top_init(void)
{
	return dm_register_target(&mt_target_type);
}

void vs_mirror_top_exit(void)
{
	dm_unregister_target(&mt_target_type);
}
