// SPDX-License-Identifier: GPL-2.0
/*
 * `vstoragectl node move NAME dm-name=NEW`: QEMU's split between the
 * BlockBackend and the node. The user-visible device D (its dm name, dev_t,
 * /dev/mapper/D and /dev/vstorage/D) stays with the workload; the node
 * moves to a new device NEW under it, and D passes I/O through to NEW with
 * a plain linear table. `dm-name=D` moves it back and NEW goes away.
 *
 * The kernel lets a node's name be constructed on another device while the
 * device of its live instance is suspended; the new instance takes the
 * image over exactly as in a reload of one device (Documentation/
 * architecture.rst). Moving:
 *
 *   1. suspend D          the node's instance finishes I/O, commits
 *   2. create NEW         the node's own table; its resume takes over
 *   3. load D: linear     over NEW
 *   4. resume D           the old instance is destroyed, writes nothing
 *
 * and back:
 *
 *   1. suspend D          queued workload I/O goes down to NEW
 *   2. suspend NEW        the instance there commits
 *   3. load D: the node's table
 *   4. resume D           takes over; the linear table is destroyed
 *   5. remove NEW         its instance writes nothing
 *
 * A failure part-way restores a device that serves the workload (the
 * steps taken are undone, which for a move after step 2 is the move back)
 * and the command fails with one line naming the failed step. The
 * termination signals wait until the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <libdevmapper.h>

#include "cmds.h"
#include "dm.h"
#include "driver.h"
#include "job.h"
#include "nl.h"
#include "node.h"
#include "parse.h"
#include "table.h"
#include "util.h"

#define ERR_LEN 1024

struct move {
	const char *name;		/* the node */
	struct vs_dm_info top;		/* D, the user-visible device */
	char top_dev[32];
	struct vs_dm_info holder;	/* NEW: the device under D */
	char holder_dev[32];
	bool holder_made;		/* exists (the move created it) */
	char holder_name[VS_DM_NAME_LEN];	/* NEW */
	char *target, *params;		/* the node's own table */
	uint64_t sectors;
	bool read_only;
	/*
	 * node snapshot: the node goes down read-only (its table with the
	 * read-only option, the device read-only); D keeps read_only
	 */
	bool holder_ro;
	char *holder_params;
	/*
	 * D's table above the holder: "linear <holder> 0" for node move, a
	 * filter node's table for insert-filter (make_pass builds it once
	 * the holder's number is known) and remove-filter (D's own).
	 */
	char pass_target[VS_DM_NAME_LEN];
	char *pass_params;
	char *(*make_pass)(const char *holder_dev, void *arg);
	void *arg;
	const char *filter;		/* remove-filter: the filter on D */
	char err[ERR_LEN];		/* why the command fails */
	char undo[ERR_LEN];		/* why undoing failed, or "" */
};

/*
 * VSTORAGECTL_FAULT_MOVE=STEP fails that step before it is taken, as if
 * device-mapper had refused it, so that tests can check what is undone.
 */
static bool fault(struct move *m, const char *step)
{
	const char *f = getenv("VSTORAGECTL_FAULT_MOVE");

	if (!f || strcmp(f, step))
		return false;
	snprintf(m->err, sizeof(m->err), "injected fault at step '%s'", step);
	return true;
}

/* Device-mapper names: what libdevmapper passes unmangled, no '/' */
static int check_dm_name(const char *s, const char **why)
{
	size_t i, len = strlen(s);

	if (!len) {
		*why = "empty";
		return -1;
	}
	if (len >= VS_DM_NAME_LEN) {
		*why = "longer than 127 characters";
		return -1;
	}
	if (!strcmp(s, ".") || !strcmp(s, "..")) {
		*why = "'.' and '..' are not device names";
		return -1;
	}
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9'))) {
		*why = "must start with a letter or a digit";
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("#+-.:=@_", c))
			continue;
		*why = "letters, digits and '#+-.:=@_' only";
		return -1;
	}
	return 0;
}

