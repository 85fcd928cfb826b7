/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vstorage: QEMU's block layer as device-mapper targets.
 *
 * Generic netlink family "vstorage". The YAML specification in
 * Documentation/netlink/vstorage.yaml is the source of truth for this
 * header; Documentation/netlink.rst explains every command.
 *
 * Conventions: attributes start at 1, 64-bit values are padded with
 * VSTORAGE_A_PAD, repeated attributes form arrays, replies share the
 * request's command, and notifications carry the same object a GET reply
 * carries.
 */
#ifndef _UAPI_LINUX_VSTORAGE_H
#define _UAPI_LINUX_VSTORAGE_H

#include <linux/types.h>

#define VSTORAGE_GENL_NAME		"vstorage"
#define VSTORAGE_GENL_VERSION		1
#define VSTORAGE_GENL_MCGRP_EVENTS	"events"

/* QEMU's node-name rules: [A-Za-z][A-Za-z0-9_.-]{0,30} */
#define VSTORAGE_NODE_NAME_MAX		31
#define VSTORAGE_DRIVER_NAME_MAX	31
#define VSTORAGE_PATH_MAX		4095

/* Device-mapper devices created by vstoragectl carry this UUID prefix. */
#define VSTORAGE_DM_UUID_PREFIX		"VSTORAGE-"
/* Device-mapper target names are "vstorage-<driver>". */
#define VSTORAGE_DM_TARGET_PREFIX	"vstorage-"

