// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl node insert-filter NAME DRIVER node-name=F [PROP=VALUE ...]`
 * and `vstoragectl node remove-filter F`: a filter node goes in between
 * the device that serves NAME and NAME itself, or comes out, while the
 * workload's device (dm name, dev_t, /dev/vstorage link, open file
 * descriptors) stays as it is.
 *
 * Two shapes, both built on the same two moves:
 *
 *  - NAME is on the user-visible device D itself: NAME moves to a device
 *    of its own under D (node move), and D takes the filter's table over
 *    it instead of the linear pass-through. Removing the filter is the move
 *    back, with the filter's table where the pass-through would be.
 *
 *  - NAME is on such a device already, under a filter P: the new filter
 *    gets a device of its own over NAME's, and P is reloaded with that as
 *    its child. Removing a filter from the middle turns its device into a
 *    linear pass-through first (its suspend releases what the filter
 *    holds back, so no limit delays it), then reloads P over the device
 *    below and removes the filter's.
 *
 * The devices vstoragectl adds under a disk are named "<disk>-<node>",
 * carry the UUID "VSTORAGE-node:<node>" and are private to udev.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdevmapper.h>

#include "cmds.h"
#include "dm.h"
#include "driver.h"
#include "job.h"
#include "nl.h"
#include "node.h"
#include "node_add.h"
#include "parse.h"
#include "table.h"
#include "util.h"

#define ERR_LEN 1024

/* One device of a stack, with its table. */
struct layer {
	struct vs_dm_info info;
	char dev[32];
	char *target, *params;
	uint64_t sectors;
};

static void layer_free(struct layer *l)
{
	free(l->target);
	free(l->params);
	l->target = l->params = NULL;
}

static int layer_get(struct layer *l, const struct vs_dm_info *info)
{
	char err[ERR_LEN];

	l->info = *info;
	snprintf(l->dev, sizeof(l->dev), "%u:%u", info->major, info->minor);
	if (vs_dm_get_table_len(info->name, &l->target, &l->params,
				&l->sectors, err, sizeof(err))) {
		pr_err("device '%s': %s", info->name, err);
		return -1;
	}
	return 0;
}

static bool is_vstorage_target(const char *target)
{
	return !strncmp(target, VSTORAGE_DM_TARGET_PREFIX,
			sizeof(VSTORAGE_DM_TARGET_PREFIX) - 1);
}

static bool is_holder(const struct vs_dm_info *i)
{
	return !strncmp(i->uuid, VS_DM_UUID_HOLDER_PREFIX,
			sizeof(VS_DM_UUID_HOLDER_PREFIX) - 1);
}

/*
 * udev flags of a resume: the devices made under a disk are private to
 * udev; the disk's own device gets every rule (its links).
 */
static uint16_t udev_flags(const struct layer *l)
{
	return is_holder(&l->info) ? HOLDER_UDEV_FLAGS : 0;
}

/* A vstorage table line with its child (second word) replaced. */
static char *replace_child(const char *params, const char *dev)
{
	size_t first = strcspn(params, " ");
	const char *rest = params + first;

	while (*rest == ' ')
		rest++;
	rest += strcspn(rest, " ");
	return xasprintf("%.*s %s%s", (int)first, params, dev, rest);
}

/*
 * The only device above L (its holder), when that is a vstorage filter
 * whose child is L. 0, 1 when nothing holds L, -1 (printed).
 */
static int parent_filter(const char *what, const struct layer *l,
			 struct layer *p)
{
	char name[VS_DM_NAME_LEN];
	struct vs_dm_info info;
	uint32_t major, minor;
	int nr;

	nr = vs_dm_holders(l->info.major, l->info.minor, name, sizeof(name));
	if (nr < 0) {
		pr_err("%s: cannot read the holders of device '%s': %s", what,
		       l->info.name, strerror(-nr));
		return -1;
	}
	if (!nr)
		return 1;
	if (nr > 1 || vs_dm_info(name, NULL, &info) || !info.exists) {
		pr_err("%s: device '%s' is used by %s: cannot change the graph under it",
		       what, l->info.name, nr > 1 ? "more than one device" : name);
		return -1;
	}
	if (layer_get(p, &info))
		return -1;
	if (!is_vstorage_target(p->target) ||
	    vs_table_child_dev(p->params, &major, &minor) ||
	    major != l->info.major || minor != l->info.minor) {
		pr_err("%s: device '%s' is used by device '%s' (table: %s %s), not a vstorage filter over it",
		       what, l->info.name, name, p->target, p->params);
		layer_free(p);
		return -1;
	}
	return 0;
}

