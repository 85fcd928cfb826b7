// SPDX-License-Identifier: GPL-2.0
/*
 * The block job commands of the "vstorage" netlink family
 * (Documentation/netlink.rst, "Block jobs"): NEW, GET and the verbs. Every
 * request carries one VSTORAGE_A_JOB nest; its policy (nlpolicy.c) is
 * strict, and no handler waits for a job: progress and ends are events.
 */
#include <linux/log2.h>
#include <linux/sizes.h>
#include <net/genetlink.h>

#include "job.h"

static const char *vs_nl_job_str(struct nlattr **tb, int type)
{
	return tb[type] ? nla_data(tb[type]) : NULL;
}

static int vs_nl_job_parse(struct genl_info *info, struct nlattr **tb)
{
	struct nlattr *nest = info->attrs[VSTORAGE_A_JOB];

	if (!nest) {
		NL_SET_ERR_MSG(info->extack, "missing job (VSTORAGE_A_JOB)");
		NL_SET_ERR_ATTR_MISS(info->extack, NULL, VSTORAGE_A_JOB);
		return -EINVAL;
	}
	/* the family's policy validated the nest already */
	return nla_parse_nested(tb, VSTORAGE_JOB_MAX, nest, NULL,
				info->extack);
}

/* A name attribute that must follow QEMU's node-name and id rules. */
static int vs_nl_job_name(struct genl_info *info, struct nlattr **tb,
			  int type, bool required, const char **out)
{
	*out = vs_nl_job_str(tb, type);
	if (!*out) {
		if (!required)
			return 0;
		if (type == VSTORAGE_JOB_ID)
			NL_SET_ERR_MSG(info->extack,
				       "missing job id (VSTORAGE_JOB_ID)");
		else
			NL_SET_ERR_MSG(info->extack,
				       "missing node name (VSTORAGE_JOB_NODE)");
		NL_SET_ERR_ATTR_MISS(info->extack, info->attrs[VSTORAGE_A_JOB],
				     type);
		return -EINVAL;
	}
	if (!vs_node_name_valid(*out)) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[type],
				    "invalid name (letters, digits, '-', '_', '.', starting with a letter, at most 31 characters)");
		return -EINVAL;
	}
	return 0;
}

int vs_nl_job_fill(struct sk_buff *skb, struct vs_job *job, u32 portid,
		   u32 seq, int flags, u8 cmd, struct netlink_callback *cb,
		   int operation, int action)
{
	struct nlattr *nest;
	void *hdr;

	hdr = genlmsg_put(skb, portid, seq, &vs_genl_family, flags, cmd);
	if (!hdr)
		return -EMSGSIZE;
	if (cb)
		genl_dump_check_consistent(cb, hdr);
	nest = nla_nest_start(skb, VSTORAGE_A_JOB);
	if (!nest)
		goto cancel;
	if (nla_put_string(skb, VSTORAGE_JOB_ID, job->id) ||
	    nla_put_string(skb, VSTORAGE_JOB_TYPE, job->type->name) ||
	    nla_put_string(skb, VSTORAGE_JOB_NODE, job->node) ||
	    (job->base[0] && nla_put_string(skb, VSTORAGE_JOB_BASE, job->base)) ||
	    (job->filter[0] &&
	     nla_put_string(skb, VSTORAGE_JOB_FILTER, job->filter)) ||
	    nla_put_u32(skb, VSTORAGE_JOB_STATE, job->state) ||
	    nla_put_u64_64bit(skb, VSTORAGE_JOB_OFFSET, job->offset,
			      VSTORAGE_JOB_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_JOB_LEN, job->len,
			      VSTORAGE_JOB_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_JOB_SPEED, job->speed,
			      VSTORAGE_JOB_PAD) ||
	    nla_put_u32(skb, VSTORAGE_JOB_ON_ERROR, job->on_error) ||
	    nla_put_u8(skb, VSTORAGE_JOB_AUTO_FINALIZE, job->auto_finalize) ||
	    nla_put_u8(skb, VSTORAGE_JOB_AUTO_DISMISS, job->auto_dismiss) ||
	    nla_put_u8(skb, VSTORAGE_JOB_BUSY, job->busy) ||
	    nla_put_u8(skb, VSTORAGE_JOB_PAUSED, job->user_paused) ||
	    nla_put_u8(skb, VSTORAGE_JOB_ACTIVE, job->active) ||
	    nla_put_u8(skb, VSTORAGE_JOB_CANCELLED, job->cancelled) ||
	    nla_put_u8(skb, VSTORAGE_JOB_PIVOTED, job->pivoted) ||
	    nla_put_u8(skb, VSTORAGE_JOB_NO_PIVOT, job->no_pivot) ||
	    (job->target[0] &&
	     (nla_put_string(skb, VSTORAGE_JOB_TARGET, job->target) ||
	      nla_put_u32(skb, VSTORAGE_JOB_SYNC, job->sync) ||
	      nla_put_u32(skb, VSTORAGE_JOB_COPY_MODE, job->copy_mode) ||
	      nla_put_u32(skb, VSTORAGE_JOB_GRANULARITY, job->granularity))) ||
	    (job->bitmap[0] &&
	     nla_put_string(skb, VSTORAGE_JOB_BITMAP, job->bitmap)) ||
	    (job->error_msg[0] &&
	     nla_put_string(skb, VSTORAGE_JOB_ERROR, job->error_msg)) ||
	    (operation >= 0 &&
	     (nla_put_u32(skb, VSTORAGE_JOB_OPERATION, operation) ||
	      nla_put_u32(skb, VSTORAGE_JOB_ACTION, action))))
		goto cancel;
	nla_nest_end(skb, nest);
	genlmsg_end(skb, hdr);
	return 0;
cancel:
	genlmsg_cancel(skb, hdr);
	return -EMSGSIZE;
}

