// SPDX-License-Identifier: GPL-2.0
/*
 * tests/vhost/vmm: plays the VMM in front of /dev/vhost-blk.
 *
 *   vmm --backend DEVICE | --vhost-user SOCKET
 *       --mode functional|hostile|load [--queues N]
 *       [--qd N] [--seconds N] [--bs BYTES] [--rw randread|randwrite]
 *       [--seed N]
 *
 * functional: every request type and descriptor layout on every queue, data
 *   checked against DEVICE read and written directly (O_DIRECT).
 * hostile: malformed chains and requests, each on a fresh device; each must
 *   end with IOERR/UNSUPP or an error on the queue's error eventfd, never OK,
 *   and queue 1 must still serve a verified read afterwards.
 * flood: one chain replayed four rings' worth, as fast as the device takes
 *   it; all must complete (a queue is bounded by its ring size).
 * load: QD requests in flight on each queue (a thread each) for SECONDS;
 *   prints IOPS and latency percentiles.
 *
 * --vhost-user drives a vhost-user-blk back end (vstoragectl export
 * vhost-user, qemu-storage-daemon) instead; functional and hostile then
 * need --verify DEVICE, the device behind it, and leave out what only the
 * ioctls can do (backend switches, read-only fds, the serial number).
 *
 * functional, hostile and flood end with "N passed, N failed"; exit status 0 only
 * when nothing failed. DEVICE is written to (functional, hostile, randwrite).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/vhost.h>
#include <linux/virtio_blk.h>

#include "../../uapi/linux/vhost_blk.h"
#include "vmm.h"

#define WAIT_MS 20000

static struct {
	const char *backend;
	const char *socket;
	const char *verify;
	const char *mode;
	unsigned int queues, qd, seconds, bs;
	bool randwrite;
	uint64_t seed;
} opt = { .queues = 2, .qd = 32, .seconds = 10, .bs = 4096, .seed = 1 };

static unsigned int passed, failed;
static int dev_fd = -1;		/* the backend, O_DIRECT, for checking */
static uint64_t capacity;	/* sectors */
static uint64_t seed;

static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		passed++;
		return;
	}
	failed++;
	printf("FAIL: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static void *xalloc(size_t len)
{
	void *p;

	if (posix_memalign(&p, 4096, len ? len : 1)) {
		perror("vmm: memory");
		exit(2);
	}
	return p;
}

static void dev_read(uint64_t sector, void *buf, size_t len)
{
	if (pread(dev_fd, buf, len, (off_t)(sector * 512)) != (ssize_t)len) {
		perror("vmm: reading the backend");
		exit(2);
	}
}

static void dev_write(uint64_t sector, const void *buf, size_t len)
{
	if (pwrite(dev_fd, buf, len, (off_t)(sector * 512)) != (ssize_t)len ||
	    fdatasync(dev_fd)) {
		perror("vmm: writing the backend");
		exit(2);
	}
}

/* --- building requests in the layouts the guest may use ------------------ */

enum layout {
	L_SIMPLE,	/* header, data, status: a descriptor each */
	L_MERGED,	/* header and data in one, data and status in one */
	L_SPLIT,	/* odd-sized pieces, packed: header and status split */
	L_UNALIGNED,	/* L_SIMPLE at odd guest addresses (bounced) */
	L_MANY,		/* data in 32 pieces over all regions */
	L_INDIRECT,	/* L_SIMPLE in an indirect table */
	L_INDIRECT_SPLIT,
	NLAYOUTS
};

static const char *const layout_name[] = {
	"simple", "merged", "split", "unaligned", "many", "indirect",
	"indirect-split",
};

static const uint32_t split_pattern[] = { 5, 3, 8, 1, 511, 1000, 7, 2048, 13, 4096 };

/* Cuts a stream of @len bytes; @hdr: the first 16 bytes are the header. */
static unsigned int cut(enum layout l, size_t len, bool out, uint32_t *p)
{
	unsigned int n = 0, i;
	size_t at = 0;

	if (!len)
		return 0;
	switch (l) {
	case L_MERGED:
		p[n++] = len;
		return n;
	case L_SPLIT:
	case L_INDIRECT_SPLIT:
		for (i = 0; at < len && n < 62; i++) {
			uint32_t s = split_pattern[i % 10];

			if (s > len - at || n == 61)
				s = len - at;
			p[n++] = s;
			at += s;
		}
		return n;
	case L_MANY:
		if (out) {
			p[n++] = 16;
			at = 16;
		}
		if (len - at > (out ? 0 : 1)) {
			size_t data = len - at - (out ? 0 : 1), piece = data / 32;

			for (i = 0; i < 32 && piece; i++, at += piece)
				p[n++] = piece;
			if (len - at - (out ? 0 : 1))
				p[n++] = len - at - (out ? 0 : 1);
			at = len - (out ? 0 : 1);
		}
		if (at < len)
			p[n++] = len - at;
		return n;
	default:
		if (out) {
			p[n++] = len < 16 ? len : 16;
			if (len > 16)
				p[n++] = len - 16;
		} else {
			if (len > 1)
				p[n++] = len - 1;
			p[n++] = 1;
		}
		return n;
	}
}

/* Submits a request; returns its head. */
static int submit_layout(struct vmm *m, unsigned int q, enum layout l,
			 const uint8_t *out, size_t out_len, size_t in_len)
{
	struct vmm_seg segs[128];
	uint32_t pieces[64];
	unsigned int n = 0, k, i;
	size_t at = 0;
	bool indirect = l == L_INDIRECT || l == L_INDIRECT_SPLIT;
	size_t align = l == L_SPLIT || l == L_INDIRECT_SPLIT ? 1 : 4096;
	size_t offset = l == L_UNALIGNED ? 1 : 0;

	k = cut(l, out_len, true, pieces);
	for (i = 0; i < k; i++, n++) {
		segs[n].hva = vmm_alloc(m, n + q, pieces[i], align, offset,
					&segs[n].gpa);
		segs[n].len = pieces[i];
		segs[n].write = false;
		memcpy(segs[n].hva, out + at, pieces[i]);
		at += pieces[i];
	}
	k = cut(l, in_len, false, pieces);
	for (i = 0; i < k; i++, n++) {
		segs[n].hva = vmm_alloc(m, n + q, pieces[i], align, offset,
					&segs[n].gpa);
		segs[n].len = pieces[i];
		segs[n].write = true;
		memset(segs[n].hva, 0xee, pieces[i]);
	}
	return vmm_submit(m, &m->vq[q], segs, n, indirect);
}

/* The device-writable bytes of a completed request; returns its status. */
static int gather(struct vmm_vq *vq, int head, uint8_t *in, size_t in_len)
{
	struct vmm_req *r = &vq->reqs[head];
	size_t at = 0;
	unsigned int i;

	for (i = 0; i < r->nin && at < in_len; i++) {
		size_t n = r->in_len[i] < in_len - at ? r->in_len[i] : in_len - at;

		memcpy(in + at, r->in_hva[i], n);
		at += n;
	}
	return in_len ? in[in_len - 1] : -1;
}

/* The status byte: the last device-writable byte of the chain. */
static int status_of(struct vmm_vq *vq, int head)
{
	struct vmm_req *r = &vq->reqs[head];

	if (!r->nin || !r->in_len[r->nin - 1])
		return -1;
	return r->in_hva[r->nin - 1][r->in_len[r->nin - 1] - 1];
}

struct result {
	int status;		/* -1: no completion */
	uint32_t used_len;
};

/* One request, waited for; @in gets the writable bytes (data + status). */
static struct result run1(struct vmm *m, unsigned int q, enum layout l,
			  const uint8_t *out, size_t out_len, uint8_t *in,
			  size_t in_len)
{
	struct vmm_vq *vq = &m->vq[q];
	struct result r = { -1, 0 };
	uint8_t st;
	int head;

	head = submit_layout(m, q, l, out, out_len, in_len);
	if (head < 0)
		return r;
	vmm_kick(vq);
	if (vmm_wait(m, vq, head, WAIT_MS))
		return r;
	r.used_len = vq->reqs[head].used_len;
	r.status = gather(vq, head, in ? in : &st, in ? in_len : 1);
	vmm_mem_reset(m);
	return r;
}

static void hdr(uint8_t *p, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };

	memcpy(p, &h, sizeof(h));
}

