// SPDX-License-Identifier: GPL-2.0
/*
 * The node registry: every vstorage target instance is a node with a unique
 * QEMU-style node name. Edges of the graph are not stored as pointers: a
 * child that is a block device is resolved to a node by dev_t when somebody
 * asks, so a node can never point at a node that is gone.
 *
 * A table reload constructs the new target while the old one still serves
 * I/O. Both carry the same name; the new one is registered "pending" and
 * becomes the live node when its device resumes with the new table, and
 * the old one is "superseded" until its destructor runs. The new instance
 * may be on another mapped device (a node moving to a device under the one
 * the workload uses, or back) only while the live instance's device is
 * suspended: then the live instance has finished its I/O and, for formats
 * with metadata, committed it. Otherwise names are unique across mapped
 * devices.
 */
#include <linux/ctype.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "vstorage.h"

/* ti->error for a live name on another device that is not suspended */
#define VS_NODE_NAME_TAKEN \
	"node name already in use by another device (suspend that device to move the node)"

#define DM_MSG_PREFIX "vstorage"

static LIST_HEAD(vs_nodes);
/* Control path only: registration, lookup and dumps. Never taken for I/O. */
static DEFINE_MUTEX(vs_nodes_lock);
/* Bumped on every registry change so that dumps can flag inconsistency. */
static unsigned int vs_nodes_gen = 1;

unsigned int vs_node_generation(void)
{
	return READ_ONCE(vs_nodes_gen);
}

/* QEMU's rules for node names (VS_NODE_NAME_RULES). */
bool vs_node_name_valid(const char *name)
{
	size_t i, len = strnlen(name, VSTORAGE_NODE_NAME_MAX + 1);

	if (len == 0 || len > VSTORAGE_NODE_NAME_MAX)
		return false;
	if (!isalpha(name[0]))
		return false;
	for (i = 1; i < len; i++) {
		char c = name[i];

		if (!isalnum(c) && c != '-' && c != '_' && c != '.')
			return false;
	}
	return true;
}
EXPORT_SYMBOL_GPL(vs_node_name_valid);

static struct mapped_device *vs_node_md(const struct vs_node *node)
{
	return dm_table_get_md(node->ti->table);
}

u64 vs_node_size(const struct vs_node *node)
{
	return (u64)node->ti->len << SECTOR_SHIFT;
}
EXPORT_SYMBOL_GPL(vs_node_size);

dev_t vs_node_devt(const struct vs_node *node)
{
	return disk_devt(dm_disk(vs_node_md(node)));
}
EXPORT_SYMBOL_GPL(vs_node_devt);

int vs_node_register(struct vs_node *node, struct dm_target *ti, char **error)
{
	struct mapped_device *md = dm_table_get_md(ti->table);
	struct vs_node *other;
	int ret = 0;

	if (!vs_node_name_valid(node->name)) {
		*error = VS_NODE_NAME_RULES;
		return -EINVAL;
	}

	node->ti = ti;
	node->stats = alloc_percpu(struct vs_stats);
	if (!node->stats) {
		*error = "cannot allocate node statistics";
		return -ENOMEM;
	}
	refcount_set(&node->refs, 1);
	init_completion(&node->released);
	node->live = false;
	node->superseded = false;

	mutex_lock(&vs_nodes_lock);
	list_for_each_entry(other, &vs_nodes, list) {
		if (strcmp(other->name, node->name) || other->superseded)
			continue;
		if (!other->live) {
			*error = "a table with this node name is already loaded and not yet active";
			ret = -EBUSY;
			goto out;
		}
		if (vs_node_md(other) != md && !dm_suspended(other->ti)) {
			*error = VS_NODE_NAME_TAKEN;
			ret = -EEXIST;
			goto out;
		}
	}
	ret = vs_bitmaps_attach(node, error);
	if (ret)
		goto out;
	list_add_tail(&node->list, &vs_nodes);
	node->registered = true;
	WRITE_ONCE(vs_nodes_gen, vs_nodes_gen + 1);
out:
	mutex_unlock(&vs_nodes_lock);
	if (ret) {
		free_percpu(node->stats);
		node->stats = NULL;
	}
	return ret;
}
EXPORT_SYMBOL_GPL(vs_node_register);

/*
 * Whether another live instance of NODE's name exists: the node is being
 * constructed by a table reload (of its own device, or of another one the
 * node moves to), while the old instance may still change the image until
 * its device is suspended.
 */
bool vs_node_is_reload(struct vs_node *node)
{
	struct vs_node *other;
	bool reload = false;

	mutex_lock(&vs_nodes_lock);
	list_for_each_entry(other, &vs_nodes, list)
		if (other != node && other->live &&
		    !strcmp(other->name, node->name))
			reload = true;
	mutex_unlock(&vs_nodes_lock);
	return reload;
}
EXPORT_SYMBOL_GPL(vs_node_is_reload);

