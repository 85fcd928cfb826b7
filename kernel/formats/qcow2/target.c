// SPDX-License-Identifier: GPL-2.0
/*
 * vstorage-qcow2: the device-mapper target (table line, hooks, status,
 * messages) and the node operations.
 */
#include <linux/module.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <net/netlink.h>

#include "qcow2.h"

#define DM_MSG_PREFIX "vstorage-qcow2"

/*
 * Table line (Documentation/targets/qcow2.rst):
 *
 *   <node_name> <image_path> [<#opt_args> <opt_args>...]
 *
 *   image_path: absolute path of the image file or block device, or
 *               MAJOR:MINOR
 */
static const char * const q2_overlap_names[] = {
	[Q2_OVERLAP_NONE] = "none", [Q2_OVERLAP_CONSTANT] = "constant",
	[Q2_OVERLAP_CACHED] = "cached", [Q2_OVERLAP_ALL] = "all", NULL
};

/* Q2_LAZY_IMAGE has no name: it is what not giving the option means. */
static const char * const q2_lazy_names[] = {
	[Q2_LAZY_OFF] = "off", [Q2_LAZY_ON] = "on", [Q2_LAZY_IMAGE] = NULL
};

static const char * const q2_discard_names[] = {
	[Q2_DISCARD_IGNORE] = "ignore", [Q2_DISCARD_UNMAP] = "unmap", NULL
};

static const struct vs_opt q2_opt_defs[] = {
	VS_OPT_DEF_STR("backing", struct q2_options, backing,
		       "backing needs a device or none",
		       "backing given more than once",
		       "the backing node's device, or none (needed with a backing file)"),
	VS_OPT_DEF_FLAG("read-only", struct q2_options, read_only,
			"read-only given more than once",
			"never write to the image"),
	VS_OPT_DEF_U64("l2-cache-size", struct q2_options, l2_cache_size,
		       0, U64_MAX, 0, "l2-cache-size needs a value in bytes",
		       "l2-cache-size given more than once",
		       "bytes of L2 tables cached (0: QEMU's default)"),
	VS_OPT_DEF_U64("refcount-cache-size", struct q2_options,
		       refcount_cache_size, 0, U64_MAX, 0,
		       "refcount-cache-size needs a value in bytes",
		       "refcount-cache-size given more than once",
		       "bytes of refcount blocks cached (0: QEMU's default)"),
	VS_OPT_DEF_U32("cache-clean-interval", struct q2_options,
		       cache_clean_interval, 0, U32_MAX, 0,
		       "cache-clean-interval needs seconds (at most 4294967295)",
		       "cache-clean-interval given more than once",
		       "seconds after which unused cached tables are dropped (0: never)"),
	VS_OPT_DEF_ENUM("lazy-refcounts", struct q2_options, lazy,
			q2_lazy_names, Q2_LAZY_IMAGE,
			"lazy-refcounts needs on or off",
			"lazy-refcounts given more than once",
			"refcounts written only at a clean close (default: the image's bit)"),
	VS_OPT_DEF_ENUM("discard", struct q2_options, discard,
			q2_discard_names, Q2_DISCARD_IGNORE,
			"discard needs ignore or unmap",
			"discard given more than once",
			"unmap: a discard frees clusters; ignore: it is dropped"),
	VS_OPT_DEF_ENUM("overlap-check", struct q2_options, overlap,
			q2_overlap_names, Q2_OVERLAP_CACHED,
			"overlap-check needs none, constant, cached or all",
			"overlap-check given more than once",
			"which metadata writes are checked against"),
};

static const struct vs_opt_set q2_opt_set = {
	.opts = q2_opt_defs,
	.nr = ARRAY_SIZE(q2_opt_defs),
	.has_backend = true,
	.backend = offsetof(struct q2_options, be),
};

/*
 * Parse the header and its extensions from the first LEN bytes of the
 * image; -ENODATA if they reach further.
 */
