/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Block jobs (Documentation/vstoragectl.rst, "Block jobs"): the job object
 * of the VSTORAGE_A_JOB nest, its names and printing (job_obj.c, no I/O,
 * unit-tested), the commands (job.c), and the graph changes that
 * userspace makes before and after a job (job_graph.c).
 */
#ifndef VS_JOB_H
#define VS_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>
#include <linux/vstorage.h>

#define VS_JOB_TYPE_MAX	15
/* as VS_DM_NAME_LEN (dm.h), which this header does not include */
#define VS_JOB_DM_NAME_LEN	128

struct vs_job {
	char id[VSTORAGE_JOB_ID_MAX + 1];
	char type[VS_JOB_TYPE_MAX + 1];
	char node[VSTORAGE_NODE_NAME_MAX + 1];
	char base[VSTORAGE_NODE_NAME_MAX + 1];		/* "" when none */
	char filter[VSTORAGE_NODE_NAME_MAX + 1];	/* "" when none */
	char target[VSTORAGE_NODE_NAME_MAX + 1];	/* "" when none */
	char bitmap[VSTORAGE_NODE_NAME_MAX + 1];	/* "" when none */
	/* enum vstorage_job_sync, _copy_mode: valid with a target */
	uint32_t sync, copy_mode, granularity;
	uint32_t state;			/* enum vstorage_job_state */
	uint64_t offset, len, speed;
	uint32_t on_error;		/* enum vstorage_job_on_error */
	bool auto_finalize, auto_dismiss;
	bool busy, paused, active, cancelled, pivoted;
	bool no_pivot;		/* cancelled when ready: completes, no pivot */
	bool has_error;
	char error[VSTORAGE_JOB_ERROR_MAX + 1];
	/* JOB_IO_ERROR events only */
	bool has_io;
	uint32_t operation, action;
};

/* QEMU's names ("running", "report", "stop"...), or "unknown". */
const char *vs_job_state_name(uint32_t state);
const char *vs_job_on_error_name(uint32_t on_error);
const char *vs_job_action_name(uint32_t action);
/* QEMU's on-error name into *out: 0, or -1 for none of them. */
int vs_job_on_error_parse(const char *s, uint32_t *out);
/* A job event's name for monitor and wait ("job-status"), or NULL. */
const char *vs_job_event_name(uint8_t cmd);
/* Concluded, or gone: the job will not change any more. */
bool vs_job_state_final(uint32_t state);

/*
 * A message with a VSTORAGE_A_JOB nest into j. 0, or -EBADMSG (no nest,
 * no id, or an attribute of the wrong size).
 */
int vs_job_parse(const struct nlmsghdr *nlh, struct vs_job *j);

/*
 * The job as an object (JSON key KEY inside an object). Humans: "key:
 * value" lines, or with row set one line of the table that
 * vs_job_print_header() starts.
 */
void vs_job_print(const struct vs_job *j, const char *key, bool row);
void vs_job_print_header(void);

/* What `job start` was given. */
struct vs_job_start {
	const char *type;	/* "stream", "commit", "mirror" or "backup" */
	const char *node;	/* node= (stream, mirror, backup), top= (commit) */
	const char *base;		/* NULL when not given */
	/* mirror and backup */
	const char *target;		/* a node name, or a path */
	const char *format;		/* mirror: "qcow2", "raw", or NULL */
	bool sync_given;
	uint32_t sync;			/* enum vstorage_job_sync */
	uint32_t granularity;		/* 0: the kernel's default */
	uint32_t copy_mode;		/* enum vstorage_job_copy_mode */
	const char *id;			/* NULL when not given */
	bool speed_given;
	uint64_t speed;
	bool on_error_given;
	uint32_t on_error;
	bool auto_finalize, auto_dismiss;
	/* backup (job_obj.c's backup_key()) */
	const char *bitmap;
	bool bitmap_mode_given;
	uint32_t bitmap_mode;		/* enum vstorage_job_bitmap_mode */
};

/*
 * TYPE key=value... into s (pointers into argv). Unknown keys, keys of
 * the other type, repeated keys, bad values and a missing node are
 * refused with one line printed. 0 or -1.
 */
int vs_job_start_parse(int argc, char **argv, struct vs_job_start *s);

/*
 * The progress line of job wait on a terminal, WIDTH columns at most:
 *   "[#####-----]  42%  1.0G/2.4G  12.0M/s  0:01:57 left"
 * rate 0: no rate and no time left yet ("--/s"); total 0: no bar.
 */
void vs_job_progress(char *buf, size_t len, uint64_t offset, uint64_t total,
		     uint64_t rate, int width);

/* ---- job.c ---- */

struct vs_nl;
/*
 * The job that uses node NAME (its node, base or filter) into job, "" when
 * none. 0, or -1 with the error printed (a kernel without jobs uses
 * none).
 */
int vs_job_user(const char *name, char *job, size_t len);
/*
 * node del, remove-filter, move, reopen: -1 with "node N is in use by
 * job J" printed when a job uses NAME (or the lookup failed), else 0.
 */