static struct result blk_write(struct vmm *m, unsigned int q, enum layout l,
			       uint64_t sector, const uint8_t *data, size_t len)
{
	uint8_t *out = xalloc(16 + len), st;
	struct result r;

	hdr(out, VIRTIO_BLK_T_OUT, sector);
	memcpy(out + 16, data, len);
	r = run1(m, q, l, out, 16 + len, &st, 1);
	free(out);
	return r;
}

static struct result blk_read(struct vmm *m, unsigned int q, enum layout l,
			      uint64_t sector, uint8_t *data, size_t len)
{
	uint8_t h[16], *in = xalloc(len + 1);
	struct result r;

	hdr(h, VIRTIO_BLK_T_IN, sector);
	r = run1(m, q, l, h, 16, in, len + 1);
	memcpy(data, in, len);
	free(in);
	return r;
}

static struct result blk_segs(struct vmm *m, unsigned int q, enum layout l,
			      uint32_t type, const struct virtio_blk_discard_write_zeroes *s,
			      unsigned int n)
{
	uint8_t *out = xalloc(16 + n * sizeof(*s)), st;
	struct result r;

	hdr(out, type, 0);
	memcpy(out + 16, s, n * sizeof(*s));
	r = run1(m, q, l, out, 16 + n * sizeof(*s), &st, 1);
	free(out);
	return r;
}

static uint64_t pick_sector(size_t len)
{
	uint64_t span = capacity - len / 512;

	return span ? vmm_rand(&seed) % span / 8 * 8 : 0;
}

/* --- functional ---------------------------------------------------------- */

static size_t layout_len(enum layout l)
{
	switch (l) {
	case L_MANY:
		return 256 << 10;
	case L_SPLIT:
	case L_INDIRECT_SPLIT:
		return 3 * 4096 + 512;
	case L_UNALIGNED:
		return 5 * 512;
	default:
		return 64 << 10;
	}
}

static void f_rw(struct vmm *m, unsigned int q, enum layout l)
{
	size_t len = layout_len(l);
	uint8_t *a = xalloc(len), *b = xalloc(len);
	uint64_t sector = pick_sector(len);
	struct result r;

	vmm_fill_random(a, len, &seed);
	r = blk_write(m, q, l, sector, a, len);
	check(r.status == VIRTIO_BLK_S_OK && r.used_len == 1,
	      "q%u %s: write of %zu at %llu: status %d used %u", q,
	      layout_name[l], len, (unsigned long long)sector, r.status,
	      r.used_len);
	dev_read(sector, b, len);
	check(!memcmp(a, b, len), "q%u %s: the device does not hold what was written",
	      q, layout_name[l]);

	sector = pick_sector(len);
	vmm_fill_random(a, len, &seed);
	dev_write(sector, a, len);
	memset(b, 0, len);
	r = blk_read(m, q, l, sector, b, len);
	check(r.status == VIRTIO_BLK_S_OK && r.used_len == len + 1,
	      "q%u %s: read of %zu at %llu: status %d used %u", q,
	      layout_name[l], len, (unsigned long long)sector, r.status,
	      r.used_len);
	check(!memcmp(a, b, len), "q%u %s: read data differs from the device",
	      q, layout_name[l]);
	free(a);
	free(b);
}

static bool all_zero(const uint8_t *p, size_t len)
{
	return !p[0] && !memcmp(p, p + 1, len - 1);
}

static void f_zeroes(struct vmm *m, unsigned int q, bool unmap)
{
	size_t len = 64 << 10;
	uint8_t *a = xalloc(len), *b = xalloc(len);
	uint64_t sector = pick_sector(len);
	struct virtio_blk_discard_write_zeroes s[2] = {
		{ .sector = sector + 8, .num_sectors = 16,
		  .flags = unmap ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0 },
		{ .sector = sector + 40, .num_sectors = 64,
		  .flags = unmap ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0 },
	};
	struct result r;

	vmm_fill_random(a, len, &seed);
	dev_write(sector, a, len);
	r = blk_segs(m, q, L_SPLIT, VIRTIO_BLK_T_WRITE_ZEROES, s, 2);
	check(r.status == VIRTIO_BLK_S_OK, "q%u write-zeroes%s: status %d", q,
	      unmap ? " (unmap)" : "", r.status);
	dev_read(sector, b, len);
	check(!memcmp(a, b, 8 * 512) && all_zero(b + 8 * 512, 16 * 512) &&
	      !memcmp(a + 24 * 512, b + 24 * 512, 16 * 512) &&
	      all_zero(b + 40 * 512, 64 * 512) &&
	      !memcmp(a + 104 * 512, b + 104 * 512, len - 104 * 512),
	      "q%u write-zeroes%s: wrong ranges zeroed", q, unmap ? " (unmap)" : "");
	free(a);
	free(b);
}

