/* SPDX-License-Identifier: GPL-2.0 */
/*
 * format.h - qcow2 on-disk metadata: parsing, validation, encoding.
 *
 * Pure functions over caller-provided buffers: no I/O, no allocation, no
 * locking. The same source builds into the kernel (the qcow2 target) and
 * into userspace (unit tests, qcow2-inspect, fuzzers; see compat.h).
 *
 * Functions that validate return 0 or a negative errno and, where they take
 * one, set *reason to a static string saying what is wrong:
 *   -EINVAL      malformed or inconsistent image metadata
 *   -EOPNOTSUPP  well-formed, but uses something this code does not support
 *   -EFBIG       a table or size above the limits QEMU enforces
 *   -EUCLEAN     a table entry is corrupt (the caller marks the image corrupt)
 *   -ENODATA     the buffer holds fewer bytes than needed; read more, retry
 *
 * Section names in comments refer to QEMU's docs/interop/qcow2.txt.
 * See Documentation/qcow2-format.rst.
 */
#ifndef VSTORAGE_QCOW2_FORMAT_H
#define VSTORAGE_QCOW2_FORMAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/kernel.h>
#include <linux/string.h>
#include <linux/bits.h>
#include <linux/bitops.h>
#include <linux/errno.h>
#include <linux/overflow.h>
#include <asm/byteorder.h>
#include <asm/unaligned.h>
#else
#include "compat.h"
#endif

/* == Header == */

#define QCOW2_MAGIC			0x514649fbU	/* "QFI\xfb" */
#define QCOW2_V2_HEADER_LEN		72U
#define QCOW2_V3_HEADER_MIN		104U
#define QCOW2_HEADER_COMPRESSION_OFF	104U

#define QCOW2_MIN_CLUSTER_BITS		9U
#define QCOW2_MAX_CLUSTER_BITS		21U	/* QEMU's limit: 2 MiB */
#define QCOW2_EXTL2_MIN_CLUSTER_BITS	14U	/* 32 subclusters >= 512 B */
#define QCOW2_MAX_REFCOUNT_ORDER	6U
#define QCOW2_SUBCLUSTERS		32U	/* per cluster, extended L2 */
#define QCOW2_SUBCLUSTER_BITS		5U

/* QEMU's implementation limits (qcow2.h), which we enforce too. */
#define QCOW2_MAX_L1_BYTES		(32U << 20)
#define QCOW2_MAX_L1_ENTRIES		(QCOW2_MAX_L1_BYTES / 8)
#define QCOW2_MAX_REFTABLE_BYTES	(8U << 20)
#define QCOW2_MAX_SNAPSHOTS		65536U
#define QCOW2_MAX_BACKING_NAME		1023U
#define QCOW2_MAX_BACKING_FMT		15U

/* Byte offsets of header fields. */
#define QCOW2_HOFF_MAGIC		0
#define QCOW2_HOFF_VERSION		4
#define QCOW2_HOFF_BACKING_OFFSET	8
#define QCOW2_HOFF_BACKING_SIZE		16
#define QCOW2_HOFF_CLUSTER_BITS		20
#define QCOW2_HOFF_SIZE			24
#define QCOW2_HOFF_CRYPT_METHOD		32
#define QCOW2_HOFF_L1_SIZE		36
#define QCOW2_HOFF_L1_OFFSET		40
#define QCOW2_HOFF_REFTABLE_OFFSET	48
#define QCOW2_HOFF_REFTABLE_CLUSTERS	56
#define QCOW2_HOFF_NB_SNAPSHOTS		60
#define QCOW2_HOFF_SNAPSHOTS_OFFSET	64
#define QCOW2_HOFF_INCOMPAT		72
#define QCOW2_HOFF_COMPAT		80
#define QCOW2_HOFF_AUTOCLEAR		88
#define QCOW2_HOFF_REFCOUNT_ORDER	96
#define QCOW2_HOFF_HEADER_LENGTH	100
#define QCOW2_HOFF_COMPRESSION_TYPE	104

