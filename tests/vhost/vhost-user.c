// SPDX-License-Identifier: GPL-2.0
/*
 * The front-end side of the vhost-user protocol (QEMU's
 * docs/interop/vhost-user.rst), enough for the harness to drive a
 * vhost-user-blk back end such as qemu-storage-daemon: the handshake,
 * the memory table (the regions' memfds), the rings and the device
 * configuration (capacity).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vhost.h>
#include <linux/virtio_blk.h>

#include "vmm.h"

enum {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_SET_MEM_TABLE = 5,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_GET_CONFIG = 24,
};

#define VU_VERSION 0x1
#define VU_REPLY 0x4
#define VU_F_PROTOCOL_FEATURES 30
#define VU_PROTOCOL_F_MQ 0
#define VU_PROTOCOL_F_CONFIG 9
#define VU_VRING_NOFD 0x100

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vu_region {
	uint64_t gpa, size, uaddr, mmap_offset;
};

struct vu_mem {
	uint32_t nregions, padding;
	struct vu_region r[8];
};

struct vu_config {
	uint32_t offset, size, flags;
	uint8_t data[256];
};

static int vu_send(struct vmm *m, uint32_t req, const void *p, uint32_t size,
		   const int *fds, unsigned int nfds)
{
	struct vu_hdr h = { req, VU_VERSION, size };
	char cbuf[CMSG_SPACE(8 * sizeof(int))];
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, size } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	ssize_t n;

	if (nfds) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	n = sendmsg(m->sock, &msg, MSG_NOSIGNAL);
	if (n != (ssize_t)(sizeof(h) + size)) {
		fprintf(stderr, "vmm: vhost-user request %u: %s\n", req,
			n < 0 ? strerror(errno) : "short send");
		return -1;
	}
	return 0;
}

static int vu_recv(struct vmm *m, uint32_t req, void *p, uint32_t size)
{
	struct vu_hdr h;

	if (recv(m->sock, &h, sizeof(h), MSG_WAITALL) != sizeof(h) ||
	    h.request != req || !(h.flags & VU_REPLY) || h.size > size ||
	    (h.size && recv(m->sock, p, h.size, MSG_WAITALL) != (ssize_t)h.size)) {
		fprintf(stderr, "vmm: vhost-user reply to %u missing or malformed\n", req);
		return -1;
	}
	return (int)h.size;
}

static int vu_get_u64(struct vmm *m, uint32_t req, uint64_t *v)
{
	if (vu_send(m, req, NULL, 0, NULL, 0))
		return -1;
	return vu_recv(m, req, v, sizeof(*v)) == sizeof(*v) ? 0 : -1;
}

int vmm_user_ioctl(struct vmm *m, unsigned long req, void *arg,
		   const char *what)
{
	struct vhost_vring_state *st = arg;
	struct vhost_vring_file *f = arg;
	uint64_t idx;

	(void)what;
	switch (req) {
	case VHOST_SET_VRING_NUM:
		return vu_send(m, VU_SET_VRING_NUM, st, sizeof(*st), NULL, 0);
	case VHOST_SET_VRING_BASE:
		return vu_send(m, VU_SET_VRING_BASE, st, sizeof(*st), NULL, 0);
	case VHOST_SET_VRING_ADDR:
		return vu_send(m, VU_SET_VRING_ADDR, arg,
			       sizeof(struct vhost_vring_addr), NULL, 0);
	case VHOST_SET_VRING_KICK:
	case VHOST_SET_VRING_CALL:
	case VHOST_SET_VRING_ERR:
		idx = f->index | (f->fd < 0 ? VU_VRING_NOFD : 0);
		return vu_send(m, req == VHOST_SET_VRING_KICK ? VU_SET_VRING_KICK :
			       req == VHOST_SET_VRING_CALL ? VU_SET_VRING_CALL :
			       VU_SET_VRING_ERR, &idx, sizeof(idx), &f->fd,
			       f->fd < 0 ? 0 : 1);
	default:
		fprintf(stderr, "vmm: no vhost-user message for ioctl %#lx\n", req);
		return -1;
	}
}

int vmm_user_setup(struct vmm *m, bool event_idx)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t features, proto = 0, nq = 1;
	/* the config of virtio 1.1 (QEMU 7.2 refuses a longer one) */
	struct vu_config cfg = { .size = 60 };
	struct vu_mem mem = { .nregions = VMM_REGIONS };
	int fds[VMM_REGIONS];
	unsigned int i;

	(void)event_idx;
	m->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", m->backend);
	if (m->sock < 0 || connect(m->sock, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "vmm: %s: %s\n", m->backend, strerror(errno));
		return -1;
	}
	if (vu_get_u64(m, VU_GET_FEATURES, &features))
		return -1;
	if ((features & m->features) != m->features) {
		fprintf(stderr, "vmm: back end offers %#llx, need %#llx\n",
			(unsigned long long)features,
			(unsigned long long)m->features);
		return -1;
	}
	if (features & (1ULL << VU_F_PROTOCOL_FEATURES)) {
		if (vu_get_u64(m, VU_GET_PROTOCOL_FEATURES, &proto))
			return -1;
		proto &= (1ULL << VU_PROTOCOL_F_MQ) | (1ULL << VU_PROTOCOL_F_CONFIG);
		if (vu_send(m, VU_SET_PROTOCOL_FEATURES, &proto, sizeof(proto), NULL, 0))
			return -1;
		if ((proto & (1ULL << VU_PROTOCOL_F_MQ)) &&
		    vu_get_u64(m, VU_GET_QUEUE_NUM, &nq))
			return -1;
	}
	if (nq < m->nq) {
		fprintf(stderr, "vmm: back end has %llu queues\n", (unsigned long long)nq);
		return -1;
	}
	if (!(proto & (1ULL << VU_PROTOCOL_F_CONFIG))) {
		fprintf(stderr, "vmm: back end has no configuration space\n");
		return -1;
	}
	if (vu_send(m, VU_SET_OWNER, NULL, 0, NULL, 0) ||
	    vu_send(m, VU_GET_CONFIG, &cfg, 12 + cfg.size, NULL, 0) ||
	    vu_recv(m, VU_GET_CONFIG, &cfg, sizeof(cfg)) < 12 + 8)
		return -1;
	memcpy(&m->capacity, cfg.data, sizeof(m->capacity));
	features = m->features | (features & (1ULL << VU_F_PROTOCOL_FEATURES));
	if (vu_send(m, VU_SET_FEATURES, &features, sizeof(features), NULL, 0))
		return -1;
	for (i = 0; i < VMM_REGIONS; i++) {
		mem.r[i].gpa = m->reg[i].gpa;
		mem.r[i].size = m->reg[i].size;
		mem.r[i].uaddr = (uint64_t)(uintptr_t)m->reg[i].hva;
		fds[i] = m->reg[i].fd;
	}
	if (vu_send(m, VU_SET_MEM_TABLE, &mem, 8 + VMM_REGIONS * sizeof(mem.r[0]),
		    fds, VMM_REGIONS) ||
	    vmm_setup_rings(m))
		return -1;
	for (i = 0; i < m->nq; i++) {
		struct vhost_vring_state on = { .index = i, .num = 1 };

		if (vu_send(m, VU_SET_VRING_ENABLE, &on, sizeof(on), NULL, 0))
			return -1;
	}
	return 0;
}