/* Loads P's own table with another child and resumes it. */
static int reload_parent(struct layer *p, const char *child, char *err)
{
	char *params = replace_child(p->params, child);
	int ret;

	ret = vs_dm_load(p->info.name, p->dev, p->target, params, p->sectors,
			 p->info.read_only, err, ERR_LEN);
	free(params);
	return ret;
}

struct insert {
	struct vs_add_job job;
	char *file_path;		/* ctx.file_path as node add resolved it */
};

static char *insert_pass(const char *holder_dev, void *arg)
{
	struct insert *ins = arg;
	struct vs_add_ctx *ctx = &ins->job.ctx;

	free(ctx->file_path);
	ctx->file_path = xstrdup(holder_dev);
	return ctx->drv->params(ctx);
}

/* The filter goes on a device of its own over NAME's, under parent P. */
static int insert_below(struct insert *ins, const char *name,
			const struct vs_node_stack *st, struct layer *node,
			struct layer *p)
{
	struct vs_add_ctx *ctx = &ins->job.ctx;
	char dm_name[VS_DM_NAME_LEN + 64], uuid[VS_DM_UUID_LEN];
	char err[ERR_LEN], child[32];
	struct vs_dm_info made;
	struct vs_dm_spec spec;
	sigset_t old;
	char *params;
	int ret = -1;

	snprintf(dm_name, sizeof(dm_name), "%s-%s", st->top.name,
		 ctx->node_name);
	if (strlen(dm_name) >= VS_DM_NAME_LEN) {
		pr_err("insert-filter: device name '%s' would be longer than 127 characters",
		       dm_name);
		return -1;
	}
	snprintf(uuid, sizeof(uuid), VS_DM_UUID_HOLDER_PREFIX "%s",
		 ctx->node_name);
	free(ctx->file_path);
	ctx->file_path = xstrdup(node->dev);
	params = ctx->drv->params(ctx);
	spec = (struct vs_dm_spec) {
		.name = dm_name,
		.uuid = uuid,
		.target = ctx->drv->target,
		.params = params,
		.sectors = ctx->length / 512,
		.read_only = ctx->read_only,
		.udev_flags = HOLDER_UDEV_FLAGS,
	};
	block_term_signals(&old);
	if (vs_dm_create(&spec, &made, err, sizeof(err))) {
		pr_err("cannot insert filter '%s' under node '%s': %s",
		       ctx->node_name, name, err);
		goto out;
	}
	snprintf(child, sizeof(child), "%u:%u", made.major, made.minor);
	if (vs_dm_suspend(p->info.name, err, sizeof(err))) {
		pr_err("cannot insert filter '%s': suspending '%s': %s",
		       ctx->node_name, p->info.name, err);
		vs_dm_remove(dm_name);
		goto out;
	}
	if (reload_parent(p, child, err) ||
	    vs_dm_resume(p->info.name, p->dev, p->target, udev_flags(p), err,
			 sizeof(err))) {
		char again[ERR_LEN];

		pr_err("cannot insert filter '%s': reloading '%s' over it: %s",
		       ctx->node_name, p->info.name, err);
		/* P's old instance was never superseded: it serves again */
		if (vs_dm_resume(p->info.name, p->dev, p->target,
				 udev_flags(p), again, sizeof(again)))
			pr_err("and device '%s' stays suspended: %s",
			       p->info.name, again);
		else
			vs_dm_remove(dm_name);
		goto out;
	}
	ret = 0;
out:
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(params);
	return ret;
}

/* VSTORAGECTL_FAULT_MOVE=STEP: that step fails (tests of the undo). */
static bool injected(const char *step, char *err)
{
	const char *f = getenv("VSTORAGECTL_FAULT_MOVE");

	if (!f || strcmp(f, step))
		return false;
	snprintf(err, ERR_LEN, "injected fault at step '%s'", step);
	return true;
}

/* Suspends L's device, loads PARAMS with mode RO and resumes it. */
static int layer_reload(struct layer *l, const char *params, bool ro,
			char *err)
{
	return vs_dm_suspend(l->info.name, err, ERR_LEN) ||
	       vs_dm_load(l->info.name, l->dev, l->target, params, l->sectors,
			  ro, err, ERR_LEN) ||
	       vs_dm_resume(l->info.name, l->dev, l->target, udev_flags(l),
			    err, ERR_LEN);
}

/*
 * node snapshot of a node N under filter P (node_snapshot.c has the rest):
 *
 *   1. suspend P          its I/O to N completes; a throttle releases
 *   2. reload N's device  N's table plus read-only: N commits on the
 *                         suspend, the read-only instance takes it over
 *   3. create D-NEW       the overlay node over N's device
 *   4. reload P           over D-NEW instead of N's device; resume
 *
 * P's suspend orders the switch as D's does on the disk's own device. A
 * failure is undone (N read-write again, D-NEW removed, P over N).
 */