enum vstorage_cmd {
	VSTORAGE_CMD_UNSPEC,
	/*
	 * Request: NODE_NAME, or NODE_DEV_MAJOR + NODE_DEV_MINOR; or a dump.
	 * Reply: one node object per message.
	 */
	VSTORAGE_CMD_NODE_GET,
	/* Notifications only (events group): a node appeared/changed/went. */
	VSTORAGE_CMD_NODE_NEW,
	VSTORAGE_CMD_NODE_CHANGE,
	VSTORAGE_CMD_NODE_DEL,
	/*
	 * Request: NODE_NAME, OFFSET, optional LENGTH (default: to the end),
	 * optional MAX_EXTENTS. Reply: NODE_NAME and an array of EXTENT
	 * covering [OFFSET, OFFSET + returned length) without gaps; a caller
	 * continues from the end of the last extent.
	 */
	VSTORAGE_CMD_BLOCK_STATUS,
	/*
	 * Throttle groups (Documentation/netlink.rst, "Throttle groups").
	 * NEW (admin): TGROUP_NAME, optional TGROUP_LIMITS; -EEXIST if the
	 * name is taken. SET (admin): TGROUP_NAME, TGROUP_LIMITS; the limits
	 * present replace the group's, the others stay; applies at once to
	 * queued and running I/O. DEL (admin): TGROUP_NAME; -EBUSY while a
	 * node is a member. GET: TGROUP_NAME, or a dump; reply: TGROUP_NAME,
	 * TGROUP_LIMITS (every limit, 0 = not set), TGROUP_MEMBER (node
	 * names, repeated), TGROUP_STATS. An invalid combination of limits
	 * is refused with -EINVAL and an extack message naming the limits.
	 * Notifications (events group): the same object on NEW, SET, DEL.
	 */
	VSTORAGE_CMD_TGROUP_NEW,
	VSTORAGE_CMD_TGROUP_SET,
	VSTORAGE_CMD_TGROUP_DEL,
	VSTORAGE_CMD_TGROUP_GET,
	/*
	 * Block jobs (Documentation/netlink.rst, "Block jobs"). Every request
	 * and reply carries one VSTORAGE_A_JOB nest (vstorage_job_attr).
	 *
	 * JOB_NEW (admin): JOB_TYPE, JOB_NODE, optional JOB_ID (generated
	 * when absent), JOB_BASE, JOB_FILTER, JOB_SPEED, JOB_ON_ERROR,
	 * JOB_AUTO_FINALIZE, JOB_AUTO_DISMISS. The job starts running at
	 * once; the reply is the job object. The graph changes a job needs
	 * before it starts (a filter inserted, a base made writable) are made
	 * by userspace first, and those after it (at finalize) by userspace
	 * too: device-mapper tables are loaded from userspace only.
	 * JOB_GET: JOB_ID, or a dump; reply: the job object.
	 * JOB_PAUSE, JOB_RESUME, JOB_CANCEL, JOB_COMPLETE, JOB_DISMISS (admin):
	 * JOB_ID; QEMU's verbs, refused with -EBUSY and an extack message
	 * naming the state where QEMU refuses them.
	 * JOB_SET_SPEED (admin): JOB_ID, JOB_SPEED.
	 * JOB_FINALIZE (admin): JOB_ID, optional JOB_ERROR: sent by whoever
	 * made the graph changes of a pending job (vstoragectl); with
	 * JOB_ERROR the job concludes failed with that message.
	 * Notifications (events group), each with the job object:
	 * JOB_STATUS on every state change, JOB_READY, JOB_PENDING,
	 * JOB_COMPLETED (JOB_ERROR when it failed), JOB_CANCELLED, and
	 * JOB_IO_ERROR (JOB_OPERATION, JOB_ACTION) when on-error is applied.
	 */
	VSTORAGE_CMD_JOB_NEW,
	VSTORAGE_CMD_JOB_GET,
	VSTORAGE_CMD_JOB_PAUSE,
	VSTORAGE_CMD_JOB_RESUME,
	VSTORAGE_CMD_JOB_CANCEL,
	VSTORAGE_CMD_JOB_COMPLETE,
	VSTORAGE_CMD_JOB_FINALIZE,
	VSTORAGE_CMD_JOB_DISMISS,
	VSTORAGE_CMD_JOB_SET_SPEED,
	VSTORAGE_CMD_JOB_STATUS,
	VSTORAGE_CMD_JOB_READY,
	VSTORAGE_CMD_JOB_PENDING,
	VSTORAGE_CMD_JOB_COMPLETED,
	VSTORAGE_CMD_JOB_CANCELLED,
	VSTORAGE_CMD_JOB_IO_ERROR,
	/*
	 * Dirty bitmaps (Documentation/bitmaps.rst). Every request carries
	 * NODE_NAME and one VSTORAGE_A_BITMAP nest (vstorage_bitmap_attr)
	 * naming the bitmap (BITMAP_NAME), but a GET dump of all a node's
	 * bitmaps.
	 * BITMAP_ADD (admin): BITMAP_NAME, optional BITMAP_GRANULARITY
	 * (default 65536), BITMAP_PERSISTENT, BITMAP_DISABLED.
	 * BITMAP_DEL, BITMAP_CLEAR, BITMAP_ENABLE, BITMAP_DISABLE (admin):
	 * BITMAP_NAME. BITMAP_MERGE (admin): BITMAP_NAME (the target) and
	 * BITMAP_SOURCE (repeated, at least one).
	 * BITMAP_GET: BITMAP_NAME, or a dump (NODE_NAME, no nest needed).
	 * Reply: NODE_NAME and the bitmap object: BITMAP_NAME,
	 * BITMAP_GRANULARITY, BITMAP_COUNT, BITMAP_PERSISTENT, BITMAP_ENABLED,
	 * BITMAP_BUSY, BITMAP_INCONSISTENT.
	 */
	VSTORAGE_CMD_BITMAP_ADD,
	VSTORAGE_CMD_BITMAP_DEL,
	VSTORAGE_CMD_BITMAP_CLEAR,
	VSTORAGE_CMD_BITMAP_ENABLE,
	VSTORAGE_CMD_BITMAP_DISABLE,
	VSTORAGE_CMD_BITMAP_MERGE,
	VSTORAGE_CMD_BITMAP_GET,

	__VSTORAGE_CMD_MAX,
	VSTORAGE_CMD_MAX = __VSTORAGE_CMD_MAX - 1
};

