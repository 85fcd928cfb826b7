// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of kernel/formats/qcow2/format.c and entries.c, built as userspace C11.
 * Every buffer is built by hand here; tests/unit/qcow2-format.sh checks the
 * same code against images made by qemu-img.
 *
 * Prints "ok NAME" or "FAIL NAME: detail" per test and exits 1 on any
 * failure. An optional argument selects the tests whose name contains it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../kernel/formats/qcow2/format.h"

static int nr_failed, nr_run;
static const char *cur_test;
static int cur_failed;
static const char *filter;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fail_at(__LINE__, "%s", #cond);				\
		return;							\
	}								\
} while (0)

#define CHECK_EQ(a, b) do {						\
	unsigned long long __va = (unsigned long long)(a);		\
	unsigned long long __vb = (unsigned long long)(b);		\
	if (__va != __vb) {						\
		fail_at(__LINE__, "%s == %s (0x%llx != 0x%llx)",	\
			#a, #b, __va, __vb);				\
		return;							\
	}								\
} while (0)

/* ret must be err and, if substr is given, the reason must contain it */
#define CHECK_ERR(ret, err, reason, substr) do {			\
	int __r = (ret);						\
	if (__r != (err)) {						\
		fail_at(__LINE__, "%s returned %d, want %d (%s)", #ret,	\
			__r, (err), reason_str(reason));		\
		return;							\
	}								\
	if (!reason_has(reason, substr)) {				\
		fail_at(__LINE__, "reason \"%s\" lacks \"%s\"",	\
			reason_str(reason), reason_str(substr));	\
		return;							\
	}								\
} while (0)

static const char *reason_str(const char *s)
{
	return s ? s : "(null)";
}

static bool reason_has(const char *reason, const char *substr)
{
	return !substr || (reason && strstr(reason, substr));
}

__attribute__((format(printf, 2, 3)))
static void fail_at(int line, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: line %d: ", cur_test, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	cur_failed = 1;
}

static void run(const char *name, void (*fn)(void))
{
	if (filter && !strstr(name, filter))
		return;
	cur_test = name;
	cur_failed = 0;
	nr_run++;
	fn();
	if (cur_failed)
		nr_failed++;
	else
		printf("ok %s\n", name);
}

/* Deterministic PRNG (xorshift64*) */
static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static u64 rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void put8(u8 *b, u32 off, u8 v)
{
	b[off] = v;
}

static void put16(u8 *b, u32 off, u16 v)
{
	put_unaligned_be16(v, b + off);
}

static void put32(u8 *b, u32 off, u32 v)
{
	put_unaligned_be32(v, b + off);
}

static void put64(u8 *b, u32 off, u64 v)
{
	put_unaligned_be64(v, b + off);
}

/* == Building headers == */

#define HBUF_SIZE (2U << 20)
static u8 hbuf[HBUF_SIZE];

/*
 * A valid image header in hbuf: reftable at cluster 1 (one cluster), L1 at
 * cluster 3 with exactly the entries needed. Returns the file size: the end
 * of the L1 table, at least 4 clusters. The extension area holds just an
 * end marker.
 */
static u64 mk_header(u32 version, u32 cluster_bits, u64 size, bool extl2)
{
	u64 cs = 1ULL << cluster_bits;
	u32 l2_bits = cluster_bits - (extl2 ? 4 : 3);
	u64 l1 = (size + (1ULL << (cluster_bits + l2_bits)) - 1) >>
		 (cluster_bits + l2_bits);
	u64 end;

	memset(hbuf, 0, sizeof(hbuf));
	put32(hbuf, 0, QCOW2_MAGIC);
	put32(hbuf, 4, version);
	put32(hbuf, 20, cluster_bits);
	put64(hbuf, 24, size);
	put32(hbuf, 36, (u32)l1);
	put64(hbuf, 40, 3 * cs);
	put64(hbuf, 48, cs);
	put32(hbuf, 56, 1);
	if (version >= 3) {
		put32(hbuf, 96, 4);
		put32(hbuf, 100, 112);
		if (extl2)
			put64(hbuf, 72, QCOW2_INCOMPAT_EXTL2);
	}
	end = 3 * cs + l1 * 8;
	return end > 4 * cs ? end : 4 * cs;
}

static int parse(u64 fs, struct qcow2_header *h, const char **reason)
{
	return qcow2_header_parse(hbuf, HBUF_SIZE, fs, h, reason);
}

/* == Geometry == */

static void test_geometry(void)
{
	struct qcow2_geometry g;
	u32 cb;

	for (cb = 9; cb <= 21; cb++) {
		CHECK_EQ(qcow2_geometry_init(&g, 3, cb, 4, false, false), 0);
		CHECK_EQ(g.cluster_size, 1U << cb);
		CHECK_EQ(g.l2_bits, cb - 3);
		CHECK_EQ(g.subclusters, 1);
		CHECK_EQ(g.csize_shift, 62 - (cb - 8));
		CHECK_EQ(g.csize_mask, (1ULL << (cb - 8)) - 1);
		CHECK_EQ(g.refblock_bits, cb + 3 - 4);
		CHECK(g.zero_flag);
	}
	CHECK_EQ(qcow2_geometry_init(&g, 3, 16, 4, true, false), 0);
	CHECK_EQ(g.l2_entry_size, 16);
	CHECK_EQ(g.l2_bits, 12);
	CHECK_EQ(g.subclusters, 32);
	CHECK_EQ(g.subcluster_bits, 11);
	CHECK(!g.zero_flag);
	CHECK_EQ(qcow2_geometry_init(&g, 2, 16, 4, false, false), 0);
	CHECK(!g.zero_flag);
	CHECK_EQ(qcow2_geometry_init(&g, 3, 8, 4, false, false), -EINVAL);
	CHECK_EQ(qcow2_geometry_init(&g, 3, 22, 4, false, false), -EINVAL);
	CHECK_EQ(qcow2_geometry_init(&g, 3, 13, 4, true, false), -EINVAL);
	CHECK_EQ(qcow2_geometry_init(&g, 2, 16, 4, true, false), -EINVAL);
	CHECK_EQ(qcow2_geometry_init(&g, 3, 16, 7, false, false), -EINVAL);
	CHECK_EQ(qcow2_geometry_init(&g, 1, 16, 4, false, false), -EINVAL);
	CHECK_EQ(qcow2_geometry_init(&g, 2, 16, 4, false, true), -EINVAL);
}

static void test_indexes(void)
{
	struct qcow2_geometry g;
	u64 guest;

	qcow2_geometry_init(&g, 3, 16, 4, false, false);
	guest = (5ULL << 29) + (7ULL << 16) + 1234;
	CHECK_EQ(qcow2_l1_index(&g, guest), 5);
	CHECK_EQ(qcow2_l2_index(&g, guest), 7);
	CHECK_EQ(qcow2_sc_index(&g, guest), 0);
	qcow2_geometry_init(&g, 3, 16, 4, true, false);
	guest = (5ULL << 28) + (7ULL << 16) + 3 * 2048 + 5;
	CHECK_EQ(qcow2_l1_index(&g, guest), 5);
	CHECK_EQ(qcow2_l2_index(&g, guest), 7);
	CHECK_EQ(qcow2_sc_index(&g, guest), 3);
}

/* == Header: valid images == */

static void test_header_v3_default(void)
{
	struct qcow2_header h;
	const char *r = NULL;
	u64 fs = mk_header(3, 16, 1ULL << 30, false);

	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_EQ(h.version, 3);
	CHECK_EQ(h.header_length, 112);
	CHECK_EQ(h.cluster_size, 65536);
	CHECK_EQ(h.size, 1ULL << 30);
	CHECK_EQ(h.l1_size, 2);
	CHECK_EQ(h.l1_needed, 2);
	CHECK_EQ(h.refcount_bits, 16);
	CHECK_EQ(h.refcount_table_entries, 8192);
	CHECK_EQ(h.ext_start, 112);
	CHECK_EQ(h.ext_end, 65536);
	CHECK(!h.dirty && !h.corrupt && !h.extended_l2 && !h.has_backing);
	CHECK_EQ(h.compression_type, 0);
	CHECK_EQ(h.g.l2_entry_size, 8);
}

static void test_header_v2(void)
{
	struct qcow2_header h;
	const char *r = NULL;
	u64 fs = mk_header(2, 16, 1ULL << 30, false);

	/* bytes 72.. belong to the extension area in v2: end marker */
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_EQ(h.version, 2);
	CHECK_EQ(h.header_length, 72);
	CHECK_EQ(h.refcount_order, 4);
	CHECK_EQ(h.incompatible_features, 0);
	CHECK_EQ(h.ext_start, 72);
	CHECK(!h.g.zero_flag);
	/* v3 fields are not read in v2 */
	put64(hbuf, 72, ~0ULL);
	put32(hbuf, 96, 9);
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_EQ(h.refcount_order, 4);
	CHECK_EQ(h.incompatible_features, 0);
	/* a short buffer is enough for v2 */
	CHECK_EQ(qcow2_header_parse(hbuf, 72, fs, &h, &r), 0);
}

static void test_header_variants(void)
{
	struct qcow2_header h;
	const char *r = NULL;
	u64 fs;
	u32 cb, order;

	for (cb = 9; cb <= 21; cb++) {
		fs = mk_header(3, cb, 100ULL << 20, false);
		CHECK_EQ(parse(fs, &h, &r), 0);
		CHECK_EQ(h.cluster_size, 1U << cb);
		fs = mk_header(2, cb, 100ULL << 20, false);
		CHECK_EQ(parse(fs, &h, &r), 0);
	}
	for (cb = 14; cb <= 21; cb++) {
		fs = mk_header(3, cb, 100ULL << 20, true);
		CHECK_EQ(parse(fs, &h, &r), 0);
		CHECK(h.extended_l2);
		CHECK_EQ(h.g.l2_entry_size, 16);
	}
	for (order = 0; order <= 6; order++) {
		fs = mk_header(3, 16, 1ULL << 30, false);
		put32(hbuf, 96, order);
		CHECK_EQ(parse(fs, &h, &r), 0);
		CHECK_EQ(h.refcount_bits, 1U << order);
		CHECK_EQ(h.g.refblock_bits, 16 + 3 - order);
	}
	/* header_length 104: no compression type byte */
	fs = mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 100, 104);
	put8(hbuf, 104, 1);	/* not part of the header now */
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_EQ(h.compression_type, 0);
	CHECK_EQ(h.ext_start, 104);
	/* zstd */
	fs = mk_header(3, 16, 1ULL << 30, false);
	put64(hbuf, 72, QCOW2_INCOMPAT_COMPRESSION);
	put8(hbuf, 104, 1);
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_EQ(h.compression_type, 1);
	/* longer header with unknown fields: accepted, ignored */
	fs = mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 100, 128);
	put64(hbuf, 112, 0x1234);
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_EQ(h.ext_start, 128);
	/* reported feature bits */
	fs = mk_header(3, 16, 1ULL << 30, false);
	put64(hbuf, 72, QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT);
	put64(hbuf, 80, QCOW2_COMPAT_LAZY_REFCOUNTS | BIT_ULL(40));
	put64(hbuf, 88, QCOW2_AUTOCLEAR_BITMAPS | BIT_ULL(7));
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK(h.dirty && h.corrupt && h.lazy_refcounts && h.bitmaps_autoclear);
	CHECK_EQ(h.unknown_compatible, BIT_ULL(40));
	CHECK_EQ(h.unknown_autoclear, BIT_ULL(7));
	/* external data file, raw */
	fs = mk_header(3, 16, 1ULL << 30, false);
	put64(hbuf, 72, QCOW2_INCOMPAT_DATA_FILE);
	put64(hbuf, 88, QCOW2_AUTOCLEAR_DATA_FILE_RAW);
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK(h.data_file && h.data_file_raw && h.g.data_file);
	/* encryption methods parse; qcow2_check_open() refuses them */
	fs = mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 32, 1);
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_EQ(h.crypt_method, 1);
	/* size 0 with no L1 table at offset 0 */
	fs = mk_header(3, 16, 0, false);
	put64(hbuf, 40, 0);
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_EQ(h.l1_needed, 0);
	/* bigger L1 than needed (VM state), and the 32 MiB maximum */
	fs = mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 36, QCOW2_MAX_L1_ENTRIES);
	CHECK_EQ(parse(3 * 65536 + QCOW2_MAX_L1_BYTES, &h, &r), 0);
	/* largest virtual size with 2 MiB clusters: 2^61 */
	fs = mk_header(3, 21, 1ULL << 61, false);
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_EQ(h.l1_size, QCOW2_MAX_L1_ENTRIES);
	/* a backing file name after the end marker */
	fs = mk_header(3, 16, 1ULL << 30, false);
	memcpy(hbuf + 200, "base.qcow2", 10);
	put64(hbuf, 8, 200);
	put32(hbuf, 16, 10);
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK(h.has_backing);
	CHECK_EQ(h.ext_end, 200);
	/* backing offset set, size 0: no backing file, like QEMU */
	put32(hbuf, 16, 0);
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK(!h.has_backing);
	/* 1023 bytes ending exactly at the cluster end */
	put64(hbuf, 8, 65536 - 1023);
	put32(hbuf, 16, 1023);
	CHECK_EQ(parse(fs, &h, &r), 0);
	/* snapshots */
	fs = mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 60, 2);
	put64(hbuf, 64, 5 * 65536);
	CHECK_EQ(parse(6 * 65536, &h, &r), 0);
	CHECK_EQ(h.nb_snapshots, 2);
	/* unaligned size: kept as is (QEMU presents size & ~511) */
	fs = mk_header(3, 16, 1000, false);
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_EQ(h.size, 1000);
}

static void test_header_short_buffer(void)
{
	struct qcow2_header h;
	const char *r = NULL;
	u64 fs = mk_header(3, 16, 1ULL << 30, false);

	CHECK_ERR(qcow2_header_parse(hbuf, 50, fs, &h, &r), -ENODATA, r,
		  NULL);
	CHECK_ERR(qcow2_header_parse(hbuf, 80, fs, &h, &r), -ENODATA, r,
		  NULL);
	CHECK_EQ(h.header_length, 104);
	CHECK_ERR(qcow2_header_parse(hbuf, 104, fs, &h, &r), -ENODATA, r,
		  NULL);
	CHECK_EQ(h.header_length, 112);
	CHECK_EQ(qcow2_header_parse(hbuf, 112, fs, &h, &r), 0);
	put32(hbuf, 100, 4096);
	CHECK_ERR(qcow2_header_parse(hbuf, 112, fs, &h, &r), -ENODATA, r,
		  NULL);
	CHECK_EQ(h.header_length, 4096);
	CHECK_EQ(qcow2_header_parse(hbuf, 4096, fs, &h, &r), 0);
	CHECK_EQ(qcow2_header_area_size(&h, fs), 65536);
	CHECK_EQ(qcow2_header_area_size(&h, 5000), 5000);
}

static void test_header_encode(void)
{
	struct qcow2_header h, h2;
	const char *r = NULL;
	static u8 out[HBUF_SIZE];
	u64 fs = mk_header(3, 16, 1ULL << 30, false);

	put64(hbuf, 72, QCOW2_INCOMPAT_COMPRESSION | QCOW2_INCOMPAT_DIRTY);
	put64(hbuf, 80, 1);
	put64(hbuf, 88, 1);
	put8(hbuf, 104, 1);
	put32(hbuf, 60, 1);
	put64(hbuf, 64, 4 * 65536);
	memcpy(hbuf + 300, "b", 1);
	put64(hbuf, 8, 300);
	put32(hbuf, 16, 1);
	CHECK_EQ(parse(fs + 65536, &h, &r), 0);
	memset(out, 0, sizeof(out));
	CHECK_EQ(qcow2_header_encode(&h, out), 105);
	CHECK(!memcmp(out, hbuf, 105));
	memcpy(out + 300, "b", 1);
	CHECK_EQ(qcow2_header_parse(out, sizeof(out), fs + 65536, &h2, &r), 0);
	CHECK(!memcmp(&h, &h2, sizeof(h)));

	fs = mk_header(2, 12, 1ULL << 30, false);
	CHECK_EQ(parse(fs, &h, &r), 0);
	memset(out, 0xee, 200);
	CHECK_EQ(qcow2_header_encode(&h, out), 72);
	CHECK(!memcmp(out, hbuf, 72));
	CHECK_EQ(out[72], 0xee);
}

