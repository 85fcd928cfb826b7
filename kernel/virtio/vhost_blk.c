// SPDX-License-Identifier: GPL-2.0
/*
 * vhost-blk: a virtio-blk device backend in the kernel, on Linux 6.1's
 * vhost core (Documentation/vhost-blk.rst).
 *
 * The path of a request:
 *
 * 1. A kick queues the queue's work item on an unbound workqueue straight
 *    from the kick eventfd's wakeup: 6.1's vhost core has one worker
 *    thread per device, which would serve every queue on one CPU, and
 *    passing through it would cost every kick one more context switch
 *    (and under TCG one more address-space switch, which flushes the
 *    software TLB: measured 1.9 TLB flushes per request through
 *    export vhost-user against 0.3 in the VMM's own address space).
 *    The core's kick poll is stopped; its work (handle_kick) remains for
 *    the core's own requeue when a queue exceeds its weight. The work item
 *    adopts the owner's
 *    address space (kthread_use_mm(), as the vhost worker itself does), in
 *    which descriptors are user addresses, and runs vhost_blk_handle_vq();
 *    the work items of different queues run on different CPUs at once.
 * 2. Each chain becomes a request: the header is copied out, the status
 *    byte is the last device-writable byte wherever it lies, and data goes
 *    straight to the backend device in bios built on the guest's pages
 *    (bounced through kernel pages when the guest's buffers are not aligned
 *    for the device), all submitted under one plug per kick. It is a
 *    vs_submit_plug: this work item holds no file-system state, so a
 *    vstorage node on an image file issues the batch's file I/O from here
 *    when the plug ends, instead of waking its own worker for each bio.
 * 3. bi_end_io may run in interrupt context: it must not touch guest
 *    memory, so it only parks the bio on its request and, when the
 *    request's last bio ends, puts the request on its queue's completion
 *    list and queues the queue's work, unless that work is running
 *    (SERVING): it then looks again before it returns. A request that
 *    completes during its own submission (a file node's batch, issued at
 *    the plug's end) is so answered in the same run, without a wakeup.
 * 4. The queue's work item, in the owner's address space again, releases
 *    the pages, copies bounced reads out, writes the status bytes and adds
 *    the whole batch to the used ring with one signal.
 *
 * A guest's descriptors are hostile input. The vhost core refuses chains
 * outside the memory table, loops, nested indirect tables and runaway ring
 * indices (an error on the queue's error eventfd); everything inside a chain
 * that the core accepts is checked here and answered with IOERR or UNSUPP.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/kthread.h>
#include <linux/llist.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/virtio_blk.h>
#include <linux/vhost_blk.h>

#include "submit_plug.h"
#include "vhost.h"

/* Misc minors 243-254 are reserved for local use (devices.txt). */
#define VHOST_BLK_MINOR 243

/* Chains one kick serves before the worker turns to other work. */
#define VHOST_BLK_WEIGHT 256
#define VHOST_BLK_BYTE_WEIGHT (16 << 20)

/* Largest request whose guest buffers are too misaligned to map directly. */
#define VHOST_BLK_BOUNCE_MAX (BIO_MAX_VECS * PAGE_SIZE)

/* Most discard or write-zeroes segments in one request. */
#define VHOST_BLK_MAX_SEGS 1024

#define VHOST_BLK_FEATURES ((VHOST_FEATURES & ~(1ULL << VHOST_F_LOG_ALL)) | \
			    (1ULL << VIRTIO_BLK_F_FLUSH) |		 \
			    (1ULL << VIRTIO_BLK_F_DISCARD) |		 \
			    (1ULL << VIRTIO_BLK_F_WRITE_ZEROES) |	 \
			    (1ULL << VIRTIO_BLK_F_MQ))

struct vhost_blk_backend {
	struct block_device *bdev;
	fmode_t mode;
	bool read_only;
};

/* Our poll of a queue's kick eventfd, in place of the vhost core's. */
struct vhost_blk_kick {
	wait_queue_entry_t wait;
	poll_table table;
	wait_queue_head_t *wqh;	/* NULL: not polling */
};

struct vhost_blk_vq {
	struct vhost_virtqueue vq;
	/* serves kicks and completions of this queue, one CPU at a time */
	struct work_struct work;
	unsigned long flags;	/* VHOST_BLK_KICKED, VHOST_BLK_SERVING */
	struct vhost_blk_kick kick;	/* under the device's mutex */
	struct llist_head done;
	/* requests taken from the ring and not yet in the used ring */
	atomic_t inflight;
	/* the ring held more requests than it has entries (vq->mutex) */
	bool throttled;
};

struct vhost_blk {
	struct vhost_dev dev;
	struct vhost_blk_vq vqs[VHOST_BLK_MAX_QUEUES];
	struct vhost_virtqueue *vq_ptrs[VHOST_BLK_MAX_QUEUES];
	wait_queue_head_t drain_wq;
	spinlock_t id_lock;	/* id: the worker reads, ioctls write */
	char id[VHOST_BLK_ID_BYTES];
};

