/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vstorage core: the interface between the core module (node graph,
 * netlink, child I/O helpers) and the targets that implement formats and
 * filters.
 */
#ifndef _VSTORAGE_CORE_H
#define _VSTORAGE_CORE_H

#include <linux/bits.h>
#include <linux/device-mapper.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/percpu.h>
#include <linux/refcount.h>
#include <linux/completion.h>
#include <linux/uio.h>
#include <linux/workqueue.h>
#include <net/netlink.h>
#include <linux/vstorage.h>

#include "filters/bucket.h"

struct sk_buff;
struct vs_node;
struct vs_bm_node;
struct vs_cbw_ops;

/*
 * Result of one block-status query: the first `length` bytes from the
 * queried offset share these properties.
 */
struct vs_extent {
	u64 length;
	u32 flags;		/* VS_EXT_* */
	u64 host_offset;	/* valid with VS_EXT_OFFSET_VALID */
	/* valid with VS_EXT_BELOW: contents come from this device */
	dev_t below_dev;
	u64 below_offset;
};

#define VS_EXT_DATA		VSTORAGE_BS_DATA
#define VS_EXT_ZERO		VSTORAGE_BS_ZERO
#define VS_EXT_ALLOCATED	VSTORAGE_BS_ALLOCATED
#define VS_EXT_OFFSET_VALID	VSTORAGE_BS_OFFSET_VALID
/* Ask the layer below; it is the same layer for qemu-img map's depth. */
#define VS_EXT_BELOW		BIT(16)
/* Ask the layer below; it is a backing image (one level deeper). */
#define VS_EXT_BACKING		BIT(17)

struct vs_node_ops {
	/*
	 * Describe [offset, offset + length); set ext->length to how much of
	 * it the answer covers (at least one byte, at most length).
	 */
	int (*block_status)(struct vs_node *node, u64 offset, u64 length,
			    struct vs_extent *ext);
	/* Add driver attributes inside the VSTORAGE_A_NODE_INFO nest. */
	int (*fill_info)(struct vs_node *node, struct sk_buff *skb);
	/*
	 * A copy-on-read node, for stream jobs: copy into the node below
	 * what [offset, offset + length) (at most 1 MiB) reads through from
	 * layers less than base_depth backing hops below it; *copied: how
	 * many bytes that was. Sleeps. -EAGAIN: workload writes kept some of
	 * it busy, ask again; another error sets *operation (0 read, 1 write).
	 */
	int (*populate)(struct vs_node *node, u64 offset, u64 length,
			u32 base_depth, u64 *copied, int *operation);
	/* A copy-before-write node, for backup jobs; NULL for others. */
	const struct vs_cbw_ops *cbw;
};

/*
 * What a backup job (kernel/jobs/backup.c) asks of the copy-before-write
 * filter it works through (kernel/filters/copy_before_write.c,
 * Documentation/targets/copy-before-write.rst). The filter owns the
 * bitmap of chunks still to copy, so that its own copies (before a
 * workload write) and the job's never both write a chunk.
 */
struct vs_cbw_ops {
	/*
	 * The point in time: writes are held and the writes in flight
	 * drain, then FILL (may be NULL: every chunk) sets the chunks to
	 * copy in TODO (NR chunks of 1 << SHIFT bytes, all clear) and may
	 * take its own snapshot of what the writes did so far (a dirty
	 * bitmap); then the filter copies before every write to a chunk
	 * still to copy. TOP_ONLY: a chunk the child's top layer does not
	 * allocate is not copied. -EBUSY when another job armed it.
	 */
	int (*arm)(struct vs_node *node, bool top_only,
		   int (*fill)(void *ctx, unsigned long *todo, u64 nr,
			       u32 shift),
		   void *ctx);
	/*
	 * Copy what is still to copy of [offset, offset + length) (at most
	 * 1 MiB) to the target; *copied: the bytes written. -EAGAIN: some of
	 * it is being copied before a write, ask again. Another error sets
	 * *operation (0 read, 1 write); the chunks stay to copy.
	 */
	int (*copy)(struct vs_node *node, u64 offset, u64 length, u64 *copied,
		    int *operation);
	/* 0, or the error of a copy before a write (the point in time is lost). */
	int (*check)(struct vs_node *node);
	/* The chunk size, and how much is still to copy, in bytes. */
	void (*progress)(struct vs_node *node, u32 *chunk, u64 *todo);
	/* Writes go down without copies again. */
	void (*disarm)(struct vs_node *node);
};

/*
 * A filter's block status: it has no data of its own, so the answer for
 * all of [offset, offset + length) is "ask the node on device BELOW".
 */
static inline int vs_extent_below(struct vs_extent *ext, dev_t below,
				  u64 offset, u64 length)
{
	ext->length = length;
	ext->flags = VS_EXT_BELOW;
	ext->below_dev = below;
	ext->below_offset = offset;
	return 0;
}

