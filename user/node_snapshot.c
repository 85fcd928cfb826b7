// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl node snapshot NAME overlay=PATH [node-name=NEW]`: QEMU's
 * blockdev-snapshot-sync on a live disk. NAME is the top format node of a
 * disk D (the device the workload has open, or under the filters on it);
 * PATH becomes its active layer, a qcow2 image whose backing file is
 * NAME's image.
 *
 * The overlay is made first when PATH does not exist (qcow2_image.c: the
 * image qemu-img create -b IMAGE -F FMT would make, NAME's virtual size,
 * NAME's cluster size when it is qcow2, else 64 KiB); an existing PATH
 * must already be an overlay of NAME's image. Then it is node move with
 * two changes (node_move.c):
 *
 *   1. suspend D          NAME's instance finishes I/O, commits metadata
 *   2. create D-NAME      NAME's table with read-only: its resume takes
 *                         NAME over, read-only (the image's write lock goes)
 *   3. load D: qcow2 NEW on PATH, backing D-NAME
 *   4. resume D           NAME's old instance is destroyed, writes nothing;
 *                         NEW serves every write from here on
 *
 * Every write completed before step 1 is in NAME's image, every write after
 * step 4 goes to PATH, and the suspend orders the two. A failure part-way
 * is undone as a failed move is (D serves NAME again), and an overlay this
 * command created is removed again.
 *
 * Under a filter P (NAME on its own device D-NAME already), P's suspend
 * orders the switch instead: D-NAME is reloaded read-only, NEW gets a
 * device D-NEW over it and P is reloaded over D-NEW
 * (vs_snapshot_under_filter() in node_filter.c, with its helpers).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmds.h"
#include "dm.h"
#include "driver.h"
#include "job.h"
#include "nl.h"
#include "node.h"
#include "parse.h"
#include "qcow2_image.h"
#include "table.h"
#include "util.h"

#define ERR_LEN 1024
/* The cluster size of an overlay of a raw image: QEMU's default */
#define DEFAULT_CLUSTER_BITS 16

struct snap {
	const char *name;			/* NAME */
	char new_name[VSTORAGE_NODE_NAME_MAX + 1];	/* NEW */
	const char *arg;			/* overlay= as given */
	char *overlay;				/* its absolute path */
	char *image;				/* NAME's image */
	const char *fmt;			/* NAME's driver: raw, qcow2 */
	uint64_t size;
	bool read_only;
	struct vs_child_opts child;		/* NAME's cache options */
	struct vs_node_stack st;
};

static bool uuid_is(const struct vs_dm_info *i, const char *prefix)
{
	return !strncmp(i->uuid, prefix, strlen(prefix));
}

/*
 * The node on device DM (its table's first word) and whether its target
 * is a filter's. -1 when the table cannot be read.
 */
static int node_on(const char *dm, char *buf, size_t len, bool *filter)
{
	const struct vs_driver *const *d;
	char *target, *params, err[ERR_LEN];

	if (vs_dm_get_table(dm, &target, &params, err, sizeof(err)))
		return -1;
	snprintf(buf, len, "%.*s", (int)strcspn(params, " "), params);
	*filter = false;
	for (d = vs_drivers; *d; d++)
		if (!strcmp((*d)->target, target))
			*filter = (*d)->filter;
	free(target);
	free(params);
	return 0;
}

/*
 * Where NAME is: 0 on the disk's device itself, 1 right under a filter
 * with no format node above it (the snapshot goes under the filters), -1
 * anywhere else (refused, with what to do instead).
 */
static int check_top(struct snap *s)
{
	char up[VS_DM_NAME_LEN], node[VS_DM_NAME_LEN], top[VS_DM_NAME_LEN] = "";
	char parent[VS_DM_NAME_LEN] = "";
	struct vs_dm_info cur = s->st.holder, info;
	bool filter, parent_filter = false;
	int depth;

	if (uuid_is(&s->st.holder, VS_DM_UUID_AUTO_PREFIX)) {
		pr_err("node '%s' is a backing node that node add opened for an overlay: snapshot the top node of that disk",
		       s->name);
		return -1;
	}
	if (!uuid_is(&s->st.holder, VS_DM_UUID_HOLDER_PREFIX))
		return 0;
	/* up the stack: the first node above, and the highest format node */
	for (depth = 0; depth < VS_STACK_DEPTH_MAX; depth++) {
		if (vs_dm_holders(cur.major, cur.minor, up, sizeof(up)) != 1 ||
		    vs_dm_info(up, NULL, &info) || !info.exists ||
		    node_on(up, node, sizeof(node), &filter))
			break;
		if (!depth) {
			snprintf(parent, sizeof(parent), "%s", node);
			parent_filter = filter;
		}
		if (!filter)
			snprintf(top, sizeof(top), "%s", node);
		if (!uuid_is(&info, VS_DM_UUID_HOLDER_PREFIX))
			break;
		cur = info;
	}
	if (top[0]) {
		pr_err("node '%s' is not the top node of disk '%s' (node '%s' is): snapshot '%s'",
		       s->name, s->st.top.name, top, top);
		return -1;
	}
	if (parent_filter)
		return 1;
	pr_err("node '%s' is not the top node of disk '%s'%s%s%s: snapshot the disk's top node",
	       s->name, s->st.top.name, parent[0] ? " (it is under '" : "",
	       parent, parent[0] ? "')" : "");
	return -1;
}

/* Any node, or device-mapper device or UUID, that NEW would collide with */
static int name_taken(const char *new, bool *taken)
{
	const char *uuids[] = { VSTORAGE_DM_UUID_PREFIX,
				VS_DM_UUID_HOLDER_PREFIX };
	char uuid[VS_DM_UUID_LEN];
	struct vs_dm_info info;
	struct vs_node n;
	struct vs_nl nl;
	size_t i;
	int ret;

	*taken = false;
	if (vs_nl_open(&nl, false))
		return -1;
	ret = vs_node_get(&nl, new, &n);
	if (!ret) {
		vs_node_free(&n);
		*taken = true;
	} else if (ret != -ENOENT) {
		vs_nl_perror(&nl, "cannot get node '%s'", new);
		vs_nl_close(&nl);
		return -1;
	}
	vs_nl_close(&nl);
	if (!*taken && !vs_dm_info(new, NULL, &info) && info.exists)
		*taken = true;
	for (i = 0; !*taken && i < ARRAY_SIZE(uuids); i++) {
		snprintf(uuid, sizeof(uuid), "%s%s", uuids[i], new);
		if (!vs_dm_info(NULL, uuid, &info) && info.exists)
			*taken = true;
	}
	return 0;
}

/*
 * NEW: given, or "<disk>-s<N>" with the first N that is free (QEMU makes
 * up "#blockNNN"; a name the user can type and that says whose it is
 * serves better, and vstoragectl names everything it makes after the disk).
 */
static int pick_name(struct snap *s, const char *given)
{
	const char *disk = s->st.top.name, *why;
	bool taken;
	unsigned int i;

	if (given) {
		if (check_node_name(given, &why)) {
			pr_err("node-name=%s: %s", given, why);
			return -1;
		}
		if (name_taken(given, &taken))
			return -1;
		if (taken) {
			pr_err("node-name=%s: a node or device-mapper device of that name already exists",
			       given);
			return -1;
		}
		snprintf(s->new_name, sizeof(s->new_name), "%s", given);
		return 0;
	}
	/* the disk's name is the node add node-name in its UUID */
	if (uuid_is(&s->st.top, VSTORAGE_DM_UUID_PREFIX))
		disk = s->st.top.uuid + strlen(VSTORAGE_DM_UUID_PREFIX);
	for (i = 1; i < 1000; i++) {
		char suffix[16];
		int keep;

		snprintf(suffix, sizeof(suffix), "-s%u", i);
		keep = (int)(VSTORAGE_NODE_NAME_MAX - strlen(suffix));
		snprintf(s->new_name, sizeof(s->new_name), "%.*s%s", keep,
			 disk, suffix);
		if (check_node_name(s->new_name, &why)) {
			pr_err("cannot derive a node name from disk '%s' (%s): give node-name=",
			       disk, why);
			return -1;
		}
		if (name_taken(s->new_name, &taken))
			return -1;
		if (!taken)
			return 0;
	}
	pr_err("no free node name '%s-sN': give node-name=", disk);
	return -1;
}

/*
 * overlay= made absolute (the kernel opens absolute paths only), in a
 * directory that exists. Not resolved further: like QEMU, the name given
 * is the name the next snapshot writes as its backing file.
 */
static int resolve_overlay(struct snap *s)
{
	char cwd[PATH_MAX], *dir, *base;
	struct stat st;
	int err, ret = -1;

	if (!*s->arg || s->arg[strlen(s->arg) - 1] == '/') {
		pr_err("overlay=%s: not a file name", s->arg);
		return -1;
	}
	if (s->arg[0] == '/') {
		s->overlay = xstrdup(s->arg);
	} else if (getcwd(cwd, sizeof(cwd))) {
		s->overlay = xasprintf("%s/%s", strcmp(cwd, "/") ? cwd : "",
				       s->arg);
	} else {
		pr_err("overlay=%s: cannot name the current directory: %s",
		       s->arg, strerror(errno));
		return -1;
	}
	dir = xstrdup(s->overlay);
	base = strrchr(dir, '/');
	if (!strcmp(base + 1, ".") || !strcmp(base + 1, "..")) {
		pr_err("overlay=%s: not a file name", s->arg);
		goto out;
	}
	*base = '\0';
	err = stat(*dir ? dir : "/", &st) ? errno :
	      S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
	if (err) {
		pr_err("overlay=%s: directory %s: %s", s->arg, *dir ? dir : "/",
		       strerror(err));
		goto out;
	}
	ret = 0;
out:
	free(dir);
	return ret;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* The size of a file or block device: 0 or -errno */
static int path_size(const char *path, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = vs_fd_size(fd, size);
	close(fd);
	return ret;
}

/* An existing overlay= must already be an overlay of NAME's image. */
static int check_existing(struct snap *s)
{
	const char *reason;
	struct qimg q;
	char *backing;
	uint64_t size = 0;
	int err, ret = -1;

	if (same_file(s->overlay, s->image)) {
		pr_err("overlay=%s: this is node '%s''s own image", s->arg,
		       s->name);
		return -1;
	}
	err = path_size(s->overlay, &size);
	if (err) {
		pr_err("overlay=%s: %s", s->arg, strerror(-err));
		return -1;
	}
	if (qimg_read(s->overlay, size, &q, &reason, &err)) {
		pr_err("overlay=%s exists and is not a usable qcow2 image: %s",
		       s->arg, reason ? reason : strerror(err));
		return -1;
	}
	if (!q.backing) {
		pr_err("overlay=%s exists and has no backing file (it would be node '%s''s image)",
		       s->arg, s->name);
		goto out;
	}
	backing = qcow2_backing_path(s->overlay, q.backing, strlen(q.backing));
	if (!same_file(backing, s->image)) {
		pr_err("overlay=%s exists with backing file %s, not node '%s''s image %s",
		       s->arg, q.backing, s->name, s->image);
		free(backing);
		goto out;
	}
	free(backing);
	if (q.backing_fmt && strcmp(q.backing_fmt, s->fmt)) {
		pr_err("overlay=%s exists with backing format %s, but node '%s' is %s",
		       s->arg, q.backing_fmt, s->name, s->fmt);
		goto out;
	}
	if (q.h.size != s->size) {
		pr_err("overlay=%s exists with virtual size %llu, node '%s' has %llu bytes",
		       s->arg, (unsigned long long)q.h.size, s->name,
		       (unsigned long long)s->size);
		goto out;
	}
	ret = 0;
out:
	qimg_free(&q);
	return ret;
}

/* NAME's cluster size for the overlay (QEMU's default for raw). */
static int cluster_bits(const struct snap *s, unsigned int *bits)
{
	const char *reason;
	struct qimg q;
	uint64_t size;
	int err;

	*bits = DEFAULT_CLUSTER_BITS;
	if (strcmp(s->fmt, "qcow2"))
		return 0;
	err = path_size(s->image, &size);
	if (err) {
		pr_err("node '%s': image %s: %s", s->name, s->image,
		       strerror(-err));
		return -1;
	}
	if (qimg_read(s->image, size, &q, &reason, &err)) {
		pr_err("node '%s': image %s: %s", s->name, s->image,
		       reason ? reason : strerror(err));
		return -1;
	}
	*bits = q.h.cluster_bits;
	qimg_free(&q);
	return 0;
}

/*
 * From NAME's table: the cache options the overlay inherits (QEMU opens
 * the overlay with the old node's flags), and what QEMU could name as a
 * backing file only with a json: file name (a raw window of a file).
 */
static int read_table(struct snap *s)
{
	static const struct {
		const char *key, *value;
		size_t off;
	} inherit[] = {
		{ "cache.direct", "off", offsetof(struct vs_child_opts, no_direct) },
		{ "cache.no-flush", "on", offsetof(struct vs_child_opts, no_flush) },
		{ "cache.writeback", "off", offsetof(struct vs_child_opts, writethrough) },
		{ "locking", "off", offsetof(struct vs_child_opts, no_locking) },
	};
	char *target, *params, err[ERR_LEN];
	struct vs_table t;
	size_t i;
	int k, ret = -1;

	if (vs_dm_get_table(s->st.holder.name, &target, &params, err,
			    sizeof(err))) {
		pr_err("node '%s': %s", s->name, err);
		return -1;
	}
	if (vs_table_split(params, &t)) {
		pr_err("node '%s': table of device '%s' has too many words",
		       s->name, s->st.holder.name);
		goto out;
	}
	if (vs_table_find(&t, "offset") >= 0 || vs_table_find(&t, "size") >= 0) {
		pr_err("node '%s' serves a window of %s (offset/size): a qcow2 backing file cannot name it",
		       s->name, s->image);
		goto out;
	}
	for (i = 0; i < ARRAY_SIZE(inherit); i++) {
		k = vs_table_find(&t, inherit[i].key);
		if (k >= 0 && (size_t)k + 1 < t.nr &&
		    !strcmp(t.words[k + 1], inherit[i].value))
			*(bool *)((char *)&s->child + inherit[i].off) = true;
	}
	ret = 0;
out:
	vs_table_free(&t);
	free(target);
	free(params);
	return ret;
}

/* D's new table: NEW on the overlay, over NAME's device (holder_dev). */
static char *snap_pass(const char *holder_dev, void *arg)
{
	struct snap *s = arg;
	struct qcow2_table_opts o = {
		.backing = holder_dev,
		.read_only = s->read_only,
		.child = s->child,
	};

	return qcow2_table_params(s->new_name, s->overlay, &o);
}

static int node_snapshot(struct snap *s, const char *given)
{
	char holder[VS_DM_NAME_LEN + VSTORAGE_NODE_NAME_MAX + 2];
	char err[ERR_LEN], *what;
	const struct vs_child *file;
	struct qcow2_new o = { 0 };
	bool created = false;
	struct stat sb;
	struct vs_node n;
	int ret, under;

	if (vs_node_fetch(s->name, &n))
		return EXIT_ERR;
	file = vs_node_child(&n, "file");
	if ((strcmp(n.driver, "raw") && strcmp(n.driver, "qcow2")) || !file ||
	    !file->path || !n.has_size) {
		pr_err("node '%s' is a %s node: a snapshot goes on a format node (raw, qcow2) with an image",
		       s->name, n.driver);
		vs_node_free(&n);
		return EXIT_ERR;
	}
	s->fmt = !strcmp(n.driver, "raw") ? "raw" : "qcow2";
	s->image = xstrdup(file->path);
	s->size = n.size;
	s->read_only = n.read_only;
	ret = vs_node_stack(&n, &s->st);
	vs_node_free(&n);
	if (ret) {
		pr_err("node '%s': no device-mapper device has its device number",
		       s->name);
		return EXIT_ERR;
	}
	under = check_top(s);
	if (under < 0 || read_table(s) || pick_name(s, given) ||
	    resolve_overlay(s))
		return EXIT_ERR;
	/* under a filter the new device is named in node_filter.c */
	snprintf(holder, sizeof(holder), "%s-%s", s->st.top.name, s->name);
	if (!under && strlen(holder) >= VS_DM_NAME_LEN) {
		pr_err("snapshot: device name '%s' would be longer than 127 characters",
		       holder);
		return EXIT_ERR;
	}

	if (!lstat(s->overlay, &sb)) {
		if (check_existing(s))
			return EXIT_ERR;
	} else if (errno != ENOENT) {
		pr_err("overlay=%s: %s", s->arg, strerror(errno));
		return EXIT_ERR;
	} else {
		/* what QEMU writes: the image path as the node opened it */
		o.size = s->size;
		o.backing = s->image;
		o.backing_fmt = s->fmt;
		if (cluster_bits(s, &o.cluster_bits))
			return EXIT_ERR;
		if (qcow2_new_file(s->overlay, &o, err, sizeof(err))) {
			pr_err("overlay=%s: %s", s->arg, err);
			return EXIT_ERR;
		}
		created = true;
	}

	what = xasprintf("snapshot node '%s' to %s", s->name, s->overlay);
	if (under)
		ret = vs_snapshot_under_filter(&(struct vs_snap_req){
			.name = s->name,
			.st = &s->st,
			.new_name = s->new_name,
			.target = "vstorage-qcow2",
			.make_table = snap_pass,
			.arg = s,
			.what = what,
		});
	else
		ret = vs_node_move(&(struct vs_move_req){
			.name = s->name,
			.dm_name = holder,
			.pass_target = "vstorage-qcow2",
			.make_pass = snap_pass,
			.arg = s,
			.what = what,
			.below_read_only = true,
		});
	free(what);
	if (ret != EXIT_OK && created)
		unlink(s->overlay);
	return ret;
}

int cmd_node_snapshot(int argc, char **argv)
{
	struct snap s = { 0 };
	const char *given = NULL;
	int i, ret;

	if (argc < 1)
		return usage_err("node help", "node snapshot: missing NAME");
	if (!strcmp(argv[0], "help")) {
		usage_node(stdout);
		return EXIT_OK;
	}
	s.name = argv[0];
	if (check_name_arg(s.name) || vs_job_check_free(s.name))
		return EXIT_ERR;
	for (i = 1; i < argc; i++) {
		const char **slot;
		const char *v;

		if (!strncmp(argv[i], "overlay=", 8)) {
			slot = &s.arg;
			v = argv[i] + 8;
		} else if (!strncmp(argv[i], "node-name=", 10)) {
			slot = &given;
			v = argv[i] + 10;
		} else {
			pr_err("node snapshot: unknown property '%s' (expected overlay=PATH, node-name=NEW)",
			       argv[i]);
			return EXIT_ERR;
		}
		if (*slot) {
			pr_err("node snapshot: %.*s given twice",
			       (int)(strchr(argv[i], '=') - argv[i] + 1), argv[i]);
			return EXIT_ERR;
		}
		*slot = v;
	}
	if (!s.arg)
		return usage_err("node help", "node snapshot: missing overlay=PATH");
	ret = node_snapshot(&s, given);
	free(s.overlay);
	free(s.image);
	return ret;
}
