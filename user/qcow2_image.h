/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qcow2 images from userspace: reading an image's header (driver_qcow2.c)
 * and creating an empty overlay (qcow2_image.c), both on top of the
 * target's own format library (kernel/formats/qcow2/format.c).
 */
#ifndef VS_QCOW2_IMAGE_H
#define VS_QCOW2_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

struct qimg {
	struct qcow2_header h;
	struct qcow2_extensions e;
	char *backing;		/* the name, NUL-terminated, or NULL */
	char *backing_fmt;	/* from the extension, or NULL */
};

/*
 * Reads and validates the header and extensions of the image at PATH
 * (SIZE bytes). Returns 0, or -1 with *reason set (a static string) or
 * *err set (an errno).
 */
int qimg_read(const char *path, uint64_t size, struct qimg *q,
	      const char **reason, int *err);
void qimg_free(struct qimg *q);

/* Size of a regular file or block device (fd open): 0 or -errno. */
int vs_fd_size(int fd, uint64_t *size);

/* What an empty overlay is made of. */
struct qcow2_new {
	uint64_t size;			/* virtual size, bytes */
	unsigned int cluster_bits;	/* 9..21 */
	const char *backing;		/* backing file name, or NULL */
	const char *backing_fmt;	/* backing format extension, or NULL */
};

/*
 * The metadata of a new, empty qcow2 v3 image laid out as qemu-img
 * create (QEMU 7.2) lays it out: header cluster, refcount table, refcount
 * blocks, then the L1 table (all zero). *buf (malloc'd, *meta_len bytes)
 * holds every cluster up to the L1 table; the file is *file_len bytes
 * long, the rest zeroes. 0, or -1 with *why set.
 */
int qcow2_new_image(const struct qcow2_new *o, unsigned char **buf,
		    size_t *meta_len, uint64_t *file_len, const char **why);

/*
 * Creates PATH (it must not exist) as that image, durably: written,
 * fsync'd, its directory fsync'd. A failure removes the file again.
 * 0, or -1 with a message in err.
 */
int qcow2_new_file(const char *path, const struct qcow2_new *o, char *err,
		   size_t errlen);

#endif /* VS_QCOW2_IMAGE_H */