static void set_dev(char *buf, size_t len, const struct vs_dm_info *i)
{
	snprintf(buf, len, "%u:%u", i->major, i->minor);
}

/* Appends a failure of the undo to m->undo. */
static void undo_failed(struct move *m, const char *what, const char *why)
{
	size_t n = strlen(m->undo);
	int len;

	len = snprintf(m->undo + n, sizeof(m->undo) - n, "%s%s: ",
		       n ? "; " : "", what);
	if (len < 0 || (size_t)len >= sizeof(m->undo) - n)
		return;
	n += len;
	/* truncated when it does not fit, as snprintf would */
	n += strlen(strncpy(m->undo + n, why, sizeof(m->undo) - n - 1));
	m->undo[n] = '\0';
}

/* D serves the node's own table again (a fresh instance). */
static int top_load_node(struct move *m)
{
	char err[ERR_LEN];

	if (vs_dm_load(m->top.name, m->top_dev, m->target, m->params,
		       m->sectors, m->read_only, err, sizeof(err))) {
		undo_failed(m, "loading the node's table on the user-visible device", err);
		return -1;
	}
	if (vs_dm_resume(m->top.name, m->top_dev, m->target, 0, err,
			 sizeof(err))) {
		undo_failed(m, "resuming the user-visible device", err);
		return -1;
	}
	return 0;
}

/* D passes through to the holder again (load and resume). */
static int load_pass(struct move *m, char *err)
{
	return vs_dm_load(m->top.name, m->top_dev, m->pass_target,
			  m->pass_params, m->sectors, m->read_only, err,
			  ERR_LEN) ||
	       vs_dm_resume(m->top.name, m->top_dev, m->pass_target, 0, err,
			    ERR_LEN);
}

/*
 * Undoes a move after D was suspended. Without the new device, D resumes
 * with the instance it had (or, should that be refused, a fresh one).
 * With it, the node goes back to D as in a move back.
 */
static void undo_move(struct move *m)
{
	char err[ERR_LEN];
	int ret;

	if (!m->holder_made) {
		if (!vs_dm_resume(m->top.name, m->top_dev, m->target, 0, err,
				  sizeof(err)))
			return;
		top_load_node(m);
		return;
	}
	if (vs_dm_suspend(m->holder_name, err, sizeof(err))) {
		undo_failed(m, "suspending the new device", err);
		return;
	}
	if (top_load_node(m)) {
		/*
		 * Leave the node where it was taken over, on the new device,
		 * and D passing through to it: D's old instance is superseded
		 * and would refuse to serve again.
		 */
		if (vs_dm_resume(m->holder_name, m->holder_dev, m->target,
				 HOLDER_UDEV_FLAGS, err, sizeof(err)))
			undo_failed(m, "resuming the new device", err);
		else if (load_pass(m, err))
			undo_failed(m, "restoring the pass-through", err);
		return;
	}
	ret = vs_dm_remove(m->holder_name);
	if (ret)
		undo_failed(m, "removing the new device",
			    ret == -EIO ? vs_dm_last_error() : strerror(-ret));
}

