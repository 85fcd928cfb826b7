/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Block jobs (Documentation/jobs.rst): long-running copies on live nodes
 * with QEMU's job state machine. job.c keeps the jobs, their states and
 * verbs, the speed limit and the on-error policy; a job type (stream.c,
 * commit.c) supplies the copy that runs in the job's own kernel thread.
 *
 * Device-mapper tables are loaded from userspace only (dm_swap_table() is
 * not exported), so the graph changes around a job are vstoragectl's: it
 * prepares the graph, creates the job, and at pending makes the changes
 * and sends FINALIZE. Jobs never keep a vs_node across steps (a node's
 * destructor waits for its references inside a reload): they hold block
 * devices and look nodes up by name or dev_t when they need them.
 */
#ifndef _VSTORAGE_JOB_H
#define _VSTORAGE_JOB_H

#include <linux/blkdev.h>
#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/wait.h>

#include "vstorage.h"

struct vs_job;
struct netlink_ext_ack;
struct nlattr;

/* What JOB_NEW asked for, checked by the type's create(). */
struct vs_job_params {
	const char *node, *base, *filter;	/* base, filter: may be NULL */
	const char *target;			/* mirror, backup; may be NULL */
	const char *bitmap;			/* backup; may be NULL */
	bool sync_given;
	enum vstorage_job_sync sync;
	u32 granularity;			/* 0: the type's default */
	enum vstorage_job_copy_mode copy_mode;
	enum vstorage_job_bitmap_mode bitmap_mode;
};

struct vs_job_type {
	const char *name;
	/* Check PARAMS against the graph and take what the job needs. */
	int (*create)(struct vs_job *job, const struct vs_job_params *params,
		      struct netlink_ext_ack *extack);
	/*
	 * The copy, in the job's thread: returns 0 when done (for a job that
	 * gets ready: after complete), -ECANCELED when vs_job_checkpoint()
	 * said so, or the error that failed the job.
	 */
	int (*run)(struct vs_job *job);
	/* FINALIZE's kernel part, in the job's thread (active commit: pivot). */
	int (*commit)(struct vs_job *job);
	/* Give back what create() took. */
	void (*release)(struct vs_job *job);
	/*
	 * on-error=ignore retries the failed step instead of skipping it,
	 * and the job does not fail for it: QEMU's backup (a chunk it did
	 * not copy would leave a hole in the point-in-time copy), commit
	 * (commit_run() goes on at the same offset) and mirror (the range
	 * is dirtied again). Only stream skips and fails at its end.
	 */
	bool ignore_retries;
};

extern const struct vs_job_type vs_job_stream;
extern const struct vs_job_type vs_job_commit;
extern const struct vs_job_type vs_job_mirror;
extern const struct vs_job_type vs_job_backup;

struct vs_job {
	struct kref kref;
	struct list_head list;		/* vs_jobs, under vs_jobs_mutex */
	char id[VSTORAGE_JOB_ID_MAX + 1];
	const struct vs_job_type *type;
	char node[VSTORAGE_NODE_NAME_MAX + 1];
	char base[VSTORAGE_NODE_NAME_MAX + 1];	/* "" when none */
	char filter[VSTORAGE_NODE_NAME_MAX + 1];	/* "" when none */
	char target[VSTORAGE_NODE_NAME_MAX + 1];	/* "" when none */
	char bitmap[VSTORAGE_NODE_NAME_MAX + 1];	/* "" when none */
	/* mirror and backup: reported only when there is a target */
	enum vstorage_job_sync sync;
	enum vstorage_job_copy_mode copy_mode;
	u32 granularity;
	void *private;			/* the type's */
	struct task_struct *thread;

	/* Protects what follows; events are sent under it, so in order. */
	struct mutex lock;
	wait_queue_head_t wait;		/* the thread waits for verbs here */
	unsigned int verb_gen;		/* bumped by every verb */
	enum vstorage_job_state state;
	enum vstorage_job_on_error on_error;
	bool auto_finalize, auto_dismiss;
	bool user_paused;		/* pause verb; resume clears it */
	bool cancel_requested;
	bool complete_requested;
	bool finalize_requested;
	bool busy;			/* not parked at a checkpoint */
	bool active;			/* commit of the active layer */
	bool pivoted;
	bool no_pivot;			/* completes without it (soft cancel) */
	bool cancelled;			/* concluded by cancel */
	bool can_complete;		/* the type gets ready and completes */
	int error;			/* first error; 0 while none */
	char error_msg[VSTORAGE_JOB_ERROR_MAX + 1];
	u64 offset, len, speed;

