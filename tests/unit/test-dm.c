// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests: device-mapper argument escaping and the raw table line,
 * kernel log parsing, qemu-img map merging.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "kmsg.h"
#include "mapfmt.h"
#include "unit.h"

/* ---- device-mapper table ---- */

static void escape(const char *name, const char *in, const char *want)
{
	char *got = dm_escape_arg(in);

	check_str(name, got, want);
	free(got);
}

static void params(const char *name, const char *node, const char *path,
		   uint64_t off, bool size_given, uint64_t size, bool ro,
		   const char *want)
{
	char *got = raw_table_params(node, path, off, size_given, size, ro,
				     NULL);

	check_str(name, got, want);
	free(got);
}

static void child_params(const char *name, struct vs_child_opts o,
			 const char *want)
{
	char *got = raw_table_params("vm0", "/f", 0, false, 0, false, &o);

	check_str(name, got, want);
	free(got);
}

void test_dm_table(void)
{
	escape("dm escape plain", "/img/a.raw", "/img/a.raw");
	escape("dm escape space", "/img/a b.raw", "/img/a\\ b.raw");
	escape("dm escape backslash", "/img/a\\b", "/img/a\\\\b");
	escape("dm escape tab newline", "/a\tb\nc", "/a\\\tb\\\nc");
	escape("dm escape vt ff cr", "\v\f\r", "\\\v\\\f\\\r");
	escape("dm escape latin-1 nbsp", "a\xa0", "a\\\xa0");
	escape("dm escape utf-8 a-grave (c3 a0)", "\xc3\xa0", "\xc3\\\xa0");
	escape("dm escape utf-8 e-acute", "\xc3\xa9", "\xc3\xa9");

	params("raw params minimal", "vm0", "/img/a.raw", 0, false, 0, false,
	       "vm0 /img/a.raw");
	params("raw params offset read-only", "vm0", "/img/a.raw", 4096, false,
	       0, true, "vm0 /img/a.raw 3 offset 4096 read-only");
	params("raw params all", "vm0", "/img/a.raw", 512, true, 1048576, true,
	       "vm0 /img/a.raw 5 offset 512 size 1048576 read-only");
	params("raw params size only", "n", "/dev/mapper/base", 0, true, 512,
	       false, "n /dev/mapper/base 2 size 512");
	params("raw params read-only only", "n", "/f", 0, false, 0, true,
	       "n /f 1 read-only");
	params("raw params escaped path", "vm0", "/my disks/a\\b.raw", 0,
	       false, 0, false, "vm0 /my\\ disks/a\\\\b.raw");
	params("raw params big values", "vm0", "/f", 9223372036854775296ULL,
	       true, 512, false,
	       "vm0 /f 4 offset 9223372036854775296 size 512");

	child_params("raw params child defaults", (struct vs_child_opts){ 0 },
		     "vm0 /f");
	child_params("raw params cache.direct off",
		     (struct vs_child_opts){ .no_direct = true },
		     "vm0 /f 2 cache.direct off");
	child_params("raw params every child option",
		     (struct vs_child_opts){ .no_direct = true, .no_flush = true,
					     .writethrough = true,
					     .no_locking = true },
		     "vm0 /f 8 cache.direct off cache.no-flush on cache.writeback off locking off");
}

/* ---- kernel log ---- */

static void classify(const char *name, const char *msg, int want_prio,
		     const char *want_reason)
{
	char reason[256] = "";
	int prio = vs_kmsg_classify(msg, "254:3", "vstorage-raw", reason,
				    sizeof(reason));

	result(prio == want_prio && (!want_prio || !strcmp(reason, want_reason)),
	       "%s", name);
	if (prio != want_prio || (want_prio && strcmp(reason, want_reason)))
		printf("#   got prio %d reason '%s'\n", prio, reason);
}

