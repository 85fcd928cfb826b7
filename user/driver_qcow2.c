// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2: QEMU's image format, target "vstorage-qcow2".
 *
 * The image header is read and validated here with the target's own
 * library (kernel/formats/qcow2/format.c, entries.c), so that a bad image is refused
 * with the library's reason before anything is created, and so that the
 * backing chain can be resolved as QEMU does: when backing= is not given
 * and the image names a backing file, that file (relative to the image's
 * directory) is served by an existing node of the same driver if there is
 * one, else by a new read-only node "<node>-b<depth>" (DM UUID
 * VSTORAGE-auto-<name>), recursively, created bottom-up before the node.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>
#include <linux/vstorage.h>

#include "driver.h"
#include "fileio.h"
#include "parse.h"
#include "util.h"

#include "format.h"
#include "qcow2_image.h"

#define SECTOR		512
/* Deepest automatic backing chain (QEMU has no limit; loops are caught). */
#define MAX_CHAIN	64
/* First read of an image; the parser asks for more when it needs it. */
#define HDR_READ	4096

struct qcow2_opts {
	struct qcow2_table_opts t;
	const char *backing_node;	/* backing=NODE */
	bool backing_none;		/* backing=none */
	char *backing_dev;		/* malloc'd: the backing device */
};

static const struct vs_prop_desc qcow2_props[] = {
	{ "backing", "NODE|none" },
	{ "read-only", "on|off" },
	{ "l2-cache-size", "BYTES" },
	{ "refcount-cache-size", "BYTES" },
	{ "cache-clean-interval", "SECONDS" },
	{ "lazy-refcounts", "on|off" },
	{ "discard", "ignore|unmap" },
	{ "overlap-check", "none|constant|cached|all" },
	{ NULL, NULL },
};

/* ---- pure helpers (unit-tested) ---- */

static void opt_add(char *buf, size_t len, int *nr, int words,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void opt_add(char *buf, size_t len, int *nr, int words,
		    const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	va_start(ap, fmt);
	if (n < len)
		vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
	*nr += words;
}

char *qcow2_table_params(const char *node, const char *path,
			 const struct qcow2_table_opts *o)
{
	char *ebacking = o->backing ? dm_escape_arg(o->backing) : NULL;
	char *epath = dm_escape_arg(path), *line;
	size_t len = 512 + (ebacking ? strlen(ebacking) : 0);
	char *opts = xcalloc(1, len);
	int nr = 0;

	if (ebacking)
		opt_add(opts, len, &nr, 2, " backing %s", ebacking);
	if (o->read_only)
		opt_add(opts, len, &nr, 1, " read-only");
	if (o->l2_cache_given)
		opt_add(opts, len, &nr, 2, " l2-cache-size %" PRIu64,
			o->l2_cache_size);
	if (o->refcount_cache_given)
		opt_add(opts, len, &nr, 2, " refcount-cache-size %" PRIu64,
			o->refcount_cache_size);
	if (o->clean_interval_given)
		opt_add(opts, len, &nr, 2, " cache-clean-interval %" PRIu64,
			o->clean_interval);
	if (o->lazy_refcounts)
		opt_add(opts, len, &nr, 2, " lazy-refcounts %s",
			o->lazy_refcounts);
	if (o->discard)
		opt_add(opts, len, &nr, 2, " discard %s", o->discard);
	if (o->overlap_check)
		opt_add(opts, len, &nr, 2, " overlap-check %s",
			o->overlap_check);
	nr += vs_child_opts_words(&o->child, opts, len);

	if (nr)
		line = xasprintf("%s %s %d%s", node, epath, nr, opts);
	else
		line = xasprintf("%s %s", node, epath);
	free(opts);
	free(epath);
	free(ebacking);
	return line;
}

char *qcow2_auto_name(const char *top, unsigned int depth,
		      int (*taken)(void *arg, const char *name), void *arg)
{
	char suffix[16], name[VSTORAGE_NODE_NAME_MAX + 1];
	int letter, r;

	for (letter = 0; letter <= 26; letter++) {
		size_t sl, keep;

		if (letter)
			snprintf(suffix, sizeof(suffix), "-b%u%c", depth,
				 'a' + letter - 1);
		else
			snprintf(suffix, sizeof(suffix), "-b%u", depth);
		sl = strlen(suffix);
		keep = strlen(top);
		if (keep + sl > VSTORAGE_NODE_NAME_MAX)
			keep = VSTORAGE_NODE_NAME_MAX - sl;
		snprintf(name, sizeof(name), "%.*s%s", (int)keep, top, suffix);
		r = taken(arg, name);
		if (r < 0)
			return NULL;
		if (!r)
			return xstrdup(name);
	}
	return NULL;
}

char *qcow2_backing_path(const char *image, const char *name, size_t name_len)
{
	const char *slash;

	if (name_len && name[0] == '/')
		return xasprintf("%.*s", (int)name_len, name);
	slash = strrchr(image, '/');
	if (!slash)
		return xasprintf("%.*s", (int)name_len, name);
	return xasprintf("%.*s%.*s", (int)(slash - image + 1), image,
			 (int)name_len, name);
}

/* ---- reading images ---- */

void qimg_free(struct qimg *q)
{
	free(q->backing);
	free(q->backing_fmt);
	q->backing = q->backing_fmt = NULL;
}

int vs_fd_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	if (S_ISREG(st.st_mode)) {
		*size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) ? -errno : 0;
	return -EINVAL;
}

