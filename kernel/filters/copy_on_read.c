// SPDX-License-Identifier: GPL-2.0
/*
 * vstorage-cor: QEMU's copy-on-read filter (block/copy-on-read.c) as a
 * device-mapper target (module dm-vstorage-copy-on-read; device-mapper
 * target names have at most 15 characters). It stands on another node's
 * device; a read of a range that the node below has only in its backing
 * layers (above "base", when given) is served and the range is also
 * written into the node's top layer, so that later reads are local.
 *
 * Path of a bio. The device is cut into chunks of VS_COR_CHUNK bytes
 * (max_io_len: a read or write is never split across two):
 *  - Writes, discards and write-zeroes are remapped to the child at once,
 *    unless a populate of one of their chunks is in flight: then they wait
 *    until it is done (its write must not land over theirs).
 *  - A read of a chunk known to be done with (a bitmap: nothing of it is
 *    left to copy) is remapped at once. Any other read goes to the worker.
 *    When no workload write of the chunk is in flight, the chunk is marked
 *    populating, block status (vs_block_status()) says what of it comes
 *    from backing layers above base, and dm-kcopyd copies each such extent
 *    from the child to itself (reading through the chain, writing into
 *    the top layer), a zero extent as write-zeroes; then the chunk is
 *    marked done, the read goes down and the writes that waited are let
 *    through. A chunk with writes in flight is read without populating: a
 *    later read will populate it.
 *
 * Chunks map to a fixed table of buckets (a hash, so unrelated chunks may
 * share one: that only makes a write wait needlessly); the buckets and
 * the bitmap are under one spinlock per target.
 */
#include <linux/dm-kcopyd.h>
#include <linux/hash.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <net/netlink.h>

#include "vstorage.h"

#define DM_MSG_PREFIX "vstorage-cor"

/* 64 KiB: QEMU's default cluster size, and a power of two */
#define VS_COR_CHUNK_SHIFT	16
#define VS_COR_CHUNK_SECTORS	(1U << (VS_COR_CHUNK_SHIFT - SECTOR_SHIFT))
#define VS_COR_BUCKETS		1024
/* extents of one chunk copied one by one; the rest of the chunk at once */
#define VS_COR_MAX_EXTENTS	8
/* chunks a job's populate works on at once (1 MiB) */
#define VS_COR_JOB_CHUNKS	16

struct cor_opts {
	const char *base;		/* points into argv until copied */
};

struct cor_bucket {
	unsigned int writers;		/* workload writes in flight */
	bool populating;
	struct bio_list waiting;	/* writes held back by the populate */
};

struct cor_target {
	struct vs_node node;
	struct dm_dev *child;
	char *path;
	struct cor_opts opt;		/* .base: our copy */
	struct dm_target *ti;

	spinlock_t lock;		/* protects buckets and local */
	struct cor_bucket buckets[VS_COR_BUCKETS];
	unsigned long *local;		/* chunks the top layer has */
	u64 nr_chunks;

	struct dm_kcopyd_client *kcopyd;
	struct workqueue_struct *wq;
	struct vs_bio_queue reads;	/* reads that need block status */
	struct vs_bio_queue retries;	/* writes let through by a populate */

	atomic64_t populated_bytes, populate_errors, skipped;
};

/* Per bio (ti->per_io_data_size). */
struct cor_io {
	bool writer;			/* counted in its buckets' writers */
};

/* A stream job waiting for the populate of one chunk. */
struct cor_waiter {
	struct completion done;
	bool read_failed, write_failed, complete;
};

/*
 * A populate of chunks [first, first + nr), for the read that started it
 * (one chunk) or for a job.
 */
struct cor_populate {
	struct cor_target *ct;
	struct bio *bio;		/* NULL for a job */
	struct cor_waiter *waiter;	/* NULL for a read */
	u64 first, nr;
	atomic_t pending;
	bool read_failed, write_failed;
	bool complete;			/* covers all the chunk needs */
};

static u64 cor_chunk(sector_t sector)
{
	return sector >> (VS_COR_CHUNK_SHIFT - SECTOR_SHIFT);
}