/* Under job->lock. OPERATION and ACTION: JOB_IO_ERROR only, else -1. */
void vs_nl_job_notify(struct vs_job *job, u8 cmd, int operation, int action)
{
	struct sk_buff *skb;

	if (!vs_nl_has_listeners())
		return;
	skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!skb)
		return;
	if (vs_nl_job_fill(skb, job, 0, 0, 0, cmd, NULL, operation, action)) {
		nlmsg_free(skb);
		return;
	}
	vs_nl_multicast(skb);
}

static int vs_nl_job_reply(struct genl_info *info, struct vs_job *job)
{
	struct sk_buff *msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	int ret;

	if (!msg)
		return -ENOMEM;
	mutex_lock(&job->lock);
	ret = vs_nl_job_fill(msg, job, info->snd_portid, info->snd_seq, 0,
			     info->genlhdr->cmd, NULL, -1, -1);
	mutex_unlock(&job->lock);
	if (ret) {
		nlmsg_free(msg);
		return ret;
	}
	return genlmsg_reply(msg, info);
}

int vs_nl_job_new_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[VSTORAGE_JOB_MAX + 1];
	enum vstorage_job_on_error on_error = VSTORAGE_JOB_ON_ERROR_REPORT;
	struct vs_job_params params = {};
	bool auto_finalize = true, auto_dismiss = true;
	const char *id, *type;
	struct vs_job *job;
	u64 speed = 0;
	int ret;

	ret = vs_nl_job_parse(info, tb);
	if (ret)
		return ret;
	type = vs_nl_job_str(tb, VSTORAGE_JOB_TYPE);
	if (!type) {
		NL_SET_ERR_MSG(info->extack, "missing job type (VSTORAGE_JOB_TYPE)");
		return -EINVAL;
	}
	ret = vs_nl_job_name(info, tb, VSTORAGE_JOB_ID, false, &id) ?:
	      vs_nl_job_name(info, tb, VSTORAGE_JOB_NODE, true, &params.node) ?:
	      vs_nl_job_name(info, tb, VSTORAGE_JOB_BASE, false, &params.base) ?:
	      vs_nl_job_name(info, tb, VSTORAGE_JOB_FILTER, false,
			     &params.filter) ?:
	      vs_nl_job_name(info, tb, VSTORAGE_JOB_TARGET, false,
			     &params.target) ?:
	      vs_nl_job_name(info, tb, VSTORAGE_JOB_BITMAP, false,
			     &params.bitmap);
	if (ret)
		return ret;
	if (tb[VSTORAGE_JOB_SYNC]) {
		params.sync_given = true;
		params.sync = nla_get_u32(tb[VSTORAGE_JOB_SYNC]);
	}
	if (tb[VSTORAGE_JOB_GRANULARITY]) {
		params.granularity = nla_get_u32(tb[VSTORAGE_JOB_GRANULARITY]);
		/* QEMU's bounds */
		if (!is_power_of_2(params.granularity) ||
		    params.granularity < 512 || params.granularity > SZ_64M) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    tb[VSTORAGE_JOB_GRANULARITY],
					    "granularity must be a power of two from 512 B to 64 MiB");
			return -EINVAL;
		}
	}
	if (tb[VSTORAGE_JOB_COPY_MODE])
		params.copy_mode = nla_get_u32(tb[VSTORAGE_JOB_COPY_MODE]);
	if (tb[VSTORAGE_JOB_BITMAP_MODE])
		params.bitmap_mode = nla_get_u32(tb[VSTORAGE_JOB_BITMAP_MODE]);
	if (tb[VSTORAGE_JOB_SPEED])
		speed = nla_get_u64(tb[VSTORAGE_JOB_SPEED]);
	if (tb[VSTORAGE_JOB_ON_ERROR])
		on_error = nla_get_u32(tb[VSTORAGE_JOB_ON_ERROR]);
	if (tb[VSTORAGE_JOB_AUTO_FINALIZE])
		auto_finalize = nla_get_u8(tb[VSTORAGE_JOB_AUTO_FINALIZE]);
	if (tb[VSTORAGE_JOB_AUTO_DISMISS])
		auto_dismiss = nla_get_u8(tb[VSTORAGE_JOB_AUTO_DISMISS]);

	ret = vs_job_new(id, type, &params, speed, on_error, auto_finalize,
			 auto_dismiss, &job, info->extack);
	if (ret)
		return ret;
	ret = vs_nl_job_reply(info, job);
	vs_job_put(job);
	return ret;
}

