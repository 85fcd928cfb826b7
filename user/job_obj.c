// SPDX-License-Identifier: GPL-2.0
/*
 * The job object: QEMU's names, parsing from the VSTORAGE_A_JOB nest,
 * printing, job start's arguments and job wait's progress line. No I/O:
 * unit-tested in tests/unit/test-job.c.
 *
 * JSON object (keys in this order): id, type, node, base (null when none),
 * filter (null when none), state, offset, len, speed, on-error,
 * auto-finalize, auto-dismiss, busy, paused, active, error (null unless
 * it failed); job-io-error events add operation and action.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <netlink/attr.h>
#include <netlink/genl/genl.h>

#include "job.h"
#include "nl.h"
#include "output.h"
#include "parse.h"
#include "util.h"

/* the longest key is "auto-finalize" */
#define KEY_MAX	32

static const char *const state_names[__VSTORAGE_JOB_S_MAX] = {
	[VSTORAGE_JOB_S_UNDEFINED]	= "undefined",
	[VSTORAGE_JOB_S_CREATED]	= "created",
	[VSTORAGE_JOB_S_RUNNING]	= "running",
	[VSTORAGE_JOB_S_PAUSED]		= "paused",
	[VSTORAGE_JOB_S_READY]		= "ready",
	[VSTORAGE_JOB_S_STANDBY]	= "standby",
	[VSTORAGE_JOB_S_WAITING]	= "waiting",
	[VSTORAGE_JOB_S_PENDING]	= "pending",
	[VSTORAGE_JOB_S_ABORTING]	= "aborting",
	[VSTORAGE_JOB_S_CONCLUDED]	= "concluded",
	[VSTORAGE_JOB_S_NULL]		= "null",
};

static const char *const on_error_names[__VSTORAGE_JOB_ON_ERROR_MAX] = {
	[VSTORAGE_JOB_ON_ERROR_REPORT]	= "report",
	[VSTORAGE_JOB_ON_ERROR_IGNORE]	= "ignore",
	[VSTORAGE_JOB_ON_ERROR_ENOSPC]	= "enospc",
	[VSTORAGE_JOB_ON_ERROR_STOP]	= "stop",
};

static const char *const action_names[] = {
	[VSTORAGE_JOB_ACTION_IGNORE]	= "ignore",
	[VSTORAGE_JOB_ACTION_REPORT]	= "report",
	[VSTORAGE_JOB_ACTION_STOP]	= "stop",
};

const char *vs_job_state_name(uint32_t state)
{
	return state < ARRAY_SIZE(state_names) ? state_names[state] : "unknown";
}

const char *vs_job_on_error_name(uint32_t on_error)
{
	return on_error < ARRAY_SIZE(on_error_names) ?
	       on_error_names[on_error] : "unknown";
}

const char *vs_job_action_name(uint32_t action)
{
	return action < ARRAY_SIZE(action_names) ? action_names[action] :
						   "unknown";
}

