/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The copy that commit and mirror share (copy.c): dm-kcopyd from a source
 * device to a target device, range by range as block status finds data,
 * and the dirty-bitmap loop of the jobs that track a vstorage-mirror
 * filter: copy what is dirty, get ready, copy what the workload writes
 * until complete, and drain the rest with the filter frozen.
 */
#ifndef _VSTORAGE_JOBS_COPY_H
#define _VSTORAGE_JOBS_COPY_H

#include "job.h"
#include "mirror_top.h"

struct dm_kcopyd_client;

struct vs_jcopy {
	struct block_device *src, *dst;
	dev_t src_dev, dst_dev;
	/*
	 * Copy only what block status finds less than this many backing
	 * hops below the source (commit: base's depth); U32_MAX: all.
	 */
	u32 base_depth;
	u64 size;
	struct dm_kcopyd_client *kcopyd;
	struct vs_dirty *dirty;		/* tracking jobs only */
	/*
	 * The final copy under a frozen filter: an error there fails it at
	 * once, whatever on-error says, as retries would hold the workload.
	 */
	bool draining;
};

/*
 * Opens SRC (read) and DST (read-write) for JOB and creates the kcopyd
 * client. 0, or an error with *error (static) set.
 */
int vs_jcopy_open(struct vs_jcopy *jc, struct vs_job *job, dev_t src,
		  dev_t dst, const char **error);
/* Untracks, and gives back what vs_jcopy_open() took. */
void vs_jcopy_close(struct vs_jcopy *jc);

/*
 * One step over [offset, offset + len): returns how far it got (0 when a
 * stopped job should try again), or a negative error that fails the job.
 * Applies on-error. *copied: the bytes written.
 */
s64 vs_jcopy_do(struct vs_job *job, struct vs_jcopy *jc, u64 offset, u64 len,
		u64 *copied);

/* The dirty bytes left (QEMU's len - offset for mirrors). */
u64 vs_jcopy_dirty_bytes(struct vs_jcopy *jc);

/*
 * The tracking loop: copy what is dirty, get ready when nothing is, go on
 * copying what the workload writes until complete (returns 0), cancel
 * (-ECANCELED; when ready, the rest is drained and it returns 0 as a
 * completion without pivot) or an error.
 */
int vs_jcopy_run_dirty(struct vs_job *job, struct vs_jcopy *jc);

/*
 * With the filter FILTER frozen, copy what is still dirty and flush the
 * target; then thaw, switching the filter to the target when PIVOT (the
 * pivot) or leaving it on the source (a mirror cancelled when ready).
 * Sets the job's error message on failure.
 */
int vs_jcopy_drain(struct vs_job *job, struct vs_jcopy *jc, bool pivot);

/*
 * The job types' commit() and release() for a job whose private is a
 * vs_jcopy: the pivot (nothing without tracking, or after a cancel when
 * ready), and the release.
 */
int vs_jcopy_pivot(struct vs_job *job);
void vs_jcopy_release(struct vs_job *job);

#endif /* _VSTORAGE_JOBS_COPY_H */
