// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of vstoragectl's qcow2 driver: the vstorage-qcow2 table line,
 * automatic backing node names, backing paths, target message reasons from
 * the kernel log, and the backing chain plan over hand-made images with
 * node add's services replaced by fakes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "kmsg.h"
#include "unit.h"
#include "util.h"

/* ---- table line ---- */

static void params(const char *name, const struct qcow2_table_opts *o,
		   const char *want)
{
	char *got = qcow2_table_params("top", "/img/top.qcow2", o);

	check_str(name, got, want);
	free(got);
}

static void test_params(void)
{
	struct qcow2_table_opts o = { 0 };
	char *got;

	params("qcow2 params minimal", &o, "top /img/top.qcow2");
	o.backing = "/dev/mapper/top-b1";
	params("qcow2 params backing", &o,
	       "top /img/top.qcow2 2 backing /dev/mapper/top-b1");
	o.backing = "none";
	o.read_only = true;
	params("qcow2 params backing none read-only", &o,
	       "top /img/top.qcow2 3 backing none read-only");
	o = (struct qcow2_table_opts) {
		.backing = "/dev/mapper/b",
		.read_only = true,
		.l2_cache_given = true, .l2_cache_size = 1048576,
		.refcount_cache_given = true, .refcount_cache_size = 262144,
		.clean_interval_given = true, .clean_interval = 600,
		.lazy_refcounts = "on",
		.discard = "unmap",
		.overlap_check = "cached",
	};
	params("qcow2 params all, in order", &o,
	       "top /img/top.qcow2 15 backing /dev/mapper/b read-only l2-cache-size 1048576 refcount-cache-size 262144 cache-clean-interval 600 lazy-refcounts on discard unmap overlap-check cached");
	o = (struct qcow2_table_opts) {
		.clean_interval_given = true, .clean_interval = 0,
		.lazy_refcounts = "off",
	};
	params("qcow2 params zero interval, lazy off", &o,
	       "top /img/top.qcow2 4 cache-clean-interval 0 lazy-refcounts off");
	o = (struct qcow2_table_opts) { .backing = "/dev/mapper/a b" };
	got = qcow2_table_params("n", "/my disks/x\\y.qcow2", &o);
	check_str("qcow2 params escaped paths", got,
		  "n /my\\ disks/x\\\\y.qcow2 2 backing /dev/mapper/a\\ b");
	free(got);
}

/* ---- automatic names ---- */

static const char *const *taken_list;

static int taken(void *arg, const char *name)
{
	size_t i;

	(void)arg;
	for (i = 0; taken_list && taken_list[i]; i++)
		if (!strcmp(taken_list[i], name))
			return 1;
	return 0;
}

static int taken_fail(void *arg, const char *name)
{
	(void)arg;
	(void)name;
	return -1;
}

static void auto_name(const char *name, const char *top, unsigned int depth,
		      const char *const *list, const char *want)
{
	char *got;

	taken_list = list;
	got = qcow2_auto_name(top, depth, taken, NULL);
	if (want)
		check_str(name, got, want);
	else
		result(!got, "%s", name);
	free(got);
}

static void test_auto_name(void)
{
	static const char *const b1[] = { "vm-b1", NULL };
	static const char *const b1ab[] = { "vm-b1", "vm-b1a", "vm-b1b", NULL };
	static const char *const long_taken[] = {
		"abcdefghijabcdefghijabcdefgh-b2", NULL
	};
	const char *all[29];
	char bufs[27][8];
	int i;
	char *got;

	auto_name("auto name depth 1", "vm", 1, NULL, "vm-b1");
	auto_name("auto name depth 12", "vm", 12, NULL, "vm-b12");
	auto_name("auto name taken -> letter", "vm", 1, b1, "vm-b1a");
	auto_name("auto name next letter", "vm", 1, b1ab, "vm-b1c");
	auto_name("auto name truncates to 31",
		  "abcdefghijabcdefghijabcdefghij0", 2, NULL,
		  "abcdefghijabcdefghijabcdefgh-b2");
	auto_name("auto name truncates more for a letter",
		  "abcdefghijabcdefghijabcdefghij0", 2, long_taken,
		  "abcdefghijabcdefghijabcdefg-b2a");
	auto_name("auto name 28 chars fits", "abcdefghijabcdefghijabcdefgh",
		  1, NULL, "abcdefghijabcdefghijabcdefgh-b1");
	/* every candidate taken */
	snprintf(bufs[0], sizeof(bufs[0]), "x-b1");
	all[0] = bufs[0];
	for (i = 1; i <= 26; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "x-b1%c", 'a' + i - 1);
		all[i] = bufs[i];
	}
	all[27] = NULL;
	auto_name("auto name all taken", "x", 1, all, NULL);
	got = qcow2_auto_name("x", 1, taken_fail, NULL);
	result(!got, "auto name lookup failure");
	free(got);
}