int vs_snapshot_under_filter(const struct vs_snap_req *r)
{
	struct layer node = { 0 }, p = { 0 };
	char dm_name[VS_DM_NAME_LEN + VSTORAGE_NODE_NAME_MAX + 2];
	char uuid[VS_DM_UUID_LEN], err[ERR_LEN] = "", undo[ERR_LEN] = "";
	char again[ERR_LEN], child[32], *ro_params = NULL, *params = NULL;
	struct vs_dm_info made, info;
	struct vs_dm_spec spec;
	struct vs_table t;
	sigset_t old;
	int ret = EXIT_ERR, rc;

	if (layer_get(&node, &r->st->holder))
		return EXIT_ERR;
	rc = parent_filter("snapshot", &node, &p);
	if (rc) {
		if (rc > 0)
			pr_err("node '%s': nothing holds its device '%s'",
			       r->name, node.info.name);
		goto free;
	}
	snprintf(dm_name, sizeof(dm_name), "%s-%s", r->st->top.name,
		 r->new_name);
	if (strlen(dm_name) >= VS_DM_NAME_LEN) {
		pr_err("snapshot: device name '%s' would be longer than 127 characters",
		       dm_name);
		goto free;
	}
	if (!vs_dm_info(dm_name, NULL, &info) && info.exists) {
		pr_err("snapshot: a device-mapper device named '%s' already exists",
		       dm_name);
		goto free;
	}
	if (vs_table_split(node.params, &t) || t.nr + 1 > VS_TABLE_MAX_WORDS) {
		vs_table_free(&t);
		pr_err("node '%s': table of device '%s' has too many words",
		       r->name, node.info.name);
		goto free;
	}
	vs_table_set_read_only(&t, true);
	ro_params = vs_table_join(&t);
	vs_table_free(&t);
	snprintf(uuid, sizeof(uuid), VS_DM_UUID_HOLDER_PREFIX "%s",
		 r->new_name);
	params = r->make_table(node.dev, r->arg);
	spec = (struct vs_dm_spec) {
		.name = dm_name,
		.uuid = uuid,
		.target = r->target,
		.params = params,
		.sectors = p.sectors,
		.read_only = p.info.read_only,
		.udev_flags = HOLDER_UDEV_FLAGS,
	};

	block_term_signals(&old);
	if (injected("suspend", err) ||
	    vs_dm_suspend(p.info.name, err, sizeof(err)))
		goto out;		/* nothing changed */
	if (injected("reload", err) ||
	    layer_reload(&node, ro_params, true, err))
		goto undo_node;
	if (injected("create", err) ||
	    vs_dm_create(&spec, &made, err, sizeof(err)))
		goto undo_node;
	snprintf(child, sizeof(child), "%u:%u", made.major, made.minor);
	if (injected("load", err) || reload_parent(&p, child, err) ||
	    vs_dm_resume(p.info.name, p.dev, p.target, udev_flags(&p), err,
			 sizeof(err))) {
		/*
		 * N read-write again before P, whose old instance was never
		 * superseded, serves over it again: a write P passed down to
		 * the read-only instance would fail.
		 */
		rc = vs_dm_remove(dm_name);
		if (rc)
			snprintf(undo, sizeof(undo), "removing '%s': %s",
				 dm_name, rc == -EIO ? vs_dm_last_error() :
				 strerror(-rc));
		goto undo_node;
	}
	ret = EXIT_OK;
	goto out;

undo_node:
	/* N read-write again, then P serves over it whatever happened */
	rc = layer_reload(&node, node.params, node.info.read_only, again);
	if (rc && !undo[0])
		snprintf(undo, sizeof(undo), "%s", again);
	if (vs_dm_resume(p.info.name, p.dev, p.target, udev_flags(&p),
			 again, sizeof(again)) && !undo[0])
		snprintf(undo, sizeof(undo), "%s", again);
out:
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (ret != EXIT_OK) {
		if (undo[0])
			pr_err("cannot %s: %s; undoing it failed too: %s",
			       r->what, err, undo);
		else
			pr_err("cannot %s: %s", r->what, err);
	}
free:
	free(ro_params);
	free(params);
	layer_free(&node);
	layer_free(&p);
	return ret;
}

