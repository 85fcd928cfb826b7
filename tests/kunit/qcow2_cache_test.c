// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: the bounded L2/refcount-block cache (kernel/formats/qcow2/cache.c):
 * it never holds more unpinned tables than its limit, evicts the least
 * recently used with a second chance for tables map() touched, never evicts
 * a pinned table, writes a dirty refcount block before dropping it, commits
 * before dropping a dirty L2 table, and loses nothing when that fails.
 *
 * The cache's three ways out (q2_commit, q2_check_overlap and the backend
 * write) are replaced here by stubs that record what the cache asked for.
 */
#include <kunit/test.h>
#include <linux/slab.h>

#include "qcow2.h"

struct q2k_io {
	unsigned int commits;
	int commit_ret;
	unsigned int writes;
	u64 last_write;
	struct q2_cache *l2;	/* what a commit cleans */
};

static struct q2k_io *q2k_io;

int q2_commit(struct q2 *q, bool drain)
{
	struct q2_cache_entry *e;

	q2k_io->commits++;
	if (q2k_io->commit_ret)
		return q2k_io->commit_ret;
	list_for_each_entry(e, &q2k_io->l2->lru, lru)
		e->dirty = false;
	return 0;
}

int q2_check_overlap(struct q2 *q, u64 offset, u64 len, unsigned int ignore)
{
	return 0;
}

ssize_t vs_backend_rw_kbuf(struct vs_backend *be, unsigned int dir, void *buf,
			   size_t len, u64 pos)
{
	if (dir == ITER_SOURCE) {
		q2k_io->writes++;
		q2k_io->last_write = pos;
	}
	return len;
}

struct q2k_ctx {
	struct qcow2_geometry g;
	struct q2 *q;
	struct q2_cache c;
	struct q2k_io io;
};

static struct q2k_ctx *q2k_setup(struct kunit *test, unsigned int kind,
				 unsigned int max)
{
	struct q2k_ctx *x = kunit_kzalloc(test, sizeof(*x), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, x);
	x->q = kunit_kzalloc(test, sizeof(*x->q), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, x->q);
	KUNIT_ASSERT_EQ(test, 0, qcow2_geometry_init(&x->g, 3, 12, 4, false, false));
	x->q->g = &x->g;
	rwlock_init(&x->q->map_lock);
	KUNIT_ASSERT_EQ(test, 0, q2_cache_init(&x->c, "test", kind, max));
	x->io.l2 = &x->c;
	q2k_io = &x->io;
	test->priv = x;
	return x;
}

static void q2k_teardown(struct kunit *test)
{
	struct q2k_ctx *x = test->priv;

	if (x)
		q2_cache_destroy(x->q, &x->c);
	q2k_io = NULL;
}

/* The table at OFF if cached; unlike q2_cache_peek, not a use. */
static struct q2_cache_entry *q2k_lookup(struct q2k_ctx *x, u64 off)
{
	struct q2_cache_entry *e;

	list_for_each_entry(e, &x->c.lru, lru)
		if (e->offset == off)
			return e;
	return NULL;
}

static bool q2k_cached(struct q2k_ctx *x, u64 off)
{
	return q2k_lookup(x, off);
}

/* Get the table at OFF (fresh: no read), make it clean and unpin it. */
static void q2k_touch(struct kunit *test, struct q2k_ctx *x, u64 off)
{
	struct q2_cache_entry *e;

	KUNIT_ASSERT_EQ(test, 0, q2_cache_get(x->q, &x->c, off, true, &e));
	KUNIT_ASSERT_EQ(test, off, e->offset);
	e->dirty = false;
	q2_cache_put(e);
}

