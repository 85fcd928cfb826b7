// SPDX-License-Identifier: GPL-2.0
/*
 * The JSON reader of jsonparse.h: recursive descent over the text, depth
 * bounded, every value allocated on its own.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonparse.h"
#include "util.h"

#define JV_DEPTH_MAX	64

struct jp {
	const char *s, *p;
	char *err;
	size_t errlen;
	bool failed;
};

__attribute__((format(printf, 2, 3)))
static void jp_fail(struct jp *j, const char *fmt, ...)
{
	unsigned int line = 1;
	const char *c;
	size_t n;
	va_list ap;

	if (j->failed)
		return;
	j->failed = true;
	for (c = j->s; c < j->p; c++)
		line += *c == '\n';
	n = snprintf(j->err, j->errlen, "line %u: ", line);
	if (n >= j->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(j->err + n, j->errlen - n, fmt, ap);
	va_end(ap);
}

static void jp_ws(struct jp *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static struct jv *jv_new(enum jv_type t)
{
	struct jv *v = xcalloc(1, sizeof(*v));

	v->type = t;
	return v;
}

static int hex4(const char *p, unsigned int *out)
{
	unsigned int i, v = 0;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned int cp)
{
	if (cp < 0x80) {
		o[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = 0xc0 | (cp >> 6);
		o[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = 0xe0 | (cp >> 12);
		o[1] = 0x80 | ((cp >> 6) & 0x3f);
		o[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	o[0] = 0xf0 | (cp >> 18);
	o[1] = 0x80 | ((cp >> 12) & 0x3f);
	o[2] = 0x80 | ((cp >> 6) & 0x3f);
	o[3] = 0x80 | (cp & 0x3f);
	return 4;
}

/* At the opening quote; the string's bytes, malloc'd, or NULL. */
static char *jp_string(struct jp *j)
{
	const char *p = ++j->p;
	char *out, *o;
	unsigned int cp, lo;

	/* escapes only shrink: the raw length is enough */
	while (*p && *p != '"')
		p += (*p == '\\' && p[1]) ? 2 : 1;
	if (*p != '"') {
		jp_fail(j, "unterminated string");
		return NULL;
	}
	out = o = xcalloc(1, p - j->p + 1);
	while (*j->p != '"') {
		unsigned char c = *j->p++;

		if (c < 0x20) {
			jp_fail(j, "control character in a string");
			goto bad;
		}
		if (c != '\\') {
			*o++ = c;
			continue;
		}
		switch (*j->p++) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u':
			if (hex4(j->p, &cp)) {
				jp_fail(j, "bad \\u escape");
				goto bad;
			}
			j->p += 4;
			if (cp >= 0xdc80 && cp <= 0xdcff) {
				*o++ = cp & 0xff;	/* json.c's raw byte */
				break;
			}
			if (cp >= 0xd800 && cp <= 0xdbff && j->p[0] == '\\' &&
			    j->p[1] == 'u' && !hex4(j->p + 2, &lo) &&
			    lo >= 0xdc00 && lo <= 0xdfff) {
				j->p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xd800 && cp <= 0xdfff) {
				jp_fail(j, "lone surrogate in a \\u escape");
				goto bad;
			}
			if (!cp) {
				jp_fail(j, "NUL in a string");
				goto bad;
			}
			o += put_utf8(o, cp);
			break;
		default:
			jp_fail(j, "bad escape in a string");
			goto bad;
		}
	}
	j->p++;
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

static struct jv *jp_value(struct jp *j, int depth);

static struct jv *jp_container(struct jp *j, int depth, bool object)
{
	struct jv *v = jv_new(object ? JV_OBJECT : JV_ARRAY);
	char close = object ? '}' : ']';

