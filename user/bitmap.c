// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl bitmap ...`: a node's dirty bitmaps, kept by the kernel
 * (Documentation/bitmaps.rst, Documentation/netlink.rst "Dirty bitmaps").
 *
 *   bitmap add NODE NAME [granularity=BYTES] [persistent=on] [disabled=on]
 *   bitmap { del | clear | enable | disable } NODE NAME
 *   bitmap merge NODE TARGET SOURCE ...
 *   bitmap list NODE
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "bitmap.h"
#include "cmds.h"
#include "nl.h"
#include "output.h"
#include "parse.h"
#include "util.h"

#define DUMP_RETRIES	5
/* the kernel's limit of sources in one merge */
#define MERGE_MAX	64

void usage_bitmap(FILE *f)
{
	fprintf(f,
		"Usage: vstoragectl bitmap add NODE NAME [granularity=BYTES] [persistent=on] [disabled=on]\n"
		"       vstoragectl bitmap { del | clear | enable | disable } NODE NAME\n"
		"       vstoragectl bitmap merge NODE TARGET SOURCE ...\n"
		"       vstoragectl [-j [-p]] bitmap list NODE\n"
		"       granularity: a power of 2 from 512 to 2G, default 64K;\n"
		"       persistent bitmaps are stored in the qcow2 image as QEMU stores them\n");
}

static int check_args(const char *node, const char *const *names, int nr)
{
	const char *why;
	int i;

	if (check_node_name(node, &why)) {
		pr_err("invalid node name '%s': %s", node, why);
		return -1;
	}
	for (i = 0; i < nr; i++) {
		if (vs_bitmap_name_check(names[i], &why)) {
			/* at most 64 bytes of it: it may be huge */
			pr_err("invalid bitmap name '%.64s%s': %s", names[i],
			       strlen(names[i]) > 64 ? "..." : "", why);
			return -1;
		}
	}
	return 0;
}

static const char *verb_name(uint8_t cmd)
{
	switch (cmd) {
	case VSTORAGE_CMD_BITMAP_ADD:
		return "add";
	case VSTORAGE_CMD_BITMAP_DEL:
		return "delete";
	case VSTORAGE_CMD_BITMAP_CLEAR:
		return "clear";
	case VSTORAGE_CMD_BITMAP_ENABLE:
		return "enable";
	case VSTORAGE_CMD_BITMAP_DISABLE:
		return "disable";
	default:
		return "merge into";
	}
}

/* One change: NAMES[0] is the bitmap, the others merge's sources. */
static int bitmap_change(uint8_t cmd, const char *node, char **names, int nr,
			 const struct vs_bitmap_add_args *add)
{
	struct nlattr *nest;
	struct nl_msg *msg;
	struct vs_nl nl;
	int i, r;

	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	msg = vs_nl_msg(&nl, cmd, NLM_F_ACK);
	if (nla_put_string(msg, VSTORAGE_A_NODE_NAME, node))
		goto too_large;
	nest = nla_nest_start(msg, VSTORAGE_A_BITMAP);
	if (!nest || nla_put_string(msg, VSTORAGE_BITMAP_NAME, names[0]))
		goto too_large;
	for (i = 1; i < nr; i++)
		if (nla_put_string(msg, VSTORAGE_BITMAP_SOURCE, names[i]))
			goto too_large;
	if (add && ((add->granularity &&
		     nla_put_u32(msg, VSTORAGE_BITMAP_GRANULARITY, add->granularity)) ||
		    (add->persistent && nla_put_u8(msg, VSTORAGE_BITMAP_PERSISTENT, 1)) ||
		    (add->disabled && nla_put_u8(msg, VSTORAGE_BITMAP_DISABLED, 1))))
		goto too_large;
	nla_nest_end(msg, nest);
	r = vs_nl_transact(&nl, msg, NULL, NULL);
	nlmsg_free(msg);
	if (r < 0) {
		vs_nl_perror(&nl, "cannot %s bitmap '%s' of node '%s'",
			     verb_name(cmd), names[0], node);
		vs_nl_close(&nl);
		return EXIT_ERR;
	}
	vs_nl_close(&nl);
	return EXIT_OK;
too_large:
	nlmsg_free(msg);
	vs_nl_close(&nl);
	pr_err("netlink message too large");
	return EXIT_ERR;
}

struct bitmap_vec {
	struct vs_bitmap *v;
	size_t n;
};

