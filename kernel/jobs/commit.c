// SPDX-License-Identifier: GPL-2.0
/*
 * The commit job (QEMU's block-commit): copy what top and the layers
 * between it and base hold down into base.
 *
 * Non-active (top has an overlay; nobody writes to top): one pass over
 * top's device, copying the ranges block status finds above base from
 * top's device (it reads through the chain) to base's device, then a
 * flush of base; at finalize vstoragectl points the overlay at base.
 *
 * Active (top is the layer the disk writes to): a vstorage-mirror filter
 * stands above top and marks what the workload writes in a dirty bitmap.
 * The job copies every dirty range (all of them at first, skipping what
 * base already has), reaches ready when nothing is dirty, keeps copying
 * until complete, and at finalize pivots: the filter holds new bios,
 * drains the writes in flight, the job copies what is left and flushes
 * base, and the filter sends everything to base's device from then on.
 *
 * Both copy with dm-kcopyd between the nodes' devices, so the formats do
 * their own allocation, and a suspend of either device drains the copy.
 */
#include <linux/dm-kcopyd.h>
#include <linux/slab.h>

#include "job.h"
#include "mirror_top.h"

/* bytes one step copies at most */
#define VS_COMMIT_STEP		(1U << 20)
/* the active commit's dirty granularity: QEMU's default cluster size */
#define VS_COMMIT_DIRTY_SHIFT	16
/* extents of one step copied in parallel; the step ends after them */
#define VS_COMMIT_MAX_EXTENTS	16
/* ready and idle: look for new dirty ranges this often (the bitmap wakes
 * nobody: filter instances may outlive the job)
 */
#define VS_COMMIT_IDLE_MS	100

struct vs_commit {
	struct block_device *top, *base;
	dev_t top_dev, base_dev;
	u32 base_depth;
	u64 size;
	struct dm_kcopyd_client *kcopyd;
	struct vs_dirty *dirty;		/* active only */
};

struct vs_commit_step {
	struct completion done;
	atomic_t pending;
	int read_err;
	unsigned long write_err;
};

static void vs_commit_copy_done(int read_err, unsigned long write_err,
				void *ctx)
{
	struct vs_commit_step *s = ctx;

	if (read_err)
		s->read_err = read_err;
	if (write_err)
		s->write_err = write_err;
	if (atomic_dec_and_test(&s->pending))
		complete(&s->done);
}

static void vs_commit_put_devices(struct vs_commit *c)
{
	if (c->top)
		blkdev_put(c->top, FMODE_READ);
	if (c->base)
		blkdev_put(c->base, FMODE_READ | FMODE_WRITE);
	c->top = NULL;
	c->base = NULL;
}

/* The bottom of NODE's chain, for a commit without a base. */
static int vs_commit_bottom(struct vs_node *node, char *name, size_t len)
{
	struct vs_node *cur = node, *next;
	unsigned int i, hops;

	refcount_inc(&cur->refs);
	for (hops = 0; hops < 2 * VS_MAX_CHAIN_DEPTH; hops++) {
		dev_t below = 0;

		for (i = 0; i < cur->nr_children; i++)
			if (cur->children[i].dev)
				below = cur->children[i].dev;
		next = below ? vs_node_get_by_dev(below) : NULL;
		if (!next) {
			strscpy(name, cur->name, len);
			vs_node_put(cur);
			return 0;
		}
		vs_node_put(cur);
		cur = next;
	}
	vs_node_put(cur);
	return -ELOOP;
}

