/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Human and JSON output through one code path, in the style of
 * iproute2's json_print.h: every field is printed once, with a key for
 * JSON and a printf format for humans.
 *
 *	print_string(PRINT_ANY, "driver", "driver: %s\n", n->driver);
 *
 * PRINT_FP output only goes to humans, PRINT_JSON only into the JSON
 * document, PRINT_ANY to both. Human output goes to stdout.
 */
#ifndef VS_OUTPUT_H
#define VS_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

enum output_type {
	PRINT_FP = 1,
	PRINT_JSON = 2,
	PRINT_ANY = PRINT_FP | PRINT_JSON,
};

void output_init(bool json, bool pretty);
void output_fini(void);
bool is_json_context(void);

/* key is ignored at the top level and inside arrays. */
void open_json_object(const char *key);
void close_json_object(void);
void open_json_array(enum output_type t, const char *key);
void close_json_array(enum output_type t, const char *str);

/* A NULL value is JSON's null. */
void print_string(enum output_type t, const char *key, const char *fmt,
		  const char *value);
void print_u64(enum output_type t, const char *key, const char *fmt,
	       uint64_t value);
/* Humans see "yes"/"no" through a "%s" format. */
void print_bool(enum output_type t, const char *key, const char *fmt,
		bool value);
/* Human-only text. */
void print_fp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* VS_OUTPUT_H */
