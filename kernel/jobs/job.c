// SPDX-License-Identifier: GPL-2.0
/*
 * Block jobs: the registry, QEMU's state machine (job.c, qapi/job.json),
 * the verbs, the speed limit and the on-error policy. Each job runs its
 * type's copy in a kernel thread of its own, which pins the module until
 * the job has concluded.
 *
 * Locking: vs_jobs_mutex protects the list of jobs and comes before any
 * job's lock; job->lock protects a job's state and flags, and events are
 * sent under it so that they leave in the order of the transitions.
 */
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/log2.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "job.h"

static LIST_HEAD(vs_jobs);
static DEFINE_MUTEX(vs_jobs_mutex);
static unsigned int vs_jobs_gen;

static const struct vs_job_type *const vs_job_types[] = {
	&vs_job_stream,
	&vs_job_commit,
	&vs_job_mirror,
	&vs_job_backup,
};

/* QEMU's JobSTT: which state may follow which. */
static const u16 vs_job_next[__VSTORAGE_JOB_S_MAX] = {
	[VSTORAGE_JOB_S_CREATED] = BIT(VSTORAGE_JOB_S_RUNNING) |
		BIT(VSTORAGE_JOB_S_ABORTING) | BIT(VSTORAGE_JOB_S_NULL),
	[VSTORAGE_JOB_S_RUNNING] = BIT(VSTORAGE_JOB_S_PAUSED) |
		BIT(VSTORAGE_JOB_S_READY) | BIT(VSTORAGE_JOB_S_WAITING) |
		BIT(VSTORAGE_JOB_S_ABORTING),
	[VSTORAGE_JOB_S_PAUSED] = BIT(VSTORAGE_JOB_S_RUNNING),
	[VSTORAGE_JOB_S_READY] = BIT(VSTORAGE_JOB_S_STANDBY) |
		BIT(VSTORAGE_JOB_S_WAITING) | BIT(VSTORAGE_JOB_S_ABORTING),
	[VSTORAGE_JOB_S_STANDBY] = BIT(VSTORAGE_JOB_S_READY),
	[VSTORAGE_JOB_S_WAITING] = BIT(VSTORAGE_JOB_S_PENDING) |
		BIT(VSTORAGE_JOB_S_ABORTING),
	[VSTORAGE_JOB_S_PENDING] = BIT(VSTORAGE_JOB_S_ABORTING) |
		BIT(VSTORAGE_JOB_S_CONCLUDED),
	[VSTORAGE_JOB_S_ABORTING] = BIT(VSTORAGE_JOB_S_ABORTING) |
		BIT(VSTORAGE_JOB_S_CONCLUDED),
	[VSTORAGE_JOB_S_CONCLUDED] = BIT(VSTORAGE_JOB_S_NULL),
};

#define VS_JOB_ACTIVE_STATES (BIT(VSTORAGE_JOB_S_CREATED) |		\
	BIT(VSTORAGE_JOB_S_RUNNING) | BIT(VSTORAGE_JOB_S_PAUSED) |	\
	BIT(VSTORAGE_JOB_S_READY) | BIT(VSTORAGE_JOB_S_STANDBY))

/* on-error=ignore of a type that retries: the wait before the retry */
#define VS_JOB_RETRY_MS		100

/* QEMU's JobVerbTable, as throttle-and-jobs.md gives it. */
static const u16 vs_job_verb_states[] = {
	[VS_JOB_VERB_CANCEL] = VS_JOB_ACTIVE_STATES |
		BIT(VSTORAGE_JOB_S_WAITING) | BIT(VSTORAGE_JOB_S_PENDING),
	[VS_JOB_VERB_PAUSE] = VS_JOB_ACTIVE_STATES,
	[VS_JOB_VERB_RESUME] = VS_JOB_ACTIVE_STATES,
	[VS_JOB_VERB_SET_SPEED] = VS_JOB_ACTIVE_STATES,
	[VS_JOB_VERB_COMPLETE] = BIT(VSTORAGE_JOB_S_READY) |
		BIT(VSTORAGE_JOB_S_STANDBY),
	[VS_JOB_VERB_FINALIZE] = BIT(VSTORAGE_JOB_S_PENDING),
	[VS_JOB_VERB_DISMISS] = BIT(VSTORAGE_JOB_S_CONCLUDED),
};

