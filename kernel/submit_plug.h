/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A batch of bios whose submitter lets vstorage's file children issue their
 * direct I/O from the submitter's own task when the batch ends, instead of
 * waking a vstorage-io worker for every bio.
 *
 * A file child's map() cannot issue the file's I/O itself: the bios the
 * file system submits for its own metadata would wait on current->bio_list
 * until map() returns. The end of a plug runs in the submitter's task with
 * no bio list and may block, as md's raid1 unplug does. It is safe only for
 * a submitter that holds no file-system state: the child's file system
 * takes its inode lock, and maybe a journal handle, in that task, and a
 * submitter inside another file system's I/O (an ext4 inode lock of the
 * same lock class, a jbd2 handle in current->journal_info) would nest
 * them. Only the submitter knows that, so it asks for it with this plug.
 *
 * When the task sleeps inside the batch, the held bios go to the workers
 * (the scheduler must not block on them) and the rest of the batch takes
 * the workers' path too.
 */
#ifndef _VSTORAGE_SUBMIT_PLUG_H
#define _VSTORAGE_SUBMIT_PLUG_H

#include <linux/blkdev.h>
#include <linux/llist.h>

struct vs_submit_plug {
	struct blk_plug plug;
	struct blk_plug_cb cb;		/* marks the plug; ends the batch */
	struct llist_head held;		/* struct vs_backend_io, newest first */
};

void vs_submit_plug_start(struct vs_submit_plug *sp);

static inline void vs_submit_plug_finish(struct vs_submit_plug *sp)
{
	blk_finish_plug(&sp->plug);
}

#endif