enum vhost_blk_data {
	VHOST_BLK_NO_DATA,
	VHOST_BLK_MAPPED,	/* bios on the guest's pages */
	VHOST_BLK_BOUNCED,	/* one bio on pages of our own */
};

struct vhost_blk_req {
	struct llist_node node;
	struct vhost_blk_vq *bvq;
	/* bios that have ended, linked through bi_next */
	struct bio *ended;
	atomic_t pending;
	bool bio_failed;
	enum vhost_blk_data data;
	bool to_guest;		/* the bios wrote guest memory */
	u16 head;
	u8 status;
	u8 __user *status_ptr;	/* NULL: the chain has no writable byte */
	u32 used_len;
	/* a bounced read: where its data goes */
	struct iovec *iov;
	unsigned int iov_nr;
	size_t iov_len;
};

/* vhost_blk_vq.flags */
enum {
	VHOST_BLK_KICKED,	/* the ring has new requests */
	/*
	 * The work is running and looks at the ring and the completion list
	 * again before it returns: kicks and completions need not queue it.
	 */
	VHOST_BLK_SERVING,
};

/* Rounds of one run of the work before it gives the CPU back. */
#define VHOST_BLK_ROUNDS 8

static struct kmem_cache *vhost_blk_req_cache;
static struct workqueue_struct *vhost_blk_wq;

static struct vhost_blk *vq_to_blk(struct vhost_virtqueue *vq)
{
	return container_of(vq->dev, struct vhost_blk, dev);
}

/*
 * Something for the queue's work (a flag or a completion, set before the
 * barrier): a running work sees it in its next round, else queue it.
 * Each wakeup of the work costs an address-space switch, which under
 * emulation flushes the software TLB.
 */
static void vhost_blk_wake(struct vhost_blk_vq *bvq)
{
	/* the news before the look at SERVING: pairs with vhost_blk_work() */
	smp_mb__after_atomic();
	if (!test_bit(VHOST_BLK_SERVING, &bvq->flags))
		queue_work(vhost_blk_wq, &bvq->work);
}

/* Serve the ring: its work takes new requests too. */
static void vhost_blk_kick(struct vhost_blk_vq *bvq)
{
	set_bit(VHOST_BLK_KICKED, &bvq->flags);
	vhost_blk_wake(bvq);
}

static void vhost_blk_req_put(struct vhost_blk_req *req)
{
	struct vhost_blk_vq *bvq = req->bvq;

	if (!atomic_dec_and_test(&req->pending))
		return;
	llist_add(&req->node, &bvq->done);
	vhost_blk_wake(bvq);
}

static void vhost_blk_bio_end(struct bio *bio)
{
	struct vhost_blk_req *req = bio->bi_private;
	struct bio *old;

	if (bio->bi_status)
		WRITE_ONCE(req->bio_failed, true);
	/* bios of one request end concurrently on several CPUs */
	do {
		old = READ_ONCE(req->ended);
		bio->bi_next = old;
	} while (cmpxchg(&req->ended, old, bio) != old);
	vhost_blk_req_put(req);
}

static void vhost_blk_submit(struct vhost_blk_req *req, struct bio *bio)
{
	bio->bi_end_io = vhost_blk_bio_end;
	bio->bi_private = req;
	atomic_inc(&req->pending);
	submit_bio(bio);
}

static bool vhost_blk_in_range(struct block_device *bdev, u64 sector, u64 nr)
{
	u64 cap = bdev_nr_sectors(bdev);

	return sector <= cap && nr <= cap - sector;
}

/* The block layer takes user pages directly only at the device's alignment. */
static bool vhost_blk_iter_aligned(struct block_device *bdev,
				   const struct iov_iter *iter)
{
	unsigned long mask = max_t(unsigned long, bdev_dma_alignment(bdev),
				   bdev_logical_block_size(bdev) - 1);
	size_t left = iov_iter_count(iter);
	const struct iovec *iov = iter->iov;
	unsigned long off = iter->iov_offset;

	for (; left; iov++) {
		size_t len = min(iov->iov_len - off, left);

		if (len && (((unsigned long)iov->iov_base + off) | len) & mask)
			return false;
		left -= len;
		off = 0;
	}
	return true;
}

static u8 vhost_blk_map(struct vhost_blk_req *req, struct block_device *bdev,
			enum req_op op, u64 sector, struct iov_iter *iter)
{
	while (iov_iter_count(iter)) {
		struct bio *bio;

		bio = bio_alloc(bdev, bio_iov_vecs_to_alloc(iter, BIO_MAX_VECS),
				op, GFP_KERNEL);
		bio->bi_iter.bi_sector = sector;
		if (bio_iov_iter_get_pages(bio, iter)) {
			/* guest memory went away under the chain */
			bio_put(bio);
			return VIRTIO_BLK_S_IOERR;
		}
		sector += bio->bi_iter.bi_size >> SECTOR_SHIFT;
		vhost_blk_submit(req, bio);
	}
	return VIRTIO_BLK_S_OK;
}

