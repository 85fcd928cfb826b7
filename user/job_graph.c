// SPDX-License-Identifier: GPL-2.0
/*
 * The graph changes around a block job. The kernel copies; the graph is
 * made of device-mapper tables, which only userspace loads, so vstoragectl
 * changes it before the job starts (prepare) and when the job is pending
 * (finalize), or puts it back when the job is cancelled or fails
 * (unprepare).
 *
 *   stream node=N [base=B]
 *     prepare:  a copy-on-read filter over N (base=B)
 *     finalize: set-backing on N (B's image and format, or none), the
 *               filter out, N reloaded over B (or none), the automatic
 *               backing nodes between N and B removed, JOB_FINALIZE
 *   commit top=T [base=B]
 *     prepare:  B made writable and grown to T's size; on the active
 *               layer, a mirror-top filter over T
 *     finalize, T under an overlay O: set-backing on O (B's image), O
 *               reloaded over B, JOB_FINALIZE, then T and the layers
 *               between removed (the job holds them until it concludes)
 *               and B read-only again
 *     finalize, active: JOB_FINALIZE, the kernel pivots to B, then the
 *               device of the filter takes B's table and T, the layers
 *               between and B's old device go
 *
 * A failure before the image header changes fails the job (JOB_FINALIZE
 * with the error) and undoes the preparation; after it, the data is safe
 * (B holds everything the layers above it had) and the failure is only
 * reported.
 *
 * The supervisor is a detached process per job (as LVM's background
 * polling): it finalizes when the job is pending and auto-finalize is on,
 * undoes the preparation when the job is cancelled or failed, and exits
 * when the job has concluded. Its errors go to syslog (or the file
 * VSTORAGECTL_JOB_LOG names). `job finalize`
 * takes the same per-job lock, so only one finalizer runs; the lock file
 * also holds what the preparation did.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <libdevmapper.h>
#include <netlink/genl/genl.h>
#include <netlink/socket.h>

#include "cmds.h"
#include "dm.h"
#include "driver.h"
#include "job.h"
#include "nl.h"
#include "node.h"
#include "util.h"

#define ERR_LEN		1024
#define RUN_DIR		"/run/vstorage"
/* how long a device may stay open after the job let it go */
#define IDLE_TRIES	150
#define IDLE_WAIT_MS	20
/* how long finalize waits for the kernel's pivot */
#define PIVOT_TIMEOUT_S	600

/* ---- the lock file, with what the preparation did ---- */

static const char *run_dir(void)
{
	const char *d = getenv("VSTORAGE_RUN_DIR");

	return d && *d ? d : RUN_DIR;
}

static char *lock_path(const char *id)
{
	return xasprintf("%s/job-%s.lock", run_dir(), id);
}

/* The job's lock, taken: its file descriptor, or -1 (printed). */
static int lock_job(const char *id)
{
	char *path = lock_path(id);
	int fd;

	if (mkdir(run_dir(), 0755) && errno != EEXIST) {
		pr_err("cannot create %s: %s", run_dir(), strerror(errno));
		free(path);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX)) {
		pr_err("cannot lock %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* Releases the lock; an empty lock file (no preparation saved) goes. */
static void unlock_job(const char *id, int fd)
{
	struct stat st;

	if (!fstat(fd, &st) && !st.st_size)
		vs_job_prep_forget(id);
	close(fd);
}

int vs_job_prep_save(const struct vs_job_prep *p)
{
	char *path = lock_path(p->id);
	FILE *f;
	int ret = 0;

	if (mkdir(run_dir(), 0755) && errno != EEXIST) {
		pr_err("cannot create %s: %s", run_dir(), strerror(errno));
		free(path);
		return -1;
	}
	f = fopen(path, "we");
	if (!f) {
		pr_err("cannot write %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	fprintf(f, "filter=%s\nbase=%s\nactive=%d\nbase-read-only=%d\n",
		p->filter, p->base, p->active, p->base_was_read_only);
	if (p->target[0])
		fprintf(f, "mirror=%d\nbackup=%d\ntarget=%s\ntarget-added=%d\nsync=%u\nview=%s\n",
			p->mirror, p->backup, p->target, p->target_added,
			p->sync, p->view);
	if (fclose(f)) {
		pr_err("cannot write %s: %s", path, strerror(errno));
		ret = -1;
	}
	free(path);
	return ret;
}

int vs_job_prep_load(const char *id, struct vs_job_prep *p)
{
	char *path = lock_path(id), line[128];
	bool any = false;
	FILE *f;

	memset(p, 0, sizeof(*p));
	snprintf(p->id, sizeof(p->id), "%s", id);
	f = fopen(path, "re");
	free(path);
	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, '=');

		if (!v)
			continue;
		*v++ = '\0';
		v[strcspn(v, "\n")] = '\0';
		any = true;
		if (!strcmp(line, "filter"))
			snprintf(p->filter, sizeof(p->filter), "%s", v);
		else if (!strcmp(line, "base"))
			snprintf(p->base, sizeof(p->base), "%s", v);
		else if (!strcmp(line, "active"))
			p->active = *v == '1';
		else if (!strcmp(line, "base-read-only"))
			p->base_was_read_only = *v == '1';
		else if (!strcmp(line, "mirror"))
			p->mirror = *v == '1';
		else if (!strcmp(line, "backup"))
			p->backup = *v == '1';
		else if (!strcmp(line, "target"))
			snprintf(p->target, sizeof(p->target), "%s", v);
		else if (!strcmp(line, "target-added"))
			p->target_added = *v == '1';
		else if (!strcmp(line, "sync"))
			p->sync = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(line, "view"))
			snprintf(p->view, sizeof(p->view), "%s", v);
	}
	fclose(f);
	/* an empty file is a lock taken before the preparation was saved */
	return any ? 0 : -ENOENT;
}