/* == Header: refused images, one case per checklist item == */

struct poke {
	u32 off;
	u8 width;	/* 1, 2, 4, 8; 0 ends */
	u64 val;
};

struct header_case {
	const char *name;
	u32 version;		/* 0: 3 */
	u32 cluster_bits;	/* 0: 16 */
	u64 file_size;		/* 0: from mk_header */
	struct poke pokes[4];
	int err;
	const char *reason;
};

static const struct header_case header_cases[] = {
	{ "bad-magic", .pokes = { { 0, 4, 0x514649fa } }, .err = -EINVAL,
	  .reason = "magic" },
	{ "version-1", .pokes = { { 4, 4, 1 } }, .err = -EOPNOTSUPP,
	  .reason = "version" },
	{ "version-4", .pokes = { { 4, 4, 4 } }, .err = -EOPNOTSUPP,
	  .reason = "version" },
	{ "version-0", .pokes = { { 4, 4, 0 } }, .err = -EOPNOTSUPP,
	  .reason = "version" },
	{ "cluster-bits-8", .pokes = { { 20, 4, 8 } }, .err = -EINVAL,
	  .reason = "cluster" },
	{ "cluster-bits-22", .pokes = { { 20, 4, 22 } }, .err = -EINVAL,
	  .reason = "cluster" },
	{ "cluster-bits-huge", .pokes = { { 20, 4, 0xffffffff } },
	  .err = -EINVAL, .reason = "cluster" },
	{ "header-length-72-v3", .pokes = { { 100, 4, 72 } }, .err = -EINVAL,
	  .reason = "below 104" },
	{ "header-length-100", .pokes = { { 100, 4, 100 } }, .err = -EINVAL,
	  .reason = "below 104" },
	{ "header-length-108", .pokes = { { 100, 4, 108 } }, .err = -EINVAL,
	  .reason = "multiple of 8" },
	{ "header-length-above-cluster", .pokes = { { 100, 4, 65544 } },
	  .err = -EINVAL, .reason = "exceeds the cluster" },
	/* iotest 080 "Huge header size" */
	{ "header-length-ffffffff", .pokes = { { 100, 4, 0xffffffff } },
	  .err = -EINVAL, .reason = "exceeds the cluster" },
	{ "header-length-7fffffff", .pokes = { { 100, 4, 0x7fffffff } },
	  .err = -EINVAL, .reason = "exceeds the cluster" },
	{ "file-shorter-than-header", .file_size = 100, .err = -EINVAL,
	  .reason = "file ends inside the header" },
	{ "file-shorter-than-72", .file_size = 71, .err = -EINVAL,
	  .reason = "too small" },
	{ "file-shorter-than-104", .file_size = 103, .err = -EINVAL,
	  .reason = "file ends inside the header" },
	{ "incompat-bit-5", .pokes = { { 72, 8, BIT_ULL(5) } },
	  .err = -EOPNOTSUPP, .reason = "unknown incompatible feature bit 5" },
	{ "incompat-bit-63", .pokes = { { 72, 8, BIT_ULL(63) | 1 } },
	  .err = -EOPNOTSUPP, .reason = "unknown incompatible feature bit 63" },
	{ "incompat-bit-17-and-40", .pokes = { { 72, 8, BIT_ULL(17) | BIT_ULL(40) } },
	  .err = -EOPNOTSUPP, .reason = "feature bit 17" },
	{ "refcount-order-7", .pokes = { { 96, 4, 7 } }, .err = -EINVAL,
	  .reason = "refcount_order" },
	{ "refcount-order-huge", .pokes = { { 96, 4, 0x80000004 } },
	  .err = -EINVAL, .reason = "refcount_order" },
	{ "extl2-cluster-8k", .cluster_bits = 13,
	  .pokes = { { 72, 8, QCOW2_INCOMPAT_EXTL2 } }, .err = -EINVAL,
	  .reason = "16 KiB" },
	{ "extl2-cluster-512", .cluster_bits = 9,
	  .pokes = { { 72, 8, QCOW2_INCOMPAT_EXTL2 } }, .err = -EINVAL,
	  .reason = "16 KiB" },
	{ "zstd-without-bit", .pokes = { { 104, 1, 1 } }, .err = -EINVAL,
	  .reason = "without the compression type feature bit" },
	{ "compression-bit-with-zlib",
	  .pokes = { { 72, 8, QCOW2_INCOMPAT_COMPRESSION } }, .err = -EINVAL,
	  .reason = "type is zlib" },
	{ "compression-bit-header-104",
	  .pokes = { { 72, 8, QCOW2_INCOMPAT_COMPRESSION }, { 100, 4, 104 },
		     { 104, 1, 1 } },
	  .err = -EINVAL, .reason = "type is zlib" },
	{ "compression-type-2",
	  .pokes = { { 72, 8, QCOW2_INCOMPAT_COMPRESSION }, { 104, 1, 2 } },
	  .err = -EOPNOTSUPP, .reason = "unknown compression type" },
	{ "crypt-method-3", .pokes = { { 32, 4, 3 } }, .err = -EOPNOTSUPP,
	  .reason = "unknown encryption method" },
	{ "raw-data-without-data-file",
	  .pokes = { { 88, 8, QCOW2_AUTOCLEAR_DATA_FILE_RAW } },
	  .err = -EINVAL, .reason = "without an external data file" },
	{ "raw-data-with-backing",
	  .pokes = { { 72, 8, QCOW2_INCOMPAT_DATA_FILE },
		     { 88, 8, QCOW2_AUTOCLEAR_DATA_FILE_RAW },
		     { 8, 8, 512 }, { 16, 4, 4 } },
	  .err = -EINVAL, .reason = "with a backing file" },
	{ "data-file-with-snapshots",
	  .pokes = { { 72, 8, QCOW2_INCOMPAT_DATA_FILE }, { 60, 4, 1 },
		     { 64, 8, 0x30000 + 65536 } },
	  .err = -EINVAL, .reason = "internal snapshots" },
	/* refcount table */
	{ "reftable-clusters-0", .pokes = { { 56, 4, 0 } }, .err = -EINVAL,
	  .reason = "no refcount table" },
	{ "reftable-clusters-ffffffff", .pokes = { { 56, 4, 0xffffffff } },
	  .err = -EFBIG, .reason = "refcount table too large" },
	{ "reftable-clusters-00020001", .pokes = { { 56, 4, 0x00020001 } },
	  .err = -EFBIG, .reason = "refcount table too large" },
	{ "reftable-above-8MiB", .pokes = { { 56, 4, 129 } }, .err = -EFBIG,
	  .reason = "refcount table too large" },
	{ "reftable-misaligned", .pokes = { { 48, 8, 0x1234567890abcdefULL } },
	  .err = -EINVAL, .reason = "invalid refcount table offset" },
	{ "reftable-misaligned-small", .pokes = { { 48, 8, 0x10200 } },
	  .err = -EINVAL, .reason = "invalid refcount table offset" },
	{ "reftable-huge-offset",
	  .pokes = { { 48, 8, 0xffffffffffff0000ULL }, { 56, 4, 0x7f } },
	  .err = -EINVAL, .reason = "invalid refcount table offset" },
	{ "reftable-offset-wraps-int64",
	  .pokes = { { 48, 8, 0x7fffffffffff0000ULL }, { 56, 4, 2 } },
	  .err = -EINVAL, .reason = "invalid refcount table offset" },
	{ "reftable-at-0", .pokes = { { 48, 8, 0 } }, .err = -EINVAL,
	  .reason = "overlaps the header" },
	{ "reftable-past-eof", .pokes = { { 48, 8, 0x100000 } },
	  .err = -EINVAL, .reason = "refcount table lies past the end" },
	/* L1 table */
	{ "l1-size-ffffffff", .pokes = { { 36, 4, 0xffffffff } },
	  .err = -EFBIG, .reason = "L1 table too large" },
	{ "l1-size-7fffffff", .pokes = { { 36, 4, 0x7fffffff } },
	  .err = -EFBIG, .reason = "L1 table too large" },
	{ "l1-above-32MiB", .pokes = { { 36, 4, QCOW2_MAX_L1_ENTRIES + 1 } },
	  .err = -EFBIG, .reason = "L1 table too large" },
	{ "l1-huge-offset",
	  .pokes = { { 40, 8, 0x7fffffffffff0000ULL }, { 36, 4, 0xffff } },
	  .err = -EINVAL, .reason = "invalid L1 table offset" },
	{ "l1-misaligned",
	  .pokes = { { 40, 8, 0x1234567890abcdefULL }, { 36, 4, 2 } },
	  .err = -EINVAL, .reason = "invalid L1 table offset" },
	{ "l1-misaligned-empty",
	  .pokes = { { 40, 8, 0x30008 }, { 24, 8, 0 }, { 36, 4, 0 } },
	  .err = -EINVAL, .reason = "invalid L1 table offset" },
	{ "l1-too-small", .pokes = { { 36, 4, 1 } }, .err = -EINVAL,
	  .reason = "L1 table too small" },
	{ "l1-size-0", .pokes = { { 36, 4, 0 } }, .err = -EINVAL,
	  .reason = "L1 table too small" },
	{ "l1-at-0", .pokes = { { 40, 8, 0 } }, .err = -EINVAL,
	  .reason = "L1 table overlaps the header" },
	{ "l1-past-eof", .pokes = { { 40, 8, 0x40000 } }, .err = -EINVAL,
	  .reason = "L1 table lies past the end" },
	{ "l1-partly-past-eof", .pokes = { { 36, 4, 8193 } }, .err = -EINVAL,
	  .reason = "L1 table lies past the end" },
	{ "virtual-size-too-large",
	  .pokes = { { 24, 8, 1ULL << 62 }, { 36, 4, QCOW2_MAX_L1_ENTRIES } },
	  .err = -EFBIG, .reason = "virtual size too large" },
	{ "virtual-size-max-u64", .pokes = { { 24, 8, ~0ULL } },
	  .err = -EFBIG, .reason = "virtual size too large" },
	{ "l1-overlaps-reftable", .pokes = { { 40, 8, 0x10000 } },
	  .err = -EINVAL, .reason = "overlap each other" },
	/* snapshot table */
	{ "nb-snapshots-ffffffff", .pokes = { { 60, 4, 0xffffffff } },
	  .err = -EFBIG, .reason = "too many snapshots" },
	{ "nb-snapshots-7fffffff", .pokes = { { 60, 4, 0x7fffffff } },
	  .err = -EFBIG, .reason = "too many snapshots" },
	{ "nb-snapshots-65537", .pokes = { { 60, 4, 65537 } }, .err = -EFBIG,
	  .reason = "too many snapshots" },
	{ "snapshots-huge-offset",
	  .pokes = { { 64, 8, 0xffffffffffff0000ULL }, { 60, 4, 0xffff } },
	  .err = -EINVAL, .reason = "invalid snapshot table offset" },
	{ "snapshots-misaligned-none",
	  .pokes = { { 64, 8, 0x1234567890abcdefULL }, { 60, 4, 0 } },
	  .err = -EINVAL, .reason = "invalid snapshot table offset" },
	{ "snapshots-at-0", .pokes = { { 60, 4, 1 } }, .err = -EINVAL,
	  .reason = "snapshot table overlaps the header" },
	{ "snapshots-past-eof",
	  .pokes = { { 60, 4, 1 }, { 64, 8, 0x100000 } }, .err = -EINVAL,
	  .reason = "snapshot table lies past the end" },
	{ "snapshots-overlap-l1",
	  .pokes = { { 60, 4, 1 }, { 64, 8, 0x30000 } }, .err = -EINVAL,
	  .reason = "overlap each other" },
	{ "snapshots-overlap-reftable",
	  .pokes = { { 60, 4, 1 }, { 64, 8, 0x10000 } }, .err = -EINVAL,
	  .reason = "overlap each other" },
	/* backing file name */
	{ "backing-offset-ffff", .pokes = { { 8, 8, ~0ULL } }, .err = -EINVAL,
	  .reason = "past the first cluster" },
	{ "backing-offset-past-cluster", .pokes = { { 8, 8, 65537 }, { 16, 4, 1 } },
	  .err = -EINVAL, .reason = "past the first cluster" },
	{ "backing-in-header", .pokes = { { 8, 8, 108 }, { 16, 4, 4 } },
	  .err = -EINVAL, .reason = "overlaps the header" },
	{ "backing-at-1", .pokes = { { 8, 8, 1 }, { 16, 4, 4 } },
	  .err = -EINVAL, .reason = "overlaps the header" },
	{ "backing-size-ffffffff",
	  .pokes = { { 8, 8, 0x1000 }, { 16, 4, 0xffffffff } },
	  .err = -EINVAL, .reason = "backing file name too long" },
	{ "backing-size-1024", .pokes = { { 8, 8, 0x1000 }, { 16, 4, 1024 } },
	  .err = -EINVAL, .reason = "backing file name too long" },
	{ "backing-crosses-cluster",
	  .pokes = { { 8, 8, 65536 - 10 }, { 16, 4, 11 } }, .err = -EINVAL,
	  .reason = "backing file name too long" },
	/* version 2 */
	{ "v2-cluster-bits-30", .version = 2, .pokes = { { 20, 4, 30 } },
	  .err = -EINVAL, .reason = "cluster" },
	{ "v2-l1-too-small", .version = 2, .pokes = { { 36, 4, 1 } },
	  .err = -EINVAL, .reason = "L1 table too small" },
	{ "v2-backing-in-header", .version = 2,
	  .pokes = { { 8, 8, 64 }, { 16, 4, 4 } }, .err = -EINVAL,
	  .reason = "overlaps the header" },
};

static void test_header_refusals(void)
{
	static char name[128];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(header_cases); i++) {
		const struct header_case *c = &header_cases[i];
		struct qcow2_header h;
		const char *r = NULL;
		const struct poke *p;
		u64 fs;
		int ret;

		snprintf(name, sizeof(name), "header-refuses-%s", c->name);
		if (filter && !strstr(name, filter))
			continue;
		cur_test = name;
		cur_failed = 0;
		nr_run++;
		fs = mk_header(c->version ? c->version : 3,
			       c->cluster_bits ? c->cluster_bits : 16,
			       1ULL << 30, false);
		if (c->file_size)
			fs = c->file_size;
		for (p = c->pokes; p < c->pokes + 4 && p->width; p++) {
			if (p->width == 1)
				put8(hbuf, p->off, (u8)p->val);
			else if (p->width == 2)
				put16(hbuf, p->off, (u16)p->val);
			else if (p->width == 4)
				put32(hbuf, p->off, (u32)p->val);
			else
				put64(hbuf, p->off, p->val);
		}
		ret = parse(fs, &h, &r);
		if (ret != c->err || !r || !strstr(r, c->reason)) {
			printf("FAIL %s: returned %d (%s), want %d (%s)\n", name,
			       ret, r ? r : "-", c->err, c->reason);
			nr_failed++;
		} else {
			printf("ok %s\n", name);
		}
	}
	cur_test = NULL;
}

/* == Header extensions == */

static void ext(u32 *pos, u32 type, const void *data, u32 len)
{
	if (qcow2_ext_put(hbuf, 65536, pos, type, data, len))
		abort();
}

static u8 bitmaps_ext[24];

static void set_bitmaps_ext(u32 nb, u64 dir_size, u64 dir_off)
{
	memset(bitmaps_ext, 0, sizeof(bitmaps_ext));
	put32(bitmaps_ext, 0, nb);
	put64(bitmaps_ext, 8, dir_size);
	put64(bitmaps_ext, 16, dir_off);
}

static int parse_ext(u64 fs, struct qcow2_header *h,
		     struct qcow2_extensions *e, const char **reason)
{
	int ret = parse(fs, h, reason);

	if (ret)
		return ret;
	return qcow2_extensions_parse(hbuf, HBUF_SIZE, fs, h, e, reason);
}

