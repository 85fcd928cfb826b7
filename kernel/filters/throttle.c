// SPDX-License-Identifier: GPL-2.0
/*
 * vstorage-thr: QEMU's throttle filter driver (block/throttle.c) as a
 * device-mapper target. It stands on another node's device and lets its
 * bios through at the pace of a throttle group (tgroup.c), which it may
 * share with the throttle nodes of other disks.
 *
 * Path of a bio: map() remaps it to the child device and asks the group;
 * a bio the limits allow goes down at once (DM_MAPIO_REMAPPED), any other
 * waits in this node's FIFO in the group and is submitted later by the
 * group's dispatch work (dm_submit_bio_remap). Flushes pass untouched;
 * discard and write-zeroes count as writes of their length, as in QEMU.
 * A suspend first releases the waiting bios (presuspend), so suspends,
 * reloads and graph changes never wait on a limit.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <net/netlink.h>

#include "vstorage.h"

#define DM_MSG_PREFIX "vstorage-thr"

struct thr_opts {
	const char *group;		/* points into argv until copied */
};

struct thr_target {
	struct vs_node node;
	struct dm_dev *child;
	char *path;
	struct thr_opts opt;		/* .group: our copy */
	struct vs_tgroup_member *member;
};

static int thr_map(struct dm_target *ti, struct bio *bio)
{
	struct thr_target *tt = ti->private;

	vs_bitmap_map(ti, bio);
	if (tt->node.read_only && op_is_write(bio_op(bio)) &&
	    bio->bi_iter.bi_size)
		return DM_MAPIO_KILL;

	bio_set_dev(bio, tt->child->bdev);
	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	vs_node_account(&tt->node, bio);
	return vs_tgroup_throttle(tt->member, bio) ? DM_MAPIO_REMAPPED :
						     DM_MAPIO_SUBMITTED;
}

static int thr_end_io(struct dm_target *ti, struct bio *bio,
		      blk_status_t *error)
{
	struct thr_target *tt = ti->private;

	vs_node_account_error(&tt->node, bio, *error);
	vs_bitmap_end_io(&tt->node, bio);
	return DM_ENDIO_DONE;
}

/*
 * Table line (Documentation/targets/throttle.rst):
 *
 *   <node_name> <child> 2 throttle-group <group>
 *
 *   child:  the block device of the node below (a path or MAJOR:MINOR)
 *   group:  a throttle group that exists (vstoragectl throttle-group add)
 */
static const struct vs_opt thr_opt_defs[] = {
	VS_OPT_DEF_STR("throttle-group", struct thr_opts, group,
		       "throttle-group needs a group name",
		       "throttle-group given more than once",
		       "the throttle group whose limits apply (required)"),
};

static const struct vs_opt_set thr_opt_set = {
	.opts = thr_opt_defs,
	.nr = ARRAY_SIZE(thr_opt_defs),
};

static const struct vs_node_ops thr_node_ops;

static int thr_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	const char *node_name, *path;
	struct thr_target *tt;
	struct thr_opts opt;
	int ret;

	ret = vs_target_parse(ti, argc, argv, &thr_opt_set, &opt, &node_name,
			      &path);
	if (ret)
		return ret;
	if (!opt.group) {
		ti->error = "throttle-group <group> is required";
		return -EINVAL;
	}
	if (!vs_node_name_valid(opt.group)) {
		ti->error = "invalid throttle group name (node-name rules)";
		return -EINVAL;
	}

	tt = kzalloc(sizeof(*tt), GFP_KERNEL);
	if (!tt) {
		ti->error = "cannot allocate target";
		return -ENOMEM;
	}
	strscpy(tt->node.name, node_name, sizeof(tt->node.name));
	tt->path = kstrdup(path, GFP_KERNEL);
	tt->opt.group = kstrdup(opt.group, GFP_KERNEL);
	if (!tt->path || !tt->opt.group) {
		ti->error = "cannot allocate target";
		ret = -ENOMEM;
		goto out_free;
	}

	ret = dm_get_device(ti, tt->path, dm_table_get_mode(ti->table),
			    &tt->child);
	if (ret) {
		ti->error = "cannot open the child device";
		goto out_free;
	}
	if (ti->len > bdev_nr_sectors(tt->child->bdev)) {
		ti->error = "the target is longer than the child device";
		ret = -EINVAL;
		goto out_put_dev;
	}

	tt->member = vs_tgroup_join(tt->opt.group, tt->node.name, &ti->error);
	if (IS_ERR(tt->member)) {
		ret = PTR_ERR(tt->member);
		goto out_put_dev;
	}

	tt->node.driver = "throttle";
	tt->node.ops = &thr_node_ops;
	tt->node.read_only = !(dm_table_get_mode(ti->table) & FMODE_WRITE);
	tt->node.children[0] = (struct vs_child) {
		.role = "file",
		.path = tt->path,
		.dev = tt->child->bdev->bd_dev,
	};
	tt->node.nr_children = 1;
	ret = vs_node_register(&tt->node, ti, &ti->error);
	if (ret)
		goto out_leave;

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = VS_NODE_IO_SIZE(0);
	/* bios that waited are submitted with dm_submit_bio_remap() */
	ti->accounts_remapped_io = true;
	ti->private = tt;
	return 0;