static bool backend_discards(void)
{
	struct stat st;
	char path[128];
	unsigned long long max = 0;
	FILE *f;

	if (fstat(dev_fd, &st))
		return false;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/discard_max_bytes",
		 major(st.st_rdev), minor(st.st_rdev));
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fscanf(f, "%llu", &max) != 1)
		max = 0;
	fclose(f);
	return max > 0;
}

static void f_misc(struct vmm *m, unsigned int q)
{
	struct virtio_blk_discard_write_zeroes s[3] = {
		{ .sector = 0, .num_sectors = 8 },
		{ .sector = capacity - 8, .num_sectors = 8 },
		{ .sector = capacity / 2, .num_sectors = 0 },
	};
	uint32_t unknown[] = { 0x99, VIRTIO_BLK_T_SECURE_ERASE,
			       10 /* GET_LIFETIME */, 0xffffffff };
	uint8_t h[16], in[21], *buf = xalloc(1024);
	struct result r;
	bool discards = backend_discards();
	unsigned int i;

	hdr(h, VIRTIO_BLK_T_FLUSH, 0);
	r = run1(m, q, L_SIMPLE, h, 16, in, 1);
	check(r.status == VIRTIO_BLK_S_OK && r.used_len == 1,
	      "q%u flush: status %d used %u", q, r.status, r.used_len);

	hdr(h, VIRTIO_BLK_T_GET_ID, 0);
	r = run1(m, q, L_SPLIT, h, 16, in, 21);
	check(r.status == VIRTIO_BLK_S_OK &&
	      (opt.socket || !memcmp(in, "vmm-serial-0123456789", 20)),
	      "q%u get-id: status %d id '%.20s'", q, r.status, (char *)in);

	r = blk_segs(m, q, L_SIMPLE, VIRTIO_BLK_T_DISCARD, s, 3);
	check(r.status == (discards ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_UNSUPP),
	      "q%u discard: status %d (the device %s discard)", q, r.status,
	      discards ? "has" : "has no");

	for (i = 0; i < 4; i++) {
		hdr(h, unknown[i], 0);
		r = run1(m, q, i & 1 ? L_INDIRECT : L_SIMPLE, h, 16, in, 1);
		check(r.status == VIRTIO_BLK_S_UNSUPP, "q%u type %#x: status %d",
		      q, unknown[i], r.status);
	}

	r = blk_read(m, q, L_SIMPLE, capacity - 1, buf, 512);
	check(r.status == VIRTIO_BLK_S_OK, "q%u read of the last sector: status %d",
	      q, r.status);
	r = blk_read(m, q, L_SIMPLE, capacity, buf, 512);
	check(r.status == VIRTIO_BLK_S_IOERR, "q%u read past the end: status %d",
	      q, r.status);
	r = blk_write(m, q, L_MERGED, capacity - 1, buf, 1024);
	check(r.status == VIRTIO_BLK_S_IOERR, "q%u write across the end: status %d",
	      q, r.status);
	free(buf);
}

/* Requests in flight on every queue at once, then checked. */
static void f_parallel(struct vmm *m, unsigned int depth)
{
	size_t len = 8192, n = (size_t)m->nq * depth, i;
	uint8_t *a = xalloc(n * len), *b = xalloc(len);
	uint64_t *sectors = calloc(n, sizeof(*sectors));
	int *heads = calloc(n, sizeof(*heads));
	unsigned int q;

	/* distinct ranges: one stripe per request */
	uint64_t stripe = capacity / n / 16 * 16;

	vmm_fill_random(a, n * len, &seed);
	for (i = 0; i < n; i++) {
		uint8_t *out = xalloc(16 + len);

		q = i % m->nq;
		sectors[i] = i * stripe + vmm_rand(&seed) % (stripe - 16) / 8 * 8;
		hdr(out, VIRTIO_BLK_T_OUT, sectors[i]);
		memcpy(out + 16, a + i * len, len);
		heads[i] = submit_layout(m, q, (enum layout)(i % NLAYOUTS), out,
					 16 + len, 1);
		free(out);
	}
	for (q = 0; q < m->nq; q++)
		vmm_kick(&m->vq[q]);
	for (i = 0; i < n; i++) {
		struct vmm_vq *vq = &m->vq[i % m->nq];
		uint8_t st = 0xff;

		check(heads[i] >= 0 && !vmm_wait(m, vq, heads[i], WAIT_MS),
		      "parallel: request %zu did not complete", i);
		if (heads[i] >= 0)
			gather(vq, heads[i], &st, 1);
		check(st == VIRTIO_BLK_S_OK, "parallel: request %zu status %d", i, st);
		dev_read(sectors[i], b, len);
		check(!memcmp(a + i * len, b, len), "parallel: request %zu data", i);
	}
	vmm_mem_reset(m);
	free(a);
	free(b);
	free(sectors);
	free(heads);
}

/*
 * Detaching drains: once VHOST_BLK_SET_BACKEND returns, no request of the
 * queue is in flight and none starts; reattaching serves the rest.
 */
static void f_detach(struct vmm *m)
{
	unsigned int n = 48, i;
	size_t len = 16384;
	struct vmm_vq *vq = &m->vq[0];
	uint8_t *a = xalloc(n * len), *b = xalloc(len);
	uint64_t base = pick_sector(n * len);
	int heads[48], fd;
	uint16_t seen;

	vmm_fill_random(a, n * len, &seed);
	for (i = 0; i < n; i++) {
		uint8_t out[16 + 16384];

		hdr(out, VIRTIO_BLK_T_OUT, base + i * (len / 512));
		memcpy(out + 16, a + i * len, len);
		heads[i] = submit_layout(m, 0, L_SIMPLE, out, sizeof(out), 1);
	}
	vmm_kick(vq);
	check(!vmm_set_backend(m, 0, -1), "detach failed");
	seen = __atomic_load_n(&vq->vr.used->idx, __ATOMIC_ACQUIRE);
	usleep(300000);
	check(seen == __atomic_load_n(&vq->vr.used->idx, __ATOMIC_ACQUIRE),
	      "requests completed after the backend was detached");
	fd = vmm_backend_fd(m, false);
	check(fd >= 0 && !vmm_set_backend(m, 0, fd), "reattach failed");
	close(fd);
	for (i = 0; i < n; i++) {
		uint8_t st = 0xff;

		check(!vmm_wait(m, vq, heads[i], WAIT_MS),
		      "detach: request %u never completed", i);
		gather(vq, heads[i], &st, 1);
		check(st == VIRTIO_BLK_S_OK, "detach: request %u status %d", i, st);
		dev_read(base + i * (len / 512), b, len);
		check(!memcmp(a + i * len, b, len), "detach: request %u data", i);
	}
	vmm_mem_reset(m);
	free(a);
	free(b);
}

