// SPDX-License-Identifier: GPL-2.0
/*
 * Node objects: parsing from netlink attributes and printing.
 *
 * JSON object (keys in this order, optional ones only when present):
 *   node-name, driver, size, read-only, device, dm-name, dev,
 *   node-device, node-dm-name, node-dev (when the devices were looked up:
 *   device, dm-name and dev are then the user-visible device, these the
 *   device holding the node's table),
 *   children: [ { role, node-name?, path, dev? } ],
 *   info: { VSTORAGE_INFO_* names in lowercase with '-' },
 *   stats: { rd-ios, rd-bytes, wr-ios, wr-bytes, flush-ios, discard-ios,
 *            errors }
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "nl.h"
#include "node.h"
#include "output.h"
#include "parse.h"
#include "util.h"

enum vtype { VT_NONE, VT_STR, VT_BOOL, VT_U32, VT_U64 };

struct vdesc {
	const char *key;
	enum vtype type;
};

static const struct vdesc info_desc[VSTORAGE_INFO_MAX + 1] = {
	[VSTORAGE_INFO_FORMAT]		= { "format", VT_STR },
	[VSTORAGE_INFO_OFFSET]		= { "offset", VT_U64 },
	[VSTORAGE_INFO_DIRECT_IO]	= { "direct-io", VT_BOOL },
	[VSTORAGE_INFO_VERSION]		= { "version", VT_U32 },
	[VSTORAGE_INFO_VIRTUAL_SIZE]	= { "virtual-size", VT_U64 },
	[VSTORAGE_INFO_CLUSTER_SIZE]	= { "cluster-size", VT_U32 },
	[VSTORAGE_INFO_ALLOCATED]	= { "allocated", VT_U64 },
	[VSTORAGE_INFO_BACKING_NODE]	= { "backing-node", VT_STR },
	[VSTORAGE_INFO_DIRTY]		= { "dirty", VT_BOOL },
	[VSTORAGE_INFO_CORRUPT]		= { "corrupt", VT_BOOL },
	[VSTORAGE_INFO_CACHE_SIZE]	= { "cache-size", VT_U64 },
	[VSTORAGE_INFO_CACHE_HITS]	= { "cache-hits", VT_U64 },
	[VSTORAGE_INFO_CACHE_MISSES]	= { "cache-misses", VT_U64 },
	[VSTORAGE_INFO_EXTENDED_L2]	= { "extended-l2", VT_BOOL },
	[VSTORAGE_INFO_COMPRESSION]	= { "compression", VT_STR },
	[VSTORAGE_INFO_REFCOUNT_BITS]	= { "refcount-bits", VT_U32 },
	[VSTORAGE_INFO_LAZY_REFCOUNTS]	= { "lazy-refcounts", VT_BOOL },
	[VSTORAGE_INFO_THROTTLE_GROUP]	= { "throttle-group", VT_STR },
	[VSTORAGE_INFO_COR_BASE]	= { "base", VT_STR },
	[VSTORAGE_INFO_COR_POPULATED]	= { "populated-bytes", VT_U64 },
};

static const struct vdesc stats_desc[VSTORAGE_STATS_MAX + 1] = {
	[VSTORAGE_STATS_RD_IOS]		= { "rd-ios", VT_U64 },
	[VSTORAGE_STATS_RD_BYTES]	= { "rd-bytes", VT_U64 },
	[VSTORAGE_STATS_WR_IOS]		= { "wr-ios", VT_U64 },
	[VSTORAGE_STATS_WR_BYTES]	= { "wr-bytes", VT_U64 },
	[VSTORAGE_STATS_FLUSH_IOS]	= { "flush-ios", VT_U64 },
	[VSTORAGE_STATS_DISCARD_IOS]	= { "discard-ios", VT_U64 },
	[VSTORAGE_STATS_ERRORS]		= { "errors", VT_U64 },
};

static bool get_u8(const struct nlattr *a, uint64_t *v)
{
	if (nla_len(a) < 1)
		return false;
	*v = nla_get_u8((struct nlattr *)a);
	return true;
}

static bool get_u32(const struct nlattr *a, uint64_t *v)
{
	if (nla_len(a) < 4)
		return false;
	*v = nla_get_u32((struct nlattr *)a);
	return true;
}

static bool get_u64(const struct nlattr *a, uint64_t *v)
{
	if (nla_len(a) < 8)
		return false;
	*v = nla_get_u64((struct nlattr *)a);
	return true;
}

/* A nest of typed values described by desc (info or stats). */
static int parse_values(struct nlattr *nest, const struct vdesc *desc,
			int max, struct vs_value *vals)
{
	struct nlattr *a;
	int rem;

	nla_for_each_nested(a, nest, rem) {
		int t = nla_type(a);
		struct vs_value *v = &vals[t];
		bool ok;

		if (t > max || desc[t].type == VT_NONE)
			continue;	/* padding or newer than us */
		switch (desc[t].type) {
		case VT_STR:
			free(v->s);
			v->s = vs_nla_strdup(a);
			ok = true;
			break;
		case VT_BOOL:
			ok = get_u8(a, &v->u);
			break;
		case VT_U32:
			ok = get_u32(a, &v->u);
			break;
		default:
			ok = get_u64(a, &v->u);
			break;
		}
		if (!ok)
			return -EBADMSG;
		v->present = true;
	}
	return 0;
}

