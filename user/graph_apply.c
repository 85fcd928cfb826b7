// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl graph apply FILE|DIR`: builds the devices and throttle
 * groups that a `graph show -j` document describes (DIR: every *.json in
 * it, in name order), as the commands a user would run:
 *
 *   throttle-group add G ...          for each group
 *   node add DRIVER node-name=N ...   for the node a device is named after
 *                                     (and first, for a node on another
 *                                     node's device, that device)
 *   node insert-filter ...            for each filter above it, bottom-up
 *
 * Everything is checked before anything is built: the JSON, every driver,
 * node name, option and image, names described twice, references to
 * nodes that are neither described nor live, cycles. A group or device
 * that exists already is left alone when it is the same (compared with
 * what graph show -j says of it now), and is an error when it differs. A
 * failure half-way takes down what this command built, and the error
 * names the object.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bucket.h"
#include "cmds.h"
#include "driver.h"
#include "jsonparse.h"
#include "output.h"
#include "parse.h"
#include "util.h"

#define MAX_NAMES	256
#define MAX_ARGS	64

struct apply {
	const struct jv *doc;
	const struct jv *now;		/* graph show -j of the live system */
	/* node objects described in the document, by name */
	const char *names[MAX_NAMES];
	const struct jv *objs[MAX_NAMES];
	/* the device it belongs to: named like it, or with it in the chain */
	const char *dev_of[MAX_NAMES];
	const struct jv *top_of[MAX_NAMES];
	size_t nr_names;
	/* automatic backing nodes, and the device whose node add makes them */
	const char *autos[MAX_NAMES];
	const char *auto_dev[MAX_NAMES];
	const struct jv *auto_top[MAX_NAMES];
	size_t nr_autos;
	/* built by this command, to take down on a failure */
	char *made_groups[MAX_NAMES];
	size_t nr_made_groups;
	char *made_devices[MAX_NAMES];
	size_t nr_made_devices;
	/* devices of the document built (or found) already */
	const char *done[MAX_NAMES];
	size_t nr_done;
	const char *building[MAX_NAMES];	/* build_device()s under way */
	size_t nr_building;
	const char *file;
};

static bool is_node_obj(const struct jv *v)
{
	return v && v->type == JV_OBJECT && jv_str(v, "node-name");
}

static bool is_image_obj(const struct jv *v)
{
	const char *d = jv_str(v, "driver");

	return v && v->type == JV_OBJECT && !jv_get(v, "node-name") && d &&
	       (!strcmp(d, "file") || !strcmp(d, "host_device"));
}

static const struct jv *described(const struct apply *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nr_names; i++)
		if (!strcmp(a->names[i], name))
			return a->objs[i];
	return NULL;
}

/* The automatic node NAME of the document: index, or -1. */
static int auto_node(const struct apply *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->nr_autos; i++)
		if (!strcmp(a->autos[i], name))
			return (int)i;
	return -1;
}

/* A live node of that name (graph show's devices, nested or not). */
static bool live_in(const struct jv *n, const char *name, int depth)
{
	const char *keys[] = { "file", "backing" };
	size_t i;

	if (!is_node_obj(n) || depth > 64)
		return false;
	if (!strcmp(jv_str(n, "node-name"), name))
		return true;
	for (i = 0; i < 2; i++)
		if (live_in(jv_get(n, keys[i]), name, depth + 1))
			return true;
	return false;
}

static bool node_is_live(const struct apply *a, const char *name)
{
	const struct jv *devs = jv_get(a->now, "devices");
	size_t i;

	for (i = 0; devs && i < devs->nr; i++)
		if (live_in(jv_get(devs->items[i], "node"), name, 0))
			return true;
	return false;
}

/* ---- checking ---------------------------------------------------------- */

static int check_node(struct apply *a, const struct jv *n, const char *dev,
		      const struct jv *top, const char **stack, int depth);

/*
 * A child: a node object, a node's name, or (file only) an image. A node
 * object is in the device DEV (top TOP) of its parent when that is above
 * the node named like the device; else it has a device of its own.
 */
