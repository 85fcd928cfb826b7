// SPDX-License-Identifier: GPL-2.0
/*
 * raw: a window [offset, offset + size) of a file or block device, like
 * QEMU's raw format driver. Target "vstorage-raw".
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

#include "driver.h"
#include "util.h"

#define SECTOR	512

struct raw_opts {
	uint64_t offset;
	bool size_given;
	uint64_t size;
	bool read_only;
};

static const struct vs_prop_desc raw_props[] = {
	{ "offset", "BYTES" },
	{ "size", "BYTES" },
	{ "read-only", "on|off" },
	{ NULL, NULL },
};

static int raw_parse(struct vs_add_ctx *ctx)
{
	struct raw_opts *o = ctx->priv;

	if (vs_prop_size(ctx, "offset", &o->offset, NULL) ||
	    vs_prop_size(ctx, "size", &o->size, &o->size_given) ||
	    vs_prop_bool(ctx, "read-only", &o->read_only))
		return -1;
	if (o->offset % SECTOR) {
		pr_err("offset=%s: not a multiple of 512",
		       vs_prop_value(ctx, "offset"));
		return -1;
	}
	if (o->size_given && !o->size) {
		pr_err("size=%s: must be greater than 0",
		       vs_prop_value(ctx, "size"));
		return -1;
	}
	if (o->size_given && o->size % SECTOR) {
		pr_err("size=%s: not a multiple of 512",
		       vs_prop_value(ctx, "size"));
		return -1;
	}
	return 0;
}

static int raw_check(struct vs_add_ctx *ctx)
{
	struct raw_opts *o = ctx->priv;
	uint64_t avail;

	if (!ctx->file_size) {
		pr_err("file=%s: is empty", ctx->file_arg);
		return -1;
	}
	if (o->offset >= ctx->file_size) {
		pr_err("offset=%" PRIu64 " is beyond the end of file=%s (%" PRIu64 " bytes)",
		       o->offset, ctx->file_arg, ctx->file_size);
		return -1;
	}
	avail = ctx->file_size - o->offset;
	if (o->size_given) {
		if (o->size > avail) {
			pr_err("offset=%" PRIu64 " + size=%" PRIu64 " exceeds the size of file=%s (%" PRIu64 " bytes)",
			       o->offset, o->size, ctx->file_arg,
			       ctx->file_size);
			return -1;
		}
		ctx->length = o->size;
	} else {
		if (avail % SECTOR) {
			pr_err("file=%s: its size %" PRIu64 " minus offset %" PRIu64 " is not a multiple of 512 (give size=)",
			       ctx->file_arg, ctx->file_size, o->offset);
			return -1;
		}
		ctx->length = avail;
	}
	ctx->read_only = o->read_only;
	return 0;
}

static char *raw_params(const struct vs_add_ctx *ctx)
{
	const struct raw_opts *o = ctx->priv;

	return raw_table_params(ctx->node_name, ctx->file_path, o->offset,
				o->size_given, o->size, o->read_only,
				&ctx->child);
}

const struct vs_driver vs_driver_raw = {
	.name = "raw",
	.target = "vstorage-raw",
	.has_image = true,
	.props = raw_props,
	.priv_size = sizeof(struct raw_opts),
	.parse = raw_parse,
	.check = raw_check,
	.params = raw_params,
};