static int parse_child(struct nlattr *nest, struct vs_node *n)
{
	struct vs_child *c;
	struct nlattr *a;
	bool maj = false, min = false;
	uint64_t v;
	int rem;

	n->children = xrealloc(n->children,
			       (n->nr_children + 1) * sizeof(*n->children));
	c = &n->children[n->nr_children++];
	memset(c, 0, sizeof(*c));

	nla_for_each_nested(a, nest, rem) {
		switch (nla_type(a)) {
		case VSTORAGE_CHILD_ROLE:
			free(c->role);
			c->role = vs_nla_strdup(a);
			break;
		case VSTORAGE_CHILD_NODE_NAME:
			free(c->node_name);
			c->node_name = vs_nla_strdup(a);
			break;
		case VSTORAGE_CHILD_PATH:
			free(c->path);
			c->path = vs_nla_strdup(a);
			break;
		case VSTORAGE_CHILD_DEV_MAJOR:
			if (!get_u32(a, &v))
				return -EBADMSG;
			c->major = v;
			maj = true;
			break;
		case VSTORAGE_CHILD_DEV_MINOR:
			if (!get_u32(a, &v))
				return -EBADMSG;
			c->minor = v;
			min = true;
			break;
		}
	}
	c->has_dev = maj && min;
	if (!c->role)
		c->role = xstrdup("");
	if (!c->path)
		c->path = xstrdup("");
	return 0;
}