void vs_job_prep_forget(const char *id)
{
	char *path = lock_path(id);

	unlink(path);
	free(path);
}

bool vs_job_graph_settled(const char *id, unsigned int timeout_ms)
{
	char *path = lock_path(id);
	unsigned int waited = 0;
	bool gone;

	/* the supervisor removes the record when its graph changes are done */
	while (!(gone = access(path, F_OK) && errno == ENOENT) &&
	       waited < timeout_ms) {
		usleep(50 * 1000);
		waited += 50;
	}
	free(path);
	return gone;
}

/* ---- nodes and devices ---- */

static void dev_str(const struct vs_dm_info *i, char *buf, size_t len)
{
	snprintf(buf, len, "%u:%u", i->major, i->minor);
}

/* Node NAME and its devices. 0, or -1 (printed); n is freed on failure. */
static int node_devs(const char *name, struct vs_node *n,
		     struct vs_node_stack *st)
{
	if (vs_node_fetch(name, n))
		return -1;
	if (vs_node_stack(n, st)) {
		pr_err("node '%s': no device-mapper device has its device number",
		       name);
		vs_node_free(n);
		return -1;
	}
	return 0;
}

bool vs_job_node_exists(const char *name)
{
	struct vs_node n;
	struct vs_nl nl;
	bool ret;

	if (vs_nl_open(&nl, true))
		return false;
	ret = !vs_node_get(&nl, name, &n);
	if (ret)
		vs_node_free(&n);
	vs_nl_close(&nl);
	return ret;
}

/*
 * Reloads the device that holds node NAME with option KEY set to VALUE
 * (KEY NULL: none) and, unless RO is -1, read-only on (1) or off (0).
 * 0, or -1 (printed).
 */
int vs_job_reload_node(const char *name, const char *key, const char *value,
		       int ro)
{
	char err[ERR_LEN], dev[32], *target = NULL, *params = NULL;
	char *line = NULL;
	struct vs_node_stack st;
	struct vs_table t = { 0 };
	struct vs_node n;
	uint64_t sectors;
	bool read_only;
	int ret = -1;

	if (node_devs(name, &n, &st))
		return -1;
	read_only = ro < 0 ? st.holder.read_only : ro;
	dev_str(&st.holder, dev, sizeof(dev));
	if (vs_dm_get_table_len(st.holder.name, &target, &params, &sectors,
				err, sizeof(err))) {
		pr_err("node '%s': %s", name, err);
		goto out;
	}
	if (vs_table_split(params, &t) || t.nr + 3 > VS_TABLE_MAX_WORDS) {
		pr_err("node '%s': table of device '%s' has too many words",
		       name, st.holder.name);
		goto out;
	}
	if (key)
		vs_table_set(&t, key, value);
	if (ro >= 0)
		vs_table_set_read_only(&t, ro);
	line = vs_table_join(&t);
	if (vs_dm_reload(st.holder.name, dev, target, line, sectors, read_only,
			 err, sizeof(err))) {
		pr_err("cannot reload node '%s'%s%s%s: %s", name,
		       key ? " with " : "", key ? key : "", key ? " changed" : "",
		       err);
		goto out;
	}
	ret = 0;
out:
	vs_table_free(&t);
	vs_node_free(&n);
	free(line);
	free(target);
	free(params);
	return ret;
}

/* "/dev/mapper/<the node's user-visible device>" (malloc'd), or NULL. */
static char *node_dev_path(const char *name)
{
	char dm[VS_DM_NAME_LEN];
	struct vs_node n;

	if (vs_node_fetch(name, &n))
		return NULL;
	vs_node_dm_name(&n, dm, sizeof(dm));
	vs_node_free(&n);
	return xasprintf("/dev/mapper/%s", dm);
}

/*
 * The image header of OVERLAY names BASE's image and format as its
 * backing file (BASE NULL: none), by the qcow2 target's set-backing
 * message. 0, or -1 with the reason in err.
 */