static int q2_parse_header(struct q2 *q, bool writable, size_t len,
			   u64 file_size, char **error)
{
	const char *reason = NULL;
	ssize_t n;
	void *buf;
	int ret;

	buf = kvmalloc(len, GFP_KERNEL);
	if (!buf) {
		*error = "cannot allocate header buffer";
		return -ENOMEM;
	}
	n = vs_backend_rw_kbuf(&q->be, ITER_DEST, buf, len, 0);
	if (n < 0) {
		*error = "cannot read the image header";
		ret = n;
		goto out;
	}
	ret = qcow2_header_parse(buf, len, file_size, &q->h, &reason);
	if (!ret)
		ret = qcow2_extensions_parse(buf, len, file_size, &q->h,
					     &q->ext, &reason);
	if (!ret)
		ret = qcow2_check_open(&q->h, &q->ext,
				       writable ? QCOW2_OPEN_WRITE : 0, &reason);
	if (ret)
		*error = (char *)(reason ?: "not a valid qcow2 image");
out:
	kvfree(buf);
	return ret;
}

/*
 * Read and validate the header and its extensions (ctr). They lie in the
 * first cluster: read its first 4 KiB, and the rest of it only if they
 * reach further, so that a bad sector in the unused rest of a big first
 * cluster does not stop the open.
 */
static int q2_read_header(struct q2 *q, bool writable, char **error)
{
	u64 file_size = vs_backend_current_size(&q->be);
	u32 lbs = q->be.logical_block_size;
	size_t first, all;
	int ret;

	if (file_size < 72) {
		*error = "image is too small for a qcow2 header";
		return -EINVAL;
	}
	first = round_up(min_t(u64, file_size, SZ_4K), lbs);
	ret = q2_parse_header(q, writable, first, file_size, error);
	if (ret == -ENODATA) {
		/* the header parser has read the cluster size by now */
		all = q->h.cluster_size ?: SZ_2M;
		all = round_up(min_t(u64, file_size, all), lbs);
		if (all > first)
			ret = q2_parse_header(q, writable, all, file_size, error);
	}
	if (ret)
		return ret;
	q->g = &q->h.g;
	q->virtual_size = q->h.size & ~(u64)(SECTOR_SIZE - 1);
	q->corrupt = q->h.corrupt;
	return 0;
}

static int q2_open_backing(struct dm_target *ti, struct q2 *q)
{
	if (q->opt.backing_none)
		return 0;
	if (!q->opt.backing) {
		if (!q->h.has_backing)
			return 0;
		ti->error = "image has a backing file: give backing <device> or backing none";
		return -EINVAL;
	}
	struct vs_backend_opts opts = VS_BACKEND_OPTS_DEFAULT;
	char *error;
	int ret;

	/* the backing node locks its own image */
	opts.locking = false;
	ret = vs_backend_open(&q->backing_be, q->backing_path, false, &opts,
			      q->node.name, ti, &error);
	if (!ret && vs_backend_is_file(&q->backing_be)) {
		vs_backend_close(&q->backing_be);
		ret = -ENOTBLK;
	}
	if (ret) {
		ti->error = "cannot open the backing device";
		return ret;
	}
	q->backing = &q->backing_be;
	q->backing_size = q->backing->size;
	return 0;
}

/*
 * lazy-refcounts defaults to the image's compatible bit, like QEMU; turning
 * it on sets the bit (version 3 only).
 */
static int q2_setup_lazy(struct q2 *q, bool writable, char **error)
{
	bool want = q->opt.lazy == Q2_LAZY_IMAGE ? q->h.lazy_refcounts :
		    q->opt.lazy == Q2_LAZY_ON;

	if (!want || !writable)
		return 0;
	if (q->h.version < 3) {
		*error = "lazy-refcounts needs a version 3 image (compat=1.1)";
		return -EINVAL;
	}
	q->lazy = true;
	if (!q->h.lazy_refcounts) {
		q->h.compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
		q->h.lazy_refcounts = true;
		if (q2_header_write_flush(q)) {
			*error = "cannot set the lazy refcounts bit";
			return -EIO;
		}
	}
	return 0;
}

/*
 * A reload's new instance, in preresume: the old instance may have
 * changed the header since the constructor read it (a grown refcount
 * table, the dirty or autoclear bits), so read it again. What the table
 * line was checked against must not have changed.
 */
static int q2_reload_header(struct q2 *q, char **error)
{
	u32 cluster_bits = q->h.cluster_bits;
	int ret;

	ret = q2_read_header(q, q->be.writable, error);
	if (ret)
		return ret;
	if (q->h.cluster_bits != cluster_bits ||
	    (u64)q->ti->len << SECTOR_SHIFT != q->virtual_size) {
		*error = "the image changed under the reload (size or cluster size)";
		return -EINVAL;
	}
	if (q->corrupt)
		WRITE_ONCE(q->node.read_only, true);
	return q2_setup_lazy(q, q->be.writable, error);
}

