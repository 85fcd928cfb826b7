// SPDX-License-Identifier: GPL-2.0
/*
 * The child object (backend.h): a node's image, a regular file on which
 * the kernel does asynchronous I/O itself (no loop device in between), or a
 * block device. Opened by a target (a block device then goes through
 * device-mapper's own reference counting, so dmsetup deps and the holders
 * links show it) or by anybody else (a job, vhost-blk) by path or number.
 *
 * File I/O must not be issued from a target's map function: a file system
 * may wait for its own bios there, and those sit on current->bio_list until
 * map returns. vs_backend_map() therefore hands a file child's bios to the
 * child's workers: a per-CPU list for direct I/O, whose submission does not
 * block for long, and a work item per bio for buffered I/O (cache.direct
 * off), whose reads may wait for the disk and must not wait in line. A
 * submitter that opened its batch with vs_submit_plug_start() has its
 * direct reads and writes issued from its own task at the batch's end
 * instead (submit_plug.h), which saves the worker's wakeup.
 */
#include <linux/blkdev.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/namei.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>

#include "submit_plug.h"
#include "vstorage.h"

/* Bios that map() queued for the direct I/O of one CPU. */
struct vs_backend_cpu {
	struct llist_head ios;
	struct work_struct work;
	struct vs_backend *be;
};

static int vs_backend_open_bdev(struct vs_backend *be, const char *path,
				char **error)
{
	fmode_t mode = be->writable ? FMODE_READ | FMODE_WRITE : FMODE_READ;
	struct block_device *bdev;
	unsigned int major, minor;
	char dummy;
	dev_t dev;
	int ret;

	if (be->ti) {
		ret = dm_get_device(be->ti, path, mode, &be->dm_dev);
		if (ret) {
			*error = ret == -EBUSY ? "block device is in exclusive use" :
				 "cannot open block device";
			return ret;
		}
		bdev = be->dm_dev->bdev;
	} else {
		if (path[0] == '/') {
			ret = lookup_bdev(path, &dev);
		} else if (sscanf(path, "%u:%u%c", &major, &minor, &dummy) == 2) {
			dev = MKDEV(major, minor);
			ret = MAJOR(dev) == major && MINOR(dev) == minor ?
			      0 : -EOVERFLOW;
		} else {
			ret = -EINVAL;
		}
		if (ret) {
			*error = "invalid block device";
			return ret;
		}
		bdev = blkdev_get_by_dev(dev, mode, NULL);
		if (IS_ERR(bdev)) {
			*error = "cannot open block device";
			return PTR_ERR(bdev);
		}
		be->bdev_mode = mode;
	}
	if (be->writable && bdev_read_only(bdev)) {
		*error = "block device is read-only";
		ret = -EROFS;
		goto out_put;
	}
	be->bdev = bdev;
	be->size = bdev_nr_bytes(bdev);
	be->logical_block_size = bdev_logical_block_size(bdev);
	be->discard_granularity = bdev_discard_granularity(bdev);
	return 0;

out_put:
	if (be->dm_dev)
		dm_put_device(be->ti, be->dm_dev);
	else
		blkdev_put(bdev, mode);
	be->dm_dev = NULL;
	return ret;
}

#define VS_NO_DIRECT_IO \
	"file system does not support direct I/O (cache.direct=off uses the page cache)"

static int vs_backend_open_file(struct vs_backend *be, const char *path,
				char **error)
{
	int flags = O_LARGEFILE | (be->writable ? O_RDWR : O_RDONLY);
	struct super_block *sb;
	struct inode *inode;
	struct file *file;

	if (be->opts.direct)
		flags |= O_DIRECT;
	file = filp_open(path, flags, 0);
	if (IS_ERR(file)) {
		switch (PTR_ERR(file)) {
		case -EINVAL:
			/* the one way 6.1 says "no direct I/O here" (tmpfs) */
			*error = be->opts.direct ? VS_NO_DIRECT_IO :
				 "cannot open file";
			break;
		case -EROFS:
			*error = "file is on a read-only file system";
			break;
		case -EACCES:
		case -EPERM:
			*error = "permission denied opening file";
			break;
		default:
			*error = "cannot open file";
		}
		return PTR_ERR(file);
	}

	inode = file_inode(file);
	if (!S_ISREG(inode->i_mode)) {
		/* the path was swapped for something else after the lookup */
		*error = "not a regular file or block device";
		fput(file);
		return -EINVAL;
	}
	if (!(file->f_mode & FMODE_CAN_READ) ||
	    (be->writable && !(file->f_mode & FMODE_CAN_WRITE))) {
		*error = "file cannot be read and written with read_iter/write_iter";
		fput(file);
		return -EINVAL;
	}

	sb = inode->i_sb;
	be->file = file;
	be->size = i_size_read(inode);
	be->logical_block_size = sb->s_bdev ?
		bdev_logical_block_size(sb->s_bdev) : SECTOR_SIZE;
	be->discard_granularity = sb->s_blocksize;
	return 0;
}