int vs_node_parse(const struct nlmsghdr *nlh, struct vs_node *n)
{
	const struct genlmsghdr *g = NLMSG_DATA(nlh);
	bool maj = false, min = false;
	struct nlattr *a;
	uint64_t v;
	int rem;

	memset(n, 0, sizeof(*n));
	if (nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
		return -EBADMSG;

	nla_for_each_attr(a, genlmsg_attrdata(g, 0), genlmsg_attrlen(g, 0), rem) {
		switch (nla_type(a)) {
		case VSTORAGE_A_NODE_NAME:
			vs_nla_strcpy(n->name, sizeof(n->name), a);
			break;
		case VSTORAGE_A_NODE_DRIVER:
			vs_nla_strcpy(n->driver, sizeof(n->driver), a);
			break;
		case VSTORAGE_A_NODE_SIZE:
			if (!get_u64(a, &n->size))
				goto bad;
			n->has_size = true;
			break;
		case VSTORAGE_A_NODE_READ_ONLY:
			if (!get_u8(a, &v))
				goto bad;
			n->read_only = v != 0;
			break;
		case VSTORAGE_A_NODE_DM_NAME:
			free(n->dm_name);
			n->dm_name = vs_nla_strdup(a);
			break;
		case VSTORAGE_A_NODE_DEV_MAJOR:
			if (!get_u32(a, &v))
				goto bad;
			n->major = v;
			maj = true;
			break;
		case VSTORAGE_A_NODE_DEV_MINOR:
			if (!get_u32(a, &v))
				goto bad;
			n->minor = v;
			min = true;
			break;
		case VSTORAGE_A_NODE_CHILD:
			if (parse_child(a, n))
				goto bad;
			break;
		case VSTORAGE_A_NODE_INFO:
			if (parse_values(a, info_desc, VSTORAGE_INFO_MAX, n->info))
				goto bad;
			n->has_info = true;
			break;
		case VSTORAGE_A_NODE_STATS:
			if (parse_values(a, stats_desc, VSTORAGE_STATS_MAX,
					 n->stats))
				goto bad;
			n->has_stats = true;
			break;
		}
	}
	n->has_dev = maj && min;
	if (!n->name[0])
		goto bad;
	return 0;
bad:
	vs_node_free(n);
	return -EBADMSG;
}

void vs_node_free(struct vs_node *n)
{
	size_t i;

	for (i = 0; i < n->nr_children; i++) {
		free(n->children[i].role);
		free(n->children[i].node_name);
		free(n->children[i].path);
	}
	free(n->children);
	free(n->dm_name);
	free(n->top_dm_name);
	for (i = 0; i < ARRAY_SIZE(n->info); i++)
		free(n->info[i].s);
	for (i = 0; i < ARRAY_SIZE(n->stats); i++)
		free(n->stats[i].s);
	memset(n, 0, sizeof(*n));
}

const char *vs_node_device(const struct vs_node *n, char *buf, size_t len)
{
	if (n->top_dm_name)
		snprintf(buf, len, "/dev/mapper/%s", n->top_dm_name);
	else if (n->dm_name)
		snprintf(buf, len, "/dev/mapper/%s", n->dm_name);
	else
		buf[0] = '\0';
	return buf;
}

const struct vs_child *vs_node_child(const struct vs_node *n,
				     const char *role)
{
	size_t i;

	for (i = 0; i < n->nr_children; i++)
		if (!strcmp(n->children[i].role, role))
			return &n->children[i];
	return NULL;
}

struct get_ctx {
	struct vs_node *n;
	int err;
	bool got;
};

static int get_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct get_ctx *ctx = arg;

	if (ctx->got)
		return 0;
	ctx->err = vs_node_parse(nlh, ctx->n);
	ctx->got = !ctx->err;
	return ctx->err;
}

int vs_node_get(struct vs_nl *nl, const char *name, struct vs_node *n)
{
	struct get_ctx ctx = { .n = n };
	struct nl_msg *msg;
	int ret;

	memset(n, 0, sizeof(*n));
	msg = vs_nl_msg(nl, VSTORAGE_CMD_NODE_GET, NLM_F_ACK);
	if (nla_put_string(msg, VSTORAGE_A_NODE_NAME, name) < 0) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	ret = vs_nl_transact(nl, msg, get_cb, &ctx);
	nlmsg_free(msg);
	if (ret < 0) {
		if (ctx.got)
			vs_node_free(n);
		if (ret == -EBADMSG && !nl->extack[0])
			snprintf(nl->local, sizeof(nl->local),
				 "malformed node object from the kernel");
		return ret;
	}
	if (!ctx.got) {
		nl->err = EBADMSG;
		snprintf(nl->local, sizeof(nl->local),
			 "no reply from the kernel for node '%s'", name);
		return -EBADMSG;
	}
	return 0;
}

/* ---- printing ---- */

