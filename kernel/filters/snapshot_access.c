// SPDX-License-Identifier: GPL-2.0
/*
 * vstorage-access: QEMU's snapshot-access driver (block/snapshot-access.c)
 * as a device-mapper target, in the copy-before-write module. It stands on
 * a copy-before-write node and reads, read-only, the point in time that
 * the filter keeps: image fleecing (Documentation/jobs.rst, "Backup").
 *
 * The fleecing target is a qcow2 overlay whose backing is the node below
 * the filter: what the filter copied reads from the overlay's clusters,
 * the rest from the live node through the backing. A read of the overlay
 * may therefore find a cluster unallocated, lose the race against the
 * copy and a workload write, and reach the live node after the write:
 * new data in the snapshot. This target closes that window: it reads the
 * overlay, but first registers the read with the filter
 * (cbw_read_begin()) when a chunk it covers is still to copy, and a write
 * to such a chunk waits for the read's end. QEMU's snapshot-access does the
 * same through the filter's snapshot API (cbw_snapshot_read_lock()).
 */
#include <linux/device-mapper.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "vstorage.h"
#include "cbw.h"

#define DM_MSG_PREFIX "vstorage-access"

struct access_target {
	struct vs_node node;
	struct dm_dev *cbw_dev;		/* the copy-before-write node's device */
	struct dm_dev *target_dev;	/* the backup target: reads go there */
	char *path;
	struct cbw_state *st;
};

/* Per bio (ti->per_io_data_size). */
struct access_io {
	struct cbw_read rd;
	bool held;			/* rd is registered with the filter */
};

static int access_map(struct dm_target *ti, struct bio *bio)
{
	struct access_target *at = ti->private;
	struct access_io *io = dm_per_bio_data(bio, sizeof(struct access_io));

	io->held = false;
	/* a read-only table does not stop writes in 6.1: only a warning */
	if (op_is_write(bio_op(bio)) && bio_sectors(bio))
		return DM_MAPIO_KILL;
	bio_set_dev(bio, at->target_dev->bdev);
	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	vs_node_account(&at->node, bio);
	if (bio_op(bio) == REQ_OP_READ && bio_sectors(bio))
		io->held = cbw_read_begin(at->st, &io->rd,
					  (u64)bio->bi_iter.bi_sector <<
					  SECTOR_SHIFT, bio->bi_iter.bi_size);
	return DM_MAPIO_REMAPPED;
}

static int access_end_io(struct dm_target *ti, struct bio *bio,
			 blk_status_t *error)
{
	struct access_target *at = ti->private;
	struct access_io *io = dm_per_bio_data(bio, sizeof(struct access_io));

	vs_node_account_error(&at->node, bio, *error);
	if (io->held) {
		io->held = false;
		cbw_read_end(at->st, &io->rd);
	}
	return DM_ENDIO_DONE;
}

/*
 * Table line (Documentation/targets/snapshot-access.rst):
 *
 *   <node_name> <cbw_device>
 *
 *   cbw_device: the device of a copy-before-write node
 */
static const struct vs_opt_set access_opt_set = { .nr = 0 };

static const struct vs_node_ops access_node_ops;

/* The copy-before-write state behind device DEV, held; or an error. */
static struct cbw_state *access_find_cbw(struct dm_dev *dev, char **error)
{
	struct vs_node *node = vs_node_get_by_dev(dev->bdev->bd_dev);
	struct cbw_state *st;

	if (!node) {
		*error = "the device is no vstorage node";
		return NULL;
	}
	st = cbw_state_hold(node);
	vs_node_put(node);
	if (!st)
		*error = "snapshot-access stands on a copy-before-write node";
	return st;
}