int vs_node_insert_filter(const char *name, int argc, char **argv)
{
	struct insert ins;
	struct layer node = { 0 }, parent = { 0 };
	struct vs_node_stack st;
	const struct vs_driver *drv;
	struct vs_node n;
	char **args, holder[VS_DM_NAME_LEN + 64], *what = NULL;
	int i, ret = EXIT_ERR;

	drv = vs_driver_find(argv[0]);
	if (drv && !drv->filter) {
		pr_err("insert-filter: driver '%s' is not a filter (filters: throttle, copy-on-read)",
		       argv[0]);
		return EXIT_ERR;
	}
	for (i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "file=", 5)) {
			pr_err("insert-filter: the filter's file is node '%s': no file= here",
			       name);
			return EXIT_ERR;
		}
	}
	args = xcalloc(argc + 1, sizeof(*args));
	memcpy(args, argv, argc * sizeof(*args));
	args[argc] = xasprintf("file=%s", name);
	if (vs_add_prepare(&ins.job, argc + 1, args))
		goto out;

	if (vs_node_fetch(name, &n))
		goto out;
	i = vs_node_stack(&n, &st);
	vs_node_free(&n);
	if (i) {
		pr_err("node '%s': no device-mapper device has its device number",
		       name);
		goto out;
	}
	if (!is_holder(&st.holder)) {
		/* NAME is on the user-visible device: it moves down */
		snprintf(holder, sizeof(holder), "%s-%s", st.top.name, name);
		if (strlen(holder) >= VS_DM_NAME_LEN) {
			pr_err("insert-filter: device name '%s' would be longer than 127 characters",
			       holder);
			goto out;
		}
		what = xasprintf("insert filter '%s' over node '%s'",
				 ins.job.ctx.node_name, name);
		ret = vs_node_move(&(struct vs_move_req){
			.name = name,
			.dm_name = holder,
			.pass_target = drv->target,
			.make_pass = insert_pass,
			.arg = &ins,
			.what = what,
		});
		goto out;
	}
	if (layer_get(&node, &st.holder))
		goto out;
	if (parent_filter("insert-filter", &node, &parent))
		goto out;
	ret = insert_below(&ins, name, &st, &node, &parent) ? EXIT_ERR :
							      EXIT_OK;
out:
	layer_free(&node);
	layer_free(&parent);
	vs_add_job_free(&ins.job);
	free(args[argc]);
	free(args);
	free(what);
	return ret;
}

/*
 * Filter F's device X is under parent P: X becomes a pass-through to the
 * device below (child), P goes over child, X goes away.
 */
static int remove_between(const char *filter, struct layer *x,
			  struct layer *child, struct layer *p)
{
	char err[ERR_LEN], linear[64];
	sigset_t old;
	int ret = -1;

	snprintf(linear, sizeof(linear), "%s 0", child->dev);
	block_term_signals(&old);
	if (vs_dm_load(x->info.name, x->dev, "linear", linear, x->sectors,
		       x->info.read_only, err, sizeof(err)) ||
	    vs_dm_suspend(x->info.name, err, sizeof(err)) ||
	    vs_dm_resume(x->info.name, x->dev, "linear", HOLDER_UDEV_FLAGS,
			 err, sizeof(err))) {
		pr_err("cannot remove filter '%s': replacing it on device '%s': %s",
		       filter, x->info.name, err);
		/* a failed resume keeps the filter's table live */
		vs_dm_resume(x->info.name, x->dev, x->target,
			     HOLDER_UDEV_FLAGS, err, sizeof(err));
		goto out;
	}
	if (vs_dm_suspend(p->info.name, err, sizeof(err))) {
		pr_err("filter '%s' is gone, but device '%s' still passes through '%s': suspending '%s': %s",
		       filter, x->info.name, x->info.name, p->info.name, err);
		goto out;
	}
	if (reload_parent(p, child->dev, err) ||
	    vs_dm_resume(p->info.name, p->dev, p->target, udev_flags(p), err,
			 sizeof(err))) {
		pr_err("filter '%s' is gone, but device '%s' still passes through '%s': %s",
		       filter, p->info.name, x->info.name, err);
		vs_dm_resume(p->info.name, p->dev, p->target, udev_flags(p),
			     err, sizeof(err));
		goto out;
	}
	ret = vs_dm_remove(x->info.name);
	if (ret) {
		pr_err("filter '%s' is gone, but its device '%s' could not be removed (%s): remove it with dmsetup remove",
		       filter, x->info.name,
		       ret == -EIO ? vs_dm_last_error() : strerror(-ret));
		ret = -1;
	}
out:
	sigprocmask(SIG_SETMASK, &old, NULL);
	return ret;
}