	/* Speed limit: the time the bytes copied since `rl_start` may take. */
	ktime_t rl_start;
	u64 rl_bytes;
};

/*
 * For the type's run(): a place where the job may pause, stop or be
 * cancelled, and where the speed limit sleeps off BYTES just copied.
 * Returns 0 to go on or -ECANCELED.
 */
int vs_job_checkpoint(struct vs_job *job, u64 bytes);
/*
 * The bytes one step should copy, a power of two of at most MAX (one):
 * under a speed limit a tenth of a second's worth, so the rate stays
 * even, and at least 64 KiB.
 */
u64 vs_job_step(struct vs_job *job, u64 max);
/* Progress as QEMU reports it. */
void vs_job_progress(struct vs_job *job, u64 done_delta);
/* The copy converged (mirror-like jobs): running -> ready, once. */
void vs_job_ready(struct vs_job *job);
bool vs_job_should_complete(struct vs_job *job);
/*
 * A cancel of a ready job that tracks a mirror filter is QEMU's "complete
 * without pivot": the type calls this, makes the target a consistent copy
 * and returns 0 from run(). The job then goes pending and concludes as
 * completed, with no_pivot set for vstoragectl; its commit() leaves the
 * disk where it is. A second cancel, even during that copy, cancels it.
 */
void vs_job_complete_without_pivot(struct vs_job *job);
/*
 * An I/O error ERR (OPERATION: 0 read, 1 write) at a step: applies
 * on-error. Returns 0 to retry the step (stop, then resume; ignore of a
 * type that retries, after a short wait), 1 to skip it and go on (ignore;
 * the job fails at its end), or ERR to fail now.
 */
int vs_job_io_error(struct vs_job *job, int err, int operation);
/*
 * A step's copy returned RET (OPERATION as above): 1 to go on to the next
 * step, 0 to do it again (-EAGAIN, the range was busy: after BUSY_MS; or
 * on-error stop), or the error that fails the job.
 */
int vs_job_step_end(struct vs_job *job, int ret, int operation,
		    unsigned int busy_ms);
void vs_job_set_error_msg(struct vs_job *job, const char *msg);
/* For the type's create(). */
bool vs_job_right_above(const struct vs_node *filter,
			const struct vs_node *node);
/*
 * The node PARAMS name and the filter the job works through, which must be
 * of its kind (IS_KIND) and stand right above the node: both returned with
 * a reference, or an error and EXTACK's message, one of the static strings
 * NOT_KIND (no such filter, or of another kind) and NOT_ABOVE.
 */
int vs_job_filter_above(const struct vs_job_params *params,
			bool (*is_kind)(const struct vs_node *filter),
			const char *not_kind, const char *not_above,
			struct vs_node **nodep, struct vs_node **filterp,
			struct netlink_ext_ack *extack);

/* The netlink side (job_nl.c) and the registry (job.c). */
int vs_job_new(const char *id, const char *type,
	       const struct vs_job_params *params, u64 speed,
	       enum vstorage_job_on_error on_error, bool auto_finalize,
	       bool auto_dismiss, struct vs_job **jobp,
	       struct netlink_ext_ack *extack);
struct vs_job *vs_job_get(const char *id);
struct vs_job *vs_job_get_nth(unsigned long idx);
unsigned int vs_jobs_generation(void);
void vs_job_put(struct vs_job *job);
enum vs_job_verb {
	VS_JOB_VERB_CANCEL,
	VS_JOB_VERB_PAUSE,
	VS_JOB_VERB_RESUME,
	VS_JOB_VERB_SET_SPEED,
	VS_JOB_VERB_COMPLETE,
	VS_JOB_VERB_FINALIZE,
	VS_JOB_VERB_DISMISS,
};

int vs_job_verb(struct vs_job *job, enum vs_job_verb verb, u64 speed,
		const char *error, struct netlink_ext_ack *extack);
void vs_jobs_exit(void);

int vs_nl_job_fill(struct sk_buff *skb, struct vs_job *job, u32 portid,
		   u32 seq, int flags, u8 cmd, struct netlink_callback *cb,
		   int operation, int action);
int vs_nl_job_new_doit(struct sk_buff *skb, struct genl_info *info);
int vs_nl_job_get_doit(struct sk_buff *skb, struct genl_info *info);
int vs_nl_job_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb);
int vs_nl_job_verb_doit(struct sk_buff *skb, struct genl_info *info);
void vs_nl_job_notify(struct vs_job *job, u8 cmd, int operation, int action);

#endif /* _VSTORAGE_JOB_H */