static int vs_commit_create(struct vs_job *job,
			    const struct vs_job_params *params,
			    struct netlink_ext_ack *extack)
{
	struct vs_node *top, *base = NULL;
	struct vs_commit *c;
	const char *error = NULL;
	int ret = -EINVAL;

	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	top = vs_node_get_by_name(params->node);
	if (!top) {
		NL_SET_ERR_MSG(extack, "no node with this name (VSTORAGE_JOB_NODE)");
		ret = -ENOENT;
		goto out;
	}
	if (!params->base &&
	    vs_commit_bottom(top, job->base, sizeof(job->base))) {
		NL_SET_ERR_MSG(extack, "the chain below top is too deep");
		goto out;
	}
	if (vs_chain_depth(top, job->base, &c->base_depth) || !c->base_depth) {
		NL_SET_ERR_MSG(extack,
			       "base is not a backing node below top (VSTORAGE_JOB_BASE)");
		goto out;
	}
	base = vs_node_get_by_name(job->base);
	if (!base) {
		NL_SET_ERR_MSG(extack, "no node with this name (VSTORAGE_JOB_BASE)");
		ret = -ENOENT;
		goto out;
	}
	c->size = vs_node_size(top);
	if (vs_node_size(base) < c->size) {
		NL_SET_ERR_MSG(extack,
			       "base is smaller than top: grow it first (vstoragectl does)");
		goto out;
	}
	c->top_dev = vs_node_devt(top);
	c->base_dev = vs_node_devt(base);
	vs_node_put(base);
	base = NULL;
	vs_node_put(top);
	top = NULL;

	c->top = blkdev_get_by_dev(c->top_dev, FMODE_READ, job);
	if (IS_ERR(c->top)) {
		ret = PTR_ERR(c->top);
		c->top = NULL;
		NL_SET_ERR_MSG(extack, "cannot open top's device");
		goto out;
	}
	c->base = blkdev_get_by_dev(c->base_dev, FMODE_READ | FMODE_WRITE,
				    job);
	if (IS_ERR(c->base)) {
		ret = PTR_ERR(c->base);
		c->base = NULL;
		NL_SET_ERR_MSG(extack, "cannot open base's device");
		goto out;
	}
	if (bdev_read_only(c->base)) {
		NL_SET_ERR_MSG(extack,
			       "base's device is read-only: reload it read-write first (vstoragectl does)");
		goto out;
	}
	c->kcopyd = dm_kcopyd_client_create(NULL);
	if (IS_ERR(c->kcopyd)) {
		ret = PTR_ERR(c->kcopyd);
		c->kcopyd = NULL;
		NL_SET_ERR_MSG(extack, "cannot create the dm-kcopyd client");
		goto out;
	}
	if (params->filter) {
		c->dirty = vs_dirty_track(params->filter, c->size,
					  VS_COMMIT_DIRTY_SHIFT, &error);
		if (IS_ERR(c->dirty)) {
			ret = PTR_ERR(c->dirty);
			c->dirty = NULL;
			/* a static string of mirror_top.c */
			if (error && extack)
				extack->_msg = error;
			goto out;
		}
		job->active = true;
		job->can_complete = true;
	}
	job->len = c->size;
	job->private = c;
	return 0;
out:
	if (base)
		vs_node_put(base);
	if (top)
		vs_node_put(top);
	if (c->kcopyd)
		dm_kcopyd_client_destroy(c->kcopyd);
	vs_commit_put_devices(c);
	kfree(c);
	return ret;
}

/*
 * Copy [offset, offset + len) of top down into base where block status
 * finds it above base, as far as VS_COMMIT_MAX_EXTENTS copies go:
 * *reached says how far that was, *copied the bytes written. Returns 0 or
 * an error; an I/O error sets *operation (0 read, 1 write).
 */
