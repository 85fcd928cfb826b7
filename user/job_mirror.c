// SPDX-License-Identifier: GPL-2.0
/*
 * The graph changes around a mirror job (QEMU's drive-mirror and
 * blockdev-mirror; Documentation/jobs.rst, "Mirror").
 *
 *   mirror node=N target=T sync=full|top|none
 *     prepare:  T is a node (used as is), or a path: a block device or an
 *               existing image is added as a node, a path that does not
 *               exist is created first (qcow2 of N's size by default, raw
 *               with format=raw; a qcow2 made for sync=top is backed by
 *               N's backing file and uses N's backing node, one made for
 *               sync=none by N's own image, as QEMU makes them); then a
 *               mirror-top filter over N
 *     finalize: JOB_FINALIZE, the kernel pivots to T, then the device of
 *               the filter (the disk's) takes T's table; N's device goes,
 *               and with sync=full N's automatic backing nodes too (with
 *               top the target shares them, with none N is its backing)
 *     undo:     the filter out; a node the preparation added is removed,
 *               its image stays (a cancel when ready leaves a copy in it)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmds.h"
#include "job.h"
#include "nl.h"
#include "node.h"
#include "parse.h"
#include "qcow2_image.h"
#include "util.h"

/* qemu-img create's default cluster size */
#define TARGET_CLUSTER_BITS	16

/* target= names a node (a valid node name that exists). */
static bool node_known(const char *name)
{
	const char *why;

	return !check_node_name(name, &why) && vs_job_node_exists(name);
}

/* The image file and driver of node NAME into file/fmt. 0 or -1 (printed). */
static int node_image(const char *name, char *file, size_t flen, char *fmt,
		      size_t fmtlen)
{
	const struct vs_child *c;
	struct vs_node n;
	int ret = -1;

	if (vs_node_fetch(name, &n))
		return -1;
	c = vs_node_child(&n, "file");
	if ((strcmp(n.driver, "qcow2") && strcmp(n.driver, "raw")) || !c ||
	    !c->path)
		pr_err("mirror: node '%s' is a %s node, not an image (qcow2 or raw): it cannot back the target",
		       name, n.driver);
	else if (snprintf(file, flen, "%s", c->path) >= (int)flen)
		pr_err("mirror: the image path of node '%s' is too long", name);
	else
		ret = 0;
	snprintf(fmt, fmtlen, "%s", n.driver);
	vs_node_free(&n);
	return ret;
}

/* "qcow2" when PATH starts with qcow2's magic, else "raw". */
static const char *probe_format(const char *path)
{
	unsigned char m[4] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return "raw";
	r = read(fd, m, sizeof(m));
	close(fd);
	return r == 4 && !memcmp(m, "QFI\xfb", 4) ? "qcow2" : "raw";
}

