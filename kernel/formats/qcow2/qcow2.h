/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vstorage-qcow2: QEMU's qcow2 format as a device-mapper target.
 *
 * target.c    table line, device-mapper hooks, node ops
 * io.c        the request path: map()'s fast path, reads, the ordered
 *             worker, pieces of bios, flush
 * write.c     writes in place and by allocation (in parallel),
 *             discard and write-zeroes
 * meta.c      metadata: open, L1/L2/refcount access, allocation, commit,
 *             resize
 * header.c    the header: fields rewritten in place, the header cluster
 *             rebuilt (backing file name, bitmaps extension)
 * cache.c     the bounded L2 and refcount-block caches
 * compress.c  reading compressed clusters (zlib, zstd)
 * repair.c    rebuilding the refcounts of a dirty (lazy) image
 * bitmaps.c   persistent dirty bitmaps: loading and storing them
 * format.c    on-disk structure: header, extensions, snapshots, bitmaps
 * entries.c   on-disk table entries: L1/L2, refcounts, overlap check
 *             (format.c and entries.c are also built in userspace:
 *             format.h, format-priv.h, and compat.h for the kernel types)
 *
 * The image and the backing node are reached only through the core's
 * child object (struct vs_backend, kernel/backend.h).
 *
 * Documentation/targets/qcow2.rst describes the request path, the locking
 * and the write-ordering rules.
 */
#ifndef VSTORAGE_QCOW2_H
#define VSTORAGE_QCOW2_H

#include <linux/bio.h>
#include <linux/hashtable.h>
#include <linux/mempool.h>
#include <linux/mutex.h>
#include <linux/workqueue.h>

#include "vstorage.h"
#include "format.h"

struct q2_cache_entry {
	u64 offset;			/* host offset of the table: the key */
	void *buf;			/* one cluster, big-endian as on disk */
	struct list_head lru;		/* most recently used first */
	struct hlist_node hash;
	unsigned int pinned;		/* not evictable while > 0 */
	bool dirty;
	bool accessed;			/* hit by the fast path since last scan */
};

struct q2_cache {
	const char *name;
	unsigned int kind;		/* QCOW2_OL_* of its tables */
	unsigned int max_entries;
	unsigned int nr_entries;
	struct list_head lru;
	struct hlist_head *hash;
	unsigned int hash_bits;
	u64 hits;
	u64 misses;
};

enum q2_overlap_mode {
	Q2_OVERLAP_NONE,
	Q2_OVERLAP_CONSTANT,
	Q2_OVERLAP_CACHED,
	Q2_OVERLAP_ALL,
};

enum q2_lazy {
	Q2_LAZY_OFF,
	Q2_LAZY_ON,
	Q2_LAZY_IMAGE,			/* the image's compatible bit */
};

enum q2_discard {
	Q2_DISCARD_IGNORE,
	Q2_DISCARD_UNMAP,
};

/* The optional table-line arguments (q2_opt_defs in target.c). */
struct q2_options {
	const char *backing;		/* a device, "none", or NULL: not given */
	bool backing_none;		/* backing is "none" */
	bool read_only;
	u64 l2_cache_size;		/* bytes, 0: default */
	u64 refcount_cache_size;	/* bytes, 0: default */
	u32 cache_clean_interval;	/* seconds, 0: never */
	unsigned int lazy;		/* enum q2_lazy */
	unsigned int discard;		/* enum q2_discard */
	unsigned int overlap;		/* enum q2_overlap_mode */
	struct vs_backend_opts be;	/* the image's cache and locking */
};

/* A sorted array of cluster offsets, for the overlap check. */
struct q2_offsets {
	u64 *v;
	u32 nr;
	u32 max;
};

struct q2 {
	struct vs_node node;
	struct dm_target *ti;
	struct q2_options opt;
	char *path;
	char *backing_path;

	struct vs_backend be;		/* the image file or device */
	struct vs_backend *backing;	/* &backing_be, or NULL: none */
	struct vs_backend backing_be;	/* the backing node's device */
	u64 backing_size;		/* bytes */

