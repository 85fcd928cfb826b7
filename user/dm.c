// SPDX-License-Identifier: GPL-2.0
/*
 * libdevmapper wrapper.
 */
#include <dirent.h>
#include <errno.h>
#include <unistd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libdevmapper.h>

#include "dm.h"
#include "util.h"
#include "kmsg.h"

#define REMOVE_TRIES	20
#define REMOVE_WAIT_MS	50

static bool initialised;
static char last_error[256];

static void dm_log(int level, const char *file, int line, int dm_errno_or_class,
		   const char *f, ...) __attribute__((format(printf, 5, 6)));

/* Keeps libdevmapper quiet; remembers its last error. */
static void dm_log(int level, const char *file, int line, int dm_errno_or_class,
		   const char *f, ...)
{
	va_list ap;

	(void)file;
	(void)line;
	(void)dm_errno_or_class;
	if ((level & 7) > 3)	/* keep _LOG_FATAL and _LOG_ERR only */
		return;
	va_start(ap, f);
	vsnprintf(last_error, sizeof(last_error), f, ap);
	va_end(ap);
}

void vs_dm_init(void)
{
	if (initialised)
		return;
	initialised = true;
	dm_log_with_errno_init(dm_log);
	/* libdevmapper itself also honours DM_DISABLE_UDEV and then creates
	 * the /dev/mapper nodes on its own.
	 */
	dm_udev_set_sync_support(getenv("DM_DISABLE_UDEV") ? 0 : 1);
}

void vs_dm_exit(void)
{
	if (initialised)
		dm_lib_release();
}

const char *vs_dm_last_error(void)
{
	/*
	 * libdevmapper reports an unopenable control node as a version
	 * mismatch; say what is really wrong.
	 */
	if (access("/dev/mapper/control", R_OK | W_OK) && errno == EACCES)
		return "permission denied (device-mapper needs root)";
	return last_error[0] ? last_error : "device-mapper request failed";
}

static int task_errno(struct dm_task *dmt)
{
	int e = dm_task_get_errno(dmt);

	return e > 0 ? e : EIO;
}

static void fill_info(struct dm_task *dmt, struct vs_dm_info *info)
{
	struct dm_info di;
	const char *s;

	memset(info, 0, sizeof(*info));
	if (!dm_task_get_info(dmt, &di) || !di.exists)
		return;
	info->exists = true;
	info->read_only = di.read_only;
	info->suspended = di.suspended;
	info->live_table = di.live_table;
	info->open_count = di.open_count;
	info->major = di.major;
	info->minor = di.minor;
	s = dm_task_get_name(dmt);
	snprintf(info->name, sizeof(info->name), "%s", s ? s : "");
	s = dm_task_get_uuid(dmt);
	snprintf(info->uuid, sizeof(info->uuid), "%s", s ? s : "");
}

/* DM_DEVICE_INFO by name, uuid or (both NULL) device number. */
static int info(const char *name, const char *uuid, uint32_t major,
		uint32_t minor, struct vs_dm_info *out)
{
	struct dm_task *dmt;
	int ok, ret = 0;

	vs_dm_init();
	memset(out, 0, sizeof(*out));
	dmt = dm_task_create(DM_DEVICE_INFO);
	if (!dmt)
		return -EIO;	/* cannot talk to device-mapper: last_error */
	if (name)
		ok = dm_task_set_name(dmt, name);
	else if (uuid)
		ok = dm_task_set_uuid(dmt, uuid);
	else
		ok = dm_task_set_major(dmt, major) &&
		     dm_task_set_minor(dmt, minor);
	if (!ok) {
		ret = -EINVAL;
		goto out;
	}
	if (!dm_task_run(dmt)) {
		ret = -task_errno(dmt);
		goto out;
	}
	fill_info(dmt, out);
out:
	dm_task_destroy(dmt);
	return ret;
}

int vs_dm_info(const char *name, const char *uuid, struct vs_dm_info *out)
{
	return info(name, uuid, 0, 0, out);
}

int vs_dm_info_dev(uint32_t major, uint32_t minor, struct vs_dm_info *out)
{
	return info(NULL, NULL, major, minor, out);
}

/*
 * Wait for udev to confirm the event of cookie CK, for at most
 * VSTORAGECTL_UDEV_TIMEOUT seconds (default 60). When the kernel fails
 * half-way (a device whose queue could not be registered emits no event
 * udev can confirm), an unbounded wait would hang the command forever.
 */
