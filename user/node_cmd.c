// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl node ...`: dispatch, help, list, show, del.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netlink/msg.h>
#include <netlink/netlink.h>

#include "cmds.h"
#include "dm.h"
#include "driver.h"
#include "job.h"
#include "nl.h"
#include "node.h"
#include "output.h"
#include "parse.h"
#include "util.h"

#define DUMP_RETRIES	5

void usage_node(FILE *f)
{
	const struct vs_driver *const *d;
	const struct vs_prop_desc *p;
	char names[128];

	fprintf(f,
		"Usage: vstoragectl node add DRIVER node-name=NAME file=PATH-OR-NODE [PROPERTY=VALUE ...]\n"
		"       vstoragectl node del NAME\n"
		"       vstoragectl node resize NAME SIZE\n"
		"       vstoragectl node move NAME dm-name=DM-NAME\n"
		"       vstoragectl node insert-filter NAME DRIVER node-name=FILTER [PROPERTY=VALUE ...]\n"
		"       vstoragectl node remove-filter FILTER\n"
		"       vstoragectl node reopen NAME PROPERTY=VALUE ...\n"
		"       vstoragectl node snapshot NAME overlay=PATH [node-name=NEW]\n"
		"       vstoragectl [-j [-p]] node list\n"
		"       vstoragectl [-j [-p]] node show NAME\n"
		"       vstoragectl [-j [-p]] node map NAME [offset=BYTES] [length=BYTES]\n"
		"       vstoragectl node help\n"
		"DRIVER := { %s }\n", vs_driver_names(names, sizeof(names)));
	for (d = vs_drivers; *d; d++) {
		if ((*d)->internal)
			continue;
		fprintf(f, "%s properties:", (*d)->name);
		for (p = (*d)->props; p->name; p++)
			fprintf(f, " %s=%s", p->name, p->arg);
		fputc('\n', f);
	}
	fprintf(f, "raw and qcow2 also: cache.direct=on|off cache.no-flush=on|off cache.writeback=on|off locking=on|off\n");
	fprintf(f, "BYTES: a number with an optional suffix k, M, G, T, P or E (powers of 1024)\n");
}

/*
 * "no node named 'X'" (the kernel's message for a missing node names no
 * node), else the kernel's own words.
 */
static void node_perror(const struct vs_nl *nl, const char *name, int ret)
{
	if (ret == -ENOENT)
		pr_err("no node named '%s'", name);
	else
		vs_nl_perror(nl, "cannot get node '%s'", name);
}

int check_name_arg(const char *name)
{
	const char *why;

	if (check_node_name(name, &why)) {
		pr_err("invalid node name '%s': %s", name, why);
		return -1;
	}
	return 0;
}

struct node_vec {
	struct vs_node *v;
	size_t n;
	bool bad;
};

static void node_vec_free(struct node_vec *nv)
{
	size_t i;

	for (i = 0; i < nv->n; i++)
		vs_node_free(&nv->v[i]);
	free(nv->v);
	memset(nv, 0, sizeof(*nv));
}

static int list_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct node_vec *nv = arg;
	struct vs_node n;

	if (vs_node_parse(nlh, &n)) {
		nv->bad = true;
		return -EBADMSG;
	}
	nv->v = xrealloc(nv->v, (nv->n + 1) * sizeof(*nv->v));
	nv->v[nv->n++] = n;
	return 0;
}

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct vs_node *)a)->name,
		      ((const struct vs_node *)b)->name);
}

int vs_node_dump(struct vs_nl *nl, struct vs_node **out, size_t *nr)
{
	struct node_vec nv = { 0 };
	int tries, r;

	for (tries = 0; tries < DUMP_RETRIES; tries++) {
		struct nl_msg *msg = vs_nl_msg(nl, VSTORAGE_CMD_NODE_GET,
					       NLM_F_DUMP);

		r = vs_nl_transact(nl, msg, list_cb, &nv);
		nlmsg_free(msg);
		if (r < 0) {
			if (nv.bad && !nl->extack[0])
				pr_err("malformed node object from the kernel");
			else
				vs_nl_perror(nl, "cannot list nodes");
			node_vec_free(&nv);
			return -1;
		}
		if (!nl->dump_intr)
			break;
		/* the set of nodes changed during the dump: start over */
		node_vec_free(&nv);
	}
	if (nl->dump_intr) {
		pr_err("cannot list nodes: they keep changing, try again");
		return -1;
	}
	if (nv.n)	/* qsort(NULL, 0, ...) is undefined */
		qsort(nv.v, nv.n, sizeof(*nv.v), cmp_node);
	*out = nv.v;
	*nr = nv.n;
	return 0;
}

