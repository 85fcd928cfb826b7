// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: the target skeleton (kernel/target.c) with which every target
 * parses its table line: an option table of every type plus the image's
 * options, fed good and hostile lines; the line written back for
 * STATUSTYPE_TABLE; message dispatch. The functions are vstorage.ko's own.
 */
#include <kunit/test.h>
#include <linux/device-mapper.h>
#include <linux/string.h>

#include "vstorage.h"

struct vsk_opts {
	u64 bytes;
	bool flag;
	bool onoff;
	u32 secs;
	unsigned int mode;
	const char *word;
	struct vs_backend_opts be;
};

static const char * const vsk_modes[] = { "none", "some", "all", NULL };

static const struct vs_opt vsk_opt_defs[] = {
	VS_OPT_DEF_U64("bytes", struct vsk_opts, bytes, 1, 1 << 20, 0,
		       "bytes needs a value", "bytes twice", ""),
	VS_OPT_DEF_FLAG("flag", struct vsk_opts, flag, "flag twice", ""),
	VS_OPT_DEF_ON_OFF("onoff", struct vsk_opts, onoff, 1,
			  "onoff needs on or off", "onoff twice", ""),
	VS_OPT_DEF_U32("secs", struct vsk_opts, secs, 0, U32_MAX, 0,
		       "secs needs seconds", "secs twice", ""),
	VS_OPT_DEF_ENUM("mode", struct vsk_opts, mode, vsk_modes, 1,
			"mode needs none, some or all", "mode twice", ""),
	VS_OPT_DEF_STR("word", struct vsk_opts, word, "word needs a word",
		       "word twice", ""),
};

static const struct vs_opt_set vsk_set = {
	.opts = vsk_opt_defs,
	.nr = ARRAY_SIZE(vsk_opt_defs),
	.has_backend = true,
	.backend = offsetof(struct vsk_opts, be),
};

/* LINE split at spaces into ARGV (at most 40 words), as dm would. */
static unsigned int vsk_split(struct kunit *test, const char *line,
			      char **argv)
{
	char *s = kunit_kzalloc(test, strlen(line) + 1, GFP_KERNEL);
	unsigned int argc = 0;
	char *w;

	KUNIT_ASSERT_NOT_NULL(test, s);
	strcpy(s, line);
	while ((w = strsep(&s, " ")) && argc < 40)
		if (*w)
			argv[argc++] = w;
	return argc;
}

static int vsk_parse(struct kunit *test, const char *line,
		     struct vsk_opts *o, struct dm_target *ti)
{
	const char *node, *path;
	char *argv[40];
	unsigned int argc = vsk_split(test, line, argv);

	memset(ti, 0, sizeof(*ti));
	return vs_target_parse(ti, argc, argv, &vsk_set, o, &node, &path);
}

static void vsk_target_defaults(struct kunit *test)
{
	struct dm_target ti;
	struct vsk_opts o;

	memset(&o, 0xa5, sizeof(o));
	KUNIT_ASSERT_EQ(test, 0, vsk_parse(test, "n0 /img", &o, &ti));
	KUNIT_EXPECT_EQ(test, 0ULL, o.bytes);
	KUNIT_EXPECT_FALSE(test, o.flag);
	KUNIT_EXPECT_TRUE(test, o.onoff);
	KUNIT_EXPECT_EQ(test, 0U, o.secs);
	KUNIT_EXPECT_EQ(test, 1U, o.mode);
	KUNIT_EXPECT_NULL(test, o.word);
	KUNIT_EXPECT_TRUE(test, o.be.direct);
	KUNIT_EXPECT_FALSE(test, o.be.no_flush);
	KUNIT_EXPECT_TRUE(test, o.be.writeback);
	KUNIT_EXPECT_TRUE(test, o.be.locking);
}

static void vsk_target_values(struct kunit *test)
{
	static const char own[] =
		"n0 /img 9 bytes 4096 flag onoff OFF secs 4294967295 mode all";
	static const char image[] =
		"n0 /img 8 word w cache.direct off cache.writeback off locking off";
	struct dm_target ti;
	struct vsk_opts o;

	KUNIT_ASSERT_EQ(test, 0, vsk_parse(test, own, &o, &ti));
	KUNIT_EXPECT_EQ(test, 4096ULL, o.bytes);
	KUNIT_EXPECT_TRUE(test, o.flag);
	KUNIT_EXPECT_FALSE(test, o.onoff);
	KUNIT_EXPECT_EQ(test, U32_MAX, o.secs);
	KUNIT_EXPECT_EQ(test, 2U, o.mode);
	KUNIT_ASSERT_EQ(test, 0, vsk_parse(test, image, &o, &ti));
	KUNIT_EXPECT_STREQ(test, "w", o.word);
	KUNIT_EXPECT_FALSE(test, o.be.direct);
	KUNIT_EXPECT_FALSE(test, o.be.writeback);
	KUNIT_EXPECT_FALSE(test, o.be.locking);
	KUNIT_EXPECT_FALSE(test, o.be.no_flush);
}

