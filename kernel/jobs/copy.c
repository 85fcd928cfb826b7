// SPDX-License-Identifier: GPL-2.0
/*
 * The copy that the commit and mirror jobs share.
 *
 * Both copy with dm-kcopyd between the nodes' devices, so the formats do
 * their own allocation and a suspend of either device drains the copy.
 * Block status over the source decides what a range is: data is copied,
 * zeroes are written as write-zeroes, and what lies at or below
 * base_depth (commit: what base already has) is skipped.
 *
 * Jobs that track a vstorage-mirror filter (active commit, mirror) keep a
 * dirty bitmap that the filter marks when a write completes. The job
 * clears a range *before* reading it: a write that lands after the clear
 * marks it again, so no write is missed and none is copied stale. It
 * announces the range first (vs_dirty_copy_begin()), so that the filter
 * in write-blocking mode knows a write to it may race with the copy.
 */
#include <linux/dm-kcopyd.h>
#include <linux/slab.h>

#include "copy.h"

/* bytes one step copies at most */
#define VS_JCOPY_STEP		(1U << 20)
/* extents of one step copied in parallel; the step ends after them */
#define VS_JCOPY_MAX_EXTENTS	16
/*
 * Ready and idle: look for new dirty ranges this often (the bitmap wakes
 * nobody: filter instances may outlive the job).
 */
#define VS_JCOPY_IDLE_MS	100

struct vs_jcopy_step {
	struct completion done;
	atomic_t pending;
	int read_err;
	unsigned long write_err;
};

static void vs_jcopy_done(int read_err, unsigned long write_err, void *ctx)
{
	struct vs_jcopy_step *s = ctx;

	if (read_err)
		s->read_err = read_err;
	if (write_err)
		s->write_err = write_err;
	if (atomic_dec_and_test(&s->pending))
		complete(&s->done);
}

int vs_jcopy_open(struct vs_jcopy *jc, struct vs_job *job, dev_t src,
		  dev_t dst, const char **error)
{
	int ret;

	jc->src_dev = src;
	jc->dst_dev = dst;
	jc->src = blkdev_get_by_dev(src, FMODE_READ, job);
	if (IS_ERR(jc->src)) {
		ret = PTR_ERR(jc->src);
		jc->src = NULL;
		*error = "cannot open the source's device";
		return ret;
	}
	jc->dst = blkdev_get_by_dev(dst, FMODE_READ | FMODE_WRITE, job);
	if (IS_ERR(jc->dst)) {
		ret = PTR_ERR(jc->dst);
		jc->dst = NULL;
		*error = "cannot open the target's device";
		goto fail;
	}
	if (bdev_read_only(jc->dst)) {
		*error = "the target's device is read-only: reload it read-write";
		ret = -EINVAL;
		goto fail;
	}
	jc->kcopyd = dm_kcopyd_client_create(NULL);
	if (IS_ERR(jc->kcopyd)) {
		ret = PTR_ERR(jc->kcopyd);
		jc->kcopyd = NULL;
		*error = "cannot create the dm-kcopyd client";
		goto fail;
	}
	return 0;
fail:
	vs_jcopy_close(jc);
	return ret;
}

void vs_jcopy_close(struct vs_jcopy *jc)
{
	if (jc->dirty)
		vs_dirty_untrack(jc->dirty);
	jc->dirty = NULL;
	if (jc->kcopyd)
		dm_kcopyd_client_destroy(jc->kcopyd);
	jc->kcopyd = NULL;
	if (jc->src)
		blkdev_put(jc->src, FMODE_READ);
	if (jc->dst)
		blkdev_put(jc->dst, FMODE_READ | FMODE_WRITE);
	jc->src = NULL;
	jc->dst = NULL;
}

/*
 * Copy [offset, offset + len) where block status finds it above base, as
 * far as VS_JCOPY_MAX_EXTENTS copies go: *reached says how far that was,
 * *copied the bytes written. Returns 0 or an error; an I/O error sets
 * *operation (0 read, 1 write).
 */
