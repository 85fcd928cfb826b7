// SPDX-License-Identifier: GPL-2.0
/*
 * The dirty bitmap object: `bitmap add`'s options, parsing the kernel's
 * BITMAP_GET replies and printing them. No I/O: unit-tested in
 * tests/unit/test-bitmap.c.
 *
 * JSON object (keys in this order): name, granularity, count, persistent,
 * enabled, in-use (a job uses it), inconsistent.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/genl/genl.h>

#include "bitmap.h"
#include "nl.h"
#include "output.h"
#include "parse.h"
#include "util.h"

int vs_bitmap_name_check(const char *name, const char **why)
{
	size_t len = strlen(name), i;

	if (!len) {
		*why = "empty";
		return -1;
	}
	if (len > VSTORAGE_BITMAP_NAME_MAX) {
		*why = "longer than 1023 bytes";
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f) {
			*why = "control characters are not allowed";
			return -1;
		}
	}
	return 0;
}

int vs_bitmap_add_parse(int argc, char **argv, struct vs_bitmap_add_args *a)
{
	bool seen_gran = false, seen_pers = false, seen_dis = false;
	int i;

	memset(a, 0, sizeof(*a));
	for (i = 0; i < argc; i++) {
		char key[32];
		const char *val = split_kv(argv[i], key, sizeof(key));
		const char *why = NULL;
		uint64_t v;

		if (!val) {
			pr_err("'%s': expected granularity=BYTES, persistent=on|off or disabled=on|off",
			       argv[i]);
			return -1;
		}
		if (!strcmp(key, "granularity")) {
			if (seen_gran) {
				pr_err("granularity given more than once");
				return -1;
			}
			seen_gran = true;
			if (parse_size(val, &v, &why)) {
				pr_err("granularity=%s: not a size%s%s", val,
				       why ? ": " : "", why ? why : "");
				return -1;
			}
			/* QEMU's range, and a power of 2 */
			if (v < 512 || v > (1ULL << 31) || (v & (v - 1))) {
				pr_err("granularity=%s: must be a power of 2 from 512 to 2G",
				       val);
				return -1;
			}
			a->granularity = (uint32_t)v;
		} else if (!strcmp(key, "persistent") ||
			   !strcmp(key, "disabled")) {
			bool *seen = key[0] == 'p' ? &seen_pers : &seen_dis;
			bool *out = key[0] == 'p' ? &a->persistent : &a->disabled;

			if (*seen) {
				pr_err("%s given more than once", key);
				return -1;
			}
			*seen = true;
			if (parse_bool(val, out)) {
				pr_err("%s=%s: expected on or off", key, val);
				return -1;
			}
		} else {
			pr_err("unknown option '%s' (options: granularity, persistent, disabled)",
			       key);
			return -1;
		}
	}
	return 0;
}

static int get_u8(const struct nlattr *a, bool *out)
{
	if (nla_len(a) != sizeof(uint8_t))
		return -EBADMSG;
	*out = nla_get_u8((struct nlattr *)a);
	return 0;
}

static int parse_nest(const struct nlattr *nest, struct vs_bitmap *b)
{
	const struct nlattr *a;
	bool have_name = false;
	int rem, ret = 0;

	nla_for_each_nested(a, nest, rem) {
		switch (nla_type(a)) {
		case VSTORAGE_BITMAP_NAME:
			vs_nla_strcpy(b->name, sizeof(b->name), a);
			have_name = b->name[0];
			break;
		case VSTORAGE_BITMAP_GRANULARITY:
			if (nla_len(a) != sizeof(uint32_t))
				return -EBADMSG;
			b->granularity = nla_get_u32((struct nlattr *)a);
			break;
		case VSTORAGE_BITMAP_COUNT:
			if (nla_len(a) != sizeof(uint64_t))
				return -EBADMSG;
			b->count = nla_get_u64((struct nlattr *)a);
			break;
		case VSTORAGE_BITMAP_PERSISTENT:
			ret = get_u8(a, &b->persistent);
			break;
		case VSTORAGE_BITMAP_ENABLED:
			ret = get_u8(a, &b->enabled);
			break;
		case VSTORAGE_BITMAP_BUSY:
			ret = get_u8(a, &b->busy);
			break;
		case VSTORAGE_BITMAP_INCONSISTENT:
			ret = get_u8(a, &b->inconsistent);
			break;
		}
		if (ret)
			return ret;
	}
	return have_name ? 0 : -EBADMSG;
}

int vs_bitmap_parse(const struct nlmsghdr *nlh, struct vs_bitmap *b)
{
	struct genlmsghdr *gh = nlmsg_data(nlh);
	const struct nlattr *a;
	bool have_nest = false;
	int rem, ret;

	memset(b, 0, sizeof(*b));
	nla_for_each_attr(a, genlmsg_attrdata(gh, 0), genlmsg_attrlen(gh, 0), rem) {
		switch (nla_type(a)) {
		case VSTORAGE_A_NODE_NAME:
			vs_nla_strcpy(b->node, sizeof(b->node), a);
			break;
		case VSTORAGE_A_BITMAP:
			ret = parse_nest(a, b);
			if (ret)
				return ret;
			have_nest = true;
			break;
		}
	}
	return have_nest ? 0 : -EBADMSG;
}

void vs_bitmap_print(const struct vs_bitmap *b)
{
	open_json_object(NULL);
	print_string(PRINT_ANY, "name", "%s:", b->name);
	print_u64(PRINT_ANY, "granularity", " granularity %" PRIu64,
		  b->granularity);
	print_u64(PRINT_ANY, "count", " dirty %" PRIu64 " bytes", b->count);
	print_bool(PRINT_JSON, "persistent", NULL, b->persistent);
	print_bool(PRINT_JSON, "enabled", NULL, b->enabled);
	print_bool(PRINT_JSON, "in-use", NULL, b->busy);
	print_bool(PRINT_JSON, "inconsistent", NULL, b->inconsistent);
	print_fp("%s%s%s%s\n", b->persistent ? " persistent" : "",
		 b->enabled ? " enabled" : " disabled",
		 b->busy ? " in-use" : "",
		 b->inconsistent ? " inconsistent" : "");
	close_json_object();
}
