/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fuzz.h - shared helpers of the qcow2 fuzz targets (tests/fuzz/fuzz-*.c).
 *
 * Every target is an LLVMFuzzerTestOneInput() over the qcow2 metadata
 * library the kernel module compiles (kernel/formats/qcow2/format.c and
 * entries.c), built for userspace through compat.h. It is linked either
 * with libFuzzer (`make fuzz`) or with replay-main.c, which feeds files to it
 * (tests/unit/fuzz-regress.sh).
 *
 * A violated invariant calls fuzz_fail(), which prints it and aborts: the
 * sanitizers and libFuzzer treat that as a crash and save the input.
 */
#ifndef VSTORAGE_FUZZ_H
#define VSTORAGE_FUZZ_H

#include <stdint.h>
#include <stdlib.h>

#include "format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

_Noreturn void fuzz_fail(const char *file, int line, const char *what);

/* qsort comparators (u64, struct qcow2_range by offset); sort and dedupe */
int fuzz_cmp_u64(const void *a, const void *b);
int fuzz_cmp_range(const void *a, const void *b);
u32 fuzz_sort_unique(u64 *a, u32 n);

#define FUZZ_ASSERT(cond) do {						\
	if (!(cond))							\
		fuzz_fail(__FILE__, __LINE__, #cond);			\
} while (0)

/* Largest buffer a target allocates for one table (bigger ones are skipped). */
#define FUZZ_MAX_READ		(8U << 20)

/*
 * The image an input stands for (fuzz-qcow2-header, fuzz-qcow2-image):
 * the input's bytes are the image from offset 0; an optional 16-byte
 * trailer, "QCFZSIZE" and a big-endian u64, gives the size of the file.
 * Bytes between the end of the input and the end of the file read as
 * zeroes, so a few kilobytes stand for an image of any size. Without the
 * trailer the file is the input.
 */
#define FUZZ_TRAILER_MAGIC	"QCFZSIZE"
#define FUZZ_TRAILER_LEN	16U

struct fuzz_image {
	const u8 *data;		/* the file's first @len bytes */
	size_t len;
	u64 file_size;		/* >= len */
};

void fuzz_image_init(struct fuzz_image *img, const u8 *data, size_t size);

/*
 * A malloc'ed buffer of exactly @len bytes (so that ASan catches any read
 * past it) holding [off, off + len) of the image: the input's bytes, zeroes
 * past them. NULL if @len > FUZZ_MAX_READ. Free with free().
 */
u8 *fuzz_image_read(const struct fuzz_image *img, u64 off, size_t len);

/* The first @len bytes of @src (@avail long), zero-filled; exactly @len. */
u8 *fuzz_dup(const u8 *src, size_t avail, size_t len);

/* What fuzz_parse_header() found. */
struct fuzz_parsed {
	struct qcow2_header h;
	struct qcow2_extensions e;
	u8 *area;		/* qcow2_header_area_size() bytes from offset 0 */
	u32 area_len;
	u64 file_size;
	int ext_ret;		/* qcow2_extensions_parse(); e valid if 0 */
};

/*
 * Parse the header as the kernel does (72 bytes first, then as many as
 * -ENODATA asks for), then the extensions, and check every invariant of
 * the header API: encoding round trip, feature names, open checks,
 * extension rebuild with qcow2_ext_put(), fixed metadata ranges. Returns
 * qcow2_header_parse()'s result; on 0, @p is filled and p->area must be
 * freed with free().
 */
int fuzz_parse_header(const struct fuzz_image *img, struct fuzz_parsed *p);

/* The fields of a valid geometry agree with each other. */
void fuzz_check_geometry(const struct qcow2_geometry *g);

/* One L1 entry: decode against a reference, encode(decode(x)) == x. */
int fuzz_l1_entry(const struct qcow2_geometry *g, u64 entry);

/*
 * qcow2_l1_table_check() on @nb big-endian entries at @l1 against the
 * entry checks; the L2 offsets of the good entries before the first bad
 * one are appended to @l2s (if not NULL; at most @max_l2 in all).
 */
int fuzz_l1_table(const struct qcow2_geometry *g, const u8 *l1, u32 nb,
		  u64 file_size, u64 *l2s, u32 *nl2, u32 max_l2);

/* qcow2_compressed_range() against a reference. */
void fuzz_compressed_range(const struct qcow2_geometry *g, u64 off,
			   u32 csectors, u64 file_size);

/*
 * L2 entry checks on one (entry, bitmap) pair under @g: decode, and if that
 * succeeds, encoding gives the same bits back; subcluster runs and updates;
 * compressed ranges against @file_size. Returns the decode result.
 */
int fuzz_l2_entry(const struct qcow2_geometry *g, u64 entry, u64 bitmap,
		  u64 file_size, u32 arg);

/*
 * Snapshot table at h->snapshots_offset, of which @avail bytes are given at
 * @tab (zeroes after them): parse it as the kernel does (growing the
 * buffer on -ENODATA) and check the result. On 0, *sns (h->nb_snapshots
 * entries, free()) and *table_len are set; the table's bytes are not kept.
 * Returns 1 if the table was too large to try.
 */
int fuzz_snapshot_table(const struct qcow2_header *h, u64 file_size,
			const u8 *tab, size_t avail,
			struct qcow2_snapshot **sns, u64 *table_len);

/*
 * Bitmap directory (e->bitmap_directory_size bytes, @avail of them at
 * @dir): parse and check. On 0, *bms (e->nb_bitmaps entries) is set.
 * Returns 1 if not present or too large to try.
 */
int fuzz_bitmap_dir(const struct qcow2_header *h,
		    const struct qcow2_extensions *e, u64 file_size,
		    const u8 *dir, size_t avail, struct qcow2_bitmap **bms);

/* qcow2_meta_ranges_check() refuses what breaks its rules (@m is valid). */
void fuzz_meta_ranges_negative(const struct qcow2_meta_ranges *m);

/*
 * qcow2_overlap_check() on @m against a plain reference, for the query
 * [offset, offset + len) and @ignore. @m must pass qcow2_meta_ranges_check().
 */
void fuzz_overlap_query(const struct qcow2_meta_ranges *m, u64 offset,
			u64 len, unsigned int ignore);

#endif /* VSTORAGE_FUZZ_H */
