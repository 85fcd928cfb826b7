/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Dirty bitmaps (bitmap.c, Documentation/bitmaps.rst): QEMU's block dirty
 * bitmaps, kept by the core module per node name so that they outlive the
 * target instances of a node (table reloads, node moves) and go with the
 * last one (node del), unless a format stored them (persistent ones).
 *
 * Hot path: a target calls vs_bitmap_map() at the start of map(), before
 * it changes the bio, and vs_bitmap_end_io() in end_io(). The range of a
 * write is kept in front of the target's per-bio data (VS_NODE_IO_SIZE):
 * at completion bi_iter has been advanced and remapped. Marking takes no
 * lock but RCU and set_bit().
 *
 * Included by vstorage.h.
 */
#ifndef _VSTORAGE_DIRTY_BITMAP_H
#define _VSTORAGE_DIRTY_BITMAP_H

#include "vstorage.h"

/* The range of a write, from map() to end_io(); in front of per-bio data. */
struct vs_bitmap_io {
	sector_t sector;	/* in the node, 0 = its first byte */
	u32 bytes;		/* 0: not a write */
};

/* What a target sets ti->per_io_data_size to: its own per-bio data is last. */
#define VS_NODE_IO_SIZE(own)	((own) + sizeof(struct vs_bitmap_io))

/* The first byte of per-bio data is the core's. */
static inline struct vs_bitmap_io *vs_bitmap_io(struct dm_target *ti,
						struct bio *bio)
{
	return dm_per_bio_data(bio, ti->per_io_data_size);
}

/* In map(), before the bio is changed. */
static inline void vs_bitmap_map(struct dm_target *ti, struct bio *bio)
{
	struct vs_bitmap_io *io = vs_bitmap_io(ti, bio);

	io->bytes = 0;
	if (op_is_write(bio_op(bio)) && bio->bi_iter.bi_size) {
		io->sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
		io->bytes = bio->bi_iter.bi_size;
	}
}

void vs_bitmap_mark(struct vs_bm_node *bn, sector_t sector, u32 bytes);
/* Whether any bitmap could take a mark: no atomic, no lock. */
bool vs_bitmap_any(const struct vs_bm_node *bn);

/*
 * In end_io(): a write that completed, or failed (part of it may have
 * reached the disk), sets its range in every enabled bitmap of the node.
 */
static inline void vs_bitmap_end_io(struct vs_node *node, struct bio *bio)
{
	struct vs_bitmap_io *io = vs_bitmap_io(node->ti, bio);

	if (io->bytes && vs_bitmap_any(node->bitmaps))
		vs_bitmap_mark(node->bitmaps, io->sector, io->bytes);
	io->bytes = 0;
}

/* The core's registry (node.c calls these from register/unregister). */
int vs_bitmaps_attach(struct vs_node *node, char **error);
void vs_bitmaps_detach(struct vs_node *node);
void vs_bitmaps_exit(void);

#define VS_BITMAP_DEFAULT_GRANULARITY	65536U
#define VS_BITMAP_MIN_GRANULARITY	512U
#define VS_BITMAP_MAX_GRANULARITY	(1U << 31)

/*
 * Control operations (bitmap_nl.c); *error is a static message for
 * extack. They sleep.
 */
#define VS_BITMAP_F_PERSISTENT	BIT(0)
#define VS_BITMAP_F_DISABLED	BIT(1)
int vs_bitmap_add(const char *node, const char *name, u32 granularity,
		  u32 flags, const char **error);
int vs_bitmap_del(const char *node, const char *name, const char **error);
int vs_bitmap_clear(const char *node, const char *name, const char **error);
int vs_bitmap_enable(const char *node, const char *name, bool enable,
		     const char **error);
int vs_bitmap_merge(const char *node, const char *target,
		    const char * const *sources, unsigned int nr,
		    const char **error);

/* What GET reports of one bitmap. */
struct vs_bitmap_info {
	char *name;		/* kmalloc'ed; vs_bitmap_info_free() */
	u32 granularity;
	u64 count;		/* dirty bytes: set bits * granularity */
	bool persistent, enabled, busy, inconsistent;
};

/*
 * The IDX-th bitmap of NODE (NAME NULL) or the one called NAME: 0, or
 * -ENOENT when there is none (-ENODEV: no node).
 */
int vs_bitmap_get(const char *node, const char *name, unsigned long idx,
		  struct vs_bitmap_info *info);
void vs_bitmap_info_free(struct vs_bitmap_info *info);

/*
 * A copy of bitmap NAME of node NODE as it stands, for backup's
 * sync=bitmap: the bitmap becomes busy (in-use), and from now on new
 * writes go to a successor.
 */
struct vs_bitmap_snap { unsigned long *bits; u64 nr; u32 granularity; };
int vs_bitmap_job_begin(const char *node, const char *name,
			struct vs_bitmap_snap *snap, const char **error);
/*
 * The job's end: clear true (on-success and the job succeeded, or always):
 * the bitmap keeps only the successor's bits; clear false: the bitmap is
 * the frozen bits | the successor's. Frees snap->bits.
 */
void vs_bitmap_job_end(const char *node, const char *name,
		       struct vs_bitmap_snap *snap, bool clear);

/*
 * For formats that store bitmaps (qcow2's bitmaps extension). A format
 * sets node->persistent_bitmaps before vs_node_register(); then, in its
 * constructor after registering:
 *
 * vs_bitmaps_loaded() says whether the bitmaps of the name are in memory
 * already (another instance, a reload: do not load them again).
 * vs_bitmap_load() adds one stored bitmap (BITS: from vs_bitmap_bits_alloc,
 * taken over; NULL with inconsistent), vs_bitmaps_set_loaded() ends the
 * loading.
 *
 * vs_bitmap_persisted() copies the persistent bitmaps out for storing.
 */
unsigned long *vs_bitmap_bits_alloc(u64 nr);
void vs_bitmap_bits_free(unsigned long *bits);
bool vs_bitmaps_loaded(struct vs_node *node);
int vs_bitmap_load(struct vs_node *node, const char *name, u32 granularity,
		   bool enabled, bool inconsistent, unsigned long *bits,
		   const char **error);
void vs_bitmaps_set_loaded(struct vs_node *node);

struct vs_bitmap_stored {
	char *name;
	u32 granularity;
	bool enabled, inconsistent;
	u64 nr;			/* bits */
	unsigned long *bits;	/* NULL when inconsistent */
};

/* The persistent bitmaps; *nr of them. vs_bitmap_persisted_free(). */
int vs_bitmap_persisted(struct vs_node *node, struct vs_bitmap_stored **out,
			unsigned int *nr);
void vs_bitmap_persisted_free(struct vs_bitmap_stored *arr, unsigned int nr);

#endif /* _VSTORAGE_DIRTY_BITMAP_H */