#define QCOW2_INCOMPAT_DIRTY		BIT_ULL(0)
#define QCOW2_INCOMPAT_CORRUPT		BIT_ULL(1)
#define QCOW2_INCOMPAT_DATA_FILE	BIT_ULL(2)
#define QCOW2_INCOMPAT_COMPRESSION	BIT_ULL(3)
#define QCOW2_INCOMPAT_EXTL2		BIT_ULL(4)
#define QCOW2_INCOMPAT_KNOWN		GENMASK_ULL(4, 0)

#define QCOW2_COMPAT_LAZY_REFCOUNTS	BIT_ULL(0)
#define QCOW2_COMPAT_KNOWN		GENMASK_ULL(0, 0)

#define QCOW2_AUTOCLEAR_BITMAPS		BIT_ULL(0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW	BIT_ULL(1)
#define QCOW2_AUTOCLEAR_KNOWN		GENMASK_ULL(1, 0)

#define QCOW2_CRYPT_NONE		0U
#define QCOW2_CRYPT_AES			1U
#define QCOW2_CRYPT_LUKS		2U

#define QCOW2_COMPRESSION_ZLIB		0U
#define QCOW2_COMPRESSION_ZSTD		1U

/*
 * Sizes and shifts that follow from the header; every decode helper takes
 * one. Fill it with qcow2_geometry_init() (qcow2_header_parse() does).
 */
struct qcow2_geometry {
	u32 version;
	u32 cluster_bits;
	u32 cluster_size;
	u32 l2_entry_size;	/* 8, or 16 with extended L2 entries */
	u32 l2_bits;		/* log2(entries per L2 table) */
	u32 subcluster_bits;	/* log2(subcluster size) */
	u32 subclusters;	/* per cluster: 32 with extended L2, else 1 */
	u32 refcount_order;
	u32 refblock_bits;	/* log2(entries per refcount block) */
	u32 csize_shift;	/* x = 62 - (cluster_bits - 8) */
	u64 csize_mask;		/* sector-count field, after the shift */
	u64 coffset_mask;	/* compressed host offset field */
	bool extended_l2;
	bool zero_flag;		/* standard descriptor bit 0 is valid */
	bool data_file;		/* guest clusters live in an external file */
};

int qcow2_geometry_init(struct qcow2_geometry *g, u32 version,
			u32 cluster_bits, u32 refcount_order, bool extended_l2,
			bool data_file);

/* The header, host-endian, with what follows from it. */
struct qcow2_header {
	u32 version;
	u32 header_length;		/* 72 for version 2 */
	u64 backing_file_offset;	/* 0: no backing file */
	u32 backing_file_size;
	u32 cluster_bits;
	u64 size;			/* virtual disk size in bytes */
	u32 crypt_method;
	u32 l1_size;			/* entries */
	u64 l1_table_offset;
	u64 refcount_table_offset;
	u32 refcount_table_clusters;
	u32 nb_snapshots;
	u64 snapshots_offset;
	u64 incompatible_features;	/* 0 for version 2 */
	u64 compatible_features;
	u64 autoclear_features;
	u32 refcount_order;		/* 4 for version 2 */
	u8 compression_type;

	/* Derived. */
	struct qcow2_geometry g;
	u32 cluster_size;
	u32 refcount_bits;
	u32 l1_needed;			/* L1 entries that cover @size */
	u64 refcount_table_entries;
	u64 unknown_compatible;		/* unknown bits: ignore */
	u64 unknown_autoclear;		/* unknown bits: clear before writing */
	u64 unknown_incompatible;	/* only set when parsing refused */
	u32 ext_start;			/* first byte of the extension area */
	u32 ext_end;			/* end of it: backing name or cluster end */
	bool dirty;
	bool corrupt;
	bool data_file;
	bool extended_l2;
	bool lazy_refcounts;
	bool bitmaps_autoclear;		/* autoclear bit 0 */
	bool data_file_raw;		/* autoclear bit 1 */
	bool has_backing;		/* a non-empty backing file name */
};

/*
 * Parse and validate the header at the start of @buf (@len bytes of the
 * image from offset 0). @file_size is the size of the image file or device.
 * Needs @len >= 72 for version 2 and >= header_length for version 3, else
 * -ENODATA (h->header_length then says how much). Encryption is parsed but
 * not refused here; see qcow2_check_open().
 */
