/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vhost-blk: an in-kernel virtio-blk device backend (vhost_blk.ko).
 *
 * /dev/vhost-blk takes the standard vhost ioctls of <linux/vhost.h>
 * (VHOST_SET_OWNER, VHOST_GET_FEATURES, VHOST_SET_FEATURES,
 * VHOST_SET_MEM_TABLE, VHOST_SET_VRING_*, VHOST_GET_VRING_BASE,
 * VHOST_RESET_OWNER) and the two below. Documentation/vhost-blk.rst.
 */
#ifndef _UAPI_LINUX_VHOST_BLK_H
#define _UAPI_LINUX_VHOST_BLK_H

#include <linux/types.h>
#include <linux/vhost.h>

/* Queues one /dev/vhost-blk instance serves (virtqueues 0..N-1). */
#define VHOST_BLK_MAX_QUEUES 16

/* Bytes of a virtio-blk serial number (VIRTIO_BLK_ID_BYTES). */
#define VHOST_BLK_ID_BYTES 20

/*
 * Attach the open block device @fd to virtqueue @index, or detach it with
 * fd -1. Requests in flight on the queue complete before the call returns.
 * The queue is read-only when the fd was opened without write access or the
 * device is read-only. Same number as the earlier vhost-blk series.
 */
#define VHOST_BLK_SET_BACKEND _IOW(VHOST_VIRTIO, 0x50, struct vhost_vring_file)

/* The serial number VIRTIO_BLK_T_GET_ID answers (NUL-padded, may be full). */
struct vhost_blk_id {
	char id[VHOST_BLK_ID_BYTES];
};

#define VHOST_BLK_SET_ID _IOW(VHOST_VIRTIO, 0x51, struct vhost_blk_id)

#endif /* _UAPI_LINUX_VHOST_BLK_H */