/* A queue whose fd is read-only refuses every kind of write. */
static void f_read_only(struct vmm *m)
{
	size_t len = 4096;
	uint8_t *a = xalloc(len), *b = xalloc(len), *c = xalloc(len);
	uint64_t sector = pick_sector(len);
	struct virtio_blk_discard_write_zeroes s = { .sector = sector, .num_sectors = 8 };
	struct result r;
	int fd = vmm_backend_fd(m, true);

	check(fd >= 0 && !vmm_set_backend(m, 0, fd), "read-only attach failed");
	close(fd);
	vmm_fill_random(a, len, &seed);
	dev_write(sector, a, len);
	vmm_fill_random(c, len, &seed);
	r = blk_write(m, 0, L_SIMPLE, sector, c, len);
	check(r.status == VIRTIO_BLK_S_IOERR, "read-only: write status %d", r.status);
	r = blk_segs(m, 0, L_SIMPLE, VIRTIO_BLK_T_WRITE_ZEROES, &s, 1);
	check(r.status == VIRTIO_BLK_S_IOERR, "read-only: write-zeroes status %d", r.status);
	r = blk_segs(m, 0, L_SIMPLE, VIRTIO_BLK_T_DISCARD, &s, 1);
	check(r.status == VIRTIO_BLK_S_IOERR, "read-only: discard status %d", r.status);
	r = blk_read(m, 0, L_SIMPLE, sector, b, len);
	check(r.status == VIRTIO_BLK_S_OK && !memcmp(a, b, len),
	      "read-only: read status %d or data differs", r.status);
	dev_read(sector, b, len);
	check(!memcmp(a, b, len), "read-only: the device changed");
	fd = vmm_backend_fd(m, false);
	check(fd >= 0 && !vmm_set_backend(m, 0, fd), "read-write reattach failed");
	close(fd);
	r = blk_write(m, 0, L_SIMPLE, sector, c, len);
	check(r.status == VIRTIO_BLK_S_OK, "after switching back: write status %d",
	      r.status);
	free(a);
	free(b);
	free(c);
}

static int vmm_start(struct vmm *m, unsigned int nq, bool event_idx)
{
	if (opt.socket)
		return vmm_open_user(m, opt.socket, nq, event_idx);
	return vmm_open(m, opt.backend, nq, event_idx, false);
}

static int set_id(struct vmm *m)
{
	struct vhost_blk_id id;

	if (opt.socket)
		return 0;
	memcpy(id.id, "vmm-serial-0123456789", sizeof(id.id));
	return ioctl(m->fd, VHOST_BLK_SET_ID, &id);
}

static void functional(void)
{
	struct vmm m;
	unsigned int q, l, pass;

	for (pass = 0; pass < 2; pass++) {
		bool event_idx = !pass;

		if (vmm_start(&m, opt.queues, event_idx) || set_id(&m)) {
			check(false, "setting up the device failed");
			return;
		}
		for (q = 0; q < opt.queues; q++) {
			for (l = 0; l < NLAYOUTS; l++)
				f_rw(&m, q, l);
			if (pass)
				continue;
			f_zeroes(&m, q, false);
			f_zeroes(&m, q, true);
			f_misc(&m, q);
		}
		f_parallel(&m, pass ? 8 : 24);
		if (!pass && !opt.socket) {
			f_detach(&m);
			f_read_only(&m);
		}
		printf("functional, %s: %u passed, %u failed so far\n",
		       event_idx ? "event-idx" : "no event-idx", passed, failed);
		vmm_close(&m);
	}
}

/* --- hostile ------------------------------------------------------------- */

enum expect { E_STATUS, E_BROKEN };

struct hostile {
	const char *name;
	/* puts a bad chain on queue 0 and kicks it; returns its head or -1 */
	int (*make)(struct vmm *m);
	enum expect expect;
	int status;		/* E_STATUS: the status it must get */
};

static struct vmm_seg seg(struct vmm *m, unsigned int region, uint32_t len,
			  bool write, const void *data)
{
	struct vmm_seg s = { .len = len, .write = write };

	s.hva = vmm_alloc(m, region, len, 4096, 0, &s.gpa);
	if (data)
		memcpy(s.hva, data, len);
	else
		memset(s.hva, 0, len);
	return s;
}

static int h_put(struct vmm *m, struct vmm_seg *s, unsigned int n, bool indirect)
{
	int head = vmm_submit(m, &m->vq[0], s, n, indirect);

	vmm_kick(&m->vq[0]);
	return head;
}

/*
 * A well-formed chain on queue 0, not yet available to the device (which
 * may look at the ring at any time): the caller breaks it, then publishes.
 */
static int h_chain(struct vmm *m, uint32_t type, uint64_t sector, uint32_t len)
{
	uint8_t h[16];
	struct vmm_seg s[3];

	hdr(h, type, sector);
	s[0] = seg(m, 0, 16, false, h);
	s[1] = seg(m, 1, len, type == VIRTIO_BLK_T_IN, NULL);
	s[2] = seg(m, 2, 1, true, NULL);
	return vmm_build(m, &m->vq[0], s, 3, false);
}

static int h_io(struct vmm *m, uint32_t type, uint64_t sector, uint32_t len)
{
	int head = h_chain(m, type, sector, len);

	vmm_publish(&m->vq[0], head);
	vmm_kick(&m->vq[0]);
	return head;
}

static int h_outside(struct vmm *m)
{
	uint8_t h[16];
	struct vmm_seg s[3];

	hdr(h, VIRTIO_BLK_T_IN, 0);
	s[0] = seg(m, 0, 16, false, h);
	s[1] = (struct vmm_seg){ .gpa = 0x40000000ull, .len = 4096, .write = true };
	s[2] = seg(m, 2, 1, true, NULL);
	return h_put(m, s, 3, false);
}

