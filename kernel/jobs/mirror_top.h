/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vstorage-mirror filter (mirror_top.c) as the jobs see it: a dirty
 * bitmap that the filter's writes mark when they complete, and the freeze
 * and thaw around a pivot.
 */
#ifndef _VSTORAGE_MIRROR_TOP_H
#define _VSTORAGE_MIRROR_TOP_H

#include <linux/refcount.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include "vstorage.h"

struct vs_dirty {
	struct list_head list;		/* mirror_top.c's trackers */
	char filter[VSTORAGE_NODE_NAME_MAX + 1];
	refcount_t refs;		/* the job's, and each instance's */
	unsigned long *bits;		/* one per 1 << shift bytes */
	u64 nr;
	u32 shift;

	/*
	 * Write-blocking (mirror copy-mode=write-blocking): the filter
	 * writes a clean range to the source and to `to` at once. Protects
	 * what follows; nests inside a filter instance's lock.
	 */
	spinlock_t lock;
	struct block_device *to;	/* NULL: background */
	u64 copy_seq;			/* copies announced so far */
	u64 copy_start, copy_end;	/* the last copy announced */
	bool copying;			/* and it is under way */
	atomic_t dual_writes;		/* in flight to `to` */
	wait_queue_head_t dual_wait;
};

/*
 * Start tracking the writes through the filter node FILTER (the device is
 * SIZE bytes) in a bitmap of (1 << SHIFT)-byte ranges, all set at first
 * when FILL (else none).
 * Filter instances may outlive the job's interest (a reload under way):
 * the bitmap is refcounted and wakes nobody; the job polls it.
 */
struct vs_dirty *vs_dirty_track(const char *filter, u64 size, u32 shift,
				bool fill, const char **error);
void vs_dirty_untrack(struct vs_dirty *d);
void vs_dirty_mark(struct vs_dirty *d, sector_t sector, unsigned int sectors);
/*
 * Write-blocking on (TO: the target, held by the job until it turns it
 * off) or off (NULL; waits for the writes to TO in flight).
 */
void vs_dirty_set_blocking(struct vs_dirty *d, struct block_device *to);
/*
 * The job is about to clear and copy [offset, offset + len), and has
 * copied it: a write-blocking write that overlaps such a copy is marked
 * dirty after all, since the copy may have written older data.
 */
void vs_dirty_copy_begin(struct vs_dirty *d, u64 offset, u64 len);
void vs_dirty_copy_end(struct vs_dirty *d);

/* Hold new bios and wait for the writes in flight. */
int vs_mirror_top_freeze(const char *filter);
/* Let held bios go; with TO, to that device from now on (the pivot). */
int vs_mirror_top_thaw(const char *filter, dev_t to);

int vs_mirror_top_init(void);
void vs_mirror_top_exit(void);

#endif /* _VSTORAGE_MIRROR_TOP_H */