static void vs_backend_cpu_work(struct work_struct *work);

/*
 * A file child's workers. Unbound: a worker bound to the submitting CPU
 * would compete with the submitter for that CPU, while an unbound one runs
 * beside it (measured: 4K random reads on a file went from 0.3x to 1.1x a
 * loop device). Not WQ_HIGHPRI either: the high-priority workers pushed
 * aside the file system's completion work, and 4K random writes ran at
 * 0.84x a loop device instead of 1.04x.
 */
static int vs_backend_init_workers(struct vs_backend *be, const char *owner)
{
	int cpu, ret;

	be->wq = alloc_workqueue("vstorage-io/%s", WQ_UNBOUND | WQ_MEM_RECLAIM,
				 0, owner);
	be->cpu = alloc_percpu(struct vs_backend_cpu);
	ret = mempool_init_kmalloc_pool(&be->io_pool, 16,
					sizeof(struct vs_backend_io));
	if (!be->wq || !be->cpu || ret) {
		if (!ret)
			mempool_exit(&be->io_pool);
		free_percpu(be->cpu);
		if (be->wq)
			destroy_workqueue(be->wq);
		be->cpu = NULL;
		be->wq = NULL;
		return -ENOMEM;
	}
	for_each_possible_cpu(cpu) {
		struct vs_backend_cpu *c = per_cpu_ptr(be->cpu, cpu);

		init_llist_head(&c->ios);
		INIT_WORK(&c->work, vs_backend_cpu_work);
		c->be = be;
	}
	return 0;
}

static int vs_backend_open_path(struct vs_backend *be, const char *path,
				bool writable,
				const struct vs_backend_opts *opts,
				const char *owner, struct dm_target *ti,
				char **error)
{
	struct path p;
	umode_t mode;
	int ret;

	memset(be, 0, sizeof(*be));
	be->path = path;
	be->writable = writable;
	be->opts = *opts;
	be->ti = ti;

	if (!*path) {
		*error = "empty child path";
		return -EINVAL;
	}
	if (path[0] != '/') {
		if (!strchr(path, ':')) {
			*error = "child path must be absolute, or MAJOR:MINOR of a block device";
			return -EINVAL;
		}
		/* dm's MAJOR:MINOR form, checked by whoever parses it */
		return vs_backend_open_bdev(be, path, error);
	}

	ret = kern_path(path, LOOKUP_FOLLOW, &p);
	if (ret) {
		*error = ret == -ENOENT ? "no such file or device" :
			 "cannot look up child path";
		return ret;
	}
	mode = d_backing_inode(p.dentry)->i_mode;
	path_put(&p);

	if (S_ISBLK(mode))
		return vs_backend_open_bdev(be, path, error);
	if (S_ISDIR(mode)) {
		*error = "child path is a directory";
		return -EISDIR;
	}
	if (!S_ISREG(mode)) {
		*error = "not a regular file or block device";
		return -EINVAL;
	}
	ret = vs_backend_open_file(be, path, error);
	if (ret)
		return ret;
	ret = vs_backend_init_workers(be, owner);
	if (ret) {
		*error = "cannot allocate the child's workers";
		fput(be->file);
		be->file = NULL;
	}
	return ret;
}

/*
 * Open PATH (an absolute path to a regular file or block device, or
 * MAJOR:MINOR of a block device) as the child of node OWNER. TI is the
 * target that opens it, or NULL. With locking on, the image is locked
 * before anything reads or writes it (imagelock.c). Sets *error on failure.
 */
int vs_backend_open(struct vs_backend *be, const char *path, bool writable,
		    const struct vs_backend_opts *opts, const char *owner,
		    struct dm_target *ti, char **error)
{
	struct vs_image_lock *lock;
	int ret;