/* ---- backing paths ---- */

static void bpath(const char *name, const char *image, const char *b,
		  const char *want)
{
	char *got = qcow2_backing_path(image, b, strlen(b));

	check_str(name, got, want);
	free(got);
}

static void test_backing_path(void)
{
	bpath("backing path relative", "/img/vm/top.qcow2", "base.qcow2",
	      "/img/vm/base.qcow2");
	bpath("backing path relative subdir", "/img/top.qcow2", "../b/base",
	      "/img/../b/base");
	bpath("backing path absolute", "/img/top.qcow2", "/other/base.raw",
	      "/other/base.raw");
	bpath("backing path image in /", "/top.qcow2", "base", "/base");
	bpath("backing path device", "/dev/mapper/vm0", "base.qcow2",
	      "/dev/mapper/base.qcow2");
}

/* ---- target message reasons ---- */

static void msg(const char *name, const char *text, int want_prio,
		const char *want)
{
	char reason[256] = "";
	int prio = vs_kmsg_classify_message(text, "254:3", "vstorage-qcow2",
					    "vm0", reason, sizeof(reason));
	int ok = prio == want_prio && (!want_prio || !strcmp(reason, want));

	result(ok, "%s", name);
	if (!ok)
		printf("#   got prio %d reason '%s'\n", prio, reason);
}

static void test_message_reason(void)
{
	msg("message reason by dev",
	    "device-mapper: vstorage-qcow2: 254:3: resize: cannot shrink (-EINVAL)",
	    3, "resize: cannot shrink");
	msg("message reason by node name",
	    "device-mapper: vstorage-qcow2: vm0: resize: image is read-only",
	    3, "resize: image is read-only");
	msg("message reason of the target",
	    "device-mapper: vstorage-qcow2: unknown message 'foo'", 2,
	    "unknown message 'foo'");
	msg("message reason ioctl",
	    "device-mapper: ioctl: Target type does not support messages", 1,
	    "Target type does not support messages");
	msg("message reason other target", "device-mapper: vstorage-raw: x", 0,
	    "");
	msg("message reason other device",
	    "device-mapper: vstorage-qcow2: 254:30: boom", 2, "254:30: boom");
	msg("message reason unrelated", "EXT4-fs (vda): mounted", 0, "");
}

/* ---- the backing chain plan ---- */

static char dir[] = "/tmp/test-qcow2-driver.XXXXXX";

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, (uint32_t)v);
}

/*
 * A version 3 qcow2 image with 64 KiB clusters: header, an optional
 * backing format extension and backing file name, the refcount table at
 * 0x10000 and the L1 table at 0x30000 (all zeroes: only the header is
 * read). flags: 1 LUKS, 2 corrupt.
 */