static int create_raw(const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0) {
		pr_err("target=%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)size) || fsync(fd)) {
		pr_err("target=%s: cannot size it: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * The new image at PATH for node SRC (SIZE bytes): qcow2 backed as QEMU
 * backs it, or raw. *backing: the node the target's backing is, "" none.
 */
static int create_target(const struct vs_job_start *s, const char *path,
			 uint64_t size, const char *src_backing,
			 char *backing, size_t blen)
{
	char bfile[PATH_MAX], bfmt[32], err[512];
	struct qcow2_new o = {
		.size = size,
		.cluster_bits = TARGET_CLUSTER_BITS,
	};

	backing[0] = '\0';
	if (s->format && !strcmp(s->format, "raw"))
		return create_raw(path, size);
	if (s->sync == VSTORAGE_JOB_SYNC_TOP && src_backing)
		snprintf(backing, blen, "%s", src_backing);
	else if (s->sync == VSTORAGE_JOB_SYNC_NONE)
		snprintf(backing, blen, "%s", s->node);
	if (backing[0]) {
		if (node_image(backing, bfile, sizeof(bfile), bfmt,
			       sizeof(bfmt)))
			return -1;
		o.backing = bfile;
		o.backing_fmt = bfmt;
	}
	if (qcow2_new_file(path, &o, err, sizeof(err))) {
		pr_err("target=%s: %s", path, err);
		return -1;
	}
	return 0;
}

/* What target= as a path becomes, before its node is added. */
struct new_target {
	const char *fmt;
	char backing[VSTORAGE_NODE_NAME_MAX + 1];	/* "" when none */
	bool created;		/* the image is the preparation's */
};

/*
 * target= as a path: an image or block device used as is, or a new image
 * made. 0, or -1 (printed, nothing left behind).
 */
static int make_target(const struct vs_job_start *s, const struct vs_node *src,
		       struct new_target *nt)
{
	const struct vs_child *sb = vs_node_child(src, "backing");
	const struct vs_child *sf = vs_node_child(src, "file");
	char rs[PATH_MAX], rt[PATH_MAX];
	struct stat st;

	memset(nt, 0, sizeof(*nt));
	if (!stat(s->target, &st)) {
		if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
			pr_err("target=%s: neither a node, an image file nor a block device",
			       s->target);
			return -1;
		}
		if (sf && sf->path && realpath(sf->path, rs) &&
		    realpath(s->target, rt) && !strcmp(rs, rt)) {
			pr_err("target=%s: the target is the node's own image",
			       s->target);
			return -1;
		}
		nt->fmt = s->format ? s->format :
			  S_ISBLK(st.st_mode) ? "raw" : probe_format(s->target);
		return 0;
	}
	if (errno != ENOENT) {
		pr_err("target=%s: %s", s->target, strerror(errno));
		return -1;
	}
	if (create_target(s, s->target, src->size, sb ? sb->node_name : NULL,
			  nt->backing, sizeof(nt->backing)))
		return -1;
	nt->created = true;
	nt->fmt = s->format ? s->format : "qcow2";
	return 0;
}

/* The target's node p->target over s->target. 0 or -1 (printed). */
static int add_target(const struct vs_job_start *s, struct vs_job_prep *p,
		      const struct new_target *nt)
{
	char nn[64], file[PATH_MAX + 8], bk[64];
	char *argv[4] = { (char *)nt->fmt, nn, file, bk };

	snprintf(nn, sizeof(nn), "node-name=%s", p->target);
	snprintf(file, sizeof(file), "file=%s", s->target);
	snprintf(bk, sizeof(bk), "backing=%s", nt->backing);
	if (vs_node_add(nt->backing[0] ? 4 : 3, argv))
		return -1;
	p->target_added = true;
	return 0;
}

/*
 * node add resolves backing=N to N's user-visible device: for a target
 * backed by the node (sync=none) that is the disk, which the target
 * itself becomes at the pivot. Its backing must be the node's own device.
 */
static int back_on_own_device(const struct vs_job_prep *p, const char *node)
{
	struct vs_node_stack st;
	struct vs_node n;
	char *dev;
	int ret;

	if (vs_node_fetch(node, &n))
		return -1;
	ret = vs_node_stack(&n, &st);
	vs_node_free(&n);
	if (ret) {
		pr_err("node '%s' has no device-mapper device", node);
		return -1;
	}
	dev = xasprintf("/dev/mapper/%s", st.holder.name);
	ret = vs_job_reload_node(p->target, "backing", dev, -1);
	free(dev);
	return ret;
}

int vs_mirror_prepare(const struct vs_job_start *s, struct vs_job_prep *p)
{
	char node_name[64];
	char *argv[2] = { "mirror-top", node_name };
	struct new_target nt = { 0 };
	struct vs_node src, t;
	bool named, bad;
	int ret = -1;

	p->mirror = true;
	p->sync = s->sync;
	if (vs_job_check_free(s->node))
		return -1;
	if (vs_node_fetch(s->node, &src))
		return -1;
	named = node_known(s->target);
	if (named) {
		if (vs_job_check_free(s->target))
			goto out;
		snprintf(p->target, sizeof(p->target), "%s", s->target);
	} else {
		if (make_target(s, &src, &nt))
			goto out;
		snprintf(p->target, sizeof(p->target), "%.24s-target", p->id);
	}
	/*
	 * The filter first: a target backed by the node (sync=none) holds
	 * the node's device, which insert-filter must still move.
	 */
	snprintf(p->filter, sizeof(p->filter), "%.24s-mirror", p->id);
	snprintf(node_name, sizeof(node_name), "node-name=%s", p->filter);
	if (vs_node_insert_filter(s->node, 2, argv)) {
		p->filter[0] = '\0';
		goto undo;
	}
	if (!named && add_target(s, p, &nt))
		goto undo;
	if (!named && !strcmp(nt.backing, s->node) && back_on_own_device(p, s->node))
		goto undo;
	/* the kernel refuses these too; here the message names the image */
	if (vs_node_fetch(p->target, &t))
		goto undo;
	bad = t.size < src.size || t.read_only;
	if (t.size < src.size)
		pr_err("target=%s: %" PRIu64 " bytes, smaller than node '%s' (%" PRIu64 ")",
		       s->target, t.size, s->node, src.size);
	else if (t.read_only)
		pr_err("target=%s: node '%s' is read-only", s->target, t.name);
	vs_node_free(&t);
	if (bad)
		goto undo;
	ret = 0;
	goto out;
undo:
	vs_job_unprepare(p);
	p->target_added = false;
	p->filter[0] = '\0';
	if (nt.created)
		unlink(s->target);
out:
	vs_node_free(&src);
	return ret;
}

int vs_mirror_pivot_graph(const struct vs_job *j, const struct vs_job_prep *p)
{
	char names[2][VS_JOB_DM_NAME_LEN];
	struct vs_chain_link chain[VS_CHAIN_MAX];
	struct vs_node_stack st;
	struct vs_node n;
	size_t nr, nd = 0;
	int ret;

	nr = vs_backing_chain(j->node, chain, VS_CHAIN_MAX);
	if (vs_node_fetch(j->node, &n))
		return -1;
	ret = vs_node_stack(&n, &st);
	vs_node_free(&n);
	if (ret) {
		pr_err("job %s: node '%s' has no device-mapper device", p->id,
		       j->node);
		return -1;
	}
	/* the source's own device, unless it backs the target (sync=none) */
	if (p->sync != VSTORAGE_JOB_SYNC_NONE)
		snprintf(names[nd++], sizeof(names[0]), "%s", st.holder.name);
	if (vs_job_take_table(p->id, p->filter, p->target, names[nd],
			      sizeof(names[nd])))
		return -1;
	ret = vs_job_remove_devices(p->id, names, nd + 1);
	/* with sync=top the target stands on the source's backing nodes */
	if (!ret && p->sync == VSTORAGE_JOB_SYNC_FULL &&
	    vs_remove_auto_chain(j->node, chain, nr))
		ret = -1;
	return ret;
}
