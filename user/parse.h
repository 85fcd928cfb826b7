/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pure parsing and formatting helpers (no I/O); unit-tested in
 * tests/unit/test-vstoragectl.c.
 */
#ifndef VS_PARSE_H
#define VS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest size parse_size() accepts: QEMU's sizes are int64_t. */
#define VS_SIZE_MAX	((uint64_t)INT64_MAX)

/*
 * QEMU-style size: a decimal number ("4096"), optionally with a fraction
 * and a suffix ("1.5G"), or a hexadecimal number ("0x1000", suffix
 * allowed, no fraction). Suffixes b/B (bytes), k/K, m/M, g/G, t/T, p/P,
 * e/E (powers of 1024). Rejects empty strings, signs, blanks, junk,
 * fractions without a suffix, fractional bytes and values above
 * VS_SIZE_MAX. Returns 0, or -1 with *why set to a short reason.
 */
int parse_size(const char *s, uint64_t *out, const char **why);

/* Plain unsigned integer (decimal, 0x hex or 0 octal) up to max. */
int parse_uint(const char *s, uint64_t max, uint64_t *out);

/* QEMU's booleans: on/yes/true/y and off/no/false/n. Returns 0 or -1. */
int parse_bool(const char *s, bool *out);

/* Value of hexadecimal digit C, or -1. */
int parse_hex_digit(char c);

/*
 * QEMU node names: [A-Za-z][A-Za-z0-9_.-]*, at most
 * VSTORAGE_NODE_NAME_MAX characters. Returns 0, or -1 with *why set.
 */
int check_node_name(const char *name, const char **why);

/* "1.0G"-style human size: B below 1024, else one decimal and K..E. */
void format_size(uint64_t bytes, char *buf, size_t len);

/*
 * Splits "key=value" at the first '='. Returns the value (inside arg) and
 * copies the key, or returns NULL when there is no '=' or the key is empty
 * or too long.
 */
const char *split_kv(const char *arg, char *key, size_t keylen);

#endif /* VS_PARSE_H */