static int move_to(struct move *m)
{
	struct vs_dm_spec spec = {
		.name = m->holder_name,
		.target = m->target,
		.params = m->holder_ro ? m->holder_params : m->params,
		.sectors = m->sectors,
		.read_only = m->read_only || m->holder_ro,
		.udev_flags = HOLDER_UDEV_FLAGS,
	};
	char uuid[VS_DM_UUID_LEN], err[ERR_LEN];

	snprintf(uuid, sizeof(uuid), VS_DM_UUID_HOLDER_PREFIX "%s", m->name);
	spec.uuid = uuid;

	if (fault(m, "suspend") ||
	    vs_dm_suspend(m->top.name, m->err, sizeof(m->err)))
		return -1;	/* nothing changed */

	if (fault(m, "create") ||
	    vs_dm_create(&spec, &m->holder, err, sizeof(err))) {
		if (!m->err[0])
			snprintf(m->err, sizeof(m->err), "%s", err);
		undo_move(m);
		return -1;
	}
	m->holder_made = true;
	set_dev(m->holder_dev, sizeof(m->holder_dev), &m->holder);

	if (m->make_pass) {
		m->pass_params = m->make_pass(m->holder_dev, m->arg);
	} else {
		snprintf(m->pass_target, sizeof(m->pass_target), "linear");
		m->pass_params = xasprintf("%s 0", m->holder_dev);
	}
	if (fault(m, "load") ||
	    vs_dm_load(m->top.name, m->top_dev, m->pass_target,
		       m->pass_params, m->sectors, m->read_only, m->err,
		       sizeof(m->err))) {
		undo_move(m);
		return -1;
	}
	if (fault(m, "resume") ||
	    vs_dm_resume(m->top.name, m->top_dev, m->pass_target, 0, m->err,
			 sizeof(m->err))) {
		undo_move(m);
		return -1;
	}
	return 0;
}

/* D passes through to the holder; put the node back on D. */
static int move_back(struct move *m)
{
	char err[ERR_LEN];
	int ret;

	if (fault(m, "suspend") ||
	    vs_dm_suspend(m->top.name, m->err, sizeof(m->err)))
		return -1;
	if (fault(m, "back-suspend") ||
	    vs_dm_suspend(m->holder_name, m->err, sizeof(m->err))) {
		if (vs_dm_resume(m->top.name, m->top_dev, m->pass_target, 0,
				 err, sizeof(err)))
			undo_failed(m, "resuming the user-visible device", err);
		return -1;
	}
	if (fault(m, "back-load") ||
	    vs_dm_load(m->top.name, m->top_dev, m->target, m->params,
		       m->sectors, m->read_only, m->err, sizeof(m->err))) {
		if (vs_dm_resume(m->holder_name, m->holder_dev, m->target,
				 HOLDER_UDEV_FLAGS, err, sizeof(err)))
			undo_failed(m, "resuming the node's device", err);
		else if (vs_dm_resume(m->top.name, m->top_dev, m->pass_target,
				      0, err, sizeof(err)))
			undo_failed(m, "resuming the user-visible device", err);
		return -1;
	}
	if (fault(m, "back-resume") ||
	    vs_dm_resume(m->top.name, m->top_dev, m->target, 0, m->err,
			 sizeof(m->err))) {
		/* the node is still the holder's: pass through to it again */
		if (vs_dm_resume(m->holder_name, m->holder_dev, m->target,
				 HOLDER_UDEV_FLAGS, err, sizeof(err)))
			undo_failed(m, "resuming the node's device", err);
		else if (load_pass(m, err))
			undo_failed(m, "restoring the pass-through", err);
		return -1;
	}
	ret = fault(m, "back-remove") ? -EIO : vs_dm_remove(m->holder_name);
	if (ret) {
		snprintf(m->err, sizeof(m->err),
			 "the node is back on '%s', but device '%s' could not be removed (%s): remove it with dmsetup remove",
			 m->top.name, m->holder_name,
			 ret == -EIO ? vs_dm_last_error() : strerror(-ret));
		return -1;
	}
	return 0;
}

