// SPDX-License-Identifier: GPL-2.0
/*
 * The VMM side of vhost-blk, modelled on Linux's tools/virtio/virtio_test.c:
 * guest memory in several regions of this process (each at a guest-physical
 * address of its own, with gaps between them, so that a device mixing up
 * guest and host addresses fails), split virtqueues in that memory, eventfd
 * kick, call and error notifiers, and the vhost ioctls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/vhost.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>

#include "../../uapi/linux/vhost_blk.h"
#include "vmm.h"

uint64_t vmm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vmm_rand(uint64_t *seed)
{
	/* xorshift64*: reproducible from the printed seed */
	uint64_t x = *seed;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*seed = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void vmm_fill_random(uint8_t *p, size_t len, uint64_t *seed)
{
	size_t i;

	for (i = 0; i < len; i += 8) {
		uint64_t r = vmm_rand(seed);

		memcpy(p + i, &r, len - i < 8 ? len - i : 8);
	}
}

void vmm_mem_reset(struct vmm *m)
{
	unsigned int i;

	/* region 0 starts with the rings */
	for (i = 0; i < VMM_REGIONS; i++)
		m->reg[i].used = i ? 0 : (size_t)VMM_MAX_QUEUES *
			((vring_size(VMM_RING_NUM, 4096) + 4095) & ~4095ul);
}

uint8_t *vmm_alloc(struct vmm *m, unsigned int region, size_t len,
		   size_t align, size_t offset, uint64_t *gpa)
{
	struct vmm_region *r = &m->reg[region % VMM_REGIONS];
	size_t at = (r->used + align - 1) / align * align + offset;

	if (at + len > r->size) {
		fprintf(stderr, "vmm: guest memory exhausted\n");
		exit(2);
	}
	r->used = at + len;
	*gpa = r->gpa + at;
	return r->hva + at;
}

uint64_t vmm_region_end(struct vmm *m, unsigned int region)
{
	return m->reg[region].gpa + m->reg[region].size;
}

static int vmm_ioctl(struct vmm *m, unsigned long req, void *arg,
		     const char *what)
{
	if (m->sock >= 0)
		return vmm_user_ioctl(m, req, arg, what);
	if (ioctl(m->fd, req, arg) < 0) {
		fprintf(stderr, "vmm: %s: %s\n", what, strerror(errno));
		return -1;
	}
	return 0;
}

int vmm_backend_fd(struct vmm *m, bool read_only)
{
	int fd = open(m->backend, read_only ? O_RDONLY : O_RDWR);

	if (fd < 0)
		fprintf(stderr, "vmm: %s: %s\n", m->backend, strerror(errno));
	return fd;
}

int vmm_set_backend(struct vmm *m, unsigned int q, int fd)
{
	struct vhost_vring_file f = { .index = q, .fd = fd };

	return vmm_ioctl(m, VHOST_BLK_SET_BACKEND, &f, "VHOST_BLK_SET_BACKEND");
}

