// SPDX-License-Identifier: GPL-2.0
/*
 * vstorage-raw: QEMU's raw format as a device-mapper target.
 *
 * Over a block device the target remaps bios, like dm-linear. Over a
 * regular file it does asynchronous direct I/O on the file itself: bios are
 * queued on a per-CPU list and issued from a per-CPU work item (never from
 * map, see backend.c), and complete from the file system's completion.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <net/netlink.h>

#include "vstorage.h"

#define DM_MSG_PREFIX "vstorage-raw"

struct raw_target;

/* Bios waiting for the worker of one CPU. */
struct raw_queue {
	struct vs_bio_queue bq;
	struct raw_target *rt;
};

struct raw_target {
	struct vs_node node;
	struct vs_backend be;
	char *path;
	u64 offset;
	bool size_given;
	bool ro_opt;
	struct workqueue_struct *wq;
	struct raw_queue __percpu *queues;
};

/* Per-bio data, for file children only. */
struct raw_io {
	struct vs_file_io fio;
	struct raw_target *rt;
};

static struct bio *raw_io_bio(struct raw_io *io)
{
	return dm_bio_from_per_bio_data(io, sizeof(*io));
}

static void raw_end_bio(struct raw_target *rt, struct bio *bio,
			blk_status_t status)
{
	if (status)
		bio->bi_status = status;
	vs_node_account_error(&rt->node, bio, status);
	bio_endio(bio);
}

static void raw_rw_done(struct vs_file_io *fio, long ret)
{
	struct raw_io *io = container_of(fio, struct raw_io, fio);
	struct bio *bio = raw_io_bio(io);
	unsigned int size = bio->bi_iter.bi_size;
	blk_status_t status = BLK_STS_OK;

	vs_node_account(&io->rt->node, bio);
	if (ret < 0) {
		status = errno_to_blk_status(ret);
	} else if (ret < size) {
		if (bio_op(bio) == REQ_OP_READ) {
			/* the file ended early: the rest reads as zeroes */
			bio_advance(bio, ret);
			zero_fill_bio(bio);
		} else {
			status = BLK_STS_IOERR;
		}
	}
	raw_end_bio(io->rt, bio, status);
}

static void raw_submit_rw(struct raw_target *rt, struct bio *bio)
{
	struct raw_io *io = dm_per_bio_data(bio, sizeof(struct raw_io));
	unsigned int dir = op_is_write(bio_op(bio)) ? ITER_SOURCE : ITER_DEST;
	loff_t pos = rt->offset +
		((u64)dm_target_offset(rt->node.ti, bio->bi_iter.bi_sector)
		 << SECTOR_SHIFT);
	struct iov_iter iter;

	io->rt = rt;
	vs_bio_iter(bio, dir, &iter);
	vs_backend_file_rw(&rt->be, &io->fio, dir, &iter, pos,
			   bio->bi_opf & REQ_FUA, raw_rw_done);
}

static int raw_fallocate(struct raw_target *rt, struct bio *bio)
{
	u64 pos = rt->offset +
		((u64)dm_target_offset(rt->node.ti, bio->bi_iter.bi_sector)
		 << SECTOR_SHIFT);
	u64 len = bio->bi_iter.bi_size;
	int ret;

	if (bio_op(bio) == REQ_OP_DISCARD)
		ret = vs_backend_discard(&rt->be, pos, len);
	else
		ret = vs_backend_zero(&rt->be, pos, len,
				      !(bio->bi_opf & REQ_NOUNMAP));
	if (!ret && (bio->bi_opf & REQ_FUA))
		ret = vs_backend_flush(&rt->be);
	return ret;
}

/* Runs in the worker, where file system calls may block. */
static void raw_handle_bio(struct raw_target *rt, struct bio *bio)
{
	int ret;

	switch (bio_op(bio)) {
	case REQ_OP_READ:
		raw_submit_rw(rt, bio);
		return;
	case REQ_OP_WRITE:
		if (bio->bi_opf & REQ_PREFLUSH) {
			ret = vs_backend_flush(&rt->be);
			if (ret || !bio->bi_iter.bi_size) {
				vs_node_account(&rt->node, bio);
				raw_end_bio(rt, bio, errno_to_blk_status(ret));
				return;
			}
		}
		raw_submit_rw(rt, bio);
		return;
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		vs_node_account(&rt->node, bio);
		ret = raw_fallocate(rt, bio);
		raw_end_bio(rt, bio, errno_to_blk_status(ret));
		return;
	default:
		raw_end_bio(rt, bio, BLK_STS_NOTSUPP);
	}
}

static void raw_handle_queued(struct vs_bio_queue *bq, struct bio *bio)
{
	raw_handle_bio(container_of(bq, struct raw_queue, bq)->rt, bio);
}

