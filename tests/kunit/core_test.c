// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: what the core module accepts from outside before any handler
 * runs: node names (vs_node_name_valid, shared by dm tables and netlink)
 * and the netlink family's attribute policies (kernel/nlpolicy.c), fed
 * well-formed and hostile attribute streams.
 */
#include <kunit/test.h>
#include <linux/string.h>
#include <net/netlink.h>

#include "vstorage.h"

static void vsk_node_names(struct kunit *test)
{
	static const char * const good[] = {
		"a", "vm0", "vm0-disk_1.qcow2", "Z9", "a-", "a.",
		"abcdefghijklmnopqrstuvwxyz01234",	/* 31: the longest */
	};
	static const char * const bad[] = {
		"", "0vm", "-vm", "_vm", ".vm", "vm 0", "vm/0", "vm:0",
		"vm\t", "vm\n", "vm\xc3\xa9", "../etc", "vm,0",
		"abcdefghijklmnopqrstuvwxyz012345",	/* 32 */
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(good); i++)
		KUNIT_EXPECT_TRUE_MSG(test, vs_node_name_valid(good[i]),
				      "refused '%s'", good[i]);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		KUNIT_EXPECT_FALSE_MSG(test, vs_node_name_valid(bad[i]),
				       "accepted '%s'", bad[i]);
	KUNIT_EXPECT_EQ(test, 32U, (u32)VSTORAGE_NODE_NAME_MAX + 1);
}

/* An attribute stream built in a buffer, as a netlink message carries it. */
struct vsk_attrs {
	u8 buf[512];
	int len;
};

static void vsk_put(struct vsk_attrs *a, u16 type, const void *data, u16 len)
{
	struct nlattr *nla = (struct nlattr *)(a->buf + a->len);

	nla->nla_type = type;
	nla->nla_len = nla_attr_size(len);
	memcpy(nla_data(nla), data, len);
	memset((u8 *)nla_data(nla) + len, 0, nla_padlen(len));
	a->len += nla_total_size(len);
}

static void vsk_put_u32(struct vsk_attrs *a, u16 type, u32 v)
{
	vsk_put(a, type, &v, sizeof(v));
}

static void vsk_put_u64(struct vsk_attrs *a, u16 type, u64 v)
{
	vsk_put(a, type, &v, sizeof(v));
}

static void vsk_put_str(struct vsk_attrs *a, u16 type, const char *s)
{
	vsk_put(a, type, s, strlen(s) + 1);
}

/* Parse as genetlink does for our ops (strict); expect RET. */
static void vsk_parse(struct kunit *test, const struct nla_policy *policy,
		      struct vsk_attrs *a, int ret, bool want_msg)
{
	struct nlattr *tb[VSTORAGE_A_MAX + 1];
	struct netlink_ext_ack extack = {};
	int got;

	got = nla_parse(tb, VSTORAGE_A_MAX, (struct nlattr *)a->buf, a->len,
			policy, &extack);
	KUNIT_EXPECT_EQ(test, ret, got);
	if (want_msg)
		KUNIT_EXPECT_NOT_NULL_MSG(test, extack._msg,
					  "refused without an extack message");
}