static int check_child(struct apply *a, const struct jv *c, const char *role,
		       const char *owner, const char *dev,
		       const struct jv *top, const char **stack, int depth)
{
	struct stat st;
	const char *f;
	int i;

	if (!c)
		return 0;
	if (c->type == JV_NULL && !strcmp(role, "backing"))
		return 0;
	if (c->type == JV_STRING) {
		for (i = 0; i < depth; i++) {
			if (!strcmp(stack[i], c->s)) {
				pr_err("%s: node '%s': %s '%s' is a cycle",
				       a->file, owner, role, c->s);
				return -1;
			}
		}
		if (!described(a, c->s) && auto_node(a, c->s) < 0 &&
		    !node_is_live(a, c->s)) {
			pr_err("%s: node '%s': %s '%s' is neither described nor a live node",
			       a->file, owner, role, c->s);
			return -1;
		}
		return 0;
	}
	if (is_image_obj(c)) {
		if (strcmp(role, "file")) {
			pr_err("%s: node '%s': %s must be a node", a->file,
			       owner, role);
			return -1;
		}
		f = jv_str(c, "filename");
		if (!f) {
			pr_err("%s: node '%s': the image has no filename",
			       a->file, owner);
			return -1;
		}
		if (stat(f, &st)) {
			pr_err("%s: node '%s': image %s: %s", a->file, owner, f,
			       strerror(errno));
			return -1;
		}
		return 0;
	}
	if (!is_node_obj(c)) {
		pr_err("%s: node '%s': %s is neither a node nor an image",
		       a->file, owner, role);
		return -1;
	}
	/* an automatic node comes with its overlay's device */
	if ((!strcmp(role, "file") && strcmp(owner, dev)) ||
	    jv_get(c, "x-vstorage-auto"))
		return check_node(a, c, dev, top, stack, depth);
	return check_node(a, c, jv_str(c, "node-name"), c, stack, depth);
}

static int check_node(struct apply *a, const struct jv *n, const char *dev,
		      const struct jv *top, const char **stack, int depth)
{
	const char *where = dev;
	const char *name = jv_str(n, "node-name");
	const char *driver = jv_str(n, "driver");
	const struct vs_driver *drv;
	const char *why;
	size_t i;

	if (depth >= MAX_NAMES / 4) {
		pr_err("%s: %s: nodes nested too deep", a->file, where);
		return -1;
	}
	if (check_node_name(name, &why)) {
		pr_err("%s: %s: invalid node-name '%s': %s", a->file, where,
		       name, why);
		return -1;
	}
	for (i = 0; i < (size_t)depth; i++) {
		if (!strcmp(stack[i], name)) {
			pr_err("%s: node '%s' is its own child (a cycle)",
			       a->file, name);
			return -1;
		}
	}
	drv = driver ? vs_driver_find(driver) : NULL;
	if (!drv) {
		pr_err("%s: node '%s': unknown driver '%s'", a->file, name,
		       driver ? driver : "(none)");
		return -1;
	}
	if (jv_get(n, "x-vstorage-auto")) {
		/* node add makes it again from the image */
		if (auto_node(a, name) < 0 && a->nr_autos < MAX_NAMES) {
			a->autos[a->nr_autos] = name;
			a->auto_dev[a->nr_autos] = dev;
			a->auto_top[a->nr_autos++] = top;
		}
		goto children;
	}
	if (described(a, name)) {
		pr_err("%s: node '%s' is described twice", a->file, name);
		return -1;
	}
	if (a->nr_names == MAX_NAMES) {
		pr_err("%s: more than %d nodes", a->file, MAX_NAMES);
		return -1;
	}
	a->names[a->nr_names] = name;
	a->dev_of[a->nr_names] = dev;
	a->top_of[a->nr_names] = top;
	a->objs[a->nr_names++] = n;
children:
	stack[depth] = name;
	if (!jv_get(n, "file")) {
		pr_err("%s: node '%s' has no file", a->file, name);
		return -1;
	}
	if (check_child(a, jv_get(n, "file"), "file", name, dev, top, stack,
			depth + 1) ||
	    check_child(a, jv_get(n, "backing"), "backing", name, dev, top,
			stack, depth + 1))
		return -1;
	return 0;
}