static void udev_wait(uint32_t ck)
{
	const struct timespec step = { 0, 20 * 1000000L };	/* 20 ms */
	const char *env = getenv("VSTORAGECTL_UDEV_TIMEOUT");
	long secs = env ? strtol(env, NULL, 10) : 60, i;
	int ready = 0;

	if (secs <= 0)
		secs = 60;
	for (i = 0; i < secs * 50; i++) {
		if (!dm_udev_wait_immediate(ck, &ready) || ready)
			return;
		nanosleep(&step, NULL);
	}
	fprintf(stderr, "Warning: udev did not confirm the device event within %ld s; continuing without it\n",
		secs);
	dm_udev_complete(ck);
	dm_udev_wait(ck);
}

/* A simple task on a named device, udev-synchronised when it emits an
 * event (resume, remove) with the DM_UDEV_* flags given. Returns 0 or a
 * negative errno.
 */
static int run_named_flags(int type, const char *name, bool cookie,
			   uint16_t udev_flags)
{
	struct dm_task *dmt;
	uint32_t ck = 0;
	int ret = 0;

	dmt = dm_task_create(type);
	if (!dmt)
		return -EIO;
	if (!dm_task_set_name(dmt, name)) {
		ret = -EINVAL;
		goto out;
	}
	if (cookie && !dm_task_set_cookie(dmt, &ck, udev_flags)) {
		ret = -EIO;
		goto out;
	}
	if (!dm_task_run(dmt))
		ret = -task_errno(dmt);
	if (cookie)
		udev_wait(ck);	/* also after a failure: drops the cookie */
out:
	dm_task_destroy(dmt);
	return ret;
}

static int run_named(int type, const char *name, bool cookie)
{
	return run_named_flags(type, name, cookie, 0);
}

int vs_dm_remove(const char *name)
{
	struct timespec ts = { 0, REMOVE_WAIT_MS * 1000000L };
	int i, ret = 0;

	vs_dm_init();
	for (i = 0; i < REMOVE_TRIES; i++) {
		ret = run_named(DM_DEVICE_REMOVE, name, true);
		if (ret != -EBUSY)
			break;
		nanosleep(&ts, NULL);
	}
	return ret;
}

/*
 * Around a change of a device: the termination signals wait until it is
 * done (never leave a half-created or half-loaded device behind because
 * of ^C), and the kernel log is read for the reason of a failure.
 */
static void guard_begin(sigset_t *old, struct vs_kmsg *km)
{
	block_term_signals(old);
	vs_kmsg_open(km);
}

static void guard_end(const sigset_t *old, struct vs_kmsg *km)
{
	vs_kmsg_close(km);
	sigprocmask(SIG_SETMASK, old, NULL);
}

static void reason(char *err, size_t len, struct vs_kmsg *km,
		   const struct vs_dm_info *info, const struct vs_dm_spec *spec,
		   const char *what, int e)
{
	char dev[32], msg[1024];

	snprintf(dev, sizeof(dev), "%u:%u", info->major, info->minor);
	if (vs_kmsg_reason(km, dev, spec->target, msg, sizeof(msg))) {
		if (!strcmp(msg, "unknown target type"))
			snprintf(err, len, "device-mapper target type '%s' is not available (is the vstorage module installed?)",
				 spec->target);
		else
			snprintf(err, len, "%s", msg);
	} else {
		snprintf(err, len, "cannot %s '%s': %s", what, spec->name,
			 strerror(e));
	}
}

