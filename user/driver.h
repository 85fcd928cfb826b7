/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Drivers of `node add`: each driver is a table entry with its known
 * properties and the functions that check them and build the
 * device-mapper table line of its target "vstorage-<driver>".
 *
 * `node add` calls, in this order:
 *   parse()  - syntax of the driver's properties, before anything is opened
 *   check()  - against the resolved child (ctx->file_*); sets ctx->length
 *              (bytes, multiple of 512) and ctx->read_only
 *   params() - the target's parameter string
 */
#ifndef VS_DRIVER_H
#define VS_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VS_PROP_KEY_MAX	32

struct vs_prop {
	char key[VS_PROP_KEY_MAX];
	const char *value;
};

struct vs_add_ctx {
	const struct vs_driver *drv;
	const char *node_name;
	const char *file_arg;		/* file= as given */
	struct vs_prop *props;		/* every key=value, in order */
	size_t nr_props;

	/* the child, resolved by node add */
	char *file_path;		/* absolute path or /dev/mapper/<dm> */
	bool file_is_node;
	bool file_is_blk;
	uint64_t file_size;

	/* set by the driver */
	uint64_t length;		/* bytes */
	bool read_only;
	void *priv;			/* drv->priv_size bytes, zeroed */
};

struct vs_prop_desc {
	const char *name;
	const char *arg;		/* for usage: "BYTES", "on|off" */
};

struct vs_driver {
	const char *name;		/* "raw" */
	const char *target;		/* "vstorage-raw" */
	const struct vs_prop_desc *props;	/* driver's own, {NULL} ends */
	size_t priv_size;
	int (*parse)(struct vs_add_ctx *ctx);	/* 0 or -1 (error printed) */
	int (*check)(struct vs_add_ctx *ctx);	/* 0 or -1 (error printed) */
	char *(*params)(const struct vs_add_ctx *ctx);	/* malloc'd */
};

extern const struct vs_driver vs_driver_raw;
extern const struct vs_driver *const vs_drivers[];

const struct vs_driver *vs_driver_find(const char *name);
/* "raw, qcow2" into buf. */
const char *vs_driver_names(char *buf, size_t len);
/* "node-name, file, offset, size, read-only" into buf. */
const char *vs_driver_prop_names(const struct vs_driver *drv, char *buf,
				 size_t len);
bool vs_driver_knows(const struct vs_driver *drv, const char *key);

/* Value of a property, or NULL. */
const char *vs_prop_value(const struct vs_add_ctx *ctx, const char *key);
/* Typed property getters; print "Error: key=value: reason" on failure. */
int vs_prop_size(const struct vs_add_ctx *ctx, const char *key,
		 uint64_t *out, bool *given);
int vs_prop_bool(const struct vs_add_ctx *ctx, const char *key, bool *out);

/*
 * Escapes a device-mapper table argument: whitespace (as the kernel's
 * isspace() sees it, including 0xa0) and backslashes get a backslash, so
 * dm_split_args() gives back the original string. malloc'd.
 */
char *dm_escape_arg(const char *s);

/*
 * The vstorage-raw parameter line:
 *   <node-name> <path> [<#opt_args> [offset <bytes>] [size <bytes>] [read-only]]
 * offset only when non-zero, size only when given. malloc'd.
 */
char *raw_table_params(const char *node, const char *path, uint64_t offset,
		       bool size_given, uint64_t size, bool read_only);

#endif /* VS_DRIVER_H */