static void vhost_blk_free_pages(struct bio *bio)
{
	struct bvec_iter_all it;
	struct bio_vec *bv;

	bio_for_each_segment_all(bv, bio, it)
		__free_page(bv->bv_page);
}

static u8 vhost_blk_bounce(struct vhost_blk_req *req, struct block_device *bdev,
			   enum req_op op, u64 sector, struct iov_iter *iter)
{
	size_t len = iov_iter_count(iter);
	struct bio *bio;

	if (len > VHOST_BLK_BOUNCE_MAX)
		return VIRTIO_BLK_S_IOERR;
	if (op == REQ_OP_READ) {
		req->iov = kmemdup(iter->iov, iter->nr_segs * sizeof(*iter->iov),
				   GFP_KERNEL);
		if (!req->iov)
			return VIRTIO_BLK_S_IOERR;
		req->iov_nr = iter->nr_segs;
		req->iov_len = len;
	}
	bio = bio_alloc(bdev, DIV_ROUND_UP(len, PAGE_SIZE), op, GFP_KERNEL);
	bio->bi_iter.bi_sector = sector;
	while (len) {
		size_t n = min_t(size_t, len, PAGE_SIZE);
		struct page *page = alloc_page(GFP_KERNEL);

		if (!page)
			goto fail;
		if (op == REQ_OP_WRITE &&
		    copy_page_from_iter(page, 0, n, iter) != n) {
			__free_page(page);
			goto fail;
		}
		/* cannot fail: the bio has a vector for every page */
		__bio_add_page(bio, page, n, 0);
		len -= n;
	}
	vhost_blk_submit(req, bio);
	return VIRTIO_BLK_S_OK;

fail:
	vhost_blk_free_pages(bio);
	bio_put(bio);
	return VIRTIO_BLK_S_IOERR;
}

static u8 vhost_blk_rw(struct vhost_blk_req *req,
		       struct vhost_blk_backend *be, enum req_op op,
		       u64 sector, struct iov_iter *iter)
{
	size_t len = iov_iter_count(iter);

	if (op == REQ_OP_WRITE &&
	    (be->read_only || bdev_read_only(be->bdev)))
		return VIRTIO_BLK_S_IOERR;
	if (len & (SECTOR_SIZE - 1) ||
	    !vhost_blk_in_range(be->bdev, sector, len >> SECTOR_SHIFT))
		return VIRTIO_BLK_S_IOERR;
	if (!len)
		return VIRTIO_BLK_S_OK;
	req->to_guest = op == REQ_OP_READ;
	if (vhost_blk_iter_aligned(be->bdev, iter)) {
		req->data = VHOST_BLK_MAPPED;
		return vhost_blk_map(req, be->bdev, op, sector, iter);
	}
	req->data = VHOST_BLK_BOUNCED;
	return vhost_blk_bounce(req, be->bdev, op, sector, iter);
}

static u8 vhost_blk_flush(struct vhost_blk_req *req,
			  struct vhost_blk_backend *be)
{
	vhost_blk_submit(req, bio_alloc(be->bdev, 0,
					REQ_OP_WRITE | REQ_PREFLUSH,
					GFP_KERNEL));
	return VIRTIO_BLK_S_OK;
}

/*
 * Discard and write-zeroes: every segment is checked before any is issued,
 * so a bad segment fails the request without touching the device.
 */
static u8 vhost_blk_discard(struct vhost_blk_req *req,
			    struct vhost_blk_backend *be, u32 type,
			    struct iov_iter *iter)
{
	struct virtio_blk_discard_write_zeroes *segs;
	size_t len = iov_iter_count(iter);
	unsigned int i, nr = len / sizeof(*segs);
	u8 status = VIRTIO_BLK_S_OK;