static void vsk_target_hostile(struct kunit *test)
{
	static const struct {
		const char *line, *error;
	} bad[] = {
		{ "", "expected <node_name> <path> [<#opt_args> <opt_args>...]" },
		{ "n0", "expected <node_name> <path> [<#opt_args> <opt_args>...]" },
		{ "0n /img", VS_NODE_NAME_RULES },
		{ "n0 /img 1", "invalid number of optional arguments" },
		{ "n0 /img x", "invalid number of optional arguments" },
		{ "n0 /img -1 flag", "invalid number of optional arguments" },
		/* 6 own words + 8 of the image's: 20 is more than there can be */
		{ "n0 /img 20 flag", "invalid number of optional arguments" },
		{ "n0 /img 1 nosuch", "unknown optional argument" },
		{ "n0 /img 2 flag flag", "flag twice" },
		{ "n0 /img 1 bytes", "bytes needs a value" },
		{ "n0 /img 2 bytes 0", "bytes needs a value" },
		{ "n0 /img 2 bytes 1048577", "bytes needs a value" },
		{ "n0 /img 2 bytes 18446744073709551616", "bytes needs a value" },
		{ "n0 /img 2 bytes 0x10", "bytes needs a value" },
		{ "n0 /img 2 onoff yes", "onoff needs on or off" },
		{ "n0 /img 2 secs 4294967296", "secs needs seconds" },
		{ "n0 /img 2 mode most", "mode needs none, some or all" },
		{ "n0 /img 1 word", "word needs a word" },
		{ "n0 /img 2 cache.direct maybe", "cache.direct needs on or off" },
		{ "n0 /img 4 locking on locking off", "locking given more than once" },
		{ "n0 /img 1 flag extra", "too many arguments" },
	};
	struct dm_target ti;
	struct vsk_opts o;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		KUNIT_EXPECT_EQ_MSG(test, -EINVAL,
				    vsk_parse(test, bad[i].line, &o, &ti),
				    "accepted '%s'", bad[i].line);
		KUNIT_EXPECT_STREQ_MSG(test, bad[i].error, ti.error ?: "",
				       "for '%s'", bad[i].line);
	}
}

static void vsk_target_emit(struct kunit *test)
{
	static const char line[] =
		"n0 /img 11 mode some onoff on bytes 512 flag word a\\b locking off";
	/* defaults (mode some, onoff on) are left out, the count computed */
	static const char want[] =
		"n0 /img 7 bytes 512 flag word a\\\\b locking off";
	struct dm_target ti;
	char result[256];
	unsigned int sz = 0;
	struct vsk_opts o;

	KUNIT_ASSERT_EQ(test, 0, vsk_parse(test, "n0 /img", &o, &ti));
	vs_target_emit_table("n0", "/my img", &vsk_set, &o, result, &sz,
			     sizeof(result));
	KUNIT_EXPECT_STREQ(test, "n0 /my\\ img", result);

	KUNIT_ASSERT_EQ(test, 0, vsk_parse(test, line, &o, &ti));
	sz = 0;
	vs_target_emit_table("n0", "/img", &vsk_set, &o, result, &sz,
			     sizeof(result));
	KUNIT_EXPECT_STREQ(test, want, result);
}

static int vsk_calls;

static int vsk_msg_grow(struct dm_target *ti, unsigned int argc, char **argv)
{
	vsk_calls++;
	return argc == 1 && !strcmp(argv[0], "9") ? 0 : -EIO;
}

static void vsk_target_messages(struct kunit *test)
{
	static const struct vs_msg msgs[] = {
		{ "grow", 1, 1, "grow <n>", vsk_msg_grow },
	};
	static struct target_type type = { .name = "vsk-test" };
	struct dm_target ti = { .type = &type };
	char one[] = "grow", nine[] = "9", other[] = "shrink";
	char *ok[2], *none[1], *unknown[1];

	ok[0] = one;
	ok[1] = nine;
	none[0] = one;
	unknown[0] = other;
	vsk_calls = 0;
	KUNIT_EXPECT_EQ(test, 0, vs_target_message(&ti, "n0", msgs, 1, 2, ok));
	KUNIT_EXPECT_EQ(test, -EINVAL,
			vs_target_message(&ti, "n0", msgs, 1, 1, none));
	KUNIT_EXPECT_EQ(test, -EINVAL,
			vs_target_message(&ti, "n0", msgs, 1, 1, unknown));
	KUNIT_EXPECT_EQ(test, -EINVAL,
			vs_target_message(&ti, "n0", msgs, 1, 0, unknown));
	/* only the well-formed one reached the handler */
	KUNIT_EXPECT_EQ(test, 1, vsk_calls);
}

static struct kunit_case vsk_target_cases[] = {
	KUNIT_CASE(vsk_target_defaults),
	KUNIT_CASE(vsk_target_values),
	KUNIT_CASE(vsk_target_hostile),
	KUNIT_CASE(vsk_target_emit),
	KUNIT_CASE(vsk_target_messages),
	{}
};

static struct kunit_suite vsk_target_suite = {
	.name = "vstorage-target",
	.test_cases = vsk_target_cases,
};

kunit_test_suite(vsk_target_suite);
