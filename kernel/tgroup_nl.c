// SPDX-License-Identifier: GPL-2.0
/*
 * The throttle group commands of the "vstorage" netlink family
 * (Documentation/netlink.rst, "Throttle groups"): NEW, SET, DEL and GET of
 * the groups that tgroup.c keeps. Limits travel as a nest of the 19 u64
 * attributes of enum vstorage_throttle_attr, in bucket.h's order.
 */
#include <linux/slab.h>
#include <net/genetlink.h>

#include "vstorage.h"

/*
 * ERROR is one of the static strings of tgroup.c and bucket.c; NL_SET_ERR_MSG
 * wants a literal, and 6.1 has no formatted extack message.
 */
static void vs_nl_set_err(struct genl_info *info, const char *error)
{
	if (info->extack)
		info->extack->_msg = error;
}

static const char *vs_nl_tgroup_name(struct genl_info *info)
{
	struct nlattr *attr = info->attrs[VSTORAGE_A_TGROUP_NAME];

	if (!attr) {
		NL_SET_ERR_MSG(info->extack,
			       "missing throttle group name (VSTORAGE_A_TGROUP_NAME)");
		NL_SET_ERR_ATTR_MISS(info->extack, NULL, VSTORAGE_A_TGROUP_NAME);
		return NULL;
	}
	if (!vs_node_name_valid(nla_data(attr))) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr,
				    "invalid throttle group name (letters, digits, '-', '_', '.', starting with a letter, at most 31 characters)");
		return NULL;
	}
	return nla_data(attr);
}

/* The limits present in the request into LIMITS, and which into GIVEN. */
static int vs_nl_tgroup_limits(struct genl_info *info,
			       struct vs_thr_limits *limits, bool *given)
{
	struct nlattr *tb[VSTORAGE_THROTTLE_MAX + 1];
	struct nlattr *nest = info->attrs[VSTORAGE_A_TGROUP_LIMITS];
	unsigned int i;
	int ret;

	memset(limits, 0, sizeof(*limits));
	memset(given, 0, VS_THR_NR_LIMITS * sizeof(*given));
	if (!nest)
		return 0;
	/* the policy validated the nest already */
	ret = nla_parse_nested(tb, VSTORAGE_THROTTLE_MAX, nest, NULL,
			       info->extack);
	if (ret)
		return ret;
	for (i = 0; i < VS_THR_NR_LIMITS; i++) {
		struct nlattr *a = tb[VSTORAGE_THROTTLE_BPS_TOTAL + i];

		if (!a)
			continue;
		given[i] = true;
		vs_thr_limit_set(limits, i, nla_get_u64(a));
	}
	return 0;
}

static int vs_nl_put_limits(struct sk_buff *skb,
			    const struct vs_thr_limits *limits)
{
	struct nlattr *nest = nla_nest_start(skb, VSTORAGE_A_TGROUP_LIMITS);
	unsigned int i;

	if (!nest)
		return -EMSGSIZE;
	for (i = 0; i < VS_THR_NR_LIMITS; i++)
		if (nla_put_u64_64bit(skb, VSTORAGE_THROTTLE_BPS_TOTAL + i,
				      vs_thr_limit_get(limits, i),
				      VSTORAGE_THROTTLE_PAD)) {
			nla_nest_cancel(skb, nest);
			return -EMSGSIZE;
		}
	nla_nest_end(skb, nest);
	return 0;
}

static int vs_nl_put_tgroup_stats(struct sk_buff *skb,
				  const struct vs_tgroup_info *ti)
{
	struct nlattr *nest = nla_nest_start(skb, VSTORAGE_A_TGROUP_STATS);

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, VSTORAGE_TGROUP_STATS_RD_BYTES, ti->bytes[0],
			      VSTORAGE_TGROUP_STATS_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_TGROUP_STATS_RD_OPS, ti->ops[0],
			      VSTORAGE_TGROUP_STATS_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_TGROUP_STATS_WR_BYTES, ti->bytes[1],
			      VSTORAGE_TGROUP_STATS_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_TGROUP_STATS_WR_OPS, ti->ops[1],
			      VSTORAGE_TGROUP_STATS_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_TGROUP_STATS_THROTTLED_NS,
			      ti->throttled_ns, VSTORAGE_TGROUP_STATS_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_TGROUP_STATS_THROTTLED_OPS,
			      ti->throttled_ops, VSTORAGE_TGROUP_STATS_PAD) ||
	    nla_put_u32(skb, VSTORAGE_TGROUP_STATS_QUEUED, ti->queued)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int vs_nl_fill_tgroup(struct sk_buff *skb,
			     const struct vs_tgroup_info *ti, u32 portid,
			     u32 seq, int flags, u8 cmd,
			     struct netlink_callback *cb)
{
	unsigned int i;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &vs_genl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (cb)
		genl_dump_check_consistent(cb, hdr);
	if (nla_put_string(skb, VSTORAGE_A_TGROUP_NAME, ti->name) ||
	    vs_nl_put_limits(skb, &ti->limits))
		goto cancel;
	for (i = 0; i < ti->nr_members; i++)
		if (nla_put_string(skb, VSTORAGE_A_TGROUP_MEMBER,
				   ti->members[i]))
			goto cancel;
	if (vs_nl_put_tgroup_stats(skb, ti))
		goto cancel;
	genlmsg_end(skb, hdr);
	return 0;
cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

/* The group as it is now (or, after a DEL, as it was) to the events group. */
static void vs_nl_tgroup_notify(const struct vs_tgroup_info *ti, u8 cmd)
{
	struct sk_buff *skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);