static const struct vs_node_ops q2_node_ops;

static void q2_clean_work(struct work_struct *work);

static int q2_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	const char *node_name, *path;
	struct q2_options opt;
	struct q2 *q;
	bool writable;
	int ret;

	ret = vs_target_parse(ti, argc, argv, &q2_opt_set, &opt,
			      &node_name, &path);
	if (ret)
		return ret;
	opt.backing_none = opt.backing && !strcasecmp(opt.backing, "none");

	q = kzalloc(sizeof(*q), GFP_KERNEL);
	if (!q) {
		ti->error = "cannot allocate target";
		return -ENOMEM;
	}
	q->ti = ti;
	q->opt = opt;
	mutex_init(&q->meta_lock);
	rwlock_init(&q->map_lock);
	INIT_DELAYED_WORK(&q->clean_work, q2_clean_work);
	strscpy(q->node.name, node_name, sizeof(q->node.name));
	q->path = kstrdup(path, GFP_KERNEL);
	/* the table line's words live only as long as the constructor */
	q->backing_path = opt.backing ? kstrdup(opt.backing, GFP_KERNEL) : NULL;
	q->opt.backing = q->backing_path;
	if (!q->path || (opt.backing && !q->backing_path)) {
		ti->error = "cannot allocate target";
		ret = -ENOMEM;
		goto out_free;
	}

	writable = !opt.read_only && (dm_table_get_mode(ti->table) & FMODE_WRITE);
	ret = vs_backend_open(&q->be, q->path, writable, &opt.be, q->node.name,
			      ti, &ti->error);
	if (ret)
		goto out_free;

	ret = q2_read_header(q, writable, &ti->error);
	if (ret)
		goto out_close;
	q->reload_pending = vs_node_is_reload(&q->node);
	if (!q->reload_pending) {
		ret = q2_setup_lazy(q, writable, &ti->error);
		if (ret)
			goto out_close;
	}
	if ((u64)ti->len << SECTOR_SHIFT != q->virtual_size) {
		ti->error = "target length does not match the image's virtual size";
		ret = -EINVAL;
		goto out_close;
	}
	ret = q2_open_backing(ti, q);
	if (ret)
		goto out_close;

	ret = q2_io_init(q);
	if (ret) {
		ti->error = "cannot allocate the request path";
		goto out_backing;
	}

	q->node.driver = "qcow2";
	q->node.ops = &q2_node_ops;
	q->node.read_only = !writable || q->corrupt;
	q->node.persistent_bitmaps = writable && q->h.version >= 3;
	q->node.children[0] = (struct vs_child) {
		.role = "file", .path = q->path,
		.dev = vs_backend_devt(&q->be),
	};
	q->node.nr_children = 1;
	if (q->backing) {
		q->node.children[1] = (struct vs_child) {
			.role = "backing", .path = q->backing_path,
			.dev = vs_backend_devt(q->backing),
		};
		q->node.nr_children = 2;
	}
	ret = vs_node_register(&q->node, ti, &ti->error);
	if (ret)
		goto out_io;

	/*
	 * A reload's old table may still change the image: read the metadata
	 * in preresume, when it is suspended and committed.
	 */
	if (!q->reload_pending) {
		ret = q2_meta_load(q, &ti->error) ?:
		      q2_bitmaps_open(q, &ti->error);
		if (ret)
			goto out_unregister;
	}

	ti->per_io_data_size = VS_NODE_IO_SIZE(sizeof(struct q2_io));
	/* metadata commits ride on flushes, whatever the child needs */
	vs_backend_set_caps(&q->be, ti, true);
	ti->num_discard_bios = 1;
	ti->discards_supported = true;
	ti->num_write_zeroes_bios = 1;
	ti->private = q;
	return 0;

out_unregister:
	vs_node_unregister(&q->node);
	q2_meta_free(q);
	q2_bitmaps_free(q);
out_io:
	q2_io_exit(q);
out_backing:
	if (q->backing)
		vs_backend_close(q->backing);
out_close:
	vs_backend_close(&q->be);