int vs_job_check_free(const char *name);
/* JOB_GET of ID into j: 0, -ENOENT, or -1 (printed unless quiet). */
int vs_job_get(struct vs_nl *nl, const char *id, struct vs_job *j,
	       bool quiet);
/* JOB_FINALIZE of ID, with ERROR when not NULL. 0 or -1 (printed). */
int vs_job_send_finalize(struct vs_nl *nl, const char *id,
			 const char *error);
/* A job event for monitor: printed as in monitor -j, or 1: not a job's. */
int vs_job_event_print(const struct nlmsghdr *nlh);

/* ---- job_graph.c ---- */

/* What job start prepared; the rest comes from the job object. */
struct vs_job_prep {
	char id[VSTORAGE_JOB_ID_MAX + 1];
	char filter[VSTORAGE_NODE_NAME_MAX + 1];	/* "" when none */
	char base[VSTORAGE_NODE_NAME_MAX + 1];		/* commit: resolved */
	bool active;			/* commit of the disk's active layer */
	bool base_was_read_only;	/* commit: made writable by the prep */
	/* mirror (job_mirror.c) and backup (job_backup.c) */
	bool mirror, backup;
	char target[VSTORAGE_NODE_NAME_MAX + 1];	/* the target node */
	bool target_added;		/* a node the prep added */
	uint32_t sync;
	char view[VSTORAGE_NODE_NAME_MAX + 1];	/* backup's fleecing view, or "" */
};

/*
 * The graph changes before JOB_NEW: the filter, the base made writable
 * and grown. 0, or -1 with the error printed and nothing left changed.
 */
int vs_job_prepare(const struct vs_job_start *s, struct vs_job_prep *p);
/* Undoes what vs_job_prepare() did (best effort, errors printed). */
int vs_job_unprepare(const struct vs_job_prep *p);
/* Saves and loads the preparation (in the job's lock file). */
int vs_job_prep_save(const struct vs_job_prep *p);
int vs_job_prep_load(const char *id, struct vs_job_prep *p);
void vs_job_prep_forget(const char *id);
/*
 * Waits up to TIMEOUT_MS for the graph changes after job ID ended (the
 * supervisor's finalize or undo): true once they are done.
 */
bool vs_job_graph_settled(const char *id, unsigned int timeout_ms);

/*
 * Finalizes pending job ID under its lock: the graph changes, then
 * JOB_FINALIZE (with the error when they failed). 0, or -1 (printed).
 * A job that is not pending (any more: another finalizer was first) is an
 * error when strict, else left alone.
 */
int vs_job_finalize(const char *id, bool strict);

/* ---- job_mirror.c ---- */

/*
 * mirror's preparation: the target node (added, and its image created,
 * when target= is a path) and the mirror-top filter over the node. 0, or
 * -1 with the error printed and nothing left changed.
 */
int vs_mirror_prepare(const struct vs_job_start *s, struct vs_job_prep *p);
/* The disk's device takes the target's table after the kernel's pivot. */
int vs_mirror_pivot_graph(const struct vs_job *j, const struct vs_job_prep *p);

/*
 * Shared by job_graph.c and job_mirror.c: the device of filter FILTER
 * takes node NODE's table (NODE moves up to the disk); NODE's old device
 * name into old_dev. 0, or -1 (printed).
 */
int vs_job_take_table(const char *id, const char *filter, const char *node,
		      char *old_dev, size_t len);
/* Whether node NAME exists (without an error when it does not). */
bool vs_job_node_exists(const char *name);
/*
 * Reloads the device that holds node NAME with option KEY set to VALUE
 * (KEY NULL: none) and, unless RO is -1, read-only on (1) or off (0).
 * 0, or -1 (printed).
 */
int vs_job_reload_node(const char *name, const char *key, const char *value,
		       int ro);
/*
 * Removes the devices NAMES, top-down, each once nothing holds it open
 * (a job lets its devices go when it concludes). 0, or -1 (printed).
 */
int vs_job_remove_devices(const char *job, char names[][VS_JOB_DM_NAME_LEN],
			  size_t nr);

/*
 * Forks the detached supervisor of job ID (finalizes, undoes on cancel).
 * 0, or -1 (printed): the job runs, but nobody will finalize it.
 */
int vs_job_supervise(const struct vs_job_prep *p);

/* ---- job_backup.c: the backup job's graph changes ---- */

/* A filter, target node and view: 0, or -1 (printed, nothing left). */
int vs_backup_prepare(const struct vs_job_start *s, struct vs_job_prep *p);
/* What vs_backup_prepare() added goes (best effort, errors printed). */
int vs_backup_unprepare(const struct vs_job_prep *p);
/* At pending: the filter out, JOB_FINALIZE, the automatic nodes out. */
int vs_backup_finalize(struct vs_nl *nl, const struct vs_job *j,
		       const struct vs_job_prep *p);
/*
 * The supervisor's watch of a fleecing view: when the view node the prep
 * added is gone, the job is completed (ends). Called at every wake-up.
 */
void vs_backup_watch(struct vs_nl *nl, const struct vs_job_prep *p,
		     bool *asked);

#endif /* VS_JOB_H */