static struct vs_job *vs_nl_job_lookup(struct genl_info *info,
				       struct nlattr **tb)
{
	struct vs_job *job;
	const char *id;
	int ret;

	ret = vs_nl_job_parse(info, tb) ?:
	      vs_nl_job_name(info, tb, VSTORAGE_JOB_ID, true, &id);
	if (ret)
		return ERR_PTR(ret);
	job = vs_job_get(id);
	if (!job) {
		NL_SET_ERR_MSG_ATTR(info->extack, tb[VSTORAGE_JOB_ID],
				    "no job with this id");
		return ERR_PTR(-ENOENT);
	}
	return job;
}

int vs_nl_job_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[VSTORAGE_JOB_MAX + 1];
	struct vs_job *job = vs_nl_job_lookup(info, tb);
	int ret;

	if (IS_ERR(job))
		return PTR_ERR(job);
	ret = vs_nl_job_reply(info, job);
	vs_job_put(job);
	return ret;
}

int vs_nl_job_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	unsigned long idx = cb->args[0];
	struct vs_job *job;
	int ret = 0;

	cb->seq = vs_jobs_generation();
	while ((job = vs_job_get_nth(idx))) {
		mutex_lock(&job->lock);
		ret = vs_nl_job_fill(skb, job, NETLINK_CB(cb->skb).portid,
				     cb->nlh->nlmsg_seq, NLM_F_MULTI,
				     VSTORAGE_CMD_JOB_GET, cb, -1, -1);
		mutex_unlock(&job->lock);
		vs_job_put(job);
		if (ret)
			break;
		idx++;
	}
	cb->args[0] = idx;
	if (ret && !skb->len)
		return ret;
	return skb->len;
}

static const enum vs_job_verb vs_nl_job_verbs[] = {
	[VSTORAGE_CMD_JOB_PAUSE] = VS_JOB_VERB_PAUSE,
	[VSTORAGE_CMD_JOB_RESUME] = VS_JOB_VERB_RESUME,
	[VSTORAGE_CMD_JOB_CANCEL] = VS_JOB_VERB_CANCEL,
	[VSTORAGE_CMD_JOB_COMPLETE] = VS_JOB_VERB_COMPLETE,
	[VSTORAGE_CMD_JOB_FINALIZE] = VS_JOB_VERB_FINALIZE,
	[VSTORAGE_CMD_JOB_DISMISS] = VS_JOB_VERB_DISMISS,
	[VSTORAGE_CMD_JOB_SET_SPEED] = VS_JOB_VERB_SET_SPEED,
};

int vs_nl_job_verb_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *tb[VSTORAGE_JOB_MAX + 1];
	u8 cmd = info->genlhdr->cmd;
	enum vs_job_verb verb;
	const char *error = NULL;
	struct vs_job *job;
	u64 speed = 0;
	int ret;

	if (cmd >= ARRAY_SIZE(vs_nl_job_verbs))
		return -EOPNOTSUPP;
	verb = vs_nl_job_verbs[cmd];
	job = vs_nl_job_lookup(info, tb);
	if (IS_ERR(job))
		return PTR_ERR(job);
	if (verb == VS_JOB_VERB_SET_SPEED) {
		if (!tb[VSTORAGE_JOB_SPEED]) {
			NL_SET_ERR_MSG(info->extack,
				       "missing speed (VSTORAGE_JOB_SPEED)");
			ret = -EINVAL;
			goto out;
		}
		speed = nla_get_u64(tb[VSTORAGE_JOB_SPEED]);
	}
	if (verb == VS_JOB_VERB_FINALIZE)
		error = vs_nl_job_str(tb, VSTORAGE_JOB_ERROR);
	ret = vs_job_verb(job, verb, speed, error, info->extack);
out:
	vs_job_put(job);
	return ret;
}
