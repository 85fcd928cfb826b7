// SPDX-License-Identifier: GPL-2.0
/*
 * qcow2-inspect - validate a qcow2 image's metadata with the qcow2 target's
 * own parser (kernel/formats/qcow2/format.c, entries.c) and print what it found as
 * JSON, with field names as in `qemu-img info --output=json` where there is
 * an equivalent. On a refusal prints one line "Error: REASON" on stderr and
 * exits 1.
 *
 *   qcow2-inspect [--allow-encryption] IMAGE
 *
 * Checks: header, header extensions, the active L1 table, refcount table
 * entries, the snapshot table and the bitmap directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../kernel/formats/qcow2/format.h"
#include "../../user/fileio.h"

static const char *image;

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("Error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * Allocations are remembered here so that they stay reachable when die()
 * exits (no LeakSanitizer noise), and are freed together at the end.
 */
static void *allocs[32];

static void *xmalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	size_t i;

	if (!p)
		die("out of memory (%zu bytes)", n);
	for (i = 0; i < sizeof(allocs) / sizeof(allocs[0]); i++) {
		if (!allocs[i]) {
			allocs[i] = p;
			return p;
		}
	}
	die("too many allocations");
	return NULL;
}

static void xfree(void *p)
{
	size_t i;

	for (i = 0; p && i < sizeof(allocs) / sizeof(allocs[0]); i++) {
		if (allocs[i] == p) {
			allocs[i] = NULL;
			free(p);
			return;
		}
	}
}

static void xfree_all(void)
{
	size_t i;

	for (i = 0; i < sizeof(allocs) / sizeof(allocs[0]); i++) {
		free(allocs[i]);
		allocs[i] = NULL;
	}
}

/* Read @len bytes at @off; bytes past the end of file are zeroed. */
static void read_at(int fd, u64 off, void *buf, size_t len)
{
	int r = vs_read_at(fd, off, buf, len);

	if (r)
		die("%s: read at %llu: %s", image, (unsigned long long)off,
		    strerror(-r));
}