static void test_ext_all_known(void)
{
	struct qcow2_header h;
	struct qcow2_extensions e;
	const char *r = NULL, *name;
	u8 ft[3 * 48] = { 0 };
	u8 unk[5] = { 1, 2, 3, 4, 5 };
	u32 pos = 112, nlen;
	u64 fs = mk_header(3, 16, 64ULL << 20, false) + 65536;

	put64(hbuf, 88, QCOW2_AUTOCLEAR_BITMAPS);
	put64(hbuf, 72, QCOW2_INCOMPAT_DATA_FILE);
	ft[0] = 0;
	ft[1] = 0;
	memcpy(ft + 2, "dirty bit", 9);
	ft[48] = 2;
	ft[49] = 0;
	memcpy(ft + 50, "bitmaps", 7);
	ft[96] = 0;
	ft[97] = 9;
	memset(ft + 98, 'x', 46);	/* full length, no NUL */
	ext(&pos, QCOW2_EXT_BACKING_FORMAT, "qcow2", 5);
	ext(&pos, QCOW2_EXT_FEATURE_TABLE, ft, sizeof(ft));
	set_bitmaps_ext(2, 80, 4 * 65536);
	ext(&pos, QCOW2_EXT_BITMAPS, bitmaps_ext, 24);
	ext(&pos, QCOW2_EXT_DATA_FILE, "data.raw", 8);
	ext(&pos, 0x12345678, unk, sizeof(unk));
	ext(&pos, QCOW2_EXT_END, NULL, 0);
	memcpy(hbuf + pos + 16, "base", 4);
	put64(hbuf, 8, pos + 16);
	put32(hbuf, 16, 4);

	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	CHECK_EQ(e.present, QCOW2_EXTF_BACKING_FORMAT | QCOW2_EXTF_FEATURE_TABLE |
		 QCOW2_EXTF_BITMAPS | QCOW2_EXTF_DATA_FILE);
	CHECK(e.end_marker);
	CHECK_EQ(e.end, pos);
	CHECK_EQ(e.backing_format.len, 5);
	CHECK(!memcmp(hbuf + e.backing_format.offset, "qcow2", 5));
	CHECK_EQ(e.data_file.len, 8);
	CHECK(!memcmp(hbuf + e.data_file.offset, "data.raw", 8));
	CHECK_EQ(e.backing_file.len, 4);
	CHECK(!memcmp(hbuf + e.backing_file.offset, "base", 4));
	CHECK_EQ(e.nb_bitmaps, 2);
	CHECK_EQ(e.bitmap_directory_size, 80);
	CHECK_EQ(e.bitmap_directory_offset, 4 * 65536);
	CHECK(!e.bitmaps_stale && !e.bitmaps_missing);
	CHECK_EQ(e.nb_unknown, 1);
	CHECK_EQ(e.unknown[0].type, 0x12345678);
	CHECK_EQ(e.unknown[0].len, 5);
	CHECK(!memcmp(hbuf + e.unknown[0].offset, unk, 5));
	CHECK_EQ(qcow2_feature_name(hbuf, &e, 0, 0, &name, &nlen), 0);
	CHECK(nlen == 9 && !memcmp(name, "dirty bit", 9));
	CHECK_EQ(qcow2_feature_name(hbuf, &e, 2, 0, &name, &nlen), 0);
	CHECK(nlen == 7 && !memcmp(name, "bitmaps", 7));
	CHECK_EQ(qcow2_feature_name(hbuf, &e, 0, 9, &name, &nlen), 0);
	CHECK_EQ(nlen, 46);
	CHECK_EQ(qcow2_feature_name(hbuf, &e, 1, 0, &name, &nlen), -ENOENT);
}

static void test_ext_none(void)
{
	struct qcow2_header h;
	struct qcow2_extensions e;
	const char *r = NULL;
	u64 fs = mk_header(3, 16, 1ULL << 30, false);

	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	CHECK_EQ(e.present, 0);
	CHECK(e.end_marker);
	CHECK_EQ(e.end, 120);
	/* v2 extensions start at 72 */
	fs = mk_header(2, 16, 1ULL << 30, false);
	{
		u32 pos = 72;

		ext(&pos, QCOW2_EXT_BACKING_FORMAT, "raw", 3);
		CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
		CHECK_EQ(e.backing_format.offset, 80);
	}
	/* v2 with a bitmaps extension: no autoclear bits in v2, so stale */
	{
		u32 pos = 72;

		set_bitmaps_ext(1, 32, 4 * 65536);
		ext(&pos, QCOW2_EXT_BITMAPS, bitmaps_ext, 24);
		CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
		CHECK(e.bitmaps_stale);
	}
}

static void test_ext_no_end_marker(void)
{
	struct qcow2_header h;
	struct qcow2_extensions e;
	const char *r = NULL;
	u32 pos = 112;
	u64 fs = mk_header(3, 16, 1ULL << 30, false);

	/* area ends exactly after an extension (backing name follows) */
	ext(&pos, QCOW2_EXT_BACKING_FORMAT, "qcow2", 5);
	memcpy(hbuf + pos, "name", 4);
	put64(hbuf, 8, pos);
	put32(hbuf, 16, 4);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	CHECK(!e.end_marker);
	CHECK_EQ(e.end, pos);
	/* backing name not 8-aligned, at the end of the padding */
	put64(hbuf, 8, pos - 3);
	put32(hbuf, 16, 4);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	CHECK_EQ(e.end, pos - 3);
}

static void test_ext_refusals(void)
{
	struct qcow2_header h;
	struct qcow2_extensions e;
	const char *r = NULL;
	u8 crypto[16] = { 0 };
	u32 pos, i;
	u64 fs;

	/* iotest 080 "Huge unknown header extension" */
	fs = mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 112, 0x12345678);
	put32(hbuf, 116, 0x7fffffff);
	CHECK_ERR(parse_ext(fs, &h, &e, &r), -EINVAL, r, "too large");
	/* the extension header itself crosses the area end */
	fs = mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 112, 0x12345678);
	put64(hbuf, 8, 116);
	put32(hbuf, 16, 4);
	CHECK_ERR(parse_ext(fs, &h, &e, &r), -EINVAL, r, "too large");
	/* data crosses into the backing file name */
	fs = mk_header(3, 16, 1ULL << 30, false);
	pos = 112;
	ext(&pos, QCOW2_EXT_BACKING_FORMAT, "qcow2", 5);
	put64(hbuf, 8, 124);
	put32(hbuf, 16, 4);
	CHECK_ERR(parse_ext(fs, &h, &e, &r), -EINVAL, r, "too large");
	/* duplicates */
	fs = mk_header(3, 16, 1ULL << 30, false);
	pos = 112;
	ext(&pos, QCOW2_EXT_BACKING_FORMAT, "qcow2", 5);
	ext(&pos, QCOW2_EXT_BACKING_FORMAT, "raw", 3);
	CHECK_ERR(parse_ext(fs, &h, &e, &r), -EINVAL, r, "duplicate");
	fs = mk_header(3, 16, 1ULL << 30, false);
	pos = 112;
	ext(&pos, QCOW2_EXT_FEATURE_TABLE, NULL, 0);
	ext(&pos, QCOW2_EXT_FEATURE_TABLE, NULL, 0);
	CHECK_ERR(parse_ext(fs, &h, &e, &r), -EINVAL, r, "duplicate");
	fs = mk_header(3, 16, 1ULL << 30, false);
	pos = 112;
	ext(&pos, QCOW2_EXT_DATA_FILE, "a", 1);
	ext(&pos, QCOW2_EXT_DATA_FILE, "b", 1);
	CHECK_ERR(parse_ext(fs, &h, &e, &r), -EINVAL, r, "duplicate");
	/* backing format too long */
	fs = mk_header(3, 16, 1ULL << 30, false);
	pos = 112;
	ext(&pos, QCOW2_EXT_BACKING_FORMAT, "0123456789abcdef", 16);
	CHECK_ERR(parse_ext(fs, &h, &e, &r), -EINVAL, r,
		  "backing format name too long");
	pos = 112;
	ext(&pos, QCOW2_EXT_BACKING_FORMAT, "0123456789abcde", 15);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	/* too many unknown extensions */
	fs = mk_header(3, 16, 1ULL << 30, false);
	pos = 112;
	for (i = 0; i < QCOW2_MAX_UNKNOWN_EXTS; i++)
		ext(&pos, 0x1000 + i, "x", 1);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	CHECK_EQ(e.nb_unknown, QCOW2_MAX_UNKNOWN_EXTS);
	ext(&pos, 0x2000, "x", 1);
	CHECK_ERR(parse_ext(fs, &h, &e, &r), -EOPNOTSUPP, r,
		  "too many unknown");
	/* encryption header without LUKS */
	fs = mk_header(3, 16, 1ULL << 30, false);
	pos = 112;
	put64(crypto, 0, 4 * 65536);
	put64(crypto, 8, 4096);
	ext(&pos, QCOW2_EXT_CRYPTO, crypto, 16);
	CHECK_ERR(parse_ext(fs + 65536, &h, &e, &r), -EINVAL, r,
		  "without LUKS");
	/* ... with LUKS: fine; wrong length, misaligned, past EOF: not */
	put32(hbuf, 32, QCOW2_CRYPT_LUKS);
	CHECK_EQ(parse_ext(fs + 65536, &h, &e, &r), 0);
	CHECK_EQ(e.crypto_offset, 4 * 65536);
	CHECK_EQ(e.crypto_length, 4096);
	CHECK_ERR(parse_ext(fs, &h, &e, &r), -EINVAL, r, "invalid encryption");
	put64(hbuf, 128, ~0ULL);	/* a length that wraps */
	CHECK_ERR(parse_ext(fs + 65536, &h, &e, &r), -EINVAL, r,
		  "invalid encryption");
	put64(hbuf, 128, 4096);
	put64(hbuf, 120, 4 * 65536 + 512);
	CHECK_ERR(parse_ext(fs + 65536, &h, &e, &r), -EINVAL, r,
		  "not cluster-aligned");
	put32(hbuf, 116, 8);
	CHECK_ERR(parse_ext(fs + 65536, &h, &e, &r), -EINVAL, r,
		  "wrong length");
	/* LUKS without the extension */
	fs = mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 32, QCOW2_CRYPT_LUKS);
	CHECK_ERR(parse_ext(fs, &h, &e, &r), -EINVAL, r,
		  "without an encryption header");
	/* a short buffer */
	fs = mk_header(3, 16, 1ULL << 30, false);
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_ERR(qcow2_extensions_parse(hbuf, 4096, fs, &h, &e, &r),
		  -ENODATA, r, NULL);
}

static void test_ext_bitmaps(void)
{
	struct qcow2_header h;
	struct qcow2_extensions e;
	const char *r = NULL;
	u32 pos;
	u64 fs = mk_header(3, 16, 1ULL << 30, false) + 2 * 65536;

#define BM_CASE(nb, size, off, reserved, err, substr) do {		\
		mk_header(3, 16, 1ULL << 30, false);			\
		put64(hbuf, 88, QCOW2_AUTOCLEAR_BITMAPS);		\
		pos = 112;						\
		set_bitmaps_ext(nb, size, off);				\
		put32(bitmaps_ext, 4, reserved);			\
		ext(&pos, QCOW2_EXT_BITMAPS, bitmaps_ext, 24);		\
		CHECK_ERR(parse_ext(fs, &h, &e, &r), err, r, substr);	\
	} while (0)

	BM_CASE(1, 24, 4 * 65536, 0, 0, NULL);
	CHECK(!e.bitmaps_stale);
	BM_CASE(1, 24, 4 * 65536, 1, -EINVAL, "reserved field");
	BM_CASE(0, 24, 4 * 65536, 0, -EINVAL, "zero bitmaps");
	BM_CASE(65536, 65536 * 24, 4 * 65536, 0, -EFBIG, "too many bitmaps");
	BM_CASE(1, 24, 4 * 65536 + 8, 0, -EINVAL, "not cluster-aligned");
	BM_CASE(1, QCOW2_MAX_BITMAP_DIR_BYTES + 1ULL, 4 * 65536, 0, -EFBIG,
		"directory too large");
	BM_CASE(2, 40, 4 * 65536, 0, -EINVAL, "too small");
	BM_CASE(1, 24, 0, 0, -EINVAL, "invalid directory offset");
	BM_CASE(1, 24, 0xffffffffffff0000ULL, 0, -EINVAL,
		"invalid directory offset");
	BM_CASE(1, 24, 6 * 65536, 0, -EINVAL, "past the end");
	/* wrong length */
	mk_header(3, 16, 1ULL << 30, false);
	put64(hbuf, 88, QCOW2_AUTOCLEAR_BITMAPS);
	pos = 112;
	ext(&pos, QCOW2_EXT_BITMAPS, bitmaps_ext, 16);
	CHECK_ERR(parse_ext(fs, &h, &e, &r), -EINVAL, r, "wrong length");
	/* autoclear bit clear: stale, not checked further */
	mk_header(3, 16, 1ULL << 30, false);
	pos = 112;
	set_bitmaps_ext(0, 0, 12345);
	ext(&pos, QCOW2_EXT_BITMAPS, bitmaps_ext, 24);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	CHECK(e.bitmaps_stale);
	/* autoclear bit set, no extension */
	mk_header(3, 16, 1ULL << 30, false);
	put64(hbuf, 88, QCOW2_AUTOCLEAR_BITMAPS);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	CHECK(e.bitmaps_missing);
#undef BM_CASE
}

static void test_ext_short_file(void)
{
	struct qcow2_header h;
	struct qcow2_extensions e;
	const char *r = NULL;
	u64 fs = mk_header(3, 16, 1ULL << 30, false);
	u32 pos = 112;

	/* Past the end of a short file QEMU reads zeroes: an end marker. */
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_EQ(qcow2_extensions_parse(hbuf, 116, 116, &h, &e, &r), 0);
	CHECK(e.end_marker);
	/* An extension whose data lies past the end of the file. */
	ext(&pos, QCOW2_EXT_BACKING_FORMAT, "qcow2", 5);
	CHECK_ERR(qcow2_extensions_parse(hbuf, 124, 124, &h, &e, &r), -EINVAL,
		  r, "past the end of the file");
	CHECK_EQ(qcow2_extensions_parse(hbuf, 125, 125, &h, &e, &r), 0);
}

static void test_ext_put(void)
{
	u8 b[64];
	u32 pos = 8;

	memset(b, 0xaa, sizeof(b));
	CHECK_EQ(qcow2_ext_put(b, 64, &pos, 7, "abc", 3), 0);
	CHECK_EQ(pos, 24);
	CHECK_EQ(get_unaligned_be32(b + 8), 7);
	CHECK_EQ(get_unaligned_be32(b + 12), 3);
	CHECK(!memcmp(b + 16, "abc\0\0\0\0\0", 8));
	CHECK_EQ(qcow2_ext_put(b, 64, &pos, 8, "0123456789012345678901234567890123456789", 33),
		 -ENOSPC);
	CHECK_EQ(qcow2_ext_put(b, 64, &pos, 8, "0123456789012345678901234567890123456789", 32),
		 0);
	CHECK_EQ(pos, 64);
	CHECK_EQ(qcow2_ext_put(b, 64, &pos, 0, NULL, 0), -ENOSPC);
	pos = 9;
	CHECK_EQ(qcow2_ext_put(b, 64, &pos, 0, NULL, 0), -ENOSPC);
}

static void test_check_open(void)
{
	struct qcow2_header h;
	struct qcow2_extensions e;
	const char *r = NULL;
	u64 fs;

	fs = mk_header(3, 16, 1ULL << 30, false);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	CHECK_EQ(qcow2_check_open(&h, &e, QCOW2_OPEN_WRITE, &r), 0);
	put32(hbuf, 32, QCOW2_CRYPT_AES);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	CHECK_ERR(qcow2_check_open(&h, &e, 0, &r), -EOPNOTSUPP, r,
		  "encrypted image (AES)");
	fs = mk_header(3, 16, 1ULL << 30, false);
	put64(hbuf, 72, QCOW2_INCOMPAT_DATA_FILE);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	CHECK_ERR(qcow2_check_open(&h, &e, 0, &r), -EOPNOTSUPP, r,
		  "external data file");
	CHECK_EQ(qcow2_check_open(&h, &e, QCOW2_OPEN_ALLOW_DATA_FILE, &r), 0);
	fs = mk_header(3, 16, 1ULL << 30, false);
	put64(hbuf, 72, QCOW2_INCOMPAT_CORRUPT);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	CHECK_EQ(qcow2_check_open(&h, &e, 0, &r), 0);
	CHECK_ERR(qcow2_check_open(&h, &e, QCOW2_OPEN_WRITE, &r), -EROFS, r,
		  "corrupt");
	{
		u8 crypto[16] = { 0 };
		u32 pos = 112;

		fs = mk_header(3, 16, 1ULL << 30, false);
		put32(hbuf, 32, QCOW2_CRYPT_LUKS);
		put64(crypto, 0, 4 * 65536);
		put64(crypto, 8, 4096);
		ext(&pos, QCOW2_EXT_CRYPTO, crypto, 16);
		CHECK_EQ(parse_ext(fs + 65536, &h, &e, &r), 0);
		CHECK_ERR(qcow2_check_open(&h, &e, 0, &r), -EOPNOTSUPP, r,
			  "encrypted image (LUKS)");
	}
}

