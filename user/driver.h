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
 *
 * A driver may ask for more devices to be created before the node itself
 * (qcow2's automatic backing chain): check() fills ctx->pre, bottom-up.
 * Node add's own services (netlink, device-mapper) reach drivers through
 * ctx->ops, so that unit tests can replace them.
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

struct vs_add_ctx;

/*
 * QEMU's options of a node's image (cache.direct, cache.no-flush,
 * cache.writeback, locking), as departures from QEMU's defaults, so that
 * a zeroed struct means the defaults.
 */
struct vs_child_opts {
	bool no_direct;			/* cache.direct=off */
	bool no_flush;			/* cache.no-flush=on */
	bool writethrough;		/* cache.writeback=off */
	bool no_locking;		/* locking=off */
};

/* What node add offers drivers. Each returns as documented; -1: error printed. */
struct vs_add_ops {
	/*
	 * Live node NAME: its device ("/dev/mapper/<dm-name>", malloc'd).
	 * 0, -ENOENT (no such node, or no module), -1.
	 */
	int (*node_device)(struct vs_add_ctx *ctx, const char *name,
			   char **dev);
	/*
	 * A live node of driver DRIVER whose "file" child is the file or
	 * device REAL (a realpath) and that presents all of it (raw: offset 0
	 * and size @size): its device (malloc'd). 0, -ENOENT, -1.
	 */
	int (*find_file_node)(struct vs_add_ctx *ctx, const char *driver,
			      const char *real, uint64_t size, char **dev);
	/*
	 * Whether NAME is used by a node, a dm device, or the dm UUID
	 * VSTORAGE-NAME or VSTORAGE-auto-NAME: 1 taken, 0 free, -1.
	 */
	int (*name_taken)(struct vs_add_ctx *ctx, const char *name);
};

/* A device that node add creates before the node (bottom-up). */
struct vs_add_dev {
	char *name;			/* node and dm name */
	char *uuid;
	const char *target;
	char *params;
	uint64_t sectors;
	bool read_only;
	char *file;			/* the image, for error messages */
};

struct vs_add_ctx {
	const struct vs_driver *drv;
	const char *node_name;
	const char *file_arg;		/* file= as given */
	struct vs_prop *props;		/* every key=value, in order */
	size_t nr_props;

	/* the image's cache and locking options (drivers with an image) */
	struct vs_child_opts child;

	/* the child, resolved by node add */
	char *file_path;		/* absolute path or /dev/mapper/<dm> */
	bool file_is_node;
	bool file_is_blk;
	uint64_t file_size;

	/* set by the driver */
	uint64_t length;		/* bytes */
	bool read_only;
	void *priv;			/* drv->priv_size bytes, zeroed */

	/* devices to create first, in this order (set by check()) */
	struct vs_add_dev *pre;
	size_t nr_pre;

	const struct vs_add_ops *ops;
	void *ops_priv;			/* node add's own state */
	bool dry_run;			/* VSTORAGECTL_DRY_RUN: query nothing */
};

/* Appends a device to ctx->pre; takes ownership of the strings. */
void vs_add_pre(struct vs_add_ctx *ctx, char *name, char *uuid,
		const char *target, char *params, uint64_t sectors,
		bool read_only, char *file);
void vs_add_pre_free(struct vs_add_ctx *ctx);

struct vs_prop_desc {
	const char *name;
	const char *arg;		/* for usage: "BYTES", "on|off" */
};

struct vs_driver {
	const char *name;		/* "raw" */
	const char *target;		/* "vstorage-raw" */
	bool has_image;			/* takes cache.* and locking */
	bool filter;			/* node insert-filter may insert it */
	bool internal;			/* made by block jobs only: not for node add */
	const struct vs_prop_desc *props;	/* driver's own, {NULL} ends */
	size_t priv_size;
	int (*parse)(struct vs_add_ctx *ctx);	/* optional; 0 or -1 (printed) */
	int (*check)(struct vs_add_ctx *ctx);	/* 0 or -1 (error printed) */
	char *(*params)(const struct vs_add_ctx *ctx);	/* malloc'd */
	void (*release)(struct vs_add_ctx *ctx);	/* optional: free priv's */
};

extern const struct vs_driver vs_driver_raw;
extern const struct vs_driver vs_driver_qcow2;
extern const struct vs_driver vs_driver_throttle;
extern const struct vs_driver vs_driver_cor;
extern const struct vs_driver vs_driver_mirror;
extern const struct vs_driver vs_driver_cbw;
extern const struct vs_driver vs_driver_access;
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
/* ctx->child from the cache.* and locking properties; 0 or -1. */
int vs_child_opts_parse(struct vs_add_ctx *ctx);
/*
 * Appends the table-line words of O that are not QEMU's defaults
 * (" cache.direct off" ...) to BUF (LEN bytes); returns how many words.
 */
int vs_child_opts_words(const struct vs_child_opts *o, char *buf, size_t len);

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
		       bool size_given, uint64_t size, bool read_only,
		       const struct vs_child_opts *child);

/* DM UUID prefix of the nodes node add creates on its own (backing chains). */
#define VS_DM_UUID_AUTO_PREFIX	"VSTORAGE-auto-"

/* Options of the vstorage-qcow2 table line (qcow2_table_params()). */
struct qcow2_table_opts {
	const char *backing;		/* device path, "none" or NULL */
	bool read_only;
	bool l2_cache_given, refcount_cache_given, clean_interval_given;
	uint64_t l2_cache_size, refcount_cache_size, clean_interval;
	const char *lazy_refcounts;	/* "on", "off" or NULL */
	const char *discard;		/* "ignore", "unmap" or NULL */
	const char *overlap_check;	/* "none" ... "all" or NULL */
	struct vs_child_opts child;
};

/*
 * The vstorage-qcow2 parameter line:
 *   <node-name> <image> [<#opt_args> [backing <dev>|none] [read-only]
 *     [l2-cache-size <bytes>] [refcount-cache-size <bytes>]
 *     [cache-clean-interval <seconds>] [lazy-refcounts on|off]
 *     [discard ignore|unmap] [overlap-check none|constant|cached|all]]
 * malloc'd.
 */
char *qcow2_table_params(const char *node, const char *path,
			 const struct qcow2_table_opts *o);

/*
 * Name of the automatic backing node at DEPTH (1, 2, ...) of node TOP:
 * "<top>-b<depth>", TOP truncated so that it fits VSTORAGE_NODE_NAME_MAX,
 * then with a letter 'a'..'z' appended (truncating further) while
 * taken(NAME) says 1. NULL when taken() fails (-1) or all are taken.
 * malloc'd.
 */
char *qcow2_auto_name(const char *top, unsigned int depth,
		      int (*taken)(void *arg, const char *name), void *arg);

/*
 * The path of backing file NAME (NAME_LEN bytes, not NUL-terminated) of
 * the image at IMAGE: NAME itself if absolute, else relative to IMAGE's
 * directory. malloc'd.
 */
char *qcow2_backing_path(const char *image, const char *name, size_t name_len);

#endif /* VS_DRIVER_H */