int qimg_read(const char *path, uint64_t size, struct qimg *q,
	      const char **reason, int *err)
{
	unsigned char *buf;
	size_t len = HDR_READ;
	int fd, ret = -1, r;

	memset(q, 0, sizeof(*q));
	*reason = NULL;
	*err = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	buf = xmalloc(len);
	r = vs_read_at(fd, 0, buf, len);
	if (!r) {
		r = qcow2_header_parse(buf, len, size, &q->h, reason);
		if (r == -ENODATA && q->h.header_length > len) {
			len = q->h.header_length;
			buf = xrealloc(buf, len);
			r = vs_read_at(fd, 0, buf, len);
			if (!r)
				r = qcow2_header_parse(buf, len, size, &q->h,
						       reason);
		}
		if (r && !*reason)
			*reason = "cannot parse the qcow2 header";
	} else {
		*err = -r;
	}
	if (r)
		goto out;

	if (qcow2_header_area_size(&q->h, size) > len) {
		len = qcow2_header_area_size(&q->h, size);
		buf = xrealloc(buf, len);
		r = vs_read_at(fd, 0, buf, len);
		if (r) {
			*err = -r;
			goto out;
		}
	}
	if (qcow2_extensions_parse(buf, len, size, &q->h, &q->e, reason)) {
		if (!*reason)
			*reason = "cannot parse the header extensions";
		goto out;
	}
	if (q->h.has_backing) {
		const char *s = (const char *)buf + q->e.backing_file.offset;

		if (memchr(s, '\0', q->e.backing_file.len)) {
			*reason = "the backing file name contains a NUL byte";
			goto out;
		}
		q->backing = xasprintf("%.*s", (int)q->e.backing_file.len, s);
	}
	if (q->e.present & QCOW2_EXTF_BACKING_FORMAT) {
		const char *s = (const char *)buf + q->e.backing_format.offset;

		q->backing_fmt = xasprintf("%.*s",
					   (int)strnlen(s, q->e.backing_format.len),
					   s);
	}
	ret = 0;
out:
	if (ret)
		qimg_free(q);
	free(buf);
	close(fd);
	return ret;
}

/* "raw" unless the first 4 bytes are the qcow2 magic (QEMU's probe). */
static const char *probe_format(const char *path)
{
	unsigned char m[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return "raw";	/* the open that follows reports it */
	if (vs_read_at(fd, 0, m, sizeof(m)))
		memset(m, 0, sizeof(m));
	close(fd);
	return get_unaligned_be32(m) == QCOW2_MAGIC ? "qcow2" : "raw";
}

/* ---- the property values ---- */

static int parse_choice(const struct vs_add_ctx *ctx, const char *key,
			const char *const *choices, const char **out)
{
	const char *v = vs_prop_value(ctx, key);
	char buf[128] = "";
	size_t i, n;

	if (!v)
		return 0;
	for (i = 0; choices[i]; i++) {
		if (!strcmp(v, choices[i])) {
			*out = choices[i];
			return 0;
		}
		n = strlen(buf);
		snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "",
			 choices[i]);
	}
	pr_err("%s=%s: expected one of %s", key, v, buf);
	return -1;
}

