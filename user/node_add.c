// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl node add DRIVER node-name=NAME file=PATH-OR-NODE [k=v ...]`
 *
 * Everything that can be checked in userspace is checked before the kernel
 * is asked anything: properties, node name, the child file and its size.
 * Then the name must be free (no node, no dm device, no dm UUID), and the
 * dm device "<name>" with UUID "VSTORAGE-<name>" is created with one
 * "vstorage-<driver>" target covering the node.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/fs.h>
#include <linux/vstorage.h>

#include "cmds.h"
#include "dm.h"
#include "driver.h"
#include "nl.h"
#include "node.h"
#include "output.h"
#include "parse.h"
#include "util.h"

#include "node_add.h"

/* Opens netlink on first use; false without the module. */
static bool lazy_open(struct lazy_nl *l)
{
	if (!l->tried) {
		l->tried = true;
		l->ok = !vs_nl_open(&l->nl, true);
	}
	return l->ok;
}

/* 0 and n filled, -ENOENT (no such node, or no module), or -errno
 * (error printed).
 */
static int lookup_node(struct lazy_nl *l, const char *name, struct vs_node *n)
{
	int ret;

	if (!lazy_open(l))
		return -ENOENT;
	ret = vs_node_get(&l->nl, name, n);
	if (ret && ret != -ENOENT)
		vs_nl_perror(&l->nl, "cannot get node '%s'", name);
	return ret;
}

static int parse_props(struct vs_add_ctx *ctx, int argc, char **argv)
{
	const struct vs_driver *drv = ctx->drv;
	char known[256];
	int i;
	size_t j;

	ctx->props = xcalloc(argc, sizeof(*ctx->props));
	for (i = 0; i < argc; i++) {
		struct vs_prop *p = &ctx->props[ctx->nr_props];

		p->value = split_kv(argv[i], p->key, sizeof(p->key));
		if (!p->value) {
			if (!strchr(argv[i], '=') || argv[i][0] == '=')
				pr_err("'%s': expected PROPERTY=VALUE", argv[i]);
			else
				pr_err("unknown property '%.*s' for driver %s (known: %s)",
				       (int)(strchr(argv[i], '=') - argv[i]),
				       argv[i], drv->name,
				       vs_driver_prop_names(drv, known, sizeof(known)));
			return -1;
		}
		if (!vs_driver_knows(drv, p->key)) {
			pr_err("unknown property '%s' for driver %s (known: %s)",
			       p->key, drv->name,
			       vs_driver_prop_names(drv, known, sizeof(known)));
			return -1;
		}
		for (j = 0; j < ctx->nr_props; j++) {
			if (!strcmp(ctx->props[j].key, p->key)) {
				pr_err("property '%s' given more than once",
				       p->key);
				return -1;
			}
		}
		ctx->nr_props++;
	}
	ctx->node_name = vs_prop_value(ctx, "node-name");
	ctx->file_arg = vs_prop_value(ctx, "file");
	if (!ctx->node_name) {
		pr_err("missing node-name=NAME");
		return -1;
	}
	if (!ctx->file_arg) {
		pr_err("missing file=PATH-OR-NODE");
		return -1;
	}
	return 0;
}

/*
 * An image file on a file system without direct I/O (tmpfs in 6.1): say so
 * here, naming the file and the way out, rather than leave it to the
 * kernel's refusal of the table.
 */
static int check_direct_io(const struct vs_add_ctx *ctx)
{
	int fd;

	if (ctx->child.no_direct || ctx->file_is_blk || ctx->file_is_node)
		return 0;
	fd = open(ctx->file_path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != EINVAL)
		return 0;	/* the kernel's refusal will say why */
	pr_err("file=%s: the file system does not support direct I/O (give cache.direct=off to use the page cache)",
	       ctx->file_arg);
	return -1;
}