/* extack wants a static string: one per verb, naming where it is allowed */
static const char *const vs_job_verb_refusal[] = {
	[VS_JOB_VERB_CANCEL] = "the job has finished (aborting or concluded): nothing to cancel",
	[VS_JOB_VERB_PAUSE] = "only a running, paused, ready or standby job can be paused",
	[VS_JOB_VERB_RESUME] = "only a running, paused, ready or standby job can be resumed",
	[VS_JOB_VERB_SET_SPEED] = "the job has finished copying: its speed cannot change",
	[VS_JOB_VERB_COMPLETE] = "only a ready (or standby) job can be completed",
	[VS_JOB_VERB_FINALIZE] = "only a pending job can be finalized",
	[VS_JOB_VERB_DISMISS] = "only a concluded job can be dismissed",
};

static void vs_job_free(struct kref *kref)
{
	struct vs_job *job = container_of(kref, struct vs_job, kref);

	kfree(job);
}

void vs_job_put(struct vs_job *job)
{
	kref_put(&job->kref, vs_job_free);
}

/* Under job->lock. */
static void vs_job_set_state(struct vs_job *job, enum vstorage_job_state s)
{
	WARN_ON_ONCE(!(vs_job_next[job->state] & BIT(s)));
	job->state = s;
	vs_nl_job_notify(job, VSTORAGE_CMD_JOB_STATUS, -1, -1);
}

struct vs_job *vs_job_get(const char *id)
{
	struct vs_job *job;

	mutex_lock(&vs_jobs_mutex);
	list_for_each_entry(job, &vs_jobs, list) {
		if (!strcmp(job->id, id)) {
			kref_get(&job->kref);
			mutex_unlock(&vs_jobs_mutex);
			return job;
		}
	}
	mutex_unlock(&vs_jobs_mutex);
	return NULL;
}

struct vs_job *vs_job_get_nth(unsigned long idx)
{
	struct vs_job *job;

	mutex_lock(&vs_jobs_mutex);
	list_for_each_entry(job, &vs_jobs, list) {
		if (!idx--) {
			kref_get(&job->kref);
			mutex_unlock(&vs_jobs_mutex);
			return job;
		}
	}
	mutex_unlock(&vs_jobs_mutex);
	return NULL;
}

unsigned int vs_jobs_generation(void)
{
	return READ_ONCE(vs_jobs_gen);
}

/* Under vs_jobs_mutex. */
static void vs_job_unlist(struct vs_job *job)
{
	list_del_init(&job->list);
	vs_jobs_gen++;
}

/* concluded -> null: the job leaves the list. Called with job->lock held. */
static void vs_job_dismiss_locked(struct vs_job *job)
{
	vs_job_set_state(job, VSTORAGE_JOB_S_NULL);
}

static void vs_job_drop(struct vs_job *job)
{
	mutex_lock(&vs_jobs_mutex);
	if (!list_empty(&job->list)) {
		vs_job_unlist(job);
		mutex_unlock(&vs_jobs_mutex);
		vs_job_put(job);	/* the list's reference */
		return;
	}
	mutex_unlock(&vs_jobs_mutex);
}

void vs_job_set_error_msg(struct vs_job *job, const char *msg)
{
	if (!job->error_msg[0])
		strscpy(job->error_msg, msg, sizeof(job->error_msg));
}

static bool vs_job_may_go_on(struct vs_job *job)
{
	return !READ_ONCE(job->user_paused) || READ_ONCE(job->cancel_requested);
}

static bool vs_job_may_finalize(struct vs_job *job)
{
	return READ_ONCE(job->finalize_requested) ||
	       READ_ONCE(job->cancel_requested);
}

static bool vs_job_parked(struct vs_job *job)
{
	return job->user_paused && !job->cancel_requested;
}

/*
 * The bytes copied since the anchor may take bytes / speed seconds; a job
 * that fell behind by more than a slice (QEMU's 100 ms) starts a new
 * anchor instead of bursting to catch up.
 */