out_leave:
	vs_tgroup_leave(tt->member);
out_put_dev:
	dm_put_device(ti, tt->child);
out_free:
	kfree(tt->opt.group);
	kfree(tt->path);
	kfree(tt);
	return ret;
}

static void thr_dtr(struct dm_target *ti)
{
	struct thr_target *tt = ti->private;

	vs_node_unregister(&tt->node);
	vs_tgroup_leave(tt->member);
	dm_put_device(ti, tt->child);
	kfree(tt->opt.group);
	kfree(tt->path);
	kfree(tt);
}

/* A suspend must not wait on a limit: the waiting bios go down now. */
static void thr_presuspend(struct dm_target *ti)
{
	struct thr_target *tt = ti->private;

	vs_tgroup_member_bypass(tt->member, true);
}

static void thr_presuspend_undo(struct dm_target *ti)
{
	struct thr_target *tt = ti->private;

	vs_tgroup_member_bypass(tt->member, false);
}

static int thr_preresume(struct dm_target *ti)
{
	struct thr_target *tt = ti->private;

	return vs_node_may_resume(&tt->node);
}

static void thr_resume(struct dm_target *ti)
{
	struct thr_target *tt = ti->private;

	vs_tgroup_member_bypass(tt->member, false);
	vs_node_activate(&tt->node);
}

/*
 * Status (INFO):
 *   <node_name> <group> <read_ios> <read_bytes> <write_ios> <write_bytes>
 *   <flush_ios> <discard_ios> <errors>
 */
static void thr_status(struct dm_target *ti, status_type_t type,
		       unsigned int status_flags, char *result,
		       unsigned int maxlen)
{
	struct thr_target *tt = ti->private;
	unsigned int sz = 0;
	struct vs_stats s;

	switch (type) {
	case STATUSTYPE_INFO:
		vs_node_stats_sum(&tt->node, &s);
		DMEMIT("%s %s %llu %llu %llu %llu %llu %llu %llu",
		       tt->node.name, tt->opt.group, s.rd_ios, s.rd_bytes,
		       s.wr_ios, s.wr_bytes, s.flush_ios, s.discard_ios,
		       s.errors);
		break;
	case STATUSTYPE_TABLE:
		vs_target_emit_table(tt->node.name, tt->path, &thr_opt_set,
				     &tt->opt, result, &sz, maxlen);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",node_name=%s,throttle_group=%s;", tt->node.name,
		       tt->opt.group);
		break;
	}
}

static int thr_iterate_devices(struct dm_target *ti,
			       iterate_devices_callout_fn fn, void *data)
{
	struct thr_target *tt = ti->private;

	return fn(ti, tt->child, 0, ti->len, data);
}

/* A filter has no data of its own: every query goes to the node below. */
static int thr_block_status(struct vs_node *node, u64 offset, u64 length,
			    struct vs_extent *ext)
{
	struct thr_target *tt = container_of(node, struct thr_target, node);

	return vs_extent_below(ext, tt->child->bdev->bd_dev, offset, length);
}

static int thr_fill_info(struct vs_node *node, struct sk_buff *skb)
{
	struct thr_target *tt = container_of(node, struct thr_target, node);

	if (nla_put_string(skb, VSTORAGE_INFO_THROTTLE_GROUP, tt->opt.group))
		return -EMSGSIZE;
	return 0;
}

static const struct vs_node_ops thr_node_ops = {
	.block_status = thr_block_status,
	.fill_info = thr_fill_info,
};

static struct target_type thr_target_type = {
	.name = VSTORAGE_DM_TARGET_PREFIX "thr",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = thr_ctr,
	.dtr = thr_dtr,
	.map = thr_map,
	.end_io = thr_end_io,
	.presuspend = thr_presuspend,
	.presuspend_undo = thr_presuspend_undo,
	.preresume = thr_preresume,
	.resume = thr_resume,
	.status = thr_status,
	.iterate_devices = thr_iterate_devices,
};

static int __init thr_init(void)
{
	return dm_register_target(&thr_target_type);
}

static void __exit thr_exit(void)
{
	dm_unregister_target(&thr_target_type);
}

module_init(thr_init);
module_exit(thr_exit);

MODULE_DESCRIPTION("vstorage throttle filter: QEMU's I/O limits and throttle groups as a device-mapper target");
MODULE_AUTHOR("vstorage developers");
MODULE_LICENSE("GPL");
MODULE_ALIAS("dm-vstorage-throttle");
/* what device-mapper asks for when a table names the target */
MODULE_ALIAS("dm-vstorage-thr");
