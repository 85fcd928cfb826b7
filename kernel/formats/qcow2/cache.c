// SPDX-License-Identifier: GPL-2.0
/*
 * The bounded caches of L2 tables and refcount blocks. One entry is one
 * table (one cluster), kept big-endian as on disk. Lookups hash by host
 * offset; eviction takes the least recently used unpinned entry.
 *
 * A dirty L2 table is never written alone on eviction: the whole metadata
 * is committed (q2_commit), because an L2 table may only reach the disk
 * after the refcounts of the clusters it references. A refcount block may
 * be written alone at any time (early increments are leaks at worst, and
 * decrements are applied only after the references are gone on disk).
 *
 * Callers hold meta_lock.
 */
#include <linux/hash.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "qcow2.h"

int q2_cache_init(struct q2_cache *c, const char *name, unsigned int kind,
		  unsigned int max_entries)
{
	unsigned int i;

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->kind = kind;
	c->max_entries = max(max_entries, 2U);
	INIT_LIST_HEAD(&c->lru);
	c->hash_bits = clamp_t(unsigned int, ilog2(c->max_entries) + 1, 4, 16);
	c->hash = kvmalloc_array(1U << c->hash_bits, sizeof(*c->hash),
				 GFP_KERNEL);
	if (!c->hash)
		return -ENOMEM;
	for (i = 0; i < (1U << c->hash_bits); i++)
		INIT_HLIST_HEAD(&c->hash[i]);
	return 0;
}

/* map() may be reading the table: unhash it under map_lock, then free. */
static void q2_cache_free_entry(struct q2 *q, struct q2_cache *c,
				struct q2_cache_entry *e)
{
	unsigned long flags;

	write_lock_irqsave(&q->map_lock, flags);
	hlist_del(&e->hash);
	write_unlock_irqrestore(&q->map_lock, flags);
	list_del(&e->lru);
	c->nr_entries--;
	kvfree(e->buf);
	kfree(e);
}

void q2_cache_destroy(struct q2 *q, struct q2_cache *c)
{
	struct q2_cache_entry *e, *tmp;

	if (!c->hash)
		return;
	list_for_each_entry_safe(e, tmp, &c->lru, lru)
		q2_cache_free_entry(q, c, e);
	kvfree(c->hash);
	c->hash = NULL;
}

/* Forget clean, unpinned entries (cache-clean-interval). */
void q2_cache_drop_clean(struct q2 *q, struct q2_cache *c)
{
	struct q2_cache_entry *e, *tmp;

	list_for_each_entry_safe(e, tmp, &c->lru, lru)
		if (!e->dirty && !e->pinned)
			q2_cache_free_entry(q, c, e);
}

/*
 * The table at OFFSET if cached, for map(): under map_lock (read), without
 * pinning; a hit only marks the entry as recently used.
 */
struct q2_cache_entry *q2_cache_peek(struct q2_cache *c, u64 offset)
{
	struct q2_cache_entry *e;

	hlist_for_each_entry(e, &c->hash[hash_64(offset, c->hash_bits)], hash) {
		if (e->offset == offset) {
			if (!READ_ONCE(e->accessed))
				WRITE_ONCE(e->accessed, true);
			return e;
		}
	}
	return NULL;
}

static struct q2_cache_entry *q2_cache_find(struct q2_cache *c, u64 offset)
{
	struct q2_cache_entry *e;

	hlist_for_each_entry(e, &c->hash[hash_64(offset, c->hash_bits)], hash)
		if (e->offset == offset)
			return e;
	return NULL;
}

/* Make room for one entry; may commit all metadata to clean a victim. */
static int q2_cache_make_room(struct q2 *q, struct q2_cache *c)
{
	struct q2_cache_entry *e;
	int ret;

	while (c->nr_entries >= c->max_entries) {
		struct q2_cache_entry *victim = NULL, *tmp;

		/* second chance for entries map() used since the last scan */
		list_for_each_entry_safe_reverse(e, tmp, &c->lru, lru) {
			if (e->pinned)
				continue;
			if (READ_ONCE(e->accessed)) {
				WRITE_ONCE(e->accessed, false);
				continue;
			}
			victim = e;
			break;
		}
		if (!victim) {
			list_for_each_entry_reverse(e, &c->lru, lru) {
				if (!e->pinned) {
					victim = e;
					break;
				}
			}
		}
		/* every entry is pinned by the operation in progress */
		if (!victim)
			return 0;
		/*
		 * A refcount block may be written at any time; an L2 table
		 * only after the refcounts (a commit).
		 */
		if (victim->dirty) {
			ret = c->kind == QCOW2_OL_REFCOUNT_BLOCK ?
			      q2_cache_write(q, c, victim) : q2_commit(q, false);
			if (ret)
				return ret;
		}
		q2_cache_free_entry(q, c, victim);
	}
	return 0;
}

/*
 * Get the table at host OFFSET, pinned. FRESH: a newly allocated table,
 * not read from disk, zero-filled and dirty.
 */
int q2_cache_get(struct q2 *q, struct q2_cache *c, u64 offset, bool fresh,
		 struct q2_cache_entry **out)
{
	u32 size = q2_cluster_size(q);
	struct q2_cache_entry *e;
	ssize_t n;
	int ret;

	e = q2_cache_find(c, offset);
	if (e) {
		c->hits++;
		list_move(&e->lru, &c->lru);
		if (fresh) {
			unsigned long flags;

			write_lock_irqsave(&q->map_lock, flags);
			memset(e->buf, 0, size);
			write_unlock_irqrestore(&q->map_lock, flags);
			e->dirty = true;
		}
		e->pinned++;
		*out = e;
		return 0;
	}

	c->misses++;
	ret = q2_cache_make_room(q, c);
	if (ret)
		return ret;

	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	e->buf = kvzalloc(size, GFP_KERNEL);
	if (!e->buf) {
		kfree(e);
		return -ENOMEM;
	}
	e->offset = offset;
	if (fresh) {
		e->dirty = true;
	} else {
		n = vs_backend_rw_kbuf(&q->be, ITER_DEST, e->buf, size, offset);
		if (n < 0) {
			kvfree(e->buf);
			kfree(e);
			return n;
		}
	}
	{
		unsigned long flags;

		write_lock_irqsave(&q->map_lock, flags);
		hlist_add_head(&e->hash,
			       &c->hash[hash_64(offset, c->hash_bits)]);
		write_unlock_irqrestore(&q->map_lock, flags);
	}
	list_add(&e->lru, &c->lru);
	c->nr_entries++;
	e->pinned = 1;
	*out = e;
	return 0;
}

void q2_cache_put(struct q2_cache_entry *e)
{
	if (!WARN_ON_ONCE(!e->pinned))
		e->pinned--;
}

int q2_cache_write(struct q2 *q, struct q2_cache *c, struct q2_cache_entry *e)
{
	u32 size = q2_cluster_size(q);
	ssize_t n;
	int ret;

	ret = q2_check_overlap(q, e->offset, size, c->kind);
	if (ret)
		return ret;
	n = vs_backend_rw_kbuf(&q->be, ITER_SOURCE, e->buf, size, e->offset);
	if (n < 0)
		return n;
	e->dirty = false;
	return 0;
}

/* Write every dirty entry of C. */
int q2_cache_flush(struct q2 *q, struct q2_cache *c)
{
	struct q2_cache_entry *e;
	int ret;

	list_for_each_entry(e, &c->lru, lru) {
		if (!e->dirty)
			continue;
		ret = q2_cache_write(q, c, e);
		if (ret)
			return ret;
	}
	return 0;
}