int vs_dm_create(const struct vs_dm_spec *spec, struct vs_dm_info *info,
		 char *err, size_t errlen)
{
	struct dm_task *dmt;
	struct vs_kmsg km;
	sigset_t old;
	int ret = 0, r;

	vs_dm_init();
	memset(info, 0, sizeof(*info));

	guard_begin(&old, &km);

	/* 1. the device, without a table */
	dmt = dm_task_create(DM_DEVICE_CREATE);
	if (!dmt) {
		ret = -EIO;
		snprintf(err, errlen, "cannot create device-mapper device '%s': %s",
			 spec->name, vs_dm_last_error());
		goto out;
	}
	if (!dm_task_set_name(dmt, spec->name) ||
	    !dm_task_set_uuid(dmt, spec->uuid)) {
		dm_task_destroy(dmt);
		ret = -EINVAL;
		snprintf(err, errlen, "invalid device-mapper name '%s'",
			 spec->name);
		goto out;
	}
	if (!dm_task_run(dmt)) {
		int e = dm_task_get_errno(dmt);

		dm_task_destroy(dmt);
		ret = e > 0 ? -e : -EIO;
		if (e == EBUSY)
			snprintf(err, errlen, "a device-mapper device named '%s' or with UUID '%s' already exists",
				 spec->name, spec->uuid);
		else
			snprintf(err, errlen, "cannot create device-mapper device '%s': %s",
				 spec->name, e > 0 ? strerror(e) : vs_dm_last_error());
		goto out;
	}
	fill_info(dmt, info);
	dm_task_destroy(dmt);

	/* 2. the table */
	dmt = dm_task_create(DM_DEVICE_RELOAD);
	if (!dmt) {
		ret = -EIO;
		snprintf(err, errlen, "cannot load the table of '%s': %s",
			 spec->name, vs_dm_last_error());
		goto remove;
	}
	if (!dm_task_set_name(dmt, spec->name) ||
	    !dm_task_add_target(dmt, 0, spec->sectors, spec->target,
				spec->params) ||
	    (spec->read_only && !dm_task_set_ro(dmt))) {
		dm_task_destroy(dmt);
		ret = -EINVAL;
		snprintf(err, errlen, "cannot prepare the table of '%s': %s",
			 spec->name, vs_dm_last_error());
		goto remove;
	}
	if (!dm_task_run(dmt)) {
		ret = -task_errno(dmt);
		dm_task_destroy(dmt);
		reason(err, errlen, &km, info, spec, "load the table of", -ret);
		goto remove;
	}
	dm_task_destroy(dmt);

	/* 3. resume: the device goes live, udev creates the links */
	ret = run_named_flags(DM_DEVICE_RESUME, spec->name, true,
			      spec->udev_flags);
	if (ret) {
		reason(err, errlen, &km, info, spec, "resume", -ret);
		goto remove;
	}
	vs_dm_info(spec->name, NULL, info);
	goto out;

remove:
	r = vs_dm_remove(spec->name);
	if (r) {
		size_t n = strlen(err);

		snprintf(err + n, errlen - n,
			 "; also failed to remove the half-created device '%s': %s",
			 spec->name, strerror(-r));
	}
out:
	guard_end(&old, &km);
	return ret;
}

/* The best reason for a failed table load or resume of device dev. */
static void table_reason(char *err, size_t len, struct vs_kmsg *km,
			 const char *dev, const char *target, const char *what,
			 const char *name, int e)
{
	char msg[1024];

	if (vs_kmsg_reason(km, dev, target, msg, sizeof(msg)))
		snprintf(err, len, "%s", msg);
	else
		snprintf(err, len, "cannot %s '%s': %s", what, name,
			 strerror(e));
}

int vs_dm_message(const char *name, const char *dev, const char *target,
		  const char *node, const char *msg, char *err, size_t errlen)
{
	struct dm_task *dmt;
	struct vs_kmsg km;
	char why[1024];
	int ret = 0;

	vs_dm_init();
	vs_kmsg_open(&km);
	dmt = dm_task_create(DM_DEVICE_TARGET_MSG);
	if (!dmt) {
		snprintf(err, errlen, "%s", vs_dm_last_error());
		ret = -EIO;
		goto out;
	}
	if (!dm_task_set_name(dmt, name) || !dm_task_set_sector(dmt, 0) ||
	    !dm_task_set_message(dmt, msg)) {
		snprintf(err, errlen, "%s", vs_dm_last_error());
		ret = -EINVAL;
	} else if (!dm_task_run(dmt)) {
		ret = -task_errno(dmt);
		if (vs_kmsg_message_reason(&km, dev, target, node, why,
					   sizeof(why)))
			snprintf(err, errlen, "%s", why);
		else
			snprintf(err, errlen, "%s", strerror(-ret));
	}
	dm_task_destroy(dmt);
out:
	vs_kmsg_close(&km);
	return ret;
}

int vs_dm_get_table_len(const char *name, char **target, char **params,
			uint64_t *sectors, char *err, size_t errlen)
{
	uint64_t start, length;
	char *type = NULL, *p = NULL;
	struct dm_task *dmt;
	void *next;
	int ret = 0;

	vs_dm_init();
	*target = *params = NULL;
	dmt = dm_task_create(DM_DEVICE_TABLE);
	if (!dmt) {
		snprintf(err, errlen, "%s", vs_dm_last_error());
		return -EIO;
	}
	if (!dm_task_set_name(dmt, name)) {
		snprintf(err, errlen, "%s", vs_dm_last_error());
		ret = -EINVAL;
		goto out;
	}
	if (!dm_task_run(dmt)) {
		ret = -task_errno(dmt);
		snprintf(err, errlen, "cannot read the table of '%s': %s", name,
			 strerror(-ret));
		goto out;
	}
	next = dm_get_next_target(dmt, NULL, &start, &length, &type, &p);
	if (!type || !p || next || start) {
		snprintf(err, errlen, "the table of '%s' is not one target",
			 name);
		ret = -EINVAL;
		goto out;
	}
	if (sectors)
		*sectors = length;
	*target = strdup(type);
	*params = strdup(p);
	if (!*target || !*params) {
		free(*target);
		free(*params);
		*target = *params = NULL;
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
	}
out:
	dm_task_destroy(dmt);
	return ret;
}

