// SPDX-License-Identifier: GPL-2.0
/*
 * qemu-img map's merge loop (qemu-img.c: img_map, entry_mergeable,
 * dump_map_entry), without the I/O.
 */
#include <string.h>

#include "mapfmt.h"

bool map_entry_mergeable(const struct map_entry *curr,
			 const struct map_entry *next)
{
	if (curr->length == 0)
		return false;
	if (curr->zero != next->zero || curr->data != next->data ||
	    curr->depth != next->depth || curr->present != next->present ||
	    !curr->file != !next->file ||
	    curr->has_offset != next->has_offset)
		return false;
	if (curr->file && strcmp(curr->file, next->file))
		return false;
	if (curr->has_offset && curr->offset + curr->length != next->offset)
		return false;
	return true;
}

void map_merger_init(struct map_merger *m, uint64_t start, bool human,
		     map_emit_fn emit, void *arg)
{
	memset(m, 0, sizeof(*m));
	m->curr.start = start;
	m->human = human;
	m->emit = emit;
	m->arg = arg;
}

int map_merger_push(struct map_merger *m, const struct map_entry *next)
{
	struct map_entry n = *next;
	int ret;

	if (map_entry_mergeable(&m->curr, &n)) {
		m->curr.length += n.length;
		return 0;
	}
	if (m->curr.length > 0) {
		ret = m->emit(&m->curr, false, m->arg);
		if (ret)
			return ret;
		/* dump_map_entry(): the human format ignores the distinction
		 * between 0, ZERO and ZERO|DATA
		 */
		if (m->human && (!n.data || n.zero)) {
			n.data = false;
			n.zero = true;
		}
	}
	m->curr = n;
	return 0;
}

int map_merger_finish(struct map_merger *m)
{
	return m->emit(&m->curr, true, m->arg);
}