	ret = vs_backend_open_path(be, path, writable, opts, owner, ti, error);
	if (ret || !opts->locking)
		return ret;
	lock = vs_image_lock_get(owner, be->file, vs_backend_devt(be),
				 writable, true, error);
	if (IS_ERR(lock)) {
		vs_backend_close(be);
		return PTR_ERR(lock);
	}
	be->lock = lock;
	return 0;
}
EXPORT_SYMBOL_GPL(vs_backend_open);

/* Every bio sent to the child has completed. */
void vs_backend_close(struct vs_backend *be)
{
	vs_image_lock_put(be->lock);
	be->lock = NULL;
	if (be->file) {
		destroy_workqueue(be->wq);
		free_percpu(be->cpu);
		mempool_exit(&be->io_pool);
		fput(be->file);
	}
	if (be->dm_dev)
		dm_put_device(be->ti, be->dm_dev);
	else if (be->bdev)
		blkdev_put(be->bdev, be->bdev_mode);
	be->wq = NULL;
	be->cpu = NULL;
	be->file = NULL;
	be->dm_dev = NULL;
	be->bdev = NULL;
}
EXPORT_SYMBOL_GPL(vs_backend_close);

/*
 * What TI can take, as far as its child decides. Flushes reach TI when the
 * child needs them, or the target itself does (NEEDS_FLUSHES: metadata of
 * its own to commit). With cache.writeback off none reaches it: every write
 * is durable when it completes, and the device says "write through", so the
 * block layer completes flushes itself. A file child takes discards (hole
 * punching); a device child's are stacked by device-mapper.
 */
void vs_backend_set_caps(struct vs_backend *be, struct dm_target *ti,
			 bool needs_flushes)
{
	ti->num_flush_bios = be->opts.writeback ? 1 : 0;
	ti->flush_supported = be->opts.writeback &&
			      (needs_flushes || be->file);
	if (be->file)
		ti->discards_supported = true;
}
EXPORT_SYMBOL_GPL(vs_backend_set_caps);

/* An iov_iter over the data of BIO, which may start inside a bvec. */
void vs_bio_iter(struct bio *bio, unsigned int dir, struct iov_iter *iter)
{
	struct bvec_iter bi;
	struct bio_vec bv;
	unsigned int nr = 0;

	bio_for_each_bvec(bv, bio, bi)
		nr++;
	iov_iter_bvec(iter, dir, __bvec_iter_bvec(bio->bi_io_vec, bio->bi_iter),
		      nr, bio->bi_iter.bi_size);
	iter->iov_offset = bio->bi_iter.bi_bvec_done;
}
EXPORT_SYMBOL_GPL(vs_bio_iter);

static void vs_file_io_put(struct vs_file_io *fio)
{
	if (atomic_dec_and_test(&fio->ref))
		fio->done(fio, fio->ret);
}

static void vs_file_io_complete(struct kiocb *iocb, long ret)
{
	struct vs_file_io *fio = container_of(iocb, struct vs_file_io, iocb);

	fio->ret = ret;
	vs_file_io_put(fio);
}

/*
 * Start I/O of ITER at POS on a file child: asynchronous direct I/O, or
 * buffered I/O that completes before this returns. The completion may run
 * before this returns (even inside ->write_iter); the reference held here
 * keeps done() from running until the submitter no longer touches FIO.
 */
static void vs_backend_file_rw(struct vs_backend *be, struct vs_file_io *fio,
			       unsigned int dir, struct iov_iter *iter,
			       loff_t pos, bool fua, vs_file_io_done_t done)
{
	struct kiocb *iocb = &fio->iocb;
	struct file *file = be->file;
	ssize_t ret;

	fio->done = done;
	fio->ret = 0;
	atomic_set(&fio->ref, 2);

	iocb->ki_pos = pos;
	iocb->ki_filp = file;
	iocb->ki_complete = vs_file_io_complete;
	iocb->ki_flags = be->opts.direct ? IOCB_DIRECT : 0;
	if (fua && !be->opts.no_flush)
		iocb->ki_flags |= IOCB_DSYNC;
	iocb->ki_ioprio = IOPRIO_PRIO_VALUE(IOPRIO_CLASS_NONE, 0);

	/* an offset from a hostile image must not reach the file system */
	if (pos < 0 || iov_iter_count(iter) > LLONG_MAX - pos)
		ret = -EINVAL;
	else if (dir == ITER_SOURCE)
		ret = call_write_iter(file, iocb, iter);
	else
		ret = call_read_iter(file, iocb, iter);

	if (ret != -EIOCBQUEUED)
		vs_file_io_complete(iocb, ret);
	vs_file_io_put(fio);
}