static int h_short_header(struct vmm *m)
{
	uint8_t h[16];
	struct vmm_seg s[2];

	hdr(h, VIRTIO_BLK_T_IN, 0);
	s[0] = seg(m, 0, 8, false, h);
	s[1] = seg(m, 1, 1, true, NULL);
	return h_put(m, s, 2, false);
}

static int h_status_readonly(struct vmm *m)
{
	uint8_t h[16];
	struct vmm_seg s[3];

	hdr(h, VIRTIO_BLK_T_OUT, 0);
	s[0] = seg(m, 0, 16, false, h);
	s[1] = seg(m, 1, 512, false, NULL);
	s[2] = seg(m, 2, 1, false, NULL);
	return h_put(m, s, 3, false);
}

static int h_overflow_len(struct vmm *m)
{
	uint8_t h[16];
	struct vmm_seg s[3];

	hdr(h, VIRTIO_BLK_T_IN, 0);
	s[0] = seg(m, 0, 16, false, h);
	s[1] = (struct vmm_seg){ .gpa = vmm_region_end(m, 1) - 4096,
				 .len = 0xfffffe00u, .write = true };
	s[2] = seg(m, 2, 1, true, NULL);
	return h_put(m, s, 3, false);
}

static int h_wrap_addr(struct vmm *m)
{
	uint8_t h[16];
	struct vmm_seg s[3];

	hdr(h, VIRTIO_BLK_T_IN, 0);
	s[0] = seg(m, 0, 16, false, h);
	s[1] = (struct vmm_seg){ .gpa = ~0ull - 2047, .len = 8192, .write = true };
	s[2] = seg(m, 2, 1, true, NULL);
	return h_put(m, s, 3, false);
}

static int h_loop(struct vmm *m)
{
	int head = h_chain(m, VIRTIO_BLK_T_IN, 0, 512);
	struct vmm_vq *vq = &m->vq[0];
	struct vmm_req *r = &vq->reqs[head];

	/* the last descriptor leads back to the first */
	vq->vr.desc[r->descs[2]].flags |= VRING_DESC_F_NEXT;
	vq->vr.desc[r->descs[2]].next = r->descs[0];
	vmm_publish(vq, head);
	vmm_kick(vq);
	return -1;
}

static int h_nested_indirect(struct vmm *m)
{
	uint8_t h[16];
	struct vmm_seg s[3];
	struct vmm_vq *vq = &m->vq[0];
	struct vring_desc *outer, *inner;
	uint64_t gpa;
	int head;

	hdr(h, VIRTIO_BLK_T_IN, 0);
	s[0] = seg(m, 0, 16, false, h);
	s[1] = seg(m, 1, 512, true, NULL);
	s[2] = seg(m, 2, 1, true, NULL);
	inner = (struct vring_desc *)vmm_alloc(m, 1, 2 * sizeof(*inner), 16, 0, &gpa);
	inner[0] = (struct vring_desc){ .addr = s[1].gpa, .len = 512,
					.flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
					.next = 1 };
	inner[1] = (struct vring_desc){ .addr = s[2].gpa, .len = 1,
					.flags = VRING_DESC_F_WRITE };
	/* the data entry of the table points to a table of its own */
	s[1] = (struct vmm_seg){ .gpa = gpa, .len = 2 * sizeof(*inner) };
	s[2] = seg(m, 2, 1, true, NULL);
	head = vmm_build(m, vq, s, 3, true);
	outer = (struct vring_desc *)vmm_hva(m, vq->vr.desc[head].addr,
					     3 * sizeof(*outer));
	outer[1].flags |= VRING_DESC_F_INDIRECT;
	vmm_publish(vq, head);
	vmm_kick(vq);
	return head;
}

static int h_indirect_len(struct vmm *m)
{
	struct vmm_vq *vq = &m->vq[0];
	uint16_t d = vq->free[--vq->nfree];
	uint64_t gpa;

	/* an indirect table of 40 bytes: not a whole number of entries */
	vmm_alloc(m, 1, 48, 16, 0, &gpa);
	vq->vr.desc[d] = (struct vring_desc){ .addr = gpa, .len = 40,
					      .flags = VRING_DESC_F_INDIRECT };
	vq->vr.avail->ring[vq->avail_idx % vq->num] = d;
	__atomic_store_n(&vq->vr.avail->idx, ++vq->avail_idx, __ATOMIC_RELEASE);
	vmm_kick(vq);
	return -1;
}

static int h_next_out_of_ring(struct vmm *m)
{
	int head = h_chain(m, VIRTIO_BLK_T_IN, 0, 512);
	struct vmm_vq *vq = &m->vq[0];

	vq->vr.desc[vq->reqs[head].descs[2]].flags |= VRING_DESC_F_NEXT;
	vq->vr.desc[vq->reqs[head].descs[2]].next = vq->num + 7;
	vmm_publish(vq, head);
	vmm_kick(vq);
	return -1;
}