enum vstorage_attr {
	VSTORAGE_A_UNSPEC,
	VSTORAGE_A_PAD,
	VSTORAGE_A_NODE_NAME,		/* string */
	VSTORAGE_A_NODE_DRIVER,		/* string, e.g. "raw" */
	VSTORAGE_A_NODE_SIZE,		/* u64, bytes */
	VSTORAGE_A_NODE_READ_ONLY,	/* u8, 0 or 1 */
	VSTORAGE_A_NODE_DM_NAME,	/* string, device-mapper device name */
	VSTORAGE_A_NODE_DEV_MAJOR,	/* u32 */
	VSTORAGE_A_NODE_DEV_MINOR,	/* u32 */
	VSTORAGE_A_NODE_CHILD,		/* nest vstorage_child_attr, repeated */
	VSTORAGE_A_NODE_INFO,		/* nest vstorage_info_attr */
	VSTORAGE_A_NODE_STATS,		/* nest vstorage_stats_attr */
	VSTORAGE_A_OFFSET,		/* u64, bytes */
	VSTORAGE_A_LENGTH,		/* u64, bytes */
	VSTORAGE_A_MAX_EXTENTS,		/* u32, 1..VSTORAGE_MAX_EXTENTS */
	VSTORAGE_A_EXTENT,		/* nest vstorage_extent_attr, repeated */
	VSTORAGE_A_TGROUP_NAME,		/* string, node-name rules */
	VSTORAGE_A_TGROUP_LIMITS,	/* nest vstorage_throttle_attr */
	VSTORAGE_A_TGROUP_MEMBER,	/* string, node name, repeated */
	VSTORAGE_A_TGROUP_STATS,	/* nest vstorage_tgroup_stats_attr */
	VSTORAGE_A_JOB,			/* nest vstorage_job_attr */
	VSTORAGE_A_BITMAP,		/* nest vstorage_bitmap_attr */

	__VSTORAGE_A_MAX,
	VSTORAGE_A_MAX = __VSTORAGE_A_MAX - 1
};

#define VSTORAGE_MAX_EXTENTS		1024

/* An edge of the node graph. */
enum vstorage_child_attr {
	VSTORAGE_CHILD_UNSPEC,
	VSTORAGE_CHILD_ROLE,		/* string: "file", "backing" */
	VSTORAGE_CHILD_NODE_NAME,	/* string, when the child is a node */
	VSTORAGE_CHILD_PATH,		/* string, the path that was opened */
	VSTORAGE_CHILD_DEV_MAJOR,	/* u32, when the child is a block device */
	VSTORAGE_CHILD_DEV_MINOR,	/* u32 */

	__VSTORAGE_CHILD_MAX,
	VSTORAGE_CHILD_MAX = __VSTORAGE_CHILD_MAX - 1
};

/* Driver-specific facts; each driver fills the ones that apply. */
enum vstorage_info_attr {
	VSTORAGE_INFO_UNSPEC,
	VSTORAGE_INFO_PAD,
	VSTORAGE_INFO_FORMAT,		/* string, image format */
	VSTORAGE_INFO_OFFSET,		/* u64, raw: offset into the child */
	VSTORAGE_INFO_DIRECT_IO,	/* u8, child file is opened O_DIRECT */
	VSTORAGE_INFO_VERSION,		/* u32, qcow2 version */
	VSTORAGE_INFO_VIRTUAL_SIZE,	/* u64 */
	VSTORAGE_INFO_CLUSTER_SIZE,	/* u32 */
	VSTORAGE_INFO_ALLOCATED,	/* u64, bytes allocated in the image */
	VSTORAGE_INFO_BACKING_NODE,	/* string */
	VSTORAGE_INFO_DIRTY,		/* u8 */
	VSTORAGE_INFO_CORRUPT,		/* u8 */
	VSTORAGE_INFO_CACHE_SIZE,	/* u64, bytes */
	VSTORAGE_INFO_CACHE_HITS,	/* u64 */
	VSTORAGE_INFO_CACHE_MISSES,	/* u64 */
	VSTORAGE_INFO_EXTENDED_L2,	/* u8 */
	VSTORAGE_INFO_COMPRESSION,	/* string */
	VSTORAGE_INFO_REFCOUNT_BITS,	/* u32 */
	VSTORAGE_INFO_LAZY_REFCOUNTS,	/* u8 */
	VSTORAGE_INFO_THROTTLE_GROUP,	/* string, a throttle node's group */
	VSTORAGE_INFO_COR_BASE,		/* string, copy-on-read: base node */
	VSTORAGE_INFO_COR_POPULATED,	/* u64, copy-on-read: bytes copied up */

	__VSTORAGE_INFO_MAX,
	VSTORAGE_INFO_MAX = __VSTORAGE_INFO_MAX - 1
};

