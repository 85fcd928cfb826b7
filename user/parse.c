// SPDX-License-Identifier: GPL-2.0
/*
 * Size, boolean and node-name parsing; human size formatting.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vstorage.h>

#include "parse.h"
#include "util.h"

static int suffix_shift(char c)
{
	switch (c) {
	case 'b': case 'B': return 0;
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	case 't': case 'T': return 40;
	case 'p': case 'P': return 50;
	case 'e': case 'E': return 60;
	default: return -1;
	}
}

int parse_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int parse_size(const char *s, uint64_t *out, const char **why)
{
	unsigned __int128 val = 0, frac = 0, frac_div = 1, total;
	const char *p = s;
	bool hex = false;
	int shift = 0;

	*why = "invalid size";
	if (!*p) {
		*why = "empty size";
		return -1;
	}
	if (*p == '-') {
		*why = "negative size";
		return -1;
	}
	if (!isdigit((unsigned char)*p))
		return -1;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		hex = true;
		p += 2;
		if (parse_hex_digit(*p) < 0)
			return -1;
		while (parse_hex_digit(*p) >= 0) {
			val = val * 16 + parse_hex_digit(*p++);
			if (val > VS_SIZE_MAX)
				goto too_large;
		}
	} else {
		while (isdigit((unsigned char)*p)) {
			val = val * 10 + (*p++ - '0');
			if (val > VS_SIZE_MAX)
				goto too_large;
		}
	}

	if (*p == '.') {
		if (hex) {
			*why = "fraction not allowed with hexadecimal";
			return -1;
		}
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p)) {
			/* 10^19 still fits; ignore digits beyond that */
			if (frac_div < 10000000000000000000ULL) {
				frac = frac * 10 + (*p - '0');
				frac_div *= 10;
			} else if (*p != '0') {
				*why = "not a whole number of bytes";
				return -1;
			}
			p++;
		}
		if (!*p) {
			*why = "fraction needs a unit suffix";
			return -1;
		}
	}

	if (*p) {
		shift = suffix_shift(*p);
		if (shift < 0 || p[1]) {
			*why = "invalid size suffix";
			return -1;
		}
	}

	if (frac && shift == 0) {
		*why = "not a whole number of bytes";
		return -1;
	}
	if (val > (VS_SIZE_MAX >> shift))
		goto too_large;
	total = val << shift;
	if (frac) {
		unsigned __int128 f = frac << shift;

		if (f % frac_div) {
			*why = "not a whole number of bytes";
			return -1;
		}
		total += f / frac_div;
	}
	if (total > VS_SIZE_MAX)
		goto too_large;
	*out = (uint64_t)total;
	*why = NULL;
	return 0;

too_large:
	*why = "too large";
	return -1;
}

int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!*s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "on", "yes", "true", "y" };
	static const char *const no[] = { "off", "no", "false", "n" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int check_node_name(const char *name, const char **why)
{
	const char *p;

	if (!*name) {
		*why = "empty name";
		return -1;
	}
	if (strlen(name) > VSTORAGE_NODE_NAME_MAX) {
		*why = "longer than 31 characters";
		return -1;
	}
	if (!isascii((unsigned char)name[0]) || !isalpha((unsigned char)name[0])) {
		*why = "must start with a letter";
		return -1;
	}
	for (p = name + 1; *p; p++) {
		unsigned char c = *p;

		if (!(isascii(c) && isalnum(c)) && c != '_' && c != '.' &&
		    c != '-') {
			*why = "may only contain letters, digits, '_', '.' and '-'";
			return -1;
		}
	}
	*why = NULL;
	return 0;
}

void format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	unsigned int i;
	double v;

	if (bytes < 1024) {
		snprintf(buf, len, "%uB", (unsigned int)bytes);
		return;
	}
	v = (double)bytes / 1024;
	for (i = 0; i < sizeof(units) - 2 && v >= 1024 - 0.05; i++)
		v /= 1024;
	snprintf(buf, len, "%.1f%c", v, units[i]);
}

const char *split_kv(const char *arg, char *key, size_t keylen)
{
	const char *eq = strchr(arg, '=');
	size_t n;

	if (!eq || eq == arg)
		return NULL;
	n = eq - arg;
	if (n >= keylen)
		return NULL;
	memcpy(key, arg, n);
	key[n] = '\0';
	return eq + 1;
}