static int access_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	const char *node_name, *path;
	struct access_target *at;
	char target[24];
	dev_t tdev;
	int ret;

	ret = vs_target_parse(ti, argc, argv, &access_opt_set, NULL,
			      &node_name, &path);
	if (ret)
		return ret;
	if (dm_table_get_mode(ti->table) & FMODE_WRITE) {
		ti->error = "snapshot-access is read-only: the table must be read-only";
		return -EINVAL;
	}
	at = kzalloc(sizeof(*at), GFP_KERNEL);
	if (!at) {
		ti->error = "cannot allocate target";
		return -ENOMEM;
	}
	strscpy(at->node.name, node_name, sizeof(at->node.name));
	at->path = kstrdup(path, GFP_KERNEL);
	if (!at->path) {
		ti->error = "cannot allocate target";
		ret = -ENOMEM;
		goto out_free;
	}
	ret = dm_get_device(ti, at->path, FMODE_READ, &at->cbw_dev);
	if (ret) {
		ti->error = "cannot open the copy-before-write device";
		goto out_free;
	}
	at->st = access_find_cbw(at->cbw_dev, &ti->error);
	if (!at->st) {
		ret = -EINVAL;
		goto out_put_cbw;
	}
	if (((u64)ti->len << SECTOR_SHIFT) > cbw_state_size(at->st)) {
		ti->error = "the target is longer than the copy-before-write node";
		ret = -EINVAL;
		goto out_put_state;
	}
	tdev = cbw_state_target_dev(at->st);
	snprintf(target, sizeof(target), "%u:%u", MAJOR(tdev), MINOR(tdev));
	ret = dm_get_device(ti, target, FMODE_READ, &at->target_dev);
	if (ret) {
		ti->error = "cannot open the backup target's device";
		goto out_put_state;
	}

	at->node.driver = "snapshot-access";
	at->node.ops = &access_node_ops;
	at->node.read_only = true;
	at->node.children[0] = (struct vs_child) {
		.role = "file",
		.path = at->path,
		.dev = at->cbw_dev->bdev->bd_dev,
	};
	at->node.nr_children = 1;
	ret = vs_node_register(&at->node, ti, &ti->error);
	if (ret)
		goto out_put_target;

	ti->num_flush_bios = 1;
	ti->per_io_data_size = sizeof(struct access_io);
	ti->private = at;
	return 0;

out_put_target:
	dm_put_device(ti, at->target_dev);
out_put_state:
	cbw_state_put(at->st);
out_put_cbw:
	dm_put_device(ti, at->cbw_dev);
out_free:
	kfree(at->path);
	kfree(at);
	return ret;
}

static void access_dtr(struct dm_target *ti)
{
	struct access_target *at = ti->private;

	vs_node_unregister(&at->node);
	dm_put_device(ti, at->target_dev);
	cbw_state_put(at->st);
	dm_put_device(ti, at->cbw_dev);
	kfree(at->path);
	kfree(at);
}

static int access_preresume(struct dm_target *ti)
{
	struct access_target *at = ti->private;

	return vs_node_may_resume(&at->node);
}

static void access_resume(struct dm_target *ti)
{
	struct access_target *at = ti->private;

	vs_node_activate(&at->node);
}

/*
 * Status (INFO):
 *   <node_name> <read_ios> <read_bytes> <flush_ios> <errors> <held_writes>
 * held_writes: workload writes that waited for a read of the snapshot
 * (all of the filter's, since its state was made).
 */
static void access_status(struct dm_target *ti, status_type_t type,
			  unsigned int status_flags, char *result,
			  unsigned int maxlen)
{
	struct access_target *at = ti->private;
	unsigned int sz = 0;
	struct vs_stats s;

	switch (type) {
	case STATUSTYPE_INFO:
		vs_node_stats_sum(&at->node, &s);
		DMEMIT("%s %llu %llu %llu %llu %llu", at->node.name, s.rd_ios,
		       s.rd_bytes, s.flush_ios, s.errors,
		       cbw_state_held_writes(at->st));
		break;
	case STATUSTYPE_TABLE:
		vs_target_emit_table(at->node.name, at->path, &access_opt_set,
				     NULL, result, &sz, maxlen);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",node_name=%s;", at->node.name);
		break;
	}
}

/* The queue limits are the target's: every read goes there. */
static int access_iterate_devices(struct dm_target *ti,
				  iterate_devices_callout_fn fn, void *data)
{
	struct access_target *at = ti->private;

	return fn(ti, at->target_dev, 0, ti->len, data);
}

/* The snapshot's allocation is the target's (and its backing's) */
static int access_block_status(struct vs_node *node, u64 offset, u64 length,
			       struct vs_extent *ext)
{
	struct access_target *at = container_of(node, struct access_target,
						node);

	return vs_extent_below(ext, at->target_dev->bdev->bd_dev, offset,
			       length);
}

static const struct vs_node_ops access_node_ops = {
	.block_status = access_block_status,
};

static struct target_type access_target_type = {
	.name = VSTORAGE_DM_TARGET_PREFIX "access",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = access_ctr,
	.dtr = access_dtr,
	.map = access_map,
	.end_io = access_end_io,
	.preresume = access_preresume,
	.resume = access_resume,
	.status = access_status,
	.iterate_devices = access_iterate_devices,
};

int snapshot_access_register(void)
{
	return dm_register_target(&access_target_type);
}

void snapshot_access_unregister(void)
{
	dm_unregister_target(&access_target_type);
}
