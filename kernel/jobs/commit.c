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
#include <linux/slab.h>

#include "copy.h"

/* bytes one step of the non-active commit copies at most */
#define VS_COMMIT_STEP		(1U << 20)
/* the active commit's dirty granularity: QEMU's default cluster size */
#define VS_COMMIT_DIRTY_SHIFT	16

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
	dev_t top_dev, base_dev;
	struct vs_jcopy *c;
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
	top_dev = vs_node_devt(top);
	base_dev = vs_node_devt(base);
	vs_node_put(base);
	base = NULL;
	vs_node_put(top);
	top = NULL;

	ret = vs_jcopy_open(c, job, top_dev, base_dev, &error);
	if (ret)
		goto out_msg;
	if (params->filter) {
		c->dirty = vs_dirty_track(params->filter, c->size,
					  VS_COMMIT_DIRTY_SHIFT, true, &error);
		if (IS_ERR(c->dirty)) {
			ret = PTR_ERR(c->dirty);
			c->dirty = NULL;
			goto out_msg;
		}
		job->active = true;
		job->can_complete = true;
	}
	job->len = c->size;
	job->private = c;
	return 0;
out_msg:
	/* a static string of copy.c or mirror_top.c */
	if (error && extack)
		extack->_msg = error;
out:
	if (base)
		vs_node_put(base);
	if (top)
		vs_node_put(top);
	vs_jcopy_close(c);
	kfree(c);
	return ret;
}

static int vs_commit_run_passive(struct vs_job *job)
{
	struct vs_jcopy *c = job->private;
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
		done = vs_jcopy_do(job, c, offset, len, &copied);
		if (done < 0)
			return done;
		offset += done;
		vs_job_progress(job, done);
	}
	/* the overlay's header will name base: base's data must be stable */
	return blkdev_issue_flush(c->dst);
}

static int vs_commit_run(struct vs_job *job)
{
	struct vs_jcopy *c = job->private;

	return c->dirty ? vs_jcopy_run_dirty(job, c) :
			  vs_commit_run_passive(job);
}

const struct vs_job_type vs_job_commit = {
	.name = "commit",
	.create = vs_commit_create,
	.run = vs_commit_run,
	.commit = vs_jcopy_pivot,
	.release = vs_jcopy_release,
	.ignore_retries = true,
};
