// SPDX-License-Identifier: GPL-2.0
/*
 * Children of vstorage targets: a regular file on which the kernel does
 * asynchronous direct I/O itself (no loop device in between), or a block
 * device reached through device-mapper's own reference counting.
 *
 * File I/O must not be issued from a target's map function: a file system
 * may wait for its own bios there, and those sit on current->bio_list until
 * map returns. Callers issue file I/O from a worker; see
 * Documentation/architecture.rst.
 */
#include <linux/blkdev.h>
#include <linux/falloc.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/namei.h>
#include <linux/uio.h>

#include "vstorage.h"

static int vs_backend_open_bdev(struct dm_target *ti, const char *path,
				struct vs_backend *be)
{
	fmode_t mode = be->writable ? FMODE_READ | FMODE_WRITE : FMODE_READ;
	struct block_device *bdev;
	int ret;

	ret = dm_get_device(ti, path, mode, &be->dev);
	if (ret) {
		ti->error = ret == -EBUSY ? "block device is in exclusive use" :
			    "cannot open block device";
		return ret;
	}
	bdev = be->dev->bdev;
	be->size = bdev_nr_bytes(bdev);
	be->logical_block_size = bdev_logical_block_size(bdev);
	be->discard_granularity = bdev_discard_granularity(bdev);
	return 0;
}

static int vs_backend_open_file(struct dm_target *ti, const char *path,
				struct vs_backend *be)
{
	int flags = O_LARGEFILE | O_DIRECT | (be->writable ? O_RDWR : O_RDONLY);
	struct super_block *sb;
	struct inode *inode;
	struct file *file;

	file = filp_open(path, flags, 0);
	if (IS_ERR(file)) {
		switch (PTR_ERR(file)) {
		case -EINVAL:
			ti->error = "file system does not support direct I/O";
			break;
		case -EROFS:
			ti->error = "file is on a read-only file system";
			break;
		case -EACCES:
		case -EPERM:
			ti->error = "permission denied opening file";
			break;
		default:
			ti->error = "cannot open file";
		}
		return PTR_ERR(file);
	}