static ktime_t vs_job_deadline(struct vs_job *job)
{
	ktime_t now = ktime_get(), due;

	if (!job->speed)
		return now;
	due = ktime_add_ns(job->rl_start,
			   mul_u64_u64_div_u64(job->rl_bytes, NSEC_PER_SEC,
					       job->speed));
	if (ktime_before(due, ktime_sub_ns(now, 100 * NSEC_PER_MSEC))) {
		job->rl_start = now;
		job->rl_bytes = 0;
		return now;
	}
	return due;
}

int vs_job_checkpoint(struct vs_job *job, u64 bytes)
{
	mutex_lock(&job->lock);
	job->rl_bytes += bytes;
	for (;;) {
		unsigned int gen;
		ktime_t due;
		s64 wait_ns;

		if (job->cancel_requested) {
			mutex_unlock(&job->lock);
			return -ECANCELED;
		}
		if (vs_job_parked(job)) {
			bool ready = job->state == VSTORAGE_JOB_S_READY;

			job->busy = false;
			vs_job_set_state(job, ready ? VSTORAGE_JOB_S_STANDBY :
						      VSTORAGE_JOB_S_PAUSED);
			mutex_unlock(&job->lock);
			wait_event(job->wait, vs_job_may_go_on(job));
			mutex_lock(&job->lock);
			vs_job_set_state(job, ready ? VSTORAGE_JOB_S_READY :
						      VSTORAGE_JOB_S_RUNNING);
			job->rl_start = ktime_get();
			job->rl_bytes = 0;
			continue;
		}
		due = vs_job_deadline(job);
		wait_ns = ktime_to_ns(ktime_sub(due, ktime_get()));
		if (wait_ns <= 0)
			break;
		/* QEMU's busy is false while a job sleeps off its speed limit */
		job->busy = false;
		gen = job->verb_gen;
		mutex_unlock(&job->lock);
		/* any verb (a new speed, pause, cancel) ends the sleep early */
		wait_event_timeout(job->wait, READ_ONCE(job->verb_gen) != gen,
				   nsecs_to_jiffies(wait_ns) + 1);
		mutex_lock(&job->lock);
	}
	job->busy = true;
	mutex_unlock(&job->lock);
	return 0;
}

u64 vs_job_step(struct vs_job *job, u64 max)
{
	u64 speed = READ_ONCE(job->speed);

	if (!speed)
		return max;
	return rounddown_pow_of_two(clamp_t(u64, speed / 10, 64 << 10, max));
}

void vs_job_progress(struct vs_job *job, u64 done_delta)
{
	mutex_lock(&job->lock);
	job->offset += done_delta;
	mutex_unlock(&job->lock);
}

void vs_job_ready(struct vs_job *job)
{
	mutex_lock(&job->lock);
	if (job->state == VSTORAGE_JOB_S_RUNNING) {
		vs_job_set_state(job, VSTORAGE_JOB_S_READY);
		vs_nl_job_notify(job, VSTORAGE_CMD_JOB_READY, -1, -1);
	}
	mutex_unlock(&job->lock);
}

bool vs_job_should_complete(struct vs_job *job)
{
	return READ_ONCE(job->complete_requested);
}

void vs_job_complete_without_pivot(struct vs_job *job)
{
	mutex_lock(&job->lock);
	/* the cancel is spent: one more cancels the job */
	job->cancel_requested = false;
	job->no_pivot = true;
	mutex_unlock(&job->lock);
}

int vs_job_io_error(struct vs_job *job, int err, int operation)
{
	enum vstorage_job_action action;
	char msg[80];

	switch (job->on_error) {
	case VSTORAGE_JOB_ON_ERROR_IGNORE:
		action = VSTORAGE_JOB_ACTION_IGNORE;
		break;
	case VSTORAGE_JOB_ON_ERROR_STOP:
		action = VSTORAGE_JOB_ACTION_STOP;
		break;
	case VSTORAGE_JOB_ON_ERROR_ENOSPC:
		action = err == -ENOSPC ? VSTORAGE_JOB_ACTION_STOP :
					  VSTORAGE_JOB_ACTION_REPORT;
		break;
	default:
		action = VSTORAGE_JOB_ACTION_REPORT;
		break;
	}

	mutex_lock(&job->lock);
	vs_nl_job_notify(job, VSTORAGE_CMD_JOB_IO_ERROR, operation, action);
	if (action == VSTORAGE_JOB_ACTION_STOP) {
		/* QEMU pauses the job as if the user had: resume retries */
		job->user_paused = true;
		mutex_unlock(&job->lock);
		return 0;
	}
	if (action == VSTORAGE_JOB_ACTION_IGNORE && job->type->ignore_retries) {
		mutex_unlock(&job->lock);
		/* not a busy loop on a device that keeps failing */
		wait_event_timeout(job->wait, READ_ONCE(job->cancel_requested) ||
				   READ_ONCE(job->user_paused),
				   msecs_to_jiffies(VS_JOB_RETRY_MS));
		return 0;
	}
	/* ignore: QEMU's stream goes on, and fails at the end */
	if (!job->error) {
		job->error = err;
		snprintf(msg, sizeof(msg), "%s error %d during the copy",
			 operation ? "write" : "read", err);
		vs_job_set_error_msg(job, msg);
	}
	mutex_unlock(&job->lock);
	return action == VSTORAGE_JOB_ACTION_IGNORE ? 1 : err;
}