static void raw_work(struct work_struct *work)
{
	vs_bio_queue_run(container_of(work, struct vs_bio_queue, work),
			 raw_handle_queued);
}

static int raw_map(struct dm_target *ti, struct bio *bio)
{
	struct raw_target *rt = ti->private;
	struct raw_queue *q;

	if (rt->node.read_only && op_is_write(bio_op(bio)) &&
	    bio->bi_iter.bi_size)
		return DM_MAPIO_KILL;

	if (rt->be.dev) {
		bio_set_dev(bio, rt->be.dev->bdev);
		if (bio_sectors(bio))
			bio->bi_iter.bi_sector =
				(rt->offset >> SECTOR_SHIFT) +
				dm_target_offset(ti, bio->bi_iter.bi_sector);
		vs_node_account(&rt->node, bio);
		return DM_MAPIO_REMAPPED;
	}

	q = get_cpu_ptr(rt->queues);
	vs_bio_queue_add(&q->bq, bio, rt->wq);
	put_cpu_ptr(rt->queues);
	return DM_MAPIO_SUBMITTED;
}

static int raw_end_io(struct dm_target *ti, struct bio *bio,
		      blk_status_t *error)
{
	struct raw_target *rt = ti->private;

	if (rt->be.dev)
		vs_node_account_error(&rt->node, bio, *error);
	return DM_ENDIO_DONE;
}

/*
 * Table line:
 *
 *   <node_name> <path> [<#opt_args> <opt_args>...]
 *
 *   node_name:  QEMU node name: [A-Za-z][A-Za-z0-9_.-]{0,30}
 *   path:       absolute path of a regular file or block device, or
 *               MAJOR:MINOR of a block device
 *   opt_args:   offset <bytes>   where the image starts inside the child
 *               size <bytes>     must equal the target length in bytes
 *               read-only        never write to the child
 */
struct raw_args {
	const char *node_name;
	const char *path;
	u64 offset;
	u64 size;
	bool size_given;
	bool offset_given;
	bool read_only;
};

static int raw_parse_u64(struct dm_arg_set *as, u64 *v, bool *given,
			 const char *name, char **error)
{
	const char *arg;

	if (*given) {
		*error = name[0] == 'o' ? "offset given more than once" :
			 "size given more than once";
		return -EINVAL;
	}
	arg = dm_shift_arg(as);
	if (!arg || kstrtou64(arg, 10, v)) {
		*error = name[0] == 'o' ? "offset needs a value in bytes" :
			 "size needs a value in bytes";
		return -EINVAL;
	}
	*given = true;
	return 0;
}

static int raw_parse_opt_args(struct dm_arg_set *as, struct raw_args *args,
			      char **error)
{
	static const struct dm_arg opt_args = {
		0, 5, "invalid number of optional arguments (0 to 5)"
	};
	unsigned int argc;
	const char *arg;
	int ret;

	if (!as->argc)
		return 0;
	ret = dm_read_arg_group(&opt_args, as, &argc, error);
	if (ret)
		return ret;

	while (argc) {
		arg = dm_shift_arg(as);
		argc--;
		if (!strcasecmp(arg, "offset") || !strcasecmp(arg, "size")) {
			bool is_offset = !strcasecmp(arg, "offset");

			if (!argc) {
				*error = is_offset ? "offset needs a value in bytes" :
					 "size needs a value in bytes";
				return -EINVAL;
			}
			argc--;
			ret = is_offset ?
				raw_parse_u64(as, &args->offset,
					      &args->offset_given, "offset",
					      error) :
				raw_parse_u64(as, &args->size,
					      &args->size_given, "size", error);
			if (ret)
				return ret;
		} else if (!strcasecmp(arg, "read-only")) {
			if (args->read_only) {
				*error = "read-only given more than once";
				return -EINVAL;
			}
			args->read_only = true;
		} else {
			*error = "unknown optional argument (expected offset, size or read-only)";
			return -EINVAL;
		}
	}
	return 0;
}

static int raw_parse_args(struct dm_target *ti, unsigned int argc, char **argv,
			  struct raw_args *args)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	int ret;

	memset(args, 0, sizeof(*args));
	if (argc < 2) {
		ti->error = "expected <node_name> <path> [<#opt_args> <opt_args>...]";
		return -EINVAL;
	}
	args->node_name = dm_shift_arg(&as);
	args->path = dm_shift_arg(&as);

	if (vs_node_name_valid(args->node_name)) {
		ti->error = VS_NODE_NAME_RULES;
		return -EINVAL;
	}

	ret = raw_parse_opt_args(&as, args, &ti->error);
	if (ret)
		return ret;
	if (as.argc) {
		ti->error = "too many arguments";
		return -EINVAL;
	}

	if (args->offset & (SECTOR_SIZE - 1)) {
		ti->error = "offset must be a multiple of 512";
		return -EINVAL;
	}
	if (args->size_given) {
		if (!args->size) {
			ti->error = "size must be greater than zero";
			return -EINVAL;
		}
		if (args->size != (u64)ti->len << SECTOR_SHIFT) {
			ti->error = "size does not match the target length";
			return -EINVAL;
		}
	}
	return 0;
}

