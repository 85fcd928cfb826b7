// SPDX-License-Identifier: GPL-2.0
/*
 * The dirty bitmap commands of the "vstorage" netlink family
 * (Documentation/netlink.rst, "Dirty bitmaps"): ADD, DEL, CLEAR, ENABLE,
 * DISABLE, MERGE and GET. Each request names the node (VSTORAGE_A_NODE_NAME)
 * and carries one VSTORAGE_A_BITMAP nest; the policy (nlpolicy.c) is
 * strict, the rest is checked here and in bitmap.c with extack messages.
 */
#include <linux/slab.h>
#include <net/genetlink.h>

#include "vstorage.h"

/* MERGE: at most this many sources in one request */
#define VS_BITMAP_MERGE_MAX	64

static void vs_nl_bm_err(struct genl_info *info, const char *error)
{
	if (info->extack && error)
		info->extack->_msg = error;
}

/* The node name and the parsed nest; TB[VSTORAGE_BITMAP_NAME] present. */
static int vs_nl_bm_parse(struct genl_info *info, struct nlattr **tb,
			  const char **node)
{
	struct nlattr *nest = info->attrs[VSTORAGE_A_BITMAP];
	int ret;

	if (!info->attrs[VSTORAGE_A_NODE_NAME]) {
		NL_SET_ERR_MSG(info->extack,
			       "missing node name (VSTORAGE_A_NODE_NAME)");
		NL_SET_ERR_ATTR_MISS(info->extack, NULL, VSTORAGE_A_NODE_NAME);
		return -EINVAL;
	}
	*node = nla_data(info->attrs[VSTORAGE_A_NODE_NAME]);
	if (!vs_node_name_valid(*node)) {
		NL_SET_ERR_MSG_ATTR(info->extack,
				    info->attrs[VSTORAGE_A_NODE_NAME],
				    VS_NODE_NAME_RULES);
		return -EINVAL;
	}
	if (!nest) {
		NL_SET_ERR_MSG(info->extack, "missing bitmap (VSTORAGE_A_BITMAP)");
		NL_SET_ERR_ATTR_MISS(info->extack, NULL, VSTORAGE_A_BITMAP);
		return -EINVAL;
	}
	/* the family's policy validated the nest already */
	ret = nla_parse_nested(tb, VSTORAGE_BITMAP_MAX, nest, NULL,
			       info->extack);
	if (ret)
		return ret;
	if (!tb[VSTORAGE_BITMAP_NAME]) {
		NL_SET_ERR_MSG(info->extack,
			       "missing bitmap name (VSTORAGE_BITMAP_NAME)");
		NL_SET_ERR_ATTR_MISS(info->extack, nest, VSTORAGE_BITMAP_NAME);
		return -EINVAL;
	}
	return 0;
}

static bool vs_nl_bm_flag(struct nlattr **tb, int type)
{
	return tb[type] && nla_get_u8(tb[type]);
}

int vs_nl_bitmap_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[VSTORAGE_BITMAP_MAX + 1];
	const char *node, *name, *error = NULL;
	u8 cmd = info->genlhdr->cmd;
	int ret;

	ret = vs_nl_bm_parse(info, tb, &node);
	if (ret)
		return ret;
	name = nla_data(tb[VSTORAGE_BITMAP_NAME]);
	/* attributes of another command are refused, not ignored */
	if (cmd != VSTORAGE_CMD_BITMAP_ADD &&
	    (tb[VSTORAGE_BITMAP_GRANULARITY] || tb[VSTORAGE_BITMAP_PERSISTENT] ||
	     tb[VSTORAGE_BITMAP_DISABLED])) {
		NL_SET_ERR_MSG(info->extack,
			       "granularity, persistent and disabled are for BITMAP_ADD only");
		return -EINVAL;
	}
	if (cmd != VSTORAGE_CMD_BITMAP_MERGE && tb[VSTORAGE_BITMAP_SOURCE]) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[VSTORAGE_BITMAP_SOURCE],
				    "sources are for BITMAP_MERGE only");
		return -EINVAL;
	}
	switch (cmd) {
	case VSTORAGE_CMD_BITMAP_ADD: {
		u32 flags = 0, gran = 0;

		if (tb[VSTORAGE_BITMAP_GRANULARITY])
			gran = nla_get_u32(tb[VSTORAGE_BITMAP_GRANULARITY]);
		if (vs_nl_bm_flag(tb, VSTORAGE_BITMAP_PERSISTENT))
			flags |= VS_BITMAP_F_PERSISTENT;
		if (vs_nl_bm_flag(tb, VSTORAGE_BITMAP_DISABLED))
			flags |= VS_BITMAP_F_DISABLED;
		ret = vs_bitmap_add(node, name, gran, flags, &error);
		break;
	}
	case VSTORAGE_CMD_BITMAP_DEL:
		ret = vs_bitmap_del(node, name, &error);
		break;
	case VSTORAGE_CMD_BITMAP_CLEAR:
		ret = vs_bitmap_clear(node, name, &error);
		break;
	case VSTORAGE_CMD_BITMAP_ENABLE:
	case VSTORAGE_CMD_BITMAP_DISABLE:
		ret = vs_bitmap_enable(node, name,
				       cmd == VSTORAGE_CMD_BITMAP_ENABLE, &error);
		break;
	case VSTORAGE_CMD_BITMAP_MERGE: {
		const char **sources;
		struct nlattr *a;
		unsigned int nr = 0;
		int rem;

		sources = kcalloc(VS_BITMAP_MERGE_MAX, sizeof(*sources),
				  GFP_KERNEL);
		if (!sources)
			return -ENOMEM;
		nla_for_each_nested(a, info->attrs[VSTORAGE_A_BITMAP], rem) {
			if (nla_type(a) != VSTORAGE_BITMAP_SOURCE)
				continue;
			if (nr == VS_BITMAP_MERGE_MAX) {
				NL_SET_ERR_MSG_ATTR(info->extack, a,
						    "too many sources (at most 64)");
				kfree(sources);
				return -E2BIG;
			}
			sources[nr++] = nla_data(a);
		}
		if (!nr) {
			NL_SET_ERR_MSG(info->extack,
				       "missing source bitmaps (VSTORAGE_BITMAP_SOURCE)");
			kfree(sources);
			return -EINVAL;
		}
		ret = vs_bitmap_merge(node, name, sources, nr, &error);
		kfree(sources);
		break;
	}
	default:
		return -EOPNOTSUPP;
	}
	if (ret)
		vs_nl_bm_err(info, error);
	return ret;
}