static int qcow2_parse(struct vs_add_ctx *ctx)
{
	static const char *const overlap[] = {
		"none", "constant", "cached", "all", NULL
	};
	struct qcow2_opts *o = ctx->priv;
	const char *v, *why;
	bool b;

	if (vs_prop_bool(ctx, "read-only", &o->t.read_only) ||
	    vs_prop_size(ctx, "l2-cache-size", &o->t.l2_cache_size,
			 &o->t.l2_cache_given) ||
	    vs_prop_size(ctx, "refcount-cache-size", &o->t.refcount_cache_size,
			 &o->t.refcount_cache_given))
		return -1;

	v = vs_prop_value(ctx, "cache-clean-interval");
	if (v) {
		/* QEMU: an unsigned number of seconds, at most UINT_MAX */
		if (!*v || *v == '-' || *v == '+' ||
		    parse_uint(v, UINT32_MAX, &o->t.clean_interval)) {
			pr_err("cache-clean-interval=%s: expected a number of seconds (0 to %u)",
			       v, UINT32_MAX);
			return -1;
		}
		o->t.clean_interval_given = true;
	}

	v = vs_prop_value(ctx, "lazy-refcounts");
	if (v) {
		if (vs_prop_bool(ctx, "lazy-refcounts", &b))
			return -1;
		o->t.lazy_refcounts = b ? "on" : "off";
	}

	/* QEMU also takes on/off for unmap/ignore */
	v = vs_prop_value(ctx, "discard");
	if (v) {
		if (!strcmp(v, "ignore") || !strcmp(v, "off")) {
			o->t.discard = "ignore";
		} else if (!strcmp(v, "unmap") || !strcmp(v, "on")) {
			o->t.discard = "unmap";
		} else {
			pr_err("discard=%s: expected ignore or unmap", v);
			return -1;
		}
	}

	if (parse_choice(ctx, "overlap-check", overlap, &o->t.overlap_check))
		return -1;

	v = vs_prop_value(ctx, "backing");
	if (v) {
		if (!strcmp(v, "none")) {
			o->backing_none = true;
		} else if (check_node_name(v, &why)) {
			pr_err("backing=%s: not a node name (%s); give a node or none",
			       v, why);
			return -1;
		} else {
			o->backing_node = v;
		}
	}
	return 0;
}

/* ---- the backing chain ---- */

struct chain {
	struct vs_add_ctx *ctx;
	char **visited;		/* realpaths of the images in the chain */
	size_t nr_visited;
	bool failed;		/* name_taken() failed (error printed) */
};

static int chain_taken(void *arg, const char *name)
{
	struct chain *c = arg;
	size_t i;
	int r;

	if (!strcmp(name, c->ctx->node_name))
		return 1;
	for (i = 0; i < c->ctx->nr_pre; i++)
		if (!strcmp(name, c->ctx->pre[i].name))
			return 1;
	r = c->ctx->ops->name_taken(c->ctx, name);
	if (r < 0)
		c->failed = true;
	return r;
}

static void chain_visit(struct chain *c, const char *real)
{
	c->visited = xrealloc(c->visited,
			      (c->nr_visited + 1) * sizeof(*c->visited));
	c->visited[c->nr_visited++] = xstrdup(real);
}

static void chain_free(struct chain *c)
{
	size_t i;

	for (i = 0; i < c->nr_visited; i++)
		free(c->visited[i]);
	free(c->visited);
}