/*
 * Called from the target's preresume hook, before an instance starts
 * serving. A superseded instance (another one took over its image) must
 * not serve again: its metadata may be stale; its device needs a new
 * table. A pending one may take over only while every live instance of its
 * name is on a suspended device: the device being resumed (a reload), or
 * the one the node moves from. A check at construction is not enough: that
 * device could have been resumed since.
 */
int vs_node_may_resume(struct vs_node *node)
{
	struct vs_node *other;
	int ret = 0;

	mutex_lock(&vs_nodes_lock);
	if (node->superseded) {
		ret = -ESTALE;
		goto out;
	}
	if (node->live)
		goto out;
	list_for_each_entry(other, &vs_nodes, list) {
		if (other != node && other->live &&
		    !strcmp(other->name, node->name) &&
		    !dm_suspended(other->ti)) {
			ret = -EBUSY;
			break;
		}
	}
out:
	mutex_unlock(&vs_nodes_lock);
	if (ret == -ESTALE)
		DMERR("node %s: another device took this instance's image over: load a new table",
		      node->name);
	else if (ret)
		DMERR("node %s: the node is live on another device that is not suspended",
		      node->name);
	return ret;
}
EXPORT_SYMBOL_GPL(vs_node_may_resume);

/*
 * Called from the target's resume hook: this instance now serves the
 * device, so it answers for the name.
 */
void vs_node_activate(struct vs_node *node)
{
	struct vs_node *other;
	bool replaced = false;

	mutex_lock(&vs_nodes_lock);
	if (node->live) {
		mutex_unlock(&vs_nodes_lock);
		return;
	}
	list_for_each_entry(other, &vs_nodes, list) {
		if (other != node && other->live &&
		    !strcmp(other->name, node->name)) {
			other->live = false;
			other->superseded = true;
			replaced = true;
		}
	}
	node->live = true;
	WRITE_ONCE(vs_nodes_gen, vs_nodes_gen + 1);
	mutex_unlock(&vs_nodes_lock);

	vs_nl_notify_node(node, replaced ? VSTORAGE_CMD_NODE_CHANGE :
				VSTORAGE_CMD_NODE_NEW);
}
EXPORT_SYMBOL_GPL(vs_node_activate);

/*
 * Called from the destructor. Waits until no netlink request holds the
 * node, so drivers may free everything afterwards.
 */
void vs_node_unregister(struct vs_node *node)
{
	bool was_live;

	if (!node->registered)
		return;

	mutex_lock(&vs_nodes_lock);
	list_del(&node->list);
	was_live = node->live;
	WRITE_ONCE(vs_nodes_gen, vs_nodes_gen + 1);
	mutex_unlock(&vs_nodes_lock);

	if (was_live)
		vs_nl_notify_node(node, VSTORAGE_CMD_NODE_DEL);

	vs_node_put(node);
	wait_for_completion(&node->released);
	vs_bitmaps_detach(node);
	free_percpu(node->stats);
	node->stats = NULL;
	node->registered = false;
}
EXPORT_SYMBOL_GPL(vs_node_unregister);

void vs_node_put(struct vs_node *node)
{
	if (refcount_dec_and_test(&node->refs))
		complete(&node->released);
}
EXPORT_SYMBOL_GPL(vs_node_put);

/* A live node wins; a pending one answers only while no instance is live. */
static struct vs_node *vs_node_find(bool (*match)(struct vs_node *, const void *),
				    const void *key)
{
	struct vs_node *node, *found = NULL;

	mutex_lock(&vs_nodes_lock);
	list_for_each_entry(node, &vs_nodes, list) {
		if (!match(node, key))
			continue;
		if (!found || node->live)
			found = node;
		if (node->live)
			break;
	}
	if (found)
		refcount_inc(&found->refs);
	mutex_unlock(&vs_nodes_lock);
	return found;
}

static bool vs_match_name(struct vs_node *node, const void *key)
{
	return !strcmp(node->name, key);
}

static bool vs_match_dev(struct vs_node *node, const void *key)
{
	return vs_node_devt(node) == *(const dev_t *)key;
}

struct vs_node *vs_node_get_by_name(const char *name)
{
	return vs_node_find(vs_match_name, name);
}
EXPORT_SYMBOL_GPL(vs_node_get_by_name);

struct vs_node *vs_node_get_by_dev(dev_t dev)
{
	if (!dev)
		return NULL;
	return vs_node_find(vs_match_dev, &dev);
}
EXPORT_SYMBOL_GPL(vs_node_get_by_dev);

/*
 * Iterate over nodes for a dump: returns the idx-th node (with a reference)
 * or NULL. Dumps are short and rare; a linear walk keeps the registry a
 * plain list.
 */
struct vs_node *vs_node_get_nth(unsigned long idx)
{
	struct vs_node *node, *found = NULL;
	unsigned long i = 0;

