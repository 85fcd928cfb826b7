// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl throttle-group ...`: QEMU's throttle-group objects, kept by
 * the kernel (Documentation/netlink.rst, "Throttle groups").
 *
 *   throttle-group add NAME [LIMIT=VALUE ...]
 *   throttle-group set NAME LIMIT=VALUE ...
 *   throttle-group del NAME
 *   throttle-group { list | show NAME }
 *
 * Limits are checked here first with the kernel's own rules
 * (kernel/filters/bucket.c), so that the error names the limits even where
 * netlink's extack could only point at an attribute; the kernel checks
 * them again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <linux/vstorage.h>

#include "bucket.h"
#include "cmds.h"
#include "nl.h"
#include "output.h"
#include "parse.h"
#include "util.h"

#define DUMP_RETRIES	5

void usage_tgroup(FILE *f)
{
	fprintf(f,
		"Usage: vstoragectl throttle-group add NAME [LIMIT=VALUE ...]\n"
		"       vstoragectl throttle-group set NAME LIMIT=VALUE ...\n"
		"       vstoragectl throttle-group del NAME\n"
		"       vstoragectl [-j [-p]] throttle-group { list | show NAME }\n"
		"where  LIMIT := { bps-total | bps-read | bps-write | iops-total |\n"
		"                  iops-read | iops-write }[-max | -max-length]\n"
		"                | iops-size\n"
		"       bps values take size suffixes (1M = 1048576 bytes/s); 0 clears a limit\n");
}

/* One group as the kernel reports it. */
struct tgroup {
	char name[VSTORAGE_NODE_NAME_MAX + 1];
	struct vs_thr_limits limits;
	char **members;
	size_t nr_members;
	uint64_t stats[VSTORAGE_TGROUP_STATS_MAX + 1];
};

static void tgroup_free(struct tgroup *g)
{
	size_t i;

	for (i = 0; i < g->nr_members; i++)
		free(g->members[i]);
	free(g->members);
	memset(g, 0, sizeof(*g));
}

static int tgroup_parse_limits(struct tgroup *g, const struct nlattr *nest)
{
	const struct nlattr *a;
	int rem;

	nla_for_each_nested(a, nest, rem) {
		int t = nla_type(a);

		if (t < VSTORAGE_THROTTLE_BPS_TOTAL || t > VSTORAGE_THROTTLE_MAX)
			continue;
		if (nla_len(a) != sizeof(uint64_t))
			return -EBADMSG;
		vs_thr_limit_set(&g->limits,
				 (unsigned int)(t - VSTORAGE_THROTTLE_BPS_TOTAL),
				 nla_get_u64((struct nlattr *)a));
	}
	return 0;
}

static int tgroup_parse_stats(struct tgroup *g, const struct nlattr *nest)
{
	const struct nlattr *a;
	int rem;

	nla_for_each_nested(a, nest, rem) {
		int t = nla_type(a);

		if (t <= VSTORAGE_TGROUP_STATS_PAD || t > VSTORAGE_TGROUP_STATS_MAX)
			continue;
		if (t == VSTORAGE_TGROUP_STATS_QUEUED) {
			if (nla_len(a) != sizeof(uint32_t))
				return -EBADMSG;
			g->stats[t] = nla_get_u32((struct nlattr *)a);
		} else {
			if (nla_len(a) != sizeof(uint64_t))
				return -EBADMSG;
			g->stats[t] = nla_get_u64((struct nlattr *)a);
		}
	}
	return 0;
}

static int tgroup_parse(const struct nlmsghdr *nlh, struct tgroup *g)
{
	struct genlmsghdr *gh = nlmsg_data(nlh);
	const struct nlattr *a;
	int rem, ret = 0;

	memset(g, 0, sizeof(*g));
	nla_for_each_attr(a, genlmsg_attrdata(gh, 0), genlmsg_attrlen(gh, 0), rem) {
		switch (nla_type(a)) {
		case VSTORAGE_A_TGROUP_NAME:
			vs_nla_strcpy(g->name, sizeof(g->name), a);
			break;
		case VSTORAGE_A_TGROUP_LIMITS:
			ret = tgroup_parse_limits(g, a);
			break;
		case VSTORAGE_A_TGROUP_MEMBER:
			g->members = xrealloc(g->members,
					      (g->nr_members + 1) * sizeof(*g->members));
			g->members[g->nr_members++] = vs_nla_strdup(a);
			break;
		case VSTORAGE_A_TGROUP_STATS:
			ret = tgroup_parse_stats(g, a);
			break;
		}
		if (ret)
			break;
	}
	if (!ret && !g->name[0])
		ret = -EBADMSG;
	if (ret)
		tgroup_free(g);
	return ret;
}

struct tgroup_vec {
	struct tgroup *v;
	size_t n;
};