static int check_group(struct apply *a, const struct jv *g)
{
	const struct jv *limits = jv_get(g, "limits");
	const char *id = jv_str(g, "id"), *why, *error = NULL;
	struct vs_thr_limits l = { 0 };
	unsigned int i;
	size_t k;

	if (!id || check_node_name(id, &why)) {
		pr_err("%s: throttle group: invalid or missing id", a->file);
		return -1;
	}
	for (k = 0; limits && k < limits->nr; k++) {
		for (i = 0; i < VS_THR_NR_LIMITS; i++)
			if (!strcmp(limits->keys[k], vs_thr_limit_name(i)))
				break;
		if (i == VS_THR_NR_LIMITS ||
		    limits->items[k]->type != JV_NUMBER) {
			pr_err("%s: throttle group '%s': bad limit '%s'",
			       a->file, id, limits->keys[k]);
			return -1;
		}
		vs_thr_limit_set(&l, i, limits->items[k]->u);
	}
	if (vs_thr_limits_check(&l, &error)) {
		pr_err("%s: throttle group '%s': %s", a->file, id, error);
		return -1;
	}
	return 0;
}

/* ---- the live graph, and comparing ------------------------------------- */

/* graph show -j, run in a child so that its output can be read back. */
static struct jv *graph_now(void)
{
	char buf[65536], err[256], *text = NULL;
	size_t len = 0;
	ssize_t n;
	int fds[2], status;
	struct jv *v;
	pid_t pid;

	fflush(stdout);
	if (pipe(fds))
		return NULL;
	pid = fork();
	if (pid < 0)
		return NULL;
	if (!pid) {
		close(fds[0]);
		dup2(fds[1], STDOUT_FILENO);
		output_init(true, false);
		_exit(cmd_graph(1, (char *[]){ "show", NULL }) ? 1 :
		      (output_fini(), fflush(stdout) ? 1 : 0));
	}
	close(fds[1]);
	while ((n = read(fds[0], buf, sizeof(buf))) > 0) {
		text = xrealloc(text, len + n + 1);
		memcpy(text + len, buf, n);
		len += n;
	}
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (!text || !WIFEXITED(status) || WEXITSTATUS(status)) {
		free(text);
		return NULL;
	}
	text[len] = '\0';
	v = jv_parse(text, err, sizeof(err));
	free(text);
	return v;
}

static bool jv_equal(const struct jv *x, const struct jv *y)
{
	size_t i;

	if (x->type != y->type)
		return false;
	switch (x->type) {
	case JV_NULL:
		return true;
	case JV_BOOL:
		return x->b == y->b;
	case JV_NUMBER:
		return x->u == y->u;
	case JV_STRING:
		return !strcmp(x->s, y->s);
	case JV_ARRAY:
		if (x->nr != y->nr)
			return false;
		for (i = 0; i < x->nr; i++)
			if (!jv_equal(x->items[i], y->items[i]))
				return false;
		return true;
	case JV_OBJECT:
		if (x->nr != y->nr)
			return false;
		for (i = 0; i < x->nr; i++) {
			const struct jv *o = jv_get(y, x->keys[i]);

			if (!o || !jv_equal(x->items[i], o))
				return false;
		}
		return true;
	}
	return false;
}

static const struct jv *find_by(const struct jv *arr, const char *key,
				const char *value)
{
	size_t i;

	for (i = 0; arr && i < arr->nr; i++) {
		const char *s = jv_str(arr->items[i], key);

		if (s && !strcmp(s, value))
			return arr->items[i];
	}
	return NULL;
}

/* ---- building ---------------------------------------------------------- */

struct args {
	char *v[MAX_ARGS];
	int n;
};

__attribute__((format(printf, 2, 3)))
static void arg(struct args *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (a->n == MAX_ARGS)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s) {
		fputs("Error: out of memory\n", stderr);
		exit(EXIT_ERR);
	}
	a->v[a->n++] = s;
}

static void args_free(struct args *a)
{
	while (a->n)
		free(a->v[--a->n]);
}

/* Runs a command with its errors prefixed "FILE: WHAT 'NAME'". */
static int with_context(struct apply *a, const char *what, const char *name,
			int (*cmd)(int argc, char **argv), int argc,
			char **argv)
{
	char *ctx = xasprintf("%s: %s '%s'", a->file, what, name);
	int ret;

	pr_err_context = ctx;
	ret = cmd(argc, argv);
	pr_err_context = NULL;
	free(ctx);
	return ret;
}