/* == Bios on a file child == */

static void vs_backend_io_end(struct vs_backend_io *io, blk_status_t status)
{
	struct bio *bio = io->bio;

	if (status)
		bio->bi_status = status;
	if (io->pooled)
		mempool_free(io, &io->be->io_pool);
	bio_endio(bio);
}

static void vs_backend_rw_done(struct vs_file_io *fio, long ret)
{
	struct vs_backend_io *io = container_of(fio, struct vs_backend_io, fio);
	struct bio *bio = io->bio;
	blk_status_t status = BLK_STS_OK;

	if (ret < 0) {
		status = errno_to_blk_status(ret);
	} else if (ret < bio->bi_iter.bi_size) {
		if (bio_op(bio) == REQ_OP_READ) {
			/* QEMU reads zeroes past the end of an image file */
			bio_advance(bio, ret);
			zero_fill_bio(bio);
		} else {
			status = BLK_STS_IOERR;
		}
	}
	vs_backend_io_end(io, status);
}

static void vs_backend_rw(struct vs_backend_io *io)
{
	struct bio *bio = io->bio;
	unsigned int dir = op_is_write(bio_op(bio)) ? ITER_SOURCE : ITER_DEST;
	struct iov_iter iter;

	vs_bio_iter(bio, dir, &iter);
	vs_backend_file_rw(io->be, &io->fio, dir, &iter, io->pos,
			   bio->bi_opf & REQ_FUA, vs_backend_rw_done);
}

/* Issue IO's bio on the file; from a worker, where file calls may block. */
static void vs_backend_issue(struct vs_backend_io *io)
{
	struct vs_backend *be = io->be;
	struct bio *bio = io->bio;
	u64 len = bio->bi_iter.bi_size;
	int ret;

	switch (bio_op(bio)) {
	case REQ_OP_READ:
		vs_backend_rw(io);
		return;
	case REQ_OP_WRITE:
		if (bio->bi_opf & REQ_PREFLUSH) {
			ret = vs_backend_flush(be);
			if (ret || !len) {
				vs_backend_io_end(io, errno_to_blk_status(ret));
				return;
			}
		}
		vs_backend_rw(io);
		return;
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		if (bio_op(bio) == REQ_OP_DISCARD)
			ret = vs_backend_discard(be, io->pos, len);
		else
			ret = vs_backend_zero(be, io->pos, len,
					      !(bio->bi_opf & REQ_NOUNMAP));
		if (!ret && (bio->bi_opf & REQ_FUA))
			ret = vs_backend_flush(be);
		vs_backend_io_end(io, errno_to_blk_status(ret));
		return;
	default:
		vs_backend_io_end(io, BLK_STS_NOTSUPP);
	}
}

/*
 * Run under memalloc_noio (we serve a block device: reclaim must not
 * recurse into us) and, for a batch, a plug.
 */
static void vs_backend_cpu_work(struct work_struct *work)
{
	struct vs_backend_cpu *c = container_of(work, struct vs_backend_cpu,
						work);
	struct llist_node *list = llist_reverse_order(llist_del_all(&c->ios));
	unsigned int noio = memalloc_noio_save();
	struct vs_backend_io *io, *next;
	struct blk_plug plug;

	blk_start_plug(&plug);
	llist_for_each_entry_safe(io, next, list, queued)
		vs_backend_issue(io);
	blk_finish_plug(&plug);
	memalloc_noio_restore(noio);
}

static void vs_backend_buffered_work(struct work_struct *work)
{
	struct vs_backend_io *io = container_of(work, struct vs_backend_io,
						work);
	unsigned int noio = memalloc_noio_save();

	vs_backend_issue(io);
	memalloc_noio_restore(noio);
}

static void vs_backend_io_init(struct vs_backend *be,
			       struct vs_backend_io *io, struct bio *bio,
			       u64 pos, bool pooled)
{
	io->be = be;
	io->bio = bio;
	io->pos = pos;
	io->pooled = pooled;
}

/* no-flush: what a flush or FUA asks of the child is not done */
static bool vs_backend_strip_flush(struct vs_backend *be, struct bio *bio)
{
	if (!be->opts.no_flush)
		return false;
	bio->bi_opf &= ~(REQ_PREFLUSH | REQ_FUA);
	return op_is_write(bio_op(bio)) && !bio->bi_iter.bi_size;
}