int qcow2_header_parse(const void *buf, size_t len, u64 file_size,
		       struct qcow2_header *h, const char **reason);

/*
 * Bytes of the image from offset 0 that qcow2_extensions_parse() needs:
 * the first cluster, or the whole file if it is shorter.
 */
static inline u32 qcow2_header_area_size(const struct qcow2_header *h,
					 u64 file_size)
{
	return file_size < h->cluster_size ? (u32)file_size : h->cluster_size;
}

/*
 * Write the header fields of @h (72 bytes for version 2; 104, plus the
 * compression type byte when header_length > 104, for version 3) big-endian
 * into @buf, which must hold that many bytes. Other bytes are left alone.
 * Returns the number of bytes written.
 */
u32 qcow2_header_encode(const struct qcow2_header *h, void *buf);

/* == Header extensions == */

#define QCOW2_EXT_END			0x00000000U
#define QCOW2_EXT_BACKING_FORMAT	0xe2792acaU
#define QCOW2_EXT_FEATURE_TABLE		0x6803f857U
#define QCOW2_EXT_BITMAPS		0x23852875U
#define QCOW2_EXT_CRYPTO		0x0537be77U
#define QCOW2_EXT_DATA_FILE		0x44415441U

/* Bits of qcow2_extensions.present */
#define QCOW2_EXTF_BACKING_FORMAT	BIT(0)
#define QCOW2_EXTF_FEATURE_TABLE	BIT(1)
#define QCOW2_EXTF_BITMAPS		BIT(2)
#define QCOW2_EXTF_CRYPTO		BIT(3)
#define QCOW2_EXTF_DATA_FILE		BIT(4)

#define QCOW2_MAX_UNKNOWN_EXTS		16U
#define QCOW2_FEATURE_ENTRY_LEN		48U
#define QCOW2_FEATURE_NAME_LEN		46U

/* QEMU's bitmap limits (qcow2-bitmap.c) */
#define QCOW2_MAX_BITMAPS		65535U
#define QCOW2_MAX_BITMAP_DIR_BYTES	(1024U * QCOW2_MAX_BITMAPS)

/* A byte range inside the first cluster (offsets from the file start). */
struct qcow2_span {
	u32 offset;
	u32 len;
};

struct qcow2_unknown_ext {
	u32 type;
	u32 offset;		/* of the data, from the file start */
	u32 len;		/* of the data, without padding */
};

struct qcow2_extensions {
	u32 present;			/* QCOW2_EXTF_* */
	u32 end;			/* first byte after the extensions */
	bool end_marker;		/* type 0 seen (else the area ran out) */
	struct qcow2_span backing_format;	/* strings: not NUL-ended */
	struct qcow2_span feature_table;
	struct qcow2_span data_file;
	struct qcow2_span backing_file;		/* the name, from the header */

	/* Bitmaps extension (valid only if !bitmaps_stale) */
	bool bitmaps_stale;		/* present, autoclear bit 0 clear */
	bool bitmaps_missing;		/* autoclear bit 0 set, no extension */
	u32 nb_bitmaps;
	u64 bitmap_directory_size;
	u64 bitmap_directory_offset;

	/* Full disk encryption header pointer */
	u64 crypto_offset;
	u64 crypto_length;

	u32 nb_unknown;
	struct qcow2_unknown_ext unknown[QCOW2_MAX_UNKNOWN_EXTS];
};

/*
 * Walk the header extensions of a parsed header. @buf holds the image from
 * offset 0, @len >= qcow2_header_area_size() bytes (else -ENODATA). Each
 * known type may appear once; up to QCOW2_MAX_UNKNOWN_EXTS unknown ones are
 * recorded so that a writer can keep them.
 */
int qcow2_extensions_parse(const void *buf, size_t len, u64 file_size,
			   const struct qcow2_header *h,
			   struct qcow2_extensions *e, const char **reason);

/*
 * Look up a feature's name in the feature name table. @type: 0
 * incompatible, 1 compatible, 2 autoclear. Returns 0 and sets *name (not
 * NUL-terminated) and *name_len, or -ENOENT.
 */
int qcow2_feature_name(const void *buf, const struct qcow2_extensions *e,
		       u8 type, u8 bit, const char **name, u32 *name_len);

