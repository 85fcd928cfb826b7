// SPDX-License-Identifier: GPL-2.0
/*
 * snapshot-access: the read-only view of a backup's point in time that a
 * copy-before-write node keeps (QEMU's snapshot-access driver): image
 * fleecing. Target "vstorage-access".
 *
 *   snapshot-access node-name=V file=CBW-NODE
 *
 * Reads come from the backup's target (the fleecing overlay), while the
 * filter holds off workload writes to the chunks a read may still find
 * on the live node (Documentation/targets/snapshot-access.rst).
 * job start backup sync=none adds one, "<id>-view".
 */
#include <stdlib.h>

#include "driver.h"
#include "util.h"

static const struct vs_prop_desc access_props[] = {
	{ NULL, NULL },
};

static int access_check(struct vs_add_ctx *ctx)
{
	if (!ctx->file_is_node) {
		pr_err("file=%s: snapshot-access stands on a copy-before-write node: give its name",
		       ctx->file_arg);
		return -1;
	}
	ctx->length = ctx->file_size;
	ctx->read_only = true;
	return 0;
}

static char *access_params(const struct vs_add_ctx *ctx)
{
	char *epath = dm_escape_arg(ctx->file_path);
	char *line = xasprintf("%s %s", ctx->node_name, epath);

	free(epath);
	return line;
}

const struct vs_driver vs_driver_access = {
	.name = "snapshot-access",
	.target = "vstorage-access",
	.props = access_props,
	.check = access_check,
	.params = access_params,
};