static int set_backing(const char *overlay, const char *base, char *err)
{
	struct vs_node_stack st;
	struct vs_node n, b;
	const struct vs_child *file;
	char dev[32], *msg, *epath;
	int ret;

	if (node_devs(overlay, &n, &st)) {
		snprintf(err, ERR_LEN, "node '%s' is gone", overlay);
		return -1;
	}
	vs_node_free(&n);
	if (!base) {
		msg = xstrdup("set-backing none");
	} else {
		if (vs_node_fetch(base, &b)) {
			snprintf(err, ERR_LEN, "base node '%s' is gone", base);
			return -1;
		}
		file = vs_node_child(&b, "file");
		if ((strcmp(b.driver, "qcow2") && strcmp(b.driver, "raw")) ||
		    !file || !file->path) {
			snprintf(err, ERR_LEN,
				 "base node '%s' is a %s node, not an image (qcow2 or raw)",
				 base, b.driver);
			vs_node_free(&b);
			return -1;
		}
		epath = dm_escape_arg(file->path);
		msg = xasprintf("set-backing %s %s", epath, b.driver);
		free(epath);
		vs_node_free(&b);
	}
	dev_str(&st.holder, dev, sizeof(dev));
	ret = vs_dm_message(st.holder.name, dev, "vstorage-qcow2", overlay, msg,
			    err, ERR_LEN);
	free(msg);
	return ret ? -1 : 0;
}

_Static_assert(VS_JOB_DM_NAME_LEN == VS_DM_NAME_LEN, "job.h's copy");

int vs_job_remove_devices(const char *job, char names[][VS_DM_NAME_LEN],
			  size_t nr)
{
	struct timespec ts = { 0, IDLE_WAIT_MS * 1000000L };
	struct vs_dm_info info;
	int tries, r, ret = 0;
	size_t i;

	for (i = 0; i < nr; i++) {
		for (tries = 0; tries < IDLE_TRIES; tries++) {
			if (vs_dm_info(names[i], NULL, &info) || !info.exists ||
			    !info.open_count)
				break;
			nanosleep(&ts, NULL);
		}
		if (!info.exists)
			continue;
		r = vs_dm_remove(names[i]);
		if (r && r != -ENXIO && r != -ENODEV) {
			pr_err("job %s: device '%s' is no longer used, but could not be removed (%s): remove it with dmsetup remove",
			       job, names[i],
			       r == -EIO ? vs_dm_last_error() : strerror(-r));
			ret = -1;
		}
	}
	return ret;
}

/* Index of node NAME in CHAIN, or -1. */
static int chain_find(const struct vs_chain_link *chain, size_t nr,
		      const char *name)
{
	size_t i;

	for (i = 0; i < nr; i++)
		if (!strcmp(chain[i].node, name))
			return (int)i;
	return -1;
}

/*
 * The node whose backing is node NAME (its device DEV) into over, "" when
 * none: NAME is then the active layer of its disk. 0 or -1 (printed).
 */
static int overlay_of(const char *name, const struct vs_dm_info *dev,
		      char *over, size_t len)
{
	struct vs_node *v;
	struct vs_nl nl;
	size_t nr, i;

	over[0] = '\0';
	if (vs_nl_open(&nl, false))
		return -1;
	if (vs_node_dump(&nl, &v, &nr)) {
		vs_nl_close(&nl);
		return -1;
	}
	vs_nl_close(&nl);
	for (i = 0; i < nr && !over[0]; i++) {
		const struct vs_child *c = vs_node_child(&v[i], "backing");

		if (c && ((c->node_name && !strcmp(c->node_name, name)) ||
			  (c->has_dev && c->major == dev->major &&
			   c->minor == dev->minor)))
			snprintf(over, len, "%s", v[i].name);
	}
	vs_node_dump_free(v, nr);
	return 0;
}

/* ---- prepare ---- */

static int check_free(const char *name)
{
	return vs_job_check_free(name);
}

static int prepare_stream(const struct vs_job_start *s, struct vs_job_prep *p)
{
	struct vs_chain_link chain[VS_CHAIN_MAX];
	char node_name[64], base[64];
	char *argv[3] = { "copy-on-read", node_name, base };
	struct vs_node n;
	size_t nr;
	int bad;

	if (check_free(s->node) || (s->base && check_free(s->base)))
		return -1;
	if (vs_node_fetch(s->node, &n))
		return -1;
	bad = strcmp(n.driver, "qcow2") ? 1 : n.read_only ? 2 : 0;
	if (bad)
		pr_err(bad == 1 ?
		       "stream: node '%s' is a %s node: only a qcow2 node has a backing file to stream from" :
		       "stream: node '%s' is read-only: the data is copied into it%s",
		       s->node, bad == 1 ? n.driver : "");
	vs_node_free(&n);
	if (bad)
		return -1;
	nr = vs_backing_chain(s->node, chain, VS_CHAIN_MAX);
	if (s->base && chain_find(chain, nr, s->base) < 0) {
		pr_err("base=%s: node '%s' is not in the backing chain of node '%s'",
		       s->base, s->base, s->node);
		return -1;
	}
	snprintf(p->base, sizeof(p->base), "%s", s->base ? s->base : "");
	snprintf(p->filter, sizeof(p->filter), "%.27s-cor", p->id);
	snprintf(node_name, sizeof(node_name), "node-name=%s", p->filter);
	snprintf(base, sizeof(base), "base=%s", p->base);
	if (vs_node_insert_filter(s->node, s->base ? 3 : 2, argv)) {
		p->filter[0] = '\0';
		return -1;
	}
	return 0;
}