/* == L1 entries == */

static void test_l1(void)
{
	struct qcow2_geometry g;
	const char *r = NULL;
	u64 off;
	bool copied;
	u8 t[4 * 8];
	u32 bad, b;

	qcow2_geometry_init(&g, 3, 16, 4, false, false);
	CHECK_EQ(qcow2_l1_entry_decode(&g, 0, &off, &copied, &r), 0);
	CHECK(off == 0 && !copied);
	CHECK_EQ(qcow2_l1_entry_decode(&g, 0x8000000000050000ULL, &off,
				       &copied, &r), 0);
	CHECK(off == 0x50000 && copied);
	CHECK_EQ(qcow2_l1_entry_decode(&g, 0x00ffffffffff0000ULL, &off,
				       &copied, &r), 0);
	CHECK_EQ(off, 0x00ffffffffff0000ULL);
	for (b = 0; b < 64; b++) {
		u64 e = 0x50000 | BIT_ULL(b);
		bool reserved = b <= 8 || (b >= 56 && b <= 62);

		if (reserved)
			CHECK_ERR(qcow2_l1_entry_decode(&g, e, &off, &copied, &r),
				  -EUCLEAN, r, "reserved bits");
		else if (b < 16)
			CHECK_ERR(qcow2_l1_entry_decode(&g, e, &off, &copied, &r),
				  -EUCLEAN, r, "not cluster-aligned");
		else
			CHECK_EQ(qcow2_l1_entry_decode(&g, e, &off, &copied, &r), 0);
	}
	CHECK_EQ(qcow2_l1_entry_encode(0x50000, true), 0x8000000000050000ULL);
	CHECK_EQ(qcow2_l1_entry_encode(0x50000, false), 0x50000);
	/* 512-byte clusters: bit 9 is a valid offset bit */
	qcow2_geometry_init(&g, 3, 9, 4, false, false);
	CHECK_EQ(qcow2_l1_entry_decode(&g, 0x200, &off, &copied, &r), 0);
	CHECK_EQ(off, 0x200);

	qcow2_geometry_init(&g, 3, 16, 4, false, false);
	put64(t, 0, 0x8000000000040000ULL);
	put64(t, 8, 0);
	put64(t, 16, 0x8000000000050000ULL);
	put64(t, 24, 0x0000000000060000ULL);
	CHECK_EQ(qcow2_l1_table_check(&g, t, 4, 0x70000, &bad, &r), 0);
	CHECK_ERR(qcow2_l1_table_check(&g, t, 4, 0x6ffff, &bad, &r), -EUCLEAN,
		  r, "past the end");
	CHECK_EQ(bad, 3);
	put64(t, 16, 0x8000000000050001ULL);
	CHECK_ERR(qcow2_l1_table_check(&g, t, 4, 0x70000, &bad, &r), -EUCLEAN,
		  r, "reserved");
	CHECK_EQ(bad, 2);
	CHECK_EQ(qcow2_l1_table_check(&g, t, 0, 0, &bad, &r), 0);
}

/* == L2 entries == */

static void test_l2_standard(void)
{
	struct qcow2_geometry g;
	struct qcow2_l2_info in;
	const char *r = NULL;
	u32 b;

	qcow2_geometry_init(&g, 3, 16, 4, false, false);
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0, 0, &in, &r), 0);
	CHECK_EQ(in.type, QCOW2_CLUSTER_UNALLOCATED);
	CHECK_EQ(qcow2_sc_state(&in, 0), QCOW2_SC_UNALLOCATED);
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0x8000000000070000ULL, 0, &in, &r), 0);
	CHECK_EQ(in.type, QCOW2_CLUSTER_NORMAL);
	CHECK(in.copied);
	CHECK_EQ(in.host_offset, 0x70000);
	CHECK_EQ(qcow2_sc_state(&in, 0), QCOW2_SC_DATA);
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0x70000, 0, &in, &r), 0);
	CHECK(in.type == QCOW2_CLUSTER_NORMAL && !in.copied);
	CHECK_EQ(qcow2_l2_entry_decode(&g, 1, 0, &in, &r), 0);
	CHECK_EQ(in.type, QCOW2_CLUSTER_ZERO_PLAIN);
	CHECK_EQ(qcow2_sc_state(&in, 0), QCOW2_SC_ZERO);
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0x8000000000070001ULL, 0, &in, &r), 0);
	CHECK_EQ(in.type, QCOW2_CLUSTER_ZERO_ALLOC);
	CHECK_EQ(in.host_offset, 0x70000);
	CHECK_EQ(qcow2_sc_state(&in, 0), QCOW2_SC_ZERO);
	/* reserved bits 1-8, 56-61 */
	for (b = 1; b <= 61; b++) {
		u64 e = 0x70000 | BIT_ULL(b);

		if (b <= 8 || b >= 56)
			CHECK_ERR(qcow2_l2_entry_decode(&g, e, 0, &in, &r),
				  -EUCLEAN, r, "reserved bits");
		else if (b < 16)
			CHECK_ERR(qcow2_l2_entry_decode(&g, e, 0, &in, &r),
				  -EUCLEAN, r, "not cluster-aligned");
		else
			CHECK_EQ(qcow2_l2_entry_decode(&g, e, 0, &in, &r), 0);
	}
	/* bit 63 with offset 0 and no data file */
	CHECK_ERR(qcow2_l2_entry_decode(&g, QCOW2_OFLAG_COPIED, 0, &in, &r),
		  -EUCLEAN, r, "unallocated");
	/* ... is cluster 0 of an external data file */
	qcow2_geometry_init(&g, 3, 16, 4, false, true);
	CHECK_EQ(qcow2_l2_entry_decode(&g, QCOW2_OFLAG_COPIED, 0, &in, &r), 0);
	CHECK(in.type == QCOW2_CLUSTER_NORMAL && in.host_offset == 0);
	CHECK_ERR(qcow2_l2_entry_decode(&g, 0x4000000000050000ULL, 0, &in, &r),
		  -EUCLEAN, r, "external data file");
	/* version 2: bit 0 is reserved */
	qcow2_geometry_init(&g, 2, 16, 4, false, false);
	CHECK_ERR(qcow2_l2_entry_decode(&g, 0x70001, 0, &in, &r), -EUCLEAN, r,
		  "zero flag");
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0x70000, 0, &in, &r), 0);
	/* 512-byte clusters */
	qcow2_geometry_init(&g, 3, 9, 4, false, false);
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0x8000000000000a00ULL, 0, &in, &r), 0);
	CHECK_EQ(in.host_offset, 0xa00);
	/* standard entries: one subcluster */
	qcow2_geometry_init(&g, 3, 16, 4, false, false);
	qcow2_l2_entry_decode(&g, 0x70000, 0, &in, &r);
	CHECK_EQ(qcow2_sc_run(&g, &in, 0), 1);
	CHECK_EQ(qcow2_sc_run(&g, &in, 1), 0);
}

static void test_l2_compressed(void)
{
	struct qcow2_geometry g;
	struct qcow2_l2_info in;
	const char *r = NULL;

	qcow2_geometry_init(&g, 3, 16, 4, false, false);
	/* from QEMU's iotests: compressed cluster at 0x50000, one sector */
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0x4000000000050000ULL, 0, &in, &r), 0);
	CHECK_EQ(in.type, QCOW2_CLUSTER_COMPRESSED);
	CHECK_EQ(in.host_offset, 0x50000);
	CHECK_EQ(in.csectors, 0);
	CHECK_EQ(qcow2_sc_state(&in, 0), QCOW2_SC_COMPRESSED);
	/* x = 54 for 64 KiB clusters */
	CHECK_EQ(qcow2_l2_entry_decode(&g, QCOW2_OFLAG_COMPRESSED | 3ULL << 54 |
				       0x50234, 0, &in, &r), 0);
	CHECK_EQ(in.host_offset, 0x50234);
	CHECK_EQ(in.csectors, 3);
	CHECK_ERR(qcow2_l2_entry_decode(&g, 0xc000000000050000ULL, 0, &in, &r),
		  -EUCLEAN, r, "bit 63");
	CHECK_ERR(qcow2_l2_entry_decode(&g, 0x4000000000000200ULL, 0, &in, &r),
		  -EUCLEAN, r, "header cluster");
	/* 512-byte clusters: x = 61, offset bits 56..60 must be 0 */
	qcow2_geometry_init(&g, 3, 9, 4, false, false);
	CHECK_ERR(qcow2_l2_entry_decode(&g, QCOW2_OFLAG_COMPRESSED | BIT_ULL(56),
					0, &in, &r), -EUCLEAN, r, "2^56");
	CHECK_EQ(qcow2_l2_entry_decode(&g, QCOW2_OFLAG_COMPRESSED | BIT_ULL(61) |
				       0x1234, 0, &in, &r), 0);
	CHECK_EQ(in.csectors, 1);
	CHECK_EQ(in.host_offset, 0x1234);
	/* extended: the bitmap must be 0 */
	qcow2_geometry_init(&g, 3, 16, 4, true, false);
	CHECK_ERR(qcow2_l2_entry_decode(&g, 0x4000000000050000ULL,
					0x0000000180000000ULL, &in, &r),
		  -EUCLEAN, r, "bitmap");
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0x4000000000050000ULL, 0, &in, &r), 0);
	CHECK_EQ(qcow2_sc_state(&in, 17), QCOW2_SC_COMPRESSED);
	CHECK_EQ(qcow2_sc_run(&g, &in, 5), 27);
}

static void test_l2_extended(void)
{
	struct qcow2_geometry g;
	struct qcow2_l2_info in;
	const char *r = NULL;
	u64 e, bm;

	qcow2_geometry_init(&g, 3, 16, 4, true, false);
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0x8000000000070000ULL,
				       0xffff00000000ffffULL, &in, &r), 0);
	CHECK_EQ(in.type, QCOW2_CLUSTER_NORMAL);
	CHECK_EQ(in.alloc, 0x0000ffff);
	CHECK_EQ(in.zero, 0xffff0000);
	CHECK_EQ(qcow2_sc_state(&in, 0), QCOW2_SC_DATA);
	CHECK_EQ(qcow2_sc_state(&in, 16), QCOW2_SC_ZERO);
	/* both allocated and zero */
	CHECK_ERR(qcow2_l2_entry_decode(&g, 0x70000, 0x0000000100000001ULL,
					&in, &r), -EUCLEAN, r, "both");
	/* unallocated cluster with allocated subclusters */
	CHECK_ERR(qcow2_l2_entry_decode(&g, 0, 1, &in, &r), -EUCLEAN, r,
		  "without a host cluster");
	/* unallocated with zero subclusters: fine */
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0, 0xffffffff00000000ULL, &in, &r), 0);
	CHECK_EQ(in.type, QCOW2_CLUSTER_UNALLOCATED);
	CHECK_EQ(qcow2_sc_state(&in, 31), QCOW2_SC_ZERO);
	CHECK_EQ(qcow2_sc_run(&g, &in, 0), 32);
	/* normal cluster, no subcluster allocated: all from backing */
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0x70000, 0, &in, &r), 0);
	CHECK_EQ(in.type, QCOW2_CLUSTER_NORMAL);
	CHECK_EQ(qcow2_sc_state(&in, 3), QCOW2_SC_UNALLOCATED);
	/* bit 0 is reserved with extended entries */
	CHECK_ERR(qcow2_l2_entry_decode(&g, 0x70001, 0, &in, &r), -EUCLEAN, r,
		  "zero flag");
	/* 16 KiB clusters: 512-byte subclusters */
	qcow2_geometry_init(&g, 3, 14, 4, true, false);
	CHECK_EQ(g.subcluster_bits, 9);
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0x4000, 0x80000000, &in, &r), 0);
	CHECK_EQ(qcow2_sc_state(&in, 31), QCOW2_SC_DATA);
	CHECK_EQ(qcow2_sc_run(&g, &in, 0), 31);
	CHECK_EQ(qcow2_sc_run(&g, &in, 31), 1);
	/* table access */
	{
		u8 t[64] = { 0 };

		qcow2_l2_entry_put(&g, t, 2, 0x8000000000004000ULL, 0x12345678);
		CHECK_EQ(get_unaligned_be64(t + 32), 0x8000000000004000ULL);
		CHECK_EQ(get_unaligned_be64(t + 40), 0x12345678);
		qcow2_l2_entry_get(&g, t, 2, &e, &bm);
		CHECK(e == 0x8000000000004000ULL && bm == 0x12345678);
	}
	qcow2_geometry_init(&g, 3, 16, 4, false, false);
	{
		u8 t[64] = { 0 };

		qcow2_l2_entry_put(&g, t, 2, 0x8000000000070000ULL, 0x1234);
		CHECK_EQ(get_unaligned_be64(t + 16), 0x8000000000070000ULL);
		CHECK_EQ(get_unaligned_be64(t + 24), 0);
		qcow2_l2_entry_get(&g, t, 2, &e, &bm);
		CHECK(e == 0x8000000000070000ULL && bm == 0);
	}
}