/*
 * Append one extension at *pos (8-aligned) of a header buffer, zero-padded
 * to 8 bytes; the area ends at @area_end. Advances *pos. -ENOSPC if it does
 * not fit (room for a following end marker is the caller's business).
 */
int qcow2_ext_put(void *buf, u32 area_end, u32 *pos, u32 type,
		  const void *data, u32 len);

/* QEMU refuses longer backing file names (qcow2.c: 1023 bytes). */
#define QCOW2_MAX_BACKING_NAME		1023U

/*
 * QEMU's qcow2_change_backing_file(): rebuild the header area of the
 * parsed header @h from @buf (@len bytes: the first cluster) into @out
 * (@len bytes) with backing file @name and backing format @fmt (lengths
 * without a NUL; 0 and 0: no backing file). The other extensions are kept
 * in their order; the rest of @out is zeroed. *used: the bytes of @out to
 * write back. -ENOSPC when it does not fit in the first cluster, -EINVAL
 * for a name too long, a format without a name or a malformed area.
 */
int qcow2_set_backing(const void *buf, void *out, u32 len,
		      const struct qcow2_header *h, const char *name,
		      u32 name_len, const char *fmt, u32 fmt_len, u32 *used);

/* Flags of qcow2_check_open() */
#define QCOW2_OPEN_WRITE		BIT(0)
#define QCOW2_OPEN_ALLOW_DATA_FILE	BIT(1)

/*
 * Whether this code may open the image: refuses encryption, an external
 * data file (unless allowed) and, for writing, the corrupt bit.
 */
int qcow2_check_open(const struct qcow2_header *h,
		     const struct qcow2_extensions *e, unsigned int flags,
		     const char **reason);

/* == Cluster mapping: L1 and L2 entries == */

#define QCOW2_L1E_OFFSET_MASK		GENMASK_ULL(55, 9)
#define QCOW2_L1E_RESERVED		(GENMASK_ULL(62, 56) | GENMASK_ULL(8, 0))
#define QCOW2_OFLAG_COPIED		BIT_ULL(63)
#define QCOW2_OFLAG_COMPRESSED		BIT_ULL(62)
#define QCOW2_OFLAG_ZERO		BIT_ULL(0)
#define QCOW2_L2E_OFFSET_MASK		GENMASK_ULL(55, 9)
#define QCOW2_L2E_STD_RESERVED		(GENMASK_ULL(61, 56) | GENMASK_ULL(8, 1))
#define QCOW2_MAX_HOST_OFFSET		BIT_ULL(56)	/* exclusive */
#define QCOW2_SC_ALLOC_MASK		GENMASK_ULL(31, 0)
#define QCOW2_SC_ZERO_SHIFT		32

/*
 * Decode one L1 entry: *l2_offset (0: unallocated), *copied (bit 63).
 * -EUCLEAN for reserved bits or a misaligned offset.
 */
int qcow2_l1_entry_decode(const struct qcow2_geometry *g, u64 entry,
			  u64 *l2_offset, bool *copied, const char **reason);
u64 qcow2_l1_entry_encode(u64 l2_offset, bool copied);

/*
 * Check every entry of an L1 table (big-endian, as read from disk) and that
 * each L2 table lies inside the file. On failure *bad_index is the entry.
 */
int qcow2_l1_table_check(const struct qcow2_geometry *g, const void *l1,
			 u32 nb_entries, u64 file_size, u32 *bad_index,
			 const char **reason);

enum qcow2_cluster_type {
	QCOW2_CLUSTER_UNALLOCATED,	/* backing file, or zeroes */
	QCOW2_CLUSTER_ZERO_PLAIN,	/* reads as zero, no host cluster */
	QCOW2_CLUSTER_ZERO_ALLOC,	/* reads as zero, host cluster kept */
	QCOW2_CLUSTER_NORMAL,		/* data at host_offset */
	QCOW2_CLUSTER_COMPRESSED,
};

/*
 * A decoded L2 entry. With extended L2 entries, types are UNALLOCATED
 * (offset 0), NORMAL (offset set) or COMPRESSED, and @alloc/@zero say what
 * each subcluster is; the ZERO types occur only for standard entries. For
 * standard entries, decoding fills @alloc/@zero as if the cluster had 32
 * subclusters all in the cluster's state (NORMAL: alloc all ones; ZERO_*:
 * zero all ones), so that the subcluster helpers work on both; encoding a
 * standard entry ignores them.
 */