	inode = file_inode(file);
	if (!S_ISREG(inode->i_mode)) {
		/* the path was swapped for something else after the lookup */
		ti->error = "not a regular file or block device";
		fput(file);
		return -EINVAL;
	}
	if (!(file->f_mode & FMODE_CAN_READ) ||
	    (be->writable && !(file->f_mode & FMODE_CAN_WRITE))) {
		ti->error = "file cannot be read and written with read_iter/write_iter";
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

static int vs_backend_open_path(struct dm_target *ti, const char *path,
				bool writable, struct vs_backend *be)
{
	struct path p;
	umode_t mode;
	int ret;

	memset(be, 0, sizeof(*be));
	be->path = path;
	be->writable = writable;

	if (!*path) {
		ti->error = "empty child path";
		return -EINVAL;
	}
	if (path[0] != '/') {
		if (!strchr(path, ':')) {
			ti->error = "child path must be absolute, or MAJOR:MINOR of a block device";
			return -EINVAL;
		}
		/* dm's MAJOR:MINOR form; dm_get_device parses and checks it */
		return vs_backend_open_bdev(ti, path, be);
	}

	ret = kern_path(path, LOOKUP_FOLLOW, &p);
	if (ret) {
		ti->error = ret == -ENOENT ? "no such file or device" :
			    "cannot look up child path";
		return ret;
	}
	mode = d_backing_inode(p.dentry)->i_mode;
	path_put(&p);

	if (S_ISBLK(mode))
		return vs_backend_open_bdev(ti, path, be);
	if (S_ISDIR(mode)) {
		ti->error = "child path is a directory";
		return -EISDIR;
	}
	if (!S_ISREG(mode)) {
		ti->error = "not a regular file or block device";
		return -EINVAL;
	}
	return vs_backend_open_file(ti, path, be);
}

/*
 * Open PATH as the child of node NODE_NAME on TI: an absolute path to a
 * regular file or block device, or MAJOR:MINOR of a block device. With
 * locking on, the image is locked before anything reads or writes it
 * (imagelock.c). Sets ti->error on failure.
 */
int vs_backend_open(struct dm_target *ti, const char *path, bool writable,
		    const char *node_name, const struct vs_backend_opts *opts,
		    struct vs_backend *be)
{
	struct vs_image_lock *lock;
	int ret;

	ret = vs_backend_open_path(ti, path, writable, be);
	if (ret || !opts->locking)
		return ret;
	lock = vs_image_lock_get(node_name, be->file, vs_backend_devt(be),
				 writable, true, &ti->error);
	if (IS_ERR(lock)) {
		vs_backend_close(ti, be);
		return PTR_ERR(lock);
	}
	be->lock = lock;
	return 0;
}
EXPORT_SYMBOL_GPL(vs_backend_open);

void vs_backend_close(struct dm_target *ti, struct vs_backend *be)
{
	vs_image_lock_put(be->lock);
	be->lock = NULL;
	if (be->dev)
		dm_put_device(ti, be->dev);
	if (be->file)
		fput(be->file);
	be->dev = NULL;
	be->file = NULL;
}
EXPORT_SYMBOL_GPL(vs_backend_close);

dev_t vs_backend_devt(const struct vs_backend *be)
{
	return be->dev ? be->dev->bdev->bd_dev : 0;
}
EXPORT_SYMBOL_GPL(vs_backend_devt);

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
 * Start direct I/O of ITER at POS. The completion may run before this
 * returns (even inside ->write_iter); the reference held here keeps done()
 * from running until the submitter no longer touches FIO.
 */
void vs_backend_file_rw(struct vs_backend *be, struct vs_file_io *fio,
			unsigned int dir, struct iov_iter *iter, loff_t pos,
			bool fua, vs_file_io_done_t done)
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
	iocb->ki_flags = IOCB_DIRECT;
	if (fua)
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
EXPORT_SYMBOL_GPL(vs_backend_file_rw);

/* Data and metadata of the child reach stable storage. */
int vs_backend_flush(struct vs_backend *be)
{
	if (be->file)
		return vfs_fsync(be->file, 0);
	return blkdev_issue_flush(be->dev->bdev);
}
EXPORT_SYMBOL_GPL(vs_backend_flush);

int vs_backend_discard(struct vs_backend *be, u64 pos, u64 len)
{
	if (be->file)
		return vfs_fallocate(be->file,
				     FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				     pos, len);
	if (!bdev_max_discard_sectors(be->dev->bdev))
		return -EOPNOTSUPP;
	return blkdev_issue_discard(be->dev->bdev, pos >> SECTOR_SHIFT,
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
	return blkdev_issue_zeroout(be->dev->bdev, pos >> SECTOR_SHIFT,
				    len >> SECTOR_SHIFT, GFP_NOIO,
				    unmap ? 0 : BLKDEV_ZERO_NOUNMAP);
}
EXPORT_SYMBOL_GPL(vs_backend_zero);

/*
 * Allocation of a file child by SEEK_DATA/SEEK_HOLE. A file system without
 * them reports everything as data, which is what the lseek fallback does.
 */
int vs_backend_block_status(struct vs_backend *be, u64 pos, u64 len,
			    struct vs_extent *ext)
{
	loff_t data, hole;

	ext->host_offset = pos;
	ext->flags = VS_EXT_ALLOCATED | VS_EXT_OFFSET_VALID;
	ext->length = len;

	if (!be->file) {
		ext->flags |= VS_EXT_DATA;
		return 0;
	}

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

/*
 * Start asynchronous direct I/O of kernel buffer BUF on a file child, as
 * vs_backend_file_rw() does for a bio's data. The file system's bios point
 * at BV (room for vs_kbuf_max_bvecs(LEN)), which must live until DONE.
 */
void vs_backend_file_rw_kbuf(struct vs_backend *be, struct vs_file_io *fio,
			     struct bio_vec *bv, unsigned int dir, void *buf,
			     size_t len, u64 pos, vs_file_io_done_t done)
{
	struct iov_iter iter;

	if (!vs_kbuf_ok(buf, len, pos)) {
		fio->done = done;
		fio->ret = -EINVAL;
		atomic_set(&fio->ref, 1);
		vs_file_io_put(fio);
		return;
	}
	iov_iter_bvec(&iter, dir, bv, vs_kbuf_bvecs(buf, len, bv), len);
	vs_backend_file_rw(be, fio, dir, &iter, pos, false, done);
}
EXPORT_SYMBOL_GPL(vs_backend_file_rw_kbuf);

/*
 * A bio for I/O of kernel buffer BUF (aligned as for vs_backend_rw_kbuf)
 * on BDEV at POS, for the caller to complete and submit; NULL if BUF needs
 * more than one bio.
 */
struct bio *vs_kbuf_bio(struct block_device *bdev, blk_opf_t opf, void *buf,
			size_t len, u64 pos)
{
	unsigned int nr = DIV_ROUND_UP(offset_in_page(buf) + len, PAGE_SIZE);
	size_t done = 0;
	struct bio *bio;

	if (nr > BIO_MAX_VECS || !vs_kbuf_ok(buf, len, pos))
		return NULL;
	bio = bio_alloc(bdev, nr, opf, GFP_NOIO);
	bio->bi_iter.bi_sector = pos >> SECTOR_SHIFT;
	while (done < len) {
		struct bio_vec bv = vs_kbuf_seg(buf, len, done);

		__bio_add_page(bio, bv.bv_page, bv.bv_len, bv.bv_offset);
		done += bv.bv_len;
	}
	return bio;
}
EXPORT_SYMBOL_GPL(vs_kbuf_bio);

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
	unsigned int i;
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
		kiocb.ki_flags |= IOCB_DIRECT;
		if (dir == ITER_SOURCE)
			ret = call_write_iter(be->file, &kiocb, &iter);
		else
			ret = call_read_iter(be->file, &kiocb, &iter);
		if (ret >= 0 && ret < len && dir == ITER_DEST)
			memset(buf + ret, 0, len - ret);
		else if (ret >= 0 && ret < len)
			ret = -EIO;
	} else {
		struct bio *bio;
		unsigned int j, k;
		u64 p = pos;

		/* one bio holds at most BIO_MAX_VECS pages */
		ret = 0;
		for (j = 0; j < nr && !ret; j += k) {
			k = min_t(unsigned int, nr - j, BIO_MAX_VECS);
			bio = bio_alloc(be->dev->bdev, k,
					(dir == ITER_SOURCE ? REQ_OP_WRITE : REQ_OP_READ) |
					REQ_SYNC | REQ_META, GFP_NOIO);
			bio->bi_iter.bi_sector = p >> SECTOR_SHIFT;
			for (i = j; i < j + k; i++) {
				__bio_add_page(bio, bv[i].bv_page, bv[i].bv_len,
					       bv[i].bv_offset);
				p += bv[i].bv_len;
			}
			ret = submit_bio_wait(bio);
			bio_put(bio);
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
	return bdev_nr_bytes(be->dev->bdev);
}
EXPORT_SYMBOL_GPL(vs_backend_current_size);