static int h_runaway_idx(struct vmm *m)
{
	struct vmm_vq *vq = &m->vq[0];

	vq->avail_idx += vq->num + 10;
	__atomic_store_n(&vq->vr.avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
	vmm_kick(vq);
	return -1;
}

static int h_bad_head(struct vmm *m)
{
	struct vmm_vq *vq = &m->vq[0];

	vq->vr.avail->ring[vq->avail_idx % vq->num] = vq->num + 3;
	__atomic_store_n(&vq->vr.avail->idx, ++vq->avail_idx, __ATOMIC_RELEASE);
	vmm_kick(vq);
	return -1;
}

static int h_too_many(struct vmm *m)
{
	static struct vmm_seg s[1100];
	uint8_t h[16];
	unsigned int i;

	hdr(h, VIRTIO_BLK_T_IN, 0);
	s[0] = seg(m, 0, 16, false, h);
	for (i = 1; i < 1100; i++)
		s[i] = seg(m, i, 512, true, NULL);
	return h_put(m, s, 1100, true);
}

static int h_past_end(struct vmm *m)
{
	return h_io(m, VIRTIO_BLK_T_IN, capacity, 512);
}

static int h_across_end(struct vmm *m)
{
	return h_io(m, VIRTIO_BLK_T_OUT, capacity - 1, 1024);
}

static int h_huge_sector(struct vmm *m)
{
	return h_io(m, VIRTIO_BLK_T_IN, 1ull << 63, 512);
}

static int h_wrap_sector(struct vmm *m)
{
	return h_io(m, VIRTIO_BLK_T_OUT, ~0ull, 1024);
}

static int h_odd_len(struct vmm *m)
{
	return h_io(m, VIRTIO_BLK_T_IN, 0, 100);
}

static int h_segs(struct vmm *m, uint32_t type, uint64_t sector, uint32_t num,
		  uint32_t flags, uint32_t bytes)
{
	struct virtio_blk_discard_write_zeroes d = { sector, num, flags };
	uint8_t out[16 + sizeof(d)];
	struct vmm_seg s[2];

	hdr(out, type, 0);
	memcpy(out + 16, &d, sizeof(d));
	s[0] = seg(m, 0, 16 + bytes, false, out);
	s[1] = seg(m, 1, 1, true, NULL);
	return h_put(m, s, 2, false);
}

static int h_discard_unmap(struct vmm *m)
{
	return h_segs(m, VIRTIO_BLK_T_DISCARD, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, 16);
}

static int h_zeroes_flags(struct vmm *m)
{
	return h_segs(m, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0x80, 16);
}

static int h_zeroes_past_end(struct vmm *m)
{
	return h_segs(m, VIRTIO_BLK_T_WRITE_ZEROES, capacity - 4, 8, 0, 16);
}

static int h_zeroes_wrap(struct vmm *m)
{
	return h_segs(m, VIRTIO_BLK_T_WRITE_ZEROES, ~0ull - 7, 16, 0, 16);
}

static int h_zeroes_short(struct vmm *m)
{
	return h_segs(m, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0, 15);
}

static int h_unknown(struct vmm *m)
{
	return h_io(m, 0x7fff0000, 0, 512);
}

static const struct hostile hostile_cases[] = {
	{ "descriptor outside the memory table", h_outside, E_BROKEN, 0 },
	{ "header shorter than 16 bytes", h_short_header, E_STATUS, VIRTIO_BLK_S_IOERR },
	{ "status in a read-only descriptor", h_status_readonly, E_BROKEN, 0 },
	{ "length overflowing the region", h_overflow_len, E_BROKEN, 0 },
	{ "address wrapping 2^64", h_wrap_addr, E_BROKEN, 0 },
	{ "descriptor loop", h_loop, E_BROKEN, 0 },
	{ "nested indirect table", h_nested_indirect, E_BROKEN, 0 },
	{ "indirect table of partial entries", h_indirect_len, E_BROKEN, 0 },
	{ "next index past the ring", h_next_out_of_ring, E_BROKEN, 0 },
	{ "runaway avail index", h_runaway_idx, E_BROKEN, 0 },
	{ "head index past the ring", h_bad_head, E_BROKEN, 0 },
	{ "chain longer than the device takes", h_too_many, E_BROKEN, 0 },
	{ "read past capacity", h_past_end, E_STATUS, VIRTIO_BLK_S_IOERR },
	{ "write across capacity", h_across_end, E_STATUS, VIRTIO_BLK_S_IOERR },
	{ "sector 2^63", h_huge_sector, E_STATUS, VIRTIO_BLK_S_IOERR },
	{ "sector range wrapping 2^64", h_wrap_sector, E_STATUS, VIRTIO_BLK_S_IOERR },
	{ "data not a multiple of 512", h_odd_len, E_STATUS, VIRTIO_BLK_S_IOERR },
	{ "discard with the unmap flag", h_discard_unmap, E_STATUS, VIRTIO_BLK_S_UNSUPP },
	{ "write-zeroes with unknown flags", h_zeroes_flags, E_STATUS, VIRTIO_BLK_S_UNSUPP },
	{ "write-zeroes past capacity", h_zeroes_past_end, E_STATUS, VIRTIO_BLK_S_IOERR },
	{ "write-zeroes range wrapping 2^64", h_zeroes_wrap, E_STATUS, VIRTIO_BLK_S_IOERR },
	{ "write-zeroes segment of 15 bytes", h_zeroes_short, E_STATUS, VIRTIO_BLK_S_IOERR },
	{ "unknown request type", h_unknown, E_STATUS, VIRTIO_BLK_S_UNSUPP },
};

/* Nothing on queue 0 may have completed with OK. */
static bool no_ok(struct vmm *m)
{
	struct vmm_vq *vq = &m->vq[0];
	unsigned int i;

	vmm_reap(m, vq, 0);
	for (i = 0; i < vq->num; i++) {
		struct vmm_req *r = &vq->reqs[i];

		if (r->done && r->used_len && r->nin &&
		    r->in_hva[r->nin - 1][r->in_len[r->nin - 1] - 1] == VIRTIO_BLK_S_OK)
			return false;
	}
	return true;
}

static void hostile1(const struct hostile *h)
{
	size_t len = 4096;
	uint8_t *a = xalloc(len), *b = xalloc(len);
	uint64_t sector = pick_sector(len);
	struct vmm m;
	struct result r;
	int head;

	if (vmm_start(&m, 2, true)) {
		check(false, "%s: setting up the device failed", h->name);
		return;
	}
	head = h->make(&m);
	if (h->expect == E_STATUS) {
		int st = -1;

		check(head >= 0 && !vmm_wait(&m, &m.vq[0], head, WAIT_MS),
		      "%s: no completion", h->name);
		if (head >= 0 && m.vq[0].reqs[head].done)
			st = status_of(&m.vq[0], head);
		check(st == h->status, "%s: status %d, want %d", h->name, st,
		      h->status);
	} else {
		check(vmm_err_signalled(&m.vq[0], WAIT_MS),
		      "%s: no error on the queue's error eventfd", h->name);
	}
	check(no_ok(&m), "%s: a request completed with OK", h->name);

	/* the other queue keeps serving */
	vmm_fill_random(a, len, &seed);
	dev_write(sector, a, len);
	r = blk_read(&m, 1, L_SIMPLE, sector, b, len);
	check(r.status == VIRTIO_BLK_S_OK && !memcmp(a, b, len),
	      "%s: queue 1 stopped serving (status %d)", h->name, r.status);
	vmm_close(&m);
	printf("hostile: %s: done\n", h->name);
	fflush(stdout);
	free(a);
	free(b);
}

static void hostile(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(hostile_cases) / sizeof(hostile_cases[0]); i++)
		hostile1(&hostile_cases[i]);
}

