// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: refcount block packing for every refcount_order (1 to 64 bits per
 * entry; sub-byte widths are packed from the least significant bit, wider
 * ones big-endian, as QEMU stores them), refcount arithmetic at the limits,
 * refcount table entries and the refcount index of a host cluster.
 */
#include <kunit/test.h>
#include <linux/random.h>
#include <linux/slab.h>

#include "format.h"

#define Q2K_BLOCK	512

/* Entries of a 512-byte block at each order. */
static u32 q2k_entries(u32 order)
{
	return Q2K_BLOCK * 8 >> order;
}

/* Set every entry to a value derived from its index, read all back. */
static void q2k_refblock_every_order(struct kunit *test)
{
	u8 *block = kunit_kzalloc(test, Q2K_BLOCK, GFP_KERNEL);
	u32 order, i;

	KUNIT_ASSERT_NOT_NULL(test, block);
	for (order = 0; order <= QCOW2_MAX_REFCOUNT_ORDER; order++) {
		u64 max = qcow2_refcount_max(order);
		u32 n = q2k_entries(order);

		memset(block, 0, Q2K_BLOCK);
		for (i = 0; i < n; i++) {
			u64 v = (i * 0x9e3779b97f4a7c15ULL) & max;

			KUNIT_ASSERT_EQ(test, 0, qcow2_refblock_set(block, order, i, v));
		}
		for (i = 0; i < n; i++)
			KUNIT_ASSERT_EQ_MSG(test, (i * 0x9e3779b97f4a7c15ULL) & max,
					    qcow2_refblock_get(block, order, i),
					    "order %u entry %u", order, i);
		/* the widest value fits, one more does not */
		KUNIT_EXPECT_EQ(test, 0, qcow2_refblock_set(block, order, 1, max));
		KUNIT_EXPECT_EQ(test, max, qcow2_refblock_get(block, order, 1));
		if (order < 6)
			KUNIT_EXPECT_EQ(test, -ERANGE,
					qcow2_refblock_set(block, order, 1, max + 1));
	}
	KUNIT_EXPECT_EQ(test, -ERANGE, qcow2_refblock_set(block, 7, 0, 0));
}

/* The byte layout, not only a consistent round trip. */
static void q2k_refblock_layout(struct kunit *test)
{
	u8 block[16];

	memset(block, 0, sizeof(block));
	/* 1 bit: entry i is bit (i % 8) of byte i / 8 */
	qcow2_refblock_set(block, 0, 0, 1);
	qcow2_refblock_set(block, 0, 9, 1);
	KUNIT_EXPECT_EQ(test, 0x01, block[0]);
	KUNIT_EXPECT_EQ(test, 0x02, block[1]);

	memset(block, 0, sizeof(block));
	/* 2 bits: entry 1 is bits 2-3 of byte 0 */
	qcow2_refblock_set(block, 1, 1, 3);
	qcow2_refblock_set(block, 1, 6, 2);
	KUNIT_EXPECT_EQ(test, 0x0c, block[0]);
	KUNIT_EXPECT_EQ(test, 0x20, block[1]);

	memset(block, 0, sizeof(block));
	/* 4 bits: entry 1 is the high nibble of byte 0 */
	qcow2_refblock_set(block, 2, 1, 0xa);
	qcow2_refblock_set(block, 2, 2, 0x5);
	KUNIT_EXPECT_EQ(test, 0xa0, block[0]);
	KUNIT_EXPECT_EQ(test, 0x05, block[1]);

	memset(block, 0, sizeof(block));
	/* 16 bits (the default), big-endian */
	qcow2_refblock_set(block, 4, 1, 0x1234);
	KUNIT_EXPECT_EQ(test, 0x12, block[2]);
	KUNIT_EXPECT_EQ(test, 0x34, block[3]);

	memset(block, 0, sizeof(block));
	/* 64 bits, big-endian */
	qcow2_refblock_set(block, 6, 1, 0x0102030405060708ULL);
	KUNIT_EXPECT_EQ(test, 0x01, block[8]);
	KUNIT_EXPECT_EQ(test, 0x08, block[15]);
	KUNIT_EXPECT_EQ(test, 0x00, block[7]);
}