static int raw_check_geometry(struct dm_target *ti, struct raw_target *rt)
{
	u64 len = (u64)ti->len << SECTOR_SHIFT;
	struct vs_backend *be = &rt->be;

	if (rt->offset & (be->logical_block_size - 1)) {
		ti->error = "offset is not aligned to the child's logical block size";
		return -EINVAL;
	}
	if (len & (be->logical_block_size - 1)) {
		ti->error = "length is not aligned to the child's logical block size";
		return -EINVAL;
	}
	if (rt->offset >= be->size) {
		ti->error = "offset is beyond the end of the child";
		return -EINVAL;
	}
	if (len > be->size - rt->offset) {
		ti->error = "offset + size is beyond the end of the child";
		return -EINVAL;
	}
	return 0;
}

static int raw_init_queues(struct raw_target *rt)
{
	int cpu;

	rt->wq = alloc_workqueue("vstorage-raw/%s",
				 WQ_UNBOUND | WQ_MEM_RECLAIM, 0,
				 rt->node.name);
	if (!rt->wq)
		return -ENOMEM;
	rt->queues = alloc_percpu(struct raw_queue);
	if (!rt->queues) {
		destroy_workqueue(rt->wq);
		return -ENOMEM;
	}
	for_each_possible_cpu(cpu) {
		struct raw_queue *q = per_cpu_ptr(rt->queues, cpu);

		vs_bio_queue_init(&q->bq, raw_work);
		q->rt = rt;
	}
	return 0;
}

static void raw_free_queues(struct raw_target *rt)
{
	if (rt->wq)
		destroy_workqueue(rt->wq);
	free_percpu(rt->queues);
}

static const struct vs_node_ops raw_node_ops;

static int raw_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct raw_target *rt;
	struct raw_args args;
	bool writable;
	int ret;

	ret = raw_parse_args(ti, argc, argv, &args);
	if (ret)
		return ret;

	rt = kzalloc(sizeof(*rt), GFP_KERNEL);
	if (!rt) {
		ti->error = "cannot allocate target";
		return -ENOMEM;
	}
	strscpy(rt->node.name, args.node_name, sizeof(rt->node.name));
	rt->offset = args.offset;
	rt->size_given = args.size_given;
	rt->ro_opt = args.read_only;
	rt->path = kstrdup(args.path, GFP_KERNEL);
	if (!rt->path) {
		ti->error = "cannot allocate target";
		ret = -ENOMEM;
		goto out_free_rt;
	}

	writable = !args.read_only &&
		   (dm_table_get_mode(ti->table) & FMODE_WRITE);
	ret = vs_backend_open(ti, rt->path, writable, &rt->be);
	if (ret)
		goto out_free_path;

	ret = raw_check_geometry(ti, rt);
	if (ret)
		goto out_close;

	if (rt->be.file) {
		ret = raw_init_queues(rt);
		if (ret) {
			ti->error = "cannot allocate workqueue";
			goto out_close;
		}
		ti->per_io_data_size = sizeof(struct raw_io);
		ti->discards_supported = true;
		ti->flush_supported = true;
	}

	rt->node.driver = "raw";
	rt->node.ops = &raw_node_ops;
	rt->node.read_only = !writable;
	rt->node.children[0] = (struct vs_child) {
		.role = "file",
		.path = rt->path,
		.dev = vs_backend_devt(&rt->be),
	};
	rt->node.nr_children = 1;
	ret = vs_node_register(&rt->node, ti, &ti->error);
	if (ret)
		goto out_queues;

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->private = rt;
	return 0;

out_queues:
	raw_free_queues(rt);
out_close:
	vs_backend_close(ti, &rt->be);
out_free_path:
	kfree(rt->path);
out_free_rt:
	kfree(rt);
	return ret;
}

static void raw_dtr(struct dm_target *ti)
{
	struct raw_target *rt = ti->private;

	vs_node_unregister(&rt->node);
	raw_free_queues(rt);
	vs_backend_close(ti, &rt->be);
	kfree(rt->path);
	kfree(rt);
}