	if (be->read_only || bdev_read_only(be->bdev))
		return VIRTIO_BLK_S_IOERR;
	if (!nr || len % sizeof(*segs) || nr > VHOST_BLK_MAX_SEGS)
		return VIRTIO_BLK_S_IOERR;
	segs = kvmalloc_array(nr, sizeof(*segs), GFP_KERNEL);
	if (!segs)
		return VIRTIO_BLK_S_IOERR;
	if (copy_from_iter(segs, len, iter) != len) {
		status = VIRTIO_BLK_S_IOERR;
		goto out;
	}
	for (i = 0; i < nr; i++) {
		u32 flags = le32_to_cpu(segs[i].flags);
		u32 allowed = type == VIRTIO_BLK_T_WRITE_ZEROES ?
			      VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;

		if (flags & ~allowed) {
			status = VIRTIO_BLK_S_UNSUPP;
			goto out;
		}
		if (!vhost_blk_in_range(be->bdev,
					le64_to_cpu(segs[i].sector),
					le32_to_cpu(segs[i].num_sectors))) {
			status = VIRTIO_BLK_S_IOERR;
			goto out;
		}
	}
	if (type == VIRTIO_BLK_T_DISCARD && !bdev_max_discard_sectors(be->bdev)) {
		status = VIRTIO_BLK_S_UNSUPP;
		goto out;
	}
	for (i = 0; i < nr; i++) {
		u64 sector = le64_to_cpu(segs[i].sector);
		u32 num = le32_to_cpu(segs[i].num_sectors);
		struct bio *bio = NULL;
		int ret;

		if (!num)
			continue;
		if (type == VIRTIO_BLK_T_DISCARD) {
			ret = __blkdev_issue_discard(be->bdev, sector, num,
						     GFP_KERNEL, &bio);
		} else {
			u32 flags = le32_to_cpu(segs[i].flags);
			unsigned int zflags = BLKDEV_ZERO_NOUNMAP;

			if (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
				zflags = 0;
			ret = __blkdev_issue_zeroout(be->bdev, sector, num,
						     GFP_KERNEL, &bio, zflags);
		}
		/* the chain's last bio ends after all the others */
		if (bio)
			vhost_blk_submit(req, bio);
		if (ret) {
			status = VIRTIO_BLK_S_IOERR;
			break;
		}
	}
out:
	kvfree(segs);
	return status;
}

static u8 vhost_blk_get_id(struct vhost_blk *vb, struct iov_iter *iter)
{
	char id[VHOST_BLK_ID_BYTES];
	size_t n = min_t(size_t, iov_iter_count(iter), sizeof(id));

	spin_lock(&vb->id_lock);
	memcpy(id, vb->id, sizeof(id));
	spin_unlock(&vb->id_lock);
	return copy_to_iter(id, n, iter) == n ? VIRTIO_BLK_S_OK :
						VIRTIO_BLK_S_IOERR;
}

static u8 __user *vhost_blk_status_ptr(struct iovec *iov, unsigned int nr)
{
	while (nr--) {
		if (iov[nr].iov_len)
			return (u8 __user *)iov[nr].iov_base + iov[nr].iov_len - 1;
	}
	return NULL;
}

/* Starts the request of the chain @head; it always ends on the done list. */
static void vhost_blk_req_start(struct vhost_blk_req *req,
				struct vhost_blk_backend *be,
				unsigned int out, unsigned int in)
{
	struct vhost_virtqueue *vq = &req->bvq->vq;
	size_t out_len = iov_length(vq->iov, out);
	size_t in_len = iov_length(vq->iov + out, in);
	struct virtio_blk_outhdr hdr;
	struct iov_iter from, to;
	u64 sector;
	u32 type;

	req->status_ptr = vhost_blk_status_ptr(vq->iov + out, in);
	if (!req->status_ptr) {
		vq_err(vq, "vhost-blk: chain %u has no writable status byte\n",
		       req->head);
		return;
	}
	req->used_len = min_t(size_t, in_len, U32_MAX);
	req->status = VIRTIO_BLK_S_IOERR;
	iov_iter_init(&from, WRITE, vq->iov, out, out_len);
	if (copy_from_iter(&hdr, sizeof(hdr), &from) != sizeof(hdr))
		return;
	iov_iter_init(&to, READ, vq->iov + out, in, in_len - 1);
	type = vhost32_to_cpu(vq, hdr.type);
	sector = vhost64_to_cpu(vq, hdr.sector);

	switch (type) {
	case VIRTIO_BLK_T_IN:
		req->status = vhost_blk_rw(req, be, REQ_OP_READ, sector, &to);
		break;
	case VIRTIO_BLK_T_OUT:
		req->status = vhost_blk_rw(req, be, REQ_OP_WRITE, sector, &from);
		break;
	case VIRTIO_BLK_T_FLUSH:
		req->status = vhost_blk_flush(req, be);
		break;
	case VIRTIO_BLK_T_GET_ID:
		req->status = vhost_blk_get_id(vq_to_blk(vq), &to);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		req->status = vhost_blk_discard(req, be, type, &from);
		break;
	default:
		req->status = VIRTIO_BLK_S_UNSUPP;
		break;
	}
}

static void vhost_blk_handle_vq(struct vhost_blk_vq *bvq)
{
	struct vhost_virtqueue *vq = &bvq->vq;
	struct vhost_dev *dev = vq->dev;
	struct vhost_blk_backend *be;
	struct vs_submit_plug plug;
	unsigned int out, in;
	size_t bytes = 0;
	int count = 0;

	mutex_lock(&vq->mutex);
	be = vhost_vq_get_backend(vq);
	if (!be)
		goto out;
	vhost_disable_notify(dev, vq);
	vs_submit_plug_start(&plug);
	for (;;) {
		struct vhost_blk_req *req;
		int head;

		/* a ring cannot hold more; the guest is replaying entries */
		if (atomic_read(&bvq->inflight) >= vq->num) {
			bvq->throttled = true;
			break;
		}
		head = vhost_get_vq_desc(vq, vq->iov, ARRAY_SIZE(vq->iov),
					 &out, &in, NULL, NULL);
		if (head < 0)
			break;	/* broken ring: the core told the error fd */
		if (head == vq->num) {
			if (unlikely(vhost_enable_notify(dev, vq))) {
				vhost_disable_notify(dev, vq);
				continue;
			}
			break;
		}
		req = kmem_cache_zalloc(vhost_blk_req_cache, GFP_KERNEL);
		if (!req) {
			vhost_discard_vq_desc(vq, 1);
			vhost_blk_kick(bvq);
			break;
		}
		req->bvq = bvq;
		req->head = head;
		atomic_set(&req->pending, 1);
		atomic_inc(&bvq->inflight);
		vhost_blk_req_start(req, be, out, in);
		vhost_blk_req_put(req);
		bytes += iov_length(vq->iov, out + in);
		if (vhost_exceeds_weight(vq, ++count, min_t(size_t, bytes, INT_MAX)))
			break;
	}
	vs_submit_plug_finish(&plug);
out:
	mutex_unlock(&vq->mutex);
}

/* The core's requeue of a queue that exceeded its weight ends up here. */
static void vhost_blk_handle_kick(struct vhost_work *work)
{
	struct vhost_virtqueue *vq = container_of(work, struct vhost_virtqueue,
						  poll.work);

	vhost_blk_kick(container_of(vq, struct vhost_blk_vq, vq));
}

/* The kick eventfd's wakeup, under its wait queue's lock: no sleeping. */
static int vhost_blk_kick_wake(wait_queue_entry_t *wait, unsigned int mode,
			       int sync, void *key)
{
	struct vhost_blk_vq *bvq = container_of(wait, struct vhost_blk_vq,
						kick.wait);

	if (key_to_poll(key) & EPOLLIN)
		vhost_blk_kick(bvq);
	return 0;
}

static void vhost_blk_kick_ptable(struct file *file, wait_queue_head_t *wqh,
				  poll_table *pt)
{
	struct vhost_blk_vq *bvq = container_of(pt, struct vhost_blk_vq,
						kick.table);

	bvq->kick.wqh = wqh;
	add_wait_queue(wqh, &bvq->kick.wait);
}

/*
 * Before anything that may put a kick file (SET_VRING_KICK, the core's stop
 * and cleanup): once off its wait queue, no wakeup of ours is running.
 */
static void vhost_blk_kicks_stop(struct vhost_blk *vb)
{
	int i;

	for (i = 0; i < VHOST_BLK_MAX_QUEUES; i++) {
		struct vhost_blk_kick *k = &vb->vqs[i].kick;

		if (k->wqh) {
			remove_wait_queue(k->wqh, &k->wait);
			k->wqh = NULL;
		}
	}
}

/* Poll every queue's kick file ourselves; the core stops polling them. */
static void vhost_blk_kicks_start(struct vhost_blk *vb)
{
	int i;

	for (i = 0; i < VHOST_BLK_MAX_QUEUES; i++) {
		struct vhost_blk_vq *bvq = &vb->vqs[i];
		struct vhost_virtqueue *vq = &bvq->vq;
		__poll_t mask;

		mutex_lock(&vq->mutex);
		if (vq->kick && !bvq->kick.wqh) {
			vhost_poll_stop(&vq->poll);
			init_waitqueue_func_entry(&bvq->kick.wait,
						  vhost_blk_kick_wake);
			init_poll_funcptr(&bvq->kick.table,
					  vhost_blk_kick_ptable);
			mask = vfs_poll(vq->kick, &bvq->kick.table);
			/* kicks that came before we listened */
			if (mask & EPOLLIN)
				vhost_blk_kick(bvq);
		}
		mutex_unlock(&vq->mutex);
	}
}

/* In the worker: guest memory is ours to touch again. */
static void vhost_blk_req_finish(struct vhost_blk_req *req)
{
	struct bio *bio = req->ended, *next;
	struct iov_iter to;

	if (req->data == VHOST_BLK_BOUNCED && req->iov)
		iov_iter_init(&to, READ, req->iov, req->iov_nr, req->iov_len);
	for (; bio; bio = next) {
		next = bio->bi_next;
		bio->bi_next = NULL;
		if (req->data == VHOST_BLK_MAPPED) {
			bio_release_pages(bio, req->to_guest);
		} else if (req->data == VHOST_BLK_BOUNCED) {
			struct bvec_iter_all it;
			struct bio_vec *bv;

			bio_for_each_segment_all(bv, bio, it) {
				if (req->iov && !req->bio_failed &&
				    copy_page_to_iter(bv->bv_page, bv->bv_offset,
						      bv->bv_len, &to) != bv->bv_len)
					req->status = VIRTIO_BLK_S_IOERR;
				__free_page(bv->bv_page);
			}
		}
		bio_put(bio);
	}
	kfree(req->iov);
	if (req->bio_failed && req->status == VIRTIO_BLK_S_OK)
		req->status = VIRTIO_BLK_S_IOERR;
	if (req->status_ptr && put_user(req->status, req->status_ptr))
		vq_err(&req->bvq->vq, "vhost-blk: status of chain %u unwritable\n",
		       req->head);
}

static void vhost_blk_complete(struct vhost_blk_vq *bvq)
{
	struct vhost_virtqueue *vq = &bvq->vq;
	struct vhost_blk *vb = vq_to_blk(vq);
	struct vring_used_elem heads[64];
	struct vhost_blk_req *req, *tmp;
	struct llist_node *list;
	unsigned int n = 0, total = 0;

	list = llist_del_all(&bvq->done);
	if (!list)
		return;
	mutex_lock(&vq->mutex);
	llist_for_each_entry_safe(req, tmp, list, node) {
		vhost_blk_req_finish(req);
		heads[n].id = cpu_to_vhost32(vq, req->head);
		heads[n].len = cpu_to_vhost32(vq, req->status_ptr ?
					      req->used_len : 0);
		kmem_cache_free(vhost_blk_req_cache, req);
		total++;
		if (++n == ARRAY_SIZE(heads)) {
			vhost_add_used_n(vq, heads, n);
			n = 0;
		}
	}
	if (n)
		vhost_add_used_n(vq, heads, n);
	vhost_signal(&vb->dev, vq);
	if (bvq->throttled) {
		bvq->throttled = false;
		vhost_blk_kick(bvq);
	}
	/* last, so that a drain that sees zero finds the used ring written */
	atomic_sub(total, &bvq->inflight);
	mutex_unlock(&vq->mutex);
	wake_up(&vb->drain_wq);
}

static void vhost_blk_work(struct work_struct *work)
{
	struct vhost_blk_vq *bvq = container_of(work, struct vhost_blk_vq, work);
	struct mm_struct *mm = bvq->vq.dev->mm;
	unsigned int rounds;

	/* no owner, no requests: the ioctls drain and flush before it goes */
	if (WARN_ON_ONCE(!mm))
		return;
	kthread_use_mm(mm);
	set_bit(VHOST_BLK_SERVING, &bvq->flags);
	for (rounds = 0; ; rounds++) {
		vhost_blk_complete(bvq);
		if (test_and_clear_bit(VHOST_BLK_KICKED, &bvq->flags))
			vhost_blk_handle_vq(bvq);
		/*
		 * A backend that completes while we submit (a file node's
		 * batch issued at the plug's end, a RAM disk) is served in
		 * the next round of this run, not by queueing it again.
		 * Cleared before the last look, so that whatever comes after
		 * it queues the work again.
		 */
		clear_bit(VHOST_BLK_SERVING, &bvq->flags);
		/* SERVING off before the last look: pairs with vhost_blk_wake() */
		smp_mb__after_atomic();
		if (llist_empty(&bvq->done) &&
		    !test_bit(VHOST_BLK_KICKED, &bvq->flags))
			break;
		if (rounds == VHOST_BLK_ROUNDS) {
			queue_work(vhost_blk_wq, &bvq->work);
			break;
		}
		set_bit(VHOST_BLK_SERVING, &bvq->flags);
		cond_resched();
	}
	kthread_unuse_mm(mm);
}

static struct vhost_blk_backend *vhost_blk_backend_open(int fd)
{
	struct vhost_blk_backend *be;
	struct block_device *bdev;
	struct fd f = fdget(fd);
	struct inode *inode;
	fmode_t mode;

