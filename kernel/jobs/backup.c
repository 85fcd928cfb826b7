// SPDX-License-Identifier: GPL-2.0
/*
 * The backup job (QEMU's blockdev-backup): a point-in-time copy of a node
 * as of the job's start, while the workload keeps writing.
 *
 * As in QEMU (since 6.0), the job works through a copy-before-write
 * filter (kernel/filters/copy_before_write.c) that vstoragectl inserts
 * above the node with the backup's target: creating the job arms the
 * filter (the point in time: writes held, the writes in flight drained,
 * the chunks to copy set), and from then on the filter copies a chunk's
 * old data to the target before a write changes it. The job copies the
 * rest through the filter (vs_cbw_ops.copy), which owns the bitmap of
 * chunks still to copy, so a chunk is copied once, by the filter or by
 * the job, never by both.
 *
 *   sync=full    every chunk
 *   sync=top     the chunks the node's top layer allocates (the filter
 *                asks block status before each copy)
 *   sync=bitmap  the chunks a dirty bitmap had set at the start (the
 *                bitmap's successor keeps the writes after it)
 *   sync=none    nothing in the background: only what the filter copies
 *                before writes (image fleecing). The job is ready at once
 *                and runs until complete (or cancel).
 */
#include <linux/slab.h>

#include "dirty_bitmap.h"
#include "job.h"

/* bytes one step asks the filter to copy at most: its limit */
#define VS_BACKUP_STEP		(1U << 20)
/* the filter is copying some of a step before a write: look again */
#define VS_BACKUP_BUSY_MS	1
/* sync=none: how often the job looks at the filter's error */
#define VS_BACKUP_IDLE_MS	100

struct vs_backup {
	u64 size;
	struct block_device *target;	/* for the final flush */
	bool armed;
	bool have_snap;
	enum vstorage_job_bitmap_mode bitmap_mode;
	struct vs_bitmap_snap snap;
	const char *error;		/* fill()'s, a static string */
};

static bool vs_backup_is_cbw(const struct vs_node *filter)
{
	return filter->ops->cbw;
}

static struct vs_node *vs_backup_filter(struct vs_job *job)
{
	struct vs_node *f = vs_node_get_by_name(job->filter);

	if (f && !vs_backup_is_cbw(f)) {
		vs_node_put(f);
		f = NULL;
	}
	return f;
}

/*
 * sync=bitmap, called by the filter while writes are held: the bitmap's
 * bits as of now become the chunks to copy (each set bit of the bitmap's
 * granularity sets every chunk it touches).
 */
static int vs_backup_fill(void *ctx, unsigned long *todo, u64 nr, u32 shift)
{
	struct vs_job *job = ctx;
	struct vs_backup *b = job->private;
	struct vs_bitmap_snap *s = &b->snap;
	u64 bit, first, last;
	int ret;

	ret = vs_bitmap_job_begin(job->node, job->bitmap, s, &b->error);
	if (ret)
		return ret;
	b->have_snap = true;
	if (!s->granularity) {
		b->error = "the bitmap has no granularity";
		return -EINVAL;
	}
	for_each_set_bit(bit, s->bits, s->nr) {
		first = (bit * s->granularity) >> shift;
		last = ((bit + 1) * s->granularity - 1) >> shift;
		for (; first <= last && first < nr; first++)
			set_bit(first, todo);
	}
	return 0;
}

static int vs_backup_create(struct vs_job *job,
			    const struct vs_job_params *params,
			    struct netlink_ext_ack *extack)
{
	struct vs_node *node = NULL, *filter = NULL, *target = NULL;
	struct vs_backup *b;
	dev_t target_dev;
	u32 chunk;
	u64 todo;
	int ret = -EINVAL;

