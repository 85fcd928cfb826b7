// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: throttle groups (kernel/tgroup.c) with vstorage.ko's own
 * functions. Bios without a device are fed to vs_tgroup_throttle(); the
 * ones that wait are recorded when the group lets them go
 * (vs_tgroup_set_submit), so the suite sees QEMU's round-robin order
 * between members, the release on bypass and on new limits, and the
 * refusals of the control path.
 */
#include <kunit/test.h>
#include <linux/bio.h>
#include <linux/completion.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "vstorage.h"

#define VSK_MAX_BIOS 128

/* What the group let go, in order; bi_private says whose bio it was. */
static struct {
	spinlock_t lock;		/* the group's work and the test record */
	char who[VSK_MAX_BIOS + 1];
	unsigned int n, want;
	struct completion done;
} vsk_rec;

static void vsk_record(struct bio *bio)
{
	unsigned long flags;

	spin_lock_irqsave(&vsk_rec.lock, flags);
	if (vsk_rec.n < VSK_MAX_BIOS)
		vsk_rec.who[vsk_rec.n++] = (char)(uintptr_t)bio->bi_private;
	if (vsk_rec.n == vsk_rec.want)
		complete(&vsk_rec.done);
	spin_unlock_irqrestore(&vsk_rec.lock, flags);
}

static void vsk_rec_reset(unsigned int want)
{
	spin_lock_init(&vsk_rec.lock);
	memset(vsk_rec.who, 0, sizeof(vsk_rec.who));
	vsk_rec.n = 0;
	vsk_rec.want = want;
	init_completion(&vsk_rec.done);
}

static unsigned int vsk_rec_count(void)
{
	unsigned long flags;
	unsigned int n;

	spin_lock_irqsave(&vsk_rec.lock, flags);
	n = vsk_rec.n;
	spin_unlock_irqrestore(&vsk_rec.lock, flags);
	return n;
}

/* A bio of SIZE bytes of member WHO ('a', 'b'...), freed by the test. */
static struct bio *vsk_bio(struct kunit *test, enum req_op op,
			   unsigned int size, char who)
{
	struct bio *bio = bio_kmalloc(0, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, bio);
	bio_init(bio, NULL, NULL, 0, op);
	bio->bi_iter.bi_size = size;
	bio->bi_private = (void *)(uintptr_t)who;
	return bio;
}

struct vsk_bios {
	struct bio *bio[VSK_MAX_BIOS];
	unsigned int n;
};

static bool vsk_throttle(struct kunit *test, struct vsk_bios *bios,
			 struct vs_tgroup_member *m, enum req_op op,
			 unsigned int size, char who)
{
	struct bio *bio = vsk_bio(test, op, size, who);

	KUNIT_ASSERT_LT(test, bios->n, (unsigned int)VSK_MAX_BIOS);
	bios->bio[bios->n++] = bio;
	return vs_tgroup_throttle(m, bio);
}

static void vsk_free_bios(struct vsk_bios *bios)
{
	while (bios->n) {
		struct bio *bio = bios->bio[--bios->n];

		bio_uninit(bio);
		kfree(bio);
	}
}

static void vsk_limit(struct vs_thr_limits *l, const char *name, u64 value)
{
	int idx = vs_thr_limit_index(name);

	if (idx >= 0)
		vs_thr_limit_set(l, idx, value);
}

static void vsk_create(struct kunit *test, const char *group,
		       const char *limit, u64 value)
{
	struct vs_thr_limits l = {};
	const char *error = NULL;

	if (limit)
		vsk_limit(&l, limit, value);
	KUNIT_ASSERT_EQ(test, vs_tgroup_create(group, &l, &error), 0);
	KUNIT_ASSERT_EQ(test, vs_tgroup_set_submit(group, vsk_record), 0);
}