static void vsk_policy_block_status(struct kunit *test)
{
	const struct nla_policy *p = vs_block_status_policy;
	struct vsk_attrs a;

	memset(&a, 0, sizeof(a));
	vsk_put_str(&a, VSTORAGE_A_NODE_NAME, "vm0");
	vsk_put_u64(&a, VSTORAGE_A_OFFSET, 0);
	vsk_put_u64(&a, VSTORAGE_A_LENGTH, 1 << 20);
	vsk_put_u32(&a, VSTORAGE_A_MAX_EXTENTS, VSTORAGE_MAX_EXTENTS);
	vsk_parse(test, p, &a, 0, false);

	/* a zero length */
	memset(&a, 0, sizeof(a));
	vsk_put_u64(&a, VSTORAGE_A_LENGTH, 0);
	vsk_parse(test, p, &a, -ERANGE, true);

	/* extents out of 1..VSTORAGE_MAX_EXTENTS */
	memset(&a, 0, sizeof(a));
	vsk_put_u32(&a, VSTORAGE_A_MAX_EXTENTS, 0);
	vsk_parse(test, p, &a, -ERANGE, true);
	memset(&a, 0, sizeof(a));
	vsk_put_u32(&a, VSTORAGE_A_MAX_EXTENTS, VSTORAGE_MAX_EXTENTS + 1);
	vsk_parse(test, p, &a, -ERANGE, true);

	/* a u32 where a u64 belongs */
	memset(&a, 0, sizeof(a));
	vsk_put_u32(&a, VSTORAGE_A_OFFSET, 5);
	vsk_parse(test, p, &a, -EINVAL, true);

	/* an attribute type the family does not have */
	memset(&a, 0, sizeof(a));
	vsk_put_u32(&a, VSTORAGE_A_MAX + 1, 5);
	vsk_parse(test, p, &a, -EINVAL, true);
}

static void vsk_policy_names(struct kunit *test)
{
	char name[VSTORAGE_NODE_NAME_MAX + 2];
	struct vsk_attrs a;

	/* the longest name fits, one more byte does not */
	memset(name, 'a', sizeof(name));
	name[VSTORAGE_NODE_NAME_MAX] = '\0';
	memset(&a, 0, sizeof(a));
	vsk_put_str(&a, VSTORAGE_A_NODE_NAME, name);
	vsk_parse(test, vs_node_get_policy, &a, 0, false);
	name[VSTORAGE_NODE_NAME_MAX] = 'a';
	name[VSTORAGE_NODE_NAME_MAX + 1] = '\0';
	memset(&a, 0, sizeof(a));
	vsk_put_str(&a, VSTORAGE_A_NODE_NAME, name);
	vsk_parse(test, vs_node_get_policy, &a, -EINVAL, true);

	/* a name without its NUL */
	memset(&a, 0, sizeof(a));
	vsk_put(&a, VSTORAGE_A_NODE_NAME, "vm0", 3);
	vsk_parse(test, vs_node_get_policy, &a, -EINVAL, true);
	/* an empty attribute */
	memset(&a, 0, sizeof(a));
	vsk_put(&a, VSTORAGE_A_NODE_NAME, "", 0);
	vsk_parse(test, vs_block_status_policy, &a, -EINVAL, true);

	/* a device number in the wrong width */
	memset(&a, 0, sizeof(a));
	vsk_put_u64(&a, VSTORAGE_A_NODE_DEV_MAJOR, 253);
	vsk_parse(test, vs_node_get_policy, &a, -EINVAL, true);
	/* node-get takes no offset */
	memset(&a, 0, sizeof(a));
	vsk_put_u64(&a, VSTORAGE_A_OFFSET, 0);
	vsk_parse(test, vs_node_get_policy, &a, -EINVAL, true);
}

/* An attribute whose length runs past the message is trailing garbage. */
static void vsk_policy_truncated(struct kunit *test)
{
	struct vsk_attrs a;
	struct nlattr *nla;

	memset(&a, 0, sizeof(a));
	vsk_put_u64(&a, VSTORAGE_A_OFFSET, 0);
	nla = (struct nlattr *)a.buf;
	nla->nla_len = 400;
	vsk_parse(test, vs_block_status_policy, &a, -EINVAL, true);
	nla->nla_len = 2;
	vsk_parse(test, vs_block_status_policy, &a, -EINVAL, true);
}

static struct kunit_case vsk_core_cases[] = {
	KUNIT_CASE(vsk_node_names),
	KUNIT_CASE(vsk_policy_block_status),
	KUNIT_CASE(vsk_policy_names),
	KUNIT_CASE(vsk_policy_truncated),
	{}
};

static struct kunit_suite vsk_core_suite = {
	.name = "vstorage-core",
	.test_cases = vsk_core_cases,
};

kunit_test_suite(vsk_core_suite);

MODULE_DESCRIPTION("vstorage KUnit suites");
MODULE_LICENSE("GPL");
