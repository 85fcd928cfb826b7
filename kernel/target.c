// SPDX-License-Identifier: GPL-2.0
/*
 * The target skeleton (target.h): table lines parsed from and written back
 * by a target's declaration of its options, and messages dispatched from a
 * table. One parser for every target, so that a table line means the same
 * to all of them and none keeps an option count by hand.
 */
#include <linux/ctype.h>
#include <linux/device-mapper.h>
#include <linux/kernel.h>
#include <linux/module.h>

#include "vstorage.h"

/*
 * Emit S as one table-line argument: dm splits arguments at white space
 * and honours backslashes, so both are escaped.
 */
void vs_dmemit_escaped(const char *s, char *result, unsigned int *szp,
		       unsigned int maxlen)
{
	unsigned int sz = *szp;

	for (; *s; s++) {
		if (isspace(*s) || *s == '\\')
			DMEMIT("\\");
		DMEMIT("%c", *s);
	}
	*szp = sz;
}
EXPORT_SYMBOL_GPL(vs_dmemit_escaped);

/* QEMU's options of a node's image, for every target with one. */
static const struct vs_opt vs_backend_opt_defs[] = {
	VS_OPT_DEF_ON_OFF("cache.direct", struct vs_backend_opts, direct, 1,
			  "cache.direct needs on or off",
			  "cache.direct given more than once",
			  "O_DIRECT on the image file; off: its page cache"),
	VS_OPT_DEF_ON_OFF("cache.no-flush", struct vs_backend_opts, no_flush, 0,
			  "cache.no-flush needs on or off",
			  "cache.no-flush given more than once",
			  "flushes are not sent (unsafe)"),
	VS_OPT_DEF_ON_OFF("cache.writeback", struct vs_backend_opts, writeback,
			  1, "cache.writeback needs on or off",
			  "cache.writeback given more than once",
			  "off: every write durable when it completes"),
	VS_OPT_DEF_ON_OFF("locking", struct vs_backend_opts, locking, 1,
			  "locking needs on or off",
			  "locking given more than once",
			  "vstorage's and QEMU's image locks"),
};

static unsigned int vs_opt_count(const struct vs_opt_set *set)
{
	return set->nr + (set->has_backend ? ARRAY_SIZE(vs_backend_opt_defs) : 0);
}

/*
 * Option I of SET (the target's own, then the image's), and where the
 * struct its offset is relative to starts in VALUES.
 */
static const struct vs_opt *vs_opt_at(const struct vs_opt_set *set,
				      unsigned int i, size_t *base)
{
	if (i < set->nr) {
		*base = 0;
		return &set->opts[i];
	}
	*base = set->backend;
	return &vs_backend_opt_defs[i - set->nr];
}

static unsigned int vs_opt_words(const struct vs_opt *o)
{
	return o->type == VS_OPT_FLAG ? 1 : 2;
}

static void vs_opt_set_default(const struct vs_opt *o, void *values)
{
	void *v = values + o->offset;

	switch (o->type) {
	case VS_OPT_FLAG:
	case VS_OPT_ON_OFF:
		*(bool *)v = o->def;
		break;
	case VS_OPT_U64:
		*(u64 *)v = o->def;
		break;
	case VS_OPT_U32:
		*(u32 *)v = o->def;
		break;
	case VS_OPT_ENUM:
		*(unsigned int *)v = o->def;
		break;
	case VS_OPT_STR:
		*(const char **)v = NULL;
		break;
	}
}

/* Whether option O of VALUES is at its default (and so not written back). */
static bool vs_opt_is_default(const struct vs_opt *o, const void *values)
{
	const void *v = values + o->offset;

	switch (o->type) {
	case VS_OPT_FLAG:
	case VS_OPT_ON_OFF:
		return *(const bool *)v == !!o->def;
	case VS_OPT_U64:
		return *(const u64 *)v == o->def;
	case VS_OPT_U32:
		return *(const u32 *)v == o->def;
	case VS_OPT_ENUM:
		return *(const unsigned int *)v == o->def;
	case VS_OPT_STR:
		return !*(const char * const *)v;
	}
	return true;
}

/* Parse option O's value ARG (NULL: none left) into VALUES. */
static int vs_opt_parse_value(const struct vs_opt *o, const char *arg,
			      void *values, char **error)
{
	void *v = values + o->offset;
	unsigned int i;
	u64 n;

	switch (o->type) {
	case VS_OPT_FLAG:
		*(bool *)v = true;
		return 0;
	case VS_OPT_ON_OFF:
		if (arg && !strcasecmp(arg, "on")) {
			*(bool *)v = true;
			return 0;
		}
		if (arg && !strcasecmp(arg, "off")) {
			*(bool *)v = false;
			return 0;
		}
		break;
	case VS_OPT_U64:
	case VS_OPT_U32:
		if (!arg || kstrtou64(arg, 10, &n) || n < o->min || n > o->max)
			break;
		if (o->type == VS_OPT_U64)
			*(u64 *)v = n;
		else
			*(u32 *)v = n;
		return 0;
	case VS_OPT_ENUM:
		for (i = 0; arg && o->names[i]; i++) {
			if (!strcasecmp(arg, o->names[i])) {
				*(unsigned int *)v = i;
				return 0;
			}
		}
		break;
	case VS_OPT_STR:
		if (!arg || !*arg)
			break;
		*(const char **)v = arg;
		return 0;
	}
	*error = (char *)o->bad_value;
	return -EINVAL;
}