/* The chunks [first, first + nr) that BIO covers. */
static void cor_bio_chunks(struct bio *bio, u64 *first, u64 *nr)
{
	sector_t start = bio->bi_iter.bi_sector;
	sector_t end = bio_end_sector(bio);

	*first = cor_chunk(start);
	*nr = end > start ? cor_chunk(end - 1) - *first + 1 : 1;
}

static unsigned int cor_bucket_of(u64 chunk)
{
	return hash_64(chunk, ilog2(VS_COR_BUCKETS));
}

/*
 * The buckets of chunks [first, first + nr): each once when they are all
 * of them, else once per chunk (counts stay symmetric either way).
 */
static unsigned int cor_nr_buckets(u64 nr)
{
	return nr >= VS_COR_BUCKETS ? VS_COR_BUCKETS : nr;
}

static unsigned int cor_bucket_at(u64 first, u64 nr, unsigned int i)
{
	return nr >= VS_COR_BUCKETS ? i : cor_bucket_of(first + i);
}

static void cor_submit_list(struct cor_target *ct, struct bio_list *bios)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios)))
		vs_bio_queue_add(&ct->retries, bio, ct->wq);
}

/*
 * A write may go down unless a populate of its chunks is in flight; then
 * it waits in that bucket. Called with ct->lock held.
 */
static bool cor_admit_write_locked(struct cor_target *ct, struct bio *bio)
{
	struct cor_io *io = dm_per_bio_data(bio, sizeof(struct cor_io));
	unsigned int b, i;
	u64 first, nr, c;

	cor_bio_chunks(bio, &first, &nr);
	for (i = 0; i < cor_nr_buckets(nr); i++) {
		b = cor_bucket_at(first, nr, i);
		if (ct->buckets[b].populating) {
			bio_list_add(&ct->buckets[b].waiting, bio);
			return false;
		}
	}
	for (i = 0; i < cor_nr_buckets(nr); i++)
		ct->buckets[cor_bucket_at(first, nr, i)].writers++;
	io->writer = true;
	/* a discard may take the top layer's clusters away */
	if (bio_op(bio) != REQ_OP_WRITE) {
		for (c = first; c < first + nr && c < ct->nr_chunks; c++)
			clear_bit(c, ct->local);
	}
	return true;
}

static bool cor_admit_write(struct cor_target *ct, struct bio *bio)
{
	unsigned long flags;
	bool ok;

	spin_lock_irqsave(&ct->lock, flags);
	ok = cor_admit_write_locked(ct, bio);
	spin_unlock_irqrestore(&ct->lock, flags);
	return ok;
}

static int cor_map(struct dm_target *ti, struct bio *bio)
{
	struct cor_target *ct = ti->private;
	struct cor_io *io = dm_per_bio_data(bio, sizeof(struct cor_io));
	u64 first, nr;

	io->writer = false;
	vs_bitmap_map(ti, bio);
	bio_set_dev(bio, ct->child->bdev);
	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	vs_node_account(&ct->node, bio);
	if (!bio->bi_iter.bi_size)
		return DM_MAPIO_REMAPPED;	/* a flush */

	if (op_is_write(bio_op(bio)))
		return cor_admit_write(ct, bio) ? DM_MAPIO_REMAPPED :
						  DM_MAPIO_SUBMITTED;
	if (bio_op(bio) != REQ_OP_READ)
		return DM_MAPIO_REMAPPED;
	cor_bio_chunks(bio, &first, &nr);
	if (nr == 1 && first < ct->nr_chunks && test_bit(first, ct->local))
		return DM_MAPIO_REMAPPED;
	vs_bio_queue_add(&ct->reads, bio, ct->wq);
	return DM_MAPIO_SUBMITTED;
}

static int cor_end_io(struct dm_target *ti, struct bio *bio,
		      blk_status_t *error)
{
	struct cor_target *ct = ti->private;
	struct cor_io *io = dm_per_bio_data(bio, sizeof(struct cor_io));
	unsigned long flags;
	unsigned int i;
	u64 first, nr;

	vs_node_account_error(&ct->node, bio, *error);
	vs_bitmap_end_io(&ct->node, bio);
	if (!io->writer)
		return DM_ENDIO_DONE;
	io->writer = false;
	cor_bio_chunks(bio, &first, &nr);
	spin_lock_irqsave(&ct->lock, flags);
	for (i = 0; i < cor_nr_buckets(nr); i++)
		ct->buckets[cor_bucket_at(first, nr, i)].writers--;
	spin_unlock_irqrestore(&ct->lock, flags);
	return DM_ENDIO_DONE;
}

