// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl node ...`: dispatch, help, list, show, del.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/msg.h>
#include <netlink/netlink.h>

#include "cmds.h"
#include "dm.h"
#include "driver.h"
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
		"       vstoragectl [-j [-p]] node list\n"
		"       vstoragectl [-j [-p]] node show NAME\n"
		"       vstoragectl [-j [-p]] node map NAME [offset=BYTES] [length=BYTES]\n"
		"       vstoragectl node help\n"
		"DRIVER := { %s }\n", vs_driver_names(names, sizeof(names)));
	for (d = vs_drivers; *d; d++) {
		fprintf(f, "%s properties:", (*d)->name);
		for (p = (*d)->props; p->name; p++)
			fprintf(f, " %s=%s", p->name, p->arg);
		fputc('\n', f);
	}
	fprintf(f, "BYTES: a number with an optional suffix k, M, G, T, P or E (powers of 1024)\n");
}

/* "no node named 'X'" or the kernel's own words. */
static void node_perror(const struct vs_nl *nl, const char *name, int ret)
{
	if (ret == -ENOENT && !nl->extack[0])
		pr_err("no node named '%s'", name);
	else
		vs_nl_perror(nl, "cannot get node '%s'", name);
}

static int check_name_arg(const char *name)
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

static int node_list(void)
{
	struct node_vec nv = { 0 };
	struct vs_node_cols cols;
	struct vs_nl nl;
	int ret = EXIT_ERR, tries, r;
	size_t i;

	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	for (tries = 0; tries < DUMP_RETRIES; tries++) {
		struct nl_msg *msg = vs_nl_msg(&nl, VSTORAGE_CMD_NODE_GET,
					       NLM_F_DUMP);

		r = vs_nl_transact(&nl, msg, list_cb, &nv);
		nlmsg_free(msg);
		if (r < 0) {
			if (nv.bad && !nl.extack[0])
				pr_err("malformed node object from the kernel");
			else
				vs_nl_perror(&nl, "cannot list nodes");
			goto out;
		}
		if (!nl.dump_intr)
			break;
		/* the set of nodes changed during the dump: start over */
		node_vec_free(&nv);
	}
	if (nl.dump_intr) {
		pr_err("cannot list nodes: they keep changing, try again");
		goto out;
	}

	qsort(nv.v, nv.n, sizeof(*nv.v), cmp_node);
	vs_node_cols_init(&cols);
	for (i = 0; i < nv.n; i++)
		vs_node_cols_fit(&cols, &nv.v[i]);

	open_json_array(PRINT_JSON, NULL);
	if (nv.n)
		vs_node_print_header(&cols);
	for (i = 0; i < nv.n; i++)
		vs_node_print(&nv.v[i], NULL, &cols);
	close_json_array(PRINT_JSON, NULL);
	ret = EXIT_OK;
out:
	node_vec_free(&nv);
	vs_nl_close(&nl);
	return ret;
}

static int node_show(const char *name)
{
	struct vs_node n;
	struct vs_nl nl;
	int ret;

	if (check_name_arg(name))
		return EXIT_ERR;
	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	ret = vs_node_get(&nl, name, &n);
	if (ret) {
		node_perror(&nl, name, ret);
		vs_nl_close(&nl);
		return EXIT_ERR;
	}
	vs_node_print(&n, NULL, NULL);
	vs_node_free(&n);
	vs_nl_close(&nl);
	return EXIT_OK;
}

void vs_node_dm_name(const struct vs_node *n, char *buf, size_t len)
{
	struct vs_dm_info info;

	if (n->has_dev && !vs_dm_info_dev(n->major, n->minor, &info) &&
	    info.exists)
		snprintf(buf, len, "%s", info.name);
	else
		snprintf(buf, len, "%s", n->dm_name ? n->dm_name : n->name);
}

/*
 * The dm device of node NAME; just NAME when there is no such node (or no
 * module), as vstoragectl names dm devices after their nodes.
 */
static int node_dm_name(const char *name, char *buf, size_t len)
{
	struct vs_node n;
	struct vs_nl nl;
	int ret;

	snprintf(buf, len, "%s", name);
	if (vs_nl_open(&nl, true))
		return 0;	/* module not loaded: no node to ask about */
	ret = vs_node_get(&nl, name, &n);
	if (!ret) {
		vs_node_dm_name(&n, buf, len);
		vs_node_free(&n);
	} else if (ret != -ENOENT) {
		node_perror(&nl, name, ret);
		vs_nl_close(&nl);
		return -1;
	}
	vs_nl_close(&nl);
	return 0;
}

static int node_del(const char *name)
{
	static const char prefix[] = VSTORAGE_DM_UUID_PREFIX;
	char dm_name[VS_DM_NAME_LEN];
	struct vs_dm_info info;
	int ret;

	if (check_name_arg(name))
		return EXIT_ERR;
	if (node_dm_name(name, dm_name, sizeof(dm_name)))
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
	return EXIT_OK;
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
	if (!strcmp(cmd, "list")) {
		if (argc)
			return usage_err("node help", "node list: unexpected argument '%s'",
					 argv[0]);
		return node_list();
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