void vs_node_dump_free(struct vs_node *v, size_t nr)
{
	struct node_vec nv = { .v = v, .n = nr };

	node_vec_free(&nv);
}

static int node_list(void)
{
	struct node_vec nv = { 0 };
	struct vs_node_cols cols;
	struct vs_nl nl;
	size_t i;

	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	if (vs_node_dump(&nl, &nv.v, &nv.n)) {
		vs_nl_close(&nl);
		return EXIT_ERR;
	}
	vs_node_cols_init(&cols);
	for (i = 0; i < nv.n; i++) {
		vs_node_resolve_top(&nv.v[i]);
		vs_node_cols_fit(&cols, &nv.v[i]);
	}

	open_json_array(PRINT_JSON, NULL);
	if (nv.n)
		vs_node_print_header(&cols);
	for (i = 0; i < nv.n; i++)
		vs_node_print(&nv.v[i], NULL, &cols);
	close_json_array(PRINT_JSON, NULL);
	node_vec_free(&nv);
	vs_nl_close(&nl);
	return EXIT_OK;
}

/* Open the family and get node NAME; on failure, say why and close it. */
static int node_open_get(struct vs_nl *nl, const char *name, struct vs_node *n)
{
	int ret;

	if (vs_nl_open(nl, false))
		return -1;
	ret = vs_node_get(nl, name, n);
	if (ret) {
		node_perror(nl, name, ret);
		vs_nl_close(nl);
		return -1;
	}
	return 0;
}

int vs_node_fetch(const char *name, struct vs_node *n)
{
	struct vs_nl nl;

	if (node_open_get(&nl, name, n))
		return -1;
	vs_nl_close(&nl);
	return 0;
}

static int node_show(const char *name)
{
	struct vs_node n;
	struct vs_nl nl;

	if (check_name_arg(name))
		return EXIT_ERR;
	if (node_open_get(&nl, name, &n))
		return EXIT_ERR;
	vs_node_resolve_top(&n);
	vs_node_print(&n, NULL, NULL);
	vs_node_free(&n);
	vs_nl_close(&nl);
	return EXIT_OK;
}

int vs_node_stack(const struct vs_node *n, struct vs_node_stack *st)
{
	char up[VS_DM_NAME_LEN];
	struct vs_dm_info dev;
	int ret, depth;

	memset(st, 0, sizeof(*st));
	if (!n->has_dev)
		return -ENOENT;
	ret = vs_dm_info_dev(n->major, n->minor, &st->holder);
	if (ret)
		return ret;
	if (!st->holder.exists)
		return -ENOENT;
	st->top = st->holder;
	/*
	 * A device that node move or insert-filter made holds one node under
	 * exactly one device above it (a pass-through or a filter); the
	 * user-visible device is the first one up that they did not make.
	 */
	for (depth = 0; depth < VS_STACK_DEPTH_MAX; depth++) {
		if (strncmp(st->top.uuid, VS_DM_UUID_HOLDER_PREFIX,
			    sizeof(VS_DM_UUID_HOLDER_PREFIX) - 1))
			break;
		if (vs_dm_holders(st->top.major, st->top.minor, up,
				  sizeof(up)) != 1)
			break;
		if (vs_dm_info(up, NULL, &dev) || !dev.exists)
			break;
		st->top = dev;
		st->moved = true;
	}
	return 0;
}

void vs_node_resolve_top(struct vs_node *n)
{
	struct vs_node_stack st;

	if (vs_node_stack(n, &st))
		return;
	free(n->top_dm_name);
	n->top_dm_name = xstrdup(st.top.name);
	n->top_major = st.top.major;
	n->top_minor = st.top.minor;
	n->moved = st.moved;
}

void vs_node_dm_name(const struct vs_node *n, char *buf, size_t len)
{
	struct vs_node_stack st;

	if (!vs_node_stack(n, &st))
		snprintf(buf, len, "%s", st.top.name);
	else
		snprintf(buf, len, "%s", n->dm_name ? n->dm_name : n->name);
}

/*
 * The user-visible dm device of node NAME, and in holder the device with
 * its table when it was moved ("" otherwise); just NAME when there is no
 * such node (or no module), as vstoragectl names dm devices after their
 * nodes.
 */
/* Whether the node a disk is named after (its device's UUID) exists. */
static bool disk_node_exists(struct vs_nl *nl, const char *disk)
{
	struct vs_node n;

	if (vs_node_get(nl, disk, &n))
		return false;
	vs_node_free(&n);
	return true;
}

