/* SPDX-License-Identifier: GPL-2.0 */
/*
 * format-priv.h - the helpers format.c and entries.c both use. Private to
 * the qcow2 metadata library: its users include format.h only.
 */
#ifndef VSTORAGE_QCOW2_FORMAT_PRIV_H
#define VSTORAGE_QCOW2_FORMAT_PRIV_H

#include "format.h"

static inline int qcow2_err(const char **reason, const char *why, int err)
{
	if (reason)
		*reason = why;
	return err;
}

/* offset + len, saturating at U64_MAX */
static inline u64 qcow2_range_end(u64 offset, u64 len)
{
	u64 end;

	if (check_add_overflow(offset, len, &end))
		return U64_MAX;
	return end;
}

#endif /* VSTORAGE_QCOW2_FORMAT_PRIV_H */