struct qcow2_l2_info {
	enum qcow2_cluster_type type;
	bool copied;		/* bit 63: refcount is exactly one */
	u64 host_offset;	/* cluster offset; byte offset if compressed */
	u32 csectors;		/* compressed: additional 512-byte sectors */
	u32 alloc;		/* extended: subcluster i allocated: bit i */
	u32 zero;		/* extended: subcluster i reads as zero */
};

/*
 * Decode an L2 entry (@bitmap: the second half of an extended entry; 0 for
 * standard ones). -EUCLEAN if it is corrupt: reserved bits, a misaligned or
 * out-of-range host offset, offset 0 with bit 63 without a data file, bit 63
 * or a bitmap on a compressed cluster, a subcluster both allocated and zero,
 * allocated subclusters without a host offset.
 */
int qcow2_l2_entry_decode(const struct qcow2_geometry *g, u64 entry,
			  u64 bitmap, struct qcow2_l2_info *info,
			  const char **reason);

/*
 * The inverse: -EINVAL if @info cannot be represented (for example a ZERO
 * type with extended entries or version 2, or a bad offset).
 */
int qcow2_l2_entry_encode(const struct qcow2_geometry *g,
			  const struct qcow2_l2_info *info, u64 *entry,
			  u64 *bitmap);

/* Entry @index of an L2 table as read from disk (big-endian). */
static inline void qcow2_l2_entry_get(const struct qcow2_geometry *g,
				      const void *table, u32 index,
				      u64 *entry, u64 *bitmap)
{
	const u8 *p = (const u8 *)table + (size_t)index * g->l2_entry_size;

	*entry = get_unaligned_be64(p);
	*bitmap = g->extended_l2 ? get_unaligned_be64(p + 8) : 0;
}

static inline void qcow2_l2_entry_put(const struct qcow2_geometry *g,
				      void *table, u32 index, u64 entry,
				      u64 bitmap)
{
	u8 *p = (u8 *)table + (size_t)index * g->l2_entry_size;

	put_unaligned_be64(entry, p);
	if (g->extended_l2)
		put_unaligned_be64(bitmap, p + 8);
}

/* Guest offset -> L1 index, L2 index, subcluster index. */
static inline u64 qcow2_l1_index(const struct qcow2_geometry *g, u64 guest)
{
	return guest >> (g->cluster_bits + g->l2_bits);
}

static inline u32 qcow2_l2_index(const struct qcow2_geometry *g, u64 guest)
{
	return (u32)(guest >> g->cluster_bits) & ((1U << g->l2_bits) - 1);
}

static inline u32 qcow2_sc_index(const struct qcow2_geometry *g, u64 guest)
{
	return (u32)(guest >> g->subcluster_bits) & (g->subclusters - 1);
}

/* == Subclusters == */

enum qcow2_sc_state {
	QCOW2_SC_UNALLOCATED,	/* backing file, or zeroes */
	QCOW2_SC_ZERO,		/* reads as zero */
	QCOW2_SC_DATA,		/* host_offset + index * subcluster size */
	QCOW2_SC_COMPRESSED,	/* the whole cluster is compressed */
};

/* State of subcluster @idx (< g->subclusters) of a decoded entry. */
enum qcow2_sc_state qcow2_sc_state(const struct qcow2_l2_info *info,
				   u32 idx);

/*
 * Number of subclusters from @first (< g->subclusters) on, up to the end of
 * the cluster, in the same state as @first. At least 1.
 */
u32 qcow2_sc_run(const struct qcow2_geometry *g,
		 const struct qcow2_l2_info *info, u32 first);

/*
 * Put subclusters [first, first + count) of an extended entry into @state
 * (UNALLOCATED, ZERO or DATA; DATA needs a NORMAL entry). -EINVAL if not
 * possible. An UNALLOCATED entry stays UNALLOCATED: allocating a host
 * cluster is the caller's job (set type and host_offset first).
 */
int qcow2_sc_set(struct qcow2_l2_info *info, u32 first, u32 count,
		 enum qcow2_sc_state state);

