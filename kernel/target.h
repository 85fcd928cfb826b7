/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The target skeleton (target.c): what every vstorage target shares around
 * device-mapper. A target declares its optional table-line arguments once,
 * in a table of struct vs_opt; the skeleton parses the line from it,
 * writes it back for STATUSTYPE_TABLE (non-default options only, the count
 * computed), and dispatches messages from a table of struct vs_msg.
 *
 *   <node_name> <path> [<#opt_args> <opt_args>...]
 *
 * Included by vstorage.h.
 */
#ifndef _VSTORAGE_TARGET_H
#define _VSTORAGE_TARGET_H

#include <linux/stddef.h>
#include <linux/types.h>

enum vs_opt_type {
	VS_OPT_FLAG,		/* present or not; bool */
	VS_OPT_ON_OFF,		/* on|off; bool */
	VS_OPT_U64,		/* decimal in [min, max]; u64 */
	VS_OPT_U32,		/* decimal in [min, max]; u32 */
	VS_OPT_ENUM,		/* one of names[]; unsigned int */
	VS_OPT_STR,		/* a non-empty word; const char *, NULL if not given */
};

struct vs_opt {
	const char *name;
	enum vs_opt_type type;
	size_t offset;		/* of the value in the target's option struct */
	u64 min, max;		/* U64, U32 */
	u64 def;		/* FLAG, ON_OFF, U64, U32, ENUM */
	/* ENUM: the names of the values, up to a NULL (values from there on
	 * can only be defaults)
	 */
	const char * const *names;
	const char *bad_value;	/* ti->error for a missing or bad value */
	const char *twice;	/* ti->error for a repeated option */
	const char *doc;	/* one line for Documentation/targets */
};

/*
 * Entries of an option table. N is the name, ST the option struct and F
 * the field in it, TWICE the error for a repeated option, BAD for a bad
 * or missing value, D the documentation line. (The messages are spelled
 * out: ti->error must be a static string.)
 */
#define VS_OPT_COMMON(n, t, st, f, tw, d)				\
	.name = n, .type = t, .offset = offsetof(st, f), .doc = d,	\
	.twice = tw

#define VS_OPT_DEF_FLAG(n, st, f, tw, d)				\
	{ VS_OPT_COMMON(n, VS_OPT_FLAG, st, f, tw, d) }
#define VS_OPT_DEF_ON_OFF(n, st, f, dflt, bad, tw, d)			\
	{ VS_OPT_COMMON(n, VS_OPT_ON_OFF, st, f, tw, d), .def = dflt,	\
	  .bad_value = bad }
#define VS_OPT_DEF_U64(n, st, f, lo, hi, dflt, bad, tw, d)		\
	{ VS_OPT_COMMON(n, VS_OPT_U64, st, f, tw, d), .min = lo,	\
	  .max = hi, .def = dflt, .bad_value = bad }
#define VS_OPT_DEF_U32(n, st, f, lo, hi, dflt, bad, tw, d)		\
	{ VS_OPT_COMMON(n, VS_OPT_U32, st, f, tw, d), .min = lo,	\
	  .max = hi, .def = dflt, .bad_value = bad }
#define VS_OPT_DEF_ENUM(n, st, f, nm, dflt, bad, tw, d)			\
	{ VS_OPT_COMMON(n, VS_OPT_ENUM, st, f, tw, d), .names = nm,	\
	  .def = dflt, .bad_value = bad }
#define VS_OPT_DEF_STR(n, st, f, bad, tw, d)				\
	{ VS_OPT_COMMON(n, VS_OPT_STR, st, f, tw, d), .bad_value = bad }

/*
 * A target's options: its table, and, for a target with an image, QEMU's
 * options of the image (cache.direct, cache.no-flush, cache.writeback,
 * locking: vs_backend_opt_defs) into the struct vs_backend_opts at
 * BACKEND in its option struct.
 */
struct vs_opt_set {
	const struct vs_opt *opts;
	unsigned int nr;
	bool has_backend;
	size_t backend;
};

struct dm_target;

/*
 * Parse the table line ARGV into VALUES (the target's option struct,
 * defaults set first). *NODE_NAME and *PATH point into ARGV. Sets
 * ti->error on failure.
 */
int vs_target_parse(struct dm_target *ti, unsigned int argc, char **argv,
		    const struct vs_opt_set *set, void *values,
		    const char **node_name, const char **path);
/* Write the table line back: node name, path, and non-default options. */
void vs_target_emit_table(const char *node_name, const char *path,
			  const struct vs_opt_set *set, const void *values,
			  char *result, unsigned int *szp, unsigned int maxlen);

void vs_dmemit_escaped(const char *s, char *result, unsigned int *szp,
		       unsigned int maxlen);

/*
 * A message (dmsetup message) a target understands: its name and how many
 * arguments follow it. The handler logs its own failures with
 * vs_target_msg_err().
 */
struct vs_msg {
	const char *name;
	unsigned int min_args, max_args;
	const char *usage;		/* "resize <bytes>" */
	int (*handler)(struct dm_target *ti, unsigned int argc, char **argv);
};

int vs_target_message(struct dm_target *ti, const char *node_name,
		      const struct vs_msg *msgs, unsigned int nr,
		      unsigned int argc, char **argv);

/*
 * Why a message failed, where vstoragectl finds it:
 * "device-mapper: <target type>: <node>: <reason>".
 */
#define vs_target_msg_err(ti, node, fmt, ...)				\
	pr_err("device-mapper: %s: %s: " fmt "\n", (ti)->type->name,	\
	       node, ##__VA_ARGS__)

#endif /* _VSTORAGE_TARGET_H */
