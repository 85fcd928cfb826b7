// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty bitmaps (Documentation/bitmaps.rst): QEMU's block dirty bitmaps for
 * vstorage nodes.
 *
 * The bitmaps of a node belong to its name, not to a target instance: a
 * table reload constructs the new instance while the old one still serves,
 * and a node move builds it on another device; both instances mark the same
 * bitmaps, and the bitmaps go only when the last instance of the name does
 * (node del). A format that stores bitmaps (qcow2) writes its persistent
 * ones back before that and loads them again at the next open.
 *
 * Locking: vs_bm_lock (a mutex) guards the registry of names; each name's
 * mutex guards changes to its bitmaps, which never happen on the I/O path.
 * Marking, at a write's completion, walks the name's list under RCU and
 * uses set_bit(): every replacement of a bit array (clear, a resize, a job's
 * successor) publishes the new array, waits for an RCU grace period and
 * only then frees or folds in the old one, so no mark is lost.
 */
#include <linux/bitmap.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rculist.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "vstorage.h"

/* QEMU's limit of bitmaps in a qcow2 image; applied to every node. */
#define VS_BITMAPS_MAX		65535U
/* 256 MiB of bits per bitmap (kvmalloc's limit is 2 GiB) */
#define VS_BITMAP_MAX_BITS	(1ULL << 31)

struct vs_bits {
	u64 nr;
	unsigned long map[];
};

struct vs_bitmap {
	struct list_head list;		/* bn->bitmaps: RCU readers, bn->lock */
	char *name;
	u32 granularity;
	u32 shift;
	/* NULL when inconsistent */
	struct vs_bits __rcu *bits;
	/* while busy: a job froze bits, new writes go here */
	struct vs_bits __rcu *succ;
	bool enabled;			/* READ_ONCE on the I/O path */
	bool persistent;
	bool busy;
	bool inconsistent;
};

struct vs_bm_node {
	struct list_head list;		/* vs_bm_nodes */
	char name[VSTORAGE_NODE_NAME_MAX + 1];
	unsigned int users;		/* instances attached; vs_bm_lock */
	struct mutex lock;		/* changes to what follows */
	struct list_head bitmaps;
	unsigned int nr;
	u64 size;			/* bytes, of the newest instance */
	bool loaded;			/* a format loaded its stored bitmaps */
};

#define VS_BM_BUSY_RESIZE \
	"a job uses a dirty bitmap of this node: its size cannot change now"
#define VS_BM_INCONSISTENT \
	"the bitmap is inconsistent (the image was not closed cleanly): it can only be deleted"

static LIST_HEAD(vs_bm_nodes);
static DEFINE_MUTEX(vs_bm_lock);

static struct vs_bits *vs_bits_alloc(u64 nr)
{
	struct vs_bits *b;

	b = kvzalloc(struct_size(b, map, BITS_TO_LONGS(nr)), GFP_KERNEL);
	if (b)
		b->nr = nr;
	return b;
}

static u64 vs_bm_nr(u64 size, u32 shift)
{
	return DIV_ROUND_UP_ULL(size, 1ULL << shift);
}

static void vs_bits_mark(struct vs_bits *b, u32 shift, u64 start, u64 end)
{
	u64 first = start >> shift, last = (end - 1) >> shift;

	if (first >= b->nr)
		return;
	last = min(last, b->nr - 1);
	/* test first: a bit set already costs no cache line bouncing */
	for (; first <= last; first++)
		if (!test_bit(first, b->map))
			set_bit(first, b->map);
}

bool vs_bitmap_any(const struct vs_bm_node *bn)
{
	return bn && !list_empty(&bn->bitmaps);
}
EXPORT_SYMBOL_GPL(vs_bitmap_any);