int vs_job_step_end(struct vs_job *job, int ret, int operation,
		    unsigned int busy_ms)
{
	if (!ret)
		return 1;
	if (ret == -EAGAIN) {
		msleep(busy_ms);
		return 0;
	}
	/* stop: again once resumed; ignore: go on, or again (ignore_retries) */
	return vs_job_io_error(job, ret, operation);
}

/* Wait for FINALIZE or cancel in pending; returns true to finalize. */
static bool vs_job_wait_finalize(struct vs_job *job)
{
	lockdep_assert_held(&job->lock);
	while (!job->finalize_requested && !job->cancel_requested) {
		job->busy = false;
		mutex_unlock(&job->lock);
		wait_event(job->wait, vs_job_may_finalize(job));
		mutex_lock(&job->lock);
	}
	return !job->cancel_requested;
}

static void vs_job_conclude(struct vs_job *job)
{
	bool failed = job->error || job->cancelled;

	lockdep_assert_held(&job->lock);
	if (failed && job->state != VSTORAGE_JOB_S_ABORTING)
		vs_job_set_state(job, VSTORAGE_JOB_S_ABORTING);
	vs_job_set_state(job, VSTORAGE_JOB_S_CONCLUDED);
	job->busy = false;
	/* QEMU: a cancel that ended the job is "cancelled", else "completed" */
	vs_nl_job_notify(job, job->cancelled && !job->error ?
			 VSTORAGE_CMD_JOB_CANCELLED : VSTORAGE_CMD_JOB_COMPLETED,
			 -1, -1);
	if (job->auto_dismiss)
		vs_job_dismiss_locked(job);
}

static int vs_job_thread(void *data)
{
	struct vs_job *job = data;
	int ret = job->type->run(job);

	mutex_lock(&job->lock);
	if (ret == -ECANCELED) {
		job->cancelled = true;
	} else if (ret && !job->error) {
		job->error = ret;
		vs_job_set_error_msg(job, "the copy failed");
	}
	if (!job->error && !job->cancelled) {
		vs_job_set_state(job, VSTORAGE_JOB_S_WAITING);
		vs_job_set_state(job, VSTORAGE_JOB_S_PENDING);
		vs_nl_job_notify(job, VSTORAGE_CMD_JOB_PENDING, -1, -1);
		if (!vs_job_wait_finalize(job)) {
			job->cancelled = true;
		} else if (!job->error && job->type->commit) {
			job->busy = true;
			mutex_unlock(&job->lock);
			ret = job->type->commit(job);
			mutex_lock(&job->lock);
			if (ret && !job->error) {
				job->error = ret;
				vs_job_set_error_msg(job, "finalizing failed");
			}
		}
	}
	if (job->cancelled || job->error)
		vs_job_set_state(job, VSTORAGE_JOB_S_ABORTING);
	mutex_unlock(&job->lock);

	/* the devices go before "concluded": userspace removes them then */
	job->type->release(job);

	mutex_lock(&job->lock);
	vs_job_conclude(job);
	ret = job->state == VSTORAGE_JOB_S_NULL;
	mutex_unlock(&job->lock);
	if (ret)
		vs_job_drop(job);
	vs_job_put(job);		/* the thread's reference */
	module_put_and_kthread_exit(0);
}