static void test_l2_encode(void)
{
	struct qcow2_geometry gs, gx, g2, gd;
	struct qcow2_l2_info in, out;
	const char *r = NULL;
	u64 e, bm;
	int i;

	qcow2_geometry_init(&gs, 3, 16, 4, false, false);
	qcow2_geometry_init(&gx, 3, 16, 4, true, false);
	qcow2_geometry_init(&g2, 2, 16, 4, false, false);
	qcow2_geometry_init(&gd, 3, 16, 4, false, true);

	memset(&in, 0, sizeof(in));
	in.type = QCOW2_CLUSTER_NORMAL;
	in.host_offset = 0x70000;
	in.copied = true;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), 0);
	CHECK_EQ(e, 0x8000000000070000ULL);
	CHECK_EQ(bm, 0);
	in.type = QCOW2_CLUSTER_ZERO_ALLOC;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), 0);
	CHECK_EQ(e, 0x8000000000070001ULL);
	CHECK_EQ(qcow2_l2_entry_encode(&g2, &in, &e, &bm), -EINVAL);
	CHECK_EQ(qcow2_l2_entry_encode(&gx, &in, &e, &bm), -EINVAL);
	in.type = QCOW2_CLUSTER_ZERO_PLAIN;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), -EINVAL);
	in.host_offset = 0;
	in.copied = false;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), 0);
	CHECK_EQ(e, 1);
	in.type = QCOW2_CLUSTER_UNALLOCATED;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), 0);
	CHECK_EQ(e, 0);
	in.copied = true;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), -EINVAL);
	in.type = QCOW2_CLUSTER_NORMAL;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), -EINVAL);
	CHECK_EQ(qcow2_l2_entry_encode(&gd, &in, &e, &bm), 0);
	CHECK_EQ(e, QCOW2_OFLAG_COPIED);
	in.host_offset = 0x70200;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), -EINVAL);
	in.host_offset = 1ULL << 56;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), -EINVAL);
	in.type = 17;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), -EINVAL);
	/* extended */
	memset(&in, 0, sizeof(in));
	in.type = QCOW2_CLUSTER_NORMAL;
	in.host_offset = 0x70000;
	in.alloc = 0xf;
	in.zero = 0xf0;
	CHECK_EQ(qcow2_l2_entry_encode(&gx, &in, &e, &bm), 0);
	CHECK_EQ(e, 0x70000);
	CHECK_EQ(bm, 0x000000f00000000fULL);
	in.zero = 0x1;
	CHECK_EQ(qcow2_l2_entry_encode(&gx, &in, &e, &bm), -EINVAL);
	in.type = QCOW2_CLUSTER_UNALLOCATED;
	in.host_offset = 0;
	in.alloc = 0;
	CHECK_EQ(qcow2_l2_entry_encode(&gx, &in, &e, &bm), 0);
	CHECK_EQ(bm, 1ULL << 32);
	in.alloc = 2;
	CHECK_EQ(qcow2_l2_entry_encode(&gx, &in, &e, &bm), -EINVAL);
	/* compressed */
	memset(&in, 0, sizeof(in));
	in.type = QCOW2_CLUSTER_COMPRESSED;
	in.host_offset = 0x50234;
	in.csectors = 3;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), 0);
	CHECK_EQ(e, QCOW2_OFLAG_COMPRESSED | 3ULL << 54 | 0x50234);
	in.csectors = 256;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), -EINVAL);
	in.csectors = 255;
	in.copied = true;
	CHECK_EQ(qcow2_l2_entry_encode(&gs, &in, &e, &bm), -EINVAL);
	in.copied = false;
	CHECK_EQ(qcow2_l2_entry_encode(&gd, &in, &e, &bm), -EINVAL);

	/* random round trips: decode(encode(x)) == x, for both formats */
	for (i = 0; i < 20000; i++) {
		const struct qcow2_geometry *g = (i & 1) ? &gx : &gs;

		memset(&in, 0, sizeof(in));
		in.type = (enum qcow2_cluster_type)(rnd() % 5);
		switch (in.type) {
		case QCOW2_CLUSTER_UNALLOCATED:
			if (g->extended_l2)
				in.zero = (u32)rnd();
			break;
		case QCOW2_CLUSTER_ZERO_PLAIN:
			if (g->extended_l2)
				continue;
			in.zero = U32_MAX;
			in.copied = rnd() & 1;
			break;
		case QCOW2_CLUSTER_ZERO_ALLOC:
			if (g->extended_l2)
				continue;
			in.zero = U32_MAX;
			in.copied = rnd() & 1;
			in.host_offset = (rnd() & QCOW2_L2E_OFFSET_MASK &
					  ~0xffffULL) | 0x10000;
			break;
		case QCOW2_CLUSTER_NORMAL:
			in.copied = rnd() & 1;
			in.host_offset = (rnd() & QCOW2_L2E_OFFSET_MASK &
					  ~0xffffULL) | 0x10000;
			if (g->extended_l2) {
				in.alloc = (u32)rnd();
				in.zero = (u32)rnd() & ~in.alloc;
			} else {
				in.alloc = U32_MAX;
			}
			break;
		case QCOW2_CLUSTER_COMPRESSED:
			in.host_offset = (rnd() & g->coffset_mask) | 0x10000;
			in.csectors = (u32)(rnd() & g->csize_mask);
			break;
		}
		if (qcow2_l2_entry_encode(g, &in, &e, &bm)) {
			fail_at(__LINE__, "encode type %d offset 0x%llx", in.type,
				(unsigned long long)in.host_offset);
			return;
		}
		if (qcow2_l2_entry_decode(g, e, bm, &out, &r)) {
			fail_at(__LINE__, "decode 0x%llx: %s",
				(unsigned long long)e, r);
			return;
		}
		if (memcmp(&in, &out, sizeof(in))) {
			fail_at(__LINE__, "round trip of type %d differs", in.type);
			return;
		}
	}
}

/* == Subclusters == */

static enum qcow2_sc_state ref_state(const struct qcow2_l2_info *in, u32 i)
{
	if (in->type == QCOW2_CLUSTER_COMPRESSED)
		return QCOW2_SC_COMPRESSED;
	if (in->zero >> i & 1)
		return QCOW2_SC_ZERO;
	if (in->alloc >> i & 1)
		return QCOW2_SC_DATA;
	return QCOW2_SC_UNALLOCATED;
}

static void test_subclusters(void)
{
	struct qcow2_geometry g;
	struct qcow2_l2_info in;
	const char *r = NULL;
	u32 i, j, n;
	int k;

	qcow2_geometry_init(&g, 3, 16, 4, true, false);
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0x70000, 0x000000f00000000fULL,
				       &in, &r), 0);
	CHECK_EQ(qcow2_sc_run(&g, &in, 0), 4);
	CHECK_EQ(qcow2_sc_state(&in, 0), QCOW2_SC_DATA);
	CHECK_EQ(qcow2_sc_run(&g, &in, 2), 2);
	CHECK_EQ(qcow2_sc_run(&g, &in, 4), 4);
	CHECK_EQ(qcow2_sc_state(&in, 4), QCOW2_SC_ZERO);
	CHECK_EQ(qcow2_sc_run(&g, &in, 8), 24);
	CHECK_EQ(qcow2_sc_state(&in, 8), QCOW2_SC_UNALLOCATED);
	CHECK_EQ(qcow2_sc_run(&g, &in, 31), 1);
	CHECK_EQ(qcow2_sc_run(&g, &in, 32), 0);
	CHECK_EQ(qcow2_l2_entry_decode(&g, 0x70000, 0xffffffffULL, &in, &r), 0);
	CHECK_EQ(qcow2_sc_run(&g, &in, 0), 32);

	/* against a brute-force reference */
	for (k = 0; k < 5000; k++) {
		memset(&in, 0, sizeof(in));
		in.type = (rnd() & 1) ? QCOW2_CLUSTER_NORMAL
				      : QCOW2_CLUSTER_UNALLOCATED;
		/* runs, not just noise */
		in.alloc = (u32)(rnd() & rnd());
		in.zero = (u32)(rnd() & rnd()) & ~in.alloc;
		if (in.type == QCOW2_CLUSTER_UNALLOCATED)
			in.alloc = 0;
		else
			in.host_offset = 0x70000;
		for (i = 0; i < 32; i++) {
			CHECK_EQ(qcow2_sc_state(&in, i), ref_state(&in, i));
			for (j = i; j < 32 && ref_state(&in, j) == ref_state(&in, i); j++)
				;
			n = qcow2_sc_run(&g, &in, i);
			if (n != j - i) {
				fail_at(__LINE__, "run(%u) = %u, want %u (a %08x z %08x)",
					i, n, j - i, in.alloc, in.zero);
				return;
			}
		}
	}

	/* setting states */
	memset(&in, 0, sizeof(in));
	in.type = QCOW2_CLUSTER_UNALLOCATED;
	CHECK_EQ(qcow2_sc_set(&in, 0, 4, QCOW2_SC_DATA), -EINVAL);
	CHECK_EQ(qcow2_sc_set(&in, 0, 4, QCOW2_SC_ZERO), 0);
	CHECK_EQ(in.zero, 0xf);
	in.type = QCOW2_CLUSTER_NORMAL;
	in.host_offset = 0x70000;
	CHECK_EQ(qcow2_sc_set(&in, 2, 30, QCOW2_SC_DATA), 0);
	CHECK_EQ(in.alloc, 0xfffffffc);
	CHECK_EQ(in.zero, 0x3);
	CHECK_EQ(qcow2_sc_set(&in, 0, 32, QCOW2_SC_UNALLOCATED), 0);
	CHECK(in.alloc == 0 && in.zero == 0);
	CHECK_EQ(qcow2_sc_set(&in, 31, 2, QCOW2_SC_ZERO), -EINVAL);
	CHECK_EQ(qcow2_sc_set(&in, 32, 1, QCOW2_SC_ZERO), -EINVAL);
	CHECK_EQ(qcow2_sc_set(&in, 0, 0, QCOW2_SC_ZERO), -EINVAL);
	CHECK_EQ(qcow2_sc_set(&in, 0, 1, QCOW2_SC_COMPRESSED), -EINVAL);
	in.type = QCOW2_CLUSTER_COMPRESSED;
	CHECK_EQ(qcow2_sc_set(&in, 0, 1, QCOW2_SC_ZERO), -EINVAL);

	/* the raw bitmap helper agrees with qcow2_sc_set() */
	for (k = 0; k < 5000; k++) {
		u32 first = (u32)(rnd() % 32);
		u32 count = 1 + (u32)(rnd() % (32 - first));
		enum qcow2_sc_state st = (enum qcow2_sc_state)(rnd() % 3);
		u64 bm;

		memset(&in, 0, sizeof(in));
		in.type = QCOW2_CLUSTER_NORMAL;
		in.host_offset = 0x70000;
		in.alloc = (u32)rnd();
		in.zero = (u32)rnd() & ~in.alloc;
		bm = in.alloc | (u64)in.zero << 32;
		CHECK_EQ(qcow2_sc_set(&in, first, count, st), 0);
		bm = qcow2_sc_bitmap_set(bm, first, count, st);
		CHECK_EQ(bm, in.alloc | (u64)in.zero << 32);
		CHECK_EQ(in.alloc & in.zero, 0);
		for (i = first; i < first + count; i++)
			CHECK_EQ(qcow2_sc_state(&in, i), st);
		CHECK(qcow2_sc_run(&g, &in, first) >= count);
	}
	CHECK_EQ(qcow2_sc_bitmap_set(0x55, 0, 0, QCOW2_SC_DATA), 0x55);
}

/* == Compressed descriptors == */

static void test_compressed_roundtrip(void)
{
	struct qcow2_geometry g;
	const char *r = NULL;
	u32 cb;
	int k;

	for (cb = 9; cb <= 21; cb++) {
		u64 cs = 1ULL << cb;
		u64 maxoff;

		qcow2_geometry_init(&g, 3, cb, 4, false, false);
		maxoff = min(g.coffset_mask, QCOW2_MAX_HOST_OFFSET - 1);
		for (k = 0; k < 3000; k++) {
			u64 off, e, got, start;
			u32 nbytes, cs_got, len, nb;
			struct qcow2_l2_info in;

			switch (k % 4) {
			case 0:
				off = cs + (rnd() % (maxoff - cs));
				break;
			case 1:	/* sector boundaries */
				off = (cs + (rnd() % (maxoff - cs))) & ~511ULL;
				if (off < cs)
					off = cs;
				break;
			case 2:	/* last byte of a sector */
				off = ((cs + (rnd() % (1ULL << 40))) | 511);
				break;
			default:	/* top of the addressable range */
				off = maxoff - (rnd() % 4096);
				break;
			}
			/* compressed data is at most one cluster long */
			nbytes = 1 + (u32)(rnd() % cs);
			if (k % 7 == 0)
				nbytes = (u32)cs;
			if (k % 11 == 0)
				nbytes = 1;
			if (qcow2_compressed_encode(&g, off, nbytes, &e)) {
				fail_at(__LINE__, "cb %u encode off 0x%llx n %u", cb,
					(unsigned long long)off, nbytes);
				return;
			}
			CHECK(e & QCOW2_OFLAG_COMPRESSED);
			CHECK(!(e & QCOW2_OFLAG_COPIED));
			qcow2_compressed_decode(&g, e, &got, &cs_got);
			nb = (u32)(((off + nbytes - 1) >> 9) - (off >> 9));
			CHECK_EQ(got, off);
			CHECK_EQ(cs_got, nb);
			if (qcow2_l2_entry_decode(&g, e, 0, &in, &r)) {
				fail_at(__LINE__, "cb %u decode: %s", cb, r);
				return;
			}
			CHECK(in.host_offset == off && in.csectors == nb);
			/* what to read covers the data, ends on a sector */
			CHECK_EQ(qcow2_compressed_range(&g, off, nb, U64_MAX,
							&start, &len, &r), 0);
			CHECK_EQ(start, off);
			CHECK_EQ(len, (nb + 1) * 512 - (off & 511));
			CHECK(len >= nbytes);
			CHECK_EQ((start + len) % 512, 0);
			/* clipped at the end of the file */
			CHECK_EQ(qcow2_compressed_range(&g, off, nb, off + nbytes,
							&start, &len, &r), 0);
			CHECK_EQ(len, nbytes);
		}
		/* refusals */
		CHECK_EQ(qcow2_compressed_encode(&g, cs, 0, &(u64){0}), -EINVAL);
		CHECK_EQ(qcow2_compressed_encode(&g, cs - 1, 1, &(u64){0}), -EINVAL);
		CHECK_EQ(qcow2_compressed_encode(&g, maxoff + 1, 1, &(u64){0}),
			 -EINVAL);
		/* more sectors than the field holds */
		CHECK_EQ(qcow2_compressed_encode(&g, cs + 1,
						 (u32)((g.csize_mask + 1) * 512),
						 &(u64){0}), -EINVAL);
		CHECK_EQ(qcow2_compressed_encode(&g, cs,
						 (u32)((g.csize_mask + 1) * 512),
						 &(u64){0}), 0);
		{
			u64 st;
			u32 ln;

			CHECK_ERR(qcow2_compressed_range(&g, cs, 0, cs, &st, &ln, &r),
				  -EUCLEAN, r, "past the end");
			CHECK_ERR(qcow2_compressed_range(&g, cs - 1, 0, U64_MAX,
							 &st, &ln, &r),
				  -EUCLEAN, r, "header cluster");
			CHECK_ERR(qcow2_compressed_range(&g, cs, (u32)g.csize_mask + 1,
							 U64_MAX, &st, &ln, &r),
				  -EUCLEAN, r, NULL);
		}
	}
}

static void test_compressed_known(void)
{
	struct qcow2_geometry g;
	const char *r = NULL;
	u64 e, start;
	u32 len;

	qcow2_geometry_init(&g, 3, 16, 4, false, false);
	CHECK_EQ(qcow2_compressed_encode(&g, 0x50200, 1000, &e), 0);
	CHECK_EQ(e, QCOW2_OFLAG_COMPRESSED | 1ULL << 54 | 0x50200);
	CHECK_EQ(qcow2_compressed_encode(&g, 0x501ff, 2, &e), 0);
	CHECK_EQ(e, QCOW2_OFLAG_COMPRESSED | 1ULL << 54 | 0x501ff);
	CHECK_EQ(qcow2_compressed_range(&g, 0x501ff, 1, 1ULL << 40, &start,
					&len, &r), 0);
	CHECK_EQ(len, 513);
	/* 2 MiB clusters: x = 49, offsets below 512 TiB */
	qcow2_geometry_init(&g, 3, 21, 4, false, false);
	CHECK_EQ(g.csize_shift, 49);
	CHECK_EQ(qcow2_compressed_encode(&g, 1ULL << 49, 1, &e), -EINVAL);
	CHECK_EQ(qcow2_compressed_encode(&g, (1ULL << 49) - 1, 1, &e), 0);
	/* 512-byte clusters: x = 61, 1-bit count, offsets below 2^56 */
	qcow2_geometry_init(&g, 3, 9, 4, false, false);
	CHECK_EQ(g.csize_shift, 61);
	CHECK_EQ(g.csize_mask, 1);
	CHECK_EQ(qcow2_compressed_encode(&g, 1ULL << 56, 1, &e), -EINVAL);
	CHECK_EQ(qcow2_compressed_encode(&g, 0x3ff, 2, &e), 0);
	CHECK_EQ(e, QCOW2_OFLAG_COMPRESSED | BIT_ULL(61) | 0x3ff);
}

/* == Refcounts == */

static void test_refcount_orders(void)
{
	static u8 block[4096];
	u32 order;

	for (order = 0; order <= 6; order++) {
		u32 bits = 1U << order;
		u32 n = 4096 * 8 / bits;
		u64 max = qcow2_refcount_max(order);
		u32 i;

		CHECK_EQ(qcow2_refcount_bits(order), bits);
		CHECK_EQ(max, bits == 64 ? ~0ULL : (1ULL << bits) - 1);
		/* a pattern round trip */
		memset(block, 0, sizeof(block));
		for (i = 0; i < n; i++)
			CHECK_EQ(qcow2_refblock_set(block, order, i,
						    (i * 0x9e3779b97f4a7c15ULL) & max), 0);
		for (i = 0; i < n; i++)
			CHECK_EQ(qcow2_refblock_get(block, order, i),
				 (i * 0x9e3779b97f4a7c15ULL) & max);
		/* one entry set, neighbours untouched */
		for (i = 0; i < 64; i++) {
			u32 idx = (u32)(rnd() % n), j;

			memset(block, 0, sizeof(block));
			CHECK_EQ(qcow2_refblock_set(block, order, idx, max), 0);
			for (j = 0; j < n; j++)
				CHECK_EQ(qcow2_refblock_get(block, order, j),
					 j == idx ? max : 0);
			memset(block, 0xff, sizeof(block));
			CHECK_EQ(qcow2_refblock_set(block, order, idx, 0), 0);
			for (j = 0; j < n; j++)
				CHECK_EQ(qcow2_refblock_get(block, order, j),
					 j == idx ? 0 : max);
		}
		if (order < 6)
			CHECK_EQ(qcow2_refblock_set(block, order, 0, max + 1),
				 -ERANGE);
	}
	CHECK_EQ(qcow2_refblock_set(block, 7, 0, 0), -ERANGE);
}