/*
 * How many backing hops below the child the base node is: data found that
 * deep or deeper is not copied. U32_MAX without a base; 0 when the base
 * is not (or no longer) in the chain, so that nothing is copied.
 */
static u32 cor_base_depth(struct cor_target *ct)
{
	struct vs_node *child;
	u32 depth;
	int ret;

	if (!ct->opt.base)
		return U32_MAX;
	child = vs_node_get_by_dev(ct->child->bdev->bd_dev);
	if (!child)
		return 0;
	ret = vs_chain_depth(child, ct->opt.base, &depth);
	vs_node_put(child);
	return ret ? 0 : depth;
}

static void cor_populate_end(struct cor_populate *p)
{
	struct cor_target *ct = p->ct;
	bool failed = p->read_failed || p->write_failed;
	struct bio_list waiting;
	unsigned long flags;
	unsigned int i;
	u64 c;

	bio_list_init(&waiting);
	spin_lock_irqsave(&ct->lock, flags);
	for (i = 0; i < cor_nr_buckets(p->nr); i++) {
		struct cor_bucket *b = &ct->buckets[cor_bucket_at(p->first,
								  p->nr, i)];

		b->populating = false;
		bio_list_merge(&waiting, &b->waiting);
		bio_list_init(&b->waiting);
	}
	if (!failed && p->complete)
		for (c = p->first; c < p->first + p->nr && c < ct->nr_chunks; c++)
			set_bit(c, ct->local);
	spin_unlock_irqrestore(&ct->lock, flags);

	if (failed)
		atomic64_inc(&ct->populate_errors);
	/* the read is served either way: the chain below has the data */
	if (p->bio)
		dm_submit_bio_remap(p->bio, NULL);
	cor_submit_list(ct, &waiting);
	if (p->waiter) {
		p->waiter->read_failed = p->read_failed;
		p->waiter->write_failed = p->write_failed;
		p->waiter->complete = p->complete;
		complete(&p->waiter->done);
	}
	kfree(p);
}

static void cor_copy_done(int read_err, unsigned long write_err, void *ctx)
{
	struct cor_populate *p = ctx;

	if (read_err)
		p->read_failed = true;
	if (write_err)
		p->write_failed = true;
	if (atomic_dec_and_test(&p->pending))
		cor_populate_end(p);
}

struct cor_extent {
	u64 offset, length;		/* bytes */
	bool zero;
};

/*
 * The extents of chunk [start, start + len) that come from backing layers
 * above base; *complete when the extents are all there is to copy. Returns how many
 * were put into ext, or a negative errno. Without a base, when there are
 * more than fit, the last one covers the rest of the chunk (what the top
 * layer has in there is read and written back as it is).
 */
static int cor_plan(struct cor_target *ct, u64 start, u64 len,
		    u32 base_depth, struct cor_extent *ext, bool *complete)
{
	struct vs_node *child, *host;
	u32 depth;
	struct vs_extent e;
	u64 off = start, end = start + len;
	int nr = 0, ret = 0;

	*complete = true;
	child = vs_node_get_by_dev(ct->child->bdev->bd_dev);
	if (!child)
		return 0;	/* a plain device: nothing is below it */
	while (off < end) {
		ret = vs_block_status(child, off, end - off, &e, &depth, &host);
		if (ret)
			break;
		vs_node_put(host);
		if (depth > 0 && depth < base_depth) {
			bool zero = e.flags & VS_EXT_ZERO;

			if (nr && ext[nr - 1].offset + ext[nr - 1].length == off &&
			    ext[nr - 1].zero == zero) {
				ext[nr - 1].length += e.length;
			} else if (nr < VS_COR_MAX_EXTENTS) {
				ext[nr++] = (struct cor_extent) {
					.offset = off, .length = e.length,
					.zero = zero,
				};
			} else {
				/* full: the rest in one copy, or (base) later */
				if (base_depth != U32_MAX) {
					*complete = false;
				} else {
					ext[nr - 1].length = end - ext[nr - 1].offset;
					ext[nr - 1].zero = false;
				}
				break;
			}
		}
		off += e.length;
	}
	vs_node_put(child);
	return ret ? ret : nr;
}

