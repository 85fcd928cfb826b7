// SPDX-License-Identifier: GPL-2.0
/*
 * Throttle groups: QEMU's throttle-group objects (block/throttle-groups.c)
 * as objects of the core. A group holds one set of limits and one state of
 * QEMU's leaky buckets (filters/bucket.c); the throttle nodes that are its
 * members share them, so several disks together stay within the limits.
 *
 * Scheduling, per direction (reads and writes are independent, as in
 * QEMU):
 *
 *  1. A bio of member M goes through at once when no bio of the direction
 *     waits anywhere in the group and the buckets allow it; it is counted
 *     into the buckets and remapped by the target (no lock beyond the
 *     group's spinlock, nothing allocated). A group without limits in the
 *     direction does not even take the lock.
 *  2. Otherwise it joins M's FIFO. Whenever bios wait, exactly one hrtimer
 *     or dispatch work of the direction is pending ("armed"), so nothing
 *     waits forever and nothing waits twice.
 *  3. The timer only queues the dispatch work: bios are submitted from
 *     process context, never from the timer's softirq, and the submitter's
 *     CPU is never held while a bio waits.
 *  4. The dispatch work lets through, while the buckets allow, the head of
 *     the FIFO of the member whose turn it is (the "token") and passes the
 *     turn round-robin to the next member with waiting bios: QEMU's
 *     fairness between the members of a group. When the buckets say wait,
 *     it arms the timer for exactly that long.
 *
 * New limits reset the buckets (as QEMU's throttle_config does) and run
 * the dispatch work at once, so they apply to the bios already waiting. A
 * member that is being suspended is bypassed: its waiting bios go down at
 * once, so a suspend or a graph change never waits on a limit
 * (vs_tgroup_member_bypass).
 *
 * Lock order: vs_tgroups_lock (registry, control path), then a group's
 * spinlock (taken with interrupts off: bios are mapped in any context).
 */
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/slab.h>

#include "vstorage.h"
#include "filters/bucket.h"

static LIST_HEAD(vs_tgroups);
static DEFINE_MUTEX(vs_tgroups_lock);
static unsigned int vs_tgroups_gen;

struct vs_tgroup_dir {
	struct vs_tgroup *group;
	bool write;
	/* read without the lock by the fast path */
	bool enabled;
	bool armed;		/* the timer or the work is pending */
	struct vs_tgroup_member *token;
	struct hrtimer timer;
	struct work_struct work;
};

/* What the group let through, per CPU: the unthrottled path counts too. */
struct vs_tgroup_pcpu {
	u64 bytes[2], ops[2];
};

struct vs_tgroup {
	struct list_head list;		/* vs_tgroups */
	struct kref kref;
	char name[VSTORAGE_NODE_NAME_MAX + 1];

	spinlock_t lock;		/* protects everything below */
	struct vs_thr_limits limits;
	struct vs_thr_state state;
	struct vs_tgroup_dir dir[2];
	struct list_head members;
	unsigned int nr_members;
	u32 queued;			/* bios waiting now */
	u64 throttled_ops;		/* bios that had to wait */
	u64 throttled_ns;		/* sum of their waits */
	u64 queued_since_ns;		/* when queued last changed */

	struct vs_tgroup_pcpu __percpu *stats;
	/* how bios that waited go down: dm's, or a KUnit suite's recorder */
	void (*submit)(struct bio *bio);
};

struct vs_tgroup_member {
	struct list_head list;		/* group->members */
	struct vs_tgroup *group;
	const char *name;		/* the node's, for listings */
	struct bio_list queue[2];
	unsigned int pending[2];
	bool bypass;
};

static u64 vs_tgroup_now(void)
{
	return ktime_get_ns();
}

/* Add the time the waiting bios waited since the last change. */
static void vs_tgroup_tally(struct vs_tgroup *g, u64 now)
{
	g->throttled_ns += (u64)g->queued * (now - g->queued_since_ns);
	g->queued_since_ns = now;
}

static void vs_tgroup_count(struct vs_tgroup *g, bool write, u64 bytes)
{
	struct vs_tgroup_pcpu __percpu *s = g->stats;

	this_cpu_add(s->bytes[write], bytes);
	this_cpu_inc(s->ops[write]);
}

