// SPDX-License-Identifier: GPL-2.0
/*
 * throttle: QEMU's throttle filter driver, a node over another node whose
 * I/O goes at the pace of a throttle group (vstoragectl throttle-group).
 * Target "vstorage-thr" (device-mapper
 * target names have at most 15 characters).
 *
 *   node add throttle node-name=T file=NODE throttle-group=G
 */
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "parse.h"
#include "util.h"

struct thr_opts {
	const char *group;
};

static const struct vs_prop_desc thr_props[] = {
	{ "throttle-group", "GROUP" },
	{ NULL, NULL },
};

static int thr_parse(struct vs_add_ctx *ctx)
{
	struct thr_opts *o = ctx->priv;
	const char *why;

	o->group = vs_prop_value(ctx, "throttle-group");
	if (!o->group) {
		pr_err("throttle needs throttle-group=GROUP (vstoragectl throttle-group add GROUP ...)");
		return -1;
	}
	if (check_node_name(o->group, &why)) {
		pr_err("throttle-group=%s: %s", o->group, why);
		return -1;
	}
	return 0;
}

static int thr_check(struct vs_add_ctx *ctx)
{
	if (!ctx->file_is_node) {
		pr_err("file=%s: a throttle node stands on a node: give a node's name",
		       ctx->file_arg);
		return -1;
	}
	ctx->length = ctx->file_size;
	return 0;
}

static char *thr_params(const struct vs_add_ctx *ctx)
{
	const struct thr_opts *o = ctx->priv;
	char *epath = dm_escape_arg(ctx->file_path);
	char *line = xasprintf("%s %s 2 throttle-group %s", ctx->node_name,
			       epath, o->group);

	free(epath);
	return line;
}

const struct vs_driver vs_driver_throttle = {
	.name = "throttle",
	.target = "vstorage-thr",
	.filter = true,
	.props = thr_props,
	.priv_size = sizeof(struct thr_opts),
	.parse = thr_parse,
	.check = thr_check,
	.params = thr_params,
};
