/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the two targets of dm-vstorage-copy-before-write share: the
 * copy-before-write filter (copy_before_write.c) and its read-only
 * snapshot-access face (snapshot_access.c), which reads the backup's
 * point in time while the filter keeps it.
 */
#ifndef _VSTORAGE_CBW_H
#define _VSTORAGE_CBW_H

#include <linux/list.h>
#include <linux/types.h>

struct cbw_state;
struct vs_node;

/*
 * A read of the point in time that the filter must not let a write
 * overtake: until cbw_read_end(), a write to one of its chunks waits.
 */
struct cbw_read {
	struct list_head entry;
	u64 first, last;		/* chunks */
};

/*
 * The state of copy-before-write node NODE (the caller holds NODE) with a
 * reference of its own, or NULL when NODE is another kind of node.
 */
struct cbw_state *cbw_state_hold(struct vs_node *node);
void cbw_state_put(struct cbw_state *st);
/* The backup target's device: what the snapshot is read from. */
dev_t cbw_state_target_dev(const struct cbw_state *st);
u64 cbw_state_size(const struct cbw_state *st);
/* Writes that waited for a read of the snapshot. */
u64 cbw_state_held_writes(const struct cbw_state *st);

/*
 * Before a read of [offset, offset + length) of the snapshot goes to the
 * target: true if it holds writes off its chunks (the read may reach the
 * node below through the target's backing), then cbw_read_end() must
 * follow its completion.
 */
bool cbw_read_begin(struct cbw_state *st, struct cbw_read *rd, u64 offset,
		    u64 length);
void cbw_read_end(struct cbw_state *st, struct cbw_read *rd);

int snapshot_access_register(void);
void snapshot_access_unregister(void);

#endif /* _VSTORAGE_CBW_H */
