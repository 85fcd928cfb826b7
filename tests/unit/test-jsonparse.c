// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the JSON reader (user/jsonparse.c) that graph apply reads
 * its files with: values, escapes (json.c's "\udcXX" raw bytes round-trip),
 * and every error with its line.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonparse.h"
#include "unit.h"

static void parses(const char *text, const char *name,
		   bool (*check)(const struct jv *v))
{
	char err[128] = "";
	struct jv *v = jv_parse(text, err, sizeof(err));

	result(v && check(v), "jsonparse: %s%s%s", name, v ? "" : ": ", err);
	jv_free(v);
}

static void refuses(const char *text, const char *want)
{
	char err[128] = "";
	struct jv *v = jv_parse(text, err, sizeof(err));

	result(!v && strstr(err, want), "jsonparse: refused with '%s' (%s)",
	       want, err);
	jv_free(v);
}

static bool graph_doc(const struct jv *v)
{
	const struct jv *devs = jv_get(v, "devices");
	const struct jv *node = devs && devs->nr ? jv_get(devs->items[0], "node") : NULL;

	return devs && devs->type == JV_ARRAY && devs->nr == 1 &&
	       !strcmp(jv_str(node, "driver"), "qcow2") &&
	       jv_get(node, "l2-cache-size")->u == 1048576 &&
	       jv_get(node, "read-only")->type == JV_BOOL &&
	       jv_get(node, "read-only")->b &&
	       jv_get(node, "backing")->type == JV_NULL &&
	       !jv_get(node, "missing") && !jv_str(node, "l2-cache-size");
}

static bool escapes(const struct jv *v)
{
	return v->type == JV_STRING &&
	       !strcmp(v->s, "a\"b\\c/\n\t\x01\xc3\xa9\xf0\x9f\x98\x80\xff");
}

static bool max_u64(const struct jv *v)
{
	return v->type == JV_NUMBER && v->u == UINT64_MAX;
}

static bool empty(const struct jv *v)
{
	return v->type == JV_ARRAY && !v->nr;
}

void test_jsonparse(void)
{
	char *out;
	size_t len;
	FILE *f;
	struct jv *v;
	char err[64];

	parses("{\"devices\": [{\"dm-name\": \"vm1\", \"node\": {\"driver\": \"qcow2\", "
	       "\"l2-cache-size\": 1048576, \"read-only\": true, \"backing\": null}}]}",
	       "a graph document", graph_doc);
	parses("\"a\\\"b\\\\c\\/\\n\\t\\u0001\\u00e9\\ud83d\\ude00\\udcff\"",
	       "escapes, surrogate pairs, raw bytes", escapes);
	parses(" 18446744073709551615 ", "the largest number", max_u64);
	parses("[ ]", "an empty array", empty);

	/* what json.c writes, jsonparse.c reads back (raw bytes too) */
	f = open_memstream(&out, &len);
	json_write_string(f, "/img/\xff\xfe name\n");
	fclose(f);
	v = jv_parse(out, err, sizeof(err));
	result(v && v->type == JV_STRING && !strcmp(v->s, "/img/\xff\xfe name\n"),
	       "jsonparse: a path json.c wrote round-trips (%s)", out);
	jv_free(v);
	free(out);

	refuses("", "line 1: unexpected end");
	refuses("{\"a\": 1,}", "expected a member name");
	refuses("{\"a\" 1}", "expected ':'");
	refuses("[1 2]", "expected ',' or ']'");
	refuses("{\"a\": 1, \"a\": 2}", "member \"a\" given twice");
	refuses("\n\n[tru]", "line 3: unexpected character 't'");
	refuses("18446744073709551616", "number out of range");
	refuses("-1", "negative numbers");
	refuses("1.5", "only whole numbers");
	refuses("01", "unexpected character '0'");
	refuses("\"abc", "unterminated string");
	refuses("\"a\\x\"", "bad escape");
	refuses("\"\\u12g4\"", "bad \\u escape");
	refuses("\"\\ud800\"", "lone surrogate");
	refuses("\"\\u0000\"", "NUL in a string");
	refuses("\"a\tb\"", "control character");
	refuses("{} {}", "text after the document");
	refuses("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		"nested more than 64 deep");
}