static int child_size(struct vs_add_ctx *ctx, const struct stat *st)
{
	uint64_t size;
	int fd;

	if (S_ISREG(st->st_mode)) {
		ctx->file_size = st->st_size;
		return 0;
	}
	fd = open(ctx->file_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pr_err("file=%s: %s", ctx->file_arg, strerror(errno));
		return -1;
	}
	if (ioctl(fd, BLKGETSIZE64, &size)) {
		pr_err("file=%s: cannot get the device size: %s",
		       ctx->file_arg, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	ctx->file_size = size;
	ctx->file_is_blk = true;
	return 0;
}

/*
 * file=: a node name (no '/', and such a node exists) or a regular file or
 * block device, made absolute.
 */
static int resolve_file(struct vs_add_ctx *ctx, struct lazy_nl *l)
{
	const char *v = ctx->file_arg, *why;
	struct stat st;
	struct vs_node n;
	int ret;

	if (!*v) {
		pr_err("file= is empty");
		return -1;
	}
	if (!strchr(v, '/') && !check_node_name(v, &why)) {
		ret = lookup_node(l, v, &n);
		if (!ret) {
			char dm_name[VS_DM_NAME_LEN];

			vs_node_dm_name(&n, dm_name, sizeof(dm_name));
			ctx->file_path = xasprintf("/dev/mapper/%s", dm_name);
			ctx->file_is_node = true;
			vs_node_free(&n);
			if (stat(ctx->file_path, &st)) {
				pr_err("file=%s: node device %s: %s", v,
				       ctx->file_path, strerror(errno));
				return -1;
			}
			if (!S_ISBLK(st.st_mode)) {
				pr_err("file=%s: %s is not a block device", v,
				       ctx->file_path);
				return -1;
			}
			return child_size(ctx, &st);
		}
		if (ret != -ENOENT)
			return -1;
	}

	if (stat(v, &st)) {
		if (errno == ENOENT && !strchr(v, '/'))
			pr_err("file=%s: no such node or file", v);
		else
			pr_err("file=%s: %s", v, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		pr_err("file=%s: is a directory", v);
		return -1;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		pr_err("file=%s: not a regular file or block device", v);
		return -1;
	}
	ctx->file_path = realpath(v, NULL);
	if (!ctx->file_path) {
		pr_err("file=%s: %s", v, strerror(errno));
		return -1;
	}
	if (strlen(ctx->file_path) > VSTORAGE_PATH_MAX) {
		pr_err("file=%s: path longer than %d bytes", v,
		       VSTORAGE_PATH_MAX);
		return -1;
	}
	return child_size(ctx, &st);
}

/* No node, dm device or dm UUID may carry the name yet. */
static int check_name_free(const struct vs_add_ctx *ctx, struct lazy_nl *l,
			   const char *uuid, bool check_dm)
{
	struct vs_dm_info info;
	struct vs_node n;
	int ret;

	ret = lookup_node(l, ctx->node_name, &n);
	if (!ret) {
		vs_node_free(&n);
		pr_err("node '%s' already exists", ctx->node_name);
		return -1;
	}
	if (ret != -ENOENT)
		return -1;
	if (!check_dm)
		return 0;

	ret = vs_dm_info(ctx->node_name, NULL, &info);
	if (!ret && info.exists) {
		pr_err("a device-mapper device named '%s' already exists",
		       ctx->node_name);
		return -1;
	}
	if (!ret)
		ret = vs_dm_info(NULL, uuid, &info);
	if (!ret && info.exists) {
		pr_err("device-mapper UUID '%s' is already used by device '%s'",
		       uuid, info.name);
		return -1;
	}
	if (ret) {
		pr_err("cannot query device-mapper: %s",
		       ret == -EIO ? vs_dm_last_error() : strerror(-ret));
		return -1;
	}
	return 0;
}

/* ---- services for drivers (struct vs_add_ops) ---- */


/* "/dev/mapper/<dm-name>" of a node, if that is a block device. */
static char *node_dev_path(const struct vs_node *n)
{
	char dm_name[VS_DM_NAME_LEN];
	struct stat st;
	char *path;

	vs_node_dm_name(n, dm_name, sizeof(dm_name));
	path = xasprintf("/dev/mapper/%s", dm_name);
	if (stat(path, &st) || !S_ISBLK(st.st_mode)) {
		free(path);
		return NULL;
	}
	return path;
}

static int op_node_device(struct vs_add_ctx *ctx, const char *name,
			  char **dev)
{
	struct add_state *st = ctx->ops_priv;
	struct vs_node n;
	int ret;

	ret = lookup_node(st->l, name, &n);
	if (ret)
		return ret == -ENOENT ? -ENOENT : -1;
	*dev = node_dev_path(&n);
	vs_node_free(&n);
	if (!*dev) {
		pr_err("node '%s' has no device under /dev/mapper", name);
		return -1;
	}
	return 0;
}

static int op_find_file_node(struct vs_add_ctx *ctx, const char *driver,
			     const char *real, uint64_t size, char **dev)
{
	struct add_state *st = ctx->ops_priv;
	size_t i;

	if (!st->dumped) {
		if (!lazy_open(st->l))
			return -ENOENT;	/* no module, no nodes */
		if (vs_node_dump(&st->l->nl, &st->nodes, &st->nr_nodes))
			return -1;
		st->dumped = true;
	}
	for (i = 0; i < st->nr_nodes; i++) {
		const struct vs_node *n = &st->nodes[i];
		const struct vs_child *c = vs_node_child(n, "file");
		const struct vs_value *off = &n->info[VSTORAGE_INFO_OFFSET];
		char *r;
		bool same;

		if (strcmp(n->driver, driver) || !c || !c->path || !n->has_dev)
			continue;
		if ((off->present && off->u) ||
		    (size && (!n->has_size || n->size != size)))
			continue;	/* a window of the file */
		r = realpath(c->path, NULL);
		same = r && !strcmp(r, real);
		free(r);
		if (!same)
			continue;
		*dev = node_dev_path(n);
		if (*dev)
			return 0;
	}
	return -ENOENT;
}

static int op_name_taken(struct vs_add_ctx *ctx, const char *name)
{
	static const char *const prefixes[] = {
		VSTORAGE_DM_UUID_PREFIX, VS_DM_UUID_AUTO_PREFIX
	};
	struct add_state *st = ctx->ops_priv;
	struct vs_dm_info info;
	struct vs_node n;
	size_t i;
	int ret;

	ret = lookup_node(st->l, name, &n);
	if (!ret) {
		vs_node_free(&n);
		return 1;
	}
	if (ret != -ENOENT)
		return -1;
	if (ctx->dry_run)
		return 0;
	ret = vs_dm_info(name, NULL, &info);
	for (i = 0; !ret && !info.exists && i < ARRAY_SIZE(prefixes); i++) {
		char *uuid = xasprintf("%s%s", prefixes[i], name);

		ret = vs_dm_info(NULL, uuid, &info);
		free(uuid);
	}
	if (ret) {
		pr_err("cannot query device-mapper: %s",
		       ret == -EIO ? vs_dm_last_error() : strerror(-ret));
		return -1;
	}
	return info.exists;
}

static const struct vs_add_ops add_ops = {
	.node_device = op_node_device,
	.find_file_node = op_find_file_node,
	.name_taken = op_name_taken,
};

/*
 * Creates ctx->pre (bottom-up), then the node. On a failure removes what
 * was created and prints one error line.
 */
static int create_all(const struct vs_add_ctx *ctx, const struct vs_dm_spec *top)
{
	char err[1536];
	struct vs_dm_info info;
	sigset_t old;
	size_t i, done;
	int ret = 0;

	/* a ^C between two devices must not leave half a chain */
	block_term_signals(&old);
	for (done = 0; done < ctx->nr_pre; done++) {
		const struct vs_add_dev *d = &ctx->pre[done];
		struct vs_dm_spec spec = {
			.name = d->name,
			.uuid = d->uuid,
			.target = d->target,
			.params = d->params,
			.sectors = d->sectors,
			.read_only = d->read_only,
		};

		if (vs_dm_create(&spec, &info, err, sizeof(err))) {
			pr_err("backing file %s (node '%s'): %s", d->file,
			       d->name, err);
			ret = -1;
			break;
		}
	}
	if (!ret && vs_dm_create(top, &info, err, sizeof(err))) {
		pr_err("%s", err);
		ret = -1;
	}
	if (ret) {
		for (i = done; i-- > 0;)
			vs_dm_remove(ctx->pre[i].name);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}

/* With -j: the new node object. */
static int print_new_node(const char *name)
{
	struct vs_node n;
	struct vs_nl nl;
	int ret;

	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	ret = vs_node_get(&nl, name, &n);
	if (ret) {
		vs_nl_perror(&nl, "node '%s' was created but cannot be read back",
			     name);
		vs_nl_close(&nl);
		return EXIT_ERR;
	}
	vs_node_print(&n, NULL, NULL);
	vs_node_free(&n);
	vs_nl_close(&nl);
	return EXIT_OK;
}

void vs_add_job_free(struct vs_add_job *j)
{
	struct vs_add_ctx *ctx = &j->ctx;

	if (j->st.dumped)
		vs_node_dump_free(j->st.nodes, j->st.nr_nodes);
	if (j->l.ok)
		vs_nl_close(&j->l.nl);
	if (ctx->priv && ctx->drv->release)
		ctx->drv->release(ctx);
	vs_add_pre_free(ctx);
	free(j->uuid);
	free(ctx->priv);
	free(ctx->file_path);
	free(ctx->props);
	memset(j, 0, sizeof(*j));
}

int vs_add_prepare(struct vs_add_job *j, int argc, char **argv)
{
	struct vs_add_ctx *ctx = &j->ctx;
	char names[128];
	const char *why;

	memset(j, 0, sizeof(*j));
	j->st.l = &j->l;
	ctx->drv = vs_driver_find(argv[0]);
	if (!ctx->drv) {
		pr_err("unknown driver '%s' (known: %s)", argv[0],
		       vs_driver_names(names, sizeof(names)));
		return -1;
	}
	if (parse_props(ctx, argc - 1, argv + 1))
		return -1;
	if (check_node_name(ctx->node_name, &why)) {
		pr_err("invalid node-name '%s': %s", ctx->node_name, why);
		return -1;
	}
	ctx->priv = xcalloc(1, ctx->drv->priv_size);
	ctx->ops = &add_ops;
	ctx->ops_priv = &j->st;
	ctx->dry_run = getenv("VSTORAGECTL_DRY_RUN") != NULL;
	if (ctx->drv->has_image && vs_child_opts_parse(ctx))
		return -1;
	if (ctx->drv->parse && ctx->drv->parse(ctx))
		return -1;
	if (resolve_file(ctx, &j->l))
		return -1;
	if (ctx->drv->has_image && check_direct_io(ctx))
		return -1;
	if (ctx->drv->check(ctx))
		return -1;
	j->uuid = xasprintf("%s%s", VSTORAGE_DM_UUID_PREFIX, ctx->node_name);
	return check_name_free(ctx, &j->l, j->uuid, !ctx->dry_run);
}

static int node_add(int argc, char **argv, bool print);

int cmd_node_add(int argc, char **argv)
{
	return node_add(argc, argv, true);
}

int vs_node_add(int argc, char **argv)
{
	return node_add(argc, argv, false) ? -1 : 0;
}

static int node_add(int argc, char **argv, bool print)
{
	struct vs_add_job j;
	struct vs_add_ctx *ctx = &j.ctx;
	struct vs_dm_spec spec;
	char *params = NULL;
	int ret = EXIT_ERR;
	size_t i;

	if (argc < 1)
		return usage_err("node help", "node add: missing DRIVER");
	if (!strcmp(argv[0], "help")) {
		usage_node(stdout);
		return EXIT_OK;
	}
	if (vs_driver_find(argv[0]) && vs_driver_find(argv[0])->internal) {
		pr_err("driver '%s' is made by block jobs only (see vstoragectl job help)",
		       argv[0]);
		return EXIT_ERR;
	}
	if (vs_add_prepare(&j, argc, argv))
		goto out;

	params = ctx->drv->params(ctx);
	spec = (struct vs_dm_spec) {
		.name = ctx->node_name,
		.uuid = j.uuid,
		.target = ctx->drv->target,
		.params = params,
		.sectors = ctx->length / 512,
		.read_only = ctx->read_only,
	};
	if (ctx->dry_run) {
		/* test aid: the tables instead of the devices, bottom-up */
		for (i = 0; i < ctx->nr_pre; i++)
			printf("%s: 0 %" PRIu64 " %s %s\n", ctx->pre[i].name,
			       ctx->pre[i].sectors, ctx->pre[i].target,
			       ctx->pre[i].params);
		printf("%s: 0 %" PRIu64 " %s %s\n", spec.name, spec.sectors,
		       spec.target, spec.params);
		ret = EXIT_OK;
		goto out;
	}
	if (create_all(ctx, &spec))
		goto out;
	ret = print && is_json_context() ? print_new_node(ctx->node_name) :
					   EXIT_OK;
out:
	vs_add_job_free(&j);
	free(params);
	return ret;
}