static int node_dm_name(const char *name, char *buf, size_t len,
			char *holder, size_t hlen)
{
	static const char auto_prefix[] = VS_DM_UUID_AUTO_PREFIX;
	static const char prefix[] = VSTORAGE_DM_UUID_PREFIX;
	struct vs_node_stack st;
	struct vs_node n;
	struct vs_nl nl;
	int ret;

	snprintf(buf, len, "%s", name);
	holder[0] = '\0';
	if (vs_nl_open(&nl, true))
		return 0;	/* module not loaded: no node to ask about */
	ret = vs_node_get(&nl, name, &n);
	if (!ret) {
		vs_node_dm_name(&n, buf, len);
		if (!vs_node_stack(&n, &st)) {
			if (st.moved)
				snprintf(holder, hlen, "%s", st.holder.name);
			/*
			 * a filter inside another node's disk, or a layer of
			 * it (a snapshot's overlay or backing); but a format
			 * node on the disk's own device whose disk is named
			 * after a node that is gone (an active commit's base
			 * after the pivot) is the disk now
			 */
			if ((st.moved || !vs_driver_find(n.driver) ||
			     vs_driver_find(n.driver)->filter ||
			     disk_node_exists(&nl, st.top.uuid +
					      sizeof(prefix) - 1)) &&
			    !strncmp(st.top.uuid, prefix, sizeof(prefix) - 1) &&
			    strncmp(st.top.uuid, auto_prefix,
				    sizeof(auto_prefix) - 1) &&
			    strcmp(st.top.uuid + sizeof(prefix) - 1, name)) {
				const struct vs_driver *d = vs_driver_find(n.driver);

				if (d && d->filter)
					pr_err("node '%s' is a filter in the graph of device '%s': take it out with node remove-filter %s, or delete the disk with node del %s",
					       name, st.top.name, name,
					       st.top.uuid + sizeof(prefix) - 1);
				else	/* a snapshot's overlay or backing */
					pr_err("node '%s' is a layer of disk '%s': delete the disk with node del %s",
					       name, st.top.name,
					       st.top.uuid + sizeof(prefix) - 1);
				ret = -1;
			}
		}
		vs_node_free(&n);
		if (ret) {
			vs_nl_close(&nl);
			return -1;
		}
	} else if (ret != -ENOENT) {
		node_perror(&nl, name, ret);
		vs_nl_close(&nl);
		return -1;
	}
	vs_nl_close(&nl);
	return 0;
}

#define IDLE_TRIES	10
#define IDLE_WAIT_MS	20

size_t vs_backing_chain(const char *name, struct vs_chain_link *chain,
			    size_t max)
{
	const char *cur = name, *why;
	struct vs_node n;
	struct vs_nl nl;
	size_t nr = 0;

	if (vs_nl_open(&nl, true))
		return 0;
	while (nr < max && !vs_node_get(&nl, cur, &n)) {
		const struct vs_child *c = vs_node_child(&n, "backing");
		char child[VS_DM_NAME_LEN] = "";
		struct vs_dm_info info;
		struct vs_node b;

		/* the kernel names child nodes; else ask dm by device number */
		if (c && c->node_name)
			snprintf(child, sizeof(child), "%s", c->node_name);
		else if (c && c->has_dev &&
			 !vs_dm_info_dev(c->major, c->minor, &info) && info.exists)
			snprintf(child, sizeof(child), "%s", info.name);
		vs_node_free(&n);
		if (!child[0] || check_node_name(child, &why) ||
		    vs_node_get(&nl, child, &b))
			break;
		snprintf(chain[nr].node, sizeof(chain[nr].node), "%s", b.name);
		vs_node_dm_name(&b, chain[nr].dm_name,
				sizeof(chain[nr].dm_name));
		vs_node_free(&b);
		cur = chain[nr++].node;
	}
	vs_nl_close(&nl);
	return nr;
}