static int prepare_commit(const struct vs_job_start *s, struct vs_job_prep *p)
{
	struct vs_chain_link chain[VS_CHAIN_MAX];
	struct vs_node_stack tst, bst;
	struct vs_node t, b;
	char node_name[64], other[VS_DM_NAME_LEN], over[64];
	char *argv[2] = { "mirror-top", node_name };
	const char *above;
	uint64_t tsize;
	int ib, nr;

	if (check_free(s->node) || (s->base && check_free(s->base)))
		return -1;
	if (node_devs(s->node, &t, &tst))
		return -1;
	tsize = t.size;
	nr = strcmp(t.driver, "qcow2") ? -1 : 0;
	if (nr)
		pr_err("commit: node '%s' is a %s node: only a qcow2 node has a backing file to commit into",
		       s->node, t.driver);
	vs_node_free(&t);
	if (nr)
		return -1;
	nr = (int)vs_backing_chain(s->node, chain, VS_CHAIN_MAX);
	if (!nr) {
		pr_err("commit: node '%s' has no backing node: nothing to commit into",
		       s->node);
		return -1;
	}
	ib = s->base ? chain_find(chain, nr, s->base) : nr - 1;
	if (ib < 0) {
		pr_err("base=%s: node '%s' is not in the backing chain of node '%s'",
		       s->base, s->base, s->node);
		return -1;
	}
	if (!s->base && check_free(chain[ib].node))
		return -1;
	if (node_devs(chain[ib].node, &b, &bst))
		return -1;
	/* the layer above the base holds it; any other device is a sharer */
	above = ib ? chain[ib - 1].dm_name : tst.holder.name;
	if (vs_dm_holders_except(bst.holder.major, bst.holder.minor, above,
				 other, sizeof(other)) > 0) {
		pr_err("base %s is shared by another overlay (%s)",
		       chain[ib].node, other);
		vs_node_free(&b);
		return -1;
	}
	if (overlay_of(s->node, &tst.holder, over, sizeof(over))) {
		vs_node_free(&b);
		return -1;
	}
	p->active = !over[0];
	snprintf(p->base, sizeof(p->base), "%s", chain[ib].node);
	if (b.read_only) {
		if (vs_job_reload_node(p->base, NULL, NULL, 0)) {
			vs_node_free(&b);
			return -1;
		}
		p->base_was_read_only = true;
	}
	if (b.size < tsize && vs_node_resize(p->base, tsize))
		goto undo;
	if (p->active) {
		snprintf(p->filter, sizeof(p->filter), "%.24s-mirror", p->id);
		snprintf(node_name, sizeof(node_name), "node-name=%s", p->filter);
		if (vs_node_insert_filter(s->node, 2, argv)) {
			p->filter[0] = '\0';
			goto undo;
		}
	}
	vs_node_free(&b);
	return 0;
undo:
	vs_node_free(&b);
	if (p->base_was_read_only)
		vs_job_reload_node(p->base, NULL, NULL, 1);
	return -1;
}

int vs_job_prepare(const struct vs_job_start *s, struct vs_job_prep *p)
{
	if (!strcmp(s->type, "mirror"))
		return vs_mirror_prepare(s, p);
	if (!strcmp(s->type, "backup")) {
		p->backup = true;
		return vs_backup_prepare(s, p);
	}
	return strcmp(s->type, "stream") ? prepare_commit(s, p) :
					   prepare_stream(s, p);
}

/*
 * The target node a mirror's preparation added. With sync=none its
 * backing is the node's own device under the disk, which node del would
 * take for a device of the target's stack: only the target's device goes.
 */
static int remove_target(const struct vs_job_prep *p)
{
	int r;

	if (p->sync != VSTORAGE_JOB_SYNC_NONE)
		return vs_node_del(p->target);
	r = vs_dm_remove(p->target);
	if (r && r != -ENXIO && r != -ENODEV) {
		pr_err("job %s: cannot remove the target's device '%s': %s",
		       p->id, p->target,
		       r == -EIO ? vs_dm_last_error() : strerror(-r));
		return -1;
	}
	return 0;
}

int vs_job_unprepare(const struct vs_job_prep *p)
{
	int ret = 0;

	if (p->backup)
		return vs_backup_unprepare(p);
	/*
	 * A mirror's target node first: with sync=none it holds the node's
	 * device, which remove-filter moves back. Its image stays: after a
	 * cancel when ready, it is a copy.
	 */
	if (p->target_added && vs_job_node_exists(p->target) &&
	    remove_target(p))
		ret = -1;
	if (p->filter[0] && vs_job_node_exists(p->filter) &&
	    vs_node_remove_filter(p->filter))
		ret = -1;
	if (p->base_was_read_only && vs_job_node_exists(p->base) &&
	    vs_job_reload_node(p->base, NULL, NULL, 1))
		ret = -1;
	return ret;
}