	if (!params->filter || !params->target) {
		NL_SET_ERR_MSG(extack,
			       "backup needs its target and the copy-before-write node it works through (VSTORAGE_JOB_TARGET, VSTORAGE_JOB_FILTER)");
		return -EINVAL;
	}
	if (!params->sync_given) {
		NL_SET_ERR_MSG(extack, "backup needs a sync mode (VSTORAGE_JOB_SYNC)");
		return -EINVAL;
	}
	if (params->sync == VSTORAGE_JOB_SYNC_BITMAP && !params->bitmap) {
		NL_SET_ERR_MSG(extack, "sync=bitmap needs a bitmap (VSTORAGE_JOB_BITMAP)");
		return -EINVAL;
	}
	if (params->sync != VSTORAGE_JOB_SYNC_BITMAP && params->bitmap) {
		NL_SET_ERR_MSG(extack, "a bitmap goes with sync=bitmap only");
		return -EINVAL;
	}
	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	b->bitmap_mode = params->bitmap_mode;
	ret = vs_job_filter_above(params, vs_backup_is_cbw,
				  "the filter is not a copy-before-write node (VSTORAGE_JOB_FILTER)",
				  "the copy-before-write node does not stand right above the node",
				  &node, &filter, extack);
	if (ret)
		goto out;
	ret = -EINVAL;
	target = vs_node_get_by_name(params->target);
	if (!target) {
		NL_SET_ERR_MSG(extack, "no node with this name (VSTORAGE_JOB_TARGET)");
		ret = -ENOENT;
		goto out;
	}
	b->size = vs_node_size(node);
	if (vs_node_size(target) < b->size) {
		NL_SET_ERR_MSG(extack, "the target is smaller than the node");
		goto out;
	}
	target_dev = vs_node_devt(target);
	b->target = blkdev_get_by_dev(target_dev, FMODE_READ, job);
	if (IS_ERR(b->target)) {
		ret = PTR_ERR(b->target);
		b->target = NULL;
		NL_SET_ERR_MSG(extack, "cannot open the target's device");
		goto out;
	}

	/* the point in time */
	job->private = b;
	ret = filter->ops->cbw->arm(filter, params->sync == VSTORAGE_JOB_SYNC_TOP,
				    params->sync == VSTORAGE_JOB_SYNC_BITMAP ?
				    vs_backup_fill : NULL, job);
	if (ret) {
		if (b->have_snap)
			vs_bitmap_job_end(params->node, params->bitmap,
					  &b->snap, false);
		job->private = NULL;
		/* a static string of the bitmap code */
		if (b->error && extack)
			extack->_msg = b->error;
		else if (ret == -EBUSY)
			NL_SET_ERR_MSG(extack,
				       "the copy-before-write node is in use by another backup");
		else
			NL_SET_ERR_MSG(extack, "cannot arm the copy-before-write node");
		goto out;
	}
	b->armed = true;
	filter->ops->cbw->progress(filter, &chunk, &todo);
	job->granularity = chunk;
	job->len = params->sync == VSTORAGE_JOB_SYNC_NONE ? 0 : todo;
	if (params->sync == VSTORAGE_JOB_SYNC_NONE)
		job->can_complete = true;
	ret = 0;
out:
	if (target)
		vs_node_put(target);
	if (filter)
		vs_node_put(filter);
	if (node)
		vs_node_put(node);
	if (ret) {
		if (b->target)
			blkdev_put(b->target, FMODE_READ);
		kfree(b);
	}
	return ret;
}

/* A copy before a write failed: the backup is no point in time any more. */
static int vs_backup_broken(struct vs_job *job, struct vs_node *filter)
{
	int err = filter->ops->cbw->check(filter);

	if (!err)
		return 0;
	vs_job_set_error_msg(job,
			     "a copy before a write failed: the backup is not a point-in-time copy");
	return err;
}

/* The filter is still there and no copy before a write failed. */
static int vs_backup_check(struct vs_job *job)
{
	struct vs_node *filter = vs_backup_filter(job);
	int ret;

	if (!filter) {
		vs_job_set_error_msg(job, "the copy-before-write node is gone");
		return -ENODEV;
	}
	ret = vs_backup_broken(job, filter);
	vs_node_put(filter);
	return ret;
}