void test_kmsg(void)
{
	char buf[256];

	vs_kmsg_text("3,1234,5678901,-;device-mapper: table: 254:3: vstorage-raw: bad offset (-EINVAL)\n"
		     " SUBSYSTEM=block\n DEVICE=b254:3\n", buf, sizeof(buf));
	check_str("kmsg record text", buf,
		  "device-mapper: table: 254:3: vstorage-raw: bad offset (-EINVAL)");
	vs_kmsg_text("4,1,2,c;path /a\\x5cb\\x0a x\n", buf, sizeof(buf));
	check_str("kmsg record unescape", buf, "path /a\\b\n x");
	vs_kmsg_text("6,1,2,-;truncate me", buf, 9);
	check_str("kmsg record truncated", buf, "truncate");

	classify("kmsg target reason",
		 "device-mapper: table: 254:3: vstorage-raw: offset is beyond the end of the file (-EINVAL)",
		 3, "offset is beyond the end of the file");
	classify("kmsg target reason numeric errno",
		 "device-mapper: table: 254:3: vstorage-raw: cannot open /x (-2)",
		 3, "cannot open /x");
	classify("kmsg target reason keeps other parentheses",
		 "device-mapper: table: 254:3: vstorage-raw: bad size (need 512)",
		 3, "bad size (need 512)");
	classify("kmsg target reason without errno",
		 "device-mapper: table: 254:3: vstorage-raw: unknown target type",
		 3, "unknown target type");
	classify("kmsg other device ignored",
		 "device-mapper: table: 254:30: vstorage-raw: bad offset (-EINVAL)",
		 0, "");
	classify("kmsg other target is a table error",
		 "device-mapper: table: 254:3: linear: bad (-EINVAL)", 2,
		 "linear: bad (-EINVAL)");
	classify("kmsg table error of the device",
		 "device-mapper: table: 254:3: too large device", 2,
		 "too large device");
	classify("kmsg ioctl error",
		 "device-mapper: ioctl: unable to set up device queue for new table.",
		 1, "unable to set up device queue for new table.");
	classify("kmsg generic ioctl error ignored",
		 "device-mapper: ioctl: error adding target to table", 0, "");
	classify("kmsg unrelated", "EXT4-fs (vda): mounted filesystem", 0, "");
}

/* ---- qemu-img map merging ---- */

struct collected {
	struct map_entry v[16];
	int n;
};

static int collect(const struct map_entry *e, bool last, void *arg)
{
	struct collected *c = arg;

	(void)last;
	if (c->n < 16)
		c->v[c->n++] = *e;
	return 0;
}

static struct map_entry ent(uint64_t start, uint64_t len, bool data,
			    bool zero, bool present, uint32_t depth,
			    bool has_off, uint64_t off, const char *file)
{
	struct map_entry e = {
		.start = start, .length = len, .data = data, .zero = zero,
		.present = present, .depth = depth, .has_offset = has_off,
		.offset = off, .file = file,
	};
	return e;
}

static int same(const struct map_entry *a, const struct map_entry *b)
{
	return a->start == b->start && a->length == b->length &&
	       a->data == b->data && a->zero == b->zero &&
	       a->present == b->present && a->depth == b->depth &&
	       a->has_offset == b->has_offset &&
	       (!a->has_offset || a->offset == b->offset);
}

static void run_map(const char *name, bool human, uint64_t start,
		    const struct map_entry *in, int nin,
		    const struct map_entry *want, int nwant)
{
	struct collected c = { .n = 0 };
	struct map_merger m;
	int i, ok;

	map_merger_init(&m, start, human, collect, &c);
	for (i = 0; i < nin; i++)
		map_merger_push(&m, &in[i]);
	map_merger_finish(&m);
	ok = c.n == nwant;
	for (i = 0; ok && i < nwant; i++)
		ok = same(&c.v[i], &want[i]);
	result(ok, "%s", name);
	if (!ok)
		for (i = 0; i < c.n; i++)
			printf("#   got {%" PRIu64 ", %" PRIu64 ", data %d zero %d present %d depth %u off %d:%" PRIu64 "}\n",
			       c.v[i].start, c.v[i].length, c.v[i].data,
			       c.v[i].zero, c.v[i].present, c.v[i].depth,
			       c.v[i].has_offset, c.v[i].offset);
}

