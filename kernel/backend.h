/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The child object: everything between a node and the image it stands on,
 * a regular file or a block device. Targets, jobs and vhost-blk reach
 * storage only through it. Documentation/architecture.rst ("The child
 * object") describes the request path and the cache modes.
 *
 * Included by vstorage.h; not a header of its own for users.
 */
#ifndef _VSTORAGE_BACKEND_H
#define _VSTORAGE_BACKEND_H

#include <linux/bio.h>
#include <linux/blk_types.h>
#include <linux/llist.h>
#include <linux/mempool.h>

/*
 * How a node uses its child image: QEMU's cache and locking options, the
 * same for every target with a file or device child (table line names
 * cache.direct, cache.no-flush, cache.writeback, locking; QEMU's defaults).
 */
struct vs_backend_opts {
	bool direct;		/* O_DIRECT; off: the image file's page cache */
	bool no_flush;		/* flushes acknowledged, not sent ("unsafe") */
	bool writeback;		/* off: every write durable at completion */
	bool locking;		/* vstorage's and QEMU's image locks */
};

#define VS_BACKEND_OPTS_DEFAULT \
	((struct vs_backend_opts){ .direct = true, .writeback = true, \
				   .locking = true })

struct vs_backend_cpu;

/*
 * A child: a regular file on which the kernel does asynchronous I/O itself
 * (no loop device in between), or a block device to which bios are
 * remapped. Opened with or without a device-mapper target.
 */
struct vs_backend {
	const char *path;
	struct vs_backend_opts opts;
	bool writable;
	u64 size;			/* at open */
	unsigned int logical_block_size;
	unsigned int discard_granularity;

	/* a block device: through dm_get_device when opened for a target */
	struct dm_target *ti;
	struct dm_dev *dm_dev;
	struct block_device *bdev;
	fmode_t bdev_mode;

	struct vs_image_lock *lock;	/* NULL with locking off */

	/* a regular file: its I/O is issued by the child's own workers */
	struct file *file;
	struct workqueue_struct *wq;
	struct vs_backend_cpu __percpu *cpu;
	mempool_t io_pool;		/* records of bios without per-bio data */
};

/*
 * Asynchronous I/O on a file child. done() runs once, in any context, with
 * the bytes transferred or -errno.
 */
struct vs_file_io;
typedef void (*vs_file_io_done_t)(struct vs_file_io *fio, long ret);

struct vs_file_io {
	struct kiocb iocb;
	vs_file_io_done_t done;
	atomic_t ref;
	long ret;
};

/*
 * A bio on its way to a file child. Targets embed one in their per-bio data
 * and pass it to vs_backend_map()/vs_backend_submit(); a bio without
 * per-bio data (a piece split off) gets one from the child's pool.
 */
struct vs_backend_io {
	struct vs_file_io fio;
	struct vs_backend *be;
	struct bio *bio;
	u64 pos;
	union {
		struct llist_node queued;	/* direct I/O: per-CPU or batch list */
		struct work_struct work;	/* buffered I/O: its own work */
	};
	bool pooled;
};

int vs_backend_open(struct vs_backend *be, const char *path, bool writable,
		    const struct vs_backend_opts *opts, const char *owner,
		    struct dm_target *ti, char **error);
void vs_backend_close(struct vs_backend *be);

static inline bool vs_backend_is_file(const struct vs_backend *be)
{
	return be->file;
}

/* The child's device number, 0 for a file child. */
static inline dev_t vs_backend_devt(const struct vs_backend *be)
{
	return be->bdev ? be->bdev->bd_dev : 0;
}

/*
 * From map(): send BIO, whose data lies at byte POS of the child. A device
 * child gets it remapped (DM_MAPIO_REMAPPED); a file child's worker issues
 * it (DM_MAPIO_SUBMITTED). IO is the bio's per-bio record.
 */
int vs_backend_map(struct vs_backend *be, struct bio *bio, u64 pos,
		   struct vs_backend_io *io);
/*
 * From a context that may block (a worker): send BIO to POS of the child
 * now. IO may be NULL (a record comes from the child's pool).
 */
void vs_backend_submit(struct vs_backend *be, struct bio *bio, u64 pos,
		       struct vs_backend_io *io);

/*
 * What a target's map() does first with every bio: cache.writeback=off
 * makes every write durable at completion.
 */
static inline void vs_backend_prepare_bio(struct vs_backend *be,
					  struct bio *bio)
{
	if (!be->opts.writeback && op_is_write(bio_op(bio)) &&
	    bio->bi_iter.bi_size)
		bio->bi_opf |= REQ_FUA;
}

void vs_backend_set_caps(struct vs_backend *be, struct dm_target *ti,
			 bool needs_flushes);

void vs_bio_iter(struct bio *bio, unsigned int dir, struct iov_iter *iter);

int vs_backend_flush(struct vs_backend *be);
int vs_backend_discard(struct vs_backend *be, u64 pos, u64 len);
int vs_backend_zero(struct vs_backend *be, u64 pos, u64 len, bool unmap);
int vs_backend_block_status(struct vs_backend *be, u64 pos, u64 len,
			    struct vs_extent *ext);
void vs_backend_io_hints(struct vs_backend *be, struct queue_limits *limits);

/* bvecs that a kernel buffer of LEN bytes may need, however it is aligned */
static inline unsigned int vs_kbuf_max_bvecs(size_t len)
{
	return DIV_ROUND_UP(len, PAGE_SIZE) + 1;
}

/*
 * Asynchronous I/O of a kernel buffer (kmalloc or vmalloc) on any child.
 * The caller provides BV with room for vs_kbuf_max_bvecs(len); it and the
 * record live until done() runs, in any context, with 0 or -errno. A read
 * past the end of a file child reads zeroes.
 */
struct vs_kbuf_io;
typedef void (*vs_kbuf_done_t)(struct vs_kbuf_io *kio, int err);

struct vs_kbuf_io {
	struct vs_file_io fio;
	struct bio bio;			/* a device child's I/O */
	struct bio_vec *bv;
	void *buf;
	size_t len;
	unsigned int dir;
	vs_kbuf_done_t done;
};

void vs_backend_rw_kbuf_async(struct vs_backend *be, struct vs_kbuf_io *kio,
			      unsigned int dir, void *buf, size_t len, u64 pos,
			      vs_kbuf_done_t done);
/*
 * Synchronous I/O of a kernel buffer (metadata): the bytes transferred or
 * -errno; a read past the end of a file child reads zeroes.
 */
ssize_t vs_backend_rw_kbuf(struct vs_backend *be, unsigned int dir, void *buf,
			   size_t len, u64 pos);

int vs_backend_grow(struct vs_backend *be, u64 size);
int vs_backend_shrink(struct vs_backend *be, u64 size);
u64 vs_backend_current_size(struct vs_backend *be);
u64 vs_backend_capacity(struct vs_backend *be);
u64 vs_backend_allocated_bytes(struct vs_backend *be);

#endif /* _VSTORAGE_BACKEND_H */