static int vs_jcopy_range(struct vs_job *job, struct vs_jcopy *jc, u64 offset,
			  u64 len, u64 *reached, u64 *copied, int *operation)
{
	struct vs_jcopy_step step;
	u64 start = offset, end = offset + len;
	struct vs_node *src;
	int nr = 0, ret = 0;

	*copied = 0;
	*reached = 0;
	init_completion(&step.done);
	atomic_set(&step.pending, 1);
	step.read_err = 0;
	step.write_err = 0;

	src = vs_node_get_by_dev(jc->src_dev);
	if (!src) {
		vs_job_set_error_msg(job, "the source node is gone");
		return -ENODEV;
	}
	while (offset < end && nr < VS_JCOPY_MAX_EXTENTS) {
		struct dm_io_region from = {
			.bdev = jc->src, .sector = offset >> SECTOR_SHIFT,
		};
		struct dm_io_region to = {
			.bdev = jc->dst, .sector = offset >> SECTOR_SHIFT,
		};
		struct vs_extent ext;
		struct vs_node *host;
		u32 depth;

		ret = vs_block_status(src, offset, end - offset, &ext, &depth,
				      &host);
		if (ret) {
			*operation = 0;
			break;
		}
		vs_node_put(host);
		if (depth < jc->base_depth) {
			from.count = ext.length >> SECTOR_SHIFT;
			to.count = from.count;
			atomic_inc(&step.pending);
			if (ext.flags & VS_EXT_ZERO)
				dm_kcopyd_zero(jc->kcopyd, 1, &to, 0,
					       vs_jcopy_done, &step);
			else
				dm_kcopyd_copy(jc->kcopyd, &from, 1, &to, 0,
					       vs_jcopy_done, &step);
			*copied += ext.length;
			nr++;
		}
		offset += ext.length;
	}
	vs_node_put(src);
	vs_jcopy_done(0, 0, &step);
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

s64 vs_jcopy_do(struct vs_job *job, struct vs_jcopy *jc, u64 offset, u64 len,
		u64 *copied)
{
	int operation = 0, ret;
	u64 reached, before = *copied;

	ret = vs_jcopy_range(job, jc, offset, len, &reached, copied,
			     &operation);
	if (!ret)
		return reached;
	/* progress is what was copied: a retried range counts once */
	*copied = before;
	if (ret == -ENODEV || jc->draining)
		return ret;
	ret = vs_job_io_error(job, ret, operation);
	if (ret < 0)
		return ret;
	return ret ? len : 0;	/* ignore: skip it; stop: again */
}

u64 vs_jcopy_dirty_bytes(struct vs_jcopy *jc)
{
	return (u64)bitmap_weight(jc->dirty->bits, jc->dirty->nr) <<
	       jc->dirty->shift;
}

/*
 * Copy the next run of dirty ranges from *cursor on; returns 1 when
 * nothing was dirty, 0 after a copy, or a negative error.
 */
static int vs_jcopy_dirty_step(struct vs_job *job, struct vs_jcopy *jc,
			       u64 *cursor, u64 *copied)
{
	struct vs_dirty *d = jc->dirty;
	u64 limit = vs_job_step(job, VS_JCOPY_STEP) >> d->shift;
	u64 first, nr, i, offset, len;
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
	offset = first << d->shift;
	len = min(nr << d->shift, jc->size - offset);
	/* announced, then cleared before the read: see the top of the file */
	vs_dirty_copy_begin(d, offset, len);
	for (i = 0; i < nr; i++)
		clear_bit(first + i, d->bits);
	done = vs_jcopy_do(job, jc, offset, len, copied);
	if (done < 0 || done < len) {
		/* not copied (or not all of it): still dirty */
		for (i = (done > 0 ? done : 0) >> d->shift; i < nr; i++)
			set_bit(first + i, d->bits);
	}
	vs_dirty_copy_end(d);
	if (done < 0)
		return done;
	*cursor = first + (done >> d->shift);
	return 0;
}

int vs_jcopy_run_dirty(struct vs_job *job, struct vs_jcopy *jc)
{
	u64 cursor = 0, copied = 0;
	bool ready = false;
	int ret;

	for (;;) {
		ret = vs_job_checkpoint(job, copied);
		/*
		 * Cancelled when ready (or standby): QEMU's "complete without
		 * pivot". The target becomes a consistent copy of this moment
		 * and the job completes; its commit() leaves the disk alone.
		 */
		if (ret == -ECANCELED && ready) {
			vs_job_complete_without_pivot(job);
			return vs_jcopy_drain(job, jc, false);
		}
		if (ret)
			return ret;
		copied = 0;
		ret = vs_jcopy_dirty_step(job, jc, &cursor, &copied);
		if (ret < 0)
			return ret;
		mutex_lock(&job->lock);
		job->len = job->offset + vs_jcopy_dirty_bytes(jc);
		if (!ret)
			job->offset += copied;
		job->len = max(job->len, job->offset);
		mutex_unlock(&job->lock);
		if (ret == 0)
			continue;
		/* converged */
		vs_job_ready(job);
		ready = true;
		if (vs_job_should_complete(job))
			return 0;
		wait_event_timeout(job->wait,
				   !bitmap_empty(jc->dirty->bits,
						 jc->dirty->nr) ||
				   vs_job_should_complete(job) ||
				   READ_ONCE(job->cancel_requested) ||
				   READ_ONCE(job->user_paused),
				   msecs_to_jiffies(VS_JCOPY_IDLE_MS));
	}
}

int vs_jcopy_drain(struct vs_job *job, struct vs_jcopy *jc, bool pivot)
{
	u64 cursor = 0, copied, steps = 0;
	int ret;

	ret = vs_mirror_top_freeze(job->filter);
	if (ret) {
		vs_job_set_error_msg(job, "cannot freeze the mirror filter");
		return ret;
	}
	/* nothing is written now; after the thaw, writes go to one side */
	vs_dirty_set_blocking(jc->dirty, NULL);
	/*
	 * Nothing new is written now: copy the rest. A pass takes at most a
	 * step per range. An error ends it at once (draining): on-error's
	 * retries and pauses would hold the workload's writes.
	 */
	jc->draining = true;
	do {
		copied = 0;
		ret = vs_jcopy_dirty_step(job, jc, &cursor, &copied);
	} while (ret == 0 && ++steps <= 2 * jc->dirty->nr + 16);
	jc->draining = false;
	if (ret < 0 || !bitmap_empty(jc->dirty->bits, jc->dirty->nr)) {
		vs_mirror_top_thaw(job->filter, 0);
		vs_job_set_error_msg(job, pivot ?
				     "the last copy before the pivot failed" :
				     "the last copy before the cancel failed");
		return ret < 0 ? ret : -EIO;
	}
	/* what the guest flushed into the source must be as stable here */
	ret = blkdev_issue_flush(jc->dst);
	if (ret) {
		vs_mirror_top_thaw(job->filter, 0);
		vs_job_set_error_msg(job, "flushing the target failed");
		return ret;
	}
	ret = vs_mirror_top_thaw(job->filter, pivot ? jc->dst_dev : 0);
	if (ret) {
		vs_job_set_error_msg(job, "the mirror filter is gone");
		return ret;
	}
	return 0;
}

int vs_jcopy_pivot(struct vs_job *job)
{
	struct vs_jcopy *jc = job->private;
	int ret;

	/* no_pivot: the drain at the cancel made the copy already */
	if (!jc->dirty || READ_ONCE(job->no_pivot))
		return 0;
	ret = vs_jcopy_drain(job, jc, true);
	if (ret)
		return ret;
	mutex_lock(&job->lock);
	job->pivoted = true;
	mutex_unlock(&job->lock);
	return 0;
}

void vs_jcopy_release(struct vs_job *job)
{
	struct vs_jcopy *jc = job->private;

	if (!jc)
		return;
	vs_jcopy_close(jc);
	kfree(jc);
	job->private = NULL;
}