/* Checks that the node's device may leave: nothing points at it. */
static int check_movable(struct move *m, const struct vs_node_stack *st)
{
	char by[VS_DM_NAME_LEN];
	int nr;

	if (!strncmp(st->holder.uuid, VS_DM_UUID_AUTO_PREFIX,
		     sizeof(VS_DM_UUID_AUTO_PREFIX) - 1)) {
		pr_err("node '%s' is an automatic backing node: overlays point at its device, it cannot move",
		       m->name);
		return -1;
	}
	/* node add's device of the node, or of a disk with a filter on it */
	if (strncmp(st->holder.uuid, VSTORAGE_DM_UUID_PREFIX,
		    sizeof(VSTORAGE_DM_UUID_PREFIX) - 1) ||
	    !strncmp(st->holder.uuid, VS_DM_UUID_HOLDER_PREFIX,
		     sizeof(VS_DM_UUID_HOLDER_PREFIX) - 1)) {
		pr_err("node '%s': device '%s' (UUID '%s') was not made by vstoragectl node add: cannot move it",
		       m->name, st->holder.name, st->holder.uuid);
		return -1;
	}
	nr = vs_dm_holders(st->holder.major, st->holder.minor, by, sizeof(by));
	if (nr < 0) {
		pr_err("node '%s': cannot read the holders of device '%s': %s",
		       m->name, st->holder.name, strerror(-nr));
		return -1;
	}
	if (nr) {
		/* block status and node show name children by device number */
		pr_err("node '%s' is in use by device '%s' (a child of another node, or a device-mapper table): cannot move it",
		       m->name, by);
		return -1;
	}
	if (st->holder.suspended) {
		pr_err("device '%s' of node '%s' is suspended: resume it first",
		       st->holder.name, m->name);
		return -1;
	}
	return 0;
}

/* NEW must be a free name, and no holder of the node may be left over. */
static int check_new(struct move *m)
{
	char uuid[VS_DM_UUID_LEN];
	struct vs_dm_info info;
	int ret;

	ret = vs_dm_info(m->holder_name, NULL, &info);
	if (!ret && info.exists) {
		pr_err("dm-name=%s: a device-mapper device with this name already exists",
		       m->holder_name);
		return -1;
	}
	snprintf(uuid, sizeof(uuid), VS_DM_UUID_HOLDER_PREFIX "%s", m->name);
	if (!ret)
		ret = vs_dm_info(NULL, uuid, &info);
	if (ret) {
		pr_err("cannot query device-mapper: %s",
		       ret == -EIO ? vs_dm_last_error() : strerror(-ret));
		return -1;
	}
	if (info.exists) {
		pr_err("device '%s' already has UUID '%s' (left by an interrupted move?): remove it first",
		       info.name, uuid);
		return -1;
	}
	return 0;
}

/* "MAJ:MIN" or a block device's path: its number. 0 or -1. */
static int word_dev(const char *word, uint32_t *major, uint32_t *minor)
{
	struct stat st;

	if (!*word)
		return -1;
	if (sscanf(word, "%" SCNu32 ":%" SCNu32, major, minor) == 2 &&
	    word[0] != '/')
		return 0;
	if (stat(word, &st) || !S_ISBLK(st.st_mode))
		return -1;
	*major = major(st.st_rdev);
	*minor = minor(st.st_rdev);
	return 0;
}

int vs_table_child_dev(const char *params, uint32_t *major, uint32_t *minor)
{
	char word[VSTORAGE_PATH_MAX + 1];
	const char *p = params;
	size_t n = 0;
	int w;

	/* the second word, dm_split_args()'s backslash escapes undone */
	for (w = 0; w < 2; w++) {
		while (*p == ' ')
			p++;
		n = 0;
		for (; *p && *p != ' '; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (n + 1 < sizeof(word))
				word[n++] = *p;
		}
	}
	word[n] = '\0';
	return word_dev(word, major, minor);
}

int vs_table_backing_dev(const char *params, uint32_t *major,
			 uint32_t *minor)
{
	struct vs_table t;
	char *word;
	int i, ret = -1;

	if (vs_table_split(params, &t))
		return -1;
	i = vs_table_find(&t, "backing");
	if (i >= 0 && (size_t)i + 1 < t.nr) {
		/* device paths are never escaped: vstoragectl names them */
		word = t.words[i + 1];
		ret = word_dev(word, major, minor);
	}
	vs_table_free(&t);
	return ret;
}

