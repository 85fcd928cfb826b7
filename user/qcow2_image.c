// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2 image creation: the empty overlay that `node snapshot` puts on
 * top of a disk, made without QEMU. The layout is qemu-img create's
 * (QEMU 7.2, qcow2_co_create): a v3 header of 112 bytes (compression type
 * zlib) with the backing format extension, the feature name table when the
 * cluster is larger than 4 KiB (qemu-img leaves it out of smaller ones),
 * the end marker and the backing file name; the refcount table in cluster
 * 1, the refcount blocks after it, then the L1 table, and the file ends
 * where the L1 table does. For 64 KiB clusters and any size QEMU allows
 * with one refcount block, the file is byte for byte what qemu-img writes
 * (tests/unit/test-qcow2-image.c compares them); larger metadata only
 * differs in where qemu-img's growing L1 table pushed its refcount blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qcow2_image.h"
#include "util.h"

#define NEW_HEADER_LEN		112U	/* what qemu-img 7.2 writes */
#define NEW_REFCOUNT_ORDER	4U	/* 16-bit refcounts, QEMU's default */
/* qemu-img writes the feature name table only into larger clusters */
#define FEATURE_TABLE_MIN_CLUSTER	8192U

/* QEMU 7.2's feature name table, in its order */
static const struct {
	u8 type, bit;
	const char *name;
} features[] = {
	{ 0, 0, "dirty bit" },
	{ 0, 1, "corrupt bit" },
	{ 0, 2, "external data file" },
	{ 0, 3, "compression type" },
	{ 0, 4, "extended L2 entries" },
	{ 1, 0, "lazy refcounts" },
	{ 2, 0, "bitmaps" },
	{ 2, 1, "raw external data" },
};

static u64 div_up(u64 a, u64 b)
{
	return a / b + (a % b != 0);
}

/* Extensions and backing file name into the header cluster. */
static int put_extensions(const struct qcow2_new *o, unsigned char *buf,
			  u32 cs, struct qcow2_header *h, const char **why)
{
	unsigned char table[ARRAY_SIZE(features) * QCOW2_FEATURE_ENTRY_LEN];
	u32 pos = NEW_HEADER_LEN;
	size_t i, name_len = o->backing ? strlen(o->backing) : 0;

	if (o->backing_fmt &&
	    (strlen(o->backing_fmt) > QCOW2_MAX_BACKING_FMT ||
	     qcow2_ext_put(buf, cs, &pos, QCOW2_EXT_BACKING_FORMAT,
			   o->backing_fmt, (u32)strlen(o->backing_fmt)))) {
		*why = "the backing format name does not fit";
		return -1;
	}
	if (cs >= FEATURE_TABLE_MIN_CLUSTER) {
		memset(table, 0, sizeof(table));
		for (i = 0; i < ARRAY_SIZE(features); i++) {
			unsigned char *e = table + i * QCOW2_FEATURE_ENTRY_LEN;

			e[0] = features[i].type;
			e[1] = features[i].bit;
			memcpy(e + 2, features[i].name,
			       strlen(features[i].name));
		}
		if (qcow2_ext_put(buf, cs, &pos, QCOW2_EXT_FEATURE_TABLE,
				  table, sizeof(table))) {
			*why = "the header extensions do not fit in a cluster";
			return -1;
		}
	}
	if (qcow2_ext_put(buf, cs, &pos, QCOW2_EXT_END, NULL, 0)) {
		*why = "the header extensions do not fit in a cluster";
		return -1;
	}
	if (!name_len)
		return 0;
	if (name_len > QCOW2_MAX_BACKING_NAME || name_len > cs - pos) {
		*why = "the backing file name is too long for the header cluster";
		return -1;
	}
	memcpy(buf + pos, o->backing, name_len);
	h->backing_file_offset = pos;
	h->backing_file_size = (u32)name_len;
	return 0;
}

