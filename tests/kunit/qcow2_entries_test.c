// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit: qcow2 L1/L2 entry encoding and validation, subcluster bitmaps and
 * compressed-cluster descriptors (kernel/formats/qcow2/entries.c), checked
 * against the bit layouts of QEMU's docs/interop/qcow2.txt for every
 * cluster size and both entry widths.
 */
#include <kunit/test.h>

#include "format.h"

static void geometry(struct kunit *test, struct qcow2_geometry *g, u32 version,
		     u32 cluster_bits, bool extended_l2)
{
	KUNIT_ASSERT_EQ(test, 0, qcow2_geometry_init(g, version, cluster_bits,
						     4, extended_l2, false));
}

static void q2k_geometry_limits(struct kunit *test)
{
	struct qcow2_geometry g;

	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_geometry_init(&g, 1, 16, 4, false, false));
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_geometry_init(&g, 4, 16, 4, false, false));
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_geometry_init(&g, 3, 8, 4, false, false));
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_geometry_init(&g, 3, 22, 4, false, false));
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_geometry_init(&g, 3, 16, 7, false, false));
	/* extended L2 needs v3 and subclusters of at least 512 bytes */
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_geometry_init(&g, 2, 16, 4, true, false));
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_geometry_init(&g, 3, 13, 4, true, false));
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_geometry_init(&g, 2, 16, 4, false, true));

	geometry(test, &g, 3, 16, false);
	KUNIT_EXPECT_EQ(test, 65536U, g.cluster_size);
	KUNIT_EXPECT_EQ(test, 13U, g.l2_bits);
	KUNIT_EXPECT_EQ(test, 8U, g.l2_entry_size);
	KUNIT_EXPECT_EQ(test, 1U, g.subclusters);
	KUNIT_EXPECT_TRUE(test, g.zero_flag);
	/* x = 62 - (cluster_bits - 8): bits 0..x-1 offset, x..61 sectors */
	KUNIT_EXPECT_EQ(test, 54U, g.csize_shift);
	KUNIT_EXPECT_EQ(test, 0xffULL, g.csize_mask);
	KUNIT_EXPECT_EQ(test, (1ULL << 54) - 1, g.coffset_mask);
	/* 16-bit refcounts: 2^(16 + 3 - 4) entries per block */
	KUNIT_EXPECT_EQ(test, 15U, g.refblock_bits);

	geometry(test, &g, 3, 16, true);
	KUNIT_EXPECT_EQ(test, 16U, g.l2_entry_size);
	KUNIT_EXPECT_EQ(test, 12U, g.l2_bits);
	KUNIT_EXPECT_EQ(test, 32U, g.subclusters);
	KUNIT_EXPECT_EQ(test, 11U, g.subcluster_bits);
	KUNIT_EXPECT_FALSE(test, g.zero_flag);

	geometry(test, &g, 2, 9, false);
	KUNIT_EXPECT_FALSE(test, g.zero_flag);
	KUNIT_EXPECT_EQ(test, 61U, g.csize_shift);
	KUNIT_EXPECT_EQ(test, 1ULL, g.csize_mask);
}

static void q2k_guest_indexes(struct kunit *test)
{
	struct qcow2_geometry g;
	u64 guest;

	geometry(test, &g, 3, 16, false);
	/* one L2 table maps 8192 clusters of 64 KiB: 512 MiB */
	guest = 3ULL * (512 << 20) + 5ULL * 65536 + 100;
	KUNIT_EXPECT_EQ(test, 3ULL, qcow2_l1_index(&g, guest));
	KUNIT_EXPECT_EQ(test, 5U, qcow2_l2_index(&g, guest));
	KUNIT_EXPECT_EQ(test, 0U, qcow2_sc_index(&g, guest));

	geometry(test, &g, 3, 16, true);
	/* 4096 entries of 16 bytes: 256 MiB per table, 2 KiB subclusters */
	guest = 2ULL * (256 << 20) + 7ULL * 65536 + 5 * 2048 + 1;
	KUNIT_EXPECT_EQ(test, 2ULL, qcow2_l1_index(&g, guest));
	KUNIT_EXPECT_EQ(test, 7U, qcow2_l2_index(&g, guest));
	KUNIT_EXPECT_EQ(test, 5U, qcow2_sc_index(&g, guest));
}