enum vstorage_stats_attr {
	VSTORAGE_STATS_UNSPEC,
	VSTORAGE_STATS_PAD,
	VSTORAGE_STATS_RD_IOS,		/* u64 */
	VSTORAGE_STATS_RD_BYTES,	/* u64 */
	VSTORAGE_STATS_WR_IOS,		/* u64 */
	VSTORAGE_STATS_WR_BYTES,	/* u64 */
	VSTORAGE_STATS_FLUSH_IOS,	/* u64 */
	VSTORAGE_STATS_DISCARD_IOS,	/* u64, discards and write-zeroes */
	VSTORAGE_STATS_ERRORS,		/* u64, failed requests */

	__VSTORAGE_STATS_MAX,
	VSTORAGE_STATS_MAX = __VSTORAGE_STATS_MAX - 1
};

/*
 * One extent of block status, in the words of `qemu-img map`:
 * DATA ("data"): reads return data stored in some layer;
 * ZERO ("zero"): reads return zeroes;
 * ALLOCATED ("present"): some layer of the chain defines the contents; DEPTH
 * names that layer (0 = the node itself, 1 = its backing node, ...), or
 * equals the chain length when no layer does;
 * OFFSET_VALID: HOST_OFFSET is the byte offset of the data in the file or
 * device of that layer, and HOST_NODE the node of that layer.
 */
enum vstorage_extent_attr {
	VSTORAGE_EXTENT_UNSPEC,
	VSTORAGE_EXTENT_PAD,
	VSTORAGE_EXTENT_OFFSET,		/* u64 */
	VSTORAGE_EXTENT_LENGTH,		/* u64 */
	VSTORAGE_EXTENT_FLAGS,		/* u32, VSTORAGE_BS_* */
	VSTORAGE_EXTENT_DEPTH,		/* u32 */
	VSTORAGE_EXTENT_HOST_OFFSET,	/* u64 */
	VSTORAGE_EXTENT_HOST_NODE,	/* string, node holding the data */

	__VSTORAGE_EXTENT_MAX,
	VSTORAGE_EXTENT_MAX = __VSTORAGE_EXTENT_MAX - 1
};

#define VSTORAGE_BS_DATA		(1U << 0)
#define VSTORAGE_BS_ZERO		(1U << 1)
#define VSTORAGE_BS_ALLOCATED		(1U << 2)
#define VSTORAGE_BS_OFFSET_VALID	(1U << 3)

/*
 * QEMU's throttle limits (ThrottleLimits in qapi/block-core.json), all
 * u64: per bucket the rate (bytes or operations per second), its burst
 * rate ("-max") and the burst's length in seconds ("-max-length", 1 if 0
 * or absent). 0 means not set. The order is the bucket's, three
 * attributes per bucket, so that attribute = VSTORAGE_THROTTLE_BPS_TOTAL
 * + 3 * bucket + {0, 1, 2}.
 */
enum vstorage_throttle_attr {
	VSTORAGE_THROTTLE_UNSPEC,
	VSTORAGE_THROTTLE_PAD,
	VSTORAGE_THROTTLE_BPS_TOTAL,
	VSTORAGE_THROTTLE_BPS_TOTAL_MAX,
	VSTORAGE_THROTTLE_BPS_TOTAL_MAX_LENGTH,
	VSTORAGE_THROTTLE_BPS_READ,
	VSTORAGE_THROTTLE_BPS_READ_MAX,
	VSTORAGE_THROTTLE_BPS_READ_MAX_LENGTH,
	VSTORAGE_THROTTLE_BPS_WRITE,
	VSTORAGE_THROTTLE_BPS_WRITE_MAX,
	VSTORAGE_THROTTLE_BPS_WRITE_MAX_LENGTH,
	VSTORAGE_THROTTLE_IOPS_TOTAL,
	VSTORAGE_THROTTLE_IOPS_TOTAL_MAX,
	VSTORAGE_THROTTLE_IOPS_TOTAL_MAX_LENGTH,
	VSTORAGE_THROTTLE_IOPS_READ,
	VSTORAGE_THROTTLE_IOPS_READ_MAX,
	VSTORAGE_THROTTLE_IOPS_READ_MAX_LENGTH,
	VSTORAGE_THROTTLE_IOPS_WRITE,
	VSTORAGE_THROTTLE_IOPS_WRITE_MAX,
	VSTORAGE_THROTTLE_IOPS_WRITE_MAX_LENGTH,
	VSTORAGE_THROTTLE_IOPS_SIZE,