/* sync=none: nothing to copy; ready at once, until complete or cancel. */
static int vs_backup_run_none(struct vs_job *job)
{
	int ret;

	vs_job_ready(job);
	for (;;) {
		ret = vs_job_checkpoint(job, 0) ?: vs_backup_check(job);
		if (ret)
			return ret;
		if (vs_job_should_complete(job))
			return 0;
		wait_event_timeout(job->wait, vs_job_should_complete(job) ||
				   READ_ONCE(job->cancel_requested) ||
				   READ_ONCE(job->user_paused),
				   msecs_to_jiffies(VS_BACKUP_IDLE_MS));
	}
}

static int vs_backup_run(struct vs_job *job)
{
	struct vs_backup *b = job->private;
	u64 offset = 0, copied = 0;
	struct vs_node *filter;
	int ret;

	if (job->sync == VSTORAGE_JOB_SYNC_NONE)
		return vs_backup_run_none(job);
	while (offset < b->size) {
		u64 step = vs_job_step(job, VS_BACKUP_STEP);
		u64 len = min(step - (offset & (step - 1)), b->size - offset);
		u64 before, after;
		u32 chunk;
		int operation = 0;

		ret = vs_job_checkpoint(job, copied);
		if (ret)
			return ret;
		copied = 0;
		filter = vs_backup_filter(job);
		if (!filter) {
			vs_job_set_error_msg(job, "the copy-before-write node is gone");
			return -ENODEV;
		}
		ret = vs_backup_broken(job, filter);
		if (ret) {
			vs_node_put(filter);
			return ret;
		}
		filter->ops->cbw->progress(filter, &chunk, &before);
		ret = filter->ops->cbw->copy(filter, offset, len, &copied,
					     &operation);
		filter->ops->cbw->progress(filter, &chunk, &after);
		vs_node_put(filter);
		/* done is what left the bitmap: the job's and the filter's */
		mutex_lock(&job->lock);
		job->offset = min(job->offset + (before - min(after, before)),
				  job->len);
		mutex_unlock(&job->lock);
		ret = vs_job_step_end(job, ret, operation, VS_BACKUP_BUSY_MS);
		if (ret < 0)
			return ret;
		if (!ret)
			continue;
		offset += len;
	}
	ret = vs_backup_check(job);
	if (ret)
		return ret;
	mutex_lock(&job->lock);
	job->offset = job->len;
	mutex_unlock(&job->lock);
	/* the backup is complete when it is stable */
	ret = blkdev_issue_flush(b->target);
	if (ret)
		vs_job_set_error_msg(job, "flushing the target failed");
	return ret;
}

static void vs_backup_release(struct vs_job *job)
{
	struct vs_backup *b = job->private;
	struct vs_node *filter;
	bool ok;

	if (!b)
		return;
	/* writes go down without copies from now on */
	filter = b->armed ? vs_backup_filter(job) : NULL;
	if (filter) {
		filter->ops->cbw->disarm(filter);
		vs_node_put(filter);
	}
	if (b->have_snap) {
		mutex_lock(&job->lock);
		ok = !job->error && !job->cancelled;
		mutex_unlock(&job->lock);
		/* QEMU's bitmap-mode: the copied bits go, or come back */
		vs_bitmap_job_end(job->node, job->bitmap, &b->snap,
				  b->bitmap_mode == VSTORAGE_JOB_BITMAP_ALWAYS ||
				  (ok && b->bitmap_mode ==
				   VSTORAGE_JOB_BITMAP_ON_SUCCESS));
	}
	if (b->target)
		blkdev_put(b->target, FMODE_READ);
	kfree(b);
	job->private = NULL;
}

const struct vs_job_type vs_job_backup = {
	.name = "backup",
	.create = vs_backup_create,
	.run = vs_backup_run,
	.release = vs_backup_release,
	.ignore_retries = true,
};
