// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: node objects, from netlink attributes to human and JSON
 * output.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "node.h"
#include "output.h"
#include "unit.h"

/* ---- node objects ---- */

static struct nl_msg *node_msg(int variant)
{
	struct nl_msg *m = nlmsg_alloc();
	struct nlattr *nest;

	genlmsg_put(m, 0, 0, 0x20, 0, 0, VSTORAGE_CMD_NODE_GET,
		    VSTORAGE_GENL_VERSION);
	nla_put_string(m, VSTORAGE_A_NODE_NAME, "vm0");
	if (variant == 2)
		return m;	/* name only */
	nla_put_string(m, VSTORAGE_A_NODE_DRIVER, "raw");
	if (variant == 1) {
		nla_put_u32(m, VSTORAGE_A_NODE_SIZE, 1);	/* too short */
		return m;
	}
	nla_put_u64(m, VSTORAGE_A_NODE_SIZE, 1073741824);
	nla_put_u8(m, VSTORAGE_A_NODE_READ_ONLY, 1);
	nla_put_string(m, VSTORAGE_A_NODE_DM_NAME, "vm0");
	nla_put_u32(m, VSTORAGE_A_NODE_DEV_MAJOR, 254);
	nla_put_u32(m, VSTORAGE_A_NODE_DEV_MINOR, 3);
	nest = nla_nest_start(m, VSTORAGE_A_NODE_CHILD);
	nla_put_string(m, VSTORAGE_CHILD_ROLE, "file");
	nla_put_string(m, VSTORAGE_CHILD_PATH, "/img/a \"b\".raw");
	nla_nest_end(m, nest);
	nest = nla_nest_start(m, VSTORAGE_A_NODE_CHILD);
	nla_put_string(m, VSTORAGE_CHILD_ROLE, "backing");
	nla_put_string(m, VSTORAGE_CHILD_NODE_NAME, "base");
	nla_put_string(m, VSTORAGE_CHILD_PATH, "/dev/mapper/base");
	nla_put_u32(m, VSTORAGE_CHILD_DEV_MAJOR, 254);
	nla_put_u32(m, VSTORAGE_CHILD_DEV_MINOR, 1);
	nla_nest_end(m, nest);
	nest = nla_nest_start(m, VSTORAGE_A_NODE_INFO);
	nla_put(m, VSTORAGE_INFO_PAD, 0, NULL);
	nla_put_string(m, VSTORAGE_INFO_FORMAT, "raw");
	nla_put_u64(m, VSTORAGE_INFO_OFFSET, 4096);
	nla_put_u8(m, VSTORAGE_INFO_DIRECT_IO, 1);
	nla_put_u32(m, VSTORAGE_INFO_CLUSTER_SIZE, 65536);
	nla_put_u32(m, 250, 7);			/* from a newer kernel */
	nla_nest_end(m, nest);
	nest = nla_nest_start(m, VSTORAGE_A_NODE_STATS);
	nla_put_u64(m, VSTORAGE_STATS_RD_IOS, 5);
	nla_put_u64(m, VSTORAGE_STATS_RD_BYTES, 20480);
	nla_put_u64(m, VSTORAGE_STATS_WR_IOS, 0);
	nla_put_u64(m, VSTORAGE_STATS_WR_BYTES, 0);
	nla_put_u64(m, VSTORAGE_STATS_FLUSH_IOS, 1);
	nla_put_u64(m, VSTORAGE_STATS_DISCARD_IOS, 0);
	nla_put_u64(m, VSTORAGE_STATS_ERRORS, 0);
	nla_nest_end(m, nest);
	nla_put_u32(m, 200, 1);			/* from a newer kernel */
	return m;
}

/* result() that S contains (or, with !want, lacks) SUB; S shown on failure */
static void check_has(const char *name, const char *s, const char *sub,
		      bool want)
{
	bool ok = s && (strstr(s, sub) != NULL) == want;

	result(ok, "%s", name);
	if (!ok)
		fprintf(stderr, "# got: %s\n# %s: %s\n", s ? s : "(null)",
			want ? "want" : "unwanted", sub);
}

static struct vs_node test_node;
static struct vs_node_cols test_cols;

static void print_detail(void)
{
	vs_node_print(&test_node, NULL, NULL);
}

static void print_row(void)
{
	vs_node_print_header(&test_cols);
	vs_node_print(&test_node, NULL, &test_cols);
}