static void make_qcow2(const char *name, uint64_t size, const char *backing,
		       const char *fmt, int flags)
{
	unsigned char h[4096] = { 0 };
	char path[PATH_MAX];
	size_t pos = 112;
	int fd;

	put32(h, 0x514649fb);
	put32(h + 4, 3);
	put32(h + 20, 16);
	put64(h + 24, size);
	put32(h + 32, flags & 1 ? 2 : 0);
	put32(h + 36, 1);
	put64(h + 40, 0x30000);
	put64(h + 48, 0x10000);
	put32(h + 56, 1);
	put64(h + 72, flags & 2 ? 2 : 0);
	put32(h + 96, 4);
	put32(h + 100, 112);
	if (fmt) {
		put32(h + pos, 0xe2792aca);
		put32(h + pos + 4, (uint32_t)strlen(fmt));
		memcpy(h + pos + 8, fmt, strlen(fmt));
		pos += 8 + ((strlen(fmt) + 7) & ~(size_t)7);
	}
	pos += 8;	/* end marker */
	if (backing) {
		put64(h + 8, 512);
		put32(h + 16, (uint32_t)strlen(backing));
		memcpy(h + 512, backing, strlen(backing));
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, h, sizeof(h)) != (ssize_t)sizeof(h) ||
	    ftruncate(fd, 0x40000)) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static void make_raw(const char *name, off_t size)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, size)) {
		perror(path);
		exit(1);
	}
	close(fd);
}

/* fake services: node "user" exists; "<dir>/shared.qcow2" is served */
static const char *const *fake_taken;

static int fake_node_device(struct vs_add_ctx *ctx, const char *name,
			    char **dev)
{
	(void)ctx;
	if (strcmp(name, "user"))
		return -ENOENT;
	*dev = xstrdup("/dev/mapper/user");
	return 0;
}

static int fake_find_file_node(struct vs_add_ctx *ctx, const char *driver,
			       const char *real, uint64_t size, char **dev)
{
	char *want = xasprintf("%s/shared.qcow2", dir);
	char *r = realpath(want, NULL);
	int ret = -ENOENT;

	(void)ctx;
	(void)size;
	if (r && !strcmp(real, r) && !strcmp(driver, "qcow2")) {
		*dev = xstrdup("/dev/mapper/shared");
		ret = 0;
	}
	free(r);
	free(want);
	return ret;
}

static int fake_name_taken(struct vs_add_ctx *ctx, const char *name)
{
	size_t i;

	(void)ctx;
	for (i = 0; fake_taken && fake_taken[i]; i++)
		if (!strcmp(fake_taken[i], name))
			return 1;
	return 0;
}

static const struct vs_add_ops fake_ops = {
	.node_device = fake_node_device,
	.find_file_node = fake_find_file_node,
	.name_taken = fake_name_taken,
};

/*
 * Runs parse() and check() of the qcow2 driver for node "top" over IMAGE
 * with the given properties; returns the table lines, bottom-up, as
 * "name: 0 SECTORS target params\n" with DIR replaced by "D", or NULL if
 * the driver refused.
 */
static char *plan(const char *image, const char *const *props)
{
	struct vs_add_ctx ctx = { 0 };
	struct vs_prop pv[16];
	char *out = xstrdup(""), *line, *p, *file_arg;
	size_t i, n = 0;
	int ok;

	file_arg = xasprintf("%s/%s", dir, image);
	snprintf(pv[n].key, sizeof(pv[n].key), "node-name");
	pv[n++].value = "top";
	snprintf(pv[n].key, sizeof(pv[n].key), "file");
	pv[n++].value = file_arg;
	for (i = 0; props && props[i]; i++) {
		const char *eq = strchr(props[i], '=');

		snprintf(pv[n].key, sizeof(pv[n].key), "%.*s",
			 (int)(eq - props[i]), props[i]);
		pv[n++].value = eq + 1;
	}
	ctx.drv = &vs_driver_qcow2;
	ctx.node_name = "top";
	ctx.file_arg = file_arg;
	ctx.props = pv;
	ctx.nr_props = n;
	ctx.file_path = realpath(file_arg, NULL);
	ctx.ops = &fake_ops;
	ctx.priv = xcalloc(1, vs_driver_qcow2.priv_size);
	ctx.file_size = 0x40000;
	ok = ctx.file_path && !vs_driver_qcow2.parse(&ctx) &&
	     !vs_driver_qcow2.check(&ctx);
	if (ok) {
		for (i = 0; i <= ctx.nr_pre; i++) {
			char *params = i < ctx.nr_pre ? NULL :
				       vs_driver_qcow2.params(&ctx);

			if (i < ctx.nr_pre)
				line = xasprintf("%s%s: 0 %" PRIu64 " %s %s\n",
						 out, ctx.pre[i].name,
						 ctx.pre[i].sectors,
						 ctx.pre[i].target,
						 ctx.pre[i].params);
			else
				line = xasprintf("%stop: 0 %" PRIu64 " %s %s%s\n",
						 out, ctx.length / 512,
						 vs_driver_qcow2.target, params,
						 ctx.read_only ? " (ro)" : "");
			free(params);
			free(out);
			out = line;
		}
	} else {
		free(out);
		out = NULL;
	}
	/* the directory (after realpath) as "D" */
	if (out) {
		char *rdir = realpath(dir, NULL);
		size_t rl = rdir ? strlen(rdir) : 0;

		while (rl && (p = strstr(out, rdir))) {
			memmove(p + 1, p + rl, strlen(p + rl) + 1);
			*p = 'D';
		}
		free(rdir);
	}
	vs_driver_qcow2.release(&ctx);
	vs_add_pre_free(&ctx);
	free(ctx.priv);
	free(ctx.file_path);
	free(file_arg);
	return out;
}