#define VS_MAX_CHILDREN 2

/* An edge of the graph: a file, or a block device that may be a node. */
struct vs_child {
	const char *role;	/* "file", "backing" */
	const char *path;	/* as opened; owned by the driver */
	dev_t dev;		/* 0 unless the child is a block device */
};

/* Per-CPU request counters, summed when somebody asks. */
struct vs_stats {
	u64 rd_ios, rd_bytes, wr_ios, wr_bytes, flush_ios, discard_ios, errors;
};

struct vs_node {
	/* Filled by the driver before vs_node_register(). */
	char name[VSTORAGE_NODE_NAME_MAX + 1];
	const char *driver;
	const struct vs_node_ops *ops;
	struct dm_target *ti;
	bool read_only;
	/* the format stores bitmaps in the image (dirty_bitmap.h) */
	bool persistent_bitmaps;
	struct vs_child children[VS_MAX_CHILDREN];
	unsigned int nr_children;

	/* Owned by the core. */
	struct vs_stats __percpu *stats;
	struct list_head list;
	refcount_t refs;
	struct completion released;
	bool live;
	/* was live until another instance took over; never serves again */
	bool superseded;
	bool registered;
	/* the name's dirty bitmaps, shared by its instances (bitmap.c) */
	struct vs_bm_node *bitmaps;
};

/* ti->error for a name that vs_node_name_valid() refuses */
#define VS_NODE_NAME_RULES \
	"invalid node name (letters, digits, '-', '_', '.', starting with a letter, at most 31 characters)"

bool vs_node_name_valid(const char *name);
int vs_node_register(struct vs_node *node, struct dm_target *ti, char **error);
void vs_node_activate(struct vs_node *node);
bool vs_node_is_reload(struct vs_node *node);
int vs_node_may_resume(struct vs_node *node);
void vs_node_unregister(struct vs_node *node);
struct vs_node *vs_node_get_by_name(const char *name);
struct vs_node *vs_node_get_by_dev(dev_t dev);
struct vs_node *vs_node_get_nth(unsigned long idx);
unsigned int vs_node_generation(void);
void vs_node_put(struct vs_node *node);
u64 vs_node_size(const struct vs_node *node);
dev_t vs_node_devt(const struct vs_node *node);
void vs_node_notify_change(struct vs_node *node);

static inline void vs_node_account(struct vs_node *node, struct bio *bio)
{
	struct vs_stats __percpu *s = node->stats;

	/* this_cpu ops are interrupt safe, and bios complete in any context */
	switch (bio_op(bio)) {
	case REQ_OP_READ:
		this_cpu_inc(s->rd_ios);
		this_cpu_add(s->rd_bytes, bio->bi_iter.bi_size);
		break;
	case REQ_OP_WRITE:
		if (!bio->bi_iter.bi_size) {
			this_cpu_inc(s->flush_ios);
			break;
		}
		this_cpu_inc(s->wr_ios);
		this_cpu_add(s->wr_bytes, bio->bi_iter.bi_size);
		break;
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		this_cpu_inc(s->discard_ios);
		break;
	default:
		break;
	}
}

/*
 * Count BIO's failure with STATUS, unless failing is part of the bargain of
 * a best-effort bio: readahead (dm fails it while the device is suspended,
 * or a device below: a backing node), and a REQ_NOWAIT bio's BLK_STS_AGAIN.
 */
static inline void vs_node_account_error(struct vs_node *node, struct bio *bio,
					 blk_status_t status)
{
	if (!status || status == BLK_STS_AGAIN || (bio->bi_opf & REQ_RAHEAD))
		return;
	this_cpu_inc(node->stats->errors);
}

void vs_node_stats_sum(struct vs_node *node, struct vs_stats *sum);

/* Layers a chain may have (block status follows no more). */
#define VS_MAX_CHAIN_DEPTH 64

/*
 * How many backing hops below TOP the node named BASE is (filters on the
 * way count none); -ENOENT when it is not in TOP's chain.
 */
int vs_chain_depth(struct vs_node *top, const char *base, u32 *depth);

/*
 * Block status with the chain resolved: follows VS_EXT_BELOW into child
 * nodes. `depth` and `host` describe where the answer was found; the
 * caller must vs_node_put(*host).
 */
int vs_block_status(struct vs_node *node, u64 offset, u64 length,
		    struct vs_extent *ext, u32 *depth, struct vs_node **host);

/*
 * Image locks (imagelock.c, Documentation/locking-images.rst): an image
 * (file or block device) has one read-write node or any number of
 * read-only ones; on files, QEMU's OFD lock bytes too. Instances of one
 * node name share their locks. Control path only.
 */
struct vs_image_lock;

