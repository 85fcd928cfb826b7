// SPDX-License-Identifier: GPL-2.0
/*
 * Streaming JSON writer. A top-level value ends with a newline, so a
 * sequence of values (monitor) is one JSON document per line in compact
 * mode.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "json.h"
#include "util.h"

#define JW_MAX_DEPTH	32

struct json_writer {
	FILE *f;
	bool pretty;
	bool after_name;	/* a key was written, its value comes next */
	int depth;
	unsigned int count[JW_MAX_DEPTH];	/* members written per level */
};

struct json_writer *jw_new(FILE *f, bool pretty)
{
	struct json_writer *jw = xcalloc(1, sizeof(*jw));

	jw->f = f;
	jw->pretty = pretty;
	return jw;
}

void jw_free(struct json_writer *jw)
{
	free(jw);
}

static void indent(struct json_writer *jw)
{
	int i;

	if (!jw->pretty)
		return;
	fputc('\n', jw->f);
	for (i = 0; i < jw->depth; i++)
		fputs("    ", jw->f);
}

/* Separator and indentation before a member (key or array element). */
static void begin_member(struct json_writer *jw)
{
	if (jw->depth > 0) {
		if (jw->count[jw->depth - 1]++)
			fputc(',', jw->f);
		indent(jw);
	}
}

static void begin_value(struct json_writer *jw)
{
	if (jw->after_name)
		jw->after_name = false;
	else
		begin_member(jw);
}

static void end_value(struct json_writer *jw)
{
	if (jw->depth == 0) {
		fputc('\n', jw->f);
		fflush(jw->f);
	}
}

void jw_name(struct json_writer *jw, const char *name)
{
	begin_member(jw);
	json_write_string(jw->f, name);
	fputs(jw->pretty ? ": " : ":", jw->f);
	jw->after_name = true;
}

static void start(struct json_writer *jw, char c)
{
	if (jw->depth >= JW_MAX_DEPTH)
		abort();	/* programming error: nesting too deep */
	begin_value(jw);
	fputc(c, jw->f);
	jw->count[jw->depth++] = 0;
}

static void end(struct json_writer *jw, char c)
{
	bool empty = !jw->count[jw->depth - 1];

	jw->depth--;
	if (!empty)
		indent(jw);
	fputc(c, jw->f);
	end_value(jw);
}

void jw_start_object(struct json_writer *jw)
{
	start(jw, '{');
}

void jw_end_object(struct json_writer *jw)
{
	end(jw, '}');
}

void jw_start_array(struct json_writer *jw)
{
	start(jw, '[');
}

void jw_end_array(struct json_writer *jw)
{
	end(jw, ']');
}

void jw_string(struct json_writer *jw, const char *s)
{
	begin_value(jw);
	json_write_string(jw->f, s);
	end_value(jw);
}

void jw_u64(struct json_writer *jw, uint64_t v)
{
	begin_value(jw);
	fprintf(jw->f, "%" PRIu64, v);
	end_value(jw);
}

void jw_bool(struct json_writer *jw, bool v)
{
	begin_value(jw);
	fputs(v ? "true" : "false", jw->f);
	end_value(jw);
}

void jw_null(struct json_writer *jw)
{
	begin_value(jw);
	fputs("null", jw->f);
	end_value(jw);
}

/* Length of the valid UTF-8 sequence at s, or 0 if invalid. */
static int utf8_len(const unsigned char *s)
{
	unsigned int cp;
	int n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* The two-character escape of c, or NULL. */
static const char *short_escape(unsigned char c)
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\b':
		return "\\b";
	case '\f':
		return "\\f";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	default:
		return NULL;
	}
}

void json_write_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		const char *e = short_escape(*s);
		int n = utf8_len(s);

		if (e) {
			fputs(e, f);
			s++;
		} else if (*s < 0x20 || *s == 0x7f) {
			fprintf(f, "\\u%04x", *s++);
		} else if (!n) {
			fprintf(f, "\\udc%02x", *s++);
		} else {
			fwrite(s, 1, n, f);
			s += n;
		}
	}
	fputc('"', f);
}