int vs_target_parse(struct dm_target *ti, unsigned int argc, char **argv,
		    const struct vs_opt_set *set, void *values,
		    const char **node_name, const char **path)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct dm_arg count = {
		.error = "invalid number of optional arguments",
	};
	unsigned int i, n, nr_opts = vs_opt_count(set);
	unsigned long seen = 0;
	size_t base;
	int ret;

	if (WARN_ON_ONCE(nr_opts > BITS_PER_LONG)) {
		ti->error = "too many options declared";
		return -EINVAL;
	}
	for (i = 0; i < nr_opts; i++) {
		const struct vs_opt *o = vs_opt_at(set, i, &base);

		vs_opt_set_default(o, values + base);
		count.max += vs_opt_words(o);
	}
	if (argc < 2) {
		ti->error = "expected <node_name> <path> [<#opt_args> <opt_args>...]";
		return -EINVAL;
	}
	*node_name = dm_shift_arg(&as);
	*path = dm_shift_arg(&as);
	if (!vs_node_name_valid(*node_name)) {
		ti->error = VS_NODE_NAME_RULES;
		return -EINVAL;
	}
	if (!as.argc)
		return 0;
	ret = dm_read_arg_group(&count, &as, &n, &ti->error);
	if (ret)
		return ret;

	while (n) {
		const struct vs_opt *o = NULL;
		const char *name = dm_shift_arg(&as);
		const char *arg = NULL;

		n--;
		for (i = 0; i < nr_opts; i++) {
			o = vs_opt_at(set, i, &base);
			if (!strcasecmp(name, o->name))
				break;
			o = NULL;
		}
		if (!o) {
			ti->error = "unknown optional argument";
			return -EINVAL;
		}
		if (seen & BIT(i)) {
			ti->error = (char *)o->twice;
			return -EINVAL;
		}
		seen |= BIT(i);
		if (vs_opt_words(o) > 1 && n) {
			arg = dm_shift_arg(&as);
			n--;
		}
		ret = vs_opt_parse_value(o, arg, values + base, &ti->error);
		if (ret)
			return ret;
	}
	if (as.argc) {
		ti->error = "too many arguments";
		return -EINVAL;
	}
	return 0;
}
EXPORT_SYMBOL_GPL(vs_target_parse);

void vs_target_emit_table(const char *node_name, const char *path,
			  const struct vs_opt_set *set, const void *values,
			  char *result, unsigned int *szp, unsigned int maxlen)
{
	unsigned int sz = *szp, i, n = 0, nr_opts = vs_opt_count(set);
	size_t base;

	for (i = 0; i < nr_opts; i++) {
		const struct vs_opt *o = vs_opt_at(set, i, &base);

		if (!vs_opt_is_default(o, values + base))
			n += vs_opt_words(o);
	}

	DMEMIT("%s ", node_name);
	vs_dmemit_escaped(path, result, &sz, maxlen);
	if (n)
		DMEMIT(" %u", n);
	for (i = 0; i < nr_opts; i++) {
		const struct vs_opt *o = vs_opt_at(set, i, &base);
		const void *v = values + base + o->offset;

		if (vs_opt_is_default(o, values + base))
			continue;
		DMEMIT(" %s", o->name);
		switch (o->type) {
		case VS_OPT_FLAG:
			break;
		case VS_OPT_ON_OFF:
			DMEMIT(" %s", *(const bool *)v ? "on" : "off");
			break;
		case VS_OPT_U64:
			DMEMIT(" %llu", *(const u64 *)v);
			break;
		case VS_OPT_U32:
			DMEMIT(" %u", *(const u32 *)v);
			break;
		case VS_OPT_ENUM:
			DMEMIT(" %s", o->names[*(const unsigned int *)v]);
			break;
		case VS_OPT_STR:
			DMEMIT(" ");
			vs_dmemit_escaped(*(const char * const *)v, result, &sz,
					  maxlen);
			break;
		}
	}
	*szp = sz;
}
EXPORT_SYMBOL_GPL(vs_target_emit_table);

int vs_target_message(struct dm_target *ti, const char *node_name,
		      const struct vs_msg *msgs, unsigned int nr,
		      unsigned int argc, char **argv)
{
	unsigned int i;

	for (i = 0; argc && i < nr; i++) {
		const struct vs_msg *m = &msgs[i];

		if (strcasecmp(argv[0], m->name))
			continue;
		if (argc - 1 < m->min_args || argc - 1 > m->max_args) {
			vs_target_msg_err(ti, node_name, "usage: %s", m->usage);
			return -EINVAL;
		}
		return m->handler(ti, argc - 1, argv + 1);
	}
	{
		char expected[128] = "";
		size_t len = 0;

		for (i = 0; i < nr && len < sizeof(expected); i++)
			len += scnprintf(expected + len, sizeof(expected) - len,
					 "%s%s", i ? ", " : "", msgs[i].usage);
		vs_target_msg_err(ti, node_name, "unknown message (expected: %s)",
				  nr ? expected : "none");
	}
	return -EINVAL;
}
EXPORT_SYMBOL_GPL(vs_target_message);