static const char *colfmt(char *buf, size_t len, int width)
{
	snprintf(buf, len, "%%-%ds ", width);
	return buf;
}

void vs_node_cols_init(struct vs_node_cols *c)
{
	c->name = strlen("NAME");
	c->driver = strlen("DRIVER");
	c->size = strlen("SIZE");
	c->ro = 3;	/* "yes" */
	c->device = strlen("DEVICE");
}

static void fit(int *w, const char *s)
{
	int n = strlen(s);

	if (n > *w)
		*w = n;
}

/* A moved node's row names both devices: "/dev/mapper/TOP>HOLDER". */
static const char *row_device(const struct vs_node *n, char *buf, size_t len)
{
	char top[VS_DEVICE_MAX];

	vs_node_device(n, top, sizeof(top));
	if (n->moved && n->dm_name)
		snprintf(buf, len, "%s>%s", top, n->dm_name);
	else
		snprintf(buf, len, "%s", top);
	return buf;
}

void vs_node_cols_fit(struct vs_node_cols *c, const struct vs_node *n)
{
	char buf[2 * VS_DEVICE_MAX];

	fit(&c->name, n->name);
	fit(&c->driver, n->driver);
	format_size(n->size, buf, sizeof(buf));
	fit(&c->size, buf);
	if (n->dm_name || n->top_dm_name) {
		row_device(n, buf, sizeof(buf));
		fit(&c->device, buf);
	}
}

void vs_node_print_header(const struct vs_node_cols *c)
{
	print_fp("%-*s %-*s %-*s %-*s %-*s %s\n", c->name, "NAME",
		 c->driver, "DRIVER", c->size, "SIZE", c->ro, "RO",
		 c->device, "DEVICE", "CHILDREN");
}

static void print_values(const char *key, const struct vdesc *desc,
			 int max, const struct vs_value *vals, bool row)
{
	enum output_type t = row ? PRINT_JSON : PRINT_ANY;
	char fmt[64];
	int i;

	open_json_object(key);
	if (!row)
		print_fp("%s:\n", key);
	for (i = 0; i <= max; i++) {
		const struct vs_value *v = &vals[i];

		if (!v->present || desc[i].type == VT_NONE)
			continue;
		switch (desc[i].type) {
		case VT_STR:
			snprintf(fmt, sizeof(fmt), "  %s: %%s\n", desc[i].key);
			print_string(t, desc[i].key, fmt, v->s);
			break;
		case VT_BOOL:
			snprintf(fmt, sizeof(fmt), "  %s: %%s\n", desc[i].key);
			print_bool(t, desc[i].key, fmt, v->u != 0);
			break;
		default:
			snprintf(fmt, sizeof(fmt), "  %s: %%" PRIu64 "\n",
				 desc[i].key);
			print_u64(t, desc[i].key, fmt, v->u);
			break;
		}
	}
	close_json_object();
}

static void print_children(const struct vs_node *n, bool row)
{
	char dev[32];
	size_t i;

	open_json_array(PRINT_JSON, "children");
	if (!row && n->nr_children)
		print_fp("children:\n");
	if (row && !n->nr_children)
		print_fp("-");
	for (i = 0; i < n->nr_children; i++) {
		const struct vs_child *c = &n->children[i];

		open_json_object(NULL);
		if (row && i)
			print_fp(",");
		print_string(PRINT_ANY, "role", row ? "%s:" : "  %s: ",
			     c->role);
		if (c->node_name)
			print_string(PRINT_JSON, "node-name", NULL,
				     c->node_name);
		print_string(PRINT_JSON, "path", NULL, c->path);
		if (row) {
			print_fp("%s", c->node_name ? c->node_name : c->path);
		} else {
			print_fp("%s", c->path);
			if (c->node_name)
				print_fp(" (node %s)", c->node_name);
		}
		if (c->has_dev) {
			snprintf(dev, sizeof(dev), "%u:%u", c->major, c->minor);
			print_string(PRINT_JSON, "dev", NULL, dev);
			if (!row)
				print_fp(" (dev %s)", dev);
		}
		if (!row)
			print_fp("\n");
		close_json_object();
	}
	close_json_array(PRINT_JSON, NULL);
}

