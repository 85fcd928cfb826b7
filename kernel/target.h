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
	const char * const *names;	/* ENUM; a NULL name cannot be given */
	unsigned int nr_names;
	const char *bad_value;	/* ti->error for a missing or bad value */
	const char *twice;	/* ti->error for a repeated option */
	const char *doc;	/* one line for Documentation/targets */
};

#define VS_OPT_COMMON(n, t, st, f, d)					\
	.name = n, .type = t, .offset = offsetof(st, f), .doc = d,	\
	.twice = n " given more than once"

#define VS_OPT_DEF_FLAG(n, st, f, d)					\
	{ VS_OPT_COMMON(n, VS_OPT_FLAG, st, f, d) }
#define VS_OPT_DEF_ON_OFF(n, st, f, dflt, d)				\
	{ VS_OPT_COMMON(n, VS_OPT_ON_OFF, st, f, d), .def = dflt,	\
	  .bad_value = n " needs on or off" }
#define VS_OPT_DEF_U64(n, st, f, lo, hi, dflt, msg, d)			\
	{ VS_OPT_COMMON(n, VS_OPT_U64, st, f, d), .min = lo, .max = hi,	\
	  .def = dflt, .bad_value = msg }
#define VS_OPT_DEF_U32(n, st, f, lo, hi, dflt, msg, d)			\
	{ VS_OPT_COMMON(n, VS_OPT_U32, st, f, d), .min = lo, .max = hi,	\
	  .def = dflt, .bad_value = msg }
#define VS_OPT_DEF_ENUM(n, st, f, nm, dflt, msg, d)			\
	{ VS_OPT_COMMON(n, VS_OPT_ENUM, st, f, d), .names = nm,		\
	  .nr_names = ARRAY_SIZE(nm), .def = dflt, .bad_value = msg }
#define VS_OPT_DEF_STR(n, st, f, msg, d)				\
	{ VS_OPT_COMMON(n, VS_OPT_STR, st, f, d), .bad_value = msg }

/*
 * QEMU's options of a node's image (struct vs_backend_opts at member M of
 * the target's option struct ST): cache.direct, cache.no-flush,
 * cache.writeback, locking.
 */
#define VS_BACKEND_OPT_DEFS(st, m)					\
	VS_OPT_DEF_ON_OFF("cache.direct", st, m.direct, 1,		\
			  "O_DIRECT on the image file; off: its page cache"), \
	VS_OPT_DEF_ON_OFF("cache.no-flush", st, m.no_flush, 0,		\
			  "flushes are not sent (unsafe)"),		\
	VS_OPT_DEF_ON_OFF("cache.writeback", st, m.writeback, 1,	\
			  "off: every write durable when it completes"), \
	VS_OPT_DEF_ON_OFF("locking", st, m.locking, 1,			\
			  "vstorage's and QEMU's image locks")

struct vs_opt_set {
	const struct vs_opt *opts;
	unsigned int nr;
};

#define VS_OPT_SET(a) ((struct vs_opt_set){ .opts = a, .nr = ARRAY_SIZE(a) })

struct dm_target;

/*
 * Parse the table line ARGV into VALUES (the target's option struct,
 * defaults set first). *NODE_NAME and *PATH point into ARGV. Sets
 * ti->error on failure.
 */
int vs_target_parse(struct dm_target *ti, unsigned int argc, char **argv,
		    struct vs_opt_set set, void *values,
		    const char **node_name, const char **path);
/* Write the table line back: node name, path, and non-default options. */
void vs_target_emit_table(const char *node_name, const char *path,
			  struct vs_opt_set set, const void *values,
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