int qcow2_new_image(const struct qcow2_new *o, unsigned char **out,
		    size_t *meta_len, uint64_t *file_len, const char **why)
{
	struct qcow2_header h = { 0 };
	u64 cs, l1, l1_clusters, rt = 1, rb = 1, per_block, i, n, l2_cover;
	unsigned char *buf;

	*out = NULL;
	if (o->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
	    o->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
		*why = "cluster size must be a power of two from 512 bytes to 2 MiB";
		return -1;
	}
	cs = 1ULL << o->cluster_bits;
	l2_cover = cs * (cs / 8);
	l1 = div_up(o->size, l2_cover);
	if (l1 > QCOW2_MAX_L1_ENTRIES) {
		*why = "the virtual size needs an L1 table larger than QEMU allows";
		return -1;
	}
	l1_clusters = div_up(l1 * 8, cs);
	per_block = cs * 8 / (1U << NEW_REFCOUNT_ORDER);
	/* refcount blocks cover every metadata cluster, themselves included */
	for (;;) {
		u64 nrb, nrt;

		n = 1 + rt + rb + l1_clusters;
		nrb = div_up(n, per_block);
		nrt = div_up(nrb * 8, cs);
		if (nrb == rb && nrt == rt)
			break;
		rb = nrb;
		rt = nrt;
	}
	if (rt * cs > QCOW2_MAX_REFTABLE_BYTES) {
		*why = "the refcount table would be larger than QEMU allows";
		return -1;
	}

	*meta_len = (size_t)((1 + rt + rb) * cs);
	buf = xcalloc(1, *meta_len);
	h.version = 3;
	h.header_length = NEW_HEADER_LEN;
	h.cluster_bits = o->cluster_bits;
	h.size = o->size;
	h.l1_size = (u32)l1;
	h.l1_table_offset = (1 + rt + rb) * cs;
	h.refcount_table_offset = cs;
	h.refcount_table_clusters = (u32)rt;
	h.refcount_order = NEW_REFCOUNT_ORDER;
	h.compression_type = QCOW2_COMPRESSION_ZLIB;
	if (put_extensions(o, buf, (u32)cs, &h, why)) {
		free(buf);
		return -1;
	}
	qcow2_header_encode(&h, buf);

	for (i = 0; i < rb; i++)
		put_unaligned_be64((1 + rt + i) * cs, buf + cs + i * 8);
	for (i = 0; i < n; i++) {
		unsigned char *block = buf + (1 + rt + i / per_block) * cs;

		qcow2_refblock_set(block, NEW_REFCOUNT_ORDER,
				   (u32)(i % per_block), 1);
	}
	*file_len = l1 ? h.l1_table_offset + l1 * 8 : h.l1_table_offset;
	*out = buf;
	return 0;
}

static int write_all(int fd, const unsigned char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pwrite(fd, buf + done, len - done, (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (!r)
			return -EIO;
		done += (size_t)r;
	}
	return 0;
}

static int sync_dir(const char *path)
{
	char *copy = xstrdup(path);
	int fd, ret = 0;

	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		ret = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return ret;
}

int qcow2_new_file(const char *path, const struct qcow2_new *o, char *err,
		   size_t errlen)
{
	unsigned char *buf;
	const char *why;
	uint64_t file_len;
	size_t meta_len;
	int fd, ret;

	if (qcow2_new_image(o, &buf, &meta_len, &file_len, &why)) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path,
			 strerror(errno));
		free(buf);
		return -1;
	}
	/* the L1 table is all zero: the file's length makes it */
	ret = write_all(fd, buf, meta_len < file_len ? meta_len : file_len);
	if (!ret && ftruncate(fd, (off_t)file_len))
		ret = -errno;
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	if (!ret)
		ret = sync_dir(path);
	free(buf);
	if (ret) {
		snprintf(err, errlen, "cannot write %s: %s", path,
			 strerror(-ret));
		unlink(path);
		return -1;
	}
	return 0;
}