/* == Direct I/O from map() == */

static void vs_backend_queue_direct(struct vs_backend_io *io)
{
	struct vs_backend *be = io->be;
	struct vs_backend_cpu *c = get_cpu_ptr(be->cpu);

	if (llist_add(&io->queued, &c->ios))
		queue_work(be->wq, &c->work);
	put_cpu_ptr(be->cpu);
}

/* The end of a vs_submit_plug batch (submit_plug.h). */
static void vs_submit_plug_unplug(struct blk_plug_cb *cb, bool from_schedule)
{
	struct vs_submit_plug *sp = container_of(cb, struct vs_submit_plug, cb);
	struct llist_node *list = llist_reverse_order(__llist_del_all(&sp->held));
	struct vs_backend_io *io, *next;
	unsigned int noio;

	/* the scheduler's unplug must not block, nor may a submit_bio() */
	if (from_schedule || current->bio_list) {
		llist_for_each_entry_safe(io, next, list, queued)
			vs_backend_queue_direct(io);
		return;
	}
	/* the file system's bios join the plug, flushed after this */
	noio = memalloc_noio_save();
	llist_for_each_entry_safe(io, next, list, queued)
		vs_backend_issue(io);
	memalloc_noio_restore(noio);
}

void vs_submit_plug_start(struct vs_submit_plug *sp)
{
	init_llist_head(&sp->held);
	blk_start_plug(&sp->plug);
	/* nested in another plug, the batch is that plug's, with its rules */
	if (current->plug != &sp->plug)
		return;
	sp->cb.callback = vs_submit_plug_unplug;
	sp->cb.data = NULL;
	list_add(&sp->cb.list, &sp->plug.cb_list);
}
EXPORT_SYMBOL_GPL(vs_submit_plug_start);

/*
 * Keep IO for the end of the task's batch if its submitter opened it with
 * vs_submit_plug_start(). Not a flush: fsync() there would stall the whole
 * batch. Not from interrupt context: current->plug is then the plug of
 * whichever task was interrupted.
 */
static bool vs_submit_plug_hold(struct vs_backend_io *io)
{
	struct blk_plug *plug = current->plug;
	struct bio *bio = io->bio;
	struct vs_submit_plug *sp;
	struct blk_plug_cb *cb;

	if (!plug || !in_task() || (bio->bi_opf & REQ_PREFLUSH) ||
	    (bio_op(bio) != REQ_OP_READ && bio_op(bio) != REQ_OP_WRITE))
		return false;
	list_for_each_entry(cb, &plug->cb_list, list) {
		if (cb->callback != vs_submit_plug_unplug)
			continue;
		sp = container_of(cb, struct vs_submit_plug, cb);
		__llist_add(&io->queued, &sp->held);
		return true;
	}
	return false;
}

int vs_backend_map(struct vs_backend *be, struct bio *bio, u64 pos,
		   struct vs_backend_io *io)
{
	if (vs_backend_strip_flush(be, bio)) {
		bio_endio(bio);
		return DM_MAPIO_SUBMITTED;
	}
	if (be->bdev) {
		bio_set_dev(bio, be->bdev);
		if (bio_sectors(bio))
			bio->bi_iter.bi_sector = pos >> SECTOR_SHIFT;
		return DM_MAPIO_REMAPPED;
	}

	vs_backend_io_init(be, io, bio, pos, false);
	if (!be->opts.direct) {
		INIT_WORK(&io->work, vs_backend_buffered_work);
		queue_work(be->wq, &io->work);
		return DM_MAPIO_SUBMITTED;
	}
	if (!vs_submit_plug_hold(io))
		vs_backend_queue_direct(io);
	return DM_MAPIO_SUBMITTED;
}
EXPORT_SYMBOL_GPL(vs_backend_map);

void vs_backend_submit(struct vs_backend *be, struct bio *bio, u64 pos,
		       struct vs_backend_io *io)
{
	if (vs_backend_strip_flush(be, bio)) {
		bio_endio(bio);
		return;
	}
	if (be->bdev) {
		bio_set_dev(bio, be->bdev);
		if (bio_sectors(bio))
			bio->bi_iter.bi_sector = pos >> SECTOR_SHIFT;
		submit_bio_noacct(bio);
		return;
	}