static int vmm_setup_vq(struct vmm *m, unsigned int q)
{
	struct vmm_vq *vq = &m->vq[q];
	size_t size = (vring_size(VMM_RING_NUM, 4096) + 4095) & ~4095ul;
	uint8_t *p = m->reg[0].hva + q * size;
	struct vhost_vring_state st = { .index = q };
	struct vhost_vring_addr addr = { .index = q };
	struct vhost_vring_file f = { .index = q };
	unsigned int i;

	memset(p, 0, size);
	vq->index = q;
	vq->num = VMM_RING_NUM;
	vring_init(&vq->vr, vq->num, p, 4096);
	vq->avail_idx = vq->last_used = 0;
	vq->nfree = vq->num;
	for (i = 0; i < vq->num; i++)
		vq->free[i] = vq->num - 1 - i;
	vq->reqs = calloc(vq->num, sizeof(*vq->reqs));
	vq->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vq->call = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vq->err = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!vq->reqs || vq->kick < 0 || vq->call < 0 || vq->err < 0) {
		perror("vmm: queue");
		return -1;
	}
	st.num = vq->num;
	if (vmm_ioctl(m, VHOST_SET_VRING_NUM, &st, "VHOST_SET_VRING_NUM"))
		return -1;
	st.num = 0;
	if (vmm_ioctl(m, VHOST_SET_VRING_BASE, &st, "VHOST_SET_VRING_BASE"))
		return -1;
	addr.desc_user_addr = (uint64_t)(uintptr_t)vq->vr.desc;
	addr.avail_user_addr = (uint64_t)(uintptr_t)vq->vr.avail;
	addr.used_user_addr = (uint64_t)(uintptr_t)vq->vr.used;
	if (vmm_ioctl(m, VHOST_SET_VRING_ADDR, &addr, "VHOST_SET_VRING_ADDR"))
		return -1;
	f.fd = vq->kick;
	if (vmm_ioctl(m, VHOST_SET_VRING_KICK, &f, "VHOST_SET_VRING_KICK"))
		return -1;
	f.fd = vq->call;
	if (vmm_ioctl(m, VHOST_SET_VRING_CALL, &f, "VHOST_SET_VRING_CALL"))
		return -1;
	f.fd = vq->err;
	return vmm_ioctl(m, VHOST_SET_VRING_ERR, &f, "VHOST_SET_VRING_ERR");
}

/* Guest memory: three memfd regions, gaps between them, one above 4 GiB. */
static int vmm_map_regions(struct vmm *m)
{
	unsigned int i;

	for (i = 0; i < VMM_REGIONS; i++) {
		struct vmm_region *r = &m->reg[i];

		r->fd = memfd_create("vmm-guest", MFD_CLOEXEC);
		if (r->fd < 0 || ftruncate(r->fd, VMM_REGION_SIZE)) {
			perror("vmm: memfd");
			return -1;
		}
		r->size = VMM_REGION_SIZE;
		r->gpa = 0x100000ull + i * 0x50000000ull;
		r->hva = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED,
			      r->fd, 0);
		if (r->hva == MAP_FAILED) {
			r->hva = NULL;
			perror("vmm: mmap");
			return -1;
		}
	}
	vmm_mem_reset(m);
	return 0;
}