out_free:
	kfree(q->backing_path);
	kfree(q->path);
	kfree(q);
	return ret;
}

static void q2_dtr(struct dm_target *ti)
{
	struct q2 *q = ti->private;

	/* the bitmaps go with the last instance: write them back first */
	mutex_lock(&q->meta_lock);
	if (q->loaded && !q->suspended_clean && q->bm_in_use)
		q2_bitmaps_store(q, false);
	mutex_unlock(&q->meta_lock);
	vs_node_unregister(&q->node);
	cancel_delayed_work_sync(&q->clean_work);
	q2_io_exit(q);
	mutex_lock(&q->meta_lock);
	/*
	 * After a clean postsuspend the image may already belong to a
	 * reload's new instance: this one must not write it again.
	 */
	if (q->loaded && !q->suspended_clean) {
		if (q2_commit_all(q) || q2_mark_clean(q))
			q2_err(q, "metadata could not be committed at removal");
		else
			q2_trim_file(q);
	}
	q2_meta_free(q);
	q2_bitmaps_free(q);
	mutex_unlock(&q->meta_lock);
	if (q->backing)
		vs_backend_close(q->backing);
	vs_backend_close(&q->be);
	kfree(q->backing_path);
	kfree(q->path);
	kfree(q);
}

static int q2_map(struct dm_target *ti, struct bio *bio)
{
	struct q2 *q = ti->private;
	struct q2_io *io = dm_per_bio_data(bio, sizeof(struct q2_io));

	io->q = q;
	io->counted = Q2_UNCOUNTED;
	io->split = false;
	vs_bitmap_map(ti, bio);
	if (unlikely(!q->loaded))
		return DM_MAPIO_KILL;
	if (op_is_write(bio_op(bio)) && READ_ONCE(q->node.read_only) &&
	    bio->bi_iter.bi_size)
		return DM_MAPIO_KILL;
	vs_backend_prepare_bio(&q->be, bio);
	if ((bio_op(bio) == REQ_OP_READ || bio_op(bio) == REQ_OP_WRITE) &&
	    bio->bi_iter.bi_size && !(bio->bi_opf & REQ_PREFLUSH)) {
		int r = q2_map_fast(q, bio);

		if (r >= 0)
			return r;
	}
	/* before the worker splits it or completes it */
	vs_node_account(&q->node, bio);
	q2_queue_bio(q, bio);
	return DM_MAPIO_SUBMITTED;
}

static int q2_end_io(struct dm_target *ti, struct bio *bio,
		     blk_status_t *error)
{
	struct q2 *q = ti->private;

	vs_node_account_error(&q->node, bio, *error);
	vs_bitmap_end_io(&q->node, bio);
	q2_io_done(q, bio);
	return DM_ENDIO_DONE;
}

static int q2_preresume(struct dm_target *ti)
{
	struct q2 *q = ti->private;
	char *error = NULL;
	int ret;

	ret = vs_node_may_resume(&q->node);
	if (ret)
		return ret;
	mutex_lock(&q->meta_lock);
	if (!q->loaded && q->reload_pending) {
		/* the old instance is suspended now: what it left is current */
		ret = q2_reload_header(q, &error);
		if (!ret)
			q->reload_pending = false;
	}
	if (!q->loaded && !ret) {
		ret = q2_meta_load(q, &error) ?: q2_bitmaps_open(q, &error);
		if (ret) {
			q2_err(q, "cannot open the image: %s",
			       error ?: "out of memory");
			q2_meta_free(q);
		}
	}
	/* while it runs, the image says its bitmaps are in use */
	if (!ret && !q->bm_in_use)
		ret = q2_bitmaps_store(q, true);
	mutex_unlock(&q->meta_lock);
	return ret;
}

static void q2_resume(struct dm_target *ti)
{
	struct q2 *q = ti->private;

	q->suspended_clean = false;
	vs_node_activate(&q->node);
	if (q->opt.cache_clean_interval)
		schedule_delayed_work(&q->clean_work,
				      q->opt.cache_clean_interval * HZ);
}

