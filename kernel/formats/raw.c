// SPDX-License-Identifier: GPL-2.0
/*
 * vstorage-raw: QEMU's raw format as a device-mapper target.
 *
 * Over a block device the target remaps bios, like dm-linear; over a
 * regular file the core's child object does the file I/O (backend.c). The
 * format adds nothing but an offset and a size.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <net/netlink.h>

#include "vstorage.h"

#define DM_MSG_PREFIX "vstorage-raw"

/* The optional table-line arguments (raw_opt_defs). */
struct raw_opts {
	u64 offset;
	u64 size;			/* 0: not given */
	bool read_only;
	struct vs_backend_opts be;
};

struct raw_target {
	struct vs_node node;
	struct vs_backend be;
	char *path;
	struct raw_opts opt;
};

static int raw_map(struct dm_target *ti, struct bio *bio)
{
	struct raw_target *rt = ti->private;
	u64 pos = rt->opt.offset +
		((u64)dm_target_offset(ti, bio->bi_iter.bi_sector) << SECTOR_SHIFT);

	vs_bitmap_map(ti, bio);
	if (rt->node.read_only && op_is_write(bio_op(bio)) &&
	    bio->bi_iter.bi_size)
		return DM_MAPIO_KILL;

	vs_backend_prepare_bio(&rt->be, bio);
	vs_node_account(&rt->node, bio);
	return vs_backend_map(&rt->be, bio, pos, dm_per_bio_data(bio,
					sizeof(struct vs_backend_io)));
}

static int raw_end_io(struct dm_target *ti, struct bio *bio,
		      blk_status_t *error)
{
	struct raw_target *rt = ti->private;

	vs_node_account_error(&rt->node, bio, *error);
	vs_bitmap_end_io(&rt->node, bio);
	return DM_ENDIO_DONE;
}

/*
 * Table line (Documentation/targets/raw.rst):
 *
 *   <node_name> <path> [<#opt_args> <opt_args>...]
 *
 *   node_name:  QEMU node name: [A-Za-z][A-Za-z0-9_.-]{0,30}
 *   path:       absolute path of a regular file or block device, or
 *               MAJOR:MINOR of a block device
 */
static const struct vs_opt raw_opt_defs[] = {
	VS_OPT_DEF_U64("offset", struct raw_opts, offset, 0, U64_MAX, 0,
		       "offset needs a value in bytes",
		       "offset given more than once",
		       "where the image starts inside the child"),
	VS_OPT_DEF_U64("size", struct raw_opts, size, 1, U64_MAX, 0,
		       "size must be greater than zero (bytes)",
		       "size given more than once",
		       "must equal the target length in bytes"),
	VS_OPT_DEF_FLAG("read-only", struct raw_opts, read_only,
			"read-only given more than once",
			"never write to the child"),
};

static const struct vs_opt_set raw_opt_set = {
	.opts = raw_opt_defs,
	.nr = ARRAY_SIZE(raw_opt_defs),
	.has_backend = true,
	.backend = offsetof(struct raw_opts, be),
};

static int raw_check_args(struct dm_target *ti, const struct raw_opts *o)
{
	if (o->offset & (SECTOR_SIZE - 1)) {
		ti->error = "offset must be a multiple of 512";
		return -EINVAL;
	}
	if (o->size && o->size != (u64)ti->len << SECTOR_SHIFT) {
		ti->error = "size does not match the target length";
		return -EINVAL;
	}
	return 0;
}

static int raw_check_geometry(struct dm_target *ti, struct raw_target *rt)
{
	u64 len = (u64)ti->len << SECTOR_SHIFT;
	struct vs_backend *be = &rt->be;

	if (rt->opt.offset & (be->logical_block_size - 1)) {
		ti->error = "offset is not aligned to the child's logical block size";
		return -EINVAL;
	}
	if (len & (be->logical_block_size - 1)) {
		ti->error = "length is not aligned to the child's logical block size";
		return -EINVAL;
	}
	if (rt->opt.offset >= be->size) {
		ti->error = "offset is beyond the end of the child";
		return -EINVAL;
	}
	if (len > be->size - rt->opt.offset) {
		ti->error = "offset + size is beyond the end of the child";
		return -EINVAL;
	}
	return 0;
}

static const struct vs_node_ops raw_node_ops;

static int raw_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	const char *node_name, *path;
	struct raw_target *rt;
	struct raw_opts opt;
	bool writable;
	int ret;

	ret = vs_target_parse(ti, argc, argv, &raw_opt_set, &opt,
			      &node_name, &path);
	if (ret)
		return ret;
	ret = raw_check_args(ti, &opt);
	if (ret)
		return ret;

	rt = kzalloc(sizeof(*rt), GFP_KERNEL);
	if (!rt) {
		ti->error = "cannot allocate target";
		return -ENOMEM;
	}
	strscpy(rt->node.name, node_name, sizeof(rt->node.name));
	rt->opt = opt;
	rt->path = kstrdup(path, GFP_KERNEL);
	if (!rt->path) {
		ti->error = "cannot allocate target";
		ret = -ENOMEM;
		goto out_free_rt;
	}

	writable = !opt.read_only &&
		   (dm_table_get_mode(ti->table) & FMODE_WRITE);
	ret = vs_backend_open(&rt->be, rt->path, writable, &opt.be,
			      rt->node.name, ti, &ti->error);
	if (ret)
		goto out_free_path;

	ret = raw_check_geometry(ti, rt);
	if (ret)
		goto out_close;

	ti->per_io_data_size = VS_NODE_IO_SIZE(sizeof(struct vs_backend_io));

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
		goto out_close;

	vs_backend_set_caps(&rt->be, ti, false);
	ti->num_discard_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->private = rt;
	return 0;

out_close:
	vs_backend_close(&rt->be);
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
	vs_backend_close(&rt->be);
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
	unsigned int sz = 0;
	struct vs_stats s;

	switch (type) {
	case STATUSTYPE_INFO:
		vs_node_stats_sum(&rt->node, &s);
		DMEMIT("%s %s %llu %llu %llu %llu %llu %llu %llu", rt->node.name,
		       vs_backend_is_file(&rt->be) ? "file" : "blkdev",
		       s.rd_ios, s.rd_bytes, s.wr_ios, s.wr_bytes, s.flush_ios,
		       s.discard_ios, s.errors);
		break;
	case STATUSTYPE_TABLE:
		vs_target_emit_table(rt->node.name, rt->path,
				     &raw_opt_set, &rt->opt,
				     result, &sz, maxlen);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",node_name=%s,offset=%llu,size=%llu,read_only=%c;",
		       rt->node.name, rt->opt.offset, (u64)ti->len << SECTOR_SHIFT,
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
	if (!rt->be.dm_dev)
		return 0;
	return fn(ti, rt->be.dm_dev, rt->opt.offset >> SECTOR_SHIFT, ti->len,
		  data);
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

	return vs_backend_block_status(&rt->be, rt->opt.offset + offset, length,
				       ext);
}

static int raw_fill_info(struct vs_node *node, struct sk_buff *skb)
{
	struct raw_target *rt = container_of(node, struct raw_target, node);

	if (nla_put_string(skb, VSTORAGE_INFO_FORMAT, "raw") ||
	    nla_put_u64_64bit(skb, VSTORAGE_INFO_OFFSET, rt->opt.offset,
			      VSTORAGE_INFO_PAD) ||
	    nla_put_u8(skb, VSTORAGE_INFO_DIRECT_IO, vs_backend_is_file(&rt->be)))
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