/* A node object's options as node add properties (not its children). */
static void node_props(struct args *a, const struct jv *n)
{
	const struct jv *cache = jv_get(n, "cache");
	const struct jv *file = jv_get(n, "file");
	size_t i;

	for (i = 0; i < n->nr; i++) {
		const char *k = n->keys[i];
		const struct jv *v = n->items[i];

		if (!strcmp(k, "driver") || !strcmp(k, "file") ||
		    !strcmp(k, "backing") || !strcmp(k, "cache") ||
		    !strncmp(k, "x-", 2))
			continue;
		if (v->type == JV_BOOL)
			arg(a, "%s=%s", k, v->b ? "on" : "off");
		else if (v->type == JV_NUMBER)
			arg(a, "%s=%" PRIu64, k, v->u);
		else if (v->type == JV_STRING)
			arg(a, "%s=%s", k, v->s);
	}
	for (i = 0; cache && cache->type == JV_OBJECT && i < cache->nr; i++)
		if (cache->items[i]->type == JV_BOOL)
			arg(a, "cache.%s=%s", cache->keys[i],
			    cache->items[i]->b ? "on" : "off");
	if (is_image_obj(file) && jv_str(file, "locking"))
		arg(a, "locking=%s", jv_str(file, "locking"));
}

static int build_device(struct apply *a, const char *dm_name,
			const struct jv *top);

/*
 * What a child needs built first: a node object its own device; a name
 * of a described node that device, of an automatic node the device whose
 * node add makes it. A live node, an image, none: nothing.
 */
static int build_ref(struct apply *a, const struct jv *c)
{
	int i;

	if (!c)
		return 0;
	if (is_node_obj(c))
		return jv_get(c, "x-vstorage-auto") ? 0 :
		       build_device(a, jv_str(c, "node-name"), c);
	if (c->type != JV_STRING)
		return 0;
	for (i = 0; i < (int)a->nr_names; i++)
		if (!strcmp(a->names[i], c->s))
			return build_device(a, a->dev_of[i], a->top_of[i]);
	i = auto_node(a, c->s);
	if (i >= 0)
		return build_device(a, a->auto_dev[i], a->auto_top[i]);
	return 0;
}

/* A node that has a device of its own, named after it (node add). */
static int build_node(struct apply *a, const struct jv *n)
{
	const char *name = jv_str(n, "node-name");
	const struct jv *file = jv_get(n, "file");
	const struct jv *backing = jv_get(n, "backing");
	struct args args = { 0 };
	int ret;

	if (build_ref(a, file) || build_ref(a, backing))
		return -1;

	arg(&args, "%s", jv_str(n, "driver"));
	node_props(&args, n);
	if (is_image_obj(file))
		arg(&args, "file=%s", jv_str(file, "filename"));
	else
		arg(&args, "file=%s", file->type == JV_STRING ? file->s :
				      jv_str(file, "node-name"));
	if (backing && backing->type == JV_NULL)
		arg(&args, "backing=none");
	else if (backing && backing->type == JV_STRING)
		arg(&args, "backing=%s", backing->s);
	else if (is_node_obj(backing) && !jv_get(backing, "x-vstorage-auto"))
		arg(&args, "backing=%s", jv_str(backing, "node-name"));
	ret = with_context(a, "node", name, cmd_node_add, args.n, args.v);
	args_free(&args);
	if (ret)
		return -1;
	a->made_devices[a->nr_made_devices++] = xstrdup(name);
	printf("built node %s\n", name);
	return 0;
}

static bool done(struct apply *a, const char *dm_name)
{
	size_t i;

	for (i = 0; i < a->nr_done; i++)
		if (!strcmp(a->done[i], dm_name))
			return true;
	return false;
}

/*
 * Device DM_NAME with TOP over it: the node named like the device is
 * built with node add, then the filters above it are inserted bottom-up.
 */