static struct vs_tgroup_member *vsk_join(struct kunit *test, const char *group,
					 const char *node)
{
	struct vs_tgroup_member *m;
	char *error = NULL;

	m = vs_tgroup_join(group, node, &error);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(m), "join %s: %s", group, error);
	return m;
}

static void vsk_delete(struct kunit *test, const char *group)
{
	const char *error = NULL;

	KUNIT_EXPECT_EQ(test, vs_tgroup_delete(group, &error), 0);
}

/*
 * Three members fill the queue one after the other; the group lets their
 * bios go in turns, one each: QEMU's round-robin between members with
 * waiting requests.
 */
static void vsk_round_robin(struct kunit *test)
{
	static const char * const nodes[] = { "a", "b", "c" };
	static const char names[] = "abc";
	struct vs_tgroup_member *m[3];
	struct vsk_bios *bios;
	unsigned int i, j, passed = 0;

	bios = kunit_kzalloc(test, sizeof(*bios), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, bios);
	vsk_create(test, "vsk-rr", "iops-write", 200);
	for (i = 0; i < 3; i++)
		m[i] = vsk_join(test, "vsk-rr", nodes[i]);

	/* a's bios pass until the bucket (200 / 10 operations) is full */
	vsk_rec_reset(18);
	while (vsk_throttle(test, bios, m[0], REQ_OP_WRITE, 4096, 'a'))
		KUNIT_ASSERT_LT(test, ++passed, 40U);
	KUNIT_EXPECT_GE(test, passed, 15U);

	/* with the one that waited: six bios of each member */
	for (i = 0; i < 5; i++)
		KUNIT_EXPECT_FALSE(test, vsk_throttle(test, bios, m[0],
						      REQ_OP_WRITE, 4096, 'a'));
	for (j = 1; j < 3; j++)
		for (i = 0; i < 6; i++)
			KUNIT_EXPECT_FALSE(test,
					   vsk_throttle(test, bios, m[j],
							REQ_OP_WRITE, 4096,
							names[j]));
	/* a flush and a read pass while writes wait */
	KUNIT_EXPECT_TRUE(test, vsk_throttle(test, bios, m[1], REQ_OP_WRITE,
					     0, 'b'));
	KUNIT_EXPECT_TRUE(test, vsk_throttle(test, bios, m[2], REQ_OP_READ,
					     4096, 'c'));

	/* 18 operations at 200 per second: 90 ms */
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&vsk_rec.done, 5 * HZ),
			0UL);
	KUNIT_EXPECT_STREQ(test, vsk_rec.who, "abcabcabcabcabcabc");

	for (i = 0; i < 3; i++)
		vs_tgroup_leave(m[i]);
	vsk_free_bios(bios);
	vsk_delete(test, "vsk-rr");
}

/* Bypass (a suspend) lets a member's waiting bios go at once. */
static void vsk_bypass(struct kunit *test)
{
	struct vs_tgroup_member *m;
	struct vsk_bios *bios;
	unsigned int i;

	bios = kunit_kzalloc(test, sizeof(*bios), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, bios);
	vsk_create(test, "vsk-by", "iops-write", 1);
	m = vsk_join(test, "vsk-by", "a");
	vsk_rec_reset(3);
	KUNIT_EXPECT_TRUE(test, vsk_throttle(test, bios, m, REQ_OP_WRITE, 512,
					     'a'));
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_FALSE(test, vsk_throttle(test, bios, m,
						      REQ_OP_WRITE, 512, 'a'));
	vs_tgroup_member_bypass(m, true);
	KUNIT_EXPECT_EQ(test, vsk_rec_count(), 3U);
	KUNIT_EXPECT_TRUE(test, vsk_throttle(test, bios, m, REQ_OP_WRITE, 512,
					     'a'));
	vs_tgroup_member_bypass(m, false);
	vs_tgroup_leave(m);
	vsk_free_bios(bios);
	vsk_delete(test, "vsk-by");
}

