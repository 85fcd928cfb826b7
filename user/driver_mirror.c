// SPDX-License-Identifier: GPL-2.0
/*
 * mirror-top: the filter an active commit job works through (QEMU's
 * mirror_top_bs). It stands above the disk's active layer, passes I/O
 * down, tells the kernel's job which ranges the workload dirties, and at
 * the pivot switches its child to the base. Target "vstorage-mirror",
 * table "<node-name> <child device>", no options.
 *
 * Block jobs insert it (job start commit on the active layer); node add
 * and node insert-filter refuse it (vs_driver.internal).
 */
#include <stdlib.h>

#include "driver.h"
#include "util.h"

static const struct vs_prop_desc mirror_props[] = {
	{ NULL, NULL },
};

static int mirror_parse(struct vs_add_ctx *ctx)
{
	(void)ctx;
	return 0;
}

static int mirror_check(struct vs_add_ctx *ctx)
{
	if (!ctx->file_is_node) {
		pr_err("file=%s: a mirror-top node stands on a node: give a node's name",
		       ctx->file_arg);
		return -1;
	}
	ctx->length = ctx->file_size;
	return 0;
}

static char *mirror_params(const struct vs_add_ctx *ctx)
{
	char *epath = dm_escape_arg(ctx->file_path);
	char *line = xasprintf("%s %s", ctx->node_name, epath);

	free(epath);
	return line;
}

const struct vs_driver vs_driver_mirror = {
	.name = "mirror-top",
	.target = "vstorage-mirror",
	.filter = true,
	.internal = true,
	.props = mirror_props,
	.parse = mirror_parse,
	.check = mirror_check,
	.params = mirror_params,
};