static void check_plan(const char *name, const char *image,
		       const char *const *props, const char *want)
{
	char *got = plan(image, props);

	if (want)
		check_str(name, got, want);
	else
		result(!got, "%s (refused)", name);
	free(got);
}

static void test_chain(void)
{
	static const char *const none[] = { "backing=none", NULL };
	static const char *const user[] = { "backing=user", "read-only=on", NULL };
	static const char *const nouser[] = { "backing=nobody", NULL };
	static const char *const ro[] = { "read-only=on", NULL };
	static const char *const taken_b1[] = { "top-b1", NULL };
	char *abs;

	if (!mkdtemp(dir)) {
		perror(dir);
		exit(1);
	}
	make_raw("base.raw", 64 << 20);
	make_raw("odd.raw", (64 << 20) + 100);
	make_qcow2("mid.qcow2", 64 << 20, "base.raw", "raw", 0);
	make_qcow2("top.qcow2", 128 << 20, "mid.qcow2", "qcow2", 0);
	make_qcow2("plain.qcow2", (64 << 20) + 1000, NULL, NULL, 0);
	make_qcow2("probe.qcow2", 64 << 20, "mid.qcow2", NULL, 0);
	make_qcow2("probe-raw.qcow2", 64 << 20, "base.raw", NULL, 0);
	make_qcow2("missing.qcow2", 64 << 20, "nothere.qcow2", "qcow2", 0);
	make_qcow2("luks.qcow2", 64 << 20, NULL, NULL, 1);
	make_qcow2("corrupt.qcow2", 64 << 20, NULL, NULL, 2);
	make_qcow2("loop1.qcow2", 64 << 20, "loop2.qcow2", "qcow2", 0);
	make_qcow2("loop2.qcow2", 64 << 20, "loop1.qcow2", "qcow2", 0);
	make_qcow2("vmdk.qcow2", 64 << 20, "base.raw", "vmdk", 0);
	make_qcow2("shared.qcow2", 64 << 20, "base.raw", "raw", 0);
	make_qcow2("over-shared.qcow2", 64 << 20, "shared.qcow2", "qcow2", 0);
	make_qcow2("odd.qcow2", 64 << 20, "odd.raw", "raw", 0);
	abs = xasprintf("%s/mid.qcow2", dir);
	make_qcow2("abs.qcow2", 64 << 20, abs, "qcow2", 0);
	free(abs);

	check_plan("chain plan: no backing", "plain.qcow2", NULL,
		   "top: 0 131073 vstorage-qcow2 top D/plain.qcow2\n");
	check_plan("chain plan: depth 3, bottom-up", "top.qcow2", NULL,
		   "top-b2: 0 131072 vstorage-raw top-b2 D/base.raw 1 read-only\n"
		   "top-b1: 0 131072 vstorage-qcow2 top-b1 D/mid.qcow2 3 backing /dev/mapper/top-b2 read-only\n"
		   "top: 0 262144 vstorage-qcow2 top D/top.qcow2 2 backing /dev/mapper/top-b1\n");
	check_plan("chain plan: absolute backing name", "abs.qcow2", NULL,
		   "top-b2: 0 131072 vstorage-raw top-b2 D/base.raw 1 read-only\n"
		   "top-b1: 0 131072 vstorage-qcow2 top-b1 D/mid.qcow2 3 backing /dev/mapper/top-b2 read-only\n"
		   "top: 0 131072 vstorage-qcow2 top D/abs.qcow2 2 backing /dev/mapper/top-b1\n");
	check_plan("chain plan: format probed (qcow2)", "probe.qcow2", NULL,
		   "top-b2: 0 131072 vstorage-raw top-b2 D/base.raw 1 read-only\n"
		   "top-b1: 0 131072 vstorage-qcow2 top-b1 D/mid.qcow2 3 backing /dev/mapper/top-b2 read-only\n"
		   "top: 0 131072 vstorage-qcow2 top D/probe.qcow2 2 backing /dev/mapper/top-b1\n");
	check_plan("chain plan: format probed (raw)", "probe-raw.qcow2", NULL,
		   "top-b1: 0 131072 vstorage-raw top-b1 D/base.raw 1 read-only\n"
		   "top: 0 131072 vstorage-qcow2 top D/probe-raw.qcow2 2 backing /dev/mapper/top-b1\n");
	check_plan("chain plan: backing=none", "top.qcow2", none,
		   "top: 0 262144 vstorage-qcow2 top D/top.qcow2 2 backing none\n");
	check_plan("chain plan: backing=NODE, read-only", "top.qcow2", user,
		   "top: 0 262144 vstorage-qcow2 top D/top.qcow2 3 backing /dev/mapper/user read-only (ro)\n");
	check_plan("chain plan: backing=unknown node", "top.qcow2", nouser, NULL);
	check_plan("chain plan: shared base node", "over-shared.qcow2", NULL,
		   "top: 0 131072 vstorage-qcow2 top D/over-shared.qcow2 2 backing /dev/mapper/shared\n");
	fake_taken = taken_b1;
	check_plan("chain plan: name taken", "probe-raw.qcow2", NULL,
		   "top-b1a: 0 131072 vstorage-raw top-b1a D/base.raw 1 read-only\n"
		   "top: 0 131072 vstorage-qcow2 top D/probe-raw.qcow2 2 backing /dev/mapper/top-b1a\n");
	fake_taken = NULL;
	check_plan("chain plan: raw base size cut to 512", "odd.qcow2", NULL,
		   "top-b1: 0 131072 vstorage-raw top-b1 D/odd.raw 3 size 67108864 read-only\n"
		   "top: 0 131072 vstorage-qcow2 top D/odd.qcow2 2 backing /dev/mapper/top-b1\n");
	check_plan("chain plan: missing backing file", "missing.qcow2", NULL,
		   NULL);
	check_plan("chain plan: LUKS refused", "luks.qcow2", NULL, NULL);
	check_plan("chain plan: corrupt refused read-write", "corrupt.qcow2",
		   NULL, NULL);
	check_plan("chain plan: corrupt read-only", "corrupt.qcow2", ro,
		   "top: 0 131072 vstorage-qcow2 top D/corrupt.qcow2 1 read-only (ro)\n");
	check_plan("chain plan: loop refused", "loop1.qcow2", NULL, NULL);
	check_plan("chain plan: unsupported backing format", "vmdk.qcow2",
		   NULL, NULL);
	check_plan("chain plan: raw image refused", "base.raw", NULL, NULL);
}

static void cleanup(void)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	if (strcmp(dir + strlen(dir) - 6, "XXXXXX") && system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
}

void test_qcow2_driver(void)
{
	test_params();
	test_auto_name();
	test_backing_path();
	test_message_reason();
	test_chain();
	cleanup();
}
