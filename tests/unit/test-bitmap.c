// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the dirty bitmap object (user/bitmap_obj.c): bitmap names,
 * `bitmap add`'s options, the kernel's BITMAP_GET replies, and the human
 * and JSON output.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "bitmap.h"
#include "output.h"
#include "unit.h"

static void test_names(void)
{
	char longest[VSTORAGE_BITMAP_NAME_MAX + 2];
	const char *why = NULL;

	result(!vs_bitmap_name_check("b0", &why), "bitmap name 'b0'");
	result(!vs_bitmap_name_check("with space/and:colon", &why),
	       "bitmap names may have spaces and punctuation, as QEMU's");
	result(vs_bitmap_name_check("", &why) == -1 && !strcmp(why, "empty"),
	       "empty bitmap name refused");
	result(vs_bitmap_name_check("a\tb", &why) == -1,
	       "a tab in a bitmap name refused");
	result(vs_bitmap_name_check("a\x7f", &why) == -1,
	       "DEL in a bitmap name refused");
	memset(longest, 'x', VSTORAGE_BITMAP_NAME_MAX);
	longest[VSTORAGE_BITMAP_NAME_MAX] = 0;
	result(!vs_bitmap_name_check(longest, &why), "1023-byte name accepted");
	longest[VSTORAGE_BITMAP_NAME_MAX] = 'x';
	longest[VSTORAGE_BITMAP_NAME_MAX + 1] = 0;
	result(vs_bitmap_name_check(longest, &why) == -1,
	       "1024-byte name refused");
}

static int add_parse(const char *a0, const char *a1, const char *a2,
		     struct vs_bitmap_add_args *a)
{
	char *argv[3] = { (char *)a0, (char *)a1, (char *)a2 };
	int argc = a2 ? 3 : a1 ? 2 : a0 ? 1 : 0;
	FILE *saved = stderr;
	int r;

	/* the errors are the point; keep them off the TAP stream */
	stderr = fopen("/dev/null", "w");
	r = vs_bitmap_add_parse(argc, argv, a);
	fclose(stderr);
	stderr = saved;
	return r;
}

static void test_add_args(void)
{
	struct vs_bitmap_add_args a;

	result(!add_parse(NULL, NULL, NULL, &a) && !a.granularity &&
	       !a.persistent && !a.disabled, "add: no options");
	result(!add_parse("granularity=64K", "persistent=on", "disabled=on", &a) &&
	       a.granularity == 65536 && a.persistent && a.disabled,
	       "add: all options");
	result(!add_parse("granularity=512", "persistent=off", NULL, &a) &&
	       a.granularity == 512 && !a.persistent, "add: 512, persistent=off");
	result(!add_parse("granularity=2G", NULL, NULL, &a) &&
	       a.granularity == 1U << 31, "add: granularity 2G");
	result(add_parse("granularity=256", NULL, NULL, &a) == -1,
	       "add: granularity below 512 refused");
	result(add_parse("granularity=4G", NULL, NULL, &a) == -1,
	       "add: granularity above 2G refused");
	result(add_parse("granularity=65535", NULL, NULL, &a) == -1,
	       "add: granularity not a power of 2 refused");
	result(add_parse("granularity=x", NULL, NULL, &a) == -1,
	       "add: granularity not a number refused");
	result(add_parse("granularity=", NULL, NULL, &a) == -1,
	       "add: empty granularity refused");
	result(add_parse("granularity=1M", "granularity=1M", NULL, &a) == -1,
	       "add: granularity twice refused");
	result(add_parse("persistent=maybe", NULL, NULL, &a) == -1,
	       "add: persistent=maybe refused");
	result(add_parse("disabled=on", "disabled=off", NULL, &a) == -1,
	       "add: disabled twice refused");
	result(add_parse("persistent", NULL, NULL, &a) == -1,
	       "add: option without a value refused");
	result(add_parse("size=1", NULL, NULL, &a) == -1,
	       "add: unknown option refused");
}

static struct nl_msg *bitmap_msg(int variant)
{
	struct nl_msg *m = nlmsg_alloc();
	struct nlattr *nest;

	genlmsg_put(m, 0, 0, 0x20, 0, 0, VSTORAGE_CMD_BITMAP_GET,
		    VSTORAGE_GENL_VERSION);
	nla_put_string(m, VSTORAGE_A_NODE_NAME, "disk0");
	if (variant == 1)
		return m;		/* no nest */
	nest = nla_nest_start(m, VSTORAGE_A_BITMAP);
	if (variant != 2)
		nla_put_string(m, VSTORAGE_BITMAP_NAME, "b0");
	nla_put_u32(m, VSTORAGE_BITMAP_GRANULARITY, 65536);
	if (variant == 3)
		nla_put_u32(m, VSTORAGE_BITMAP_COUNT, 7);	/* wrong size */
	else
		nla_put_u64(m, VSTORAGE_BITMAP_COUNT, 131072);
	nla_put_u8(m, VSTORAGE_BITMAP_PERSISTENT, 1);
	nla_put_u8(m, VSTORAGE_BITMAP_ENABLED, 1);
	nla_put_u8(m, VSTORAGE_BITMAP_BUSY, 0);
	nla_put_u8(m, VSTORAGE_BITMAP_INCONSISTENT, 0);
	nla_put_u32(m, 200, 7);		/* from a newer kernel */
	nla_nest_end(m, nest);
	return m;
}

static struct vs_bitmap sample;

static void print_sample(void)
{
	vs_bitmap_print(&sample);
}

static void test_object(void)
{
	struct nl_msg *m;
	char *s;
	int v;

	m = bitmap_msg(0);
	result(!vs_bitmap_parse(nlmsg_hdr(m), &sample) &&
	       !strcmp(sample.node, "disk0") && !strcmp(sample.name, "b0") &&
	       sample.granularity == 65536 && sample.count == 131072 &&
	       sample.persistent && sample.enabled && !sample.busy &&
	       !sample.inconsistent, "bitmap object parsed");
	nlmsg_free(m);
	s = output_run(true, print_sample);
	check_str("bitmap json", s,
		  "{\"name\":\"b0\",\"granularity\":65536,\"count\":131072,"
		  "\"persistent\":true,\"enabled\":true,\"in-use\":false,"
		  "\"inconsistent\":false}\n");
	free(s);
	s = output_run(false, print_sample);
	check_str("bitmap line", s,
		  "b0: granularity 65536 dirty 131072 bytes persistent enabled\n");
	free(s);
	sample.enabled = false;
	sample.inconsistent = true;
	sample.persistent = false;
	s = output_run(false, print_sample);
	check_str("inconsistent bitmap line", s,
		  "b0: granularity 65536 dirty 131072 bytes disabled inconsistent\n");
	free(s);
	for (v = 1; v <= 3; v++) {
		struct vs_bitmap b;

		m = bitmap_msg(v);
		result(vs_bitmap_parse(nlmsg_hdr(m), &b) < 0,
		       "malformed bitmap object %d refused", v);
		nlmsg_free(m);
	}
}

void test_bitmap(void)
{
	test_names();
	test_add_args();
	test_object();
}