static void json_str(const char *s, size_t len)
{
	size_t i;

	putchar('"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void json_span(const u8 *hdr, const struct qcow2_span *sp)
{
	json_str((const char *)hdr + sp->offset, sp->len);
}

static const char *bool_str(bool b)
{
	return b ? "true" : "false";
}

static void print_features(const char *key, u64 v)
{
	printf("    \"%s\": %llu,\n", key, (unsigned long long)v);
}

static void print_json(const u8 *hdr, const struct qcow2_header *h,
		       const struct qcow2_extensions *e,
		       const u8 *sntab, const struct qcow2_snapshot *sns,
		       const u8 *dir, const struct qcow2_bitmap *bms)
{
	static const char * const crypt[] = { "none", "aes", "luks" };
	u32 i;

	printf("{\n");
	printf("    \"format\": \"qcow2\",\n");
	printf("    \"version\": %u,\n", h->version);
	printf("    \"compat\": \"%s\",\n", h->version == 2 ? "0.10" : "1.1");
	printf("    \"header-length\": %u,\n", h->header_length);
	printf("    \"cluster-size\": %u,\n", h->cluster_size);
	/* QEMU presents whole 512-byte sectors */
	printf("    \"virtual-size\": %llu,\n",
	       (unsigned long long)(h->size & ~511ULL));
	printf("    \"size-field\": %llu,\n", (unsigned long long)h->size);
	printf("    \"refcount-bits\": %u,\n", h->refcount_bits);
	printf("    \"extended-l2\": %s,\n", bool_str(h->extended_l2));
	printf("    \"compression-type\": \"%s\",\n",
	       h->compression_type ? "zstd" : "zlib");
	printf("    \"encryption\": \"%s\",\n", crypt[h->crypt_method]);
	print_features("incompatible-features", h->incompatible_features);
	print_features("compatible-features", h->compatible_features);
	print_features("autoclear-features", h->autoclear_features);
	print_features("unknown-autoclear-features", h->unknown_autoclear);
	printf("    \"dirty-flag\": %s,\n", bool_str(h->dirty));
	printf("    \"corrupt\": %s,\n", bool_str(h->corrupt));
	printf("    \"lazy-refcounts\": %s,\n", bool_str(h->lazy_refcounts));
	printf("    \"l1-size\": %u,\n", h->l1_size);
	printf("    \"l1-table-offset\": %llu,\n",
	       (unsigned long long)h->l1_table_offset);
	printf("    \"refcount-table-offset\": %llu,\n",
	       (unsigned long long)h->refcount_table_offset);
	printf("    \"refcount-table-clusters\": %u,\n",
	       h->refcount_table_clusters);
	if (h->has_backing) {
		printf("    \"backing-filename\": ");
		json_span(hdr, &e->backing_file);
		printf(",\n");
	}
	if (e->present & QCOW2_EXTF_BACKING_FORMAT) {
		printf("    \"backing-filename-format\": ");
		json_span(hdr, &e->backing_format);
		printf(",\n");
	}
	if (h->data_file) {
		printf("    \"data-file-raw\": %s,\n", bool_str(h->data_file_raw));
		if (e->present & QCOW2_EXTF_DATA_FILE) {
			printf("    \"data-file\": ");
			json_span(hdr, &e->data_file);
			printf(",\n");
		}
	}
	printf("    \"unknown-extensions\": [");
	for (i = 0; i < e->nb_unknown; i++)
		printf("%s{\"type\": %u, \"length\": %u}", i ? ", " : "",
		       e->unknown[i].type, e->unknown[i].len);
	printf("],\n");
	printf("    \"nb-snapshots\": %u,\n", h->nb_snapshots);
	printf("    \"snapshots\": [");
	for (i = 0; i < h->nb_snapshots; i++) {
		const struct qcow2_snapshot *sn = &sns[i];

		printf("%s\n        {\"id\": ", i ? "," : "");
		json_str((const char *)sntab + sn->id_offset, sn->id_len);
		printf(", \"name\": ");
		json_str((const char *)sntab + sn->name_offset, sn->name_len);
		printf(", \"l1-table-offset\": %llu, \"l1-size\": %u",
		       (unsigned long long)sn->l1_table_offset, sn->l1_size);
		printf(", \"vm-state-size\": %llu, \"date-sec\": %u, \"date-nsec\": %u",
		       (unsigned long long)sn->vm_state_size, sn->date_sec,
		       sn->date_nsec);
		if (sn->has_disk_size)
			printf(", \"disk-size\": %llu",
			       (unsigned long long)sn->disk_size);
		printf("}");
	}
	printf("%s],\n", h->nb_snapshots ? "\n    " : "");
	printf("    \"bitmaps-stale\": %s,\n", bool_str(e->bitmaps_stale));
	printf("    \"bitmaps\": [");
	for (i = 0; bms && i < e->nb_bitmaps; i++) {
		const struct qcow2_bitmap *b = &bms[i];

		printf("%s\n        {\"name\": ", i ? "," : "");
		json_str((const char *)dir + b->name_offset, b->name_len);
		printf(", \"granularity\": %llu, \"flags\": [",
		       1ULL << b->granularity_bits);
		printf("%s", (b->flags & QCOW2_BITMAP_IN_USE) ? "\"in-use\"" : "");
		printf("%s%s", (b->flags & QCOW2_BITMAP_IN_USE) &&
		       (b->flags & QCOW2_BITMAP_AUTO) ? ", " : "",
		       (b->flags & QCOW2_BITMAP_AUTO) ? "\"auto\"" : "");
		printf("], \"table-offset\": %llu, \"table-size\": %u}",
		       (unsigned long long)b->table_offset, b->table_size);
	}
	printf("%s]\n", bms && e->nb_bitmaps ? "\n    " : "");
	printf("}\n");
}

int main(int argc, char **argv)
{
	struct qcow2_header h;
	struct qcow2_extensions e;
	struct qcow2_snapshot *sns = NULL;
	struct qcow2_bitmap *bms = NULL;
	bool allow_crypt = false;
	const char *reason = NULL;
	u64 file_size, sn_len = 0;
	size_t hlen;
	struct stat st;
	u8 *hdr, *buf, *sntab = NULL, *dir = NULL;
	u32 i, bad;
	int fd, ret;

	if (argc == 3 && !strcmp(argv[1], "--allow-encryption")) {
		allow_crypt = true;
		argv++;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: qcow2-inspect [--allow-encryption] IMAGE\n");
		return 2;
	}
	image = argv[1];
	fd = open(image, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("%s: %s", image, strerror(errno));
	if (fstat(fd, &st))
		die("%s: %s", image, strerror(errno));
	if (S_ISREG(st.st_mode)) {
		file_size = (u64)st.st_size;
	} else {
		off_t end = lseek(fd, 0, SEEK_END);

		if (end < 0)
			die("%s: cannot get size: %s", image, strerror(errno));
		file_size = (u64)end;
	}

	/* Header: a first small read, then as much as the parser asks for. */
	hlen = 4096;
	hdr = xmalloc(hlen);
	read_at(fd, 0, hdr, hlen);
	ret = qcow2_header_parse(hdr, hlen, file_size, &h, &reason);
	if (ret == -ENODATA) {
		hlen = h.header_length;
		xfree(hdr);
		hdr = xmalloc(hlen);
		read_at(fd, 0, hdr, hlen);
		ret = qcow2_header_parse(hdr, hlen, file_size, &h, &reason);
	}
	if (ret)
		die("%s", reason);

	if (qcow2_header_area_size(&h, file_size) > hlen) {
		hlen = qcow2_header_area_size(&h, file_size);
		xfree(hdr);
		hdr = xmalloc(hlen);
		read_at(fd, 0, hdr, hlen);
	}
	ret = qcow2_extensions_parse(hdr, hlen, file_size, &h, &e, &reason);
	if (ret)
		die("%s", reason);
	ret = qcow2_check_open(&h, &e, QCOW2_OPEN_ALLOW_DATA_FILE, &reason);
	if (ret && !(allow_crypt && h.crypt_method))
		die("%s", reason);

	/* Active L1 table */
	buf = xmalloc((size_t)h.l1_size * 8);
	read_at(fd, h.l1_table_offset, buf, (size_t)h.l1_size * 8);
	if (qcow2_l1_table_check(&h.g, buf, h.l1_size, file_size, &bad,
				 &reason))
		die("active L1 table entry %u: %s", bad, reason);
	xfree(buf);

	/* Refcount table entries */
	buf = xmalloc((size_t)h.refcount_table_entries * 8);
	read_at(fd, h.refcount_table_offset, buf,
		(size_t)h.refcount_table_entries * 8);
	for (i = 0; i < h.refcount_table_entries; i++) {
		u64 rb;

		if (qcow2_reftable_entry_decode(&h.g,
						get_unaligned_be64(buf + 8 * (size_t)i),
						&rb, &reason))
			die("refcount table entry %u: %s", i, reason);
	}
	xfree(buf);

	/* Snapshot table: read more until the parser has enough. */
	if (h.nb_snapshots) {
		size_t want = (size_t)h.nb_snapshots * QCOW2_SNAPSHOT_HDR_LEN;

		sns = xmalloc(sizeof(*sns) * h.nb_snapshots);
		for (;;) {
			sntab = xmalloc(want);
			read_at(fd, h.snapshots_offset, sntab, want);
			ret = qcow2_snapshot_table_parse(&h, file_size, sntab,
							 want, sns, &sn_len,
							 &reason);
			if (ret != -ENODATA)
				break;
			xfree(sntab);
			want = (size_t)sn_len + 4096;
		}
		if (ret)
			die("snapshot table: %s", reason);
	}

	/* Bitmap directory */
	if ((e.present & QCOW2_EXTF_BITMAPS) && !e.bitmaps_stale) {
		dir = xmalloc((size_t)e.bitmap_directory_size);
		read_at(fd, e.bitmap_directory_offset, dir,
			(size_t)e.bitmap_directory_size);
		bms = xmalloc(sizeof(*bms) * e.nb_bitmaps);
		if (qcow2_bitmap_dir_parse(&h, &e, file_size, dir,
					   (size_t)e.bitmap_directory_size, bms,
					   &reason))
			die("bitmap directory: %s", reason);
	}

	print_json(hdr, &h, &e, sntab, sns, dir, bms);
	xfree_all();
	close(fd);
	return 0;
}
