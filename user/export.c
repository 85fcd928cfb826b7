// SPDX-License-Identifier: GPL-2.0
/*
 * vstoragectl export vhost-user NODE socket=PATH [num-queues=N]
 *                                 [read-only=on|off]
 *
 * A vhost-user-blk back end (QEMU's docs/interop/vhost-user.rst) whose
 * data path is the kernel's: the front end's memory is mapped into this
 * process and handed, with its rings and eventfds, to /dev/vhost-blk,
 * which serves the requests on the node's block device. This process only
 * speaks the control protocol. It serves one front end at a time, takes the
 * next one after a disconnect, and runs until SIGINT or SIGTERM, like
 * qemu-storage-daemon --export vhost-user-blk.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/vhost.h>
#include <linux/virtio_blk.h>
#include <linux/vhost_blk.h>

#include "cmds.h"
#include "util.h"

enum {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
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
#define VU_MAX_REGIONS 8
#define VU_SEG_MAX 254

struct vu_hdr {
	uint32_t request, flags, size;
} __attribute__((packed));

struct vu_region {
	uint64_t gpa, size, uaddr, mmap_offset;
};

union vu_payload {
	uint64_t u64;
	struct vhost_vring_state state;
	struct vhost_vring_addr addr;
	struct {
		uint32_t nregions, padding;
		struct vu_region r[VU_MAX_REGIONS];
	} mem;
	struct {
		uint32_t offset, size, flags;
		uint8_t data[256];
	} config;
};

struct vu_map {
	uint8_t *addr;
	size_t len;
	struct vu_region r;
};

struct exporter {
	const char *dev;
	unsigned int nq;
	bool ro;
	int bfd;		/* the node's block device */
	uint64_t capacity;	/* sectors */
	int vfd;		/* /dev/vhost-blk of the current front end */
	uint64_t kfeatures;	/* what the kernel offers */
	uint64_t proto;
	bool proto_acked;	/* rings wait for SET_VRING_ENABLE */
	uint32_t rings_set;	/* rings with addresses (bit per index) */
	struct vu_map maps[VU_MAX_REGIONS];
	unsigned int nmaps;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void unmap_all(struct exporter *e)
{
	unsigned int i;

	for (i = 0; i < e->nmaps; i++)
		munmap(e->maps[i].addr, e->maps[i].len);
	e->nmaps = 0;
}

/* A front-end address of the rings, in this process. */
static uint64_t to_local(struct exporter *e, uint64_t uaddr)
{
	unsigned int i;

	for (i = 0; i < e->nmaps; i++) {
		struct vu_region *r = &e->maps[i].r;

		if (uaddr >= r->uaddr && uaddr - r->uaddr < r->size)
			return (uint64_t)(uintptr_t)e->maps[i].addr + r->mmap_offset +
			       (uaddr - r->uaddr);
	}
	return 0;
}

static int set_mem_table(struct exporter *e, union vu_payload *p, int *fds,
			 int nfds)
{
	struct vhost_memory *mem;
	unsigned int i;
	int ret = -1;

	unmap_all(e);
	if (p->mem.nregions > VU_MAX_REGIONS || (int)p->mem.nregions != nfds)
		return -1;
	mem = calloc(1, sizeof(*mem) + p->mem.nregions * sizeof(mem->regions[0]));
	if (!mem)
		return -1;
	for (i = 0; i < p->mem.nregions; i++) {
		struct vu_region *r = &p->mem.r[i];
		size_t len = r->size + r->mmap_offset;
		void *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			       fds[i], 0);

		if (a == MAP_FAILED) {
			pr_err("cannot map the front end's memory: %s", strerror(errno));
			goto out;
		}
		e->maps[e->nmaps++] = (struct vu_map){ a, len, *r };
		mem->regions[i].guest_phys_addr = r->gpa;
		mem->regions[i].memory_size = r->size;
		mem->regions[i].userspace_addr = (uintptr_t)a + r->mmap_offset;
	}
	mem->nregions = p->mem.nregions;
	ret = ioctl(e->vfd, VHOST_SET_MEM_TABLE, mem);
out:
	free(mem);
	return ret;
}

static void get_config(struct exporter *e, union vu_payload *p)
{
	struct virtio_blk_config c = {
		.capacity = e->capacity,
		.seg_max = VU_SEG_MAX,
		.blk_size = 512,
		.num_queues = e->nq,
		.max_discard_sectors = 1u << 22,
		.max_discard_seg = 1,
		.discard_sector_alignment = 8,
		.max_write_zeroes_sectors = 1u << 22,
		.max_write_zeroes_seg = 1,
		.write_zeroes_may_unmap = 1,
	};

	if (p->config.offset > sizeof(c) || p->config.size > sizeof(c) - p->config.offset)
		p->config.size = 0;
	else
		memcpy(p->config.data, (uint8_t *)&c + p->config.offset, p->config.size);
}