/* Never serve while another device serves the same node. */
static int raw_preresume(struct dm_target *ti)
{
	struct raw_target *rt = ti->private;

	return vs_node_may_resume(&rt->node);
}

static void raw_resume(struct dm_target *ti)
{
	struct raw_target *rt = ti->private;

	vs_node_activate(&rt->node);
}

/*
 * Status (INFO):
 *   <node_name> <file|blkdev> <read_ios> <read_bytes> <write_ios>
 *   <write_bytes> <flush_ios> <discard_ios> <errors>
 */
static void raw_status(struct dm_target *ti, status_type_t type,
		       unsigned int status_flags, char *result,
		       unsigned int maxlen)
{
	struct raw_target *rt = ti->private;
	unsigned int sz = 0, nr_opts;
	struct vs_stats s;

	switch (type) {
	case STATUSTYPE_INFO:
		vs_node_stats_sum(&rt->node, &s);
		DMEMIT("%s %s %llu %llu %llu %llu %llu %llu %llu", rt->node.name,
		       rt->be.file ? "file" : "blkdev", s.rd_ios, s.rd_bytes,
		       s.wr_ios, s.wr_bytes, s.flush_ios, s.discard_ios,
		       s.errors);
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s ", rt->node.name);
		vs_dmemit_escaped(rt->path, result, &sz, maxlen);
		nr_opts = (rt->offset ? 2 : 0) + (rt->size_given ? 2 : 0) +
			  (rt->ro_opt ? 1 : 0);
		if (nr_opts)
			DMEMIT(" %u", nr_opts);
		if (rt->offset)
			DMEMIT(" offset %llu", rt->offset);
		if (rt->size_given)
			DMEMIT(" size %llu", (u64)ti->len << SECTOR_SHIFT);
		if (rt->ro_opt)
			DMEMIT(" read-only");
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",node_name=%s,offset=%llu,size=%llu,read_only=%c;",
		       rt->node.name, rt->offset, (u64)ti->len << SECTOR_SHIFT,
		       rt->node.read_only ? 'y' : 'n');
		break;
	}
}

static int raw_iterate_devices(struct dm_target *ti,
			       iterate_devices_callout_fn fn, void *data)
{
	struct raw_target *rt = ti->private;

	/*
	 * A file child has no dm_dev; returning 0 lets device-mapper call
	 * io_hints and accept write-zeroes, which we implement ourselves.
	 */
	if (!rt->be.dev)
		return 0;
	return fn(ti, rt->be.dev, rt->offset >> SECTOR_SHIFT, ti->len, data);
}

static void raw_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct raw_target *rt = ti->private;

	vs_backend_io_hints(&rt->be, limits);
}

static int raw_block_status(struct vs_node *node, u64 offset, u64 length,
			    struct vs_extent *ext)
{
	struct raw_target *rt = container_of(node, struct raw_target, node);

	if (rt->be.dev) {
		ext->flags = VS_EXT_BELOW;
		ext->below_dev = vs_backend_devt(&rt->be);
		ext->below_offset = rt->offset + offset;
		ext->length = length;
		return 0;
	}
	return vs_backend_block_status(&rt->be, rt->offset + offset, length,
				       ext);
}

static int raw_fill_info(struct vs_node *node, struct sk_buff *skb)
{
	struct raw_target *rt = container_of(node, struct raw_target, node);

	if (nla_put_string(skb, VSTORAGE_INFO_FORMAT, "raw") ||
	    nla_put_u64_64bit(skb, VSTORAGE_INFO_OFFSET, rt->offset,
			      VSTORAGE_INFO_PAD) ||
	    nla_put_u8(skb, VSTORAGE_INFO_DIRECT_IO, !!rt->be.file))
		return -EMSGSIZE;
	return 0;
}

static const struct vs_node_ops raw_node_ops = {
	.block_status = raw_block_status,
	.fill_info = raw_fill_info,
};

static struct target_type raw_target_type = {
	.name = VSTORAGE_DM_TARGET_PREFIX "raw",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = raw_ctr,
	.dtr = raw_dtr,
	.map = raw_map,
	.end_io = raw_end_io,
	.preresume = raw_preresume,
	.resume = raw_resume,
	.status = raw_status,
	.iterate_devices = raw_iterate_devices,
	.io_hints = raw_io_hints,
};

static int __init raw_init(void)
{
	return dm_register_target(&raw_target_type);
}

static void __exit raw_exit(void)
{
	dm_unregister_target(&raw_target_type);
}

module_init(raw_init);
module_exit(raw_exit);

MODULE_DESCRIPTION("vstorage raw format target: files and block devices as device-mapper devices");
MODULE_AUTHOR("vstorage developers");
MODULE_LICENSE("GPL");
MODULE_ALIAS("dm-vstorage-raw");