void vs_bitmap_mark(struct vs_bm_node *bn, sector_t sector, u32 bytes)
{
	u64 start = (u64)sector << SECTOR_SHIFT;
	struct vs_bitmap *bm;

	rcu_read_lock();
	list_for_each_entry_rcu(bm, &bn->bitmaps, list) {
		struct vs_bits *b;

		if (!READ_ONCE(bm->enabled))
			continue;
		b = rcu_dereference(bm->succ);
		if (!b)
			b = rcu_dereference(bm->bits);
		if (b)
			vs_bits_mark(b, bm->shift, start, start + bytes);
	}
	rcu_read_unlock();
}
EXPORT_SYMBOL_GPL(vs_bitmap_mark);

/* Set in TO what is set in FROM (same granularity), atomically per bit. */
static void vs_bits_fold(struct vs_bits *to, const struct vs_bits *from)
{
	unsigned long i;

	for_each_set_bit(i, from->map, min(to->nr, from->nr))
		if (!test_bit(i, to->map))
			set_bit(i, to->map);
}

/*
 * Replace *SLOT (bits marked under RCU) by NEW; with FOLD the old bits are
 * set in NEW too, including marks made until every reader left the old.
 */
static void vs_bits_replace(struct vs_bm_node *bn, struct vs_bits __rcu **slot,
			    struct vs_bits *new, bool fold)
{
	struct vs_bits *old = rcu_dereference_protected(*slot,
						lockdep_is_held(&bn->lock));

	rcu_assign_pointer(*slot, new);
	synchronize_rcu();
	if (old && new && fold)
		vs_bits_fold(new, old);
	kvfree(old);
}

static struct vs_bits *vs_bm_bits(struct vs_bm_node *bn, struct vs_bitmap *bm)
{
	return rcu_dereference_protected(bm->bits, lockdep_is_held(&bn->lock));
}

static struct vs_bits *vs_bm_succ(struct vs_bm_node *bn, struct vs_bitmap *bm)
{
	return rcu_dereference_protected(bm->succ, lockdep_is_held(&bn->lock));
}

static void vs_bitmap_free(struct vs_bitmap *bm)
{
	kvfree(rcu_access_pointer(bm->bits));
	kvfree(rcu_access_pointer(bm->succ));
	kfree(bm->name);
	kfree(bm);
}

/* == the registry of names == */

static struct vs_bm_node *vs_bm_node_find(const char *name)
{
	struct vs_bm_node *bn;

	list_for_each_entry(bn, &vs_bm_nodes, list)
		if (!strcmp(bn->name, name))
			return bn;
	return NULL;
}

/* Bring every bitmap to SIZE bytes (the node was resized by a reload). */
static int vs_bm_node_resize(struct vs_bm_node *bn, u64 size, char **error)
{
	struct vs_bitmap *bm;

	lockdep_assert_held(&bn->lock);
	list_for_each_entry(bm, &bn->bitmaps, list) {
		if (bm->busy) {
			*error = VS_BM_BUSY_RESIZE;
			return -EBUSY;
		}
		if (vs_bm_nr(size, bm->shift) > VS_BITMAP_MAX_BITS) {
			*error = "a dirty bitmap of this node would be too large at the new size";
			return -EFBIG;
		}
	}
	list_for_each_entry(bm, &bn->bitmaps, list) {
		struct vs_bits *new;

		if (bm->inconsistent)
			continue;
		new = vs_bits_alloc(vs_bm_nr(size, bm->shift));
		if (!new) {
			*error = "cannot allocate dirty bitmaps for the new size";
			return -ENOMEM;
		}
		vs_bits_replace(bn, &bm->bits, new, true);
	}
	bn->size = size;
	return 0;
}

int vs_bitmaps_attach(struct vs_node *node, char **error)
{
	u64 size = vs_node_size(node);
	struct vs_bm_node *bn;
	int ret = 0;

	mutex_lock(&vs_bm_lock);
	bn = vs_bm_node_find(node->name);
	if (!bn) {
		bn = kzalloc(sizeof(*bn), GFP_KERNEL);
		if (!bn) {
			mutex_unlock(&vs_bm_lock);
			*error = "cannot allocate the node's bitmaps";
			return -ENOMEM;
		}
		strscpy(bn->name, node->name, sizeof(bn->name));
		mutex_init(&bn->lock);
		INIT_LIST_HEAD(&bn->bitmaps);
		bn->size = size;
		list_add(&bn->list, &vs_bm_nodes);
	}
	mutex_lock(&bn->lock);
	if (size != bn->size)
		ret = vs_bm_node_resize(bn, size, error);
	mutex_unlock(&bn->lock);
	if (!ret) {
		bn->users++;
		node->bitmaps = bn;
	} else if (!bn->users) {
		list_del(&bn->list);
		kfree(bn);
	}
	mutex_unlock(&vs_bm_lock);
	return ret;
}

