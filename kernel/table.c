// SPDX-License-Identifier: GPL-2.0
/* Helpers for device-mapper table lines shared by vstorage targets. */
#include <linux/ctype.h>
#include <linux/module.h>

#include "vstorage.h"

/*
 * Emit S as one table-line argument: dm splits arguments at white space
 * and honours backslashes, so both are escaped.
 */
void vs_dmemit_escaped(const char *s, char *result, unsigned int *szp,
		       unsigned int maxlen)
{
	unsigned int sz = *szp;

	for (; *s; s++) {
		if (isspace(*s) || *s == '\\')
			DMEMIT("\\");
		DMEMIT("%c", *s);
	}
	*szp = sz;
}
EXPORT_SYMBOL_GPL(vs_dmemit_escaped);
