// SPDX-License-Identifier: GPL-2.0
/*
 * The "vstorage" generic netlink family. Documentation/netlink.rst and
 * Documentation/netlink/vstorage.yaml describe it; uapi/linux/vstorage.h
 * holds the numbers.
 *
 * Every operation has its own strict policy (nlpolicy.c): unknown
 * attributes, wrong types, oversized strings and trailing garbage are
 * refused by the netlink core with an extack message before a handler runs.
 */
#include <linux/dm-ioctl.h>
#include <linux/module.h>
#include <net/genetlink.h>

#include "vstorage.h"
#include "jobs/job.h"

enum vs_mcgrp {
	VS_MCGRP_EVENTS,
};

static const struct genl_multicast_group vs_mcgrps[] = {
	[VS_MCGRP_EVENTS] = { .name = VSTORAGE_GENL_MCGRP_EVENTS },
};

static int vs_nl_put_child(struct sk_buff *skb, const struct vs_child *child)
{
	struct nlattr *nest;
	struct vs_node *below;

	nest = nla_nest_start(skb, VSTORAGE_A_NODE_CHILD);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_string(skb, VSTORAGE_CHILD_ROLE, child->role) ||
	    (child->path &&
	     nla_put_string(skb, VSTORAGE_CHILD_PATH, child->path)))
		goto cancel;
	if (child->dev) {
		if (nla_put_u32(skb, VSTORAGE_CHILD_DEV_MAJOR, MAJOR(child->dev)) ||
		    nla_put_u32(skb, VSTORAGE_CHILD_DEV_MINOR, MINOR(child->dev)))
			goto cancel;
		below = vs_node_get_by_dev(child->dev);
		if (below) {
			int ret = nla_put_string(skb, VSTORAGE_CHILD_NODE_NAME,
						 below->name);

			vs_node_put(below);
			if (ret)
				goto cancel;
		}
	}
	nla_nest_end(skb, nest);
	return 0;
cancel:
	nla_nest_cancel(skb, nest);
	return -EMSGSIZE;
}

static int vs_nl_put_stats(struct sk_buff *skb, struct vs_node *node)
{
	struct vs_stats sum;
	struct nlattr *nest;

	vs_node_stats_sum(node, &sum);
	nest = nla_nest_start(skb, VSTORAGE_A_NODE_STATS);
	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, VSTORAGE_STATS_RD_IOS, sum.rd_ios,
			      VSTORAGE_STATS_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_STATS_RD_BYTES, sum.rd_bytes,
			      VSTORAGE_STATS_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_STATS_WR_IOS, sum.wr_ios,
			      VSTORAGE_STATS_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_STATS_WR_BYTES, sum.wr_bytes,
			      VSTORAGE_STATS_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_STATS_FLUSH_IOS, sum.flush_ios,
			      VSTORAGE_STATS_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_STATS_DISCARD_IOS, sum.discard_ios,
			      VSTORAGE_STATS_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_STATS_ERRORS, sum.errors,
			      VSTORAGE_STATS_PAD)) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int vs_nl_fill_node(struct sk_buff *skb, struct vs_node *node,
			   u32 portid, u32 seq, int flags, u8 cmd,
			   struct netlink_callback *cb)
{
	struct mapped_device *md = dm_table_get_md(node->ti->table);
	dev_t devt = vs_node_devt(node);
	char dm_name[DM_NAME_LEN];
	struct nlattr *info;
	unsigned int i;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &vs_genl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (cb)
		genl_dump_check_consistent(cb, hdr);

	if (nla_put_string(skb, VSTORAGE_A_NODE_NAME, node->name) ||
	    nla_put_string(skb, VSTORAGE_A_NODE_DRIVER, node->driver) ||
	    nla_put_u64_64bit(skb, VSTORAGE_A_NODE_SIZE, vs_node_size(node),
			      VSTORAGE_A_PAD) ||
	    nla_put_u8(skb, VSTORAGE_A_NODE_READ_ONLY, node->read_only) ||
	    nla_put_u32(skb, VSTORAGE_A_NODE_DEV_MAJOR, MAJOR(devt)) ||
	    nla_put_u32(skb, VSTORAGE_A_NODE_DEV_MINOR, MINOR(devt)))
		goto cancel;
	/* dm_device_name() is "MAJ:MIN"; the name lives in dm's hash cell,
	 * which is already gone while a removed device's table is destroyed.
	 */
	if (!dm_copy_name_and_uuid(md, dm_name, NULL) &&
	    nla_put_string(skb, VSTORAGE_A_NODE_DM_NAME, dm_name))
		goto cancel;