static void q2k_cache_bounded(struct kunit *test)
{
	struct q2k_ctx *x = q2k_setup(test, QCOW2_OL_ACTIVE_L2, 4);
	u64 i;

	for (i = 1; i <= 64; i++) {
		q2k_touch(test, x, i << 12);
		KUNIT_EXPECT_LE(test, x->c.nr_entries, 4U);
	}
	KUNIT_EXPECT_EQ(test, 64ULL, x->c.misses);
	KUNIT_EXPECT_EQ(test, 0ULL, x->c.hits);
	/* the last four are the ones kept */
	for (i = 61; i <= 64; i++)
		KUNIT_EXPECT_TRUE(test, q2k_cached(x, i << 12));
	KUNIT_EXPECT_FALSE(test, q2k_cached(x, 60 << 12));
	q2k_touch(test, x, 64 << 12);
	KUNIT_EXPECT_EQ(test, 1ULL, x->c.hits);
	KUNIT_EXPECT_EQ(test, 0U, x->io.commits + x->io.writes);
	/* the limit is at least two: an update may hold an L2 and a parent */
	q2_cache_destroy(x->q, &x->c);
	KUNIT_ASSERT_EQ(test, 0, q2_cache_init(&x->c, "test", QCOW2_OL_ACTIVE_L2, 0));
	KUNIT_EXPECT_EQ(test, 2U, x->c.max_entries);
}

static void q2k_cache_lru_second_chance(struct kunit *test)
{
	struct q2k_ctx *x = q2k_setup(test, QCOW2_OL_ACTIVE_L2, 4);

	q2k_touch(test, x, 1 << 12);	/* A, the oldest */
	q2k_touch(test, x, 2 << 12);	/* B */
	q2k_touch(test, x, 3 << 12);	/* C */
	q2k_touch(test, x, 4 << 12);	/* D */
	/* map() reads A without taking it to the front */
	KUNIT_ASSERT_NOT_NULL(test, q2_cache_peek(&x->c, 1 << 12));
	q2k_touch(test, x, 5 << 12);
	/* A got its second chance: B, the next oldest, went */
	KUNIT_EXPECT_FALSE(test, q2k_cached(x, 2 << 12));
	KUNIT_EXPECT_TRUE(test, q2k_cached(x, 1 << 12));
	/* a hit takes C to the front; A had its one chance and goes now */
	q2k_touch(test, x, 3 << 12);
	KUNIT_EXPECT_EQ(test, 1ULL, x->c.hits);
	q2k_touch(test, x, 6 << 12);
	KUNIT_EXPECT_FALSE(test, q2k_cached(x, 1 << 12));
	KUNIT_EXPECT_TRUE(test, q2k_cached(x, 3 << 12));
	KUNIT_EXPECT_TRUE(test, q2k_cached(x, 4 << 12));
	q2k_touch(test, x, 7 << 12);
	KUNIT_EXPECT_FALSE(test, q2k_cached(x, 4 << 12));
}

static void q2k_cache_pinned_stay(struct kunit *test)
{
	struct q2k_ctx *x = q2k_setup(test, QCOW2_OL_ACTIVE_L2, 2);
	struct q2_cache_entry *a, *b, *c;

	KUNIT_ASSERT_EQ(test, 0, q2_cache_get(x->q, &x->c, 1 << 12, true, &a));
	KUNIT_ASSERT_EQ(test, 0, q2_cache_get(x->q, &x->c, 2 << 12, true, &b));
	a->dirty = false;
	b->dirty = false;
	/* both pinned: the cache goes over its limit rather than drop one */
	KUNIT_ASSERT_EQ(test, 0, q2_cache_get(x->q, &x->c, 3 << 12, true, &c));
	c->dirty = false;
	KUNIT_EXPECT_EQ(test, 3U, x->c.nr_entries);
	KUNIT_EXPECT_PTR_EQ(test, a, q2_cache_peek(&x->c, 1 << 12));
	KUNIT_EXPECT_PTR_EQ(test, b, q2_cache_peek(&x->c, 2 << 12));
	q2_cache_put(a);
	q2_cache_put(b);
	q2_cache_put(c);
	/* and comes back under it at the next miss */
	q2k_touch(test, x, 4 << 12);
	KUNIT_EXPECT_EQ(test, 2U, x->c.nr_entries);
}