	if (io) {
		vs_backend_io_init(be, io, bio, pos, false);
	} else {
		io = mempool_alloc(&be->io_pool, GFP_NOIO);
		vs_backend_io_init(be, io, bio, pos, true);
	}
	if (!be->opts.direct) {
		INIT_WORK(&io->work, vs_backend_buffered_work);
		queue_work(be->wq, &io->work);
		return;
	}
	vs_backend_issue(io);
}
EXPORT_SYMBOL_GPL(vs_backend_submit);

/* == Whole-child operations == */

/* Data and metadata of the child reach stable storage. */
int vs_backend_flush(struct vs_backend *be)
{
	if (be->opts.no_flush)
		return 0;
	if (be->file)
		return vfs_fsync(be->file, 0);
	return blkdev_issue_flush(be->bdev);
}
EXPORT_SYMBOL_GPL(vs_backend_flush);

int vs_backend_discard(struct vs_backend *be, u64 pos, u64 len)
{
	if (be->file)
		return vfs_fallocate(be->file,
				     FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				     pos, len);
	if (!bdev_max_discard_sectors(be->bdev))
		return -EOPNOTSUPP;
	return blkdev_issue_discard(be->bdev, pos >> SECTOR_SHIFT,
				    len >> SECTOR_SHIFT, GFP_NOIO);
}
EXPORT_SYMBOL_GPL(vs_backend_discard);

/* Make [pos, pos + len) read as zeroes; UNMAP allows deallocating it. */
int vs_backend_zero(struct vs_backend *be, u64 pos, u64 len, bool unmap)
{
	if (be->file) {
		int mode = FALLOC_FL_KEEP_SIZE |
			(unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);

		return vfs_fallocate(be->file, mode, pos, len);
	}
	return blkdev_issue_zeroout(be->bdev, pos >> SECTOR_SHIFT,
				    len >> SECTOR_SHIFT, GFP_NOIO,
				    unmap ? 0 : BLKDEV_ZERO_NOUNMAP);
}
EXPORT_SYMBOL_GPL(vs_backend_zero);

/*
 * Allocation of a file child by SEEK_DATA/SEEK_HOLE. A file system without
 * them reports everything as data, which is what the lseek fallback does.
 * A device child's contents are another layer's business: VS_EXT_BELOW.
 */
int vs_backend_block_status(struct vs_backend *be, u64 pos, u64 len,
			    struct vs_extent *ext)
{
	loff_t data, hole;

	ext->length = len;
	if (be->bdev) {
		ext->flags = VS_EXT_BELOW;
		ext->below_dev = vs_backend_devt(be);
		ext->below_offset = pos;
		return 0;
	}

	ext->host_offset = pos;
	ext->flags = VS_EXT_ALLOCATED | VS_EXT_OFFSET_VALID;
	data = vfs_llseek(be->file, pos, SEEK_DATA);
	if (data == -ENXIO) {
		/* a hole up to the end of the file */
		ext->flags |= VS_EXT_ZERO;
		return 0;
	}
	if (data < 0) {
		ext->flags |= VS_EXT_DATA;
		return 0;
	}
	if (data > pos) {
		ext->flags |= VS_EXT_ZERO;
		ext->length = min_t(u64, len, data - pos);
		return 0;
	}

	hole = vfs_llseek(be->file, pos, SEEK_HOLE);
	ext->flags |= VS_EXT_DATA;
	if (hole > pos)
		ext->length = min_t(u64, len, hole - pos);
	return 0;
}
EXPORT_SYMBOL_GPL(vs_backend_block_status);

/*
 * Limits for a file child; a block device child's limits are stacked by
 * device-mapper through iterate_devices.
 */
void vs_backend_io_hints(struct vs_backend *be, struct queue_limits *limits)
{
	if (!be->file)
		return;
	/* direct I/O needs the alignment of the device under the file system */
	limits->logical_block_size = max_t(unsigned int,
					   limits->logical_block_size,
					   be->logical_block_size);
	limits->physical_block_size = max_t(unsigned int,
					    limits->physical_block_size,
					    limits->logical_block_size);
	blk_limits_io_min(limits, be->discard_granularity);
	limits->discard_granularity = be->discard_granularity;
	limits->max_discard_sectors = UINT_MAX >> SECTOR_SHIFT;
	limits->max_hw_discard_sectors = UINT_MAX >> SECTOR_SHIFT;
	limits->max_write_zeroes_sectors = UINT_MAX >> SECTOR_SHIFT;
}
EXPORT_SYMBOL_GPL(vs_backend_io_hints);

/* == Kernel buffers == */