void vs_node_print(const struct vs_node *n, const char *key,
		   const struct vs_node_cols *cols)
{
	enum output_type detail = cols ? PRINT_JSON : PRINT_ANY;
	bool row = cols != NULL;
	char fmt[32], buf[VSTORAGE_PATH_MAX + 64];

	open_json_object(key);
	print_string(PRINT_ANY, "node-name",
		     row ? colfmt(fmt, sizeof(fmt), cols->name) : "node-name: %s\n",
		     n->name);
	print_string(PRINT_ANY, "driver",
		     row ? colfmt(fmt, sizeof(fmt), cols->driver) : "driver: %s\n",
		     n->driver);

	format_size(n->size, buf, sizeof(buf));
	if (n->has_size) {
		print_u64(PRINT_JSON, "size", NULL, n->size);
		if (row) {
			print_string(PRINT_FP, NULL,
				     colfmt(fmt, sizeof(fmt), cols->size), buf);
		} else {
			print_string(PRINT_FP, NULL, "size: %s", buf);
			print_u64(PRINT_FP, NULL, " (%" PRIu64 " bytes)\n",
				  n->size);
		}
	} else if (row) {
		print_string(PRINT_FP, NULL, colfmt(fmt, sizeof(fmt), cols->size),
			     "-");
	}

	print_bool(PRINT_ANY, "read-only",
		   row ? colfmt(fmt, sizeof(fmt), cols->ro) : "read-only: %s\n",
		   n->read_only);

	if (n->dm_name || n->top_dm_name) {
		const char *dm = n->top_dm_name ? n->top_dm_name : n->dm_name;

		vs_node_device(n, buf, sizeof(buf));
		print_string(PRINT_JSON, "device", NULL, buf);
		if (row)
			print_string(PRINT_FP, NULL,
				     colfmt(fmt, sizeof(fmt), cols->device),
				     row_device(n, buf, sizeof(buf)));
		else
			print_string(PRINT_FP, NULL, "device: %s\n", buf);
		print_string(detail, "dm-name", "dm-name: %s\n", dm);
	} else if (row) {
		print_string(PRINT_FP, NULL,
			     colfmt(fmt, sizeof(fmt), cols->device), "-");
	}
	if (n->top_dm_name) {
		snprintf(buf, sizeof(buf), "%u:%u", n->top_major, n->top_minor);
		print_string(detail, "dev", "dev: %s\n", buf);
	} else if (n->has_dev) {
		snprintf(buf, sizeof(buf), "%u:%u", n->major, n->minor);
		print_string(detail, "dev", "dev: %s\n", buf);
	}
	/* where the node's table is; humans only hear of it after a move */
	if (n->top_dm_name && n->dm_name) {
		enum output_type t = n->moved ? detail : PRINT_JSON;

		snprintf(buf, sizeof(buf), "/dev/mapper/%s", n->dm_name);
		print_string(t, "node-device", "node-device: %s\n", buf);
		print_string(t, "node-dm-name", "node-dm-name: %s\n",
			     n->dm_name);
		if (n->has_dev) {
			snprintf(buf, sizeof(buf), "%u:%u", n->major, n->minor);
			print_string(t, "node-dev", "node-dev: %s\n", buf);
		}
	}

	print_children(n, row);
	if (n->has_info)
		print_values("info", info_desc, VSTORAGE_INFO_MAX, n->info, row);
	if (n->has_stats)
		print_values("stats", stats_desc, VSTORAGE_STATS_MAX, n->stats,
			     row);
	if (row)
		print_fp("\n");
	close_json_object();
}
