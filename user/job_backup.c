// SPDX-License-Identifier: GPL-2.0
/*
 * The graph changes around a backup job (Documentation/jobs.rst,
 * "Backup"); job_graph.c calls these for type "backup".
 *
 *   backup node=N target=T sync=S [bitmap=B]
 *     prepare:  the target node: T itself when T names a node; else a node
 *               "<id>-target" added on T: a block device (raw), a qcow2
 *               or raw file as it is (a qcow2 file opens its backing
 *               chain: incremental backups are made with qemu-img create
 *               -b previous), or, when T does not exist, a new qcow2 image
 *               of N's size (sync=top: backed by N's backing file; sync=
 *               none: backed by N itself, the fleecing overlay). A target
 *               smaller than N is refused. Then a copy-before-write filter
 *               "<id>-cbw" above N with that target and a granularity of
 *               max(64 KiB, the target's cluster size). For sync=none into
 *               a target the prep added, the fleecing view "<id>-view": a
 *               snapshot-access node on the filter (reads the target
 *               while the filter holds writes off what they may read).
 *     finalize: the filter out, JOB_FINALIZE, then the view and the
 *               automatic target node out (the image file stays: it is
 *               the backup).
 *     unprepare (cancel, failure): the same without JOB_FINALIZE.
 *
 * Deleting the view ends a fleecing job: the supervisor looks for the
 * view every half second and, once it is gone, sends COMPLETE (a sync=none
 * backup is ready from its start and runs until complete), and the job
 * concludes as any other (finalize above). A device a job holds cannot be
 * removed, so a view that the target's filter still needed could not be
 * deleted; the view is a node of its own for exactly that reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "cmds.h"
#include "dm.h"
#include "job.h"
#include "nl.h"
#include "node.h"
#include "parse.h"
#include "qcow2_image.h"
#include "util.h"

#define MIN_GRANULARITY		65536u
/* how long a node may stay open after the job let it go */
#define IDLE_TRIES		150
#define IDLE_WAIT_MS		20

/* node add DRIVER node-name=NAME ARGS...: 0 or -1 (printed). */
static int add_node(const char *driver, const char *name, const char *a1,
		    const char *a2, const char *a3)
{
	char nn[64];
	char *argv[5] = { (char *)driver, nn, (char *)a1, (char *)a2,
			  (char *)a3 };
	int argc = 2 + !!a1 + (a1 && a2) + (a1 && a2 && a3);

	snprintf(nn, sizeof(nn), "node-name=%s", name);
	return vs_node_add(argc, argv);
}

/*
 * Removes node NAME that a backup added, once nothing holds it (the job
 * gives its devices back just before it concludes), and the automatic
 * backing nodes it opened. 0 or -1 (printed).
 */
static int del_node(const char *name)
{
	struct timespec ts = { 0, IDLE_WAIT_MS * 1000000L };
	struct vs_chain_link chain[VS_CHAIN_MAX];
	char dm[VS_DM_NAME_LEN];
	struct vs_dm_info info;
	struct vs_node n;
	size_t nr;
	int tries, r;

	if (!vs_job_node_exists(name))
		return 0;
	if (vs_node_fetch(name, &n))
		return -1;
	vs_node_dm_name(&n, dm, sizeof(dm));
	vs_node_free(&n);
	nr = vs_backing_chain(name, chain, VS_CHAIN_MAX);
	for (tries = 0; tries < IDLE_TRIES; tries++) {
		if (vs_dm_info(dm, NULL, &info) || !info.exists ||
		    !info.open_count)
			break;
		nanosleep(&ts, NULL);
	}
	r = vs_dm_remove(dm);
	if (r && r != -ENXIO && r != -ENODEV) {
		pr_err("cannot remove node '%s' (%s): remove it with vstoragectl node del %s",
		       name, r == -EIO ? vs_dm_last_error() : strerror(-r),
		       name);
		return -1;
	}
	return vs_remove_auto_chain(name, chain, nr) ? -1 : 0;
}

/* The cluster size of the qcow2 image at PATH, or 0 (not qcow2). */
static unsigned int qcow2_cluster(const char *path, uint64_t *size)
{
	const char *reason;
	struct qimg q;
	struct stat st;
	int err;

	if (stat(path, &st) || !S_ISREG(st.st_mode) ||
	    qimg_read(path, (uint64_t)st.st_size, &q, &reason, &err))
		return 0;
	*size = q.h.size;
	err = 1 << q.h.cluster_bits;
	qimg_free(&q);
	return (unsigned int)err;
}

/* The size of the file or block device at PATH: 0 or -1. */
static int path_size(const char *path, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -1;
	r = vs_fd_size(fd, size);
	close(fd);
	return r ? -1 : 0;
}

/* The file of node NAME's "file" child (malloc'd), or NULL. */
static char *node_file(const struct vs_node *n)
{
	const struct vs_child *c = vs_node_child(n, "file");

	return c && c->path ? xstrdup(c->path) : NULL;
}