/*
 * To undo, D must pass through to the holder: exactly "linear <holder> 0"
 * after node move, or (remove-filter) the filter node's table over it.
 */
static int check_pass_through(struct move *m)
{
	char *target = NULL, *params = NULL, want[64], node[VS_DM_NAME_LEN];
	uint32_t major, minor;
	bool ok;

	snprintf(want, sizeof(want), "%s 0", m->holder_dev);
	if (vs_dm_get_table(m->top.name, &target, &params, m->err,
			    sizeof(m->err))) {
		pr_err("node '%s': %s", m->name, m->err);
		return -1;
	}
	if (m->filter) {
		snprintf(node, sizeof(node), "%.*s", (int)strcspn(params, " "),
			 params);
		ok = !strncmp(target, VSTORAGE_DM_TARGET_PREFIX,
			      sizeof(VSTORAGE_DM_TARGET_PREFIX) - 1) &&
		     !strcmp(node, m->filter) &&
		     !vs_table_child_dev(params, &major, &minor) &&
		     major == m->holder.major && minor == m->holder.minor;
	} else {
		ok = !strcmp(target, "linear") && !strcmp(params, want);
	}
	if (!ok) {
		if (m->filter)
			pr_err("filter '%s': device '%s' does not hold it over '%s' (table: %s %s)",
			       m->filter, m->top.name, m->holder_name, target,
			       params);
		else
			pr_err("node '%s': device '%s' is not a plain pass-through to '%s' (table: %s %s): cannot move the node back",
			       m->name, m->top.name, m->holder_name, target,
			       params);
		free(target);
		free(params);
		return -1;
	}
	snprintf(m->pass_target, sizeof(m->pass_target), "%s", target);
	m->pass_params = params;
	free(target);
	return 0;
}