	for (i = 0; i < node->nr_children; i++)
		if (vs_nl_put_child(skb, &node->children[i]))
			goto cancel;

	if (node->ops->fill_info) {
		info = nla_nest_start(skb, VSTORAGE_A_NODE_INFO);
		if (!info || node->ops->fill_info(node, skb))
			goto cancel;
		nla_nest_end(skb, info);
	}

	if (vs_nl_put_stats(skb, node))
		goto cancel;

	genlmsg_end(skb, hdr);
	return 0;
cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

bool vs_nl_has_listeners(void)
{
	return genl_has_listeners(&vs_genl_family, &init_net, VS_MCGRP_EVENTS);
}

void vs_nl_multicast(struct sk_buff *skb)
{
	genlmsg_multicast(&vs_genl_family, skb, 0, VS_MCGRP_EVENTS, GFP_KERNEL);
}

void vs_nl_notify_node(struct vs_node *node, u8 cmd)
{
	struct sk_buff *skb;

	if (!genl_has_listeners(&vs_genl_family, &init_net, VS_MCGRP_EVENTS))
		return;

	skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!skb)
		return;
	if (vs_nl_fill_node(skb, node, 0, 0, 0, cmd, NULL)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_multicast(&vs_genl_family, skb, 0, VS_MCGRP_EVENTS, GFP_KERNEL);
}

static struct vs_node *vs_nl_lookup(struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	struct nlattr *major = attrs[VSTORAGE_A_NODE_DEV_MAJOR];
	struct nlattr *minor = attrs[VSTORAGE_A_NODE_DEV_MINOR];
	struct vs_node *node;

	if (attrs[VSTORAGE_A_NODE_NAME]) {
		if (major || minor) {
			NL_SET_ERR_MSG(info->extack,
				       "give a node name or a device number, not both");
			return ERR_PTR(-EINVAL);
		}
		if (!vs_node_name_valid(nla_data(attrs[VSTORAGE_A_NODE_NAME]))) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    attrs[VSTORAGE_A_NODE_NAME],
					    "invalid node name");
			return ERR_PTR(-EINVAL);
		}
		node = vs_node_get_by_name(nla_data(attrs[VSTORAGE_A_NODE_NAME]));
		if (!node) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    attrs[VSTORAGE_A_NODE_NAME],
					    "no node with this name");
			return ERR_PTR(-ENOENT);
		}
		return node;
	}

	if (major || minor) {
		if (!major || !minor) {
			NL_SET_ERR_MSG(info->extack,
				       "a device number needs both major and minor");
			return ERR_PTR(-EINVAL);
		}
		node = vs_node_get_by_dev(MKDEV(nla_get_u32(major),
						nla_get_u32(minor)));
		if (!node) {
			NL_SET_ERR_MSG(info->extack,
				       "no node on this device number");
			return ERR_PTR(-ENOENT);
		}
		return node;
	}

	NL_SET_ERR_MSG(info->extack, "missing node name (VSTORAGE_A_NODE_NAME)");
	NL_SET_ERR_ATTR_MISS(info->extack, NULL, VSTORAGE_A_NODE_NAME);
	return ERR_PTR(-EINVAL);
}

static int vs_nl_node_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct vs_node *node;
	struct sk_buff *msg;
	int ret;

	node = vs_nl_lookup(info);
	if (IS_ERR(node))
		return PTR_ERR(node);

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		ret = -ENOMEM;
		goto out;
	}
	ret = vs_nl_fill_node(msg, node, info->snd_portid, info->snd_seq, 0,
			      VSTORAGE_CMD_NODE_GET, NULL);
	if (ret) {
		nlmsg_free(msg);
		goto out;
	}
	ret = genlmsg_reply(msg, info);
out:
	vs_node_put(node);
	return ret;
}

static int vs_nl_node_get_dumpit(struct sk_buff *skb,
				 struct netlink_callback *cb)
{
	unsigned long idx = cb->args[0];
	struct vs_node *node;
	int ret = 0;

