// SPDX-License-Identifier: GPL-2.0
/*
 * A vstorage table line as words: "<node> <path>" and the options after
 * their count, so that one option can change and the count follow (node
 * reopen, and the graph changes of block jobs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "util.h"

void vs_table_free(struct vs_table *t)
{
	size_t i;

	free(t->head);
	for (i = 0; i < t->nr; i++)
		free(t->words[i]);
}

int vs_table_split(const char *params, struct vs_table *t)
{
	const char *p = params;
	size_t n, w;

	memset(t, 0, sizeof(*t));
	/* node name and path: the path may hold escaped blanks */
	for (w = 0; w < 2; w++) {
		while (*p == ' ')
			p++;
		while (*p && *p != ' ') {
			if (*p == '\\' && p[1])
				p++;
			p++;
		}
	}
	t->head = xasprintf("%.*s", (int)(p - params), params);
	while (*p == ' ')
		p++;
	if (!*p)
		return 0;
	p += strcspn(p, " ");		/* the count: recomputed */
	while (*p) {
		while (*p == ' ')
			p++;
		n = strcspn(p, " ");
		if (!n)
			break;
		if (t->nr == VS_TABLE_WORDS)
			return -1;
		t->words[t->nr++] = xasprintf("%.*s", (int)n, p);
		p += n;
	}
	return 0;
}

/* Index of option KEY's word, or -1 (read-only is a word of its own). */
int vs_table_find(const struct vs_table *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->nr; i++) {
		if (!strcmp(t->words[i], key))
			return (int)i;
		if (strcmp(t->words[i], "read-only"))
			i++;
	}
	return -1;
}

void vs_table_set(struct vs_table *t, const char *key, const char *value)
{
	int i = vs_table_find(t, key);

	if (i >= 0) {
		free(t->words[i + 1]);
		t->words[i + 1] = xstrdup(value);
		return;
	}
	t->words[t->nr++] = xstrdup(key);
	t->words[t->nr++] = xstrdup(value);
}

void vs_table_set_read_only(struct vs_table *t, bool ro)
{
	int i = vs_table_find(t, "read-only");

	if (ro && i < 0) {
		t->words[t->nr++] = xstrdup("read-only");
	} else if (!ro && i >= 0) {
		free(t->words[i]);
		memmove(&t->words[i], &t->words[i + 1],
			(t->nr - i - 1) * sizeof(t->words[0]));
		t->nr--;
	}
}

char *vs_table_join(const struct vs_table *t)
{
	size_t i, len = strlen(t->head) + 16;
	char *s, *o;

	for (i = 0; i < t->nr; i++)
		len += strlen(t->words[i]) + 1;
	s = xcalloc(1, len);
	o = s + sprintf(s, "%s", t->head);
	if (t->nr)
		o += sprintf(o, " %zu", t->nr);
	for (i = 0; i < t->nr; i++)
		o += sprintf(o, " %s", t->words[i]);
	return s;
}