/* A data-less flush costs nothing: QEMU throttles reads and writes only. */
static bool vs_tgroup_bio_counts(struct bio *bio)
{
	return bio->bi_iter.bi_size &&
	       (bio_op(bio) == REQ_OP_READ || op_is_write(bio_op(bio)));
}

/*
 * QEMU's throttle filter counts discard and write-zeroes as writes of
 * their length (block/throttle.c); so do we.
 */
static bool vs_tgroup_bio_is_write(struct bio *bio)
{
	return op_is_write(bio_op(bio));
}

/* The next member after M, round-robin, with bios of DIR waiting; or NULL. */
static struct vs_tgroup_member *
vs_tgroup_next_waiting(struct vs_tgroup *g, struct vs_tgroup_member *m,
		       bool write)
{
	struct vs_tgroup_member *next = m;

	if (!m) {
		m = list_first_entry_or_null(&g->members,
					     struct vs_tgroup_member, list);
		if (!m)
			return NULL;
		next = m;
	}
	do {
		next = list_is_last(&next->list, &g->members) ?
		       list_first_entry(&g->members, struct vs_tgroup_member,
					list) :
		       list_next_entry(next, list);
		if (next->pending[write])
			return next;
	} while (next != m);
	return NULL;
}

static void vs_tgroup_arm(struct vs_tgroup_dir *d, u64 wait_ns)
{
	WRITE_ONCE(d->armed, true);
	hrtimer_start(&d->timer, ns_to_ktime(wait_ns), HRTIMER_MODE_REL);
}

static void vs_tgroup_dequeue(struct vs_tgroup *g, struct vs_tgroup_member *m,
			      bool write, struct bio_list *out, u64 now)
{
	struct bio *bio = bio_list_pop(&m->queue[write]);

	vs_tgroup_tally(g, now);
	m->pending[write]--;
	g->queued--;
	vs_thr_account(&g->limits, &g->state, write, bio->bi_iter.bi_size);
	vs_tgroup_count(g, write, bio->bi_iter.bi_size);
	bio_list_add(out, bio);
}

static void vs_tgroup_dm_submit(struct bio *bio)
{
	dm_submit_bio_remap(bio, NULL);
}

static void vs_tgroup_submit_list(struct vs_tgroup *g, struct bio_list *bios)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios)))
		g->submit(bio);
}

/*
 * Let waiting bios of one direction through while the buckets allow, in
 * round-robin order; arm the timer when they say wait.
 */
static void vs_tgroup_dispatch(struct work_struct *work)
{
	struct vs_tgroup_dir *d = container_of(work, struct vs_tgroup_dir,
					       work);
	struct vs_tgroup *g = d->group;
	struct bio_list out = BIO_EMPTY_LIST;
	struct vs_tgroup_member *m;
	unsigned long flags;
	u64 now, wait;

	spin_lock_irqsave(&g->lock, flags);
	WRITE_ONCE(d->armed, false);
	m = d->token;
	if (!m || !m->pending[d->write])
		m = vs_tgroup_next_waiting(g, m, d->write);
	while (m) {
		now = vs_tgroup_now();
		vs_thr_leak(&g->limits, &g->state, now);
		wait = d->enabled ? vs_thr_wait_ns(&g->limits, &g->state,
						   d->write) : 0;
		if (wait) {
			d->token = m;
			vs_tgroup_arm(d, wait);
			break;
		}
		vs_tgroup_dequeue(g, m, d->write, &out, now);
		m = vs_tgroup_next_waiting(g, m, d->write);
		d->token = m;
	}
	spin_unlock_irqrestore(&g->lock, flags);
	vs_tgroup_submit_list(g, &out);
}

static enum hrtimer_restart vs_tgroup_timer(struct hrtimer *timer)
{
	struct vs_tgroup_dir *d = container_of(timer, struct vs_tgroup_dir,
					       timer);

	queue_work(system_unbound_wq, &d->work);
	return HRTIMER_NORESTART;
}

/* With the lock held: make the dispatch work run now. */
static void vs_tgroup_kick(struct vs_tgroup_dir *d)
{
	hrtimer_try_to_cancel(&d->timer);
	WRITE_ONCE(d->armed, true);
	queue_work(system_unbound_wq, &d->work);
}

