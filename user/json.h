/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal streaming JSON writer (compact or pretty). Strings are escaped
 * per RFC 8259; bytes that are not valid UTF-8 are written as "\udcXX"
 * (Python's surrogateescape convention) so that paths round-trip.
 */
#ifndef VS_JSON_H
#define VS_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json_writer;

struct json_writer *jw_new(FILE *f, bool pretty);
void jw_free(struct json_writer *jw);

/* Key of the next value; only inside an object. */
void jw_name(struct json_writer *jw, const char *name);

void jw_start_object(struct json_writer *jw);
void jw_end_object(struct json_writer *jw);
void jw_start_array(struct json_writer *jw);
void jw_end_array(struct json_writer *jw);

void jw_string(struct json_writer *jw, const char *s);
void jw_u64(struct json_writer *jw, uint64_t v);
void jw_bool(struct json_writer *jw, bool v);
void jw_null(struct json_writer *jw);

/* Writes s as a quoted, escaped JSON string. */
void json_write_string(FILE *f, const char *s);

#endif /* VS_JSON_H */