/* Same on a raw 64-bit subcluster bitmap. */
u64 qcow2_sc_bitmap_set(u64 bitmap, u32 first, u32 count,
			enum qcow2_sc_state state);

/* == Compressed clusters == */

#define QCOW2_COMPRESSED_SECTOR		512U

/* Split a compressed descriptor (bits 0-61 of an L2 entry). */
void qcow2_compressed_decode(const struct qcow2_geometry *g, u64 entry,
			     u64 *host_offset, u32 *csectors);

/*
 * Build the L2 entry of a compressed cluster whose @nbytes (>= 1) bytes of
 * compressed data start at @host_offset. -EINVAL if it cannot be encoded.
 */
int qcow2_compressed_encode(const struct qcow2_geometry *g, u64 host_offset,
			    u32 nbytes, u64 *entry);

/*
 * The bytes to read for a compressed cluster: [*start, *start + *len), i.e.
 * from @host_offset to the end of its last 512-byte sector, clipped at
 * @file_size (like QEMU, which reads zeroes past the end of the file).
 * -EUCLEAN if the data starts in the header cluster or past the end.
 */
int qcow2_compressed_range(const struct qcow2_geometry *g, u64 host_offset,
			   u32 csectors, u64 file_size, u64 *start, u32 *len,
			   const char **reason);

/* == Refcounts == */

#define QCOW2_REFT_OFFSET_MASK		GENMASK_ULL(63, 9)
#define QCOW2_REFT_RESERVED		GENMASK_ULL(8, 0)

static inline u32 qcow2_refcount_bits(u32 order)
{
	return 1U << order;
}

/* Largest refcount of width 1 << @order. */
static inline u64 qcow2_refcount_max(u32 order)
{
	return order >= 6 ? U64_MAX : (1ULL << (1U << order)) - 1;
}

/* Entry @index of a refcount block (any order 0..6; sub-byte LSB first). */
u64 qcow2_refblock_get(const void *block, u32 order, u32 index);

/* Store @value; -ERANGE if it does not fit in the entry width. */
int qcow2_refblock_set(void *block, u32 order, u32 index, u64 value);

/* *out = cur + delta; -ERANGE on underflow or above the maximum. */
int qcow2_refcount_adjust(u32 order, u64 cur, s64 delta, u64 *out);

/* Where the refcount of the host cluster at @host_offset lives. */
static inline void qcow2_refcount_index(const struct qcow2_geometry *g,
					u64 host_offset, u64 *table_index,
					u32 *block_index)
{
	u64 cluster = host_offset >> g->cluster_bits;

	*table_index = cluster >> g->refblock_bits;
	*block_index = (u32)(cluster & ((1ULL << g->refblock_bits) - 1));
}

/* Decode a refcount table entry; -EUCLEAN if reserved bits or misaligned. */
int qcow2_reftable_entry_decode(const struct qcow2_geometry *g, u64 entry,
				u64 *block_offset, const char **reason);

/* == Snapshots == */

#define QCOW2_SNAPSHOT_HDR_LEN		40U
#define QCOW2_MAX_SNAPSHOT_EXTRA	1024U
#define QCOW2_SNAPSHOT_EXTRA_V3_MIN	16U
#define QCOW2_MAX_SNAPSHOT_TABLE_BYTES	(1024U * QCOW2_MAX_SNAPSHOTS)

struct qcow2_snapshot {
	u64 l1_table_offset;
	u32 l1_size;
	u16 id_len;
	u16 name_len;
	u32 date_sec;
	u32 date_nsec;
	u64 vm_clock_nsec;
	u64 vm_state_size;	/* 64-bit field if present, else 32-bit */
	u32 extra_data_size;
	bool has_disk_size;
	u64 disk_size;
	bool has_icount;
	u64 icount;
	u32 entry_offset;	/* from the start of the table */
	u32 entry_len;		/* including padding to 8 (to the next entry) */
	u32 id_offset;		/* of the id string, from the table start */
	u32 name_offset;	/* of the name */
};