static int build_device(struct apply *a, const char *dm_name,
			const struct jv *top)
{
	const struct jv *chain[MAX_NAMES / 4], *cur, *now_dev;
	struct args args = { 0 };
	int nr = 0, i, base = -1;

	if (done(a, dm_name))
		return 0;
	for (i = 0; i < (int)a->nr_building; i++) {
		if (!strcmp(a->building[i], dm_name)) {
			pr_err("%s: device '%s' needs itself (a cycle)", a->file,
			       dm_name);
			return -1;
		}
	}
	if (a->nr_building == MAX_NAMES) {
		pr_err("%s: devices nested too deep", a->file);
		return -1;
	}
	now_dev = find_by(jv_get(a->now, "devices"), "dm-name", dm_name);
	if (now_dev) {
		if (!jv_equal(jv_get(now_dev, "node"), top)) {
			pr_err("%s: device '%s' exists and is not what the file describes",
			       a->file, dm_name);
			return -1;
		}
		a->done[a->nr_done++] = dm_name;
		return 0;
	}
	if (node_is_live(a, jv_str(top, "node-name"))) {
		pr_err("%s: device '%s': node '%s' exists on another device",
		       a->file, dm_name, jv_str(top, "node-name"));
		return -1;
	}
	for (cur = top; is_node_obj(cur) && nr < MAX_NAMES / 4;
	     cur = jv_get(cur, "file")) {
		chain[nr] = cur;
		if (!strcmp(jv_str(cur, "node-name"), dm_name)) {
			base = nr;
			break;
		}
		nr++;
	}
	if (base < 0) {
		pr_err("%s: device '%s': no node of its chain is named like it (vstoragectl names a disk's device after its node)",
		       a->file, dm_name);
		return -1;
	}
	for (i = 0; i < base; i++) {
		const struct vs_driver *drv =
			vs_driver_find(jv_str(chain[i], "driver"));

		if (!drv->filter) {
			pr_err("%s: device '%s': node '%s' (%s) above '%s' is not a filter",
			       a->file, dm_name, jv_str(chain[i], "node-name"),
			       drv->name, dm_name);
			return -1;
		}
	}
	a->building[a->nr_building++] = dm_name;
	i = build_node(a, chain[base]);
	a->nr_building--;
	if (i)
		return -1;
	a->done[a->nr_done++] = dm_name;
	for (i = base - 1; i >= 0; i--) {
		const struct jv *f = chain[i];
		struct args props = { 0 };
		int k;

		arg(&args, "%s", jv_str(chain[i + 1], "node-name"));
		arg(&args, "%s", jv_str(f, "driver"));
		node_props(&props, f);
		for (k = 0; k < props.n; k++)
			arg(&args, "%s", props.v[k]);
		args_free(&props);
		if (with_context(a, "filter", jv_str(f, "node-name"),
				 cmd_node_insert_filter, args.n, args.v)) {
			args_free(&args);
			return -1;
		}
		args_free(&args);
		printf("inserted filter %s into device %s\n",
		       jv_str(f, "node-name"), dm_name);
	}
	return 0;
}

static int build_group(struct apply *a, const struct jv *g)
{
	const struct jv *limits = jv_get(g, "limits");
	const char *id = jv_str(g, "id");
	const struct jv *have;
	struct args args = { 0 };
	size_t k;
	int ret;

	have = find_by(jv_get(a->now, "throttle-groups"), "id", id);
	if (have) {
		if (!jv_equal(have, g)) {
			pr_err("%s: throttle group '%s' exists with other limits",
			       a->file, id);
			return -1;
		}
		return 0;
	}
	arg(&args, "add");
	arg(&args, "%s", id);
	for (k = 0; limits && k < limits->nr; k++)
		arg(&args, "%s=%" PRIu64, limits->keys[k], limits->items[k]->u);
	ret = with_context(a, "throttle group", id, cmd_tgroup, args.n,
			   args.v);
	args_free(&args);
	if (ret)
		return -1;
	a->made_groups[a->nr_made_groups++] = xstrdup(id);
	printf("built throttle group %s\n", id);
	return 0;
}

