// SPDX-License-Identifier: GPL-2.0
/*
 * print_* layer over the JSON writer and stdio.
 */
#include <stdarg.h>
#include <stdio.h>

#include "json.h"
#include "output.h"

static struct json_writer *jw;
static int depth;		/* nesting of open objects/arrays */
static unsigned long in_array;	/* bit per level: container is an array */

void output_init(bool json, bool pretty)
{
	if (json)
		jw = jw_new(stdout, pretty);
	depth = 0;
	in_array = 0;
}

void output_fini(void)
{
	jw_free(jw);
	jw = NULL;
}

bool is_json_context(void)
{
	return jw != NULL;
}

static void key(const char *k)
{
	if (depth > 0 && !(in_array & (1UL << (depth - 1))) && k)
		jw_name(jw, k);
}

static void push(bool array)
{
	if (array)
		in_array |= 1UL << depth;
	else
		in_array &= ~(1UL << depth);
	depth++;
}

void open_json_object(const char *k)
{
	if (!jw)
		return;
	key(k);
	jw_start_object(jw);
	push(false);
}

void close_json_object(void)
{
	if (!jw)
		return;
	depth--;
	jw_end_object(jw);
}

void open_json_array(enum output_type t, const char *k)
{
	if (jw) {
		if (t & PRINT_JSON) {
			key(k);
			jw_start_array(jw);
			push(true);
		}
	} else if ((t & PRINT_FP) && k) {
		printf("%s", k);
	}
}

void close_json_array(enum output_type t, const char *str)
{
	if (jw) {
		if (t & PRINT_JSON) {
			depth--;
			jw_end_array(jw);
		}
	} else if ((t & PRINT_FP) && str) {
		printf("%s", str);
	}
}

void print_string(enum output_type t, const char *k, const char *fmt,
		  const char *value)
{
	if (jw) {
		if (t & PRINT_JSON) {
			key(k);
			if (value)
				jw_string(jw, value);
			else
				jw_null(jw);
		}
	} else if ((t & PRINT_FP) && fmt) {
		printf(fmt, value);
	}
}

void print_u64(enum output_type t, const char *k, const char *fmt,
	       uint64_t value)
{
	if (jw) {
		if (t & PRINT_JSON) {
			key(k);
			jw_u64(jw, value);
		}
	} else if ((t & PRINT_FP) && fmt) {
		printf(fmt, value);
	}
}

void print_bool(enum output_type t, const char *k, const char *fmt,
		bool value)
{
	if (jw) {
		if (t & PRINT_JSON) {
			key(k);
			jw_bool(jw, value);
		}
	} else if ((t & PRINT_FP) && fmt) {
		printf(fmt, value ? "yes" : "no");
	}
}

void print_fp(const char *fmt, ...)
{
	va_list ap;

	if (jw)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}