static void vs_bm_node_free(struct vs_bm_node *bn)
{
	struct vs_bitmap *bm, *tmp;

	list_for_each_entry_safe(bm, tmp, &bn->bitmaps, list)
		vs_bitmap_free(bm);
	mutex_destroy(&bn->lock);
	kfree(bn);
}

/* After the instance's last I/O: the last instance takes the bitmaps along. */
void vs_bitmaps_detach(struct vs_node *node)
{
	struct vs_bm_node *bn = node->bitmaps;

	if (!bn)
		return;
	node->bitmaps = NULL;
	mutex_lock(&vs_bm_lock);
	if (--bn->users)
		bn = NULL;
	else
		list_del(&bn->list);
	mutex_unlock(&vs_bm_lock);
	if (bn)
		vs_bm_node_free(bn);
}

void vs_bitmaps_exit(void)
{
	/* every node is gone: its module held ours */
	WARN_ON(!list_empty(&vs_bm_nodes));
}

/* == control operations == */

/* The node called NAME with a reference, and its bitmaps locked. */
static struct vs_node *vs_bm_lock_node(const char *name, const char **error)
{
	struct vs_node *node = vs_node_get_by_name(name);

	if (!node) {
		*error = "no such node";
		return NULL;
	}
	mutex_lock(&node->bitmaps->lock);
	return node;
}

static void vs_bm_unlock_node(struct vs_node *node)
{
	mutex_unlock(&node->bitmaps->lock);
	vs_node_put(node);
}

static struct vs_bitmap *vs_bm_find(struct vs_bm_node *bn, const char *name)
{
	struct vs_bitmap *bm;

	list_for_each_entry(bm, &bn->bitmaps, list)
		if (!strcmp(bm->name, name))
			return bm;
	return NULL;
}

/* QEMU's bdrv_dirty_bitmap_check(): busy and inconsistent ones are refused. */
static struct vs_bitmap *vs_bm_find_usable(struct vs_bm_node *bn,
					   const char *name,
					   const char **error)
{
	struct vs_bitmap *bm = vs_bm_find(bn, name);

	if (!bm)
		*error = "no such bitmap on the node";
	else if (bm->busy)
		*error = "the bitmap is in use by a job";
	else if (bm->inconsistent)
		*error = VS_BM_INCONSISTENT;
	else
		return bm;
	return NULL;
}

static int vs_bm_err(const struct vs_bitmap *bm)
{
	if (!bm)
		return -ENOENT;
	return bm->busy ? -EBUSY : -EINVAL;
}