static void tgroup_vec_free(struct tgroup_vec *tv)
{
	size_t i;

	for (i = 0; i < tv->n; i++)
		tgroup_free(&tv->v[i]);
	free(tv->v);
	memset(tv, 0, sizeof(*tv));
}

static int tgroup_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct tgroup_vec *tv = arg;
	struct tgroup g;
	int ret = tgroup_parse(nlh, &g);

	if (ret)
		return ret;
	tv->v = xrealloc(tv->v, (tv->n + 1) * sizeof(*tv->v));
	tv->v[tv->n++] = g;
	return 0;
}

static int cmp_tgroup(const void *a, const void *b)
{
	return strcmp(((const struct tgroup *)a)->name,
		      ((const struct tgroup *)b)->name);
}

/* Every group (NAME NULL) or one. 0, -ENOENT (no such group), or -1. */
static int tgroup_get(struct vs_nl *nl, const char *name, struct tgroup_vec *tv)
{
	int tries, r = 0;

	for (tries = 0; tries < DUMP_RETRIES; tries++) {
		struct nl_msg *msg = vs_nl_msg(nl, VSTORAGE_CMD_TGROUP_GET,
					       name ? NLM_F_ACK : NLM_F_DUMP);

		if (name)
			nla_put_string(msg, VSTORAGE_A_TGROUP_NAME, name);
		r = vs_nl_transact(nl, msg, tgroup_cb, tv);
		nlmsg_free(msg);
		if (r < 0 || !nl->dump_intr)
			break;
		tgroup_vec_free(tv);
	}
	if (r == -ENOENT && name)
		return -ENOENT;
	if (r < 0) {
		if (r == -EBADMSG && !nl->extack[0])
			pr_err("malformed throttle group object from the kernel");
		else
			vs_nl_perror(nl, "cannot get throttle groups");
		return -1;
	}
	if (nl->dump_intr) {
		pr_err("cannot list throttle groups: they keep changing, try again");
		return -1;
	}
	if (tv->n)
		qsort(tv->v, tv->n, sizeof(*tv->v), cmp_tgroup);
	return 0;
}

/* Limits are printed as QEMU's ThrottleLimits: only those set. */
static void tgroup_print(const struct tgroup *g)
{
	const uint64_t *s = g->stats;
	unsigned int i;
	size_t m;

	open_json_object(NULL);
	print_string(PRINT_ANY, "id", "%s:", g->name);
	open_json_object("limits");
	for (i = 0; i < VS_THR_NR_LIMITS; i++) {
		uint64_t v = vs_thr_limit_get(&g->limits, i);

		if (!v)
			continue;
		print_u64(PRINT_JSON, vs_thr_limit_name(i), NULL, v);
		print_fp(" %s=%" PRIu64, vs_thr_limit_name(i), v);
	}
	if (!vs_thr_limits_enabled(&g->limits))
		print_fp(" (no limits)");
	close_json_object();
	print_fp("\n");

	open_json_array(PRINT_JSON, "members");
	print_fp("    members:");
	for (m = 0; m < g->nr_members; m++)
		print_string(PRINT_ANY, NULL, " %s", g->members[m]);
	if (!g->nr_members)
		print_fp(" none");
	close_json_array(PRINT_JSON, NULL);
	print_fp("\n");

	open_json_object("stats");
	print_u64(PRINT_ANY, "rd-bytes", "    read: %" PRIu64 " bytes",
		  s[VSTORAGE_TGROUP_STATS_RD_BYTES]);
	print_u64(PRINT_ANY, "rd-ops", " in %" PRIu64 " operations;",
		  s[VSTORAGE_TGROUP_STATS_RD_OPS]);
	print_u64(PRINT_ANY, "wr-bytes", " write: %" PRIu64 " bytes",
		  s[VSTORAGE_TGROUP_STATS_WR_BYTES]);
	print_u64(PRINT_ANY, "wr-ops", " in %" PRIu64 " operations\n",
		  s[VSTORAGE_TGROUP_STATS_WR_OPS]);
	print_u64(PRINT_ANY, "throttled-ops", "    throttled: %" PRIu64 " operations",
		  s[VSTORAGE_TGROUP_STATS_THROTTLED_OPS]);
	print_u64(PRINT_ANY, "throttled-ns", " waited %" PRIu64 " ns in all;",
		  s[VSTORAGE_TGROUP_STATS_THROTTLED_NS]);
	print_u64(PRINT_ANY, "queued", " queued now: %" PRIu64 "\n",
		  s[VSTORAGE_TGROUP_STATS_QUEUED]);
	close_json_object();
	close_json_object();
}

