/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small JSON reader (RFC 8259) for the files vstoragectl is given: the
 * whole document into a tree. Numbers are unsigned 64-bit integers only
 * (what vstorage's objects hold); "\udcXX" escapes give back the byte XX,
 * the convention json.c writes non-UTF-8 bytes with, so paths round-trip.
 */
#ifndef VS_JSONPARSE_H
#define VS_JSONPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jv_type { JV_NULL, JV_BOOL, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT };

struct jv {
	enum jv_type type;
	bool b;
	uint64_t u;
	char *s;			/* JV_STRING */
	struct jv **items;		/* JV_ARRAY, JV_OBJECT */
	char **keys;			/* JV_OBJECT */
	size_t nr;
};

/*
 * Parses TEXT. Returns the tree, or NULL with a reason ("line 3: expected
 * ':'") in err.
 */
struct jv *jv_parse(const char *text, char *err, size_t errlen);
void jv_free(struct jv *v);

/* Member KEY of an object, or NULL. */
const struct jv *jv_get(const struct jv *obj, const char *key);
/* Member KEY as a string, or NULL when absent or not a string. */
const char *jv_str(const struct jv *obj, const char *key);
const char *jv_type_name(enum jv_type t);

#endif /* VS_JSONPARSE_H */