/* ---- finalize ---- */

/* A failure before the images changed: the job fails, the graph goes back. */
static int fail_job(struct vs_nl *nl, const struct vs_job_prep *p,
		    const char *why)
{
	pr_err("job %s: %s", p->id, why);
	vs_job_send_finalize(nl, p->id, why);
	vs_job_unprepare(p);
	return -1;
}

static int finalize_stream(struct vs_nl *nl, const struct vs_job *j,
			   const struct vs_job_prep *p)
{
	struct vs_chain_link chain[VS_CHAIN_MAX];
	char err[ERR_LEN], why[ERR_LEN + 128], *dev = NULL;
	const char *base = p->base[0] ? p->base : NULL;
	size_t nr, nb;
	int ret = 0;

	nr = vs_backing_chain(j->node, chain, VS_CHAIN_MAX);
	nb = base ? (size_t)chain_find(chain, nr, base) : nr;
	if (nb > nr) {
		snprintf(why, sizeof(why), "base '%s' left the backing chain of node '%s'",
			 base, j->node);
		return fail_job(nl, p, why);
	}
	if (base) {
		dev = node_dev_path(base);
		if (!dev)
			return fail_job(nl, p, "the base node is gone");
	}
	if (set_backing(j->node, base, err)) {
		free(dev);
		snprintf(why, sizeof(why), "cannot rewrite the backing file of node '%s': %s",
			 j->node, err);
		return fail_job(nl, p, why);
	}
	/* from here on the image stands on base: failures are reported */
	if (p->filter[0] && vs_node_remove_filter(p->filter))
		ret = -1;
	if (vs_job_reload_node(j->node, "backing", dev ? dev : "none", -1))
		ret = -1;
	else if (vs_remove_auto_chain(j->node, chain, nb))
		ret = -1;
	free(dev);
	if (vs_job_send_finalize(nl, p->id, NULL))
		ret = -1;
	return ret;
}

/* T's device and those of the layers between T and base B (index ib). */
static size_t dropped_devices(const char *top, const struct vs_chain_link *chain,
			      int ib, char names[][VS_DM_NAME_LEN])
{
	struct vs_node t;
	size_t nr = 0;
	int i;

	if (!vs_node_fetch(top, &t)) {
		vs_node_dm_name(&t, names[nr++], VS_DM_NAME_LEN);
		vs_node_free(&t);
	}
	for (i = 0; i < ib; i++)
		snprintf(names[nr++], VS_DM_NAME_LEN, "%s", chain[i].dm_name);
	return nr;
}

static int finalize_commit(struct vs_nl *nl, const struct vs_job *j,
			   const struct vs_job_prep *p)
{
	char names[VS_CHAIN_MAX + 1][VS_DM_NAME_LEN];
	struct vs_chain_link chain[VS_CHAIN_MAX];
	char err[ERR_LEN], why[ERR_LEN + 128], over[64], *dev;
	struct vs_node_stack tst;
	struct vs_node t;
	size_t nr, nd;
	int ib, ret = 0;

	nr = vs_backing_chain(j->node, chain, VS_CHAIN_MAX);
	ib = chain_find(chain, nr, p->base);
	if (ib < 0) {
		snprintf(why, sizeof(why), "base '%s' left the backing chain of node '%s'",
			 p->base, j->node);
		return fail_job(nl, p, why);
	}
	if (node_devs(j->node, &t, &tst))
		return fail_job(nl, p, "the top node is gone");
	vs_node_free(&t);
	if (overlay_of(j->node, &tst.holder, over, sizeof(over)) || !over[0])
		return fail_job(nl, p, "no overlay stands on the top node any more");
	dev = node_dev_path(p->base);
	if (!dev)
		return fail_job(nl, p, "the base node is gone");
	if (set_backing(over, p->base, err)) {
		free(dev);
		snprintf(why, sizeof(why), "cannot rewrite the backing file of node '%s': %s",
			 over, err);
		return fail_job(nl, p, why);
	}
	if (vs_job_reload_node(over, "backing", dev, -1))
		ret = -1;
	free(dev);
	nd = dropped_devices(j->node, chain, ib, names);
	if (vs_job_send_finalize(nl, p->id, NULL))
		return -1;
	if (vs_job_remove_devices(p->id, names, nd))
		ret = -1;
	if (p->base_was_read_only && vs_job_reload_node(p->base, NULL, NULL, 1))
		ret = -1;
	return ret;
}

struct pivot_wait {
	const char *id;
	bool want_pivot;	/* false: a cancel when ready, no pivot */
	bool done, failed;
	char error[VSTORAGE_JOB_ERROR_MAX + 1];
};