static void test_refcount_layout(void)
{
	u8 b[16];

	/* sub-byte entries: the first one in the least significant bits */
	memset(b, 0, sizeof(b));
	qcow2_refblock_set(b, 0, 0, 1);
	CHECK_EQ(b[0], 0x01);
	qcow2_refblock_set(b, 0, 7, 1);
	CHECK_EQ(b[0], 0x81);
	qcow2_refblock_set(b, 0, 9, 1);
	CHECK_EQ(b[1], 0x02);
	memset(b, 0, sizeof(b));
	qcow2_refblock_set(b, 1, 1, 3);
	CHECK_EQ(b[0], 0x0c);
	qcow2_refblock_set(b, 1, 3, 2);
	CHECK_EQ(b[0], 0x8c);
	memset(b, 0, sizeof(b));
	qcow2_refblock_set(b, 2, 1, 0xa);
	CHECK_EQ(b[0], 0xa0);
	qcow2_refblock_set(b, 2, 2, 0x5);
	CHECK_EQ(b[1], 0x05);
	memset(b, 0, sizeof(b));
	qcow2_refblock_set(b, 3, 3, 0xab);
	CHECK_EQ(b[3], 0xab);
	memset(b, 0, sizeof(b));
	qcow2_refblock_set(b, 4, 1, 0x1234);
	CHECK(b[2] == 0x12 && b[3] == 0x34);
	memset(b, 0, sizeof(b));
	qcow2_refblock_set(b, 5, 1, 0x12345678);
	CHECK(b[4] == 0x12 && b[7] == 0x78);
	memset(b, 0, sizeof(b));
	qcow2_refblock_set(b, 6, 1, 0x0102030405060708ULL);
	CHECK(b[8] == 0x01 && b[15] == 0x08);
	CHECK_EQ(qcow2_refblock_get(b, 6, 1), 0x0102030405060708ULL);
}

static void test_refcount_adjust(void)
{
	u64 v;

	CHECK_EQ(qcow2_refcount_adjust(4, 1, 1, &v), 0);
	CHECK_EQ(v, 2);
	CHECK_EQ(qcow2_refcount_adjust(4, 0xffff, 1, &v), -ERANGE);
	CHECK_EQ(qcow2_refcount_adjust(4, 0xfffe, 1, &v), 0);
	CHECK_EQ(v, 0xffff);
	CHECK_EQ(qcow2_refcount_adjust(4, 1, -1, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(qcow2_refcount_adjust(4, 0, -1, &v), -ERANGE);
	CHECK_EQ(qcow2_refcount_adjust(0, 1, 1, &v), -ERANGE);
	CHECK_EQ(qcow2_refcount_adjust(0, 0, 1, &v), 0);
	CHECK_EQ(qcow2_refcount_adjust(4, 0x10000, 0, &v), -ERANGE);
	CHECK_EQ(qcow2_refcount_adjust(6, ~0ULL, 1, &v), -ERANGE);
	CHECK_EQ(qcow2_refcount_adjust(6, ~0ULL - 5, 5, &v), 0);
	CHECK_EQ(v, ~0ULL);
	CHECK_EQ(qcow2_refcount_adjust(6, ~0ULL, (-S64_MAX - 1), &v), 0);
	CHECK_EQ(v, ~0ULL - (1ULL << 63));
	CHECK_EQ(qcow2_refcount_adjust(6, 5, (-S64_MAX - 1), &v), -ERANGE);
	CHECK_EQ(qcow2_refcount_adjust(6, 5, S64_MAX, &v), 0);
	CHECK_EQ(qcow2_refcount_adjust(7, 0, 0, &v), -ERANGE);
}

static void test_refcount_index(void)
{
	struct qcow2_geometry g;
	const char *r = NULL;
	u64 ti, off;
	u32 bi, order;

	for (order = 0; order <= 6; order++) {
		u64 per_block = 65536ULL * 8 >> order;

		qcow2_geometry_init(&g, 3, 16, order, false, false);
		off = (3 * per_block + 5) << 16 | 0x1234;
		qcow2_refcount_index(&g, off, &ti, &bi);
		CHECK_EQ(ti, 3);
		CHECK_EQ(bi, 5);
	}
	qcow2_geometry_init(&g, 3, 9, 6, false, false);
	qcow2_refcount_index(&g, 65 * 512, &ti, &bi);	/* 64 entries a block */
	CHECK(ti == 1 && bi == 1);

	qcow2_geometry_init(&g, 3, 16, 4, false, false);
	CHECK_EQ(qcow2_reftable_entry_decode(&g, 0x20000, &off, &r), 0);
	CHECK_EQ(off, 0x20000);
	CHECK_EQ(qcow2_reftable_entry_decode(&g, 0, &off, &r), 0);
	CHECK_EQ(off, 0);
	CHECK_ERR(qcow2_reftable_entry_decode(&g, 0x20001, &off, &r), -EUCLEAN,
		  r, "reserved");
	CHECK_ERR(qcow2_reftable_entry_decode(&g, 0x20200, &off, &r), -EUCLEAN,
		  r, "not cluster-aligned");
	/* refcount blocks may lie above 2^56, not past what a file can hold */
	CHECK_EQ(qcow2_reftable_entry_decode(&g, 0x7f00000000000000ULL, &off, &r),
		 0);
	CHECK_ERR(qcow2_reftable_entry_decode(&g, 0x8000000000000000ULL, &off, &r),
		  -EUCLEAN, r, "out of range");
}

/* == Snapshots == */

static u8 sbuf[1 << 17];

/* An entry at @at: returns its padded length. */
static u32 mk_snapshot(u8 *b, u64 l1_off, u32 l1_size, const char *id,
		       const char *name, u32 extra)
{
	u32 idl = (u32)strlen(id), nl = (u32)strlen(name), len, i;

	put64(b, 0, l1_off);
	put32(b, 8, l1_size);
	put16(b, 12, (u16)idl);
	put16(b, 14, (u16)nl);
	put32(b, 16, 1700000000);
	put32(b, 20, 123456789);
	put64(b, 24, 42);
	put32(b, 32, 0x1000);
	put32(b, 36, extra);
	for (i = 0; i < extra; i++)
		b[40 + i] = 0;
	if (extra >= 8)
		put64(b, 40, 0x100000000ULL);
	if (extra >= 16)
		put64(b, 48, 1ULL << 30);
	if (extra >= 24)
		put64(b, 56, 77);
	memcpy(b + 40 + extra, id, idl);
	memcpy(b + 40 + extra + idl, name, nl);
	len = 40 + extra + idl + nl;
	while (len % 8)
		b[len++] = 0;
	return len;
}

static void test_snapshots(void)
{
	struct qcow2_header h;
	struct qcow2_snapshot sn[3];
	const char *r = NULL;
	u64 fs, tl, need;
	u32 l0, l1;
	size_t cut;

	fs = mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 60, 2);
	put64(hbuf, 64, 4 * 65536);
	fs = 8 * 65536;
	CHECK_EQ(parse(fs, &h, &r), 0);
	memset(sbuf, 0, sizeof(sbuf));
	l0 = mk_snapshot(sbuf, 5 * 65536, 2, "1", "first", 24);
	l1 = mk_snapshot(sbuf + l0, 6 * 65536, 2, "2", "second snapshot", 16);
	CHECK_EQ(qcow2_snapshot_table_parse(&h, fs, sbuf, sizeof(sbuf), sn, &tl,
					    &r), 0);
	CHECK_EQ(tl, l0 + l1);
	CHECK_EQ(sn[0].l1_table_offset, 5 * 65536);
	CHECK_EQ(sn[0].l1_size, 2);
	CHECK_EQ(sn[0].id_len, 1);
	CHECK(!memcmp(sbuf + sn[0].id_offset, "1", 1));
	CHECK(!memcmp(sbuf + sn[0].name_offset, "first", 5));
	CHECK_EQ(sn[0].date_sec, 1700000000);
	CHECK_EQ(sn[0].date_nsec, 123456789);
	CHECK_EQ(sn[0].vm_clock_nsec, 42);
	CHECK_EQ(sn[0].vm_state_size, 0x100000000ULL);
	CHECK(sn[0].has_disk_size && sn[0].disk_size == 1ULL << 30);
	CHECK(sn[0].has_icount && sn[0].icount == 77);
	CHECK_EQ(sn[0].entry_len, l0);
	CHECK_EQ(sn[1].entry_offset, l0);
	CHECK(!memcmp(sbuf + sn[1].name_offset, "second snapshot", 15));
	CHECK(!sn[1].has_icount);

	/* reading piecewise: -ENODATA says how much is needed */
	for (cut = 0; cut < l0 + l1; cut++) {
		int ret = qcow2_snapshot_table_parse(&h, fs, sbuf, cut, sn, &tl,
						     &r);

		CHECK_EQ(ret, -ENODATA);
		CHECK(tl > cut && tl <= l0 + l1);
		/* reading what it asked for makes progress */
		need = tl;
		ret = qcow2_snapshot_table_parse(&h, fs, sbuf, need, sn, &tl, &r);
		CHECK(ret == 0 || (ret == -ENODATA && tl > need));
		CHECK_EQ(ret == 0, need == l0 + l1);
	}

	/* QEMU writes no padding after the last entry: the file ends there */
	mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 60, 1);
	put64(hbuf, 64, 4 * 65536);
	fs = 4 * 65536 + 69;
	CHECK_EQ(parse(fs, &h, &r), 0);
	memset(sbuf, 0xee, sizeof(sbuf));
	CHECK_EQ(mk_snapshot(sbuf, 0, 0, "1", "test", 24), 72);
	CHECK_EQ(qcow2_snapshot_table_parse(&h, fs, sbuf, 69, sn, &tl, &r), 0);
	CHECK_EQ(tl, 69);
	CHECK_EQ(sn[0].entry_len, 72);
	CHECK_ERR(qcow2_snapshot_table_parse(&h, fs, sbuf, 68, sn, &tl, &r),
		  -ENODATA, r, NULL);
	CHECK_EQ(tl, 69);
	CHECK_ERR(qcow2_snapshot_table_parse(&h, fs - 1, sbuf, 69, sn, &tl, &r),
		  -EINVAL, r, "past the end");
	/* a buffer ending inside the padding between two entries */
	put32(hbuf, 60, 2);
	fs = 8 * 65536;
	CHECK_EQ(parse(fs, &h, &r), 0);
	mk_snapshot(sbuf + 72, 0, 0, "2", "test", 24);
	CHECK_ERR(qcow2_snapshot_table_parse(&h, fs, sbuf, 70, sn, &tl, &r),
		  -ENODATA, r, NULL);
	CHECK_EQ(tl, 72 + 40);
	CHECK_EQ(qcow2_snapshot_table_parse(&h, fs, sbuf, 72 + 69, sn, &tl, &r),
		 0);
	CHECK_EQ(tl, 72 + 69);
	CHECK_EQ(sn[1].entry_offset, 72);

	/* version 2: no extra data needed; the 32-bit VM state size */
	fs = mk_header(2, 16, 1ULL << 30, false);
	put32(hbuf, 60, 1);
	put64(hbuf, 64, 4 * 65536);
	fs = 8 * 65536;
	CHECK_EQ(parse(fs, &h, &r), 0);
	mk_snapshot(sbuf, 5 * 65536, 2, "1", "v2", 0);
	CHECK_EQ(qcow2_snapshot_table_parse(&h, fs, sbuf, sizeof(sbuf), sn, &tl,
					    &r), 0);
	CHECK_EQ(sn[0].vm_state_size, 0x1000);
	CHECK(!sn[0].has_disk_size);
}

static void test_snapshot_refusals(void)
{
	struct qcow2_header h;
	struct qcow2_snapshot sn[2];
	const char *r = NULL;
	u64 fs, tl;

	mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 60, 1);
	put64(hbuf, 64, 4 * 65536);
	fs = 8 * 65536;
	CHECK_EQ(parse(fs, &h, &r), 0);

#define SN_CASE(l1off, l1size, extra, err, substr) do {			\
		memset(sbuf, 0, sizeof(sbuf));				\
		mk_snapshot(sbuf, l1off, l1size, "1", "x", extra);	\
		CHECK_ERR(qcow2_snapshot_table_parse(&h, fs, sbuf,	\
						     sizeof(sbuf), sn, &tl, &r), \
			  err, r, substr);				\
	} while (0)

	SN_CASE(5 * 65536, 2, 16, 0, NULL);
	SN_CASE(5 * 65536, 2, 8, -EINVAL, "version 3 requires");
	SN_CASE(5 * 65536, 2, 0, -EINVAL, "version 3 requires");
	SN_CASE(5 * 65536, 2, 1025, -EFBIG, "too much extra data");
	SN_CASE(5 * 65536, 2, 1024, 0, NULL);
	SN_CASE(5 * 65536 + 512, 2, 16, -EINVAL, "snapshot L1 table offset");
	SN_CASE(0x7fffffffffff0000ULL, 0xffff, 16, -EINVAL,
		"snapshot L1 table offset");
	SN_CASE(5 * 65536, QCOW2_MAX_L1_ENTRIES + 1, 16, -EFBIG,
		"snapshot L1 table too large");
	/* iotest 080 "Invalid snapshot L1 table size" */
	SN_CASE(5 * 65536, 0x10000000, 16, -EFBIG,
		"snapshot L1 table too large");
	SN_CASE(8 * 65536, 2, 16, -EINVAL, "past the end");
	SN_CASE(0, 2, 16, -EINVAL, "overlaps the header");
	SN_CASE(0, 0, 16, 0, NULL);
	/* the table itself past the end of the file */
	memset(sbuf, 0, sizeof(sbuf));
	mk_snapshot(sbuf, 5 * 65536, 2, "1", "x", 16);
	CHECK_ERR(qcow2_snapshot_table_parse(&h, 4 * 65536 + 40, sbuf,
					     sizeof(sbuf), sn, &tl, &r),
		  -EINVAL, r, "past the end");
	/* the table running into the L1 table */
	mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 60, 1);
	put64(hbuf, 64, 0x30000 - 65536);
	CHECK_EQ(parse(fs, &h, &r), 0);
	memset(sbuf, 0, sizeof(sbuf));
	put64(sbuf, 0, 5 * 65536);
	put32(sbuf, 36, 16);
	put16(sbuf, 12, 65535);
	CHECK_ERR(qcow2_snapshot_table_parse(&h, fs, sbuf, sizeof(sbuf), sn,
					     &tl, &r), -EINVAL, r,
		  "overlaps the L1");
#undef SN_CASE
}

static void test_snapshot_table_limit(void)
{
	struct qcow2_header h;
	struct qcow2_snapshot *sn;
	const char *r = NULL;
	size_t len = 66u << 20;
	u8 *b = calloc(1, len);
	u64 fs, tl, off = 0;
	u32 i, n = 600;

	CHECK(b);
	sn = calloc(n, sizeof(*sn));
	CHECK(sn);
	mk_header(3, 16, 1ULL << 30, false);
	put32(hbuf, 60, n);
	put64(hbuf, 64, 4 * 65536);
	fs = 1ULL << 40;
	CHECK_EQ(parse(fs, &h, &r), 0);
	/* entries of 40 + 16 + 2 * 65535 bytes: 64 MiB after 507 of them */
	for (i = 0; i < n; i++) {
		put32(b + off, 36, 16);
		put16(b + off, 12, 65535);
		put16(b + off, 14, 65535);
		off += ALIGN(40 + 16 + 2 * 65535ULL, 8);
		if (off + 200000 > len)
			break;
	}
	CHECK_ERR(qcow2_snapshot_table_parse(&h, fs, b, len, sn, &tl, &r),
		  -EFBIG, r, "snapshot table too large");
	free(b);
	free(sn);
}

/* == Bitmaps == */

static u8 dbuf[4096];

