// SPDX-License-Identifier: GPL-2.0
/*
 * The driver table and helpers shared by drivers.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "parse.h"
#include "util.h"

/* Properties every driver takes. */
static const char *const common_props[] = { "node-name", "file" };

/* Properties of every driver with an image (vs_driver.has_image). */
static const char *const child_props[] = {
	"cache.direct", "cache.no-flush", "cache.writeback", "locking",
};

const struct vs_driver *const vs_drivers[] = {
	&vs_driver_raw,
	&vs_driver_qcow2,
	&vs_driver_throttle,
	&vs_driver_cor,
	&vs_driver_mirror,
	&vs_driver_cbw,
	&vs_driver_access,
	NULL,
};

void vs_add_pre(struct vs_add_ctx *ctx, char *name, char *uuid,
		const char *target, char *params, uint64_t sectors,
		bool read_only, char *file)
{
	struct vs_add_dev *d;

	ctx->pre = xrealloc(ctx->pre, (ctx->nr_pre + 1) * sizeof(*ctx->pre));
	d = &ctx->pre[ctx->nr_pre++];
	*d = (struct vs_add_dev) {
		.name = name,
		.uuid = uuid,
		.target = target,
		.params = params,
		.sectors = sectors,
		.read_only = read_only,
		.file = file,
	};
}

void vs_add_pre_free(struct vs_add_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->nr_pre; i++) {
		free(ctx->pre[i].name);
		free(ctx->pre[i].uuid);
		free(ctx->pre[i].params);
		free(ctx->pre[i].file);
	}
	free(ctx->pre);
	ctx->pre = NULL;
	ctx->nr_pre = 0;
}

const struct vs_driver *vs_driver_find(const char *name)
{
	const struct vs_driver *const *d;

	for (d = vs_drivers; *d; d++)
		if (!strcmp((*d)->name, name))
			return *d;
	return NULL;
}

/* Append S (table-line words with their leading space) to BUF. */
static void append_words(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	if (n < len)
		snprintf(buf + n, len - n, "%s", s);
}

static void append(char *buf, size_t len, const char *s)
{
	size_t n = strlen(buf);

	if (n < len)
		snprintf(buf + n, len - n, "%s%s", n ? ", " : "", s);
}

const char *vs_driver_names(char *buf, size_t len)
{
	const struct vs_driver *const *d;

	buf[0] = '\0';
	for (d = vs_drivers; *d; d++)
		if (!(*d)->internal)
			append(buf, len, (*d)->name);
	return buf;
}

const char *vs_driver_prop_names(const struct vs_driver *drv, char *buf,
				 size_t len)
{
	const struct vs_prop_desc *p;
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(common_props); i++)
		append(buf, len, common_props[i]);
	for (p = drv->props; p->name; p++)
		append(buf, len, p->name);
	for (i = 0; drv->has_image && i < ARRAY_SIZE(child_props); i++)
		append(buf, len, child_props[i]);
	return buf;
}

bool vs_driver_knows(const struct vs_driver *drv, const char *key)
{
	const struct vs_prop_desc *p;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(common_props); i++)
		if (!strcmp(common_props[i], key))
			return true;
	for (p = drv->props; p->name; p++)
		if (!strcmp(p->name, key))
			return true;
	for (i = 0; drv->has_image && i < ARRAY_SIZE(child_props); i++)
		if (!strcmp(child_props[i], key))
			return true;
	return false;
}

const char *vs_prop_value(const struct vs_add_ctx *ctx, const char *key)
{
	size_t i;

	for (i = 0; i < ctx->nr_props; i++)
		if (!strcmp(ctx->props[i].key, key))
			return ctx->props[i].value;
	return NULL;
}

int vs_prop_size(const struct vs_add_ctx *ctx, const char *key,
		 uint64_t *out, bool *given)
{
	const char *v = vs_prop_value(ctx, key);
	const char *why;

	if (given)
		*given = v != NULL;
	if (!v)
		return 0;
	if (parse_size(v, out, &why)) {
		pr_err("%s=%s: %s", key, v, why);
		return -1;
	}
	return 0;
}

int vs_prop_bool(const struct vs_add_ctx *ctx, const char *key, bool *out)
{
	const char *v = vs_prop_value(ctx, key);

	if (!v)
		return 0;
	if (parse_bool(v, out)) {
		pr_err("%s=%s: expected on or off", key, v);
		return -1;
	}
	return 0;
}

int vs_child_opts_parse(struct vs_add_ctx *ctx)
{
	struct vs_child_opts *o = &ctx->child;
	bool direct = true, no_flush = false, writeback = true, locking = true;

	if (vs_prop_bool(ctx, "cache.direct", &direct) ||
	    vs_prop_bool(ctx, "cache.no-flush", &no_flush) ||
	    vs_prop_bool(ctx, "cache.writeback", &writeback) ||
	    vs_prop_bool(ctx, "locking", &locking))
		return -1;
	o->no_direct = !direct;
	o->no_flush = no_flush;
	o->writethrough = !writeback;
	o->no_locking = !locking;
	return 0;
}

int vs_child_opts_words(const struct vs_child_opts *o, char *buf, size_t len)
{
	int nr = 0;

	if (!o)
		return 0;
	if (o->no_direct) {
		append_words(buf, len, " cache.direct off");
		nr += 2;
	}
	if (o->no_flush) {
		append_words(buf, len, " cache.no-flush on");
		nr += 2;
	}
	if (o->writethrough) {
		append_words(buf, len, " cache.writeback off");
		nr += 2;
	}
	if (o->no_locking) {
		append_words(buf, len, " locking off");
		nr += 2;
	}
	return nr;
}

/* The kernel's isspace(): lib/ctype.c marks 9-13, 32 and 160 as space. */
static bool dm_isspace(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
}

char *dm_escape_arg(const char *s)
{
	char *out = xmalloc(2 * strlen(s) + 1), *o = out;

	for (; *s; s++) {
		if (*s == '\\' || dm_isspace((unsigned char)*s))
			*o++ = '\\';
		*o++ = *s;
	}
	*o = '\0';
	return out;
}

char *raw_table_params(const char *node, const char *path, uint64_t offset,
		       bool size_given, uint64_t size, bool read_only,
		       const struct vs_child_opts *child)
{
	char opts[192] = "";
	char *epath, *line;
	int nr = 0;
	size_t n;

	if (offset) {
		n = strlen(opts);
		snprintf(opts + n, sizeof(opts) - n, " offset %" PRIu64, offset);
		nr += 2;
	}
	if (size_given) {
		n = strlen(opts);
		snprintf(opts + n, sizeof(opts) - n, " size %" PRIu64, size);
		nr += 2;
	}
	if (read_only) {
		n = strlen(opts);
		snprintf(opts + n, sizeof(opts) - n, " read-only");
		nr += 1;
	}
	nr += vs_child_opts_words(child, opts, sizeof(opts));

	epath = dm_escape_arg(path);
	if (nr)
		line = xasprintf("%s %s %d%s", node, epath, nr, opts);
	else
		line = xasprintf("%s %s", node, epath);
	free(epath);
	return line;
}