struct vs_image_lock *vs_image_lock_get(const char *node_name,
					struct file *file, dev_t bdev_dev,
					bool writable, bool qemu_locks,
					char **error);
void vs_image_lock_put(struct vs_image_lock *lock);

/*
 * Throttle groups (tgroup.c): QEMU's throttle-group objects, shared by the
 * throttle nodes that are their members. Control path functions sleep;
 * vs_tgroup_throttle() runs in map().
 */
struct vs_tgroup_member;

/* Members a listing names (a group may have more). */
#define VS_TGROUP_MAX_LISTED	64

struct vs_tgroup_info {
	char name[VSTORAGE_NODE_NAME_MAX + 1];
	struct vs_thr_limits limits;
	u64 bytes[2], ops[2];		/* let through: [0] reads, [1] writes */
	u64 throttled_ops, throttled_ns;
	u32 queued;
	unsigned int nr_members;
	char members[VS_TGROUP_MAX_LISTED][VSTORAGE_NODE_NAME_MAX + 1];
	unsigned int generation;	/* of the set of groups */
};

int vs_tgroup_create(const char *name, const struct vs_thr_limits *limits,
		     const char **error);
/* Change the limits whose GIVEN[idx] is set (idx: bucket.h's order). */
int vs_tgroup_set_limits(const char *name, const struct vs_thr_limits *new,
			 const bool *given, const char **error);
int vs_tgroup_delete(const char *name, const char **error);
/* Group NAME, or with NAME NULL the IDX-th group; -ENOENT if none. */
int vs_tgroup_snapshot(const char *name, unsigned long idx,
		       struct vs_tgroup_info *info);
void vs_tgroups_exit(void);

/* NODE (kept by the caller) joins GROUP; ERR_PTR and *error on failure. */
struct vs_tgroup_member *vs_tgroup_join(const char *group, const char *node,
					char **error);
void vs_tgroup_leave(struct vs_tgroup_member *m);
const char *vs_tgroup_name(const struct vs_tgroup_member *m);
/*
 * true: BIO may go down now (the caller remaps it); false: it waits and
 * the group submits it later with dm_submit_bio_remap() (the target sets
 * ti->accounts_remapped_io).
 */
bool vs_tgroup_throttle(struct vs_tgroup_member *m, struct bio *bio);
/* While on, M's bios pass without limits; turning it on releases them. */
void vs_tgroup_member_bypass(struct vs_tgroup_member *m, bool bypass);
#if IS_ENABLED(CONFIG_KUNIT)
int vs_tgroup_set_submit(const char *name, void (*submit)(struct bio *bio));
#endif

#include "backend.h"
#include "target.h"
#include "dirty_bitmap.h"

/* Bios handed from map() to a worker (bioq.c). */
struct vs_bio_queue {
	spinlock_t lock;		/* protects bios */
	struct bio_list bios;
	struct work_struct work;
};

void vs_bio_queue_init(struct vs_bio_queue *bq, work_func_t fn);
void vs_bio_queue_add(struct vs_bio_queue *bq, struct bio *bio,
		      struct workqueue_struct *wq);
void vs_bio_queue_run(struct vs_bio_queue *bq,
		      void (*handle)(struct vs_bio_queue *bq, struct bio *bio));

/* Netlink events, called by the node registry. */
void vs_nl_notify_node(struct vs_node *node, u8 cmd);
int vs_nl_init(void);
void vs_nl_exit(void);

/* The operations' attribute policies (nlpolicy.c). */
extern const struct nla_policy vs_node_get_policy[];
extern const struct nla_policy vs_block_status_policy[];
extern const struct nla_policy vs_tgroup_policy[];
extern const struct nla_policy vs_job_policy[];
extern const struct nla_policy vs_bitmap_policy[];

/* Throttle group operations (tgroup_nl.c) of the family (netlink.c). */
extern struct genl_family vs_genl_family;
struct genl_info;
int vs_nl_tgroup_new_doit(struct sk_buff *skb, struct genl_info *info);
int vs_nl_tgroup_set_doit(struct sk_buff *skb, struct genl_info *info);
int vs_nl_tgroup_del_doit(struct sk_buff *skb, struct genl_info *info);
int vs_nl_tgroup_get_doit(struct sk_buff *skb, struct genl_info *info);
int vs_nl_tgroup_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb);
/* Dirty bitmap operations (bitmap_nl.c). */
int vs_nl_bitmap_doit(struct sk_buff *skb, struct genl_info *info);
int vs_nl_bitmap_get_doit(struct sk_buff *skb, struct genl_info *info);
int vs_nl_bitmap_get_dumpit(struct sk_buff *skb, struct netlink_callback *cb);
void vs_nl_multicast(struct sk_buff *skb);
bool vs_nl_has_listeners(void);

#endif /* _VSTORAGE_CORE_H */
