// SPDX-License-Identifier: GPL-2.0
/*
 * The mirror job (QEMU's drive-mirror / blockdev-mirror): copy a live
 * node to a target node while a dirty bitmap tracks what the workload
 * writes; ready when the two converged; complete switches the disk to
 * the target.
 *
 * vstoragectl puts a vstorage-mirror filter above the node (as for an
 * active commit) and names it, the node and the target. The job tracks
 * the filter with a dirty bitmap of granularity-sized ranges:
 *
 *   sync=full  every range is dirty at first;
 *   sync=top   the ranges the node's own layer allocates (the target
 *              then gets the node's backing as its backing);
 *   sync=none  none: only what the workload writes from now on.
 *
 * Then the shared loop of copy.c copies what is dirty as the source
 * reads it (data, or zeroes as write-zeroes), gets ready, and goes on
 * copying new writes until complete. FINALIZE pivots exactly as the
 * active commit does: frozen filter, the rest copied, the target
 * flushed, the filter switched to the target; vstoragectl then gives the
 * disk's device the target's table. A cancel when ready does the same
 * without the switch and the job completes (QEMU's "complete without
 * pivot", copy.c), so the target is a consistent copy of the moment of
 * the cancel.
 *
 * copy-mode=write-blocking turns the filter's write-blocking path on
 * (mirror_top.c): a write to a range already copied reaches both sides
 * before it completes.
 */
#include <linux/slab.h>

#include "copy.h"

/* QEMU's default granularity for 64 KiB clusters and for raw targets */
#define VS_MIRROR_GRANULARITY	SZ_64K
/* a bitmap is one kmalloc: at most 4 MiB of bits */
#define VS_MIRROR_MAX_BITS	(32ULL << 20)
/* block status queries of sync=top's first scan, per step */
#define VS_MIRROR_SCAN_STEP	(64ULL << 20)

static int vs_mirror_check(const struct vs_job_params *params, dev_t *src,
			   dev_t *dst, u64 *size, struct netlink_ext_ack *extack)
{
	struct vs_node *node, *target = NULL, *filter = NULL;
	int ret = -EINVAL;

	node = vs_node_get_by_name(params->node);
	if (!node) {
		NL_SET_ERR_MSG(extack, "no node with this name (VSTORAGE_JOB_NODE)");
		return -ENOENT;
	}
	target = vs_node_get_by_name(params->target);
	if (!target) {
		NL_SET_ERR_MSG(extack, "no target node with this name (VSTORAGE_JOB_TARGET)");
		ret = -ENOENT;
		goto out;
	}
	if (target == node) {
		NL_SET_ERR_MSG(extack, "the target is the node itself");
		goto out;
	}
	filter = vs_node_get_by_name(params->filter);
	if (!filter || !vs_job_right_above(filter, node)) {
		NL_SET_ERR_MSG(extack,
			       "the filter does not stand right above the node (VSTORAGE_JOB_FILTER)");
		goto out;
	}
	if (filter == target) {
		NL_SET_ERR_MSG(extack, "the target is the job's own filter");
		goto out;
	}
	*size = vs_node_size(node);
	if (vs_node_size(target) < *size) {
		NL_SET_ERR_MSG(extack, "the target is smaller than the node");
		goto out;
	}
	if (target->read_only) {
		NL_SET_ERR_MSG(extack, "the target node is read-only");
		goto out;
	}
	*src = vs_node_devt(node);
	*dst = vs_node_devt(target);
	ret = 0;
out:
	if (filter)
		vs_node_put(filter);
	if (target)
		vs_node_put(target);
	vs_node_put(node);
	return ret;
}

static int vs_mirror_create(struct vs_job *job,
			    const struct vs_job_params *params,
			    struct netlink_ext_ack *extack)
{
	u32 gran = params->granularity ?: VS_MIRROR_GRANULARITY;
	const char *error = NULL;
	struct vs_jcopy *jc;
	dev_t src, dst;
	u64 size;
	int ret;