	if (!skb)
		return;
	if (vs_nl_fill_tgroup(skb, ti, 0, 0, 0, cmd, NULL)) {
		nlmsg_free(skb);
		return;
	}
	vs_nl_multicast(skb);
}

static void vs_nl_tgroup_notify_name(const char *name, u8 cmd)
{
	struct vs_tgroup_info *ti = kmalloc(sizeof(*ti), GFP_KERNEL);

	if (!ti)
		return;
	if (!vs_tgroup_snapshot(name, 0, ti))
		vs_nl_tgroup_notify(ti, cmd);
	kfree(ti);
}

int vs_nl_tgroup_new_doit(struct sk_buff *skb, struct genl_info *info)
{
	bool given[VS_THR_NR_LIMITS];
	struct vs_thr_limits limits;
	const char *name, *error = NULL;
	int ret;

	name = vs_nl_tgroup_name(info);
	if (!name)
		return -EINVAL;
	ret = vs_nl_tgroup_limits(info, &limits, given);
	if (ret)
		return ret;
	ret = vs_tgroup_create(name, &limits, &error);
	if (ret) {
		if (error)
			vs_nl_set_err(info, error);
		return ret;
	}
	vs_nl_tgroup_notify_name(name, VSTORAGE_CMD_TGROUP_NEW);
	return 0;
}

int vs_nl_tgroup_set_doit(struct sk_buff *skb, struct genl_info *info)
{
	bool given[VS_THR_NR_LIMITS];
	struct vs_thr_limits limits;
	const char *name, *error = NULL;
	int ret;

	name = vs_nl_tgroup_name(info);
	if (!name)
		return -EINVAL;
	if (!info->attrs[VSTORAGE_A_TGROUP_LIMITS]) {
		NL_SET_ERR_MSG(info->extack,
			       "missing limits (VSTORAGE_A_TGROUP_LIMITS)");
		NL_SET_ERR_ATTR_MISS(info->extack, NULL,
				     VSTORAGE_A_TGROUP_LIMITS);
		return -EINVAL;
	}
	ret = vs_nl_tgroup_limits(info, &limits, given);
	if (ret)
		return ret;
	ret = vs_tgroup_set_limits(name, &limits, given, &error);
	if (ret) {
		if (error)
			vs_nl_set_err(info, error);
		return ret;
	}
	vs_nl_tgroup_notify_name(name, VSTORAGE_CMD_TGROUP_SET);
	return 0;
}

int vs_nl_tgroup_del_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct vs_tgroup_info *ti;
	const char *name, *error = NULL;
	int ret;

	name = vs_nl_tgroup_name(info);
	if (!name)
		return -EINVAL;
	ti = kmalloc(sizeof(*ti), GFP_KERNEL);
	if (!ti)
		return -ENOMEM;
	/* what the notification says the group was */
	vs_tgroup_snapshot(name, 0, ti);
	ret = vs_tgroup_delete(name, &error);
	if (ret) {
		if (error)
			vs_nl_set_err(info, error);
	} else {
		vs_nl_tgroup_notify(ti, VSTORAGE_CMD_TGROUP_DEL);
	}
	kfree(ti);
	return ret;
}

int vs_nl_tgroup_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct vs_tgroup_info *ti;
	struct sk_buff *msg;
	const char *name;
	int ret;

	name = vs_nl_tgroup_name(info);
	if (!name)
		return -EINVAL;
	ti = kmalloc(sizeof(*ti), GFP_KERNEL);
	if (!ti)
		return -ENOMEM;
	ret = vs_tgroup_snapshot(name, 0, ti);
	if (ret) {
		NL_SET_ERR_MSG(info->extack, "no such throttle group");
		goto out;
	}
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		ret = -ENOMEM;
		goto out;
	}
	ret = vs_nl_fill_tgroup(msg, ti, info->snd_portid, info->snd_seq, 0,
				VSTORAGE_CMD_TGROUP_GET, NULL);
	if (ret) {
		nlmsg_free(msg);
		goto out;
	}
	ret = genlmsg_reply(msg, info);
out:
	kfree(ti);
	return ret;
}

/* cb->args[0]: the next group's index; cb->seq: the groups' generation */
int vs_nl_tgroup_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct vs_tgroup_info *ti = kmalloc(sizeof(*ti), GFP_KERNEL);
	unsigned long idx = cb->args[0];

	if (!ti)
		return -ENOMEM;
	while (!vs_tgroup_snapshot(NULL, idx, ti)) {
		cb->seq = ti->generation;
		/* a full message ends this part; the next call continues */
		if (vs_nl_fill_tgroup(skb, ti, NETLINK_CB(cb->skb).portid,
				      cb->nlh->nlmsg_seq, NLM_F_MULTI,
				      VSTORAGE_CMD_TGROUP_GET, cb))
			break;
		idx++;
	}
	cb->args[0] = idx;
	kfree(ti);
	return skb->len;
}