/* The job concluded (J, as an event CMD says or as asked). */
static void pivot_wait_end(struct pivot_wait *w, uint8_t cmd,
			   const struct vs_job *j)
{
	bool pivot_missing = w->want_pivot && !j->pivoted;

	w->done = true;
	w->failed = j->has_error || j->cancelled ||
		    cmd == VSTORAGE_CMD_JOB_CANCELLED || pivot_missing;
	snprintf(w->error, sizeof(w->error), "%s",
		 j->has_error ? j->error :
		 j->cancelled || cmd == VSTORAGE_CMD_JOB_CANCELLED ?
		 "the job was cancelled" :
		 pivot_missing ? "the job concluded without pivoting" : "");
}

static int pivot_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct genlmsghdr *g = NLMSG_DATA(nlh);
	struct pivot_wait *w = arg;
	struct vs_job j;

	if (!vs_job_event_name(g->cmd) || vs_job_parse(nlh, &j) ||
	    strcmp(j.id, w->id))
		return 0;
	if (g->cmd == VSTORAGE_CMD_JOB_COMPLETED ||
	    g->cmd == VSTORAGE_CMD_JOB_CANCELLED ||
	    vs_job_state_final(j.state))
		pivot_wait_end(w, g->cmd, &j);
	return 0;
}

int vs_job_take_table(const char *id, const char *filter, const char *node,
		      char *old_dev, size_t len)
{
	char err[ERR_LEN], again[ERR_LEN], xdev[32], bdev[32];
	char *target = NULL, *params = NULL, *line = NULL;
	struct vs_node_stack fst, bst;
	struct vs_table t = { 0 };
	struct vs_node n;
	uint64_t sectors;
	uint16_t xflags;
	sigset_t old;
	int ret = -1;

	if (node_devs(filter, &n, &fst))
		return -1;
	vs_node_free(&n);
	if (node_devs(node, &n, &bst))
		return -1;
	vs_node_free(&n);
	snprintf(old_dev, len, "%s", bst.holder.name);
	dev_str(&fst.holder, xdev, sizeof(xdev));
	dev_str(&bst.holder, bdev, sizeof(bdev));
	xflags = strncmp(fst.holder.uuid, VS_DM_UUID_HOLDER_PREFIX,
			 sizeof(VS_DM_UUID_HOLDER_PREFIX) - 1) ? 0 :
		 HOLDER_UDEV_FLAGS;
	if (vs_dm_get_table_len(bst.holder.name, &target, &params, &sectors,
				err, sizeof(err)) || vs_table_split(params, &t)) {
		pr_err("job %s: node '%s': cannot read its table: %s", id,
		       node, err);
		goto out;
	}
	vs_table_set_read_only(&t, false);
	line = vs_table_join(&t);

	/* as a move back: the workload's queue drains into NODE */
	block_term_signals(&old);
	if (vs_dm_suspend(fst.holder.name, err, sizeof(err))) {
		pr_err("job %s: the disk stays on node '%s' through filter '%s': suspending '%s': %s",
		       id, node, filter, fst.holder.name, err);
		goto unblock;
	}
	if (vs_dm_suspend(bst.holder.name, err, sizeof(err)) ||
	    vs_dm_load(fst.holder.name, xdev, target, line, sectors, false, err,
		       sizeof(err)) ||
	    vs_dm_resume(fst.holder.name, xdev, target, xflags, err,
			 sizeof(err))) {
		pr_err("job %s: the disk stays on node '%s' through filter '%s': moving the node up: %s",
		       id, node, filter, err);
		vs_dm_resume(bst.holder.name, bdev, target, HOLDER_UDEV_FLAGS,
			     again, sizeof(again));
		if (vs_dm_resume(fst.holder.name, xdev, "vstorage-mirror",
				 xflags, again, sizeof(again)))
			pr_err("job %s: and device '%s' stays suspended: %s",
			       id, fst.holder.name, again);
		goto unblock;
	}
	ret = 0;
unblock:
	sigprocmask(SIG_SETMASK, &old, NULL);
out:
	vs_table_free(&t);
	free(line);
	free(target);
	free(params);
	return ret;
}

/*
 * The device of filter F takes base B's table: B's node moves up to the
 * disk, and T, the layers between and B's old device go away.
 */
static int pivot_graph(const struct vs_job *j, const struct vs_job_prep *p)
{
	char names[VS_CHAIN_MAX + 2][VS_DM_NAME_LEN];
	struct vs_chain_link chain[VS_CHAIN_MAX];
	struct vs_node_stack fst, tst;
	struct vs_node n;
	size_t nr, nd = 0, i;
	int ib;

	nr = vs_backing_chain(j->node, chain, VS_CHAIN_MAX);
	ib = chain_find(chain, nr, p->base);
	if (node_devs(p->filter, &n, &fst))
		return -1;
	vs_node_free(&n);
	if (node_devs(j->node, &n, &tst))
		return -1;
	vs_node_free(&n);
	/* T's own device (node add's, or insert-filter's under the disk) */
	if (strcmp(tst.holder.name, fst.holder.name))
		snprintf(names[nd++], VS_DM_NAME_LEN, "%s", tst.holder.name);
	for (i = 0; ib > 0 && i < (size_t)ib; i++)
		snprintf(names[nd++], VS_DM_NAME_LEN, "%s", chain[i].dm_name);
	if (vs_job_take_table(p->id, p->filter, p->base, names[nd],
			      VS_DM_NAME_LEN))
		return -1;
	return vs_job_remove_devices(p->id, names, nd + 1);
}