static void take_down(struct apply *a)
{
	size_t i;

	for (i = a->nr_made_devices; i-- > 0;) {
		char *argv[] = { "del", a->made_devices[i], NULL };

		cmd_node(2, argv);
	}
	for (i = a->nr_made_groups; i-- > 0;) {
		char *argv[] = { "del", a->made_groups[i], NULL };

		cmd_tgroup(2, argv);
	}
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0, n;
	char buf[65536];

	if (!f) {
		pr_err("%s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (len + n > (16 << 20)) {
			pr_err("%s: larger than 16 MiB", path);
			free(text);
			fclose(f);
			return NULL;
		}
		text = xrealloc(text, len + n + 1);
		memcpy(text + len, buf, n);
		len += n;
	}
	if (ferror(f)) {
		pr_err("%s: %s", path, strerror(errno));
		free(text);
		fclose(f);
		return NULL;
	}
	fclose(f);
	if (!text)
		text = xstrdup("");
	else
		text[len] = '\0';
	return text;
}

static int apply_file(const char *path)
{
	struct apply a = { .file = path };
	const struct jv *devs, *groups;
	const char *stack[MAX_NAMES / 4];
	char err[256], *text;
	struct jv *doc;
	size_t i;
	int ret = EXIT_ERR;

	text = read_file(path);
	if (!text)
		return EXIT_ERR;
	doc = jv_parse(text, err, sizeof(err));
	free(text);
	if (!doc) {
		pr_err("%s: %s", path, err);
		return EXIT_ERR;
	}
	a.doc = doc;
	devs = jv_get(doc, "devices");
	groups = jv_get(doc, "throttle-groups");
	if (doc->type != JV_OBJECT || (devs && devs->type != JV_ARRAY) ||
	    (groups && groups->type != JV_ARRAY)) {
		pr_err("%s: expected an object with the arrays \"devices\" and \"throttle-groups\" (graph show -j)",
		       path);
		goto out;
	}
	a.now = graph_now();
	if (!a.now) {
		pr_err("%s: cannot read the live graph (graph show -j)", path);
		goto out;
	}
	for (i = 0; groups && i < groups->nr; i++)
		if (check_group(&a, groups->items[i]))
			goto out;
	for (i = 0; devs && i < devs->nr; i++) {
		const struct jv *d = devs->items[i];
		const char *dm = jv_str(d, "dm-name");

		if (!dm || !is_node_obj(jv_get(d, "node"))) {
			pr_err("%s: device %zu: needs \"dm-name\" and a \"node\" object",
			       path, i);
			goto out;
		}
		if (check_node(&a, jv_get(d, "node"), dm, jv_get(d, "node"),
			       stack, 0))
			goto out;
	}
	for (i = 0; groups && i < groups->nr; i++)
		if (build_group(&a, groups->items[i]))
			goto fail;
	for (i = 0; devs && i < devs->nr; i++)
		if (build_device(&a, jv_str(devs->items[i], "dm-name"),
				 jv_get(devs->items[i], "node")))
			goto fail;
	ret = EXIT_OK;
	goto out;
fail:
	take_down(&a);
out:
	for (i = 0; i < a.nr_made_devices; i++)
		free(a.made_devices[i]);
	for (i = 0; i < a.nr_made_groups; i++)
		free(a.made_groups[i]);
	jv_free((struct jv *)a.now);
	jv_free(doc);
	return ret;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

int vs_graph_apply(const char *path)
{
	char **files = NULL;
	struct dirent *de;
	struct stat st;
	size_t nr = 0, i;
	int ret = EXIT_OK;
	DIR *dir;

	if (stat(path, &st)) {
		pr_err("%s: %s", path, strerror(errno));
		return EXIT_ERR;
	}
	if (!S_ISDIR(st.st_mode))
		return apply_file(path);
	dir = opendir(path);
	if (!dir) {
		pr_err("%s: %s", path, strerror(errno));
		return EXIT_ERR;
	}
	while ((de = readdir(dir))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".json"))
			continue;
		files = xrealloc(files, (nr + 1) * sizeof(*files));
		files[nr++] = xasprintf("%s/%s", path, de->d_name);
	}
	closedir(dir);
	if (nr)
		qsort(files, nr, sizeof(*files), cmp_str);
	/* one file's failure does not keep the others' disks away */
	for (i = 0; i < nr; i++) {
		if (apply_file(files[i]))
			ret = EXIT_ERR;
		free(files[i]);
	}
	free(files);
	return ret;
}
