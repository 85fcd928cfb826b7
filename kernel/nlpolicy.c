// SPDX-License-Identifier: GPL-2.0
/*
 * The attribute policies of the vstorage netlink family's operations, apart
 * from the handlers so that the KUnit suite (tests/kunit) checks the very
 * tables the family uses.
 */
#include <net/netlink.h>

#include "vstorage.h"

const struct nla_policy vs_node_get_policy[VSTORAGE_A_MAX + 1] = {
	[VSTORAGE_A_NODE_NAME] = { .type = NLA_NUL_STRING,
				   .len = VSTORAGE_NODE_NAME_MAX },
	[VSTORAGE_A_NODE_DEV_MAJOR] = { .type = NLA_U32 },
	[VSTORAGE_A_NODE_DEV_MINOR] = { .type = NLA_U32 },
};

const struct nla_policy vs_block_status_policy[VSTORAGE_A_MAX + 1] = {
	[VSTORAGE_A_NODE_NAME] = { .type = NLA_NUL_STRING,
				   .len = VSTORAGE_NODE_NAME_MAX },
	[VSTORAGE_A_OFFSET] = { .type = NLA_U64 },
	[VSTORAGE_A_LENGTH] = NLA_POLICY_MIN(NLA_U64, 1),
	[VSTORAGE_A_MAX_EXTENTS] = NLA_POLICY_RANGE(NLA_U32, 1,
						    VSTORAGE_MAX_EXTENTS),
};

static const struct nla_policy vs_throttle_policy[VSTORAGE_THROTTLE_MAX + 1] = {
	[VSTORAGE_THROTTLE_BPS_TOTAL ... VSTORAGE_THROTTLE_IOPS_SIZE] = {
		.type = NLA_U64 },
};

/* Limits above QEMU's 1e15 are refused by vs_thr_limits_check(), by name. */
const struct nla_policy vs_tgroup_policy[VSTORAGE_A_MAX + 1] = {
	[VSTORAGE_A_TGROUP_NAME] = { .type = NLA_NUL_STRING,
				     .len = VSTORAGE_NODE_NAME_MAX },
	[VSTORAGE_A_TGROUP_LIMITS] = NLA_POLICY_NESTED(vs_throttle_policy),
};

static const struct nla_policy vs_job_attr_policy[VSTORAGE_JOB_MAX + 1] = {
	[VSTORAGE_JOB_ID] = { .type = NLA_NUL_STRING,
			      .len = VSTORAGE_JOB_ID_MAX },
	[VSTORAGE_JOB_TYPE] = { .type = NLA_NUL_STRING,
				.len = VSTORAGE_DRIVER_NAME_MAX },
	[VSTORAGE_JOB_NODE] = { .type = NLA_NUL_STRING,
				.len = VSTORAGE_NODE_NAME_MAX },
	[VSTORAGE_JOB_BASE] = { .type = NLA_NUL_STRING,
				.len = VSTORAGE_NODE_NAME_MAX },
	[VSTORAGE_JOB_FILTER] = { .type = NLA_NUL_STRING,
				  .len = VSTORAGE_NODE_NAME_MAX },
	[VSTORAGE_JOB_SPEED] = { .type = NLA_U64 },
	[VSTORAGE_JOB_ON_ERROR] = NLA_POLICY_MAX(NLA_U32,
						 __VSTORAGE_JOB_ON_ERROR_MAX - 1),
	[VSTORAGE_JOB_AUTO_FINALIZE] = NLA_POLICY_MAX(NLA_U8, 1),
	[VSTORAGE_JOB_AUTO_DISMISS] = NLA_POLICY_MAX(NLA_U8, 1),
	[VSTORAGE_JOB_ERROR] = { .type = NLA_NUL_STRING,
				 .len = VSTORAGE_JOB_ERROR_MAX },
	[VSTORAGE_JOB_TARGET] = { .type = NLA_NUL_STRING,
				  .len = VSTORAGE_NODE_NAME_MAX },
	[VSTORAGE_JOB_SYNC] = NLA_POLICY_MAX(NLA_U32,
					     __VSTORAGE_JOB_SYNC_MAX - 1),
	[VSTORAGE_JOB_GRANULARITY] = { .type = NLA_U32 },
	[VSTORAGE_JOB_COPY_MODE] = NLA_POLICY_MAX(NLA_U32,
						  __VSTORAGE_JOB_COPY_MAX - 1),
	[VSTORAGE_JOB_BITMAP] = { .type = NLA_NUL_STRING,
				  .len = VSTORAGE_NODE_NAME_MAX },
	[VSTORAGE_JOB_BITMAP_MODE] = NLA_POLICY_MAX(NLA_U32,
						    __VSTORAGE_JOB_BITMAP_MAX - 1),
};

const struct nla_policy vs_job_policy[VSTORAGE_A_MAX + 1] = {
	[VSTORAGE_A_JOB] = NLA_POLICY_NESTED(vs_job_attr_policy),
};

static const struct nla_policy vs_bitmap_attr_policy[VSTORAGE_BITMAP_MAX + 1] = {
	[VSTORAGE_BITMAP_NAME] = { .type = NLA_NUL_STRING,
				   .len = VSTORAGE_BITMAP_NAME_MAX },
	/* a power of 2 from 512 to 2^31: vs_bitmap_add() says which */
	[VSTORAGE_BITMAP_GRANULARITY] = { .type = NLA_U32 },
	[VSTORAGE_BITMAP_PERSISTENT] = NLA_POLICY_MAX(NLA_U8, 1),
	[VSTORAGE_BITMAP_DISABLED] = NLA_POLICY_MAX(NLA_U8, 1),
	[VSTORAGE_BITMAP_SOURCE] = { .type = NLA_NUL_STRING,
				     .len = VSTORAGE_BITMAP_NAME_MAX },
};

/* Reply-only attributes (COUNT, ENABLED, BUSY, ...) are refused in requests. */
const struct nla_policy vs_bitmap_policy[VSTORAGE_A_MAX + 1] = {
	[VSTORAGE_A_NODE_NAME] = { .type = NLA_NUL_STRING,
				   .len = VSTORAGE_NODE_NAME_MAX },
	[VSTORAGE_A_BITMAP] = NLA_POLICY_NESTED(vs_bitmap_attr_policy),
};