static void q2_postsuspend(struct dm_target *ti)
{
	struct q2 *q = ti->private;

	cancel_delayed_work_sync(&q->clean_work);
	flush_workqueue(q->wq);
	mutex_lock(&q->meta_lock);
	q2_drain(q);
	/*
	 * A reload's new instance reads the image after this: leave nothing
	 * in memory, deferred refcount decrements included; the bitmaps
	 * written back, no longer in use.
	 */
	if ((q->bm_in_use && q2_bitmaps_store(q, false)) ||
	    q2_commit_all(q) || q2_mark_clean(q)) {
		q2_err(q, "metadata could not be committed at suspend");
	} else {
		q2_trim_file(q);
		q->suspended_clean = true;
	}
	mutex_unlock(&q->meta_lock);
}

/* cache-clean-interval: forget cached tables that are not dirty. */
static void q2_clean_work(struct work_struct *work)
{
	struct q2 *q = container_of(to_delayed_work(work), struct q2,
				    clean_work);

	mutex_lock(&q->meta_lock);
	if (q->loaded) {
		q2_cache_drop_clean(q, &q->l2_cache);
		q2_cache_drop_clean(q, &q->rb_cache);
	}
	mutex_unlock(&q->meta_lock);
	schedule_delayed_work(&q->clean_work, q->opt.cache_clean_interval * HZ);
}

/*
 * Status (INFO):
 *   <node_name> <version> <cluster_size> <clean|corrupt> <ro|rw>
 *   <l2_hits> <l2_misses> <refcount_hits> <refcount_misses>
 *   <read_ios> <write_ios> <flush_ios> <errors>
 *   <l2_cached> <l2_cache_max> <refcount_cached> <refcount_cache_max>
 * (cached tables, and the most the caches hold).
 */
static void q2_status(struct dm_target *ti, status_type_t type,
		      unsigned int status_flags, char *result,
		      unsigned int maxlen)
{
	struct q2 *q = ti->private;
	unsigned int sz = 0;
	struct vs_stats s;

	switch (type) {
	case STATUSTYPE_INFO:
		vs_node_stats_sum(&q->node, &s);
		DMEMIT("%s %u %u %s %s %llu %llu %llu %llu %llu %llu %llu %llu %u %u %u %u",
		       q->node.name, q->h.version, q->g->cluster_size,
		       READ_ONCE(q->corrupt) ? "corrupt" : "clean",
		       READ_ONCE(q->node.read_only) ? "ro" : "rw",
		       q2_l2_hits(q), READ_ONCE(q->l2_cache.misses),
		       READ_ONCE(q->rb_cache.hits), READ_ONCE(q->rb_cache.misses),
		       s.rd_ios, s.wr_ios, s.flush_ios, s.errors,
		       READ_ONCE(q->l2_cache.nr_entries), q->l2_cache.max_entries,
		       READ_ONCE(q->rb_cache.nr_entries), q->rb_cache.max_entries);
		break;
	case STATUSTYPE_TABLE:
		vs_target_emit_table(q->node.name, q->path,
				     &q2_opt_set, &q->opt, result,
				     &sz, maxlen);
		break;
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",node_name=%s,version=%u,cluster_size=%u,read_only=%c,corrupt=%c;",
		       q->node.name, q->h.version, q->g->cluster_size,
		       q->node.read_only ? 'y' : 'n', q->corrupt ? 'y' : 'n');
		break;
	}
}

/* "resize <bytes>" grows the virtual size (reload afterwards). */
static int q2_msg_resize(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct q2 *q = ti->private;
	u64 size;
	int ret;

	if (kstrtou64(argv[0], 10, &size) || size & (SECTOR_SIZE - 1)) {
		vs_target_msg_err(ti, q->node.name,
				  "resize needs a size in bytes, a multiple of 512");
		return -EINVAL;
	}
	if (q->node.read_only) {
		vs_target_msg_err(ti, q->node.name, "resize of a read-only node");
		return -EROFS;
	}
	mutex_lock(&q->meta_lock);
	ret = q->loaded ? q2_resize(q, size) : -EAGAIN;
	mutex_unlock(&q->meta_lock);
	if (ret == -EOPNOTSUPP)
		vs_target_msg_err(ti, q->node.name, "shrinking is not supported");
	else if (ret)
		vs_target_msg_err(ti, q->node.name, "resize failed: %d", ret);
	return ret;
}

/*
 * "set-backing <file> <format>" or "set-backing none": the backing file
 * the header names (vstoragectl, when a stream or commit job finalizes;
 * the table's backing device is changed by a reload afterwards).
 */