static void q2k_l1_entries(struct kunit *test)
{
	struct qcow2_geometry g;
	const char *reason = NULL;
	bool copied;
	u64 off;

	geometry(test, &g, 3, 16, false);
	KUNIT_EXPECT_EQ(test, BIT_ULL(63) | 0x50000ULL,
			qcow2_l1_entry_encode(0x50000, true));
	KUNIT_EXPECT_EQ(test, 0, qcow2_l1_entry_decode(&g, BIT_ULL(63) | 0x50000,
						       &off, &copied, &reason));
	KUNIT_EXPECT_EQ(test, 0x50000ULL, off);
	KUNIT_EXPECT_TRUE(test, copied);
	KUNIT_EXPECT_EQ(test, 0, qcow2_l1_entry_decode(&g, 0, &off, &copied, &reason));
	KUNIT_EXPECT_EQ(test, 0ULL, off);

	/* bits 0-8 and 56-62 are reserved */
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l1_entry_decode(&g, 0x50001, &off,
							      &copied, &reason));
	KUNIT_EXPECT_NOT_NULL(test, reason);
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l1_entry_decode(&g, BIT_ULL(56) | 0x50000,
							      &off, &copied, &reason));
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l1_entry_decode(&g, BIT_ULL(62),
							      &off, &copied, &reason));
	/* L2 tables are cluster-aligned */
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l1_entry_decode(&g, 0x50200, &off,
							      &copied, &reason));
}

static void q2k_l1_table_check(struct kunit *test)
{
	struct qcow2_geometry g;
	const char *reason = NULL;
	__be64 l1[4];
	u32 bad = 0;

	geometry(test, &g, 3, 16, false);
	l1[0] = cpu_to_be64(0x30000 | BIT_ULL(63));
	l1[1] = 0;
	l1[2] = cpu_to_be64(0x40000);
	l1[3] = cpu_to_be64(0x50000);
	KUNIT_EXPECT_EQ(test, 0, qcow2_l1_table_check(&g, l1, 4, 0x60000, &bad, &reason));
	/* the last table would end past the end of the file */
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l1_table_check(&g, l1, 4, 0x5ffff, &bad, &reason));
	KUNIT_EXPECT_EQ(test, 3U, bad);
	l1[1] = cpu_to_be64(0x48000);
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l1_table_check(&g, l1, 4, 0x60000, &bad, &reason));
	KUNIT_EXPECT_EQ(test, 1U, bad);
}

/* Every representable standard entry survives encode then decode. */
static void q2k_l2_standard_roundtrip(struct kunit *test)
{
	static const enum qcow2_cluster_type types[] = {
		QCOW2_CLUSTER_UNALLOCATED, QCOW2_CLUSTER_ZERO_PLAIN,
		QCOW2_CLUSTER_ZERO_ALLOC, QCOW2_CLUSTER_NORMAL,
	};
	u32 bits, t, version;

	for (version = 2; version <= 3; version++) {
		for (bits = QCOW2_MIN_CLUSTER_BITS; bits <= QCOW2_MAX_CLUSTER_BITS; bits++) {
			struct qcow2_geometry g;

			geometry(test, &g, version, bits, false);
			for (t = 0; t < ARRAY_SIZE(types); t++) {
				struct qcow2_l2_info in = { .type = types[t] }, out;
				const char *reason = NULL;
				u64 entry, bitmap;
				int ret;

				if (types[t] != QCOW2_CLUSTER_UNALLOCATED &&
				    types[t] != QCOW2_CLUSTER_ZERO_PLAIN) {
					in.host_offset = (QCOW2_MAX_HOST_OFFSET - 1) &
							 ~((u64)g.cluster_size - 1);
					in.copied = true;
				}
				ret = qcow2_l2_entry_encode(&g, &in, &entry, &bitmap);
				if (version == 2 && (types[t] == QCOW2_CLUSTER_ZERO_PLAIN ||
						     types[t] == QCOW2_CLUSTER_ZERO_ALLOC)) {
					/* no zero flag before version 3 */
					KUNIT_EXPECT_EQ(test, -EINVAL, ret);
					continue;
				}
				KUNIT_ASSERT_EQ(test, 0, ret);
				KUNIT_EXPECT_EQ(test, 0ULL, bitmap);
				ret = qcow2_l2_entry_decode(&g, entry, 0, &out, &reason);
				KUNIT_ASSERT_EQ_MSG(test, 0, ret, "v%u bits %u type %u: %s",
						    version, bits, types[t], reason);
				KUNIT_EXPECT_EQ(test, in.type, out.type);
				KUNIT_EXPECT_EQ(test, in.host_offset, out.host_offset);
				KUNIT_EXPECT_EQ(test, in.copied, out.copied);
			}
		}
	}
}