static int bitmap_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct bitmap_vec *bv = arg;
	struct vs_bitmap b;
	int ret = vs_bitmap_parse(nlh, &b);

	if (ret)
		return ret;
	bv->v = xrealloc(bv->v, (bv->n + 1) * sizeof(*bv->v));
	bv->v[bv->n++] = b;
	return 0;
}

static int cmp_bitmap(const void *a, const void *b)
{
	return strcmp(((const struct vs_bitmap *)a)->name,
		      ((const struct vs_bitmap *)b)->name);
}

static int bitmap_list(const char *node)
{
	struct bitmap_vec bv = { 0 };
	struct vs_nl nl;
	int tries, r = 0;
	size_t i;

	if (check_args(node, NULL, 0))
		return EXIT_ERR;
	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	for (tries = 0; tries < DUMP_RETRIES; tries++) {
		struct nl_msg *msg = vs_nl_msg(&nl, VSTORAGE_CMD_BITMAP_GET,
					       NLM_F_DUMP);

		nla_put_string(msg, VSTORAGE_A_NODE_NAME, node);
		r = vs_nl_transact(&nl, msg, bitmap_cb, &bv);
		nlmsg_free(msg);
		if (r < 0 || !nl.dump_intr)
			break;
		free(bv.v);
		bv.v = NULL;
		bv.n = 0;
	}
	if (r < 0) {
		if (r == -EBADMSG && !nl.extack[0])
			pr_err("malformed bitmap object from the kernel");
		else
			vs_nl_perror(&nl, "cannot list the bitmaps of node '%s'",
				     node);
		free(bv.v);
		vs_nl_close(&nl);
		return EXIT_ERR;
	}
	vs_nl_close(&nl);
	if (bv.n)
		qsort(bv.v, bv.n, sizeof(*bv.v), cmp_bitmap);
	open_json_array(PRINT_JSON, NULL);
	for (i = 0; i < bv.n; i++)
		vs_bitmap_print(&bv.v[i]);
	close_json_array(PRINT_JSON, NULL);
	free(bv.v);
	return EXIT_OK;
}

int cmd_bitmap(int argc, char **argv)
{
	static const struct {
		const char *verb;
		uint8_t cmd;
	} simple[] = {
		{ "del", VSTORAGE_CMD_BITMAP_DEL },
		{ "clear", VSTORAGE_CMD_BITMAP_CLEAR },
		{ "enable", VSTORAGE_CMD_BITMAP_ENABLE },
		{ "disable", VSTORAGE_CMD_BITMAP_DISABLE },
	};
	const char *verb;
	size_t i;

	if (argc < 1)
		return usage_err("bitmap help", "bitmap: missing command");
	verb = argv[0];
	if (!strcmp(verb, "help")) {
		usage_bitmap(stdout);
		return EXIT_OK;
	}
	if (!strcmp(verb, "list")) {
		if (argc != 2)
			return usage_err("bitmap help", "bitmap list: expected NODE");
		return bitmap_list(argv[1]);
	}
	if (!strcmp(verb, "add")) {
		struct vs_bitmap_add_args a;

		if (argc < 3)
			return usage_err("bitmap help", "bitmap add: expected NODE NAME [OPTION=VALUE ...]");
		if (check_args(argv[1], (const char *const *)&argv[2], 1) ||
		    vs_bitmap_add_parse(argc - 3, argv + 3, &a))
			return EXIT_ERR;
		return bitmap_change(VSTORAGE_CMD_BITMAP_ADD, argv[1], &argv[2],
				     1, &a);
	}
	if (!strcmp(verb, "merge")) {
		if (argc < 4)
			return usage_err("bitmap help", "bitmap merge: expected NODE TARGET SOURCE ...");
		if (argc - 3 > MERGE_MAX) {
			pr_err("bitmap merge: at most %d sources", MERGE_MAX);
			return EXIT_ERR;
		}
		if (check_args(argv[1], (const char *const *)&argv[2], argc - 2))
			return EXIT_ERR;
		return bitmap_change(VSTORAGE_CMD_BITMAP_MERGE, argv[1],
				     &argv[2], argc - 2, NULL);
	}
	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (strcmp(verb, simple[i].verb))
			continue;
		if (argc != 3)
			return usage_err("bitmap help", "bitmap %s: expected NODE NAME",
					 verb);
		if (check_args(argv[1], (const char *const *)&argv[2], 1))
			return EXIT_ERR;
		return bitmap_change(simple[i].cmd, argv[1], &argv[2], 1, NULL);
	}
	return usage_err("bitmap help", "bitmap: unknown command '%s'", verb);
}