/*
 * Active commit and mirror: FINALIZE, and the kernel pivots; then the
 * disk's device takes the new node's table. After a cancel when ready
 * (no_pivot) the job only completes: the disk stays, and the filter and
 * the target node go as after a cancel, once the job let them go.
 */
static int finalize_active(struct vs_nl *nl, const struct vs_job *j,
			   const struct vs_job_prep *p)
{
	struct pivot_wait w = { .id = p->id, .want_pivot = !j->no_pivot };
	time_t end = time(NULL) + PIVOT_TIMEOUT_S;
	struct vs_job now;
	struct vs_nl ev;
	int r;

	if (vs_nl_open(&ev, false))
		return -1;
	/* subscribed before the request: JOB_COMPLETED cannot slip by */
	if (vs_nl_join(&ev, VSTORAGE_GENL_MCGRP_EVENTS) ||
	    vs_job_send_finalize(nl, p->id, NULL)) {
		vs_nl_close(&ev);
		return -1;
	}
	while (!w.done && time(NULL) < end) {
		struct pollfd pfd = { nl_socket_get_fd(ev.sk), POLLIN, 0 };

		r = poll(&pfd, 1, 1000);
		if (r > 0) {
			r = vs_nl_recv_events(&ev, pivot_cb, &w);
			if (r != -ENOBUFS)
				continue;
		}
		if (r == -ENOBUFS || r == 0) {
			/* lost events, or a quiet second: ask */
			r = vs_job_get(nl, p->id, &now, true);
			if (r == -ENOENT) {
				w.done = true;
				w.failed = true;
				snprintf(w.error, sizeof(w.error),
					 "the job went away during the pivot");
			} else if (!r && (vs_job_state_final(now.state) ||
					  (w.want_pivot && now.pivoted))) {
				pivot_wait_end(&w, VSTORAGE_CMD_JOB_STATUS,
					       &now);
			}
		}
	}
	vs_nl_close(&ev);
	if (!w.done) {
		pr_err("job %s: no pivot after %d seconds", p->id,
		       PIVOT_TIMEOUT_S);
		return -1;
	}
	if (!w.want_pivot) {
		r = vs_job_unprepare(p);
		if (w.failed)
			pr_err("job %s: completing without pivot failed: %s",
			       p->id, w.error);
		return w.failed || r ? -1 : 0;
	}
	if (w.failed) {
		pr_err("job %s: the pivot failed: %s", p->id, w.error);
		vs_job_unprepare(p);
		return -1;
	}
	return p->mirror ? vs_mirror_pivot_graph(j, p) : pivot_graph(j, p);
}

int vs_job_finalize(const char *id, bool strict)
{
	struct vs_job_prep p;
	struct vs_job j;
	struct vs_nl nl;
	int fd, r, ret = -1;

	fd = lock_job(id);
	if (fd < 0)
		return -1;
	if (vs_nl_open(&nl, false))
		goto unlock;
	r = vs_job_get(&nl, id, &j, false);
	if (r == -ENOENT) {
		/* gone: another finalizer (or a cancel) was first */
		if (strict)
			pr_err("no job %s", id);
		else
			ret = 0;
	}
	if (r)
		goto out;
	if (j.state != VSTORAGE_JOB_S_PENDING) {
		if (strict)
			pr_err("job %s is %s: only a pending job can be finalized",
			       id, vs_job_state_name(j.state));
		ret = strict ? -1 : 0;
		goto out;
	}
	/* without the lock file's record, the job object says what was done */
	if (vs_job_prep_load(id, &p)) {
		snprintf(p.filter, sizeof(p.filter), "%s", j.filter);
		snprintf(p.base, sizeof(p.base), "%s", j.base);
		p.active = j.active;
		p.base_was_read_only = !strcmp(j.type, "commit");
		p.mirror = !strcmp(j.type, "mirror");
		p.backup = !strcmp(j.type, "backup");
		snprintf(p.target, sizeof(p.target), "%s", j.target);
		p.sync = j.sync;
	}
	if (!strcmp(j.type, "backup"))
		ret = vs_backup_finalize(&nl, &j, &p);
	else if (!strcmp(j.type, "stream"))
		ret = finalize_stream(&nl, &j, &p);
	else if (p.active || p.mirror)
		ret = finalize_active(&nl, &j, &p);
	else
		ret = finalize_commit(&nl, &j, &p);
	vs_job_prep_forget(id);
out:
	vs_nl_close(&nl);
unlock:
	unlock_job(id, fd);
	return ret;
}

/* ---- the supervisor ---- */

/* The preparation undone, unless a finalizer made it permanent. */
static void undo_locked(const char *id)
{
	struct vs_job_prep p;
	int fd = lock_job(id);

	if (fd < 0)
		return;
	if (!vs_job_prep_load(id, &p)) {
		vs_job_unprepare(&p);
		vs_job_prep_forget(id);
	}
	unlock_job(id, fd);
}