static void q2k_l2_standard_invalid(struct kunit *test)
{
	struct qcow2_geometry g2, g3;
	struct qcow2_l2_info info;
	const char *reason = NULL;
	u64 entry, bitmap;

	geometry(test, &g2, 2, 16, false);
	geometry(test, &g3, 3, 16, false);

	/* bit 0 is the zero flag in v3, reserved in v2 */
	KUNIT_EXPECT_EQ(test, 0, qcow2_l2_entry_decode(&g3, 1, 0, &info, &reason));
	KUNIT_EXPECT_EQ(test, QCOW2_CLUSTER_ZERO_PLAIN, info.type);
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l2_entry_decode(&g2, 1, 0, &info, &reason));
	/* bits 1-8 and 56-61 are reserved */
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l2_entry_decode(&g3, 0x70002, 0, &info, &reason));
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l2_entry_decode(&g3, BIT_ULL(61) | 0x70000, 0,
							      &info, &reason));
	/* misaligned host offset */
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l2_entry_decode(&g3, 0x70200, 0, &info, &reason));
	/* "copied" on an unallocated cluster */
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l2_entry_decode(&g3, BIT_ULL(63), 0, &info, &reason));
	KUNIT_EXPECT_NOT_NULL(test, reason);

	/* encode refuses what decode would refuse */
	info = (struct qcow2_l2_info){ .type = QCOW2_CLUSTER_NORMAL, .host_offset = 0x70200 };
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_l2_entry_encode(&g3, &info, &entry, &bitmap));
	info.host_offset = QCOW2_MAX_HOST_OFFSET;
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_l2_entry_encode(&g3, &info, &entry, &bitmap));
	info.host_offset = 0;
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_l2_entry_encode(&g3, &info, &entry, &bitmap));
	info = (struct qcow2_l2_info){ .type = QCOW2_CLUSTER_ZERO_PLAIN, .host_offset = 0x10000 };
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_l2_entry_encode(&g3, &info, &entry, &bitmap));
	info = (struct qcow2_l2_info){ .type = QCOW2_CLUSTER_UNALLOCATED, .copied = true };
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_l2_entry_encode(&g3, &info, &entry, &bitmap));
}

static void q2k_l2_extended(struct kunit *test)
{
	struct qcow2_geometry g;
	struct qcow2_l2_info info, out;
	const char *reason = NULL;
	u64 entry, bitmap;

	geometry(test, &g, 3, 16, true);

	/* allocated subclusters 0-3, zero 8-9, the rest from the backing file */
	info = (struct qcow2_l2_info){ .type = QCOW2_CLUSTER_NORMAL,
				       .host_offset = 0x90000, .copied = true,
				       .alloc = 0xf, .zero = 0x300 };
	KUNIT_ASSERT_EQ(test, 0, qcow2_l2_entry_encode(&g, &info, &entry, &bitmap));
	KUNIT_EXPECT_EQ(test, BIT_ULL(63) | 0x90000ULL, entry);
	KUNIT_EXPECT_EQ(test, 0x000003000000000fULL, bitmap);
	KUNIT_ASSERT_EQ(test, 0, qcow2_l2_entry_decode(&g, entry, bitmap, &out, &reason));
	KUNIT_EXPECT_EQ(test, 0xfU, out.alloc);
	KUNIT_EXPECT_EQ(test, 0x300U, out.zero);

	/* an unallocated cluster may have zero subclusters, not data */
	KUNIT_EXPECT_EQ(test, 0, qcow2_l2_entry_decode(&g, 0, 0xffffffff00000000ULL,
						       &out, &reason));
	KUNIT_EXPECT_EQ(test, QCOW2_CLUSTER_UNALLOCATED, out.type);
	KUNIT_EXPECT_EQ(test, U32_MAX, out.zero);
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l2_entry_decode(&g, 0, 1, &out, &reason));
	/* a subcluster cannot be both allocated and zero */
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l2_entry_decode(&g, 0x90000,
							      BIT_ULL(32) | 1, &out, &reason));
	/* no zero flag in extended entries (bit 0 is reserved) */
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l2_entry_decode(&g, 0x90001, 0, &out, &reason));
	info = (struct qcow2_l2_info){ .type = QCOW2_CLUSTER_ZERO_PLAIN };
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_l2_entry_encode(&g, &info, &entry, &bitmap));
	/* compressed clusters carry no bitmap */
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l2_entry_decode(&g, BIT_ULL(62) | 0x90000, 1,
							      &out, &reason));
}