/*
 * Parse the snapshot table entry at the start of @buf (@len bytes). Fills
 * @sn (entry_offset 0, offsets relative to @buf). If @len is short, returns
 * -ENODATA with sn->name_offset + sn->name_len = bytes needed (the padding
 * after an entry is not needed: QEMU does not write it after the last one).
 * Checks the snapshot's L1 table (aligned, <= 32 MiB, inside the file, past
 * the header).
 */
int qcow2_snapshot_entry_parse(const struct qcow2_header *h, u64 file_size,
			       const void *buf, size_t len,
			       struct qcow2_snapshot *sn, const char **reason);

/*
 * Parse the whole table (h->nb_snapshots entries) from @buf, the bytes at
 * h->snapshots_offset. @sns has room for h->nb_snapshots entries. On success
 * *table_len is the table size (to the end of the last entry's name, as
 * QEMU counts it); on -ENODATA it is the number of bytes to read before
 * trying again (it grows at most to 64 MiB).
 */
int qcow2_snapshot_table_parse(const struct qcow2_header *h, u64 file_size,
			       const void *buf, size_t len,
			       struct qcow2_snapshot *sns, u64 *table_len,
			       const char **reason);

/* == Bitmaps == */

#define QCOW2_BITMAP_ENTRY_HDR_LEN	24U
#define QCOW2_BITMAP_IN_USE		BIT(0)
#define QCOW2_BITMAP_AUTO		BIT(1)
#define QCOW2_BITMAP_EXTRA_COMPATIBLE	BIT(2)
#define QCOW2_BITMAP_FLAGS_KNOWN	(QCOW2_BITMAP_IN_USE | QCOW2_BITMAP_AUTO)
#define QCOW2_BITMAP_TYPE_DIRTY		1U
#define QCOW2_BITMAP_MIN_GRANULARITY	9U
#define QCOW2_BITMAP_MAX_GRANULARITY	31U
#define QCOW2_MAX_BITMAP_NAME		1023U
#define QCOW2_MAX_BITMAP_TABLE		0x8000000U	/* entries */
#define QCOW2_BMT_OFFSET_MASK		GENMASK_ULL(55, 9)
#define QCOW2_BMT_RESERVED		(GENMASK_ULL(63, 56) | GENMASK_ULL(8, 1))
#define QCOW2_BMT_ALL_ONES		BIT_ULL(0)

struct qcow2_bitmap {
	u64 table_offset;
	u32 table_size;		/* entries */
	u32 flags;
	u8 type;
	u8 granularity_bits;
	u16 name_len;
	u32 extra_data_size;
	u32 name_offset;	/* from the start of the directory */
	u32 entry_offset;
	u32 entry_len;
};

/*
 * Parse the bitmap directory (@len == e->bitmap_directory_size bytes read
 * from e->bitmap_directory_offset) into @bms (room for e->nb_bitmaps).
 * Applies QEMU's constraints, including that each table matches the
 * virtual size and granularity.
 */
int qcow2_bitmap_dir_parse(const struct qcow2_header *h,
			   const struct qcow2_extensions *e, u64 file_size,
			   const void *dir, size_t len,
			   struct qcow2_bitmap *bms, const char **reason);

enum qcow2_bmt_kind {
	QCOW2_BMT_ZEROES,	/* unallocated, reads as all zeroes */
	QCOW2_BMT_ONES,		/* unallocated, reads as all ones */
	QCOW2_BMT_DATA,		/* bitmap data at the offset */
};

/* Bits of a bitmap of an image of @size bytes at 2^@gran_bits per bit. */
static inline u64 qcow2_bitmap_bits(u64 size, u32 gran_bits)
{
	return (size >> gran_bits) + !!(size & ((1ULL << gran_bits) - 1));
}

/* Entries of its bitmap table: data clusters of @cluster_bits. */
static inline u64 qcow2_bitmap_table_size(u64 size, u32 gran_bits,
					  u32 cluster_bits)
{
	u64 bits = qcow2_bitmap_bits(size, gran_bits);

	return (bits + (1ULL << (cluster_bits + 3)) - 1) >> (cluster_bits + 3);
}

/* Bytes of a directory entry with a name of @name_len bytes, no extra data. */
static inline u32 qcow2_bitmap_entry_len(u32 name_len)
{
	return ALIGN(QCOW2_BITMAP_ENTRY_HDR_LEN + name_len, 8);
}