static int vs_commit_copy(struct vs_job *job, u64 offset, u64 len,
			  u64 *reached, u64 *copied, int *operation)
{
	struct vs_commit *c = job->private;
	struct vs_commit_step step;
	u64 start = offset, end = offset + len;
	struct vs_node *top;
	int nr = 0, ret = 0;

	*copied = 0;
	*reached = 0;
	init_completion(&step.done);
	atomic_set(&step.pending, 1);
	step.read_err = 0;
	step.write_err = 0;

	top = vs_node_get_by_dev(c->top_dev);
	if (!top) {
		vs_job_set_error_msg(job, "top's node is gone");
		return -ENODEV;
	}
	while (offset < end && nr < VS_COMMIT_MAX_EXTENTS) {
		struct dm_io_region from = {
			.bdev = c->top, .sector = offset >> SECTOR_SHIFT,
		};
		struct dm_io_region to = {
			.bdev = c->base, .sector = offset >> SECTOR_SHIFT,
		};
		struct vs_extent ext;
		struct vs_node *host;
		u32 depth;

		ret = vs_block_status(top, offset, end - offset, &ext, &depth,
				      &host);
		if (ret) {
			*operation = 0;
			break;
		}
		vs_node_put(host);
		if (depth < c->base_depth) {
			from.count = ext.length >> SECTOR_SHIFT;
			to.count = from.count;
			atomic_inc(&step.pending);
			if (ext.flags & VS_EXT_ZERO)
				dm_kcopyd_zero(c->kcopyd, 1, &to, 0,
					       vs_commit_copy_done, &step);
			else
				dm_kcopyd_copy(c->kcopyd, &from, 1, &to, 0,
					       vs_commit_copy_done, &step);
			*copied += ext.length;
			nr++;
		}
		offset += ext.length;
	}
	vs_node_put(top);
	vs_commit_copy_done(0, 0, &step);
	wait_for_completion(&step.done);
	if (ret)
		return ret;
	if (step.read_err || step.write_err) {
		*operation = !!step.write_err;
		return -EIO;
	}
	/* the extents that did not fit are the next step's */
	*reached = offset - start;
	return 0;
}

/*
 * One step of [offset, offset + len): returns how far it got (0 when a
 * stopped job should try again), or a negative error that fails the job.
 */
static s64 vs_commit_do(struct vs_job *job, u64 offset, u64 len, u64 *copied)
{
	int operation = 0, ret;
	u64 reached;

	ret = vs_commit_copy(job, offset, len, &reached, copied, &operation);
	if (!ret)
		return reached;
	if (ret == -ENODEV)
		return ret;
	ret = vs_job_io_error(job, ret, operation);
	if (ret < 0)
		return ret;
	return ret ? len : 0;	/* ignore: skip it; stop: again */
}

static int vs_commit_run_passive(struct vs_job *job)
{
	struct vs_commit *c = job->private;
	u64 offset = 0, copied = 0;
	int ret;

	while (offset < c->size) {
		u64 step = vs_job_step(job, VS_COMMIT_STEP);
		u64 len = min(step - (offset & (step - 1)), c->size - offset);
		s64 done;

		ret = vs_job_checkpoint(job, copied);
		if (ret)
			return ret;
		copied = 0;
		done = vs_commit_do(job, offset, len, &copied);
		if (done < 0)
			return done;
		offset += done;
		vs_job_progress(job, done);
	}
	/* the overlay's header will name base: base's data must be stable */
	return blkdev_issue_flush(c->base);
}

/* The dirty ranges left, in bytes (QEMU's len - offset for mirrors). */
static u64 vs_commit_dirty_bytes(struct vs_commit *c)
{
	return (u64)bitmap_weight(c->dirty->bits, c->dirty->nr) <<
	       c->dirty->shift;
}

/*
 * Copy the next run of dirty ranges from *cursor on; returns 1 when
 * nothing was dirty, 0 after a copy, or a negative error.
 */
static int vs_commit_dirty_step(struct vs_job *job, u64 *cursor, u64 *copied)
{
	struct vs_commit *c = job->private;
	struct vs_dirty *d = c->dirty;
	u64 first, nr, limit = vs_job_step(job, VS_COMMIT_STEP) >> d->shift, i;
	u64 offset, len;
	s64 done;

	first = find_next_bit(d->bits, d->nr, *cursor);
	if (first >= d->nr) {
		first = find_first_bit(d->bits, d->nr);
		if (first >= d->nr)
			return 1;
	}
	for (nr = 0; nr < max(limit, 1ULL) && first + nr < d->nr; nr++)
		if (!test_bit(first + nr, d->bits))
			break;
	/* cleared before the read: a write completing later sets it again */
	for (i = 0; i < nr; i++)
		clear_bit(first + i, d->bits);
	offset = first << d->shift;
	len = min(nr << d->shift, c->size - offset);
	done = vs_commit_do(job, offset, len, copied);
	if (done < 0 || done < len) {
		/* not copied (or not all of it): still dirty */
		for (i = (done > 0 ? done : 0) >> d->shift; i < nr; i++)
			set_bit(first + i, d->bits);
	}
	if (done < 0)
		return done;
	*cursor = first + (done >> d->shift);
	return 0;
}