int vs_node_move(const struct vs_move_req *r)
{
	const char *name = r->name, *new = r->dm_name;
	struct move m = {
		.name = name,
		.make_pass = r->make_pass,
		.arg = r->arg,
		.filter = r->filter,
	};
	struct vs_node_stack st;
	sigset_t old;
	const char *why;
	struct vs_node n;
	struct vs_nl nl;
	bool back;
	int ret;

	if (check_node_name(name, &why)) {
		pr_err("invalid node name '%s': %s", name, why);
		return EXIT_ERR;
	}
	if (check_dm_name(new, &why)) {
		pr_err("dm-name=%s: invalid device-mapper name: %s", new, why);
		return EXIT_ERR;
	}
	snprintf(m.holder_name, sizeof(m.holder_name), "%s", new);

	if (vs_nl_open(&nl, false))
		return EXIT_ERR;
	ret = vs_node_get(&nl, name, &n);
	if (ret) {
		if (ret == -ENOENT && !nl.extack[0])
			pr_err("no node named '%s'", name);
		else
			vs_nl_perror(&nl, "cannot get node '%s'", name);
		vs_nl_close(&nl);
		return EXIT_ERR;
	}
	vs_nl_close(&nl);
	m.sectors = n.size / 512;
	ret = vs_node_stack(&n, &st);
	vs_node_free(&n);
	if (ret) {
		pr_err("node '%s': no device-mapper device has its device number",
		       name);
		return EXIT_ERR;
	}
	m.top = st.top;
	set_dev(m.top_dev, sizeof(m.top_dev), &m.top);

	if (!strcmp(new, st.holder.name)) {
		pr_err("node '%s' is already on device '%s'", name, new);
		return EXIT_ERR;
	}
	back = st.moved;
	if (!back && r->filter) {
		pr_err("filter '%s': node '%s' under it is on device '%s' of its own: nothing to put back",
		       r->filter, name, st.holder.name);
		return EXIT_ERR;
	}
	if (back && r->make_pass) {
		pr_err("node '%s' is on device '%s' under '%s' already",
		       name, st.holder.name, st.top.name);
		return EXIT_ERR;
	}
	if (r->make_pass)
		snprintf(m.pass_target, sizeof(m.pass_target), "%s",
			 r->pass_target);
	if (back && strcmp(new, st.top.name)) {
		pr_err("node '%s' was moved to device '%s' under '%s': move it back first (dm-name=%s)",
		       name, st.holder.name, st.top.name, st.top.name);
		return EXIT_ERR;
	}
	if (back) {
		m.holder = st.holder;
		snprintf(m.holder_name, sizeof(m.holder_name), "%s",
			 st.holder.name);
		m.holder_made = true;
		set_dev(m.holder_dev, sizeof(m.holder_dev), &m.holder);
		if (check_pass_through(&m))
			return EXIT_ERR;
		if (st.holder.suspended || st.top.suspended) {
			pr_err("node '%s': device '%s' is suspended: resume it first",
			       name, st.top.suspended ? st.top.name :
			       st.holder.name);
			return EXIT_ERR;
		}
	} else if (check_movable(&m, &st) || check_new(&m)) {
		return EXIT_ERR;
	}

	if (vs_dm_get_table(st.holder.name, &m.target, &m.params, m.err,
			    sizeof(m.err))) {
		pr_err("node '%s': %s", name, m.err);
		return EXIT_ERR;
	}
	if (strncmp(m.target, VSTORAGE_DM_TARGET_PREFIX,
		    sizeof(VSTORAGE_DM_TARGET_PREFIX) - 1)) {
		pr_err("node '%s': device '%s' has a %s table, not a vstorage target",
		       name, st.holder.name, m.target);
		ret = EXIT_ERR;
		goto out;
	}
	m.read_only = st.holder.read_only;
	m.err[0] = '\0';
	if (r->below_read_only && !back) {
		struct vs_table t;

		if (vs_table_split(m.params, &t) ||
		    t.nr + 1 > VS_TABLE_MAX_WORDS) {
			vs_table_free(&t);
			pr_err("node '%s': table of device '%s' has too many words",
			       name, st.holder.name);
			ret = EXIT_ERR;
			goto out;
		}
		vs_table_set_read_only(&t, true);
		m.holder_params = vs_table_join(&t);
		m.holder_ro = true;
		vs_table_free(&t);
	}

	/* a ^C half-way would leave the workload's device suspended */
	block_term_signals(&old);
	ret = back ? move_back(&m) : move_to(&m);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		char what[VS_DM_NAME_LEN * 2 + 64];

		if (r->what)
			snprintf(what, sizeof(what), "%s", r->what);
		else
			snprintf(what, sizeof(what), "move node '%s' to '%s'",
				 name, new);
		if (m.undo[0])
			pr_err("cannot %s: %s; undoing it failed too: %s", what,
			       m.err, m.undo);
		else
			pr_err("cannot %s: %s", what, m.err);
		ret = EXIT_ERR;
	} else {
		ret = EXIT_OK;
	}
out:
	free(m.target);
	free(m.params);
	free(m.pass_params);
	free(m.holder_params);
	return ret;
}

int cmd_node_move(int argc, char **argv)
{
	const char *new = NULL;
	int i;

	if (argc < 1)
		return usage_err("node help", "node move: missing NAME");
	if (!strcmp(argv[0], "help")) {
		usage_node(stdout);
		return EXIT_OK;
	}
	if (argc < 2)
		return usage_err("node help", "node move: missing dm-name=DM-NAME");
	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "dm-name=", 8)) {
			pr_err("node move: unknown property '%s' (expected dm-name=DM-NAME)",
			       argv[i]);
			return EXIT_ERR;
		}
		if (new) {
			pr_err("node move: dm-name= given twice");
			return EXIT_ERR;
		}
		new = argv[i] + 8;
	}
	if (vs_job_check_free(argv[0]))
		return EXIT_ERR;
	return vs_node_move(&(struct vs_move_req){ .name = argv[0],
						   .dm_name = new });
}