static int q2_msg_set_backing(struct dm_target *ti, unsigned int argc,
			      char **argv)
{
	struct q2 *q = ti->private;
	const char *name = NULL, *fmt = NULL;
	int ret;

	if (argc == 1 && strcmp(argv[0], "none")) {
		vs_target_msg_err(ti, q->node.name,
				  "set-backing needs <file> <format>, or none");
		return -EINVAL;
	}
	if (argc == 2) {
		name = argv[0];
		fmt = argv[1];
		if (!*name || strlen(name) > QCOW2_MAX_BACKING_NAME ||
		    !*fmt || strlen(fmt) > 16) {
			vs_target_msg_err(ti, q->node.name,
					  "set-backing: a file name of 1 to 1023 bytes and a format of 1 to 16");
			return -EINVAL;
		}
	}
	if (q->node.read_only) {
		vs_target_msg_err(ti, q->node.name,
				  "set-backing of a read-only node");
		return -EROFS;
	}
	mutex_lock(&q->meta_lock);
	ret = q->loaded ? q2_set_backing(q, name, fmt) : -EAGAIN;
	mutex_unlock(&q->meta_lock);
	if (ret == -ENOSPC)
		vs_target_msg_err(ti, q->node.name,
				  "set-backing: the name does not fit in the header cluster");
	else if (ret)
		vs_target_msg_err(ti, q->node.name, "set-backing failed: %d",
				  ret);
	return ret;
}

static const struct vs_msg q2_msgs[] = {
	{ "resize", 1, 1, "resize <bytes>", q2_msg_resize },
	{ "set-backing", 1, 2, "set-backing <file> <format> | none",
	  q2_msg_set_backing },
};

static int q2_message(struct dm_target *ti, unsigned int argc, char **argv,
		      char *result, unsigned int maxlen)
{
	struct q2 *q = ti->private;

	return vs_target_message(ti, q->node.name, q2_msgs,
				 ARRAY_SIZE(q2_msgs), argc, argv);
}

static int q2_iterate_devices(struct dm_target *ti,
			      iterate_devices_callout_fn fn, void *data)
{
	/*
	 * Guest sectors do not map linearly onto the image, so no device is
	 * reported for stacking; io_hints sets the limits.
	 */
	return 0;
}

static void q2_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct q2 *q = ti->private;
	u32 cs = q2_cluster_size(q);

	limits->logical_block_size = max_t(unsigned int, SECTOR_SIZE,
					   q->be.logical_block_size);
	limits->physical_block_size = max(limits->physical_block_size,
					  limits->logical_block_size);
	blk_limits_io_min(limits, max_t(u32, cs, limits->logical_block_size));
	blk_limits_io_opt(limits, cs);
	limits->discard_granularity = cs;
	limits->max_discard_sectors = UINT_MAX >> SECTOR_SHIFT;
	limits->max_hw_discard_sectors = UINT_MAX >> SECTOR_SHIFT;
	limits->max_write_zeroes_sectors = UINT_MAX >> SECTOR_SHIFT;
}

/* == Node operations == */

static int q2_block_status(struct vs_node *node, u64 offset, u64 length,
			   struct vs_extent *ext)
{
	struct q2 *q = container_of(node, struct q2, node);
	struct q2_map first, map;
	u64 pos = offset, done = 0;
	unsigned int i;
	int ret;

	mutex_lock(&q->meta_lock);
	if (!q->loaded) {
		ret = -EAGAIN;
		goto out;
	}
	ret = q2_lookup(q, pos, length, &first);
	if (ret)
		goto out;
	done = first.len;
	/* merge what follows while it is the same kind (bounded work) */
	for (i = 0; i < 4096 && done < length; i++) {
		ret = q2_lookup(q, pos + done, length - done, &map);
		if (ret)
			goto out;
		if (map.type != first.type || map.allocated != first.allocated ||
		    map.offset_valid != first.offset_valid ||
		    (map.offset_valid &&
		     map.host_offset != first.host_offset + done))
			break;
		done += map.len;
	}