/*
 * Populate chunks [first, first + nr) for the read BIO (one chunk) or for
 * the job waiting on WAITER: what comes from layers above BASE_DEPTH
 * (backing hops below the child), as few copies as block status allows.
 * Returns false, doing nothing, when a workload write or another populate
 * of one of the chunks' buckets is in flight.
 *
 * The chunks are marked populating before block status is asked: a write
 * that completed between the question and the copy would otherwise be
 * overwritten (by the zeroes of an extent that was zero when asked).
 */
static bool cor_populate(struct cor_target *ct, u64 first, u64 nr,
			 struct bio *bio, struct cor_waiter *waiter,
			 u32 base_depth)
{
	struct cor_extent ext[VS_COR_MAX_EXTENTS];
	u64 start = first << VS_COR_CHUNK_SHIFT;
	u64 len = min_t(u64, nr << VS_COR_CHUNK_SHIFT,
			((u64)ct->ti->len << SECTOR_SHIFT) - start);
	struct cor_populate *p;
	unsigned long flags;
	unsigned int i;
	bool complete;
	int nr_ext;

	p = kmalloc(sizeof(*p), GFP_NOIO);
	if (!p)
		return false;
	spin_lock_irqsave(&ct->lock, flags);
	for (i = 0; i < cor_nr_buckets(nr); i++) {
		struct cor_bucket *b = &ct->buckets[cor_bucket_at(first, nr, i)];

		if (b->writers || b->populating) {
			spin_unlock_irqrestore(&ct->lock, flags);
			kfree(p);
			atomic64_inc(&ct->skipped);
			return false;
		}
	}
	for (i = 0; i < cor_nr_buckets(nr); i++)
		ct->buckets[cor_bucket_at(first, nr, i)].populating = true;
	spin_unlock_irqrestore(&ct->lock, flags);

	nr_ext = cor_plan(ct, start, len, base_depth, ext, &complete);
	/* nothing to copy (or block status failed): the chunks are done with */
	*p = (struct cor_populate) {
		.ct = ct, .bio = bio, .waiter = waiter, .first = first,
		.nr = nr, .complete = nr_ext >= 0 && complete,
		.read_failed = nr_ext < 0,
	};
	if (nr_ext < 0)
		nr_ext = 0;
	/* one extra count, dropped below, so no copy ends the populate early */
	atomic_set(&p->pending, nr_ext + 1);
	for (i = 0; i < nr_ext; i++) {
		struct dm_io_region r = {
			.bdev = ct->child->bdev,
			.sector = ext[i].offset >> SECTOR_SHIFT,
			.count = ext[i].length >> SECTOR_SHIFT,
		};

		atomic64_add(ext[i].length, &ct->populated_bytes);
		if (ext[i].zero)
			dm_kcopyd_zero(ct->kcopyd, 1, &r, 0, cor_copy_done, p);
		else
			dm_kcopyd_copy(ct->kcopyd, &r, 1, &r, 0, cor_copy_done,
				       p);
	}
	cor_copy_done(0, 0, p);
	return true;
}

static void cor_read(struct cor_target *ct, struct bio *bio)
{
	if (!cor_populate(ct, cor_chunk(bio->bi_iter.bi_sector), 1, bio, NULL,
			  cor_base_depth(ct)))
		dm_submit_bio_remap(bio, NULL);
}

/* Wait for W; a failure sets *ret (once) and *operation. */
static bool cor_job_wait(struct cor_waiter *w, int *ret, int *operation)
{
	wait_for_completion(&w->done);
	if ((w->read_failed || w->write_failed) && !*ret) {
		*operation = w->write_failed;
		*ret = -EIO;
	}
	return w->complete;
}