static int too_small(const char *target, uint64_t tsize, const char *node,
		     uint64_t size)
{
	if (tsize >= size)
		return 0;
	pr_err("target=%s: the target (%" PRIu64 " bytes) is smaller than node '%s' (%" PRIu64 " bytes)",
	       target, tsize, node, size);
	return -1;
}

/*
 * A new qcow2 image at PATH for node N (SIZE bytes): sync=top backs it by
 * N's backing file, sync=none (fleecing) by N's own image; *backing_node:
 * the node to open as its backing (malloc'd), or NULL. 0 or -1 (printed).
 */
static int create_target(const struct vs_job_start *s, const char *path,
			 const struct vs_node *n, char **backing_node)
{
	struct vs_chain_link chain[VS_CHAIN_MAX];
	struct qcow2_new o = { .size = n->size, .cluster_bits = 16 };
	char err[256], *file = NULL;
	const char *reason;
	struct qimg q;
	bool have_q = false;
	struct stat st;
	int e, ret;

	*backing_node = NULL;
	if (s->sync == VSTORAGE_JOB_SYNC_TOP &&
	    vs_backing_chain(s->node, chain, VS_CHAIN_MAX)) {
		file = node_file(n);
		have_q = file && !stat(file, &st) &&
			 !qimg_read(file, (uint64_t)st.st_size, &q, &reason,
				    &e);
		if (have_q && q.backing) {
			o.backing = q.backing;
			o.backing_fmt = q.backing_fmt;
			*backing_node = xstrdup(chain[0].node);
		}
	} else if (s->sync == VSTORAGE_JOB_SYNC_NONE) {
		/*
		 * The overlay of the live disk. Opened without a backing
		 * first: N's device moves under the filter, and only then is
		 * the overlay reloaded over it (fleece_backing()).
		 */
		file = node_file(n);
		o.backing = file;
		o.backing_fmt = strcmp(n->driver, "qcow2") ? "raw" : "qcow2";
		*backing_node = xstrdup("none");
	}
	ret = qcow2_new_file(path, &o, err, sizeof(err));
	if (ret)
		pr_err("target=%s: cannot create the image: %s", path, err);
	if (have_q)
		qimg_free(&q);
	free(file);
	if (ret) {
		free(*backing_node);
		*backing_node = NULL;
	}
	return ret ? -1 : 0;
}

/*
 * The target node of S into p->target (p->target_added when added here),
 * its cluster size into *cluster. 0 or -1 (printed, nothing left).
 */
static int resolve_target(const struct vs_job_start *s, struct vs_job_prep *p,
			  const struct vs_node *n, unsigned int *cluster)
{
	char file[4200], *backing = NULL, barg[64];
	const char *why, *driver = "raw";
	uint64_t tsize = 0;
	struct vs_node t;
	struct stat st;
	int r;

	*cluster = 0;
	if (!check_node_name(s->target, &why) && vs_job_node_exists(s->target)) {
		if (vs_node_fetch(s->target, &t))
			return -1;
		tsize = t.size;
		if (!strcmp(t.driver, "qcow2")) {
			char *f = node_file(&t);
			uint64_t vsize;

			if (f)
				*cluster = qcow2_cluster(f, &vsize);
			free(f);
		}
		vs_node_free(&t);
		if (too_small(s->target, tsize, s->node, n->size))
			return -1;
		if (vs_job_check_free(s->target))
			return -1;
		snprintf(p->target, sizeof(p->target), "%s", s->target);
		return 0;
	}
	if (!strchr(s->target, '/')) {
		pr_err("target=%s: no such node (give a path for a file or device)",
		       s->target);
		return -1;
	}
	snprintf(p->target, sizeof(p->target), "%.24s-target", p->id);
	if (vs_job_node_exists(p->target)) {
		pr_err("target=%s: node '%s' exists already", s->target,
		       p->target);
		return -1;
	}
	if (!stat(s->target, &st)) {
		if (S_ISREG(st.st_mode))
			*cluster = qcow2_cluster(s->target, &tsize);
		if (*cluster)
			driver = "qcow2";
		else if ((!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) ||
			 path_size(s->target, &tsize)) {
			pr_err("target=%s: not a file or block device that can be read",
			       s->target);
			return -1;
		}
		if (too_small(s->target, tsize, s->node, n->size))
			return -1;
	} else if (errno == ENOENT) {
		if (create_target(s, s->target, n, &backing))
			return -1;
		driver = "qcow2";
		*cluster = 65536;
	} else {
		pr_err("target=%s: %s", s->target, strerror(errno));
		return -1;
	}
	snprintf(file, sizeof(file), "file=%s", s->target);
	if (backing)
		snprintf(barg, sizeof(barg), "backing=%.50s", backing);
	r = add_node(driver, p->target, file, backing ? barg : NULL, NULL);
	free(backing);
	if (r)
		return -1;
	p->target_added = true;
	return 0;
}

/*
 * The fleecing overlay (target node T) reads what it has not copied from
 * NODE's own device, the one under the filter: T is reloaded over it. 0
 * or -1 (printed).
 */