int vs_tgroup_print_config(struct vs_nl *nl)
{
	struct tgroup_vec tv = { 0 };
	unsigned int l;
	size_t i;

	if (tgroup_get(nl, NULL, &tv))
		return -1;
	open_json_array(PRINT_JSON, "throttle-groups");
	for (i = 0; i < tv.n; i++) {
		const struct tgroup *g = &tv.v[i];

		open_json_object(NULL);
		print_string(PRINT_JSON, "qom-type", NULL, "throttle-group");
		print_string(PRINT_ANY, "id", "throttle-group %s:", g->name);
		open_json_object("limits");
		for (l = 0; l < VS_THR_NR_LIMITS; l++) {
			uint64_t v = vs_thr_limit_get(&g->limits, l);

			if (!v)
				continue;
			print_u64(PRINT_JSON, vs_thr_limit_name(l), NULL, v);
			print_fp(" %s=%" PRIu64, vs_thr_limit_name(l), v);
		}
		if (!vs_thr_limits_enabled(&g->limits))
			print_fp(" no limits");
		close_json_object();
		print_fp("\n");
		close_json_object();
	}
	close_json_array(PRINT_JSON, NULL);
	tgroup_vec_free(&tv);
	return 0;
}

/*
 * LIMIT=VALUE arguments into L, and which were GIVEN. bps limits take
 * QEMU's size suffixes; 0 clears a limit. Returns 0 or -1 (printed).
 */
static int tgroup_parse_args(int argc, char **argv, struct vs_thr_limits *l,
			     bool *given)
{
	int i;

	for (i = 0; i < argc; i++) {
		char key[48];
		const char *val = split_kv(argv[i], key, sizeof(key));
		const char *why = NULL;
		uint64_t v;
		int idx;

		if (!val) {
			pr_err("'%s': expected LIMIT=VALUE", argv[i]);
			return -1;
		}
		idx = vs_thr_limit_index(key);
		if (idx < 0) {
			pr_err("unknown limit '%s' (limits: bps-total, bps-read, bps-write, iops-total, iops-read, iops-write, each also with -max and -max-length, and iops-size)",
			       key);
			return -1;
		}
		if (given[idx]) {
			pr_err("%s given more than once", key);
			return -1;
		}
		/* sizes for bytes; counts and seconds are plain numbers */
		if (!strncmp(key, "bps-", 4) && !strstr(key, "-max-length") ?
		    parse_size(val, &v, &why) :
		    (!strcmp(key, "iops-size") ? parse_size(val, &v, &why) :
		     parse_uint(val, UINT64_MAX, &v))) {
			pr_err("%s=%s: not a %s", key, val,
			       why ? why : "number");
			return -1;
		}
		if (v > VS_THR_VALUE_MAX) {
			pr_err("%s=%s: above QEMU's maximum of 1e15", key, val);
			return -1;
		}
		vs_thr_limit_set(l, (unsigned int)idx, v);
		given[idx] = true;
	}
	return 0;
}

static int put_limits(struct nl_msg *msg, const struct vs_thr_limits *l,
		      const bool *given)
{
	struct nlattr *nest = nla_nest_start(msg, VSTORAGE_A_TGROUP_LIMITS);
	unsigned int i;

	if (!nest)
		return -1;
	for (i = 0; i < VS_THR_NR_LIMITS; i++)
		if (given[i] && nla_put_u64(msg, (int)(VSTORAGE_THROTTLE_BPS_TOTAL + i),
					    vs_thr_limit_get(l, i)))
			return -1;
	nla_nest_end(msg, nest);
	return 0;
}

static int check_group_name(const char *name)
{
	const char *why;

	if (check_node_name(name, &why)) {
		pr_err("invalid throttle group name '%s': %s", name, why);
		return -1;
	}
	return 0;
}