/*
 * A stream job (kernel/jobs/stream.c): populate every chunk of
 * [offset, offset + length) that is not known to be done, copying what
 * comes from layers above BASE_DEPTH: the whole range in one populate (the
 * fewest, largest copies), or, when workload writes keep some chunk busy,
 * chunk by chunk. -EAGAIN when a chunk stayed busy: the job comes back to
 * it. A failure sets *operation (0 read, 1 write).
 */
static int cor_job_populate(struct vs_node *node, u64 offset, u64 length,
			    u32 base_depth, u64 *copied, int *operation)
{
	struct cor_target *ct = container_of(node, struct cor_target, node);
	struct cor_waiter w[VS_COR_JOB_CHUNKS];
	u64 first, nr, i, before;
	bool busy = false, again = true;
	int ret = 0;

	if (!length || offset + length > ((u64)ct->ti->len << SECTOR_SHIFT))
		return -EINVAL;
	first = offset >> VS_COR_CHUNK_SHIFT;
	nr = ((offset + length - 1) >> VS_COR_CHUNK_SHIFT) - first + 1;
	if (nr > VS_COR_JOB_CHUNKS)
		return -EINVAL;
	before = atomic64_read(&ct->populated_bytes);
	/* a range with more extents than one populate copies goes again */
	while (again && !ret) {
		bool started[VS_COR_JOB_CHUNKS] = {};

		init_completion(&w[0].done);
		if (cor_populate(ct, first, nr, NULL, &w[0], base_depth)) {
			again = !cor_job_wait(&w[0], &ret, operation);
			continue;
		}
		again = false;
		busy = false;
		for (i = 0; i < nr; i++) {
			if (test_bit(first + i, ct->local))
				continue;
			init_completion(&w[i].done);
			started[i] = cor_populate(ct, first + i, 1, NULL, &w[i],
						  base_depth);
			busy |= !started[i];
		}
		for (i = 0; i < nr; i++)
			if (started[i])
				again |= !cor_job_wait(&w[i], &ret, operation);
	}
	*copied = atomic64_read(&ct->populated_bytes) - before;
	return ret ?: busy ? -EAGAIN : 0;
}

static void cor_handle_read(struct vs_bio_queue *bq, struct bio *bio)
{
	cor_read(container_of(bq, struct cor_target, reads), bio);
}

static void cor_reads_work(struct work_struct *work)
{
	vs_bio_queue_run(container_of(work, struct vs_bio_queue, work),
			 cor_handle_read);
}

static void cor_handle_retry(struct vs_bio_queue *bq, struct bio *bio)
{
	struct cor_target *ct = container_of(bq, struct cor_target, retries);

	if (cor_admit_write(ct, bio))
		dm_submit_bio_remap(bio, NULL);
}

static void cor_retries_work(struct work_struct *work)
{
	vs_bio_queue_run(container_of(work, struct vs_bio_queue, work),
			 cor_handle_retry);
}

/*
 * Table line (Documentation/targets/copy-on-read.rst):
 *
 *   <node_name> <child> [<#opt_args> base <node>]
 *
 *   child:  the block device of the node below (a path or MAJOR:MINOR)
 *   base:   a backing node of the child; what it and the layers below it
 *           have is not copied
 */
static const struct vs_opt cor_opt_defs[] = {
	VS_OPT_DEF_STR("base", struct cor_opts, base,
		       "base needs a node name",
		       "base given more than once",
		       "a backing node of the child: data from it and below is not copied"),
};

static const struct vs_opt_set cor_opt_set = {
	.opts = cor_opt_defs,
	.nr = ARRAY_SIZE(cor_opt_defs),
};

static const struct vs_node_ops cor_node_ops;