int vs_remove_auto_chain(const char *name, const struct vs_chain_link *chain,
			     size_t nr)
{
	static const char prefix[] = VS_DM_UUID_AUTO_PREFIX;
	struct timespec ts = { 0, IDLE_WAIT_MS * 1000000L };
	struct vs_dm_info info;
	size_t i;
	int tries, ret;

	for (i = 0; i < nr; i++) {
		const char *dm = chain[i].dm_name;

		/* udev may still be probing it for a moment */
		for (tries = 0; tries < IDLE_TRIES; tries++) {
			if (vs_dm_info(dm, NULL, &info) || !info.exists)
				return 0;
			if (strncmp(info.uuid, prefix, sizeof(prefix) - 1) ||
			    strcmp(info.uuid + sizeof(prefix) - 1, dm))
				return 0;	/* not ours to remove */
			if (!info.open_count)
				break;
			nanosleep(&ts, NULL);
		}
		if (info.open_count)
			return 0;	/* shared with another node, or in use */
		ret = vs_dm_remove(dm);
		if (ret == -EBUSY || ret == -ENXIO || ret == -ENODEV)
			return 0;
		if (ret) {
			pr_err("node '%s' was removed, but not its backing node '%s': %s",
			       name, chain[i].node,
			       ret == -EIO ? vs_dm_last_error() : strerror(-ret));
			return -1;
		}
	}
	return 0;
}

static int node_del(const char *name)
{
	static const char prefix[] = VSTORAGE_DM_UUID_PREFIX;
	char dm_name[VS_DM_NAME_LEN], holder[VS_DM_NAME_LEN];
	char hidden[VS_STACK_DEPTH_MAX][VS_DM_NAME_LEN];
	struct vs_chain_link chain[VS_CHAIN_MAX];
	struct vs_dm_info info;
	size_t nr_chain, i, nr_hidden;
	int ret;

	if (check_name_arg(name) || vs_job_check_free(name))
		return EXIT_ERR;
	if (node_dm_name(name, dm_name, sizeof(dm_name), holder,
			 sizeof(holder)))
		return EXIT_ERR;

	ret = vs_dm_info(dm_name, NULL, &info);
	if (ret) {
		pr_err("cannot query device-mapper device '%s': %s", dm_name,
		       ret == -EIO ? vs_dm_last_error() : strerror(-ret));
		return EXIT_ERR;
	}
	if (!info.exists) {
		pr_err("no node named '%s'", name);
		return EXIT_ERR;
	}
	if (strncmp(info.uuid, prefix, sizeof(prefix) - 1)) {
		if (info.uuid[0])
			pr_err("'%s' is not a vstorage node (device-mapper UUID '%s')",
			       dm_name, info.uuid);
		else
			pr_err("'%s' is not a vstorage node (device-mapper device without UUID)",
			       dm_name);
		return EXIT_ERR;
	}

	nr_chain = vs_backing_chain(name, chain, VS_CHAIN_MAX);
	/* a job below would lose its node, or hold it and be left behind */
	for (i = 0; i < nr_chain; i++)
		if (vs_job_check_free(chain[i].node))
			return EXIT_ERR;
	nr_hidden = vs_stack_hidden(dm_name, hidden, VS_STACK_DEPTH_MAX);
	ret = vs_dm_remove(dm_name);
	if (ret == -EBUSY) {
		pr_err("node '%s' is in use", name);
		return EXIT_ERR;
	}
	if (ret == -ENXIO || ret == -ENODEV) {
		pr_err("no node named '%s'", name);
		return EXIT_ERR;
	}
	if (ret) {
		pr_err("cannot remove node '%s': %s", name,
		       ret == -EIO ? vs_dm_last_error() : strerror(-ret));
		return EXIT_ERR;
	}
	/* the devices node move and insert-filter made under it, top-down */
	for (i = 0; i < nr_hidden; i++) {
		ret = vs_dm_remove(hidden[i]);
		if (ret && ret != -ENXIO && ret != -ENODEV) {
			pr_err("node '%s': device '%s' was removed, but not '%s' under it: %s",
			       name, dm_name, hidden[i],
			       ret == -EIO ? vs_dm_last_error() : strerror(-ret));
			return EXIT_ERR;
		}
	}
	return vs_remove_auto_chain(name, chain, nr_chain) ? EXIT_ERR : EXIT_OK;
}

int vs_node_del(const char *name)
{
	return node_del(name) == EXIT_OK ? 0 : -1;
}

/*
 * node resize NAME SIZE: the target grows (or refuses) the image on the
 * message "resize <bytes>", then the table is reloaded with the new length.
 */
static int node_resize(const char *name, const char *size_arg)
{
	const char *why;
	uint64_t size;

	if (check_name_arg(name))
		return EXIT_ERR;
	if (parse_size(size_arg, &size, &why)) {
		pr_err("size '%s': %s", size_arg, why);
		return EXIT_ERR;
	}
	if (!size || size % 512) {
		pr_err("size '%s': must be a positive multiple of 512", size_arg);
		return EXIT_ERR;
	}
	return vs_node_resize(name, size);
}