static void q2k_cache_dirty_refblock_written(struct kunit *test)
{
	struct q2k_ctx *x = q2k_setup(test, QCOW2_OL_REFCOUNT_BLOCK, 2);
	struct q2_cache_entry *e;

	KUNIT_ASSERT_EQ(test, 0, q2_cache_get(x->q, &x->c, 7 << 12, true, &e));
	KUNIT_EXPECT_TRUE(test, e->dirty);
	q2_cache_put(e);
	q2k_touch(test, x, 8 << 12);
	q2k_touch(test, x, 9 << 12);
	/* the dirty block was written alone, no commit needed */
	KUNIT_EXPECT_EQ(test, 1U, x->io.writes);
	KUNIT_EXPECT_EQ(test, 7ULL << 12, x->io.last_write);
	KUNIT_EXPECT_EQ(test, 0U, x->io.commits);
	KUNIT_EXPECT_FALSE(test, q2k_cached(x, 7 << 12));
}

static void q2k_cache_dirty_l2_commits(struct kunit *test)
{
	struct q2k_ctx *x = q2k_setup(test, QCOW2_OL_ACTIVE_L2, 2);
	struct q2_cache_entry *e;

	KUNIT_ASSERT_EQ(test, 0, q2_cache_get(x->q, &x->c, 7 << 12, true, &e));
	q2_cache_put(e);
	q2k_touch(test, x, 8 << 12);

	/* a failing commit keeps the dirty table and fails the get */
	x->io.commit_ret = -EIO;
	KUNIT_EXPECT_EQ(test, -EIO, q2_cache_get(x->q, &x->c, 9 << 12, true, &e));
	KUNIT_EXPECT_EQ(test, 1U, x->io.commits);
	e = q2k_lookup(x, 7 << 12);
	KUNIT_ASSERT_NOT_NULL(test, e);
	KUNIT_EXPECT_TRUE(test, e->dirty);
	KUNIT_EXPECT_FALSE(test, q2k_cached(x, 9 << 12));

	/* an L2 table is never written alone: it waits for the commit */
	x->io.commit_ret = 0;
	q2k_touch(test, x, 9 << 12);
	KUNIT_EXPECT_EQ(test, 2U, x->io.commits);
	KUNIT_EXPECT_EQ(test, 0U, x->io.writes);
	KUNIT_EXPECT_EQ(test, 2U, x->c.nr_entries);
}

static void q2k_cache_drop_clean(struct kunit *test)
{
	struct q2k_ctx *x = q2k_setup(test, QCOW2_OL_ACTIVE_L2, 8);
	struct q2_cache_entry *dirty, *pinned;

	q2k_touch(test, x, 1 << 12);
	KUNIT_ASSERT_EQ(test, 0, q2_cache_get(x->q, &x->c, 2 << 12, true, &dirty));
	q2_cache_put(dirty);
	KUNIT_ASSERT_EQ(test, 0, q2_cache_get(x->q, &x->c, 3 << 12, true, &pinned));
	pinned->dirty = false;
	q2_cache_drop_clean(x->q, &x->c);
	KUNIT_EXPECT_EQ(test, 2U, x->c.nr_entries);
	KUNIT_EXPECT_FALSE(test, q2k_cached(x, 1 << 12));
	KUNIT_EXPECT_TRUE(test, q2k_cached(x, 2 << 12));
	KUNIT_EXPECT_TRUE(test, q2k_cached(x, 3 << 12));
	q2_cache_put(pinned);
	/* flushing writes exactly the dirty table */
	KUNIT_EXPECT_EQ(test, 0, q2_cache_flush(x->q, &x->c));
	KUNIT_EXPECT_EQ(test, 1U, x->io.writes);
	KUNIT_EXPECT_EQ(test, 2ULL << 12, x->io.last_write);
	KUNIT_EXPECT_FALSE(test, dirty->dirty);
}

static struct kunit_case q2k_cache_cases[] = {
	KUNIT_CASE(q2k_cache_bounded),
	KUNIT_CASE(q2k_cache_lru_second_chance),
	KUNIT_CASE(q2k_cache_pinned_stay),
	KUNIT_CASE(q2k_cache_dirty_refblock_written),
	KUNIT_CASE(q2k_cache_dirty_l2_commits),
	KUNIT_CASE(q2k_cache_drop_clean),
	{}
};

static struct kunit_suite q2k_cache_suite = {
	.name = "vstorage-qcow2-cache",
	.exit = q2k_teardown,
	.test_cases = q2k_cache_cases,
};

kunit_test_suite(q2k_cache_suite);