/* The part of kernel buffer BUF (kmalloc or vmalloc) from DONE in one page. */
static struct bio_vec vs_kbuf_seg(void *buf, size_t len, size_t done)
{
	void *p = buf + done;
	unsigned int off = offset_in_page(p);
	struct bio_vec bv;

	bvec_set_page(&bv, is_vmalloc_addr(p) ? vmalloc_to_page(p) :
						virt_to_page(p),
		      min_t(size_t, PAGE_SIZE - off, len - done), off);
	return bv;
}

/* Fill BV with the pages of kernel buffer BUF; returns how many. */
static unsigned int vs_kbuf_bvecs(void *buf, size_t len, struct bio_vec *bv)
{
	size_t done = 0;
	unsigned int i;

	for (i = 0; done < len; i++) {
		bv[i] = vs_kbuf_seg(buf, len, done);
		done += bv[i].bv_len;
	}
	return i;
}

static bool vs_kbuf_ok(void *buf, size_t len, u64 pos)
{
	if (WARN_ON_ONCE(!IS_ALIGNED((unsigned long)buf, SECTOR_SIZE) ||
			 !IS_ALIGNED(len, SECTOR_SIZE)))
		return false;
	/* an offset from a hostile image must not reach the file system */
	return pos <= LLONG_MAX && len <= LLONG_MAX - pos;
}

/* The most bvecs one bio of ours holds (16 MiB of pages, well below 64K). */
#define VS_KBUF_BIO_VECS	4096

/* A read stops short at the end of a file: the rest reads as zeroes. */
static int vs_kbuf_result(unsigned int dir, void *buf, size_t len, long ret)
{
	if (ret < 0)
		return ret;
	if (ret < len) {
		if (dir == ITER_SOURCE)
			return -EIO;
		memset(buf + ret, 0, len - ret);
	}
	return 0;
}

static void vs_kbuf_file_done(struct vs_file_io *fio, long ret)
{
	struct vs_kbuf_io *kio = container_of(fio, struct vs_kbuf_io, fio);

	kio->done(kio, vs_kbuf_result(kio->dir, kio->buf, kio->len, ret));
}

static void vs_kbuf_bio_done(struct bio *bio)
{
	struct vs_kbuf_io *kio = container_of(bio, struct vs_kbuf_io, bio);
	int err = blk_status_to_errno(bio->bi_status);

	bio_uninit(bio);
	kio->done(kio, err);
}

/*
 * On a device child the pages go in one bio that the record holds (no
 * allocation); the block layer splits it as the device needs.
 */
void vs_backend_rw_kbuf_async(struct vs_backend *be, struct vs_kbuf_io *kio,
			      unsigned int dir, void *buf, size_t len, u64 pos,
			      vs_kbuf_done_t done)
{
	unsigned int nr, i;
	struct iov_iter iter;

	kio->dir = dir;
	kio->buf = buf;
	kio->len = len;
	kio->done = done;
	if (!vs_kbuf_ok(buf, len, pos)) {
		done(kio, -EINVAL);
		return;
	}
	nr = vs_kbuf_bvecs(buf, len, kio->bv);
	if (WARN_ON_ONCE(!be->file && nr > VS_KBUF_BIO_VECS)) {
		done(kio, -EINVAL);
		return;
	}
	if (be->file) {
		iov_iter_bvec(&iter, dir, kio->bv, nr, len);
		vs_backend_file_rw(be, &kio->fio, dir, &iter, pos, false,
				   vs_kbuf_file_done);
		return;
	}
	bio_init(&kio->bio, be->bdev, kio->bv, nr,
		 dir == ITER_SOURCE ? REQ_OP_WRITE : REQ_OP_READ);
	kio->bio.bi_iter.bi_sector = pos >> SECTOR_SHIFT;
	for (i = 0; i < nr; i++)
		kio->bio.bi_iter.bi_size += kio->bv[i].bv_len;
	kio->bio.bi_vcnt = nr;
	kio->bio.bi_end_io = vs_kbuf_bio_done;
	submit_bio(&kio->bio);
}
EXPORT_SYMBOL_GPL(vs_backend_rw_kbuf_async);

/*
 * Synchronous I/O of a kernel buffer (metadata). BUF must be aligned to the
 * child's logical block size, LEN a multiple of it. Returns the bytes
 * transferred; a read past the end of a file child stops short and the rest
 * of BUF reads as zeroes.
 */