/* New limits apply to the bios that already wait. */
static void vsk_new_limits(struct kunit *test)
{
	bool given[VS_THR_NR_LIMITS] = {};
	struct vs_thr_limits l = {};
	struct vs_tgroup_member *m;
	const char *error = NULL;
	struct vsk_bios *bios;
	unsigned int i;

	bios = kunit_kzalloc(test, sizeof(*bios), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, bios);
	vsk_create(test, "vsk-nl", "iops-write", 1);
	m = vsk_join(test, "vsk-nl", "a");
	vsk_rec_reset(3);
	KUNIT_EXPECT_TRUE(test, vsk_throttle(test, bios, m, REQ_OP_WRITE, 512,
					     'a'));
	for (i = 0; i < 3; i++)
		KUNIT_EXPECT_FALSE(test, vsk_throttle(test, bios, m,
						      REQ_OP_WRITE, 512, 'a'));
	/* without a limit they would wait three seconds */
	given[vs_thr_limit_index("iops-write")] = true;
	KUNIT_ASSERT_EQ(test, vs_tgroup_set_limits("vsk-nl", &l, given, &error),
			0);
	KUNIT_EXPECT_NE(test, wait_for_completion_timeout(&vsk_rec.done, HZ / 2),
			0UL);
	vs_tgroup_leave(m);
	vsk_free_bios(bios);
	vsk_delete(test, "vsk-nl");
}

static void vsk_refusals(struct kunit *test)
{
	bool given[VS_THR_NR_LIMITS] = {};
	struct vs_thr_limits l = {};
	struct vs_tgroup_member *m;
	const char *error = NULL;
	char *jerr = NULL;

	vsk_create(test, "vsk-rf", NULL, 0);
	KUNIT_EXPECT_EQ(test, vs_tgroup_create("vsk-rf", &l, &error), -EEXIST);
	m = vsk_join(test, "vsk-rf", "a");
	error = NULL;
	KUNIT_EXPECT_EQ(test, vs_tgroup_delete("vsk-rf", &error), -EBUSY);
	KUNIT_EXPECT_TRUE(test, error && strstr(error, "in use"));

	/* QEMU's rules, by name, on creation and on change */
	vsk_limit(&l, "bps-total", 1000);
	vsk_limit(&l, "bps-read", 1000);
	error = NULL;
	KUNIT_EXPECT_EQ(test, vs_tgroup_create("vsk-bad", &l, &error), -EINVAL);
	KUNIT_EXPECT_TRUE(test, error && strstr(error, "bps-total") &&
			  strstr(error, "bps-read"));
	given[vs_thr_limit_index("bps-total")] = true;
	given[vs_thr_limit_index("bps-read")] = true;
	error = NULL;
	KUNIT_EXPECT_EQ(test, vs_tgroup_set_limits("vsk-rf", &l, given, &error),
			-EINVAL);
	KUNIT_EXPECT_NOT_NULL(test, error);
	KUNIT_EXPECT_EQ(test, vs_tgroup_set_limits("vsk-none", &l, given,
						   &error), -ENOENT);

	KUNIT_EXPECT_TRUE(test, IS_ERR(vs_tgroup_join("vsk-none", "b", &jerr)));
	KUNIT_EXPECT_NOT_NULL(test, jerr);

	vs_tgroup_leave(m);
	vsk_delete(test, "vsk-rf");
	error = NULL;
	KUNIT_EXPECT_EQ(test, vs_tgroup_delete("vsk-rf", &error), -ENOENT);
}

static struct kunit_case vsk_tgroup_cases[] = {
	KUNIT_CASE(vsk_round_robin),
	KUNIT_CASE(vsk_bypass),
	KUNIT_CASE(vsk_new_limits),
	KUNIT_CASE(vsk_refusals),
	{}
};

static struct kunit_suite vsk_tgroup_suite = {
	.name = "vstorage-tgroup",
	.test_cases = vsk_tgroup_cases,
};

kunit_test_suite(vsk_tgroup_suite);
