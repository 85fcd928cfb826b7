// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the qcow2 overlay encoder (user/qcow2_image.c): the image
 * parses back with the target's own library, and when qemu-img is
 * installed, `qemu-img check` finds it clean, `qemu-img info` says what it
 * says of the image `qemu-img create -b NAME -F FMT` makes, and with
 * clusters of 8 KiB and more the file is byte for byte qemu-img's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qcow2_image.h"
#include "unit.h"
#include "util.h"

static char dir[] = "/tmp/vs-qcow2-image.XXXXXX";
static bool have_qemu_img;

/* Runs a shell command; its exit status, or -1. */
static int run(const char *cmd)
{
	int st = system(cmd);

	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A command's output, malloc'd ("" when it fails to start). */
static char *output(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	size_t len = 0, cap = 4096;
	char *s = xcalloc(1, cap);
	size_t n;

	if (!f)
		return s;
	while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			cap *= 2;
			s = xrealloc(s, cap);
		}
	}
	s[len] = '\0';
	pclose(f);
	return s;
}

static bool files_equal(const char *a, const char *b)
{
	char *cmd = xasprintf("cmp -s '%s' '%s'", a, b);
	bool same = run(cmd) == 0;

	free(cmd);
	return same;
}

/* Our image parses back with what was asked for. */
static void check_parse(const char *path, const struct qcow2_new *o,
			const char *name)
{
	const char *reason;
	struct qimg q;
	struct stat st;
	int err;

	if (stat(path, &st) || qimg_read(path, (uint64_t)st.st_size, &q,
					  &reason, &err)) {
		result(0, "%s: parses (%s)", name,
		       reason ? reason : strerror(err));
		return;
	}
	result(q.h.version == 3 && q.h.size == o->size &&
	       q.h.cluster_bits == o->cluster_bits && !q.h.dirty &&
	       q.h.refcount_order == 4 && q.h.header_length == 112 &&
	       !strcmp(q.backing ? q.backing : "", o->backing) &&
	       !strcmp(q.backing_fmt ? q.backing_fmt : "", o->backing_fmt),
	       "%s: header reads back", name);
	qimg_free(&q);
}

/* qemu-img info, less what names or measures the file itself */
static char *info(const char *path)
{
	char *cmd = xasprintf("qemu-img info -U --output=json '%s' | grep -v -e '\"filename\"' -e '\"actual-size\"'",
			      path);
	char *s = output(cmd);

	free(cmd);
	return s;
}

/* BASE, a file of DIR, is the backing file (made for qemu-img check) */
static void one(unsigned int bits, uint64_t size, const char *base,
		const char *fmt, bool identical)
{
	char *backing = xasprintf("%s/%s", dir, base);
	struct qcow2_new o = {
		.size = size, .cluster_bits = bits,
		.backing = backing, .backing_fmt = fmt,
	};
	char name[128], err[256], *ours, *theirs, *cmd, *a, *b;

	snprintf(name, sizeof(name), "overlay %u-byte clusters, %" PRIu64
		 " bytes, %s backing", 1U << bits, size, fmt);
	ours = xasprintf("%s/ours-%u-%" PRIu64 ".qcow2", dir, bits, size);
	theirs = xasprintf("%s/qemu-%u-%" PRIu64 ".qcow2", dir, bits, size);
	if (qcow2_new_file(ours, &o, err, sizeof(err))) {
		result(0, "%s: created (%s)", name, err);
		goto out;
	}
	result(1, "%s: created", name);
	check_parse(ours, &o, name);
	if (!have_qemu_img)
		goto out;

	cmd = xasprintf("qemu-img check -q '%s'", ours);
	result(run(cmd) == 0, "%s: qemu-img check is clean", name);
	free(cmd);
	/* -u: qemu-img need not open the backing file to name it */
	cmd = xasprintf("qemu-img create -q -f qcow2 -u -o cluster_size=%u -b '%s' -F %s '%s' %" PRIu64,
			1U << bits, backing, fmt, theirs, size);
	if (run(cmd)) {
		result(0, "%s: qemu-img create", name);
		free(cmd);
		goto out;
	}
	free(cmd);
	a = info(ours);
	b = info(theirs);
	check_str(name, a, b);
	free(a);
	free(b);
	if (identical)
		result(files_equal(ours, theirs), "%s: the same bytes as qemu-img's",
		       name);
out:
	free(ours);
	free(theirs);
	free(backing);
}

static void test_errors(void)
{
	struct qcow2_new o = { .size = 1 << 20, .cluster_bits = 8,
			       .backing = "/b", .backing_fmt = "raw" };
	char err[256], *path, *long_name, *cmd;
	unsigned char *buf;
	const char *why;
	uint64_t file_len;
	size_t len;
	struct stat st;

	result(qcow2_new_image(&o, &buf, &len, &file_len, &why) == -1,
	       "overlay: 256-byte clusters refused");
	o.cluster_bits = 22;
	result(qcow2_new_image(&o, &buf, &len, &file_len, &why) == -1,
	       "overlay: 4 MiB clusters refused");
	o.cluster_bits = 9;
	o.size = 1ULL << 62;
	result(qcow2_new_image(&o, &buf, &len, &file_len, &why) == -1,
	       "overlay: an L1 table beyond QEMU's limit refused");
	o.size = 1 << 20;
	long_name = xcalloc(1, 1001);
	memset(long_name, 'a', 1000);
	long_name[0] = '/';
	o.backing = long_name;
	result(qcow2_new_image(&o, &buf, &len, &file_len, &why) == -1 &&
	       strstr(why, "backing file name"),
	       "overlay: a backing name longer than the header cluster refused");
	free(long_name);

	/* an existing file is never overwritten */
	o.backing = "/b";
	o.cluster_bits = 16;
	path = xasprintf("%s/exists", dir);
	cmd = xasprintf("printf keep > '%s'", path);
	run(cmd);
	free(cmd);
	result(qcow2_new_file(path, &o, err, sizeof(err)) == -1 &&
	       strstr(err, strerror(EEXIST)) && !stat(path, &st) &&
	       st.st_size == 4, "overlay: an existing file is kept");
	unlink(path);
	free(path);
}

void test_qcow2_image(void)
{
	char *cmd;

	if (!mkdtemp(dir)) {
		result(0, "qcow2 image: mkdtemp: %s", strerror(errno));
		return;
	}
	have_qemu_img = run("qemu-img --version >/dev/null 2>&1") == 0;
	if (!have_qemu_img)
		printf("# qemu-img not found: the overlays are not compared with QEMU's\n");

	if (have_qemu_img) {
		cmd = xasprintf("cd '%s' && qemu-img create -q -f qcow2 base.qcow2 1M && qemu-img create -q -f qcow2 'a base with blanks.qcow2' 1M && qemu-img create -q -f raw base.raw 1M",
				dir);
		result(run(cmd) == 0, "qcow2 image: the backing files");
		free(cmd);
	}
	one(16, 1ULL << 30, "base.qcow2", "qcow2", true);
	one(16, 3ULL << 20, "base.raw", "raw", true);
	one(16, 10ULL << 40, "a base with blanks.qcow2", "qcow2", true);
	one(13, 100ULL << 30, "base.qcow2", "qcow2", true);
	one(21, 64ULL << 20, "base.qcow2", "qcow2", true);
	one(12, 1ULL << 30, "base.raw", "raw", false);
	one(9, 1ULL << 30, "base.raw", "raw", false);
	one(9, 512, "base.raw", "raw", false);
	test_errors();

	cmd = xasprintf("rm -rf '%s'", dir);
	run(cmd);
	free(cmd);
}