	mutex_lock(&vs_nodes_lock);
	list_for_each_entry(node, &vs_nodes, list) {
		/* a pending instance is listed only when nothing live is */
		if (!node->live) {
			struct vs_node *other;
			bool shadowed = false;

			list_for_each_entry(other, &vs_nodes, list)
				if (other->live && !strcmp(other->name, node->name))
					shadowed = true;
			if (shadowed)
				continue;
		}
		if (i++ == idx) {
			found = node;
			refcount_inc(&found->refs);
			break;
		}
	}
	mutex_unlock(&vs_nodes_lock);
	return found;
}

void vs_node_stats_sum(struct vs_node *node, struct vs_stats *sum)
{
	int cpu;

	memset(sum, 0, sizeof(*sum));
	for_each_possible_cpu(cpu) {
		struct vs_stats *s = per_cpu_ptr(node->stats, cpu);

		sum->rd_ios += READ_ONCE(s->rd_ios);
		sum->rd_bytes += READ_ONCE(s->rd_bytes);
		sum->wr_ios += READ_ONCE(s->wr_ios);
		sum->wr_bytes += READ_ONCE(s->wr_bytes);
		sum->flush_ios += READ_ONCE(s->flush_ios);
		sum->discard_ios += READ_ONCE(s->discard_ios);
		sum->errors += READ_ONCE(s->errors);
	}
}
EXPORT_SYMBOL_GPL(vs_node_stats_sum);

void vs_node_notify_change(struct vs_node *node)
{
	if (node->live)
		vs_nl_notify_node(node, VSTORAGE_CMD_NODE_CHANGE);
}
EXPORT_SYMBOL_GPL(vs_node_notify_change);

/* Deep enough for any real chain; bounds a loop built by table reloads. */

int vs_block_status(struct vs_node *node, u64 offset, u64 length,
		    struct vs_extent *ext, u32 *depth, struct vs_node **host)
{
	struct vs_node *cur = node;
	unsigned int hops;
	int ret;

	*depth = 0;
	refcount_inc(&cur->refs);
	for (hops = 0; hops < VS_MAX_CHAIN_DEPTH; hops++) {
		struct vs_node *below;
		u64 below_size;

		memset(ext, 0, sizeof(*ext));
		ret = cur->ops->block_status(cur, offset, length, ext);
		if (ret)
			goto fail;
		if (WARN_ON_ONCE(!ext->length || ext->length > length)) {
			ret = -EIO;
			goto fail;
		}
		if (!(ext->flags & (VS_EXT_BELOW | VS_EXT_BACKING))) {
			*host = cur;
			return 0;
		}

		if (ext->flags & VS_EXT_BACKING)
			(*depth)++;
		length = ext->length;
		offset = ext->below_offset;
		below = vs_node_get_by_dev(ext->below_dev);
		if (!below) {
			/* a plain block device: every byte is data */
			ext->flags = VS_EXT_DATA | VS_EXT_ALLOCATED |
				     VS_EXT_OFFSET_VALID;
			ext->host_offset = offset;
			*host = cur;
			return 0;
		}
		vs_node_put(cur);
		cur = below;

		below_size = vs_node_size(cur);
		if (offset >= below_size) {
			/* past the end of a shorter backing node: zeroes */
			ext->flags = VS_EXT_ZERO;
			*host = cur;
			return 0;
		}
		length = min(length, below_size - offset);
	}
	ret = -ELOOP;
fail:
	vs_node_put(cur);
	return ret;
}
EXPORT_SYMBOL_GPL(vs_block_status);

/*
 * The node a format's backing child or a filter's file child leads to;
 * *backing says whether that is one level deeper.
 */
static struct vs_node *vs_node_below(struct vs_node *node, bool *backing)
{
	dev_t below = 0;
	unsigned int i;

	*backing = false;
	for (i = 0; i < node->nr_children; i++) {
		const struct vs_child *c = &node->children[i];

		if (!c->dev)
			continue;
		below = c->dev;
		if (!strcmp(c->role, "backing")) {
			*backing = true;
			break;
		}
	}
	return below ? vs_node_get_by_dev(below) : NULL;
}

int vs_chain_depth(struct vs_node *top, const char *base, u32 *depth)
{
	struct vs_node *cur = top, *next;
	unsigned int hops;

	*depth = 0;
	refcount_inc(&cur->refs);
	for (hops = 0; cur && hops < 2 * VS_MAX_CHAIN_DEPTH; hops++) {
		bool backing;

		if (!strcmp(cur->name, base)) {
			vs_node_put(cur);
			return 0;
		}
		next = vs_node_below(cur, &backing);
		vs_node_put(cur);
		cur = next;
		*depth += backing;
	}
	if (cur)
		vs_node_put(cur);
	return -ENOENT;
}
EXPORT_SYMBOL_GPL(vs_chain_depth);