int vs_dm_get_table(const char *name, char **target, char **params,
		    char *err, size_t errlen)
{
	return vs_dm_get_table_len(name, target, params, NULL, err, errlen);
}

static int load(const char *name, const char *dev, const char *target,
		const char *params, uint64_t sectors, bool read_only,
		struct vs_kmsg *km, char *err, size_t errlen)
{
	struct dm_task *dmt;
	int ret = 0;

	dmt = dm_task_create(DM_DEVICE_RELOAD);
	if (!dmt) {
		snprintf(err, errlen, "%s", vs_dm_last_error());
		return -EIO;
	}
	if (!dm_task_set_name(dmt, name) ||
	    !dm_task_add_target(dmt, 0, sectors, target, params) ||
	    (read_only && !dm_task_set_ro(dmt))) {
		snprintf(err, errlen, "cannot prepare the table of '%s': %s",
			 name, vs_dm_last_error());
		ret = -EINVAL;
	} else if (!dm_task_run(dmt)) {
		ret = -task_errno(dmt);
		table_reason(err, errlen, km, dev, target, "load the table of",
			     name, -ret);
	}
	dm_task_destroy(dmt);
	return ret;
}

int vs_dm_load(const char *name, const char *dev, const char *target,
	       const char *params, uint64_t sectors, bool read_only,
	       char *err, size_t errlen)
{
	struct vs_kmsg km;
	sigset_t old;
	int ret;

	vs_dm_init();
	guard_begin(&old, &km);
	ret = load(name, dev, target, params, sectors, read_only, &km, err,
		   errlen);
	guard_end(&old, &km);
	return ret;
}

int vs_dm_suspend(const char *name, char *err, size_t errlen)
{
	int ret;

	vs_dm_init();
	ret = run_named(DM_DEVICE_SUSPEND, name, false);
	if (ret)
		snprintf(err, errlen, "cannot suspend '%s': %s", name,
			 ret == -EIO ? vs_dm_last_error() : strerror(-ret));
	return ret;
}

int vs_dm_resume(const char *name, const char *dev, const char *target,
		 uint16_t udev_flags, char *err, size_t errlen)
{
	struct vs_kmsg km;
	sigset_t old;
	int ret;

	vs_dm_init();
	guard_begin(&old, &km);
	ret = run_named_flags(DM_DEVICE_RESUME, name, true, udev_flags);
	if (ret)
		table_reason(err, errlen, &km, dev, target, "resume", name,
			     -ret);
	guard_end(&old, &km);
	return ret;
}

int vs_dm_reload(const char *name, const char *dev, const char *target,
		 const char *params, uint64_t sectors, bool read_only,
		 char *err, size_t errlen)
{
	struct vs_kmsg km;
	sigset_t old;
	int ret;

	vs_dm_init();
	guard_begin(&old, &km);
	ret = load(name, dev, target, params, sectors, read_only, &km, err,
		   errlen);
	if (!ret) {
		ret = run_named(DM_DEVICE_RESUME, name, true);
		if (ret)
			table_reason(err, errlen, &km, dev, target, "resume",
				     name, -ret);
	}
	guard_end(&old, &km);
	return ret;
}

int vs_dm_holders(uint32_t major, uint32_t minor, char *first, size_t len)
{
	return vs_dm_holders_except(major, minor, NULL, first, len);
}

int vs_dm_holders_except(uint32_t major, uint32_t minor, const char *skip,
			 char *first, size_t len)
{
	char path[128], buf[VS_DM_NAME_LEN + 1], name[300];
	struct dirent *de;
	int nr = 0;
	DIR *dir;

	if (len)
		first[0] = '\0';
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/holders", major,
		 minor);
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		/* a dm holder's name, else the kernel's (dm-3, md0) */
		snprintf(name, sizeof(name), "%s", de->d_name);
		snprintf(path, sizeof(path), "/sys/block/%.64s/dm/name",
			 de->d_name);
		f = fopen(path, "r");
		if (f) {
			if (fgets(buf, sizeof(buf), f)) {
				buf[strcspn(buf, "\n")] = '\0';
				snprintf(name, sizeof(name), "%s", buf);
			}
			fclose(f);
		}
		if (skip && !strcmp(name, skip))
			continue;
		if (!nr++ && len)
			snprintf(first, len, "%s", name);
	}
	closedir(dir);
	return nr;
}