	j->p++;
	jp_ws(j);
	if (*j->p == close) {
		j->p++;
		return v;
	}
	for (;;) {
		char *key = NULL;
		struct jv *item;
		size_t i;

		jp_ws(j);
		if (object) {
			if (*j->p != '"') {
				jp_fail(j, "expected a member name");
				break;
			}
			key = jp_string(j);
			if (!key)
				break;
			for (i = 0; i < v->nr; i++) {
				if (!strcmp(v->keys[i], key)) {
					jp_fail(j, "member \"%s\" given twice", key);
					break;
				}
			}
			jp_ws(j);
			if (j->failed || *j->p != ':') {
				jp_fail(j, "expected ':'");
				free(key);
				break;
			}
			j->p++;
		}
		item = jp_value(j, depth + 1);
		if (!item) {
			free(key);
			break;
		}
		v->items = xrealloc(v->items, (v->nr + 1) * sizeof(*v->items));
		if (object) {
			v->keys = xrealloc(v->keys, (v->nr + 1) * sizeof(*v->keys));
			v->keys[v->nr] = key;
		}
		v->items[v->nr++] = item;
		jp_ws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p == close) {
			j->p++;
			return v;
		}
		jp_fail(j, "expected ',' or '%c'", close);
		break;
	}
	jv_free(v);
	return NULL;
}

static struct jv *jp_value(struct jp *j, int depth)
{
	struct jv *v;

	if (depth > JV_DEPTH_MAX) {
		jp_fail(j, "nested more than %d deep", JV_DEPTH_MAX);
		return NULL;
	}
	jp_ws(j);
	switch (*j->p) {
	case '{':
	case '[':
		return jp_container(j, depth, *j->p == '{');
	case '"':
		v = jv_new(JV_STRING);
		v->s = jp_string(j);
		if (!v->s) {
			free(v);
			return NULL;
		}
		return v;
	case 't':
	case 'f':
	case 'n':
		if (!strncmp(j->p, "true", 4) || !strncmp(j->p, "false", 5)) {
			v = jv_new(JV_BOOL);
			v->b = *j->p == 't';
			j->p += v->b ? 4 : 5;
			return v;
		}
		if (!strncmp(j->p, "null", 4)) {
			j->p += 4;
			return jv_new(JV_NULL);
		}
		break;
	default:
		if (*j->p >= '0' && *j->p <= '9') {
			uint64_t u = 0;

			if (*j->p == '0' && j->p[1] >= '0' && j->p[1] <= '9')
				break;
			while (*j->p >= '0' && *j->p <= '9') {
				unsigned int d = *j->p++ - '0';

				if (u > (UINT64_MAX - d) / 10) {
					jp_fail(j, "number out of range");
					return NULL;
				}
				u = u * 10 + d;
			}
			if (*j->p == '.' || *j->p == 'e' || *j->p == 'E') {
				jp_fail(j, "only whole numbers are expected");
				return NULL;
			}
			v = jv_new(JV_NUMBER);
			v->u = u;
			return v;
		}
		if (*j->p == '-') {
			jp_fail(j, "negative numbers are not expected");
			return NULL;
		}
		break;
	}
	if (*j->p)
		jp_fail(j, "unexpected character '%c'", *j->p);
	else
		jp_fail(j, "unexpected end of the document");
	return NULL;
}

struct jv *jv_parse(const char *text, char *err, size_t errlen)
{
	struct jp j = { .s = text, .p = text, .err = err, .errlen = errlen };
	struct jv *v = jp_value(&j, 0);

	if (v) {
		jp_ws(&j);
		if (*j.p) {
			jp_fail(&j, "text after the document");
			jv_free(v);
			v = NULL;
		}
	}
	return v;
}

void jv_free(struct jv *v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < v->nr; i++) {
		jv_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->s);
	free(v);
}

const struct jv *jv_get(const struct jv *obj, const char *key)
{
	size_t i;

	if (!obj || obj->type != JV_OBJECT)
		return NULL;
	for (i = 0; i < obj->nr; i++)
		if (!strcmp(obj->keys[i], key))
			return obj->items[i];
	return NULL;
}

const char *jv_str(const struct jv *obj, const char *key)
{
	const struct jv *v = jv_get(obj, key);

	return v && v->type == JV_STRING ? v->s : NULL;
}

const char *jv_type_name(enum jv_type t)
{
	static const char *const names[] = {
		"null", "boolean", "number", "string", "array", "object"
	};

	return names[t];
}