static uint64_t vmm_want(bool event_idx)
{
	uint64_t want = (1ULL << VIRTIO_F_VERSION_1) |
			(1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
			(1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_DISCARD) |
			(1ULL << VIRTIO_BLK_F_WRITE_ZEROES) | (1ULL << VIRTIO_BLK_F_MQ);

	return event_idx ? want | 1ULL << VIRTIO_RING_F_EVENT_IDX : want;
}

int vmm_setup_rings(struct vmm *m)
{
	unsigned int i;

	for (i = 0; i < m->nq; i++)
		if (vmm_setup_vq(m, i))
			return -1;
	return 0;
}

int vmm_open(struct vmm *m, const char *backend, unsigned int nq,
	     bool event_idx, bool read_only)
{
	struct vhost_memory *mem;
	uint64_t want = vmm_want(event_idx);
	unsigned int i;
	int bfd;

	memset(m, 0, sizeof(*m));
	m->sock = -1;
	m->backend = backend;
	m->nq = nq;
	m->fd = open("/dev/vhost-blk", O_RDWR | O_CLOEXEC);
	if (m->fd < 0) {
		fprintf(stderr, "vmm: /dev/vhost-blk: %s\n", strerror(errno));
		return -1;
	}
	if (vmm_ioctl(m, VHOST_SET_OWNER, NULL, "VHOST_SET_OWNER") ||
	    vmm_ioctl(m, VHOST_GET_FEATURES, &m->features, "VHOST_GET_FEATURES"))
		return -1;
	if ((m->features & want) != want) {
		fprintf(stderr, "vmm: device offers %#llx, need %#llx\n",
			(unsigned long long)m->features, (unsigned long long)want);
		return -1;
	}
	m->features = want;
	m->event_idx = event_idx;
	if (vmm_ioctl(m, VHOST_SET_FEATURES, &m->features, "VHOST_SET_FEATURES"))
		return -1;
	if (vmm_map_regions(m))
		return -1;
	mem = calloc(1, sizeof(*mem) + VMM_REGIONS * sizeof(mem->regions[0]));
	if (!mem)
		return -1;
	mem->nregions = VMM_REGIONS;
	for (i = 0; i < VMM_REGIONS; i++) {
		mem->regions[i].guest_phys_addr = m->reg[i].gpa;
		mem->regions[i].memory_size = m->reg[i].size;
		mem->regions[i].userspace_addr = (uint64_t)(uintptr_t)m->reg[i].hva;
	}
	if (vmm_ioctl(m, VHOST_SET_MEM_TABLE, mem, "VHOST_SET_MEM_TABLE")) {
		free(mem);
		return -1;
	}
	free(mem);
	if (vmm_setup_rings(m))
		return -1;
	bfd = vmm_backend_fd(m, read_only);
	if (bfd < 0)
		return -1;
	for (i = 0; i < nq; i++)
		if (vmm_set_backend(m, i, bfd)) {
			close(bfd);
			return -1;
		}
	/* the device holds the block device itself */
	close(bfd);
	return 0;
}

int vmm_open_user(struct vmm *m, const char *socket, unsigned int nq,
		  bool event_idx)
{
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	m->backend = socket;
	m->nq = nq;
	m->event_idx = event_idx;
	m->features = vmm_want(event_idx);
	if (vmm_map_regions(m))
		return -1;
	return vmm_user_setup(m, event_idx);
}

void vmm_close(struct vmm *m)
{
	unsigned int i;

	if (m->fd >= 0)
		close(m->fd);
	if (m->sock >= 0)
		close(m->sock);
	m->fd = m->sock = -1;
	for (i = 0; i < m->nq; i++) {
		close(m->vq[i].kick);
		close(m->vq[i].call);
		close(m->vq[i].err);
		free(m->vq[i].reqs);
		m->vq[i].reqs = NULL;
	}
	for (i = 0; i < VMM_REGIONS; i++) {
		if (m->reg[i].hva)
			munmap(m->reg[i].hva, m->reg[i].size);
		if (m->reg[i].fd > 0)
			close(m->reg[i].fd);
	}
}

uint8_t *vmm_hva(struct vmm *m, uint64_t gpa, uint32_t len)
{
	unsigned int i;

	for (i = 0; i < VMM_REGIONS; i++) {
		struct vmm_region *r = &m->reg[i];

		if (gpa >= r->gpa && gpa - r->gpa + len <= r->size)
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int vmm_build(struct vmm *m, struct vmm_vq *vq, const struct vmm_seg *segs,
	      unsigned int n, bool indirect)
{
	unsigned int need = indirect ? 1 : n, i;
	struct vring_desc *d;
	struct vmm_req *req;
	uint16_t head;

	if (vq->nfree < need || (!indirect && n > 64) || n > 1100)
		return -1;
	head = vq->free[vq->nfree - 1];
	req = &vq->reqs[head];
	memset(req, 0, offsetof(struct vmm_req, in_hva));
	req->nin = 0;
	req->busy = true;
	if (indirect) {
		uint64_t gpa;

		d = (struct vring_desc *)vmm_alloc(m, 0, n * sizeof(*d), 16, 0, &gpa);
		req->descs[req->ndescs++] = vq->free[--vq->nfree];
		vq->vr.desc[head].addr = gpa;
		vq->vr.desc[head].len = n * sizeof(*d);
		vq->vr.desc[head].flags = VRING_DESC_F_INDIRECT;
		vq->vr.desc[head].next = 0;
		for (i = 0; i < n; i++)
			d[i].next = i + 1;
	} else {
		d = vq->vr.desc;
		for (i = 0; i < n; i++)
			req->descs[req->ndescs++] = vq->free[--vq->nfree];
		for (i = 0; i + 1 < n; i++)
			d[req->descs[i]].next = req->descs[i + 1];
	}
	for (i = 0; i < n; i++) {
		struct vring_desc *e = indirect ? &d[i] : &d[req->descs[i]];

		e->addr = segs[i].gpa;
		e->len = segs[i].len;
		e->flags = (i + 1 < n ? VRING_DESC_F_NEXT : 0) |
			   (segs[i].write ? VRING_DESC_F_WRITE : 0);
		if (segs[i].write && req->nin < VMM_MAX_IN) {
			req->in_hva[req->nin] = segs[i].hva ? segs[i].hva :
						vmm_hva(m, segs[i].gpa, segs[i].len);
			req->in_len[req->nin++] = segs[i].len;
		}
	}
	return head;
}

void vmm_publish(struct vmm_vq *vq, uint16_t head)
{
	vq->vr.avail->ring[vq->avail_idx % vq->num] = head;
	__atomic_store_n(&vq->vr.avail->idx, ++vq->avail_idx, __ATOMIC_RELEASE);
}

int vmm_submit(struct vmm *m, struct vmm_vq *vq, const struct vmm_seg *segs,
	       unsigned int n, bool indirect)
{
	int head = vmm_build(m, vq, segs, n, indirect);

	if (head >= 0)
		vmm_publish(vq, head);
	return head;
}

void vmm_kick(struct vmm_vq *vq)
{
	uint64_t one = 1;

	/* always: a spurious kick is harmless, a missing one hangs */
	if (write(vq->kick, &one, sizeof(one)) != sizeof(one))
		perror("vmm: kick");
}

static int vmm_collect(struct vmm_vq *vq)
{
	uint16_t idx = __atomic_load_n(&vq->vr.used->idx, __ATOMIC_ACQUIRE);
	int got = 0;

	while (vq->last_used != idx) {
		struct vring_used_elem *e = &vq->vr.used->ring[vq->last_used % vq->num];
		struct vmm_req *req;
		unsigned int i;

		vq->last_used++;
		if (e->id >= vq->num || !vq->reqs[e->id].busy) {
			fprintf(stderr, "vmm: used entry with unknown id %u\n", e->id);
			return -1;
		}
		req = &vq->reqs[e->id];
		req->busy = false;
		req->done = true;
		req->used_len = e->len;
		for (i = req->ndescs; i--;)
			vq->free[vq->nfree++] = req->descs[i];
		got++;
	}
	return got;
}

int vmm_reap(struct vmm *m, struct vmm_vq *vq, int ms)
{
	struct pollfd p = { .fd = vq->call, .events = POLLIN };
	uint64_t n;
	int got;

	if (m->event_idx)
		vring_used_event(&vq->vr) = vq->last_used;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	got = vmm_collect(vq);
	if (got)
		return got;
	/* a used entry must come with a call: wait only for the call */
	if (poll(&p, 1, ms) <= 0)
		return 0;
	if (read(vq->call, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -1;
	return vmm_collect(vq);
}

int vmm_wait(struct vmm *m, struct vmm_vq *vq, int head, int ms)
{
	uint64_t deadline = vmm_now_ns() + (uint64_t)ms * 1000000u;

	while (!vq->reqs[head].done) {
		int left = (int)((int64_t)(deadline - vmm_now_ns()) / 1000000);

		if (left <= 0 || vmm_reap(m, vq, left) < 0)
			return -1;
	}
	return 0;
}

bool vmm_err_signalled(struct vmm_vq *vq, int ms)
{
	struct pollfd p = { .fd = vq->err, .events = POLLIN };
	uint64_t n;

	if (poll(&p, 1, ms) <= 0)
		return false;
	return read(vq->err, &n, sizeof(n)) == sizeof(n);
}