	cb->seq = vs_node_generation();
	while ((node = vs_node_get_nth(idx))) {
		ret = vs_nl_fill_node(skb, node, NETLINK_CB(cb->skb).portid,
				      cb->nlh->nlmsg_seq, NLM_F_MULTI,
				      VSTORAGE_CMD_NODE_GET, cb);
		vs_node_put(node);
		if (ret)
			break;
		idx++;
	}
	cb->args[0] = idx;
	/* a message that does not fit an empty skb would never fit */
	if (ret && !skb->len)
		return ret;
	return skb->len;
}

static int vs_nl_put_extent(struct sk_buff *skb, u64 offset,
			    const struct vs_extent *ext, u32 depth,
			    struct vs_node *host)
{
	struct nlattr *nest = nla_nest_start(skb, VSTORAGE_A_EXTENT);

	if (!nest)
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, VSTORAGE_EXTENT_OFFSET, offset,
			      VSTORAGE_EXTENT_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_EXTENT_LENGTH, ext->length,
			      VSTORAGE_EXTENT_PAD) ||
	    nla_put_u32(skb, VSTORAGE_EXTENT_FLAGS,
			ext->flags & (VSTORAGE_BS_DATA | VSTORAGE_BS_ZERO |
				      VSTORAGE_BS_ALLOCATED |
				      VSTORAGE_BS_OFFSET_VALID)) ||
	    nla_put_u32(skb, VSTORAGE_EXTENT_DEPTH, depth) ||
	    nla_put_string(skb, VSTORAGE_EXTENT_HOST_NODE, host->name) ||
	    ((ext->flags & VS_EXT_OFFSET_VALID) &&
	     nla_put_u64_64bit(skb, VSTORAGE_EXTENT_HOST_OFFSET,
			       ext->host_offset, VSTORAGE_EXTENT_PAD))) {
		nla_nest_cancel(skb, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(skb, nest);
	return 0;
}

static int vs_nl_block_status_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **attrs = info->attrs;
	u32 max_extents = VSTORAGE_MAX_EXTENTS;
	u64 offset, end, size;
	struct vs_node *node;
	struct sk_buff *msg;
	unsigned int count = 0;
	void *hdr;
	int ret;

	if (!attrs[VSTORAGE_A_OFFSET]) {
		NL_SET_ERR_MSG(info->extack, "missing offset (VSTORAGE_A_OFFSET)");
		NL_SET_ERR_ATTR_MISS(info->extack, NULL, VSTORAGE_A_OFFSET);
		return -EINVAL;
	}

	node = vs_nl_lookup(info);
	if (IS_ERR(node))
		return PTR_ERR(node);

	size = vs_node_size(node);
	offset = nla_get_u64(attrs[VSTORAGE_A_OFFSET]);
	if (offset > size) {
		NL_SET_ERR_MSG_ATTR(info->extack, attrs[VSTORAGE_A_OFFSET],
				    "offset is beyond the end of the node");
		ret = -EINVAL;
		goto out;
	}
	end = size;
	if (attrs[VSTORAGE_A_LENGTH])
		end = offset + min(nla_get_u64(attrs[VSTORAGE_A_LENGTH]),
				   size - offset);
	if (attrs[VSTORAGE_A_MAX_EXTENTS])
		max_extents = nla_get_u32(attrs[VSTORAGE_A_MAX_EXTENTS]);

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg) {
		ret = -ENOMEM;
		goto out;
	}
	hdr = genlmsg_put(msg, info->snd_portid, info->snd_seq,
			  &vs_genl_family, 0, VSTORAGE_CMD_BLOCK_STATUS);
	if (!hdr || nla_put_string(msg, VSTORAGE_A_NODE_NAME, node->name)) {
		ret = -EMSGSIZE;
		goto free_msg;
	}

	/* Stop when the message is full: the caller continues from there. */
	while (offset < end && count < max_extents) {
		struct vs_extent ext;
		struct vs_node *host;
		u32 depth;

		ret = vs_block_status(node, offset, end - offset, &ext, &depth,
				      &host);
		if (ret) {
			NL_SET_ERR_MSG(info->extack, "block status query failed");
			goto free_msg;
		}
		ret = vs_nl_put_extent(msg, offset, &ext, depth, host);
		vs_node_put(host);
		if (ret)
			break;
		offset += ext.length;
		count++;
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto free_msg;
		}
	}
	genlmsg_end(msg, hdr);
	ret = genlmsg_reply(msg, info);
	goto out;