	if (!params->filter || !params->target) {
		NL_SET_ERR_MSG(extack,
			       "mirror needs its filter and target (VSTORAGE_JOB_FILTER, VSTORAGE_JOB_TARGET)");
		return -EINVAL;
	}
	if (!params->sync_given || params->sync == VSTORAGE_JOB_SYNC_BITMAP) {
		NL_SET_ERR_MSG(extack,
			       "mirror needs sync full, top or none (VSTORAGE_JOB_SYNC)");
		return -EINVAL;
	}
	if (params->base) {
		NL_SET_ERR_MSG(extack, "mirror takes no base");
		return -EINVAL;
	}
	ret = vs_mirror_check(params, &src, &dst, &size, extack);
	if (ret)
		return ret;
	if (DIV_ROUND_UP_ULL(size, gran) > VS_MIRROR_MAX_BITS) {
		NL_SET_ERR_MSG(extack,
			       "granularity too small for the node's size (at most 32 Mi ranges)");
		return -EINVAL;
	}
	jc = kzalloc(sizeof(*jc), GFP_KERNEL);
	if (!jc)
		return -ENOMEM;
	jc->size = size;
	jc->base_depth = U32_MAX;
	ret = vs_jcopy_open(jc, job, src, dst, &error);
	if (ret)
		goto out;
	jc->dirty = vs_dirty_track(params->filter, size, ilog2(gran),
				   params->sync != VSTORAGE_JOB_SYNC_NONE,
				   &error);
	if (IS_ERR(jc->dirty)) {
		ret = PTR_ERR(jc->dirty);
		jc->dirty = NULL;
		goto out;
	}
	if (params->copy_mode == VSTORAGE_JOB_COPY_WRITE_BLOCKING)
		vs_dirty_set_blocking(jc->dirty, jc->dst);
	job->granularity = gran;
	job->can_complete = true;
	job->len = params->sync == VSTORAGE_JOB_SYNC_NONE ? 0 : size;
	job->private = jc;
	return 0;
out:
	/* a static string of copy.c or mirror_top.c */
	if (error && extack)
		extack->_msg = error;
	vs_jcopy_close(jc);
	kfree(jc);
	return ret;
}

/*
 * sync=top: keep dirty only what the node's own layer allocates. Each
 * range is cleared *before* block status looks at it: a write completing
 * after the clear marks it again, one completed before is allocated.
 */
static int vs_mirror_scan_top(struct vs_job *job, struct vs_jcopy *jc)
{
	struct vs_dirty *d = jc->dirty;
	u64 offset = 0, step = max_t(u64, VS_MIRROR_SCAN_STEP, 1ULL << d->shift);
	u64 dirty = 0;
	int ret;

	while (offset < jc->size) {
		u64 end = min(offset + step, jc->size), pos, i;
		struct vs_node *src;

		ret = vs_job_checkpoint(job, 0);
		if (ret)
			return ret;
		for (i = offset >> d->shift; i < d->nr && (i << d->shift) < end;
		     i++)
			clear_bit(i, d->bits);
		src = vs_node_get_by_dev(jc->src_dev);
		if (!src) {
			vs_job_set_error_msg(job, "the source node is gone");
			return -ENODEV;
		}
		for (pos = offset; pos < end;) {
			struct vs_extent ext;
			struct vs_node *host;
			u32 depth;

			ret = vs_block_status(src, pos, end - pos, &ext, &depth,
					      &host);
			if (ret) {
				vs_node_put(src);
				vs_job_set_error_msg(job,
						     "block status of the node failed");
				return ret;
			}
			vs_node_put(host);
			if (!depth)
				vs_dirty_mark(d, pos >> SECTOR_SHIFT,
					      ext.length >> SECTOR_SHIFT);
			pos += ext.length;
		}
		vs_node_put(src);
		offset = end;
	}
	dirty = vs_jcopy_dirty_bytes(jc);
	mutex_lock(&job->lock);
	job->len = job->offset + dirty;
	mutex_unlock(&job->lock);
	return 0;
}

static int vs_mirror_run(struct vs_job *job)
{
	struct vs_jcopy *jc = job->private;
	int ret = 0;

	if (job->sync == VSTORAGE_JOB_SYNC_TOP)
		ret = vs_mirror_scan_top(job, jc);
	return ret ?: vs_jcopy_run_dirty(job, jc);
}

const struct vs_job_type vs_job_mirror = {
	.name = "mirror",
	.create = vs_mirror_create,
	.run = vs_mirror_run,
	.commit = vs_jcopy_pivot,
	.release = vs_jcopy_release,
	.ignore_retries = true,
};