static int vs_nl_bm_fill(struct sk_buff *skb, const char *node,
			 const struct vs_bitmap_info *bi, u32 portid, u32 seq,
			 int flags)
{
	struct nlattr *nest;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &vs_genl_family, flags,
			  VSTORAGE_CMD_BITMAP_GET);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_string(skb, VSTORAGE_A_NODE_NAME, node))
		goto cancel;
	nest = nla_nest_start(skb, VSTORAGE_A_BITMAP);
	if (!nest)
		goto cancel;
	if (nla_put_string(skb, VSTORAGE_BITMAP_NAME, bi->name) ||
	    nla_put_u32(skb, VSTORAGE_BITMAP_GRANULARITY, bi->granularity) ||
	    nla_put_u64_64bit(skb, VSTORAGE_BITMAP_COUNT, bi->count,
			      VSTORAGE_BITMAP_PAD) ||
	    nla_put_u8(skb, VSTORAGE_BITMAP_PERSISTENT, bi->persistent) ||
	    nla_put_u8(skb, VSTORAGE_BITMAP_ENABLED, bi->enabled) ||
	    nla_put_u8(skb, VSTORAGE_BITMAP_BUSY, bi->busy) ||
	    nla_put_u8(skb, VSTORAGE_BITMAP_INCONSISTENT, bi->inconsistent))
		goto cancel;
	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	return 0;
cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

int vs_nl_bitmap_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[VSTORAGE_BITMAP_MAX + 1];
	struct vs_bitmap_info bi;
	struct sk_buff *msg;
	const char *node;
	int ret;

	ret = vs_nl_bm_parse(info, tb, &node);
	if (ret)
		return ret;
	ret = vs_bitmap_get(node, nla_data(tb[VSTORAGE_BITMAP_NAME]), 0, &bi);
	if (ret) {
		if (ret == -ENODEV)
			NL_SET_ERR_MSG(info->extack, "no such node");
		else
			NL_SET_ERR_MSG(info->extack, "no such bitmap on the node");
		return ret;
	}
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		ret = -ENOMEM;
		goto out;
	}
	ret = vs_nl_bm_fill(msg, node, &bi, info->snd_portid, info->snd_seq, 0);
	if (ret) {
		nlmsg_free(msg);
		goto out;
	}
	ret = genlmsg_reply(msg, info);
out:
	vs_bitmap_info_free(&bi);
	return ret;
}

/* cb->args[0]: the next bitmap's index. */
int vs_nl_bitmap_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	const struct genl_dumpit_info *di = genl_dumpit_info(cb);
	struct nlattr *attr = di->attrs[VSTORAGE_A_NODE_NAME];
	unsigned long idx = cb->args[0];
	struct vs_bitmap_info bi;
	const char *node;
	int ret;

	if (!attr) {
		NL_SET_ERR_MSG(cb->extack,
			       "a dump of bitmaps needs a node name (VSTORAGE_A_NODE_NAME)");
		return -EINVAL;
	}
	node = nla_data(attr);
	for (;;) {
		ret = vs_bitmap_get(node, NULL, idx, &bi);
		if (ret == -ENOENT)
			break;
		if (ret) {
			/* no such node: an error, unless a part was sent */
			if (idx)
				break;
			NL_SET_ERR_MSG(cb->extack, "no such node");
			return ret;
		}
		ret = vs_nl_bm_fill(skb, node, &bi, NETLINK_CB(cb->skb).portid,
				    cb->nlh->nlmsg_seq, NLM_F_MULTI);
		vs_bitmap_info_free(&bi);
		/* a full message ends this part; the next call continues */
		if (ret)
			break;
		idx++;
	}
	cb->args[0] = idx;
	return skb->len;
}