void test_node_object(void)
{
	static const char json[] =
		"{\"node-name\":\"vm0\",\"driver\":\"raw\",\"size\":1073741824,"
		"\"read-only\":true,\"device\":\"/dev/mapper/vm0\","
		"\"dm-name\":\"vm0\",\"dev\":\"254:3\",\"children\":["
		"{\"role\":\"file\",\"path\":\"/img/a \\\"b\\\".raw\"},"
		"{\"role\":\"backing\",\"node-name\":\"base\","
		"\"path\":\"/dev/mapper/base\",\"dev\":\"254:1\"}],"
		"\"info\":{\"format\":\"raw\",\"offset\":4096,"
		"\"direct-io\":true,\"cluster-size\":65536},"
		"\"stats\":{\"rd-ios\":5,\"rd-bytes\":20480,\"wr-ios\":0,"
		"\"wr-bytes\":0,\"flush-ios\":1,\"discard-ios\":0,"
		"\"errors\":0}}\n";
	struct nl_msg *m;
	char *s;
	int r;

	m = node_msg(0);
	r = vs_node_parse(nlmsg_hdr(m), &test_node);
	nlmsg_free(m);
	result(r == 0, "node object parses");
	if (r)
		return;
	vs_node_cols_init(&test_cols);
	vs_node_cols_fit(&test_cols, &test_node);

	s = output_run(true, print_detail);
	check_str("node object json (show)", s, json);
	free(s);
	s = output_run(true, print_row);
	check_str("node object json (list row) is the same object", s, json);
	free(s);
	s = output_run(false, print_detail);
	check_str("node object human (show)", s,
		  "node-name: vm0\n"
		  "driver: raw\n"
		  "size: 1.0G (1073741824 bytes)\n"
		  "read-only: yes\n"
		  "device: /dev/mapper/vm0\n"
		  "dm-name: vm0\n"
		  "dev: 254:3\n"
		  "children:\n"
		  "  file: /img/a \"b\".raw\n"
		  "  backing: /dev/mapper/base (node base) (dev 254:1)\n"
		  "info:\n"
		  "  format: raw\n"
		  "  offset: 4096\n"
		  "  direct-io: yes\n"
		  "  cluster-size: 65536\n"
		  "stats:\n"
		  "  rd-ios: 5\n"
		  "  rd-bytes: 20480\n"
		  "  wr-ios: 0\n"
		  "  wr-bytes: 0\n"
		  "  flush-ios: 1\n"
		  "  discard-ios: 0\n"
		  "  errors: 0\n");
	free(s);
	s = output_run(false, print_row);
	check_str("node object human (list row)", s,
		  "NAME DRIVER SIZE RO  DEVICE          CHILDREN\n"
		  "vm0  raw    1.0G yes /dev/mapper/vm0 file:/img/a \"b\".raw,backing:base\n");
	free(s);
	vs_node_free(&test_node);

	/* moved: the kernel names the holder, vstoragectl the device above */
	m = node_msg(0);
	r = vs_node_parse(nlmsg_hdr(m), &test_node);
	nlmsg_free(m);
	result(r == 0, "node object parses (moved)");
	if (r)
		return;
	free(test_node.dm_name);
	test_node.dm_name = strdup("vm0-real");
	test_node.top_dm_name = strdup("vm0");
	test_node.top_major = 254;
	test_node.top_minor = 1;
	test_node.moved = true;
	vs_node_cols_init(&test_cols);
	vs_node_cols_fit(&test_cols, &test_node);
	s = output_run(true, print_detail);
	check_has("moved node json names both devices", s,
		  "\"device\":\"/dev/mapper/vm0\",\"dm-name\":\"vm0\","
		  "\"dev\":\"254:1\",\"node-device\":"
		  "\"/dev/mapper/vm0-real\",\"node-dm-name\":"
		  "\"vm0-real\",\"node-dev\":\"254:3\",", true);
	free(s);
	s = output_run(false, print_detail);
	check_has("moved node human names both devices", s,
		  "device: /dev/mapper/vm0\ndm-name: vm0\n"
		  "dev: 254:1\nnode-device: /dev/mapper/vm0-real\n"
		  "node-dm-name: vm0-real\nnode-dev: 254:3\n", true);
	free(s);
	s = output_run(false, print_row);
	check_has("moved node row names both devices", s,
		  " /dev/mapper/vm0>vm0-real ", true);
	free(s);
	/* not moved, but looked up: the JSON has both, humans see one */
	test_node.moved = false;
	free(test_node.dm_name);
	test_node.dm_name = strdup("vm0");
	test_node.top_minor = 3;
	s = output_run(true, print_detail);
	check_has("looked-up node json has node-dm-name", s,
		  "\"node-dm-name\":\"vm0\",\"node-dev\":\"254:3\"", true);
	free(s);
	s = output_run(false, print_detail);
	check_has("unmoved node human has no node-device", s, "node-device",
		  false);
	free(s);
	vs_node_free(&test_node);

	m = node_msg(1);
	r = vs_node_parse(nlmsg_hdr(m), &test_node);
	nlmsg_free(m);
	result(r == -EBADMSG, "node object with a short u64 is rejected");

	m = node_msg(2);
	r = vs_node_parse(nlmsg_hdr(m), &test_node);
	nlmsg_free(m);
	result(r == 0, "node object with a name only parses");
	s = output_run(true, print_detail);
	check_str("minimal node object json", s,
		  "{\"node-name\":\"vm0\",\"driver\":\"\",\"read-only\":false,"
		  "\"children\":[]}\n");
	free(s);
	vs_node_free(&test_node);
}