static int cor_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	const char *node_name, *path;
	struct cor_target *ct;
	struct cor_opts opt;
	unsigned int i;
	int ret;

	ret = vs_target_parse(ti, argc, argv, &cor_opt_set, &opt, &node_name,
			      &path);
	if (ret)
		return ret;
	if (opt.base && !vs_node_name_valid(opt.base)) {
		ti->error = "invalid base node name (node-name rules)";
		return -EINVAL;
	}
	if (!(dm_table_get_mode(ti->table) & FMODE_WRITE)) {
		ti->error = "copy-on-read writes into its child: the table cannot be read-only";
		return -EINVAL;
	}

	ct = kvzalloc(sizeof(*ct), GFP_KERNEL);
	if (!ct) {
		ti->error = "cannot allocate target";
		return -ENOMEM;
	}
	ct->ti = ti;
	spin_lock_init(&ct->lock);
	for (i = 0; i < VS_COR_BUCKETS; i++)
		bio_list_init(&ct->buckets[i].waiting);
	strscpy(ct->node.name, node_name, sizeof(ct->node.name));
	ct->path = kstrdup(path, GFP_KERNEL);
	ct->opt.base = opt.base ? kstrdup(opt.base, GFP_KERNEL) : NULL;
	if (!ct->path || (opt.base && !ct->opt.base)) {
		ti->error = "cannot allocate target";
		ret = -ENOMEM;
		goto out_free;
	}
	ct->nr_chunks = DIV_ROUND_UP_ULL((u64)ti->len, VS_COR_CHUNK_SECTORS);
	ct->local = kvcalloc(BITS_TO_LONGS(ct->nr_chunks), sizeof(long),
			     GFP_KERNEL);
	if (!ct->local) {
		ti->error = "cannot allocate the bitmap of local chunks";
		ret = -ENOMEM;
		goto out_free;
	}

	ret = dm_get_device(ti, ct->path, dm_table_get_mode(ti->table),
			    &ct->child);
	if (ret) {
		ti->error = "cannot open the child device";
		goto out_free;
	}
	if (ti->len > bdev_nr_sectors(ct->child->bdev)) {
		ti->error = "the target is longer than the child device";
		ret = -EINVAL;
		goto out_put_dev;
	}
	if (ct->opt.base && !cor_base_depth(ct)) {
		ti->error = "base is not a backing node of the child";
		ret = -EINVAL;
		goto out_put_dev;
	}

	ct->kcopyd = dm_kcopyd_client_create(NULL);
	if (IS_ERR(ct->kcopyd)) {
		ti->error = "cannot create the dm-kcopyd client";
		ret = PTR_ERR(ct->kcopyd);
		goto out_put_dev;
	}
	ct->wq = alloc_workqueue("vs-cor/%s", WQ_MEM_RECLAIM | WQ_UNBOUND, 0,
				 ct->node.name);
	if (!ct->wq) {
		ti->error = "cannot allocate the workqueue";
		ret = -ENOMEM;
		goto out_kcopyd;
	}
	vs_bio_queue_init(&ct->reads, cor_reads_work);
	vs_bio_queue_init(&ct->retries, cor_retries_work);

	ct->node.driver = "copy-on-read";
	ct->node.ops = &cor_node_ops;
	ct->node.children[0] = (struct vs_child) {
		.role = "file",
		.path = ct->path,
		.dev = ct->child->bdev->bd_dev,
	};
	ct->node.nr_children = 1;
	ret = vs_node_register(&ct->node, ti, &ti->error);
	if (ret)
		goto out_wq;

	ret = dm_set_target_max_io_len(ti, VS_COR_CHUNK_SECTORS);
	if (ret) {
		ti->error = "cannot set the chunk size";
		goto out_unregister;
	}
	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = VS_NODE_IO_SIZE(sizeof(struct cor_io));
	/* the reads and writes that waited go down with dm_submit_bio_remap() */
	ti->accounts_remapped_io = true;
	ti->private = ct;
	return 0;

out_unregister:
	vs_node_unregister(&ct->node);
out_wq:
	destroy_workqueue(ct->wq);
out_kcopyd:
	dm_kcopyd_client_destroy(ct->kcopyd);
out_put_dev:
	dm_put_device(ti, ct->child);
out_free:
	kvfree(ct->local);
	kfree(ct->opt.base);
	kfree(ct->path);
	kvfree(ct);
	return ret;
}

static void cor_dtr(struct dm_target *ti)
{
	struct cor_target *ct = ti->private;

	vs_node_unregister(&ct->node);
	destroy_workqueue(ct->wq);
	dm_kcopyd_client_destroy(ct->kcopyd);
	dm_put_device(ti, ct->child);
	kvfree(ct->local);
	kfree(ct->opt.base);
	kfree(ct->path);
	kvfree(ct);
}