static void q2k_subcluster_runs(struct kunit *test)
{
	struct qcow2_geometry g, gs;
	struct qcow2_l2_info info = { .type = QCOW2_CLUSTER_NORMAL,
				      .host_offset = 0x90000 };

	geometry(test, &g, 3, 16, true);
	geometry(test, &gs, 3, 16, false);

	KUNIT_EXPECT_EQ(test, 0, qcow2_sc_set(&info, 4, 8, QCOW2_SC_DATA));
	KUNIT_EXPECT_EQ(test, 0, qcow2_sc_set(&info, 12, 2, QCOW2_SC_ZERO));
	KUNIT_EXPECT_EQ(test, 0xff0U, info.alloc);
	KUNIT_EXPECT_EQ(test, 0x3000U, info.zero);
	KUNIT_EXPECT_EQ(test, QCOW2_SC_UNALLOCATED, qcow2_sc_state(&info, 0));
	KUNIT_EXPECT_EQ(test, QCOW2_SC_DATA, qcow2_sc_state(&info, 4));
	KUNIT_EXPECT_EQ(test, QCOW2_SC_ZERO, qcow2_sc_state(&info, 13));
	KUNIT_EXPECT_EQ(test, 4U, qcow2_sc_run(&g, &info, 0));
	KUNIT_EXPECT_EQ(test, 8U, qcow2_sc_run(&g, &info, 4));
	KUNIT_EXPECT_EQ(test, 3U, qcow2_sc_run(&g, &info, 9));
	KUNIT_EXPECT_EQ(test, 2U, qcow2_sc_run(&g, &info, 12));
	KUNIT_EXPECT_EQ(test, 18U, qcow2_sc_run(&g, &info, 14));
	KUNIT_EXPECT_EQ(test, 1U, qcow2_sc_run(&g, &info, 31));
	KUNIT_EXPECT_EQ(test, 0U, qcow2_sc_run(&g, &info, 32));

	/* overwriting zero with data and back */
	KUNIT_EXPECT_EQ(test, 0, qcow2_sc_set(&info, 13, 19, QCOW2_SC_DATA));
	KUNIT_EXPECT_EQ(test, 0x1000U, info.zero);
	KUNIT_EXPECT_EQ(test, 0xffffeff0U, info.alloc);
	KUNIT_EXPECT_EQ(test, 0, qcow2_sc_set(&info, 0, 32, QCOW2_SC_UNALLOCATED));
	KUNIT_EXPECT_EQ(test, 0U, info.alloc | info.zero);

	/* ranges out of the cluster; data on an unallocated cluster */
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_sc_set(&info, 0, 0, QCOW2_SC_DATA));
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_sc_set(&info, 31, 2, QCOW2_SC_DATA));
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_sc_set(&info, 32, 1, QCOW2_SC_ZERO));
	info.type = QCOW2_CLUSTER_UNALLOCATED;
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_sc_set(&info, 0, 1, QCOW2_SC_DATA));
	KUNIT_EXPECT_EQ(test, 0, qcow2_sc_set(&info, 0, 1, QCOW2_SC_ZERO));

	/* a standard entry is one "subcluster" */
	info = (struct qcow2_l2_info){ .type = QCOW2_CLUSTER_NORMAL,
				       .host_offset = 0x90000, .alloc = U32_MAX };
	KUNIT_EXPECT_EQ(test, 1U, qcow2_sc_run(&gs, &info, 0));

	/* the raw bitmap helper agrees */
	KUNIT_EXPECT_EQ(test, 0xf0ULL, qcow2_sc_bitmap_set(0, 4, 4, QCOW2_SC_DATA));
	KUNIT_EXPECT_EQ(test, 0xc0ULL | (0x30ULL << 32),
			qcow2_sc_bitmap_set(0xf0, 4, 2, QCOW2_SC_ZERO));
	KUNIT_EXPECT_EQ(test, 0ULL, qcow2_sc_bitmap_set(0xffffffffULL << 32, 0, 32,
							QCOW2_SC_UNALLOCATED));
	KUNIT_EXPECT_EQ(test, 0x5ULL, qcow2_sc_bitmap_set(0x5, 30, 3, QCOW2_SC_DATA));
}