/* --- flood ---------------------------------------------------------------- */

/*
 * One chain published again and again, four rings' worth, each batch as far
 * as the device's avail_event allows: a queue then holds as many requests as
 * its ring has entries (more while the backend is suspended) and the device
 * must stop taking new ones and come back when they complete. Every one
 * must complete with OK, in time.
 */
static void flood(void)
{
	struct vmm m;
	struct vmm_vq *vq;
	struct vmm_seg s[3];
	uint8_t h[16];
	uint16_t total, head;
	uint64_t deadline;
	int n;

	if (vmm_start(&m, 1, true)) {
		check(false, "setting up the device failed");
		return;
	}
	vq = &m.vq[0];
	total = (uint16_t)(4 * vq->num);
	hdr(h, VIRTIO_BLK_T_IN, 0);
	s[0] = seg(&m, 0, 16, false, h);
	s[1] = seg(&m, 1, 4096, true, NULL);
	s[2] = seg(&m, 2, 1, true, NULL);
	n = vmm_submit(&m, vq, s, 3, false);
	head = (uint16_t)n;
	deadline = vmm_now_ns() + 120000000000ull;
	while (vmm_now_ns() < deadline) {
		uint16_t used = __atomic_load_n(&vq->vr.used->idx, __ATOMIC_ACQUIRE);
		uint16_t seen = __atomic_load_n(&vring_avail_event(&vq->vr),
						__ATOMIC_ACQUIRE);
		bool more = false;

		if (used == total)
			break;
		/* the device refuses an avail index more than a ring ahead */
		while (vq->avail_idx != total &&
		       (uint16_t)(vq->avail_idx - seen) < vq->num) {
			vq->vr.avail->ring[vq->avail_idx % vq->num] = head;
			__atomic_store_n(&vq->vr.avail->idx, ++vq->avail_idx,
					 __ATOMIC_RELEASE);
			more = true;
		}
		if (more)
			vmm_kick(vq);
		usleep(2000);
	}
	check(__atomic_load_n(&vq->vr.used->idx, __ATOMIC_ACQUIRE) == total,
	      "flood: %u of %u requests completed",
	      __atomic_load_n(&vq->vr.used->idx, __ATOMIC_ACQUIRE), total);
	check(*s[2].hva == VIRTIO_BLK_S_OK, "flood: status %d", *s[2].hva);
	check(!vmm_err_signalled(vq, 0), "flood: the ring was reported broken");
	printf("flood: %u requests of one chain\n", total);
	vmm_close(&m);
}

/* --- load ---------------------------------------------------------------- */

#define LAT_BUCKETS 200000	/* 1 us each */

struct loader {
	struct vmm *m;
	unsigned int q;
	uint64_t ios, errors;
	uint32_t *lat;
	uint8_t **bufs;		/* per slot: header, data, status */
	uint64_t *gpas;
	unsigned int *ready;	/* slots completed in one reap */
	pthread_t thread;
};

static volatile int load_stop;

static int load_submit(struct loader *ld, unsigned int slot, uint64_t *lseed)
{
	uint8_t **bufs = ld->bufs;
	uint64_t *gpas = ld->gpas;
	struct vmm_vq *vq = &ld->m->vq[ld->q];
	uint64_t span = capacity / (opt.bs / 512);
	uint8_t *h = bufs[slot * 3];
	struct vmm_seg s[3];
	int head;

	hdr(h, opt.randwrite ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
	    vmm_rand(lseed) % span * (opt.bs / 512));
	s[0] = (struct vmm_seg){ gpas[slot * 3], 16, false, h };
	s[1] = (struct vmm_seg){ gpas[slot * 3 + 1], opt.bs, !opt.randwrite,
				 bufs[slot * 3 + 1] };
	s[2] = (struct vmm_seg){ gpas[slot * 3 + 2], 1, true, bufs[slot * 3 + 2] };
	head = vmm_submit(ld->m, vq, s, 3, false);
	if (head < 0)
		return -1;
	vq->reqs[head].slot = slot;
	vq->reqs[head].t_submit = vmm_now_ns();
	return 0;
}

static void *load_thread(void *arg)
{
	struct loader *ld = arg;
	struct vmm_vq *vq = &ld->m->vq[ld->q];
	uint64_t lseed = seed + ld->q * 7919;
	unsigned int i;

	for (i = 0; i < opt.qd; i++)
		load_submit(ld, i, &lseed);
	vmm_kick(vq);
	while (!load_stop) {
		unsigned int h, n = 0;
		int got = vmm_reap(ld->m, vq, 1000);
		uint64_t now = vmm_now_ns();
		bool resubmitted = false;

		if (got < 0) {
			ld->errors++;
			break;
		}
		for (h = 0; got && h < vq->num; h++) {
			struct vmm_req *r = &vq->reqs[h];
			uint64_t us;

			if (!r->done)
				continue;
			r->done = false;
			us = (now - r->t_submit) / 1000;
			ld->lat[us < LAT_BUCKETS ? us : LAT_BUCKETS - 1]++;
			ld->ios++;
			if (*ld->bufs[r->slot * 3 + 2] != VIRTIO_BLK_S_OK)
				ld->errors++;
			ld->ready[n++] = r->slot;
		}
		/*
		 * Only after the scan: a new request takes the descriptors
		 * freed last, whose request may be further on and not yet
		 * counted; resubmitting within the scan lost it, and its
		 * slot with it, until one request was left in flight.
		 */
		for (h = 0; h < n; h++)
			if (!load_submit(ld, ld->ready[h], &lseed))
				resubmitted = true;
		if (resubmitted)
			vmm_kick(vq);
	}
	return NULL;
}