	/* Metadata, all under meta_lock. */
	struct mutex meta_lock;
	/*
	 * What map() reads without meta_lock: the L1 table and the L2 cache's
	 * hash and tables. Writers hold meta_lock too.
	 */
	rwlock_t map_lock;
	struct qcow2_header h;
	struct qcow2_extensions ext;
	const struct qcow2_geometry *g;
	u64 virtual_size;
	bool loaded;
	/*
	 * A reload's new instance: the old one still changes the image until
	 * it is suspended, so the header is read again and nothing is written
	 * before preresume.
	 */
	bool reload_pending;
	/* postsuspend left nothing unwritten: the disk is this instance's state */
	bool suspended_clean;
	bool corrupt;
	bool write_prepared;		/* autoclear/dirty bits dealt with */
	/* persistent bitmaps (bitmaps.c) */
	bool bm_keep;			/* this instance keeps the image's bitmaps */
	bool bm_in_use;			/* the image says they are in use (by us) */
	u64 *bm_old;			/* the clusters they take on disk */
	u32 nr_bm_old;
	bool lazy;			/* refcounts written only when clean */
	__be64 *l1;
	u32 l1_size;			/* entries */
	size_t l1_bytes;		/* buffer size, block aligned */
	unsigned long *l1_dirty;	/* one bit per logical block */
	__be64 *reftable;
	u64 reftable_entries;
	size_t reftable_bytes;
	unsigned long *reftable_dirty;
	struct q2_cache l2_cache;
	struct q2_cache rb_cache;
	u64 free_cursor;		/* first host cluster to look at */
	u64 file_end;			/* bytes the image file has */
	u64 used_end;			/* bytes allocated or present at open */
	u64 *pending_dec;		/* host clusters to decrement at commit */
	u32 nr_pending_dec;
	u32 max_pending_dec;
	struct q2_offsets l2_offsets;	/* active L2 tables */
	struct q2_offsets rb_offsets;	/* refcount blocks */
	struct qcow2_range *snap_l1;	/* inactive L1 tables, sorted */
	u32 nr_snap_l1;
	u64 snapshot_table_len;
	struct qcow2_meta_ranges ranges;
	void *cow_buf;			/* one cluster */
	void *zbuf;			/* decompressed cluster */
	u64 zbuf_entry;			/* L2 entry zbuf holds, 0: none */
	void *cbuf;			/* compressed input, two clusters */
	void *zworkspace;
	size_t zworkspace_size;

	/* The request path. */
	struct vs_bio_queue mq;		/* bios for the metadata worker */
	struct workqueue_struct *wq;
	struct delayed_work clean_work;
	atomic_t inflight;		/* data bios between worker and end_io */
	wait_queue_head_t inflight_wait;
	int __percpu *fast_inflight;	/* bios mapped by map() itself */
	u64 __percpu *l2_fast_hits;	/* L2 cache hits of map() itself */
	struct bio_set bs;

	/* Allocating writes in flight (write.c), under meta_lock. */
	DECLARE_HASHTABLE(alloc_hash, 6);	/* by guest cluster */
	unsigned int nr_allocs;
	struct list_head alloc_idle;	/* records kept for reuse */
	unsigned int nr_alloc_idle;
	struct bio_list alloc_parked;	/* writes waiting for a record */
	struct bio_list alloc_barrier;	/* waiting for no allocation */
	struct workqueue_struct *alloc_wq;	/* copy and write new clusters */
	struct llist_head alloc_done;	/* written, the L2 entry to set */
	struct work_struct alloc_done_work;	/* on wq: sets them */
	struct llist_head alloc_submit;	/* filled, to be written */
	struct work_struct alloc_submit_work;	/* on alloc_wq: writes them */
};

enum q2_count {
	Q2_UNCOUNTED,
	Q2_COUNTED_WORKER,		/* in q->inflight */
	Q2_COUNTED_FAST,		/* in q->fast_inflight */
};

/* Per-bio data. */
struct q2_io {
	struct vs_backend_io child_io;	/* the bio on the image */
	struct q2 *q;
	enum q2_count counted;
	bool split;			/* pieces were split off (q2_split) */
};

/* How a range of guest bytes is served. */
enum q2_map_type {
	Q2_MAP_DATA,		/* host_offset in the image */
	Q2_MAP_ZERO,
	Q2_MAP_BACKING,		/* same offset in the backing node */
	Q2_MAP_COMPRESSED,	/* l2_entry describes the cluster */
};

struct q2_map {
	enum q2_map_type type;
	u64 len;
	u64 host_offset;
	u64 l2_entry;
	bool offset_valid;	/* allocated host cluster (block status) */
	bool allocated;		/* defined by this layer ("present") */
	bool copied;		/* DATA whose L1 and L2 entries say refcount 1 */
};

/* meta.c */
int q2_meta_load(struct q2 *q, char **error);
void q2_meta_free(struct q2 *q);
int q2_lookup(struct q2 *q, u64 pos, u64 len, struct q2_map *map);
int q2_commit(struct q2 *q, bool drain);
int q2_commit_all(struct q2 *q);
int q2_l2_for_write(struct q2 *q, u64 pos, struct q2_cache_entry **entry,
		    u32 *index);
