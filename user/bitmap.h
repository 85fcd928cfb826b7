/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Dirty bitmaps in vstoragectl (Documentation/bitmaps.rst): the object the
 * kernel reports, the arguments of `bitmap add`, printing. bitmap_obj.c has
 * no I/O (unit-tested in tests/unit/test-bitmap.c); bitmap.c talks netlink.
 */
#ifndef VS_BITMAP_H
#define VS_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/vstorage.h>

struct nlmsghdr;

struct vs_bitmap {
	char node[VSTORAGE_NODE_NAME_MAX + 1];
	char name[VSTORAGE_BITMAP_NAME_MAX + 1];
	uint32_t granularity;
	uint64_t count;
	bool persistent, enabled, busy, inconsistent;
};

/* What `bitmap add` sends; granularity 0: the kernel's default. */
struct vs_bitmap_add_args {
	uint32_t granularity;
	bool persistent, disabled;
};

/*
 * A bitmap name as the kernel takes it: 1 to 1023 bytes, no control
 * characters. 0, or -1 with *why set.
 */
int vs_bitmap_name_check(const char *name, const char **why);
/*
 * `bitmap add` options (granularity=BYTES persistent=on|off
 * disabled=on|off, each at most once). 0, or -1 with the error printed.
 */
int vs_bitmap_add_parse(int argc, char **argv, struct vs_bitmap_add_args *a);
/* A BITMAP_GET reply. 0 or -EBADMSG. */
int vs_bitmap_parse(const struct nlmsghdr *nlh, struct vs_bitmap *b);
/* One bitmap: a JSON object, or a line for humans. */
void vs_bitmap_print(const struct vs_bitmap *b);

#endif /* VS_BITMAP_H */