static u32 mk_bitmap(u8 *b, u64 table_off, u32 table_size, u32 flags,
		     u8 gran, const char *name, u32 extra)
{
	u32 nl = (u32)strlen(name), len;

	put64(b, 0, table_off);
	put32(b, 8, table_size);
	put32(b, 12, flags);
	b[16] = 1;
	b[17] = gran;
	put16(b, 18, (u16)nl);
	put32(b, 20, extra);
	memset(b + 24, 0, extra);
	memcpy(b + 24 + extra, name, nl);
	len = 24 + extra + nl;
	while (len % 8)
		b[len++] = 0;
	return len;
}

static int bm_setup(u32 nb, u64 dir_size, struct qcow2_header *h,
		    struct qcow2_extensions *e, u64 fs)
{
	const char *r;
	u32 pos = 112;

	mk_header(3, 16, 64ULL << 20, false);
	put64(hbuf, 88, QCOW2_AUTOCLEAR_BITMAPS);
	set_bitmaps_ext(nb, dir_size, 4 * 65536);
	ext(&pos, QCOW2_EXT_BITMAPS, bitmaps_ext, 24);
	return parse_ext(fs, h, e, &r);
}

static void test_bitmaps(void)
{
	struct qcow2_header h;
	struct qcow2_extensions e;
	struct qcow2_bitmap bm[3];
	const char *r = NULL;
	u64 fs = 16 * 65536;
	u32 l0, l1;

	/* 64 MiB at 64 KiB granularity: 1024 bits, one cluster */
	memset(dbuf, 0, sizeof(dbuf));
	l0 = mk_bitmap(dbuf, 5 * 65536, 1, QCOW2_BITMAP_AUTO, 16, "b0", 0);
	/* 512-byte granularity: 131072 bits = 16 KiB, one cluster */
	l1 = mk_bitmap(dbuf + l0, 6 * 65536, 1, QCOW2_BITMAP_IN_USE, 9,
		       "bitmap-one", 0);
	CHECK_EQ(bm_setup(2, l0 + l1, &h, &e, fs), 0);
	CHECK_EQ(qcow2_bitmap_dir_parse(&h, &e, fs, dbuf, l0 + l1, bm, &r), 0);
	CHECK_EQ(bm[0].table_offset, 5 * 65536);
	CHECK_EQ(bm[0].table_size, 1);
	CHECK_EQ(bm[0].flags, QCOW2_BITMAP_AUTO);
	CHECK_EQ(bm[0].granularity_bits, 16);
	CHECK_EQ(bm[0].name_len, 2);
	CHECK(!memcmp(dbuf + bm[0].name_offset, "b0", 2));
	CHECK_EQ(bm[1].entry_offset, l0);
	CHECK(!memcmp(dbuf + bm[1].name_offset, "bitmap-one", 10));
	CHECK_ERR(qcow2_bitmap_dir_parse(&h, &e, fs, dbuf, l0 + l1 - 1, bm, &r),
		  -ENODATA, r, NULL);

#define BMD_CASE(off, size, flags, gran, name, extra, err, substr) do {	\
		memset(dbuf, 0, sizeof(dbuf));				\
		l0 = mk_bitmap(dbuf, off, size, flags, gran, name, extra); \
		CHECK_EQ(bm_setup(1, l0, &h, &e, fs), 0);		\
		CHECK_ERR(qcow2_bitmap_dir_parse(&h, &e, fs, dbuf, l0, bm, &r), \
			  err, r, substr);				\
	} while (0)

	BMD_CASE(5 * 65536, 1, 0, 16, "b", 0, 0, NULL);
	BMD_CASE(5 * 65536, 1, 0, 16, "b", 8, -EOPNOTSUPP, "extra data");
	BMD_CASE(5 * 65536, 1, QCOW2_BITMAP_EXTRA_COMPATIBLE, 16, "b", 0,
		 -EINVAL, "reserved bitmap flags");
	BMD_CASE(5 * 65536, 1, BIT(31), 16, "b", 0, -EINVAL, "reserved");
	BMD_CASE(5 * 65536, 1, 0, 8, "b", 0, -EINVAL, "granularity");
	BMD_CASE(5 * 65536, 1, 0, 32, "b", 0, -EINVAL, "granularity");
	BMD_CASE(5 * 65536, 1, 0, 31, "b", 0, 0, NULL);
	BMD_CASE(5 * 65536, 1, 0, 16, "", 0, -EINVAL, "name");
	BMD_CASE(5 * 65536, 0, 0, 16, "b", 0, -EINVAL, "table size");
	BMD_CASE(5 * 65536, QCOW2_MAX_BITMAP_TABLE + 1, 0, 16, "b", 0, -EINVAL,
		 "table size");
	BMD_CASE(5 * 65536, 2, 0, 16, "b", 0, -EINVAL, "does not match");
	BMD_CASE(5 * 65536, 2, QCOW2_BITMAP_IN_USE, 16, "b", 0, 0, NULL);
	BMD_CASE(0, 1, 0, 16, "b", 0, -EINVAL, "table offset");
	BMD_CASE(5 * 65536 + 8, 1, 0, 16, "b", 0, -EINVAL, "table offset");
	BMD_CASE(16 * 65536, 1, 0, 16, "b", 0, -EINVAL, "past the end");
	BMD_CASE(5 * 65536, 17, QCOW2_BITMAP_IN_USE, 16, "b", 0, -EINVAL,
		 "larger than the file");
	/* wrong type */
	memset(dbuf, 0, sizeof(dbuf));
	l0 = mk_bitmap(dbuf, 5 * 65536, 1, 0, 16, "b", 0);
	dbuf[16] = 2;
	CHECK_EQ(bm_setup(1, l0, &h, &e, fs), 0);
	CHECK_ERR(qcow2_bitmap_dir_parse(&h, &e, fs, dbuf, l0, bm, &r), -EINVAL,
		  r, "type");
	/* padding not zero */
	memset(dbuf, 0, sizeof(dbuf));
	l0 = mk_bitmap(dbuf, 5 * 65536, 1, 0, 16, "b", 0);
	dbuf[l0 - 1] = 1;
	CHECK_ERR(qcow2_bitmap_dir_parse(&h, &e, fs, dbuf, l0, bm, &r), -EINVAL,
		  r, "padding");
	/* a name of 1024 bytes */
	{
		static char longname[1025];

		memset(longname, 'n', 1024);
		BMD_CASE(5 * 65536, 1, 0, 16, longname, 0, -EINVAL, "name");
		longname[1023] = 0;
		BMD_CASE(5 * 65536, 1, 0, 16, longname, 0, 0, NULL);
	}
	/* count mismatches and truncation */
	memset(dbuf, 0, sizeof(dbuf));
	l0 = mk_bitmap(dbuf, 5 * 65536, 1, 0, 16, "b0", 0);
	l1 = mk_bitmap(dbuf + l0, 6 * 65536, 1, 0, 16, "b1", 0);
	CHECK_EQ(bm_setup(1, l0 + l1, &h, &e, fs), 0);
	CHECK_ERR(qcow2_bitmap_dir_parse(&h, &e, fs, dbuf, l0 + l1, bm, &r),
		  -EINVAL, r, "more bitmaps");
	CHECK_EQ(bm_setup(2, l0 + 24, &h, &e, fs), 0);
	CHECK_ERR(qcow2_bitmap_dir_parse(&h, &e, fs, dbuf, l0 + 24, bm, &r),
		  -EINVAL, r, "truncated");
	CHECK_EQ(bm_setup(2, l0 + 8, &h, &e, fs), -EINVAL);
	CHECK_EQ(bm_setup(3, l0 + l1 + 24, &h, &e, fs), 0);
	memset(dbuf + l0 + l1, 0, 24);
	CHECK_ERR(qcow2_bitmap_dir_parse(&h, &e, fs, dbuf, l0 + l1 + 24, bm, &r),
		  -EINVAL, r, NULL);
	memset(dbuf, 0, sizeof(dbuf));
	l0 = mk_bitmap(dbuf, 5 * 65536, 1, 0, 16, "b0", 0);
	CHECK_EQ(bm_setup(2, 64, &h, &e, fs), 0);
	CHECK_ERR(qcow2_bitmap_dir_parse(&h, &e, fs, dbuf, 64, bm, &r),
		  -EINVAL, r, NULL);
	/* stale extension: nothing to parse */
	mk_header(3, 16, 64ULL << 20, false);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	CHECK_ERR(qcow2_bitmap_dir_parse(&h, &e, fs, dbuf, 64, bm, &r),
		  -EINVAL, r, "no consistent bitmaps");
#undef BMD_CASE
}

static void test_bitmap_table_entries(void)
{
	struct qcow2_geometry g;
	enum qcow2_bmt_kind k;
	const char *r = NULL;
	u64 off;

	qcow2_geometry_init(&g, 3, 16, 4, false, false);
	CHECK_EQ(qcow2_bitmap_table_entry_decode(&g, 0, &off, &k, &r), 0);
	CHECK(off == 0 && k == QCOW2_BMT_ZEROES);
	CHECK_EQ(qcow2_bitmap_table_entry_decode(&g, 1, &off, &k, &r), 0);
	CHECK(off == 0 && k == QCOW2_BMT_ONES);
	CHECK_EQ(qcow2_bitmap_table_entry_decode(&g, 0x50000, &off, &k, &r), 0);
	CHECK(off == 0x50000 && k == QCOW2_BMT_DATA);
	CHECK_ERR(qcow2_bitmap_table_entry_decode(&g, 0x50001, &off, &k, &r),
		  -EUCLEAN, r, "bit 0");
	CHECK_ERR(qcow2_bitmap_table_entry_decode(&g, 0x50002, &off, &k, &r),
		  -EUCLEAN, r, "reserved");
	CHECK_ERR(qcow2_bitmap_table_entry_decode(&g, BIT_ULL(56), &off, &k, &r),
		  -EUCLEAN, r, "reserved");
	CHECK_ERR(qcow2_bitmap_table_entry_decode(&g, 0x50200, &off, &k, &r),
		  -EUCLEAN, r, "aligned");
}

/* == Overlap checks == */

static void test_overlap(void)
{
	static const u64 active_l2[] = { 0x40000, 0x60000, 0x80000 };
	static const u64 refblocks[] = { 0x20000 };
	static const u64 inactive_l2[] = { 0x50000 };
	static const struct qcow2_range inactive_l1[] = {
		{ 0x70000, 8 }, { 0x78000, 8 },
	};
	struct qcow2_meta_ranges m = {
		.cluster_bits = 15,	/* 32 KiB */
		.header = { 0, 0x8000 },
		.active_l1 = { 0x30000, 16 },
		.refcount_table = { 0x10000, 0x8000 },
		.snapshot_table = { 0x90000, 100 },
		.bitmap_directory = { 0xa0000, 48 },
		.active_l2 = active_l2,
		.nb_active_l2 = 3,
		.refcount_blocks = refblocks,
		.nb_refcount_blocks = 1,
		.inactive_l2 = inactive_l2,
		.nb_inactive_l2 = 1,
		.inactive_l1 = inactive_l1,
		.nb_inactive_l1 = 2,
	};
	const char *r = NULL;

	CHECK_EQ(qcow2_meta_ranges_check(&m, &r), 0);
	CHECK_EQ(qcow2_overlap_check(&m, 0, 512, 0), QCOW2_OL_HEADER);
	CHECK_EQ(qcow2_overlap_check(&m, 0x7e00, 512, 0), QCOW2_OL_HEADER);
	CHECK_EQ(qcow2_overlap_check(&m, 0x8000, 0x8000, 0), 0);
	CHECK_EQ(qcow2_overlap_check(&m, 0x10000, 1, 0), QCOW2_OL_REFCOUNT_TABLE);
	CHECK_EQ(qcow2_overlap_check(&m, 0x20000, 0x8000, 0),
		 QCOW2_OL_REFCOUNT_BLOCK);
	CHECK_EQ(qcow2_overlap_check(&m, 0x28000, 0x8000, 0), 0);
	CHECK_EQ(qcow2_overlap_check(&m, 0x30000, 8, 0), QCOW2_OL_ACTIVE_L1);
	/* the rest of the L1 table's cluster counts too (as in QEMU) */
	CHECK_EQ(qcow2_overlap_check(&m, 0x37e00, 0x200, 0), QCOW2_OL_ACTIVE_L1);
	CHECK_EQ(qcow2_overlap_check(&m, 0x38000, 0x8000, 0), 0);
	CHECK_EQ(qcow2_overlap_check(&m, 0x40000, 0x8000, 0), QCOW2_OL_ACTIVE_L2);
	CHECK_EQ(qcow2_overlap_check(&m, 0x48000, 0x8000, 0), 0);
	CHECK_EQ(qcow2_overlap_check(&m, 0x50000, 0x8000, 0),
		 QCOW2_OL_INACTIVE_L2);
	CHECK_EQ(qcow2_overlap_check(&m, 0x60004, 1, 0), QCOW2_OL_ACTIVE_L2);
	CHECK_EQ(qcow2_overlap_check(&m, 0x70000, 0x8000, 0),
		 QCOW2_OL_INACTIVE_L1);
	CHECK_EQ(qcow2_overlap_check(&m, 0x78100, 0x100, 0),
		 QCOW2_OL_INACTIVE_L1);
	CHECK_EQ(qcow2_overlap_check(&m, 0x80000, 0x8000, 0), QCOW2_OL_ACTIVE_L2);
	CHECK_EQ(qcow2_overlap_check(&m, 0x90000, 0x8000, 0),
		 QCOW2_OL_SNAPSHOT_TABLE);
	CHECK_EQ(qcow2_overlap_check(&m, 0xa0000, 0x8000, 0),
		 QCOW2_OL_BITMAP_DIRECTORY);
	CHECK_EQ(qcow2_overlap_check(&m, 0xa8000, 0x8000, 0), 0);
	CHECK_EQ(qcow2_overlap_check(&m, 0xb0000, 1ULL << 40, 0), 0);
	/* spans, ignore masks, odd lengths */
	CHECK_EQ(qcow2_overlap_check(&m, 0x38000, 0x10000, 0),
		 QCOW2_OL_ACTIVE_L2);
	CHECK_EQ(qcow2_overlap_check(&m, 0x38000, 0x10000, QCOW2_OL_ACTIVE_L2),
		 0);
	CHECK_EQ(qcow2_overlap_check(&m, 0x48000, 0x10000, 0),
		 QCOW2_OL_INACTIVE_L2);
	CHECK_EQ(qcow2_overlap_check(&m, 0, ~0ULL, QCOW2_OL_HEADER),
		 QCOW2_OL_ACTIVE_L1);
	CHECK_EQ(qcow2_overlap_check(&m, 0, ~0ULL, QCOW2_OL_ALL), 0);
	CHECK_EQ(qcow2_overlap_check(&m, 0x40000, 0, 0), 0);
	CHECK_EQ(qcow2_overlap_check(&m, ~0ULL - 10, 100, 0), 0);
	CHECK_EQ(qcow2_overlap_check(&m, 0x90000 - 1, 2, QCOW2_OL_ALL &
				     ~QCOW2_OL_SNAPSHOT_TABLE),
		 QCOW2_OL_SNAPSHOT_TABLE);
}