/* Whether FILTER stands right above NODE: NODE's device is its only child. */
bool vs_job_right_above(const struct vs_node *filter, const struct vs_node *node)
{
	return filter->nr_children == 1 &&
	       filter->children[0].dev == vs_node_devt(node);
}

int vs_job_filter_above(const struct vs_job_params *params,
			bool (*is_kind)(const struct vs_node *filter),
			const char *not_kind, const char *not_above,
			struct vs_node **nodep, struct vs_node **filterp,
			struct netlink_ext_ack *extack)
{
	struct vs_node *node, *filter;
	int ret = -EINVAL;

	node = vs_node_get_by_name(params->node);
	if (!node) {
		NL_SET_ERR_MSG(extack, "no node with this name (VSTORAGE_JOB_NODE)");
		return -ENOENT;
	}
	filter = vs_node_get_by_name(params->filter);
	if (!filter || !is_kind(filter)) {
		/* a static string of the job type's */
		if (extack)
			extack->_msg = not_kind;
		if (!filter)
			ret = -ENOENT;
		goto out;
	}
	if (!vs_job_right_above(filter, node)) {
		if (extack)
			extack->_msg = not_above;
		goto out;
	}
	*nodep = node;
	*filterp = filter;
	return 0;
out:
	if (filter)
		vs_node_put(filter);
	vs_node_put(node);
	return ret;
}

static bool vs_job_uses(const struct vs_job *job, const char *name)
{
	return name && name[0] &&
	       (!strcmp(job->node, name) || !strcmp(job->base, name) ||
		!strcmp(job->filter, name) || !strcmp(job->target, name));
}

/* Under vs_jobs_mutex. */
static int vs_job_check_new(const char *id, const struct vs_job_params *p,
			    struct netlink_ext_ack *extack)
{
	struct vs_job *other;

	list_for_each_entry(other, &vs_jobs, list) {
		if (!strcmp(other->id, id)) {
			NL_SET_ERR_MSG(extack, "a job with this id exists");
			return -EEXIST;
		}
		if (other->state >= VSTORAGE_JOB_S_CONCLUDED)
			continue;
		if (vs_job_uses(other, p->node) || vs_job_uses(other, p->base) ||
		    vs_job_uses(other, p->filter) ||
		    vs_job_uses(other, p->target)) {
			NL_SET_ERR_MSG(extack,
				       "a node of this job is in use by another job");
			return -EBUSY;
		}
	}
	return 0;
}

int vs_job_new(const char *id, const char *type,
	       const struct vs_job_params *params, u64 speed,
	       enum vstorage_job_on_error on_error, bool auto_finalize,
	       bool auto_dismiss, struct vs_job **jobp,
	       struct netlink_ext_ack *extack)
{
	const struct vs_job_type *t = NULL;
	struct task_struct *thread;
	struct vs_job *job;
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(vs_job_types); i++)
		if (!strcmp(vs_job_types[i]->name, type))
			t = vs_job_types[i];
	if (!t) {
		NL_SET_ERR_MSG(extack, "unknown job type (stream, commit, mirror, backup)");
		return -EINVAL;
	}
	/* QEMU: without a job-id, the job is named after its node */
	if (!id)
		id = params->node;

	job = kzalloc(sizeof(*job), GFP_KERNEL);
	if (!job)
		return -ENOMEM;
	kref_init(&job->kref);		/* the list's */
	INIT_LIST_HEAD(&job->list);
	mutex_init(&job->lock);
	init_waitqueue_head(&job->wait);
	strscpy(job->id, id, sizeof(job->id));
	strscpy(job->node, params->node, sizeof(job->node));
	if (params->base)
		strscpy(job->base, params->base, sizeof(job->base));
	if (params->filter)
		strscpy(job->filter, params->filter, sizeof(job->filter));
	if (params->target)
		strscpy(job->target, params->target, sizeof(job->target));
	if (params->bitmap)
		strscpy(job->bitmap, params->bitmap, sizeof(job->bitmap));
	job->sync = params->sync;
	job->copy_mode = params->copy_mode;
	job->granularity = params->granularity;	/* create() may set it */
	job->type = t;
	job->speed = speed;
	job->on_error = on_error;
	job->auto_finalize = auto_finalize;
	job->auto_dismiss = auto_dismiss;
	job->state = VSTORAGE_JOB_S_UNDEFINED;

	mutex_lock(&vs_jobs_mutex);
	ret = vs_job_check_new(job->id, params, extack);
	if (ret)
		goto out_unlock;
	ret = t->create(job, params, extack);
	if (ret)
		goto out_unlock;

	thread = kthread_create(vs_job_thread, job, "vs-job/%s", job->id);
	if (IS_ERR(thread)) {
		ret = PTR_ERR(thread);
		NL_SET_ERR_MSG(extack, "cannot start the job's thread");
		t->release(job);
		goto out_unlock;
	}
	job->thread = thread;
	/* the thread pins the module and the job until it has concluded */
	__module_get(THIS_MODULE);
	kref_get(&job->kref);
	list_add_tail(&job->list, &vs_jobs);
	vs_jobs_gen++;

	mutex_lock(&job->lock);
	job->state = VSTORAGE_JOB_S_CREATED;
	vs_nl_job_notify(job, VSTORAGE_CMD_JOB_STATUS, -1, -1);
	vs_job_set_state(job, VSTORAGE_JOB_S_RUNNING);
	job->busy = true;
	job->rl_start = ktime_get();
	kref_get(&job->kref);		/* the caller's */
	*jobp = job;
	mutex_unlock(&job->lock);
	mutex_unlock(&vs_jobs_mutex);
	wake_up_process(thread);
	return 0;

