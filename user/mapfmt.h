/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Merging of block-status extents exactly as `qemu-img map` (QEMU 7.2)
 * does it, so that `vstoragectl -j node map` and
 * `qemu-img map --output=json` compare equal once parsed. Pure; unit-tested.
 */
#ifndef VS_MAPFMT_H
#define VS_MAPFMT_H

#include <stdbool.h>
#include <stdint.h>

struct map_entry {
	uint64_t start, length;
	uint64_t offset;	/* valid if has_offset */
	uint32_t depth;
	bool present, zero, data, has_offset;
	/* host node when has_offset, else NULL; compared by content */
	const char *file;
};

/* Called for each merged entry; last for the final one. Non-zero stops. */
typedef int (*map_emit_fn)(const struct map_entry *e, bool last, void *arg);

struct map_merger {
	struct map_entry curr;
	bool human;
	map_emit_fn emit;
	void *arg;
};

/*
 * human: qemu-img's human format treats "zero" and "not data" alike and
 * merges more; JSON keeps every distinction.
 */
void map_merger_init(struct map_merger *m, uint64_t start, bool human,
		     map_emit_fn emit, void *arg);
int map_merger_push(struct map_merger *m, const struct map_entry *next);
/* Emits the last entry (a zero-length one for an empty range, as qemu-img). */
int map_merger_finish(struct map_merger *m);

bool map_entry_mergeable(const struct map_entry *curr,
			 const struct map_entry *next);

#endif /* VS_MAPFMT_H */