	__VSTORAGE_THROTTLE_MAX,
	VSTORAGE_THROTTLE_MAX = __VSTORAGE_THROTTLE_MAX - 1
};

/* What a throttle group let through and held back, since it was made. */
enum vstorage_tgroup_stats_attr {
	VSTORAGE_TGROUP_STATS_UNSPEC,
	VSTORAGE_TGROUP_STATS_PAD,
	VSTORAGE_TGROUP_STATS_RD_BYTES,		/* u64 */
	VSTORAGE_TGROUP_STATS_RD_OPS,		/* u64 */
	VSTORAGE_TGROUP_STATS_WR_BYTES,		/* u64 */
	VSTORAGE_TGROUP_STATS_WR_OPS,		/* u64 */
	VSTORAGE_TGROUP_STATS_THROTTLED_NS,	/* u64, sum of bios' waits */
	VSTORAGE_TGROUP_STATS_THROTTLED_OPS,	/* u64, bios that waited */
	VSTORAGE_TGROUP_STATS_QUEUED,		/* u32, bios waiting now */

	__VSTORAGE_TGROUP_STATS_MAX,
	VSTORAGE_TGROUP_STATS_MAX = __VSTORAGE_TGROUP_STATS_MAX - 1
};

/* QEMU's id rules ([A-Za-z][A-Za-z0-9_.-]*), at most this long */
#define VSTORAGE_JOB_ID_MAX		31
#define VSTORAGE_JOB_ERROR_MAX		255

enum vstorage_job_attr {
	VSTORAGE_JOB_UNSPEC,
	VSTORAGE_JOB_PAD,
	VSTORAGE_JOB_ID,		/* string */
	VSTORAGE_JOB_TYPE,		/* string: "stream", "commit" */
	VSTORAGE_JOB_NODE,		/* string: stream's node, commit's top */
	VSTORAGE_JOB_BASE,		/* string, optional */
	/* string: the filter node the job works through (stream's
	 * copy-on-read node, active commit's vstorage-job node)
	 */
	VSTORAGE_JOB_FILTER,
	VSTORAGE_JOB_STATE,		/* u32, enum vstorage_job_state */
	VSTORAGE_JOB_OFFSET,		/* u64, bytes done (QEMU's offset) */
	VSTORAGE_JOB_LEN,		/* u64, bytes to do (QEMU's len) */
	VSTORAGE_JOB_SPEED,		/* u64, bytes per second, 0: unlimited */
	VSTORAGE_JOB_ON_ERROR,		/* u32, enum vstorage_job_on_error */
	VSTORAGE_JOB_AUTO_FINALIZE,	/* u8 */
	VSTORAGE_JOB_AUTO_DISMISS,	/* u8 */
	VSTORAGE_JOB_ERROR,		/* string, why the job failed */
	VSTORAGE_JOB_BUSY,		/* u8, copying right now */
	VSTORAGE_JOB_PAUSED,		/* u8, paused by the user */
	VSTORAGE_JOB_ACTIVE,		/* u8, commit of the active layer */
	VSTORAGE_JOB_OPERATION,		/* u32, JOB_IO_ERROR: 0 read, 1 write */
	VSTORAGE_JOB_ACTION,		/* u32, JOB_IO_ERROR: enum vstorage_job_action */
	VSTORAGE_JOB_CANCELLED,		/* u8, concluded by cancel */
	VSTORAGE_JOB_PIVOTED,		/* u8, active commit: device on base */
	/* string: mirror's and backup's target node (a node of any driver) */
	VSTORAGE_JOB_TARGET,
	VSTORAGE_JOB_SYNC,		/* u32, enum vstorage_job_sync */
	VSTORAGE_JOB_GRANULARITY,	/* u32, bytes: mirror's dirty bitmap */
	VSTORAGE_JOB_COPY_MODE,		/* u32, enum vstorage_job_copy_mode */
	VSTORAGE_JOB_BITMAP,		/* string: backup's sync=bitmap bitmap */
	VSTORAGE_JOB_BITMAP_MODE,	/* u32, enum vstorage_job_bitmap_mode */
	/* u8: cancelled when ready, it completes without the pivot (QEMU's
	 * block-job-cancel of a ready mirror or active commit)
	 */
	VSTORAGE_JOB_NO_PIVOT,