bool vs_tgroup_throttle(struct vs_tgroup_member *m, struct bio *bio)
{
	struct vs_tgroup *g = m->group;
	bool write = vs_tgroup_bio_is_write(bio);
	struct vs_tgroup_dir *d = &g->dir[write];
	unsigned long flags;
	u64 now, wait;

	if (!vs_tgroup_bio_counts(bio))
		return true;
	if (!READ_ONCE(d->enabled) && !READ_ONCE(d->armed)) {
		vs_tgroup_count(g, write, bio->bi_iter.bi_size);
		return true;
	}

	spin_lock_irqsave(&g->lock, flags);
	if (m->bypass)
		goto go;
	now = vs_tgroup_now();
	if (!d->armed && !m->pending[write]) {
		if (!d->enabled)
			goto go;
		vs_thr_leak(&g->limits, &g->state, now);
		wait = vs_thr_wait_ns(&g->limits, &g->state, write);
		if (!wait) {
			vs_thr_account(&g->limits, &g->state, write,
				       bio->bi_iter.bi_size);
			goto go;
		}
		d->token = m;
		vs_tgroup_arm(d, wait);
	}
	vs_tgroup_tally(g, now);
	bio_list_add(&m->queue[write], bio);
	m->pending[write]++;
	g->queued++;
	g->throttled_ops++;
	spin_unlock_irqrestore(&g->lock, flags);
	return false;
go:
	spin_unlock_irqrestore(&g->lock, flags);
	vs_tgroup_count(g, write, bio->bi_iter.bi_size);
	return true;
}
EXPORT_SYMBOL_GPL(vs_tgroup_throttle);

/*
 * With the lock held: take every waiting bio of M out (they go down
 * without a limit) and pass the turn on.
 */
static void vs_tgroup_member_drain(struct vs_tgroup_member *m,
				   struct bio_list *out)
{
	struct vs_tgroup *g = m->group;
	u64 now = vs_tgroup_now();
	int w;

	for (w = 0; w < 2; w++) {
		while (m->pending[w]) {
			struct bio *bio = bio_list_pop(&m->queue[w]);

			vs_tgroup_tally(g, now);
			m->pending[w]--;
			g->queued--;
			vs_tgroup_count(g, w, bio->bi_iter.bi_size);
			bio_list_add(out, bio);
		}
		if (g->dir[w].token == m)
			g->dir[w].token = vs_tgroup_next_waiting(g, m, w);
	}
}

void vs_tgroup_member_bypass(struct vs_tgroup_member *m, bool bypass)
{
	struct vs_tgroup *g = m->group;
	struct bio_list out = BIO_EMPTY_LIST;
	unsigned long flags;

	spin_lock_irqsave(&g->lock, flags);
	m->bypass = bypass;
	if (bypass)
		vs_tgroup_member_drain(m, &out);
	spin_unlock_irqrestore(&g->lock, flags);
	vs_tgroup_submit_list(g, &out);
}
EXPORT_SYMBOL_GPL(vs_tgroup_member_bypass);

static void vs_tgroup_set_enabled(struct vs_tgroup *g)
{
	int w;

	for (w = 0; w < 2; w++)
		WRITE_ONCE(g->dir[w].enabled,
			   vs_thr_limits_dir_enabled(&g->limits, w));
}

static void vs_tgroup_free(struct kref *kref)
{
	struct vs_tgroup *g = container_of(kref, struct vs_tgroup, kref);
	int w;

	for (w = 0; w < 2; w++) {
		hrtimer_cancel(&g->dir[w].timer);
		cancel_work_sync(&g->dir[w].work);
	}
	free_percpu(g->stats);
	kfree(g);
}

static struct vs_tgroup *vs_tgroup_find(const char *name)
{
	struct vs_tgroup *g;

	lockdep_assert_held(&vs_tgroups_lock);
	list_for_each_entry(g, &vs_tgroups, list)
		if (!strcmp(g->name, name))
			return g;
	return NULL;
}

