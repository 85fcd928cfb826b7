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

/* Add throttle, copy-on-read here. */
const struct vs_driver *const vs_drivers[] = {
	&vs_driver_raw,
	&vs_driver_qcow2,
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
		       bool size_given, uint64_t size, bool read_only)
{
	char opts[128] = "";
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

	epath = dm_escape_arg(path);
	if (nr)
		line = xasprintf("%s %s %d%s", node, epath, nr, opts);
	else
		line = xasprintf("%s %s", node, epath);
	free(epath);
	return line;
}