static int ring_fd(struct exporter *e, unsigned long req, union vu_payload *p,
		   int *fds, int nfds)
{
	struct vhost_vring_file f = { .index = p->u64 & 0xff, .fd = -1 };
	int ret;

	if (!(p->u64 & VU_VRING_NOFD)) {
		if (nfds != 1)
			return -1;
		f.fd = fds[0];
	}
	ret = ioctl(e->vfd, req, &f);
	/* without protocol features a ring starts with its kick */
	if (!ret && req == VHOST_SET_VRING_KICK &&
	    !e->proto_acked && f.fd >= 0) {
		struct vhost_vring_file b = { .index = f.index, .fd = e->bfd };

		ret = ioctl(e->vfd, VHOST_BLK_SET_BACKEND, &b);
	}
	return ret;
}

/* Handles one message; returns the reply size, 0 for none, -1 to hang up. */
static int handle(struct exporter *e, struct vu_hdr *h, union vu_payload *p,
		  int *fds, int nfds)
{
	struct vhost_vring_file b;
	uint64_t f;

	switch (h->request) {
	case VU_GET_FEATURES:
		p->u64 = e->kfeatures | (1ULL << VU_F_PROTOCOL_FEATURES) |
			 (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
			 (e->ro ? 1ULL << VIRTIO_BLK_F_RO : 0);
		return sizeof(p->u64);
	case VU_SET_FEATURES:
		f = p->u64 & e->kfeatures;
		e->proto_acked = p->u64 & (1ULL << VU_F_PROTOCOL_FEATURES);
		return ioctl(e->vfd, VHOST_SET_FEATURES, &f) ? -1 : 0;
	case VU_GET_PROTOCOL_FEATURES:
		p->u64 = (1ULL << VU_PROTOCOL_F_MQ) | (1ULL << VU_PROTOCOL_F_CONFIG);
		return sizeof(p->u64);
	case VU_SET_PROTOCOL_FEATURES:
		e->proto = p->u64;
		return 0;
	case VU_GET_QUEUE_NUM:
		p->u64 = e->nq;
		return sizeof(p->u64);
	case VU_SET_OWNER:
	case VU_RESET_OWNER:
		return 0;
	case VU_GET_CONFIG:
		get_config(e, p);
		return 12 + p->config.size;
	case VU_SET_MEM_TABLE:
		return set_mem_table(e, p, fds, nfds) ? -1 : 0;
	case VU_SET_VRING_NUM:
		return ioctl(e->vfd, VHOST_SET_VRING_NUM, &p->state) ? -1 : 0;
	case VU_SET_VRING_BASE:
		return ioctl(e->vfd, VHOST_SET_VRING_BASE, &p->state) ? -1 : 0;
	case VU_SET_VRING_ADDR:
		p->addr.desc_user_addr = to_local(e, p->addr.desc_user_addr);
		p->addr.used_user_addr = to_local(e, p->addr.used_user_addr);
		p->addr.avail_user_addr = to_local(e, p->addr.avail_user_addr);
		if (!p->addr.desc_user_addr || !p->addr.used_user_addr ||
		    !p->addr.avail_user_addr)
			return -1;
		if (ioctl(e->vfd, VHOST_SET_VRING_ADDR, &p->addr))
			return -1;
		if (p->addr.index < 32)
			e->rings_set |= 1u << p->addr.index;
		return 0;
	case VU_SET_VRING_KICK:
		return ring_fd(e, VHOST_SET_VRING_KICK, p, fds, nfds) ? -1 : 0;
	case VU_SET_VRING_CALL:
		return ring_fd(e, VHOST_SET_VRING_CALL, p, fds, nfds) ? -1 : 0;
	case VU_SET_VRING_ERR:
		return ring_fd(e, VHOST_SET_VRING_ERR, p, fds, nfds) ? -1 : 0;
	case VU_SET_VRING_ENABLE:
		/*
		 * QEMU enables every ring of the device, also those the
		 * guest's driver never set up (fewer queues than offered):
		 * such a ring has nothing to serve
		 */
		if (p->state.index >= 32 || !(e->rings_set & 1u << p->state.index))
			return 0;
		b.index = p->state.index;
		b.fd = p->state.num ? e->bfd : -1;
		return ioctl(e->vfd, VHOST_BLK_SET_BACKEND, &b) ? -1 : 0;
	case VU_GET_VRING_BASE:
		/* stopping a ring: drained by the detach */
		b.index = p->state.index;
		b.fd = -1;
		if (b.index < 32)
			e->rings_set &= ~(1u << b.index);
		if (ioctl(e->vfd, VHOST_BLK_SET_BACKEND, &b) ||
		    ioctl(e->vfd, VHOST_GET_VRING_BASE, &p->state))
			return -1;
		return sizeof(p->state);
	default:
		pr_err("vhost-user request %u not supported, ignored", h->request);
		return 0;
	}
}

static int recv_msg(int s, struct vu_hdr *h, union vu_payload *p, int *fds,
		    int *nfds)
{
	char cbuf[CMSG_SPACE(VU_MAX_REGIONS * sizeof(int))];
	struct iovec iov = { h, sizeof(*h) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	*nfds = 0;
	n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	if (n != sizeof(*h))
		return -1;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			*nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds, CMSG_DATA(c), *nfds * sizeof(int));
		}
	}
	if (h->size > sizeof(*p))
		return -1;
	if (h->size && recv(s, p, h->size, MSG_WAITALL) != (ssize_t)h->size)
		return -1;
	return 0;
}