/*
 * Encode one directory entry (type dirty, no extra data) at @buf, which
 * has room for qcow2_bitmap_entry_len(@name_len) bytes; returns that.
 */
u32 qcow2_bitmap_entry_encode(void *buf, u64 table_offset, u32 table_size,
			      u32 flags, u8 granularity_bits, const char *name,
			      u16 name_len);

/*
 * QEMU's update of the bitmaps extension: rebuild the header area of the
 * parsed header @h from @buf (@len bytes: the first cluster) into @out
 * (@len bytes) with a bitmaps extension of @nb bitmaps, the directory of
 * @dir_size bytes at @dir_offset, and autoclear bit 0 set; with @nb 0 the
 * extension goes and the bit is cleared. The other extensions and the
 * backing file name are kept, the bitmaps extension comes first. *used:
 * the bytes of @out to write back. -ENOSPC when it does not fit, -EINVAL
 * for a malformed area or a v2 header.
 */
int qcow2_set_bitmaps_ext(const void *buf, void *out, u32 len,
			  const struct qcow2_header *h, u32 nb, u64 dir_size,
			  u64 dir_offset, u32 *used);

/* Decode a bitmap table entry; -EUCLEAN if reserved bits or misaligned. */
int qcow2_bitmap_table_entry_decode(const struct qcow2_geometry *g, u64 entry,
				    u64 *offset, enum qcow2_bmt_kind *kind,
				    const char **reason);

/* == Metadata overlap check == */

#define QCOW2_OL_HEADER			BIT(0)
#define QCOW2_OL_ACTIVE_L1		BIT(1)
#define QCOW2_OL_ACTIVE_L2		BIT(2)
#define QCOW2_OL_REFCOUNT_TABLE		BIT(3)
#define QCOW2_OL_REFCOUNT_BLOCK		BIT(4)
#define QCOW2_OL_SNAPSHOT_TABLE		BIT(5)
#define QCOW2_OL_INACTIVE_L1		BIT(6)
#define QCOW2_OL_INACTIVE_L2		BIT(7)
#define QCOW2_OL_BITMAP_DIRECTORY	BIT(8)
#define QCOW2_OL_ALL			(BIT(9) - 1)

struct qcow2_range {
	u64 offset;
	u64 len;		/* 0: absent */
};

/*
 * Where the metadata lies. Fixed tables are ranges; the per-cluster kinds
 * are arrays of cluster offsets sorted ascending (one cluster each); the
 * snapshot L1 tables are ranges sorted by offset, not overlapping each
 * other. qcow2_meta_ranges_check() verifies the ordering.
 */
struct qcow2_meta_ranges {
	u32 cluster_bits;
	struct qcow2_range header;
	struct qcow2_range active_l1;
	struct qcow2_range refcount_table;
	struct qcow2_range snapshot_table;
	struct qcow2_range bitmap_directory;
	const u64 *active_l2;
	u32 nb_active_l2;
	const u64 *refcount_blocks;
	u32 nb_refcount_blocks;
	const u64 *inactive_l2;
	u32 nb_inactive_l2;
	const struct qcow2_range *inactive_l1;
	u32 nb_inactive_l1;
};

/*
 * Which kind of metadata [offset, offset + len) overlaps, skipping the
 * kinds in @ignore_mask: the lowest QCOW2_OL_* bit that does, or 0.
 */
unsigned int qcow2_overlap_check(const struct qcow2_meta_ranges *m,
				 u64 offset, u64 len,
				 unsigned int ignore_mask);

/* Check the ordering that qcow2_overlap_check() relies on. */
int qcow2_meta_ranges_check(const struct qcow2_meta_ranges *m,
			    const char **reason);

/*
 * Fill the fixed ranges (header, L1, refcount table, snapshot table of
 * @snapshot_table_len bytes, bitmap directory) from a parsed header; the
 * arrays are left empty. @e may be NULL.
 */
void qcow2_meta_ranges_init(struct qcow2_meta_ranges *m,
			    const struct qcow2_header *h,
			    const struct qcow2_extensions *e,
			    u64 snapshot_table_len);

#endif /* VSTORAGE_QCOW2_FORMAT_H */