out_unlock:
	mutex_unlock(&vs_jobs_mutex);
	kfree(job);
	return ret;
}

int vs_job_verb(struct vs_job *job, enum vs_job_verb verb, u64 speed,
		const char *error, struct netlink_ext_ack *extack)
{
	bool drop = false;
	int ret = 0;

	mutex_lock(&job->lock);
	if (!(vs_job_verb_states[verb] & BIT(job->state))) {
		/* NL_SET_ERR_MSG wants a literal; these are static too */
		if (extack)
			extack->_msg = vs_job_verb_refusal[verb];
		ret = -EBUSY;
		goto out;
	}
	switch (verb) {
	case VS_JOB_VERB_CANCEL:
		job->cancel_requested = true;
		break;
	case VS_JOB_VERB_PAUSE:
		if (job->user_paused) {
			NL_SET_ERR_MSG(extack, "the job is already paused");
			ret = -EBUSY;
			goto out;
		}
		job->user_paused = true;
		break;
	case VS_JOB_VERB_RESUME:
		if (!job->user_paused) {
			NL_SET_ERR_MSG(extack, "the job is not paused");
			ret = -EBUSY;
			goto out;
		}
		job->user_paused = false;
		break;
	case VS_JOB_VERB_SET_SPEED:
		job->speed = speed;
		job->rl_start = ktime_get();
		job->rl_bytes = 0;
		break;
	case VS_JOB_VERB_COMPLETE:
		if (!job->can_complete) {
			NL_SET_ERR_MSG(extack, "this job completes by itself");
			ret = -EINVAL;
			goto out;
		}
		if (job->complete_requested) {
			NL_SET_ERR_MSG(extack, "the job is already completing");
			ret = -EBUSY;
			goto out;
		}
		job->complete_requested = true;
		break;
	case VS_JOB_VERB_FINALIZE:
		if (job->finalize_requested) {
			NL_SET_ERR_MSG(extack, "the job is already finalizing");
			ret = -EBUSY;
			goto out;
		}
		if (error) {
			job->error = -EIO;
			vs_job_set_error_msg(job, error);
		}
		job->finalize_requested = true;
		break;
	case VS_JOB_VERB_DISMISS:
		vs_job_dismiss_locked(job);
		drop = true;
		break;
	}
	job->verb_gen++;
	wake_up_all(&job->wait);
out:
	mutex_unlock(&job->lock);
	if (drop)
		vs_job_drop(job);
	return ret;
}

/*
 * Module exit: the threads pinned the module, so every job left has
 * concluded and waits for dismiss.
 */
void vs_jobs_exit(void)
{
	struct vs_job *job, *tmp;

	mutex_lock(&vs_jobs_mutex);
	list_for_each_entry_safe(job, tmp, &vs_jobs, list) {
		vs_job_unlist(job);
		vs_job_put(job);
	}
	mutex_unlock(&vs_jobs_mutex);
}