static void test_overlap_random(void)
{
	static u64 l2[512], rb[64], il2[256];
	static struct qcow2_range il1[64];
	struct qcow2_meta_ranges m;
	const char *r = NULL;
	u32 i, n, k;
	u64 c;

	memset(&m, 0, sizeof(m));
	m.cluster_bits = 16;
	for (i = 0, c = 0x100000; i < 512; i++) {
		c += (1 + rnd() % 8) << 16;
		l2[i] = c;
	}
	for (i = 0, c = 0x200000; i < 64; i++) {
		c += (1 + rnd() % 64) << 16;
		rb[i] = c;
	}
	for (i = 0, c = 0x300000; i < 256; i++) {
		c += (1 + rnd() % 16) << 16;
		il2[i] = c;
	}
	for (i = 0, c = 0x80000; i < 64; i++) {
		il1[i].offset = c;
		il1[i].len = 8 + (rnd() % (3 << 16));
		c = ALIGN(c + il1[i].len, 65536ULL) + ((rnd() % 4) << 16);
	}
	m.active_l2 = l2;
	m.nb_active_l2 = 512;
	m.refcount_blocks = rb;
	m.nb_refcount_blocks = 64;
	m.inactive_l2 = il2;
	m.nb_inactive_l2 = 256;
	m.inactive_l1 = il1;
	m.nb_inactive_l1 = 64;
	CHECK_EQ(qcow2_meta_ranges_check(&m, &r), 0);

	for (k = 0; k < 20000; k++) {
		u64 off = rnd() % (c + (16 << 20));
		u64 len = 1 + rnd() % (k % 2 ? 4096 : 3 << 16);
		u64 s = off & ~0xffffULL, e = ALIGN(off + len, 65536ULL);
		unsigned int want = 0;

		for (i = 0; i < 512 && !want; i++)
			if (l2[i] < e && l2[i] + 65536 > s)
				want = QCOW2_OL_ACTIVE_L2;
		for (i = 0; i < 64 && !want; i++)
			if (rb[i] < e && rb[i] + 65536 > s)
				want = QCOW2_OL_REFCOUNT_BLOCK;
		for (i = 0; i < 64 && !want; i++)
			if (il1[i].offset < e && il1[i].offset + il1[i].len > s)
				want = QCOW2_OL_INACTIVE_L1;
		for (i = 0; i < 256 && !want; i++)
			if (il2[i] < e && il2[i] + 65536 > s)
				want = QCOW2_OL_INACTIVE_L2;
		n = qcow2_overlap_check(&m, off, len, 0);
		if (n != want) {
			fail_at(__LINE__, "[0x%llx +0x%llx): %u, want %u",
				(unsigned long long)off, (unsigned long long)len,
				n, want);
			return;
		}
	}
}

static void test_overlap_ranges_check(void)
{
	static const u64 unsorted[] = { 0x20000, 0x10000 };
	static const u64 dup[] = { 0x20000, 0x20000 };
	static const u64 misaligned[] = { 0x20200 };
	static const struct qcow2_range ovl[] = { { 0x10000, 0x20000 },
						   { 0x20000, 8 } };
	static const struct qcow2_range empty[] = { { 0x10000, 0 } };
	struct qcow2_meta_ranges m;
	const char *r = NULL;

	memset(&m, 0, sizeof(m));
	m.cluster_bits = 16;
	CHECK_EQ(qcow2_meta_ranges_check(&m, &r), 0);
	m.active_l2 = unsorted;
	m.nb_active_l2 = 2;
	CHECK_EQ(qcow2_meta_ranges_check(&m, &r), -EINVAL);
	m.active_l2 = dup;
	CHECK_EQ(qcow2_meta_ranges_check(&m, &r), -EINVAL);
	m.nb_active_l2 = 0;
	m.refcount_blocks = misaligned;
	m.nb_refcount_blocks = 1;
	CHECK_EQ(qcow2_meta_ranges_check(&m, &r), -EINVAL);
	m.nb_refcount_blocks = 0;
	m.inactive_l1 = ovl;
	m.nb_inactive_l1 = 2;
	CHECK_ERR(qcow2_meta_ranges_check(&m, &r), -EINVAL, r, "overlapping");
	m.inactive_l1 = empty;
	m.nb_inactive_l1 = 1;
	CHECK_ERR(qcow2_meta_ranges_check(&m, &r), -EINVAL, r, "empty");
	m.nb_inactive_l1 = 0;
	m.cluster_bits = 8;
	CHECK_EQ(qcow2_meta_ranges_check(&m, &r), -EINVAL);
}

static void test_meta_ranges_init(void)
{
	struct qcow2_header h;
	struct qcow2_extensions e;
	struct qcow2_meta_ranges m;
	const char *r = NULL;
	u32 pos = 112;
	u64 fs;

	fs = mk_header(3, 16, 1ULL << 30, false);
	put64(hbuf, 88, QCOW2_AUTOCLEAR_BITMAPS);
	put32(hbuf, 60, 1);
	put64(hbuf, 64, 4 * 65536);
	set_bitmaps_ext(1, 32, 5 * 65536);
	ext(&pos, QCOW2_EXT_BITMAPS, bitmaps_ext, 24);
	fs = 8 * 65536;
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);
	qcow2_meta_ranges_init(&m, &h, &e, 56);
	CHECK_EQ(qcow2_meta_ranges_check(&m, &r), 0);
	CHECK(m.header.offset == 0 && m.header.len == 65536);
	CHECK(m.active_l1.offset == 0x30000 && m.active_l1.len == 16);
	CHECK(m.refcount_table.offset == 0x10000 && m.refcount_table.len == 65536);
	CHECK(m.snapshot_table.offset == 0x40000 && m.snapshot_table.len == 56);
	CHECK(m.bitmap_directory.offset == 0x50000 &&
	      m.bitmap_directory.len == 32);
	CHECK_EQ(qcow2_overlap_check(&m, 0x50000, 512, 0),
		 QCOW2_OL_BITMAP_DIRECTORY);
	CHECK_EQ(qcow2_overlap_check(&m, 0x60000, 512, 0), 0);
	qcow2_meta_ranges_init(&m, &h, NULL, 56);
	CHECK_EQ(m.bitmap_directory.len, 0);
}

/*
 * qcow2_set_backing(): QEMU's qcow2_change_backing_file(). The area keeps
 * every other extension in its order, and the result parses to the new
 * name and format; too long a name is refused, and one that does not fit
 * in the cluster is -ENOSPC.
 */
static void test_set_backing(void)
{
	static u8 out[65536];
	struct qcow2_header h, h2;
	struct qcow2_extensions e, e2;
	const char *r = NULL;
	u8 unk[5] = { 1, 2, 3, 4, 5 };
	char longname[1100];
	u32 pos = 112, used;
	u64 fs = mk_header(3, 16, 64ULL << 20, false) + 65536;

	ext(&pos, QCOW2_EXT_BACKING_FORMAT, "qcow2", 5);
	ext(&pos, 0x12345678, unk, sizeof(unk));
	ext(&pos, QCOW2_EXT_END, NULL, 0);
	memcpy(hbuf + pos, "mid.qcow2", 9);
	put64(hbuf, 8, pos);
	put32(hbuf, 16, 9);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);

	/* a new name and format */
	CHECK_EQ(qcow2_set_backing(hbuf, out, 65536, &h, "base.img", 8,
				   "raw", 3, &used), 0);
	CHECK_EQ(qcow2_header_parse(out, 65536, fs, &h2, &r), 0);
	CHECK_EQ(qcow2_extensions_parse(out, 65536, fs, &h2, &e2, &r), 0);
	CHECK(h2.has_backing);
	CHECK_EQ(e2.backing_file.len, 8);
	CHECK(!memcmp(out + e2.backing_file.offset, "base.img", 8));
	CHECK_EQ(e2.backing_format.len, 3);
	CHECK(!memcmp(out + e2.backing_format.offset, "raw", 3));
	CHECK_EQ(e2.nb_unknown, 1);
	CHECK_EQ(e2.unknown[0].type, 0x12345678);
	CHECK(!memcmp(out + e2.unknown[0].offset, unk, 5));
	CHECK_EQ(used, h2.backing_file_offset + 8);
	/* the header fields other than the backing file are untouched */
	CHECK(!memcmp(out + 20, hbuf + 20, 92));

	/* none: no name, no format extension */
	CHECK_EQ(qcow2_set_backing(hbuf, out, 65536, &h, NULL, 0, NULL, 0,
				   &used), 0);
	CHECK_EQ(qcow2_header_parse(out, 65536, fs, &h2, &r), 0);
	CHECK_EQ(qcow2_extensions_parse(out, 65536, fs, &h2, &e2, &r), 0);
	CHECK(!h2.has_backing);
	CHECK_EQ(h2.backing_file_offset, 0);
	CHECK(!(e2.present & QCOW2_EXTF_BACKING_FORMAT));
	CHECK_EQ(e2.nb_unknown, 1);

	/* refusals */
	memset(longname, 'a', sizeof(longname));
	CHECK_EQ(qcow2_set_backing(hbuf, out, 65536, &h, longname, 1024,
				   "raw", 3, &used), -EINVAL);
	CHECK_EQ(qcow2_set_backing(hbuf, out, 65536, &h, NULL, 0, "raw", 3,
				   &used), -EINVAL);
	CHECK_EQ(qcow2_set_backing(hbuf, out, 156, &h, "base.img", 8, "raw",
				   3, &used), -ENOSPC);
}

/*
 * Writing bitmaps: directory entries encode to what qcow2_bitmap_dir_parse()
 * reads back; the extension is added first, replaced, and removed with the
 * autoclear bit; the other extensions and the backing name are kept.
 */
static void test_bitmaps_write(void)
{
	static u8 out[65536], out2[65536];
	struct qcow2_header h, h2;
	struct qcow2_extensions e, e2;
	struct qcow2_bitmap bm[2];
	const char *r = NULL;
	u8 unk[5] = { 1, 2, 3, 4, 5 };
	u32 pos = 112, used, l0, l1;
	u64 fs = mk_header(3, 16, 64ULL << 20, false) + 16 * 65536;

	/* sizes: 64 MiB at 64 KiB is 1024 bits, one cluster of data */
	CHECK_EQ(qcow2_bitmap_bits(64ULL << 20, 16), 1024);
	CHECK_EQ(qcow2_bitmap_bits((64ULL << 20) + 1, 16), 1025);
	CHECK_EQ(qcow2_bitmap_table_size(64ULL << 20, 16, 16), 1);
	CHECK_EQ(qcow2_bitmap_table_size(64ULL << 20, 9, 16), 1);
	CHECK_EQ(qcow2_bitmap_table_size(1ULL << 40, 9, 16), 4096);
	CHECK_EQ(qcow2_bitmap_entry_len(1), 32);
	CHECK_EQ(qcow2_bitmap_entry_len(8), 32);
	CHECK_EQ(qcow2_bitmap_entry_len(9), 40);

	ext(&pos, QCOW2_EXT_BACKING_FORMAT, "qcow2", 5);
	ext(&pos, 0x12345678, unk, sizeof(unk));
	ext(&pos, QCOW2_EXT_END, NULL, 0);
	memcpy(hbuf + pos, "mid.qcow2", 9);
	put64(hbuf, 8, pos);
	put32(hbuf, 16, 9);
	CHECK_EQ(parse_ext(fs, &h, &e, &r), 0);

	/* a directory of two bitmaps at 5 * 64K */
	memset(dbuf, 0xff, sizeof(dbuf));
	l0 = qcow2_bitmap_entry_encode(dbuf, 6 * 65536, 1, QCOW2_BITMAP_AUTO,
				       16, "b0", 2);
	l1 = qcow2_bitmap_entry_encode(dbuf + l0, 7 * 65536, 1,
				       QCOW2_BITMAP_IN_USE, 9, "bitmap-one", 10);
	CHECK_EQ(l0, 32);
	CHECK_EQ(l1, 40);

	CHECK_EQ(qcow2_set_bitmaps_ext(hbuf, out, 65536, &h, 2, l0 + l1,
				       5 * 65536, &used), 0);
	CHECK_EQ(qcow2_header_parse(out, 65536, fs, &h2, &r), 0);
	CHECK(h2.bitmaps_autoclear);
	CHECK_EQ(qcow2_extensions_parse(out, 65536, fs, &h2, &e2, &r), 0);
	CHECK(e2.present & QCOW2_EXTF_BITMAPS);
	CHECK(!e2.bitmaps_stale);
	CHECK_EQ(e2.nb_bitmaps, 2);
	CHECK_EQ(e2.bitmap_directory_size, l0 + l1);
	CHECK_EQ(e2.bitmap_directory_offset, 5 * 65536);
	CHECK_EQ(e2.nb_unknown, 1);
	CHECK(!memcmp(out + e2.unknown[0].offset, unk, 5));
	CHECK_EQ(e2.backing_format.len, 5);
	CHECK(h2.has_backing);
	CHECK(!memcmp(out + h2.backing_file_offset, "mid.qcow2", 9));
	CHECK_EQ(used, h2.backing_file_offset + 9);
	CHECK(!memcmp(out + 20, hbuf + 20, 68));	/* up to autoclear */
	CHECK_EQ(qcow2_bitmap_dir_parse(&h2, &e2, fs, dbuf, l0 + l1, bm, &r), 0);
	CHECK_EQ(bm[0].table_offset, 6 * 65536);
	CHECK_EQ(bm[0].flags, QCOW2_BITMAP_AUTO);
	CHECK_EQ(bm[0].granularity_bits, 16);
	CHECK(!memcmp(dbuf + bm[0].name_offset, "b0", 2));
	CHECK_EQ(bm[1].flags, QCOW2_BITMAP_IN_USE);
	CHECK_EQ(bm[1].granularity_bits, 9);
	CHECK(!memcmp(dbuf + bm[1].name_offset, "bitmap-one", 10));

	/* replaced: one extension still, with the new values */
	CHECK_EQ(qcow2_set_bitmaps_ext(out, out2, 65536, &h2, 1, l0,
				       8 * 65536, &used), 0);
	CHECK_EQ(qcow2_header_parse(out2, 65536, fs, &h2, &r), 0);
	CHECK_EQ(qcow2_extensions_parse(out2, 65536, fs, &h2, &e2, &r), 0);
	CHECK_EQ(e2.nb_bitmaps, 1);
	CHECK_EQ(e2.bitmap_directory_offset, 8 * 65536);
	CHECK_EQ(e2.nb_unknown, 1);

	/* removed, the autoclear bit with it */
	CHECK_EQ(qcow2_set_bitmaps_ext(out2, out, 65536, &h2, 0, 0, 0, &used), 0);
	CHECK_EQ(qcow2_header_parse(out, 65536, fs, &h2, &r), 0);
	CHECK(!h2.bitmaps_autoclear);
	CHECK_EQ(qcow2_extensions_parse(out, 65536, fs, &h2, &e2, &r), 0);
	CHECK(!(e2.present & QCOW2_EXTF_BITMAPS));
	CHECK(!memcmp(out + h2.backing_file_offset, "mid.qcow2", 9));

	/* refusals: no room, v2 */
	CHECK_EQ(qcow2_set_bitmaps_ext(hbuf, out, 188, &h, 2, l0 + l1,
				       5 * 65536, &used), -ENOSPC);
	mk_header(2, 16, 64ULL << 20, false);
	CHECK_EQ(parse(fs, &h, &r), 0);
	CHECK_EQ(qcow2_set_bitmaps_ext(hbuf, out, 65536, &h, 1, l0, 5 * 65536,
				       &used), -EINVAL);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		filter = argv[1];

	run("geometry", test_geometry);
	run("indexes", test_indexes);
	run("header-v3-default", test_header_v3_default);
	run("header-v2", test_header_v2);
	run("header-variants", test_header_variants);
	run("header-short-buffer", test_header_short_buffer);
	run("header-encode", test_header_encode);
	test_header_refusals();
	run("ext-all-known", test_ext_all_known);
	run("ext-none", test_ext_none);
	run("ext-no-end-marker", test_ext_no_end_marker);
	run("ext-refusals", test_ext_refusals);
	run("ext-bitmaps", test_ext_bitmaps);
	run("ext-short-file", test_ext_short_file);
	run("ext-put", test_ext_put);
	run("set-backing", test_set_backing);
	run("check-open", test_check_open);
	run("l1-entries", test_l1);
	run("l2-standard", test_l2_standard);
	run("l2-compressed", test_l2_compressed);
	run("l2-extended", test_l2_extended);
	run("l2-encode-roundtrip", test_l2_encode);
	run("subclusters", test_subclusters);
	run("compressed-roundtrip-all-cluster-sizes", test_compressed_roundtrip);
	run("compressed-known-values", test_compressed_known);
	run("refcount-all-orders", test_refcount_orders);
	run("refcount-layout", test_refcount_layout);
	run("refcount-adjust", test_refcount_adjust);
	run("refcount-index", test_refcount_index);
	run("snapshots", test_snapshots);
	run("snapshot-refusals", test_snapshot_refusals);
	run("snapshot-table-limit", test_snapshot_table_limit);
	run("bitmaps", test_bitmaps);
	run("bitmap-table-entries", test_bitmap_table_entries);
	run("bitmaps-write", test_bitmaps_write);
	run("overlap", test_overlap);
	run("overlap-random", test_overlap_random);
	run("overlap-ranges-check", test_overlap_ranges_check);
	run("meta-ranges-init", test_meta_ranges_init);

	printf("%d tests, %d failed\n", nr_run, nr_failed);
	return nr_failed ? 1 : 0;
}