/* Neighbours of a sub-byte entry are untouched by a write to it. */
static void q2k_refblock_neighbours(struct kunit *test)
{
	u32 order, i, j;
	u8 block[4];

	for (order = 0; order <= 2; order++) {
		u64 max = qcow2_refcount_max(order);

		for (i = 0; i < 32 >> order; i++) {
			memset(block, 0xff, sizeof(block));
			qcow2_refblock_set(block, order, i, 0);
			for (j = 0; j < 32 >> order; j++)
				KUNIT_EXPECT_EQ(test, j == i ? 0 : max,
						qcow2_refblock_get(block, order, j));
		}
	}
}

static void q2k_refcount_adjust(struct kunit *test)
{
	u64 out = 0;
	u32 order;

	for (order = 0; order <= QCOW2_MAX_REFCOUNT_ORDER; order++) {
		u64 max = qcow2_refcount_max(order);

		KUNIT_EXPECT_EQ(test, 0, qcow2_refcount_adjust(order, 0, 1, &out));
		KUNIT_EXPECT_EQ(test, 1ULL, out);
		KUNIT_EXPECT_EQ(test, 0, qcow2_refcount_adjust(order, max, -1, &out));
		KUNIT_EXPECT_EQ(test, max - 1, out);
		KUNIT_EXPECT_EQ(test, -ERANGE, qcow2_refcount_adjust(order, max, 1, &out));
		KUNIT_EXPECT_EQ(test, -ERANGE, qcow2_refcount_adjust(order, 0, -1, &out));
	}
	/* S64_MIN must not overflow on negation */
	KUNIT_EXPECT_EQ(test, -ERANGE, qcow2_refcount_adjust(6, 5, S64_MIN, &out));
	KUNIT_EXPECT_EQ(test, 0, qcow2_refcount_adjust(6, BIT_ULL(63), S64_MIN, &out));
	KUNIT_EXPECT_EQ(test, 0ULL, out);
	KUNIT_EXPECT_EQ(test, 0, qcow2_refcount_adjust(6, 0, S64_MAX, &out));
	KUNIT_EXPECT_EQ(test, (u64)S64_MAX, out);
	/* a value already above the width is refused, not wrapped */
	KUNIT_EXPECT_EQ(test, -ERANGE, qcow2_refcount_adjust(0, 2, -1, &out));
	KUNIT_EXPECT_EQ(test, -ERANGE, qcow2_refcount_adjust(7, 0, 1, &out));
}

static void q2k_reftable_entries(struct kunit *test)
{
	struct qcow2_geometry g;
	const char *reason = NULL;
	u64 table_index, off = 0;
	u32 block_index;

	KUNIT_ASSERT_EQ(test, 0, qcow2_geometry_init(&g, 3, 16, 4, false, false));
	KUNIT_EXPECT_EQ(test, 0, qcow2_reftable_entry_decode(&g, 0x30000, &off, &reason));
	KUNIT_EXPECT_EQ(test, 0x30000ULL, off);
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_reftable_entry_decode(&g, 0x30001, &off,
								    &reason));
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_reftable_entry_decode(&g, 0x30200, &off,
								    &reason));
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_reftable_entry_decode(&g, BIT_ULL(63), &off,
								    &reason));
	KUNIT_EXPECT_NOT_NULL(test, reason);

	/* 64 KiB clusters, 16-bit refcounts: 32768 clusters per block */
	qcow2_refcount_index(&g, 32768ULL * 65536 * 3 + 65536 * 5 + 17, &table_index,
			     &block_index);
	KUNIT_EXPECT_EQ(test, 3ULL, table_index);
	KUNIT_EXPECT_EQ(test, 5U, block_index);

	/* 512-byte clusters, 64-bit refcounts: 64 clusters per block */
	KUNIT_ASSERT_EQ(test, 0, qcow2_geometry_init(&g, 3, 9, 6, false, false));
	qcow2_refcount_index(&g, 512ULL * 130, &table_index, &block_index);
	KUNIT_EXPECT_EQ(test, 2ULL, table_index);
	KUNIT_EXPECT_EQ(test, 2U, block_index);
}

static struct kunit_case q2k_refcount_cases[] = {
	KUNIT_CASE(q2k_refblock_every_order),
	KUNIT_CASE(q2k_refblock_layout),
	KUNIT_CASE(q2k_refblock_neighbours),
	KUNIT_CASE(q2k_refcount_adjust),
	KUNIT_CASE(q2k_reftable_entries),
	{}
};

static struct kunit_suite q2k_refcount_suite = {
	.name = "vstorage-qcow2-refcount",
	.test_cases = q2k_refcount_cases,
};

kunit_test_suite(q2k_refcount_suite);