static int fleece_backing(const char *node, const char *target)
{
	struct vs_node_stack st;
	struct vs_node n;
	char dev[VS_DM_NAME_LEN + 16];

	if (vs_node_fetch(node, &n))
		return -1;
	if (vs_node_stack(&n, &st)) {
		pr_err("node '%s': no device-mapper device has its device number",
		       node);
		vs_node_free(&n);
		return -1;
	}
	vs_node_free(&n);
	snprintf(dev, sizeof(dev), "/dev/mapper/%s", st.holder.name);
	return vs_job_reload_node(target, "backing", dev, -1);
}

int vs_backup_prepare(const struct vs_job_start *s, struct vs_job_prep *p)
{
	char nn[64], tg[64], gr[64], file[64];
	char *argv[4] = { "copy-before-write", nn, tg, gr };
	unsigned int cluster;
	struct vs_node n;
	int r;

	if (vs_job_check_free(s->node))
		return -1;
	if (vs_node_fetch(s->node, &n))
		return -1;
	r = n.read_only ? -1 : 0;
	if (r)
		pr_err("backup: node '%s' is read-only: nothing writes to it, back up its image with qemu-img convert",
		       s->node);
	else
		r = resolve_target(s, p, &n, &cluster);
	vs_node_free(&n);
	if (r)
		return -1;

	snprintf(p->filter, sizeof(p->filter), "%.27s-cbw", p->id);
	snprintf(nn, sizeof(nn), "node-name=%s", p->filter);
	snprintf(tg, sizeof(tg), "target=%s", p->target);
	snprintf(gr, sizeof(gr), "granularity=%u",
		 cluster > MIN_GRANULARITY ? cluster : MIN_GRANULARITY);
	if (vs_node_insert_filter(s->node, 4, argv)) {
		p->filter[0] = '\0';
		goto undo;
	}
	/* fleecing: the read-only view of the point in time */
	if (s->sync == VSTORAGE_JOB_SYNC_NONE && p->target_added) {
		if (fleece_backing(s->node, p->target))
			goto undo;
		snprintf(p->view, sizeof(p->view), "%.26s-view", p->id);
		snprintf(file, sizeof(file), "file=%s", p->filter);
		if (add_node("snapshot-access", p->view, file, NULL, NULL)) {
			p->view[0] = '\0';
			goto undo;
		}
	}
	return 0;
undo:
	vs_backup_unprepare(p);
	return -1;
}

/*
 * A fleecing overlay holds the node's device under the filter (its
 * backing): node remove-filter could not tell which device is the node's
 * and the filter holds the overlay. So the view goes first, the overlay
 * lets go of its backing, then the filter goes. 0 or -1 (printed).
 */
static int fleece_detach(const struct vs_job_prep *p)
{
	if (!p->view[0])
		return 0;
	if (del_node(p->view))
		return -1;
	if (vs_job_node_exists(p->target) &&
	    vs_job_reload_node(p->target, "backing", "none", -1))
		return -1;
	return 0;
}

int vs_backup_unprepare(const struct vs_job_prep *p)
{
	int ret = 0;

	if (fleece_detach(p))
		ret = -1;
	if (p->filter[0] && vs_job_node_exists(p->filter) &&
	    vs_node_remove_filter(p->filter))
		ret = -1;
	if (p->target_added && del_node(p->target))
		ret = -1;
	return ret;
}

int vs_backup_finalize(struct vs_nl *nl, const struct vs_job *j,
		       const struct vs_job_prep *p)
{
	int ret = 0;

	/* the copy is complete and the filter disarmed: it may go first */
	if (fleece_detach(p))
		ret = -1;
	if (p->filter[0] && vs_job_node_exists(p->filter) &&
	    vs_node_remove_filter(p->filter)) {
		pr_err("job %s: the copy-before-write node '%s' stays: remove it with vstoragectl node remove-filter",
		       j->id, p->filter);
		ret = -1;
	}
	if (vs_job_send_finalize(nl, p->id, NULL))
		return -1;
	if (p->target_added && del_node(p->target))
		ret = -1;
	return ret;
}

void vs_backup_watch(struct vs_nl *nl, const struct vs_job_prep *p,
		     bool *asked)
{
	struct nl_msg *msg;
	struct nlattr *nest;

	if (*asked || !p->view[0] || vs_job_node_exists(p->view))
		return;
	*asked = true;
	msg = vs_nl_msg(nl, VSTORAGE_CMD_JOB_COMPLETE, NLM_F_ACK);
	nest = nla_nest_start(msg, VSTORAGE_A_JOB);
	if (!nest || nla_put_string(msg, VSTORAGE_JOB_ID, p->id)) {
		nlmsg_free(msg);
		return;
	}
	nla_nest_end(msg, nest);
	/* a job that is not ready (paused, or over) says so: nothing to do */
	vs_nl_transact(nl, msg, NULL, NULL);
	nlmsg_free(msg);
}