static void q2k_compressed(struct kunit *test)
{
	struct qcow2_geometry g;
	struct qcow2_l2_info info;
	const char *reason = NULL;
	u64 entry, off, start;
	u32 bits, sectors, len;

	for (bits = QCOW2_MIN_CLUSTER_BITS; bits <= QCOW2_MAX_CLUSTER_BITS; bits++) {
		u64 host = (3ULL << bits) + 1000;
		u32 nbytes = (1U << bits) - 7;

		geometry(test, &g, 3, bits, false);
		KUNIT_ASSERT_EQ(test, 0, qcow2_compressed_encode(&g, host, nbytes, &entry));
		/* the field counts the 512-byte sectors after the first */
		qcow2_compressed_decode(&g, entry, &off, &sectors);
		KUNIT_EXPECT_EQ(test, host, off);
		KUNIT_EXPECT_EQ(test, (u32)(((host + nbytes - 1) >> 9) - (host >> 9)), sectors);
		KUNIT_ASSERT_EQ(test, 0, qcow2_l2_entry_decode(&g, entry, 0, &info, &reason));
		KUNIT_EXPECT_EQ(test, QCOW2_CLUSTER_COMPRESSED, info.type);
		KUNIT_EXPECT_EQ(test, QCOW2_SC_COMPRESSED, qcow2_sc_state(&info, 0));
		/* the read covers the data, to the end of its last sector */
		KUNIT_ASSERT_EQ(test, 0, qcow2_compressed_range(&g, off, sectors,
								U64_MAX >> 8, &start, &len,
								&reason));
		KUNIT_EXPECT_EQ(test, host, start);
		KUNIT_EXPECT_GE(test, len, nbytes);
		KUNIT_EXPECT_EQ(test, 0ULL, (start + len) % 512);
		KUNIT_EXPECT_LT(test, len, nbytes + 512);
		/* clipped at the end of the file, like QEMU */
		KUNIT_ASSERT_EQ(test, 0, qcow2_compressed_range(&g, off, sectors,
								host + 10, &start, &len,
								&reason));
		KUNIT_EXPECT_EQ(test, 10U, len);
		/* in the header cluster, or past the end: corrupt */
		KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_compressed_range(&g, 100, 0, 1 << 30,
								       &start, &len, &reason));
		KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_compressed_range(&g, host, 0, host,
								       &start, &len, &reason));
		/* more sectors than a cluster can need do not fit the field */
		KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_compressed_encode(&g, 1ULL << bits,
								       (2U << bits) + 1024,
								       &entry));
	}

	geometry(test, &g, 3, 16, false);
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_compressed_encode(&g, 0x10000, 0, &entry));
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_compressed_encode(&g, 512, 100, &entry));
	KUNIT_EXPECT_EQ(test, -EINVAL, qcow2_compressed_encode(&g, 1ULL << 54, 100, &entry));
	/* "copied" never goes with a compressed cluster */
	KUNIT_EXPECT_EQ(test, -EUCLEAN, qcow2_l2_entry_decode(&g, BIT_ULL(63) | BIT_ULL(62) |
							      0x20000, 0, &info, &reason));
}

static struct kunit_case q2k_entries_cases[] = {
	KUNIT_CASE(q2k_geometry_limits),
	KUNIT_CASE(q2k_guest_indexes),
	KUNIT_CASE(q2k_l1_entries),
	KUNIT_CASE(q2k_l1_table_check),
	KUNIT_CASE(q2k_l2_standard_roundtrip),
	KUNIT_CASE(q2k_l2_standard_invalid),
	KUNIT_CASE(q2k_l2_extended),
	KUNIT_CASE(q2k_subcluster_runs),
	KUNIT_CASE(q2k_compressed),
	{}
};

static struct kunit_suite q2k_entries_suite = {
	.name = "vstorage-qcow2-entries",
	.test_cases = q2k_entries_cases,
};

kunit_test_suite(q2k_entries_suite);