free_msg:
	nlmsg_free(msg);
out:
	vs_node_put(node);
	return ret;
}

static const struct genl_ops vs_genl_ops[] = {
	{
		.cmd = VSTORAGE_CMD_NODE_GET,
		.doit = vs_nl_node_get_doit,
		.dumpit = vs_nl_node_get_dumpit,
		.policy = vs_node_get_policy,
		.maxattr = VSTORAGE_A_MAX,
	},
	{
		.cmd = VSTORAGE_CMD_BLOCK_STATUS,
		.doit = vs_nl_block_status_doit,
		.policy = vs_block_status_policy,
		.maxattr = VSTORAGE_A_MAX,
		/* it reads image metadata: no unprivileged I/O triggers */
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_TGROUP_NEW,
		.doit = vs_nl_tgroup_new_doit,
		.policy = vs_tgroup_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_TGROUP_SET,
		.doit = vs_nl_tgroup_set_doit,
		.policy = vs_tgroup_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_TGROUP_DEL,
		.doit = vs_nl_tgroup_del_doit,
		.policy = vs_tgroup_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_TGROUP_GET,
		.doit = vs_nl_tgroup_get_doit,
		.dumpit = vs_nl_tgroup_get_dumpit,
		.policy = vs_tgroup_policy,
		.maxattr = VSTORAGE_A_MAX,
	},
	{
		.cmd = VSTORAGE_CMD_JOB_NEW,
		.doit = vs_nl_job_new_doit,
		.policy = vs_job_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_JOB_GET,
		.doit = vs_nl_job_get_doit,
		.dumpit = vs_nl_job_get_dumpit,
		.policy = vs_job_policy,
		.maxattr = VSTORAGE_A_MAX,
	},
	{
		.cmd = VSTORAGE_CMD_JOB_PAUSE,
		.doit = vs_nl_job_verb_doit,
		.policy = vs_job_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_JOB_RESUME,
		.doit = vs_nl_job_verb_doit,
		.policy = vs_job_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_JOB_CANCEL,
		.doit = vs_nl_job_verb_doit,
		.policy = vs_job_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_JOB_COMPLETE,
		.doit = vs_nl_job_verb_doit,
		.policy = vs_job_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_JOB_FINALIZE,
		.doit = vs_nl_job_verb_doit,
		.policy = vs_job_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_JOB_DISMISS,
		.doit = vs_nl_job_verb_doit,
		.policy = vs_job_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_JOB_SET_SPEED,
		.doit = vs_nl_job_verb_doit,
		.policy = vs_job_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_BITMAP_ADD,
		.doit = vs_nl_bitmap_doit,
		.policy = vs_bitmap_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_BITMAP_DEL,
		.doit = vs_nl_bitmap_doit,
		.policy = vs_bitmap_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_BITMAP_CLEAR,
		.doit = vs_nl_bitmap_doit,
		.policy = vs_bitmap_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_BITMAP_ENABLE,
		.doit = vs_nl_bitmap_doit,
		.policy = vs_bitmap_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_BITMAP_DISABLE,
		.doit = vs_nl_bitmap_doit,
		.policy = vs_bitmap_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_BITMAP_MERGE,
		.doit = vs_nl_bitmap_doit,
		.policy = vs_bitmap_policy,
		.maxattr = VSTORAGE_A_MAX,
		.flags = GENL_ADMIN_PERM,
	},
	{
		.cmd = VSTORAGE_CMD_BITMAP_GET,
		.doit = vs_nl_bitmap_get_doit,
		.dumpit = vs_nl_bitmap_get_dumpit,
		.policy = vs_bitmap_policy,
		.maxattr = VSTORAGE_A_MAX,
	},
};

struct genl_family vs_genl_family __ro_after_init = {
	.name = VSTORAGE_GENL_NAME,
	.version = VSTORAGE_GENL_VERSION,
	.maxattr = VSTORAGE_A_MAX,
	.netnsok = false,
	.module = THIS_MODULE,
	.ops = vs_genl_ops,
	.n_ops = ARRAY_SIZE(vs_genl_ops),
	.mcgrps = vs_mcgrps,
	.n_mcgrps = ARRAY_SIZE(vs_mcgrps),
};

int __init vs_nl_init(void)
{
	return genl_register_family(&vs_genl_family);
}

void vs_nl_exit(void)
{
	genl_unregister_family(&vs_genl_family);
}
