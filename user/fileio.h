/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading image files: shared by vstoragectl and tests/unit/qcow2-inspect,
 * which both read qcow2 headers before anything trusts them.
 */
#ifndef VS_FILEIO_H
#define VS_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Read LEN bytes at OFF into BUF, retrying short reads and EINTR; what
 * lies past the end of the file reads as zeroes (QEMU's view of a short
 * image). Returns 0 or -errno.
 */
int vs_read_at(int fd, uint64_t off, void *buf, size_t len);

#endif /* VS_FILEIO_H */