int q2_alloc_cluster(struct q2 *q, u64 *host);
int q2_alloc_run(struct q2 *q, u64 n, u64 *first);
int q2_refcount_get(struct q2 *q, u64 host, u64 *refcount);
int q2_refcount_dec_deferred(struct q2 *q, u64 host);
int q2_check_overlap(struct q2 *q, u64 offset, u64 len, unsigned int ignore);
int q2_resize(struct q2 *q, u64 new_size);
u64 q2_allocated_bytes(struct q2 *q);
int q2_grow_file_to(struct q2 *q, u64 end);
void q2_trim_file(struct q2 *q);

/* header.c */
int q2_header_write_flush(struct q2 *q);
int q2_write_prepare(struct q2 *q);
void q2_mark_corrupt(struct q2 *q, const char *reason);
int q2_mark_clean(struct q2 *q);
/* OUT: the new header cluster built from BUF (parsed into H) */
typedef int (*q2_header_build_t)(struct q2 *q, const u8 *buf, u8 *out,
				 u32 len, const struct qcow2_header *h,
				 u32 *used, void *arg);
int q2_header_rewrite(struct q2 *q, const char *what, q2_header_build_t build,
		      void *arg, struct qcow2_header *hdr);
int q2_set_backing(struct q2 *q, const char *name, const char *fmt);

/* bitmaps.c */
int q2_bitmaps_open(struct q2 *q, char **error);
int q2_bitmaps_store(struct q2 *q, bool in_use);
void q2_bitmaps_free(struct q2 *q);

/* repair.c */
int q2_repair_refcounts(struct q2 *q);

u64 q2_l2_hits(struct q2 *q);
bool q2_lookup_fast(struct q2 *q, u64 pos, u64 len, struct q2_map *map);
void q2_ranges_update(struct q2 *q);
unsigned int q2_overlap_ignore(struct q2 *q);
void q2_drain(struct q2 *q);

/* cache.c */
int q2_cache_init(struct q2_cache *c, const char *name, unsigned int kind,
		  unsigned int max_entries);
void q2_cache_destroy(struct q2 *q, struct q2_cache *c);
int q2_cache_get(struct q2 *q, struct q2_cache *c, u64 offset, bool fresh,
		 struct q2_cache_entry **out);
void q2_cache_put(struct q2_cache_entry *e);
int q2_cache_write(struct q2 *q, struct q2_cache *c,
		   struct q2_cache_entry *e);
int q2_cache_flush(struct q2 *q, struct q2_cache *c);
void q2_cache_drop_clean(struct q2 *q, struct q2_cache *c);
struct q2_cache_entry *q2_cache_peek(struct q2_cache *c, u64 offset);

/* compress.c */
int q2_read_compressed(struct q2 *q, u64 l2_entry);
void q2_compress_free(struct q2 *q);

/* io.c */
void q2_work(struct work_struct *work);
int q2_io_init(struct q2 *q);
void q2_io_exit(struct q2 *q);
void q2_queue_bio(struct q2 *q, struct bio *bio);
void q2_io_done(struct q2 *q, struct bio *bio);
int q2_map_fast(struct q2 *q, struct bio *bio);
u64 q2_bio_pos(struct q2 *q, struct bio *bio);
void q2_end(struct bio *bio, int err);
struct bio *q2_split(struct q2 *q, struct bio *bio, u64 len);
bool q2_has_pieces(struct bio *bio);
void q2_submit_data(struct q2 *q, struct bio *bio, u64 host);
void q2_inflight_count(struct q2 *q, struct bio *bio);
void q2_inflight_uncount(struct q2 *q, struct bio *bio);
void q2_copy_from_bio(struct bio *bio, void *dst);
void q2_l2_set(struct q2 *q, struct q2_cache_entry *e, u32 index,
	       u64 entry, u64 bitmap);

/* write.c */
void q2_write(struct q2 *q, struct bio *bio);
void q2_discard_zero(struct q2 *q, struct bio *bio);
int q2_write_alloc(struct q2 *q, u64 pos, u32 len, struct bio *src);
int q2_write_init(struct q2 *q);
void q2_write_exit(struct q2 *q);

#define q2_err(q, fmt, ...) \
	pr_err("vstorage-qcow2 %s: " fmt "\n", (q)->node.name, ##__VA_ARGS__)

static inline u64 q2_cluster_size(const struct q2 *q)
{
	return q->g->cluster_size;
}

static inline u64 q2_cluster_start(const struct q2 *q, u64 pos)
{
	return pos & ~(q2_cluster_size(q) - 1);
}

#endif /* VSTORAGE_QCOW2_H */