	if (!f.file)
		return ERR_PTR(-EBADF);
	inode = file_inode(f.file);
	if (!S_ISBLK(inode->i_mode)) {
		fdput(f);
		return ERR_PTR(-ENOTBLK);
	}
	mode = FMODE_READ | (f.file->f_mode & FMODE_WRITE);
	/*
	 * Our own open of the device, not of the file: a dm table reload,
	 * a filter or a job pivot under it keeps this block device.
	 */
	bdev = blkdev_get_by_dev(inode->i_rdev, mode, NULL);
	fdput(f);
	if (IS_ERR(bdev))
		return ERR_CAST(bdev);
	be = kzalloc(sizeof(*be), GFP_KERNEL);
	if (!be) {
		blkdev_put(bdev, mode);
		return ERR_PTR(-ENOMEM);
	}
	be->bdev = bdev;
	be->mode = mode;
	be->read_only = !(mode & FMODE_WRITE) || bdev_read_only(bdev);
	return be;
}

static void vhost_blk_backend_put(struct vhost_blk_backend *be)
{
	if (!be)
		return;
	blkdev_put(be->bdev, be->mode);
	kfree(be);
}

/* Takes the queue's backend away and waits for its requests to complete. */
static struct vhost_blk_backend *vhost_blk_stop_vq(struct vhost_blk *vb,
						   struct vhost_blk_vq *bvq)
{
	struct vhost_blk_backend *be;