struct super {
	const char *id;
	bool final, undo, finalize;
	bool finalized;		/* the events queued since say pending too */
};

static void super_update(struct super *s, uint8_t cmd, const struct vs_job *j)
{
	if (j->state == VSTORAGE_JOB_S_PENDING && j->auto_finalize &&
	    !s->finalized)
		s->finalize = true;
	if (cmd == VSTORAGE_CMD_JOB_CANCELLED || j->cancelled ||
	    (cmd == VSTORAGE_CMD_JOB_COMPLETED && j->has_error))
		s->undo = true;
	if (vs_job_state_final(j->state))
		s->final = true;
}

static int super_cb(const struct nlmsghdr *nlh, void *arg)
{
	const struct genlmsghdr *g = NLMSG_DATA(nlh);
	struct super *s = arg;
	struct vs_job j;

	if (vs_job_event_name(g->cmd) && !vs_job_parse(nlh, &j) &&
	    !strcmp(j.id, s->id))
		super_update(s, g->cmd, &j);
	return 0;
}

static int supervise(const char *id)
{
	struct super s = { .id = id };
	struct vs_job_prep prep;
	bool watch, asked = false;
	struct vs_nl ev, req;
	struct vs_job j;
	int r;

	/* a fleecing view to watch (backup): looked at every half second */
	watch = !vs_job_prep_load(id, &prep) && prep.view[0];
	if (vs_nl_open(&ev, false))
		return EXIT_ERR;
	if (vs_nl_open(&req, false) ||
	    vs_nl_join(&ev, VSTORAGE_GENL_MCGRP_EVENTS)) {
		vs_nl_close(&ev);
		return EXIT_ERR;
	}
	r = vs_job_get(&req, id, &j, false);
	if (r == -ENOENT)
		s.final = true;
	else if (!r)
		super_update(&s, VSTORAGE_CMD_JOB_STATUS, &j);
	while (!s.final) {
		struct pollfd pfd = { nl_socket_get_fd(ev.sk), POLLIN, 0 };

		if (s.finalize) {
			s.finalize = false;
			s.finalized = true;
			vs_job_finalize(id, false);
		}
		if (watch)
			vs_backup_watch(&req, &prep, &asked);
		r = poll(&pfd, 1, s.finalize ? 0 : watch ? 500 : 5000);
		if (r > 0) {
			r = vs_nl_recv_events(&ev, super_cb, &s);
			if (r == 0 || r == -EINTR || r == -EAGAIN)
				continue;
		}
		if (r == 0 || r == -ENOBUFS) {
			/* events lost or none for a while: ask */
			r = vs_job_get(&req, id, &j, true);
			if (r == -ENOENT)
				s.final = true;
			else if (!r)
				super_update(&s, VSTORAGE_CMD_JOB_STATUS, &j);
		} else if (r < 0 && r != -EINTR && r != -EAGAIN) {
			pr_err("cannot receive job events: %s", strerror(-r));
			break;
		}
	}
	/* cancelled, failed, or dismissed before anyone finalized it */
	if (s.final || s.undo)
		undo_locked(id);
	vs_nl_close(&req);
	vs_nl_close(&ev);
	return EXIT_OK;
}

static ssize_t log_write(void *cookie, const char *buf, size_t n)
{
	size_t len = n;

	(void)cookie;
	while (len && buf[len - 1] == '\n')
		len--;
	if (len)
		syslog(LOG_ERR, "%.*s", (int)len, buf);
	return (ssize_t)n;
}

int vs_job_supervise(const struct vs_job_prep *p)
{
	cookie_io_functions_t io = { .write = log_write };
	static char context[VSTORAGE_JOB_ID_MAX + 8];
	const char *logfile;
	pid_t pid;
	int status, fd;
	FILE *log;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		pr_err("cannot start the supervisor of job %s: %s", p->id,
		       strerror(errno));
		return -1;
	}
	if (pid > 0) {
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			pr_err("cannot start the supervisor of job %s", p->id);
			return -1;
		}
		return 0;
	}
	/* a session of its own, not a child of the shell */
	if (setsid() < 0)
		_exit(1);
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
	signal(SIGHUP, SIG_IGN);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (chdir("/"))
		_exit(1);
	openlog("vstoragectl", LOG_PID, LOG_DAEMON);
	/* tests read what went wrong from a file: VMs may have no syslog */
	logfile = getenv("VSTORAGECTL_JOB_LOG");
	fd = logfile ? open(logfile, O_WRONLY | O_APPEND | O_CREAT, 0644) : -1;
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
		log = NULL;
	} else {
		log = fopencookie(NULL, "w", io);
	}
	if (log) {
		setvbuf(log, NULL, _IOLBF, 0);
		stderr = log;
	}
	snprintf(context, sizeof(context), "job %s", p->id);
	pr_err_context = context;
	status = supervise(p->id);
	if (log)
		fclose(log);
	closelog();
	vs_dm_exit();
	_exit(status);
}