static int cor_preresume(struct dm_target *ti)
{
	struct cor_target *ct = ti->private;

	return vs_node_may_resume(&ct->node);
}

static void cor_resume(struct dm_target *ti)
{
	struct cor_target *ct = ti->private;

	vs_node_activate(&ct->node);
}

/*
 * Status (INFO):
 *   <node_name> <read_ios> <read_bytes> <write_ios> <write_bytes>
 *   <flush_ios> <discard_ios> <errors> <populated_bytes>
 *   <populate_errors> <skipped>
 */
static void cor_status(struct dm_target *ti, status_type_t type,
		       unsigned int status_flags, char *result,
		       unsigned int maxlen)
{
	struct cor_target *ct = ti->private;
	unsigned int sz = 0;
	struct vs_stats s;

	switch (type) {
	case STATUSTYPE_INFO:
		vs_node_stats_sum(&ct->node, &s);
		DMEMIT("%s %llu %llu %llu %llu %llu %llu %llu %lld %lld %lld",
		       ct->node.name, s.rd_ios, s.rd_bytes, s.wr_ios,
		       s.wr_bytes, s.flush_ios, s.discard_ios, s.errors,
		       (long long)atomic64_read(&ct->populated_bytes),
		       (long long)atomic64_read(&ct->populate_errors),
		       (long long)atomic64_read(&ct->skipped));
		break;
	case STATUSTYPE_TABLE:
		vs_target_emit_table(ct->node.name, ct->path, &cor_opt_set,
				     &ct->opt, result, &sz, maxlen);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",node_name=%s,base=%s;", ct->node.name,
		       ct->opt.base ? ct->opt.base : "");
		break;
	}
}

static int cor_iterate_devices(struct dm_target *ti,
			       iterate_devices_callout_fn fn, void *data)
{
	struct cor_target *ct = ti->private;

	return fn(ti, ct->child, 0, ti->len, data);
}

/* A filter has no data of its own: every query goes to the node below. */
static int cor_block_status(struct vs_node *node, u64 offset, u64 length,
			    struct vs_extent *ext)
{
	struct cor_target *ct = container_of(node, struct cor_target, node);

	return vs_extent_below(ext, ct->child->bdev->bd_dev, offset, length);
}

static int cor_fill_info(struct vs_node *node, struct sk_buff *skb)
{
	struct cor_target *ct = container_of(node, struct cor_target, node);

	if (ct->opt.base &&
	    nla_put_string(skb, VSTORAGE_INFO_COR_BASE, ct->opt.base))
		return -EMSGSIZE;
	if (nla_put_u64_64bit(skb, VSTORAGE_INFO_COR_POPULATED,
			      atomic64_read(&ct->populated_bytes),
			      VSTORAGE_INFO_PAD))
		return -EMSGSIZE;
	return 0;
}

static const struct vs_node_ops cor_node_ops = {
	.block_status = cor_block_status,
	.fill_info = cor_fill_info,
	.populate = cor_job_populate,
};

static struct target_type cor_target_type = {
	.name = VSTORAGE_DM_TARGET_PREFIX "cor",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = cor_ctr,
	.dtr = cor_dtr,
	.map = cor_map,
	.end_io = cor_end_io,
	.preresume = cor_preresume,
	.resume = cor_resume,
	.status = cor_status,
	.iterate_devices = cor_iterate_devices,
};

static int __init cor_init(void)
{
	return dm_register_target(&cor_target_type);
}

static void __exit cor_exit(void)
{
	dm_unregister_target(&cor_target_type);
}

module_init(cor_init);
module_exit(cor_exit);

MODULE_DESCRIPTION("vstorage copy-on-read filter: reads from backing layers populate the top layer, as QEMU's copy-on-read driver");
MODULE_AUTHOR("vstorage developers");
MODULE_LICENSE("GPL");
MODULE_ALIAS("dm-vstorage-copy-on-read");
/* what device-mapper asks for when a table names the target */
MODULE_ALIAS("dm-vstorage-cor");