	ext->length = done;
	switch (first.type) {
	case Q2_MAP_DATA:
		ext->flags = VS_EXT_DATA | VS_EXT_ALLOCATED;
		break;
	case Q2_MAP_COMPRESSED:
		ext->flags = VS_EXT_DATA | VS_EXT_ALLOCATED;
		break;
	case Q2_MAP_ZERO:
		ext->flags = VS_EXT_ZERO |
			     (first.allocated ? VS_EXT_ALLOCATED : 0);
		break;
	case Q2_MAP_BACKING:
		ext->flags = VS_EXT_BACKING;
		ext->below_dev = vs_backend_devt(q->backing);
		ext->below_offset = offset;
		break;
	}
	if (first.offset_valid && first.type != Q2_MAP_BACKING) {
		ext->flags |= VS_EXT_OFFSET_VALID;
		ext->host_offset = first.host_offset;
	}
out:
	mutex_unlock(&q->meta_lock);
	return ret;
}

static int q2_fill_info(struct vs_node *node, struct sk_buff *skb)
{
	struct q2 *q = container_of(node, struct q2, node);
	struct vs_node *below = NULL;
	int ret = 0;

	if (q->backing)
		below = vs_node_get_by_dev(vs_backend_devt(q->backing));
	if (nla_put_string(skb, VSTORAGE_INFO_FORMAT, "qcow2") ||
	    nla_put_u32(skb, VSTORAGE_INFO_VERSION, q->h.version) ||
	    nla_put_u64_64bit(skb, VSTORAGE_INFO_VIRTUAL_SIZE, q->virtual_size,
			      VSTORAGE_INFO_PAD) ||
	    nla_put_u32(skb, VSTORAGE_INFO_CLUSTER_SIZE, q->g->cluster_size) ||
	    nla_put_u64_64bit(skb, VSTORAGE_INFO_ALLOCATED,
			      q2_allocated_bytes(q), VSTORAGE_INFO_PAD) ||
	    (below && nla_put_string(skb, VSTORAGE_INFO_BACKING_NODE,
				     below->name)) ||
	    nla_put_u8(skb, VSTORAGE_INFO_DIRTY, q->h.dirty) ||
	    nla_put_u8(skb, VSTORAGE_INFO_CORRUPT, READ_ONCE(q->corrupt)) ||
	    nla_put_u64_64bit(skb, VSTORAGE_INFO_CACHE_SIZE,
			      (u64)q->l2_cache.max_entries * q->g->cluster_size,
			      VSTORAGE_INFO_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_INFO_CACHE_HITS,
			      q2_l2_hits(q), VSTORAGE_INFO_PAD) ||
	    nla_put_u64_64bit(skb, VSTORAGE_INFO_CACHE_MISSES,
			      READ_ONCE(q->l2_cache.misses), VSTORAGE_INFO_PAD) ||
	    nla_put_u8(skb, VSTORAGE_INFO_EXTENDED_L2, q->g->extended_l2) ||
	    nla_put_string(skb, VSTORAGE_INFO_COMPRESSION,
			   q->h.compression_type == QCOW2_COMPRESSION_ZSTD ?
			   "zstd" : "zlib") ||
	    nla_put_u32(skb, VSTORAGE_INFO_REFCOUNT_BITS, q->h.refcount_bits) ||
	    nla_put_u8(skb, VSTORAGE_INFO_LAZY_REFCOUNTS, q->h.lazy_refcounts))
		ret = -EMSGSIZE;
	if (below)
		vs_node_put(below);
	return ret;
}

static const struct vs_node_ops q2_node_ops = {
	.block_status = q2_block_status,
	.fill_info = q2_fill_info,
};

static struct target_type q2_target_type = {
	.name = VSTORAGE_DM_TARGET_PREFIX "qcow2",
	.version = {0, 1, 0},
	.module = THIS_MODULE,
	.ctr = q2_ctr,
	.dtr = q2_dtr,
	.map = q2_map,
	.end_io = q2_end_io,
	.preresume = q2_preresume,
	.resume = q2_resume,
	.postsuspend = q2_postsuspend,
	.status = q2_status,
	.message = q2_message,
	.iterate_devices = q2_iterate_devices,
	.io_hints = q2_io_hints,
};

static int __init q2_init(void)
{
	return dm_register_target(&q2_target_type);
}

static void __exit q2_exit(void)
{
	dm_unregister_target(&q2_target_type);
}

module_init(q2_init);
module_exit(q2_exit);

MODULE_DESCRIPTION("vstorage qcow2 format target: QEMU images as device-mapper devices");
MODULE_AUTHOR("vstorage developers");
MODULE_LICENSE("GPL");