void test_map(void)
{
	char f1[] = "vm0", f1b[] = "vm0", f2[] = "base";

	{	/* contiguous host offsets merge; file compared by content */
		struct map_entry in[] = {
			ent(0, 4096, true, false, true, 0, true, 0, f1),
			ent(4096, 4096, true, false, true, 0, true, 4096, f1b),
		};
		struct map_entry want[] = {
			ent(0, 8192, true, false, true, 0, true, 0, f1),
		};
		run_map("map merges contiguous data", false, 0, in, 2, want, 1);
	}
	{	/* a gap in host offsets splits */
		struct map_entry in[] = {
			ent(0, 4096, true, false, true, 0, true, 0, f1),
			ent(4096, 4096, true, false, true, 0, true, 65536, f1),
		};
		run_map("map splits non-contiguous host offsets", false, 0,
			in, 2, in, 2);
	}
	{	/* different layer or file splits */
		struct map_entry in[] = {
			ent(0, 512, true, false, true, 0, true, 0, f1),
			ent(512, 512, true, false, true, 1, true, 512, f1),
			ent(1024, 512, true, false, true, 1, true, 1024, f2),
		};
		run_map("map splits on depth and file", false, 0, in, 3, in, 3);
	}
	{	/* present differs */
		struct map_entry in[] = {
			ent(0, 512, false, true, true, 0, false, 0, NULL),
			ent(512, 512, false, true, false, 0, false, 0, NULL),
		};
		run_map("map splits on present", false, 0, in, 2, in, 2);
	}
	{	/* holes without offsets merge */
		struct map_entry in[] = {
			ent(0, 512, false, true, false, 1, false, 0, NULL),
			ent(512, 1024, false, true, false, 1, false, 0, NULL),
		};
		struct map_entry want[] = {
			ent(0, 1536, false, true, false, 1, false, 0, NULL),
		};
		run_map("map merges holes", false, 0, in, 2, want, 1);
	}
	{	/* a zero-length range: qemu-img prints one empty entry */
		struct map_entry want[] = {
			ent(4096, 0, false, false, false, 0, false, 0, NULL),
		};
		run_map("map empty range", false, 4096, NULL, 0, want, 1);
	}
	{
		/* human: after a dumped entry, "not data" becomes zero and
		 * merges with zero+data
		 */
		struct map_entry in[] = {
			ent(0, 512, true, false, true, 0, true, 0, f1),
			ent(512, 512, false, false, false, 1, false, 0, NULL),
			ent(1024, 512, false, true, false, 1, false, 0, NULL),
		};
		struct map_entry want_json[] = {
			ent(0, 512, true, false, true, 0, true, 0, f1),
			ent(512, 512, false, false, false, 1, false, 0, NULL),
			ent(1024, 512, false, true, false, 1, false, 0, NULL),
		};
		struct map_entry want_human[] = {
			ent(0, 512, true, false, true, 0, true, 0, f1),
			ent(512, 1024, false, true, false, 1, false, 0, NULL),
		};
		run_map("map json keeps zero/non-data apart", false, 0, in, 3,
			want_json, 3);
		run_map("map human merges zero and non-data", true, 0, in, 3,
			want_human, 2);
	}
	{	/* qemu-img map --output=json of a raw file: data, zero, data */
		struct map_entry in[] = {
			ent(0, 131072, true, false, true, 0, true, 0, f1),
			ent(131072, 69632, true, false, true, 0, true, 131072, f1),
			ent(200704, 61440, false, true, true, 0, true, 200704, f1),
			ent(262144, 131072, true, false, true, 0, true, 262144, f1),
		};
		struct map_entry want[] = {
			ent(0, 200704, true, false, true, 0, true, 0, f1),
			ent(200704, 61440, false, true, true, 0, true, 200704, f1),
			ent(262144, 131072, true, false, true, 0, true, 262144, f1),
		};
		run_map("map like qemu-img on a raw file", false, 0, in, 4,
			want, 3);
	}
}