	mutex_lock(&bvq->vq.mutex);
	be = vhost_vq_get_backend(&bvq->vq);
	vhost_vq_set_backend(&bvq->vq, NULL);
	mutex_unlock(&bvq->vq.mutex);
	wait_event(vb->drain_wq, !atomic_read(&bvq->inflight));
	return be;
}

static void vhost_blk_flush_work(struct vhost_blk *vb)
{
	int i;

	for (i = 0; i < VHOST_BLK_MAX_QUEUES; i++)
		flush_work(&vb->vqs[i].work);
}

static void vhost_blk_stop_all(struct vhost_blk *vb)
{
	int i;

	for (i = 0; i < VHOST_BLK_MAX_QUEUES; i++)
		vhost_blk_backend_put(vhost_blk_stop_vq(vb, &vb->vqs[i]));
	vhost_dev_flush(&vb->dev);
	vhost_blk_flush_work(vb);
}

static long vhost_blk_set_backend(struct vhost_blk *vb, unsigned int index,
				  int fd)
{
	struct vhost_blk_backend *be = NULL, *old;
	struct vhost_blk_vq *bvq;
	struct vhost_virtqueue *vq;
	long r;

	mutex_lock(&vb->dev.mutex);
	r = vhost_dev_check_owner(&vb->dev);
	if (r)
		goto out;
	if (index >= VHOST_BLK_MAX_QUEUES) {
		r = -ENOBUFS;
		goto out;
	}
	bvq = &vb->vqs[index];
	vq = &bvq->vq;
	if (fd != -1) {
		be = vhost_blk_backend_open(fd);
		if (IS_ERR(be)) {
			r = PTR_ERR(be);
			goto out;
		}
	}
	mutex_lock(&vq->mutex);
	r = vhost_vq_access_ok(vq) ? 0 : -EFAULT;
	mutex_unlock(&vq->mutex);
	if (r)
		goto out_put;

	old = vhost_blk_stop_vq(vb, bvq);
	mutex_lock(&vq->mutex);
	vhost_vq_set_backend(vq, be);
	r = vhost_vq_init_access(vq);
	if (r)
		vhost_vq_set_backend(vq, NULL);
	mutex_unlock(&vq->mutex);
	vhost_blk_backend_put(old);
	if (r)
		goto out_put;
	/* serve what the guest queued while the queue had no backend */
	if (be)
		vhost_blk_kick(bvq);
	mutex_unlock(&vb->dev.mutex);
	return 0;

out_put:
	vhost_blk_backend_put(be);
out:
	mutex_unlock(&vb->dev.mutex);
	return r;
}

static long vhost_blk_set_features(struct vhost_blk *vb, u64 features)
{
	int i;

	if (features & ~VHOST_BLK_FEATURES)
		return -EOPNOTSUPP;
	mutex_lock(&vb->dev.mutex);
	for (i = 0; i < VHOST_BLK_MAX_QUEUES; i++) {
		struct vhost_virtqueue *vq = &vb->vqs[i].vq;

		mutex_lock(&vq->mutex);
		vq->acked_features = features;
		mutex_unlock(&vq->mutex);
	}
	mutex_unlock(&vb->dev.mutex);
	return 0;
}

static long vhost_blk_reset_owner(struct vhost_blk *vb)
{
	struct vhost_iotlb *umem;
	long r;

	mutex_lock(&vb->dev.mutex);
	r = vhost_dev_check_owner(&vb->dev);
	if (r)
		goto out;
	umem = vhost_dev_reset_owner_prepare();
	if (!umem) {
		r = -ENOMEM;
		goto out;
	}
	vhost_blk_kicks_stop(vb);
	vhost_blk_stop_all(vb);
	vhost_dev_stop(&vb->dev);
	/* a kick the vhost worker took before it stopped */
	vhost_blk_flush_work(vb);
	vhost_dev_reset_owner(&vb->dev, umem);
out:
	mutex_unlock(&vb->dev.mutex);
	return r;
}

static long vhost_blk_set_id(struct vhost_blk *vb, void __user *argp)
{
	struct vhost_blk_id id;

	if (copy_from_user(&id, argp, sizeof(id)))
		return -EFAULT;
	spin_lock(&vb->id_lock);
	memcpy(vb->id, id.id, sizeof(id.id));
	spin_unlock(&vb->id_lock);
	return 0;
}

static long vhost_blk_ioctl(struct file *f, unsigned int ioctl,
			    unsigned long arg)
{
	struct vhost_blk *vb = f->private_data;
	void __user *argp = (void __user *)arg;
	struct vhost_vring_file backend;
	u64 features;
	long r;

	switch (ioctl) {
	case VHOST_BLK_SET_BACKEND:
		if (copy_from_user(&backend, argp, sizeof(backend)))
			return -EFAULT;
		return vhost_blk_set_backend(vb, backend.index, backend.fd);
	case VHOST_BLK_SET_ID:
		return vhost_blk_set_id(vb, argp);
	case VHOST_GET_FEATURES:
		features = VHOST_BLK_FEATURES;
		return copy_to_user(argp, &features, sizeof(features)) ?
		       -EFAULT : 0;
	case VHOST_SET_FEATURES:
		if (copy_from_user(&features, argp, sizeof(features)))
			return -EFAULT;
		return vhost_blk_set_features(vb, features);
	case VHOST_RESET_OWNER:
		return vhost_blk_reset_owner(vb);
	default:
		mutex_lock(&vb->dev.mutex);
		r = vhost_dev_ioctl(&vb->dev, ioctl, argp);
		if (r != -ENOIOCTLCMD) {
			vhost_dev_flush(&vb->dev);
		} else if (ioctl == VHOST_SET_VRING_KICK) {
			/* the core puts the old kick file */
			vhost_blk_kicks_stop(vb);
			r = vhost_vring_ioctl(&vb->dev, ioctl, argp);
			vhost_blk_kicks_start(vb);
		} else {
			r = vhost_vring_ioctl(&vb->dev, ioctl, argp);
		}
		mutex_unlock(&vb->dev.mutex);
		return r;
	}
}

static int vhost_blk_open(struct inode *inode, struct file *f)
{
	struct vhost_blk *vb;
	int i;

	vb = kvzalloc(sizeof(*vb), GFP_KERNEL);
	if (!vb)
		return -ENOMEM;
	init_waitqueue_head(&vb->drain_wq);
	spin_lock_init(&vb->id_lock);
	for (i = 0; i < VHOST_BLK_MAX_QUEUES; i++) {
		struct vhost_blk_vq *bvq = &vb->vqs[i];

		vb->vq_ptrs[i] = &bvq->vq;
		bvq->vq.handle_kick = vhost_blk_handle_kick;
		init_llist_head(&bvq->done);
		INIT_WORK(&bvq->work, vhost_blk_work);
	}
	vhost_dev_init(&vb->dev, vb->vq_ptrs, VHOST_BLK_MAX_QUEUES, UIO_MAXIOV,
		       VHOST_BLK_WEIGHT, VHOST_BLK_BYTE_WEIGHT, true, NULL);
	f->private_data = vb;
	return 0;
}

static int vhost_blk_release(struct inode *inode, struct file *f)
{
	struct vhost_blk *vb = f->private_data;

	mutex_lock(&vb->dev.mutex);
	vhost_blk_kicks_stop(vb);
	mutex_unlock(&vb->dev.mutex);
	vhost_blk_stop_all(vb);
	vhost_dev_stop(&vb->dev);
	vhost_blk_flush_work(vb);
	vhost_dev_cleanup(&vb->dev);
	kvfree(vb);
	return 0;
}

static const struct file_operations vhost_blk_fops = {
	.owner		= THIS_MODULE,
	.open		= vhost_blk_open,
	.release	= vhost_blk_release,
	.unlocked_ioctl	= vhost_blk_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice vhost_blk_misc = {
	.minor	= VHOST_BLK_MINOR,
	.name	= "vhost-blk",
	.fops	= &vhost_blk_fops,
};

static int __init vhost_blk_init(void)
{
	int r;

	vhost_blk_req_cache = KMEM_CACHE(vhost_blk_req, 0);
	if (!vhost_blk_req_cache)
		return -ENOMEM;
	/* unbound: a queue's work runs where a CPU is free, not where it was kicked */
	vhost_blk_wq = alloc_workqueue("vhost-blk", WQ_UNBOUND, 0);
	if (!vhost_blk_wq) {
		r = -ENOMEM;
		goto out_cache;
	}
	r = misc_register(&vhost_blk_misc);
	if (r)
		goto out_wq;
	return 0;

out_wq:
	destroy_workqueue(vhost_blk_wq);
out_cache:
	kmem_cache_destroy(vhost_blk_req_cache);
	return r;
}

static void __exit vhost_blk_exit(void)
{
	misc_deregister(&vhost_blk_misc);
	destroy_workqueue(vhost_blk_wq);
	kmem_cache_destroy(vhost_blk_req_cache);
}

module_init(vhost_blk_init);
module_exit(vhost_blk_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vstorage: virtio-blk device backend on vhost");
MODULE_ALIAS_MISCDEV(VHOST_BLK_MINOR);
MODULE_ALIAS("devname:vhost-blk");