int vs_job_on_error_parse(const char *s, uint32_t *out)
{
	uint32_t i;

	for (i = 0; i < ARRAY_SIZE(on_error_names); i++) {
		if (!strcmp(s, on_error_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

const char *vs_job_event_name(uint8_t cmd)
{
	switch (cmd) {
	case VSTORAGE_CMD_JOB_STATUS:
		return "job-status";
	case VSTORAGE_CMD_JOB_READY:
		return "job-ready";
	case VSTORAGE_CMD_JOB_PENDING:
		return "job-pending";
	case VSTORAGE_CMD_JOB_COMPLETED:
		return "job-completed";
	case VSTORAGE_CMD_JOB_CANCELLED:
		return "job-cancelled";
	case VSTORAGE_CMD_JOB_IO_ERROR:
		return "job-io-error";
	default:
		return NULL;
	}
}

bool vs_job_state_final(uint32_t state)
{
	return state == VSTORAGE_JOB_S_CONCLUDED || state == VSTORAGE_JOB_S_NULL;
}

/* ---- parsing ---- */

static int get_uint(const struct nlattr *a, size_t size, uint64_t *v)
{
	if ((size_t)nla_len(a) != size)
		return -EBADMSG;
	switch (size) {
	case 1:
		*v = nla_get_u8((struct nlattr *)a);
		break;
	case 4:
		*v = nla_get_u32((struct nlattr *)a);
		break;
	default:
		*v = nla_get_u64((struct nlattr *)a);
		break;
	}
	return 0;
}

static int parse_attr(const struct nlattr *a, struct vs_job *j)
{
	uint64_t v = 0;
	int ret = 0;

	switch (nla_type(a)) {
	case VSTORAGE_JOB_ID:
		vs_nla_strcpy(j->id, sizeof(j->id), a);
		return 0;
	case VSTORAGE_JOB_TYPE:
		vs_nla_strcpy(j->type, sizeof(j->type), a);
		return 0;
	case VSTORAGE_JOB_NODE:
		vs_nla_strcpy(j->node, sizeof(j->node), a);
		return 0;
	case VSTORAGE_JOB_BASE:
		vs_nla_strcpy(j->base, sizeof(j->base), a);
		return 0;
	case VSTORAGE_JOB_FILTER:
		vs_nla_strcpy(j->filter, sizeof(j->filter), a);
		return 0;
	case VSTORAGE_JOB_ERROR:
		vs_nla_strcpy(j->error, sizeof(j->error), a);
		j->has_error = true;
		return 0;
	case VSTORAGE_JOB_STATE:
		ret = get_uint(a, 4, &v);
		j->state = (uint32_t)v;
		break;
	case VSTORAGE_JOB_ON_ERROR:
		ret = get_uint(a, 4, &v);
		j->on_error = (uint32_t)v;
		break;
	case VSTORAGE_JOB_OPERATION:
		ret = get_uint(a, 4, &v);
		j->operation = (uint32_t)v;
		j->has_io = true;
		break;
	case VSTORAGE_JOB_ACTION:
		ret = get_uint(a, 4, &v);
		j->action = (uint32_t)v;
		j->has_io = true;
		break;
	case VSTORAGE_JOB_OFFSET:
		ret = get_uint(a, 8, &j->offset);
		break;
	case VSTORAGE_JOB_LEN:
		ret = get_uint(a, 8, &j->len);
		break;
	case VSTORAGE_JOB_SPEED:
		ret = get_uint(a, 8, &j->speed);
		break;
	case VSTORAGE_JOB_AUTO_FINALIZE:
		ret = get_uint(a, 1, &v);
		j->auto_finalize = v;
		break;
	case VSTORAGE_JOB_AUTO_DISMISS:
		ret = get_uint(a, 1, &v);
		j->auto_dismiss = v;
		break;
	case VSTORAGE_JOB_BUSY:
		ret = get_uint(a, 1, &v);
		j->busy = v;
		break;
	case VSTORAGE_JOB_PAUSED:
		ret = get_uint(a, 1, &v);
		j->paused = v;
		break;
	case VSTORAGE_JOB_ACTIVE:
		ret = get_uint(a, 1, &v);
		j->active = v;
		break;
	case VSTORAGE_JOB_CANCELLED:
		ret = get_uint(a, 1, &v);
		j->cancelled = v;
		break;
	case VSTORAGE_JOB_PIVOTED:
		ret = get_uint(a, 1, &v);
		j->pivoted = v;
		break;
	case VSTORAGE_JOB_NO_PIVOT:
		ret = get_uint(a, 1, &v);
		j->no_pivot = v;
		break;
	case VSTORAGE_JOB_TARGET:
		vs_nla_strcpy(j->target, sizeof(j->target), a);
		return 0;
	case VSTORAGE_JOB_BITMAP:
		vs_nla_strcpy(j->bitmap, sizeof(j->bitmap), a);
		return 0;
	case VSTORAGE_JOB_SYNC:
		ret = get_uint(a, 4, &v);
		j->sync = v;
		break;
	case VSTORAGE_JOB_COPY_MODE:
		ret = get_uint(a, 4, &v);
		j->copy_mode = v;
		break;
	case VSTORAGE_JOB_GRANULARITY:
		ret = get_uint(a, 4, &v);
		j->granularity = v;
		break;
	default:
		break;		/* padding, or newer than us */
	}
	return ret;
}

int vs_job_parse(const struct nlmsghdr *nlh, struct vs_job *j)
{
	struct genlmsghdr *gh = nlmsg_data(nlh);
	const struct nlattr *a, *nest = NULL, *b;
	int rem;

	memset(j, 0, sizeof(*j));
	if (nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
		return -EBADMSG;
	nla_for_each_attr(a, genlmsg_attrdata(gh, 0), genlmsg_attrlen(gh, 0), rem)
		if (nla_type(a) == VSTORAGE_A_JOB)
			nest = a;
	if (!nest)
		return -EBADMSG;
	nla_for_each_nested(b, nest, rem)
		if (parse_attr(b, j))
			return -EBADMSG;
	return j->id[0] ? 0 : -EBADMSG;
}

/* ---- printing ---- */

static const char *const sync_names[] = {
	[VSTORAGE_JOB_SYNC_FULL] = "full",
	[VSTORAGE_JOB_SYNC_TOP] = "top",
	[VSTORAGE_JOB_SYNC_NONE] = "none",
	[VSTORAGE_JOB_SYNC_BITMAP] = "bitmap",
};

static const char *const copy_mode_names[] = {
	[VSTORAGE_JOB_COPY_BACKGROUND] = "background",
	[VSTORAGE_JOB_COPY_WRITE_BLOCKING] = "write-blocking",
};

void vs_job_print_header(void)
{
	print_fp("%-16s %-7s %-16s %-10s %17s %10s\n", "ID", "TYPE", "NODE",
		 "STATE", "PROGRESS", "SPEED");
}

/* "1.0G/2.0G (50%)" */
static void progress_text(const struct vs_job *j, char *buf, size_t len)
{
	char done[16], total[16];

	format_size(j->offset, done, sizeof(done));
	format_size(j->len, total, sizeof(total));
	snprintf(buf, len, "%s/%s (%u%%)", done, total,
		 j->len ? (unsigned int)(j->offset * 100 / j->len) : 0);
}

static void print_row(const struct vs_job *j)
{
	char prog[48], speed[16] = "unlimited";

	progress_text(j, prog, sizeof(prog));
	if (j->speed) {
		format_size(j->speed, speed, sizeof(speed) - 2);
		strcat(speed, "/s");
	}
	print_fp("%-16s %-7s %-16s %-10s %17s %10s\n", j->id, j->type, j->node,
		 vs_job_state_name(j->state), prog, speed);
}

void vs_job_print(const struct vs_job *j, const char *key, bool row)
{
	enum output_type t = row ? PRINT_JSON : PRINT_ANY;
	char prog[48];

	open_json_object(key);
	if (row)
		print_row(j);
	print_string(t, "id", "id: %s\n", j->id);
	print_string(t, "type", "type: %s\n", j->type);
	print_string(t, "node", "node: %s\n", j->node);
	print_string(PRINT_JSON, "base", NULL, j->base[0] ? j->base : NULL);
	if (j->base[0] && !row)
		print_fp("base: %s\n", j->base);
	print_string(PRINT_JSON, "filter", NULL,
		     j->filter[0] ? j->filter : NULL);
	if (j->filter[0] && !row)
		print_fp("filter: %s\n", j->filter);
	print_string(t, "state", "state: %s\n", vs_job_state_name(j->state));
	print_u64(PRINT_JSON, "offset", NULL, j->offset);
	print_u64(PRINT_JSON, "len", NULL, j->len);
	if (!row) {
		progress_text(j, prog, sizeof(prog));
		print_fp("progress: %s (offset %" PRIu64 " of len %" PRIu64 ")\n",
			 prog, j->offset, j->len);
	}
	print_u64(t, "speed", "speed: %" PRIu64 " bytes/s", j->speed);
	if (!row)
		print_fp("%s\n", j->speed ? "" : " (unlimited)");
	print_string(t, "on-error", "on-error: %s\n",
		     vs_job_on_error_name(j->on_error));
	print_bool(t, "auto-finalize", "auto-finalize: %s\n", j->auto_finalize);
	print_bool(t, "auto-dismiss", "auto-dismiss: %s\n", j->auto_dismiss);
	print_bool(t, "busy", "busy: %s\n", j->busy);
	print_bool(t, "paused", "paused: %s\n", j->paused);
	if (!strcmp(j->type, "commit"))
		print_bool(t, "active", "active: %s\n", j->active);
	if (j->target[0]) {
		print_string(t, "target", "target: %s\n", j->target);
		print_string(t, "sync", "sync: %s\n",
			     j->sync < ARRAY_SIZE(sync_names) && sync_names[j->sync] ?
			     sync_names[j->sync] : "unknown");
		if (!strcmp(j->type, "mirror"))
			print_string(t, "copy-mode", "copy-mode: %s\n",
				     j->copy_mode < ARRAY_SIZE(copy_mode_names) ?
				     copy_mode_names[j->copy_mode] : "unknown");
		print_u64(t, "granularity", "granularity: %" PRIu64 "\n",
			  j->granularity);
	}
	if (j->bitmap[0])
		print_string(t, "bitmap", "bitmap: %s\n", j->bitmap);
	if (j->has_io) {
		print_string(t, "operation", "operation: %s\n",
			     j->operation ? "write" : "read");
		print_string(t, "action", "action: %s\n",
			     vs_job_action_name(j->action));
	}
	print_string(PRINT_JSON, "error", NULL, j->has_error ? j->error : NULL);
	if (j->has_error && !row)
		print_fp("error: %s\n", j->error);
	close_json_object();
}

/* ---- job start's arguments ---- */

static const char *const bitmap_mode_names[] = {
	[VSTORAGE_JOB_BITMAP_ON_SUCCESS] = "on-success",
	[VSTORAGE_JOB_BITMAP_NEVER] = "never",
	[VSTORAGE_JOB_BITMAP_ALWAYS] = "always",
};

static int name_index(const char *const *names, size_t nr, const char *v,
		      uint32_t *out)
{
	size_t i;

	for (i = 0; i < nr; i++) {
		if (names[i] && !strcmp(names[i], v)) {
			*out = (uint32_t)i;
			return 0;
		}
	}
	return -1;
}

/* mirror's own keys: 1 when KEY is none of them. */
static int mirror_key(struct vs_job_start *s, const char *key, const char *val,
		      const char *arg)
{
	const char *why;
	uint64_t v;

	if (!strcmp(key, "target")) {
		if (!*val) {
			pr_err("%s: an empty target", arg);
			return -1;
		}
		s->target = val;
	} else if (!strcmp(key, "sync")) {
		if (name_index(sync_names, ARRAY_SIZE(sync_names), val,
			       &s->sync) || s->sync == VSTORAGE_JOB_SYNC_BITMAP) {
			pr_err("%s: sync is one of full, top, none", arg);
			return -1;
		}
		s->sync_given = true;
	} else if (!strcmp(key, "copy-mode")) {
		if (name_index(copy_mode_names, ARRAY_SIZE(copy_mode_names),
			       val, &s->copy_mode)) {
			pr_err("%s: copy-mode is background or write-blocking",
			       arg);
			return -1;
		}
	} else if (!strcmp(key, "granularity")) {
		/* QEMU's bounds: a power of two from 512 B to 64 MiB */
		if (parse_size(val, &v, &why)) {
			pr_err("%s: %s", arg, why);
			return -1;
		}
		if (v < 512 || v > (64 << 20) || (v & (v - 1))) {
			pr_err("%s: granularity is a power of two from 512 to 64M",
			       arg);
			return -1;
		}
		s->granularity = (uint32_t)v;
	} else if (!strcmp(key, "format")) {
		if (strcmp(val, "qcow2") && strcmp(val, "raw")) {
			pr_err("%s: format is qcow2 or raw", arg);
			return -1;
		}
		s->format = val;
	} else {
		return 1;
	}
	return 0;
}

/* backup's own keys: 1 when KEY is none of them. */
static int backup_key(struct vs_job_start *s, const char *key,
		      const char *val, const char *arg)
{
	if (!strcmp(key, "target")) {
		if (!*val) {
			pr_err("%s: target is a node, a device or a file", arg);
			return -1;
		}
		s->target = val;
	} else if (!strcmp(key, "sync")) {
		if (name_index(sync_names, ARRAY_SIZE(sync_names), val,
			       &s->sync)) {
			pr_err("%s: sync is one of full, top, none, bitmap", arg);
			return -1;
		}
		s->sync_given = true;
	} else if (!strcmp(key, "bitmap")) {
		if (!*val || strlen(val) > VSTORAGE_NODE_NAME_MAX) {
			pr_err("%s: a bitmap name of 1 to %d characters", arg,
			       VSTORAGE_NODE_NAME_MAX);
			return -1;
		}
		s->bitmap = val;
	} else if (!strcmp(key, "bitmap-mode")) {
		if (name_index(bitmap_mode_names, ARRAY_SIZE(bitmap_mode_names),
			       val, &s->bitmap_mode)) {
			pr_err("%s: bitmap-mode is one of on-success, never, always",
			       arg);
			return -1;
		}
		s->bitmap_mode_given = true;
	} else {
		return 1;
	}
	return 0;
}

/* backup's checks after all keys: 0 or -1 (printed). */
static int backup_check(const struct vs_job_start *s)
{
	if (!s->target) {
		pr_err("job start backup: missing target=NODE|DEVICE|FILE");
		return -1;
	}
	if (!s->sync_given) {
		pr_err("job start backup: missing sync=full|top|none|bitmap");
		return -1;
	}
	if (s->sync == VSTORAGE_JOB_SYNC_BITMAP && !s->bitmap) {
		pr_err("job start backup: sync=bitmap needs bitmap=NAME");
		return -1;
	}
	if (s->sync != VSTORAGE_JOB_SYNC_BITMAP &&
	    (s->bitmap || s->bitmap_mode_given)) {
		pr_err("job start backup: %s goes with sync=bitmap only",
		       s->bitmap ? "bitmap" : "bitmap-mode");
		return -1;
	}
	if (!strcmp(s->target, s->node)) {
		pr_err("target=%s: the target is the node itself", s->target);
		return -1;
	}
	return 0;
}

static int start_key(struct vs_job_start *s, const char *key, const char *val,
		     const char *arg)
{
	bool commit = !strcmp(s->type, "commit");
	bool mirror = !strcmp(s->type, "mirror");
	bool backup = !strcmp(s->type, "backup");
	const char *why;
	bool b;
	int r;

	if (mirror && (r = mirror_key(s, key, val, arg)) <= 0)
		return r;
	if (backup && (r = backup_key(s, key, val, arg)) <= 0)
		return r;
	if (!strcmp(key, commit ? "top" : "node")) {
		s->node = val;
	} else if (!strcmp(key, "base") && !mirror && !backup) {
		s->base = val;
	} else if (!strcmp(key, "job-id")) {
		s->id = val;
	} else if (!strcmp(key, "speed")) {
		if (parse_size(val, &s->speed, &why)) {
			pr_err("%s: %s", arg, why);
			return -1;
		}
		s->speed_given = true;
	} else if (!strcmp(key, "on-error")) {
		if (vs_job_on_error_parse(val, &s->on_error)) {
			pr_err("%s: on-error is one of report, ignore, stop, enospc",
			       arg);
			return -1;
		}
		s->on_error_given = true;
	} else if (!strcmp(key, "auto-finalize") ||
		   !strcmp(key, "auto-dismiss")) {
		if (parse_bool(val, &b)) {
			pr_err("%s: expected on or off", arg);
			return -1;
		}
		*(key[5] == 'f' ? &s->auto_finalize : &s->auto_dismiss) = b;
	} else if (mirror || backup) {
		pr_err("job start %s: unknown key '%s' (keys: %s, job-id, speed, on-error, auto-finalize, auto-dismiss)",
		       s->type, key, mirror ?
		       "node, target, sync, granularity, copy-mode, format" :
		       "node, target, sync, bitmap, bitmap-mode");
		return -1;
	} else {
		pr_err("job start %s: unknown key '%s' (keys: %s, base, job-id, speed, on-error, auto-finalize, auto-dismiss)",
		       s->type, key, commit ? "top" : "node");
		return -1;
	}
	return 0;
}

/* The node names a job start names: QEMU's rules, checked here. */
static int check_names(const struct vs_job_start *s)
{
	const char *why, *node_key = strcmp(s->type, "commit") ? "node" : "top";

	if (check_node_name(s->node, &why)) {
		pr_err("%s=%s: %s", node_key, s->node, why);
		return -1;
	}
	if (s->base && check_node_name(s->base, &why)) {
		pr_err("base=%s: %s", s->base, why);
		return -1;
	}
	/* job ids follow the node-name rules, with their own length */
	if (s->id && (check_node_name(s->id, &why) ||
		      strlen(s->id) > VSTORAGE_JOB_ID_MAX)) {
		pr_err("job-id=%s: %s", s->id,
		       strlen(s->id) > VSTORAGE_JOB_ID_MAX ?
		       "longer than 31 characters" : why);
		return -1;
	}
	if (s->base && !strcmp(s->base, s->node)) {
		pr_err("base=%s: the base is the %s itself", s->base, node_key);
		return -1;
	}
	if (s->target && !strcmp(s->target, s->node)) {
		pr_err("target=%s: the target is the node itself", s->target);
		return -1;
	}
	if (!strcmp(s->type, "backup"))
		return backup_check(s);
	return 0;
}

int vs_job_start_parse(int argc, char **argv, struct vs_job_start *s)
{
	char seen[16][KEY_MAX];
	size_t nr_seen = 0, k;
	int i;

	memset(s, 0, sizeof(*s));
	s->auto_finalize = s->auto_dismiss = true;
	if (argc < 1) {
		pr_err("job start: missing TYPE (stream, commit, mirror or backup)");
		return -1;
	}
	s->type = argv[0];
	if (strcmp(s->type, "stream") && strcmp(s->type, "commit") &&
	    strcmp(s->type, "mirror") && strcmp(s->type, "backup")) {
		pr_err("job start: unknown job type '%s' (types: stream, commit, mirror, backup)",
		       s->type);
		return -1;
	}
	for (i = 1; i < argc; i++) {
		char key[KEY_MAX];
		const char *val = split_kv(argv[i], key, sizeof(key));

		if (!val) {
			pr_err("job start %s: '%s': expected KEY=VALUE", s->type,
			       argv[i]);
			return -1;
		}
		for (k = 0; k < nr_seen; k++) {
			if (!strcmp(seen[k], key)) {
				pr_err("job start %s: %s given more than once",
				       s->type, key);
				return -1;
			}
		}
		if (start_key(s, key, val, argv[i]))
			return -1;
		if (nr_seen < ARRAY_SIZE(seen))
			snprintf(seen[nr_seen++], sizeof(seen[0]), "%s", key);
	}
	if (!s->node) {
		pr_err("job start %s: missing %s=NODE", s->type,
		       strcmp(s->type, "commit") ? "node" : "top");
		return -1;
	}
	if (!strcmp(s->type, "mirror") && (!s->target || !s->sync_given)) {
		pr_err("job start mirror: missing %s", s->target ?
		       "sync=full|top|none" : "target=NODE-OR-PATH");
		return -1;
	}
	return check_names(s);
}

/* ---- job wait's progress line ---- */

static void format_duration(uint64_t s, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600,
		 s / 60 % 60, s % 60);
}

void vs_job_progress(char *buf, size_t len, uint64_t offset, uint64_t total,
		     uint64_t rate, int width)
{
	char done[16], all[16], speed[16] = "--", left[24] = "--:--:--";
	char tail[96];
	unsigned int pct;
	int bar, fill, i, n;

	if (offset > total)
		offset = total;
	pct = total ? (unsigned int)(offset * 100 / total) : 0;
	format_size(offset, done, sizeof(done));
	format_size(total, all, sizeof(all));
	if (rate) {
		format_size(rate, speed, sizeof(speed));
		format_duration((total - offset + rate - 1) / rate, left,
				sizeof(left));
	}
	snprintf(tail, sizeof(tail), " %3u%%  %s/%s  %s/s  %s left", pct, done,
		 all, speed, left);
	/* the bar gets what the text leaves, between 10 and 50 columns */
	bar = width - (int)strlen(tail) - 2;
	if (bar > 50)
		bar = 50;
	if (!total || bar < 10) {
		snprintf(buf, len, "%s", tail + 1);
		return;
	}
	fill = (int)((uint64_t)bar * offset / total);
	n = snprintf(buf, len, "[");
	for (i = 0; i < bar && n + 1 < (int)len; i++)
		buf[n++] = i < fill ? '#' : '-';
	snprintf(buf + n, len - n, "]%s", tail);
}
