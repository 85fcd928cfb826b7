// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl node map NAME [offset=BYTES] [length=BYTES]`: block status
 * in the shape of `qemu-img map`. VSTORAGE_CMD_BLOCK_STATUS is repeated
 * from the end of the last returned extent until the range is covered;
 * extents are merged as qemu-img merges them (mapfmt.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "cmds.h"
#include "mapfmt.h"
#include "nl.h"
#include "node.h"
#include "output.h"
#include "parse.h"
#include "util.h"

struct extent {
	uint64_t offset, length, host_offset;
	uint32_t flags, depth;
	bool has_host_offset;
	char *host_node;
};

struct bs_reply {
	struct extent *v;
	size_t n;
	bool bad;
};

/* Interned host node names (struct map_entry points at them). */
struct strtab {
	char **v;
	size_t n;
};

struct entries {
	struct map_entry *v;
	size_t n;
};

static const char *intern(struct strtab *t, const char *s)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (!strcmp(t->v[i], s))
			return t->v[i];
	t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
	return t->v[t->n++] = xstrdup(s);
}

static void strtab_free(struct strtab *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
}

static void reply_free(struct bs_reply *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		free(r->v[i].host_node);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static int parse_extent(struct nlattr *nest, struct extent *e)
{
	struct nlattr *a;
	bool off = false, len = false, flags = false;
	int rem;

	memset(e, 0, sizeof(*e));
	nla_for_each_nested(a, nest, rem) {
		switch (nla_type(a)) {
		case VSTORAGE_EXTENT_OFFSET:
			if (nla_len(a) < 8)
				return -EBADMSG;
			e->offset = nla_get_u64(a);
			off = true;
			break;
		case VSTORAGE_EXTENT_LENGTH:
			if (nla_len(a) < 8)
				return -EBADMSG;
			e->length = nla_get_u64(a);
			len = true;
			break;
		case VSTORAGE_EXTENT_FLAGS:
			if (nla_len(a) < 4)
				return -EBADMSG;
			e->flags = nla_get_u32(a);
			flags = true;
			break;
		case VSTORAGE_EXTENT_DEPTH:
			if (nla_len(a) < 4)
				return -EBADMSG;
			e->depth = nla_get_u32(a);
			break;
		case VSTORAGE_EXTENT_HOST_OFFSET:
			if (nla_len(a) < 8)
				return -EBADMSG;
			e->host_offset = nla_get_u64(a);
			e->has_host_offset = true;
			break;
		case VSTORAGE_EXTENT_HOST_NODE:
			free(e->host_node);
			e->host_node = vs_nla_strdup(a);
			break;
		}
	}
	if (!off || !len || !flags) {
		free(e->host_node);
		e->host_node = NULL;
		return -EBADMSG;
	}
	return 0;
}

static int bs_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct genlmsghdr *g = NLMSG_DATA(nlh);
	struct bs_reply *r = arg;
	struct nlattr *a;
	int rem;

	if (nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
		goto bad;
	nla_for_each_attr(a, genlmsg_attrdata(g, 0), genlmsg_attrlen(g, 0), rem) {
		if (nla_type(a) != VSTORAGE_A_EXTENT)
			continue;
		r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
		if (parse_extent(a, &r->v[r->n]))
			goto bad;
		r->n++;
	}
	return 0;
bad:
	r->bad = true;
	return -EBADMSG;
}

static int collect(const struct map_entry *e, bool last, void *arg)
{
	struct entries *out = arg;

	(void)last;
	out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
	out->v[out->n++] = *e;
	return 0;
}

/* One BLOCK_STATUS request from *pos; pushes its extents. */
static int block_status(struct vs_nl *nl, const char *name, uint64_t *pos,
			uint64_t end, struct map_merger *m, struct strtab *hosts)
{
	struct bs_reply r = { 0 };
	struct nl_msg *msg;
	int ret = -1;
	size_t i;

	msg = vs_nl_msg(nl, VSTORAGE_CMD_BLOCK_STATUS, NLM_F_ACK);
	if (nla_put_string(msg, VSTORAGE_A_NODE_NAME, name) < 0 ||
	    nla_put_u64(msg, VSTORAGE_A_OFFSET, *pos) < 0 ||
	    nla_put_u64(msg, VSTORAGE_A_LENGTH, end - *pos) < 0) {
		nlmsg_free(msg);
		pr_err("cannot build the block status request");
		return -1;
	}
	if (vs_nl_transact(nl, msg, bs_cb, &r) < 0) {
		if (r.bad && !nl->extack[0])
			pr_err("malformed block status reply from the kernel");
		else
			vs_nl_perror(nl, "cannot get the block status of node '%s'",
				     name);
		goto out;
	}
	if (!r.n) {
		pr_err("kernel returned no extents for node '%s' at offset %" PRIu64,
		       name, *pos);
		goto out;
	}
	for (i = 0; i < r.n && *pos < end; i++) {
		const struct extent *e = &r.v[i];
		struct map_entry me = { 0 };

		if (e->offset != *pos || !e->length) {
			pr_err("kernel returned extent [%" PRIu64 ", +%" PRIu64 ") where offset %" PRIu64 " was expected",
			       e->offset, e->length, *pos);
			goto out;
		}
		me.start = *pos;
		me.length = e->length < end - *pos ? e->length : end - *pos;
		me.depth = e->depth;
		me.data = e->flags & VSTORAGE_BS_DATA;
		me.zero = e->flags & VSTORAGE_BS_ZERO;
		me.present = e->flags & VSTORAGE_BS_ALLOCATED;
		me.has_offset = (e->flags & VSTORAGE_BS_OFFSET_VALID) &&
				e->has_host_offset;
		me.offset = me.has_offset ? e->host_offset : 0;
		me.file = me.has_offset && e->host_node ?
			  intern(hosts, e->host_node) : NULL;
		map_merger_push(m, &me);
		*pos += me.length;
	}
	ret = 0;
out:
	reply_free(&r);
	nlmsg_free(msg);
	return ret;
}

/* qemu-img's "File" column: the path of the host node's file child. */
static char *host_file(struct vs_nl *nl, const char *host)
{
	const struct vs_child *c;
	struct vs_node n;
	char *path;

	if (vs_node_get(nl, host, &n))
		return xstrdup(host);
	c = vs_node_child(&n, "file");
	path = xstrdup(c ? c->path : host);
	vs_node_free(&n);
	return path;
}

static int print_human(struct vs_nl *nl, const char *name,
		       const struct entries *es, const struct strtab *hosts)
{
	char **files = xcalloc(hosts->n, sizeof(*files));
	size_t i, j;

	for (i = 0; i < es->n; i++) {
		if (es->v[i].data && !es->v[i].has_offset) {
			pr_err("node '%s' contains external, encrypted or compressed clusters",
			       name);
			free(files);
			return EXIT_ERR;
		}
	}
	for (j = 0; j < hosts->n; j++)
		files[j] = host_file(nl, hosts->v[j]);

	print_fp("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
	for (i = 0; i < es->n; i++) {
		const struct map_entry *e = &es->v[i];
		const char *file = "";

		if (!e->data || e->zero)
			continue;
		for (j = 0; e->file && j < hosts->n; j++)
			if (hosts->v[j] == e->file)
				file = files[j];
		print_fp("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
			 e->start, e->length, e->has_offset ? e->offset : 0,
			 file);
	}
	for (j = 0; j < hosts->n; j++)
		free(files[j]);
	free(files);
	return EXIT_OK;
}

static void print_json(const struct entries *es)
{
	size_t i;

	open_json_array(PRINT_JSON, NULL);
	for (i = 0; i < es->n; i++) {
		const struct map_entry *e = &es->v[i];

		open_json_object(NULL);
		print_u64(PRINT_JSON, "start", NULL, e->start);
		print_u64(PRINT_JSON, "length", NULL, e->length);
		print_u64(PRINT_JSON, "depth", NULL, e->depth);
		print_bool(PRINT_JSON, "present", NULL, e->present);
		print_bool(PRINT_JSON, "zero", NULL, e->zero);
		print_bool(PRINT_JSON, "data", NULL, e->data);
		if (e->has_offset)
			print_u64(PRINT_JSON, "offset", NULL, e->offset);
		close_json_object();
	}
	close_json_array(PRINT_JSON, NULL);
}

int cmd_node_map(int argc, char **argv)
{
	uint64_t offset = 0, length = 0, end, pos;
	bool has_offset = false, has_length = false;
	struct strtab hosts = { 0 };
	struct entries es = { 0 };
	struct map_merger m;
	struct vs_node node;
	struct vs_nl nl;
	const char *name, *why;
	int i, ret = EXIT_ERR;

	if (argc < 1)
		return usage_err("node help", "node map: missing NAME");
	name = argv[0];
	for (i = 1; i < argc; i++) {
		char key[16];
		const char *v = split_kv(argv[i], key, sizeof(key));
		uint64_t *dst;
		bool *seen;

		if (v && !strcmp(key, "offset")) {
			dst = &offset;
			seen = &has_offset;
		} else if (v && !strcmp(key, "length")) {
			dst = &length;
			seen = &has_length;
		} else {
			return usage_err("node help", "node map: unexpected argument '%s'",
					 argv[i]);
		}
		if (*seen) {
			pr_err("%s= given more than once", key);
			return EXIT_ERR;
		}
		*seen = true;
		if (parse_size(v, dst, &why)) {
			pr_err("%s: %s", argv[i], why);
			return EXIT_ERR;
		}
	}
	if (check_node_name(name, &why)) {
		pr_err("invalid node name '%s': %s", name, why);
		return EXIT_ERR;
	}

	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	i = vs_node_get(&nl, name, &node);
	if (i) {
		if (i == -ENOENT && !nl.extack[0])
			pr_err("no node named '%s'", name);
		else
			vs_nl_perror(&nl, "cannot get node '%s'", name);
		vs_nl_close(&nl);
		return EXIT_ERR;
	}
	if (offset > node.size) {
		pr_err("offset=%" PRIu64 " is beyond the end of node '%s' (%" PRIu64 " bytes)",
		       offset, name, node.size);
		goto out;
	}
	end = node.size;
	if (has_length && length < end - offset)
		end = offset + length;

	map_merger_init(&m, offset, !is_json_context(), collect, &es);
	for (pos = offset; pos < end; )
		if (block_status(&nl, name, &pos, end, &m, &hosts))
			goto out;
	map_merger_finish(&m);

	if (is_json_context()) {
		print_json(&es);
		ret = EXIT_OK;
	} else {
		ret = print_human(&nl, name, &es, &hosts);
	}
out:
	free(es.v);
	strtab_free(&hosts);
	vs_node_free(&node);
	vs_nl_close(&nl);
	return ret;
}