	__VSTORAGE_JOB_MAX,
	VSTORAGE_JOB_MAX = __VSTORAGE_JOB_MAX - 1
};

/* QEMU's JobStatus, in its order */
enum vstorage_job_state {
	VSTORAGE_JOB_S_UNDEFINED,
	VSTORAGE_JOB_S_CREATED,
	VSTORAGE_JOB_S_RUNNING,
	VSTORAGE_JOB_S_PAUSED,
	VSTORAGE_JOB_S_READY,
	VSTORAGE_JOB_S_STANDBY,
	VSTORAGE_JOB_S_WAITING,
	VSTORAGE_JOB_S_PENDING,
	VSTORAGE_JOB_S_ABORTING,
	VSTORAGE_JOB_S_CONCLUDED,
	VSTORAGE_JOB_S_NULL,
	__VSTORAGE_JOB_S_MAX
};

/* QEMU's BlockdevOnError */
enum vstorage_job_on_error {
	VSTORAGE_JOB_ON_ERROR_REPORT,
	VSTORAGE_JOB_ON_ERROR_IGNORE,
	VSTORAGE_JOB_ON_ERROR_ENOSPC,
	VSTORAGE_JOB_ON_ERROR_STOP,
	__VSTORAGE_JOB_ON_ERROR_MAX
};

/* QEMU's MirrorSyncMode (mirror: full, top, none; backup: all four) */
enum vstorage_job_sync {
	VSTORAGE_JOB_SYNC_FULL,
	VSTORAGE_JOB_SYNC_TOP,
	VSTORAGE_JOB_SYNC_NONE,
	VSTORAGE_JOB_SYNC_BITMAP,
	__VSTORAGE_JOB_SYNC_MAX
};

/* QEMU's MirrorCopyMode */
enum vstorage_job_copy_mode {
	VSTORAGE_JOB_COPY_BACKGROUND,
	VSTORAGE_JOB_COPY_WRITE_BLOCKING,
	__VSTORAGE_JOB_COPY_MAX
};

/* QEMU's BitmapSyncMode */
enum vstorage_job_bitmap_mode {
	VSTORAGE_JOB_BITMAP_ON_SUCCESS,
	VSTORAGE_JOB_BITMAP_NEVER,
	VSTORAGE_JOB_BITMAP_ALWAYS,
	__VSTORAGE_JOB_BITMAP_MAX
};

/* QEMU's limit: a bitmap name is 1 to 1023 bytes (qcow2's limit too) */
#define VSTORAGE_BITMAP_NAME_MAX	1023

enum vstorage_bitmap_attr {
	VSTORAGE_BITMAP_UNSPEC,
	VSTORAGE_BITMAP_PAD,
	VSTORAGE_BITMAP_NAME,		/* string, no control characters */
	VSTORAGE_BITMAP_GRANULARITY,	/* u32, bytes a bit covers: 2^9..2^31 */
	VSTORAGE_BITMAP_PERSISTENT,	/* u8: stored in the image (qcow2) */
	VSTORAGE_BITMAP_DISABLED,	/* u8, ADD: does not record at first */
	VSTORAGE_BITMAP_SOURCE,		/* string, MERGE: repeated */
	VSTORAGE_BITMAP_COUNT,		/* u64, dirty bytes (bits * granularity) */
	VSTORAGE_BITMAP_ENABLED,	/* u8, records writes */
	VSTORAGE_BITMAP_BUSY,		/* u8, in use by a job (frozen) */
	/* u8: was in use when the image was opened (unclean shutdown) */
	VSTORAGE_BITMAP_INCONSISTENT,

	__VSTORAGE_BITMAP_MAX,
	VSTORAGE_BITMAP_MAX = __VSTORAGE_BITMAP_MAX - 1
};

/* QEMU's BlockErrorAction */
enum vstorage_job_action {
	VSTORAGE_JOB_ACTION_IGNORE,
	VSTORAGE_JOB_ACTION_REPORT,
	VSTORAGE_JOB_ACTION_STOP,
};

#endif /* _UAPI_LINUX_VSTORAGE_H */
