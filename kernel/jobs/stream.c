// SPDX-License-Identifier: GPL-2.0
/*
 * The stream job (QEMU's block-stream): copy into a node's top layer what
 * it reads through from backing layers above base, so that base can
 * become its backing.
 *
 * As in QEMU (since 6.0), the copy goes through a copy-on-read filter
 * standing right above the node: the filter already keeps workload
 * writes and copies of the same chunk apart, so a guest write is never
 * overwritten by stale backing data. vstoragectl inserts the filter before
 * the job and, at finalize, rewrites the header and reloads the chain.
 */
#include <linux/slab.h>

#include "job.h"

/* bytes one populate asks for: the filter's limit */
#define VS_STREAM_STEP		(1U << 20)
/* workload writes kept a chunk busy: look again after this */
#define VS_STREAM_BUSY_MS	5

struct vs_stream {
	u32 base_depth;		/* U32_MAX: no base, copy everything */
	u64 size;
};

static bool vs_stream_is_cor(const struct vs_node *filter)
{
	return filter->ops->populate;
}

static int vs_stream_create(struct vs_job *job,
			    const struct vs_job_params *params,
			    struct netlink_ext_ack *extack)
{
	struct vs_node *node = NULL, *filter = NULL;
	struct vs_stream *st;
	int ret = -EINVAL;

	if (!params->filter) {
		NL_SET_ERR_MSG(extack,
			       "stream needs the copy-on-read node it works through (VSTORAGE_JOB_FILTER)");
		return -EINVAL;
	}
	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	ret = vs_job_filter_above(params, vs_stream_is_cor,
				  "the filter is not a copy-on-read node (VSTORAGE_JOB_FILTER)",
				  "the copy-on-read node does not stand right above the node",
				  &node, &filter, extack);
	if (ret)
		goto out;
	ret = -EINVAL;
	if (node->read_only) {
		NL_SET_ERR_MSG(extack, "the node is read-only: stream writes into it");
		goto out;
	}
	st->base_depth = U32_MAX;
	if (params->base) {
		if (vs_chain_depth(node, params->base, &st->base_depth) ||
		    !st->base_depth) {
			NL_SET_ERR_MSG(extack,
				       "base is not a backing node of the node (VSTORAGE_JOB_BASE)");
			goto out;
		}
	}
	st->size = vs_node_size(node);
	job->len = st->size;
	job->private = st;
	st = NULL;
	ret = 0;
out:
	if (filter)
		vs_node_put(filter);
	if (node)
		vs_node_put(node);
	kfree(st);
	return ret;
}

static int vs_stream_run(struct vs_job *job)
{
	struct vs_stream *st = job->private;
	u64 offset = 0, copied = 0;
	int ret;

	while (offset < st->size) {
		/* a step starts on its own boundary: one populate each */
		u64 step = vs_job_step(job, VS_STREAM_STEP);
		u64 len = min(step - (offset & (step - 1)), st->size - offset);
		struct vs_node *filter;
		int operation = 0;

		ret = vs_job_checkpoint(job, copied);
		if (ret)
			return ret;
		copied = 0;
		filter = vs_node_get_by_name(job->filter);
		if (!filter) {
			vs_job_set_error_msg(job, "the copy-on-read node is gone");
			return -ENODEV;
		}
		ret = filter->ops->populate(filter, offset, len, st->base_depth,
					    &copied, &operation);
		vs_node_put(filter);
		ret = vs_job_step_end(job, ret, operation, VS_STREAM_BUSY_MS);
		if (ret < 0)
			return ret;
		if (!ret)
			continue;
		offset += len;
		vs_job_progress(job, len);
	}
	return 0;
}

static void vs_stream_release(struct vs_job *job)
{
	kfree(job->private);
	job->private = NULL;
}

const struct vs_job_type vs_job_stream = {
	.name = "stream",
	.create = vs_stream_create,
	.run = vs_stream_run,
	.release = vs_stream_release,
};