/* An error about the backing file PATH of the image OF. */
static void chain_err(const struct chain *c, const char *path, const char *of,
		      unsigned int depth, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void chain_err(const struct chain *c, const char *path, const char *of,
		      unsigned int depth, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (depth > 1)
		pr_err("file=%s: backing file %s (of %s): %s",
		       c->ctx->file_arg, path, of, msg);
	else
		pr_err("file=%s: backing file %s: %s", c->ctx->file_arg, path,
		       msg);
}

/*
 * The device serving the backing file NAME of the image at OF (a path),
 * DEPTH levels below the node: an existing node, or a new one (appended to
 * ctx->pre after its own backing chain). malloc'd, or NULL (error printed).
 */
static char *chain_resolve(struct chain *c, const char *of, const char *name,
			   const char *fmt, unsigned int depth)
{
	struct vs_add_ctx *ctx = c->ctx;
	/* backing nodes take the top's cache options, as in QEMU */
	struct qcow2_table_opts t = { .read_only = true, .child = ctx->child };
	char *path, *real = NULL, *dev = NULL, *node = NULL, *sub = NULL;
	const char *reason;
	struct qimg q = { 0 };
	uint64_t size, sectors;
	struct stat st;
	size_t i;
	int fd, r, e;

	path = qcow2_backing_path(of, name, strlen(name));
	if (depth > MAX_CHAIN) {
		chain_err(c, path, of, depth, "backing chain deeper than %d images",
			  MAX_CHAIN);
		goto out;
	}
	if (stat(path, &st)) {
		chain_err(c, path, of, depth, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		chain_err(c, path, of, depth, "not a regular file or block device");
		goto out;
	}
	real = realpath(path, NULL);
	if (!real) {
		chain_err(c, path, of, depth, "%s", strerror(errno));
		goto out;
	}
	if (strlen(real) > VSTORAGE_PATH_MAX) {
		chain_err(c, path, of, depth, "path longer than %d bytes",
			  VSTORAGE_PATH_MAX);
		goto out;
	}
	for (i = 0; i < c->nr_visited; i++) {
		if (!strcmp(real, c->visited[i])) {
			chain_err(c, path, of, depth,
				  "the backing chain loops (%s is already in it)",
				  real);
			goto out;
		}
	}
	chain_visit(c, real);

	if (!fmt)
		fmt = probe_format(real);
	if (strcmp(fmt, "raw") && strcmp(fmt, "qcow2")) {
		chain_err(c, path, of, depth,
			  "backing format '%s' is not supported (raw, qcow2)",
			  fmt);
		goto out;
	}

	fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		chain_err(c, path, of, depth, "%s", strerror(errno));
		goto out;
	}
	r = vs_fd_size(fd, &size);
	close(fd);
	if (r) {
		chain_err(c, path, of, depth, "cannot get its size: %s", strerror(-r));
		goto out;
	}

	if (!strcmp(fmt, "qcow2")) {
		if (qimg_read(real, size, &q, &reason, &e)) {
			if (reason)
				chain_err(c, path, of, depth, "%s", reason);
			else
				chain_err(c, path, of, depth, "%s", strerror(e));
			goto out;
		}
		if (qcow2_check_open(&q.h, &q.e, 0, &reason)) {
			chain_err(c, path, of, depth, "%s", reason);
			goto out;
		}
		sectors = (q.h.size & ~(uint64_t)(SECTOR - 1)) / SECTOR;
		if (!sectors) {
			chain_err(c, path, of, depth,
				  "virtual size %" PRIu64 " is smaller than 512 bytes",
				  (uint64_t)q.h.size);
			goto out;
		}
	} else {
		sectors = size / SECTOR;
		if (!sectors) {
			chain_err(c, path, of, depth,
				  "raw image smaller than 512 bytes");
			goto out;
		}
	}

	r = ctx->ops->find_file_node(ctx, fmt, real,
				     !strcmp(fmt, "raw") ? sectors * SECTOR : 0,
				     &dev);
	if (!r)
		goto out;		/* an existing node serves it */
	if (r != -ENOENT)
		goto out;

	if (!strcmp(fmt, "qcow2") && q.backing) {
		sub = chain_resolve(c, real, q.backing, q.backing_fmt,
				    depth + 1);
		if (!sub)
			goto out;
	}
	node = qcow2_auto_name(ctx->node_name, depth, chain_taken, c);
	if (!node) {
		if (c->failed)
			goto out;
		chain_err(c, path, of, depth,
			  "no free node name for it (%s-b%u and %s-b%u[a-z] are taken)",
			  ctx->node_name, depth, ctx->node_name, depth);
		goto out;
	}
	if (!strcmp(fmt, "qcow2")) {
		t.backing = sub;
		vs_add_pre(ctx, node, xasprintf(VS_DM_UUID_AUTO_PREFIX "%s", node),
			   vs_driver_qcow2.target,
			   qcow2_table_params(node, real, &t), sectors, true,
			   xstrdup(real));
	} else {
		/* a size that is not a multiple of 512 is cut to one */
		vs_add_pre(ctx, node, xasprintf(VS_DM_UUID_AUTO_PREFIX "%s", node),
			   vs_driver_raw.target,
			   raw_table_params(node, real, 0, size % SECTOR != 0,
					    sectors * SECTOR, true, &ctx->child),
			   sectors, true, xstrdup(real));
	}
	dev = xasprintf("/dev/mapper/%s", node);
out:
	qimg_free(&q);
	free(sub);
	free(real);
	free(path);
	return dev;
}

/* ---- the driver ---- */

static int qcow2_check(struct vs_add_ctx *ctx)
{
	struct qcow2_opts *o = ctx->priv;
	struct qimg q;
	const char *reason;
	char *real;
	int e, ret = -1;

	if (qimg_read(ctx->file_path, ctx->file_size, &q, &reason, &e)) {
		if (reason)
			pr_err("file=%s: %s", ctx->file_arg, reason);
		else
			pr_err("file=%s: cannot read: %s", ctx->file_arg,
			       strerror(e));
		return -1;
	}
	if (qcow2_check_open(&q.h, &q.e,
			     o->t.read_only ? 0 : QCOW2_OPEN_WRITE, &reason)) {
		pr_err("file=%s: %s", ctx->file_arg, reason);
		goto out;
	}
	ctx->length = q.h.size & ~(uint64_t)(SECTOR - 1);
	if (!ctx->length) {
		pr_err("file=%s: virtual size %" PRIu64 " is smaller than 512 bytes",
		       ctx->file_arg, (uint64_t)q.h.size);
		goto out;
	}
	ctx->read_only = o->t.read_only;

	if (o->backing_none) {
		o->t.backing = "none";
	} else if (o->backing_node) {
		int r = ctx->ops->node_device(ctx, o->backing_node,
					      &o->backing_dev);

		if (r == -ENOENT)
			pr_err("backing=%s: no such node", o->backing_node);
		if (r)
			goto out;
		o->t.backing = o->backing_dev;
	} else if (q.backing) {
		struct chain c = { .ctx = ctx };

		real = realpath(ctx->file_path, NULL);
		chain_visit(&c, real ? real : ctx->file_path);
		free(real);
		o->backing_dev = chain_resolve(&c, ctx->file_path, q.backing,
					       q.backing_fmt, 1);
		chain_free(&c);
		if (!o->backing_dev)
			goto out;
		o->t.backing = o->backing_dev;
	}
	ret = 0;
out:
	qimg_free(&q);
	return ret;
}

static char *qcow2_params(const struct vs_add_ctx *ctx)
{
	const struct qcow2_opts *o = ctx->priv;

	struct qcow2_table_opts t = o->t;

	t.child = ctx->child;
	return qcow2_table_params(ctx->node_name, ctx->file_path, &t);
}

static void qcow2_release(struct vs_add_ctx *ctx)
{
	struct qcow2_opts *o = ctx->priv;

	if (o)
		free(o->backing_dev);
}

const struct vs_driver vs_driver_qcow2 = {
	.name = "qcow2",
	.target = "vstorage-qcow2",
	.has_image = true,
	.props = qcow2_props,
	.priv_size = sizeof(struct qcow2_opts),
	.parse = qcow2_parse,
	.check = qcow2_check,
	.params = qcow2_params,
	.release = qcow2_release,
};