/* Names from userspace: like QEMU's, up to 1023 bytes; no control bytes. */
static bool vs_bitmap_name_valid(const char *name)
{
	size_t len = strnlen(name, VSTORAGE_BITMAP_NAME_MAX + 1);
	size_t i;

	if (!len || len > VSTORAGE_BITMAP_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	return true;
}

static struct vs_bitmap *vs_bitmap_new(struct vs_bm_node *bn, const char *name,
				       u32 granularity, bool inconsistent,
				       const char **error)
{
	struct vs_bitmap *bm;
	struct vs_bits *b = NULL;
	u32 shift = ilog2(granularity);

	if (bn->nr >= VS_BITMAPS_MAX) {
		*error = "the node has too many bitmaps (65535)";
		return ERR_PTR(-ENOSPC);
	}
	if (vs_bm_find(bn, name)) {
		*error = "the node has a bitmap of that name already";
		return ERR_PTR(-EEXIST);
	}
	if (vs_bm_nr(bn->size, shift) > VS_BITMAP_MAX_BITS) {
		*error = "the bitmap would be too large: choose a larger granularity";
		return ERR_PTR(-EFBIG);
	}
	bm = kzalloc(sizeof(*bm), GFP_KERNEL);
	if (!bm)
		goto nomem;
	bm->name = kstrdup(name, GFP_KERNEL);
	if (!inconsistent)
		b = vs_bits_alloc(vs_bm_nr(bn->size, shift));
	if (!bm->name || (!inconsistent && !b)) {
		kvfree(b);
		kfree(bm->name);
		kfree(bm);
		goto nomem;
	}
	RCU_INIT_POINTER(bm->bits, b);
	bm->granularity = granularity;
	bm->shift = shift;
	bm->inconsistent = inconsistent;
	return bm;
nomem:
	*error = "cannot allocate the bitmap";
	return ERR_PTR(-ENOMEM);
}

static void vs_bm_publish(struct vs_bm_node *bn, struct vs_bitmap *bm)
{
	list_add_tail_rcu(&bm->list, &bn->bitmaps);
	bn->nr++;
}

int vs_bitmap_add(const char *node_name, const char *name, u32 granularity,
		  u32 flags, const char **error)
{
	struct vs_bitmap *bm;
	struct vs_node *node;
	int ret = 0;

	if (!vs_bitmap_name_valid(name)) {
		*error = "invalid bitmap name (1 to 1023 bytes, no control characters)";
		return -EINVAL;
	}
	if (!granularity)
		granularity = VS_BITMAP_DEFAULT_GRANULARITY;
	if (!is_power_of_2(granularity) ||
	    granularity < VS_BITMAP_MIN_GRANULARITY ||
	    granularity > VS_BITMAP_MAX_GRANULARITY) {
		*error = "granularity must be a power of 2 from 512 to 2147483648";
		return -EINVAL;
	}
	node = vs_bm_lock_node(node_name, error);
	if (!node)
		return -ENODEV;
	if (node->read_only) {
		*error = "the node is read-only";
		ret = -EROFS;
		goto out;
	}
	if ((flags & VS_BITMAP_F_PERSISTENT) && !node->persistent_bitmaps) {
		*error = "the node's driver cannot store bitmaps (only qcow2 can)";
		ret = -EOPNOTSUPP;
		goto out;
	}
	bm = vs_bitmap_new(node->bitmaps, name, granularity, false, error);
	if (IS_ERR(bm)) {
		ret = PTR_ERR(bm);
		goto out;
	}
	bm->persistent = flags & VS_BITMAP_F_PERSISTENT;
	bm->enabled = !(flags & VS_BITMAP_F_DISABLED);
	vs_bm_publish(node->bitmaps, bm);
out:
	vs_bm_unlock_node(node);
	return ret;
}

int vs_bitmap_del(const char *node_name, const char *name, const char **error)
{
	struct vs_bm_node *bn;
	struct vs_bitmap *bm;
	struct vs_node *node;

	node = vs_bm_lock_node(node_name, error);
	if (!node)
		return -ENODEV;
	bn = node->bitmaps;
	bm = vs_bm_find(bn, name);
	if (!bm || bm->busy) {
		*error = bm ? "the bitmap is in use by a job" :
			      "no such bitmap on the node";
		vs_bm_unlock_node(node);
		return vs_bm_err(bm);
	}
	list_del_rcu(&bm->list);
	bn->nr--;
	vs_bm_unlock_node(node);
	synchronize_rcu();
	vs_bitmap_free(bm);
	return 0;
}

int vs_bitmap_clear(const char *node_name, const char *name, const char **error)
{
	struct vs_bitmap *bm;
	struct vs_node *node;
	struct vs_bits *new;
	int ret = 0;

	node = vs_bm_lock_node(node_name, error);
	if (!node)
		return -ENODEV;
	bm = vs_bm_find_usable(node->bitmaps, name, error);
	if (!bm) {
		ret = vs_bm_err(vs_bm_find(node->bitmaps, name));
		goto out;
	}
	if (node->read_only) {
		*error = "the node is read-only";
		ret = -EROFS;
		goto out;
	}
	/*
	 * A new array rather than zeroing the live one: a write that
	 * completes after the clear returns is in the new one.
	 */
	new = vs_bits_alloc(vs_bm_bits(node->bitmaps, bm)->nr);
	if (!new) {
		*error = "cannot allocate the bitmap";
		ret = -ENOMEM;
		goto out;
	}
	vs_bits_replace(node->bitmaps, &bm->bits, new, false);
out:
	vs_bm_unlock_node(node);
	return ret;
}

int vs_bitmap_enable(const char *node_name, const char *name, bool enable,
		     const char **error)
{
	struct vs_bitmap *bm;
	struct vs_node *node;
	int ret = 0;

	node = vs_bm_lock_node(node_name, error);
	if (!node)
		return -ENODEV;
	bm = vs_bm_find_usable(node->bitmaps, name, error);
	if (bm)
		WRITE_ONCE(bm->enabled, enable);
	else
		ret = vs_bm_err(vs_bm_find(node->bitmaps, name));
	vs_bm_unlock_node(node);
	return ret;
}

/* Set in TO (granularity 2^TO_SHIFT) every range set in FROM. */
static void vs_bits_merge(struct vs_bits *to, u32 to_shift,
			  const struct vs_bits *from, u32 from_shift)
{
	unsigned long i;

	if (to_shift == from_shift) {
		vs_bits_fold(to, from);
		return;
	}
	for_each_set_bit(i, from->map, from->nr) {
		u64 start = (u64)i << from_shift;

		vs_bits_mark(to, to_shift, start, start + (1ULL << from_shift));
		cond_resched();
	}
}

int vs_bitmap_merge(const char *node_name, const char *target,
		    const char * const *sources, unsigned int nr,
		    const char **error)
{
	struct vs_bitmap *to, *from;
	struct vs_bm_node *bn;
	struct vs_node *node;
	unsigned int i;
	int ret = 0;

	node = vs_bm_lock_node(node_name, error);
	if (!node)
		return -ENODEV;
	bn = node->bitmaps;
	to = vs_bm_find_usable(bn, target, error);
	if (!to) {
		ret = vs_bm_err(vs_bm_find(bn, target));
		goto out;
	}
	if (node->read_only) {
		*error = "the node is read-only";
		ret = -EROFS;
		goto out;
	}
	/* all sources checked before any bit changes */
	for (i = 0; i < nr; i++) {
		from = vs_bm_find(bn, sources[i]);
		if (!from || from->inconsistent) {
			*error = from ? "a source bitmap is inconsistent" :
					"no such source bitmap on the node";
			ret = from ? -EINVAL : -ENOENT;
			goto out;
		}
	}
	for (i = 0; i < nr; i++) {
		from = vs_bm_find(bn, sources[i]);
		if (from != to)
			vs_bits_merge(vs_bm_bits(bn, to), to->shift,
				      vs_bm_bits(bn, from), from->shift);
	}
out:
	vs_bm_unlock_node(node);
	return ret;
}

int vs_bitmap_get(const char *node_name, const char *name, unsigned long idx,
		  struct vs_bitmap_info *info)
{
	struct vs_bitmap *bm = NULL, *it;
	const char *error;
	struct vs_node *node;
	unsigned long i = 0;
	int ret = 0;

	memset(info, 0, sizeof(*info));
	node = vs_bm_lock_node(node_name, &error);
	if (!node)
		return -ENODEV;
	if (name) {
		bm = vs_bm_find(node->bitmaps, name);
	} else {
		list_for_each_entry(it, &node->bitmaps->bitmaps, list)
			if (i++ == idx) {
				bm = it;
				break;
			}
	}
	if (!bm) {
		ret = -ENOENT;
		goto out;
	}
	info->name = kstrdup(bm->name, GFP_KERNEL);
	if (!info->name) {
		ret = -ENOMEM;
		goto out;
	}
	info->granularity = bm->granularity;
	if (!bm->inconsistent) {
		struct vs_bits *b = vs_bm_bits(node->bitmaps, bm);

		info->count = (u64)bitmap_weight(b->map, b->nr) << bm->shift;
	}
	info->persistent = bm->persistent;
	info->enabled = bm->enabled;
	info->busy = bm->busy;
	info->inconsistent = bm->inconsistent;
out:
	vs_bm_unlock_node(node);
	return ret;
}

void vs_bitmap_info_free(struct vs_bitmap_info *info)
{
	kfree(info->name);
	info->name = NULL;
}

/* == for jobs (backup's sync=bitmap) == */

int vs_bitmap_job_begin(const char *node_name, const char *name,
			struct vs_bitmap_snap *snap, const char **error)
{
	struct vs_bits *succ, *b;
	struct vs_bm_node *bn;
	struct vs_bitmap *bm;
	struct vs_node *node;
	int ret = 0;

	memset(snap, 0, sizeof(*snap));
	node = vs_bm_lock_node(node_name, error);
	if (!node)
		return -ENODEV;
	bn = node->bitmaps;
	bm = vs_bm_find_usable(bn, name, error);
	if (!bm) {
		ret = vs_bm_err(vs_bm_find(bn, name));
		goto out;
	}
	b = vs_bm_bits(bn, bm);
	succ = vs_bits_alloc(b->nr);
	snap->bits = vs_bitmap_bits_alloc(b->nr);
	if (!succ || !snap->bits) {
		kvfree(succ);
		vs_bitmap_bits_free(snap->bits);
		snap->bits = NULL;
		*error = "cannot allocate a copy of the bitmap";
		ret = -ENOMEM;
		goto out;
	}
	/* after the grace period nothing marks the frozen bits any more */
	rcu_assign_pointer(bm->succ, succ);
	synchronize_rcu();
	bm->busy = true;
	bitmap_copy(snap->bits, b->map, b->nr);
	snap->nr = b->nr;
	snap->granularity = bm->granularity;
out:
	vs_bm_unlock_node(node);
	return ret;
}
EXPORT_SYMBOL_GPL(vs_bitmap_job_begin);

void vs_bitmap_job_end(const char *node_name, const char *name,
		       struct vs_bitmap_snap *snap, bool clear)
{
	struct vs_bits *succ;
	struct vs_bm_node *bn;
	struct vs_bitmap *bm;
	struct vs_node *node;
	const char *error;

	vs_bitmap_bits_free(snap->bits);
	snap->bits = NULL;
	/* the node may be gone, its bitmaps with it */
	node = vs_bm_lock_node(node_name, &error);
	if (!node)
		return;
	bn = node->bitmaps;
	bm = vs_bm_find(bn, name);
	if (!bm || !bm->busy)
		goto out;
	succ = vs_bm_succ(bn, bm);
	if (clear) {
		/* the successor becomes the bitmap; marks go on into it */
		vs_bits_replace(bn, &bm->bits, succ, false);
		RCU_INIT_POINTER(bm->succ, NULL);
	} else {
		/* marks go to the frozen bits again; fold the successor in */
		RCU_INIT_POINTER(bm->succ, NULL);
		synchronize_rcu();
		vs_bits_fold(vs_bm_bits(bn, bm), succ);
		kvfree(succ);
	}
	bm->busy = false;
out:
	vs_bm_unlock_node(node);
}
EXPORT_SYMBOL_GPL(vs_bitmap_job_end);

/* == for formats that store bitmaps == */

unsigned long *vs_bitmap_bits_alloc(u64 nr)
{
	if (!nr || nr > VS_BITMAP_MAX_BITS)
		return NULL;
	return kvcalloc(BITS_TO_LONGS(nr), sizeof(unsigned long), GFP_KERNEL);
}
EXPORT_SYMBOL_GPL(vs_bitmap_bits_alloc);

void vs_bitmap_bits_free(unsigned long *bits)
{
	kvfree(bits);
}
EXPORT_SYMBOL_GPL(vs_bitmap_bits_free);

bool vs_bitmaps_loaded(struct vs_node *node)
{
	bool loaded;

	mutex_lock(&node->bitmaps->lock);
	loaded = node->bitmaps->loaded;
	mutex_unlock(&node->bitmaps->lock);
	return loaded;
}
EXPORT_SYMBOL_GPL(vs_bitmaps_loaded);

void vs_bitmaps_set_loaded(struct vs_node *node)
{
	mutex_lock(&node->bitmaps->lock);
	node->bitmaps->loaded = true;
	mutex_unlock(&node->bitmaps->lock);
}
EXPORT_SYMBOL_GPL(vs_bitmaps_set_loaded);

int vs_bitmap_load(struct vs_node *node, const char *name, u32 granularity,
		   bool enabled, bool inconsistent, unsigned long *bits,
		   const char **error)
{
	struct vs_bm_node *bn = node->bitmaps;
	struct vs_bitmap *bm;
	int ret = 0;

	mutex_lock(&bn->lock);
	bm = vs_bitmap_new(bn, name, granularity, inconsistent, error);
	if (IS_ERR(bm)) {
		ret = PTR_ERR(bm);
		goto out;
	}
	if (bits && !inconsistent) {
		struct vs_bits *b = vs_bm_bits(bn, bm);

		bitmap_copy(b->map, bits, b->nr);
	}
	bm->persistent = true;
	bm->enabled = enabled && !inconsistent;
	vs_bm_publish(bn, bm);
out:
	mutex_unlock(&bn->lock);
	vs_bitmap_bits_free(bits);
	return ret;
}
EXPORT_SYMBOL_GPL(vs_bitmap_load);

int vs_bitmap_persisted(struct vs_node *node, struct vs_bitmap_stored **out,
			unsigned int *nr)
{
	struct vs_bm_node *bn = node->bitmaps;
	struct vs_bitmap_stored *arr;
	struct vs_bitmap *bm;
	unsigned int n = 0;
	int ret = 0;

	*out = NULL;
	*nr = 0;
	mutex_lock(&bn->lock);
	list_for_each_entry(bm, &bn->bitmaps, list)
		n += bm->persistent;
	if (!n)
		goto out;
	arr = kvcalloc(n, sizeof(*arr), GFP_KERNEL);
	if (!arr) {
		ret = -ENOMEM;
		goto out;
	}
	list_for_each_entry(bm, &bn->bitmaps, list) {
		struct vs_bitmap_stored *s = &arr[*nr];
		struct vs_bits *b, *succ;

		if (!bm->persistent)
			continue;
		(*nr)++;
		s->name = kstrdup(bm->name, GFP_KERNEL);
		s->granularity = bm->granularity;
		s->enabled = bm->enabled;
		s->inconsistent = bm->inconsistent;
		s->nr = vs_bm_nr(bn->size, bm->shift);
		if (!s->name) {
			ret = -ENOMEM;
			break;
		}
		if (bm->inconsistent)
			continue;
		b = vs_bm_bits(bn, bm);
		s->bits = vs_bitmap_bits_alloc(b->nr);
		if (!s->bits) {
			ret = -ENOMEM;
			break;
		}
		s->nr = b->nr;
		bitmap_copy(s->bits, b->map, b->nr);
		/* a job's successor holds what was written since it began */
		succ = vs_bm_succ(bn, bm);
		if (succ)
			bitmap_or(s->bits, s->bits, succ->map, b->nr);
	}
	if (ret)
		vs_bitmap_persisted_free(arr, *nr);
	else
		*out = arr;
	if (ret)
		*nr = 0;
out:
	mutex_unlock(&bn->lock);
	return ret;
}
EXPORT_SYMBOL_GPL(vs_bitmap_persisted);

void vs_bitmap_persisted_free(struct vs_bitmap_stored *arr, unsigned int nr)
{
	unsigned int i;

	if (!arr)
		return;
	for (i = 0; i < nr; i++) {
		kfree(arr[i].name);
		vs_bitmap_bits_free(arr[i].bits);
	}
	kvfree(arr);
}
EXPORT_SYMBOL_GPL(vs_bitmap_persisted_free);