ssize_t vs_backend_rw_kbuf(struct vs_backend *be, unsigned int dir, void *buf,
			   size_t len, u64 pos)
{
	unsigned int nr = vs_kbuf_max_bvecs(len);
	struct bio_vec stack_bv[8], *bv = stack_bv;
	struct bio bio;
	ssize_t ret;

	if (!vs_kbuf_ok(buf, len, pos))
		return -EINVAL;
	if (nr > ARRAY_SIZE(stack_bv)) {
		bv = kmalloc_array(nr, sizeof(*bv), GFP_NOIO);
		if (!bv)
			return -ENOMEM;
	}
	nr = vs_kbuf_bvecs(buf, len, bv);

	if (be->file) {
		struct iov_iter iter;
		struct kiocb kiocb;

		iov_iter_bvec(&iter, dir, bv, nr, len);
		init_sync_kiocb(&kiocb, be->file);
		kiocb.ki_pos = pos;
		if (be->opts.direct)
			kiocb.ki_flags |= IOCB_DIRECT;
		if (dir == ITER_SOURCE)
			ret = call_write_iter(be->file, &kiocb, &iter);
		else
			ret = call_read_iter(be->file, &kiocb, &iter);
		ret = vs_kbuf_result(dir, buf, len, ret) ?: len;
	} else {
		unsigned int i, j, k;
		u64 p = pos;

		/* a bio counts its bvecs in an unsigned short */
		ret = 0;
		for (j = 0; j < nr && !ret; j += k) {
			k = min_t(unsigned int, nr - j, VS_KBUF_BIO_VECS);
			bio_init(&bio, be->bdev, bv + j, k,
				 (dir == ITER_SOURCE ? REQ_OP_WRITE : REQ_OP_READ) |
				 REQ_SYNC | REQ_META);
			bio.bi_iter.bi_sector = p >> SECTOR_SHIFT;
			for (i = j; i < j + k; i++)
				bio.bi_iter.bi_size += bv[i].bv_len;
			bio.bi_vcnt = k;
			p += bio.bi_iter.bi_size;
			ret = submit_bio_wait(&bio);
			bio_uninit(&bio);
		}
		if (!ret)
			ret = len;
	}

	if (bv != stack_bv)
		kfree(bv);
	return ret;
}
EXPORT_SYMBOL_GPL(vs_backend_rw_kbuf);

/*
 * Grow a file child to SIZE (a block device child cannot grow). The new
 * range is allocated (as unwritten extents) where the file system can, so
 * that writes into it do not allocate blocks one by one. Even so, ext4 (in
 * 6.1) takes the inode lock exclusively for a direct write into unwritten
 * extents, and a synchronous one holds it until its I/O ends: writes into
 * new space are asynchronous for that reason (qcow2's write.c).
 */
int vs_backend_grow(struct vs_backend *be, u64 size)
{
	u64 cur;
	int ret;

	if (!be->file)
		return size <= be->size ? 0 : -ENOSPC;
	cur = i_size_read(file_inode(be->file));
	if (size <= cur)
		return 0;
	ret = vfs_fallocate(be->file, 0, cur, size - cur);
	if (ret != -EOPNOTSUPP)
		return ret;
	return vfs_truncate(&be->file->f_path, size);
}
EXPORT_SYMBOL_GPL(vs_backend_grow);

/* Shrink a file child to SIZE; a block device child keeps its size. */
int vs_backend_shrink(struct vs_backend *be, u64 size)
{
	if (!be->file || size >= i_size_read(file_inode(be->file)))
		return 0;
	return vfs_truncate(&be->file->f_path, size);
}
EXPORT_SYMBOL_GPL(vs_backend_shrink);

u64 vs_backend_current_size(struct vs_backend *be)
{
	if (be->file)
		return i_size_read(file_inode(be->file));
	return bdev_nr_bytes(be->bdev);
}
EXPORT_SYMBOL_GPL(vs_backend_current_size);

/* The most bytes the child can hold: a file grows, a device does not. */
u64 vs_backend_capacity(struct vs_backend *be)
{
	return be->file ? U64_MAX : be->size;
}
EXPORT_SYMBOL_GPL(vs_backend_capacity);

/* What the child takes on its storage; 0 when that is not known. */
u64 vs_backend_allocated_bytes(struct vs_backend *be)
{
	if (be->file)
		return (u64)file_inode(be->file)->i_blocks << SECTOR_SHIFT;
	return 0;
}
EXPORT_SYMBOL_GPL(vs_backend_allocated_bytes);
