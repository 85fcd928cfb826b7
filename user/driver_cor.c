// SPDX-License-Identifier: GPL-2.0
/*
 * copy-on-read: QEMU's copy-on-read filter driver, a node over another
 * node whose reads from backing layers (above base) are also written into
 * that node's top layer. Target "vstorage-cor" (device-mapper
 * target names have at most 15 characters).
 *
 *   node add copy-on-read node-name=C file=NODE [base=NODE]
 */
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "parse.h"
#include "util.h"

struct cor_opts {
	const char *base;
};

static const struct vs_prop_desc cor_props[] = {
	{ "base", "NODE" },
	{ NULL, NULL },
};

static int cor_parse(struct vs_add_ctx *ctx)
{
	struct cor_opts *o = ctx->priv;
	const char *why;

	o->base = vs_prop_value(ctx, "base");
	if (o->base && check_node_name(o->base, &why)) {
		pr_err("base=%s: %s", o->base, why);
		return -1;
	}
	return 0;
}

static int cor_check(struct vs_add_ctx *ctx)
{
	if (!ctx->file_is_node) {
		pr_err("file=%s: a copy-on-read node stands on a node: give a node's name",
		       ctx->file_arg);
		return -1;
	}
	ctx->length = ctx->file_size;
	return 0;
}

static char *cor_params(const struct vs_add_ctx *ctx)
{
	const struct cor_opts *o = ctx->priv;
	char *epath = dm_escape_arg(ctx->file_path);
	char *line = o->base ?
		xasprintf("%s %s 2 base %s", ctx->node_name, epath, o->base) :
		xasprintf("%s %s", ctx->node_name, epath);

	free(epath);
	return line;
}

const struct vs_driver vs_driver_cor = {
	.name = "copy-on-read",
	.target = "vstorage-cor",
	.filter = true,
	.props = cor_props,
	.priv_size = sizeof(struct cor_opts),
	.parse = cor_parse,
	.check = cor_check,
	.params = cor_params,
};
