// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of vstoragectl's pure functions: size/bool/node-name parsing,
 * human sizes, key=value splitting, JSON escaping and writing, the output
 * layer, dm argument escaping and the raw table line, kernel log parsing,
 * qemu-img map's merging, and node objects (netlink attributes to human
 * and JSON output).
 *
 * The tests of device-mapper tables, the kernel log and map merging are in
 * test-dm.c, those of node objects in test-node.c.
 *
 * Prints "ok N - name" or "not ok N - name" per test (TAP), exits 1 if any
 * failed.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "output.h"
#include "parse.h"
#include "unit.h"

static int tests, failures;

void result(int ok, const char *fmt, ...)
{
	va_list ap;

	tests++;
	if (!ok)
		failures++;
	printf("%s %d - ", ok ? "ok" : "not ok", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

void check_str(const char *name, const char *got, const char *want)
{
	int ok = got && !strcmp(got, want);

	result(ok, "%s", name);
	if (!ok)
		printf("#   got:  '%s'\n#   want: '%s'\n", got ? got : "(null)",
		       want);
}

/* ---- parse_size ---- */

static void size_ok(const char *s, uint64_t want)
{
	const char *why = NULL;
	uint64_t v = 0;
	int r = parse_size(s, &v, &why);

	result(r == 0 && v == want, "parse_size('%s') = %" PRIu64, s, want);
	if (r || v != want)
		printf("#   got r=%d v=%" PRIu64 " why=%s\n", r, v,
		       why ? why : "");
}

static void size_bad(const char *s, const char *want_why)
{
	const char *why = NULL;
	uint64_t v = 0;
	int r = parse_size(s, &v, &why);

	result(r == -1 && why && !strcmp(why, want_why),
	       "parse_size('%s') fails: %s", s, want_why);
	if (r != -1 || !why || strcmp(why, want_why))
		printf("#   got r=%d v=%" PRIu64 " why=%s\n", r, v,
		       why ? why : "");
}

static void test_parse_size(void)
{
	size_ok("0", 0);
	size_ok("512", 512);
	size_ok("007", 7);
	size_ok("4096b", 4096);
	size_ok("4096B", 4096);
	size_ok("1k", 1024);
	size_ok("1K", 1024);
	size_ok("3m", 3ULL << 20);
	size_ok("1M", 1ULL << 20);
	size_ok("1G", 1ULL << 30);
	size_ok("2g", 2ULL << 30);
	size_ok("1T", 1ULL << 40);
	size_ok("1P", 1ULL << 50);
	size_ok("1E", 1ULL << 60);
	size_ok("7E", 7ULL << 60);
	size_ok("1.5G", 3ULL << 29);
	size_ok("0.5k", 512);
	size_ok("1.25M", 1310720);
	size_ok("1.50000000000000000000000K", 1536);
	size_ok("0x1000", 4096);
	size_ok("0X10k", 16384);
	size_ok("9223372036854775807", 9223372036854775807ULL);
	size_ok("8191P", 8191ULL << 50);

	size_bad("", "empty size");
	size_bad("-1", "negative size");
	size_bad("-0", "negative size");
	size_bad("+1", "invalid size");
	size_bad(" 1", "invalid size");
	size_bad("1 ", "invalid size suffix");
	size_bad("abc", "invalid size");
	size_bad("1x", "invalid size suffix");
	size_bad("1KB", "invalid size suffix");
	size_bad("1kk", "invalid size suffix");
	size_bad("1e3", "invalid size suffix");
	size_bad("1.5", "fraction needs a unit suffix");
	size_bad("1.k", "invalid size");
	size_bad(".5k", "invalid size");
	size_bad("0.1k", "not a whole number of bytes");
	size_bad("1.5b", "not a whole number of bytes");
	size_bad("0x", "invalid size");
	size_bad("0x1.5k", "fraction not allowed with hexadecimal");
	size_bad("0xg", "invalid size");
	size_bad("8E", "too large");
	size_bad("8192P", "too large");
	size_bad("9223372036854775808", "too large");
	size_bad("18446744073709551616", "too large");
	size_bad("99999999999999999999999999999999999999999", "too large");
	size_bad("0x8000000000000000", "too large");
	size_bad("7.99999999999999999999E", "not a whole number of bytes");
}

/* ---- parse_bool, parse_uint ---- */

static void test_parse_bool(void)
{
	static const char *const yes[] = { "on", "yes", "true", "y" };
	static const char *const no[] = { "off", "no", "false", "n" };
	static const char *const bad[] = { "", "ON", "1", "0", "tru", "onn" };
	size_t i;
	bool b;

	for (i = 0; i < 4; i++) {
		b = false;
		result(!parse_bool(yes[i], &b) && b, "parse_bool('%s') = true",
		       yes[i]);
		b = true;
		result(!parse_bool(no[i], &b) && !b, "parse_bool('%s') = false",
		       no[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		result(parse_bool(bad[i], &b) == -1, "parse_bool('%s') fails",
		       bad[i]);
}

static void test_parse_uint(void)
{
	uint64_t v;

	result(!parse_uint("255", 255, &v) && v == 255, "parse_uint 255 <= 255");
	result(parse_uint("256", 255, &v) == -1, "parse_uint 256 > 255");
	result(!parse_uint("0x10", 255, &v) && v == 16, "parse_uint 0x10");
	result(parse_uint("-1", UINT64_MAX, &v) == -1, "parse_uint -1 fails");
	result(parse_uint("", 10, &v) == -1, "parse_uint empty fails");
	result(parse_uint("1a", 100, &v) == -1, "parse_uint junk fails");
	result(!parse_uint("18446744073709551615", UINT64_MAX, &v) &&
	       v == UINT64_MAX, "parse_uint u64 max");
	result(parse_uint("18446744073709551616", UINT64_MAX, &v) == -1,
	       "parse_uint u64 overflow fails");
}

/* ---- node names ---- */

static void name_ok(const char *s)
{
	const char *why = NULL;

	result(check_node_name(s, &why) == 0, "node name '%s' valid", s);
}

/* Test names stay on one line: non-printable bytes become \xNN. */
static const char *printable(const char *s)
{
	static char buf[256];
	size_t n = 0;

	for (; *s && n + 5 < sizeof(buf); s++) {
		unsigned char c = *s;

		if (c < 0x20 || c >= 0x7f)
			n += snprintf(buf + n, sizeof(buf) - n, "\\x%02x", c);
		else
			buf[n++] = c;
	}
	buf[n] = '\0';
	return buf;
}

static void name_bad(const char *s, const char *want)
{
	const char *why = NULL;
	int r = check_node_name(s, &why);

	result(r == -1 && why && !strcmp(why, want),
	       "node name '%s' invalid: %s", printable(s), want);
}

static void test_node_name(void)
{
	const char *chars = "may only contain letters, digits, '_', '.' and '-'";

	name_ok("vm0");
	name_ok("a");
	name_ok("Z");
	name_ok("A.b-c_d9");
	name_ok("abcdefghijklmnopqrstuvwxyz01234");	/* 31 */
	name_bad("abcdefghijklmnopqrstuvwxyz012345",	/* 32 */
		 "longer than 31 characters");
	name_bad("", "empty name");
	name_bad("0vm", "must start with a letter");
	name_bad("-a", "must start with a letter");
	name_bad("_a", "must start with a letter");
	name_bad(".a", "must start with a letter");
	name_bad("#block1", "must start with a letter");
	name_bad("\xc3\xa9t\xc3\xa9", "must start with a letter");
	name_bad("a b", chars);
	name_bad("a/b", chars);
	name_bad("a:b", chars);
	name_bad("a\\b", chars);
	name_bad("a\xc3\xa9", chars);
	name_bad("a\n", chars);
}

/* ---- format_size, split_kv ---- */

static void fmt_size(uint64_t v, const char *want)
{
	char buf[32], name[64];

	format_size(v, buf, sizeof(buf));
	snprintf(name, sizeof(name), "format_size(%" PRIu64 ")", v);
	check_str(name, buf, want);
}

static void test_format_size(void)
{
	fmt_size(0, "0B");
	fmt_size(512, "512B");
	fmt_size(1023, "1023B");
	fmt_size(1024, "1.0K");
	fmt_size(1536, "1.5K");
	fmt_size(1048575, "1.0M");
	fmt_size(1ULL << 30, "1.0G");
	fmt_size(10ULL << 30, "10.0G");
	fmt_size((1ULL << 40) + (1ULL << 39), "1.5T");
	fmt_size(UINT64_MAX, "16.0E");
}

static void test_split_kv(void)
{
	char key[8];
	const char *v;

	v = split_kv("a=b", key, sizeof(key));
	result(v && !strcmp(key, "a") && !strcmp(v, "b"), "split_kv a=b");
	v = split_kv("size=", key, sizeof(key));
	result(v && !strcmp(key, "size") && !*v, "split_kv size= (empty value)");
	v = split_kv("a=b=c", key, sizeof(key));
	result(v && !strcmp(key, "a") && !strcmp(v, "b=c"),
	       "split_kv splits at the first '='");
	result(!split_kv("=b", key, sizeof(key)), "split_kv =b (no key)");
	result(!split_kv("ab", key, sizeof(key)), "split_kv ab (no '=')");
	result(!split_kv("abcdefgh=1", key, sizeof(key)),
	       "split_kv key too long");
}

/* ---- JSON ---- */

static char *capture_string(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	json_write_string(f, s);
	fclose(f);
	return buf;
}

static void esc(const char *name, const char *in, const char *want)
{
	char *got = capture_string(in);

	check_str(name, got, want);
	free(got);
}

static void test_json_escape(void)
{
	esc("json plain", "vm0", "\"vm0\"");
	esc("json empty", "", "\"\"");
	esc("json quote", "a\"b", "\"a\\\"b\"");
	esc("json backslash", "a\\b", "\"a\\\\b\"");
	esc("json slash kept", "/dev/mapper/x", "\"/dev/mapper/x\"");
	esc("json short escapes", "\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	esc("json control", "\x01\x1f", "\"\\u0001\\u001f\"");
	esc("json DEL", "\x7f", "\"\\u007f\"");
	esc("json utf-8 2 bytes", "\xc3\xa9", "\"\xc3\xa9\"");
	esc("json utf-8 3 bytes", "\xe2\x82\xac", "\"\xe2\x82\xac\"");
	esc("json utf-8 4 bytes", "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
	esc("json invalid byte", "a\xff", "\"a\\udcff\"");
	esc("json truncated utf-8", "\xc3", "\"\\udcc3\"");
	esc("json truncated utf-8 mid", "\xe2\x82x", "\"\\udce2\\udc82x\"");
	esc("json overlong", "\xc0\xaf", "\"\\udcc0\\udcaf\"");
	esc("json overlong 3", "\xe0\x80\xaf", "\"\\udce0\\udc80\\udcaf\"");
	esc("json encoded surrogate", "\xed\xa0\x80",
	    "\"\\udced\\udca0\\udc80\"");
	esc("json beyond U+10FFFF", "\xf4\x90\x80\x80",
	    "\"\\udcf4\\udc90\\udc80\\udc80\"");
	esc("json latin-1 nbsp", "a\xa0", "\"a\\udca0\"");
}

static char *writer_output(bool pretty, int which)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json_writer *jw = jw_new(f, pretty);

	if (which == 0) {
		jw_start_object(jw);
		jw_name(jw, "a");
		jw_u64(jw, 1);
		jw_name(jw, "b");
		jw_start_array(jw);
		jw_string(jw, "x");
		jw_bool(jw, true);
		jw_null(jw);
		jw_end_array(jw);
		jw_name(jw, "c");
		jw_start_object(jw);
		jw_end_object(jw);
		jw_name(jw, "d");
		jw_start_array(jw);
		jw_end_array(jw);
		jw_name(jw, "e");
		jw_u64(jw, UINT64_MAX);
		jw_end_object(jw);
	} else {
		/* two top-level values: one per line */
		jw_start_object(jw);
		jw_name(jw, "event");
		jw_string(jw, "new");
		jw_end_object(jw);
		jw_start_array(jw);
		jw_end_array(jw);
	}
	jw_free(jw);
	fclose(f);
	return buf;
}

static void test_json_writer(void)
{
	char *s;

	s = writer_output(false, 0);
	check_str("json writer compact", s,
		  "{\"a\":1,\"b\":[\"x\",true,null],\"c\":{},\"d\":[],"
		  "\"e\":18446744073709551615}\n");
	free(s);
	s = writer_output(true, 0);
	check_str("json writer pretty", s,
		  "{\n"
		  "    \"a\": 1,\n"
		  "    \"b\": [\n"
		  "        \"x\",\n"
		  "        true,\n"
		  "        null\n"
		  "    ],\n"
		  "    \"c\": {},\n"
		  "    \"d\": [],\n"
		  "    \"e\": 18446744073709551615\n"
		  "}\n");
	free(s);
	s = writer_output(false, 1);
	check_str("json writer one document per line", s,
		  "{\"event\":\"new\"}\n[]\n");
	free(s);
}

/* The output layer writes to stdout; point stdout at a memory stream. */
char *output_run(bool json, void (*fn)(void))
{
	FILE *saved = stdout;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fflush(stdout);
	stdout = f;
	output_init(json, false);
	fn();
	output_fini();
	fflush(stdout);
	stdout = saved;
	fclose(f);
	return buf;
}

static void output_sample(void)
{
	open_json_object(NULL);
	print_string(PRINT_ANY, "node-name", "node-name: %s\n", "vm0");
	print_u64(PRINT_JSON, "size", NULL, 1048576);
	print_string(PRINT_FP, NULL, "size: %s\n", "1.0M");
	print_bool(PRINT_ANY, "read-only", "read-only: %s\n", true);
	open_json_array(PRINT_JSON, "children");
	open_json_object(NULL);
	print_string(PRINT_ANY, "role", "  %s: ", "file");
	print_string(PRINT_ANY, "path", "%s\n", "/a \"b\"");
	close_json_object();
	close_json_array(PRINT_JSON, NULL);
	print_fp("human only %d\n", 42);
	close_json_object();
}

static void test_output(void)
{
	char *s;

	s = output_run(false, output_sample);
	check_str("output human", s,
		  "node-name: vm0\n"
		  "size: 1.0M\n"
		  "read-only: yes\n"
		  "  file: /a \"b\"\n"
		  "human only 42\n");
	free(s);
	s = output_run(true, output_sample);
	check_str("output json", s,
		  "{\"node-name\":\"vm0\",\"size\":1048576,\"read-only\":true,"
		  "\"children\":[{\"role\":\"file\",\"path\":\"/a \\\"b\\\"\"}]}\n");
	free(s);
}


int main(void)
{
	test_parse_size();
	test_parse_bool();
	test_parse_uint();
	test_node_name();
	test_format_size();
	test_split_kv();
	test_json_escape();
	test_json_writer();
	test_output();
	test_dm_table();
	test_kmsg();
	test_map();
	test_node_object();
	test_qcow2_driver();
	test_qcow2_image();
	test_jsonparse();
	test_job();
	test_bitmap();

	printf("1..%d\n# %d tests, %d failed\n", tests, tests, failures);
	return failures ? 1 : 0;
}