int vs_node_resize(const char *name, uint64_t size)
{
	char err[1024], msg[64], dev[32];
	char *target = NULL, *params = NULL;
	struct vs_node_stack st;
	struct vs_dm_info info;
	const char *dm_name;
	struct vs_node n;
	struct vs_nl nl;
	int ret;

	if (node_open_get(&nl, name, &n))
		return EXIT_ERR;
	vs_nl_close(&nl);
	if (strcmp(n.driver, "qcow2")) {
		pr_err("node '%s': resize is only supported for qcow2 nodes (this one is %s)",
		       name, n.driver);
		vs_node_free(&n);
		return EXIT_ERR;
	}
	if (n.read_only) {
		pr_err("node '%s' is read-only: cannot resize it", name);
		vs_node_free(&n);
		return EXIT_ERR;
	}
	ret = vs_node_stack(&n, &st);
	vs_node_free(&n);
	if (ret) {
		pr_err("node '%s': no device-mapper device has its device number",
		       name);
		return EXIT_ERR;
	}
	info = st.holder;
	dm_name = info.name;
	snprintf(dev, sizeof(dev), "%u:%u", info.major, info.minor);

	snprintf(msg, sizeof(msg), "resize %" PRIu64, size);
	if (vs_dm_message(dm_name, dev, "vstorage-qcow2", name, msg, err,
			  sizeof(err))) {
		pr_err("cannot resize node '%s': %s", name, err);
		return EXIT_ERR;
	}
	if (vs_dm_get_table(dm_name, &target, &params, err, sizeof(err)) ||
	    vs_dm_reload(dm_name, dev, target, params, size / 512,
			 info.read_only, err, sizeof(err))) {
		pr_err("node '%s': the image was resized to %" PRIu64 " bytes, but the device was not: %s",
		       name, size, err);
		ret = EXIT_ERR;
		goto out;
	}
	ret = EXIT_OK;
	if (!st.moved)
		goto out;
	/* the pass-through above a moved node follows (same table, longer) */
	free(target);
	free(params);
	snprintf(dev, sizeof(dev), "%u:%u", st.top.major, st.top.minor);
	if (vs_dm_get_table(st.top.name, &target, &params, err, sizeof(err)) ||
	    vs_dm_reload(st.top.name, dev, target, params, size / 512,
			 st.top.read_only, err, sizeof(err))) {
		pr_err("node '%s' was resized to %" PRIu64 " bytes on device '%s', but its user-visible device '%s' was not: %s",
		       name, size, dm_name, st.top.name, err);
		ret = EXIT_ERR;
	}
out:
	free(target);
	free(params);
	return ret;
}

int cmd_node(int argc, char **argv)
{
	const char *cmd = argc ? argv[0] : NULL;

	if (!cmd)
		return usage_err("node help", "missing node command");
	argc--;
	argv++;
	if (!strcmp(cmd, "help")) {
		usage_node(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "add"))
		return cmd_node_add(argc, argv);
	if (!strcmp(cmd, "map"))
		return cmd_node_map(argc, argv);
	if (!strcmp(cmd, "move"))
		return cmd_node_move(argc, argv);
	if (!strcmp(cmd, "insert-filter"))
		return cmd_node_insert_filter(argc, argv);
	if (!strcmp(cmd, "remove-filter"))
		return cmd_node_remove_filter(argc, argv);
	if (!strcmp(cmd, "reopen"))
		return cmd_node_reopen(argc, argv);
	if (!strcmp(cmd, "snapshot"))
		return cmd_node_snapshot(argc, argv);
	if (!strcmp(cmd, "list")) {
		if (argc)
			return usage_err("node help", "node list: unexpected argument '%s'",
					 argv[0]);
		return node_list();
	}
	if (!strcmp(cmd, "resize")) {
		if (argc < 2)
			return usage_err("node help", "node resize: missing %s",
					 argc ? "SIZE" : "NAME");
		if (argc > 2)
			return usage_err("node help", "node resize: unexpected argument '%s'",
					 argv[2]);
		return node_resize(argv[0], argv[1]);
	}
	if (!strcmp(cmd, "show") || !strcmp(cmd, "del")) {
		if (!argc)
			return usage_err("node help", "node %s: missing NAME", cmd);
		if (argc > 1)
			return usage_err("node help", "node %s: unexpected argument '%s'",
					 cmd, argv[1]);
		return cmd[0] == 's' ? node_show(argv[0]) : node_del(argv[0]);
	}
	return usage_err("node help", "unknown node command '%s'", cmd);
}
