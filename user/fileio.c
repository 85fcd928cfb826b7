// SPDX-License-Identifier: GPL-2.0
/* pread(): POSIX, not C11 (tests/unit builds without -D_GNU_SOURCE) */
#ifndef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"

int vs_read_at(int fd, uint64_t off, void *buf, size_t len)
{
	size_t done = 0;

	memset(buf, 0, len);
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!r)
			break;
		done += (size_t)r;
	}
	return 0;
}