static void serve(struct exporter *e, int s)
{
	union vu_payload p;
	struct vu_hdr h;
	int fds[VU_MAX_REGIONS], nfds, i, n;

	e->vfd = open("/dev/vhost-blk", O_RDWR | O_CLOEXEC);
	if (e->vfd < 0 || ioctl(e->vfd, VHOST_SET_OWNER, NULL) ||
	    ioctl(e->vfd, VHOST_GET_FEATURES, &e->kfeatures)) {
		pr_err("/dev/vhost-blk: %s", strerror(errno));
		goto out;
	}
	e->proto_acked = false;
	e->rings_set = 0;
	while (!stop) {
		memset(&p, 0, sizeof(p));
		if (recv_msg(s, &h, &p, fds, &nfds))
			break;
		n = handle(e, &h, &p, fds, nfds);
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		if (n < 0) {
			pr_err("vhost-user request %u (ring %u) failed: %s",
			       h.request, p.state.index, strerror(errno));
			break;
		}
		if (n > 0) {
			h.flags = VU_VERSION | VU_REPLY;
			h.size = n;
			if (send(s, &h, sizeof(h), MSG_NOSIGNAL) != sizeof(h) ||
			    send(s, &p, n, MSG_NOSIGNAL) != n)
				break;
		}
	}
out:
	/* closing the device drains and detaches every queue */
	if (e->vfd >= 0)
		close(e->vfd);
	e->vfd = -1;
	unmap_all(e);
}

static int export_vhost_user(int argc, char **argv)
{
	struct exporter e = { .nq = 1, .vfd = -1 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sigaction sig = { .sa_handler = on_signal };
	const char *path = NULL;
	char dev[PATH_MAX];
	int i, ls;

	if (argc < 1)
		return usage_err("export", "missing NODE");
	for (i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "socket=", 7))
			path = argv[i] + 7;
		else if (!strncmp(argv[i], "num-queues=", 11))
			e.nq = strtoul(argv[i] + 11, NULL, 10);
		else if (!strcmp(argv[i], "read-only=on"))
			e.ro = true;
		else if (strcmp(argv[i], "read-only=off"))
			return usage_err("export", "unknown option '%s'", argv[i]);
	}
	if (!path)
		return usage_err("export", "missing socket=PATH");
	if (!e.nq || e.nq > VHOST_BLK_MAX_QUEUES)
		return usage_err("export", "num-queues must be 1 to %d",
				 VHOST_BLK_MAX_QUEUES);
	if (strlen(path) >= sizeof(sa.sun_path))
		return usage_err("export", "socket path too long");
	if (argv[0][0] == '/')
		snprintf(dev, sizeof(dev), "%s", argv[0]);
	else
		snprintf(dev, sizeof(dev), "/dev/vstorage/%s", argv[0]);
	e.bfd = open(dev, (e.ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (e.bfd < 0 || ioctl(e.bfd, BLKGETSIZE64, &e.capacity)) {
		pr_err("%s: %s", dev, strerror(errno));
		return EXIT_ERR;
	}
	e.capacity /= 512;
	strcpy(sa.sun_path, path);
	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(path);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 1)) {
		pr_err("%s: %s", path, strerror(errno));
		return EXIT_ERR;
	}
	/* no SA_RESTART: a signal ends accept() and recvmsg() */
	sigaction(SIGINT, &sig, NULL);
	sigaction(SIGTERM, &sig, NULL);
	signal(SIGPIPE, SIG_IGN);
	while (!stop) {
		int s = accept4(ls, NULL, NULL, SOCK_CLOEXEC);

		if (s < 0) {
			if (errno == EINTR)
				continue;
			pr_err("%s: %s", path, strerror(errno));
			break;
		}
		serve(&e, s);
		close(s);
	}
	close(ls);
	unlink(path);
	close(e.bfd);
	return stop ? EXIT_OK : EXIT_ERR;
}

void usage_export(FILE *f)
{
	fprintf(f, "Usage: vstoragectl export vhost-user NODE socket=PATH "
		   "[num-queues=N] [read-only=on|off]\n");
}

int cmd_export(int argc, char **argv)
{
	if (argc < 1 || !strcmp(argv[0], "help")) {
		usage_export(argc < 1 ? stderr : stdout);
		return argc < 1 ? EXIT_USAGE : EXIT_OK;
	}
	if (!strcmp(argv[0], "vhost-user"))
		return export_vhost_user(argc - 1, argv + 1);
	return usage_err("export", "unknown export type '%s'", argv[0]);
}