static int load(void)
{
	struct loader *ld = calloc(opt.queues, sizeof(*ld));
	uint32_t *lat = calloc(LAT_BUCKETS, sizeof(*lat));
	uint64_t t0, t1, ios = 0, errors = 0, total = 0, acc = 0;
	double p[3] = { 0.5, 0.99, 0.999 }, pv[3] = { 0 };
	unsigned int q, i, k;
	struct vmm m;

	if (opt.qd * 3 > VMM_RING_NUM || !ld || !lat) {
		fprintf(stderr, "vmm: --qd at most %u\n", VMM_RING_NUM / 3);
		return 2;
	}
	if (opt.socket ? vmm_open_user(&m, opt.socket, opt.queues, true) :
	    vmm_open(&m, opt.backend, opt.queues, true, false))
		return 2;
	if (opt.socket)
		capacity = m.capacity;
	if (capacity < opt.bs / 512) {
		fprintf(stderr, "vmm: the device is smaller than --bs\n");
		return 2;
	}
	for (q = 0; q < opt.queues; q++) {
		ld[q].bufs = calloc(opt.qd * 3, sizeof(*ld[q].bufs));
		ld[q].gpas = calloc(opt.qd * 3, sizeof(*ld[q].gpas));
		ld[q].ready = calloc(opt.qd, sizeof(*ld[q].ready));
		if (!ld[q].bufs || !ld[q].gpas || !ld[q].ready)
			return 2;
		for (i = 0; i < opt.qd; i++) {
			ld[q].bufs[i * 3] = vmm_alloc(&m, q, 16, 64, 0, &ld[q].gpas[i * 3]);
			ld[q].bufs[i * 3 + 1] = vmm_alloc(&m, q + 1, opt.bs, 4096, 0,
							  &ld[q].gpas[i * 3 + 1]);
			vmm_fill_random(ld[q].bufs[i * 3 + 1], opt.bs, &seed);
			ld[q].bufs[i * 3 + 2] = vmm_alloc(&m, q + 2, 1, 64, 0,
							  &ld[q].gpas[i * 3 + 2]);
		}
		ld[q].m = &m;
		ld[q].q = q;
		ld[q].lat = calloc(LAT_BUCKETS, sizeof(uint32_t));
	}
	t0 = vmm_now_ns();
	for (q = 0; q < opt.queues; q++)
		pthread_create(&ld[q].thread, NULL, load_thread, &ld[q]);
	sleep(opt.seconds);
	load_stop = 1;
	for (q = 0; q < opt.queues; q++)
		pthread_join(ld[q].thread, NULL);
	t1 = vmm_now_ns();
	for (q = 0; q < opt.queues; q++) {
		ios += ld[q].ios;
		errors += ld[q].errors;
		for (i = 0; i < LAT_BUCKETS; i++)
			lat[i] += ld[q].lat[i];
		free(ld[q].lat);
		free(ld[q].bufs);
		free(ld[q].gpas);
		free(ld[q].ready);
	}
	for (i = 0; i < LAT_BUCKETS; i++)
		total += lat[i];
	for (i = 0, k = 0; i < LAT_BUCKETS && k < 3; i++) {
		acc += lat[i];
		while (k < 3 && acc >= p[k] * total)
			pv[k++] = i;
	}
	printf("%s bs=%u qd=%u queues=%u: %.0f IOPS, latency us p50 %.0f p99 %.0f p99.9 %.0f, errors %llu\n",
	       opt.randwrite ? "randwrite" : "randread", opt.bs, opt.qd,
	       opt.queues, ios / ((t1 - t0) / 1e9), pv[0], pv[1], pv[2],
	       (unsigned long long)errors);
	vmm_close(&m);
	free(ld);
	free(lat);
	return errors || !ios ? 1 : 0;
}

/* --- main ---------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: vmm --backend DEVICE | --vhost-user SOCKET [--verify DEVICE]\n"
		"           --mode functional|hostile|load\n"
		"           [--queues N] [--qd N] [--seconds N] [--bs BYTES]\n"
		"           [--rw randread|randwrite] [--seed N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "vhost-user", required_argument, NULL, 'u' },
		{ "verify", required_argument, NULL, 'v' },
		{ "mode", required_argument, NULL, 'm' },
		{ "queues", required_argument, NULL, 'q' },
		{ "qd", required_argument, NULL, 'd' },
		{ "seconds", required_argument, NULL, 's' },
		{ "bs", required_argument, NULL, 'B' },
		{ "rw", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'b':
			opt.backend = optarg;
			break;
		case 'u':
			opt.socket = optarg;
			break;
		case 'v':
			opt.verify = optarg;
			break;
		case 'm':
			opt.mode = optarg;
			break;
		case 'q':
			opt.queues = strtoul(optarg, NULL, 0);
			break;
		case 'd':
			opt.qd = strtoul(optarg, NULL, 0);
			break;
		case 's':
			opt.seconds = strtoul(optarg, NULL, 0);
			break;
		case 'B':
			opt.bs = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			if (strcmp(optarg, "randread") && strcmp(optarg, "randwrite"))
				usage();
			opt.randwrite = !strcmp(optarg, "randwrite");
			break;
		case 'S':
			opt.seed = strtoull(optarg, NULL, 0);
			break;
		default:
			usage();
		}
	}
	if (!opt.backend == !opt.socket || !opt.mode || optind != argc || !opt.queues ||
	    opt.queues > VMM_MAX_QUEUES ||
	    !opt.qd || !opt.bs || opt.bs % 512 || opt.bs > (1u << 20))
		usage();
	seed = opt.seed ? opt.seed : 1;
	if (opt.socket && !strcmp(opt.mode, "load"))
		return load();
	if (opt.socket && !opt.verify) {
		fprintf(stderr, "vmm: --mode %s over --vhost-user needs --verify DEVICE\n",
			opt.mode);
		return 2;
	}
	if (!opt.verify)
		opt.verify = opt.backend;
	dev_fd = open(opt.verify, O_RDWR | O_DIRECT);
	if (dev_fd < 0 || ioctl(dev_fd, BLKGETSIZE64, &capacity)) {
		fprintf(stderr, "vmm: %s: %s\n", opt.verify, strerror(errno));
		return 2;
	}
	capacity /= 512;
	if (capacity < 4096) {
		fprintf(stderr, "vmm: %s: want at least 2 MiB\n", opt.backend);
		return 2;
	}
	printf("vmm: %s, %llu sectors, seed %llu\n", opt.socket ? opt.socket : opt.backend,
	       (unsigned long long)capacity, (unsigned long long)seed);
	if (!strcmp(opt.mode, "load"))
		return load();
	if (!strcmp(opt.mode, "functional"))
		functional();
	else if (!strcmp(opt.mode, "hostile"))
		hostile();
	else if (!strcmp(opt.mode, "flood"))
		flood();
	else
		usage();
	printf("%u passed, %u failed\n", passed, failed);
	return failed || !passed ? 1 : 0;
}