static int vs_commit_run_active(struct vs_job *job)
{
	struct vs_commit *c = job->private;
	u64 cursor = 0, copied = 0;
	int ret;

	for (;;) {
		ret = vs_job_checkpoint(job, copied);
		if (ret)
			return ret;
		copied = 0;
		ret = vs_commit_dirty_step(job, &cursor, &copied);
		if (ret < 0)
			return ret;
		mutex_lock(&job->lock);
		job->len = job->offset + vs_commit_dirty_bytes(c);
		if (!ret)
			job->offset += copied;
		job->len = max(job->len, job->offset);
		mutex_unlock(&job->lock);
		if (ret == 0)
			continue;
		/* converged */
		vs_job_ready(job);
		if (vs_job_should_complete(job))
			return 0;
		wait_event_timeout(job->wait,
				   !bitmap_empty(c->dirty->bits, c->dirty->nr) ||
				   vs_job_should_complete(job) ||
				   READ_ONCE(job->cancel_requested) ||
				   READ_ONCE(job->user_paused),
				   msecs_to_jiffies(VS_COMMIT_IDLE_MS));
	}
}

static int vs_commit_run(struct vs_job *job)
{
	struct vs_commit *c = job->private;

	return c->dirty ? vs_commit_run_active(job) :
			  vs_commit_run_passive(job);
}

/* Active commit's FINALIZE: the pivot. */
static int vs_commit_pivot(struct vs_job *job)
{
	struct vs_commit *c = job->private;
	u64 cursor = 0, copied;
	int ret;

	if (!c->dirty)
		return 0;
	ret = vs_mirror_top_freeze(job->filter);
	if (ret) {
		vs_job_set_error_msg(job, "cannot freeze the mirror filter");
		return ret;
	}
	/* nothing new is written now: copy the rest */
	do {
		copied = 0;
		ret = vs_commit_dirty_step(job, &cursor, &copied);
	} while (ret == 0);
	if (ret < 0 || !bitmap_empty(c->dirty->bits, c->dirty->nr)) {
		vs_mirror_top_thaw(job->filter, 0);
		vs_job_set_error_msg(job, "the last copy before the pivot failed");
		return ret < 0 ? ret : -EIO;
	}
	/* what the guest flushed into top must be as stable in base */
	ret = blkdev_issue_flush(c->base);
	if (ret) {
		vs_mirror_top_thaw(job->filter, 0);
		vs_job_set_error_msg(job, "flushing base before the pivot failed");
		return ret;
	}
	ret = vs_mirror_top_thaw(job->filter, c->base_dev);
	if (ret) {
		vs_job_set_error_msg(job, "the mirror filter is gone");
		return ret;
	}
	mutex_lock(&job->lock);
	job->pivoted = true;
	mutex_unlock(&job->lock);
	return 0;
}

static void vs_commit_release(struct vs_job *job)
{
	struct vs_commit *c = job->private;

	if (!c)
		return;
	if (c->dirty)
		vs_dirty_untrack(c->dirty);
	dm_kcopyd_client_destroy(c->kcopyd);
	vs_commit_put_devices(c);
	kfree(c);
	job->private = NULL;
}

const struct vs_job_type vs_job_commit = {
	.name = "commit",
	.create = vs_commit_create,
	.run = vs_commit_run,
	.commit = vs_commit_pivot,
	.release = vs_commit_release,
};