/* add and set: the limits after the merge must pass QEMU's rules. */
static int tgroup_change(const char *name, int argc, char **argv, bool add)
{
	bool given[VS_THR_NR_LIMITS] = { 0 };
	struct tgroup_vec tv = { 0 };
	struct vs_thr_limits l = { 0 }, merged;
	const char *error = NULL;
	struct nl_msg *msg;
	struct vs_nl nl;
	unsigned int i;
	int r;

	if (check_group_name(name) || tgroup_parse_args(argc, argv, &l, given))
		return EXIT_ERR;
	if (!add && !argc)
		return usage_err("throttle-group help", "throttle-group set: no LIMIT=VALUE given");
	if (vs_nl_open(&nl, false))
		return EXIT_ERR;

	merged = l;
	if (!add) {
		r = tgroup_get(&nl, name, &tv);
		if (r == -ENOENT) {
			pr_err("no throttle group named '%s'", name);
			goto fail;
		}
		if (r)
			goto fail;
		merged = tv.v[0].limits;
		for (i = 0; i < VS_THR_NR_LIMITS; i++)
			if (given[i])
				vs_thr_limit_set(&merged, i, vs_thr_limit_get(&l, i));
		tgroup_vec_free(&tv);
	}
	if (vs_thr_limits_check(&merged, &error)) {
		pr_err("throttle group '%s': %s", name, error);
		goto fail;
	}

	msg = vs_nl_msg(&nl, add ? VSTORAGE_CMD_TGROUP_NEW : VSTORAGE_CMD_TGROUP_SET,
			 NLM_F_ACK);
	if (nla_put_string(msg, VSTORAGE_A_TGROUP_NAME, name) ||
	    put_limits(msg, &l, given)) {
		nlmsg_free(msg);
		pr_err("netlink message too large");
		goto fail;
	}
	r = vs_nl_transact(&nl, msg, NULL, NULL);
	nlmsg_free(msg);
	if (r < 0) {
		if (r == -EEXIST && !nl.extack[0])
			pr_err("a throttle group named '%s' exists already", name);
		else if (r == -ENOENT && !nl.extack[0])
			pr_err("no throttle group named '%s'", name);
		else
			vs_nl_perror(&nl, "cannot %s throttle group '%s'",
				     add ? "add" : "change", name);
		goto fail;
	}
	vs_nl_close(&nl);
	return EXIT_OK;
fail:
	vs_nl_close(&nl);
	return EXIT_ERR;
}

static int tgroup_del(const char *name)
{
	struct tgroup_vec tv = { 0 };
	struct nl_msg *msg;
	struct vs_nl nl;
	int r;

	if (check_group_name(name))
		return EXIT_ERR;
	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	msg = vs_nl_msg(&nl, VSTORAGE_CMD_TGROUP_DEL, NLM_F_ACK);
	nla_put_string(msg, VSTORAGE_A_TGROUP_NAME, name);
	r = vs_nl_transact(&nl, msg, NULL, NULL);
	nlmsg_free(msg);
	if (r == -EBUSY && !tgroup_get(&nl, name, &tv) && tv.n) {
		/* name the nodes that hold it */
		char list[512] = "";
		size_t i;

		for (i = 0; i < tv.v[0].nr_members; i++) {
			strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
			strncat(list, tv.v[0].members[i], sizeof(list) - strlen(list) - 1);
		}
		pr_err("throttle group '%s' is in use by %s (delete or reopen those nodes first)",
		       name, list[0] ? list : "throttle nodes");
		tgroup_vec_free(&tv);
	} else if (r == -ENOENT && !nl.extack[0]) {
		pr_err("no throttle group named '%s'", name);
	} else if (r < 0) {
		vs_nl_perror(&nl, "cannot delete throttle group '%s'", name);
	}
	vs_nl_close(&nl);
	return r < 0 ? EXIT_ERR : EXIT_OK;
}

static int tgroup_show(const char *name)
{
	struct tgroup_vec tv = { 0 };
	struct vs_nl nl;
	size_t i;
	int r;

	if (name && check_group_name(name))
		return EXIT_ERR;
	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	r = tgroup_get(&nl, name, &tv);
	vs_nl_close(&nl);
	if (r == -ENOENT) {
		pr_err("no throttle group named '%s'", name);
		return EXIT_ERR;
	}
	if (r)
		return EXIT_ERR;
	if (!name)
		open_json_array(PRINT_JSON, NULL);
	for (i = 0; i < tv.n; i++)
		tgroup_print(&tv.v[i]);
	if (!name)
		close_json_array(PRINT_JSON, NULL);
	tgroup_vec_free(&tv);
	return EXIT_OK;
}

int cmd_tgroup(int argc, char **argv)
{
	const char *cmd = argc ? argv[0] : NULL;

	if (!cmd)
		return usage_err("throttle-group help", "missing throttle-group command");
	argc--;
	argv++;
	if (!strcmp(cmd, "help")) {
		usage_tgroup(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "list")) {
		if (argc)
			return usage_err("throttle-group help",
					 "throttle-group list: unexpected argument '%s'", argv[0]);
		return tgroup_show(NULL);
	}
	if (!strcmp(cmd, "add") || !strcmp(cmd, "set")) {
		if (!argc)
			return usage_err("throttle-group help", "throttle-group %s: missing NAME",
					 cmd);
		return tgroup_change(argv[0], argc - 1, argv + 1, cmd[0] == 'a');
	}
	if (!strcmp(cmd, "show") || !strcmp(cmd, "del")) {
		if (!argc)
			return usage_err("throttle-group help", "throttle-group %s: missing NAME",
					 cmd);
		if (argc > 1)
			return usage_err("throttle-group help",
					 "throttle-group %s: unexpected argument '%s'", cmd, argv[1]);
		return cmd[0] == 's' ? tgroup_show(argv[0]) : tgroup_del(argv[0]);
	}
	return usage_err("throttle-group help", "unknown throttle-group command '%s'", cmd);
}
