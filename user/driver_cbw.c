// SPDX-License-Identifier: GPL-2.0
/*
 * copy-before-write: the filter a backup job works through (QEMU's
 * copy-before-write driver). It stands above the node the backup copies
 * and, once the job armed it, copies a chunk's old data to the backup's
 * target before a write changes it. Target "vstorage-cbw".
 *
 *   copy-before-write node-name=F file=NODE target=NODE [granularity=BYTES]
 *
 * Block jobs insert it (job start backup); node add and node
 * insert-filter refuse it (vs_driver.internal).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "driver.h"
#include "parse.h"
#include "util.h"

struct cbw_opts {
	const char *target;
	char *target_dev;
	uint64_t granularity;
	bool granularity_given;
};

static const struct vs_prop_desc cbw_props[] = {
	{ "target", "NODE" },
	{ "granularity", "BYTES" },
	{ NULL, NULL },
};

static int cbw_parse(struct vs_add_ctx *ctx)
{
	struct cbw_opts *o = ctx->priv;
	const char *why;

	o->target = vs_prop_value(ctx, "target");
	if (!o->target) {
		pr_err("copy-before-write: missing target=NODE");
		return -1;
	}
	if (check_node_name(o->target, &why)) {
		pr_err("target=%s: %s", o->target, why);
		return -1;
	}
	if (vs_prop_size(ctx, "granularity", &o->granularity,
			 &o->granularity_given))
		return -1;
	if (o->granularity_given &&
	    (o->granularity < 65536 || o->granularity > (16u << 20) ||
	     (o->granularity & (o->granularity - 1)))) {
		pr_err("granularity=%s: a power of two of 64K to 16M",
		       vs_prop_value(ctx, "granularity"));
		return -1;
	}
	return 0;
}

static int cbw_check(struct vs_add_ctx *ctx)
{
	struct cbw_opts *o = ctx->priv;
	int r;

	if (!ctx->file_is_node) {
		pr_err("file=%s: a copy-before-write node stands on a node: give a node's name",
		       ctx->file_arg);
		return -1;
	}
	ctx->length = ctx->file_size;
	if (ctx->dry_run) {
		o->target_dev = xasprintf("/dev/mapper/%s", o->target);
		return 0;
	}
	r = ctx->ops->node_device(ctx, o->target, &o->target_dev);
	if (r == -ENOENT)
		pr_err("target=%s: no such node", o->target);
	return r ? -1 : 0;
}

static void cbw_release(struct vs_add_ctx *ctx)
{
	struct cbw_opts *o = ctx->priv;

	free(o->target_dev);
	o->target_dev = NULL;
}

static char *cbw_params(const struct vs_add_ctx *ctx)
{
	const struct cbw_opts *o = ctx->priv;
	char *epath = dm_escape_arg(ctx->file_path);
	char *etarget = dm_escape_arg(o->target_dev);
	char *line = o->granularity_given ?
		xasprintf("%s %s 4 target %s granularity %" PRIu64,
			  ctx->node_name, epath, etarget, o->granularity) :
		xasprintf("%s %s 2 target %s", ctx->node_name, epath, etarget);

	free(epath);
	free(etarget);
	return line;
}

const struct vs_driver vs_driver_cbw = {
	.name = "copy-before-write",
	.target = "vstorage-cbw",
	.filter = true,
	.internal = true,
	.props = cbw_props,
	.priv_size = sizeof(struct cbw_opts),
	.parse = cbw_parse,
	.check = cbw_check,
	.params = cbw_params,
	.release = cbw_release,
};
