/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A vstorage table line taken apart: "<node> <path>" as it was (escapes
 * kept), then the option words, whose count is recomputed when joined.
 * node reopen changes options this way, node snapshot reads them.
 */
#ifndef VS_TABLE_H
#define VS_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#define VS_TABLE_MAX_WORDS 64

struct vs_table {
	char *head;			/* "<node> <path>", escaped as it was */
	char *words[VS_TABLE_MAX_WORDS];	/* the options */
	size_t nr;
};

/* 0, or -1 when there are more than VS_TABLE_MAX_WORDS options. */
int vs_table_split(const char *params, struct vs_table *t);
void vs_table_free(struct vs_table *t);
/* Index of option KEY's word, or -1 (read-only is a word of its own). */
int vs_table_find(const struct vs_table *t, const char *key);
/* Sets KEY's value; the caller checks that two more words fit. */
void vs_table_set(struct vs_table *t, const char *key, const char *value);
/* Adds or drops the read-only word; the caller checks that one fits. */
void vs_table_set_read_only(struct vs_table *t, bool ro);
/* The line again, malloc'd. */
char *vs_table_join(const struct vs_table *t);

#endif /* VS_TABLE_H */