int vs_tgroup_create(const char *name, const struct vs_thr_limits *limits,
		     const char **error)
{
	struct vs_tgroup *g;
	int w, ret;

	ret = vs_thr_limits_check(limits, error);
	if (ret)
		return ret;
	g = kzalloc(sizeof(*g), GFP_KERNEL);
	if (!g)
		return -ENOMEM;
	g->stats = alloc_percpu(struct vs_tgroup_pcpu);
	if (!g->stats) {
		kfree(g);
		return -ENOMEM;
	}
	kref_init(&g->kref);
	strscpy(g->name, name, sizeof(g->name));
	spin_lock_init(&g->lock);
	INIT_LIST_HEAD(&g->members);
	g->limits = *limits;
	g->submit = vs_tgroup_dm_submit;
	g->queued_since_ns = vs_tgroup_now();
	vs_thr_state_reset(&g->state, g->queued_since_ns);
	for (w = 0; w < 2; w++) {
		struct vs_tgroup_dir *d = &g->dir[w];

		d->group = g;
		d->write = w;
		hrtimer_init(&d->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
		d->timer.function = vs_tgroup_timer;
		INIT_WORK(&d->work, vs_tgroup_dispatch);
	}
	vs_tgroup_set_enabled(g);

	mutex_lock(&vs_tgroups_lock);
	if (vs_tgroup_find(name)) {
		mutex_unlock(&vs_tgroups_lock);
		*error = "a throttle group of that name exists already";
		kref_put(&g->kref, vs_tgroup_free);
		return -EEXIST;
	}
	list_add_tail(&g->list, &vs_tgroups);
	vs_tgroups_gen++;
	mutex_unlock(&vs_tgroups_lock);
	return 0;
}
EXPORT_SYMBOL_GPL(vs_tgroup_create);

int vs_tgroup_set_limits(const char *name, const struct vs_thr_limits *new,
			 const bool *given, const char **error)
{
	struct vs_thr_limits limits;
	struct vs_tgroup *g;
	unsigned long flags;
	unsigned int i;
	int w, ret;

	mutex_lock(&vs_tgroups_lock);
	g = vs_tgroup_find(name);
	if (!g) {
		*error = "no such throttle group";
		ret = -ENOENT;
		goto out;
	}
	/* only the control path writes limits, under vs_tgroups_lock */
	limits = g->limits;
	for (i = 0; i < VS_THR_NR_LIMITS; i++)
		if (given[i])
			vs_thr_limit_set(&limits, i, vs_thr_limit_get(new, i));
	ret = vs_thr_limits_check(&limits, error);
	if (ret)
		goto out;

	spin_lock_irqsave(&g->lock, flags);
	g->limits = limits;
	vs_thr_state_reset(&g->state, vs_tgroup_now());
	vs_tgroup_set_enabled(g);
	for (w = 0; w < 2; w++)
		if (g->dir[w].armed)
			vs_tgroup_kick(&g->dir[w]);
	spin_unlock_irqrestore(&g->lock, flags);
	vs_tgroups_gen++;
out:
	mutex_unlock(&vs_tgroups_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(vs_tgroup_set_limits);

int vs_tgroup_delete(const char *name, const char **error)
{
	struct vs_tgroup *g;
	int ret = 0;

	mutex_lock(&vs_tgroups_lock);
	g = vs_tgroup_find(name);
	if (!g) {
		*error = "no such throttle group";
		ret = -ENOENT;
	} else if (g->nr_members) {
		*error = "the throttle group is in use by throttle nodes";
		ret = -EBUSY;
	} else {
		list_del(&g->list);
		vs_tgroups_gen++;
	}
	mutex_unlock(&vs_tgroups_lock);
	if (!ret)
		kref_put(&g->kref, vs_tgroup_free);
	return ret;
}
EXPORT_SYMBOL_GPL(vs_tgroup_delete);

struct vs_tgroup_member *vs_tgroup_join(const char *group, const char *node,
					char **error)
{
	struct vs_tgroup_member *m;
	struct vs_tgroup *g;
	unsigned long flags;

	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m) {
		*error = "cannot allocate the throttle group member";
		return ERR_PTR(-ENOMEM);
	}
	mutex_lock(&vs_tgroups_lock);
	g = vs_tgroup_find(group);
	if (!g) {
		mutex_unlock(&vs_tgroups_lock);
		kfree(m);
		*error = "no such throttle group (create it first: vstoragectl throttle-group add)";
		return ERR_PTR(-ENOENT);
	}
	kref_get(&g->kref);
	m->group = g;
	m->name = node;
	bio_list_init(&m->queue[0]);
	bio_list_init(&m->queue[1]);
	spin_lock_irqsave(&g->lock, flags);
	list_add_tail(&m->list, &g->members);
	g->nr_members++;
	spin_unlock_irqrestore(&g->lock, flags);
	vs_tgroups_gen++;
	mutex_unlock(&vs_tgroups_lock);
	return m;
}
EXPORT_SYMBOL_GPL(vs_tgroup_join);

void vs_tgroup_leave(struct vs_tgroup_member *m)
{
	struct vs_tgroup *g = m->group;
	struct bio_list out = BIO_EMPTY_LIST;
	unsigned long flags;

	mutex_lock(&vs_tgroups_lock);
	spin_lock_irqsave(&g->lock, flags);
	/* a table that never saw a suspend may still hold waiting bios */
	vs_tgroup_member_drain(m, &out);
	list_del(&m->list);
	g->nr_members--;
	spin_unlock_irqrestore(&g->lock, flags);
	vs_tgroups_gen++;
	mutex_unlock(&vs_tgroups_lock);
	vs_tgroup_submit_list(g, &out);
	kref_put(&g->kref, vs_tgroup_free);
	kfree(m);
}
EXPORT_SYMBOL_GPL(vs_tgroup_leave);

const char *vs_tgroup_name(const struct vs_tgroup_member *m)
{
	return m->group->name;
}
EXPORT_SYMBOL_GPL(vs_tgroup_name);

/* Everything netlink reports of a group, copied under its locks. */
int vs_tgroup_snapshot(const char *name, unsigned long idx,
		       struct vs_tgroup_info *info)
{
	struct vs_tgroup_member *m;
	struct vs_tgroup *g;
	unsigned long flags;
	int cpu, ret = -ENOENT;

	memset(info, 0, sizeof(*info));
	mutex_lock(&vs_tgroups_lock);
	list_for_each_entry(g, &vs_tgroups, list) {
		if (name ? !strcmp(g->name, name) : !idx--) {
			ret = 0;
			break;
		}
	}
	if (ret)
		goto out;

	strscpy(info->name, g->name, sizeof(info->name));
	spin_lock_irqsave(&g->lock, flags);
	info->limits = g->limits;
	vs_tgroup_tally(g, vs_tgroup_now());
	info->queued = g->queued;
	info->throttled_ops = g->throttled_ops;
	info->throttled_ns = g->throttled_ns;
	spin_unlock_irqrestore(&g->lock, flags);
	/* members change only under vs_tgroups_lock */
	list_for_each_entry(m, &g->members, list) {
		unsigned int i;

		/* a reload's two instances are one member */
		for (i = 0; i < info->nr_members; i++)
			if (!strcmp(info->members[i], m->name))
				break;
		if (i == info->nr_members && i < VS_TGROUP_MAX_LISTED)
			strscpy(info->members[info->nr_members++], m->name,
				sizeof(info->members[0]));
	}
	for_each_possible_cpu(cpu) {
		struct vs_tgroup_pcpu *s = per_cpu_ptr(g->stats, cpu);
		int w;

		for (w = 0; w < 2; w++) {
			info->bytes[w] += s->bytes[w];
			info->ops[w] += s->ops[w];
		}
	}
out:
	info->generation = vs_tgroups_gen;
	mutex_unlock(&vs_tgroups_lock);
	return ret;
}
EXPORT_SYMBOL_GPL(vs_tgroup_snapshot);

#if IS_ENABLED(CONFIG_KUNIT)
/* The KUnit suite records the order in which waiting bios go down. */
int vs_tgroup_set_submit(const char *name, void (*submit)(struct bio *bio))
{
	struct vs_tgroup *g;

	mutex_lock(&vs_tgroups_lock);
	g = vs_tgroup_find(name);
	if (g)
		g->submit = submit;
	mutex_unlock(&vs_tgroups_lock);
	return g ? 0 : -ENOENT;
}
EXPORT_SYMBOL_GPL(vs_tgroup_set_submit);
#endif

/* Module exit: no target module is loaded, so no group has members. */
void vs_tgroups_exit(void)
{
	struct vs_tgroup *g, *tmp;

	list_for_each_entry_safe(g, tmp, &vs_tgroups, list) {
		list_del(&g->list);
		WARN_ON(g->nr_members);
		kref_put(&g->kref, vs_tgroup_free);
	}
}