int vs_node_remove_filter(const char *name)
{
	struct layer x = { 0 }, child = { 0 }, parent = { 0 };
	const struct vs_driver *drv;
	struct vs_node_stack st;
	struct vs_dm_info info;
	uint32_t major, minor;
	char below[VS_DM_NAME_LEN], *what = NULL;
	struct vs_node n;
	int ret = EXIT_ERR;

	if (vs_node_fetch(name, &n))
		return EXIT_ERR;
	drv = vs_driver_find(n.driver);
	if (!drv || !drv->filter) {
		pr_err("node '%s' is a %s node, not a filter", name, n.driver);
		vs_node_free(&n);
		return EXIT_ERR;
	}
	if (vs_node_stack(&n, &st)) {
		vs_node_free(&n);
		pr_err("node '%s': no device-mapper device has its device number",
		       name);
		return EXIT_ERR;
	}
	vs_node_free(&n);
	if (layer_get(&x, &st.holder))
		goto out;
	if (vs_table_child_dev(x.params, &major, &minor) ||
	    vs_dm_info_dev(major, minor, &info) || !info.exists) {
		pr_err("filter '%s': its child is not a device-mapper device (table: %s %s)",
		       name, x.target, x.params);
		goto out;
	}
	if (layer_get(&child, &info))
		goto out;
	snprintf(below, sizeof(below), "%.*s",
		 (int)strcspn(child.params, " "), child.params);
	if (!is_holder(&child.info) || !is_vstorage_target(child.target)) {
		pr_err("filter '%s' stands on device '%s', which insert-filter did not make: delete it with node del %s",
		       name, child.info.name, name);
		goto out;
	}
	if (!is_holder(&x.info)) {
		/* on the user-visible device: the node below comes back up */
		what = xasprintf("remove filter '%s'", name);
		ret = vs_node_move(&(struct vs_move_req){
			.name = below,
			.dm_name = x.info.name,
			.filter = name,
			.what = what,
		});
		goto out;
	}
	if (parent_filter("remove-filter", &x, &parent))
		goto out;
	ret = remove_between(name, &x, &child, &parent) ? EXIT_ERR : EXIT_OK;
out:
	layer_free(&x);
	layer_free(&child);
	layer_free(&parent);
	free(what);
	return ret;
}

size_t vs_stack_hidden(const char *top, char names[][VS_DM_NAME_LEN],
		       size_t max)
{
	char name[VS_DM_NAME_LEN], err[ERR_LEN], *target, *params;
	struct vs_dm_info info;
	uint32_t major, minor;
	size_t nr = 0;
	int ret;

	snprintf(name, sizeof(name), "%s", top);
	while (nr < max) {
		if (vs_dm_get_table(name, &target, &params, err, sizeof(err)))
			break;
		if (!strcmp(target, "linear"))
			ret = sscanf(params, "%" SCNu32 ":%" SCNu32, &major,
				     &minor) == 2 ? 0 : -1;
		else if (is_vstorage_target(target))
			/* a snapshot overlay's child is its backing device */
			ret = vs_table_child_dev(params, &major, &minor) &&
			      vs_table_backing_dev(params, &major, &minor);
		else
			ret = -1;
		free(target);
		free(params);
		if (ret || vs_dm_info_dev(major, minor, &info) ||
		    !info.exists || !is_holder(&info))
			break;
		snprintf(names[nr++], VS_DM_NAME_LEN, "%s", info.name);
		snprintf(name, sizeof(name), "%s", info.name);
	}
	return nr;
}

/* The filters block jobs insert are theirs only. */
static int check_driver_public(const char *name)
{
	const struct vs_driver *drv = vs_driver_find(name);

	if (drv && drv->internal) {
		pr_err("driver '%s' is inserted by block jobs only (see vstoragectl job help)",
		       name);
		return -1;
	}
	return 0;
}

int cmd_node_insert_filter(int argc, char **argv)
{
	if (argc < 1)
		return usage_err("node help", "node insert-filter: missing NAME");
	if (argc < 2)
		return usage_err("node help", "node insert-filter: missing DRIVER");
	if (check_name_arg(argv[0]) || check_driver_public(argv[1]))
		return EXIT_ERR;
	return vs_node_insert_filter(argv[0], argc - 1, argv + 1);
}

int cmd_node_remove_filter(int argc, char **argv)
{
	if (argc != 1)
		return usage_err("node help", argc ?
				 "node remove-filter: unexpected argument '%s'" :
				 "node remove-filter: missing NAME%s",
				 argc ? argv[1] : "");
	if (check_name_arg(argv[0]) || vs_job_check_free(argv[0]))
		return EXIT_ERR;
	return vs_node_remove_filter(argv[0]);
}
